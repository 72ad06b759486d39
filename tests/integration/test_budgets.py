"""Budgets: spend from the aggregates, alerts exactly once, re-arming, resolved, the blocklist."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from marginlens.budgets.budgets import (
    Budget,
    BudgetStore,
    alerts,
    blocklist,
    evaluate,
    spent,
    status,
)
from marginlens.core.settings import Settings
from marginlens.pricing.store import PriceStore
from marginlens.storage.dynamodb import PK, SK, DynamoDBClient, from_item, make_client, to_item
from marginlens.usage.ingest import ingest
from marginlens.usage.ledger import Ledger
from tests.integration.conftest import (
    PRICED_MODEL,
    Crash,
    FailingDeletes,
    RecordingPublisher,
    priced_model_store,
)

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
NEXT_MONTH = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
MODEL = PRICED_MODEL
# Past the claims' lease (marginlens.storage.claims.LEASE, 10 minutes; test_alert_claims checks it).
AFTER_LEASE = timedelta(minutes=11)


@pytest.fixture
def prices(client: DynamoDBClient, settings: Settings) -> PriceStore:
    return priced_model_store(client, settings.table_name, NOW - timedelta(days=90))


@pytest.fixture
def budgets(client: DynamoDBClient, settings: Settings) -> BudgetStore:
    return BudgetStore(client, settings.table_name)


@pytest.fixture
def spend(settings: Settings, ledger: Ledger, prices: PriceStore) -> Any:
    counter = iter(range(1_000_000))

    def _spend(
        dollars: str, at: datetime, *, feature: str = "image_generation", customer: str = "acct_1"
    ) -> None:
        tokens = int(Decimal(dollars) * 1000)
        payload = {
            "request_id": f"req_{next(counter)}",
            "customer_id": customer,
            "model": MODEL,
            "feature": feature,
            "prompt_tokens": tokens,
            "completion_tokens": 0,
            "timestamp": at.isoformat(),
        }
        result = ingest(payload, settings=settings, ledger=ledger, prices=prices.book(), now=at, key_id=None)
        if ledger.before_read is not None:
            ledger.before_read()  # the aggregates follow before anything evaluates them
        outcome = result.results[0]
        assert outcome["price_status"] == "priced" and Decimal(outcome["cost"]) == Decimal(dollars)

    return _spend


def image_budget(limit: str = "600.00") -> Budget:
    return Budget(
        id="img", scope="feature", target="image_generation", period="monthly", limit=Decimal(limit)
    )


def seed_546(spend: Any) -> None:
    """The seed: 546.00 of image generation this month (91 % of 600), plus other spend that must not count."""
    spend("182.00", NOW - timedelta(days=20))
    spend("182.00", NOW - timedelta(days=3), customer="acct_2")
    spend("182.00", NOW - timedelta(hours=1))
    spend("50.00", NOW - timedelta(hours=2), feature="chat")
    spend("70.00", NOW - timedelta(days=30))  # October


def test_budget_validation() -> None:
    with pytest.raises(ValueError, match="target"):
        Budget(id="b", scope="feature", limit=Decimal(1))
    with pytest.raises(ValueError, match="target"):
        Budget(id="b", scope="organization", target="x", limit=Decimal(1))
    with pytest.raises(ValueError, match="greater than 0"):
        Budget(id="b", scope="organization", limit=Decimal(0))
    with pytest.raises(ValueError, match="warning_pct"):
        Budget(
            id="b", scope="organization", limit=Decimal(1), warning_pct=Decimal(90), critical_pct=Decimal(80)
        )
    budget = image_budget()
    assert (budget.warning_pct, budget.critical_pct) == (75, 90)
    assert status(budget, Decimal("546")).state == "critical"
    assert status(budget, Decimal("546")).pct == Decimal("91.00")
    assert status(budget, Decimal("449.99")).state == "ok"
    assert status(budget, Decimal("450")).state == "warning"
    assert status(budget, Decimal("599.997")).state == "critical"  # rounds to 100.00 %, not over yet
    assert status(budget, Decimal("600")).state == "exceeded"
    assert status(budget, Decimal("1")).pct == Decimal("0.17")


def test_store_put_get_list_delete(budgets: BudgetStore) -> None:
    first = budgets.put(image_budget(), now=NOW)
    assert first.created_at == first.updated_at == NOW and first.limit == Decimal("600.00")
    org = budgets.put(Budget(id="org", scope="organization", period="daily", limit=Decimal(100)), now=NOW)
    assert org.target is None and org.period == "daily"
    later = NOW + timedelta(hours=1)
    replaced = budgets.put(image_budget("1000"), now=later)
    assert replaced.created_at == NOW and replaced.updated_at == later and replaced.limit == 1000
    assert budgets.get("img") == replaced
    assert [budget.id for budget in budgets.list()] == ["img", "org"]
    assert budgets.delete("img") is True and budgets.delete("img") is False
    assert budgets.get("img") is None


def test_spent_reads_aggregates_only(
    budgets: BudgetStore, ledger: Ledger, spend: Any, call_counter: dict[str, int]
) -> None:
    seed_546(spend)
    call_counter.clear()
    assert spent(ledger, image_budget(), NOW) == Decimal("546.00")
    assert spent(ledger, Budget(id="o", scope="organization", limit=Decimal(1)), NOW) == Decimal("596.00")
    assert spent(ledger, Budget(id="c", scope="customer", target="acct_2", limit=Decimal(1)), NOW) == 182
    daily = {"period": "daily", "limit": Decimal(1)}
    assert spent(ledger, Budget(id="d", scope="organization", **daily), NOW) == Decimal("232.00")
    assert spent(ledger, Budget(id="d", scope="feature", target="image_generation", **daily), NOW) == 182
    assert spent(ledger, Budget(id="d", scope="customer", target="acct_2", **daily), NOW) == 0
    assert spent(ledger, Budget(id="d", scope="feature", target="nothing", **daily), NOW) == 0
    assert "Scan" not in call_counter and set(call_counter) <= {"Query", "GetItem"}


def test_warning_and_critical_once_with_concurrent_evaluators(
    budgets: BudgetStore, ledger: Ledger, spend: Any, settings: Settings, client: DynamoDBClient
) -> None:
    seed_546(spend)
    budgets.put(image_budget(), now=NOW)
    publisher = RecordingPublisher()
    barrier = threading.Barrier(3)
    reports: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        own = make_client(settings)  # each evaluator its own client, as separate Lambdas would have
        try:
            barrier.wait()
            reports.append(
                evaluate(
                    BudgetStore(own, settings.table_name), Ledger(own, settings.table_name), publisher, NOW
                )
            )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert publisher.kinds() == ["budget_critical", "budget_warning"]
    assert sum(len(report.sent) for report in reports) == 2
    assert sum(report.already_sent for report in reports) == 4

    for _ in range(100):
        report = evaluate(budgets, ledger, publisher, NOW)
        assert report.sent == [] and report.already_sent == 2
    assert publisher.kinds() == ["budget_critical", "budget_warning"]
    [result] = report.budgets
    assert (result.period, result.status.state, result.status.pct) == (
        "2026-11",
        "critical",
        Decimal("91.00"),
    )

    critical = next(detail for kind, _, detail in publisher.sent if kind == "budget_critical")
    assert critical == {
        "budget_id": "img",
        "scope": "feature",
        "target": "image_generation",
        "period": "2026-11",
        "threshold": "critical",
        "threshold_pct": "90",
        "pct": "91.00",
        "spent": "546.00",
        "limit": "600.00",
    }
    history = alerts(client, settings.table_name, "2026-11")
    assert sorted(row["kind"] for row in history) == ["budget_critical", "budget_warning"]
    assert {row["value"] for row in history} == {"91.00"} and all(row["time"] for row in history)
    assert {row["threshold"] for row in history} == {"warning", "critical"}


def test_raising_the_limit_rearms_and_resolves(budgets: BudgetStore, ledger: Ledger, spend: Any) -> None:
    seed_546(spend)
    budgets.put(image_budget(), now=NOW)
    publisher = RecordingPublisher()
    evaluate(budgets, ledger, publisher, NOW)
    budgets.put(image_budget("1000.00"), now=NOW)
    report = evaluate(budgets, ledger, publisher, NOW)
    assert [alert.kind for alert in report.sent] == ["budget_resolved"]
    assert report.resolved[0].threshold == "critical" and report.resolved[0].detail["pct"] == "54.60"
    assert evaluate(budgets, ledger, publisher, NOW).sent == []  # resolved once, too
    # Spend grows past 75 % of the new limit: the warning is re-armed under it.
    spend("250.00", NOW - timedelta(minutes=30))  # 796.00: 79.6 %
    report = evaluate(budgets, ledger, publisher, NOW)
    assert [alert.kind for alert in report.sent] == ["budget_warning"]
    assert report.sent[0].detail["limit"] == "1000.00"
    assert publisher.kinds() == ["budget_critical", "budget_resolved", "budget_warning", "budget_warning"]


def test_a_new_month_rearms(budgets: BudgetStore, ledger: Ledger, spend: Any) -> None:
    seed_546(spend)
    budgets.put(image_budget(), now=NOW)
    publisher = RecordingPublisher()
    evaluate(budgets, ledger, publisher, NOW)
    assert evaluate(budgets, ledger, publisher, NEXT_MONTH).sent == []  # December: nothing spent yet
    spend("460.00", NEXT_MONTH - timedelta(hours=1))
    report = evaluate(budgets, ledger, publisher, NEXT_MONTH)
    assert [(alert.kind, alert.period) for alert in report.sent] == [("budget_warning", "2026-12")]
    assert evaluate(budgets, ledger, publisher, NEXT_MONTH).sent == []
    assert publisher.kinds() == ["budget_critical", "budget_warning", "budget_warning"]


def test_a_failed_publish_releases_its_claim(
    budgets: BudgetStore, ledger: Ledger, spend: Any, client: DynamoDBClient, settings: Settings
) -> None:
    seed_546(spend)
    budgets.put(image_budget(), now=NOW)
    publisher = RecordingPublisher(fail_times=1)
    first = evaluate(budgets, ledger, publisher, NOW)
    assert [(failure.kind, failure.threshold) for failure in first.failures] == [
        ("budget_warning", "warning")
    ]
    assert "SNS is down" in first.failures[0].error
    assert publisher.kinds() == ["budget_critical"]
    assert [row["kind"] for row in alerts(client, settings.table_name, "2026-11")] == ["budget_critical"]
    second = evaluate(budgets, ledger, publisher, NOW)
    assert [alert.kind for alert in second.sent] == ["budget_warning"] and second.failures == []
    for _ in range(3):
        assert evaluate(budgets, ledger, publisher, NOW).sent == []
    assert publisher.kinds() == ["budget_critical", "budget_warning"]


def test_blocklist_version_changes_only_with_the_list(
    budgets: BudgetStore, ledger: Ledger, spend: Any, client: DynamoDBClient, settings: Settings
) -> None:
    seed_546(spend)
    budgets.put(image_budget(), now=NOW)
    budgets.put(Budget(id="c2", scope="customer", target="acct_2", limit=Decimal(1000)), now=NOW)
    first = blocklist(budgets, ledger, NOW)
    assert first["ttl_seconds"] == 30
    assert first["blocked"] == {"organization": False, "features": [], "customers": []}
    assert blocklist(budgets, ledger, NOW)["version"] == first["version"]

    spend("54.00", NOW - timedelta(minutes=10))  # exactly 600.00: at 100 %
    over = blocklist(budgets, ledger, NOW)
    assert over["blocked"] == {"organization": False, "features": ["image_generation"], "customers": []}
    assert over["version"] == first["version"] + 1
    spend("10.00", NOW - timedelta(minutes=5))
    assert blocklist(budgets, ledger, NOW)["version"] == over["version"]  # same list, same version

    budgets.put(Budget(id="org", scope="organization", limit=Decimal(500)), now=NOW)
    both = blocklist(budgets, ledger, NOW)
    assert both["blocked"]["organization"] is True and both["version"] == over["version"] + 1
    budgets.delete("org")
    budgets.put(image_budget("1000"), now=NOW)
    cleared = blocklist(budgets, ledger, NOW)
    assert cleared["blocked"] == first["blocked"] and cleared["version"] == both["version"] + 1
    # A new month starts empty: the version only moves when what is blocked changes.
    assert blocklist(budgets, ledger, NEXT_MONTH)["version"] == cleared["version"]


# --- regressions: alerts lost or wrong ------------------------------------------------------------


class CrashingPublisher(RecordingPublisher):
    """Dies (once) when asked to publish `kind`."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.crash_on: str | None = kind

    def publish(self, kind: str, subject: str, detail: dict[str, Any]) -> None:
        if kind == self.crash_on:
            self.crash_on = None
            raise Crash()
        super().publish(kind, subject, detail)


