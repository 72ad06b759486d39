"""Budgets, their alerts and the blocklist through the local stack over real HTTP (and the CLI)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from marginlens.cli.budgets import budget_id_for, parse_budget_file
from tests.e2e.conftest import RunningStack, wait_until
from tests.e2e.test_cli import invoke

pytestmark = pytest.mark.e2e

PROBLEM = "application/problem+json"
MODEL = "budget-test-llm"
SEED_YAML = """\
budget:
  feature: image_generation
  monthly_limit: 600.00
  warning_threshold_percent: 75
  critical_threshold_percent: 90
  notify_email: finance@example.com
"""


@pytest.fixture
def alerts_file(tmp_path: Path) -> Path:
    return tmp_path / "alerts.jsonl"


@pytest.fixture
def stack(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, alerts_file: Path) -> RunningStack:
    """The local stack without its budget timer (the tests run the evaluation themselves)."""
    monkeypatch.setenv("MARGINLENS_BUDGET_CHECK_SECONDS", "0")
    monkeypatch.setenv("MARGINLENS_ALERTS_FILE", str(alerts_file))
    monkeypatch.delenv("MARGINLENS_ALERTS_TOPIC_ARN", raising=False)
    running: RunningStack = request.getfixturevalue("local_stack")
    return running


def _key(stack: RunningStack, scope: str) -> str:
    with stack.client() as client:
        created = client.post("/v1/keys", json={"scope": scope, "name": f"budgets-{scope}"})
    assert created.status_code in (200, 201), created.text
    key: str = created.json()["key"]
    return key


def _price_custom_model(client: httpx.Client) -> None:
    """A custom model at 1.00 per 1M input tokens: N million tokens cost exactly N.00."""
    effective = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    answer = client.put(
        f"/v1/prices/{MODEL}",
        json={"input_per_mtok": "1.00", "output_per_mtok": "0", "effective_from": effective},
    )
    assert answer.status_code == 200, answer.text


def _spend(
    client: httpx.Client,
    request_id: str,
    cost_usd: int,
    feature: str = "image_generation",
    at: datetime | None = None,
) -> None:
    event = {
        "request_id": request_id,
        "customer_id": "cust_budget",
        "model": MODEL,
        "feature": feature,
        "prompt_tokens": cost_usd * 1_000_000,
        "completion_tokens": 0,
        "timestamp": (at or datetime.now(UTC)).isoformat(),
    }
    answer = client.post("/v1/usage", json=event)
    assert answer.status_code in (200, 201, 207), answer.text
    (result,) = answer.json()["results"]
    assert result["status"] == "created" and result["price_status"] == "priced", result


def _budget(client: httpx.Client, budget_id: str) -> dict[str, Any]:
    rows = client.get("/v1/budgets").json()["data"]
    (row,) = [row for row in rows if row["id"] == budget_id]
    return dict(row)


def test_seed_budget_alerts_once_and_blocks_over_the_limit(stack: RunningStack, alerts_file: Path) -> None:
    budget_id = "feature-image_generation-monthly"
    with stack.client() as client:
        put = client.put(
            f"/v1/budgets/{budget_id}",
            json={
                "scope": "feature",
                "target": "image_generation",
                "period": "monthly",
                "limit": "600.00",
                "warning_pct": 75,
                "critical_pct": 90,
            },
        )
        assert put.status_code == 200, put.text
        saved = put.json()
        assert saved["limit"] == "600.00" and saved["spent"] == "0.00" and saved["state"] == "ok"
        assert saved["pct"] == "0.00" and saved["current_period"] == datetime.now(UTC).strftime("%Y-%m")

        _price_custom_model(client)
        _spend(client, "bud_1", 500)
        _spend(client, "bud_2", 46)
        _spend(client, "bud_other", 300, feature="chat")  # another feature: not this budget's spend

        # The aggregator evaluates the budgets its batch changed: the alerts go out as the spend
        # crosses 75 % (500.00) and 90 % (546.00), without waiting for the schedule.
        def both_alerts() -> list[dict[str, Any]] | None:
            data: list[dict[str, Any]] = client.get("/v1/alerts").json()["data"]
            return data if len(data) == 2 else None

        sent = sorted(wait_until(both_alerts), key=lambda alert: alert["threshold"])
        assert [alert["threshold"] for alert in sent] == ["critical", "warning"]
        assert sent[0]["detail"]["spent"] == "546.00"
        assert sent[1]["detail"]["spent"] in ("500.00", "546.00")  # the batch that crossed 75 %
        assert {alert["period"] for alert in sent} == {datetime.now(UTC).strftime("%Y-%m")}

        # The evaluation (the schedule's, or POST) finds them sent: once per threshold.
        first = client.post("/v1/budgets/evaluate", json={})
        assert first.status_code == 200, first.text
        report = first.json()
        assert report["sent"] == 0 and report["already_sent"] == 2 and report["failures"] == 0
        assert report["evaluated"] == 1  # budgets, however many periods each covers

        again = client.post("/v1/budgets/evaluate", json={}).json()
        assert again["sent"] == 0 and again["alerts"] == [] and again["already_sent"] == 2

        row = _budget(client, budget_id)
        assert row["spent"] == "546.00" and row["pct"] == "91.00" and row["state"] == "critical"

        listed = client.get("/v1/alerts").json()
        assert sorted(alert["threshold"] for alert in listed["data"]) == ["critical", "warning"]
        values = {alert["value"] for alert in listed["data"]}
        assert "91.00" in values and values <= {"83.33", "91.00"}
        month = datetime.now(UTC).strftime("%Y-%m")
        assert client.get("/v1/alerts", params={"month": month}).json()["data"] == listed["data"]
        assert client.get("/v1/alerts", params={"month": "2001-01"}).json()["data"] == []
        bad_month = client.get("/v1/alerts", params={"month": "2026-13"})
        assert bad_month.status_code == 422 and bad_month.headers["content-type"].startswith(PROBLEM)
        assert bad_month.json()["errors"][0]["pointer"] == "/month"

    published = [json.loads(line) for line in alerts_file.read_text().splitlines()]
    assert sorted(alert["kind"] for alert in published) == ["budget_critical", "budget_warning"]

    ingest_key, read_key = _key(stack, "ingest"), _key(stack, "read")
    with stack.client(ingest_key) as ingest:
        empty = ingest.get("/v1/budgets/blocklist")
        assert empty.status_code == 200, empty.text
        before = empty.json()
        assert before["blocked"] == {"organization": False, "features": [], "customers": []}
        assert before["ttl_seconds"] == 30
    with stack.client(read_key) as reader:
        assert reader.get("/v1/budgets/blocklist").status_code == 403
        assert reader.get("/v1/budgets").status_code == 200
        assert reader.post("/v1/budgets/evaluate", json={}).status_code == 403

    with stack.client() as client:
        _spend(client, "bud_3", 54)  # 600.00: at the limit is exceeded
        assert _budget(client, budget_id)["state"] == "exceeded"
    with stack.client(ingest_key) as ingest:
        after = ingest.get("/v1/budgets/blocklist").json()
    assert after["blocked"]["features"] == ["image_generation"]
    assert after["version"] > before["version"]
    with stack.client() as admin:  # the admin key holds the ingest scope too
        assert admin.get("/v1/budgets/blocklist").json()["version"] == after["version"]


def test_a_budget_made_today_does_not_alert_on_yesterday(stack: RunningStack) -> None:
    """The evaluation also covers the period before the current one, but only for a budget whose
    settings were in force then: a daily budget created now says nothing about yesterday."""
    yesterday = datetime.now(UTC) - timedelta(days=1)
    with stack.client() as client:
        made = client.put(
            "/v1/budgets/daily", json={"scope": "organization", "period": "daily", "limit": "5"}
        )
        assert made.status_code == 200, made.text
        _price_custom_model(client)
        _spend(client, "late_1", 6, at=yesterday)
        _spend(client, "today_1", 1)
        report = client.post("/v1/budgets/evaluate", json={}).json()
        assert (report["evaluated"], report["sent"], report["failures"]) == (1, 0, 0), report
        row = _budget(client, "daily")
        assert (row["current_period"], row["spent"]) == (datetime.now(UTC).date().isoformat(), "1.00")


def test_budget_validation_and_delete(stack: RunningStack) -> None:
    with stack.client() as client:
        missing_target = client.put("/v1/budgets/b1", json={"scope": "feature", "limit": "10"})
        assert missing_target.status_code == 422
        assert missing_target.headers["content-type"].startswith(PROBLEM)
        assert missing_target.json()["errors"][0]["pointer"] == "/target"

        inverted = client.put(
            "/v1/budgets/b1",
            json={"scope": "organization", "limit": "10", "warning_pct": 95, "critical_pct": 90},
        )
        assert inverted.status_code == 422
        assert inverted.json()["errors"][0]["pointer"] == "/warning_pct"

        bad_limit = client.put("/v1/budgets/b1", json={"scope": "organization", "limit": "-1"})
        assert bad_limit.status_code == 422 and bad_limit.json()["errors"][0]["pointer"] == "/limit"
        bad_id = client.put("/v1/budgets/a%20b", json={"scope": "organization", "limit": "1"})
        assert bad_id.status_code == 422

        made = client.put("/v1/budgets/org", json={"scope": "organization", "limit": "1000.50"})
        assert made.status_code == 200 and made.json()["target"] is None
        assert made.json()["limit"] == "1000.50" and made.json()["warning_pct"] == "75"
        assert client.delete("/v1/budgets/org").status_code == 200
        gone = client.delete("/v1/budgets/org")
        assert gone.status_code == 404 and gone.headers["content-type"].startswith(PROBLEM)
        assert client.get("/v1/budgets").json()["data"] == []


def test_seed_yaml_parses_exactly() -> None:
    (entry,), notes = parse_budget_file(SEED_YAML)
    assert entry == (
        "feature-image_generation-monthly",
        {
            "scope": "feature",
            "target": "image_generation",
            "period": "monthly",
            "limit": "600.00",
            "warning_pct": "75",
            "critical_pct": "90",
        },
    )
    assert notes and "finance@example.com" in notes[0]
    listed, _ = parse_budget_file(
        "budgets:\n  - organization: true\n    daily_limit: 0.1\n"
        "  - customer: acme co\n    monthly_limit: 1e3\n"
    )
    assert listed[0] == ("organization-daily", {"scope": "organization", "period": "daily", "limit": "0.1"})
    assert listed[1][0] == budget_id_for("customer", "acme co", "monthly") == "customer-acme-co-monthly"
    assert listed[1][1]["limit"] == "1e3"


def test_budgets_cli_apply_list_evaluate_alerts_delete(stack: RunningStack, tmp_path: Path) -> None:
    seed = tmp_path / "budget.yaml"
    seed.write_text(SEED_YAML)
    applied = invoke(stack, "budgets", "apply", str(seed))
    assert applied.exit_code == 0, applied.output
    assert "feature-image_generation-monthly" in applied.output and "600.00" in applied.output

    with stack.client() as client:
        row = _budget(client, "feature-image_generation-monthly")
        assert (row["scope"], row["target"], row["limit"]) == ("feature", "image_generation", "600.00")
        assert (row["warning_pct"], row["critical_pct"]) == ("75", "90")
        _price_custom_model(client)
        _spend(client, "cli_bud_1", 480)

    made = invoke(stack, "budgets", "set", "org-daily", "--scope", "organization", "--limit", "1000")
    assert made.exit_code == 0, made.output
    listed = invoke(stack, "budgets", "list")
    assert listed.exit_code == 0, listed.output
    assert "480.00" in listed.output and "80.00" in listed.output and "warning" in listed.output
    assert "org-daily" in listed.output

    with stack.client() as client:  # the aggregator alerted as the spend crossed 75 %

        def warned() -> bool:
            return any(row["kind"] == "budget_warning" for row in client.get("/v1/alerts").json()["data"])

        wait_until(warned)
    evaluated = invoke(stack, "budgets", "evaluate")
    assert evaluated.exit_code == 0, evaluated.output
    assert "0 alerts sent, 1 already sent" in evaluated.output
    shown = invoke(stack, "alerts")
    assert shown.exit_code == 0 and "budget_warning" in shown.output, shown.output
    assert "budget_warning" not in invoke(stack, "alerts", "--month", "2001-01").output

    assert invoke(stack, "budgets", "delete", "feature-image_generation-monthly").exit_code == 0
    again = invoke(stack, "budgets", "delete", "feature-image_generation-monthly")
    assert again.exit_code == 1
    with stack.client() as client:
        assert client.delete("/v1/budgets/feature-image_generation-monthly").status_code == 404


def test_local_stack_timer_runs_the_scheduled_check(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, alerts_file: Path
) -> None:
    monkeypatch.setenv("MARGINLENS_BUDGET_CHECK_SECONDS", "1")
    monkeypatch.setenv("MARGINLENS_ALERTS_FILE", str(alerts_file))
    monkeypatch.delenv("MARGINLENS_ALERTS_TOPIC_ARN", raising=False)
    running: RunningStack = request.getfixturevalue("local_stack")
    with running.client() as client:
        assert client.put("/v1/budgets/tiny", json={"scope": "organization", "limit": "5"}).status_code == 200
        _price_custom_model(client)
        _spend(client, "timer_1", 6)
        deadline = time.monotonic() + 20
        kinds: list[str] = []
        while time.monotonic() < deadline:
            kinds = sorted(alert["kind"] for alert in client.get("/v1/alerts").json()["data"])
            if len(kinds) == 3:
                break
            time.sleep(0.2)
    assert kinds == ["budget_critical", "budget_exceeded", "budget_warning"]


def test_the_scheduled_run_also_checks_operations(local_stack: RunningStack) -> None:
    from functions.check_budgets.handler import lambda_handler
    from marginlens.local.gateway import LambdaContext

    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "id": "sched-1", "detail": {}}
    report = lambda_handler(scheduled, LambdaContext("check_budgets", 512, 60, "req-1"))
    assert report["operations"] == {"sent": [], "failures": 0}  # nothing in this fresh table trips them


def test_operational_alerts_are_in_the_alert_history(local_stack: RunningStack) -> None:
    from datetime import UTC, datetime, timedelta

    from functions.check_budgets.handler import lambda_handler
    from marginlens.local.gateway import LambdaContext

    yesterday = (datetime.now(UTC) - timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    event = {
        "request_id": "ops_unpriced_1",
        "customer_id": "acme",
        "model": "in-house-llm-9b",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "timestamp": yesterday.isoformat(),
    }
    with local_stack.client() as client:
        assert client.post("/v1/usage", json=event).json()["results"][0]["price_status"] == "unpriced"
    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "id": "sched-2", "detail": {}}
    report = lambda_handler(scheduled, LambdaContext("check_budgets", 512, 60, "req-2"))
    assert report["operations"]["sent"] == ["unpriced_events"]
    with local_stack.client() as client:
        history = client.get("/v1/alerts").json()["data"]
    (alert,) = [row for row in history if row["kind"] == "unpriced_events"]
    assert alert["budget_id"] is None and "in-house-llm-9b" in str(alert["detail"])
