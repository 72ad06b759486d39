"""Repricing on a real DynamoDB engine: exactly once, however often and however concurrently it runs."""

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.exceptions import ConnectionClosedError
from botocore.httpsession import URLLib3Session

from marginlens.core.settings import Settings
from marginlens.pricing.book import PriceBook, PriceOverride
from marginlens.pricing.store import PriceStore
from marginlens.storage.dynamodb import BY_DAY_INDEX, GSI2PK, UNPRICED_INDEX, DynamoDBClient, make_client
from marginlens.usage.ingest import IngestResult, ingest
from marginlens.usage.ledger import COUNTERS, Ledger
from marginlens.usage.reprice import RepriceReport, reprice
from tests.integration.conftest import BASE_TIME, make_event

pytestmark = pytest.mark.integration

Send = Callable[[Any], IngestResult]
CUSTOM = "acme-llm-1"
INPUT, OUTPUT = Decimal("1.00"), Decimal("2.00")
MILLION = Decimal(1_000_000)


def override_for(model: str, effective_from: datetime) -> PriceOverride:
    return PriceOverride(
        key=PriceBook.baseline().override_key(model),
        model=model,
        effective_from=effective_from,
        input_mtok=INPUT,
        output_mtok=OUTPUT,
    )


def override_cost(event: dict[str, Any]) -> Decimal:
    return (event["prompt_tokens"] * INPUT + event["completion_tokens"] * OUTPUT) / MILLION


def day_of(event: dict[str, Any]) -> date:
    return date.fromisoformat(event["timestamp"][:10])


def months_of(events: list[dict[str, Any]]) -> set[str]:
    return {event["timestamp"][:7] for event in events}


def run(
    client: DynamoDBClient,
    settings: Settings,
    events: list[dict[str, Any]],
    *,
    only_unpriced: bool,
    book: PriceBook | None = None,
) -> RepriceReport:
    return reprice(
        client,
        settings.table_name,
        book or PriceStore(client, settings.table_name).book(),
        first_day=min(day_of(event) for event in events),
        last_day=max(day_of(event) for event in events),
        only_unpriced=only_unpriced,
        now=datetime.now(UTC),
    )


def totals(ledger: Ledger, months: set[str], rows: str = "customer_month") -> dict[str, Decimal]:
    summed = dict.fromkeys(COUNTERS, Decimal(0))
    for month in months:
        for row in getattr(ledger, rows)(month):
            for name in COUNTERS:
                summed[name] += Decimal(row.get(name, 0))
    return summed


def assert_aggregates_match_events(ledger: Ledger, events: list[dict[str, Any]]) -> None:
    """Every aggregate family sums to exactly what the stored events carry now."""
    stored = [ledger.get_event(event["request_id"]) for event in events]
    cost = sum((item.get("cost") or Decimal(0) for item in stored if item), Decimal(0))
    unpriced = sum(1 for item in stored if item and item["price_status"] == "unpriced")
    months = months_of(events)
    for family in ("customer_month", "feature_model_month"):
        summed = totals(ledger, months, family)
        assert summed["cost"] == cost, family
        assert summed["unpriced_events"] == unpriced, family
        assert summed["events"] == len(events), family


# --- the acceptance scenario ------------------------------------------------------------------


