"""`marginlens customers ...` and `marginlens revenue ...`: names, Stripe mapping and revenue (over the API).

The commands reach the CLI's shared helpers through `marginlens.cli` at call time: that module
imports this one to register the groups, so importing it back at load time would be circular.
"""

from __future__ import annotations

from types import ModuleType
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.table import Table
from rich.text import Text

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer as is.")]


def _cli() -> ModuleType:
    import marginlens.cli

    return marginlens.cli


customers_app = typer.Typer(help="Customer names and their Stripe customers.", no_args_is_help=True)
revenue_app = typer.Typer(help="Push revenue; list unmapped Stripe revenue.", no_args_is_help=True)


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
    payload = {key: value for key, value in body.items() if value is not None}
    saved = (
        _cli()
        ._config(ctx)
        .answer("PUT", f"/v1/customers/{quote(customer_id, safe='')}", json=payload, as_json=as_json)
    )
    if saved is None:
        return
    stripe = saved.get("stripe_customer_id") or "no Stripe customer"
    line = f"{saved['customer_id']}: {saved.get('name') or '(no name)'}, {stripe}"
    moved = int(saved.get("revenue_moved") or 0)
    if moved:
        line += f"; {moved} unmapped Stripe document{'s' if moved != 1 else ''} moved to it"
    _cli()._out().print(Text(line))


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
    if month is not None and (from_ is not None or to is not None):
        raise typer.BadParameter("give either --month or --from/--to, not both", param_hint="--month")
    if (from_ is None) != (to is None):
        raise typer.BadParameter("--from and --to go together", param_hint="--from/--to")
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
    saved = _cli()._config(ctx).answer("POST", "/v1/revenue", json=payload, as_json=as_json)
    if saved is None:
        return
    period = saved.get("period") or {}
    months = ", ".join(f"{item['month']} {item['amount']}" for item in saved.get("recognised", []))
    _cli()._out().print(
        Text(
            f"{saved['status']}: {saved['external_id']} for {saved['customer_id']}, "
            f"{saved['currency']} {saved['amount']} over {period.get('from')}..{period.get('to')}"
            + (f" (recognised {months})" if months else "")
        )
    )


@revenue_app.command("unmapped")
def revenue_unmapped(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Stripe revenue whose Stripe customer is not mapped yet (map it with `customers set`)."""
    body = _cli()._config(ctx).answer("GET", "/v1/revenue/unmapped", as_json=as_json)
    if body is None:
        return
    rows = body.get("data", [])
    out = _cli()._out()
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
            _cli()._money(row.get("amount")),
            str(row.get("occurred_at") or _cli().NONE),
        )
    _cli().print_table(out, table)
    totals = ", ".join(f"{code} {amount}" for code, amount in sorted((body.get("totals") or {}).items()))
    out.print(Text(f"Total: {totals}. Map one with: marginlens customers set ID --stripe-customer cus_..."))
