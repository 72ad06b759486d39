"""Fault injection with botocore event hooks: throttling, transaction conflicts, a lost response.

Whatever DynamoDB or the network does, an event is counted once and never lost.
"""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ConnectionClosedError
from botocore.httpsession import URLLib3Session

from marginlens.db import DynamoDBClient
from marginlens.ingest import IngestResult
from marginlens.ledger import Ledger
from tests.integration.conftest import make_event

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


def inject(client: DynamoDBClient, faults: list[Callable[[AWSPreparedRequest], Any]]) -> list[str]:
    """Run the next fault on each TransactWriteItems call until none are left; returns what happened."""
    happened: list[str] = []

    def before_send(request: AWSPreparedRequest, **_: Any) -> Any:
        if not faults:
            happened.append("sent")
            return None
        fault = faults.pop(0)
        happened.append(fault.__name__)
        return fault(request)

    client.meta.events.register("before-send.dynamodb.TransactWriteItems", before_send)
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
    assert happened == ["throttled", "throttled", "sent"]  # botocore's retries, then through
    assert result.count("created") == 5
    row = month_row(ledger, "req_0")
    assert row["events"] == 5 and row["cost"] == expected_cost(result)


def test_transaction_conflict_is_retried_by_the_ledger(
    send: Send, ledger: Ledger, client: DynamoDBClient
) -> None:
    def conflict(request: AWSPreparedRequest) -> AWSResponse:
        reasons = [{"Code": "None"}, {"Code": "TransactionConflict", "Message": "conflict"}]
        return error_response(request, "TransactionCanceledException", {"CancellationReasons": reasons})

    happened = inject(client, [conflict])
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
    assert happened == ["lost", "sent"]  # botocore retried the very same transaction
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
    from datetime import UTC, datetime

    from marginlens.db import make_client
    from marginlens.ingest import ingest
    from marginlens.ledger import LedgerUnavailable
    from marginlens.pricebook import PriceBook
    from marginlens.revenue.customers import CustomerStore
    from marginlens.revenue.ledger import RevenueLedger

    client = make_client(settings, max_attempts=1)  # no botocore retries: the ledger's own give up
    impatient = Ledger(client, settings.table_name, max_write_attempts=2, backoff_base_s=0.001)
    revenue = RevenueLedger(client, settings.table_name, CustomerStore(client, settings.table_name))

    def always_throttled(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        return error_response(request, "ThrottlingException")

    client.meta.events.register("before-send.dynamodb.TransactWriteItems", always_throttled)
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
        client.meta.events.unregister("before-send.dynamodb.TransactWriteItems", always_throttled)
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
