"""Revenue pushed through the API: `POST /v1/revenue` entries and per-event `revenue_amount`.

Both become revenue documents (source `api`, kind `revenue`) upserted through the revenue ledger,
so they follow its *state* semantics: a document is keyed by its id, and what it recognises is
replaced, never added to.

- `POST /v1/revenue`: the document id is the entry's `external_id`. Pushing the same entry again
  changes nothing (`unchanged`); pushing a different amount, currency, customer or period for the
  same `external_id` replaces the entry (`updated`): the way to correct a pushed amount is to push
  the corrected amount, and a refund or credit is a separate entry with a negative amount.
  An entry without a period or day is recognised on the UTC day it was *first* received, so
  re-sending it on a later day is still `unchanged`.
- Usage events: each event with `revenue_amount` is the document `usage:{request_id}`, recognised
  on the UTC day of the event (built by `marginlens.usage.revenue`). A duplicate of the event is
  the same document (`unchanged`). `external_id`s starting with `usage:` are reserved for these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final

from marginlens.core.currency import to_major
from marginlens.revenue.documents import RevenueDocument, RevenueLine
from marginlens.revenue.ledger import RevenueLedger, UpsertResult, document_from_item
from marginlens.revenue.recognition import month_totals, recognise

USAGE_PREFIX = "usage:"
SOURCE: Final = "api"
KIND: Final = "revenue"


@dataclass(frozen=True)
class RevenueEntry:
    """A validated `POST /v1/revenue` body: `amount_minor` in the currency's minor units."""

    external_id: str
    customer_id: str
    amount_minor: int
    currency: str
    period_start: date | None = None  # both or neither; neither: recognised on one day
    period_end: date | None = None


@dataclass(frozen=True)
class PushResult:
    upsert: UpsertResult
    document: RevenueDocument

    @property
    def status(self) -> str:
        return self.upsert.status


def document_key(external_id: str) -> str:
    return f"{SOURCE}:{KIND}:{external_id}"


def push(ledger: RevenueLedger, entry: RevenueEntry, now: datetime) -> PushResult:
    """Make `entry` the state of its `external_id`."""
    stored = ledger.document(document_key(entry.external_id))
    # The day an entry without a period falls on is the day it was first received: keeping it makes
    # a retry on another day `unchanged` instead of moving the revenue.
    occurred_at = document_from_item(stored).occurred_at if stored else now.astimezone(UTC)
    document = RevenueDocument(
        source=SOURCE,
        kind=KIND,
        id=entry.external_id,
        customer_ref=entry.customer_id,
        currency=entry.currency,
        lines=(RevenueLine(entry.amount_minor, entry.period_start, entry.period_end),),
        occurred_at=occurred_at,
        version_time=None,  # no source clock: the last push the ledger commits is the state
    )
    return PushResult(ledger.upsert(document), document)


def recognised_months(document: RevenueDocument) -> list[dict[str, str]]:
    """What the document recognises per month, `[{"month": "2026-11", "amount": "233.25"}]`."""
    return [
        {"month": month, "amount": format(to_major(minor, document.currency), "f")}
        for month, minor in month_totals(recognise(document)).items()
    ]
