"""Realistic Stripe webhook payloads and real `Stripe-Signature` headers, for any test to reuse.

Objects are shaped like Stripe's API objects at `API_VERSION` (the version stripe-python 16 pins:
no `charge.invoice` since 2025-03-31.basil, `charge.refunds` not expanded since 2022-11-15, line
taxes in `taxes[]`, credit note refunds in `refunds[]`), with the fields a webhook really carries
(ids, `object`, `livemode`, timestamps as Unix seconds, amounts as integers in minor units).

    body = stripe_fixtures.body(stripe_fixtures.invoice_paid(customer="cus_1", lines=[...]))
    header = stripe_fixtures.sign(body, "whsec_test", timestamp=now)

Options with a `None` default that the older API versions had (`charge.invoice`, an expanded
`charge.refunds`) are left out of the object unless given, as Stripe leaves them out.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

API_VERSION = "2026-10-28.endive"
SECRET = "whsec_test_5ecret"  # a default signing secret for tests
T0 = 1_793_491_200  # 2026-11-01T00:00:00Z, a convenient origin

_counter = itertools.count(1)

Obj = dict[str, Any]


# ---------------------------------------------------------------------------------------------
# Times, ids, bodies and signatures
# ---------------------------------------------------------------------------------------------


def ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    """Unix seconds of a UTC wall-clock time."""
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp())


def new_id(prefix: str) -> str:
    """A Stripe-looking id (`in_...`, `ch_...`), unique within the test session."""
    return f"{prefix}_1Test{next(_counter):019d}"


def body(event: Mapping[str, Any]) -> bytes:
    """The raw body as Stripe sends it: pretty-printed JSON, UTF-8."""
    return json.dumps(event, indent=2, ensure_ascii=False).encode("utf-8")


def v1_signature(payload: bytes, secret: str, timestamp: int) -> str:
    """HMAC-SHA256 (hex) of `f"{timestamp}.{payload}"` with the endpoint secret: Stripe's `v1`."""
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()


def sign(payload: bytes, secret: str | Sequence[str], timestamp: int, *, v0: bool = False) -> str:
    """A real `Stripe-Signature` header: `t=<timestamp>,v1=<sig>[,v1=<sig>...]`.

    Pass several secrets to get one `v1` per secret, in order (what Stripe sends while a secret is
    being rolled, or, with a wrong secret first, a header where only one `v1` is valid).
    `v0=True` adds a test-mode `v0` entry, which verifiers must ignore.
    """
    secrets = [secret] if isinstance(secret, str) else list(secret)
    parts = [f"t={timestamp}", *(f"v1={v1_signature(payload, s, timestamp)}" for s in secrets)]
    if v0:
        parts.append(f"v0={'0' * 64}")
    return ",".join(parts)


# ---------------------------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------------------------


def event(
    type: str,
    obj: Mapping[str, Any],
    *,
    id: str | None = None,
    created: int | None = None,
    previous_attributes: Mapping[str, Any] | None = None,
    livemode: bool = False,
    api_version: str = API_VERSION,
) -> Obj:
    """A v1 snapshot event wrapping `obj` in `data.object`."""
    data: Obj = {"object": dict(obj)}
    if previous_attributes is not None:
        data["previous_attributes"] = dict(previous_attributes)
    return {
        "id": id or new_id("evt"),
        "object": "event",
        "api_version": api_version,
        "created": created if created is not None else T0,
        "data": data,
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {"id": new_id("req"), "idempotency_key": None},
        "type": type,
    }


# ---------------------------------------------------------------------------------------------
# Invoices
# ---------------------------------------------------------------------------------------------


