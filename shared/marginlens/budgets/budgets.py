"""Budgets: limits on AI cost per organization, feature or customer, their alerts and the blocklist.

Spend is read from the usage aggregates only (`ledger.py`), never from events, never by a Scan:
  monthly  organization  sum of AGG#CM#{month}            feature  AGG#FM#{month} rows of the feature
           customer      AGG#CM#{month} / {customer}
  daily    organization  AGG#CD#{month} rows of the day   feature  AGG#FD#{month} rows of the day
           customer      AGG#CD#{month} / {day}#{customer}

Items (single table, `pk`/`sk`):
  BUDGETS               {budget_id}                                  one budget
  ALERTCLAIM#{budget}   {period}#warning#{limit}#{pct}               a threshold alert claimed
                        {period}#critical#{limit}#{pct}              (the lease items of
                        {period}#exceeded#{limit}                    marginlens.storage.claims)
  ALERTCLAIM#{budget}   {period}#resolved#{threshold id as above}    a `budget_resolved` claimed
  ALERTS#{month}        {iso time}#{budget}#{threshold}              the history of alerts sent
  BLOCKLIST             CURRENT                                      the last blocklist's hash, version
A threshold claim also holds `threshold`, `limit`, `pct` (the threshold's %, 100 for exceeded) and
`period`. Claims written before `pct` was part of the key (`{period}#warning#{limit}`, no `pct`
attribute, no `state`) still count for the threshold at that limit, as long as the budget has not
been changed since they were made (`claimed_at >= updated_at`): the upgrade re-sends nothing.

Exactly once per claim: `marginlens.storage.claims.send_once` claims an alert (conditional Put, with a
lease) before publishing it; only the winner publishes; a failed publish releases the claim so the
next run retries, and a crash leaves a claim that a run after the lease takes over. The claim key
holds the period and the threshold's amount (limit and %): a new period, a changed limit or a
changed `warning_pct`/`critical_pct` re-arms that threshold.

Each evaluation covers the current period and the one before it (yesterday, last month), each with
its own claims, so a crossing in the last minutes of a period, or through usage that arrives after
it with an earlier timestamp, is alerted for the period it belongs to. The previous period is judged
only while the budget's settings were in force during it (`updated_at` before the current period
began): a budget created or changed since does not alert on a period it did not govern.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from marginlens.core.alerting import AlertPublisher
from marginlens.core.bounds import Percent, PositiveAmount
from marginlens.core.money import ZERO, money_str, pct, pct_str
from marginlens.core.observability import logger
from marginlens.storage import schema
from marginlens.storage.claims import SENT, send_once
from marginlens.storage.claims import state as claim_state
from marginlens.storage.dynamodb import PK, SK, DynamoDBClient
from marginlens.storage.table import ConditionFailed, Table
from marginlens.usage.ledger import Ledger

Scope = Literal["organization", "feature", "customer"]
PeriodKind = Literal["monthly", "daily"]
State = Literal["ok", "warning", "critical", "exceeded"]
Threshold = Literal["warning", "critical", "exceeded"]

THRESHOLDS: tuple[Threshold, ...] = ("warning", "critical", "exceeded")
BUDGETS_PK = schema.BUDGETS
BLOCKLIST_KEY = {PK: schema.BLOCKLIST, SK: "CURRENT"}
BLOCKLIST_TTL_SECONDS = 30
HUNDRED = Decimal(100)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _pct_key(value: Decimal) -> str:
    """One spelling per percentage: 75, 75.0 and 75.00 are all `75`; 75.50 is `75.5`."""
    return format(value.normalize(), "f")


class Budget(BaseModel):
    """A limit on one period's cost; `target` is the feature or customer (None for the organization)."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    scope: Scope
    target: str | None = Field(None, min_length=1, max_length=256, pattern=r"^[^#\x00-\x1f]+$")
    period: PeriodKind = "monthly"
    limit: PositiveAmount
    warning_pct: Percent = Decimal(75)
    critical_pct: Percent = Decimal(90)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Budget:
        if (self.scope == "organization") != (self.target is None):
            raise ValueError("target is required for feature and customer budgets, and absent otherwise")
        if self.warning_pct >= self.critical_pct:
            raise ValueError("warning_pct must be below critical_pct")
        return self

    def threshold_pct(self, threshold: Threshold) -> Decimal:
        return {"warning": self.warning_pct, "critical": self.critical_pct, "exceeded": HUNDRED}[threshold]

    def period_key(self, now: datetime) -> str:
        """`2026-11` (monthly) or `2026-11-27` (daily), in UTC."""
        return self._key(now.astimezone(UTC).date())

    def period_start(self, now: datetime) -> datetime:
        """When the current period began (UTC midnight of the day, or of the month's first day)."""
        day = now.astimezone(UTC).date()
        first = day.replace(day=1) if self.period == "monthly" else day
        return datetime(first.year, first.month, first.day, tzinfo=UTC)

    def previous_period_key(self, now: datetime) -> str:
        """The period before the current one: `2026-10` (monthly) or `2026-11-26` (daily)."""
        return self._key(self.period_start(now).date() - timedelta(days=1))

    def _key(self, day: date) -> str:
        return day.strftime("%Y-%m") if self.period == "monthly" else day.isoformat()

    def threshold_id(self, threshold: Threshold) -> str:
        """`warning#600.00#75`: the threshold and its amount (limit, %); `exceeded#600.00` is 100 %."""
        limit = money_str(self.limit)
        if threshold == "exceeded":
            return f"exceeded#{limit}"
        return f"{threshold}#{limit}#{_pct_key(self.threshold_pct(threshold))}"

    def label(self) -> str:
        return f"'{self.id}' ({self.scope}{'' if self.target is None else ' ' + self.target})"