def test_unknown_model_is_unpriced_then_repriced_once_after_an_override(
    send: Send, ledger: Ledger, client: DynamoDBClient, settings: Settings
) -> None:
    event = make_event(1, model=CUSTOM, customer="acct_r")
    result = send(event).results[0]
    assert result["price_status"] == "unpriced" and result["cost"] is None
    stored = ledger.get_event("req_1")
    assert stored is not None and stored[GSI2PK] == f"UNPRICED#{event['timestamp'][:7]}"
    month = event["timestamp"][:7]
    (before,) = ledger.customer_month(month)
    assert before["unpriced_events"] == 1 and before.get("cost", 0) == 0

    store = PriceStore(client, settings.table_name)
    store.put_override(override_for(CUSTOM, BASE_TIME - timedelta(days=30)))
    report = run(client, settings, [event], only_unpriced=True, book=store.book())

    expected = override_cost(event)
    assert expected == Decimal("0.000123")  # 101 x 1.00 + 11 x 2.00 per million
    body = report.as_dict()
    assert body["events_examined"] == 1 and body["events_changed"] == 1
    assert body["old_cost"] == "0.00" and body["new_cost"] == "0.000123" and body["cost_delta"] == "0.000123"
    assert body["unpriced_before"] == 1 and body["unpriced_after"] == 0

    stored = ledger.get_event("req_1")
    assert stored is not None
    assert stored["cost"] == expected and stored["price_status"] == "priced"
    assert stored["model_ref"] == CUSTOM and stored["price_source"].startswith("override@")
    assert stored["unit_prices_per_mtok"] == {"input": INPUT, "output": OUTPUT}
    assert stored["revision"] == 1 and GSI2PK not in stored  # out of the sparse unpriced index
    (after,) = ledger.customer_month(month)
    assert after["cost"] == Decimal(before.get("cost", 0)) + expected
    assert after["unpriced_events"] == 0 and after["events"] == 1
    (model_row,) = ledger.feature_model_month(month)
    assert model_row["model"] == CUSTOM and model_row["cost"] == expected
    (detail,) = ledger.customer_detail_days(month, "acct_r", event["timestamp"][:10], event["timestamp"][:10])
    assert detail["cost"] == expected and detail["unpriced_events"] == 0

    # A second reprice, of the unpriced events or of everything, changes nothing.
    again = run(client, settings, [event], only_unpriced=True, book=store.book())
    assert again.events_examined == 0 and again.events_changed == 0
    everything = run(client, settings, [event], only_unpriced=False, book=store.book())
    assert everything.events_examined == 1 and everything.events_changed == 0
    assert everything.as_dict()["cost_delta"] == "0.00"
    assert ledger.customer_month(month) == [after]
    assert ledger.get_event("req_1") == stored


def test_still_unknown_models_stay_unpriced_and_counted(
    send: Send, ledger: Ledger, client: DynamoDBClient, settings: Settings
) -> None:
    events = [make_event(n, model="nobody-knows-me") for n in range(3)]
    send({"events": events})
    report = run(client, settings, events, only_unpriced=True)
    assert (report.events_examined, report.events_changed) == (3, 0)
    assert (report.unpriced_before, report.unpriced_after) == (3, 3)
    assert totals(ledger, months_of(events))["unpriced_events"] == 3


# --- concurrency and lost answers -------------------------------------------------------------


def _unpriced_events(send: Send, count: int) -> list[dict[str, Any]]:
    events = [
        make_event(n, model=CUSTOM, customer=f"acct_{n % 3}", day_offset=1 + n % 2, feature=f"f{n % 2}")
        for n in range(count)
    ]
    assert send({"events": events}).count("created") == count
    return events


def test_two_concurrent_reprices_change_each_event_once(
    send: Send, ledger: Ledger, client: DynamoDBClient, settings: Settings
) -> None:
    events = _unpriced_events(send, 60)
    PriceStore(client, settings.table_name).put_override(override_for(CUSTOM, BASE_TIME - timedelta(days=30)))

    start = threading.Barrier(2)
    reports: list[RepriceReport] = []
    errors: list[BaseException] = []

    def worker() -> None:
        own = make_client(settings)  # each its own client, as two Lambda invocations would have
        try:
            start.wait(10)
            reports.append(run(own, settings, events, only_unpriced=True))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and len(reports) == 2
    assert sum(report.events_changed for report in reports) == 60
    expected = sum((override_cost(event) for event in events), Decimal(0))
    assert sum(report.new_cost for report in reports) == expected
    for event in events:
        stored = ledger.get_event(event["request_id"])
        assert stored is not None and stored["revision"] == 1  # one successful write per event
        assert stored["cost"] == override_cost(event)
    summed = totals(ledger, months_of(events))
    assert summed["cost"] == expected and summed["unpriced_events"] == 0 and summed["events"] == 60
    assert_aggregates_match_events(ledger, events)


