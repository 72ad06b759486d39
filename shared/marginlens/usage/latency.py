"""Ingestion latency: how long an event took from its request reaching the API to its write being
sent to the table, kept as a histogram per day by the aggregator (no extra write on ingest).

Ingest stamps each new event with `ingest_ms`: the request's arrival at API Gateway (its
`requestContext.timeEpoch`) to the moment the event's Put is issued, so it includes a cold start,
parsing and pricing. The stream aggregator counts each INSERT once into `AGG#LAT#{month}` /
`{day}`, one counter per bucket; a reprice (MODIFY) leaves it alone. The median is read off the
buckets: "at most 250 ms" is the smallest bucket bound holding half the events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from marginlens.storage import schema

# Upper bounds in ms; an event slower than the last bound counts in "over".
BUCKET_BOUNDS_MS: tuple[int, ...] = (50, 100, 250, 500, 1000, 2500, 5000, 10000)
OVER = "lat_over"


def counter_name(bound_ms: int) -> str:
    return f"lat_le_{bound_ms}"


def bucket_counter(ingest_ms: int) -> str:
    for bound in BUCKET_BOUNDS_MS:
        if ingest_ms <= bound:
            return counter_name(bound)
    return OVER


def latency_key(day: str) -> tuple[str, str]:
    return f"{schema.AGG_INGEST_LATENCY}{day[:7]}", day


@dataclass(frozen=True)
class LatencySummary:
    events: int
    counts: dict[str, int]  # counter name -> events

    @property
    def median_at_most_ms(self) -> int | None:
        """The smallest bucket bound at or under which half the events fall; None without events
        (and when the median is beyond the last bound)."""
        if not self.events:
            return None
        seen = 0
        for bound in BUCKET_BOUNDS_MS:
            seen += self.counts.get(counter_name(bound), 0)
            if 2 * seen >= self.events:
                return bound
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "median_at_most_ms": self.median_at_most_ms,
            "buckets": [
                {"le_ms": bound, "events": self.counts.get(counter_name(bound), 0)}
                for bound in BUCKET_BOUNDS_MS
            ]
            + [{"le_ms": None, "events": self.counts.get(OVER, 0)}],
        }


def summarise(rows: Iterable[dict[str, Any]]) -> LatencySummary:
    counts = dict.fromkeys([counter_name(bound) for bound in BUCKET_BOUNDS_MS] + [OVER], 0)
    for row in rows:
        for name in counts:
            counts[name] += int(row.get(name, 0))
    return LatencySummary(sum(counts.values()), counts)
