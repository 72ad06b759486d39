"""Stripe webhooks: verify a delivery, then translate one event into revenue documents.

Two steps, kept apart so each can be tested alone:

* `verify` checks the `Stripe-Signature` header on the raw body with the stripe library itself
  (`stripe.Webhook.construct_event`), trying each configured secret (Stripe keeps two active while a
  secret is rolled), and refuses timestamps more than `tolerance_s` old *or ahead* (the library
  only checks the past). Every failure is one `WebhookRejected(reason)`: the caller answers 400
  and writes nothing.
* `to_documents` is a pure translation of one verified event into the *state* of the invoices,
  refunds and credit notes it carries (`RevenueDocument`, upserted by id: duplicates and any
  arrival order end in the same place) and into Stripe-customer mappings.

Stripe fields relied on (API versions from 2022-11-15 up to 2026-10-28.endive, the version
stripe-python 16 pins; older shapes are read where noted):

* event: `id`, `type`, `created`, `livemode`, `data.object`.
* invoice: `id`, `customer` (or `customer_account`), `currency`, `status`,
  `status_transitions.{paid_at,finalized_at}`, `created`, `lines.{data,has_more}`, and, only when
  `lines.has_more` (the embedded list is truncated), `total_excluding_tax` (else `total`).
* invoice line: `id`, `amount`, `period.{start,end}`, less `pretax_credit_amounts[].amount`
  (2024-10-28.acacia+, discounts and billing credits) or else `discount_amounts[].amount`, less
  tax *included* in the amount: `taxes[]` with `tax_behavior == "inclusive"` (2025-03-31.basil+)
  or `tax_amounts[]` with `inclusive` (older). Revenue is net of discounts and of tax.
* charge: `id`, `customer`, `currency`, `amount_refunded` (cumulative), `invoice` (only before
  2025-03-31.basil, which removed it: refunds then carry no invoice and are recognised on their
  own date), `refunds.data` (only when expanded: not by default since 2022-11-15).
* refund: `id`, `amount`, `status`, `charge`, `currency`, `created`, `customer`
  (2026-07-29.dahlia+; absent before, so a refund without a charge may be unmapped).
* credit note: `id`, `invoice`, `customer`, `currency`, `status`, `effective_at`/`created`,
  `lines.{data,has_more}` (line `amount`, `invoice_line_item`, `discount_amount`/
  `pretax_credit_amounts`, inclusive `taxes`/`tax_amounts`), `total`, `total_excluding_tax`,
  `refunds[].{amount_refunded,type}` (2025-03-31.basil+) or, before, the single `refund` with
  `out_of_band_amount` and `customer_balance_transaction`.
* customer: `id`, `metadata`, `name`, `email`.

Refunds: where their money is counted (`refund_source`)
-------------------------------------------------------
Since 2022-11-15 `charge.refunded` no longer lists the refunds, and since 2024-10-28 Stripe also
sends `refund.created`/`refund.updated` for every refund of a charge. Keying the charge's total by
the charge id and each refund by its own id would count every refund twice, so exactly one source
carries the money of refunds of charges:

* `"charge"` (default; works with every API version and with `charge.refunded` alone): one refund
  document per charge, keyed by the charge id, holding `-charge.amount_refunded` (cumulative
  state: a later event replaces the earlier). `refund.*` events for a refund *of a charge* add no
  document; a refund without a charge (customer-balance refunds and the like) is keyed by its id.
  A refund that later fails is only reflected if Stripe sends a new `charge.refunded`.
* `"refund"` (needs `refund.*` subscribed on API 2024-10-28.acacia+, ideally 2026-07-29.dahlia+
  for the customer): one document per refund id, void when the refund fails or is cancelled;
  `charge.refunded` contributes the refunds it lists (same ids) and nothing otherwise.

Credit notes that refund money name those refunds (`refunds[].amount_refunded`): that money is
already a refund document, so the credit note keeps only the part not refunded (pro rata over its
lines), otherwise a refunded credit note would be counted twice.
"""

from __future__ import annotations

import base64
import binascii
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from marginlens.core.bounds import MAX_STRIPE_MINOR
from marginlens.core.identifiers import customer_id_error
from marginlens.revenue.documents import DocumentStatus, RevenueDocument, RevenueLine