def invoice_line(
    amount: int,
    *,
    start: int,
    end: int,
    id: str | None = None,
    invoice: str | None = None,
    currency: str = "usd",
    description: str | None = None,
    discount: int = 0,
    credit: int = 0,
    inclusive_tax: int = 0,
    exclusive_tax: int = 0,
    quantity: int = 1,
    subscription: str | None = None,
    livemode: bool = False,
) -> Obj:
    """An invoice line item (`object: "line_item"`): `amount` before discounts (it includes any
    inclusive tax), `period.{start,end}` in Unix seconds, `end` being the next period's start."""
    discount_id = new_id("di") if discount else None
    taxes = []
    for tax_amount, behavior in ((inclusive_tax, "inclusive"), (exclusive_tax, "exclusive")):
        if tax_amount:
            taxes.append(
                {
                    "amount": tax_amount,
                    "tax_behavior": behavior,
                    "tax_rate_details": {"tax_rate": new_id("txr")},
                    "taxability_reason": "standard_rated",
                    "taxable_amount": amount
                    - discount
                    - credit
                    - (inclusive_tax if behavior == "inclusive" else 0),
                    "type": "tax_rate_details",
                }
            )
    pretax = []
    if discount:
        pretax.append(
            {
                "amount": discount,
                "credit_balance_transaction": None,
                "discount": discount_id,
                "type": "discount",
            }
        )
    if credit:
        pretax.append(
            {
                "amount": credit,
                "credit_balance_transaction": new_id("cbtxn"),
                "discount": None,
                "type": "credit_balance_transaction",
            }
        )
    subscription = subscription or new_id("sub")
    price = new_id("price")
    return {
        "id": id or new_id("il"),
        "object": "line_item",
        "amount": amount,
        "currency": currency,
        "description": description or f"{quantity} x MarginLens Pro",
        "discount_amounts": [{"amount": discount, "discount": discount_id}] if discount else [],
        "discountable": True,
        "discounts": [discount_id] if discount_id else [],
        "invoice": invoice,
        "livemode": livemode,
        "metadata": {},
        "parent": {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": subscription,
                "subscription_item": new_id("si"),
            },
            "type": "subscription_item_details",
        },
        "period": {"end": end, "start": start},
        "pretax_credit_amounts": pretax,
        "pricing": {
            "price_details": {"price": price, "product": new_id("prod")},
            "type": "price_details",
            "unit_amount_decimal": str(amount // quantity if quantity else amount),
        },
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "subscription": subscription,
        "subtotal": amount,
        "taxes": taxes,
    }


