"""DynamoDB's documented limits, measured and refused in one place, for the local engine.

From the AWS DynamoDB developer guide ("Service, account, and table quotas", "Supported data types
and naming rules", "DynamoDB item sizes and formats") and the TransactWriteItems API reference.
Errors reuse moto's exception classes (and so DynamoDB's wording) where moto has one.

Values come either as request JSON (``{"N": "1.5"}``) or as moto's ``DynamoType``; both are read
through ``_typed``. Sizes are computed per item touched, never per table.
"""

from __future__ import annotations

import base64
import decimal
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from moto.dynamodb.exceptions import (
    HashKeyTooLong,
    ItemSizeTooLarge,
    ItemSizeToUpdateTooLarge,
    KeyIsEmptyStringException,
    MockValidationException,
    RangeKeyTooLong,
)
from moto.dynamodb.limits import HASH_KEY_MAX_LENGTH, RANGE_KEY_MAX_LENGTH
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

KB = 1024  # DynamoDB's size units are binary: 1 KB = 1024 bytes, 1 MB = 1024 KB
MAX_ITEM_BYTES = 400 * KB
MAX_TRANSACTION_BYTES = 4 * KB * KB
MAX_TRANSACTION_ACTIONS = 100
MAX_PARTITION_KEY_BYTES = HASH_KEY_MAX_LENGTH  # 2048
MAX_SORT_KEY_BYTES = RANGE_KEY_MAX_LENGTH  # 1024
MAX_NUMBER_DIGITS = 38
# 1E-130 <= |n| <= 9.9999999999999999999999999999999999999E+125, as exponents of the leading digit.
MIN_NUMBER_EXPONENT = -130
MAX_NUMBER_EXPONENT = 125

NUMBER_OVERFLOW = "Number overflow. Attempting to store a number with magnitude larger than supported range"
NUMBER_UNDERFLOW = (
    "Number underflow. Attempting to store a number with magnitude smaller than supported range"
)
NUMBER_DIGITS = "Attempting to store more than 38 significant digits in a Number"
INDEX_KEY_TOO_LONG = (
    "The update expression attempted to update the secondary index key beyond allowed size limits."
)
TRANSACTION_TOO_LARGE = "Transaction size has exceeded the maximum allowed size of 4 MB"

# DynamoDB's number syntax; Python's Decimal would also take "1_000", " 1", "NaN" and "Infinity".
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")

# Sums of two valid numbers need at most 38 + 255 digits: with 1000 the arithmetic is exact, and
# anything inexact would trap rather than be silently rounded (Python's default keeps 28 digits).
_EXACT = decimal.Context(
    prec=1000,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow, decimal.Inexact],
)


class ResultRefused(MockValidationException):
    """A write whose *result* DynamoDB would refuse (an ADD past 38 digits, an item grown past 400 KB).

    In a transaction DynamoDB reports these as a ``ValidationError`` cancellation reason.
    """


@contextmanager
def exact_arithmetic() -> Iterator[None]:
    """Run moto's number arithmetic (ADD, SET a = a + :x) exactly; inexact results trap."""
    with decimal.localcontext(_EXACT):
        yield


# -- numbers ----------------------------------------------------------------------------


def parse_number(text: Any, *, result: bool = False) -> decimal.Decimal | None:
    """``text`` as a Decimal if DynamoDB would store it, else the ValidationException DynamoDB returns.

    Non-strings are left to moto (it answers those with SerializationException); ``result`` marks
    a computed value, refused with ``ResultRefused``.
    """
    if not isinstance(text, str):
        return None
    refuse = ResultRefused if result else MockValidationException
    if not _NUMBER.fullmatch(text):
        raise refuse(f"The parameter cannot be converted to a numeric value: {text}")
    value = decimal.Decimal(text)  # exact: construction never rounds
    if value.is_zero():
        return value
    exponent = value.adjusted()
    if exponent > MAX_NUMBER_EXPONENT:
        raise refuse(NUMBER_OVERFLOW)
    if exponent < MIN_NUMBER_EXPONENT:
        raise refuse(NUMBER_UNDERFLOW)
    if significant_digits(value) > MAX_NUMBER_DIGITS:
        raise refuse(NUMBER_DIGITS)
    return value


def significant_digits(value: decimal.Decimal) -> int:
    # DynamoDB trims leading and trailing zeros: 1000 has one significant digit, 0.0012 two.
    return len("".join(map(str, value.as_tuple().digits)).strip("0"))


def check_numbers(values: Iterable[Any], *, result: bool = False) -> None:
    """Every number inside the typed ``values`` (maps, lists and sets included) must fit."""
    for node in values:
        kind, raw = _typed(node)
        if kind == "N":
            parse_number(raw, result=result)
        elif kind == "NS":
            for member in raw:
                parse_number(member, result=result)
        elif kind == "M":
            check_numbers(raw.values(), result=result)
        elif kind == "L":
            check_numbers(raw, result=result)


# -- sizes ------------------------------------------------------------------------------


