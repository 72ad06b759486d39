"""Changes to moto's DynamoDB backend, used by the local engine only.

* A faster TransactWriteItems. moto deep-copies the whole table once per action of every
  transaction, to roll back on failure: a 100-action transaction on a table of a few thousand
  items takes seconds. Transaction actions must target distinct items, so each condition depends
  only on its own item's state before the transaction; this version checks every condition first,
  then applies, and on an error while applying restores just the items it touched.
* DynamoDB's limits on every write path (see ``limits``): numbers of at most 38 digits within
  range, ADD computed exactly, 400 KB items (after an update too), key sizes, 4 MB transactions.
  A refused write leaves nothing behind: moto applies updates in place, so the touched item is
  put back as it was.
* moto's own 400 KB check is switched off: it measures numbers by their text, stops at 405,000
  bytes and re-sums the whole item on every attribute it sets.

Requests are serialised by the engine's lock, so nothing interleaves.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

from marginlens.local import limits

_ORIGINALS: dict[tuple[type, str], Any] = {
    (DynamoDBBackend, "transact_write_items"): DynamoDBBackend.transact_write_items,
    (DynamoDBBackend, "put_item"): DynamoDBBackend.put_item,
    (DynamoDBBackend, "update_item"): DynamoDBBackend.update_item,
    (DynamoHandler, "batch_write_item"): DynamoHandler.batch_write_item,
    (LimitedSizeDict, "__setitem__"): LimitedSizeDict.__setitem__,
    (DynamoType, "__add__"): DynamoType.__add__,
    (DynamoType, "__sub__"): DynamoType.__sub__,
}
_moto_put_item = DynamoDBBackend.put_item
_moto_update_item = DynamoDBBackend.update_item
_moto_batch_write_item = DynamoHandler.batch_write_item


# -- single-item writes -----------------------------------------------------------------


def put_item(
    self: DynamoDBBackend,
    table_name: str,
    item_attrs: dict[str, Any],
    expected: dict[str, Any] | None = None,
    condition_expression: str | None = None,
    expression_attribute_names: dict[str, Any] | None = None,
    expression_attribute_values: dict[str, Any] | None = None,
    overwrite: bool = False,
    return_values_on_condition_check_failure: str | None = None,
) -> Item:
    limits.check_put(self.get_table(table_name), item_attrs, expression_attribute_values)
    return _moto_put_item(
        self,
        table_name,
        item_attrs,
        expected,
        condition_expression,
        expression_attribute_names,
        expression_attribute_values,
        overwrite,
        return_values_on_condition_check_failure,
    )


def update_item(
    self: DynamoDBBackend,
    table_name: str,
    key: dict[str, dict[str, Any]],
    update_expression: str,
    expression_attribute_names: dict[str, Any],
    expression_attribute_values: dict[str, Any],
    attribute_updates: dict[str, Any] | None = None,
    expected: dict[str, Any] | None = None,
    condition_expression: str | None = None,
    return_values_on_condition_check_failure: str | None = None,
) -> Item:
    table = self.get_table(table_name)
    limits.check_request(table, key, expression_attribute_values)
    if attribute_updates:
        limits.check_numbers(u["Value"] for u in attribute_updates.values() if "Value" in u)
    previous = copy.deepcopy(self.get_item(table_name, key))
    try:
        item, _ = _checked_update(
            self,
            table,
            key,
            update_expression=update_expression,
            expression_attribute_names=expression_attribute_names,
            expression_attribute_values=expression_attribute_values,
            attribute_updates=attribute_updates,
            expected=expected,
            condition_expression=condition_expression,
            return_values_on_condition_check_failure=return_values_on_condition_check_failure,
        )
    except BaseException:
        _put_back(self, table, key, previous)  # moto may have half-applied it in place
        raise
    return item


def _checked_update(
    self: DynamoDBBackend, table: Table, key: dict[str, Any], **kwargs: Any
) -> tuple[Item, int]:
    """moto's update with exact arithmetic, then the result checked; the item and its size."""
    try:
        with limits.exact_arithmetic():
            item = _moto_update_item(self, table.name, key, **kwargs)
    except ArithmeticError as error:  # a result past Decimal's exact range: far past DynamoDB's
        raise limits.ResultRefused(limits.NUMBER_DIGITS) from error
    return item, limits.check_updated(table, item.attrs)


def _put_back(self: DynamoDBBackend, table: Table, key: dict[str, Any], previous: Item | None) -> None:
    """Restore one item exactly as it was (None: it did not exist), bypassing every check."""
    hash_value, range_value = self.get_keys_value(table, key)
    if previous is None:
        table.delete_item(hash_value, range_value)
    elif range_value is not None:
        table.items[hash_value][range_value] = previous
    else:
        table.items[hash_value] = previous  # type: ignore[assignment]


# -- BatchWriteItem ---------------------------------------------------------------------


