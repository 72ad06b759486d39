"""Reports read aggregates only, and keys stop working within the cache window after revocation."""

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from marginlens.auth.keys import KeyStore
from marginlens.reports.pnl import Period, PnlReport
from marginlens.storage.dynamodb import DynamoDBClient
from marginlens.usage.ingest import IngestResult
from marginlens.usage.ledger import Ledger
from tests.integration.conftest import make_event

pytestmark = pytest.mark.integration

Send = Callable[[Any], IngestResult]


def count_items_read(client: DynamoDBClient) -> tuple[dict[str, int], Callable[[], None]]:
    """Items DynamoDB returned to reads (Query, GetItem, BatchGetItem, Scan), and an off switch."""
    read = {"items": 0, "calls": 0}

    def after_call(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in ("Query", "Scan"):
            read["items"] += int(parsed.get("Count", 0))
        elif model.name == "GetItem":
            read["items"] += 1 if "Item" in parsed else 0
        elif model.name == "BatchGetItem":
            read["items"] += sum(len(items) for items in parsed.get("Responses", {}).values())
        else:
            return
        read["calls"] += 1

    client.meta.events.register("after-call.dynamodb.*", after_call)
    return read, lambda: client.meta.events.unregister("after-call.dynamodb.*", after_call)


def seed(send: Send, count: int, month_start: date) -> None:
    events = []
    for n in range(count):
        at = datetime(month_start.year, month_start.month, 1 + n % 20, 12, tzinfo=UTC) + timedelta(seconds=n)
        events.append(
            {
                **make_event(n),
                "request_id": f"r{month_start}_{n}",
                "customer_id": f"cust_{n % 5}",
                "feature": ["summarize", "translate"][n % 2],
                "timestamp": at.isoformat(),
            }
        )
    for start in range(0, count, 100):
        assert send({"events": events[start : start + 100]}).count("created") == len(
            events[start : start + 100]
        )


def test_a_months_pnl_reads_the_same_number_of_items_for_20_or_2000_events(
    send: Send, ledger: Ledger, client: DynamoDBClient
) -> None:
    today = datetime.now(UTC).date()
    # Months whose previous month is empty, so both reports read the same streak history.
    large_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    small_month = (large_month - timedelta(days=50)).replace(day=1)
    seed(send, 20, small_month)
    seed(send, 2000, large_month)
    report = PnlReport(ledger, healthy_pct=Decimal(20))

    read_counts = []
    for month in (small_month, large_month):
        read, stop = count_items_read(client)
        result = report.report(Period.parse(month.strftime("%Y-%m"), None, None))
        stop()
        assert len(result["customers"]) == 5
        read_counts.append(read["items"])
    small_events = sum(
        r["events"]
        for r in report.report(Period.parse(small_month.strftime("%Y-%m"), None, None))["customers"]
    )
    large_events = sum(
        r["events"]
        for r in report.report(Period.parse(large_month.strftime("%Y-%m"), None, None))["customers"]
    )
    assert (small_events, large_events) == (20, 2000)
    # Five customer/month items, plus the months before read to count negative-margin streaks.
    assert read_counts[0] == read_counts[1]


def test_negative_margin_months_counts_the_streak(send: Send, ledger: Ledger) -> None:
    today = datetime.now(UTC).date()
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    two_ago = (last_month - timedelta(days=1)).replace(day=1)
    for month in (two_ago, last_month, this_month):
        at = datetime(month.year, month.month, 1, 0, 30, tzinfo=UTC)
        if at > datetime.now(UTC) - timedelta(minutes=1):
            pytest.skip("first minutes of a month: no event can be in this month yet")
        send(
            {
                **make_event(1),
                "request_id": f"streak_{month}",
                "customer_id": "loss",
                "timestamp": at.isoformat(),
            }
        )
    report = PnlReport(ledger, healthy_pct=Decimal(20))
    (row,) = report.report(Period.parse(this_month.strftime("%Y-%m"), None, None))["customers"]
    assert row["negative_margin_months"] == 3 and row["action"] == "reprice_or_throttle"


def test_revoked_key_is_refused_within_the_cache_window(client: DynamoDBClient, settings: Any) -> None:
    clock = {"now": 1000.0}
    # Two Lambda containers: one authenticates (and caches), the other revokes.
    container_a = KeyStore(client, settings.table_name, cache_seconds=30, clock=lambda: clock["now"])
    container_b = KeyStore(client, settings.table_name, cache_seconds=30, clock=lambda: clock["now"])
    key, record = container_b.create("ingest", "app")
    assert container_a.authenticate(key) is not None
    container_b.revoke(record.id)
    assert container_b.authenticate(key) is None  # the revoking container forgets at once
    clock["now"] += 29
    assert container_a.authenticate(key) is not None  # still cached in the other container...
    clock["now"] += 2
    assert container_a.authenticate(key) is None  # ...and refused once its 30 s entry expires (< 60 s)


def test_keys_are_stored_as_hashes_only(client: DynamoDBClient, settings: Any) -> None:
    store = KeyStore(client, settings.table_name)
    key, record = store.create("read", "dashboard")
    assert key.startswith("mlk_") and record.prefix == key[:10]
    dumped = str(client.scan(TableName=settings.table_name)["Items"])
    assert key not in dumped and key[10:] not in dumped
    assert [r.id for r in store.list()] == [record.id]
