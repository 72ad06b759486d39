"""The revenue ledger on DynamoDB: state upserts, recognition by month, mapping, ordering."""

import threading
from datetime import UTC, date, datetime, timedelta

import pytest

from marginlens.core.settings import Settings
from marginlens.revenue.customers import CustomerStore
from marginlens.revenue.documents import RevenueDocument, RevenueLine
from marginlens.revenue.ledger import RevenueLedger
from marginlens.storage.dynamodb import DynamoDBClient

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


@pytest.fixture
def customers(client: DynamoDBClient, settings: Settings) -> CustomerStore:
    return CustomerStore(client, settings.table_name)


@pytest.fixture
def revenue(client: DynamoDBClient, settings: Settings, customers: CustomerStore) -> RevenueLedger:
    return RevenueLedger(client, settings.table_name, customers)


def invoice(
    invoice_id: str, customer: str, amount: int, first: date | None, last: date | None, **kw
) -> RevenueDocument:
    fields = {"occurred_at": T0, "version_time": T0, **kw}
    return RevenueDocument(
        "stripe", "invoice", invoice_id, customer, "USD", (RevenueLine(amount, first, last),), **fields
    )


def refund(refund_id: str, customer: str, amount: int, invoice_id: str, at: datetime) -> RevenueDocument:
    return RevenueDocument(
        "stripe",
        "refund",
        refund_id,
        customer,
        "USD",
        (RevenueLine(-amount),),
        occurred_at=at,
        related_id=invoice_id,
        version_time=at,
    )


def month_total(revenue: RevenueLedger, month: str, customer: str) -> int:
    year, number = (int(part) for part in month.split("-"))
    first = date(year, number, 1)
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return revenue.totals(first, last).get(customer, {}).get("USD", 0)


def test_an_annual_invoice_is_recognised_by_day_across_thirteen_months(
    revenue: RevenueLedger, customers: CustomerStore
) -> None:
    customers.put_customer("plexo", "Plexo Health", "cus_plexo")
    result = revenue.upsert(invoice("in_annual", "cus_plexo", 120_000, date(2026, 1, 15), date(2027, 1, 14)))
    assert result.status == "created" and result.customer_id == "plexo"
    months = [f"2026-{m:02d}" for m in range(1, 13)] + ["2027-01"]
    amounts = [month_total(revenue, month, "plexo") for month in months]
    assert amounts[0] == 120_000 * 17 // 365  # January: 17 of 365 days, rounded down to the cent
    assert amounts[1] == 120_000 * 45 // 365 - amounts[0]  # February: 28 more days
    assert sum(amounts) == 120_000
    assert revenue.totals(date(2026, 1, 1), date(2027, 12, 31)) == {"plexo": {"USD": 120_000}}


def test_the_same_state_delivered_ten_times_concurrently_counts_once(
    revenue: RevenueLedger, customers: CustomerStore
) -> None:
    customers.put_customer("helix", "Helix Robotics", "cus_helix")
    doc = invoice("in_dup", "cus_helix", 13_429, None, None)
    results = []
    threads = [threading.Thread(target=lambda: results.append(revenue.upsert(doc).status)) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results.count("created") == 1 and set(results) <= {"created", "unchanged", "updated"}
    assert month_total(revenue, "2026-01", "helix") == 13_429


def test_refund_before_its_invoice_and_cumulative_partial_refunds(
    revenue: RevenueLedger, customers: CustomerStore
) -> None:
    customers.put_customer("acme", "Acme", "cus_acme")
    # The charge's cumulative refund arrives first (300), then its invoice, then 500 cumulative.
    early = revenue.upsert(refund("ch_1", "cus_acme", 300, "in_1", T0 + timedelta(days=3)))
    assert early.awaiting_original
    revenue.upsert(invoice("in_1", "cus_acme", 2_000, date(2026, 1, 1), date(2026, 1, 31)))
    later = revenue.upsert(refund("ch_1", "cus_acme", 500, "in_1", T0 + timedelta(days=5)))
    assert later.status == "updated" and not later.awaiting_original
    assert month_total(revenue, "2026-01", "acme") == 2_000 - 500
    # A late duplicate of the older state changes nothing.
    assert revenue.upsert(refund("ch_1", "cus_acme", 300, "in_1", T0 + timedelta(days=3))).status == "stale"
    assert month_total(revenue, "2026-01", "acme") == 1_500


def test_unmapped_revenue_is_kept_listed_and_moved_when_mapped(
    revenue: RevenueLedger, customers: CustomerStore
) -> None:
    result = revenue.upsert(invoice("in_x", "cus_new", 5_000, None, None))
    assert result.customer_id is None
    (listing,) = revenue.unmapped()
    assert (listing["stripe_customer_id"], listing["amount_minor"]) == ("cus_new", 5_000)
    assert month_total(revenue, "2026-01", "unmapped:cus_new") == 5_000

    customers.put_customer("newco", "NewCo", "cus_new")
    assert revenue.remap("cus_new") == 1
    assert revenue.unmapped() == []
    assert month_total(revenue, "2026-01", "newco") == 5_000
    assert month_total(revenue, "2026-01", "unmapped:cus_new") == 0


def test_a_voided_invoice_recognises_nothing_and_an_older_paid_state_cannot_revive_it(
    revenue: RevenueLedger, customers: CustomerStore
) -> None:
    customers.put_customer("quanta", "Quanta", "cus_q")
    paid = invoice("in_v", "cus_q", 9_900, None, None)
    voided = invoice("in_v", "cus_q", 9_900, None, None, status="void", version_time=T0 + timedelta(hours=1))
    assert revenue.upsert(voided).status == "created"
    assert revenue.upsert(paid).status == "stale"
    assert month_total(revenue, "2026-01", "quanta") == 0


def test_stripe_event_ids_are_remembered(revenue: RevenueLedger) -> None:
    assert revenue.first_sighting("evt_1") is True
    assert revenue.first_sighting("evt_1") is False
