"""`marginlens customers ...` and `marginlens revenue ...` (over the HTTP API).

Customer names and their Stripe customers; revenue pushed by your billing system, and the Stripe
revenue whose Stripe customer is not mapped yet.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from marginlens.cli.common import NONE, JsonFlag, check_period, money_cell, print_table, request, stdout

customers_app = typer.Typer(help="Customer names and their Stripe customers.", no_args_is_help=True)
revenue_app = typer.Typer(help="Push revenue; list unmapped Stripe revenue.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `customers` and `revenue` to the `marginlens` app."""
    app.add_typer(customers_app, name="customers")
    app.add_typer(revenue_app, name="revenue")


@customers_app.command("set")
def customers_set(
    ctx: typer.Context,
    customer_id: Annotated[str, typer.Argument(help="The customer id your usage events carry.")],
    name: Annotated[str | None, typer.Option("--name", help="Display name, e.g. 'Plexo Health'.")] = None,
    stripe_customer: Annotated[
        str | None,
        typer.Option("--stripe-customer", help="The Stripe customer (cus_...) whose revenue is this one's."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Name a customer and map its Stripe customer; unmapped Stripe revenue moves to it at once."""
    body = {"name": name, "stripe_customer_id": stripe_customer}
    saved = request(ctx, "PUT", "/v1/customers/{}", customer_id, json=body, as_json=as_json)
    stripe = saved.get("stripe_customer_id") or "no Stripe customer"
    line = f"{saved['customer_id']}: {saved.get('name') or '(no name)'}, {stripe}"
    moved = int(saved.get("revenue_moved") or 0)
    if moved:
        line += f"; {moved} unmapped Stripe document{'s' if moved != 1 else ''} moved to it"
    stdout().print(Text(line))


@revenue_app.command("push")
def revenue_push(
    ctx: typer.Context,
    external_id: Annotated[
        str, typer.Option("--external-id", help="Your billing system's id: pushing it again is safe.")
    ],
    customer: Annotated[str, typer.Option("--customer", help="The customer id.")],
    amount: Annotated[str, typer.Option("--amount", help="Exact decimal, e.g. 233.25; negative: refund.")],
    currency: Annotated[str, typer.Option("--currency", help="ISO 4217 code, e.g. USD.")],
    month: Annotated[str | None, typer.Option("--month", help="The month it pays for, YYYY-MM.")] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="First day it pays for, YYYY-MM-DD (inclusive).")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Last day it pays for, YYYY-MM-DD (inclusive).")
    ] = None,
    day: Annotated[
        str | None, typer.Option("--date", help="The one day it counts on (default: the day received).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Push revenue (POST /v1/revenue): the same --external-id with a new amount replaces the entry."""
    check_period(month, from_, to)
    if day is not None and (month is not None or from_ is not None):
        raise typer.BadParameter("give --date, --month or --from/--to: one of them", param_hint="--date")
    payload: dict[str, Any] = {
        "external_id": external_id,
        "customer_id": customer,
        "amount": amount.strip(),
        "currency": currency,
    }
    if month is not None:
        payload["month"] = month
    if from_ is not None:
        payload["period_start"], payload["period_end"] = from_, to
    if day is not None:
        payload["date"] = day
    saved = request(ctx, "POST", "/v1/revenue", json=payload, as_json=as_json)
    period = saved.get("period") or {}
    months = ", ".join(f"{item['month']} {item['amount']}" for item in saved.get("recognised", []))
    stdout().print(
        Text(
            f"{saved['status']}: {saved['external_id']} for {saved['customer_id']}, "
            f"{saved['currency']} {saved['amount']} over {period.get('from')}..{period.get('to')}"
            + (f" (recognised {months})" if months else "")
        )
    )


@revenue_app.command("unmapped")
def revenue_unmapped(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Stripe revenue whose Stripe customer is not mapped yet (map it with `customers set`)."""
    body = request(ctx, "GET", "/v1/revenue/unmapped", as_json=as_json)
    rows = body.get("data", [])
    out = stdout()
    if not rows:
        out.print(Text("No unmapped Stripe revenue: every Stripe customer with revenue is mapped."))
        return
    table = Table(title=f"Unmapped Stripe revenue ({len(rows)} documents)")
    for column in ("stripe customer", "name", "kind", "id", "currency", "amount", "at"):
        table.add_column(column, justify="right" if column == "amount" else "left", no_wrap=True)
    for row in rows:
        table.add_row(
            str(row.get("stripe_customer_id")),
            str(row.get("stripe_customer_name") or row.get("stripe_customer_email") or ""),
            str(row.get("kind")),
            str(row.get("id")),
            str(row.get("currency")),
            money_cell(row.get("amount")),
            str(row.get("occurred_at") or NONE),
        )
    print_table(out, table)
    totals = ", ".join(f"{code} {amount}" for code, amount in sorted((body.get("totals") or {}).items()))
    out.print(Text(f"Total: {totals}. Map one with: marginlens customers set ID --stripe-customer cus_..."))
