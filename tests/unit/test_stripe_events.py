"""Stripe webhooks: signature verification (real HMACs) and event -> revenue document translation."""

from __future__ import annotations

import base64
import itertools
import json
import time
from datetime import UTC, date, datetime
from typing import Any

import pytest
import stripe

from marginlens.revenue.documents import RevenueDocument, RevenueLine
from marginlens.revenue.stripe_events import (
    HANDLED_EVENT_TYPES,
    CustomerMapping,
    MalformedStripeEvent,
    WebhookRejected,
    raw_body_of,
    signature_header_of,
    to_documents,
    verify,
)
from tests import stripe_fixtures as sf

SECRET = sf.SECRET
NOW = sf.ts(2026, 11, 27, 12)


def signed(event: dict[str, Any], *, at: int = NOW, secret: str | list[str] = SECRET) -> tuple[bytes, str]:
    payload = sf.body(event)
    return payload, sf.sign(payload, secret, at)


def a_paid_invoice() -> dict[str, Any]:
    return sf.invoice_paid(
        customer="cus_plexo",
        lines=[sf.invoice_line(23325, start=sf.ts(2026, 11, 1), end=sf.ts(2026, 12, 1))],
    )


def rejected(payload: bytes | str, header: str | None, secrets: list[str], **kwargs: Any) -> str:
    with pytest.raises(WebhookRejected) as caught:
        verify(payload, header, secrets, now=kwargs.pop("now", NOW), **kwargs)
    return caught.value.reason


# --------------------------------------------------------------------------------------------
# The signing helper is Stripe's algorithm
# --------------------------------------------------------------------------------------------


def test_sign_matches_the_stripe_library() -> None:
    payload = sf.body(a_paid_invoice())
    text = payload.decode()
    expected = stripe.WebhookSignature._compute_signature(f"{NOW}.{text}", SECRET)
    assert sf.v1_signature(payload, SECRET, NOW) == expected
    assert sf.sign(payload, SECRET, NOW) == stripe.WebhookSignature.generate_signature_header(
        text, SECRET, timestamp=NOW
    )
    assert sf.sign(payload, ["whsec_a", "whsec_b"], NOW).count(",v1=") == 2


# --------------------------------------------------------------------------------------------
# verify: the acceptance cases
# --------------------------------------------------------------------------------------------


def test_a_valid_delivery_is_accepted() -> None:
    event = a_paid_invoice()
    payload, header = signed(event)
    verified = verify(payload, header, [SECRET], now=NOW)
    assert isinstance(verified, stripe.Event)
    assert verified["id"] == event["id"] and verified["type"] == "invoice.paid"
    # The same body as text (what a framework may hand over) verifies too.
    assert verify(payload.decode(), header, [SECRET], now=NOW)["id"] == event["id"]


def test_a_tampered_body_is_rejected() -> None:
    payload, header = signed(a_paid_invoice())
    tampered = payload.replace(b"23325", b"99999")
    assert tampered != payload
    assert "signature" in rejected(tampered, header, [SECRET])
    # Even whitespace matters: the signature is over the exact bytes.
    assert "signature" in rejected(payload + b"\n", header, [SECRET])


def test_a_wrong_secret_is_rejected() -> None:
    payload, header = signed(a_paid_invoice(), secret="whsec_someone_else")
    assert "signature" in rejected(payload, header, [SECRET])


@pytest.mark.parametrize("header", [None, "", "   "])
def test_a_missing_header_is_rejected(header: str | None) -> None:
    payload, _ = signed(a_paid_invoice())
    assert "missing" in rejected(payload, header, [SECRET])


def test_a_timestamp_six_minutes_old_is_rejected() -> None:
    payload, header = signed(a_paid_invoice(), at=NOW - 360)
    assert "old" in rejected(payload, header, [SECRET])


def test_a_timestamp_six_minutes_ahead_is_rejected() -> None:
    payload, header = signed(a_paid_invoice(), at=NOW + 360)
    assert "ahead" in rejected(payload, header, [SECRET])


@pytest.mark.parametrize("skew", [-300, -1, 0, 1, 300])
def test_timestamps_within_five_minutes_either_way_are_accepted(skew: int) -> None:
    payload, header = signed(a_paid_invoice(), at=NOW + skew)
    assert verify(payload, header, [SECRET], now=NOW)["object"] == "event"


