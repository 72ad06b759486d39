"""Per-event revenue: a usage event's `revenue_amount` as the revenue document `usage:{request_id}`,
recognised on the event's UTC day and upserted like any pushed entry (see marginlens.revenue.push).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from marginlens.core.currency import normalize_code, to_minor

if TYPE_CHECKING:  # the revenue area loads with the first event that carries revenue
    from marginlens.revenue.documents import RevenueDocument
    from marginlens.usage.events import AcceptedEvent, UsageEventIn


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
    from marginlens.revenue.documents import RevenueDocument, RevenueLine
    from marginlens.revenue.push import KIND, SOURCE, USAGE_PREFIX

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
