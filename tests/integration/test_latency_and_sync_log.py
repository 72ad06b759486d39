"""The ingestion-latency histogram the aggregator keeps, and the price refresh run log: the two
go-live checks' sources, on the DynamoDB engine."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from marginlens.core.settings import Settings
from marginlens.pricing.book import PriceBook
from marginlens.pricing.sync_log import SyncLog
from marginlens.storage.dynamodb import DynamoDBClient
from marginlens.usage.aggregator import Aggregator
from marginlens.usage.ingest import ingest
from marginlens.usage.latency import bucket_counter, summarise
from marginlens.usage.ledger import Ledger
from tests.integration.conftest import make_event, scan_all
from tests.integration.test_aggregator import stream_batch

pytestmark = pytest.mark.integration


def _ingest(settings: Settings, client: DynamoDBClient, numbers: range, arrived_at: datetime) -> None:
    ingest(
        {"events": [make_event(n) for n in numbers]},
        settings=settings,
        ledger=Ledger(client, settings.table_name),
        prices=PriceBook.baseline(),
        now=datetime.now(UTC),
        key_id=None,
        arrived_at=arrived_at,
    )


def _latency_rows(client: DynamoDBClient, table: str) -> list[dict[str, object]]:
    return [item for item in scan_all(client, table) if str(item["pk"]).startswith("AGG#LAT#")]


def test_each_new_event_counts_once_in_its_days_latency_histogram(
    settings: Settings, client: DynamoDBClient
) -> None:
    now = datetime.now(UTC)
    _ingest(settings, client, range(0, 30), arrived_at=now)  # fast: well under 50 ms to their Puts
    _ingest(settings, client, range(30, 40), arrived_at=now - timedelta(seconds=3))  # slow requests
    stored = [item for item in scan_all(client, settings.table_name) if str(item["pk"]).startswith("EVENT#")]
    assert sorted(int(item["ingest_ms"]) >= 3000 for item in stored).count(True) == 10

    _, batch = stream_batch(settings, client)
    aggregator = Aggregator(client, settings.table_name)
    aggregator.apply(batch)
    aggregator.apply(batch)  # delivered again: counted once
    (row,) = _latency_rows(client, settings.table_name)
    assert row["sk"] == now.date().isoformat()  # the day the events were received, not their timestamp
    summary = summarise([row])
    assert summary.events == 40
    assert summary.counts["lat_le_5000"] == 10
    # Each event in the bucket of its own measured latency (whatever this machine's speed).
    expected = Counter(bucket_counter(int(item["ingest_ms"])) for item in stored)
    assert {name: count for name, count in summary.counts.items() if count} == dict(expected)

    # A change to a stored event (what a reprice does) moves costs, never the latency histogram.
    first = stored[0]
    client.update_item(
        TableName=settings.table_name,
        Key={"pk": {"S": first["pk"]}, "sk": {"S": first["sk"]}},
        UpdateExpression="SET repriced_at = :at",
        ExpressionAttributeValues={":at": {"S": now.isoformat()}},
    )
    _, batch = stream_batch(settings, client)
    assert [record.kind for record in batch.records].count("MODIFY") == 1
    assert aggregator.apply(batch).applied == 1
    assert summarise(_latency_rows(client, settings.table_name)).events == 40


def test_the_sync_log_summarises_seven_days_and_remembers_an_older_success(
    settings: Settings, client: DynamoDBClient
) -> None:
    log = SyncLog(client, settings.table_name)
    now = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    assert log.summary(now).as_dict() == {
        "last_attempt_at": None,
        "last_success_at": None,
        "last_status": None,
        "last_reason": None,
        "attempts_7d": 0,
        "successes_7d": 0,
        "success_rate_7d": None,
    }
    log.record(now - timedelta(days=9), "refreshed", None, "v1")  # outside the window
    log.record(now - timedelta(days=2), "refused", "HTTP 500", "v1")
    log.record(now - timedelta(days=1), "refused", "timed out", "v1")
    summary = log.summary(now)
    assert summary.attempts == 2 and summary.successes == 0 and summary.success_rate_pct == 0
    assert summary.last is not None and summary.last.reason == "timed out"
    assert summary.last_success is not None and summary.last_success.at.startswith("2026-11-23")

    log.record(now - timedelta(hours=1), "unchanged", None, "v1")  # an identical file is a success
    body = log.summary(now).as_dict()
    assert body["attempts_7d"] == 3 and body["successes_7d"] == 1 and body["success_rate_7d"] == "33.33"
    assert body["last_status"] == "unchanged" and body["last_success_at"] == "2026-12-02T05:00:00.000000Z"
