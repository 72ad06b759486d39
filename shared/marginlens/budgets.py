"""Budgets: limits on AI cost per organization, feature or customer, their alerts and the blocklist.

Spend is read from the usage aggregates only (`ledger.py`), never from events, never by a Scan:
  monthly  organization  sum of AGG#CM#{month}            feature  AGG#FM#{month} rows of the feature
           customer      AGG#CM#{month} / {customer}
  daily    organization  AGG#CD#{month} rows of the day   feature  AGG#FD#{month} rows of the day
           customer      AGG#CD#{month} / {day}#{customer}

Items (single table, `pk`/`sk`):
  BUDGETS               {budget_id}                                  one budget
  ALERTCLAIM#{budget}   {period}#{threshold}#{limit}                 an alert claimed (sent once)
  ALERTCLAIM#{budget}   {period}#resolved#{threshold}#{limit}        a `budget_resolved` claimed
  ALERTS#{month}        {iso time}#{budget}#{threshold}              the history of alerts sent
  BLOCKLIST             CURRENT                                      the last blocklist's hash, version

Exactly once: an evaluator claims an alert with a conditional Put (`attribute_not_exists`) before
publishing it; only the winner publishes. If publishing fails the claim is deleted (by its owner
token), so the next run retries. The claim key holds the period and the limit: a new period or a
changed limit re-arms every threshold.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from marginlens.alerts import AlertPublisher
from marginlens.db import PK, SK, DynamoDBClient, from_item, query_all, to_item
from marginlens.ledger import Ledger
from marginlens.money import ZERO, money_str, pct, pct_str

Scope = Literal["organization", "feature", "customer"]
PeriodKind = Literal["monthly", "daily"]
State = Literal["ok", "warning", "critical", "exceeded"]
Threshold = Literal["warning", "critical", "exceeded"]

THRESHOLDS: tuple[Threshold, ...] = ("warning", "critical", "exceeded")
BUDGETS_PK = "BUDGETS"
BLOCKLIST_KEY = {PK: "BLOCKLIST", SK: "CURRENT"}
BLOCKLIST_TTL_SECONDS = 30
HUNDRED = Decimal(100)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Budget(BaseModel):
    """A limit on one period's cost; `target` is the feature or customer (None for the organization)."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    scope: Scope
    target: str | None = Field(None, min_length=1, max_length=256, pattern=r"^[^#\x00-\x1f]+$")
    period: PeriodKind = "monthly"
    limit: Decimal = Field(gt=0, allow_inf_nan=False, max_digits=30)
    warning_pct: Decimal = Field(Decimal(75), gt=0, lt=100)
    critical_pct: Decimal = Field(Decimal(90), gt=0, lt=100)
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
        day = now.astimezone(UTC).date()
        return day.strftime("%Y-%m") if self.period == "monthly" else day.isoformat()

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
        answer = self.client.update_item(
            TableName=self.table,
            Key=to_item({PK: BUDGETS_PK, SK: budget.id}),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_item(values),
            ReturnValues="ALL_NEW",
        )
        return _budget(from_item(answer["Attributes"]))

    def get(self, budget_id: str) -> Budget | None:
        found = self.client.get_item(
            TableName=self.table, Key=to_item({PK: BUDGETS_PK, SK: budget_id}), ConsistentRead=True
        )
        return _budget(from_item(found["Item"])) if "Item" in found else None

    def list(self) -> list[Budget]:
        return [_budget(item) for item in query_all(self.client, self.table, BUDGETS_PK, ConsistentRead=True)]

    def delete(self, budget_id: str) -> bool:
        """True if a budget was deleted. Its claims stay: they only ever match this id and limit."""
        answer = self.client.delete_item(
            TableName=self.table, Key=to_item({PK: BUDGETS_PK, SK: budget_id}), ReturnValues="ALL_OLD"
        )
        return "Attributes" in answer


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
        self._cache: dict[tuple[str, ...], list[dict[str, Any]]] = {}

    def _memo(self, key: tuple[str, ...], load: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        if key not in self._cache:
            self._cache[key] = load()
        return self._cache[key]

    def spent(self, budget: Budget, now: datetime) -> Decimal:
        day = now.astimezone(UTC).date().isoformat()
        month = day[:7]
        target = budget.target
        if budget.scope == "customer" and target is not None:
            return self._one(
                f"AGG#CM#{month}" if budget.period == "monthly" else f"AGG#CD#{month}",
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
        found = self.ledger.client.get_item(
            TableName=self.ledger.table,
            Key=to_item({PK: pk, SK: sk}),
            ProjectionExpression="#c",
            ExpressionAttributeNames={"#c": "cost"},
        )
        return Decimal(from_item(found["Item"]).get("cost", 0)) if "Item" in found else ZERO


def spent(ledger: Ledger, budget: Budget, now: datetime) -> Decimal:
    """The cost (priced events) of the budget's current period at `now`, from the aggregates only."""
    return _Aggregates(ledger).spent(budget, now)


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


@dataclass
class EvaluationReport:
    budgets: list[BudgetResult] = field(default_factory=list)
    sent: list[SentAlert] = field(default_factory=list)
    already_sent: int = 0  # thresholds crossed whose alert another run (or this one earlier) claimed
    failures: list[AlertFailure] = field(default_factory=list)

    @property
    def resolved(self) -> list[SentAlert]:
        return [alert for alert in self.sent if alert.kind == "budget_resolved"]


def _claims(client: DynamoDBClient, table: str, budget_id: str, period: str) -> list[dict[str, Any]]:
    return query_all(
        client,
        table,
        f"ALERTCLAIM#{budget_id}",
        and_sk=" AND begins_with(#sk, :prefix)",
        names={"#sk": SK},
        values={":prefix": f"{period}#"},
        ConsistentRead=True,
    )


class _Evaluator:
    def __init__(self, store: BudgetStore, ledger: Ledger, publisher: AlertPublisher, now: datetime) -> None:
        self.client, self.table = store.client, store.table
        self.store, self.publisher, self.now = store, publisher, now
        self.aggregates = _Aggregates(ledger)
        self.report = EvaluationReport()

    def run(self) -> EvaluationReport:
        for budget in self.store.list():
            period = budget.period_key(self.now)
            current = status(budget, self.aggregates.spent(budget, self.now))
            self.report.budgets.append(BudgetResult(budget, period, current))
            limit = money_str(budget.limit)
            for threshold in THRESHOLDS:
                if crossed(budget, current.spent, threshold):
                    self._fire(budget, period, current, threshold, f"{period}#{threshold}#{limit}", threshold)
            self._resolve(budget, period, current, limit)
        return self.report

    def _resolve(self, budget: Budget, period: str, current: BudgetStatus, limit: str) -> None:
        """Thresholds alerted this period under a lower limit, no longer crossed: one `budget_resolved`."""
        cleared = {
            claim["threshold"]
            for claim in _claims(self.client, self.table, budget.id, period)
            if claim.get("claim") == "threshold"
            and Decimal(claim["limit"]) < budget.limit
            and not crossed(budget, current.spent, claim["threshold"])
        }
        if cleared:
            highest = max(cleared, key=THRESHOLDS.index)
            self._fire(budget, period, current, "resolved", f"{period}#resolved#{highest}#{limit}", highest)

    def _fire(
        self, budget: Budget, period: str, current: BudgetStatus, kind: str, sk: str, threshold: Threshold
    ) -> None:
        pk, token = f"ALERTCLAIM#{budget.id}", uuid.uuid4().hex
        claim = {
            PK: pk,
            SK: sk,
            "claim": "resolved" if kind == "resolved" else "threshold",
            "budget_id": budget.id,
            "threshold": threshold,
            "period": period,
            "limit": budget.limit,
            "token": token,
            "claimed_at": _iso(self.now),
        }
        try:
            self.client.put_item(
                TableName=self.table, Item=to_item(claim), ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                self.report.already_sent += 1
                return
            raise
        alert_kind = f"budget_{kind}"
        subject, detail = _message(budget, period, current, kind, threshold)
        try:
            self.publisher.publish(alert_kind, subject, detail)
        except Exception as error:  # any publisher failure: release the claim so the next run retries
            self.client.delete_item(
                TableName=self.table,
                Key=to_item({PK: pk, SK: sk}),
                ConditionExpression="#t = :t",
                ExpressionAttributeNames={"#t": "token"},
                ExpressionAttributeValues=to_item({":t": token}),
            )
            self.report.failures.append(AlertFailure(budget.id, alert_kind, threshold, period, repr(error)))
            return
        self._record(budget, alert_kind, subject, detail, threshold if kind != "resolved" else "resolved")
        self.report.sent.append(SentAlert(budget.id, alert_kind, threshold, period, subject, detail))

    def _record(self, budget: Budget, kind: str, subject: str, detail: dict[str, Any], name: str) -> None:
        moment = self.now.astimezone(UTC)
        for _ in range(5):  # the same evaluation time twice for one budget and threshold: next microsecond
            item = {
                PK: f"ALERTS#{moment.strftime('%Y-%m')}",
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
                self.client.put_item(
                    TableName=self.table, Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
                )
                return
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                moment += timedelta(microseconds=1)


def _message(
    budget: Budget, period: str, current: BudgetStatus, kind: str, threshold: Threshold
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
    store: BudgetStore, ledger: Ledger, publisher: AlertPublisher, now: datetime
) -> EvaluationReport:
    """Alert every threshold crossed (once per budget, threshold, period and limit) and `resolved`."""
    return _Evaluator(store, ledger, publisher, now).run()


# --- blocklist ----------------------------------------------------------------------------------


def blocklist(store: BudgetStore, ledger: Ledger, now: datetime) -> dict[str, Any]:
    """What is at or over its limit now; `version` grows by one each time that list changes."""
    aggregates = _Aggregates(ledger)
    organization, features, customers = False, set[str](), set[str]()
    for budget in store.list():
        if not crossed(budget, aggregates.spent(budget, now), "exceeded"):
            continue
        if budget.scope == "organization":
            organization = True
        elif budget.target is not None:
            (features if budget.scope == "feature" else customers).add(budget.target)
    blocked = {"organization": organization, "features": sorted(features), "customers": sorted(customers)}
    digest = hashlib.sha256(json.dumps(blocked, sort_keys=True).encode()).hexdigest()
    return {"version": _version(store, digest), "ttl_seconds": BLOCKLIST_TTL_SECONDS, "blocked": blocked}


def _version(store: BudgetStore, digest: str) -> int:
    client, table = store.client, store.table
    while True:
        found = client.get_item(TableName=table, Key=to_item(BLOCKLIST_KEY), ConsistentRead=True)
        stored = from_item(found["Item"]) if "Item" in found else None
        if stored is not None and stored["hash"] == digest:
            return int(stored["version"])
        version = int(stored["version"]) + 1 if stored else 1
        condition = "attribute_not_exists(pk)" if stored is None else "#v = :old"
        values: dict[str, Any] = {":v": version, ":h": digest}
        if stored is not None:
            values[":old"] = stored["version"]
        try:
            client.update_item(
                TableName=table,
                Key=to_item(BLOCKLIST_KEY),
                UpdateExpression="SET #v = :v, #h = :h",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#v": "version", "#h": "hash"},
                ExpressionAttributeValues=to_item(values),
            )
            return version
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            # another caller moved the version first: read it again


# --- history ------------------------------------------------------------------------------------


def alerts(client: DynamoDBClient, table: str, month: str) -> list[dict[str, Any]]:
    """Alerts sent in `month` (`2026-11`), oldest first."""
    rows = query_all(client, table, f"ALERTS#{month}", ConsistentRead=True)
    return [{key: value for key, value in row.items() if key not in (PK, SK)} for row in rows]
