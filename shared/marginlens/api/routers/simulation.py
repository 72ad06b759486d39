"""The simulator over HTTP: what usage would cost on another model, and cheaper models to switch to.

POST /v1/simulations and GET /v1/recommendations (scope read); both read aggregates only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from marginlens.api.problems import validation_problem
from marginlens.api.routers.reports import FromQuery, MonthQuery, ToQuery
from marginlens.api.schemas.models import QualityIndexName
from marginlens.api.schemas.simulation import RecommendationResponse, SimulationIn, SimulationResponse
from marginlens.core.bounds import NonNegativeAmount
from marginlens.core.money import margin_pct, money_str, pct_str
from marginlens.pricing.quality import DEFAULT_INDEX, QualityBook, published, resolver
from marginlens.reports.pnl import Period, PeriodError
from marginlens.simulation.simulator import (
    RecommendationSettings,
    Recommender,
    TargetModel,
    UsageGroup,
    group_rows,
    load_groups,
    simulate,
)
from marginlens.usecases.services import services

router = Router()


def _period(month: str | None, from_: str | None, to: str | None) -> Period:
    if month is None and from_ is None and to is None:
        month = datetime.now(UTC).strftime("%Y-%m")
    try:
        return Period.parse(month, from_, to)
    except PeriodError as error:
        raise validation_problem([{"pointer": error.pointer, "detail": error.detail}]) from error


def _narrow(groups: list[UsageGroup], feature: str | None, model_key: str | None) -> list[UsageGroup]:
    return [
        group
        for group in groups
        if (feature is None or group.feature == feature)
        and (model_key is None or group.model.lower() == model_key.lower())
    ]


@router.post("/v1/simulations", summary="Re-price a period's usage on another model", tags=["simulator"])
def post_simulation(request: Annotated[SimulationIn, Body()]) -> SimulationResponse:
    period = _period(request.month, request.from_, request.to)
    book = services().prices.book()
    target = TargetModel(book, request.to_model)
    if not target.known:
        raise validation_problem(
            [{"pointer": "/to_model", "detail": f"no model matches {request.to_model!r} in the price table"}]
        )
    from_key = TargetModel(book, request.from_model).key if request.from_model else None
    groups = _narrow(load_groups(services().ledger, period, request.customer_id), request.feature, from_key)
    result = simulate(groups, target)
    names = QualityBook(
        published(), (), resolver(book)
    )  # names only: users' scores carry none, no read needed
    return SimulationResponse.model_validate(
        {
            "period": period.as_dict(),
            "currency": "USD",
            "customer_id": request.customer_id,
            "to_model": {
                "requested": request.to_model,
                "id": target.key,
                "name": names.name(target.key)
                or (target.resolved.model.name if target.resolved else request.to_model),
                "price_source": target.price_source(datetime.combine(period.last, datetime.min.time(), UTC)),
            },
            **result,
        }
    )


@router.get(
    "/v1/recommendations",
    summary="Cheaper models per feature and model, ranked by quality per dollar",
    tags=["simulator"],
)
def get_recommendations(
    month: MonthQuery = None,
    from_: FromQuery = None,
    to: ToQuery = None,
    quality: Annotated[QualityIndexName, Query(description="The quality index to rank on")] = DEFAULT_INDEX,
    tolerance_pct: Annotated[
        Decimal | None,
        Query(ge=0, lt=100, description="How far below the current score a candidate may be, in %"),
    ] = None,
    min_cost: Annotated[
        NonNegativeAmount | None, Query(description="Leave out groups that cost less in the period")
    ] = None,
    customer_id: Annotated[str | None, Query(max_length=256, description="Only this customer")] = None,
    feature: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=50, description="Candidates per group")] = 5,
) -> RecommendationResponse:
    settings = services().settings
    period = _period(month, from_, to)
    book = services().prices.book()
    quality_book = services().quality.book(book)
    options = RecommendationSettings(
        index=quality,
        tolerance_pct=settings.recommend_tolerance_pct if tolerance_pct is None else tolerance_pct,
        min_cost=settings.recommend_min_cost if min_cost is None else min_cost,
        limit=limit,
    )
    customer: dict[str, Any] | None = None
    margin = revenue = None
    if customer_id is None:
        groups = load_groups(services().ledger, period)
    else:
        detail = services().pnl.detail_rows(customer_id, period)  # read once: groups and P&L
        groups = group_rows(detail)
        row = services().pnl.customer(customer_id, period, detail)
        margin, revenue = Decimal(row["margin"]), Decimal(row["revenue"])
        customer = {
            key: row[key]
            for key in ("customer_id", "name", "revenue", "cost", "margin", "margin_pct", "action")
        }
    groups = _narrow(groups, feature, None)
    recommender = Recommender(book, quality_book, options)
    rows, below = recommender.recommend(groups, margin, revenue)
    if customer is not None and margin is not None:
        best = sum(
            (Decimal(group["candidates"][0]["savings"]) for group in rows if group["candidates"]), Decimal(0)
        )
        customer |= {
            "best_savings": money_str(best),
            "margin_after_best": money_str(margin + best),
            "margin_pct_after_best": pct_str(margin_pct(margin + best, revenue))
            if revenue is not None
            else None,
        }
    return RecommendationResponse.model_validate(
        {
            "period": period.as_dict(),
            "currency": "USD",
            "quality_index": quality_book.indexes[quality].as_dict(),
            "tolerance_pct": format(options.tolerance_pct, "f"),
            "min_cost": money_str(options.min_cost),
            "customer": customer,
            "groups": rows,
            "below_min_cost": below,
        }
    )
