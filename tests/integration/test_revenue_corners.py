"""Regression tests for the revenue side of the money audit, each through the webhook's domain path."""

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from marginlens.revenue.customers import CustomerStore
from marginlens.revenue.documents import RevenueDocument, RevenueLine
from marginlens.revenue.ledger import RevenueLedger
from marginlens.revenue.push import RevenueEntry, push
from marginlens.revenue.recognition import by_month
from marginlens.revenue.webhook import WebhookOutcome, handle_stripe_event
from tests import stripe_fixtures as sf

pytestmark = pytest.mark.integration

Apply = Callable[[dict[str, Any]], WebhookOutcome]
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))
DECEMBER = (date(2026, 12, 1), date(2026, 12, 31))


@pytest.fixture
def apply(revenue_ledger: RevenueLedger) -> Apply:
    """The webhook's domain call for the fixtures' test-mode events."""

    def _apply(event: dict[str, Any]) -> WebhookOutcome:
        return handle_stripe_event(
            event, ledger=revenue_ledger, customers=revenue_ledger.customers, livemode=False
        )

    return _apply


@pytest.fixture
def customers(revenue_ledger: RevenueLedger) -> CustomerStore:
    return revenue_ledger.customers


def november_line(amount: int, **fields: Any) -> dict[str, Any]:
    return sf.invoice_line(amount, start=sf.ts(2026, 11, 1), end=sf.ts(2026, 12, 1), **fields)


def usd(totals: dict[str, dict[str, int]], customer: str) -> int:
    return totals.get(customer, {}).get("USD", 0)


# --- 3. two states of one second: the one further along wins, whatever the delivery order ------


def test_two_cumulative_refunds_of_one_second_keep_the_larger_in_any_order(
    apply: Apply, customers: CustomerStore, revenue_ledger: RevenueLedger
) -> None:
    customers.put_customer("acct_tie", None, "cus_tie")
    same_second = sf.ts(2026, 11, 10, 12)
    charge_id = sf.new_id("ch")
    larger = sf.charge_refunded(
        id=charge_id, customer="cus_tie", amount=10_000, amount_refunded=3_000, event_created=same_second
    )
    smaller = sf.charge_refunded(
        id=charge_id, customer="cus_tie", amount=10_000, amount_refunded=1_000, event_created=same_second
    )
    apply(larger)
    apply(smaller)  # delivered last, but a cumulative refund never shrinks
    assert usd(revenue_ledger.totals(*NOVEMBER), "acct_tie") == -3_000


def test_a_credit_note_voided_and_created_in_one_second_stays_void(
    apply: Apply, customers: CustomerStore, revenue_ledger: RevenueLedger
) -> None:
    customers.put_customer("acct_cn", None, "cus_cn")
    invoice = sf.invoice_paid(customer="cus_cn", lines=[november_line(20_000)])
    apply(invoice)
    same_second = sf.ts(2026, 11, 12, 9)
    note_id = sf.new_id("cn")
    fields: dict[str, Any] = {
        "id": note_id,
        "invoice": invoice["data"]["object"]["id"],
        "customer": "cus_cn",
        "lines": [sf.credit_note_line(5_000)],
        "event_created": same_second,
    }
    apply(sf.credit_note_voided(**fields))
    apply(sf.credit_note_created(**fields))  # the older state, delivered last
    assert usd(revenue_ledger.totals(*NOVEMBER), "acct_cn") == 20_000
    stored = revenue_ledger.document(f"stripe:credit_note:{note_id}")
    assert stored is not None and stored["status"] == "void"


# --- 4. credit notes before 2025-03-31.basil name their refund in `refund` ---------------------


def test_a_pre_basil_credit_note_does_not_count_its_refund_twice(
    apply: Apply, customers: CustomerStore, revenue_ledger: RevenueLedger
) -> None:
    customers.put_customer("acct_old", None, "cus_old")
    invoice = sf.invoice_paid(customer="cus_old", lines=[november_line(30_000)])
    apply(invoice)
    refund_id = sf.new_id("re")
    note = sf.credit_note_created(
        invoice=invoice["data"]["object"]["id"], customer="cus_old", lines=[sf.credit_note_line(10_000)]
    )
    old_shape = note["data"]["object"]
    del old_shape["refunds"], old_shape["post_payment_amount"], old_shape["pre_payment_amount"]
    old_shape.update(refund=refund_id, customer_balance_transaction=None)
    note["api_version"] = "2024-06-20"
    apply(note)
    # The same money as the charge's cumulative refund (refund_source "charge", the default).
    apply(
        sf.charge_refunded(
            customer="cus_old", amount=30_000, amount_refunded=10_000, event_created=sf.ts(2026, 11, 15)
        )
    )
    assert sum(usd(revenue_ledger.totals(first, last), "acct_old") for first, last in (NOVEMBER,)) == 20_000


