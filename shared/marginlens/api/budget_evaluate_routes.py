"""POST /v1/budgets/evaluate: served by the check_budgets function (which the schedule runs too).

The answer (`report_dict`):
  evaluated     budgets evaluated. Each covers its current period and, while its settings were in
                force during it, the period before (yesterday, last month: late crossings).
  sent          alerts sent by this run; `alerts` lists them, each with the `period` it is for
                (the current or the previous one).
  already_sent  thresholds crossed (in either period) whose alert was claimed by an earlier or a
                concurrent run: sent, or being sent (a crashed run's claim is taken over after
                marginlens.storage.claims.LEASE).
  failures      alerts not published; `errors` says why and for which period. They are retried by
                the next run, or after the lease where the claim could not be released.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel

from marginlens.alerts.operations import OpsAlertsFailed, check_operations
from marginlens.api.services import alert_publisher, services
from marginlens.budgets.budgets import AlertFailure, BudgetStore, EvaluationReport, SentAlert, evaluate

router = Router()


class EvaluationOut(BaseModel):
    evaluated: int
    sent: int
    already_sent: int
    failures: int
    alerts: list[SentAlert]
    errors: list[AlertFailure]


def run_evaluation(now: datetime | None = None) -> EvaluationReport:
    """The evaluation with this process's settings: the schedule and the route both call this."""
    state = services()
    store = BudgetStore(state.client, state.settings.table_name)
    return evaluate(store, state.ledger, alert_publisher(), now or datetime.now(UTC))


def run_operations(now: datetime | None = None) -> dict[str, Any]:
    """The operational alerts (cost spikes, unpriced and unattributed usage, loss-making customers)."""
    state = services()
    try:
        sent = check_operations(
            state.ledger,
            state.pnl,
            state.client,
            state.settings.table_name,
            alert_publisher(),
            state.settings,
            now or datetime.now(UTC),
        )
    except OpsAlertsFailed as error:  # retried by the next run (or after the lease of a claim kept)
        return {"sent": [alert.kind for alert in error.sent], "failures": len(error.failures)}
    return {"sent": [alert.kind for alert in sent], "failures": 0}


def report_dict(report: EvaluationReport) -> dict[str, Any]:
    return {
        "evaluated": len(report.current),  # budgets, not (budget, period) results
        "sent": len(report.sent),
        "already_sent": report.already_sent,
        "failures": len(report.failures),
        "alerts": [asdict(alert) for alert in report.sent],
        "errors": [asdict(failure) for failure in report.failures],
    }


@router.post(
    "/v1/budgets/evaluate",
    summary="Evaluate every budget now and send the alerts due (what the schedule runs)",
    tags=["budgets"],
    responses={
        200: {
            "description": "The alerts sent, those another run already sent, and any that failed to "
            "publish (retried on the next run)"
        }
    },
)
def post_evaluate() -> EvaluationOut:
    return EvaluationOut.model_validate(report_dict(run_evaluation()))
