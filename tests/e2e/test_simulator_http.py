"""The simulator over real HTTP: a losing customer's swap next to its margin, users' quality scores,
and problem+json for bad requests."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e


def previous_month() -> date:
    return (datetime.now(UTC).date().replace(day=1) - timedelta(days=1)).replace(day=1)


def post_usage(client: httpx.Client, customer: str, month: date, count: int, model: str = "gpt-4o") -> None:
    events = [
        {
            "request_id": f"{customer}_{model}_{n}",
            "customer_id": customer,
            "model": model,
            "feature": "summarize",
            "prompt_tokens": 200_000,
            "completion_tokens": 20_000,
            "timestamp": datetime(month.year, month.month, 1 + n % 28, 10, tzinfo=UTC).isoformat(),
        }
        for n in range(count)
    ]
    for start in range(0, count, 100):
        body = client.post("/v1/usage", json={"events": events[start : start + 100]}).json()
        assert body["created"] == len(events[start : start + 100])


def recommendations(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/recommendations", params={"limit": 50, **params})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_losing_customer_sees_each_swaps_savings_next_to_its_margin(local_stack: RunningStack) -> None:
    month = previous_month()
    with local_stack.client() as client:
        post_usage(client, "plexo_sim", month, 30)
        post_usage(client, "other_sim", month, 10)  # another customer's usage must not count
        client.post(
            "/v1/revenue",
            json={
                "external_id": "inv_plexo_sim",
                "customer_id": "plexo_sim",
                "amount": "15.00",
                "currency": "USD",
                "month": month.strftime("%Y-%m"),
            },
        ).raise_for_status()
        pnl = client.get("/v1/customers/plexo_sim/pnl", params={"month": month.strftime("%Y-%m")}).json()
        body = recommendations(client, month=month.strftime("%Y-%m"), customer_id="plexo_sim")

    customer = body["customer"]
    margin = Decimal(customer["margin"])
    assert margin < 0 and customer["action"] == "reprice_or_throttle"
    assert (customer["revenue"], customer["cost"], customer["margin"]) == (
        pnl["revenue"],
        pnl["cost"],
        pnl["margin"],
    )
    [group] = body["groups"]
    assert group["events"] == 30 and group["cost"] == pnl["cost"]  # this customer's usage only
    assert group["candidates"], "a cheaper model within the tolerance exists for gpt-4o"
    for candidate in group["candidates"]:
        assert Decimal(candidate["margin_after"]) == margin + Decimal(candidate["savings"])
        assert candidate["quality"]["source"] and candidate["quality"]["date"]
    best = Decimal(group["candidates"][0]["savings"])
    assert Decimal(customer["best_savings"]) == best
    assert Decimal(customer["margin_after_best"]) == margin + best > 0


def test_a_users_score_overrides_the_published_one_until_removed(local_stack: RunningStack) -> None:
    month = previous_month()
    with local_stack.client() as client:
        post_usage(client, "q_sim", month, 20)
        published = client.get("/v1/models/gpt-4o-mini").json()["quality"]
        assert {score["index"] for score in published} >= {"arena_text"}
        before = recommendations(client, month=month.strftime("%Y-%m"))
        assert "openai/gpt-4o-mini" in {c["model"] for c in before["groups"][0]["candidates"]}

        saved = client.put(
            "/v1/models/gpt-4o-mini/quality",
            json={
                "index": "arena_text",
                "score": "1000",
                "source": "our summarize eval",
                "date": "2026-01-15",
            },
        )
        assert saved.status_code == 200, saved.text
        [mine] = [score for score in saved.json()["quality"] if score["index"] == "arena_text"]
        assert (mine["score"], mine["origin"], mine["date"]) == ("1000", "user", "2026-01-15")
        shown = client.get("/v1/models/openai%2Fgpt-4o-mini").json()["quality"]
        assert [s for s in shown if s["index"] == "arena_text"] == [mine]
        after = recommendations(client, month=month.strftime("%Y-%m"))
        assert "openai/gpt-4o-mini" not in {c["model"] for c in after["groups"][0]["candidates"]}

        removed = client.delete("/v1/models/gpt-4o-mini/quality/arena_text")
        assert removed.status_code == 200
        assert client.get("/v1/models/gpt-4o-mini").json()["quality"] == published
        again = client.delete("/v1/models/gpt-4o-mini/quality/arena_text")
        assert again.status_code == 404 and again.headers["content-type"] == "application/problem+json"


def test_quality_scores_need_an_admin_key(local_stack: RunningStack) -> None:
    with local_stack.client() as admin:
        read_key = admin.post("/v1/keys", json={"scope": "read", "name": "reader"}).json()["key"]
    with local_stack.client(read_key) as reader:
        refused = reader.put("/v1/models/gpt-4o-mini/quality", json={"score": "1"})
        assert refused.status_code == 403
        assert reader.get("/v1/recommendations").status_code == 200
        assert reader.post("/v1/simulations", json={"to_model": "gpt-4o-mini"}).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "payload", "pointer"),
    [
        ("POST", "/v1/simulations", {"to_model": "no-such-model-xyz"}, "/to_model"),
        ("POST", "/v1/simulations", {"month": "2026-11"}, "/to_model"),
        ("POST", "/v1/simulations", {"to_model": "gpt-4o-mini", "month": "2026-13"}, "/month"),
        ("GET", "/v1/recommendations?quality=vibes", None, "/quality"),
        ("GET", "/v1/recommendations?tolerance_pct=150", None, "/tolerance_pct"),
        ("PUT", "/v1/models/gpt-4o-mini/quality", {"score": "-5"}, "/score"),
        ("PUT", "/v1/models/gpt-4o-mini/quality", {"score": "90", "index": "vibes"}, "/index"),
    ],
)
def test_bad_requests_get_problem_json_naming_the_field(
    local_stack: RunningStack, method: str, path: str, payload: Any, pointer: str
) -> None:
    with local_stack.client() as client:
        response = client.request(method, path, json=payload)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert pointer in {error["pointer"] for error in response.json()["errors"]}


def test_scoring_an_unknown_model_is_404(local_stack: RunningStack) -> None:
    with local_stack.client() as client:
        response = client.put("/v1/models/no-such-model-xyz/quality", json={"score": "1200"})
    assert response.status_code == 404 and "PUT /v1/prices" in response.json()["detail"]
