"""GET /v1/reconciliation (api function); POST /v1/reconciliation/run and /import (the
reconcile_costs function, which the daily schedule runs too)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from marginlens.api.problems import PROBLEM_CONTENT_TYPE, PROBLEM_SCHEMA, validation_problem
from marginlens.api.schemas.reconciliation import ImportIn, ImportOut, ReconciliationOut, RunIn, RunOut
from marginlens.reconciliation.provider_reports import CostCsvError, read_cost_csv
from marginlens.usecases.reconciliation import import_bill, reconciliation_month, run_reconciliation

router = Router()  # the api function
runs = Router()  # the reconcile_costs function

INVALID: dict[int, Any] = {
    422: {
        "description": "Invalid input; problem+json with JSON pointers",
        "content": {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_SCHEMA}},
    }
}


@router.get(
    "/v1/reconciliation",
    summary="The provider's bill beside MarginLens's record, per day and model, with variance and cause",
    tags=["reconciliation"],
)
def get_reconciliation(
    month: Annotated[str, Query(description="UTC calendar month, YYYY-MM", pattern=r"^\d{4}-\d{2}$")],
) -> ReconciliationOut:
    return ReconciliationOut.model_validate(reconciliation_month(month))


@runs.post(
    "/v1/reconciliation/run",
    summary="Fetch the providers' cost reports now and reconcile the month (what the daily job runs)",
    tags=["reconciliation"],
    responses=INVALID,
)
def post_run(request: Annotated[RunIn, Body()]) -> RunOut:
    return RunOut.model_validate(run_reconciliation(request.month))


@runs.post(
    "/v1/reconciliation/import",
    summary="Reconcile a provider's cost export (CSV) for the months it covers",
    tags=["reconciliation"],
    responses=INVALID,
)
def post_import(request: Annotated[ImportIn, Body()]) -> ImportOut:
    try:
        lines = read_cost_csv(request.csv, request.provider)
    except CostCsvError as error:
        raise validation_problem([{"pointer": "/csv", "detail": str(error)}]) from error
    except ValueError as error:
        raise validation_problem([{"pointer": "/provider", "detail": str(error)}]) from error
    return ImportOut.model_validate(import_bill(lines))