if TYPE_CHECKING:  # imported where used: the functions that never verify a delivery skip it
    import stripe

__all__ = [
    "DEFAULT_CUSTOMER_METADATA_KEY",
    "DEFAULT_TOLERANCE_S",
    "HANDLED_EVENT_TYPES",
    "CustomerMapping",
    "MalformedStripeEvent",
    "Parsed",
    "RefundSource",
    "WebhookRejected",
    "raw_body_of",
    "signature_header_of",
    "to_documents",
    "verify",
]

DEFAULT_TOLERANCE_S = 300
DEFAULT_CUSTOMER_METADATA_KEY = "customer_id"
SIGNATURE_HEADER = "Stripe-Signature"

RefundSource = Literal["charge", "refund"]

INVOICE_EVENTS = frozenset({"invoice.paid", "invoice.voided"})
CHARGE_REFUND_EVENTS = frozenset({"charge.refunded"})
# `refund.failed` and the older `charge.refund.updated` carry the same refund object (its state).
REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"})
CREDIT_NOTE_EVENTS = frozenset({"credit_note.created", "credit_note.voided"})
CUSTOMER_EVENTS = frozenset({"customer.created", "customer.updated"})
HANDLED_EVENT_TYPES = (
    INVOICE_EVENTS | CHARGE_REFUND_EVENTS | REFUND_EVENTS | CREDIT_NOTE_EVENTS | CUSTOMER_EVENTS
)

_VOID_REFUND_STATUSES = frozenset({"failed", "canceled"})


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------