@pytest.mark.parametrize("order", ["valid_first", "valid_second"])
def test_two_v1_signatures_of_which_one_is_valid_are_accepted(order: str) -> None:
    secrets = [SECRET, "whsec_wrong"] if order == "valid_first" else ["whsec_wrong", SECRET]
    payload, header = signed(a_paid_invoice(), secret=secrets)
    assert header.count("v1=") == 2
    assert verify(payload, header, [SECRET], now=NOW)["type"] == "invoice.paid"


def test_two_configured_secrets_accept_a_delivery_signed_with_the_second() -> None:
    payload, header = signed(a_paid_invoice(), secret="whsec_new")
    assert verify(payload, header, ["whsec_old", "whsec_new"], now=NOW)["type"] == "invoice.paid"
    assert "signature" in rejected(payload, header, ["whsec_old", "whsec_other"])
    # A lone secret passed as a string is one secret, not a list of characters.
    assert verify(payload, header, "whsec_new", now=NOW)["type"] == "invoice.paid"


def test_no_configured_secret_rejects_everything() -> None:
    payload, header = signed(a_paid_invoice())
    assert "secret" in rejected(payload, header, [])
    assert "secret" in rejected(payload, header, ["", "  "])


def test_a_test_mode_v0_entry_is_ignored() -> None:
    payload = sf.body(a_paid_invoice())
    header = sf.sign(payload, SECRET, NOW, v0=True)
    assert verify(payload, header, [SECRET], now=NOW)
    only_v0 = f"t={NOW},v0={sf.v1_signature(payload, SECRET, NOW)}"
    assert "signature" in rejected(payload, only_v0, [SECRET])


@pytest.mark.parametrize(
    "header",
    ["v1=abc", "t=,v1=abc", "t=yesterday,v1=abc", "garbage", "t"],
)
def test_malformed_headers_are_rejected(header: str) -> None:
    payload, _ = signed(a_paid_invoice())
    rejected(payload, header, [SECRET])


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b'{"hello": "world"}', b'{"object": "event"}'])
def test_a_validly_signed_body_that_is_not_an_event_is_rejected(payload: bytes) -> None:
    header = sf.sign(payload, SECRET, NOW)
    assert rejected(payload, header, [SECRET])


def test_a_body_that_is_not_utf8_is_rejected() -> None:
    payload = b'{"id": "\xff"}'
    header = sf.sign(payload, SECRET, NOW)
    assert "UTF-8" in rejected(payload, header, [SECRET])


def test_the_default_clock_is_the_wall_clock_and_the_library_checks_the_past_too() -> None:
    now = int(time.time())
    payload, header = signed(a_paid_invoice(), at=now)
    assert verify(payload, header, [SECRET])["type"] == "invoice.paid"
    for at in (now - 360, now + 360):
        payload, header = signed(a_paid_invoice(), at=at)
        with pytest.raises(WebhookRejected):
            verify(payload, header, [SECRET])


def test_the_tolerance_is_configurable() -> None:
    payload, header = signed(a_paid_invoice(), at=NOW - 90)
    assert verify(payload, header, [SECRET], now=NOW, tolerance_s=120)
    assert "old" in rejected(payload, header, [SECRET], tolerance_s=60)
    with pytest.raises(ValueError, match="positive"):
        verify(payload, header, [SECRET], now=NOW, tolerance_s=0)


# --------------------------------------------------------------------------------------------
# API Gateway helpers
# --------------------------------------------------------------------------------------------


def test_raw_body_of_decodes_base64_bodies() -> None:
    payload, header = signed(a_paid_invoice())
    encoded = {
        "headers": {"stripe-signature": header},
        "body": base64.b64encode(payload).decode(),
        "isBase64Encoded": True,
    }
    assert raw_body_of(encoded) == payload
    assert verify(raw_body_of(encoded), signature_header_of(encoded), [SECRET], now=NOW)
    plain = {"headers": {"Stripe-Signature": header}, "body": payload.decode(), "isBase64Encoded": False}
    assert raw_body_of(plain) == payload and signature_header_of(plain) == header
    assert raw_body_of({"body": None}) == b""
    assert signature_header_of({"headers": None}) is None
    with pytest.raises(WebhookRejected):
        raw_body_of({"body": "***not base64***", "isBase64Encoded": True})


# --------------------------------------------------------------------------------------------
# to_documents: invoices
# --------------------------------------------------------------------------------------------