@dataclass(frozen=True)
class BudgetStatus:
    spent: Decimal
    pct: Decimal  # half-even, 2 places (display)
    state: State


def crossed(budget: Budget, spent: Decimal, threshold: Threshold) -> bool:
    """Exact comparison (not the rounded pct): 599.997 of 600 is not yet exceeded."""
    return spent * HUNDRED >= budget.threshold_pct(threshold) * budget.limit


def status(budget: Budget, spent: Decimal) -> BudgetStatus:
    state: State = "ok"
    for threshold in THRESHOLDS:
        if crossed(budget, spent, threshold):
            state = threshold
    value = pct(spent, budget.limit)
    assert value is not None  # limit > 0
    return BudgetStatus(spent, value, state)


# --- store --------------------------------------------------------------------------------------


class BudgetStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self.client = client
        self.table = table
        self.db = Table(client, table)

    def put(self, budget: Budget, now: datetime | None = None) -> Budget:
        """Create or replace by id; `created_at` is kept from the stored budget if there is one."""
        moment = _iso(now or datetime.now(UTC))
        values = {
            ":scope": budget.scope,
            ":period": budget.period,
            ":limit": budget.limit,
            ":warning": budget.warning_pct,
            ":critical": budget.critical_pct,
            ":now": moment,
            ":id": budget.id,
        }
        sets = [
            "#id = :id",
            "#scope = :scope",
            "#period = :period",
            "#limit = :limit",
            "warning_pct = :warning",
            "critical_pct = :critical",
            "updated_at = :now",
            "created_at = if_not_exists(created_at, :now)",
        ]
        names = {"#id": "id", "#scope": "scope", "#period": "period", "#limit": "limit"}
        expression = "SET " + ", ".join(sets)
        if budget.target is None:
            expression += " REMOVE #target"
        else:
            expression = "SET #target = :target, " + ", ".join(sets)
            values[":target"] = budget.target
        names["#target"] = "target"
        stored = self.db.update(
            BUDGETS_PK, budget.id, expression, names=names, values=values, return_new=True
        )
        assert stored is not None  # ALL_NEW: the item as written
        return _budget(stored)

    def get(self, budget_id: str) -> Budget | None:
        found = self.db.get(BUDGETS_PK, budget_id)
        return _budget(found) if found is not None else None

    def list(self) -> list[Budget]:
        return [_budget(item) for item in self.db.query(BUDGETS_PK, ConsistentRead=True)]

    def delete(self, budget_id: str) -> bool:
        """True if a budget was deleted. Its claims stay: they only ever match this id and limit."""
        return self.db.delete(BUDGETS_PK, budget_id, return_old=True) is not None


def _budget(item: dict[str, Any]) -> Budget:
    return Budget(
        id=item["id"],
        scope=item["scope"],
        target=item.get("target"),
        period=item["period"],
        limit=item["limit"],
        warning_pct=item["warning_pct"],
        critical_pct=item["critical_pct"],
        created_at=datetime.fromisoformat(item["created_at"]) if item.get("created_at") else None,
        updated_at=datetime.fromisoformat(item["updated_at"]) if item.get("updated_at") else None,
    )


# --- spend --------------------------------------------------------------------------------------


