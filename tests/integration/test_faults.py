"""Fault injection: throttling, transaction conflicts, lost responses, on the ingest path (one
conditional Put per event) and on the aggregator's transactions.

Two ways in: botocore event hooks (the client's side: a dropped connection) and the local engine's
fault hook (`faults` fixture: DynamoDB itself answers with the fault). Whatever DynamoDB or the
network does, an event is counted once and never lost.
"""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError
from botocore.httpsession import URLLib3Session
from botocore.retries.standard import ExponentialBackoff

from marginlens.core.settings import Settings
from marginlens.local.faults import FaultInjector
from marginlens.local.streams import StreamPoller
from marginlens.pricing.book import PriceBook
from marginlens.revenue.documents import RevenueDocument, RevenueLine
from marginlens.revenue.ledger import RevenueLedger
from marginlens.storage.dynamodb import DynamoDBClient, create_table
from marginlens.usage.ingest import IngestResult, ingest
from marginlens.usage.ledger import MAX_WRITE_ATTEMPTS, Ledger, LedgerUnavailable
from tests.integration.conftest import BASE_TIME, make_event

pytestmark = pytest.mark.integration

Send = Callable[[Any], IngestResult]


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def error_response(
    request: AWSPreparedRequest, error_type: str, extra: dict[str, Any] | None = None
) -> AWSResponse:
    import json

    body = json.dumps(
        {"__type": f"com.amazonaws.dynamodb.v20120810#{error_type}", "message": error_type, **(extra or {})}
    )
    return AWSResponse(request.url, 400, {"x-amzn-requestid": "fault"}, _Raw(body.encode()))


def inject(
    client: DynamoDBClient, faults: list[Callable[[AWSPreparedRequest], Any]], operation: str = "PutItem"
) -> list[str]:
    """Run the next fault on each `operation` call until none are left; returns what happened.
    PutItem is the ingest path (one per event); TransactWriteItems, on the aggregator's client, its."""
    happened: list[str] = []
    lock = threading.Lock()

    def before_send(request: AWSPreparedRequest, **_: Any) -> Any:
        with lock:  # a batch's Puts run concurrently
            fault = faults.pop(0) if faults else None
            happened.append(fault.__name__ if fault else "sent")
        return fault(request) if fault else None

    client.meta.events.register(f"before-send.dynamodb.{operation}", before_send)
    return happened


def month_row(ledger: Ledger, request_id: str) -> dict[str, Any]:
    stored = ledger.get_event(request_id)
    assert stored is not None
    (row,) = ledger.customer_month(stored["timestamp"][:7])
    return row


def expected_cost(result: IngestResult) -> Decimal:
    return sum((Decimal(r["cost"]) for r in result.results if r["cost"]), Decimal(0))


def test_throttling_then_success(send: Send, ledger: Ledger, client: DynamoDBClient) -> None:
    def throttled(request: AWSPreparedRequest) -> AWSResponse:
        return error_response(request, "ThrottlingException")

    happened = inject(client, [throttled, throttled])
    result = send({"events": [make_event(n) for n in range(5)]})
    assert sorted(happened) == ["sent"] * 5 + ["throttled"] * 2  # botocore's retries, then through
    assert result.count("created") == 5
    row = month_row(ledger, "req_0")
    assert row["events"] == 5 and row["cost"] == expected_cost(result)


def test_a_conflict_on_the_aggregators_transaction_is_retried(
    send: Send, ledger: Ledger, stream_poller: StreamPoller
) -> None:
    def conflict(request: AWSPreparedRequest) -> AWSResponse:
        reasons = [{"Code": "None"}, {"Code": "TransactionConflict", "Message": "conflict"}]
        return error_response(request, "TransactionCanceledException", {"CancellationReasons": reasons})

    happened = inject(stream_poller.stream.client, [conflict], "TransactWriteItems")
    result = send({"events": [make_event(n) for n in range(3)]})
    assert happened == ["conflict", "sent"]
    assert result.count("created") == 3
    assert month_row(ledger, "req_0")["events"] == 3


