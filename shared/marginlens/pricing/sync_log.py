"""Every run of the price refresh, kept for the go-live check and the dashboard: when the price
table was last synced, and how often a refresh succeeded over the last 7 days.

Items (one per run; the daily schedule makes a handful a week, kept for good):
  PRICESYNC   {iso time}   status (refreshed | unchanged | refused), reason, version in force
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from marginlens.core.money import pct, pct_str
from marginlens.storage import schema
from marginlens.storage.dynamodb import PK, SK, DynamoDBClient
from marginlens.storage.table import Table

WINDOW = timedelta(days=7)
SUCCESSFUL = ("refreshed", "unchanged")  # an identical file is a successful sync: the table is current


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class SyncRun:
    at: str
    status: str
    reason: str | None
    version: str | None

    @property
    def succeeded(self) -> bool:
        return self.status in SUCCESSFUL


@dataclass(frozen=True)
class SyncSummary:
    last: SyncRun | None
    last_success: SyncRun | None
    attempts: int  # in the window
    successes: int

    @property
    def success_rate_pct(self) -> Decimal | None:
        return pct(Decimal(self.successes), Decimal(self.attempts)) if self.attempts else None

    def as_dict(self) -> dict[str, Any]:
        rate = self.success_rate_pct
        return {
            "last_attempt_at": self.last.at if self.last else None,
            "last_success_at": self.last_success.at if self.last_success else None,
            "last_status": self.last.status if self.last else None,
            "last_reason": self.last.reason if self.last else None,
            "attempts_7d": self.attempts,
            "successes_7d": self.successes,
            "success_rate_7d": pct_str(rate) if rate is not None else None,
        }


class SyncLog:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self.db = Table(client, table)

    def record(self, at: datetime, status: str, reason: str | None, version: str | None) -> None:
        self.db.put(
            {PK: schema.PRICE_SYNC, SK: _iso(at), "status": status, "reason": reason, "version": version}
        )

    def summary(self, now: datetime) -> SyncSummary:
        """The window's runs, and the last success even when it is older than the window."""
        since = _iso(now - WINDOW)
        recent = [_run(item) for item in self._query(" AND #sk >= :since", {":since": since})]
        last_success = next((run for run in reversed(recent) if run.succeeded), None)
        if last_success is None:
            older = [_run(item) for item in self._query(" AND #sk < :since", {":since": since})]
            last_success = next((run for run in reversed(older) if run.succeeded), None)
        return SyncSummary(
            last=recent[-1] if recent else None,
            last_success=last_success,
            attempts=len(recent),
            successes=sum(run.succeeded for run in recent),
        )

    def _query(self, condition: str, values: dict[str, Any]) -> list[dict[str, Any]]:
        return self.db.query(schema.PRICE_SYNC, and_sk=condition, names={"#sk": SK}, values=values)


def _run(item: dict[str, Any]) -> SyncRun:
    return SyncRun(item[SK], item["status"], item.get("reason"), item.get("version"))
