"""`marginlens checks`: the go-live checklist over the HTTP API (what the dashboard's Go-live page
shows), optionally after sending a test alert through the real channels."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from marginlens.cli.common import JsonFlag, print_table, request, stdout


def register(app: typer.Typer) -> None:
    app.command("checks")(checks)


def checks(
    ctx: typer.Context,
    test_alert: Annotated[
        bool,
        typer.Option(
            "--test-alert",
            help="First send a test alert (admin key): SNS email and Slack, or the local file.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """The go-live checks, computed from live data: each passes or says what is missing. Exits 1
    while any fails."""
    if test_alert:
        sent = request(ctx, "POST", "/v1/alerts/test")
        if not as_json:
            stdout().print(Text(f"Sent a test alert at {sent['time']} via {', '.join(sent['channels'])}."))
    body = request(ctx, "GET", "/v1/checks", as_json=as_json)  # with --json: printed, and done
    table = Table(title=f"Go-live checks: {body['passed']} of {body['total']} pass ({body['checked_at']})")
    for column in ("check", "status", "detail and what is missing"):
        table.add_column(column)
    for check in body["checks"]:
        status = Text("PASS", style="green") if check["status"] == "pass" else Text("FAIL", style="bold red")
        table.add_row(
            check["title"], status, "\n".join([check["detail"], *(f"- {r}" for r in check["missing"])])
        )
    print_table(stdout(), table)
    if body["passed"] < body["total"]:
        raise typer.Exit(1)
