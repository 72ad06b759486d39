import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from marginlens.core.settings import Settings
from marginlens.local.streams import StreamPoller
from marginlens.pricing.book import PriceBook, PriceOverride
from marginlens.pricing.store import PriceStore
from marginlens.revenue.customers import CustomerStore
from marginlens.revenue.ledger import RevenueLedger
from marginlens.storage.dynamodb import DynamoDBClient, create_table, from_item, make_client
from marginlens.storage.streams import Stream, batch_of, make_streams_client
from marginlens.usage.aggregator import Aggregator
from marginlens.usage.ingest import IngestResult, ingest
from marginlens.usage.ledger import Ledger


@pytest.fixture
def settings(dynamodb_endpoint: str, fresh_table_name: str) -> Settings:
    return Settings(MARGINLENS_DYNAMODB_ENDPOINT=dynamodb_endpoint, MARGINLENS_TABLE=fresh_table_name)


@pytest.fixture
def client(settings: Settings) -> DynamoDBClient:
    dynamodb = make_client(settings)
    create_table(dynamodb, settings.table_name)
    return dynamodb


@pytest.fixture
def stream_poller(client: DynamoDBClient, settings: Settings) -> StreamPoller:  # client: the table exists
    """The table's stream delivered to the aggregator, as Lambda's mapping does; `drain()` on demand.
    Its own client: what a test counts on `client` is the code under test's calls only."""
    own = make_client(settings)
    aggregator = Aggregator(own, settings.table_name)
    stream = Stream(own, make_streams_client(settings), settings.table_name)
    return StreamPoller(stream, lambda event: aggregator.apply(batch_of(event)))


@pytest.fixture
def ledger(client: DynamoDBClient, settings: Settings, stream_poller: StreamPoller) -> Ledger:
    # Reads see the test's own writes: the aggregator catches up first.
    return Ledger(client, settings.table_name, before_read=stream_poller.drain)


@pytest.fixture
def revenue_ledger(client: DynamoDBClient, settings: Settings) -> RevenueLedger:
    return RevenueLedger(client, settings.table_name, CustomerStore(client, settings.table_name))


@pytest.fixture
def send(settings: Settings, ledger: Ledger, revenue_ledger: RevenueLedger) -> Callable[[Any], IngestResult]:
    """POST /v1/usage's domain call, without HTTP."""

    def _send(payload: Any) -> IngestResult:
        result = ingest(
            payload,
            settings=settings,
            ledger=ledger,
            revenue=revenue_ledger,
            prices=PriceBook.baseline(),
            now=datetime.now(UTC),
            key_id="key_test",
        )
        if ledger.before_read is not None:
            ledger.before_read()  # the aggregates follow before the test looks
        return result

    return _send


# Fixed for the session: the same event built twice must be the same content (else: a conflict).
# The last noon (UTC): events a few seconds apart before it stay on one day, and one month, at any
# hour the suite runs (from the hour, events of 00:xx fell on two days, and on the 1st two months).
_NOON = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
BASE_TIME = _NOON if datetime.now(UTC) >= _NOON else _NOON - timedelta(days=1)


def make_event(
    number: int, *, customer: str = "acct_1", day_offset: int = 1, **fields: Any
) -> dict[str, Any]:
    at = BASE_TIME - timedelta(days=day_offset, seconds=number)
    return {
        "request_id": f"req_{number}",
        "customer_id": customer,
        "model": "gpt-4o-mini",
        "prompt_tokens": 100 + number,
        "completion_tokens": 10 + number % 7,
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        **fields,
    }


@pytest.fixture
def call_counter(client: DynamoDBClient) -> Iterator[dict[str, int]]:
    """Counts DynamoDB calls by operation name on the test's client."""
    counts: dict[str, int] = {}

    def count(model: Any, **_: Any) -> None:
        counts[model.name] = counts.get(model.name, 0) + 1

    client.meta.events.register("before-call.dynamodb.*", count)
    yield counts
    client.meta.events.unregister("before-call.dynamodb.*", count)


# A custom model at $1,000 per million input tokens: 1,000 tokens cost exactly $1.00.
PRICED_MODEL = "acme-image-v1"


class RecordingPublisher:
    """An alert publisher that keeps what it is given (thread-safe); the first `fail_times` calls raise."""

    def __init__(self, fail_times: int = 0) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.fail_times = fail_times
        self._lock = threading.Lock()

    def publish(self, kind: str, subject: str, detail: dict[str, Any]) -> None:
        with self._lock:
            if self.fail_times:
                self.fail_times -= 1
                raise RuntimeError("SNS is down")
            self.sent.append((kind, subject, detail))

    def kinds(self) -> list[str]:
        return sorted(kind for kind, _, _ in self.sent)


def priced_model_store(client: DynamoDBClient, table: str, effective_from: datetime) -> PriceStore:
    """A price store (no cache) in which PRICED_MODEL costs $1,000 per million input tokens."""
    store = PriceStore(client, table, cache_seconds=0)
    store.put_override(
        PriceOverride(
            key=store.book().override_key(PRICED_MODEL),
            model=PRICED_MODEL,
            effective_from=effective_from,
            input_mtok=Decimal("1000"),
            output_mtok=Decimal("0"),
            provider="acme",
        )
    )
    return store


class Crash(BaseException):
    """A Lambda timeout or a killed process: nothing after it runs (not an Exception: no handler
    catches it)."""


class FailingDeletes:
    """A DynamoDB client whose DeleteItem always fails (after botocore's retries, say)."""

    def __init__(self, client: DynamoDBClient) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def delete_item(self, **_: Any) -> Any:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, "DeleteItem")


def scan_all(client: DynamoDBClient, table: str) -> list[dict[str, Any]]:
    items, arguments = [], {"TableName": table}
    while True:
        page = client.scan(**arguments)
        items += [from_item(item) for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
