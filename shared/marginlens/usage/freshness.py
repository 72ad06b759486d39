"""How far behind the aggregates are: the oldest change to a usage event that the aggregator has
not applied yet, read from the table's stream after each shard's checkpoint.

Reports carry it (`Freshness.as_dict`), and a reader that needs its own writes waits for it
(`FreshnessCheck.wait`: `GET /v1/pnl?consistent=true`, the local stack's reports). On AWS a write
reaches the stream within about a second, so a check made in that second can miss it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from marginlens.storage.streams import Stream, is_event_record, parse_record
from marginlens.usage.aggregator import Aggregator

MAX_READS_PER_SHARD = 4  # GetRecords calls per shard and check: the aggregator's own writes come between


@dataclass(frozen=True)
class Freshness:
    caught_up: bool
    oldest_pending: datetime | None  # when the oldest change not yet aggregated was made
    checked_at: datetime

    @property
    def lag_seconds(self) -> float:
        if self.caught_up or self.oldest_pending is None:
            return 0.0
        return max(0.0, (self.checked_at - self.oldest_pending).total_seconds())

    def as_dict(self) -> dict[str, Any]:
        return {
            "caught_up": self.caught_up,
            "oldest_pending_change": _iso(self.oldest_pending) if self.oldest_pending else None,
            "lag_seconds": round(self.lag_seconds, 3),
        }


class FreshnessCheck:
    def __init__(self, stream: Stream, aggregator: Aggregator) -> None:
        self.stream = stream
        self.aggregator = aggregator

    def check(self) -> Freshness:
        checked_at = datetime.now(UTC)
        arn = self.stream.arn
        if arn is None:
            return Freshness(True, None, checked_at)
        pending = False
        oldest: datetime | None = None
        for shard in self.stream.shards():
            done = self.aggregator.checkpoint(arn, shard)
            for raw in self.stream.records_after(shard, done, MAX_READS_PER_SHARD):
                if is_event_record(raw):
                    pending = True
                    created = parse_record(raw).created_at
                    if created is not None and (oldest is None or created < oldest):
                        oldest = created
                    break
        return Freshness(not pending, oldest, checked_at)

    def wait(self, timeout_s: float, poll_s: float = 0.05) -> Freshness:
        """Check until caught up or `timeout_s` has passed; the last check either way."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = self.check()
            if found.caught_up or time.monotonic() >= deadline:
                return found
            time.sleep(poll_s)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
