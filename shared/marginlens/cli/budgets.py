"""`marginlens budgets ...` and `marginlens alerts`: budgets and their alerts (over the HTTP API).

`budgets apply` reads a YAML budget file; its amounts stay the file's exact text, never a float.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from marginlens.cli.common import NONE, JsonFlag, fail, print_table, request, stderr, stdout

STATE_STYLES = {"ok": "green", "warning": "yellow", "critical": "bold red", "exceeded": "bold red"}
PERIOD_LIMIT_KEYS = {"monthly_limit": "monthly", "daily_limit": "daily"}
SCOPE_KEYS = ("organization", "feature", "customer")
ALERT_COLUMNS = ("budget_id", "threshold", "value", "spent", "limit")

budgets_app = typer.Typer(
    help="Cost budgets: set, list, delete, apply a file, evaluate.", no_args_is_help=True
)
alerts_app = typer.Typer(help="Alerts that fired: budgets and operational alerts.")


def register(app: typer.Typer) -> None:
    """Add `budgets` and `alerts` to the `marginlens` app."""
    app.add_typer(budgets_app, name="budgets")
    app.add_typer(alerts_app, name="alerts")


# --- the budget file ----------------------------------------------------------------------------


class BudgetFileError(ValueError):
    pass


def _exact_loader() -> type:
    """A safe YAML loader that keeps every non-integer number as its text (`600.00`), never a float."""
    import yaml

    class ExactLoader(yaml.SafeLoader):
        pass

    ExactLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return ExactLoader


def load_yaml_exact(text: str) -> Any:
    import yaml

    return yaml.load(text, Loader=_exact_loader())  # noqa: S506 - a SafeLoader subclass


def budget_id_for(scope: str, target: str | None, period: str) -> str:
    """`feature-image_generation-monthly`, `organization-monthly` (unsafe characters become `-`)."""
    parts = [scope, *([target] if target is not None else []), period]
    return re.sub(r"[^A-Za-z0-9_.:-]", "-", "-".join(parts))[:128]


def _text(value: Any, where: str) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise BudgetFileError(f"{where}: expected a number, got {value!r}")
    return str(value).strip()


def budget_from_entry(entry: Any, where: str) -> tuple[str, dict[str, Any], list[str]]:
    """One `budget:` mapping -> (id, PUT body, notes). Amounts stay the file's exact text."""
    if not isinstance(entry, dict):
        raise BudgetFileError(f"{where}: expected a mapping, got {type(entry).__name__}")
    scopes = [key for key in SCOPE_KEYS if key in entry]
    if len(scopes) != 1:
        raise BudgetFileError(f"{where}: name exactly one of feature, customer or organization")
    scope = scopes[0]
    target: str | None = None
    if scope != "organization":
        target = str(entry[scope])
    limits = [key for key in PERIOD_LIMIT_KEYS if key in entry]
    if len(limits) != 1:
        raise BudgetFileError(f"{where}: give exactly one of monthly_limit or daily_limit")
    period = PERIOD_LIMIT_KEYS[limits[0]]
    body: dict[str, Any] = {
        "scope": scope,
        "target": target,
        "period": period,
        "limit": _text(entry[limits[0]], f"{where}.{limits[0]}"),
    }
    for key, field in (
        ("warning_threshold_percent", "warning_pct"),
        ("critical_threshold_percent", "critical_pct"),
    ):
        if key in entry:
            body[field] = _text(entry[key], f"{where}.{key}")
    body = {name: value for name, value in body.items() if value is not None}
    known = {*SCOPE_KEYS, *PERIOD_LIMIT_KEYS, "id", "warning_threshold_percent", "critical_threshold_percent"}
    notes = []
    if "notify_email" in entry:
        notes.append(
            f"{where}: notify_email {entry['notify_email']} is not stored with the budget: "
            "subscribe it to the alerts topic (AlertsTopic) of your deployment"
        )
    unknown = sorted(str(key) for key in entry if key not in known and key != "notify_email")
    if unknown:
        raise BudgetFileError(f"{where}: unknown keys {', '.join(unknown)}")
    budget_id = str(entry["id"]) if "id" in entry else budget_id_for(scope, target, period)
    return budget_id, body, notes


def parse_budget_file(text: str) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """`budget: {...}` or `budgets: [{...}, ...]` -> [(id, PUT body)], notes."""
    document = load_yaml_exact(text)
    if not isinstance(document, dict) or not ({"budget", "budgets"} & set(document)):
        raise BudgetFileError("expected a `budget:` mapping or a `budgets:` list at the top level")
    entries: list[tuple[str, Any]] = []
    if "budget" in document:
        entries.append(("budget", document["budget"]))
    if "budgets" in document:
        listed = document["budgets"]
        if not isinstance(listed, list):
            raise BudgetFileError("budgets: expected a list")
        entries.extend((f"budgets[{index}]", entry) for index, entry in enumerate(listed))
    found, notes = [], []
    for where, entry in entries:
        budget_id, body, entry_notes = budget_from_entry(entry, where)
        found.append((budget_id, body))
        notes.extend(entry_notes)
    return found, notes


# --- commands -----------------------------------------------------------------------------------


