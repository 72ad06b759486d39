"""`marginlens simulate`, `marginlens recommend` and `marginlens quality ...` (over the HTTP API).

`simulate` re-prices a period's usage on another model (POST /v1/simulations), `recommend` ranks
cheaper models by quality per dollar (GET /v1/recommendations), `quality` shows, sets and removes
a model's quality scores (/v1/models/{model}/quality). Amounts are printed exactly as the API sends
them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from marginlens.cli.common import (
    NONE,
    JsonFlag,
    check_period,
    money_cell,
    pct_cell,
    print_table,
    request,
    stdout,
)
from marginlens.cli.prices import fetch_model

MonthOption = Annotated[
    str | None, typer.Option("--month", help="UTC calendar month, YYYY-MM (default: this month).")
]
FromDayOption = Annotated[
    str | None, typer.Option("--from-day", help="Or a range: first day, YYYY-MM-DD (inclusive, UTC).")
]
ToDayOption = Annotated[
    str | None, typer.Option("--to-day", help="Last day of the range, YYYY-MM-DD (inclusive, UTC).")
]
FeatureOption = Annotated[str | None, typer.Option("--feature", help="Only this feature.")]
CustomerOption = Annotated[str | None, typer.Option("--customer", help="Only this customer's usage.")]

quality_app = typer.Typer(help="Model quality scores: show, set, unset.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `simulate`, `recommend` and `quality` to the `marginlens` app."""
    app.command("simulate")(simulate)
    app.command("recommend")(recommend)
    app.add_typer(quality_app, name="quality")


def period_params(month: str | None, from_day: str | None, to_day: str | None) -> dict[str, str]:
    """`{"month": ...}` or `{"from": ..., "to": ...}`; this UTC month when neither is given."""
    check_period(month, from_day, to_day, options=("--from-day", "--to-day"))
    if from_day is not None and to_day is not None:
        return {"from": from_day, "to": to_day}
    return {"month": month or datetime.now(UTC).strftime("%Y-%m")}


def _period(body: dict[str, Any]) -> str:
    period = body.get("period") or {}
    return f"{period.get('from')} to {period.get('to')}"


def _score(quality: dict[str, Any] | None) -> str:
    """`1285 on arena_text (LMArena text, 2025-06-01)`, or `-` for no score."""
    if not quality:
        return NONE
    origin = ", set by you" if quality.get("origin") == "user" else ""
    return (
        f"{quality.get('score')} on {quality.get('index')} "
        f"({quality.get('source')}, {quality.get('date')}{origin})"
    )


# --- simulate -----------------------------------------------------------------------------------


