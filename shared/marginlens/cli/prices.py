"""`marginlens prices ...`: the price book from the command line (over the HTTP API)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from marginlens.cli.common import JsonFlag, print_table, request, stdout

prices_app = typer.Typer(help="Model prices: show, refresh, override, alias.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `prices` to the `marginlens` app."""
    app.add_typer(prices_app, name="prices")


BUCKETS = ("input", "output", "cache_read", "cache_write")


def fetch_model(ctx: typer.Context, model: str, as_json: bool) -> dict[str, Any]:
    """GET /v1/models/{model}; with `as_json` the answer is printed as is and the command ends."""
    return request(ctx, "GET", "/v1/models/{}", model, as_json=as_json)


@prices_app.command("show")
def prices_show(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="Any name an event may carry, e.g. us.anthropic.claude-...")],
    as_json: JsonFlag = False,
) -> None:
    """How MarginLens resolves MODEL, its prices per million tokens, and where they come from."""
    body = fetch_model(ctx, model, as_json)
    snapshot = body.get("snapshot") or {}
    table = Table(title=f"{model} -> {body['id']}")
    table.add_column("bucket")
    table.add_column("USD per 1M tokens", justify="right")
    for bucket in BUCKETS:
        price = (body.get("prices_per_mtok") or {}).get(bucket)
        table.add_row(bucket, price if price is not None else "-")
    print_table(stdout(), table)
    fetched = snapshot.get("fetched_at") or "bundled with the package"
    tier_note = " (long-context tiers apply per request)" if body.get("tiered") else ""
    stdout().print(
        Text(
            f"provider {body['provider']}, model {body['model']}{tier_note}\n"
            f"price source {body['price_source']}; snapshot {snapshot.get('version')} ({fetched})"
        )
    )


@prices_app.command("refresh")
def prices_refresh(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Fetch the newest price data now (what the daily schedule runs); refused files keep the old table."""
    body = request(ctx, "POST", "/v1/prices/refresh", json={}, as_json=as_json)
    snapshot = body.get("snapshot") or {}
    stdout().print(
        Text(
            f"Prices {body.get('status')}: snapshot {snapshot.get('version')} "
            f"({snapshot.get('model_count')} models, fetched {snapshot.get('fetched_at')})"
        )
    )


@prices_app.command("set")
def prices_set(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="A known model (override) or a custom model name.")],
    input_price: Annotated[str, typer.Option("--input", help="USD per 1M input tokens, e.g. 0.15")],
    output_price: Annotated[str, typer.Option("--output", help="USD per 1M output tokens")],
    cache_read: Annotated[
        str | None, typer.Option("--cache-read", help="USD per 1M cached input tokens")
    ] = None,
    cache_write: Annotated[
        str | None, typer.Option("--cache-write", help="USD per 1M cache-write tokens")
    ] = None,
    effective_from: Annotated[
        str | None, typer.Option("--effective-from", help="RFC 3339 time it applies from (default: now)")
    ] = None,
    provider: Annotated[str | None, typer.Option("--provider", help="The provider that bills you")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Override a model's price (or add a custom model) from a time on; reprice to apply it to history."""
    body = {
        "input_per_mtok": input_price,
        "output_per_mtok": output_price,
        "cache_read_per_mtok": cache_read,
        "cache_write_per_mtok": cache_write,
        "effective_from": effective_from,
        "provider": provider,
    }
    saved = request(ctx, "PUT", "/v1/prices/{}", model, json=body, as_json=as_json)
    prices = ", ".join(f"{bucket} {price}" for bucket, price in saved["prices_per_mtok"].items())
    stdout().print(Text(f"{saved['key']}: {prices} per 1M tokens from {saved['effective_from']}"))


@prices_app.command("alias")
def prices_alias(
    ctx: typer.Context,
    alias: Annotated[str, typer.Argument(help="A deployment name your events carry, e.g. my-azure-gpt4o")],
    model: Annotated[str, typer.Argument(help="The model it runs, e.g. azure/gpt-4o")],
) -> None:
    """Map a deployment name to the model it runs."""
    saved = request(ctx, "PUT", "/v1/model-aliases/{}", alias, json={"model": model})
    stdout().print(
        Text(f"{saved['alias']} -> {saved['model']} (resolves to {saved['resolves_to'] or 'no known model'})")
    )
