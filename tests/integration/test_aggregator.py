"""The aggregator, exactly once: a batch delivered twice, cut short by a crash, redelivered in
halves, records of two shards out of order, transactions throttled or conflicting. Whatever
happens, the aggregates end equal to the sum over the stored events."""

from __future__ import annotations

import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from marginlens.core.settings import Settings
from marginlens.local.faults import FaultInjector
from marginlens.pricing.book import PriceBook
from marginlens.storage.dynamodb import DynamoDBClient, make_client
from marginlens.storage.streams import Batch, Stream, is_event_record, make_streams_client, parse_record
from marginlens.usage.aggregator import Aggregator
from marginlens.usage.ingest import ingest
from marginlens.usage.ledger import Ledger
from tests.integration.conftest import make_event, scan_all

pytestmark = pytest.mark.integration

PREFIXES = ("AGG#CM#", "AGG#CD#", "AGG#FM#", "AGG#FD#", "AGG#CFD#")


def write_events(settings: Settings, client: DynamoDBClient, count: int) -> None:
    """Events on the ingest path only: nothing aggregates them until a test says so."""
    events = [
        make_event(n, customer=f"c{n % 7}", day_offset=1 + n % 3, feature=f"f{n % 4}", cached_tokens=n % 3)
        for n in range(count)
    ]
    for start in range(0, count, 100):
        ingest(
            {"events": events[start : start + 100]},
            settings=settings,
            ledger=Ledger(client, settings.table_name),
            prices=PriceBook.baseline(),
            now=datetime.now(UTC),
            key_id=None,
        )


def stream_batch(settings: Settings, client: DynamoDBClient) -> tuple[Stream, Batch]:
    """Every usage-event record of the table's stream, as one batch of its shard."""
    stream = Stream(client, make_streams_client(settings), settings.table_name)
    (shard,) = stream.shards()
    raw = [record for record in stream.records_after(shard, None, 50) if is_event_record(record)]
    assert stream.arn is not None
    return stream, Batch(stream.arn, shard, tuple(parse_record(record) for record in raw))


def assert_exact(client: DynamoDBClient, table: str, events: int) -> None:
    """Each kind of aggregate item sums to exactly the stored events' counts and costs."""
    items = scan_all(client, table)
    stored = [item for item in items if item["pk"].startswith("EVENT#")]
    assert len(stored) == events
    for prefix in PREFIXES:
        rows = [item for item in items if item["pk"].startswith(prefix)]
        for counter, expected in (
            ("events", events),
            ("cost", sum((item["cost"] for item in stored), Decimal(0))),
            ("cached_tokens", sum(item["cached_tokens"] for item in stored)),
        ):
            assert sum(row.get(counter, 0) for row in rows) == expected, (prefix, counter)


def test_a_batch_delivered_twice_changes_nothing_the_second_time(
    settings: Settings, client: DynamoDBClient
) -> None:
    write_events(settings, client, 60)
    _, batch = stream_batch(settings, client)
    aggregator = Aggregator(client, settings.table_name)
    first = aggregator.apply(batch)
    assert first.applied == 60 and first.already_applied == 0
    again = aggregator.apply(batch)
    assert again.applied == 0 and again.already_applied == 60 and again.transactions == 0
    assert_exact(client, settings.table_name, 60)


def test_a_crash_mid_batch_then_redelivery_in_halves_and_whole(
    settings: Settings, client: DynamoDBClient
) -> None:
    # 200 events of 7 customers over 3 days: several transactions per batch.
    write_events(settings, client, 200)
    _, batch = stream_batch(settings, client)
    crashing = make_client(settings)
    committed: list[int] = []

    def crash_after_two(**_: Any) -> None:
        if len(committed) == 2:
            raise RuntimeError("the function ran out of time")  # killed before the third transaction
        committed.append(1)

    crashing.meta.events.register("before-call.dynamodb.TransactWriteItems", crash_after_two)
    with pytest.raises(RuntimeError):
        Aggregator(crashing, settings.table_name).apply(batch)
    assert len(committed) == 2

    aggregator = Aggregator(client, settings.table_name)
    half = Batch(batch.stream_arn, batch.shard_id, batch.records[:100])  # Lambda bisects the batch
    aggregator.apply(half)
    result = aggregator.apply(batch)  # then the whole batch once more
    assert result.already_applied >= 100 and result.applied == 200 - result.already_applied
    assert_exact(client, settings.table_name, 200)


