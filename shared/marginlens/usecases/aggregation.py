"""A batch of the table's stream applied to the aggregates, then the budgets of what it changed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from marginlens.core.observability import logger
from marginlens.storage.streams import batch_of
from marginlens.usage.aggregator import Aggregator, BatchResult, log_batch
from marginlens.usecases.services import services


def aggregate_stream_batch(event: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """Apply one Lambda event's records; evaluate, at most once, the budgets whose scope changed.

    The answer is what a mapping with a tumbling window expects (`state`, kept empty)."""
    batch = batch_of(event)
    state = services()
    result = Aggregator(state.client, state.settings.table_name).apply(batch)
    log_batch(batch, result)
    if result.changed:
        evaluate_changed_budgets(result, now or datetime.now(UTC))
    return {"state": {}, "batchItemFailures": []}


def evaluate_changed_budgets(result: BatchResult, now: datetime) -> None:
    """Budgets close to real time: those of the organization, and of the customers and features
    the batch changed. A failure is logged, never raised: the aggregates are applied, and the
    schedule's evaluation alerts what this one could not."""
    from marginlens.usecases.budgets import run_evaluation

    try:
        report = run_evaluation(now, customers=result.customers, features=result.features)
    except Exception:
        logger.exception("budget evaluation after a stream batch failed; the schedule will retry")
        return
    if report.sent or report.failures:
        logger.info(
            "budgets evaluated after a stream batch", sent=len(report.sent), failures=len(report.failures)
        )
