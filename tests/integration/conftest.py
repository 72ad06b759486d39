import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from marginlens.core.settings import Settings
from marginlens.pricing.book import PriceBook, PriceOverride
from marginlens.pricing.store import PriceStore
from marginlens.revenue.customers import CustomerStore
from marginlens.revenue.ledger import RevenueLedger
from marginlens.storage.dynamodb import DynamoDBClient, create_table, make_client
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
def ledger(client: DynamoDBClient, settings: Settings) -> Ledger:
    return Ledger(client, settings.table_name)


@pytest.fixture
def revenue_ledger(client: DynamoDBClient, settings: Settings) -> RevenueLedger:
    return RevenueLedger(client, settings.table_name, CustomerStore(client, settings.table_name))


@pytest.fixture
def send(settings: Settings, ledger: Ledger, revenue_ledger: RevenueLedger) -> Callable[[Any], IngestResult]:
    """POST /v1/usage's domain call, without HTTP."""

    def _send(payload: Any) -> IngestResult:
        return ingest(
            payload,
            settings=settings,
            ledger=ledger,
            revenue=revenue_ledger,
            prices=PriceBook.baseline(),
            now=datetime.now(UTC),
            key_id="key_test",
        )

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