def test_a_reprice_that_loses_the_race_rereads_and_changes_nothing(
    send: Send, ledger: Ledger, client: DynamoDBClient, settings: Settings
) -> None:
    events = _unpriced_events(send, 20)
    PriceStore(client, settings.table_name).put_override(override_for(CUSTOM, BASE_TIME - timedelta(days=30)))
    slow, fast = make_client(settings), make_client(settings)
    about_to_write, go = threading.Event(), threading.Event()

    def hold(**_: Any) -> None:  # the slow reprice has read and priced everything; it waits to write
        if not about_to_write.is_set():
            about_to_write.set()
            go.wait(30)

    slow.meta.events.register("before-call.dynamodb.UpdateItem", hold)
    slow_report: list[RepriceReport] = []
    thread = threading.Thread(
        target=lambda: slow_report.append(run(slow, settings, events, only_unpriced=False))
    )
    thread.start()
    assert about_to_write.wait(30)
    fast_report = run(fast, settings, events, only_unpriced=False)
    go.set()
    thread.join(30)

    assert fast_report.events_changed == 20
    (late,) = slow_report
    assert late.events_examined == 20 and late.events_changed == 0  # its conditions failed: re-read
    assert late.unpriced_after == 0 and late.old_cost == late.new_cost == 0
    assert all(ledger.get_event(event["request_id"])["revision"] == 1 for event in events)  # type: ignore[index]
    assert_aggregates_match_events(ledger, events)


def test_a_lost_answer_is_still_counted_as_ours_and_applied_once(
    send: Send, ledger: Ledger, client: DynamoDBClient, settings: Settings
) -> None:
    events = _unpriced_events(send, 5)
    PriceStore(client, settings.table_name).put_override(override_for(CUSTOM, BASE_TIME - timedelta(days=30)))
    happened: list[str] = []

    def lose_first_answer(request: AWSPreparedRequest, **_: Any) -> None:
        if happened:
            happened.append("sent")
            return
        happened.append("lost")
        URLLib3Session().send(request)  # the update commits...
        raise ConnectionClosedError(endpoint_url=request.url)  # ...and its answer never arrives

    client.meta.events.register("before-send.dynamodb.UpdateItem", lose_first_answer)
    report = run(client, settings, events, only_unpriced=True)
    assert happened[:2] == ["lost", "sent"]
    assert report.events_changed == 5 and report.new_cost == sum(map(override_cost, events), Decimal(0))
    assert all(ledger.get_event(event["request_id"])["revision"] == 1 for event in events)  # type: ignore[index]
    assert_aggregates_match_events(ledger, events)


# --- what a reprice recomputes ----------------------------------------------------------------


def test_override_from_mid_period_reprices_only_later_events(
    send: Send, ledger: Ledger, client: DynamoDBClient, settings: Settings
) -> None:
    events = [make_event(n, day_offset=n) for n in range(2, 10)]  # one a day
    results = send({"events": events}).results
    baseline = {r["request_id"]: Decimal(r["cost"]) for r in results}
    effective = BASE_TIME - timedelta(days=5)  # after the events of days 5..9, before those of 2..4
    store = PriceStore(client, settings.table_name)
    store.put_override(override_for("gpt-4o-mini", effective))

    report = run(client, settings, events, only_unpriced=False, book=store.book())
    later = [e for e in events if datetime.fromisoformat(e["timestamp"]) >= effective]
    earlier = [e for e in events if e not in later]
    assert len(later) == 3 and len(earlier) == 5
    assert report.events_examined == 8 and report.events_changed == 3
    assert report.old_cost == sum((baseline[e["request_id"]] for e in later), Decimal(0))
    assert report.new_cost == sum(map(override_cost, later), Decimal(0))
    for event in earlier:
        stored = ledger.get_event(event["request_id"])
        assert stored is not None and stored["cost"] == baseline[event["request_id"]]
        assert "revision" not in stored and stored["price_source"].startswith("genai-prices@")
    for event in later:
        stored = ledger.get_event(event["request_id"])
        assert stored is not None and stored["cost"] == override_cost(event)
        assert stored["price_source"] == f"override@{effective.isoformat().replace('+00:00', 'Z')}"
    expected = sum(baseline[e["request_id"]] for e in earlier) + sum(map(override_cost, later))
    assert totals(ledger, months_of(events))["cost"] == expected
    assert_aggregates_match_events(ledger, events)
    assert run(client, settings, events, only_unpriced=False, book=store.book()).events_changed == 0


