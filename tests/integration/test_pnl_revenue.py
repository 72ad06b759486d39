"""The P&L's revenue side: pushed and per-event revenue, currencies, the daily series, the seed's table."""

import calendar
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from marginlens.core.currency import ExchangeRates
from marginlens.core.settings import Settings
from marginlens.pricing.book import PriceOverride
from marginlens.pricing.store import PriceStore
from marginlens.reports.pnl import Period, PnlReport
from marginlens.reports.revenue import LedgerRevenue, convert
from marginlens.revenue.customers import CustomerStore
from marginlens.revenue.documents import RevenueDocument, RevenueLine
from marginlens.revenue.ledger import RevenueLedger
from marginlens.revenue.push import RevenueEntry, push
from marginlens.revenue.recognition import by_day
from marginlens.storage.dynamodb import DynamoDBClient
from marginlens.usage.ingest import IngestResult, ingest
from marginlens.usage.ledger import Ledger

pytestmark = pytest.mark.integration

Send = Callable[[Any], IngestResult]
NOW = datetime.now(UTC).replace(microsecond=0)
LAST_MONTH = (NOW.date().replace(day=1) - timedelta(days=1)).replace(day=1)
MONTH = LAST_MONTH.strftime("%Y-%m")
MILLION = 1_000_000


@pytest.fixture
def customers(client: DynamoDBClient, settings: Settings) -> CustomerStore:
    return CustomerStore(client, settings.table_name)


def report_for(
    ledger: Ledger, revenue: RevenueLedger, customers: CustomerStore, rates: str = ""
) -> PnlReport:
    return PnlReport(
        ledger,
        healthy_pct=Decimal(20),
        revenue=LedgerRevenue(revenue, ExchangeRates.parse(rates)),
        names=customers.names,
    )


def month_period(month: date) -> Period:
    return Period(month, month.replace(day=calendar.monthrange(month.year, month.month)[1]))


def row_of(body: dict[str, Any], customer: str) -> dict[str, Any]:
    (row,) = [row for row in body["customers"] if row["customer_id"] == customer]
    return row


def test_the_seeds_decision_table(
    client: DynamoDBClient,
    settings: Settings,
    ledger: Ledger,
    revenue_ledger: RevenueLedger,
    customers: CustomerStore,
) -> None:
    # A custom model at $1 per million input tokens: a call's cost is its prompt tokens / 1,000,000.
    store = PriceStore(client, settings.table_name, cache_seconds=0)
    store.put_override(
        PriceOverride(
            key="seed-flat-llm",
            model="seed-flat-llm",
            effective_from=datetime(2000, 1, 1, tzinfo=UTC),
            input_mtok=Decimal(1),
            output_mtok=Decimal(0),
        )
    )
    calls = {"plexo": [150_000_000, 127_200_000], "helix": [100_000_000, 27_310_000]}  # 277.20, 127.31
    events = [
        {
            "request_id": f"seed_{customer}_{number}",
            "customer_id": customer,
            "model": "seed-flat-llm",
            "prompt_tokens": tokens,
            "completion_tokens": 0,
            "timestamp": datetime(LAST_MONTH.year, LAST_MONTH.month, 3 + number, 12, tzinfo=UTC).isoformat(),
        }
        for customer, amounts in calls.items()
        for number, tokens in enumerate(amounts)
    ]
    result = ingest(
        {"events": events},
        settings=settings,
        ledger=ledger,
        revenue=revenue_ledger,
        prices=store.book(),
        now=datetime.now(UTC),
        key_id=None,
    )
    assert result.count("created") == 4
    for customer, name, amount in (("plexo", "Plexo Health", 23325), ("helix", "Helix Robotics", 13429)):
        customers.put_customer(customer, name, None)
        first, last = month_period(LAST_MONTH).first, month_period(LAST_MONTH).last
        pushed = push(
            revenue_ledger, RevenueEntry(f"inv_{customer}", customer, amount, "USD", first, last), NOW
        )
        assert pushed.status == "created"

    body = report_for(ledger, revenue_ledger, customers).report(Period.parse(MONTH, None, None))
    plexo, helix = row_of(body, "plexo"), row_of(body, "helix")
    assert (plexo["name"], plexo["revenue"], plexo["cost"], plexo["margin"], plexo["margin_pct"]) == (
        "Plexo Health",
        "233.25",
        "277.20",
        "-43.95",
        "-18.84",
    )
    assert plexo["action"] == "reprice_or_throttle" and plexo["negative_margin_months"] == 1
    assert (helix["revenue"], helix["cost"], helix["margin"], helix["margin_pct"], helix["action"]) == (
        "134.29",
        "127.31",
        "6.98",
        "5.20",
        "monitor",
    )
    assert [row["customer_id"] for row in body["customers"]] == ["plexo", "helix"]  # worst margin first
    assert body["totals"]["revenue"] == "367.54" and body["totals"]["cost"] == "404.51"
    assert body["totals"]["revenue_unconverted"] == {} and body["totals"]["unmapped_revenue"] == "0.00"


