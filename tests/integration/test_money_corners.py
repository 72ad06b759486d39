"""Regression tests for the usage side of the money audit: each names the figure that went wrong."""

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from marginlens.reports.pnl import Period, PnlReport
from marginlens.usage.ingest import IngestResult
from marginlens.usage.ledger import Ledger
from tests.integration.conftest import BASE_TIME

pytestmark = pytest.mark.integration

Send = Callable[[Any], IngestResult]

# Ids whose part after `{day}#` sorts after `~`, the old upper bound of every day-range query.
UNICODE_CUSTOMERS = ["acct_plain", "~tilde", "émile", "日本の顧客", "\U0001f600-smile", "\uffff"]


def _event(request_id: str, customer: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "customer_id": customer,
        "model": "gpt-4o-mini",
        "prompt_tokens": 1000,
        "completion_tokens": 100,
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        **fields,
    }


def test_day_ranges_keep_customers_whose_ids_sort_after_tilde(send: Send, ledger: Ledger) -> None:
    last_day = (BASE_TIME - timedelta(days=2)).date()
    first_day = last_day - timedelta(days=1)
    at = datetime.combine(last_day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=23, minutes=59)
    events = [
        _event(f"uni_{n}", customer, at, feature="summarize") for n, customer in enumerate(UNICODE_CUSTOMERS)
    ]
    result = send({"events": events})
    assert result.count("created") == len(UNICODE_CUSTOMERS)
    cost = Decimal(result.results[0]["cost"])

    report = PnlReport(ledger, healthy_pct=Decimal(20)).report(Period(first_day, last_day))
    assert not Period(first_day, last_day).is_calendar_month
    assert {row["customer_id"] for row in report["customers"]} == set(UNICODE_CUSTOMERS)
    assert Decimal(report["totals"]["cost"]) == cost * len(UNICODE_CUSTOMERS)

    # What organization daily budgets, the blocklist and the daily alerts read: one day's rows.
    month, day = last_day.strftime("%Y-%m"), last_day.isoformat()
    assert {row["customer_id"] for row in ledger.customer_days(month, day, day)} == set(UNICODE_CUSTOMERS)
    (feature_row,) = ledger.feature_model_days(month, day, day)
    assert feature_row["events"] == len(UNICODE_CUSTOMERS)
    for customer in UNICODE_CUSTOMERS:
        (detail,) = ledger.customer_detail_days(month, customer, day, day)
        assert detail["customer_id"] == customer and detail["cost"] == cost
    # A range ending the day before holds none of them, a range starting the day after neither.
    before, after = (last_day - timedelta(days=1)).isoformat(), (last_day + timedelta(days=1)).isoformat()
    assert ledger.customer_days(month, before, before) == []
    if after[:7] == month:
        assert ledger.customer_days(month, after, after) == []


def test_the_day_bounds_exclude_the_next_days_keys() -> None:
    from marginlens.storage.dynamodb import day_bounds

    bounds = day_bounds("2026-11-29", "2026-11-30")
    inside = ["2026-11-29#a", "2026-11-30#~", "2026-11-30#\U0010ffff", "2026-11-30T23:59:59Z#req"]
    outside = ["2026-11-28#\U0010ffff", "2026-12-01#", "2026-12-01T00:00:00Z#req"]
    assert all(bounds[":first"] <= key <= bounds[":last"] for key in inside)
    assert not any(bounds[":first"] <= key <= bounds[":last"] for key in outside)
    assert date.fromisoformat(bounds[":last"]) == date(2026, 12, 1)


def test_an_estimated_prompt_never_prices_a_negative_uncached_count(
    settings: Any, ledger: Ledger, client: Any
) -> None:
    from marginlens.pricing.book import PriceOverride
    from marginlens.pricing.store import PriceStore
    from marginlens.usage.ingest import ingest

    lenient = settings.model_copy(update={"strict_token_counts": False})
    store = PriceStore(client, settings.table_name, cache_seconds=0)
    store.put_override(
        PriceOverride(
            key="acme-cached-v1",
            model="acme-cached-v1",
            effective_from=BASE_TIME - timedelta(days=30),
            input_mtok=Decimal("1000"),
            output_mtok=Decimal("0"),
            cache_read_mtok=Decimal("100"),
        )
    )
    at = BASE_TIME - timedelta(hours=3)
    # 40 characters estimate to 11 prompt tokens, while the provider said 500 of them came from cache.
    estimated = {"prompt_chars": 40, "completion_tokens": 100}
    events = [
        {**_event("est_override", "acct_1", at, model="acme-cached-v1", cached_tokens=500), **estimated},
        {**_event("est_upstream", "acct_1", at, cached_tokens=300, cache_write_tokens=200), **estimated},
    ]
    for event in events:
        del event["prompt_tokens"]
    result = ingest(
        {"events": events}, settings=lenient, ledger=ledger, prices=store.book(), now=BASE_TIME, key_id=None
    )
    assert [r["status"] for r in result.results] == ["created", "created"]
    assert [r["price_status"] for r in result.results] == ["estimated", "estimated"]
    # The input holds at least its cached part: 500 tokens, all cached, at $100 per million.
    assert Decimal(result.results[0]["cost"]) == Decimal("0.05")
    assert Decimal(result.results[1]["cost"]) > 0
    stored = ledger.get_event("est_override")
    assert stored is not None and stored["prompt_tokens"] == 500
    (row,) = ledger.customer_month(at.strftime("%Y-%m"))
    assert row["cost"] == sum(Decimal(r["cost"]) for r in result.results)


