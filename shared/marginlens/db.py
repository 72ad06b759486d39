"""The data-access layer's plumbing: the DynamoDB client, the single table, item (de)serialisation.

Only modules that talk to DynamoDB import this; domain logic never sees boto3.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config

from marginlens.settings import Settings, get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

PK = "pk"
SK = "sk"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Python values (Decimal, never float) to DynamoDB's typed JSON; None values are left out."""
    return {key: _serializer.serialize(value) for key, value in values.items() if value is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def make_client(settings: Settings, max_attempts: int = 5) -> DynamoDBClient:
    # Standard retry mode retries throttling with backoff; transaction conflicts are retried by the ledger.
    config = Config(
        retries={"mode": "standard", "max_attempts": max_attempts}, connect_timeout=3, read_timeout=10
    )
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


def create_table(client: DynamoDBClient, table_name: str) -> None:
    """Create the single table as the CDK stack defines it (used by the local stack and tests)."""
    existing = client.list_tables().get("TableNames", [])
    if table_name in existing:
        return
    client.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": PK, "KeyType": "HASH"}, {"AttributeName": SK, "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": PK, "AttributeType": "S"},
            {"AttributeName": SK, "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})


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
