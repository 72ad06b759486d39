"""`marginlens reprice`: POST /v1/reprice from the command line."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from marginlens.cli.common import JsonFlag, print_table, request, stdout


def register(app: typer.Typer) -> None:
    """Add `reprice` to the `marginlens` app."""
    app.command("reprice")(reprice)


def _day(value: str, option: str) -> str:
    try:
        date.fromisoformat(value)
    except ValueError as error:
        raise typer.BadParameter("must be a date, YYYY-MM-DD", param_hint=option) from error
    if len(value) != 10:
        raise typer.BadParameter("must be a date, YYYY-MM-DD", param_hint=option)
    return value


def report_table(body: dict[str, Any]) -> Table:
    """The reprice report as the API answered it (amounts exactly as sent)."""
    period = body.get("period") or {}
    scope = "unpriced events" if body.get("only_unpriced") else "all events"
    table = Table(title=f"Reprice {period.get('from')} to {period.get('to')} ({scope})")
    table.add_column("", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    delta = str(body.get("cost_delta", ""))
    for label, value in (
        ("events examined", body.get("events_examined")),
        ("events changed", body.get("events_changed")),
        ("old cost", body.get("old_cost")),
        ("new cost", body.get("new_cost")),
        ("cost delta", Text(delta, style="red" if delta.startswith("-") else "")),
        ("unpriced before", body.get("unpriced_before")),
        ("unpriced after", body.get("unpriced_after")),
        ("price table", body.get("price_table")),
    ):
        table.add_row(label, value if isinstance(value, Text) else str(value))
    return table


def reprice(
    ctx: typer.Context,
    from_: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (inclusive, UTC).")],
    to: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD (inclusive, UTC).")],
    only_unpriced: Annotated[
        bool, typer.Option("--only-unpriced", help="Only events stored as unpriced.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Recompute event costs in a date range with today's price table (needs an admin key).

    Safe to run again: each event's change reaches the P&L once.
    """
    body = {"from": _day(from_, "--from"), "to": _day(to, "--to"), "only_unpriced": only_unpriced}
    report = request(ctx, "POST", "/v1/reprice", json=body, as_json=as_json)
    out = stdout()
    print_table(out, report_table(report))
    if not report.get("complete", True):
        out.print(
            Text(
                f"Stopped at the time limit; run it again with --from {report.get('next_from')} "
                "to finish (what is done is not redone).",
                style="yellow",
            )
        )
