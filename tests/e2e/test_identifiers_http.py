"""One rule for identifiers, everywhere: no control characters or separators, model names of a
model's shape, and a price scheduled for later never shown as the price in force."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

EVENT = {
    "request_id": "id_1",
    "customer_id": "acct_1",
    "model": "gpt-4o-mini",
    "prompt_tokens": 1,
    "completion_tokens": 1,
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("model", "gpt-4o-mini\u0000"),
        ("model", "gpt-4o\nmini"),
        ("model", "../.."),
        ("model", "<script>"),
        ("provider", "open ai"),
        ("customer_id", "ac\u0085ct"),  # NEL, a C1 control (at the ends it is stripped as whitespace)
        ("customer_id", "acct\u2028b"),  # a line separator
        ("customer_id", "acct\u007f"),
        ("feature", "sum\nmarize"),
    ],
)
def test_control_characters_and_odd_names_are_refused_at_their_field(
    local_stack: RunningStack, field: str, value: str
) -> None:
    with local_stack.client() as client:
        response = client.post("/v1/usage", json={**EVENT, field: value})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["pointer"] == f"/{field}"


@pytest.mark.parametrize(
    ("method", "path", "body", "pointer"),
    [
        ("PUT", "/v1/model-aliases/%2E%2E%2F%2E%2E", {"model": "gpt-4o-mini"}, "/alias"),
        ("PUT", "/v1/model-aliases/prod-model", {"model": "gpt\u0000"}, "/model"),
        ("PUT", "/v1/prices/acme%0Amodel", {"input_per_mtok": "1", "output_per_mtok": "1"}, "/model"),
        ("PUT", "/v1/customers/acct_1", {"name": "Acme\u0000Corp"}, "/name"),
        (
            "POST",
            "/v1/revenue",
            {"external_id": "inv\u2029", "customer_id": "c", "amount": "1", "currency": "USD"},
            "/external_id",
        ),
        ("POST", "/v1/keys", {"scope": "read", "name": "web\napp"}, "/name"),
        ("PUT", "/v1/budgets/b1", {"scope": "customer", "target": "acct\u0085", "limit": "10"}, "/target"),
        ("POST", "/v1/simulations", {"to_model": "gpt\n4o"}, "/to_model"),
        (
            "PUT",
            "/v1/prices/acme-later",
            {"input_per_mtok": "1", "output_per_mtok": "1", "effective_from": "9999-12-31T00:00:00Z"},
            "/effective_from",
        ),
    ],
)
def test_every_identifier_follows_the_rule(
    local_stack: RunningStack, method: str, path: str, body: dict[str, Any], pointer: str
) -> None:
    with local_stack.client() as client:
        response = client.request(method, path, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["pointer"] == pointer


def test_a_price_scheduled_for_later_is_not_shown_as_the_price_in_force(local_stack: RunningStack) -> None:
    now = datetime.now(UTC)
    with local_stack.client() as client:
        current = {
            "input_per_mtok": "1",
            "output_per_mtok": "2",
            "effective_from": (now - timedelta(days=1)).isoformat(),
        }
        later = {"input_per_mtok": "50", "output_per_mtok": "60", "effective_from": "2150-01-01T00:00:00Z"}
        assert client.put("/v1/prices/acme-sched", json=current).status_code == 200
        assert client.put("/v1/prices/acme-sched", json=later).status_code == 200
        listed = client.get("/v1/models", params={"q": "acme-sched"}).json()["data"]
        one = client.get("/v1/models/acme-sched").json()
    (row,) = listed
    for shown in (row, one):
        assert shown["prices_per_mtok"]["input"] in ("1", "1.00") and "2150" not in shown["price_source"]
