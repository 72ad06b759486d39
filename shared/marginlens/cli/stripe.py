"""`marginlens stripe backfill`: Stripe's invoices, refunds and credit notes since a date, into MarginLens.

Reads Stripe with stripe-python (auto-pagination) using a Stripe key, and sends the objects to
POST /v1/stripe/backfill, where they take the webhooks' idempotent path: safe to run again, and
safe alongside live webhooks.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from marginlens.cli.common import fail, print_table, request, stderr, stdout

stripe_app = typer.Typer(help="Stripe: backfill revenue history.", no_args_is_help=True)
BATCH = 50


def register(app: typer.Typer) -> None:
    """Add `stripe` to the `marginlens` app."""
    app.add_typer(stripe_app, name="stripe")


@stripe_app.command("backfill")
def backfill(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", help="First day (YYYY-MM-DD, UTC) of objects to read")],
    stripe_key: Annotated[
        str, typer.Option("--stripe-key", envvar="STRIPE_API_KEY", help="A Stripe secret or restricted key")
    ],
    stripe_api_base: Annotated[
        str | None, typer.Option("--stripe-api-base", envvar="STRIPE_API_BASE", help="e.g. a stripe-mock URL")
    ] = None,
) -> None:
    """Read invoices, refunds and credit notes created since a day, and apply them like webhooks."""
    from marginlens.revenue.backfill import fetch_since, stripe_client

    try:
        first_day = date.fromisoformat(since)
    except ValueError:
        fail("--since must be YYYY-MM-DD.")
    client = stripe_client(stripe_key, stripe_api_base)
    read: dict[str, int] = {}
    totals = {"received": 0, "applied": 0, "skipped": 0}
    statuses: dict[str, int] = {}
    batch: list[dict[str, object]] = []

    def send() -> None:
        if not batch:
            return
        body = request(ctx, "POST", "/v1/stripe/backfill", json={"objects": batch})
        for name in totals:
            totals[name] += body[name]
        for status, count in body["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
        batch.clear()

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=stderr(), transient=True) as progress:
        task = progress.add_task("Reading Stripe", total=None)
        for kind, obj, fetched_at in fetch_since(client, first_day):
            read[kind] = read.get(kind, 0) + 1
            progress.update(task, description=f"Reading Stripe: {sum(read.values())} objects")
            batch.append({"kind": kind, "object": obj, "fetched_at": fetched_at.isoformat()})
            if len(batch) == BATCH:
                send()
        send()

    table = Table(title=f"Stripe backfill since {first_day.isoformat()}")
    table.add_column("")
    table.add_column("count", justify="right")
    for object_kind, count in sorted(read.items()):
        table.add_row(f"read: {object_kind}", str(count))
    table.add_row("applied", str(totals["applied"]))
    table.add_row("skipped (drafts, unchanged, malformed)", str(totals["skipped"]))
    for status, count in sorted(statuses.items()):
        table.add_row(f"documents {status}", str(count))
    print_table(stdout(), table)
