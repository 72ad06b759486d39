"""Reconciliation runs: the daily job, `POST /v1/reconciliation/run` and a CSV import all fetch or
read the provider's bill, compare it with the aggregates, store the result and alert on variance."""

from __future__ import annotations

import calendar
import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from marginlens.alerts.operations import OpsAlert, PublishFailed, claim_and_publish
from marginlens.core.money import money_display
from marginlens.core.observability import logger
from marginlens.core.settings import Settings
from marginlens.reconciliation.provider_reports import FETCHERS, BilledLine, ProviderReportError
from marginlens.reconciliation.reconcile import (
    ReconciliationStore,
    Thresholds,
    compare,
    flagged_days,
    recorded_rows,
)
from marginlens.usecases.services import Services, alert_publisher, services

SECRET_MAX_AGE_S = 300
Fetcher = Callable[..., list[BilledLine]]


def admin_keys(settings: Settings) -> dict[str, str]:
    """The providers whose cost reports can be fetched, with their admin keys."""
    keys = {
        provider: secret.get_secret_value()
        for provider, secret in (
            ("openai", settings.openai_admin_key),
            ("anthropic", settings.anthropic_admin_key),
        )
        if secret is not None and secret.get_secret_value()
    }
    if not keys and settings.provider_admin_keys_secret_name:
        from aws_lambda_powertools.utilities import parameters  # AWS only

        value = parameters.get_secret(settings.provider_admin_keys_secret_name, max_age=SECRET_MAX_AGE_S)
        stored = json.loads(value) if isinstance(value, str | bytes) else dict(value)
        keys = {provider: str(key) for provider, key in stored.items() if provider in FETCHERS and key}
    return keys


def month_bounds(month: str, today: date) -> tuple[date, date]:
    """The month's days up to yesterday (a provider's day is billed once it is over)."""
    year, number = (int(part) for part in month.split("-"))
    first = date(year, number, 1)
    last = min(date(year, number, calendar.monthrange(year, number)[1]), today - timedelta(days=1))
    return first, max(first, last)


def thresholds(settings: Settings) -> Thresholds:
    return Thresholds(settings.reconcile_variance_pct, settings.reconcile_min_cost)


def apply_bill(
    state: Services, provider: str, month: str, lines: Sequence[BilledLine], source: str, now: datetime
) -> dict[str, Any]:
    """Compare one provider's bill for the month with the record, keep it, alert on its flagged days."""
    first, last = month_bounds(month, now.date() + timedelta(days=1))
    result = compare(
        month,
        provider,
        lines,
        recorded_rows(state.ledger, month, first, last),
        state.prices.book(),
        thresholds(state.settings),
    )
    ReconciliationStore(state.client, state.settings.table_name).save(result, source, now)
    result["alerts_sent"] = send_variance_alerts(state, result, now)
    return result


def send_variance_alerts(state: Services, result: Mapping[str, Any], now: datetime) -> int:
    """One `cost_variance` alert per flagged day and provider, ever (the claim is keyed by both)."""
    sent = 0
    for day in flagged_days(result):
        subject = (
            f"{result['provider']} billed {money_display(day['billed'])} on {day['day']}, MarginLens "
            f"recorded {money_display(day['recorded'])} ({day['variance_pct']} %): {day['cause']}"
        )
        detail = {"provider": result["provider"], **day, "threshold_pct": result["threshold_pct"]}
        alert = OpsAlert("cost_variance", str(result["provider"]), str(day["day"]), subject, detail)
        try:
            sent += claim_and_publish(state.client, state.settings.table_name, alert_publisher(), alert, now)
        except PublishFailed:  # the next run retries it
            logger.warning("cost_variance alert not sent", extra={"day": day["day"]})
    return sent


def run_reconciliation(
    month: str | None = None,
    now: datetime | None = None,
    fetchers: Mapping[str, Fetcher] = FETCHERS,
) -> dict[str, Any]:
    """Fetch each configured provider's cost report for the month and reconcile it. A provider whose
    API fails keeps its last result (and raises no variance alert); the error is stored beside it."""
    state = services()
    now = now or datetime.now(UTC)
    month = month or (now.date() - timedelta(days=1)).strftime("%Y-%m")
    first, last = month_bounds(month, now.date())
    urls = {"openai": state.settings.openai_costs_url, "anthropic": state.settings.anthropic_costs_url}
    store = ReconciliationStore(state.client, state.settings.table_name)
    results: dict[str, Any] = {}
    keys = admin_keys(state.settings)
    for provider, key in sorted(keys.items()):
        try:
            lines = fetchers[provider](key, first, last, base_url=urls[provider])
        except ProviderReportError as error:
            logger.warning("provider cost report failed", extra={"provider": provider, "error": str(error)})
            store.save_error(month, provider, str(error), now)
            results[provider] = {"status": "error", "error": str(error)}
            continue
        result = apply_bill(state, provider, month, lines, "api", now)
        results[provider] = {
            "status": "ok",
            "flagged_days": len(flagged_days(result)),
            "alerts_sent": result["alerts_sent"],
        }
    return {"month": month, "providers": results, "configured": sorted(keys)}


def run_daily(now: datetime | None = None) -> dict[str, Any]:
    """The schedule: yesterday's month, and in the first days of a month the previous one too (bills
    settle a day or two late)."""
    now = now or datetime.now(UTC)
    yesterday = now.date() - timedelta(days=1)
    months = [yesterday.strftime("%Y-%m")]
    if yesterday.day <= 3:
        months.insert(0, (yesterday.replace(day=1) - timedelta(days=1)).strftime("%Y-%m"))
    return {"runs": [run_reconciliation(month, now) for month in months]}


def import_bill(lines: Sequence[BilledLine], now: datetime | None = None) -> dict[str, Any]:
    """Reconcile a provider's CSV export (already read): each provider and month it covers."""
    state = services()
    now = now or datetime.now(UTC)
    grouped: dict[tuple[str, str], list[BilledLine]] = defaultdict(list)
    for line in lines:
        grouped[line.provider, line.day.strftime("%Y-%m")].append(line)
    results = []
    for (provider, month), members in sorted(grouped.items()):
        result = apply_bill(state, provider, month, members, "csv", now)
        results.append(
            {
                "provider": provider,
                "month": month,
                "lines": len(members),
                "flagged_days": len(flagged_days(result)),
            }
        )
    return {"imported": results}


def reconciliation_month(month: str) -> dict[str, Any]:
    state = services()
    return {
        "month": month,
        "providers": ReconciliationStore(state.client, state.settings.table_name).month(month),
    }