def value_size(node: Any) -> int:
    """One attribute value's size by DynamoDB's rules ("DynamoDB item sizes and formats")."""
    kind, raw = _typed(node)
    if kind == "S":
        return len(raw.encode("utf-8"))
    if kind == "N":
        return _number_size(raw)
    if kind == "B":
        return _binary_size(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(member.encode("utf-8")) for member in raw)
    if kind == "NS":
        return sum(_number_size(member) for member in raw)
    if kind == "BS":
        return sum(_binary_size(member) for member in raw)
    # Lists and maps: 3 bytes, plus 1 byte per element, plus the elements (and a map's key names).
    if kind == "M":
        return 3 + sum(len(name.encode("utf-8")) + value_size(child) + 1 for name, child in raw.items())
    if kind == "L":
        return 3 + sum(value_size(child) + 1 for child in raw)
    return 0  # unknown types are moto's to refuse


def item_size(attrs: Mapping[str, Any]) -> int:
    """An item's size: attribute name lengths plus value sizes."""
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in attrs.items())


def _number_size(raw: Any) -> int:
    # "1 byte per two significant digits, plus 1 byte"; a number that does not parse is refused elsewhere.
    try:
        digits = significant_digits(decimal.Decimal(raw))
    except (decimal.InvalidOperation, TypeError, ValueError):
        return len(str(raw))
    return 1 + math.ceil(digits / 2)


def _binary_size(raw: Any) -> int:
    # moto keeps binaries as raw bytes, but a value straight off the wire may still be base64 text.
    if isinstance(raw, bytes | bytearray):
        return len(raw)
    try:
        return len(base64.b64decode(raw, validate=True))
    except (ValueError, TypeError):
        return len(str(raw))


def _typed(node: Any) -> tuple[str, Any]:
    if isinstance(node, DynamoType):
        return node.type, node.value
    kind, raw = next(iter(node.items()))
    return str(kind), raw


# -- items and keys ---------------------------------------------------------------------


def check_put(table: Table, attrs: Mapping[str, Any], extra_values: Mapping[str, Any] | None = None) -> int:
    """A new item (PutItem, BatchWriteItem, a transaction's Put): numbers, key sizes, 400 KB.

    Returns its size. ``extra_values`` are the request's expression attribute values.
    """
    check_numbers(attrs.values())
    if extra_values:
        check_numbers(extra_values.values())
    _check_key_sizes(table, attrs, index_only=False, result=False)
    size = item_size(attrs)
    if size > MAX_ITEM_BYTES:
        raise ItemSizeTooLarge()
    return size


def check_request(table: Table, key: Mapping[str, Any], values: Mapping[str, Any] | None) -> None:
    """A keyed write's key (no empty strings: moto lets UpdateItem through) and numbers, up front."""
    for name in (table.hash_key_attr, table.range_key_attr):
        if name is None or name not in key:
            continue
        kind, raw = _typed(key[name])
        if kind in ("S", "B") and not raw:
            raise KeyIsEmptyStringException(name)
    check_numbers(key.values())
    _check_key_sizes(table, key, index_only=False, result=False)
    if values:
        check_numbers(values.values())


def check_updated(table: Table, attrs: Mapping[str, Any]) -> int:
    """The item an update leaves behind: computed numbers, index keys, 400 KB. Returns its size."""
    check_numbers(attrs.values(), result=True)
    _check_key_sizes(table, attrs, index_only=True, result=True)
    size = item_size(attrs)
    if size > MAX_ITEM_BYTES:
        raise _result(ItemSizeToUpdateTooLarge())
    return size


def key_size(table: Table, key: Mapping[str, Any]) -> int:
    """The size of an item's primary key attributes (a Delete's or ConditionCheck's share of 4 MB)."""
    names = (table.hash_key_attr, table.range_key_attr)
    return item_size({name: key[name] for name in names if name is not None and name in key})


def _check_key_sizes(table: Table, attrs: Mapping[str, Any], *, index_only: bool, result: bool) -> None:
    for name, kind in _key_roles(table, index_only=index_only):
        value = attrs.get(name)
        if value is None:
            continue
        limit = MAX_PARTITION_KEY_BYTES if kind == "HASH" else MAX_SORT_KEY_BYTES
        if value_size(value) <= limit:
            continue
        if result:
            raise ResultRefused(INDEX_KEY_TOO_LONG)
        raise HashKeyTooLong() if kind == "HASH" else RangeKeyTooLong()


def _key_roles(table: Table, *, index_only: bool) -> list[tuple[str, str]]:
    """(attribute, HASH or RANGE) for the table's key and every index key (an update can only set these)."""
    roles: list[tuple[str, str]] = []
    if not index_only:
        roles.append((table.hash_key_attr, "HASH"))
        if table.range_key_attr is not None:
            roles.append((table.range_key_attr, "RANGE"))
    for index in [*table.indexes, *table.global_indexes]:
        roles.extend((part["AttributeName"], part["KeyType"]) for part in index.schema)
    return roles


def _result(error: MockValidationException) -> ResultRefused:
    return ResultRefused(error.exception_msg)
