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
  on the UTC day of the event. A duplicate of the event is the same document (`unchanged`).
  `external_id`s starting with `usage:` are reserved for these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

from marginlens.core.currency import normalize_code, to_major, to_minor
from marginlens.revenue.documents import RevenueDocument, RevenueLine
from marginlens.revenue.ledger import RevenueLedger, UpsertResult, document_from_item
from marginlens.revenue.recognition import month_totals, recognise
from marginlens.usage.events import AcceptedEvent, UsageEventIn

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


# --- per-event revenue ----------------------------------------------------------------------------


def usage_revenue_error(wire: UsageEventIn) -> str | None:
    """Why an event's `revenue_amount` cannot be booked (finer than its currency's minor unit)."""
    if wire.revenue_amount is None or wire.revenue_currency is None:
        return None
    try:
        to_minor(wire.revenue_amount, normalize_code(wire.revenue_currency))
    except ValueError as error:
        return str(error)
    return None


def usage_document(event: AcceptedEvent, occurred_at: datetime | None = None) -> RevenueDocument | None:
    """The revenue document of an event with `revenue_amount` (None without), on the event's day.

    `occurred_at`: the stored event's time, for a duplicate whose timestamp the server filled in.
    """
    wire = event.wire
    if wire.revenue_amount is None or wire.revenue_currency is None:
        return None
    currency = normalize_code(wire.revenue_currency)
    return RevenueDocument(
        source=SOURCE,
        kind=KIND,
        id=f"{USAGE_PREFIX}{event.request_id}",
        customer_ref=event.customer_id,
        currency=currency,
        lines=(RevenueLine(to_minor(wire.revenue_amount, currency)),),
        occurred_at=(occurred_at or event.occurred_at).astimezone(UTC),
    )


def stored_time(stored: dict[str, Any] | None) -> datetime | None:
    """A stored usage event's timestamp (`...Z`) as an aware datetime."""
    if not stored or not stored.get("timestamp"):
        return None
    return datetime.fromisoformat(str(stored["timestamp"]).replace("Z", "+00:00"))