def batch_write_item(self: DynamoHandler) -> Any:
    # DynamoDB refuses the whole batch before writing any of it; moto writes item by item.
    for table_name, requests in (self.body.get("RequestItems") or {}).items():
        table = self.dynamodb_backend.get_table(table_name)
        for request in requests:
            put = request.get("PutRequest")
            if put is not None:
                limits.check_put(table, put["Item"])
    return _moto_batch_write_item(self)


# -- TransactWriteItems -----------------------------------------------------------------


def _key_of(table: Table, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return dict(op["Key"])
    key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = op["Item"][table.range_key_attr]
    return key


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > limits.MAX_TRANSACTION_ACTIONS:
        raise TooManyTransactionsException()
    seen: set[tuple[str, str]] = set()
    plan: list[tuple[str, dict[str, Any], Table, dict[str, Any]]] = []
    errors: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    size = 0  # the transaction's share of 4 MB: Puts' items, Updates' results, other actions' keys
    for item in transact_items:
        if len(item) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(item.items()))
        if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
            raise MockValidationException("Unsupported transaction operation")
        table = self.get_table(op["TableName"])
        key = _key_of(table, op_type, op)
        unique = (str(op["TableName"]), str(dict(sorted(key.items()))))
        if unique in seen:
            raise MultipleTransactionsException()
        seen.add(unique)
        values = op.get("ExpressionAttributeValues")
        if op_type == "Put":
            size += limits.check_put(table, op["Item"], values)
        else:
            limits.check_request(table, key, values)
            if op_type != "Update":  # an Update counts with the item it leaves, once applied
                size += limits.key_size(table, key)
        plan.append((op_type, op, table, key))
        current = self.get_item(op["TableName"], key)
        condition = op.get("ConditionExpression")
        if condition is not None:
            check = get_filter_expression(
                condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            )
            if not check.expr(current):
                old = None
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    old = current.to_json()["Attributes"]
                errors.append(("ConditionalCheckFailed", ConditionalCheckFailed().message, old))
                continue
        errors.append((None, None, None))
    if size > limits.MAX_TRANSACTION_BYTES:
        raise MockValidationException(limits.TRANSACTION_TOO_LARGE)
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)

    # Every condition holds: apply, keeping the touched items' previous state to undo a failure.
    before = [(table, key, copy.deepcopy(self.get_item(op["TableName"], key))) for _, op, table, key in plan]
    try:
        for index, (op_type, op, table, key) in enumerate(plan):
            names = op.get("ExpressionAttributeNames") or {}
            values = op.get("ExpressionAttributeValues") or {}
            if op_type == "Put":
                _moto_put_item(  # checked above
                    self,
                    table.name,
                    op["Item"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table.name, key, expression_attribute_names=names, expression_attribute_values=values
                )
            elif op_type == "Update":
                try:
                    _, updated_size = _checked_update(
                        self,
                        table,
                        key,
                        update_expression=op["UpdateExpression"],
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                except limits.ResultRefused as refused:
                    # What the transaction would make of an item: a cancellation reason, as on AWS.
                    reasons: list[tuple[str | None, str | None, dict[str, Any] | None]] = [
                        (None, None, None)
                    ] * len(plan)
                    reasons[index] = ("ValidationError", refused.exception_msg, None)
                    raise TransactionCanceledException(reasons) from refused
                size += updated_size
        if size > limits.MAX_TRANSACTION_BYTES:
            raise MockValidationException(limits.TRANSACTION_TOO_LARGE)
    except BaseException:
        for table, key, previous in before:
            _put_back(self, table, key, previous)
        raise


# -- number arithmetic ------------------------------------------------------------------


def _number_add(self: DynamoType, other: DynamoType) -> DynamoType:
    return _arithmetic(self, other, 1)


def _number_sub(self: DynamoType, other: DynamoType) -> DynamoType:
    return _arithmetic(self, other, -1)


def _arithmetic(left: DynamoType, right: DynamoType, sign: int) -> DynamoType:
    # moto reads a number without "." with int(), so "6E-7" (how boto3 writes 0.0000006) raised
    # ValueError; DynamoDB takes any number syntax, and answers in plain decimal digits.
    if left.type != right.type or not left.is_number():
        return _ORIGINALS[(DynamoType, "__add__" if sign > 0 else "__sub__")](left, right)
    total = Decimal(left.value) + sign * Decimal(right.value)  # exact under limits.exact_arithmetic()
    return DynamoType({"N": format(total.normalize(), "f")})


# -- install ----------------------------------------------------------------------------


def _plain_setitem(self: LimitedSizeDict, key: str, value: Any) -> None:
    dict.__setitem__(self, key, value)


def install() -> None:
    """Replace moto's write paths in this process (idempotent)."""
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    DynamoDBBackend.put_item = put_item  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
    DynamoHandler.batch_write_item = batch_write_item  # type: ignore[method-assign]
    LimitedSizeDict.__setitem__ = _plain_setitem  # type: ignore[method-assign]
    DynamoType.__add__ = _number_add  # type: ignore[method-assign]
    DynamoType.__sub__ = _number_sub  # type: ignore[method-assign]


def uninstall() -> None:
    for (owner, name), original in _ORIGINALS.items():
        setattr(owner, name, original)