def claim_item(client: DynamoDBClient, table: str, budget_id: str, sk: str) -> dict[str, Any] | None:
    found = client.get_item(TableName=table, Key=to_item({PK: f"ALERTCLAIM#{budget_id}", SK: sk}))
    return from_item(found["Item"]) if "Item" in found else None


def test_a_crash_between_claim_and_publish_delays_the_alert_by_the_lease(
    budgets: BudgetStore, ledger: Ledger, spend: Any, client: DynamoDBClient, settings: Settings
) -> None:
    seed_546(spend)
    budgets.put(image_budget(), now=NOW)
    publisher = CrashingPublisher("budget_warning")
    with pytest.raises(Crash):
        evaluate(budgets, ledger, publisher, NOW)  # warning claimed, then the process dies
    soon = evaluate(budgets, ledger, publisher, NOW + timedelta(minutes=5))
    assert [alert.kind for alert in soon.sent] == ["budget_critical"]
    assert soon.already_sent == 1  # the warning's claim is within its lease: maybe still being sent
    later = evaluate(budgets, ledger, publisher, NOW + AFTER_LEASE)
    assert [alert.kind for alert in later.sent] == ["budget_warning"] and later.failures == []
    assert evaluate(budgets, ledger, publisher, NOW + 2 * AFTER_LEASE).sent == []
    assert publisher.kinds() == ["budget_critical", "budget_warning"]
    claim = claim_item(client, settings.table_name, "img", "2026-11#warning#600.00#75")
    assert claim is not None and claim["state"] == "sent" and claim["attempt"] == 2
    history = alerts(client, settings.table_name, "2026-11")
    assert sorted(row["kind"] for row in history) == ["budget_critical", "budget_warning"]