def only(parsed_documents: tuple[RevenueDocument, ...]) -> RevenueDocument:
    assert len(parsed_documents) == 1
    return parsed_documents[0]


def test_invoice_paid_becomes_an_invoice_with_one_line_per_invoice_line() -> None:
    monthly = sf.invoice_line(23325, start=sf.ts(2026, 11, 1), end=sf.ts(2026, 12, 1))
    annual = sf.invoice_line(120000, start=sf.ts(2026, 11, 15, 9, 30), end=sf.ts(2027, 11, 15, 9, 30))
    one_off = sf.invoice_line(5000, start=sf.ts(2026, 11, 20, 8), end=sf.ts(2026, 11, 20, 8))
    event = sf.invoice_paid(
        id="in_1", customer="cus_plexo", lines=[monthly, annual, one_off], paid_at=sf.ts(2026, 11, 20, 9)
    )
    event["created"] = sf.ts(2026, 11, 20, 9, 0, 2)
    parsed = to_documents(event)
    assert parsed.event_id == event["id"] and parsed.event_type == "invoice.paid" and not parsed.ignored
    assert parsed.customers == ()
    doc = only(parsed.documents)
    assert (doc.source, doc.kind, doc.id, doc.key) == ("stripe", "invoice", "in_1", "stripe:invoice:in_1")
    assert doc.customer_ref == "cus_plexo" and doc.currency == "USD" and doc.status == "active"
    assert doc.lines == (
        RevenueLine(23325, date(2026, 11, 1), date(2026, 11, 30), id=monthly["id"]),
        RevenueLine(120000, date(2026, 11, 15), date(2027, 11, 14), id=annual["id"]),
        RevenueLine(5000, date(2026, 11, 20), date(2026, 11, 20), id=one_off["id"]),
    )
    assert doc.occurred_at == datetime(2026, 11, 20, 9, tzinfo=UTC)
    assert doc.version_time == datetime(2026, 11, 20, 9, 0, 2, tzinfo=UTC)
    assert doc.related_id is None


def test_invoice_lines_are_net_of_discounts_credits_and_included_tax() -> None:
    line = sf.invoice_line(
        12000,
        start=sf.ts(2026, 11, 1),
        end=sf.ts(2026, 12, 1),
        discount=2000,
        credit=500,
        inclusive_tax=1500,
    )
    taxed_on_top = sf.invoice_line(10000, start=sf.ts(2026, 11, 1), end=sf.ts(2026, 12, 1), exclusive_tax=800)
    doc = only(to_documents(sf.invoice_paid(customer="cus_1", lines=[line, taxed_on_top])).documents)
    assert [line.amount_minor for line in doc.lines] == [12000 - 2000 - 500 - 1500, 10000]


def test_invoice_lines_without_pretax_credits_fall_back_to_discounts_and_old_tax_amounts() -> None:
    line = sf.invoice_line(10000, start=sf.ts(2026, 11, 1), end=sf.ts(2026, 12, 1), discount=1000)
    # The shape before 2024-10-28 / 2025-03-31: no pretax_credit_amounts, taxes in tax_amounts.
    del line["pretax_credit_amounts"], line["taxes"]
    line["tax_amounts"] = [{"amount": 700, "inclusive": True}, {"amount": 300, "inclusive": False}]
    doc = only(to_documents(sf.invoice_paid(customer="cus_1", lines=[line])).documents)
    assert doc.lines[0].amount_minor == 10000 - 1000 - 700


def test_jpy_amounts_stay_integers_end_to_end() -> None:
    line = sf.invoice_line(
        1_234_567, currency="jpy", start=sf.ts(2026, 11, 1), end=sf.ts(2026, 12, 1), discount=67
    )
    event = sf.invoice_paid(customer="cus_jp", currency="jpy", lines=[line])
    payload, header = signed(event)
    for source in (event, verify(payload, header, [SECRET], now=NOW)):
        doc = only(to_documents(source).documents)
        assert doc.currency == "JPY"
        assert doc.lines[0].amount_minor == 1_234_500
        assert type(doc.lines[0].amount_minor) is int


def test_a_float_amount_is_refused_not_rounded() -> None:
    event = a_paid_invoice()
    event["data"]["object"]["lines"]["data"][0]["amount"] = 233.25
    with pytest.raises(MalformedStripeEvent):
        to_documents(event)


