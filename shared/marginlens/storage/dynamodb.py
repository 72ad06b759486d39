"""The data-access layer's plumbing: the DynamoDB client, the single table, item (de)serialisation.

Only modules that talk to DynamoDB import this; domain logic never sees boto3.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from datetime import date, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config

from marginlens.core.settings import Settings, get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

PK = "pk"
SK = "sk"
# Global secondary indexes, so repricing finds events without scanning the table (see ledger.py).
BY_DAY_INDEX = "by_day"  # every event: EVDAY#{day} / {timestamp}#{request_id}
UNPRICED_INDEX = "unpriced"  # sparse, unpriced events only: UNPRICED#{month} / {timestamp}#{request_id}
GSI1PK, GSI1SK, GSI2PK, GSI2SK = "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"

# Errors a retry can get past (after botocore's own retries ran out): throttling, a busy service.
RETRYABLE_ERRORS = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Python values (Decimal, never float) to DynamoDB's typed JSON; None values are left out."""
    return {key: _serializer.serialize(value) for key, value in values.items() if value is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def client_config(max_attempts: int = 5) -> Config:
    """How every DynamoDB (and DynamoDB Streams) client retries and times out."""
    # Standard retry mode retries throttling with backoff; transaction conflicts are retried by the ledger.
    return Config(
        retries={"mode": "standard", "max_attempts": max_attempts}, connect_timeout=3, read_timeout=10
    )


def make_client(settings: Settings, max_attempts: int = 5) -> DynamoDBClient:
    config = client_config(max_attempts)
    return boto3.client(
        "dynamodb",
        region_name=settings.aws_region,
        endpoint_url=settings.dynamodb_endpoint,
        config=config,
    )


@lru_cache(maxsize=1)
def default_client() -> DynamoDBClient:
    """One client per process, created on first use (not at import: keeps cold starts lean)."""
    return make_client(get_settings())


INDEXES = ((BY_DAY_INDEX, GSI1PK, GSI1SK), (UNPRICED_INDEX, GSI2PK, GSI2SK))
# The aggregator reads every change to an event, before and after (marginlens.usage.aggregator).
STREAM_SPECIFICATION = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


def _index(name: str, hash_key: str, range_key: str) -> dict[str, Any]:
    return {
        "IndexName": name,
        "KeySchema": [
            {"AttributeName": hash_key, "KeyType": "HASH"},
            {"AttributeName": range_key, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }


def table_description(client: DynamoDBClient, table_name: str) -> dict[str, Any] | None:
    """The table's description, or None if it does not exist (ListTables pages at 100 names)."""
    try:
        return client.describe_table(TableName=table_name)["Table"]  # type: ignore[return-value]
    except client.exceptions.ResourceNotFoundException:
        return None


def create_table(client: DynamoDBClient, table_name: str) -> None:
    """Create the single table as the CDK stack defines it (used by the local stack and tests).

    A table kept from an older local stack gets the indexes it lacks (events written before
    have no index keys: repricing does not see them).
    """
    definitions = [
        {"AttributeName": name, "AttributeType": "S"} for name in (PK, SK, GSI1PK, GSI1SK, GSI2PK, GSI2SK)
    ]
    existing = table_description(client, table_name)
    if existing is not None:
        if not existing.get("StreamSpecification", {}).get("StreamEnabled"):
            client.update_table(TableName=table_name, StreamSpecification=STREAM_SPECIFICATION)  # type: ignore[arg-type]
        present = {index["IndexName"] for index in existing.get("GlobalSecondaryIndexes", [])}
        for name, hash_key, range_key in INDEXES:
            if name not in present:
                client.update_table(
                    TableName=table_name,
                    AttributeDefinitions=definitions,  # type: ignore[arg-type]
                    GlobalSecondaryIndexUpdates=[{"Create": _index(name, hash_key, range_key)}],  # type: ignore[typeddict-item]
                )
        return
    client.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": PK, "KeyType": "HASH"}, {"AttributeName": SK, "KeyType": "RANGE"}],
        AttributeDefinitions=definitions,  # type: ignore[arg-type]
        GlobalSecondaryIndexes=[_index(*index) for index in INDEXES],  # type: ignore[misc]
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification=STREAM_SPECIFICATION,  # type: ignore[arg-type]
    )
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})


def backoff(attempt: int, base_s: float) -> None:
    """Sleep before retry `attempt`: exponential, capped at 2 s, with jitter."""
    time.sleep(min(2.0, base_s * 2**attempt) * random.uniform(0.5, 1.0))  # noqa: S311 (jitter, not crypto)


def day_bounds(first_day: str, last_day: str) -> dict[str, str]:
    """`BETWEEN :first AND :last` values for sort keys that start with an ISO day (`{day}#...`,
    `{timestamp}#...`) and may continue with any Unicode: from the first day to the day after the last.

    No key equals the upper bound (every key continues after its day) and every key of the last
    day sorts below it, whatever follows the day: a bound such as `{last}#~` would drop the keys
    whose rest sorts after `~` (an accented or CJK customer id, or `~` itself).
    """
    after = date.fromisoformat(last_day) + timedelta(days=1)
    return {":first": first_day, ":last": after.isoformat()}


def query_all(client: DynamoDBClient, table_name: str, pk: str, **extra: Any) -> list[dict[str, Any]]:
    """Every item of one partition (optionally narrowed by `extra` query arguments), paginated."""
    items: list[dict[str, Any]] = []
    arguments: dict[str, Any] = {
        "TableName": table_name,
        "KeyConditionExpression": "#pk = :pk" + extra.pop("and_sk", ""),
        "ExpressionAttributeNames": {"#pk": PK, **extra.pop("names", {})},
        "ExpressionAttributeValues": to_item({":pk": pk, **extra.pop("values", {})}),
        **extra,
    }
    while True:
        page = client.query(**arguments)
        items.extend(from_item(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
