"""Hostile and careless bodies over real HTTP: each a 4xx problem+json, decided before any parsing,
after authentication, with nothing logged as a crash."""

from __future__ import annotations

import gzip
import json
import re

import httpx
import pytest

from marginlens.api.routes import ROUTES
from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

PROBLEM = "application/problem+json"
MAX_BODY_BYTES = 1024 * 1024  # the documented bound of a JSON body
WEBHOOK_ROUTE = "POST /v1/stripe/webhook"
# OTLP/HTTP takes gzip and bodies past 1 MiB (tests/e2e/test_otlp_http.py); every other case holds there too.
OTLP_ROUTE = "POST /v1/otlp/v1/traces"
OTLP_ACCEPTS = ("gzip", "over 1 MiB")
JSON = "application/json"
BODY_ROUTES = [
    route for route in ROUTES if route.method in ("POST", "PUT") and route.route_key != WEBHOOK_ROUTE
]

# (name, body, headers, status, problem slug)
MALFORMED: list[tuple[str, bytes, dict[str, str], int, str]] = [
    ("not UTF-8", b'{"customer_id": "\xff\xfe"}', {"Content-Type": JSON}, 400, "malformed-body"),
    ("text/plain", b"{}", {"Content-Type": "text/plain"}, 415, "unsupported-media-type"),
    ("XML", b"<usage/>", {"Content-Type": "application/xml"}, 415, "unsupported-media-type"),
    ("JSON-like", b"{}", {"Content-Type": "application/merge-patch+json"}, 415, "unsupported-media-type"),
    (
        "octet-stream",
        b"\x00\x01\x02",
        {"Content-Type": "application/octet-stream"},
        415,
        "unsupported-media-type",
    ),
    ("UTF-16", '{"a": 1}'.encode("utf-16"), {"Content-Type": JSON}, 400, "malformed-body"),
    (
        "UTF-16 declared",
        '{"a": 1}'.encode("utf-16"),
        {"Content-Type": "application/json; charset=utf-16"},
        415,
        "unsupported-media-type",
    ),
    (
        "gzip",
        gzip.compress(b'{"a": 1}'),
        {"Content-Type": JSON, "Content-Encoding": "gzip"},
        415,
        "unsupported-content-encoding",
    ),
    ("nested 10,000 deep", b"[" * 10_000 + b"]" * 10_000, {"Content-Type": JSON}, 400, "body-too-deep"),
    (
        "objects 1,000 deep",
        b'{"a":' * 1_000 + b"1" + b"}" * 1_000,
        {"Content-Type": JSON},
        400,
        "body-too-deep",
    ),
    (
        "duplicate keys",
        b'{"prompt_tokens": 1, "prompt_tokens": 1000000}',
        {"Content-Type": JSON},
        400,
        "duplicate-key",
    ),
    ("NaN", b'{"amount": NaN}', {"Content-Type": JSON}, 400, "malformed-json"),
    ("not JSON", b'{"a": ', {"Content-Type": JSON}, 400, "malformed-json"),
    ("over 1 MiB", b'{"a": "' + b"x" * MAX_BODY_BYTES + b'"}', {"Content-Type": JSON}, 413, "body-too-large"),
]


def path_of(route_path: str) -> str:
    return re.sub(r"\{\w+\}", "x1", route_path)


def assert_problem(response: httpx.Response, status: int, slug: str | None = None) -> None:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    if slug is not None:
        assert body["type"].endswith("/" + slug), body


@pytest.mark.parametrize(
    ("name", "body", "headers", "status", "slug"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_every_body_route_refuses_a_malformed_body_with_a_problem(
    local_stack: RunningStack,
    capfd: pytest.CaptureFixture[str],
    name: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    slug: str,
) -> None:
    with local_stack.client() as client:
        for route in BODY_ROUTES:
            if route.route_key == OTLP_ROUTE and name in OTLP_ACCEPTS:
                continue
            response = client.request(route.method, path_of(route.path), content=body, headers=headers)
            assert_problem(response, status, slug)
    logged = capfd.readouterr()
    assert "Traceback" not in logged.out + logged.err
    assert "unhandled error" not in logged.out + logged.err


def test_without_a_key_a_bad_body_is_401_before_anything_is_read(local_stack: RunningStack) -> None:
    with httpx.Client(base_url=local_stack.url, timeout=30) as anonymous:
        for route in BODY_ROUTES:
            for name, body, headers, _, _ in MALFORMED:
                response = anonymous.request(route.method, path_of(route.path), content=body, headers=headers)
                assert_problem(response, 401, "unauthorized")
                assert response.headers["www-authenticate"] == "Bearer", (route.route_key, name)
            invalid = anonymous.request(route.method, path_of(route.path), json={"prompt_tokens": -1})
            assert_problem(invalid, 401, "unauthorized")


def test_a_deep_webhook_body_is_refused_on_purpose(local_stack: RunningStack) -> None:
    with httpx.Client(base_url=local_stack.url, timeout=30) as stripe:
        response = stripe.post(
            "/v1/stripe/webhook",
            content=b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
            headers={"Content-Type": JSON, "Stripe-Signature": "t=1,v1=00"},
        )
    assert_problem(response, 400, "body-too-deep")


def test_a_valid_json_body_still_reaches_its_route(local_stack: RunningStack) -> None:
    event = {
        "customer_id": "acct_1",
        "model": "gpt-4o-mini",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "request_id": "gate_ok",
    }
    with local_stack.client() as client:
        for content_type in (JSON, "application/json; charset=utf-8", "Application/JSON"):
            response = client.post(
                "/v1/usage", content=json.dumps(event), headers={"Content-Type": content_type}
            )
            assert response.status_code == 200, response.text


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND"])
def test_a_method_no_route_has_gets_api_gateways_404(local_stack: RunningStack, method: str) -> None:
    with local_stack.client() as client:
        response = client.request(method, "/v1/usage")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"message": "Not Found"}


@pytest.mark.parametrize("size", [20_000, 100_000])
def test_oversized_headers_get_api_gateways_431(local_stack: RunningStack, size: int) -> None:
    with local_stack.client() as client:
        response = client.get("/v1/pnl", headers={"X-Padding": "x" * size})
    assert response.status_code == 431
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"message": "Request Header Fields Too Large"}
