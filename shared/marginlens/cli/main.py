"""`marginlens`: the command line for the MarginLens HTTP API, and `marginlens dev` (`make run`).

Every command except `dev` talks to the public HTTP API only (see API.md), so it works the same
against the local stack and a deployment on AWS. Amounts are printed exactly as the API sends them
(decimal strings); they never pass through a float.

This module is the root: the app, its options and the registration of every command module, each
by its `register(app)`. No command module imports it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from marginlens.cli import (
    budgets,
    checks,
    dev,
    keys,
    pnl,
    prices,
    reconcile,
    reprice,
    revenue,
    simulation,
    stripe,
    usage,
)
from marginlens.cli.common import DEFAULT_URL, ApiConfig, load_dotenv

app = typer.Typer(
    name="marginlens",
    help="MarginLens: per-customer AI P&L. Talks to the HTTP API; `dev` runs the local stack.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold API keys
)

# In the order `marginlens --help` lists them: commands (reprice, simulate, recommend, replay, pnl,
# dev), then groups (keys, prices, customers, revenue, stripe, budgets, alerts, quality).
for module in (
    keys,
    prices,
    revenue,
    stripe,
    budgets,
    checks,
    reprice,
    reconcile,
    simulation,
    usage,
    pnl,
    dev,
):
    module.register(app)


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[
        str,
        typer.Option("--url", envvar="MARGINLENS_URL", help="Base URL of the MarginLens API."),
    ] = DEFAULT_URL,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", envvar="MARGINLENS_API_KEY", help="API key.", show_default=False),
    ] = None,
) -> None:
    base = (url or DEFAULT_URL).strip().rstrip("/")
    base = base.removesuffix("/v1")  # the URL `dev` prints as the API URL works too
    ctx.obj = ApiConfig(base, (api_key or "").strip() or None)


def main() -> None:
    load_dotenv()  # MARGINLENS_URL / MARGINLENS_API_KEY may live in .env
    app()
