"""Budget and operational alerts: what the 5-minute schedule and POST /v1/budgets/evaluate run."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from marginlens.alerts.operations import OpsAlertsFailed, check_operations
from marginlens.budgets.budgets import BudgetStore, EvaluationReport, evaluate
from marginlens.usecases.services import alert_publisher, services


def run_evaluation(now: datetime | None = None) -> EvaluationReport:
    """Every budget evaluated (this period and the one before), its due alerts sent once."""
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
