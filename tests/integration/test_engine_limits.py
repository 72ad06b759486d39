"""The local engine refuses what DynamoDB refuses, with DynamoDB's error, and writes nothing then.

Numbers (38 digits, range, exact ADD), items (400 KB on every write path), keys (2048 / 1024
bytes, no empty strings), transactions (100 actions, 4 MB) and ClientRequestToken idempotency.
"""

import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from marginlens.local import limits
from marginlens.local.engine import LocalDynamoDB
from marginlens.storage.dynamodb import create_table

pytestmark = pytest.mark.integration

MAX_ITEM = 400 * 1024


@pytest.fixture
def client(dynamodb_endpoint: str) -> Any:
    # No retries: each test sees exactly what the engine answered.
    return boto3.client(
        "dynamodb", endpoint_url=dynamodb_endpoint, config=Config(retries={"total_max_attempts": 1})
    )


@pytest.fixture
def table(client: Any, fresh_table_name: str) -> str:
    create_table(client, fresh_table_name)  # the product's table: pk/sk plus two GSIs
    return fresh_table_name


def key(pk: str, sk: str = "ITEM") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def refused(call: Callable[[], Any], code: str, message: str | None = None) -> dict[str, Any]:
    """Run `call`, expect DynamoDB error `code` (and `message`); the error response."""
    with pytest.raises(ClientError) as info:
        call()
    error = info.value.response["Error"]
    assert error["Code"] == code, error
    if message is not None:
        assert error["Message"] == message
    return info.value.response


def stored(client: Any, table: str, pk: str, sk: str = "ITEM") -> dict[str, Any] | None:
    found = client.get_item(TableName=table, Key=key(pk, sk), ConsistentRead=True)
    return found.get("Item")


def number(client: Any, table: str, pk: str) -> str:
    return str(client.get_item(TableName=table, Key=key(pk), ConsistentRead=True)["Item"]["n"]["N"])


def count(client: Any, table: str) -> int:
    pages = client.get_paginator("scan").paginate(TableName=table, Select="COUNT", ConsistentRead=True)
    return sum(int(page["Count"]) for page in pages)  # a scan page stops at 1 MB


def padded(pk: str, total_bytes: int, sk: str = "ITEM") -> dict[str, Any]:
    """An item of exactly `total_bytes` by DynamoDB's rules (ASCII key values, one string `d`)."""
    base = len("pk") + len(pk) + len("sk") + len(sk) + len("d")
    item = {**key(pk, sk), "d": {"S": "x" * (total_bytes - base)}}
    assert limits.item_size(item) == total_bytes
    return item


# -- numbers ----------------------------------------------------------------------------


def test_put_refuses_more_than_38_significant_digits(client: Any, table: str) -> None:
    client.put_item(TableName=table, Item={**key("ok"), "n": {"N": "1" * 38}})
    # Leading and trailing zeros are not significant.
    client.put_item(TableName=table, Item={**key("zeros"), "n": {"N": "0.00" + "1" * 38 + "000"}})
    refused(
        lambda: client.put_item(TableName=table, Item={**key("bad"), "n": {"N": "1" * 39}}),
        "ValidationException",
        limits.NUMBER_DIGITS,
    )
    assert stored(client, table, "bad") is None
    assert count(client, table) == 2


def test_add_is_exact_to_38_digits_and_a_result_past_them_is_refused(client: Any, table: str) -> None:
    thirty_digits = "123456789012345678901234567890.5"
    client.put_item(TableName=table, Item={**key("sum"), "n": {"N": thirty_digits}})

    def add(amount: str, expression: str = "ADD n :x") -> None:
        client.update_item(
            TableName=table,
            Key=key("sum"),
            UpdateExpression=expression,
            ExpressionAttributeValues={":x": {"N": amount}},
        )

    add("1")  # Python's default 28-digit context made this 1.234567890123456789012345679E+29
    assert number(client, table, "sum") == "123456789012345678901234567891.5"
    add("0.00000002", "SET n = n + :x")  # 38 significant digits: still fits
    exact = "123456789012345678901234567891.50000002"
    assert number(client, table, "sum") == exact

    refused(lambda: add("0.000000001"), "ValidationException", limits.NUMBER_DIGITS)  # 39 digits
    refused(lambda: add("0.000000001", "SET n = n + :x"), "ValidationException", limits.NUMBER_DIGITS)
    assert number(client, table, "sum") == exact

    # A 39-digit operand is refused before anything happens: no item is created.
    refused(
        lambda: client.update_item(
            TableName=table,
            Key=key("new"),
            UpdateExpression="SET n = :big ADD m :tiny",
            ExpressionAttributeValues={":big": {"N": "5"}, ":tiny": {"N": "1" * 39}},
        ),
        "ValidationException",
        limits.NUMBER_DIGITS,
    )
    assert stored(client, table, "new") is None


