"""The local DynamoDB engine: request isolation and persistence across restarts."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import Binary
from botocore.config import Config

from marginlens.local.engine import LocalDynamoDB
from marginlens.storage.dynamodb import create_table, table_description

pytestmark = pytest.mark.integration


def _client(endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=endpoint, config=Config(max_pool_connections=32))


def _table(endpoint: str, name: str) -> Any:
    return boto3.resource("dynamodb", endpoint_url=endpoint).Table(name)


def _create_table(client: Any, name: str, *, with_gsi: bool = False) -> None:
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}]
    extra: dict[str, Any] = {}
    if with_gsi:
        attrs += [
            {"AttributeName": "gsi1pk", "AttributeType": "S"},
            {"AttributeName": "gsi1sk", "AttributeType": "S"},
        ]
        extra["GlobalSecondaryIndexes"] = [
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ]
    client.create_table(
        TableName=name,
        AttributeDefinitions=attrs,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )


def test_conditional_transactions_apply_once_under_contention(
    dynamodb_endpoint: str, fresh_table_name: str
) -> None:
    client = _client(dynamodb_endpoint)
    _create_table(client, fresh_table_name)
    threads, rounds = 20, 50
    barrier = threading.Barrier(threads)

    def record(event_no: int) -> bool:
        barrier.wait(timeout=30)  # release all contenders of a round together
        try:
            client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": fresh_table_name,
                            "Item": {"pk": {"S": f"EVENT#{event_no}"}, "sk": {"S": "EVENT"}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": fresh_table_name,
                            "Key": {"pk": {"S": "AGG"}, "sk": {"S": "TOTAL"}},
                            "UpdateExpression": "ADD #counter :one",
                            "ExpressionAttributeNames": {"#counter": "counter"},
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                ]
            )
        except client.exceptions.TransactionCanceledException as exc:
            codes = [reason["Code"] for reason in exc.response["CancellationReasons"]]
            assert codes[0] == "ConditionalCheckFailed", codes
            return False
        return True

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for event_no in range(rounds):
            outcomes = list(pool.map(record, [event_no] * threads))
            assert outcomes.count(True) == 1, f"event {event_no}: {outcomes.count(True)} writers won"

    aggregate = client.get_item(
        TableName=fresh_table_name, Key={"pk": {"S": "AGG"}, "sk": {"S": "TOTAL"}}, ConsistentRead=True
    )["Item"]
    assert aggregate["counter"] == {"N": str(rounds)}


def test_engines_in_one_process_are_isolated(dynamodb_endpoint: str, fresh_table_name: str) -> None:
    _create_table(_client(dynamodb_endpoint), fresh_table_name)
    with LocalDynamoDB() as other:
        other_client = _client(other.endpoint)
        assert table_description(other_client, fresh_table_name) is None
        _create_table(other_client, fresh_table_name)  # same name, no clash
    assert table_description(_client(dynamodb_endpoint), fresh_table_name) is not None


ITEM: dict[str, Any] = {
    "pk": "CUSTOMER#acme",
    "sk": "CALL#0001",
    "cost_usd": Decimal("0.000066"),
    "tokens": Decimal("123456789012345678901234567890123456"),  # beyond float precision
    "meta": {
        "model": "gpt-5-mini",
        "prices": [Decimal("1.50"), "x", True, None],
        "nested": {"n": Decimal(-7)},
    },
    "features": {"chat", "rag"},
    "blob": Binary(b"\x00\x01\xff"),
    "gsi1pk": "MODEL#gpt-5-mini",
    "gsi1sk": "2025-01-01",
    "expires_at": Decimal(1893456000),
}


def test_tables_and_items_survive_a_restart(tmp_path: Path, fresh_table_name: str) -> None:
    data_file = tmp_path / "data" / "dynamodb.json"
    key = {"pk": ITEM["pk"], "sk": ITEM["sk"]}

    with LocalDynamoDB(data_file=data_file) as engine:
        client = _client(engine.endpoint)
        _create_table(client, fresh_table_name, with_gsi=True)
        client.update_time_to_live(
            TableName=fresh_table_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )
        _table(engine.endpoint, fresh_table_name).put_item(Item=ITEM)
    assert data_file.exists()

    with LocalDynamoDB(data_file=data_file) as engine:
        client = _client(engine.endpoint)
        table = _table(engine.endpoint, fresh_table_name)

        desc = client.describe_table(TableName=fresh_table_name)["Table"]
        assert desc["KeySchema"] == [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ]
        assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert [gsi["IndexName"] for gsi in desc["GlobalSecondaryIndexes"]] == ["gsi1"]
        ttl = client.describe_time_to_live(TableName=fresh_table_name)["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}

        restored = table.get_item(Key=key, ConsistentRead=True)["Item"]
        assert restored == ITEM
        assert restored["cost_usd"] == Decimal("0.000066")
        assert str(restored["cost_usd"]) == "0.000066"
        raw = client.get_item(TableName=fresh_table_name, Key={k: {"S": v} for k, v in key.items()})["Item"]
        assert raw["cost_usd"] == {"N": "0.000066"}
        assert raw["tokens"] == {"N": "123456789012345678901234567890123456"}

        by_model = table.query(
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :m",
            ExpressionAttributeValues={":m": "MODEL#gpt-5-mini"},
        )["Items"]
        assert [item["sk"] for item in by_model] == ["CALL#0001"]

        # Writes keep working on the restored table, conditions included.
        table.put_item(Item={**ITEM, "sk": "CALL#0002"}, ConditionExpression="attribute_not_exists(pk)")
        with pytest.raises(client.exceptions.ConditionalCheckFailedException):
            table.put_item(Item=ITEM, ConditionExpression="attribute_not_exists(pk)")
        table.update_item(
            Key=key, UpdateExpression="ADD cost_usd :c", ExpressionAttributeValues={":c": Decimal("0.000001")}
        )
        assert table.get_item(Key=key)["Item"]["cost_usd"] == Decimal("0.000067")

    with LocalDynamoDB(data_file=data_file) as engine:
        table = _table(engine.endpoint, fresh_table_name)
        assert table.scan()["Count"] == 2
        assert table.get_item(Key=key)["Item"]["cost_usd"] == Decimal("0.000067")


def test_snapshot_is_written_while_running(tmp_path: Path, fresh_table_name: str) -> None:
    data_file = tmp_path / "dynamodb.json"

    def items_on_disk() -> list[dict[str, Any]]:
        doc = json.loads(data_file.read_text(encoding="utf-8"))
        assert doc["format"] == "marginlens-dynamodb-snapshot"
        assert doc["version"] == 1
        (entry,) = [t for t in doc["tables"] if t["table"]["TableName"] == fresh_table_name]
        return entry["items"]

    with LocalDynamoDB(data_file=data_file, snapshot_interval_s=0.05) as engine:
        client = _client(engine.endpoint)
        _create_table(client, fresh_table_name)
        first = {"pk": {"S": "CUSTOMER#acme"}, "sk": {"S": "CALL#1"}, "cost_usd": {"N": "0.000066"}}
        client.put_item(TableName=fresh_table_name, Item=first)
        assert engine.wait_for_snapshot(timeout=10)
        assert items_on_disk() == [first]

        second = {**first, "sk": {"S": "CALL#2"}}
        client.put_item(TableName=fresh_table_name, Item=second)
        assert engine.wait_for_snapshot(timeout=10)
        assert items_on_disk() == [first, second]

    assert [p.name for p in tmp_path.iterdir()] == ["dynamodb.json"]  # no temp files left behind


def test_snapshot_with_unknown_version_is_refused(tmp_path: Path) -> None:
    data_file = tmp_path / "dynamodb.json"
    original = json.dumps({"format": "marginlens-dynamodb-snapshot", "version": 99, "tables": []})
    data_file.write_text(original, encoding="utf-8")
    engine = LocalDynamoDB(data_file=data_file)
    with pytest.raises(ValueError, match="version"):
        engine.start()
    assert data_file.read_text(encoding="utf-8") == original


def test_creating_a_table_again_is_a_no_op_past_list_tables_first_page() -> None:
    # ListTables answers 100 names a page: a table past the first page must still be found.
    with LocalDynamoDB() as engine:
        client = _client(engine.endpoint)
        for number in range(101):
            create_table(client, f"table-{number:03d}")
        assert "table-100" not in client.list_tables()["TableNames"]
        create_table(client, "table-100")
        description = table_description(client, "table-100")
        assert description is not None and len(description["GlobalSecondaryIndexes"]) == 2
