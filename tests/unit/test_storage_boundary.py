"""The storage boundary: only `storage/` (and `local/`, the local engine) calls DynamoDB's client.

Every other module goes through `marginlens.storage.table.Table` (plain values, `ConditionFailed`)
or `storage.transactions.TransactionWriter`. The check is by name, on any receiver: an attribute
call named like a DynamoDB data operation (`x.get_item(...)`, `self.client.query(...)`) outside
those two folders fails, whatever `x` is, so a client reached through another name is caught too.

One exception, exact: a call with a positional argument is not a client call. botocore's client
methods take keyword arguments only (`query() only accepts keyword arguments`), so this lets
`Table.query(pk, ...)` through and no real client call.
"""

from __future__ import annotations

import ast
from pathlib import Path

import boto3
import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "shared" / "marginlens"
ALLOWED = ("storage", "local")
OPERATIONS = frozenset(
    {
        "get_item",
        "put_item",
        "update_item",
        "delete_item",
        "query",
        "scan",
        "batch_get_item",
        "batch_write_item",
        "transact_write_items",
        "transact_get_items",
    }
)


def _modules() -> list[Path]:
    return sorted(
        path
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0] not in ALLOWED and "__pycache__" not in path.parts
    )


def _keywords_only(call: ast.Call) -> bool:
    """No positional argument (`*args` aside): the only way a boto3 client method can be called."""
    return all(isinstance(argument, ast.Starred) for argument in call.args)


def client_calls(source: str) -> list[tuple[int, str]]:
    """(line, operation) of every attribute call named like a DynamoDB client operation."""
    return sorted(
        (node.lineno, node.func.attr)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in OPERATIONS
        and _keywords_only(node)
    )


def test_the_package_is_found() -> None:
    modules = _modules()
    assert PACKAGE.is_dir() and len(modules) > 10, PACKAGE
    assert any(path.name == "ledger.py" for path in modules)


def test_only_storage_and_local_call_the_dynamodb_client() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: .{operation}(...)"
        for path in _modules()
        for line, operation in client_calls(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, (
        "only marginlens/storage/ and marginlens/local/ may call DynamoDB's client; use "
        "marginlens.storage.table.Table (get, put, update, delete, query, query_index, writer) "
        "instead:\n  " + "\n  ".join(offenders)
    )


def test_the_check_sees_calls_on_any_receiver() -> None:
    source = (
        "self.client.get_item(TableName='t')\n"
        "store.client.query(**arguments)\n"
        "client().transact_write_items(TransactItems=[])\n"
        "self.db.get('pk', 'sk')\n"
        "get_item(TableName='t')\n"
        "self.db.query('BUDGETS', ConsistentRead=True)\n"
        "ledger.db.scan()\n"
    )
    assert client_calls(source) == [(1, "get_item"), (2, "query"), (3, "transact_write_items"), (7, "scan")]


def test_a_client_method_refuses_positional_arguments() -> None:
    """What `client_calls` relies on to tell `Table.query(pk)` from a client's query."""
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(TypeError, match="keyword arguments"):
        client.query("BUDGETS")