def test_add_takes_numbers_in_exponent_form(client: Any, table: str) -> None:
    # boto3 writes Decimal("0.0000006") as "6E-7"; moto's own ADD read it with int() and raised.
    client.put_item(TableName=table, Item={**key("tiny"), "n": {"N": "6E-7"}})
    client.update_item(
        TableName=table,
        Key=key("tiny"),
        UpdateExpression="ADD n :x",
        ExpressionAttributeValues={":x": {"N": "4E-7"}},
    )
    assert number(client, table, "tiny") == "0.000001"
    client.update_item(
        TableName=table,
        Key=key("tiny"),
        UpdateExpression="SET n = n - :x",
        ExpressionAttributeValues={":x": {"N": "1E+2"}},
    )
    assert number(client, table, "tiny") == "-99.999999"


def test_numbers_outside_dynamodb_range_are_refused(client: Any, table: str) -> None:
    largest = "9." + "9" * 37 + "E+125"
    for name, value in [("max", largest), ("min", "1E-130"), ("neg", "-" + largest), ("zero", "0")]:
        client.put_item(TableName=table, Item={**key(name), "n": {"N": value}})
    for value, message in [
        ("1E+126", limits.NUMBER_OVERFLOW),  # moto compares as floats, where 1E126 == the maximum
        ("-1E+126", limits.NUMBER_OVERFLOW),
        ("1E-131", limits.NUMBER_UNDERFLOW),
    ]:
        refused(
            lambda v=value: client.put_item(TableName=table, Item={**key("bad"), "n": {"N": v}}),
            "ValidationException",
            message,
        )
    # A sum past the maximum is refused too, and the stored number stays.
    refused(
        lambda: client.update_item(
            TableName=table,
            Key=key("max"),
            UpdateExpression="ADD n :x",
            ExpressionAttributeValues={":x": {"N": largest}},
        ),
        "ValidationException",
        limits.NUMBER_OVERFLOW,
    )
    assert number(client, table, "max") == largest
    assert stored(client, table, "bad") is None
    assert count(client, table) == 4


def test_batch_write_with_one_bad_number_writes_nothing(client: Any, table: str) -> None:
    puts = [{"PutRequest": {"Item": {**key(f"b{n}"), "n": {"N": "1"}}}} for n in range(5)]
    puts[3]["PutRequest"]["Item"]["n"] = {"N": "1" * 39}
    refused(
        lambda: client.batch_write_item(RequestItems={table: puts}),
        "ValidationException",
        limits.NUMBER_DIGITS,
    )
    assert count(client, table) == 0


# -- transactions -----------------------------------------------------------------------


def test_transaction_of_more_than_100_actions_is_refused(client: Any, table: str) -> None:
    actions = [{"Put": {"TableName": table, "Item": key(f"t{n}")}} for n in range(101)]
    refused(lambda: client.transact_write_items(TransactItems=actions), "ValidationException")
    assert count(client, table) == 0
    client.transact_write_items(TransactItems=actions[:100])
    assert count(client, table) == 100


def test_transaction_over_4_mb_is_refused(client: Any, table: str) -> None:
    # 400 KB items: ten are 4,000 KB (under 4 MB = 4,096 KB), eleven are over.
    items = [padded(f"big{n}", MAX_ITEM) for n in range(11)]
    actions = [{"Put": {"TableName": table, "Item": item}} for item in items]
    refused(
        lambda: client.transact_write_items(TransactItems=actions),
        "ValidationException",
        limits.TRANSACTION_TOO_LARGE,
    )
    assert count(client, table) == 0
    client.transact_write_items(TransactItems=actions[:10])
    assert count(client, table) == 10


def test_transaction_touching_one_item_twice_is_refused(client: Any, table: str) -> None:
    actions = [
        {"Put": {"TableName": table, "Item": key("same")}},
        {
            "ConditionCheck": {
                "TableName": table,
                "Key": key("same"),
                "ConditionExpression": "size(pk) > :z",
                "ExpressionAttributeValues": {":z": {"N": "0"}},
            }
        },
    ]
    refused(
        lambda: client.transact_write_items(TransactItems=actions),
        "ValidationException",
        "Transaction request cannot include multiple operations on one item",
    )
    assert count(client, table) == 0


# -- items ------------------------------------------------------------------------------