def test_no_price_is_ever_negative() -> None:
    from marginlens.pricing.book import linear_cost
    from marginlens.pricing.types import Price

    with pytest.raises(ValueError, match="negative"):
        linear_cost({"input": Decimal(1), "output": Decimal(1), "cache_read": Decimal(0)}, 10, 0, 11, 0)
    with pytest.raises(ValueError, match="less than nothing"):
        Price("priced", Decimal("-0.01"), None, "override@x", {})


def test_margin_pct_keeps_the_sign_of_a_loss_against_negative_revenue(
    send: Send, ledger: Ledger, revenue_ledger: Any
) -> None:
    from marginlens.core.currency import ExchangeRates
    from marginlens.reports.revenue import LedgerRevenue
    from marginlens.revenue.push import RevenueEntry, push

    month_start = (BASE_TIME - timedelta(days=40)).date().replace(day=1)
    period = Period.parse(month_start.strftime("%Y-%m"), None, None)
    for external_id, customer, minor in (
        ("refund_only", "acct_refunded", -10000),
        ("sale", "acct_sold", 5000),
    ):
        entry = RevenueEntry(external_id, customer, minor, "USD", period.first, period.last)
        push(revenue_ledger, entry, BASE_TIME)
    report = PnlReport(
        ledger, healthy_pct=Decimal(20), revenue=LedgerRevenue(revenue_ledger, ExchangeRates.parse(""))
    ).report(period)
    refunded = next(row for row in report["customers"] if row["customer_id"] == "acct_refunded")
    assert (refunded["revenue"], refunded["margin"], refunded["margin_pct"]) == (
        "-100.00",
        "-100.00",
        "-100.00",
    )
    assert refunded["action"] == "reprice_or_throttle"
    # Totals: revenue -50.00 and margin -50.00 is a loss of 100 % of the revenue's size.
    assert (report["totals"]["revenue"], report["totals"]["margin_pct"]) == ("-50.00", "-100.00")


def test_one_rule_for_customer_ids_refuses_the_unmapped_prefix_everywhere(
    send: Send, revenue_ledger: Any
) -> None:
    from marginlens.revenue.stripe_events import to_documents

    at = BASE_TIME - timedelta(hours=2)
    event = _event("unmapped_prefix", "unmapped:cus_123", at, revenue_amount="5.00", revenue_currency="USD")
    result = send(event)
    assert result.status_code == 422
    assert result.results[0]["status"] == "rejected"
    assert result.results[0]["error"]["pointer"] == "/customer_id"
    assert "unmapped:" in result.results[0]["error"]["detail"]
    assert revenue_ledger.totals(at.date(), at.date()) == {}  # no revenue booked anywhere

    # Stripe metadata naming such an id maps nothing: the revenue stays visibly unmapped.
    parsed = to_documents(
        {
            "id": "evt_meta",
            "object": "event",
            "type": "customer.updated",
            "created": int(at.timestamp()),
            "livemode": True,
            "data": {
                "object": {"object": "customer", "id": "cus_9", "metadata": {"customer_id": "unmapped:x"}}
            },
        }
    )
    assert parsed.customers[0].customer_id is None
    assert parsed.note is not None and "reserved" in parsed.note


RESERIALISED = [
    ({"cached_tokens": 0}, {}),
    ({"metadata": {}}, {}),
    ({"model": "GPT-4o-mini"}, {"model": "gpt-4o-mini"}),
    ({"provider": "OpenAI"}, {"provider": "openai"}),
    (
        {"revenue_amount": "1.0", "revenue_currency": "usd"},
        {"revenue_amount": "1.00", "revenue_currency": "USD"},
    ),
    (
        {"metadata": {"plan": "pro", "seats": Decimal("3.0")}},
        {"metadata": {"seats": Decimal("3"), "plan": "pro"}},
    ),
    ({"timestamp": "2026-11-20T10:00:00.000+01:00"}, {"timestamp": "2026-11-20T09:00:00Z"}),
]