def test_an_alias_moves_the_event_to_the_model_it_names(
    send: Send, ledger: Ledger, client: DynamoDBClient, settings: Settings
) -> None:
    event = make_event(7, model="my-azure-gpt4o", customer="acct_alias")
    assert send(event).results[0]["price_status"] == "unpriced"
    month, day = event["timestamp"][:7], event["timestamp"][:10]
    assert [row["model"] for row in ledger.feature_model_month(month)] == ["my-azure-gpt4o"]

    store = PriceStore(client, settings.table_name)
    store.put_alias("my-azure-gpt4o", "gpt-4o")
    book = store.book()
    report = run(client, settings, [event], only_unpriced=True, book=book)
    expected = book.price(
        "gpt-4o",
        None,
        input_tokens=event["prompt_tokens"],
        output_tokens=event["completion_tokens"],
        cache_read_tokens=0,
        cache_write_tokens=0,
        at=datetime.fromisoformat(event["timestamp"]),
    ).cost
    assert expected is not None and expected > 0
    assert report.events_changed == 1 and report.new_cost == expected

    stored = ledger.get_event("req_7")
    assert stored is not None and stored["model_ref"] == "openai/gpt-4o" and stored["cost"] == expected
    # The counters moved from the alias's rows to the model's; the emptied rows are gone.
    (model_row,) = ledger.feature_model_month(month)
    assert (
        model_row["model"] == "openai/gpt-4o" and model_row["events"] == 1 and model_row["cost"] == expected
    )
    assert [row["model"] for row in ledger.feature_model_days(month, day, day)] == ["openai/gpt-4o"]
    (detail,) = ledger.customer_detail_days(month, "acct_alias", day, day)
    assert detail["model"] == "openai/gpt-4o" and detail["prompt_tokens"] == event["prompt_tokens"]
    (customer_row,) = ledger.customer_month(month)
    assert customer_row["events"] == 1 and customer_row["cost"] == expected
    assert customer_row["unpriced_events"] == 0


def test_a_large_range_is_read_through_the_index_never_a_scan(
    send: Send, ledger: Ledger, client: DynamoDBClient, settings: Settings
) -> None:
    events = [
        make_event(n, customer=f"c{n % 10}", day_offset=1 + n % 3, feature=f"f{n % 4}") for n in range(300)
    ]
    baseline = Decimal(0)
    for start in range(0, 300, 100):
        result = send({"events": events[start : start + 100]})
        assert result.count("created") == 100
        baseline += sum((Decimal(r["cost"]) for r in result.results), Decimal(0))
    store = PriceStore(client, settings.table_name)
    store.put_override(override_for("gpt-4o-mini", BASE_TIME - timedelta(days=30)))
    book = store.book()

    operations: list[str] = []
    indexes: list[str | None] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        operations.append(model.name)
        if model.name == "Query":
            indexes.append(params.get("IndexName"))

    client.meta.events.register("provide-client-params.dynamodb.*", record)
    try:
        report = run(client, settings, events, only_unpriced=False, book=book)
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.*", record)

    assert "Scan" not in operations
    assert indexes and set(indexes) == {BY_DAY_INDEX}
    # One conditional update per event, nothing else written: the aggregator moves the difference.
    assert operations.count("UpdateItem") == 300 and "TransactWriteItems" not in operations
    expected = sum(map(override_cost, events), Decimal(0))
    assert report.events_examined == 300 and report.events_changed == 300
    assert report.old_cost == baseline and report.new_cost == expected
    assert totals(ledger, months_of(events))["cost"] == expected
    assert totals(ledger, months_of(events), "feature_model_month")["cost"] == expected
    assert_aggregates_match_events(ledger, events)