def test_lost_response_after_commit_then_retry(send: Send, ledger: Ledger, client: DynamoDBClient) -> None:
    def lost(request: AWSPreparedRequest) -> None:
        URLLib3Session().send(request)  # the write reaches DynamoDB and commits...
        raise ConnectionClosedError(endpoint_url=request.url)  # ...but its answer never comes back

    happened = inject(client, [lost])
    result = send({"events": [make_event(n) for n in range(4)]})
    # botocore sent that Put again: its condition failed on our own event (same write_id).
    assert sorted(happened) == ["lost"] + ["sent"] * 4
    assert [r["status"] for r in result.results] == ["created"] * 4  # ours, not someone's duplicate
    row = month_row(ledger, "req_0")
    assert row["events"] == 4 and row["cost"] == expected_cost(result)

    # The app server never saw an answer either and sends the batch again: duplicates, nothing added.
    retry = send({"events": [make_event(n) for n in range(4)]})
    assert retry.count("duplicate") == 4
    assert month_row(ledger, "req_0")["events"] == 4


def test_persistent_throttling_fails_cleanly_and_a_retry_completes(
    settings: Any, client: DynamoDBClient
) -> None:
    from marginlens.revenue.customers import CustomerStore
    from marginlens.storage.dynamodb import make_client

    client = make_client(settings, max_attempts=1)  # one botocore retry, then the ledger's own give up
    impatient = Ledger(client, settings.table_name, max_write_attempts=2, backoff_base_s=0.001)
    revenue = RevenueLedger(client, settings.table_name, CustomerStore(client, settings.table_name))

    def always_throttled(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        return error_response(request, "ThrottlingException")

    client.meta.events.register("before-send.dynamodb.PutItem", always_throttled)
    try:
        with pytest.raises(LedgerUnavailable):
            ingest(
                make_event(1),
                settings=settings,
                ledger=impatient,
                revenue=revenue,
                prices=PriceBook.baseline(),
                now=datetime.now(UTC),
                key_id=None,
            )
    finally:
        client.meta.events.unregister("before-send.dynamodb.PutItem", always_throttled)
    assert impatient.get_event("req_1") is None  # nothing half-written
    result = ingest(
        make_event(1),
        settings=settings,
        ledger=impatient,
        revenue=revenue,
        prices=PriceBook.baseline(),
        now=datetime.now(UTC),
        key_id=None,
    )
    assert result.results[0]["status"] == "created"


# -- the engine's fault hook: DynamoDB itself answers with the fault ---------------------


@pytest.fixture
def no_botocore_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore still retries, without its real backoff (up to 1 + 2 + 4 + 8 s when throttled)."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.001)


def raw_client(endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=endpoint, config=Config(retries={"total_max_attempts": 1}))


def put_action(table: str, name: str) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": {"pk": {"S": name}, "sk": {"S": "X"}}}}


def test_injected_faults_have_dynamodb_shapes(
    faults: FaultInjector, dynamodb_endpoint: str, settings: Settings, client: DynamoDBClient
) -> None:
    raw, table = raw_client(dynamodb_endpoint), settings.table_name
    faults.inject("TransactWriteItems", "TransactionConflict", table=table)
    with pytest.raises(ClientError) as info:
        raw.transact_write_items(TransactItems=[put_action(table, "a"), put_action(table, "b")])
    assert info.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert info.value.response["CancellationReasons"] == [  # type: ignore[typeddict-item]
        {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item."},
        {"Code": "None"},
    ]
    item = {"pk": {"S": "a"}, "sk": {"S": "X"}}
    calls: dict[str, Callable[[], Any]] = {
        "TransactWriteItems": lambda: raw.transact_write_items(TransactItems=[put_action(table, "a")]),
        "PutItem": lambda: raw.put_item(TableName=table, Item=item),
        "UpdateItem": lambda: raw.update_item(
            TableName=table,
            Key=item,
            UpdateExpression="SET v = :v",
            ExpressionAttributeValues={":v": {"N": "1"}},
        ),
    }
    for operation, error, code in [
        ("TransactWriteItems", "Throttling", "ThrottlingException"),
        ("PutItem", "Throttling", "ProvisionedThroughputExceededException"),
        ("PutItem", "TransactionConflict", "TransactionConflictException"),
        ("UpdateItem", "InternalServerError", "InternalServerError"),
    ]:
        faults.inject(operation, error, table=table)
        with pytest.raises(ClientError) as info:
            calls[operation]()
        assert info.value.response["Error"]["Code"] == code, (operation, error)
    assert raw.scan(TableName=table)["Count"] == 0  # nothing applied before an error


def test_faults_are_scoped_counted_and_cleared(
    faults: FaultInjector, dynamodb_endpoint: str, settings: Settings, client: DynamoDBClient
) -> None:
    raw, table = raw_client(dynamodb_endpoint), settings.table_name
    other = f"{table}-other"
    create_table(raw, other)
    fault = faults.inject("PutItem", "Throttling", times=2, table=table)

    def put(name: str, on: str = table) -> str:
        try:
            raw.put_item(TableName=on, Item={"pk": {"S": name}, "sk": {"S": "X"}})
        except ClientError as error:
            return str(error.response["Error"]["Code"])
        return "ok"

    assert put("a", on=other) == "ok"  # another table: not this fault's
    raw.transact_write_items(TransactItems=[put_action(table, "t")])  # another operation
    assert [put("b"), put("c"), put("d")] == [
        "ProvisionedThroughputExceededException",
        "ProvisionedThroughputExceededException",
        "ok",
    ]
    assert fault.fired == 2 and fault.remaining == 0

    forever = faults.inject("PutItem", "Throttling", times=None, table=table)
    assert [put("e"), put("f")] == ["ProvisionedThroughputExceededException"] * 2
    faults.clear()
    assert put("g") == "ok" and forever.fired == 2

    # Thread-safe: of 40 concurrent puts, exactly the 15 faulted ones fail.
    burst = faults.inject("PutItem", "Throttling", times=15, table=table)
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(put, [f"burst{n}" for n in range(40)]))
    assert outcomes.count("ok") == 25 and burst.fired == 15


def test_the_aggregator_survives_injected_transaction_conflicts(
    send: Send, ledger: Ledger, faults: FaultInjector, settings: Settings, call_counter: dict[str, int]
) -> None:
    fault = faults.inject("TransactWriteItems", "TransactionConflict", times=3, table=settings.table_name)
    result = send({"events": [make_event(n) for n in range(5)]})
    assert fault.fired == 3  # three cancelled transactions of the aggregator (botocore does not retry those)
    assert call_counter["PutItem"] == 5 and "TransactWriteItems" not in call_counter  # ingest: Puts only
    assert result.count("created") == 5
    row = month_row(ledger, "req_0")
    assert row["events"] == 5 and row["cost"] == expected_cost(result)


def test_ledger_survives_more_throttling_than_botocore_retries(
    send: Send,
    ledger: Ledger,
    faults: FaultInjector,
    settings: Settings,
    call_counter: dict[str, int],
    no_botocore_sleep: None,
) -> None:
    # botocore tries each call 6 times (max_attempts=5 retries): 12 throttles take 3 ledger attempts.
    assert MAX_WRITE_ATTEMPTS >= 3
    fault = faults.inject("PutItem", "Throttling", times=12, table=settings.table_name)
    result = send(make_event(0))
    assert fault.fired == 12
    assert call_counter["PutItem"] == 3
    assert result.count("created") == 1
    row = month_row(ledger, "req_0")
    assert row["events"] == 1 and row["cost"] == expected_cost(result)


@pytest.mark.parametrize("lost", [1, 7], ids=["botocore-retry", "ledger-retry"])
def test_ledger_counts_once_when_committed_answers_are_lost(
    send: Send, ledger: Ledger, faults: FaultInjector, settings: Settings, lost: int
) -> None:
    # The write commits, its answer is an InternalServerError. 1: botocore sends the Put again and
    # its condition fails on our own event (same write_id). 7: past botocore's 6 attempts, the
    # ledger writes again and finds the same. Either way: created, once.
    fault = faults.inject(
        "PutItem", "InternalServerError", times=lost, table=settings.table_name, after_commit=True
    )
    result = send({"events": [make_event(n) for n in range(4)]})
    assert fault.fired == lost
    assert [r["status"] for r in result.results] == ["created"] * 4
    row = month_row(ledger, "req_0")
    assert row["events"] == 4 and row["cost"] == expected_cost(result)

    retry = send({"events": [make_event(n) for n in range(4)]})
    assert retry.count("duplicate") == 4
    assert month_row(ledger, "req_0")["events"] == 4


def test_ledger_gives_up_cleanly_on_endless_throttling(
    settings: Settings, revenue_ledger: RevenueLedger, faults: FaultInjector, no_botocore_sleep: None
) -> None:
    from marginlens.storage.dynamodb import make_client

    client = make_client(settings, max_attempts=1)  # one botocore retry per call
    impatient = Ledger(client, settings.table_name, max_write_attempts=3, backoff_base_s=0.001)
    fault = faults.inject("PutItem", "Throttling", times=None, table=settings.table_name)
    with pytest.raises(LedgerUnavailable):
        ingest(
            make_event(1),
            settings=settings,
            ledger=impatient,
            revenue=revenue_ledger,
            prices=PriceBook.baseline(),
            now=datetime.now(UTC),
            key_id=None,
        )
    assert fault.fired == 3 * 2  # three ledger attempts, each retried once by botocore
    assert impatient.get_event("req_1") is None
    assert impatient.customer_month(BASE_TIME.strftime("%Y-%m")) == []


REVENUE = RevenueDocument(
    source="api",
    kind="revenue",
    id="ext_1",
    customer_ref="acct_1",
    currency="USD",
    lines=(RevenueLine(3100, date(2026, 1, 1), date(2026, 1, 31)),),
    occurred_at=datetime(2026, 1, 15, 9, 0, tzinfo=UTC),
)
JANUARY = (date(2026, 1, 1), date(2026, 1, 31))


def test_revenue_upsert_survives_injected_transaction_conflicts(
    revenue_ledger: RevenueLedger, faults: FaultInjector, settings: Settings
) -> None:
    fault = faults.inject("TransactWriteItems", "TransactionConflict", times=3, table=settings.table_name)
    assert revenue_ledger.upsert(REVENUE).status == "created"
    assert fault.fired == 3
    assert revenue_ledger.totals(*JANUARY) == {"acct_1": {"USD": 3100}}
    assert revenue_ledger.upsert(REVENUE).status == "unchanged"
    assert revenue_ledger.totals(*JANUARY) == {"acct_1": {"USD": 3100}}


def test_revenue_upsert_counts_once_when_its_answer_is_lost(
    revenue_ledger: RevenueLedger, faults: FaultInjector, settings: Settings
) -> None:
    # botocore gives TransactWriteItems a ClientRequestToken of its own and retries with it.
    faults.inject("TransactWriteItems", "InternalServerError", table=settings.table_name, after_commit=True)
    assert revenue_ledger.upsert(REVENUE).status == "created"
    assert revenue_ledger.totals(*JANUARY) == {"acct_1": {"USD": 3100}}
    assert revenue_ledger.document(REVENUE.key)["revision"] == 1  # type: ignore[index]


def test_revenue_upsert_survives_more_throttling_than_botocore_retries(
    revenue_ledger: RevenueLedger, faults: FaultInjector, settings: Settings, no_botocore_sleep: None
) -> None:
    faults.inject("TransactWriteItems", "Throttling", times=7, table=settings.table_name)
    assert revenue_ledger.upsert(REVENUE).status == "created"
    assert revenue_ledger.totals(*JANUARY) == {"acct_1": {"USD": 3100}}