def test_invoice_voided_is_the_same_invoice_void() -> None:
    event = sf.invoice_voided(
        id="in_v",
        customer="cus_1",
        lines=[sf.invoice_line(900, start=sf.ts(2026, 11, 1), end=sf.ts(2026, 12, 1))],
    )
    doc = only(to_documents(event).documents)
    assert (doc.key, doc.status) == ("stripe:invoice:in_v", "void")
    assert doc.lines[0].amount_minor == 900


def test_a_truncated_line_list_keeps_the_rest_of_the_total_without_a_period() -> None:
    lines = [sf.invoice_line(1000, start=sf.ts(2026, 11, 1), end=sf.ts(2026, 12, 1)) for _ in range(10)]
    event = sf.invoice_paid(customer="cus_1", lines=lines, has_more=True, extra_total=2500)
    doc = only(to_documents(event).documents)
    assert len(doc.lines) == 11
    assert doc.lines[-1] == RevenueLine(2500)
    assert sum(line.amount_minor for line in doc.lines) == event["data"]["object"]["total_excluding_tax"]


def test_an_invoice_without_a_customer_is_unmapped_not_dropped() -> None:
    event = sf.invoice_paid(customer=None, lines=[sf.invoice_line(100, start=sf.T0, end=sf.T0)])
    assert only(to_documents(event).documents).customer_ref == ""


# --------------------------------------------------------------------------------------------
# to_documents: refunds
# --------------------------------------------------------------------------------------------


def test_charge_refunded_is_state_not_delta() -> None:
    first = sf.charge_refunded(
        id="ch_1", customer="cus_1", amount=1000, amount_refunded=300, event_created=sf.ts(2026, 11, 10)
    )
    second = sf.charge_refunded(
        id="ch_1", customer="cus_1", amount=1000, amount_refunded=500, event_created=sf.ts(2026, 11, 12)
    )
    a, b = only(to_documents(first).documents), only(to_documents(second).documents)
    assert a.key == b.key == "stripe:refund:ch_1"
    assert (a.kind, a.customer_ref, a.currency) == ("refund", "cus_1", "USD")
    assert a.lines == (RevenueLine(-300),) and b.lines == (RevenueLine(-500),)
    assert a.version_time is not None and b.version_time is not None and b.version_time > a.version_time
    assert b.occurred_at == datetime(2026, 11, 12, tzinfo=UTC)
    assert a.related_id is None  # no charge.invoice since 2025-03-31.basil


def test_charge_refunded_names_the_invoice_on_older_api_versions() -> None:
    event = sf.charge_refunded(customer="cus_1", amount=1000, amount_refunded=1000, invoice="in_old")
    assert only(to_documents(event).documents).related_id == "in_old"


def test_in_charge_mode_a_refund_of_a_charge_is_not_counted_twice() -> None:
    refund = sf.refund_event(amount=300, charge="ch_1", customer="cus_1")
    parsed = to_documents(refund)
    assert parsed.documents == () and not parsed.ignored and parsed.note
    # The charge's cumulative amount is the one document for that money.
    charge = to_documents(sf.charge_refunded(id="ch_1", customer="cus_1", amount=1000, amount_refunded=300))
    assert sum(line.amount_minor for doc in charge.documents for line in doc.lines) == -300


def test_a_refund_without_a_charge_is_keyed_by_its_own_id() -> None:
    event = sf.refund_event(
        id="re_bal", amount=700, charge=None, customer="cus_1", created=sf.ts(2026, 11, 5)
    )
    doc = only(to_documents(event).documents)
    assert (doc.key, doc.customer_ref, doc.lines) == ("stripe:refund:re_bal", "cus_1", (RevenueLine(-700),))
    assert doc.occurred_at == datetime(2026, 11, 5, tzinfo=UTC) and doc.status == "active"