def test_a_failed_release_is_reported_and_the_evaluation_goes_on(
    budgets: BudgetStore, ledger: Ledger, spend: Any, client: DynamoDBClient, settings: Settings
) -> None:
    seed_546(spend)
    budgets.put(image_budget(), now=NOW)
    budgets.put(Budget(id="org", scope="organization", limit=Decimal(700)), now=NOW)  # 596: 85 %
    broken = BudgetStore(FailingDeletes(client), settings.table_name)  # type: ignore[arg-type]
    publisher = RecordingPublisher(fail_times=1)  # img's warning, the first alert, fails
    report = evaluate(broken, ledger, publisher, NOW)
    [failure] = report.failures
    assert (failure.budget_id, failure.kind, failure.period) == ("img", "budget_warning", "2026-11")
    assert "SNS is down" in failure.error and "not released" in failure.error
    assert [(alert.budget_id, alert.kind) for alert in report.sent] == [
        ("img", "budget_critical"),
        ("org", "budget_warning"),
    ]
    # The claim stayed: the warning waits for its lease, then is sent once.
    assert evaluate(budgets, ledger, publisher, NOW + timedelta(minutes=5)).sent == []
    retried = evaluate(budgets, ledger, publisher, NOW + AFTER_LEASE)
    assert [(alert.budget_id, alert.kind) for alert in retried.sent] == [("img", "budget_warning")]
    assert publisher.kinds() == ["budget_critical", "budget_warning", "budget_warning"]


