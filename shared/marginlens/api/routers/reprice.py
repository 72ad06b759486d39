"""POST /v1/reprice: recompute event costs in a range with today's price table, exactly once."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from marginlens.api.problems import PROBLEM_CONTENT_TYPE, PROBLEM_SCHEMA, validation_problem
from marginlens.api.schemas.common import Day, Money
from marginlens.core.observability import logger
from marginlens.reports.pnl import MAX_RANGE_DAYS, Period, PeriodError
from marginlens.usage.reprice import reprice
from marginlens.usecases.services import services

router = Router()

# API Gateway answers 504 after 29 s: stop starting new pages well before, and say where to resume.
TIME_BUDGET_S = 20.0


class RepriceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: Day = Field(alias="from", description="First day, YYYY-MM-DD (inclusive, UTC)")
    to: Day = Field(description=f"Last day, YYYY-MM-DD (inclusive, UTC); at most {MAX_RANGE_DAYS} days")
    only_unpriced: StrictBool = Field(False, description="Only events stored as unpriced")


class RepricePeriod(BaseModel):
    from_: str = Field(alias="from")
    to: str


class RepriceOut(BaseModel):
    period: RepricePeriod
    only_unpriced: bool
    price_table: str = Field(description="Version of the upstream price snapshot used")
    repriced_at: str
    events_examined: int = Field(description="Events in the range (unpriced ones only, if asked)")
    events_changed: int = Field(description="Events whose cost, price status or model this run changed")
    old_cost: Money = Field(description="Cost of the changed events before (unpriced counts as zero)")
    new_cost: Money = Field(description="Cost of the changed events after")
    cost_delta: Money = Field(description="new_cost - old_cost: what moved into the aggregates")
    unpriced_before: int
    unpriced_after: int
    complete: bool = Field(description="False if the time limit stopped it: run again from next_from")
    next_from: str | None = Field(description="Where to resume (YYYY-MM-DD) when not complete")


@router.post(
    "/v1/reprice",
    summary="Recompute event costs and their aggregates with today's price table",
    description=(
        "Reprices the events of a period (or only the unpriced ones) with the current price table, "
        "overrides and aliases, and moves each difference into the P&L aggregates exactly once. "
        "Idempotent: a second run, or two at the same time, change each event once. A run stops "
        "starting new work after about 20 seconds: `complete` is then false and `next_from` says "
        "where to run it again."
    ),
    tags=["prices"],
    responses={
        200: {
            "description": "What the reprice changed",
            "content": {"application/json": {"model": RepriceOut}},
        },
        422: {
            "description": "Invalid period; problem+json with JSON pointers",
            "content": {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_SCHEMA}},
        },
    },
)
def post_reprice(request: Annotated[RepriceIn, Body()]) -> RepriceOut:
    deadline = time.monotonic() + TIME_BUDGET_S
    try:
        period = Period.parse(None, request.from_, request.to)
    except PeriodError as error:
        raise validation_problem([{"pointer": error.pointer, "detail": error.detail}]) from error
    state = services()
    state.prices.invalidate()  # today's table, not this process's cached copy
    report = reprice(
        state.client,
        state.settings.table_name,
        state.prices.book(),
        first_day=period.first,
        last_day=period.last,
        only_unpriced=request.only_unpriced,
        now=datetime.now(UTC),
        deadline=deadline,
    )
    body = report.as_dict()
    logger.info("reprice done", **{key: value for key, value in body.items() if key != "period"})
    return RepriceOut.model_validate(body)
