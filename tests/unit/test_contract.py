"""The route table, the handlers and the committed OpenAPI spec agree."""

import json
from pathlib import Path

from functions.api.handler import app as api_app
from functions.check_budgets.handler import app as budgets_app
from functions.ingest_usage.handler import app as ingest_app
from functions.refresh_prices.handler import app as refresh_app
from functions.stripe_webhook.handler import app as webhook_app
from marginlens.api.openapi import generate
from marginlens.api.routes import (
    API,
    CHECK_BUDGETS,
    INGEST_USAGE,
    REFRESH_PRICES,
    ROUTES,
    STRIPE_WEBHOOK,
    routes_for,
)
from marginlens.local.gateway import build_event

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def _routes(app: object) -> list[tuple[str, str]]:
    found = []
    for route in app._static_routes + app._dynamic_routes:  # type: ignore[attr-defined]
        found.append((route.openapi_path, route.method))
    return found


def test_each_function_serves_exactly_its_routes_from_the_table() -> None:
    documented = {"/openapi.json", "/docs"}
    for app, function in (
        (ingest_app, INGEST_USAGE),
        (api_app, API),
        (refresh_app, REFRESH_PRICES),
        (webhook_app, STRIPE_WEBHOOK),
        (budgets_app, CHECK_BUDGETS),
    ):
        served = {(method, path) for path, method in _routes(app) if path not in documented}
        expected = {
            (route.method, route.path) for route in routes_for(function) if route.path not in documented
        }
        assert expected <= served, function.name
    assert {(m, p) for p, m in _routes(ingest_app)} == {("POST", "/v1/usage"), ("POST", "/v1/otlp/v1/traces")}
    assert {(m, p) for p, m in _routes(refresh_app)} == {("POST", "/v1/prices/refresh")}
    assert {(m, p) for p, m in _routes(budgets_app)} == {("POST", "/v1/budgets/evaluate")}


def test_committed_openapi_spec_matches_the_code() -> None:
    assert json.loads(SPEC.read_text()) == json.loads(generate()), (
        "run `make openapi` and commit docs/openapi.json"
    )


def test_spec_documents_every_route_but_the_docs_themselves() -> None:
    paths = json.loads(generate())["paths"]
    for route in ROUTES:
        if route.scope is not None:
            assert route.method.lower() in paths[route.path], route.route_key


def test_local_gateway_builds_http_api_v2_events() -> None:
    event, function = build_event(
        "GET", "/v1/usage/req_1?x=1&x=2", {"Authorization": "Bearer k", "Host": "localhost"}, b""
    )
    assert function == API
    assert event["version"] == "2.0" and event["routeKey"] == "GET /v1/usage/{request_id}"
    assert event["pathParameters"] == {"request_id": "req_1"}
    assert event["queryStringParameters"] == {"x": "1,2"} and event["headers"]["authorization"] == "Bearer k"
    assert event["requestContext"]["http"]["method"] == "GET"
    _, nowhere = build_event("GET", "/v1/nowhere", {}, b"")
    assert nowhere is None
