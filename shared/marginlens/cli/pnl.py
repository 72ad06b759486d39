"""`marginlens pnl`: the P&L per customer for a month or a date range, as a table or as CSV."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from marginlens.cli.common import JsonFlag, check_period, money_cell, pct_cell, print_table, request, stdout


def register(app: typer.Typer) -> None:
    """Add `pnl` to the `marginlens` app."""
    app.command("pnl")(pnl)


_ACTION_STYLES = {"reprice_or_throttle": "bold red", "monitor": "yellow", "healthy": "green"}


def pnl_table(
    body: dict[str, Any],
    *,
    title: str,
    label: Callable[[dict[str, Any]], str] | None = None,
) -> Table:
    """The P&L as the API answered it. With `label`, one customer column (dev); else id + name."""
    detailed = label is None
    table = Table(title=title)
    table.add_column("customer", no_wrap=True)
    if detailed:
        table.add_column("name")
    for column in ("revenue", "cost", "margin", "margin %", "events", "unpriced"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("action", no_wrap=True)
    if detailed:
        table.add_column("negative months", justify="right")
    for row in body.get("customers", []):
        action = str(row.get("action", ""))
        cells: list[str | Text] = [label(row) if label else str(row.get("customer_id"))]
        if detailed:
            cells.append(str(row.get("name") or ""))
        cells += [
            money_cell(row.get("revenue")),
            money_cell(row.get("cost")),
            money_cell(row.get("margin")),
            pct_cell(row.get("margin_pct")),
            str(row.get("events", "")),
            str(row.get("unpriced_events", "")),
            Text(action, style=_ACTION_STYLES.get(action, "")),
        ]
        if detailed:
            cells.append(str(row.get("negative_margin_months", "")))
        table.add_row(*cells)
    totals = body.get("totals") or {}
    table.add_section()
    cells = [Text("total", style="bold")]
    if detailed:
        cells.append(Text(""))
    cells += [
        money_cell(totals.get("revenue")),
        money_cell(totals.get("cost")),
        money_cell(totals.get("margin")),
        pct_cell(totals.get("margin_pct")),
        Text(str(totals.get("events", ""))),
        Text(str(totals.get("unpriced_events", ""))),
        Text(""),
    ]
    if detailed:
        cells.append(Text(""))
    table.add_row(*cells, style="bold")
    return table


def period_title(body: dict[str, Any]) -> str:
    period = body.get("period") or {}
    return f"P&L {period.get('from')} to {period.get('to')} ({body.get('currency', 'USD')})"


CSV_COLUMNS = (
    "customer_id",
    "name",
    "currency",
    "revenue",
    "cost",
    "margin",
    "margin_pct",
    "events",
    "prompt_tokens",
    "completion_tokens",
    "unpriced_events",
    "estimated_cost",
    "action",
    "negative_margin_months",
    "unmapped_revenue",
)


def pnl_csv(body: dict[str, Any]) -> str:
    """The P&L as RFC 4180 CSV: a header, one row per customer, then the totals row (empty
    customer_id, name `Total`). Amounts are the API's strings, untouched. Revenue without an
    exchange rate gets one `revenue_unconverted_<CUR>` column per currency (and
    `unmapped_revenue_unconverted_<CUR>` for unmapped Stripe revenue); it is in no other column."""
    import csv
    import io

    rows = list(body.get("customers") or [])
    totals = dict(body.get("totals") or {})
    currencies = sorted({code for row in [*rows, totals] for code in (row.get("revenue_unconverted") or {})})
    unmapped_currencies = sorted(totals.get("unmapped_revenue_unconverted") or {})
    header = [
        *CSV_COLUMNS,
        *(f"revenue_unconverted_{code}" for code in currencies),
        *(f"unmapped_revenue_unconverted_{code}" for code in unmapped_currencies),
    ]
    currency = str(body.get("currency", ""))

    def line(row: dict[str, Any], *, total: bool) -> list[str]:
        values = {
            **{name: row.get(name) for name in CSV_COLUMNS},
            "customer_id": "" if total else row.get("customer_id"),
            "name": "Total" if total else row.get("name"),
            "currency": currency,
            "action": None if total else row.get("action"),
            "negative_margin_months": None if total else row.get("negative_margin_months"),
            "unmapped_revenue": row.get("unmapped_revenue") if total else None,
        }
        cells = ["" if values[name] is None else str(values[name]) for name in CSV_COLUMNS]
        unconverted = row.get("revenue_unconverted") or {}
        cells += [str(unconverted.get(code, "")) for code in currencies]
        unmapped = (row.get("unmapped_revenue_unconverted") or {}) if total else {}
        cells += [str(unmapped.get(code, "")) for code in unmapped_currencies]
        return cells

    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180: CRLF, quoting where needed
    writer.writerow(header)
    for row in rows:
        writer.writerow(line(row, total=False))
    writer.writerow(line(totals, total=True))
    return buffer.getvalue()


def _apart(amounts: Any) -> str:
    return ", ".join(f"{code} {amount}" for code, amount in sorted((amounts or {}).items()))


def pnl(
    ctx: typer.Context,
    month: Annotated[str | None, typer.Option("--month", help="UTC calendar month, YYYY-MM.")] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="First day, YYYY-MM-DD (inclusive, UTC).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (inclusive, UTC).")] = None,
    as_json: JsonFlag = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="RFC 4180 CSV: a header, one row per customer, a totals row.")
    ] = False,
    consistent: Annotated[
        bool, typer.Option("--consistent", help="Wait (a few seconds) for every event sent so far.")
    ] = False,
) -> None:
    """The P&L per customer for a month or a date range (default: this UTC month)."""
    check_period(month, from_, to)
    if as_json and as_csv:
        raise typer.BadParameter("give either --json or --csv, not both", param_hint="--csv")
    if month is None and from_ is None:
        month = datetime.now(UTC).strftime("%Y-%m")
    params: dict[str, Any] = {"month": month} if month is not None else {"from": from_, "to": to}
    if consistent:
        params["consistent"] = "true"
    body = request(ctx, "GET", "/v1/pnl", params=params, as_json=as_json)
    if as_csv:
        typer.echo(pnl_csv(body), nl=False)
        return
    out = stdout()
    if not body.get("customers"):
        out.print(Text(f"No usage recorded from {body['period']['from']} to {body['period']['to']}."))
    print_table(out, pnl_table(body, title=period_title(body)))
    behind = body.get("aggregates") or {}
    if behind and not behind.get("caught_up"):
        out.print(
            Text(
                f"These figures are {behind.get('lag_seconds')} s behind the events stored "
                f"(oldest not counted yet: {behind.get('oldest_pending_change')}); --consistent waits."
            )
        )
    totals = body.get("totals") or {}
    if totals.get("revenue_unconverted"):
        out.print(
            Text(
                f"Revenue without an exchange rate, in no total: {_apart(totals['revenue_unconverted'])} "
                "(set MARGINLENS_EXCHANGE_RATES)."
            )
        )
    unmapped = [
        part
        for part in (
            f"{body.get('currency', 'USD')} {totals['unmapped_revenue']}"
            if totals.get("unmapped_revenue") and Decimal(totals["unmapped_revenue"]) != 0
            else "",
            _apart(totals.get("unmapped_revenue_unconverted")),
        )
        if part
    ]
    if unmapped:
        out.print(
            Text(
                f"Stripe revenue of unmapped Stripe customers, in no row: {', '.join(unmapped)} "
                "(see `marginlens revenue unmapped`)."
            )
        )
    losing = [
        row["customer_id"] for row in body.get("customers", []) if row.get("action") == "reprice_or_throttle"
    ]
    if losing:
        period = f"--month {month}" if month is not None else f"--from-day {from_} --to-day {to}"
        out.print(
            Text(
                f"{len(losing)} customer(s) lose money; what a cheaper model would give back: "
                f"marginlens recommend --customer {losing[0]} {period}"
            )
        )
