"""The SDKs' tests: the Python SDK imported from its source tree (as `pip install ./sdk/python`
would install it; tests/sdk/test_packaging.py checks that install)."""

import sys
from pathlib import Path

SDK_SOURCE = Path(__file__).resolve().parents[2] / "sdk" / "python" / "src"
if str(SDK_SOURCE) not in sys.path:
    sys.path.insert(0, str(SDK_SOURCE))

from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

from marginlens.local.stack import LocalStack  # noqa: E402
from tests.e2e.conftest import local_stack  # noqa: E402, F401 - the same stack fixture as the e2e tests

SDK_ADMIN_KEY = "sdk-e2e-admin-key-0123456789"


@pytest.fixture
def stoppable_stack(dynamodb_endpoint: str, fresh_table_name: str) -> Iterator[LocalStack]:
    """A local stack whose HTTP port a test can close and open again (`stop_serving`, `serve_again`)."""
    stack = LocalStack(
        port=0,
        admin_key=SDK_ADMIN_KEY,
        data_dir=None,
        table=fresh_table_name,
        dynamodb_endpoint=dynamodb_endpoint,
    )
    with stack:
        yield stack
