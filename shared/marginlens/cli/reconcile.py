"""`marginlens reconcile`: the providers' bills beside MarginLens's record, from the command line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from marginlens.cli.common import JsonFlag, print_table, request, stdout
from marginlens.core.money import money_display


def register(app: typer.Typer) -> None:
    """Add `reconcile` to the `marginlens` app."""
    app.command("reconcile")(reconcile)


def _month(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        raise typer.BadParameter("must be a month, YYYY-MM", param_hint="--month")
    return value


def days_table(result: dict[str, Any]) -> Table:
    """One provider's month, day by day: billed, recorded, variance and the likely cause."""
    title = f"{result['provider']} {result['month']}: billed {money_display(result.get('billed') or '0')}"
    title += f", recorded {money_display(result.get('recorded') or '0')}"
    table = Table(title=title)
    for column in ("day", "billed", "recorded", "variance %", "cause"):
        table.add_column(column, justify="left" if column in ("day", "cause") else "right", no_wrap=True)
    for day in result.get("days", []):
        style = "red" if day.get("flagged") else ""
        table.add_row(
            day["day"],
            money_display(day["billed"]),
            money_display(day["recorded"]),
            Text(str(day.get("variance_pct") or "-"), style=style),
            Text(day.get("cause") or "", style=style),
        )
    return table


def reconcile(
    ctx: typer.Context,
    month: Annotated[
        str | None, typer.Option("--month", help="YYYY-MM (default: yesterday's month).")
    ] = None,
    csv: Annotated[
        Path | None,
        typer.Option(
            "--csv", exists=True, dir_okay=False, help="A cost export to import instead of the APIs."
        ),
    ] = None,
    provider: Annotated[
        str | None, typer.Option("--provider", help="The provider of a --csv file without a provider column.")
    ] = None,
    show: Annotated[bool, typer.Option("--show", help="Only show the last result; fetch nothing.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Compare the providers' own cost reports (OpenAI, Anthropic) with what MarginLens recorded.

    Fetches the month with the admin keys the stack holds, or imports --csv; then shows each day's
    billed and recorded cost, the variance and its likely cause. Needs an admin key (a read key
    with --show).
    """
    month = _month(month)
    if csv is not None:
        body = {"csv": csv.read_text(encoding="utf-8-sig"), "provider": provider}
        imported = request(ctx, "POST", "/v1/reconciliation/import", json=body, as_json=as_json)
        months = sorted({item["month"] for item in imported.get("imported", [])})
    elif not show:
        run = request(ctx, "POST", "/v1/reconciliation/run", json={"month": month}, as_json=as_json)
        for name, outcome in sorted(run.get("providers", {}).items()):
            if outcome.get("status") == "error":
                stdout().print(
                    Text(f"{name}: {outcome.get('error')} (the last result is kept)", style="yellow")
                )
        if not run.get("configured"):
            stdout().print(
                Text(
                    "No provider admin key is configured (OPENAI_ADMIN_KEY, ANTHROPIC_ADMIN_KEY).",
                    style="yellow",
                )
            )
        months = [run["month"]]
    else:
        months = [month] if month else []
        if not months:
            raise typer.BadParameter("--show needs --month", param_hint="--month")
    for shown in months:
        answer = request(ctx, "GET", "/v1/reconciliation", params={"month": shown})
        out = stdout()
        if not answer.get("providers"):
            out.print(f"No reconciliation for {shown} yet.")
        for result in answer.get("providers", []):
            print_table(out, days_table(result))
            if result.get("last_error"):
                out.print(Text(f"Last fetch failed: {result['last_error']}", style="yellow"))
