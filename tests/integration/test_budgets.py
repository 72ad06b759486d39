"""Budgets: spend from the aggregates, alerts exactly once, re-arming, resolved, the blocklist."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from marginlens.budgets import (
    Budget,
    BudgetStore,
    alerts,
    blocklist,
    evaluate,
    spent,
    status,
)
from marginlens.db import DynamoDBClient, make_client
from marginlens.ingest import ingest
from marginlens.ledger import Ledger
from marginlens.price_store import PriceStore
from marginlens.settings import Settings
from tests.integration.conftest import PRICED_MODEL, RecordingPublisher, priced_model_store

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
NEXT_MONTH = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
MODEL = PRICED_MODEL


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