def stripe_invoice(
    invoice_id: str, stripe_customer: str, currency: str, amount_minor: int
) -> RevenueDocument:
    at = datetime(LAST_MONTH.year, LAST_MONTH.month, 10, 9, tzinfo=UTC)
    return RevenueDocument(
        "stripe",
        "invoice",
        invoice_id,
        stripe_customer,
        currency,
        (RevenueLine(amount_minor),),
        at,
        version_time=at,
    )


def test_minor_units_follow_the_currency_and_revenue_without_a_rate_is_shown_apart(
    ledger: Ledger, revenue_ledger: RevenueLedger, customers: CustomerStore
) -> None:
    customers.put_customer("globex", "Globex", "cus_globex")
    for invoice_id, currency, minor in (
        ("in_jpy", "JPY", 500),
        ("in_usd", "USD", 500),
        ("in_eur", "EUR", 12000),
    ):
        assert (
            revenue_ledger.upsert(stripe_invoice(invoice_id, "cus_globex", currency, minor)).status
            == "created"
        )
    period = Period.parse(MONTH, None, None)

    # JPY 500 is 500 yen (zero-decimal): at 0.0067 USD per yen, 3.35; USD 500 is 5.00; EUR has no rate.
    with_yen = report_for(ledger, revenue_ledger, customers, "JPY=0.0067").report(period)
    row = row_of(with_yen, "globex")
    assert (row["revenue"], row["revenue_unconverted"]) == ("8.35", {"EUR": "120.00"})
    assert (row["cost"], row["margin"], row["margin_pct"]) == ("0.00", "8.35", "100.00")
    assert with_yen["totals"]["revenue"] == "8.35" and with_yen["totals"]["revenue_unconverted"] == {
        "EUR": "120.00"
    }

    without = report_for(ledger, revenue_ledger, customers).report(period)
    row = row_of(without, "globex")
    assert (row["revenue"], row["revenue_unconverted"]) == ("5.00", {"EUR": "120.00", "JPY": "500"})
    assert without["totals"]["revenue"] == "5.00"

    # Rates apply exactly, with no rounding before the total: EUR 120.00 x 1.0837 = 130.044.
    exact = report_for(ledger, revenue_ledger, customers, "EUR=1.0837,JPY=0.0067").report(period)
    assert (
        row_of(exact, "globex")["revenue"] == "138.394"
        and row_of(exact, "globex")["revenue_unconverted"] == {}
    )
    assert convert({"KWD": 5120, "USD": 0}, ExchangeRates.parse("")).unconverted_strings() == {"KWD": "5.120"}


