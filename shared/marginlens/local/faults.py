"""Fault injection for the local DynamoDB engine: answer chosen requests as a busy or failing DynamoDB would.

    fault = engine.faults.inject("TransactWriteItems", "TransactionConflict", times=3, table=name)
    ...                        # the next 3 matching requests are cancelled, nothing applied
    assert fault.fired == 3
    engine.faults.clear()

Errors, each with the code and shape botocore gets from DynamoDB:

* ``TransactionConflict``: on TransactWriteItems / TransactGetItems a ``TransactionCanceledException``
  whose CancellationReasons carry ``TransactionConflict`` for one action (the first on ``table``)
  and ``None`` for the others; on single-item operations a ``TransactionConflictException``.
* ``Throttling``: ``ThrottlingException`` for transactions, ``ProvisionedThroughputExceededException``
  for everything else; either can also be named directly.
* ``InternalServerError`` (HTTP 500). With ``after_commit=True`` the request is applied first and
  only its answer is lost: the client sees the error and retries a write that already happened.

Faults are scoped by operation and, optionally, table name, so tests sharing an engine do not hit
each other's. Thread-safe: inject and clear from any thread while the engine serves.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_PREFIX = "com.amazonaws.dynamodb.v20120810#"
_CANCELLED = "Transaction cancelled, please refer cancellation reasons for specific reasons"
_TRANSACTIONS = frozenset({"TransactWriteItems", "TransactGetItems"})
OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchGetItem",
        "BatchWriteItem",
        "Query",
        "Scan",
        "ExecuteStatement",
        "BatchExecuteStatement",
        "ExecuteTransaction",
        *_TRANSACTIONS,
    }
)
ERRORS = frozenset(
    {
        "TransactionConflict",
        "Throttling",
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "InternalServerError",
    }
)

# DynamoDB's own wording (TransactionCanceledException's documented reasons, the API reference).
_MESSAGES = {
    "TransactionConflict": "Transaction is ongoing for the item.",
    "TransactionConflictException": (
        "Operation was rejected because there is an ongoing transaction for the item."
    ),
    "ThrottlingException": (
        "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically "
        "scaling your table or index so please try again shortly. If exceptions persist, check if you "
        "have a hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
        "bp-partition-key-design.html."
    ),
    "ProvisionedThroughputExceededException": (
        "The level of configured provisioned throughput for the table was exceeded. Consider "
        "increasing your provisioning level with the UpdateTable API."
    ),
    "InternalServerError": "Internal server error",
}


@dataclass(eq=False)
class Fault:
    """One injected fault; ``fired`` counts the requests it answered."""

    operation: str
    error: str
    times: int | None  # None: until removed
    table: str | None
    after_commit: bool
    _fired: int = field(default=0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def fired(self) -> int:
        with self._lock:
            return self._fired

    @property
    def remaining(self) -> int | None:
        with self._lock:
            return None if self.times is None else self.times - self._fired

    def _claim(self) -> bool:
        with self._lock:
            if self.times is not None and self._fired >= self.times:
                return False
            self._fired += 1
            return True


@dataclass(frozen=True)
class FaultResponse:
    status: str
    headers: list[tuple[str, str]]
    body: bytes


class FaultInjector:
    """The engine's faults: ``inject`` one, ``remove`` it, or ``clear`` them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def inject(
        self,
        operation: str,
        error: str,
        *,
        times: int | None = 1,
        table: str | None = None,
        after_commit: bool = False,
    ) -> Fault:
        if operation not in OPERATIONS:
            raise ValueError(f"unknown DynamoDB operation {operation!r}; one of {sorted(OPERATIONS)}")
        if error not in ERRORS:
            raise ValueError(f"unknown fault {error!r}; one of {sorted(ERRORS)}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None: until removed)")
        if after_commit and error != "InternalServerError":
            raise ValueError("after_commit models a lost response: only InternalServerError")
        fault = Fault(operation, error, times, table, after_commit)
        with self._lock:
            self._faults.append(fault)
        return fault

    def remove(self, fault: Fault) -> None:
        with self._lock:
            if fault in self._faults:
                self._faults.remove(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def active(self) -> list[Fault]:
        with self._lock:
            return [fault for fault in self._faults if fault.remaining != 0]

    def armed(self, operation: str) -> bool:
        """Cheap pre-check, so requests with no fault to match are not parsed."""
        with self._lock:
            return any(fault.operation == operation for fault in self._faults)

    def take(self, operation: str, request: Callable[[], dict[str, Any]]) -> Fault | None:
        """The first live fault matching this request, counted as fired; None if there is none."""
        with self._lock:
            candidates = [fault for fault in self._faults if fault.operation == operation]
        if not candidates:
            return None
        tables = tables_of(request())
        for fault in candidates:
            if (fault.table is None or fault.table in tables) and fault._claim():
                return fault
        return None


def tables_of(request: dict[str, Any]) -> set[str]:
    """The tables a request names, whatever its shape."""
    tables = set()
    if isinstance(request.get("TableName"), str):
        tables.add(request["TableName"])
    for entry in request.get("TransactItems") or []:
        for action in entry.values():
            if isinstance(action, dict) and isinstance(action.get("TableName"), str):
                tables.add(action["TableName"])
    tables.update(request.get("RequestItems") or {})
    return tables


def response(fault: Fault, operation: str, request: dict[str, Any]) -> FaultResponse:
    """The error DynamoDB would answer ``request`` with."""
    code = fault.error
    extra: dict[str, Any] = {}
    if code == "Throttling":
        transactional = operation in _TRANSACTIONS
        code = "ThrottlingException" if transactional else "ProvisionedThroughputExceededException"
    if code == "TransactionConflict":
        if operation in _TRANSACTIONS:
            code = "TransactionCanceledException"
            extra["CancellationReasons"] = reasons = _conflict_reasons(request, fault.table)
            codes = ", ".join(reason["Code"] for reason in reasons)
            message = f"{_CANCELLED} [{codes}]"
        else:
            code = "TransactionConflictException"
            message = _MESSAGES[code]
    else:
        message = _MESSAGES[code]
    status = "500 Internal Server Error" if code == "InternalServerError" else "400 Bad Request"
    body = json.dumps({"__type": _PREFIX + code, "message": message, **extra}).encode()
    headers = [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("Content-Length", str(len(body))),
        ("x-amzn-RequestId", "local-fault"),
    ]
    return FaultResponse(status, headers, body)


def _conflict_reasons(request: dict[str, Any], table: str | None) -> list[dict[str, str]]:
    actions = request.get("TransactItems") or []
    conflicted = 0
    if table is not None:
        for index, entry in enumerate(actions):
            if any(isinstance(a, dict) and a.get("TableName") == table for a in entry.values()):
                conflicted = index
                break
    reasons = [{"Code": "None"} for _ in actions] or [{"Code": "None"}]
    reasons[conflicted] = {"Code": "TransactionConflict", "Message": _MESSAGES["TransactionConflict"]}
    return reasons
