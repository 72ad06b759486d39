"""POST /v1/prices/refresh and the scheduled refresh, through the local stack over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from marginlens.alerts.publishers import LocalAlertPublisher
from marginlens.api.routes import REFRESH_PRICES
from marginlens.local.gateway import LambdaContext
from marginlens.pricing.book import BASELINE_VERSION
from tests.e2e.conftest import RunningStack
from tests.integration.test_refresh import (
    NEW_INPUT_PRICE,
    PriceServer,
    bundled_price_data,
    encode,
    with_input_price,
)

pytestmark = pytest.mark.e2e

PROBLEM = "application/problem+json"
DATA_PATH = "/prices/v2/data.json"


@pytest.fixture
def price_server() -> Iterator[PriceServer]:
    with PriceServer() as server:
        yield server


@pytest.fixture
def alerts(tmp_path: Path) -> LocalAlertPublisher:
    return LocalAlertPublisher(tmp_path / "alerts.jsonl")


@pytest.fixture
def stack(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    price_server: PriceServer,
    alerts: LocalAlertPublisher,
) -> RunningStack:
    """The local stack, started after the refresh settings point at the local mirror."""
    monkeypatch.setenv("MARGINLENS_PRICES_URL", price_server.url(DATA_PATH))
    monkeypatch.setenv("MARGINLENS_ALERTS_FILE", str(alerts.path))
    monkeypatch.delenv("MARGINLENS_ALERTS_TOPIC_ARN", raising=False)
    running: RunningStack = request.getfixturevalue("local_stack")
    return running


def usage(request_id: str) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "customer_id": "acct_1",
        "model": "gpt-4o-mini",
        "prompt_tokens": 1000,
        "completion_tokens": 0,
    }


def test_refresh_over_http_moves_the_current_snapshot_and_new_prices(
    stack: RunningStack, price_server: PriceServer, alerts: LocalAlertPublisher
) -> None:
    with stack.client() as admin:
        before = admin.post("/v1/usage", json=usage("req_before")).json()["results"][0]
        assert before["cost"] == "0.00015"

        price_server.serve(
            DATA_PATH,
            encode(with_input_price(bundled_price_data(), "openai", "gpt-4o-mini", NEW_INPUT_PRICE)),
        )
        started = datetime.now(UTC)
        response = admin.post("/v1/prices/refresh")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "refreshed"
        assert body["previous"]["version"] == BASELINE_VERSION
        snapshot = body["snapshot"]
        assert snapshot["source"] == price_server.url(DATA_PATH)
        assert datetime.fromisoformat(snapshot["fetched_at"]) >= started.replace(microsecond=0)

        prices = admin.get("/v1/prices").json()
        assert prices["current"] == snapshot
        assert [info["version"] for info in prices["history"]] == [snapshot["version"]]

        after = admin.post("/v1/usage", json=usage("req_after")).json()["results"][0]
        assert Decimal(after["cost"]) == 1000 * NEW_INPUT_PRICE / 1_000_000
        assert admin.get("/v1/usage/req_before").json()["cost"] == "0.00015"  # priced before: unchanged

        again = admin.post("/v1/prices/refresh", json={})  # what `marginlens prices refresh` sends
        assert again.status_code == 200 and again.json()["status"] == "unchanged"
        assert again.json()["snapshot"] == snapshot
    assert alerts.read() == []


@pytest.mark.parametrize(
    ("status", "body"),
    [(200, b""), (200, b"[{"), (500, b"oops")],
    ids=["empty", "corrupt", "http-500"],
)
def test_refused_refresh_answers_502_alerts_once_and_keeps_the_snapshot(
    stack: RunningStack,
    price_server: PriceServer,
    alerts: LocalAlertPublisher,
    status: int,
    body: bytes,
) -> None:
    price_server.serve(DATA_PATH, body, status=status)
    with stack.client() as admin:
        response = admin.post("/v1/prices/refresh")
        assert response.status_code == 502
        assert response.headers["content-type"] == PROBLEM
        problem = response.json()
        assert problem["type"].endswith("/price-sync-failed") and problem["status"] == 502
        assert "refused" in problem["detail"] and "last good price snapshot" in problem["detail"]
        assert problem["snapshot"]["version"] == BASELINE_VERSION

        assert admin.get("/v1/prices").json()["current"]["version"] == BASELINE_VERSION
        priced = admin.post("/v1/usage", json=usage("req_1")).json()["results"][0]
        assert priced["price_status"] == "priced" and priced["cost"] == "0.00015"

    (alert,) = alerts.read()
    assert alert["kind"] == "price_sync_failed"
    assert alert["detail"]["url"] == price_server.url(DATA_PATH)


def test_refresh_needs_the_admin_scope(stack: RunningStack, price_server: PriceServer) -> None:
    with stack.client() as admin:
        read_key = admin.post("/v1/keys", json={"scope": "read", "name": "reader"}).json()["key"]
    with stack.client(read_key) as reader:
        assert reader.post("/v1/prices/refresh").status_code == 403
    with stack.client("mlk_not-a-key") as nobody:
        assert nobody.post("/v1/prices/refresh").status_code == 401
    assert price_server.requests == []


SCHEDULED_EVENT = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2030-01-02T03:15:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/daily-price-refresh"],
    "detail": {},
}


def test_scheduled_refresh_refreshes_and_a_refusal_returns_normally(
    stack: RunningStack, price_server: PriceServer, alerts: LocalAlertPublisher
) -> None:
    from functions.refresh_prices.handler import lambda_handler

    def invoke() -> dict[str, Any]:
        context = LambdaContext(
            REFRESH_PRICES.name, REFRESH_PRICES.memory_mb, REFRESH_PRICES.timeout_s, "req"
        )
        return lambda_handler(json.loads(json.dumps(SCHEDULED_EVENT)), context)

    price_server.serve(DATA_PATH, encode(bundled_price_data()))
    refreshed = invoke()
    assert refreshed["status"] == "refreshed"

    price_server.serve(DATA_PATH, b"not json")
    refused = invoke()  # no exception: EventBridge would retry, and alert again
    assert refused["status"] == "refused" and refused["alerted"] is True
    assert refused["snapshot"] == refreshed["snapshot"]
    assert len(alerts.read()) == 1
    with stack.client() as admin:
        assert admin.get("/v1/prices").json()["current"] == refreshed["snapshot"]