def test_item_over_400_kb_is_refused_on_put(client: Any, table: str) -> None:
    client.put_item(TableName=table, Item=padded("exact", MAX_ITEM))  # 400 KB is allowed
    refused(
        lambda: client.put_item(TableName=table, Item=padded("over", MAX_ITEM + 1)),
        "ValidationException",
        "Item size has exceeded the maximum allowed size",
    )
    assert stored(client, table, "over") is None
    # BatchWriteItem refuses the whole batch for one oversized item.
    batch = [{"PutRequest": {"Item": key(f"small{n}")}} for n in range(3)]
    batch.append({"PutRequest": {"Item": padded("over", MAX_ITEM + 1)}})
    refused(lambda: client.batch_write_item(RequestItems={table: batch}), "ValidationException")
    assert count(client, table) == 1


def test_update_growing_an_item_past_400_kb_is_refused(client: Any, table: str) -> None:
    client.put_item(TableName=table, Item=padded("grow", MAX_ITEM - 100))
    before = stored(client, table, "grow")

    def grow(extra: int) -> None:
        client.update_item(
            TableName=table,
            Key=key("grow"),
            UpdateExpression="SET e = :e, f = :f",
            ExpressionAttributeValues={":e": {"S": "y" * extra}, ":f": {"N": "1"}},
        )

    # Adds "e" + the value + "f" + the number 1 (2 bytes): with 96 characters, exactly 400 KB.
    refused(
        lambda: grow(97), "ValidationException", "Item size to update has exceeded the maximum allowed size"
    )
    assert stored(client, table, "grow") == before  # not even half of the update
    grow(96)
    assert limits.item_size(stored(client, table, "grow")) == MAX_ITEM


def test_item_over_400_kb_is_refused_in_a_transaction(client: Any, table: str) -> None:
    small = {"Put": {"TableName": table, "Item": key("small")}}
    refused(
        lambda: client.transact_write_items(
            TransactItems=[small, {"Put": {"TableName": table, "Item": padded("over", MAX_ITEM + 1)}}]
        ),
        "ValidationException",
        "Item size has exceeded the maximum allowed size",
    )
    assert count(client, table) == 0

    # An Update that would grow its item past 400 KB cancels the transaction (ValidationError).
    client.put_item(TableName=table, Item=padded("grow", MAX_ITEM - 10))
    before = stored(client, table, "grow")
    grow = {
        "Update": {
            "TableName": table,
            "Key": key("grow"),
            "UpdateExpression": "SET e = :e",
            "ExpressionAttributeValues": {":e": {"S": "y" * 20}},
        }
    }
    response = refused(
        lambda: client.transact_write_items(TransactItems=[small, grow]), "TransactionCanceledException"
    )
    assert response["CancellationReasons"] == [
        {"Code": "None"},
        {"Code": "ValidationError", "Message": "Item size to update has exceeded the maximum allowed size"},
    ]
    assert stored(client, table, "small") is None
    assert stored(client, table, "grow") == before