def test_an_unmapped_stripe_customer_is_no_row_until_mapped(
    ledger: Ledger, revenue_ledger: RevenueLedger, customers: CustomerStore
) -> None:
    revenue_ledger.upsert(stripe_invoice("in_new", "cus_new", "USD", 5_000))
    revenue_ledger.upsert(stripe_invoice("in_new_eur", "cus_new", "EUR", 700))
    period = Period.parse(MONTH, None, None)
    before = report_for(ledger, revenue_ledger, customers).report(period)
    assert before["customers"] == []
    assert before["totals"]["revenue"] == "0.00" and before["totals"]["unmapped_revenue"] == "50.00"
    assert before["totals"]["unmapped_revenue_unconverted"] == {"EUR": "7.00"}

    customers.put_customer("newco", "NewCo", "cus_new")
    assert revenue_ledger.remap("cus_new") == 2
    after = report_for(ledger, revenue_ledger, customers).report(period)
    assert row_of(after, "newco")["revenue"] == "50.00" and after["totals"]["unmapped_revenue"] == "0.00"
    assert row_of(after, "newco")["revenue_unconverted"] == {"EUR": "7.00"}


def test_a_pushed_entry_is_state_and_the_daily_series_follows_the_day_rule(
    ledger: Ledger, revenue_ledger: RevenueLedger, customers: CustomerStore
) -> None:
    first, last = LAST_MONTH + timedelta(days=20), LAST_MONTH + timedelta(days=44)  # into this month
    entry = RevenueEntry("inv_span", "spanco", 100_000, "USD", first, last)
    assert push(revenue_ledger, entry, NOW).status == "created"
    assert push(revenue_ledger, entry, NOW + timedelta(days=3)).status == "unchanged"
    corrected = RevenueEntry("inv_span", "spanco", 99_999, "USD", first, last)
    assert push(revenue_ledger, corrected, NOW).status == "updated"  # replaces: not added to

    report = report_for(ledger, revenue_ledger, customers)
    period = month_period(LAST_MONTH)
    view = report.customer("spanco", period)
    oracle = by_day(99_999, first, last)
    expected_days = {
        day.isoformat(): minor for day, minor in oracle.items() if period.first <= day <= period.last
    }
    assert {point["day"]: point["revenue"] for point in view["daily"] if point["revenue"] != "0.00"} == {
        day: f"{Decimal(minor) / 100:.2f}" for day, minor in expected_days.items() if minor
    }
    assert Decimal(view["revenue"]) * 100 == sum(expected_days.values())
    assert view["revenue"] == row_of(report.report(Period.parse(MONTH, None, None)), "spanco")["revenue"]
    assert view["by_feature"] == [] and view["by_model"] == []  # cost-only breakdowns


def test_an_entry_without_a_period_stays_on_the_day_it_was_first_received(
    ledger: Ledger, revenue_ledger: RevenueLedger, customers: CustomerStore
) -> None:
    received = datetime(LAST_MONTH.year, LAST_MONTH.month, 5, 23, 59, tzinfo=UTC)
    entry = RevenueEntry("inv_day", "dayco", 1_234, "EUR")
    push(revenue_ledger, entry, received)
    assert push(revenue_ledger, entry, received + timedelta(days=40)).status == "unchanged"
    view = report_for(ledger, revenue_ledger, customers).customer("dayco", month_period(LAST_MONTH))
    (day,) = [point for point in view["daily"] if point["revenue_unconverted"]]
    assert (day["day"], day["revenue_unconverted"], day["revenue"]) == (
        received.date().isoformat(),
        {"EUR": "12.34"},
        "0.00",
    )


