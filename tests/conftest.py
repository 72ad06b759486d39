"""Shared fixtures."""

import os
import uuid
from collections.abc import Iterator

import pytest

# Dummy AWS settings, set before any project module (or test) can build a boto3 client.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}.items():
    os.environ.setdefault(_name, _value)

from marginlens.local.engine import LocalDynamoDB  # noqa: E402
from marginlens.local.faults import FaultInjector  # noqa: E402


@pytest.fixture(scope="session")
def dynamodb_engine() -> Iterator[LocalDynamoDB]:
    """The in-memory DynamoDB engine shared by the whole session (one per xdist worker)."""
    with LocalDynamoDB() as engine:
        yield engine


@pytest.fixture(scope="session")
def dynamodb_endpoint(dynamodb_engine: LocalDynamoDB) -> str:
    """Endpoint URL of the session's DynamoDB engine."""
    return dynamodb_engine.endpoint


@pytest.fixture
def faults(dynamodb_engine: LocalDynamoDB) -> Iterator[FaultInjector]:
    """The session engine's fault hook, cleared after the test; scope faults with ``table=``."""
    dynamodb_engine.faults.clear()
    yield dynamodb_engine.faults
    dynamodb_engine.faults.clear()


@pytest.fixture
def fresh_table_name() -> str:
    """A table name no other test uses, so tests sharing the engine do not collide."""
    return f"marginlens-test-{uuid.uuid4().hex[:12]}"