def simulation_table(body: dict[str, Any]) -> Table:
    """One row per feature and current model, then the totals (amounts exactly as sent)."""
    target = body.get("to_model") or {}
    name = f" ({target.get('name')})" if target.get("name") and target.get("name") != target.get("id") else ""
    table = Table(title=f"Simulation {_period(body)}: usage re-priced on {target.get('id')}{name}")
    table.add_column("feature", no_wrap=True)
    table.add_column("current model", no_wrap=True)
    for column in ("events", "cost", "simulated cost", "savings", "savings %"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in body.get("rows") or []:
        table.add_row(
            str(row.get("feature")),
            str(row.get("current_model")),
            str(row.get("events", "")),
            money_cell(row.get("cost")),
            money_cell(row.get("simulated_cost")),
            money_cell(row.get("savings")),
            pct_cell(row.get("savings_pct")),
        )
    totals = body.get("totals") or {}
    table.add_section()
    table.add_row(
        Text("total", style="bold"),
        Text(""),
        Text(str(totals.get("events", ""))),
        money_cell(totals.get("cost")),
        money_cell(totals.get("simulated_cost")),
        money_cell(totals.get("savings")),
        pct_cell(totals.get("savings_pct")),
        style="bold",
    )
    return table


def simulation_notes(body: dict[str, Any]) -> list[str]:
    """What the table cannot show: each row's notes, and which rows the totals leave out."""
    rows = body.get("rows") or []
    lines = [
        f"{row.get('feature')} on {row.get('current_model')}: {note}"
        for row in rows
        for note in row.get("notes") or []
    ]
    totals = body.get("totals") or {}
    compared = totals.get("rows_compared", len(rows))
    if rows and compared != len(rows):
        lines.append(
            f"The totals cover {compared} of {len(rows)} rows, those with a savings figure "
            "(the cost of the others is incomplete or cannot be simulated)."
        )
    return lines


def simulate(
    ctx: typer.Context,
    to_model: Annotated[
        str, typer.Option("--to", help="The model to re-price the usage on, e.g. gpt-4o-mini.")
    ],
    month: MonthOption = None,
    from_day: FromDayOption = None,
    to_day: ToDayOption = None,
    feature: FeatureOption = None,
    from_model: Annotated[
        str | None, typer.Option("--from-model", help="Only usage on this model, e.g. gpt-4o.")
    ] = None,
    customer: CustomerOption = None,
    as_json: JsonFlag = False,
) -> None:
    """What a period's usage would have cost on another model, per feature and current model.

    Re-priced from the daily aggregates with the target's prices in force each day.
    """
    body: dict[str, Any] = {
        **period_params(month, from_day, to_day),
        "to_model": to_model,
        "feature": feature,
        "from_model": from_model,
        "customer_id": customer,
    }
    report = request(ctx, "POST", "/v1/simulations", json=body, as_json=as_json)
    out = stdout()
    if not report.get("rows"):
        out.print(Text(f"No usage recorded from {_period(report)} for these filters."))
    print_table(out, simulation_table(report))
    target = report.get("to_model") or {}
    out.print(Text(f"{target.get('id')} prices: {target.get('price_source')} ({report.get('currency')})"))
    for line in simulation_notes(report):
        out.print(Text(line, style="yellow"))


# --- recommend ----------------------------------------------------------------------------------


def customer_lines(customer: dict[str, Any], currency: str) -> list[str]:
    name = f" ({customer.get('name')})" if customer.get("name") else ""
    pct_before = customer.get("margin_pct")
    pct_after = customer.get("margin_pct_after_best")
    return [
        f"Customer {customer.get('customer_id')}{name}: revenue {customer.get('revenue')}, "
        f"cost {customer.get('cost')}, margin {customer.get('margin')} "
        f"({'n/a' if pct_before is None else pct_before + '%'}) {currency}",
        f"margin with the best swap in every group: {customer.get('margin_after_best')} "
        f"({'n/a' if pct_after is None else pct_after + '%'}), "
        f"saving {customer.get('best_savings')} {currency}",
    ]


def group_heading(group: dict[str, Any]) -> Text:
    current = group.get("current_quality")
    return Text.assemble(
        (f"{group.get('feature')} on {group.get('current_model')}", "bold"),
        f": cost {group.get('cost')}, {group.get('events')} events; "
        + (f"current score {_score(current)}" if current else "no current score"),
    )


def group_status(group: dict[str, Any], body: dict[str, Any]) -> Text | None:
    """Why a group has no ranking (None when it has one)."""
    status = group.get("status")
    index = (body.get("quality_index") or {}).get("id", "")
    model = group.get("current_model")
    if status == "current_unscored":
        return Text(
            f"  Not ranked: {model} has no score on {index}. Set one with "
            f"`marginlens quality set {model} --index {index} --score N` to rank cheaper models.",
            style="yellow",
        )
    if status == "cost_incomplete":
        return Text(
            f"  Not ranked: {group.get('unpriced_events')} of its events are unpriced, so its cost is "
            "incomplete. Set the missing prices and reprice first (`marginlens reprice --only-unpriced`).",
            style="yellow",
        )
    if status == "no_cheaper_candidate":
        return Text(
            f"  No cheaper model scores at least {group.get('min_quality')} on {index} "
            f"(the current score less {body.get('tolerance_pct')}%).",
        )
    return None


def candidates_table(group: dict[str, Any], index_source: str | None, with_margin: bool) -> Table:
    """Ranked candidates; a score from the index's own snapshot (named above the table) shows its
    source as `index snapshot`, any other source by name."""
    table = Table(title=f"Cheaper models scoring at least {group.get('min_quality')}", title_justify="left")
    table.add_column("rank", justify="right", no_wrap=True)
    table.add_column("model", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("vs now %", justify="right", no_wrap=True)
    table.add_column("source date", no_wrap=True)
    table.add_column("source")
    for column in ("quality/$", "simulated cost", "savings", "savings %"):
        table.add_column(column, justify="right", no_wrap=True)
    if with_margin:
        table.add_column("margin after", justify="right", no_wrap=True)
        table.add_column("margin % after", justify="right", no_wrap=True)
    for candidate in group.get("candidates") or []:
        quality = candidate.get("quality") or {}
        source = str(quality.get("source") or NONE)
        if quality.get("origin") == "user":
            source += " (set by you)"
        elif source == index_source:
            source = "index snapshot"
        cells: list[str | Text] = [
            str(candidate.get("rank")),
            str(candidate.get("model")),
            str(quality.get("score") or NONE),
            pct_cell(candidate.get("quality_change_pct")),
            str(quality.get("date") or NONE),
            source,
            str(candidate.get("quality_per_dollar") or NONE),
            money_cell(candidate.get("simulated_cost")),
            money_cell(candidate.get("savings")),
            pct_cell(candidate.get("savings_pct")),
        ]
        if with_margin:
            cells += [money_cell(candidate.get("margin_after")), pct_cell(candidate.get("margin_pct_after"))]
        table.add_row(*cells)
    return table


def unscored_lines(group: dict[str, Any], index: str) -> list[str]:
    unscored = group.get("unscored") or []
    if not unscored:
        return []
    lines = [f"  Not ranked: no score on {index}:"]
    lines += [
        f"    {candidate.get('model')}: simulated cost {candidate.get('simulated_cost')}, "
        f"savings {candidate.get('savings')} ({candidate.get('savings_pct') or 'n/a'}%)"
        for candidate in unscored
    ]
    if group.get("more_unscored"):
        lines.append(f"    and {group['more_unscored']} more")
    return lines


def recommend(
    ctx: typer.Context,
    month: MonthOption = None,
    from_day: FromDayOption = None,
    to_day: ToDayOption = None,
    quality: Annotated[
        str,
        typer.Option(
            "--quality", help="Index to rank on: arena_text, aa_intelligence, aider_polyglot, arena_code."
        ),
    ] = "arena_text",
    tolerance: Annotated[
        str | None,
        typer.Option(
            "--tolerance", help="How far below the current score a candidate may be, in % (default 3)."
        ),
    ] = None,
    min_cost: Annotated[
        str | None,
        typer.Option("--min-cost", help="Leave out groups costing less in the period (default 1.00)."),
    ] = None,
    customer: Annotated[
        str | None,
        typer.Option("--customer", help="Only this customer; shows its margin after the swap."),
    ] = None,
    feature: FeatureOption = None,
    limit: Annotated[int, typer.Option("--limit", help="Candidates per group (1-50).")] = 5,
    as_json: JsonFlag = False,
) -> None:
    """Cheaper models per feature and current model, ranked by quality per dollar.

    Candidates score within the tolerance of the current model on the chosen index; models
    with no score there are listed apart, never ranked.
    """
    params: dict[str, Any] = {
        **period_params(month, from_day, to_day),
        "quality": quality,
        "tolerance_pct": tolerance,
        "min_cost": min_cost,
        "customer_id": customer,
        "feature": feature,
        "limit": limit,
    }
    report = request(ctx, "GET", "/v1/recommendations", params=params, as_json=as_json)
    out = stdout()
    index = report.get("quality_index") or {}
    currency = report.get("currency", "USD")
    out.print(
        Text(
            f"Recommendations {_period(report)} ({currency}), ranked by {index.get('name')} per dollar; "
            f"scores from {index.get('source')} ({index.get('date')}), "
            f"tolerance {report.get('tolerance_pct')}%"
        )
    )
    if report.get("customer"):
        for line in customer_lines(report["customer"], currency):
            out.print(Text(line, style="bold"))
    groups = report.get("groups") or []
    if not groups:
        out.print(
            Text(f"No feature and model cost at least {report.get('min_cost')} from {_period(report)}.")
        )
    for group in groups:
        out.print()
        out.print(group_heading(group))
        reason = group_status(group, report)
        if reason is not None:
            out.print(reason)
        if group.get("candidates"):
            print_table(
                out,
                candidates_table(group, index.get("source"), with_margin=report.get("customer") is not None),
            )
            if group.get("more_candidates"):
                out.print(Text(f"  and {group['more_candidates']} more ranked candidates (--limit)"))
        for line in unscored_lines(group, str(index.get("id", quality))):
            out.print(Text(line))
    below = report.get("below_min_cost") or 0
    if below:
        out.print()
        out.print(
            Text(
                f"Left out: {below} feature/model group(s) costing less than {report.get('min_cost')} "
                "in the period (see --min-cost)."
            )
        )


# --- quality ------------------------------------------------------------------------------------


def quality_table(model: str, resolved: str, scores: list[dict[str, Any]]) -> Table:
    title = model if model == resolved else f"{model} -> {resolved}"
    table = Table(title=f"Quality scores of {title}")
    table.add_column("index", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("source")
    table.add_column("date", no_wrap=True)
    table.add_column("origin", no_wrap=True)
    for score in scores:
        table.add_row(
            str(score.get("index")),
            str(score.get("score")),
            str(score.get("source")),
            str(score.get("date")),
            Text(str(score.get("origin")), style="cyan" if score.get("origin") == "user" else ""),
        )
    return table


@quality_app.command("show")
def quality_show(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="Any name an event may carry, e.g. gpt-4o-mini.")],
    as_json: JsonFlag = False,
) -> None:
    """MODEL's quality scores, each with its source and date (a missing index is unscored)."""
    body = fetch_model(ctx, model, as_json)
    scores = body.get("quality") or []
    out = stdout()
    if not scores:
        out.print(
            Text(
                f"{body.get('id')} has no quality score; "
                f"set one with `marginlens quality set {model} --score N`."
            )
        )
        return
    print_table(out, quality_table(model, str(body.get("id")), scores))
    for score in scores:
        if score.get("source_url"):
            out.print(Text(f"{score.get('index')}: {score.get('source_url')}"))


@quality_app.command("set")
def quality_set(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="A model MarginLens prices (or a custom model you added).")],
    score: Annotated[str, typer.Option("--score", help="On the index's scale, e.g. 1290 (Elo) or 55.3.")],
    index: Annotated[
        str,
        typer.Option("--index", help="arena_text, aa_intelligence, aider_polyglot or arena_code."),
    ] = "arena_text",
    source: Annotated[
        str | None, typer.Option("--source", help="Where it comes from, e.g. our eval.")
    ] = None,
    source_url: Annotated[str | None, typer.Option("--source-url", help="A link to the source.")] = None,
    on: Annotated[
        str | None, typer.Option("--date", help="When it was measured, YYYY-MM-DD (default: today).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Set MODEL's score on an index (needs an admin key); it wins over the published one."""
    body = {"index": index, "score": score, "source": source, "source_url": source_url, "date": on}
    saved = request(ctx, "PUT", "/v1/models/{}/quality", model, json=body, as_json=as_json)
    current = next((row for row in saved.get("quality") or [] if row.get("index") == index), None)
    stdout().print(Text(f"{saved.get('model')}: {_score(current)}"))


@quality_app.command("unset")
def quality_unset(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The model whose score you set.")],
    index: Annotated[
        str, typer.Option("--index", help="arena_text, aa_intelligence, aider_polyglot or arena_code.")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Remove your score on an index (needs an admin key): the published one, if any, applies again."""
    saved = request(ctx, "DELETE", "/v1/models/{}/quality/{}", model, index, as_json=as_json)
    current = next((row for row in saved.get("quality") or [] if row.get("index") == index), None)
    now = f"now {_score(current)}" if current else f"now unscored on {index}"
    stdout().print(Text(f"Removed your {index} score of {saved.get('model')}; {now}."))
