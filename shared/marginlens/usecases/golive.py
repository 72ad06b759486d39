"""The go-live checks: the acceptance checklist of a MarginLens rollout, computed from live data.

Each check passes or fails with what is missing, in words an operator can act on:
  stripe_revenue    Stripe revenue is linked to at least one customer, with 5 invoices mapped
  usage_attributed  usage events are attributed to customers, with token counts per call
  budget_alert      a budget alert fired at its threshold (this month or the last)
  price_sync        the price table synced within 24 h, and >= 99.9 % of refresh runs succeeded
                    over 7 days
  ingest_latency    the median ingestion latency over 7 days is under 1 s (usage.latency)
Read-only, from aggregates and small partitions: no Scan, nothing written.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from marginlens.alerts.operations import OpsAlert, ops_alerts_history, record_history
from marginlens.budgets.budgets import BudgetStore, alerts
from marginlens.core.alerting import AlertPublisher
from marginlens.core.money import pct_str
from marginlens.pricing.sync_log import SyncLog
from marginlens.usage.events import UNATTRIBUTED
from marginlens.usage.latency import summarise
from marginlens.usecases.services import Services

INVOICES_TO_MAP = 5
PRICE_SYNC_MAX_AGE = timedelta(hours=24)
PRICE_SYNC_SLO_PCT = Decimal("99.9")
LATENCY_DAYS = 7
LATENCY_TARGET_MS = 1000
BUDGET_THRESHOLD_KINDS = ("budget_warning", "budget_critical", "budget_exceeded")
TEST_ALERT_KIND = "test_alert"


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    passed: bool
    detail: str
    missing: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": "pass" if self.passed else "fail",
            "detail": self.detail,
            "missing": self.missing,
        }


def _months(now: datetime) -> list[str]:
    """The previous month and this one: what "recently" means for usage and alerts."""
    first = now.date().replace(day=1)
    return [(first - timedelta(days=1)).strftime("%Y-%m"), first.strftime("%Y-%m")]


def stripe_revenue(state: Services, now: datetime) -> Check:
    links = state.revenue.stripe_links(INVOICES_TO_MAP)
    title = f"Stripe revenue linked to a customer, {INVOICES_TO_MAP} invoices mapped"
    missing = []
    if not links.customers:
        missing.append(
            "No Stripe invoice is attributed to a customer yet: send Stripe's webhooks to "
            "/v1/stripe/webhook and map each Stripe customer (PUT /v1/customers/{id} with "
            "stripe_customer_id, or the customer_id metadata key on the Stripe customer)."
        )
    if links.mapped_invoices < INVOICES_TO_MAP:
        missing.append(
            f"{links.mapped_invoices} of {INVOICES_TO_MAP} Stripe invoices are mapped to customers: "
            f"map {INVOICES_TO_MAP - links.mapped_invoices} more before production."
        )
    if links.mapped_invoices >= INVOICES_TO_MAP:  # the count stops there: a check, not a report
        detail = f"At least {links.mapped_invoices} Stripe invoices are mapped to customers."
    else:
        detail = f"{links.mapped_invoices} Stripe invoices mapped, to {len(links.customers)} customers."
    return Check("stripe_revenue", title, not missing, detail, missing)


def usage_attributed(state: Services, now: datetime) -> Check:
    months = _months(now)
    rows = [row for month in months for row in state.ledger.customer_month(month)]
    events = sum(int(row.get("events", 0)) for row in rows)
    attributed = [row for row in rows if row.get("customer_id") != UNATTRIBUTED and int(row.get("events", 0))]
    unattributed = events - sum(int(row.get("events", 0)) for row in attributed)
    counted = [
        row
        for row in attributed
        if int(row.get("events", 0)) > int(row.get("estimated_events", 0))
        and int(row.get("prompt_tokens", 0)) + int(row.get("completion_tokens", 0)) > 0
    ]
    customers = {str(row["customer_id"]) for row in counted}
    missing = []
    if not events:
        missing.append(
            f"No usage events in {months[0]} or {months[1]}: send one per model call to POST /v1/usage "
            "(customer_id, model, prompt_tokens, completion_tokens, request_id)."
        )
    elif not attributed:
        missing.append(f"All {events} events are booked to '{UNATTRIBUTED}': send each call's customer_id.")
    elif not customers:
        missing.append(
            "Events carry no token counts (estimated only): send prompt_tokens and completion_tokens."
        )
    detail = (
        f"{events} events in {months[0]}..{months[1]}: {len(customers)} customers with token counts, "
        f"{unattributed} unattributed."
    )
    return Check(
        "usage_attributed",
        "Usage events attributed to customers, with token counts",
        not missing,
        detail,
        missing,
    )


def budget_alert(state: Services, now: datetime) -> Check:
    client, table = state.client, state.settings.table_name
    budgets = BudgetStore(client, table).list()
    months = _months(now)
    fired = [
        row
        for month in months
        for row in alerts(client, table, month)
        if row["kind"] in BUDGET_THRESHOLD_KINDS
    ]
    tests = [
        row
        for month in months
        for row in ops_alerts_history(client, table, month)
        if row["kind"] == TEST_ALERT_KIND
    ]
    missing = []
    if not budgets:
        missing.append("No budget yet: create one (PUT /v1/budgets/{id}, e.g. a feature at 75 % / 90 %).")
    if not fired:
        missing.append(
            f"No budget alert has fired in {months[0]} or {months[1]}: alerts fire when spend crosses a "
            "budget's warning or critical threshold."
        )
    if fired:
        # The most severe, then the latest: what an operator wants to read first.
        top = max(fired, key=lambda row: (BUDGET_THRESHOLD_KINDS.index(row["kind"]), str(row["time"])))
        detail = (
            f"{len(fired)} budget alerts; the most severe: {top['kind']} for {top['budget_id']} at "
            f"{top['value']} % of {top['limit']} ({top['time']})."
        )
    else:
        detail = f"{len(budgets)} budgets, no alert fired."
    detail += f" Test alert last sent {tests[-1]['time']}." if tests else " No test alert sent yet."
    return Check("budget_alert", "A budget alert fired at its threshold", not missing, detail, missing)


def price_sync(state: Services, now: datetime) -> Check:
    summary = SyncLog(state.client, state.settings.table_name).summary(now)
    rate = summary.success_rate_pct
    missing = []
    if summary.last_success is None:
        missing.append(
            "The price table was never synced: POST /v1/prices/refresh, or wait for the daily schedule."
        )
    elif now - datetime.fromisoformat(summary.last_success.at) > PRICE_SYNC_MAX_AGE:
        missing.append(f"The last successful price sync was {summary.last_success.at}, more than 24 h ago.")
    if rate is not None and rate < PRICE_SYNC_SLO_PCT:
        reason = f" (last refusal: {summary.last.reason})" if summary.last and summary.last.reason else ""
        missing.append(
            f"{summary.successes} of {summary.attempts} refresh runs succeeded over 7 days "
            f"({pct_str(rate)} %), under {PRICE_SYNC_SLO_PCT} %{reason}."
        )
    detail = (
        f"Last success {summary.last_success.at if summary.last_success else 'never'}; "
        f"{summary.successes}/{summary.attempts} runs succeeded over 7 days."
    )
    return Check(
        "price_sync", "Price table synced in 24 h, >= 99.9 % over 7 days", not missing, detail, missing
    )


def ingest_latency(state: Services, now: datetime) -> Check:
    today = now.date()
    first = today - timedelta(days=LATENCY_DAYS - 1)
    rows = []
    for month in sorted({first.strftime("%Y-%m"), today.strftime("%Y-%m")}):
        rows += state.ledger.latency_days(month, first.isoformat(), today.isoformat())
    summary = summarise(rows)
    median = summary.median_at_most_ms
    missing = []
    if not summary.events:
        missing.append("No usage event was received in the last 7 days.")
    elif median is None or median > LATENCY_TARGET_MS:
        shown = f"at most {median} ms" if median is not None else "over 10 s"
        missing.append(f"The median ingestion latency is {shown}, not under 1 s.")
    detail = (
        f"Median at most {median} ms over {summary.events} events in 7 days."
        if median is not None
        else f"{summary.events} events in 7 days."
    )
    return Check("ingest_latency", "Ingestion median latency under 1 s", not missing, detail, missing)


CHECKS: tuple[Callable[[Services, datetime], Check], ...] = (
    stripe_revenue,
    usage_attributed,
    budget_alert,
    price_sync,
    ingest_latency,
)


def run_checks(state: Services, now: datetime) -> list[Check]:
    return [check(state, now) for check in CHECKS]


def send_test_alert(state: Services, publisher: AlertPublisher, now: datetime) -> OpsAlert:
    """An alert through the real channels (SNS: email, Slack), recorded in the alert history like
    any other; raises what the publisher raises when a channel refuses it."""
    alert = OpsAlert(
        kind=TEST_ALERT_KIND,
        key=uuid.uuid4().hex[:12],
        period=now.date().isoformat(),
        subject="MarginLens test alert: budget and operational alerts reach this channel",
        detail={"action": "Nothing to do: this alert was sent from the go-live checks to test delivery."},
    )
    publisher.publish(alert.kind, alert.subject, alert.detail)
    record_history(state.client, state.settings.table_name, alert, now)
    return alert
