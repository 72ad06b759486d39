"""Stripe backfill: paid invoices, refunds and credit notes created since a day, as plain dicts.

`fetch_since` reads them through the Stripe API page by page and yields each as the JSON-shaped
dict a webhook event carries in `data.object`, with the time it was read, so the backfill and the
webhook feed the same idempotent, upsert-by-id document path
(`marginlens.revenue.stripe_events.to_documents`, with the same `refund_source`).

- Filters are Stripe's, applied server side: `created[gte]` = UTC midnight of `since` on all three
  lists, and `status=paid` on invoices. An invoice created before `since` but paid after it is not
  in the list: backfill from a day before the first invoice you need.
- Refunds and credit notes come in every status (a failed refund, a voided credit note): the
  document path decides what a state recognises. With `refund_source="charge"` a refund of a
  charge comes as its charge (see `fetch_since`).
- Lists embed only the first page of an invoice's or credit note's `lines`; when `has_more` says
  there are more, the full list is fetched and `lines` replaced by it (`has_more: false`).
- Stripe lists carry no total, so a progress display counts what arrives: `on_item(kind)` is called
  once per object, just before it is yielded.
- Objects have the shape of the client's API version (stripe-python's pinned one unless
  `stripe_client(stripe_version=...)`), which may differ from the webhook endpoint's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:  # imported on first use: the api function serves other routes far more often
    import stripe

BackfillKind = Literal["invoice", "refund", "charge", "credit_note"]


class Fetched(NamedTuple):
    """One object read from Stripe, and when: the start of the request for its page, so a webhook
    that changed the object after it was read is newer than this snapshot."""

    kind: BackfillKind
    object: dict[str, Any]
    fetched_at: datetime


# Where refunds of charges are counted: mirrors `marginlens.revenue.stripe_events.RefundSource`.
RefundSource = Literal["charge", "refund"]
PAGE_SIZE = 100  # Stripe's maximum `limit`


def stripe_client(
    api_key: str,
    base_url: str | None = None,
    *,
    stripe_version: str | None = None,
    max_network_retries: int | None = None,
    http_client: stripe.HTTPClient | None = None,
) -> stripe.StripeClient:
    """A client for the real API, or for another API host (stripe-mock) when `base_url` is given.

    `stripe_version` defaults to the one stripe-python is pinned to; set it to the webhook
    endpoint's version for objects of the same shape as the webhook's.
    """
    import stripe

    return stripe.StripeClient(
        api_key,
        base_addresses={"api": base_url.rstrip("/")} if base_url else None,
        stripe_version=stripe_version,
        max_network_retries=max_network_retries,
        http_client=http_client,
    )


def since_timestamp(since: date) -> int:
    """The `created[gte]` bound: the start of `since` in UTC, in Unix seconds."""
    return int(datetime.combine(since, time.min, tzinfo=UTC).timestamp())


def fetch_since(
    client: stripe.StripeClient,
    since: date,
    *,
    refund_source: RefundSource = "charge",
    on_item: Callable[[BackfillKind], None] | None = None,
    page_size: int = PAGE_SIZE,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Iterator[Fetched]:
    """Yield (kind, object, fetched_at) for every paid invoice, refund and credit note created on or
    after `since`; `fetched_at` is `clock()` just before the request of the object's page.

    Invoices first, then refunds, then credit notes, each newest first as Stripe lists them. Pages
    are fetched lazily: stopping the iteration stops the requests.

    Refunds follow the webhook translation's `refund_source`: with `"charge"` (its default) the
    money of refunds of a charge is counted once per charge from its cumulative `amount_refunded`,
    so each refunded charge is yielded once as ("charge", charge), expanded from the refund list
    at no extra request, as a `charge.refunded` event would carry it; refunds without a charge stay
    ("refund", refund). With `"refund"` every refund is yielded as ("refund", refund).
    """
    gte = since_timestamp(since)

    def emit(kind: BackfillKind, document: dict[str, Any], fetched_at: datetime) -> Fetched:
        if kind in ("invoice", "credit_note"):
            _complete_lines(client, kind, document, page_size)
        if on_item is not None:
            on_item(kind)
        return Fetched(kind, document, fetched_at)

    invoice_params: Any = {"status": "paid", "created": {"gte": gte}, "limit": page_size}
    for fetched_at, invoice in _stamped(lambda: client.v1.invoices.list(invoice_params), clock):
        yield emit("invoice", invoice.to_dict(for_json=True), fetched_at)

    refund_params: Any = {"created": {"gte": gte}, "limit": page_size}
    if refund_source == "charge":
        refund_params["expand"] = ["data.charge"]
    charges_seen: set[str] = set()
    for fetched_at, refund in _stamped(lambda: client.v1.refunds.list(refund_params), clock):
        document = refund.to_dict(for_json=True)
        charge = document.get("charge")
        if refund_source == "charge" and isinstance(charge, dict):
            if charge["id"] not in charges_seen:
                charges_seen.add(charge["id"])
                yield emit("charge", charge, fetched_at)
        else:
            yield emit("refund", document, fetched_at)

    note_params: Any = {"created": {"gte": gte}, "limit": page_size}
    for fetched_at, credit_note in _stamped(lambda: client.v1.credit_notes.list(note_params), clock):
        yield emit("credit_note", credit_note.to_dict(for_json=True), fetched_at)


def _stamped(
    first_page: Callable[[], stripe.ListObject[Any]], clock: Callable[[], datetime]
) -> Iterator[tuple[datetime, Any]]:
    """A list's objects, each with the time just before its page was requested (pages lazily)."""
    fetched_at = clock()
    page = first_page()
    while True:
        for obj in page.data:
            yield fetched_at, obj
        if not page.has_more or not page.data:
            return
        fetched_at = clock()
        page = page.next_page()