# --- 7. a refund waiting for its invoice follows it even after a crashed first delivery ---------


def test_a_waiting_credit_note_is_released_by_the_invoices_redelivery(
    apply: Apply, customers: CustomerStore, revenue_ledger: RevenueLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers.put_customer("acct_wait", None, "cus_wait")
    invoice = sf.invoice_paid(customer="cus_wait", lines=[november_line(40_000)])
    invoice_id = invoice["data"]["object"]["id"]
    note = sf.credit_note_created(
        invoice=invoice_id,
        customer="cus_wait",
        lines=[sf.credit_note_line(4_000)],
        created=sf.ts(2026, 12, 5),
        event_created=sf.ts(2026, 12, 5),
    )
    apply(note)  # before its invoice: on its own date, in December
    assert usd(revenue_ledger.totals(*DECEMBER), "acct_wait") == -4_000

    release = RevenueLedger._release_pending
    calls = {"n": 0}

    def crash_once(self: RevenueLedger, key: str) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("the function stopped after storing the invoice")
        release(self, key)

    monkeypatch.setattr(RevenueLedger, "_release_pending", crash_once)
    with pytest.raises(ConnectionError):
        apply(invoice)
    apply(invoice)  # Stripe's redelivery: the invoice itself is unchanged
    assert usd(revenue_ledger.totals(*NOVEMBER), "acct_wait") == 36_000
    assert usd(revenue_ledger.totals(*DECEMBER), "acct_wait") == 0


# --- 8. a credit note line names the invoice line it credits ---------------------------------


def test_crediting_a_setup_fee_moves_only_that_lines_revenue(
    apply: Apply, customers: CustomerStore, revenue_ledger: RevenueLedger
) -> None:
    customers.put_customer("acct_fee", None, "cus_fee")
    setup = sf.invoice_line(50_000, start=sf.ts(2026, 11, 1, 10), end=sf.ts(2026, 11, 1, 10))
    annual = sf.invoice_line(120_000, start=sf.ts(2026, 11, 1), end=sf.ts(2027, 11, 1))
    invoice = sf.invoice_paid(customer="cus_fee", lines=[setup, annual])
    apply(invoice)
    apply(
        sf.credit_note_created(
            invoice=invoice["data"]["object"]["id"],
            customer="cus_fee",
            lines=[sf.credit_note_line(50_000, invoice_line_item=setup["id"])],
        )
    )
    plan = by_month(120_000, date(2026, 11, 1), date(2027, 10, 31))
    assert usd(revenue_ledger.totals(*NOVEMBER), "acct_fee") == plan["2026-11"]  # the fee, gone
    assert usd(revenue_ledger.totals(*DECEMBER), "acct_fee") == plan["2026-12"]  # the plan, untouched
    year = revenue_ledger.totals(date(2026, 11, 1), date(2027, 10, 31))
    assert usd(year, "acct_fee") == 120_000


# --- 9. correcting a mapping moves the revenue already attributed, exactly once ----------------


def test_remapping_a_stripe_customer_moves_its_attributed_revenue_once(
    apply: Apply, customers: CustomerStore, revenue_ledger: RevenueLedger
) -> None:
    apply(sf.customer_event(id="cus_move", metadata={"customer_id": "acct_wrong"}))
    apply(sf.invoice_paid(customer="cus_move", lines=[november_line(25_000)]))
    apply(sf.charge_refunded(customer="cus_move", amount=25_000, amount_refunded=5_000))
    assert usd(revenue_ledger.totals(*NOVEMBER), "acct_wrong") == 20_000

    customers.put_customer("acct_right", None, "cus_move")  # PUT /v1/customers/acct_right
    assert revenue_ledger.remap("cus_move") == 2
    november = revenue_ledger.totals(*NOVEMBER)
    assert usd(november, "acct_right") == 20_000 and "acct_wrong" not in november
    assert revenue_ledger.remap("cus_move") == 0  # again: nothing left to move
    assert revenue_ledger.totals(*NOVEMBER) == november


def test_mapping_webhooks_out_of_order_end_with_the_newest_mapping(
    apply: Apply, revenue_ledger: RevenueLedger
) -> None:
    apply(sf.invoice_paid(customer="cus_order", lines=[november_line(7_000)]))
    older = sf.customer_event(
        id="cus_order", metadata={"customer_id": "acct_old"}, event_created=sf.ts(2026, 11, 2)
    )
    newer = sf.customer_event(
        "customer.updated",
        id="cus_order",
        metadata={"customer_id": "acct_new"},
        event_created=sf.ts(2026, 11, 3),
    )
    apply(newer)
    apply(older)  # delivered last, but older: the mapping stays acct_new
    assert revenue_ledger.totals(*NOVEMBER) == {"acct_new": {"USD": 7_000}}
    removed = sf.customer_event(
        "customer.updated", id="cus_order", metadata={}, event_created=sf.ts(2026, 11, 4)
    )
    apply(removed)  # the newest says no mapping: the revenue is unmapped again, not left behind
    assert revenue_ledger.totals(*NOVEMBER) == {"unmapped:cus_order": {"USD": 7_000}}


# --- 10. a service period of years can be written and re-mapped --------------------------------


def test_a_five_year_invoice_is_remapped_and_a_ten_year_entry_is_stored(
    apply: Apply, customers: CustomerStore, revenue_ledger: RevenueLedger
) -> None:
    five_years = sf.invoice_line(600_000, start=sf.ts(2026, 11, 1), end=sf.ts(2031, 11, 1))
    outcome = apply(sf.invoice_paid(customer="cus_long", lines=[five_years]))
    assert outcome.statuses == ("created",)
    whole = (date(2026, 11, 1), date(2031, 10, 31))
    assert usd(revenue_ledger.totals(*whole), "unmapped:cus_long") == 600_000

    apply(sf.customer_event(id="cus_long", metadata={"customer_id": "acct_long"}))
    totals = revenue_ledger.totals(*whole)
    assert usd(totals, "acct_long") == 600_000 and "unmapped:cus_long" not in totals
    assert revenue_ledger.unmapped() == []

    entry = RevenueEntry(
        "contract_10y", "acct_decade", 1_200_000, "USD", date(2026, 1, 1), date(2035, 12, 31)
    )
    assert push(revenue_ledger, entry, sf_now()).status == "created"
    decade = revenue_ledger.totals(date(2026, 1, 1), date(2035, 12, 31))
    assert usd(decade, "acct_decade") == 1_200_000
    stored = revenue_ledger.document("api:revenue:contract_10y")
    assert stored is not None and len(stored["month_items"]) == 120 and not stored.get("writing")


def test_a_long_write_interrupted_half_way_is_finished_by_the_next_upsert(
    revenue_ledger: RevenueLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = RevenueDocument(
        "api",
        "revenue",
        "long_cut",
        "acct_a",
        "USD",
        (RevenueLine(1_500_000, date(2026, 1, 1), date(2035, 12, 31)),),
        sf_now(),
    )
    revenue_ledger.upsert(first)
    moved = RevenueDocument(
        "api",
        "revenue",
        "long_cut",
        "acct_b",
        "USD",
        (RevenueLine(1_500_000, date(2026, 1, 1), date(2035, 12, 31)),),
        sf_now(),
    )
    client = revenue_ledger.client
    transact = client.transact_write_items
    calls = {"n": 0}

    def stop_after_first(**arguments: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("the function stopped between two transactions")
        return transact(**arguments)

    monkeypatch.setattr(client, "transact_write_items", stop_after_first)
    with pytest.raises(ConnectionError):
        revenue_ledger.upsert(moved)
    monkeypatch.setattr(client, "transact_write_items", transact)
    stored = revenue_ledger.document("api:revenue:long_cut")
    assert stored is not None and stored["writing"] is True

    assert revenue_ledger.upsert(moved).status == "updated"  # the redelivery finishes it
    decade = revenue_ledger.totals(date(2026, 1, 1), date(2035, 12, 31))
    assert decade == {"acct_b": {"USD": 1_500_000}}
    stored = revenue_ledger.document("api:revenue:long_cut")
    assert stored is not None and not stored.get("writing") and len(stored["month_items"]) == 120


# --- decided: a deployment counts one Stripe mode ---------------------------------------------


def test_an_event_of_the_other_stripe_mode_is_acknowledged_and_not_counted(
    revenue_ledger: RevenueLedger,
) -> None:
    test_invoice = sf.invoice_paid(customer="cus_mode", lines=[november_line(9_900)])
    outcome = handle_stripe_event(
        test_invoice, ledger=revenue_ledger, customers=revenue_ledger.customers, livemode=True
    )
    assert outcome.ignored and outcome.note is not None and "test-mode" in outcome.note
    assert revenue_ledger.totals(*NOVEMBER) == {}
    live_invoice = sf.invoice_paid(customer="cus_mode", lines=[november_line(9_900)])
    live_invoice["livemode"] = live_invoice["data"]["object"]["livemode"] = True
    outcome = handle_stripe_event(
        live_invoice, ledger=revenue_ledger, customers=revenue_ledger.customers, livemode=True
    )
    assert not outcome.ignored
    assert revenue_ledger.totals(*NOVEMBER) == {"unmapped:cus_mode": {"USD": 9_900}}


def sf_now() -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(sf.T0, tz=UTC)