def test_in_refund_mode_each_refund_is_its_own_document_and_failures_void_it() -> None:
    created = sf.refund_event("refund.created", id="re_1", amount=300, charge="ch_1", customer="cus_1")
    failed = sf.refund_event("refund.updated", id="re_1", amount=300, charge="ch_1", status="failed")
    canceled = sf.refund_event("refund.failed", id="re_1", amount=300, charge="ch_1", status="canceled")
    first = only(to_documents(created, refund_source="refund").documents)
    assert (first.key, first.status, first.lines) == ("stripe:refund:re_1", "active", (RevenueLine(-300),))
    for event in (failed, canceled):
        doc = only(to_documents(event, refund_source="refund").documents)
        assert (doc.key, doc.status) == ("stripe:refund:re_1", "void")
    # charge.refunded without its refunds listed adds nothing in this mode (refund.* carry them) ...
    bare = to_documents(
        sf.charge_refunded(customer="cus_1", amount=1000, amount_refunded=300), refund_source="refund"
    )
    assert bare.documents == () and bare.note
    # ... and with them listed (older API versions) gives the same per-refund documents.
    listed = sf.charge_refunded(
        id="ch_1",
        customer="cus_1",
        amount=1000,
        amount_refunded=500,
        invoice="in_1",
        refunds=[sf.refund(200, id="re_2", charge="ch_1"), sf.refund(300, id="re_1", charge="ch_1")],
    )
    docs = to_documents(listed, refund_source="refund").documents
    assert [(d.key, d.lines[0].amount_minor, d.customer_ref, d.related_id) for d in docs] == [
        ("stripe:refund:re_2", -200, "cus_1", "in_1"),
        ("stripe:refund:re_1", -300, "cus_1", "in_1"),
    ]


def test_an_unknown_refund_source_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="refund_source"):
        to_documents(a_paid_invoice(), refund_source="both")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# to_documents: credit notes
# --------------------------------------------------------------------------------------------


def test_credit_note_created_is_a_negative_credit_note_following_its_invoice() -> None:
    event = sf.credit_note_created(
        id="cn_1",
        invoice="in_1",
        customer="cus_1",
        created=sf.ts(2026, 11, 21),
        lines=[sf.credit_note_line(5000, discount=500, inclusive_tax=750), sf.credit_note_line(1000)],
    )
    doc = only(to_documents(event).documents)
    assert (doc.key, doc.kind, doc.related_id, doc.status) == (
        "stripe:credit_note:cn_1",
        "credit_note",
        "in_1",
        "active",
    )
    assert doc.lines == (RevenueLine(-(5000 - 500 - 750)), RevenueLine(-1000))
    assert all(line.period_start is None for line in doc.lines)
    assert doc.occurred_at == datetime(2026, 11, 21, tzinfo=UTC)
    total = event["data"]["object"]["total_excluding_tax"]
    assert -sum(line.amount_minor for line in doc.lines) == total


def test_credit_note_voided_is_void() -> None:
    event = sf.credit_note_voided(
        id="cn_1", invoice="in_1", customer="cus_1", lines=[sf.credit_note_line(5000)]
    )
    doc = only(to_documents(event).documents)
    assert (doc.key, doc.status) == ("stripe:credit_note:cn_1", "void")


def test_a_credit_note_paid_back_as_a_refund_is_not_counted_twice() -> None:
    full = sf.credit_note_created(
        invoice="in_1", customer="cus_1", lines=[sf.credit_note_line(3000)], refunds=[("re_1", 3000)]
    )
    assert sum(line.amount_minor for line in only(to_documents(full).documents).lines) == 0
    # Half refunded, half credited to the balance: the credit note keeps the unrefunded half.
    half = sf.credit_note_created(
        invoice="in_1",
        customer="cus_1",
        lines=[sf.credit_note_line(2001), sf.credit_note_line(1000), sf.credit_note_line(999)],
        refunds=[("re_2", 2000)],
    )
    doc = only(to_documents(half).documents)
    assert sum(line.amount_minor for line in doc.lines) == -2000
    # Pro rata in whole units; a unit lost to rounding goes to the first of the tied lines.
    assert [line.amount_minor for line in doc.lines] == [-1001, -500, -499]


def test_a_credit_note_with_truncated_lines_uses_its_total() -> None:
    event = sf.credit_note_created(
        invoice="in_1", customer="cus_1", lines=[sf.credit_note_line(100, inclusive_tax=10)], has_more=True
    )
    event["data"]["object"]["total_excluding_tax"] = 4321
    assert only(to_documents(event).documents).lines == (RevenueLine(-4321),)


# --------------------------------------------------------------------------------------------
# to_documents: customers, unknown types, malformed events
# --------------------------------------------------------------------------------------------