def _saved_line(body: dict[str, Any]) -> Text:
    target = f" {body['target']}" if body.get("target") else ""
    return Text(
        f"Budget {body['id']} ({body['scope']}{target}, {body['period']}): limit {body['limit']}, "
        f"warning {body['warning_pct']}%, critical {body['critical_pct']}%; "
        f"spent {body['spent']} ({body['pct']}%), {body['state']}"
    )


@budgets_app.command("set")
def budgets_set(
    ctx: typer.Context,
    budget_id: Annotated[str, typer.Argument(help="The budget's id, e.g. feature-image_generation-monthly")],
    scope: Annotated[str, typer.Option("--scope", help="organization, feature or customer")],
    limit: Annotated[str, typer.Option("--limit", help="The period's cost limit, e.g. 600.00")],
    target: Annotated[
        str | None, typer.Option("--target", help="The feature or customer (not for organization)")
    ] = None,
    period: Annotated[str, typer.Option("--period", help="monthly or daily")] = "monthly",
    warning: Annotated[str, typer.Option("--warning", help="Warning threshold, % of the limit")] = "75",
    critical: Annotated[str, typer.Option("--critical", help="Critical threshold, % of the limit")] = "90",
    as_json: JsonFlag = False,
) -> None:
    """Create or replace a budget."""
    body = {
        "scope": scope,
        "target": target,
        "period": period,
        "limit": limit,
        "warning_pct": warning,
        "critical_pct": critical,
    }
    answer = request(ctx, "PUT", "/v1/budgets/{}", budget_id, json=body, as_json=as_json)
    stdout().print(_saved_line(answer))


@budgets_app.command("list")
def budgets_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Budgets with their current spend, % of the limit and state."""
    answer = request(ctx, "GET", "/v1/budgets", as_json=as_json)
    rows = answer.get("data", [])
    table = Table(title=f"Budgets ({len(rows)})")
    for column in ("id", "scope", "target", "period", "limit", "spent", "pct", "state"):
        table.add_column(
            column, no_wrap=True, justify="right" if column in ("limit", "spent", "pct") else "left"
        )
    for row in rows:
        table.add_row(
            str(row["id"]),
            str(row["scope"]),
            str(row.get("target") or NONE),
            str(row["period"]),
            str(row["limit"]),
            str(row["spent"]),
            str(row["pct"]),
            Text(str(row["state"]), style=STATE_STYLES.get(str(row["state"]), "")),
        )
    print_table(stdout(), table)


@budgets_app.command("delete")
def budgets_delete(
    ctx: typer.Context,
    budget_id: Annotated[str, typer.Argument(help="The budget's id, from `budgets list`.")],
) -> None:
    """Delete a budget."""
    request(ctx, "DELETE", "/v1/budgets/{}", budget_id)
    stdout().print(Text(f"Deleted budget {budget_id}"))


@budgets_app.command("apply")
def budgets_apply(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A YAML file: `budget: {feature: ..., monthly_limit: ...}`")],
) -> None:
    """Create or replace the budgets a YAML file describes (`budget:` or a list under `budgets:`)."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        fail(f"Could not read {file}: {error.strerror or error}")
    try:
        found, notes = parse_budget_file(text)
    except BudgetFileError as error:
        fail(f"{file}: {error}")
    except Exception as error:  # a YAML syntax error
        fail(f"{file} is not valid YAML: {error}")
    for budget_id, body in found:
        stdout().print(_saved_line(request(ctx, "PUT", "/v1/budgets/{}", budget_id, json=body)))
    for note in notes:
        stderr().print(Text(note, style="yellow"))


@budgets_app.command("evaluate")
def budgets_evaluate(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Evaluate every budget now and send the alerts due (what the schedule runs)."""
    body = request(ctx, "POST", "/v1/budgets/evaluate", json={}, as_json=as_json)
    out = stdout()
    out.print(
        Text(
            f"Evaluated {body['evaluated']} budgets: {body['sent']} alerts sent, "
            f"{body['already_sent']} already sent, {body['failures']} failed"
        )
    )
    for alert in body.get("alerts", []):
        out.print(Text(f"  {alert['kind']}: {alert['subject']}"))
    for failure in body.get("errors", []):
        out.print(Text(f"  failed {failure['kind']} {failure['budget_id']}: {failure['error']}", style="red"))
    if body["failures"]:
        raise typer.Exit(1)


@alerts_app.callback(invoke_without_command=True)
def alerts_list(
    ctx: typer.Context,
    month: Annotated[
        str | None, typer.Option("--month", help="YYYY-MM (UTC); default: the current month")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Budget alerts sent in a month."""
    params = {"month": month} if month else {}
    body = request(ctx, "GET", "/v1/alerts", params=params, as_json=as_json)
    rows = body.get("data", [])
    table = Table(title=f"Alerts {body.get('month')} ({len(rows)})")
    for column in ("time", "kind", "budget", "threshold", "pct", "spent", "limit", "subject"):
        table.add_column(column, no_wrap=column != "subject")
    for row in rows:
        table.add_row(
            str(row["time"]),
            Text(str(row["kind"]), style=STATE_STYLES.get(str(row["threshold"]), "")),
            # Operational alerts have no budget, threshold or amounts.
            *(NONE if row[name] is None else str(row[name]) for name in ALERT_COLUMNS),
            str(row["subject"]),
        )
    print_table(stdout(), table)
