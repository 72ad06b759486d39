"""The ledger on a real DynamoDB engine: exactly-once writes, aggregates from the stream, planning."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from genai_prices import Usage, calc_price

from marginlens.local.streams import StreamPoller
from marginlens.storage.dynamodb import DynamoDBClient
from marginlens.usage.ingest import IngestResult
from marginlens.usage.ledger import MAX_TRANSACTION_ITEMS, Ledger
from tests.integration.conftest import make_event, scan_all

pytestmark = pytest.mark.integration

Send = Callable[[Any], IngestResult]


def test_created_duplicate_conflict(send: Send, ledger: Ledger) -> None:
    event = make_event(1)
    first = send(event).results[0]
    expected = calc_price(Usage(input_tokens=101, output_tokens=11), "gpt-4o-mini").total_price
    assert first["status"] == "created" and Decimal(first["cost"]) == expected

    again = send(dict(event)).results[0]
    assert again == {**first, "status": "duplicate"}

    changed = send({**event, "prompt_tokens": 999})
    assert changed.results[0]["status"] == "conflict" and changed.status_code == 409
    assert ledger.get_event("req_1")["prompt_tokens"] == 101  # the conflict changed nothing

    month = ledger.get_event("req_1")["timestamp"][:7]
    (row,) = ledger.customer_month(month)
    assert row["events"] == 1 and row["prompt_tokens"] == 101 and row["cost"] == expected


def test_alias_spelling_is_the_same_content(send: Send) -> None:
    event = make_event(2)
    assert send(event).results[0]["status"] == "created"
    spelled = {
        ("model_name" if k == "model" else "input_tokens" if k == "prompt_tokens" else k): v
        for k, v in event.items()
    }
    assert send(spelled).results[0]["status"] == "duplicate"


def test_same_request_id_twice_in_one_batch(send: Send, ledger: Ledger) -> None:
    event = make_event(3)
    result = send({"events": [event, event, {**event, "completion_tokens": 1}]})
    assert [r["status"] for r in result.results] == ["created", "duplicate", "conflict"]
    month = ledger.get_event("req_3")["timestamp"][:7]
    assert ledger.customer_month(month)[0]["events"] == 1


def test_a_batch_is_one_conditional_put_per_event_and_the_aggregator_stays_within_transactions(
    send: Send, ledger: Ledger, client: DynamoDBClient, stream_poller: StreamPoller
) -> None:
    calls: list[tuple[str, int]] = []
    aggregated: list[int] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, len(params.get("TransactItems", [])) or 1))

    def aggregator(params: dict[str, Any], **_: Any) -> None:
        aggregated.append(len(params["TransactItems"]))

    client.meta.events.register("provide-client-params.dynamodb.*", record)
    stream_poller.stream.client.meta.events.register(
        "provide-client-params.dynamodb.TransactWriteItems", aggregator
    )
    # 100 customers over 3 days: each event brings 4 aggregate items of its own, 400+ in all.
    events = [make_event(n, customer=f"c{n}", day_offset=1 + n % 3, feature=f"f{n % 4}") for n in range(100)]
    result = send({"events": events})
    assert result.count("created") == 100
    writes = [
        name for name, _ in calls if name in ("PutItem", "TransactWriteItems", "UpdateItem", "BatchWriteItem")
    ]
    assert writes == ["PutItem"] * 100  # the ingest path: one conditional Put per event, nothing else
    # The aggregator: 400+ aggregate items and the checkpoint, in transactions of at most 100.
    assert len(aggregated) >= 4 and max(aggregated) <= MAX_TRANSACTION_ITEMS
    month_rows = [row for m in {e["timestamp"][:7] for e in events} for row in ledger.customer_month(m)]
    assert sum(row["events"] for row in month_rows) == 100


def test_the_aggregators_plan_keeps_each_transaction_within_the_limit(send: Send) -> None:
    from datetime import UTC, datetime

    from marginlens.core.settings import Settings
    from marginlens.pricing.book import PriceBook
    from marginlens.storage.streams import StreamRecord
    from marginlens.usage.aggregator import _touched, plan
    from marginlens.usage.events import accept
    from marginlens.usage.ingest import price_event
    from marginlens.usage.ledger import event_item

    records = []
    for n in range(250):
        accepted, errors = accept(
            make_event(n, customer=f"c{n % 37}", day_offset=1 + n % 5), Settings(), datetime.now(UTC)
        )
        assert accepted is not None, errors
        item = event_item(price_event(PriceBook.baseline(), accepted), "w", datetime.now(UTC), None)
        image = {key: value for key, value in item.items() if value is not None}
        records.append(StreamRecord(f"{1000 + n}", "INSERT", {}, None, image, None))
    groups = plan(records)
    for group in groups:
        keys = set().union(*(_touched(record) for record in group))
        assert len(keys) + 1 <= MAX_TRANSACTION_ITEMS  # and the checkpoint
    assert [record for group in groups for record in group] == records


def test_unknown_model_is_unpriced_never_zero(send: Send, ledger: Ledger) -> None:
    priced = make_event(10)
    unknown = make_event(11, model="acme-internal-llm-v9")
    result = send({"events": [priced, unknown]})
    assert result.results[1]["price_status"] == "unpriced" and result.results[1]["cost"] is None
    stored = ledger.get_event("req_11")
    assert stored["price_status"] == "unpriced" and "cost" not in stored
    month = stored["timestamp"][:7]
    (row,) = ledger.customer_month(month)
    assert row["events"] == 2 and row["unpriced_events"] == 1
    assert row["cost"] == Decimal(result.results[0]["cost"])  # the unpriced event added nothing


def test_aggregates_agree_with_events(send: Send, ledger: Ledger, client: DynamoDBClient, settings) -> None:
    events = [
        make_event(
            n,
            customer=f"c{n % 3}",
            day_offset=1 + n % 4,
            feature=["summarize", "translate"][n % 2],
            model=["gpt-4o-mini", "claude-3-5-sonnet-20240620"][n % 2 * (n % 3 > 0)],
            cached_tokens=n % 5 * 3,
        )
        for n in range(60)
    ]
    send({"events": events})
    items = scan_all(client, settings.table_name)
    stored = [item for item in items if item["pk"].startswith("EVENT#")]
    total_cost = sum(item["cost"] for item in stored)
    for prefix in ("AGG#CM#", "AGG#CD#", "AGG#FM#", "AGG#FD#", "AGG#CFD#"):
        rows = [item for item in items if item["pk"].startswith(prefix)]
        assert sum(row["cost"] for row in rows) == total_cost, prefix
        assert sum(row["events"] for row in rows) == 60, prefix
        # Zero increments are left out: a row whose events had no cached tokens has no such attribute.
        cached = sum(row.get("cached_tokens", 0) for row in rows)
        assert cached == sum(item["cached_tokens"] for item in stored), prefix


def test_concurrent_overlapping_batches_count_each_event_once(settings, ledger: Ledger) -> None:
    """20 writers at once on the engine, overlapping batches of the same 300 events."""
    import threading
    from datetime import UTC, datetime

    from marginlens.pricing.book import PriceBook
    from marginlens.usage.ingest import ingest

    events = [make_event(n, customer=f"c{n % 4}", feature=["a", "b"][n % 2]) for n in range(300)]
    book = PriceBook.baseline()
    costs: dict[str, str] = {}
    lock = threading.Lock()

    def writer(number: int) -> None:
        batch = [events[(number * 15 + offset) % 300] for offset in range(100)]
        result = ingest(
            {"events": batch},
            settings=settings,
            ledger=ledger,
            prices=book,
            now=datetime.now(UTC),
            key_id=None,
        )
        with lock:
            for item in result.results:
                assert item["status"] in ("created", "duplicate")
                costs[item["request_id"]] = item["cost"]

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert len(costs) == 300
    rows = [
        row for month in {event["timestamp"][:7] for event in events} for row in ledger.customer_month(month)
    ]
    assert sum(row["events"] for row in rows) == 300
    assert sum(row["prompt_tokens"] for row in rows) == sum(event["prompt_tokens"] for event in events)
    assert sum(row["cost"] for row in rows) == sum(Decimal(cost) for cost in costs.values())