def test_customer_events_map_through_metadata() -> None:
    created = sf.customer_event(
        id="cus_1", metadata={"customer_id": "plexo"}, name="Plexo Health", email="b@p.io"
    )
    parsed = to_documents(created)
    assert parsed.documents == () and not parsed.ignored
    assert parsed.customers == (CustomerMapping("cus_1", "plexo", "Plexo Health", "b@p.io"),)
    stripe_id, customer_id, name, email = parsed.customers[0]
    assert (stripe_id, customer_id, name, email) == ("cus_1", "plexo", "Plexo Health", "b@p.io")

    updated = sf.customer_event(
        "customer.updated",
        id="cus_1",
        metadata={"ml_account": " acme "},
        name=None,
        email=None,
        previous_attributes={"metadata": {"ml_account": None}},
    )
    assert to_documents(updated, customer_metadata_key="ml_account").customers == (
        CustomerMapping("cus_1", "acme", None, None),
    )
    assert to_documents(updated).customers[0].customer_id is None  # default key absent
    blank = sf.customer_event(id="cus_2", metadata={"customer_id": "  "})
    assert to_documents(blank).customers[0].customer_id is None


@pytest.mark.parametrize("event_type", ["payment_intent.succeeded", "invoice.created", "customer.deleted"])
def test_unknown_types_are_ignored(event_type: str) -> None:
    assert event_type not in HANDLED_EVENT_TYPES
    parsed = to_documents(sf.event(event_type, {"id": "x_1", "object": "whatever"}))
    assert parsed.ignored and parsed.documents == () and parsed.customers == ()


def test_the_object_must_match_the_event_type() -> None:
    with pytest.raises(MalformedStripeEvent):
        to_documents(sf.event("invoice.paid", sf.customer()))
    with pytest.raises(MalformedStripeEvent):
        to_documents({"id": "evt_1", "type": "invoice.paid", "created": NOW, "data": {}})


def test_a_verified_stripe_event_and_its_dict_translate_alike() -> None:
    event = sf.charge_refunded(customer="cus_1", amount=1000, amount_refunded=250)
    payload, header = signed(event)
    from_library = to_documents(verify(payload, header, [SECRET], now=NOW))
    assert from_library == to_documents(json.loads(payload))


# --------------------------------------------------------------------------------------------
# Duplicates and any arrival order end in the same state
# --------------------------------------------------------------------------------------------


def upsert_all(events: list[dict[str, Any]]) -> dict[str, RevenueDocument]:
    """A minimal ledger: dedup by event id, keep the latest version of each document."""
    seen: set[str] = set()
    state: dict[str, RevenueDocument] = {}
    for event in events:
        if event["id"] in seen:
            continue
        seen.add(event["id"])
        for doc in to_documents(event).documents:
            current = state.get(doc.key)
            assert doc.version_time is not None
            if current is None or (
                current.version_time is not None and doc.version_time >= current.version_time
            ):
                state[doc.key] = doc
    return state


def test_duplicates_and_any_order_give_the_same_state() -> None:
    line = sf.invoice_line(10000, start=sf.ts(2026, 11, 1), end=sf.ts(2026, 12, 1))
    events = [
        sf.invoice_paid(id="in_1", customer="cus_1", lines=[line], event_created=sf.ts(2026, 11, 1, 1)),
        sf.charge_refunded(
            id="ch_1", customer="cus_1", amount=10000, amount_refunded=300, event_created=sf.ts(2026, 11, 3)
        ),
        sf.charge_refunded(
            id="ch_1", customer="cus_1", amount=10000, amount_refunded=500, event_created=sf.ts(2026, 11, 4)
        ),
        sf.refund_event(id="re_9", amount=200, charge="ch_1", event_created=sf.ts(2026, 11, 4)),
        sf.credit_note_created(
            id="cn_1",
            invoice="in_1",
            customer="cus_1",
            lines=[sf.credit_note_line(1000)],
            event_created=sf.ts(2026, 11, 5),
        ),
        sf.credit_note_voided(
            id="cn_1",
            invoice="in_1",
            customer="cus_1",
            lines=[sf.credit_note_line(1000)],
            event_created=sf.ts(2026, 11, 6),
        ),
    ]
    expected = upsert_all(events)
    assert {
        key: (doc.status, sum(line.amount_minor for line in doc.lines)) for key, doc in expected.items()
    } == {
        "stripe:invoice:in_1": ("active", 10000),
        "stripe:refund:ch_1": ("active", -500),
        "stripe:credit_note:cn_1": ("void", -1000),
    }
    for order in itertools.permutations(events):
        assert upsert_all([*order, *order[:2]]) == expected
