from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from marginlens.db import DynamoDBClient, create_table, make_client
from marginlens.ingest import IngestResult, ingest
from marginlens.ledger import Ledger
from marginlens.pricebook import PriceBook
from marginlens.revenue.customers import CustomerStore
from marginlens.revenue.ledger import RevenueLedger
from marginlens.settings import Settings


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
BASE_TIME = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


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
