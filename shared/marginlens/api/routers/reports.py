"""Reads: a stored event, the P&L, one customer's P&L. Aggregates only, never event scans."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from marginlens.api.problems import Problem, validation_problem
from marginlens.api.schemas.reports import CustomerPnlResponse, PnlResponse, StoredEvent
from marginlens.core.money import money_str
from marginlens.reports.pnl import Period, PeriodError
from marginlens.usecases.services import services

router = Router()

MonthQuery = Annotated[str | None, Query(description="UTC calendar month, YYYY-MM", pattern=r"^\d{4}-\d{2}$")]
FromQuery = Annotated[str | None, Query(alias="from", description="First day, YYYY-MM-DD (inclusive, UTC)")]
ToQuery = Annotated[str | None, Query(description="Last day, YYYY-MM-DD (inclusive, UTC)")]
ConsistentQuery = Annotated[
    bool,
    Query(
        description="Wait (a few seconds at most) until the aggregates include every usage event "
        "stored before this request; `aggregates` says whether they caught up"
    ),
]


def _freshness(consistent: bool) -> dict[str, Any]:
    """How far behind the aggregates are, checked before they are read (waiting with `consistent`)."""
    state = services()
    found = (
        state.freshness.wait(state.settings.consistent_wait_seconds)
        if consistent
        else state.freshness.check()
    )
    return found.as_dict()


def _period(month: str | None, from_: str | None, to: str | None) -> Period:
    try:
        return Period.parse(month, from_, to)
    except PeriodError as error:
        raise validation_problem([{"pointer": error.pointer, "detail": error.detail}]) from error


@router.get("/v1/usage/<request_id>", summary="Confirm receipt of one call, with its cost", tags=["usage"])
def get_usage(request_id: Annotated[str, Path(max_length=128)]) -> StoredEvent:
    stored = services().ledger.get_event(request_id)
    if stored is None:
        raise Problem(404, f"No usage event with request_id {request_id!r} has arrived.")
    event: dict[str, Any] = {key: value for key, value in stored.items() if key in StoredEvent.model_fields}
    event["cost"] = money_str(stored["cost"]) if stored.get("cost") is not None else None
    event["unit_prices_per_mtok"] = {
        bucket: money_str(price) for bucket, price in stored.get("unit_prices_per_mtok", {}).items()
    }
    for name in ("prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens"):
        event[name] = int(stored[name])
    if stored.get("provider_cost") is not None:
        event["provider_cost"] = money_str(stored["provider_cost"])
    if stored.get("units"):
        event["units"] = {key: _json_number(value) for key, value in stored["units"].items()}
    if stored.get("usage"):
        event["usage"] = _json_numbers(stored["usage"])
    return StoredEvent.model_validate(event)


def _json_number(value: Decimal) -> int | str:
    """A stored count as JSON: whole counts as numbers, fractions (seconds) as exact strings."""
    return int(value) if value == value.to_integral_value() else format(value, "f")


def _json_numbers(value: Any) -> Any:
    """The stored usage object with DynamoDB's whole numbers back as JSON numbers; fractions stay
    `Decimal`, which the response serializer writes as exact strings (as it writes money)."""
    if isinstance(value, dict):
        return {key: _json_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_numbers(item) for item in value]
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


@router.get("/v1/pnl", summary="P&L per customer for a period", tags=["reports"])
def get_pnl(
    month: MonthQuery = None, from_: FromQuery = None, to: ToQuery = None, consistent: ConsistentQuery = False
) -> PnlResponse:
    period = _period(month, from_, to)
    aggregates = _freshness(consistent)
    report = services().pnl.report(period)
    return PnlResponse.model_validate({**report, "aggregates": aggregates})


@router.get("/v1/customers/<customer_id>/pnl", summary="One customer's P&L with breakdowns", tags=["reports"])
def get_customer_pnl(
    customer_id: Annotated[str, Path(max_length=256)],
    month: MonthQuery = None,
    from_: FromQuery = None,
    to: ToQuery = None,
    consistent: ConsistentQuery = False,
) -> CustomerPnlResponse:
    period = _period(month, from_, to)
    aggregates = _freshness(consistent)
    report = services().pnl.customer(customer_id, period)
    return CustomerPnlResponse.model_validate({**report, "aggregates": aggregates})
