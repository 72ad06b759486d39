"""How far behind the aggregates are, over HTTP: reports say it, and `consistent=true` waits for them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from marginlens.local.stack import LocalStack
from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e
ADMIN = "freshness-admin-key-0123456789"


def _event(request_id: str) -> dict[str, object]:
    at = datetime.now(UTC) - timedelta(minutes=5)
    return {
        "request_id": request_id,
        "customer_id": "fresh_co",
        "model": "gpt-4o-mini",
        "prompt_tokens": 1000,
        "completion_tokens": 100,
        "timestamp": at.isoformat().replace("+00:00", "Z"),
    }


@pytest.fixture
def stalled(
    dynamodb_endpoint: str, fresh_table_name: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunningStack]:
    """A stack whose aggregator is not running (as if its stream mapping were disabled)."""
    monkeypatch.setenv("MARGINLENS_REPORTS_WAIT_SECONDS", "0")
    monkeypatch.setenv("MARGINLENS_CONSISTENT_WAIT_SECONDS", "0.3")
    stack = LocalStack(
        port=0,
        admin_key=ADMIN,
        data_dir=None,
        table=fresh_table_name,
        dynamodb_endpoint=dynamodb_endpoint,
        aggregate=False,
    )
    with stack:
        yield RunningStack(stack.url, ADMIN, fresh_table_name)


def test_consistent_reads_see_an_event_posted_just_before(local_stack: RunningStack) -> None:
    with local_stack.client() as client:
        posted = client.post("/v1/usage", json=_event("fresh_1")).json()["results"][0]
        month = datetime.now(UTC).strftime("%Y-%m")
        pnl = client.get("/v1/pnl", params={"month": month, "consistent": "true"}).json()
        assert pnl["aggregates"] == {"caught_up": True, "oldest_pending_change": None, "lag_seconds": 0.0}
        (row,) = [row for row in pnl["customers"] if row["customer_id"] == "fresh_co"]
        assert row["cost"] == posted["cost"] and row["events"] == 1
        one = client.get("/v1/customers/fresh_co/pnl", params={"month": month, "consistent": "true"}).json()
        assert one["aggregates"]["caught_up"] is True and one["cost"] == posted["cost"]


def test_reports_say_how_far_behind_they_are_when_the_aggregator_lags(stalled: RunningStack) -> None:
    with stalled.client() as client:
        assert client.post("/v1/usage", json=_event("stalled_1")).status_code == 200
        month = datetime.now(UTC).strftime("%Y-%m")
        pnl = client.get("/v1/pnl", params={"month": month}).json()
        lag = pnl["aggregates"]
        assert lag["caught_up"] is False and lag["oldest_pending_change"] is not None
        assert lag["lag_seconds"] >= 0 and pnl["customers"] == []  # the event is not in the figures yet
        waited = client.get("/v1/pnl", params={"month": month, "consistent": "true"})
        assert waited.status_code == 200  # it waited its few seconds, then answered with the lag
        assert waited.json()["aggregates"]["caught_up"] is False


def test_consistent_is_a_boolean(local_stack: RunningStack) -> None:
    with httpx.Client(
        base_url=local_stack.url, headers={"Authorization": f"Bearer {local_stack.admin_key}"}
    ) as c:
        bad = c.get("/v1/pnl", params={"consistent": "maybe"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/consistent"