def test_changing_a_threshold_pct_rearms_it_and_raising_one_resolves(
    budgets: BudgetStore, ledger: Ledger, spend: Any
) -> None:
    seed_546(spend)  # 91 %
    budgets.put(image_budget(), now=NOW)
    publisher = RecordingPublisher()
    assert len(evaluate(budgets, ledger, publisher, NOW).sent) == 2
    same = image_budget().model_copy(update={"warning_pct": Decimal("75.00")})
    budgets.put(same, now=NOW)  # the same amount spelled otherwise: nothing re-armed
    assert evaluate(budgets, ledger, publisher, NOW).sent == []

    budgets.put(image_budget().model_copy(update={"warning_pct": Decimal(80)}), now=NOW)
    report = evaluate(budgets, ledger, publisher, NOW)
    assert [(alert.kind, alert.detail["threshold_pct"]) for alert in report.sent] == [
        ("budget_warning", "80")
    ]

    raised = image_budget().model_copy(update={"warning_pct": Decimal(80), "critical_pct": Decimal(95)})
    budgets.put(raised, now=NOW)  # 91 % is no longer critical
    report = evaluate(budgets, ledger, publisher, NOW)
    assert [alert.kind for alert in report.sent] == ["budget_resolved"]
    assert report.resolved[0].threshold == "critical" and report.resolved[0].detail["threshold_pct"] == "95"
    assert evaluate(budgets, ledger, publisher, NOW).sent == []  # resolved once

    spend("30.00", NOW - timedelta(minutes=30))  # 576.00: 96 %, critical again under 95 %
    report = evaluate(budgets, ledger, publisher, NOW)
    assert [(alert.kind, alert.detail["pct"]) for alert in report.sent] == [("budget_critical", "96.00")]
    assert publisher.kinds() == [
        "budget_critical",
        "budget_critical",
        "budget_resolved",
        "budget_warning",
        "budget_warning",
    ]


