"""Schemathesis over every operation of the committed spec, against the local stack over HTTP, with
the admin key: no request may get a server error, and every documented answer must match its schema.

Bounded for `make test` (`MARGINLENS_FUZZ_EXAMPLES`, default 15 per operation); `make fuzz` runs
it much longer. The price refresh reads genai-prices' own data file, served from loopback (the
stack may have no internet); Stripe deliveries are refused for their signature, as they must be.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from marginlens.local.stack import LocalStack
from marginlens.usecases.services import reset
from tests import stripe_fixtures as sf
from tests.integration.test_refresh import PriceServer, bundled_price_data, encode

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("MARGINLENS_FUZZ_EXAMPLES", "15"))
ADMIN_KEY = "fuzz-admin-key-0123456789abcdef"
DATA_PATH = "/prices/v2/data.json"

schema = schemathesis.openapi.from_dict(json.loads((ROOT / "docs/openapi.json").read_text()))


@pytest.fixture(scope="module")
def prices_url() -> Iterator[str]:
    """genai-prices' bundled data over loopback HTTP, as the daily refresh fetches it."""
    with PriceServer() as server:
        server.serve(DATA_PATH, encode(bundled_price_data()))
        yield server.url(DATA_PATH)


@pytest.fixture(scope="module")
def fuzzed_stack(dynamodb_endpoint: str, prices_url: str) -> Iterator[str]:
    patch = pytest.MonkeyPatch()
    patch.setenv("MARGINLENS_PRICES_URL", prices_url)
    patch.setenv("STRIPE_WEBHOOK_SECRET", sf.SECRET)
    reset()
    stack = LocalStack(
        port=0,
        admin_key=ADMIN_KEY,
        data_dir=None,
        table="marginlens-fuzz",
        dynamodb_endpoint=dynamodb_endpoint,
    )
    with stack:
        yield stack.url
    patch.undo()
    reset()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_no_server_error_and_every_answer_matches_the_spec(case: Any, fuzzed_stack: str) -> None:
    case.call_and_validate(
        base_url=fuzzed_stack,
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