def _complete_lines(
    client: stripe.StripeClient,
    kind: Literal["invoice", "credit_note"],
    document: dict[str, Any],
    page_size: int,
) -> None:
    """Replace a first page of `lines` by all of them."""
    lines = document.get("lines")
    if isinstance(lines, dict) and lines.get("has_more") is False:
        return
    listing: stripe.ListObject[Any]
    if kind == "invoice":
        listing = client.v1.invoices.line_items.list(document["id"], {"limit": page_size})
    else:
        listing = client.v1.credit_notes.line_items.list(document["id"], {"limit": page_size})
    url = lines.get("url") if isinstance(lines, dict) else None
    document["lines"] = {
        "object": "list",
        "data": [line.to_dict(for_json=True) for line in listing.auto_paging_iter()],
        "has_more": False,
        "url": url or listing.url,
    }


# What a webhook would have said about each kind of object, by its status.
_EVENT_TYPES: dict[str, dict[str, str]] = {
    "invoice": {"paid": "invoice.paid", "void": "invoice.voided"},
    "charge": {"*": "charge.refunded"},
    "refund": {"*": "refund.updated"},
    "credit_note": {"issued": "credit_note.created", "void": "credit_note.voided"},
}


def as_event(kind: str, obj: Mapping[str, Any], fetched_at: datetime) -> dict[str, Any] | None:
    """A backfilled object as the event a webhook would carry: the same translation, the same
    idempotent upsert. None for an object no webhook would have sent (a draft invoice).

    The event's time is when the object was read (`fetched_at`, cut to the second as Stripe times
    its events): a webhook about a later change is newer and wins, one of the same second is
    ordered by the documents' lifecycle rule. Its id hashes the object, so a changed object is
    applied again and an unchanged one is not.
    """
    types = _EVENT_TYPES.get(kind)
    if types is None:
        raise ValueError(f"not a backfilled kind: {kind!r}")
    event_type = types.get(str(obj.get("status")), types.get("*"))
    if event_type is None:
        return None
    digest = hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return {
        "id": f"evt_backfill_{obj.get('id')}_{digest}",
        "object": "event",
        "type": event_type,
        "created": int(fetched_at.timestamp()),
        "livemode": bool(obj.get("livemode", False)),
        "data": {"object": dict(obj)},
    }