def test_add_past_38_digits_cancels_a_transaction(client: Any, table: str) -> None:
    client.put_item(TableName=table, Item={**key("agg"), "n": {"N": "1" * 38}})
    actions = [
        {
            "Put": {
                "TableName": table,
                "Item": key("event"),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        {
            "Update": {
                "TableName": table,
                "Key": key("agg"),
                "UpdateExpression": "ADD n :x",
                "ExpressionAttributeValues": {":x": {"N": "0.1"}},
            }
        },
    ]
    response = refused(
        lambda: client.transact_write_items(TransactItems=actions), "TransactionCanceledException"
    )
    assert response["CancellationReasons"] == [
        {"Code": "None"},
        {"Code": "ValidationError", "Message": limits.NUMBER_DIGITS},
    ]
    assert stored(client, table, "event") is None
    assert number(client, table, "agg") == "1" * 38


# -- keys -------------------------------------------------------------------------------


def test_sort_key_over_1024_bytes_is_refused(client: Any, table: str) -> None:
    longest = "é" * 512  # 1024 bytes in UTF-8 (512 characters)
    client.put_item(TableName=table, Item=key("p", longest))
    too_long = longest + "a"
    message = (
        "One or more parameter values were invalid: "
        "Aggregated size of all range keys has exceeded the size limit of 1024 bytes"
    )
    refused(lambda: client.put_item(TableName=table, Item=key("p", too_long)), "ValidationException", message)
    refused(
        lambda: client.update_item(
            TableName=table,
            Key=key("p", too_long),
            UpdateExpression="SET a = :a",
            ExpressionAttributeValues={":a": {"S": "x"}},
        ),
        "ValidationException",
        message,
    )
    refused(
        lambda: client.transact_write_items(
            TransactItems=[{"Put": {"TableName": table, "Item": key("p", too_long)}}]
        ),
        "ValidationException",
        message,
    )
    # An index sort key (gsi1sk) set past 1024 bytes by an update is refused too.
    refused(
        lambda: client.update_item(
            TableName=table,
            Key=key("p", longest),
            UpdateExpression="SET gsi1pk = :p, gsi1sk = :s",
            ExpressionAttributeValues={":p": {"S": "EVDAY#x"}, ":s": {"S": too_long}},
        ),
        "ValidationException",
        limits.INDEX_KEY_TOO_LONG,
    )
    assert stored(client, table, "p", longest) == key("p", longest)
    assert count(client, table) == 1


def test_partition_key_over_2048_bytes_is_refused(client: Any, table: str) -> None:
    longest = "€" * 682 + "xx"  # 3 bytes a character: 2046 + 2 = 2048 bytes
    client.put_item(TableName=table, Item=key(longest))
    message = (
        "One or more parameter values were invalid: "
        "Size of hashkey has exceeded the maximum size limit of2048 bytes"  # sic, as DynamoDB says it
    )
    refused(lambda: client.put_item(TableName=table, Item=key(longest + "x")), "ValidationException", message)
    refused(
        lambda: client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": key(longest + "x")}}]}),
        "ValidationException",
        message,
    )
    refused(
        lambda: client.transact_write_items(
            TransactItems=[{"Delete": {"TableName": table, "Key": key(longest + "x")}}]
        ),
        "ValidationException",
        message,
    )
    assert count(client, table) == 1


def test_empty_string_key_is_refused(client: Any, table: str) -> None:
    refused(
        lambda: client.update_item(
            TableName=table,
            Key=key(""),
            UpdateExpression="SET a = :a",
            ExpressionAttributeValues={":a": {"S": "x"}},
        ),
        "ValidationException",
        "One or more parameter values are not valid. "
        "The AttributeValue for a key attribute cannot contain an empty string value. Key: pk",
    )
    refused(lambda: client.put_item(TableName=table, Item=key("p", "")), "ValidationException")
    assert count(client, table) == 0


# -- ClientRequestToken -----------------------------------------------------------------


def _counted_event(table: str, event: str, amount: str = "1") -> list[dict[str, Any]]:
    return [
        {"Put": {"TableName": table, "Item": key(event), "ConditionExpression": "attribute_not_exists(pk)"}},
        {
            "Update": {
                "TableName": table,
                "Key": key("total"),
                "UpdateExpression": "ADD n :x",
                "ExpressionAttributeValues": {":x": {"N": amount}},
            }
        },
    ]


def _total(client: Any, table: str) -> str:
    return number(client, table, "total")


def test_client_token_replay_succeeds_without_applying_again(client: Any, table: str) -> None:
    first = client.transact_write_items(
        TransactItems=_counted_event(table, "e1"), ClientRequestToken=f"{table}-1"
    )
    again = client.transact_write_items(
        TransactItems=_counted_event(table, "e1"), ClientRequestToken=f"{table}-1"
    )
    first.pop("ResponseMetadata"), again.pop("ResponseMetadata")
    assert again == first  # the same answer...
    assert _total(client, table) == "1"  # ...and nothing applied twice
    # Without the token the same transaction really runs again, and its condition fails.
    refused(
        lambda: client.transact_write_items(TransactItems=_counted_event(table, "e1")),
        "TransactionCanceledException",
    )
    assert _total(client, table) == "1"


def test_client_token_with_another_request_is_refused(client: Any, table: str) -> None:
    client.transact_write_items(TransactItems=_counted_event(table, "e1"), ClientRequestToken=f"{table}-2")
    refused(
        lambda: client.transact_write_items(
            TransactItems=_counted_event(table, "e1", amount="2"), ClientRequestToken=f"{table}-2"
        ),
        "IdempotentParameterMismatchException",
    )
    assert _total(client, table) == "1"
    assert count(client, table) == 2


def test_client_token_is_forgotten_after_its_window(fresh_table_name: str) -> None:
    with LocalDynamoDB(client_token_window_s=0.2) as engine:
        client = boto3.client(
            "dynamodb", endpoint_url=engine.endpoint, config=Config(retries={"total_max_attempts": 1})
        )
        create_table(client, fresh_table_name)
        client.transact_write_items(
            TransactItems=_counted_event(fresh_table_name, "e1"), ClientRequestToken="t"
        )
        time.sleep(0.3)
        # A new request now: it runs, and finds the event already there.
        refused(
            lambda: client.transact_write_items(
                TransactItems=_counted_event(fresh_table_name, "e1"), ClientRequestToken="t"
            ),
            "TransactionCanceledException",
        )
        assert _total(client, fresh_table_name) == "1"