class _Aggregates:
    """Aggregate partitions read once per evaluation (several budgets share the same rows)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.db = ledger.db
        self._cache: dict[tuple[str, ...], list[dict[str, Any]]] = {}

    def _memo(self, key: tuple[str, ...], load: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        if key not in self._cache:
            self._cache[key] = load()
        return self._cache[key]

    def spent(self, budget: Budget, period: str) -> Decimal:
        """The cost of `period` (a `period_key`: `2026-11` for a monthly budget, `2026-11-27` daily)."""
        month, day = period[:7], period
        target = budget.target
        if budget.scope == "customer" and target is not None:
            return self._one(
                f"{schema.AGG_CUSTOMER_MONTH}{month}"
                if budget.period == "monthly"
                else f"{schema.AGG_CUSTOMER_DAY}{month}",
                target if budget.period == "monthly" else f"{day}#{target}",
            )
        if budget.period == "monthly":
            if budget.scope == "organization":
                rows = self._memo(("CM", month), lambda: self.ledger.customer_month(month))
            else:
                rows = self._memo(("FM", month), lambda: self.ledger.feature_model_month(month))
        elif budget.scope == "organization":
            rows = self._memo(("CD", day), lambda: self.ledger.customer_days(month, day, day))
        else:
            rows = self._memo(("FD", day), lambda: self.ledger.feature_model_days(month, day, day))
        if budget.scope == "feature":
            rows = [row for row in rows if row.get("feature") == target]
        if budget.period == "daily":
            rows = [row for row in rows if row.get("day") == day]
        return sum((Decimal(row.get("cost", 0)) for row in rows), ZERO)

    def _one(self, pk: str, sk: str) -> Decimal:
        found = self.db.get(pk, sk, consistent=False, attributes=("cost",))
        return Decimal(found.get("cost", 0)) if found is not None else ZERO


def spent(ledger: Ledger, budget: Budget, now: datetime) -> Decimal:
    """The cost (priced events) of the budget's current period at `now`, from the aggregates only."""
    return _Aggregates(ledger).spent(budget, budget.period_key(now))


# --- evaluation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SentAlert:
    budget_id: str
    kind: str
    threshold: str
    period: str
    subject: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class AlertFailure:
    budget_id: str
    kind: str
    threshold: str
    period: str
    error: str


@dataclass(frozen=True)
class BudgetResult:
    budget: Budget
    period: str
    status: BudgetStatus
    is_current: bool = True  # False: the period before the current one (late crossings)


@dataclass
class EvaluationReport:
    """One evaluation. `budgets` has a result per budget for its current period and, where it was
    evaluated too, one for the period before (`is_current` False); `current` lists the former.
    Each alert and failure names its `period`."""

    budgets: list[BudgetResult] = field(default_factory=list)
    sent: list[SentAlert] = field(default_factory=list)
    # Thresholds crossed whose alert another run (or this one) claimed: sent, or being sent.
    already_sent: int = 0
    failures: list[AlertFailure] = field(default_factory=list)

    @property
    def current(self) -> list[BudgetResult]:
        return [result for result in self.budgets if result.is_current]

    @property
    def resolved(self) -> list[SentAlert]:
        return [alert for alert in self.sent if alert.kind == "budget_resolved"]


ClaimKind = Literal["threshold", "resolved"]


def _claims(db: Table, budget_id: str, period: str) -> dict[str, dict[str, Any]]:
    """The budget's claims of one period, by sort key."""
    rows = db.query(
        f"{schema.ALERT_CLAIM}{budget_id}",
        and_sk=" AND begins_with(#sk, :prefix)",
        names={"#sk": SK},
        values={":prefix": f"{period}#"},
        ConsistentRead=True,
    )
    return {row[SK]: row for row in rows}


def _claimed_before_pct_keys(
    budget: Budget, period: str, kind: ClaimKind, threshold: Threshold, claims: Mapping[str, Any]
) -> bool:
    """A claim of this threshold at this limit in the key format without the % (before the lease
    items), made under the budget's current settings: it was sent for what would be claimed now."""
    if threshold == "exceeded":
        return False  # its key never held a %: the claim itself is found
    prefix = "resolved#" if kind == "resolved" else ""
    old = claims.get(f"{period}#{prefix}{threshold}#{money_str(budget.limit)}")
    if old is None or "pct" in old:
        return False
    if budget.updated_at is None:
        return True
    try:
        return datetime.fromisoformat(str(old["claimed_at"])) >= budget.updated_at
    except (KeyError, ValueError):
        return False


