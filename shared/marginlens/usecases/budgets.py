"""Budget and operational alerts: what the 5-minute schedule and POST /v1/budgets/evaluate run."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from marginlens.alerts.operations import OpsAlertsFailed, check_operations
from marginlens.budgets.budgets import BudgetStore, EvaluationReport, evaluate, in_scope
from marginlens.usage.ledger import Ledger
from marginlens.usecases.services import alert_publisher, services


def run_evaluation(
    now: datetime | None = None,
    *,
    customers: Collection[str] | None = None,
    features: Collection[str] | None = None,
) -> EvaluationReport:
    """Every budget evaluated (this period and the one before), its due alerts sent once. With
    `customers` or `features` (the aggregator's): the organization's budgets, and only those of
    these customers and features."""
    state = services()
    store = BudgetStore(state.client, state.settings.table_name)
    scoped = customers is not None or features is not None
    only = in_scope(set(customers or ()), set(features or ())) if scoped else None
    # Scoped, it runs inside the aggregator: the aggregates as stored (it must not wait for itself).
    ledger = Ledger(state.client, state.settings.table_name) if scoped else state.ledger
    return evaluate(store, ledger, alert_publisher(), now or datetime.now(UTC), only=only)


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