def test_only_unpriced_reads_the_sparse_index(send: Send, client: DynamoDBClient, settings: Settings) -> None:
    events = [make_event(n) for n in range(5)] + [make_event(9, model=CUSTOM)]
    send({"events": events})
    indexes: list[str | None] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        indexes.append(params.get("IndexName"))

    book = PriceStore(client, settings.table_name).book()
    client.meta.events.register("provide-client-params.dynamodb.Query", record)
    report = run(client, settings, events, only_unpriced=True, book=book)
    assert set(indexes) == {UNPRICED_INDEX}
    assert report.events_examined == 1 and report.unpriced_before == 1  # the priced ones are not read


def test_a_range_is_checked() -> None:
    with pytest.raises(ValueError, match="before"):
        reprice(
            None,  # type: ignore[arg-type]
            "t",
            PriceBook.baseline(),
            first_day=date(2026, 2, 2),
            last_day=date(2026, 2, 1),
            only_unpriced=False,
            now=datetime.now(UTC),
        )


def test_a_reprice_past_its_deadline_stops_between_pages_and_resumes(
    send: Send, ledger: Ledger, client: DynamoDBClient, settings: Settings
) -> None:
    events = _unpriced_events(send, 30)  # over two days (maybe two months)
    store = PriceStore(client, settings.table_name)
    store.put_override(override_for(CUSTOM, BASE_TIME - timedelta(days=30)))
    first_day, last_day = min(map(day_of, events)), max(map(day_of, events))
    ticks = iter(range(100))  # one tick per page: the deadline passes after two pages

    partial = reprice(
        client,
        settings.table_name,
        store.book(),
        first_day=first_day,
        last_day=last_day,
        only_unpriced=True,
        now=datetime.now(UTC),
        page_size=10,
        deadline=2,
        clock=lambda: next(ticks),
    )
    assert not partial.complete and 0 < partial.events_changed < 30  # two pages of at most 10
    assert partial.events_changed <= 20
    assert partial.as_dict()["next_from"] == partial.next_from.isoformat()  # type: ignore[union-attr]
    assert partial.next_from is not None and first_day <= partial.next_from <= last_day

    rest = reprice(
        client,
        settings.table_name,
        store.book(),
        first_day=partial.next_from,
        last_day=last_day,
        only_unpriced=True,
        now=datetime.now(UTC),
    )
    assert rest.complete and rest.next_from is None
    assert partial.events_changed + rest.events_changed == 30
    assert_aggregates_match_events(ledger, events)
    assert totals(ledger, months_of(events))["unpriced_events"] == 0


def test_an_estimated_event_stays_estimated_when_repriced(
    ledger: Ledger, client: DynamoDBClient, settings: Settings
) -> None:
    lenient = settings.model_copy(update={"strict_token_counts": False})
    event = make_event(11, model=CUSTOM, prompt_chars=4000, completion_chars=400)
    del event["prompt_tokens"], event["completion_tokens"]
    result = ingest(
        event,
        settings=lenient,
        ledger=ledger,
        prices=PriceBook.baseline(),
        now=datetime.now(UTC),
        key_id=None,
    )
    assert result.results[0]["price_status"] == "unpriced"
    stored = ledger.get_event("req_11")
    assert stored is not None and stored["estimated"] is True
    store = PriceStore(client, settings.table_name)
    store.put_override(override_for(CUSTOM, BASE_TIME - timedelta(days=30)))
    report = run(client, settings, [event], only_unpriced=True, book=store.book())

    expected = override_cost(
        {"prompt_tokens": stored["prompt_tokens"], "completion_tokens": stored["completion_tokens"]}
    )
    assert report.events_changed == 1 and report.new_cost == expected
    stored = ledger.get_event("req_11")
    assert stored is not None and stored["price_status"] == "estimated" and stored["cost"] == expected
    (row,) = ledger.customer_month(event["timestamp"][:7])
    assert row["estimated_events"] == 1 and row["estimated_cost"] == expected == row["cost"]
    assert row["unpriced_events"] == 0