def in_scope(customers: set[str], features: set[str]) -> Callable[[Budget], bool]:
    """Budgets the usage of these customers and features counts in (the organization's always)."""

    def matches(budget: Budget) -> bool:
        if budget.scope == "customer":
            return budget.target in customers
        if budget.scope == "feature":
            return budget.target in features
        return True

    return matches


class _Evaluator:
    def __init__(
        self,
        store: BudgetStore,
        ledger: Ledger,
        publisher: AlertPublisher,
        now: datetime,
        only: Callable[[Budget], bool] | None = None,
    ) -> None:
        self.client, self.table, self.db = store.client, store.table, store.db
        self.store, self.publisher, self.now = store, publisher, now
        self.aggregates = _Aggregates(ledger)
        self.report = EvaluationReport()
        self.only = only

    def run(self) -> EvaluationReport:
        for budget in self.store.list():
            if self.only is not None and not self.only(budget):
                continue
            # The period before, while this budget's settings were in force during it.
            if budget.updated_at is None or budget.updated_at < budget.period_start(self.now):
                self._evaluate(budget, budget.previous_period_key(self.now), is_current=False)
            self._evaluate(budget, budget.period_key(self.now), is_current=True)
        return self.report

    def _evaluate(self, budget: Budget, period: str, *, is_current: bool) -> None:
        current = status(budget, self.aggregates.spent(budget, period))
        self.report.budgets.append(BudgetResult(budget, period, current, is_current))
        claims = _claims(self.db, budget.id, period)
        for threshold in THRESHOLDS:
            if crossed(budget, current.spent, threshold):
                self._fire(budget, period, current, "threshold", threshold, claims)
        self._resolve(budget, period, current, claims)

    def _resolve(
        self, budget: Budget, period: str, current: BudgetStatus, claims: Mapping[str, dict[str, Any]]
    ) -> None:
        """Thresholds alerted this period at a lower amount (a lower limit or %) and no longer crossed:
        one `budget_resolved`, for the highest of them."""
        cleared: set[Threshold] = set()
        for claim in claims.values():
            threshold = claim.get("threshold")
            if claim.get("claim") != "threshold" or claim_state(claim) != SENT or threshold not in THRESHOLDS:
                continue
            if crossed(budget, current.spent, threshold):
                continue
            now_pct = budget.threshold_pct(threshold)
            claimed_pct = Decimal(claim.get("pct", now_pct))  # no pct: a claim from before, by its limit
            if Decimal(claim["limit"]) * claimed_pct < budget.limit * now_pct:
                cleared.add(threshold)
        if cleared:
            highest = max(cleared, key=THRESHOLDS.index)
            self._fire(budget, period, current, "resolved", highest, claims)

    def _fire(
        self,
        budget: Budget,
        period: str,
        current: BudgetStatus,
        kind: ClaimKind,
        threshold: Threshold,
        claims: Mapping[str, Any],
    ) -> None:
        if _claimed_before_pct_keys(budget, period, kind, threshold, claims):
            self.report.already_sent += 1
            return
        prefix = "resolved#" if kind == "resolved" else ""
        sk = f"{period}#{prefix}{budget.threshold_id(threshold)}"
        alert_kind = "budget_resolved" if kind == "resolved" else f"budget_{threshold}"
        subject, detail = _message(budget, period, current, kind, threshold)
        attributes = {
            "claim": kind,
            "budget_id": budget.id,
            "threshold": threshold,
            "period": period,
            "limit": budget.limit,
            "pct": budget.threshold_pct(threshold),
        }
        result = send_once(
            self.client,
            self.table,
            f"{schema.ALERT_CLAIM}{budget.id}",
            sk,
            attributes,
            lambda: self.publisher.publish(alert_kind, subject, detail),
            self.now,
        )
        if result.outcome == "already_claimed":
            self.report.already_sent += 1
            return
        if result.outcome == "failed":
            error = result.error or "failed"
            self.report.failures.append(AlertFailure(budget.id, alert_kind, threshold, period, error))
            return
        try:
            self._record(budget, alert_kind, subject, detail, "resolved" if kind == "resolved" else threshold)
        except Exception:  # published and marked sent: only the history line is missing
            logger.exception(
                "budget alert sent but not written to the alert history",
                extra={"budget_id": budget.id, "kind": alert_kind, "period": period},
            )
        self.report.sent.append(SentAlert(budget.id, alert_kind, threshold, period, subject, detail))

    def _record(self, budget: Budget, kind: str, subject: str, detail: dict[str, Any], name: str) -> None:
        moment = self.now.astimezone(UTC)
        for _ in range(5):  # the same evaluation time twice for one budget and threshold: next microsecond
            item = {
                PK: f"{schema.BUDGET_ALERTS}{moment.strftime('%Y-%m')}",
                SK: f"{_iso(moment)}#{budget.id}#{name}",
                "kind": kind,
                "subject": subject,
                "budget_id": budget.id,
                "threshold": detail["threshold"],
                "value": detail["pct"],
                "spent": detail["spent"],
                "limit": detail["limit"],
                "period": detail["period"],
                "detail": detail,
                "time": _iso(moment),
            }
            try:
                self.db.put(item, condition="attribute_not_exists(pk)")
                return
            except ConditionFailed:
                moment += timedelta(microseconds=1)