@pytest.mark.parametrize(("first", "retry"), RESERIALISED)
def test_a_genuine_retry_serialised_differently_is_a_duplicate(
    send: Send, first: dict[str, Any], retry: dict[str, Any]
) -> None:
    at = BASE_TIME - timedelta(hours=5)
    base = _event("retry_1", "acct_1", at)
    if "timestamp" in first:
        base["timestamp"] = first["timestamp"]
    assert send({**base, **first}).results[0]["status"] == "created"
    again = send({**base, **retry})
    assert again.results[0]["status"] == "duplicate", (first, retry)
    assert again.status_code == 200


def test_different_content_under_one_request_id_is_still_a_conflict(send: Send) -> None:
    at = BASE_TIME - timedelta(hours=5)
    base = _event("retry_2", "acct_1", at, feature="summarize")
    assert send(base).results[0]["status"] == "created"
    for changed in (
        {"prompt_tokens": 1001},
        {"cached_tokens": 1},
        {"feature": "Summarize"},
        {"customer_id": "acct_2"},
        {"revenue_amount": "1.00", "revenue_currency": "USD"},
    ):
        assert send({**base, **changed}).results[0]["status"] == "conflict", changed


def test_an_event_stored_with_the_earlier_hash_still_matches_its_retry(send: Send, ledger: Ledger) -> None:
    from marginlens.storage.dynamodb import to_item
    from marginlens.usage.events import UsageEventIn

    event = _event("retry_legacy", "acct_1", BASE_TIME - timedelta(hours=5), metadata={"a": "b"})
    assert send(event).results[0]["status"] == "created"
    legacy = UsageEventIn.model_validate(event).legacy_content_hash()
    ledger.client.update_item(
        TableName=ledger.table,
        Key=to_item({"pk": "EVENT#retry_legacy", "sk": "EVENT"}),
        UpdateExpression="SET content_hash = :h",
        ExpressionAttributeValues=to_item({":h": legacy}),
    )
    assert send(event).results[0]["status"] == "duplicate"


def test_time_of_day_prices_are_simulated_at_the_hour_the_tokens_were_used(
    send: Send, ledger: Ledger
) -> None:
    from marginlens.pricing.book import PriceBook
    from marginlens.simulation.simulator import TargetModel, load_groups, simulate
    from tests.integration.test_simulator import calc_price

    day = (BASE_TIME - timedelta(days=3)).date()
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    # Peak and off-peak hours of DeepSeek's prices, over two days, with cached input.
    hours = [(0, 10), (0, 15), (0, 20), (1, 3), (1, 17), (1, 23)]
    events = [
        {
            **_event(f"tod_{n}", "acct_tod", start + timedelta(days=d, hours=h, minutes=7), feature="chat"),
            "model": "gpt-4o",
            "prompt_tokens": 20_000 + 1_000 * n,
            "cached_tokens": 5_000,
            "completion_tokens": 2_000,
        }
        for n, (d, h) in enumerate(hours)
    ]
    assert send({"events": events}).count("created") == len(events)
    period = Period(day, day + timedelta(days=1))
    target = TargetModel(PriceBook.baseline(), "deepseek-chat")
    assert target.time_of_day
    [row] = simulate(load_groups(ledger, period), target)["rows"]
    expected = sum((calc_price("deepseek-chat", event) for event in events), Decimal(0))
    assert Decimal(row["simulated_cost"]) == expected
    assert row["time_of_day_approximate"] is False
    # Priced at midnight, as before, every call would cost the midnight price.
    at_midnight = sum(
        (calc_price("deepseek-chat", {**event, "timestamp": start.isoformat()}) for event in events),
        Decimal(0),
    )
    assert at_midnight != expected


def test_usage_of_no_known_hour_is_priced_at_its_day_and_flagged() -> None:
    from marginlens.pricing.book import PriceBook
    from marginlens.simulation.simulator import TargetModel, group_rows

    row = {"day": "2026-11-20", "feature": "chat", "model": "openai/gpt-4o", "events": 2, "cost": Decimal(1)}
    tokens = {"prompt_tokens": 1000, "completion_tokens": 100, "cached_tokens": 0, "cache_write_tokens": 0}
    slotted = {**row, **tokens, "s20_events": 1, "s20_prompt_tokens": 500, "s20_completion_tokens": 50}
    [group] = group_rows([slotted])
    pieces = group.pieces(time_of_day=True)
    assert [(p.at.hour, p.at.minute, p.timed) for p in pieces] == [(10, 0, True), (0, 0, False)]
    assert pieces[1].tokens.prompt_tokens == 500
    simulated = TargetModel(PriceBook.baseline(), "deepseek-chat").simulate(group)
    assert simulated.cost is not None and simulated.time_of_day_approximate
    assert not TargetModel(PriceBook.baseline(), "gpt-4o-mini").simulate(group).time_of_day_approximate