def test_claims_from_before_the_pct_keys_are_not_sent_again(
    budgets: BudgetStore, ledger: Ledger, spend: Any, client: DynamoDBClient, settings: Settings
) -> None:
    """A claim of the older format (`{period}#{threshold}#{limit}`, no state, no pct) still holds."""
    seed_546(spend)
    budgets.put(image_budget(), now=NOW - timedelta(days=1))
    for threshold in ("warning", "critical"):
        old = {
            PK: "ALERTCLAIM#img",
            SK: f"2026-11#{threshold}#600.00",
            "claim": "threshold",
            "budget_id": "img",
            "threshold": threshold,
            "period": "2026-11",
            "limit": Decimal(600),
            "token": "old",
            "claimed_at": "2026-11-26T18:00:00Z",
        }
        client.put_item(TableName=settings.table_name, Item=to_item(old))
    publisher = RecordingPublisher()
    report = evaluate(budgets, ledger, publisher, NOW)
    assert report.sent == [] and report.already_sent == 2
    # Settings changed since those claims: they may no longer match what they were sent for.
    budgets.put(image_budget().model_copy(update={"warning_pct": Decimal(80)}), now=NOW)
    report = evaluate(budgets, ledger, publisher, NOW)
    assert sorted(alert.kind for alert in report.sent) == ["budget_critical", "budget_warning"]
    assert evaluate(budgets, ledger, publisher, NOW).sent == []


MONTH_END = datetime(2026, 11, 30, 23, 58, tzinfo=UTC)


def test_a_crossing_in_the_last_minutes_of_a_month_is_alerted_for_that_month(
    budgets: BudgetStore, ledger: Ledger, spend: Any
) -> None:
    budgets.put(image_budget(), now=NOW)
    spend("440.00", NOW)  # 73.3 %
    publisher = RecordingPublisher()
    assert evaluate(budgets, ledger, publisher, MONTH_END - timedelta(minutes=3)).sent == []
    spend("10.00", MONTH_END)  # 75 % at 23:58; the next run is already December's
    december = MONTH_END + timedelta(minutes=2)
    report = evaluate(budgets, ledger, publisher, december)
    assert [(alert.kind, alert.period) for alert in report.sent] == [("budget_warning", "2026-11")]
    assert [(result.period, result.is_current) for result in report.budgets] == [
        ("2026-11", False),
        ("2026-12", True),
    ]
    assert [result.period for result in report.current] == ["2026-12"]
    # Usage of 23:59 that arrives after midnight: alerted for November too.
    spend("100.00", MONTH_END + timedelta(minutes=1))  # 550.00: 91.67 %
    report = evaluate(budgets, ledger, publisher, december + timedelta(minutes=5))
    assert [(alert.kind, alert.period) for alert in report.sent] == [("budget_critical", "2026-11")]
    assert report.sent[0].detail["spent"] == "550.00"
    for later in (december + timedelta(minutes=10), datetime(2026, 12, 20, tzinfo=UTC)):
        assert evaluate(budgets, ledger, publisher, later).sent == []
    assert spent(ledger, image_budget(), december) == 0  # GET /v1/budgets: December only
    assert publisher.kinds() == ["budget_critical", "budget_warning"]


def test_a_crossing_late_yesterday_is_alerted_for_yesterday(
    budgets: BudgetStore, ledger: Ledger, spend: Any
) -> None:
    daily = Budget(id="day", scope="organization", period="daily", limit=Decimal(100))
    budgets.put(daily, now=NOW)
    publisher = RecordingPublisher()
    assert evaluate(budgets, ledger, publisher, MONTH_END - timedelta(minutes=3)).sent == []
    spend("80.00", MONTH_END)
    report = evaluate(budgets, ledger, publisher, MONTH_END + timedelta(minutes=4))
    assert [(alert.kind, alert.period) for alert in report.sent] == [("budget_warning", "2026-11-30")]
    assert [result.period for result in report.budgets] == ["2026-11-30", "2026-12-01"]
    assert evaluate(budgets, ledger, publisher, MONTH_END + timedelta(minutes=9)).sent == []
    assert evaluate(budgets, ledger, publisher, MONTH_END + timedelta(days=1)).sent == []  # still yesterday


def test_the_previous_period_is_not_judged_by_settings_made_after_it(
    budgets: BudgetStore, ledger: Ledger, spend: Any
) -> None:
    spend("590.00", MONTH_END)
    december = MONTH_END + timedelta(minutes=10)
    budgets.put(image_budget(), now=december - timedelta(minutes=5))  # created in December
    report = evaluate(budgets, ledger, RecordingPublisher(), december)
    assert report.sent == [] and [result.period for result in report.budgets] == ["2026-12"]