def test_per_event_revenue_is_booked_once_on_the_events_day(
    send: Send, ledger: Ledger, revenue_ledger: RevenueLedger, customers: CustomerStore
) -> None:
    at = datetime(LAST_MONTH.year, LAST_MONTH.month, 7, 8, tzinfo=UTC)
    event = {
        "request_id": "usage_rev_1",
        "customer_id": "meterco",
        "model": "gpt-4o-mini",
        "prompt_tokens": 1000,
        "completion_tokens": 100,
        "timestamp": at.isoformat(),
        "revenue_amount": "0.25",
        "revenue_currency": "usd",
    }
    assert send(event).results[0]["status"] == "created"
    assert send(event).results[0]["status"] == "duplicate"
    assert send({"events": [event, {**event, "request_id": "usage_rev_2"}]}).count("created") == 1
    conflict = send({**event, "revenue_amount": "0.30"})
    assert conflict.results[0]["status"] == "conflict"
    too_fine = send({**event, "request_id": "usage_rev_3", "revenue_amount": "0.001"})
    assert too_fine.status_code == 422 and too_fine.field_errors[0].pointer == "/revenue_amount"
    assert ledger.get_event("usage_rev_3") is None  # rejected before anything was written

    period = Period.parse(MONTH, None, None)
    row = row_of(report_for(ledger, revenue_ledger, customers).report(period), "meterco")
    assert row["revenue"] == "0.50" and row["events"] == 2
    view = report_for(ledger, revenue_ledger, customers).customer("meterco", period)
    assert [(p["day"], p["revenue"]) for p in view["daily"] if p["revenue"] != "0.00"] == [
        (at.date().isoformat(), "0.50")
    ]


def test_a_duplicate_restores_a_lost_revenue_document(
    settings: Settings, ledger: Ledger, revenue_ledger: RevenueLedger, customers: CustomerStore
) -> None:
    """The function stopped between the usage write and the revenue write: the client's retry is a
    duplicate, and the document is written then, on the stored event's day (no timestamp was sent)."""
    event = {
        "request_id": "lost_rev",
        "customer_id": "retryco",
        "model": "gpt-4o-mini",
        "prompt_tokens": 10,
        "completion_tokens": 1,
        "revenue_amount": "1.00",
        "revenue_currency": "USD",
    }

    class Crash(Exception):
        pass

    class CrashingRevenue(RevenueLedger):
        def upsert(self, doc: RevenueDocument) -> Any:
            raise Crash

    crashing = CrashingRevenue(revenue_ledger.client, revenue_ledger.table, revenue_ledger.customers)
    first_seen = datetime.now(UTC)
    with pytest.raises(Crash):
        ingest(
            event,
            settings=settings,
            ledger=ledger,
            revenue=crashing,
            prices=_book(),
            now=first_seen,
            key_id=None,
        )
    later = first_seen + timedelta(days=2)
    retry = ingest(
        event,
        settings=settings,
        ledger=ledger,
        revenue=revenue_ledger,
        prices=_book(),
        now=later,
        key_id=None,
    )
    assert retry.results[0]["status"] == "duplicate"
    today = Period(first_seen.date(), first_seen.date())
    assert report_for(ledger, revenue_ledger, customers).customer("retryco", today)["revenue"] == "1.00"


def _book() -> Any:
    from marginlens.pricing.book import PriceBook

    return PriceBook.baseline()


def test_revenue_in_an_earlier_month_ends_a_negative_margin_streak(
    send: Send, ledger: Ledger, revenue_ledger: RevenueLedger, customers: CustomerStore
) -> None:
    two_ago = (LAST_MONTH - timedelta(days=1)).replace(day=1)
    for number, month in enumerate((two_ago, LAST_MONTH)):
        at = datetime(month.year, month.month, 2, 12, tzinfo=UTC)
        send(
            {
                "request_id": f"streak_{number}",
                "customer_id": "streaky",
                "model": "gpt-4o",
                "prompt_tokens": 10_000,
                "completion_tokens": 1_000,
                "timestamp": at.isoformat(),
            }
        )
    period = Period.parse(MONTH, None, None)
    assert (
        row_of(report_for(ledger, revenue_ledger, customers).report(period), "streaky")[
            "negative_margin_months"
        ]
        == 2
    )
    first, last = month_period(two_ago).first, month_period(two_ago).last
    push(revenue_ledger, RevenueEntry("streak_rev", "streaky", 10_000, "USD", first, last), NOW)
    assert (
        row_of(report_for(ledger, revenue_ledger, customers).report(period), "streaky")[
            "negative_margin_months"
        ]
        == 1
    )
