"""One DynamoDB table with the operations MarginLens uses, on plain Python values (Decimal, str,
dict), so that no module outside `storage/` calls boto3's client or handles DynamoDB's wire types.

A failed condition is `ConditionFailed` (with the stored item, where asked for); every other error
is boto3's, after botocore's own retries.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from marginlens.storage.dynamodb import PK, SK, DynamoDBClient, from_item, query_all, to_item
from marginlens.storage.transactions import TransactionWriter


class ConditionFailed(Exception):
    """A conditional write's condition did not hold: nothing was written. `item` is the stored
    item, when the write asked for it (`return_old=True`) and there is one."""

    def __init__(self, item: dict[str, Any] | None = None) -> None:
        super().__init__("the condition did not hold")
        self.item = item


def _expression(
    condition: str | None, names: Mapping[str, str] | None, values: Mapping[str, Any] | None
) -> dict[str, Any]:
    arguments: dict[str, Any] = {}
    if condition is not None:
        arguments["ConditionExpression"] = condition
    if names:
        arguments["ExpressionAttributeNames"] = dict(names)
    if values:
        arguments["ExpressionAttributeValues"] = to_item(values)
    return arguments


def _condition_failed(error: ClientError) -> ConditionFailed | None:
    if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
        return None
    old: Any = error.response.get("Item")
    return ConditionFailed(from_item(old) if old else None)


class Table:
    """`writer` sends transactions (TransactWriteItems) on the same client: a caller with its own
    attempts and backoff passes its writer, else one with the defaults is made."""

    def __init__(self, client: DynamoDBClient, name: str, *, writer: TransactionWriter | None = None) -> None:
        self.client = client
        self.name = name
        self.writer = writer if writer is not None else TransactionWriter(client)

    def key(self, pk: str, sk: str) -> dict[str, Any]:
        return to_item({PK: pk, SK: sk})

    def get(
        self, pk: str, sk: str, *, consistent: bool = True, attributes: Sequence[str] = ()
    ) -> dict[str, Any] | None:
        arguments: dict[str, Any] = {
            "TableName": self.name,
            "Key": self.key(pk, sk),
            "ConsistentRead": consistent,
        }
        if attributes:
            arguments["ProjectionExpression"] = ", ".join(f"#a{n}" for n in range(len(attributes)))
            arguments["ExpressionAttributeNames"] = {f"#a{n}": name for n, name in enumerate(attributes)}
        found = self.client.get_item(**arguments)
        return from_item(found["Item"]) if "Item" in found else None

    def put(
        self,
        item: Mapping[str, Any],
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        return_old: bool = False,
    ) -> None:
        """Write `item` (None values left out); `ConditionFailed` if `condition` does not hold."""
        arguments = {"TableName": self.name, "Item": to_item(item), **_expression(condition, names, values)}
        if return_old and condition is not None:
            arguments["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            self.client.put_item(**arguments)
        except ClientError as error:
            failed = _condition_failed(error)
            if failed is None:
                raise
            raise failed from error

    def update(
        self,
        pk: str,
        sk: str,
        expression: str,
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        return_new: bool = False,
        return_old: bool = False,
    ) -> dict[str, Any] | None:
        """Apply an UpdateExpression; the item after it with `return_new`; with `return_old`, a
        failed condition's `ConditionFailed` carries the stored item."""
        arguments = {
            "TableName": self.name,
            "Key": self.key(pk, sk),
            "UpdateExpression": expression,
            **_expression(condition, names, values),
        }
        if return_new:
            arguments["ReturnValues"] = "ALL_NEW"
        if return_old and condition is not None:
            arguments["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            answer = self.client.update_item(**arguments)
        except ClientError as error:
            failed = _condition_failed(error)
            if failed is None:
                raise
            raise failed from error
        return from_item(answer["Attributes"]) if return_new and "Attributes" in answer else None

    def delete(
        self,
        pk: str,
        sk: str,
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        return_old: bool = False,
    ) -> dict[str, Any] | None:
        """Delete an item; the item as it was with `return_old` (None: there was none)."""
        arguments = {"TableName": self.name, "Key": self.key(pk, sk), **_expression(condition, names, values)}
        if return_old:
            arguments["ReturnValues"] = "ALL_OLD"
        try:
            answer = self.client.delete_item(**arguments)
        except ClientError as error:
            failed = _condition_failed(error)
            if failed is None:
                raise
            raise failed from error
        return from_item(answer["Attributes"]) if return_old and "Attributes" in answer else None

    def query(self, pk: str, **extra: Any) -> list[dict[str, Any]]:
        """Every item of one partition (see `storage.dynamodb.query_all` for `extra`)."""
        return query_all(self.client, self.name, pk, **extra)

    def query_index(
        self, index: str, condition: str, names: Mapping[str, str], values: Mapping[str, Any], page_size: int
    ) -> Iterator[list[dict[str, Any]]]:
        """A global index's items matching `condition`, a page at a time (lazily)."""
        arguments: dict[str, Any] = {
            "TableName": self.name,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": dict(names),
            "ExpressionAttributeValues": to_item(values),
            "Limit": page_size,
        }
        while True:
            page = self.client.query(**arguments)
            items = [from_item(item) for item in page.get("Items", [])]
            if items:
                yield items
            if "LastEvaluatedKey" not in page:
                return
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
