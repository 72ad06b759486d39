"""Operational alerts: cost spikes, feature growth, unpriced and unattributed events, negative margins.

Evaluated on the last complete UTC day `D` (yesterday) and, for negative margins, the last complete
month. Read from the usage aggregates only (`ledger.py`), never from events, never by a Scan:

  daily_cost_spike           AGG#CD rows of D vs the 7 days before (their average, days without usage
                             count as zero); fires when D's cost >= OPS_DAILY_COST_MIN and more than
                             OPS_DAILY_COST_SPIKE_PCT % above a non-zero average.
  feature_cost_growth        AGG#FD rows of D-1 and D, per feature (all models); fires when D's cost >=
                             OPS_FEATURE_GROWTH_MIN, more than OPS_FEATURE_GROWTH_PCT % above a non-zero
                             D-1 cost, and no customer used the feature on D without using it on D-1
                             (AGG#CFD of each customer in D's AGG#CD rows: bounded by customers).
  unpriced_events            AGG#FD rows of D: >= OPS_UNPRICED_MIN_EVENTS unpriced events (with models).
  unattributed_events        AGG#CD row D#unattributed: >= OPS_UNATTRIBUTED_MIN_EVENTS events.
  negative_margin_customers  the P&L of the last complete month: customers whose margin is negative
                             that month and the one before (revenue, cost, margin each).

Items (single table, `pk`/`sk`):
  ALERTCLAIM#ops#{kind}   {day or month}#{subject key}          an alert claimed (the lease items of
                                                                marginlens.storage.claims; also `kind`,
                                                                `key`, `period`)
  OPSALERTS#{month}       {iso time}#{kind}#{subject key}       the history of alerts sent

Once per claim, as budgets' alerts, through `marginlens.storage.claims.send_once`: a conditional Put
claims the alert (with a lease) before it is published; if publishing fails the claim is deleted (by
its owner token) and the next run retries; a crash, or a release that fails, leaves the claim to a
run after the lease. The history has its own partition: `ALERTS#{month}` rows are budget alerts
(GET /v1/alerts reads budget fields).
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from marginlens.core.alerting import AlertPublisher
from marginlens.core.money import ZERO, money_str, pct, pct_str
from marginlens.core.observability import logger
from marginlens.core.settings import Settings
from marginlens.reports.pnl import Period, PnlReport
from marginlens.storage import schema
from marginlens.storage.claims import send_once
from marginlens.storage.dynamodb import PK, SK, DynamoDBClient
from marginlens.storage.table import ConditionFailed, Table
from marginlens.usage.events import UNATTRIBUTED
from marginlens.usage.ledger import Ledger

BASELINE_DAYS = 7
HUNDRED = Decimal(100)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class OpsAlert:
    kind: str
    key: str  # the subject key: what the alert is about (a feature, `organization`, ...)
    period: str  # the day (`2026-11-26`) or month (`2026-10`) evaluated
    subject: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class OpsFailure:
    alert: OpsAlert
    error: str


class PublishFailed(Exception):
    """An alert was not published (the publisher or its claim failed); a later run retries it."""


class OpsAlertsFailed(Exception):
    """Some alerts could not be published: the next run retries them (or, where a claim could not be
    released, a run after the claim's lease)."""

    def __init__(self, sent: list[OpsAlert], failures: list[OpsFailure]) -> None:
        super().__init__(f"{len(failures)} operational alert(s) failed to publish")
        self.sent = sent
        self.failures = failures


# --- reads ---------------------------------------------------------------------------------------


def _days_rows(read: Any, first: date, last: date) -> list[dict[str, Any]]:
    """`read(month, first_day, last_day)` over every month the span touches."""
    rows: list[dict[str, Any]] = []
    for month, start, end in Period(first, last).months():
        rows += read(month, start, end)
    return rows


def _cost_by_day(rows: list[dict[str, Any]]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for row in rows:
        totals[row["day"]] += Decimal(row.get("cost", 0))
    return totals


# --- the checks ----------------------------------------------------------------------------------


def _daily_cost_spike(ledger: Ledger, settings: Settings, day: date) -> list[OpsAlert]:
    first = day - timedelta(days=BASELINE_DAYS)
    by_day = _cost_by_day(_days_rows(ledger.customer_days, first, day))
    cost = by_day.get(day.isoformat(), ZERO)
    baseline = sum(
        (by_day.get((first + timedelta(days=n)).isoformat(), ZERO) for n in range(BASELINE_DAYS)), ZERO
    )
    average = baseline / BASELINE_DAYS
    threshold = settings.ops_daily_cost_spike_pct
    # Exact comparison: cost > average * (1 + pct/100), i.e. cost * 100 * 7 > baseline * (100 + pct).
    if cost < settings.ops_daily_cost_min or baseline <= 0:
        return []
    if cost * HUNDRED * BASELINE_DAYS <= baseline * (HUNDRED + threshold):
        return []
    increase = pct(cost - average, average)
    detail = {
        "day": day.isoformat(),
        "cost": money_str(cost),
        "baseline_average": money_str(average.quantize(Decimal("0.000001"))),
        "baseline_days": BASELINE_DAYS,
        "increase_pct": pct_str(increase),
        "threshold_pct": pct_str(threshold),
        "min_cost": money_str(settings.ops_daily_cost_min),
    }
    subject = (
        f"Daily AI cost {money_str(cost)} on {day.isoformat()}: {pct_str(increase)}% above the "
        f"previous {BASELINE_DAYS} days' average"
    )
    return [OpsAlert("daily_cost_spike", "organization", day.isoformat(), subject, detail)]


def _feature_cost_growth(ledger: Ledger, settings: Settings, day: date) -> list[OpsAlert]:
    before = day - timedelta(days=1)
    today, yesterday = day.isoformat(), before.isoformat()
    costs: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for row in _days_rows(ledger.feature_model_days, before, day):
        costs[(row["feature"], row["day"])] += Decimal(row.get("cost", 0))
    threshold = settings.ops_feature_growth_pct
    candidates = {
        feature: (costs[(feature, yesterday)], cost)
        for (feature, when), cost in list(costs.items())
        if when == today
        and cost >= settings.ops_feature_growth_min
        and costs[(feature, yesterday)] > 0
        and cost * HUNDRED > costs[(feature, yesterday)] * (HUNDRED + threshold)
    }
    if not candidates:
        return []
    new_users = _new_feature_users(ledger, before, day, set(candidates))
    alerts = []
    for feature in sorted(candidates):
        if new_users.get(feature):
            continue  # growth explained by customers new to the feature
        previous, cost = candidates[feature]
        growth = pct(cost - previous, previous)
        detail = {
            "day": today,
            "feature": feature,
            "cost": money_str(cost),
            "previous_day_cost": money_str(previous),
            "growth_pct": pct_str(growth),
            "threshold_pct": pct_str(threshold),
            "min_cost": money_str(settings.ops_feature_growth_min),
        }
        subject = (
            f"Feature '{feature}' cost {money_str(cost)} on {today}: {pct_str(growth)}% over the day "
            "before, with no new customers"
        )
        alerts.append(OpsAlert("feature_cost_growth", feature, today, subject, detail))
    return alerts


def _new_feature_users(ledger: Ledger, before: date, day: date, features: set[str]) -> dict[str, set[str]]:
    """Per feature, the customers who used it on `day` and not on `before` (one query per customer)."""
    today, yesterday = day.isoformat(), before.isoformat()
    customers = {row["customer_id"] for row in _days_rows(ledger.customer_days, day, day)}
    new: dict[str, set[str]] = defaultdict(set)
    for customer in sorted(customers):

        def read(month: str, first: str, last: str, customer: str = customer) -> list[dict[str, Any]]:
            return ledger.customer_detail_days(month, customer, first, last)

        used: dict[str, set[str]] = defaultdict(set)
        for row in _days_rows(read, before, day):
            if row["feature"] in features and int(row.get("events", 0)) > 0:
                used[row["day"]].add(row["feature"])
        for feature in used[today] - used[yesterday]:
            new[feature].add(customer)
    return new


def _unpriced_events(ledger: Ledger, settings: Settings, day: date) -> list[OpsAlert]:
    by_model: dict[str, int] = defaultdict(int)
    for row in _days_rows(ledger.feature_model_days, day, day):
        count = int(row.get("unpriced_events", 0))
        if count:
            by_model[row["model"]] += count
    total = sum(by_model.values())
    if total < settings.ops_unpriced_min_events:
        return []
    models = sorted(by_model)
    detail = {
        "day": day.isoformat(),
        "unpriced_events": total,
        "models": models,
        "events_by_model": {model: by_model[model] for model in models},
        "min_events": settings.ops_unpriced_min_events,
    }
    subject = f"{total} unpriced event(s) on {day.isoformat()}: {', '.join(models)}"
    return [OpsAlert("unpriced_events", "all", day.isoformat(), subject, detail)]


def _unattributed_events(ledger: Ledger, settings: Settings, day: date) -> list[OpsAlert]:
    rows = [
        row for row in _days_rows(ledger.customer_days, day, day) if row.get("customer_id") == UNATTRIBUTED
    ]
    events = sum(int(row.get("events", 0)) for row in rows)
    if events < settings.ops_unattributed_min_events:
        return []
    cost = sum((Decimal(row.get("cost", 0)) for row in rows), ZERO)
    detail = {
        "day": day.isoformat(),
        "customer_id": UNATTRIBUTED,
        "events": events,
        "cost": money_str(cost),
        "unpriced_events": sum(int(row.get("unpriced_events", 0)) for row in rows),
        "min_events": settings.ops_unattributed_min_events,
    }
    subject = f"{events} event(s) booked to '{UNATTRIBUTED}' on {day.isoformat()} (cost {money_str(cost)})"
    return [OpsAlert("unattributed_events", UNATTRIBUTED, day.isoformat(), subject, detail)]


def _negative_margin_customers(pnl_report: PnlReport, month_start: date) -> list[OpsAlert]:
    last = month_start.replace(day=calendar.monthrange(month_start.year, month_start.month)[1])
    month = month_start.strftime("%Y-%m")
    rows = [
        row
        for row in pnl_report.report(Period(month_start, last))["customers"]
        if int(row["negative_margin_months"]) >= 2
    ]
    if not rows:
        return []
    customers = [
        {
            "customer_id": row["customer_id"],
            "name": row.get("name"),
            "revenue": row["revenue"],
            "cost": row["cost"],
            "margin": row["margin"],
            "negative_margin_months": int(row["negative_margin_months"]),
        }
        for row in rows
    ]
    detail = {"month": month, "currency": pnl_report.currency, "customers": customers}
    subject = f"{len(customers)} customer(s) with negative margin two months running (to {month})"
    return [OpsAlert("negative_margin_customers", "customers", month, subject, detail)]


# --- claims and publication ----------------------------------------------------------------------


def claim_and_publish(
    client: DynamoDBClient,
    table: str,
    publisher: AlertPublisher,
    alert: OpsAlert,
    now: datetime,
) -> bool:
    """Claim, publish, mark sent, record (`storage.claims.send_once`). False if already claimed (sent
    or being sent); raises `PublishFailed` if it was not published (a later run retries it)."""
    attributes = {"claim": "ops", "kind": alert.kind, "key": alert.key, "period": alert.period}
    result = send_once(
        client,
        table,
        f"{schema.ALERT_CLAIM}ops#{alert.kind}",
        f"{alert.period}#{alert.key}",
        attributes,
        lambda: publisher.publish(alert.kind, alert.subject, alert.detail),
        now,
    )
    if result.outcome == "already_claimed":
        return False
    if result.outcome == "failed":
        raise PublishFailed(result.error or "failed")
    try:
        record_history(client, table, alert, now)
    except Exception:  # published and marked sent: only the history line is missing
        logger.exception(
            "operational alert sent but not written to the alert history",
            extra={"kind": alert.kind, "key": alert.key, "period": alert.period},
        )
    return True


def record_history(client: DynamoDBClient, table: str, alert: OpsAlert, now: datetime) -> None:
    db = Table(client, table)
    moment = now.astimezone(UTC)
    for _ in range(5):  # the same time twice for one kind and key: the next microsecond
        item = {
            PK: f"{schema.OPS_ALERTS}{moment.strftime('%Y-%m')}",
            SK: f"{_iso(moment)}#{alert.kind}#{alert.key}",
            "kind": alert.kind,
            "key": alert.key,
            "subject": alert.subject,
            "period": alert.period,
            "detail": alert.detail,
            "time": _iso(moment),
        }
        try:
            db.put(item, condition="attribute_not_exists(pk)")
            return
        except ConditionFailed:
            moment += timedelta(microseconds=1)


def ops_alerts_history(client: DynamoDBClient, table: str, month: str) -> list[dict[str, Any]]:
    """Operational alerts sent in `month` (`2026-11`), oldest first."""
    rows = Table(client, table).query(f"{schema.OPS_ALERTS}{month}", ConsistentRead=True)
    return [{key: value for key, value in row.items() if key not in (PK, SK)} for row in rows]


def check_operations(
    ledger: Ledger,
    pnl_report: PnlReport,
    client: DynamoDBClient,
    table: str,
    publisher: AlertPublisher,
    settings: Settings,
    now: datetime,
) -> list[OpsAlert]:
    """Send each operational alert due for yesterday (UTC) and the last complete month, once.

    Returns the alerts this run sent. If some failed to publish, the others are still sent and
    `OpsAlertsFailed` (holding both) is raised at the end; the failed ones are retried next run.
    """
    day = now.astimezone(UTC).date() - timedelta(days=1)
    last_month = now.astimezone(UTC).date().replace(day=1) - timedelta(days=1)
    due = [
        *_daily_cost_spike(ledger, settings, day),
        *_feature_cost_growth(ledger, settings, day),
        *_unpriced_events(ledger, settings, day),
        *_unattributed_events(ledger, settings, day),
        *_negative_margin_customers(pnl_report, last_month.replace(day=1)),
    ]
    sent: list[OpsAlert] = []
    failures: list[OpsFailure] = []
    for alert in due:
        try:
            if claim_and_publish(client, table, publisher, alert, now):
                sent.append(alert)
        except PublishFailed as error:  # retried by the next run (or the one after the claim's lease)
            failures.append(OpsFailure(alert, str(error)))
    if failures:
        raise OpsAlertsFailed(sent, failures)
    return sent
