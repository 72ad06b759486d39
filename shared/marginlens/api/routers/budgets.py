"""Budgets over HTTP: create/replace, list with their current spend, delete, the blocklist, alerts.

POST /v1/budgets/evaluate is served by the check_budgets function (see routers/budget_evaluation.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from marginlens.alerts.operations import ops_alerts_history
from marginlens.api.problems import Problem, validation_problem
from marginlens.api.schemas.common import Money
from marginlens.budgets.budgets import Budget, BudgetStore, alerts, blocklist, spent, status
from marginlens.core.bounds import Percent, PositiveAmount, year_error
from marginlens.core.identifiers import NO_CONTROL
from marginlens.core.money import money_str, pct_str
from marginlens.usage.events import pointer_for
from marginlens.usecases.services import services

router = Router()

BUDGET_ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["organization", "feature", "customer"]
    target: Annotated[str, NO_CONTROL] | None = Field(
        None,
        min_length=1,
        max_length=256,
        pattern=r"^[^#\x00-\x1f]+$",
        description="The feature or customer id; absent for an organization budget",
    )
    period: Literal["monthly", "daily"] = "monthly"
    limit: PositiveAmount = Field(description='The period\'s cost limit, a decimal string, e.g. "600.00"')
    warning_pct: Percent = Field(Decimal(75), description="Warning threshold, % of the limit")
    critical_pct: Percent = Field(Decimal(90), description="Critical threshold, % of the limit")


class BudgetOut(BaseModel):
    id: str
    scope: Literal["organization", "feature", "customer"]
    target: str | None
    period: Literal["monthly", "daily"]
    limit: Money
    warning_pct: str
    critical_pct: str
    current_period: str = Field(description="`2026-11` (monthly) or `2026-11-27` (daily), UTC")
    spent: Money
    pct: str = Field(description="spent / limit in percent, 2 places")
    state: Literal["ok", "warning", "critical", "exceeded"]
    created_at: str | None
    updated_at: str | None


class BudgetList(BaseModel):
    data: list[BudgetOut]


class BudgetDeleted(BaseModel):
    id: str
    deleted: bool


class BlockedOut(BaseModel):
    organization: bool
    features: list[str]
    customers: list[str]


class BlocklistOut(BaseModel):
    version: int = Field(description="Grows by one each time the blocked set changes")
    ttl_seconds: int
    blocked: BlockedOut


class AlertOut(BaseModel):
    kind: str
    subject: str
    budget_id: str | None = Field(description="null for operational alerts (cost spikes, unpriced, ...)")
    threshold: str | None
    value: str | None = Field(description="spent / limit in percent when a budget alert fired")
    spent: Money | None
    limit: Money | None
    period: str
    time: str
    detail: dict[str, Any]


class AlertList(BaseModel):
    month: str
    data: list[AlertOut]


def budget_store() -> BudgetStore:
    state = services()
    return BudgetStore(state.client, state.settings.table_name)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def describe(budget: Budget, now: datetime) -> dict[str, Any]:
    """The budget and its current period's spend, pct and state (amounts as strings)."""
    current = status(budget, spent(services().ledger, budget, now))
    return {
        "id": budget.id,
        "scope": budget.scope,
        "target": budget.target,
        "period": budget.period,
        "limit": money_str(budget.limit),
        "warning_pct": pct_str(budget.warning_pct),
        "critical_pct": pct_str(budget.critical_pct),
        "current_period": budget.period_key(now),
        "spent": money_str(current.spent),
        "pct": pct_str(current.pct),
        "state": current.state,
        "created_at": _iso(budget.created_at),
        "updated_at": _iso(budget.updated_at),
    }


def _budget_errors(error: ValidationError) -> list[dict[str, str]]:
    found = []
    for item in error.errors():
        location = tuple(item.get("loc", ()))
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        if not location and "target" in message:
            location = ("target",)
        elif not location and "warning_pct" in message:
            location = ("warning_pct",)
        found.append({"pointer": pointer_for(location), "detail": message})
    return found


@router.get("/v1/budgets", summary="Budgets with their current spend, % and state", tags=["budgets"])
def list_budgets() -> BudgetList:
    now = datetime.now(UTC)
    rows = sorted(budget_store().list(), key=lambda budget: budget.id)
    return BudgetList.model_validate({"data": [describe(budget, now) for budget in rows]})


@router.put("/v1/budgets/<budget_id>", summary="Create or replace a budget", tags=["budgets"])
def put_budget(
    budget_id: Annotated[str, Path(min_length=1, max_length=128, pattern=BUDGET_ID_PATTERN)],
    request: Annotated[BudgetIn, Body()],
) -> BudgetOut:
    try:
        budget = Budget(id=budget_id, **request.model_dump())
    except ValidationError as error:
        raise validation_problem(_budget_errors(error)) from None
    saved = budget_store().put(budget)
    return BudgetOut.model_validate(describe(saved, datetime.now(UTC)))


@router.delete("/v1/budgets/<budget_id>", summary="Delete a budget", tags=["budgets"])
def delete_budget(budget_id: Annotated[str, Path(min_length=1, max_length=128)]) -> BudgetDeleted:
    if not budget_store().delete(budget_id):
        raise Problem(404, f"No budget '{budget_id}'.")
    return BudgetDeleted(id=budget_id, deleted=True)


@router.get(
    "/v1/budgets/blocklist",
    summary="What is over its limit now, for SDKs to refuse calls before they are made",
    tags=["budgets"],
)
def get_blocklist() -> BlocklistOut:
    state = services()
    found = blocklist(BudgetStore(state.client, state.settings.table_name), state.ledger, datetime.now(UTC))
    return BlocklistOut.model_validate(found)


@router.get("/v1/alerts", summary="Budget alerts sent in a month", tags=["budgets"])
def list_alerts(
    month: Annotated[
        str | None, Query(pattern=MONTH_PATTERN, description="YYYY-MM (UTC); default: the current month")
    ] = None,
) -> AlertList:
    chosen = month or datetime.now(UTC).strftime("%Y-%m")
    if (bad_year := year_error(int(chosen[:4]))) is not None:
        raise validation_problem([{"pointer": "/month", "detail": bad_year}])
    state = services()
    rows = [
        {
            "kind": row["kind"],
            "subject": row["subject"],
            "budget_id": row["budget_id"],
            "threshold": row["threshold"],
            "value": str(row["value"]),
            "spent": str(row["spent"]),
            "limit": str(row["limit"]),
            "period": row["period"],
            "time": row["time"],
            "detail": row.get("detail") or {},
        }
        for row in alerts(state.client, state.settings.table_name, chosen)
    ]
    operations = [
        {
            "kind": row["kind"],
            "subject": row["subject"],
            "budget_id": None,
            "threshold": None,
            "value": None,
            "spent": None,
            "limit": None,
            "period": row["period"],
            "time": row["time"],
            "detail": row.get("detail") or {},
        }
        for row in ops_alerts_history(state.client, state.settings.table_name, chosen)
    ]
    ordered = sorted(rows + operations, key=lambda alert: alert["time"])
    return AlertList.model_validate({"month": chosen, "data": ordered})
