"""The upstream price refresh: what the daily schedule and POST /v1/prices/refresh run."""

from __future__ import annotations

from datetime import UTC, datetime

from marginlens.pricing.refresh import RefreshResult, refresh_prices
from marginlens.usecases.services import alert_publisher, services


def run_refresh(now: datetime | None = None) -> RefreshResult:
    """Fetch, validate and store the newest price table; a refusal keeps the last good one and alerts."""
    state = services()
    settings = state.settings
    return refresh_prices(
        state.prices,
        alert_publisher(),
        url=settings.prices_url,
        max_shrink_pct=settings.prices_max_shrink_pct,
        now=now or datetime.now(UTC),
    )