class WebhookRejected(Exception):
    """The delivery is not an authentic, fresh Stripe event: answer 400 and write nothing."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def verify(
    raw_body: bytes | str,
    signature_header: str | None,
    secrets: Sequence[str],
    *,
    now: int | None = None,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> stripe.Event:
    """Return the verified event, or raise `WebhookRejected`.

    `raw_body` is the body exactly as received (already base64-decoded by the caller: see
    `raw_body_of`). `secrets` are the endpoint's signing secrets (`whsec_...`), any of which may
    match. `now` is the current Unix time; leave it None in production. With `now` None the stripe
    library also applies its own (past-only) tolerance on its own clock; an injected `now` is a
    different clock from the library's, so then the window is checked here only, both ways.
    """
    if tolerance_s <= 0:
        raise ValueError("tolerance_s must be positive")
    if isinstance(secrets, str):  # a lone secret would otherwise be iterated character by character
        secrets = [secrets]
    if isinstance(raw_body, bytes | bytearray):
        try:
            payload = bytes(raw_body).decode("utf-8")
        except UnicodeDecodeError:
            raise WebhookRejected("body is not UTF-8") from None
    else:
        payload = raw_body
    if signature_header is None or not signature_header.strip():
        raise WebhookRejected(f"missing {SIGNATURE_HEADER} header")
    usable = [secret for secret in secrets if secret and secret.strip()]
    if not usable:
        raise WebhookRejected("no webhook signing secret is configured")

    timestamp = _signed_timestamp(signature_header)
    clock = int(time.time()) if now is None else int(now)
    if timestamp < clock - tolerance_s:
        raise WebhookRejected(f"timestamp {timestamp} is more than {tolerance_s}s old")
    if timestamp > clock + tolerance_s:
        raise WebhookRejected(f"timestamp {timestamp} is more than {tolerance_s}s ahead")

    import stripe

    library_tolerance = tolerance_s if now is None else 0  # 0: the library skips its clock check
    for secret in usable:
        try:
            event = stripe.Webhook.construct_event(
                payload, signature_header, secret, tolerance=library_tolerance
            )
        except stripe.SignatureVerificationError:
            continue  # try the next secret (rotation)
        except (ValueError, TypeError, AttributeError, KeyError):
            # Signature good, body not a JSON object (or a v2 thin event, which has no snapshot).
            raise WebhookRejected("body is not a JSON Stripe event") from None
        top = event.to_dict(recursive=False)  # a StripeObject is not a dict (no .get) in stripe 16
        if not (
            top.get("object") == "event"
            and isinstance(top.get("id"), str)
            and isinstance(top.get("type"), str)
        ):
            raise WebhookRejected("body is not a Stripe event")
        return event
    raise WebhookRejected("no signature matches a configured secret")


def _signed_timestamp(header: str) -> int:
    """The `t=` of the header, read the way the stripe library reads it (the first `t`)."""
    for item in header.split(","):
        key, sep, value = item.partition("=")
        if sep and key == "t":
            try:
                return int(value)
            except ValueError:
                break
    raise WebhookRejected(f"malformed {SIGNATURE_HEADER} header: no timestamp")


def raw_body_of(event: Mapping[str, Any]) -> bytes:
    """The raw request body of an API Gateway (HTTP API v2 or REST v1) or Function URL event."""
    body = event.get("body")
    if body is None:
        return b""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise WebhookRejected("body is not valid base64") from None
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def signature_header_of(event: Mapping[str, Any]) -> str | None:
    """The `Stripe-Signature` header of an API Gateway event, whatever its case."""
    headers = event.get("headers") or {}
    wanted = SIGNATURE_HEADER.lower()
    for name, value in headers.items():
        if name.lower() == wanted:
            return value if isinstance(value, str) else None
    return None


# --------------------------------------------------------------------------------------------
# Translation
# --------------------------------------------------------------------------------------------


class MalformedStripeEvent(ValueError):
    """An authentic event whose object lacks what the translation needs (a bug, not an attack)."""


class CustomerMapping(NamedTuple):
    """A Stripe customer and the MarginLens customer its metadata names (None: not mapped)."""

    stripe_customer_id: str
    customer_id: str | None
    name: str | None
    email: str | None


@dataclass(frozen=True)
class Parsed:
    event_id: str
    event_type: str
    created: datetime  # the event's own time: the version of everything it carries
    livemode: bool
    documents: tuple[RevenueDocument, ...] = ()
    customers: tuple[CustomerMapping, ...] = ()
    ignored: bool = False  # an event type this module does not handle: answer 200, store nothing
    note: str | None = None  # why a handled event produced nothing, for the log


def to_documents(
    event: stripe.Event | Mapping[str, Any],
    *,
    customer_metadata_key: str = DEFAULT_CUSTOMER_METADATA_KEY,
    refund_source: RefundSource = "charge",
) -> Parsed:
    """Translate one (verified) Stripe event. Pure: no I/O, no clock."""
    if refund_source not in ("charge", "refund"):
        raise ValueError(f"refund_source must be 'charge' or 'refund', not {refund_source!r}")
    data = _plain(event)
    event_id = _str(data, "id", "event")
    event_type = _str(data, "type", "event")
    created = _time(_int(data, "created", "event"))
    base = Parsed(
        event_id=event_id, event_type=event_type, created=created, livemode=bool(data.get("livemode"))
    )
    if event_type not in HANDLED_EVENT_TYPES:
        return _replace(base, ignored=True)
    obj = (data.get("data") or {}).get("object")
    if not isinstance(obj, Mapping):
        raise MalformedStripeEvent(f"event {event_id}: no data.object")

    if event_type in INVOICE_EVENTS:
        _expect(obj, "invoice", event_id)
        return _replace(base, documents=(_invoice(obj, event_type, created),))
    if event_type in CHARGE_REFUND_EVENTS:
        _expect(obj, "charge", event_id)
        documents = _charge_refunds(obj, created, refund_source)
        note = None if documents else "refunds of charges come from refund.* events (refund_source='refund')"
        return _replace(base, documents=documents, note=note)
    if event_type in REFUND_EVENTS:
        _expect(obj, "refund", event_id)
        if refund_source == "charge" and _ref(obj.get("charge")):
            return _replace(base, note="a refund of a charge is counted from charge.refunded")
        return _replace(base, documents=(_refund(obj, created),))
    if event_type in CREDIT_NOTE_EVENTS:
        _expect(obj, "credit_note", event_id)
        return _replace(base, documents=(_credit_note(obj, event_type, created),))
    _expect(obj, "customer", event_id)
    mapping, refused = _customer(obj, customer_metadata_key)
    note = f"metadata {customer_metadata_key!r} ignored: {refused}" if refused else None
    return _replace(base, customers=(mapping,), note=note)


def _replace(base: Parsed, **changes: Any) -> Parsed:
    return Parsed(**{**base.__dict__, **changes})


def _invoice(invoice: Mapping[str, Any], event_type: str, created: datetime) -> RevenueDocument:
    invoice_id = _str(invoice, "id", "invoice")
    lines_list = invoice.get("lines") or {}
    raw_lines = _list_data(lines_list)
    lines = [_invoice_line(line, invoice_id) for line in raw_lines]
    if lines_list.get("has_more"):
        # The embedded list is truncated (Stripe embeds the first lines only): the rest of the
        # invoice's net total is kept, without a service period (recognised on the paid date).
        total = invoice.get("total_excluding_tax")
        if total is None:
            total = invoice.get("total")
        remainder = _as_int(total, f"invoice {invoice_id} total") - sum(line.amount_minor for line in lines)
        if remainder:
            lines.append(RevenueLine(amount_minor=remainder))
    transitions = invoice.get("status_transitions") or {}
    occurred = _first_int(transitions.get("paid_at"), transitions.get("finalized_at"), invoice.get("created"))
    voided = event_type == "invoice.voided" or invoice.get("status") == "void"
    return RevenueDocument(
        source="stripe",
        kind="invoice",
        id=invoice_id,
        customer_ref=_customer_ref(invoice),
        currency=_currency(invoice, "invoice"),
        lines=tuple(lines),
        occurred_at=_time(occurred) if occurred is not None else created,
        status="void" if voided else "active",
        version_time=created,
    )


def _invoice_line(line: Mapping[str, Any], invoice_id: str) -> RevenueLine:
    where = f"invoice {invoice_id} line"
    amount = _int(line, "amount", where)
    credits = line.get("pretax_credit_amounts")
    if credits is None:  # before 2024-10-28.acacia: discounts only
        credits = line.get("discount_amounts")
    amount -= _sum_amounts(credits, where)
    amount -= _inclusive_tax(line, where)
    start, end = _period(line.get("period"), where)
    line_id = line.get("id")
    return RevenueLine(
        amount_minor=amount,
        period_start=start,
        period_end=end,
        id=line_id if isinstance(line_id, str) and line_id else None,
    )


def _period(period: Any, where: str) -> tuple[date | None, date | None]:
    """Stripe's [start, end) timestamps as inclusive UTC days: end is the next period's start."""
    if not isinstance(period, Mapping) or period.get("start") is None or period.get("end") is None:
        return None, None
    start = _time(_as_int(period["start"], f"{where} period.start")).date()
    end = _time(_as_int(period["end"], f"{where} period.end")).date() - timedelta(days=1)
    return start, max(start, end)


def _charge_refunds(
    charge: Mapping[str, Any], created: datetime, source: RefundSource
) -> tuple[RevenueDocument, ...]:
    charge_id = _str(charge, "id", "charge")
    invoice_id = _ref(charge.get("invoice"))  # gone since 2025-03-31.basil
    if source == "refund":
        return tuple(
            _refund(refund, created, customer=_ref(charge.get("customer")), invoice_id=invoice_id)
            for refund in _list_data(charge.get("refunds"))
        )
    refunded = _int(charge, "amount_refunded", f"charge {charge_id}")
    return (
        RevenueDocument(
            source="stripe",
            kind="refund",
            id=charge_id,
            customer_ref=_customer_ref(charge),
            currency=_currency(charge, "charge"),
            lines=(RevenueLine(amount_minor=-refunded),),
            occurred_at=created,  # when Stripe reported this cumulative total
            related_id=invoice_id,
            version_time=created,
        ),
    )


def _refund(
    refund: Mapping[str, Any],
    created: datetime,
    *,
    customer: str | None = None,
    invoice_id: str | None = None,
) -> RevenueDocument:
    refund_id = _str(refund, "id", "refund")
    amount = _int(refund, "amount", f"refund {refund_id}")
    status: DocumentStatus = "void" if refund.get("status") in _VOID_REFUND_STATUSES else "active"
    when = refund.get("created")
    return RevenueDocument(
        source="stripe",
        kind="refund",
        id=refund_id,
        customer_ref=_ref(refund.get("customer")) or customer or "",
        currency=_currency(refund, "refund"),
        lines=(RevenueLine(amount_minor=-amount),),
        occurred_at=_time(_as_int(when, f"refund {refund_id} created")) if when is not None else created,
        status=status,
        related_id=invoice_id,
        version_time=created,
    )


def _credit_note(note: Mapping[str, Any], event_type: str, created: datetime) -> RevenueDocument:
    note_id = _str(note, "id", "credit note")
    where = f"credit note {note_id}"
    lines_list = note.get("lines") or {}
    raw_lines = _list_data(lines_list)
    targets: list[str | None]
    if raw_lines and not lines_list.get("has_more"):
        credited = [_credit_note_line(line, where) for line in raw_lines]
        targets = [_ref(line.get("invoice_line_item")) for line in raw_lines]
    else:  # no or truncated lines: the credit note's own net total, as one line
        total = note.get("total_excluding_tax")
        if total is None:
            total = note.get("total")
        credited, targets = [_as_int(total, f"{where} total")], [None]
    refunded = _credit_note_refunded(note, where)
    if refunded:
        credited = _scale(credited, _as_int(note.get("total", 0), f"{where} total"), refunded)
    when = _first_int(note.get("effective_at"), note.get("created"))
    voided = event_type == "credit_note.voided" or note.get("status") == "void"
    return RevenueDocument(
        source="stripe",
        kind="credit_note",
        id=note_id,
        customer_ref=_customer_ref(note),
        currency=_currency(note, "credit note"),
        lines=tuple(
            RevenueLine(amount_minor=-amount, credits_line=target)
            for amount, target in zip(credited, targets, strict=True)
        ),
        occurred_at=_time(when) if when is not None else created,
        status="void" if voided else "active",
        related_id=_ref(note.get("invoice")),
        version_time=created,
    )


def _credit_note_refunded(note: Mapping[str, Any], where: str) -> int:
    """The part of a credit note paid back as Stripe refunds (counted by the refund documents).

    2025-03-31.basil+: `refunds[].amount_refunded`. Before, one `refund` (an id, or the expanded
    refund): expanded, its `amount`; as an id (webhooks never expand), the total less what was
    credited out of band and, when the balance transaction is expanded, to the customer balance.
    """
    refunds = note.get("refunds")
    if isinstance(refunds, list):
        return sum(
            _as_int(item.get("amount_refunded", 0), f"{where} refunds[].amount_refunded")
            for item in refunds
            if isinstance(item, Mapping) and item.get("type") in (None, "refund")
        )
    refund = note.get("refund")
    if not refund:
        return 0
    total = _as_int(note.get("total", 0), f"{where} total")
    if isinstance(refund, Mapping) and refund.get("amount") is not None:
        return min(total, _as_int(refund["amount"], f"{where} refund.amount"))
    out_of_band = _as_int(note.get("out_of_band_amount") or 0, f"{where} out_of_band_amount")
    balance = note.get("customer_balance_transaction")
    # A credit to the customer balance is a negative balance transaction amount.
    to_balance = -_as_int(balance.get("amount", 0), f"{where} balance") if isinstance(balance, Mapping) else 0
    return max(0, total - out_of_band - max(0, to_balance))


def _credit_note_line(line: Mapping[str, Any], where: str) -> int:
    amount = _int(line, "amount", f"{where} line")
    credits = line.get("pretax_credit_amounts")
    if credits is not None:
        amount -= _sum_amounts(credits, where)
    elif line.get("discount_amounts") is not None:
        amount -= _sum_amounts(line.get("discount_amounts"), where)
    else:
        amount -= _as_int(line.get("discount_amount", 0), f"{where} line discount_amount")
    return amount - _inclusive_tax(line, where)


def _scale(amounts: list[int], total: int, refunded: int) -> list[int]:
    """Keep the share `(total - refunded) / total` of each amount, in integers that still add up."""
    if total <= 0:
        return amounts
    kept = max(0, total - refunded)
    whole = sum(amounts)
    target = _round_half_even(whole * kept, total)
    scaled = [amount * kept // total for amount in amounts]
    # Hand the units lost to flooring to the largest remainders, so the lines add up to target.
    order = sorted(range(len(amounts)), key=lambda i: (amounts[i] * kept) % total, reverse=True)
    for i in order[: max(0, target - sum(scaled))]:
        scaled[i] += 1
    return scaled


def _round_half_even(numerator: int, denominator: int) -> int:
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2):
        quotient += 1
    return quotient


def _customer(customer: Mapping[str, Any], metadata_key: str) -> tuple[CustomerMapping, str | None]:
    """The mapping the customer's metadata names, and why a value there was refused (if it was):
    a metadata value that is no customer id leaves the Stripe customer unmapped."""
    metadata = customer.get("metadata") or {}
    mapped = metadata.get(metadata_key) if isinstance(metadata, Mapping) else None
    mapped = mapped.strip() if isinstance(mapped, str) else None
    refused = customer_id_error(mapped) if mapped else None
    mapping = CustomerMapping(
        stripe_customer_id=_str(customer, "id", "customer"),
        customer_id=None if refused else mapped or None,
        name=customer.get("name") or None,
        email=customer.get("email") or None,
    )
    return mapping, refused


# --------------------------------------------------------------------------------------------
# Field readers
# --------------------------------------------------------------------------------------------


def _plain(event: stripe.Event | Mapping[str, Any]) -> Mapping[str, Any]:
    library = sys.modules.get("stripe")  # a StripeObject exists only once stripe is imported
    if library is not None and isinstance(event, library.StripeObject):
        return event.to_dict()
    if isinstance(event, Mapping):
        return event
    raise TypeError(f"expected a stripe.Event or a mapping, not {type(event).__name__}")


def _expect(obj: Mapping[str, Any], kind: str, event_id: str) -> None:
    if obj.get("object") != kind:
        raise MalformedStripeEvent(f"event {event_id}: data.object is {obj.get('object')!r}, not {kind!r}")


def _str(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedStripeEvent(f"{where}: {key} missing or not a string")
    return value


def _int(obj: Mapping[str, Any], key: str, where: str) -> int:
    return _as_int(obj.get(key), f"{where} {key}")


def _as_int(value: Any, what: str) -> int:
    # Stripe amounts and times are integers; a float here would be a silent rounding bug.
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedStripeEvent(f"{what}: expected an integer, got {value!r}")
    if abs(value) > MAX_STRIPE_MINOR:  # no real amount (or Unix time) comes near: refused on purpose
        raise MalformedStripeEvent(f"{what}: {value} is beyond {MAX_STRIPE_MINOR}")
    return value


def _first_int(*values: Any) -> int | None:
    for value in values:
        if value is not None:
            return _as_int(value, "timestamp")
    return None


def _sum_amounts(items: Any, where: str) -> int:
    if not items:
        return 0
    return sum(_as_int(item.get("amount"), f"{where} amount") for item in items if isinstance(item, Mapping))


def _inclusive_tax(line: Mapping[str, Any], where: str) -> int:
    """Tax included in a line's amount (exclusive tax is added on top and never in `amount`)."""
    taxes = line.get("taxes")
    if taxes is not None:  # 2025-03-31.basil+
        inclusive: Iterable[Any] = (
            tax for tax in taxes if isinstance(tax, Mapping) and tax.get("tax_behavior") == "inclusive"
        )
    else:  # older versions
        inclusive = (
            tax
            for tax in (line.get("tax_amounts") or [])
            if isinstance(tax, Mapping) and tax.get("inclusive")
        )
    return _sum_amounts(list(inclusive), f"{where} tax")


def _list_data(listing: Any) -> list[Mapping[str, Any]]:
    data = listing.get("data") if isinstance(listing, Mapping) else None
    return [item for item in data if isinstance(item, Mapping)] if isinstance(data, list) else []


def _ref(value: Any) -> str | None:
    """An expandable field: an id, or the expanded object whose id it is."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def _customer_ref(obj: Mapping[str, Any]) -> str:
    # Empty when Stripe names no customer (guest payments): such revenue stays unmapped.
    return _ref(obj.get("customer")) or _ref(obj.get("customer_account")) or ""


def _currency(obj: Mapping[str, Any], where: str) -> str:
    return _str(obj, "currency", where).upper()


def _time(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)
