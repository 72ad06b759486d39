"""Operational alerts: each fires once on a history built to trip it, and stays silent otherwise."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from marginlens.alerts.operations import OpsAlertsFailed, check_operations, ops_alerts_history
from marginlens.core.currency import ExchangeRates
from marginlens.core.settings import Settings
from marginlens.pricing.store import PriceStore
from marginlens.reports.pnl import PnlReport
from marginlens.reports.revenue import LedgerRevenue
from marginlens.revenue.documents import RevenueDocument, RevenueLine
from marginlens.revenue.ledger import RevenueLedger
from marginlens.storage.dynamodb import DynamoDBClient, to_item
from marginlens.usage.events import UNATTRIBUTED
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

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
YESTERDAY = NOW.replace(hour=12) - timedelta(days=1)  # 2026-11-26, the day evaluated
MODEL = PRICED_MODEL


@pytest.fixture
def prices(client: DynamoDBClient, settings: Settings) -> PriceStore:
    return priced_model_store(client, settings.table_name, NOW - timedelta(days=300))


@pytest.fixture
def spend(settings: Settings, ledger: Ledger, prices: PriceStore) -> Any:
    counter = iter(range(1_000_000))
    lenient = settings.model_copy(update={"strict_customer_id": False})

    def _spend(
        dollars: str,
        at: datetime,
        *,
        feature: str = "chat",
        customer: str | None = "acct_1",
        model: str = MODEL,
    ) -> None:
        payload: dict[str, Any] = {
            "request_id": f"req_{next(counter)}",
            "model": model,
            "feature": feature,
            "prompt_tokens": int(Decimal(dollars) * 1000),
            "completion_tokens": 0,
            "timestamp": at.isoformat(),
        }
        if customer is not None:
            payload["customer_id"] = customer
        result = ingest(payload, settings=lenient, ledger=ledger, prices=prices.book(), now=at, key_id=None)
        assert result.results[0]["status"] == "created", result.results

    return _spend


@pytest.fixture
def run(client: DynamoDBClient, settings: Settings, ledger: Ledger, revenue_ledger: RevenueLedger) -> Any:
    report = PnlReport(
        ledger, healthy_pct=Decimal(20), revenue=LedgerRevenue(revenue_ledger, ExchangeRates.parse(""))
    )

    def _run(
        publisher: RecordingPublisher, *, now: datetime = NOW, db: Any = client, **overrides: Any
    ) -> list[Any]:
        chosen = settings.model_copy(update=overrides)
        return check_operations(ledger, report, db, settings.table_name, publisher, chosen, now)

    return _run


def only(alerts: list[Any], kind: str) -> Any:
    (alert,) = [alert for alert in alerts if alert.kind == kind]
    return alert


def kinds(alerts: list[Any]) -> set[str]:
    return {alert.kind for alert in alerts}


def daily_baseline(spend: Any, dollars: str = "10.00") -> None:
    """The 7 days before yesterday: `dollars` a day (average `dollars`)."""
    for days in range(1, 8):
        spend(dollars, YESTERDAY - timedelta(days=days), feature=f"f{days}", customer=f"c{days}")


def test_daily_cost_spike_fires_once(
    run: Any, spend: Any, client: DynamoDBClient, settings: Settings
) -> None:
    daily_baseline(spend)
    spend("11.01", YESTERDAY, feature="f1", customer="c1")  # 10.1 % above 10.00
    publisher = RecordingPublisher()
    sent = run(publisher)
    alert = only(sent, "daily_cost_spike")
    assert alert.period == "2026-11-26"
    assert alert.detail["cost"] == "11.01" and alert.detail["baseline_average"] == "10.00"
    assert alert.detail["increase_pct"] == "10.10"
    assert [kind for kind, _, _ in publisher.sent] == [a.kind for a in sent]
    assert run(RecordingPublisher()) == []
    history = ops_alerts_history(client, settings.table_name, "2026-11")
    assert sorted(row["kind"] for row in history) == sorted(a.kind for a in sent)


def test_daily_cost_spike_silent_inside_threshold_or_below_minimum(run: Any, spend: Any) -> None:
    daily_baseline(spend)
    spend("11.00", YESTERDAY, feature="f1", customer="c1")  # exactly 10 %: not more than
    assert "daily_cost_spike" not in kinds(run(RecordingPublisher()))
    # Far above the average but under the minimum volume.
    assert "daily_cost_spike" not in kinds(run(RecordingPublisher(), ops_daily_cost_min=Decimal("50")))


def test_daily_cost_spike_silent_below_minimum_volume(run: Any, spend: Any) -> None:
    daily_baseline(spend, "1.00")
    spend("9.99", YESTERDAY, feature="f1", customer="c1")  # 899 % above, under 10.00
    assert "daily_cost_spike" not in kinds(run(RecordingPublisher()))


def test_feature_cost_growth_fires_once_without_new_customers(run: Any, spend: Any) -> None:
    spend("5.00", YESTERDAY - timedelta(days=1), feature="search", customer="a")
    spend("5.00", YESTERDAY - timedelta(days=1), feature="search", customer="b")
    spend("5.30", YESTERDAY, feature="search", customer="a")
    spend("5.30", YESTERDAY, feature="search", customer="b")  # 10.60 vs 10.00: +6 %
    spend("3.00", YESTERDAY, feature="chat", customer="c")  # a new customer, of another feature
    sent = run(RecordingPublisher())
    alert = only(sent, "feature_cost_growth")
    assert alert.key == "search" and alert.period == "2026-11-26"
    assert alert.detail["cost"] == "10.60" and alert.detail["previous_day_cost"] == "10.00"
    assert alert.detail["growth_pct"] == "6.00"
    assert run(RecordingPublisher()) == []


def test_feature_cost_growth_silent_when_a_new_customer_explains_it(run: Any, spend: Any) -> None:
    spend("10.00", YESTERDAY - timedelta(days=1), feature="search", customer="a")
    spend("10.00", YESTERDAY, feature="search", customer="a")
    spend("5.00", YESTERDAY, feature="search", customer="newcomer")  # +50 %, explained
    spend("5.00", YESTERDAY - timedelta(days=1), feature="chat", customer="newcomer")  # not new overall
    assert "feature_cost_growth" not in kinds(run(RecordingPublisher()))


def test_feature_cost_growth_silent_inside_threshold_or_below_minimum(run: Any, spend: Any) -> None:
    spend("10.00", YESTERDAY - timedelta(days=1), feature="search", customer="a")
    spend("10.50", YESTERDAY, feature="search", customer="a")  # exactly +5 %
    spend("1.00", YESTERDAY - timedelta(days=1), feature="tiny", customer="a")
    spend("4.99", YESTERDAY, feature="tiny", customer="a")  # +399 %, under 5.00
    assert "feature_cost_growth" not in kinds(run(RecordingPublisher()))


def test_unpriced_events_fire_once_with_the_models(run: Any, spend: Any) -> None:
    spend("1.00", YESTERDAY, model="mystery-model-x")
    spend("1.00", YESTERDAY, model="mystery-model-x")
    spend("1.00", YESTERDAY, model="another-unknown")
    spend("1.00", YESTERDAY - timedelta(days=1), model="older-unknown")  # the day before: not counted
    sent = run(RecordingPublisher())
    alert = only(sent, "unpriced_events")
    assert alert.detail["unpriced_events"] == 3
    assert alert.detail["models"] == ["another-unknown", "mystery-model-x"]
    assert alert.detail["events_by_model"] == {"another-unknown": 1, "mystery-model-x": 2}
    assert run(RecordingPublisher()) == []


def test_unpriced_events_silent_below_minimum(run: Any, spend: Any) -> None:
    spend("1.00", YESTERDAY, model="mystery-model-x")
    spend("1.00", YESTERDAY)  # priced
    assert "unpriced_events" not in kinds(run(RecordingPublisher(), ops_unpriced_min_events=2))


def test_unattributed_events_fire_once(run: Any, spend: Any) -> None:
    spend("2.50", YESTERDAY, customer=None)
    spend("1.00", YESTERDAY, customer=None)
    sent = run(RecordingPublisher())
    alert = only(sent, "unattributed_events")
    assert alert.detail["events"] == 2 and alert.detail["cost"] == "3.50"
    assert run(RecordingPublisher()) == []


def test_unattributed_events_silent_below_minimum(run: Any, spend: Any) -> None:
    spend("2.50", YESTERDAY, customer=None)
    spend("2.50", YESTERDAY - timedelta(days=1), customer=None)  # another day
    assert "unattributed_events" not in kinds(run(RecordingPublisher(), ops_unattributed_min_events=2))


def revenue(revenue_ledger: RevenueLedger, customer: str, dollars: int, at: datetime) -> None:
    doc_id = f"rev_{customer}_{at:%Y%m}"
    doc = RevenueDocument("api", "revenue", doc_id, customer, "USD", (RevenueLine(dollars * 100),), at)
    revenue_ledger.upsert(doc)


SEPTEMBER = datetime(2026, 9, 15, 12, tzinfo=UTC)
OCTOBER = datetime(2026, 10, 15, 12, tzinfo=UTC)


def test_negative_margin_two_months_fires_once(run: Any, spend: Any, revenue_ledger: RevenueLedger) -> None:
    for at in (SEPTEMBER, OCTOBER):
        spend("30.00", at, customer="loser")
        revenue(revenue_ledger, "loser", 20, at)
        spend("10.00", at, customer="winner")
        revenue(revenue_ledger, "winner", 50, at)
    spend("30.00", OCTOBER, customer="once")  # negative in October only
    revenue(revenue_ledger, "once", 10, OCTOBER)
    sent = run(RecordingPublisher())
    alert = only(sent, "negative_margin_customers")
    assert alert.period == "2026-10"
    assert alert.detail["customers"] == [
        {
            "customer_id": "loser",
            "name": None,
            "revenue": "20.00",
            "cost": "30.00",
            "margin": "-10.00",
            "negative_margin_months": 2,
        }
    ]
    assert run(RecordingPublisher()) == []


def test_negative_margin_silent_for_one_month(run: Any, spend: Any, revenue_ledger: RevenueLedger) -> None:
    spend("30.00", SEPTEMBER, customer="a")
    revenue(revenue_ledger, "a", 40, SEPTEMBER)  # positive in September
    spend("30.00", OCTOBER, customer="a")
    revenue(revenue_ledger, "a", 20, OCTOBER)  # negative in October only
    assert "negative_margin_customers" not in kinds(run(RecordingPublisher()))


def test_a_failed_publication_is_retried_next_run(run: Any, spend: Any) -> None:
    spend("2.50", YESTERDAY, customer=None)
    with pytest.raises(OpsAlertsFailed) as failed:
        run(RecordingPublisher(fail_times=1))
    assert [failure.alert.kind for failure in failed.value.failures] == ["unattributed_events"]
    assert kinds(run(RecordingPublisher())) == {"unattributed_events"}
    assert run(RecordingPublisher()) == []


# Past the claims' lease (marginlens.storage.claims.LEASE, 10 minutes; test_alert_claims checks it).
AFTER_LEASE = timedelta(minutes=11)


class CrashingPublisher(RecordingPublisher):
    def __init__(self) -> None:
        super().__init__()
        self.crashed = False

    def publish(self, kind: str, subject: str, detail: dict[str, Any]) -> None:
        if not self.crashed:
            self.crashed = True
            raise Crash()
        super().publish(kind, subject, detail)


def test_a_crash_before_publishing_delays_the_alert_by_the_lease(run: Any, spend: Any) -> None:
    spend("2.50", YESTERDAY, customer=None)
    publisher = CrashingPublisher()
    with pytest.raises(Crash):
        run(publisher)
    assert run(publisher, now=NOW + timedelta(minutes=5)) == []  # within the claim's lease
    assert kinds(run(publisher, now=NOW + AFTER_LEASE)) == {"unattributed_events"}
    assert run(publisher, now=NOW + 2 * AFTER_LEASE) == []
    assert publisher.kinds() == ["unattributed_events"]


def test_a_failed_release_is_reported_and_the_other_alerts_still_go_out(
    run: Any, spend: Any, client: DynamoDBClient
) -> None:
    spend("2.50", YESTERDAY, customer=None, model="mystery-model-x")  # unpriced and unattributed
    publisher = RecordingPublisher(fail_times=1)  # the first (unpriced_events) fails
    with pytest.raises(OpsAlertsFailed) as failed:
        run(publisher, db=FailingDeletes(client))
    [failure] = failed.value.failures
    assert failure.alert.kind == "unpriced_events" and "not released" in failure.error
    assert kinds(failed.value.sent) == {"unattributed_events"}
    assert run(publisher, now=NOW + timedelta(minutes=5)) == []  # its claim holds until the lease ends
    assert kinds(run(publisher, now=NOW + AFTER_LEASE)) == {"unpriced_events"}
    assert publisher.kinds() == ["unattributed_events", "unpriced_events"]


def test_claims_from_before_leases_count_as_sent(
    run: Any, spend: Any, client: DynamoDBClient, settings: Settings
) -> None:
    spend("2.50", YESTERDAY, customer=None)
    old = {
        "pk": "ALERTCLAIM#ops#unattributed_events",
        "sk": f"2026-11-26#{UNATTRIBUTED}",
        "claim": "ops",
        "token": "old",
        "claimed_at": "2026-11-27T00:05:00Z",
    }
    client.put_item(TableName=settings.table_name, Item=to_item(old))  # no `state`
    publisher = RecordingPublisher()
    assert run(publisher, now=NOW + AFTER_LEASE) == [] and publisher.sent == []
