"""The upstream price refresh: what the daily schedule and POST /v1/prices/refresh run."""

from __future__ import annotations

from datetime import UTC, datetime

from marginlens.core.observability import logger
from marginlens.pricing.refresh import RefreshResult, refresh_prices
from marginlens.pricing.sync_log import SyncLog
from marginlens.usecases.services import alert_publisher, services


def run_refresh(now: datetime | None = None) -> RefreshResult:
    """Fetch, validate and store the newest price table; a refusal keeps the last good one and alerts.
    Every run is logged (the go-live check's sync age and 7-day success rate)."""
    state = services()
    settings = state.settings
    moment = now or datetime.now(UTC)
    result = refresh_prices(
        state.prices,
        alert_publisher(),
        url=settings.prices_url,
        max_shrink_pct=settings.prices_max_shrink_pct,
        now=moment,
    )
    version = result.snapshot.version if result.snapshot else None
    try:
        SyncLog(state.client, settings.table_name).record(moment, result.status, result.reason, version)
    except Exception:  # the refresh itself is done; a lost log line must not turn it into a failure
        logger.exception("the price sync run could not be logged", status=result.status)
    return result
