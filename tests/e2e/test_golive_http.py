"""The go-live checks, the test alert, whoami and the unpriced models, over real HTTP through the
local stack: each check fails on an empty stack with what is missing, and passes once the live data
gives it what it asks for (Stripe invoices signed as Stripe signs them, usage, a budget crossing its
threshold, price refresh runs, the ingestion-latency histogram the aggregator keeps)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from marginlens.usecases.services import reset
from tests import stripe_fixtures as sf
from tests.e2e.conftest import RunningStack, wait_until
from tests.e2e.test_stripe_webhook_http import deliver, stripe_client
from tests.integration.test_refresh import PriceServer, bundled_price_data, encode

pytestmark = pytest.mark.e2e

PROBLEM = "application/problem+json"
PRICES_PATH = "/prices/data.json"
MODEL = "golive-test-llm"  # priced by an override: 1.00 per million input tokens


@pytest.fixture
def price_server() -> Iterator[PriceServer]:
    with PriceServer() as server:
        yield server


@pytest.fixture
def alerts_file(tmp_path: Path) -> Path:
    return tmp_path / "alerts.jsonl"


@pytest.fixture
def stack(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    price_server: PriceServer,
    alerts_file: Path,
) -> Iterator[RunningStack]:
    monkeypatch.setenv("MARGINLENS_PRICES_URL", price_server.url(PRICES_PATH))
    monkeypatch.setenv("MARGINLENS_ALERTS_FILE", str(alerts_file))
    monkeypatch.setenv("MARGINLENS_BUDGET_CHECK_SECONDS", "0")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", sf.SECRET)
    for name in ("MARGINLENS_ALERTS_TOPIC_ARN", "STRIPE_WEBHOOK_SECRET_NAME", "STRIPE_CUSTOMER_METADATA_KEY"):
        monkeypatch.delenv(name, raising=False)
    reset()
    running: RunningStack = request.getfixturevalue("local_stack")
    yield running
    reset()


def _key(stack: RunningStack, scope: str) -> str:
    with stack.client() as client:
        created = client.post("/v1/keys", json={"scope": scope, "name": f"golive-{scope}"})
    assert created.status_code == 201, created.text
    key: str = created.json()["key"]
    return key


def _checks(client: httpx.Client) -> dict[str, dict[str, Any]]:
    answer = client.get("/v1/checks")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"] == len(body["checks"]) == 5
    assert body["passed"] == sum(check["status"] == "pass" for check in body["checks"])
    return {check["id"]: check for check in body["checks"]}


def test_every_check_fails_on_an_empty_stack_with_what_is_missing(stack: RunningStack) -> None:
    with stack.client(_key(stack, "read")) as client:
        checks = _checks(client)
    assert set(checks) == {
        "stripe_revenue",
        "usage_attributed",
        "budget_alert",
        "price_sync",
        "ingest_latency",
    }
    for check in checks.values():
        assert check["status"] == "fail", check
        assert check["missing"] and all(reason.strip() for reason in check["missing"]), check
    assert any("0 of 5 Stripe invoices" in reason for reason in checks["stripe_revenue"]["missing"])
    assert any("No usage events" in reason for reason in checks["usage_attributed"]["missing"])
    assert any("No budget yet" in reason for reason in checks["budget_alert"]["missing"])
    assert any("never synced" in reason for reason in checks["price_sync"]["missing"])
    assert any("last 7 days" in reason for reason in checks["ingest_latency"]["missing"])


def test_checks_pass_one_by_one_from_live_data(stack: RunningStack, price_server: PriceServer) -> None:
    with stack.client() as client:
        # Usage attributed to a customer, with token counts: the aggregator also counts its latency.
        effective = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        priced = client.put(
            f"/v1/prices/{MODEL}",
            json={"input_per_mtok": "1.00", "output_per_mtok": "0", "effective_from": effective},
        )
        assert priced.status_code == 200, priced.text
        sent = client.post(
            "/v1/usage",
            json={
                "request_id": "golive_1",
                "customer_id": "acme",
                "model": MODEL,
                "prompt_tokens": 1000,
                "completion_tokens": 10,
            },
        )
        assert sent.status_code == 200, sent.text

        def usage_and_latency_pass() -> dict[str, dict[str, Any]] | None:
            checks = _checks(client)
            wanted = (checks["usage_attributed"], checks["ingest_latency"])
            return checks if all(check["status"] == "pass" for check in wanted) else None

        checks = wait_until(usage_and_latency_pass)
        assert "1 customers with token counts" in checks["usage_attributed"]["detail"]
        assert "over 1 events" in checks["ingest_latency"]["detail"]
        assert checks["stripe_revenue"]["status"] == checks["budget_alert"]["status"] == "fail"

        # A budget crossing its thresholds: the aggregator sends the alerts, the check sees them.
        budget = {"scope": "customer", "target": "acme", "period": "monthly", "limit": "10.00"}
        assert client.put("/v1/budgets/acme", json=budget).status_code == 200
        over = {
            "request_id": "golive_2",
            "customer_id": "acme",
            "model": MODEL,
            "prompt_tokens": 9_500_000,
            "completion_tokens": 0,
        }
        assert client.post("/v1/usage", json=over).status_code == 200
        budget_check = wait_until(
            lambda: (found := _checks(client)["budget_alert"])["status"] == "pass" and found
        )
        assert "budget_critical for acme at 95.01 % of 10.00" in budget_check["detail"], budget_check

        # Price refresh runs: a refused one (the mirror answers 500) fails the check with its reason,
        # a good one within 24 h passes it only while the 7-day success rate holds.
        price_server.serve(PRICES_PATH, b"oops", status=500)
        assert client.post("/v1/prices/refresh").status_code == 502  # refused: the last good table stays
        failing = _checks(client)["price_sync"]
        assert failing["status"] == "fail"
        assert any("never synced" in reason for reason in failing["missing"]), failing
        assert any("0 of 1 refresh runs" in reason for reason in failing["missing"]), failing
        price_server.serve(PRICES_PATH, encode(bundled_price_data()))
        assert client.post("/v1/prices/refresh").status_code == 200
        after = _checks(client)["price_sync"]
        assert after["status"] == "fail" and any("1 of 2 refresh runs" in r for r in after["missing"]), after
        prices = client.get("/v1/prices").json()["sync"]
        assert (
            prices["attempts_7d"] == 2
            and prices["successes_7d"] == 1
            and prices["success_rate_7d"] == "50.00"
        )
        assert prices["last_status"] in ("refreshed", "unchanged") and prices["last_success_at"]

        # Stripe: five invoices of a mapped Stripe customer, signed with the webhook secret.
        mapped = client.put(
            "/v1/customers/acme", json={"name": "Acme Legal", "stripe_customer_id": "cus_golive"}
        )
        assert mapped.status_code == 200, mapped.text
        with stripe_client(stack) as stripe:
            for number in range(4):
                line = sf.invoice_line(1000, start=sf.T0, end=sf.T0 + 86400 * 30)
                event = sf.invoice_paid(customer="cus_golive", lines=[line], id=f"in_golive_{number}")
                assert deliver(stripe, event).status_code == 200
            four = _checks(client)["stripe_revenue"]
            assert four["status"] == "fail" and any("4 of 5" in reason for reason in four["missing"]), four
            line = sf.invoice_line(1000, start=sf.T0, end=sf.T0 + 86400 * 30)
            assert (
                deliver(
                    stripe, sf.invoice_paid(customer="cus_golive", lines=[line], id="in_golive_4")
                ).status_code
                == 200
            )
        stripe_check = _checks(client)["stripe_revenue"]
        assert stripe_check["status"] == "pass" and stripe_check["missing"] == [], stripe_check
        assert stripe_check["detail"] == "At least 5 Stripe invoices are mapped to customers."


def test_a_test_alert_goes_through_the_channel_and_into_the_history(
    stack: RunningStack, alerts_file: Path
) -> None:
    with stack.client(_key(stack, "read")) as reader:
        refused = reader.post("/v1/alerts/test")
        assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM
    assert not alerts_file.exists()
    with stack.client() as client:
        sent = client.post("/v1/alerts/test")
        assert sent.status_code == 201, sent.text
        body = sent.json()
        assert body["kind"] == "test_alert" and body["channels"] == ["local-log"]
        published = [json.loads(line) for line in alerts_file.read_text().splitlines()]
        assert [alert["kind"] for alert in published] == ["test_alert"]
        assert published[0]["subject"] == body["subject"]
        history = client.get("/v1/alerts").json()["data"]
        assert [row["kind"] for row in history] == ["test_alert"]
        assert "Test alert last sent" in _checks(client)["budget_alert"]["detail"]


def test_whoami_tells_each_key_its_scope_and_refuses_a_wrong_key(stack: RunningStack) -> None:
    for scope in ("ingest", "read", "admin"):
        with stack.client(_key(stack, scope)) as client:
            me = client.get("/v1/whoami")
            assert me.status_code == 200, me.text
            assert me.json()["scope"] == scope and me.json()["name"] == f"golive-{scope}"
            assert me.json()["prefix"].startswith("mlk_")
    with stack.client() as client:
        assert client.get("/v1/whoami").json() == {
            "id": "bootstrap-admin",
            "name": "bootstrap admin key",
            "scope": "admin",
            "prefix": None,
        }
    with stack.client("mlk_not_a_real_key_at_all_000000000000") as client:
        wrong = client.get("/v1/whoami")
        assert wrong.status_code == 401 and wrong.headers["content-type"] == PROBLEM


def test_unpriced_models_lists_what_to_price_then_reprice_empties_it(stack: RunningStack) -> None:
    month = datetime.now(UTC).strftime("%Y-%m")
    with stack.client() as client:
        events = [
            {
                "request_id": f"unpriced_{n}",
                "customer_id": "acme",
                "model": "acme-finetune-v9",
                "feature": "translate",
                "prompt_tokens": 2_000_000,
                "completion_tokens": 0,
            }
            for n in range(3)
        ]
        assert client.post("/v1/usage", json={"events": events}).status_code == 200
        listed = client.get("/v1/unpriced-models", params={"month": month})
        assert listed.status_code == 200, listed.text
        assert listed.json() == {
            "month": month,
            "data": [
                {"model": "acme-finetune-v9", "feature": "translate", "events": 3, "unpriced_events": 3}
            ],
            "unpriced_events": 3,
        }
        effective = (datetime.now(UTC) - timedelta(days=2)).isoformat()
        client.put(
            "/v1/prices/acme-finetune-v9",
            json={"input_per_mtok": "1.00", "output_per_mtok": "0", "effective_from": effective},
        )
        first = datetime.now(UTC).date().replace(day=1).isoformat()
        repriced = client.post(
            "/v1/reprice",
            json={"from": first, "to": datetime.now(UTC).date().isoformat(), "only_unpriced": True},
        )
        assert repriced.status_code == 200 and repriced.json()["events_changed"] == 3, repriced.text
        emptied = wait_until(
            lambda: (body := client.get("/v1/unpriced-models").json())["unpriced_events"] == 0 and body
        )
        assert emptied["data"] == []
        bad = client.get("/v1/unpriced-models", params={"month": "2026-13"})
        assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM


def test_the_cli_prints_the_checks_and_fails_while_one_fails(stack: RunningStack, alerts_file: Path) -> None:
    from tests.e2e.test_cli import invoke

    result = invoke(stack, "checks", "--test-alert")
    assert result.exit_code == 1, result.output
    assert "Sent a test alert" in result.output and "0 of 5 pass" in result.output
    assert "FAIL" in result.output and "never synced" in result.output
    assert [json.loads(line)["kind"] for line in alerts_file.read_text().splitlines()] == ["test_alert"]
    as_json = invoke(stack, "checks", "--json")
    assert json.loads(as_json.output)["total"] == 5
