"""Reconciliation end to end: raw usage over HTTP, `marginlens reconcile` against the local stack,
which fetches Anthropic's cost report from a local server speaking its documented format."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from marginlens.core.money import pct, pct_str
from marginlens.reconciliation.provider_reports import BilledLine
from marginlens.usecases.services import reset
from tests.e2e.conftest import RunningStack
from tests.e2e.test_cli import invoke, row_of
from tests.provider_fakes import FakeAnthropicCosts

pytestmark = pytest.mark.e2e

ADMIN_KEY = "sk-ant-admin-test"
DAY = (datetime.now(UTC) - timedelta(days=3)).replace(hour=10, minute=0, second=0, microsecond=0)
MODEL = "claude-sonnet-4-20250514"
USAGE = {
    "input_tokens": 1_200,
    "cache_creation_input_tokens": 40_000,
    "cache_read_input_tokens": 160_000,
    "output_tokens": 9_000,
    "server_tool_use": {"web_search_requests": 2},
}


@pytest.fixture
def fake() -> Iterator[FakeAnthropicCosts]:
    with FakeAnthropicCosts([], page_size=1, admin_key=ADMIN_KEY) as server:
        yield server


@pytest.fixture
def stack(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, fake: FakeAnthropicCosts, tmp_path: Path
) -> Iterator[RunningStack]:
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.setenv("ANTHROPIC_COSTS_URL", fake.base_url)
    monkeypatch.setenv("MARGINLENS_ALERTS_FILE", str(tmp_path / "alerts.jsonl"))
    monkeypatch.setenv("MARGINLENS_BUDGET_CHECK_SECONDS", "0")
    for name in ("OPENAI_ADMIN_KEY", "MARGINLENS_ALERTS_TOPIC_ARN"):
        monkeypatch.delenv(name, raising=False)
    reset()
    yield request.getfixturevalue("local_stack")
    reset()


def post_calls(stack: RunningStack, calls: int) -> Decimal:
    events = [
        {
            "request_id": f"msg_{n}",
            "customer_id": "acct_e2e",
            "model": MODEL,
            "provider": "anthropic",
            "api_flavor": "messages",
            "usage": USAGE,
            "timestamp": (DAY + timedelta(minutes=n)).isoformat(),
        }
        for n in range(calls)
    ]
    with stack.client() as client:
        answer = client.post("/v1/usage", json={"events": events})
    assert answer.status_code == 200, answer.text
    assert answer.json()["created"] == calls
    return sum((Decimal(result["cost"]) for result in answer.json()["results"]), Decimal(0))


def test_raw_usage_posted_over_http_is_reconciled_by_the_cli_against_the_providers_report(
    stack: RunningStack, fake: FakeAnthropicCosts, tmp_path: Path
) -> None:
    recorded = post_calls(stack, 20)
    with stack.client() as client:
        stored = client.get("/v1/usage/msg_0").json()
    assert stored["usage"] == USAGE and stored["api_flavor"] == "default"  # kept as posted, for audit
    assert stored["units"] == {"web_searches": 2}  # the server-side searches, billed per search
    billed = (recorded / Decimal("0.80")).quantize(Decimal("0.01"))  # 20 % under: calls never sent
    fake.lines = [BilledLine(DAY.date(), "anthropic", "Claude Sonnet 4 Usage", MODEL, billed, "USD")]

    shown = invoke(stack, "reconcile", "--month", DAY.strftime("%Y-%m"))
    assert shown.exit_code == 0, shown.output
    cells = row_of(shown.output, DAY.date().isoformat())
    assert cells[1] == f"{billed:,.2f} USD" and cells[-1] == "missing_traffic"
    assert fake.request_headers and all(h.get("x-api-key") == ADMIN_KEY for h in fake.request_headers)

    with stack.client() as client:
        answer = client.get("/v1/reconciliation", params={"month": DAY.strftime("%Y-%m")})
    assert answer.status_code == 200, answer.text
    (result,) = answer.json()["providers"]
    (day,) = [d for d in result["days"] if d["day"] == DAY.date().isoformat()]
    assert day["flagged"] and day["billed"] == format(billed, "f")
    assert day["variance_pct"] == pct_str(pct(recorded - billed, billed))  # about -20 %
    alerts = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [alert["kind"] for alert in alerts].count("cost_variance") == 1


def test_bad_raw_usage_over_http_is_problem_json_and_writes_nothing(stack: RunningStack) -> None:
    event: dict[str, Any] = {
        "request_id": "msg_bad",
        "customer_id": "acct_e2e",
        "model": MODEL,
        "provider": "anthropic",
        "api_flavor": "completions",
        "usage": USAGE,
    }
    with stack.client() as client:
        answer = client.post("/v1/usage", json=event)
        assert answer.status_code == 422
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert [error["pointer"] for error in answer.json()["errors"]] == ["/api_flavor"]
        assert client.get("/v1/usage/msg_bad").status_code == 404


def test_an_openrouter_object_over_http_keeps_its_reported_cost(stack: RunningStack) -> None:
    body = json.loads((Path(__file__).parents[1] / "provider_usage" / "openrouter_chat.json").read_text())
    event = {
        "request_id": "or_1",
        "customer_id": "acct_e2e",
        "model": body["model"],
        "provider": "openrouter",
        "usage": body["usage"],
        "timestamp": DAY.isoformat(),
    }
    with stack.client() as client:
        assert client.post("/v1/usage", json=event).status_code == 200
        stored = client.get("/v1/usage/or_1").json()
    assert stored["provider_cost"] == "0.0082725"
    # Counts come back as numbers; a fraction (this cost) as its exact string, as money always is.
    assert stored["usage"]["cost"] == "0.0082725" and stored["usage"]["prompt_tokens"] == 5200
    assert Decimal(stored["cost"]) != Decimal(stored["provider_cost"])  # ours, beside theirs
