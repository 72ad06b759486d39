"""Reconciliation against the provider's bill: the cost API over real HTTP (a local server speaking
OpenAI's documented format, paginated), the comparison, the stored result and the variance alert."""

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from marginlens.core.settings import Settings
from marginlens.pricing.book import PriceBook
from marginlens.reconciliation.provider_reports import BilledLine
from marginlens.reconciliation.reconcile import Thresholds, compare
from marginlens.usage.ingest import IngestResult
from marginlens.usage.ledger import Ledger
from marginlens.usecases import reconciliation
from marginlens.usecases.services import reset
from tests.provider_fakes import FakeOpenAICosts

pytestmark = pytest.mark.integration

Send = Callable[[Any], IngestResult]
NOW = datetime.now(UTC)
MONTH_START = (NOW.date().replace(day=1) - timedelta(days=1)).replace(day=1)  # last month
MONTH = MONTH_START.strftime("%Y-%m")
UNDER_DAY = MONTH_START + timedelta(days=4)  # recorded 3 % under the bill: within tolerance
OVER_DAY = MONTH_START + timedelta(days=11)  # recorded 12 % over the bill: flagged
ADMIN_KEY = "sk-admin-test"


@pytest.fixture
def alerts_file(tmp_path: Path) -> Path:
    return tmp_path / "alerts.jsonl"


@pytest.fixture
def environment(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, ledger: Ledger, alerts_file: Path
) -> Iterator[None]:
    """The use cases read their settings from the environment, as a function does."""
    monkeypatch.setenv("MARGINLENS_TABLE", settings.table_name)
    monkeypatch.setenv("MARGINLENS_DYNAMODB_ENDPOINT", str(settings.dynamodb_endpoint))
    monkeypatch.setenv("MARGINLENS_ALERTS_FILE", str(alerts_file))
    monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.delenv("ANTHROPIC_ADMIN_KEY", raising=False)
    monkeypatch.delenv("MARGINLENS_ALERTS_TOPIC_ARN", raising=False)
    reset()
    yield
    reset()


def variance_alerts(alerts_file: Path) -> list[dict[str, Any]]:
    if not alerts_file.exists():
        return []
    alerts = [json.loads(line) for line in alerts_file.read_text().splitlines() if line.strip()]
    return [alert for alert in alerts if alert.get("kind") == "cost_variance"]


def spend(send: Send, day: date, calls: int) -> None:
    events = [
        {
            "request_id": f"rec_{day}_{n}",
            "customer_id": "acct_rec",
            "model": "gpt-4o-mini",
            "prompt_tokens": 400_000 + n * 1_000,
            "completion_tokens": 120_000,
            "timestamp": datetime(day.year, day.month, day.day, 9, n, tzinfo=UTC).isoformat(),
        }
        for n in range(calls)
    ]
    assert send({"events": events}).count("created") == calls


def recorded_on(ledger: Ledger, day: date) -> Decimal:
    rows = ledger.feature_model_days(MONTH, day.isoformat(), day.isoformat())
    return sum((Decimal(row.get("cost", 0)) for row in rows), Decimal(0))


def bill(day: date, amount: Decimal) -> list[BilledLine]:
    """OpenAI's line items for the day: input and output, as its Costs API names them."""
    input_part = (amount * Decimal("0.4")).quantize(Decimal("0.000001"))
    return [
        BilledLine(
            day, "openai", "gpt-4o-mini-2024-07-18, input", "gpt-4o-mini-2024-07-18", input_part, "USD"
        ),
        BilledLine(
            day,
            "openai",
            "gpt-4o-mini-2024-07-18, output",
            "gpt-4o-mini-2024-07-18",
            amount - input_part,
            "USD",
        ),
    ]


