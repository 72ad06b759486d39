"""POST /v1/budgets/evaluate: served by the check_budgets function (which the schedule runs too)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel

from marginlens.alerts import AlertPublisher, publisher_from_settings
from marginlens.api.services import services
from marginlens.budgets import BudgetStore, EvaluationReport, evaluate
from marginlens.ops_alerts import OpsAlertsFailed, check_operations
from marginlens.settings import Settings

router = Router()


class SentAlertOut(BaseModel):
    budget_id: str
    kind: str
    threshold: str
    period: str
    subject: str
    detail: dict[str, Any]


class AlertFailureOut(BaseModel):
    budget_id: str
    kind: str
    threshold: str
    period: str
    error: str


class EvaluationOut(BaseModel):
    evaluated: int
    sent: int
    already_sent: int
    failures: int
    alerts: list[SentAlertOut]
    errors: list[AlertFailureOut]


_cached_publisher: tuple[Settings, AlertPublisher] | None = None


def alert_publisher(settings: Settings) -> AlertPublisher:
    """One publisher (and SNS client) per settings object: a new one after services.reset()."""
    global _cached_publisher
    if _cached_publisher is None or _cached_publisher[0] is not settings:
        _cached_publisher = (settings, publisher_from_settings(settings))
    return _cached_publisher[1]


def run_evaluation(now: datetime | None = None) -> EvaluationReport:
    """The evaluation with this process's settings: the schedule and the route both call this."""
    state = services()
    store = BudgetStore(state.client, state.settings.table_name)
    return evaluate(store, state.ledger, alert_publisher(state.settings), now or datetime.now(UTC))


def run_operations(now: datetime | None = None) -> dict[str, Any]:
    """The operational alerts (cost spikes, unpriced and unattributed usage, loss-making customers)."""
    state = services()
    try:
        sent = check_operations(
            state.ledger,
            state.pnl,
            state.client,
            state.settings.table_name,
            alert_publisher(state.settings),
            state.settings,
            now or datetime.now(UTC),
        )
    except OpsAlertsFailed as error:  # claims released: the next run retries them
        return {"sent": [alert.kind for alert in error.sent], "failures": len(error.failures)}
    return {"sent": [alert.kind for alert in sent], "failures": 0}


def report_dict(report: EvaluationReport) -> dict[str, Any]:
    return {
        "evaluated": len(report.budgets),
        "sent": len(report.sent),
        "already_sent": report.already_sent,
        "failures": len(report.failures),
        "alerts": [
            {
                "budget_id": alert.budget_id,
                "kind": alert.kind,
                "threshold": alert.threshold,
                "period": alert.period,
                "subject": alert.subject,
                "detail": alert.detail,
            }
            for alert in report.sent
        ],
        "errors": [
            {
                "budget_id": failure.budget_id,
                "kind": failure.kind,
                "threshold": failure.threshold,
                "period": failure.period,
                "error": failure.error,
            }
            for failure in report.failures
        ],
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