def _message(
    budget: Budget, period: str, current: BudgetStatus, kind: ClaimKind, threshold: Threshold
) -> tuple[str, dict[str, Any]]:
    shown = f"{pct_str(current.pct)}% of {money_str(budget.limit)} ({budget.period} {period})"
    if kind == "resolved":
        subject = f"Budget {budget.label()} back under its {threshold} threshold: {shown}"
    else:
        subject = f"Budget {budget.label()} {threshold}: {shown}"
    detail = {
        "budget_id": budget.id,
        "scope": budget.scope,
        "target": budget.target,
        "period": period,
        "threshold": threshold,
        "threshold_pct": pct_str(budget.threshold_pct(threshold)),
        "pct": pct_str(current.pct),
        "spent": money_str(current.spent),
        "limit": money_str(budget.limit),
    }
    return subject, detail


def evaluate(
    store: BudgetStore,
    ledger: Ledger,
    publisher: AlertPublisher,
    now: datetime,
    only: Callable[[Budget], bool] | None = None,
) -> EvaluationReport:
    """Alert every threshold crossed, once per budget, period and threshold amount (limit and %), and
    `resolved`; over the current period and the one before it (see the module docstring).

    A failure on one alert (publisher, claim, release) is reported and logged; the others go on."""
    return _Evaluator(store, ledger, publisher, now, only).run()


# --- blocklist ----------------------------------------------------------------------------------


def blocklist(store: BudgetStore, ledger: Ledger, now: datetime) -> dict[str, Any]:
    """What is at or over its limit now; `version` grows by one each time that list changes."""
    aggregates = _Aggregates(ledger)
    organization, features, customers = False, set[str](), set[str]()
    for budget in store.list():
        if not crossed(budget, aggregates.spent(budget, budget.period_key(now)), "exceeded"):
            continue
        if budget.scope == "organization":
            organization = True
        elif budget.target is not None:
            (features if budget.scope == "feature" else customers).add(budget.target)
    blocked = {"organization": organization, "features": sorted(features), "customers": sorted(customers)}
    digest = hashlib.sha256(json.dumps(blocked, sort_keys=True).encode()).hexdigest()
    return {"version": _version(store, digest), "ttl_seconds": BLOCKLIST_TTL_SECONDS, "blocked": blocked}


def _version(store: BudgetStore, digest: str) -> int:
    while True:
        stored = store.db.get(BLOCKLIST_KEY[PK], BLOCKLIST_KEY[SK])
        if stored is not None and stored["hash"] == digest:
            return int(stored["version"])
        version = int(stored["version"]) + 1 if stored else 1
        condition = "attribute_not_exists(pk)" if stored is None else "#v = :old"
        values: dict[str, Any] = {":v": version, ":h": digest}
        if stored is not None:
            values[":old"] = stored["version"]
        try:
            store.db.update(
                BLOCKLIST_KEY[PK],
                BLOCKLIST_KEY[SK],
                "SET #v = :v, #h = :h",
                condition=condition,
                names={"#v": "version", "#h": "hash"},
                values=values,
            )
            return version
        except ConditionFailed:
            pass  # another caller moved the version first: read it again


# --- history ------------------------------------------------------------------------------------


def alerts(client: DynamoDBClient, table: str, month: str) -> list[dict[str, Any]]:
    """Alerts sent in `month` (`2026-11`), oldest first."""
    rows = Table(client, table).query(f"{schema.BUDGET_ALERTS}{month}", ConsistentRead=True)
    return [{key: value for key, value in row.items() if key not in (PK, SK)} for row in rows]