def test_a_month_three_percent_under_one_day_and_twelve_over_another_flags_only_the_second_once(
    send: Send, ledger: Ledger, environment: None, alerts_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spend(send, UNDER_DAY, 30)
    spend(send, OVER_DAY, 30)
    under, over = recorded_on(ledger, UNDER_DAY), recorded_on(ledger, OVER_DAY)
    assert under > 1 and over > 1  # above the default minimum volume
    billed_under = (under / Decimal("0.97")).quantize(Decimal("0.000001"))  # recorded = bill - 3 %
    billed_over = (over / Decimal("1.12")).quantize(Decimal("0.000001"))  # recorded = bill + 12 %
    quiet_day = MONTH_START + timedelta(days=20)  # billed a little, below the minimum volume
    lines = [*bill(UNDER_DAY, billed_under), *bill(OVER_DAY, billed_over), *bill(quiet_day, Decimal("0.40"))]

    with FakeOpenAICosts(lines, page_size=3, admin_key=ADMIN_KEY) as fake:
        monkeypatch.setenv("OPENAI_COSTS_URL", fake.base_url)
        reset()
        run = reconciliation.run_reconciliation(MONTH, NOW)
        assert run["providers"]["openai"] == {"status": "ok", "flagged_days": 1, "alerts_sent": 1}
        assert len(fake.requests) > 1  # the month came over several pages
        assert all(
            query.get("page") for _, query in fake.requests[1:]
        )  # each after the first asked for a cursor

        (stored,) = reconciliation.reconciliation_month(MONTH)["providers"]
        days = {day["day"]: day for day in stored["days"]}
        assert days[UNDER_DAY.isoformat()]["flagged"] is False
        assert days[UNDER_DAY.isoformat()]["variance_pct"] == "-3.00"
        assert days[OVER_DAY.isoformat()]["flagged"] is True
        assert days[OVER_DAY.isoformat()]["variance_pct"] == "12.00"
        assert days[OVER_DAY.isoformat()]["cause"] == "stale_price"
        assert days[quiet_day.isoformat()]["flagged"] is False  # -100 %, but under RECONCILE_MIN_COST
        assert days[quiet_day.isoformat()]["cause"] == "missing_traffic"
        assert Decimal(days[OVER_DAY.isoformat()]["billed"]) == billed_over  # exact, for machines
        row = next(r for r in stored["rows"] if r["day"] == OVER_DAY.isoformat())
        assert row["model"] == "openai/gpt-4o-mini"  # the billed dated name meets the recorded one
        assert row["line_items"] == ["gpt-4o-mini-2024-07-18, input", "gpt-4o-mini-2024-07-18, output"]
        assert stored["source"] == "api" and stored.get("last_error") is None

        (alert,) = variance_alerts(alerts_file)
        assert alert["detail"]["day"] == OVER_DAY.isoformat() and alert["detail"]["cause"] == "stale_price"
        assert "openai" in alert["subject"]

        # The daily job runs again tomorrow: the same flagged day is not alerted twice.
        again = reconciliation.run_reconciliation(MONTH, NOW + timedelta(hours=24))
        assert again["providers"]["openai"]["alerts_sent"] == 0
        assert len(variance_alerts(alerts_file)) == 1
        (stored,) = reconciliation.reconciliation_month(MONTH)["providers"]

        # The provider's API fails: the last result stays, the error is kept beside it, no alert.
        fake.fail_with(500)
        failed = reconciliation.run_reconciliation(MONTH, NOW + timedelta(hours=48))
        assert failed["providers"]["openai"]["status"] == "error"
        assert "500" in failed["providers"]["openai"]["error"]
        (kept,) = reconciliation.reconciliation_month(MONTH)["providers"]
        assert kept["days"] == stored["days"] and kept["reconciled_at"] == stored["reconciled_at"]
        assert "500" in kept["last_error"]
        assert len(variance_alerts(alerts_file)) == 1


def test_a_provider_api_error_before_any_result_raises_no_alert(
    environment: None, alerts_file: Path, monkeypatch: pytest.MonkeyPatch, send: Send
) -> None:
    spend(send, OVER_DAY, 5)
    with FakeOpenAICosts(bill(OVER_DAY, Decimal("0.01")), admin_key=ADMIN_KEY) as fake:
        monkeypatch.setenv("OPENAI_COSTS_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-wrong")
        reset()
        run = reconciliation.run_reconciliation(MONTH, NOW)
    assert run["providers"]["openai"]["status"] == "error" and "401" in run["providers"]["openai"]["error"]
    (stored,) = reconciliation.reconciliation_month(MONTH)["providers"]
    assert stored.get("days") in (None, []) and "401" in stored["last_error"]
    assert variance_alerts(alerts_file) == []


def test_a_csv_export_is_reconciled_like_the_api(
    send: Send, ledger: Ledger, environment: None, alerts_file: Path
) -> None:
    spend(send, OVER_DAY, 10)
    over = recorded_on(ledger, OVER_DAY)
    billed = (over / Decimal("1.5")).quantize(Decimal("0.000001"))
    text = f"date,provider,model,amount\n{OVER_DAY.isoformat()},openai,gpt-4o-mini-2024-07-18,{billed}\n"
    from marginlens.reconciliation.provider_reports import read_cost_csv

    result = reconciliation.import_bill(read_cost_csv(text), NOW)
    assert result == {"imported": [{"provider": "openai", "month": MONTH, "lines": 1, "flagged_days": 1}]}
    (stored,) = reconciliation.reconciliation_month(MONTH)["providers"]
    assert stored["source"] == "csv"
    (alert,) = variance_alerts(alerts_file)
    assert alert["detail"]["variance_pct"] == "50.00"


# --- causes ----------------------------------------------------------------------------------------


def test_each_cause_is_told_from_the_record() -> None:
    book = PriceBook.baseline()
    day = "2026-10-05"
    thresholds = Thresholds(Decimal(5), Decimal("1.00"))
    recorded = [
        # priced, but MarginLens holds unpriced events of the provider that day
        {"day": day, "model": "openai/gpt-4o", "cost": Decimal("8.00"), "events": 10, "unpriced_events": 3},
    ]
    lines = [
        BilledLine(date(2026, 10, 5), "openai", "gpt-4o, input", "gpt-4o-2024-08-06", Decimal("10"), "USD")
    ]
    (result_day,) = compare("2026-10", "openai", lines, recorded, book, thresholds)["days"]
    assert result_day["cause"] == "unpriced_events" and result_day["flagged"]

    no_events = [BilledLine(date(2026, 10, 5), "openai", "o3, input", "o3", Decimal("10"), "USD")]
    (result_day,) = compare("2026-10", "openai", no_events, [], book, thresholds)["days"]
    assert result_day["cause"] == "missing_traffic" and result_day["recorded"] == "0.00"

    unbilled = [{"day": day, "model": "openai/gpt-4o", "cost": Decimal("3.00"), "events": 4}]
    (result_day,) = compare("2026-10", "openai", [], unbilled, book, thresholds)["days"]
    assert result_day["cause"] == "not_billed" and result_day["flagged"]

    # Another provider's usage is not this provider's record.
    other = [{"day": day, "model": "anthropic/claude-sonnet-4-0", "cost": Decimal("30"), "events": 4}]
    (result_day,) = compare("2026-10", "openai", lines, other, book, thresholds)["days"]
    assert result_day["recorded"] == "0.00"
