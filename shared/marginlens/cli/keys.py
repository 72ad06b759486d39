"""`marginlens keys ...`: create, list and revoke API keys (over the HTTP API)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from marginlens.cli.common import NONE, JsonFlag, print_table, request, stdout

keys_app = typer.Typer(help="Create, list and revoke API keys (needs an admin key).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `keys` to the `marginlens` app."""
    app.add_typer(keys_app, name="keys")


class KeyScope(StrEnum):
    ingest = "ingest"
    read = "read"
    admin = "admin"


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    scope: Annotated[KeyScope, typer.Option("--scope", help="What the key may do.", case_sensitive=False)],
    name: Annotated[str, typer.Option("--name", help="A label, e.g. the app that uses the key.")],
    as_json: JsonFlag = False,
) -> None:
    """Create an API key. The key is shown once, here: store it now."""
    body = request(ctx, "POST", "/v1/keys", json={"scope": scope.value, "name": name}, as_json=as_json)
    out = stdout()
    out.print(Text(f"Created {body.get('scope')} key {body.get('name')!r}"))
    out.print(Text(f"  id {body.get('id')}, prefix {body.get('prefix')}"))
    out.print(Text("The key is shown only this once; store it now:", style="bold yellow"))
    out.print(Text(str(body.get("key"))))


@keys_app.command("list")
def keys_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List API keys (never the keys themselves)."""
    answer = request(ctx, "GET", "/v1/keys", as_json=as_json)
    rows = answer.get("data", [])
    table = Table(title=f"API keys ({len(rows)})")
    for column in ("id", "name", "scope", "prefix", "created", "last used", "revoked"):
        table.add_column(column, no_wrap=column in ("id", "prefix"))
    for row in rows:
        revoked = row.get("revoked_at")
        table.add_row(
            *(str(row.get(name)) for name in ("id", "name", "scope", "prefix")),
            *(str(row.get(name) or NONE) for name in ("created_at", "last_used_at")),
            Text(str(revoked), style="red") if revoked else NONE,
        )
    print_table(stdout(), table)


@keys_app.command("revoke")
def keys_revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="The key's id (`key_...`), from `keys list`.")],
    as_json: JsonFlag = False,
) -> None:
    """Revoke an API key: refused everywhere within 60 seconds."""
    body = request(ctx, "DELETE", "/v1/keys/{}", key_id, as_json=as_json)
    stdout().print(
        Text(
            f"Revoked key {body.get('id')} ({body.get('scope')}, {body.get('name')!r}) "
            f"at {body.get('revoked_at')}; it is refused everywhere within 60 seconds."
        )
    )