def invoice(
    *,
    customer: str | None,
    lines: Sequence[Obj],
    id: str | None = None,
    currency: str = "usd",
    status: str = "paid",
    created: int | None = None,
    paid_at: int | None = None,
    voided_at: int | None = None,
    has_more: bool = False,
    extra_total: int = 0,
    customer_email: str | None = "billing@example.com",
    customer_name: str | None = "Plexo Health",
    livemode: bool = False,
) -> Obj:
    """An invoice whose totals are consistent with its lines. `has_more=True` marks the embedded
    `lines` list as truncated; `extra_total` is the net amount of the lines left out."""
    invoice_id = id or new_id("in")
    created = created if created is not None else T0
    lines = [{**line, "invoice": invoice_id, "currency": currency} for line in lines]
    subtotal = sum(line["amount"] for line in lines) + extra_total
    # Totals from the current shape (lines edited into an older shape keep today's totals' logic).
    discounts = sum(d["amount"] for line in lines for d in line.get("discount_amounts") or [])
    credits = sum(c["amount"] for line in lines for c in line.get("pretax_credit_amounts") or [])
    credits = max(0, credits - discounts)
    taxes = [t for line in lines for t in line.get("taxes") or []]
    inclusive = sum(t["amount"] for t in taxes if t["tax_behavior"] == "inclusive")
    exclusive = sum(t["amount"] for t in taxes if t["tax_behavior"] == "exclusive")
    total = subtotal - discounts - credits + exclusive
    total_excluding_tax = subtotal - discounts - credits - inclusive
    paid = status == "paid"
    if paid and paid_at is None:
        paid_at = created + 3600
    if status == "void" and voided_at is None:
        voided_at = created + 3600
    periods = [line["period"] for line in lines] or [{"start": created, "end": created}]
    return {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "MarginLens Demo",
        "amount_due": total,
        "amount_overpaid": 0,
        "amount_paid": total if paid else 0,
        "amount_remaining": 0 if paid or status == "void" else total,
        "amount_shipping": 0,
        "attempt_count": 1 if paid else 0,
        "attempted": paid,
        "auto_advance": False,
        "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically",
        "created": created,
        "currency": currency,
        "customer": customer,
        "customer_email": customer_email,
        "customer_name": customer_name,
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": created,
        "ending_balance": 0,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_test/{invoice_id}",
        "invoice_pdf": f"https://pay.stripe.com/invoice/acct_test/{invoice_id}/pdf",
        "lines": {
            "object": "list",
            "data": lines,
            "has_more": has_more,
            "total_count": len(lines) + (1 if has_more else 0),
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "livemode": livemode,
        "metadata": {},
        "number": f"ML-{next(_counter):04d}",
        "parent": {
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": new_id("sub")},
            "type": "subscription_details",
        },
        "period_end": max(p["end"] for p in periods),
        "period_start": min(p["start"] for p in periods),
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "starting_balance": 0,
        "status": status,
        "status_transitions": {
            "finalized_at": created + 60,
            "marked_uncollectible_at": None,
            "paid_at": paid_at,
            "voided_at": voided_at,
        },
        "subtotal": subtotal,
        "subtotal_excluding_tax": subtotal - inclusive,
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total_excluding_tax,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": created,
    }


def invoice_paid(*, event_created: int | None = None, **invoice_fields: Any) -> Obj:
    obj = invoice(**invoice_fields)
    return event("invoice.paid", obj, created=event_created or obj["status_transitions"]["paid_at"])


def invoice_voided(*, event_created: int | None = None, **invoice_fields: Any) -> Obj:
    obj = invoice(status="void", **invoice_fields)
    return event("invoice.voided", obj, created=event_created or obj["status_transitions"]["voided_at"])


# ---------------------------------------------------------------------------------------------
# Charges and refunds
# ---------------------------------------------------------------------------------------------


def refund(
    amount: int,
    *,
    charge: str | None,
    id: str | None = None,
    status: str = "succeeded",
    currency: str = "usd",
    customer: str | None = None,
    created: int | None = None,
    payment_intent: str | None = None,
    reason: str | None = "requested_by_customer",
) -> Obj:
    """A refund: `amount` positive, `status` one of pending / requires_action / succeeded /
    failed / canceled; `customer` exists since 2026-07-29.dahlia."""
    return {
        "id": id or new_id("re"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": new_id("txn"),
        "charge": charge,
        "created": created if created is not None else T0,
        "currency": currency,
        "customer": customer,
        "customer_account": None,
        "description": None,
        "destination_details": {"card": {"reference_status": "pending", "type": "refund"}, "type": "card"},
        "failure_balance_transaction": new_id("txn") if status == "failed" else None,
        "failure_reason": "expired_or_canceled_card" if status == "failed" else None,
        "metadata": {},
        "payment_intent": payment_intent,
        "payment_method": new_id("pm"),
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": status,
        "transfer_reversal": None,
    }


def charge(
    amount: int,
    *,
    customer: str | None,
    amount_refunded: int = 0,
    id: str | None = None,
    currency: str = "usd",
    created: int | None = None,
    payment_intent: str | None = None,
    refunds: Sequence[Obj] | None = None,
    invoice: str | None = None,
    livemode: bool = False,
) -> Obj:
    """A charge. `amount_refunded` is cumulative. `refunds` (a list of refund objects) is only
    embedded when given: Stripe stopped expanding it in 2022-11-15. `invoice` is only present
    when given: Stripe removed it in 2025-03-31.basil."""
    charge_id = id or new_id("ch")
    obj: Obj = {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": amount_refunded,
        "balance_transaction": new_id("txn"),
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "captured": True,
        "created": created if created is not None else T0,
        "currency": currency,
        "customer": customer,
        "description": "Subscription update",
        "disputed": False,
        "failure_code": None,
        "failure_message": None,
        "livemode": livemode,
        "metadata": {},
        "outcome": {"network_status": "approved_by_network", "risk_level": "normal", "type": "authorized"},
        "paid": True,
        "payment_intent": payment_intent or new_id("pi"),
        "payment_method": new_id("pm"),
        "receipt_url": f"https://pay.stripe.com/receipts/{charge_id}",
        "refunded": amount_refunded >= amount,
        "status": "succeeded",
    }
    if refunds is not None:
        obj["refunds"] = {
            "object": "list",
            "data": [{**r, "charge": charge_id} for r in refunds],
            "has_more": False,
            "total_count": len(refunds),
            "url": f"/v1/charges/{charge_id}/refunds",
        }
    if invoice is not None:
        obj["invoice"] = invoice
    return obj


def charge_refunded(*, event_created: int | None = None, **charge_fields: Any) -> Obj:
    return event("charge.refunded", charge(**charge_fields), created=event_created)


def refund_event(
    type: str = "refund.created", *, event_created: int | None = None, **refund_fields: Any
) -> Obj:
    """`refund.created` / `refund.updated` / `refund.failed` carrying one refund."""
    return event(type, refund(**refund_fields), created=event_created)


# ---------------------------------------------------------------------------------------------
# Credit notes
# ---------------------------------------------------------------------------------------------


def credit_note_line(
    amount: int,
    *,
    id: str | None = None,
    invoice_line_item: str | None = None,
    description: str | None = "Credit: MarginLens Pro",
    discount: int = 0,
    inclusive_tax: int = 0,
) -> Obj:
    """A credit note line: `amount` is the gross amount credited, before the line's discount."""
    return {
        "id": id or new_id("cnli"),
        "object": "credit_note_line_item",
        "amount": amount,
        "description": description,
        "discount_amount": discount,
        "discount_amounts": [{"amount": discount, "discount": new_id("di")}] if discount else [],
        "invoice_line_item": invoice_line_item,
        "livemode": False,
        "metadata": {},
        "pretax_credit_amounts": (
            [
                {
                    "amount": discount,
                    "credit_balance_transaction": None,
                    "discount": new_id("di"),
                    "type": "discount",
                }
            ]
            if discount
            else []
        ),
        "quantity": 1,
        "tax_rates": [],
        "taxes": (
            [
                {
                    "amount": inclusive_tax,
                    "tax_behavior": "inclusive",
                    "tax_rate_details": {"tax_rate": new_id("txr")},
                    "taxability_reason": "standard_rated",
                    "taxable_amount": amount - discount - inclusive_tax,
                    "type": "tax_rate_details",
                }
            ]
            if inclusive_tax
            else []
        ),
        "type": "invoice_line_item" if invoice_line_item else "custom_line_item",
        "unit_amount": amount if not invoice_line_item else None,
        "unit_amount_decimal": str(amount) if not invoice_line_item else None,
    }


def credit_note(
    *,
    invoice: str,
    customer: str | None,
    lines: Sequence[Obj],
    id: str | None = None,
    currency: str = "usd",
    status: str = "issued",
    created: int | None = None,
    refunds: Sequence[tuple[str, int]] = (),
    out_of_band_amount: int = 0,
    type: str = "post_payment",
    has_more: bool = False,
) -> Obj:
    """A credit note on `invoice`. `refunds` lists `(refund_id, amount_refunded)` pairs: the part
    of the credit paid back as Stripe refunds (the rest goes to the customer balance or out of
    band). Totals are consistent with the lines."""
    note_id = id or new_id("cn")
    created = created if created is not None else T0
    subtotal = sum(line["amount"] for line in lines)
    discount = sum(line["discount_amount"] for line in lines)
    inclusive = sum(t["amount"] for line in lines for t in line["taxes"])
    total = subtotal - discount
    refunded = sum(amount for _, amount in refunds)
    post_payment = total if type == "post_payment" else 0
    return {
        "id": note_id,
        "object": "credit_note",
        "amount": total,
        "amount_shipping": 0,
        "created": created,
        "currency": currency,
        "customer": customer,
        "customer_account": None,
        "customer_balance_transaction": (
            new_id("cbtxn") if post_payment - refunded - out_of_band_amount > 0 else None
        ),
        "discount_amount": discount,
        "discount_amounts": [],
        "effective_at": created,
        "invoice": invoice,
        "lines": {
            "object": "list",
            "data": list(lines),
            "has_more": has_more,
            "total_count": len(lines) + (1 if has_more else 0),
            "url": f"/v1/credit_notes/{note_id}/lines",
        },
        "livemode": False,
        "memo": None,
        "metadata": {},
        "number": f"ML-{next(_counter):04d}-CN-01",
        "out_of_band_amount": out_of_band_amount or None,
        "pdf": f"https://pay.stripe.com/credit_notes/acct_test/{note_id}/pdf",
        "post_payment_amount": post_payment,
        "pre_payment_amount": total - post_payment,
        "pretax_credit_amounts": [],
        "reason": "product_unsatisfactory",
        "refunds": [
            {"amount_refunded": amount, "payment_record_refund": None, "refund": refund_id, "type": "refund"}
            for refund_id, amount in refunds
        ],
        "shipping_cost": None,
        "status": status,
        "subtotal": subtotal,
        "subtotal_excluding_tax": subtotal - inclusive,
        "total": total,
        "total_excluding_tax": total - inclusive,
        "total_taxes": [],
        "type": type,
        "voided_at": created + 600 if status == "void" else None,
    }


def credit_note_created(*, event_created: int | None = None, **note_fields: Any) -> Obj:
    obj = credit_note(**note_fields)
    return event("credit_note.created", obj, created=event_created or obj["created"])


def credit_note_voided(*, event_created: int | None = None, **note_fields: Any) -> Obj:
    obj = credit_note(status="void", **note_fields)
    return event("credit_note.voided", obj, created=event_created or obj["voided_at"])


# ---------------------------------------------------------------------------------------------
# Customers
# ---------------------------------------------------------------------------------------------


def customer(
    *,
    id: str | None = None,
    metadata: Mapping[str, str] | None = None,
    name: str | None = "Plexo Health",
    email: str | None = "billing@plexo.example",
    created: int | None = None,
) -> Obj:
    return {
        "id": id or new_id("cus"),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": created if created is not None else T0,
        "currency": "usd",
        "default_source": None,
        "delinquent": False,
        "description": None,
        "email": email,
        "invoice_prefix": "ML",
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": dict(metadata or {}),
        "name": name,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def customer_event(
    type: str = "customer.created",
    *,
    event_created: int | None = None,
    previous_attributes: Mapping[str, Any] | None = None,
    **customer_fields: Any,
) -> Obj:
    """`customer.created` / `customer.updated` (the latter usually with `previous_attributes`)."""
    return event(
        type, customer(**customer_fields), created=event_created, previous_attributes=previous_attributes
    )
