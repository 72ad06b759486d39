"""Every number has a bound at the door (422 with a pointer), and the largest accepted values
everywhere still give every report 200 with exact figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests import stripe_fixtures as sf
from tests.e2e.conftest import RunningStack
from tests.e2e.test_stripe_webhook_http import deliver, stripe_client

pytestmark = pytest.mark.e2e

PROBLEM = "application/problem+json"
EVENT = {"customer_id": "acct_b", "model": "gpt-4o-mini", "prompt_tokens": 10, "completion_tokens": 1}
TOO_MANY_DIGITS = "1." + "1" * 40

# (method, path, JSON body or None, query, the pointer the 422 names)
PAST_BOUNDS: list[tuple[str, str, dict[str, Any] | None, dict[str, str], str]] = [
    ("POST", "/v1/usage", {**EVENT, "request_id": "b1", "prompt_tokens": 10**9 + 1}, {}, "/prompt_tokens"),
    (
        "POST",
        "/v1/usage",
        {**EVENT, "request_id": "b2", "completion_tokens": 10**12},
        {},
        "/completion_tokens",
    ),
    ("POST", "/v1/usage", {**EVENT, "request_id": "b3", "cached_tokens": 10**10}, {}, "/cached_tokens"),
    (
        "POST",
        "/v1/usage",
        {**EVENT, "request_id": "b7", "cache_write_tokens": 10**9 + 1},
        {},
        "/cache_write_tokens",
    ),
    ("POST", "/v1/usage", {**EVENT, "request_id": "b8", "prompt_chars": 4 * 10**9 + 1}, {}, "/prompt_chars"),
    (
        "PUT",
        "/v1/prices/acme-x",
        {"input_per_mtok": "1", "output_per_mtok": "1", "cache_read_per_mtok": "100001"},
        {},
        "/cache_read_per_mtok",
    ),
    (
        "PUT",
        "/v1/budgets/b",
        {"scope": "organization", "limit": "10", "critical_pct": "0"},
        {},
        "/critical_pct",
    ),
    (
        "POST",
        "/v1/usage",
        {**EVENT, "request_id": "b4", "revenue_amount": "1e400", "revenue_currency": "USD"},
        {},
        "/revenue_amount",
    ),
    ("POST", "/v1/usage", {**EVENT, "request_id": "b5", "metadata": {"n": 10**20}}, {}, "/metadata"),
    ("PUT", "/v1/prices/acme-x", {"input_per_mtok": "1e30", "output_per_mtok": "1"}, {}, "/input_per_mtok"),
    (
        "PUT",
        "/v1/prices/acme-x",
        {"input_per_mtok": "1", "output_per_mtok": TOO_MANY_DIGITS},
        {},
        "/output_per_mtok",
    ),
    (
        "POST",
        "/v1/revenue",
        {"external_id": "r", "customer_id": "c", "amount": "1000000000000.01", "currency": "USD"},
        {},
        "/amount",
    ),
    (
        "POST",
        "/v1/revenue",
        {"external_id": "r", "customer_id": "c", "amount": "1.00", "currency": "USD", "month": "0000-01"},
        {},
        "/month",
    ),
    (
        "POST",
        "/v1/revenue",
        {"external_id": "r", "customer_id": "c", "amount": "1", "currency": "USD", "date": "1999-12-31"},
        {},
        "/date",
    ),
    ("PUT", "/v1/budgets/b", {"scope": "organization", "limit": "1e13"}, {}, "/limit"),
    (
        "PUT",
        "/v1/budgets/b",
        {"scope": "organization", "limit": "10", "warning_pct": "100"},
        {},
        "/warning_pct",
    ),
    ("PUT", "/v1/budgets/b", {"scope": "organization", "limit": TOO_MANY_DIGITS}, {}, "/limit"),
    ("PUT", "/v1/models/gpt-4o-mini/quality", {"score": "10000001"}, {}, "/score"),
    ("GET", "/v1/pnl", None, {"month": "0000-01"}, "/month"),
    ("GET", "/v1/pnl", None, {"from": "1999-01-01", "to": "2000-01-01"}, "/from"),
    ("GET", "/v1/customers/c/pnl", None, {"month": "2300-01"}, "/month"),
    ("GET", "/v1/recommendations", None, {"min_cost": "1e300"}, "/min_cost"),
    ("POST", "/v1/simulations", {"month": "0000-01", "to_model": "gpt-4o-mini"}, {}, "/month"),
    ("POST", "/v1/reprice", {"from": "1899-01-01", "to": "1899-01-02"}, {}, "/from"),
    ("GET", "/v1/models", None, {"limit": "100000"}, "/limit"),
    ("GET", "/v1/alerts", None, {"month": "0000-01"}, "/month"),
    ("GET", "/v1/recommendations", None, {"tolerance_pct": "100"}, "/tolerance_pct"),
    ("GET", "/v1/recommendations", None, {"limit": "51"}, "/limit"),
]


@pytest.mark.parametrize(("method", "path", "body", "query", "pointer"), PAST_BOUNDS)
def test_a_number_past_its_bound_is_a_422_with_a_pointer(
    local_stack: RunningStack,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    query: dict[str, str],
    pointer: str | None,
) -> None:
    with local_stack.client() as client:
        response = client.request(method, path, json=body, params=query)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    pointers = [error["pointer"] for error in response.json()["errors"]]
    if pointer is not None:
        assert any(p == pointer or p.startswith(pointer + "/") for p in pointers), pointers
    else:
        assert pointers


def test_a_json_number_of_41_digits_in_metadata_is_refused(local_stack: RunningStack) -> None:
    body = '{"request_id": "b6", "customer_id": "c", "model": "gpt-4o-mini", "prompt_tokens": 1, '
    body += '"completion_tokens": 1, "metadata": {"n": ' + TOO_MANY_DIGITS + "}}"
    with local_stack.client() as client:
        response = client.post("/v1/usage", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["pointer"] == "/metadata"


def test_an_amount_beyond_any_stripe_amount_is_refused_on_purpose(
    local_stack: RunningStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from marginlens.usecases.services import reset, services

    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", sf.SECRET)
    reset()
    line = sf.invoice_line(10**30, start=sf.ts(2026, 11, 1), end=sf.ts(2026, 12, 1))
    event = sf.invoice_paid(customer="cus_huge", lines=[line])
    with stripe_client(local_stack) as client:
        first, again = deliver(client, event), deliver(client, event)
    for response in (first, again):
        assert response.status_code == 200 and response.json()["ignored"] is True
    assert services().revenue.totals(datetime(2026, 11, 1).date(), datetime(2026, 11, 30).date()) == {}
    reset()


MAX_PRICE = "99999.999999999999"  # the largest price with 12 decimals under 100,000 per Mtok


def test_the_largest_accepted_values_everywhere_keep_every_report_exact(local_stack: RunningStack) -> None:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    month = at.strftime("%Y-%m")
    events = [
        {
            "request_id": f"max_{n}",
            "customer_id": "acct_max",
            "model": "acme-max",
            "feature": "summarize",
            "prompt_tokens": 10**9,
            "cached_tokens": 10**9 // 3,
            "cache_write_tokens": 10**9 // 3,
            "completion_tokens": 10**9,
            "timestamp": (at - timedelta(seconds=n)).isoformat(),
            "revenue_amount": "999999999.99",
            "revenue_currency": "USD",
            "metadata": {"big": 2**53, "exact": "0.12345678901234"},
        }
        for n in range(100)
    ]
    with local_stack.client() as client:
        prices = {
            "input_per_mtok": MAX_PRICE,
            "output_per_mtok": MAX_PRICE,
            "cache_read_per_mtok": MAX_PRICE,
            "cache_write_per_mtok": MAX_PRICE,
            "effective_from": (at - timedelta(days=1)).isoformat(),
        }
        assert client.put("/v1/prices/acme-max", json=prices).status_code == 200
        created = client.post("/v1/usage", json={"events": events})
        assert created.status_code == 200 and created.json()["created"] == 100, created.text
        revenue = {
            "external_id": "max_rev",
            "customer_id": "acct_max",
            "amount": "1000000000000.00",
            "currency": "USD",
            "month": month,
        }
        assert client.post("/v1/revenue", json=revenue).status_code == 201
        budget = {
            "scope": "customer",
            "target": "acct_max",
            "limit": "1000000000000",
            "warning_pct": "99.9998",
            "critical_pct": "99.9999",
        }
        assert client.put("/v1/budgets/max", json=budget).status_code == 200
        assert client.put("/v1/models/gpt-4o-mini/quality", json={"score": "1000000"}).status_code == 200

        per_call = 2 * 10**9 * Decimal(MAX_PRICE) / 10**6  # the input (all its parts) and the output
        cost = per_call * 100
        revenue_total = Decimal("1000000000000.00") + Decimal("999999999.99") * 100

        pnl = client.get("/v1/pnl", params={"month": month})
        assert pnl.status_code == 200, pnl.text
        (row,) = [r for r in pnl.json()["customers"] if r["customer_id"] == "acct_max"]
        assert Decimal(row["cost"]) == cost and Decimal(row["revenue"]) == revenue_total
        assert Decimal(row["margin"]) == revenue_total - cost
        detail = client.get("/v1/customers/acct_max/pnl", params={"month": month})
        assert detail.status_code == 200 and Decimal(detail.json()["cost"]) == cost
        stored = client.get("/v1/usage/max_0")
        assert stored.status_code == 200 and Decimal(stored.json()["cost"]) == per_call
        for path, query in (
            ("/v1/prices", {}),
            ("/v1/models", {"q": "acme-max"}),
            ("/v1/models/acme-max", {}),
            ("/v1/models/gpt-4o-mini", {}),
            ("/v1/budgets", {}),
            ("/v1/budgets/blocklist", {}),
            ("/v1/alerts", {"month": month}),
            ("/v1/recommendations", {"month": month}),
            ("/v1/revenue/unmapped", {}),
            ("/v1/keys", {}),
            ("/v1/usage/max_99", {}),
        ):
            answer = client.get(path, params=query)
            assert answer.status_code == 200, (path, answer.text)
        budgets = client.get("/v1/budgets").json()
        (mine,) = [b for b in (budgets.get("data") or budgets.get("budgets") or budgets) if b["id"] == "max"]
        assert Decimal(mine["spent"]) == cost
        simulated = client.post("/v1/simulations", json={"month": month, "to_model": "gpt-4o-mini"})
        assert simulated.status_code == 200, simulated.text
        assert Decimal(simulated.json()["totals"]["cost"]) == cost
        assert client.post("/v1/budgets/evaluate", json={}).status_code == 200


def test_poison_already_stored_never_breaks_a_report(local_stack: RunningStack) -> None:
    """Values stored before the bounds existed (or written around them) still read: 200, exact."""
    from marginlens.pricing.book import PriceOverride
    from marginlens.revenue.documents import RevenueDocument, RevenueLine
    from marginlens.usecases.services import services

    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    month = at.strftime("%Y-%m")
    state = services()
    for name, price in (("acme-poison-e30", Decimal("1e30")), ("acme-poison-38", Decimal("1." + "2" * 37))):
        state.prices.put_override(
            PriceOverride(
                key=name,
                model=name,
                effective_from=at - timedelta(days=1),
                input_mtok=price,
                output_mtok=price,
            )
        )
    state.revenue.upsert(
        RevenueDocument(
            "stripe", "invoice", "in_poison", "cus_poison", "USD", (RevenueLine(10**30),), at, version_time=at
        )
    )
    events = [
        {
            "request_id": f"poison_{name}",
            "customer_id": "acct_poison",
            "model": name,
            "prompt_tokens": 1000,
            "completion_tokens": 0,
            "timestamp": at.isoformat(),
        }
        for name in ("acme-poison-e30", "acme-poison-38")
    ]
    with local_stack.client() as client:
        assert client.post("/v1/usage", json={"events": events}).status_code == 200
        prices = client.get("/v1/prices")
        assert prices.status_code == 200
        ignored = {row["model"]: row["reason"] for row in prices.json()["ignored_overrides"]}
        assert set(ignored) == {"acme-poison-e30", "acme-poison-38"}  # flagged, and priced as absent
        missing = client.get("/v1/models/acme-poison-e30")
        assert missing.status_code == 404 and missing.headers["content-type"].startswith(PROBLEM)
        for path, query in (
            ("/v1/models", {"q": "acme-poison"}),
            ("/v1/pnl", {"month": month}),
            ("/v1/customers/acct_poison/pnl", {"month": month}),
            ("/v1/usage/poison_acme-poison-e30", {}),
            ("/v1/revenue/unmapped", {}),
            ("/v1/recommendations", {"month": month}),
        ):
            answer = client.get(path, params=query)
            assert answer.status_code == 200, (path, answer.text)
        pnl = client.get("/v1/pnl", params={"month": month}).json()
    (row,) = [r for r in pnl["customers"] if r["customer_id"] == "acct_poison"]
    assert (Decimal(row["cost"]), row["unpriced_events"]) == (0, 2)  # never a silent $0: counted unpriced
    assert Decimal(pnl["totals"]["unmapped_revenue"]) == Decimal(10**30) / 100