def test_records_of_two_shards_out_of_order_and_one_shard_twice(
    settings: Settings, client: DynamoDBClient
) -> None:
    write_events(settings, client, 90)
    _, batch = stream_batch(settings, client)
    # One event's records stay in one shard (as DynamoDB keys them); the shards' order is any.
    by_shard: dict[str, list[Any]] = defaultdict(list)
    for record in batch.records:
        by_shard[f"shard-{int(record.keys['pk'].rsplit('_', 1)[1]) % 2}"].append(record)
    aggregator = Aggregator(client, settings.table_name)
    one = Batch(batch.stream_arn, "shard-1", tuple(by_shard["shard-1"]))
    zero = Batch(batch.stream_arn, "shard-0", tuple(by_shard["shard-0"]))
    aggregator.apply(one)
    aggregator.apply(zero)
    assert aggregator.apply(one).applied == 0  # redelivered: already applied
    assert_exact(client, settings.table_name, 90)


def test_throttled_and_conflicting_transactions_are_retried_and_counted_once(
    settings: Settings, client: DynamoDBClient, faults: FaultInjector
) -> None:
    write_events(settings, client, 50)
    _, batch = stream_batch(settings, client)
    throttled = faults.inject("TransactWriteItems", "Throttling", times=3, table=settings.table_name)
    conflicts = faults.inject("TransactWriteItems", "TransactionConflict", times=2, table=settings.table_name)
    Aggregator(client, settings.table_name, backoff_base_s=0.001).apply(batch)
    assert throttled.fired == 3 and conflicts.fired == 2
    assert_exact(client, settings.table_name, 50)


def test_a_lost_answer_of_a_committed_transaction_is_not_applied_twice(
    settings: Settings, client: DynamoDBClient, faults: FaultInjector
) -> None:
    write_events(settings, client, 40)
    _, batch = stream_batch(settings, client)
    # Committed, answered with an error: botocore retries with the same ClientRequestToken.
    lost = faults.inject(
        "TransactWriteItems", "InternalServerError", times=1, table=settings.table_name, after_commit=True
    )
    result = Aggregator(client, settings.table_name).apply(batch)
    assert lost.fired == 1 and result.applied == 40
    assert_exact(client, settings.table_name, 40)


def test_a_batch_reports_the_customers_and_features_it_changed(
    settings: Settings, client: DynamoDBClient
) -> None:
    write_events(settings, client, 10)
    _, batch = stream_batch(settings, client)
    result = Aggregator(client, settings.table_name).apply(batch)
    assert result.customers == {f"c{n}" for n in range(7)}
    assert result.features == {f"f{n}" for n in range(4)}


def test_twenty_concurrent_clients_on_one_hot_feature_never_conflict_and_add_up_exactly(
    settings: Settings, client: DynamoDBClient, ledger: Ledger
) -> None:
    """One customer, one feature, one model: every event counts in the same aggregate items. The
    ingest path writes only the events, so concurrent requests never meet on a shared item."""
    calls: dict[str, int] = defaultdict(int)
    errors: list[str] = []
    lock = threading.Lock()

    def count(model: Any, **_: Any) -> None:
        with lock:
            calls[model.name] += 1

    def failed(parsed: dict[str, Any], **_: Any) -> None:
        code = parsed.get("Error", {}).get("Code")
        if code:
            with lock:
                errors.append(code)

    def one_client(number: int) -> list[str]:
        own = make_client(settings)  # each app server its own connection, as separate Lambdas
        own.meta.events.register("before-call.dynamodb.*", count)
        own.meta.events.register("after-call.dynamodb.*", failed)
        statuses = []
        for n in range(10):
            result = ingest(
                make_event(number * 100 + n, customer="hot", feature="summarize"),
                settings=settings,
                ledger=Ledger(own, settings.table_name),
                prices=PriceBook.baseline(),
                now=datetime.now(UTC),
                key_id=None,
            )
            statuses.append(result.results[0]["status"])
        return statuses

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = [status for batch in pool.map(one_client, range(20)) for status in batch]
    assert statuses == ["created"] * 200
    assert set(calls) <= {"PutItem", "GetItem", "Query"} and calls["PutItem"] == 200  # no transaction
    assert errors == []  # no TransactionConflict, no throttling: nothing shared was written
    month = make_event(0)["timestamp"][:7]
    (row,) = ledger.customer_month(month)  # the aggregator caught up first
    assert row["events"] == 200
    assert_exact(client, settings.table_name, 200)
