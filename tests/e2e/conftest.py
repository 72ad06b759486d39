"""The local stack over real HTTP: engine, gateway and handlers, as `make run` starts them."""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import httpx
import pytest

from marginlens.local.stack import LocalStack

T = TypeVar("T")


def wait_until(condition: Callable[[], T | None], timeout_s: float = 15.0, interval_s: float = 0.05) -> T:
    """Poll `condition` until it returns something truthy; fail after `timeout_s` (no blind sleeps)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout_s} s: {condition.__name__}")
        time.sleep(interval_s)


@dataclass(frozen=True)
class RunningStack:
    url: str
    admin_key: str
    table: str

    def client(self, key: str | None = None, timeout: float = 60) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key or self.admin_key}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)


@pytest.fixture
def local_stack(dynamodb_endpoint: str, fresh_table_name: str) -> Iterator[RunningStack]:
    """A fresh stack (own table) on a free loopback port, sharing the session's DynamoDB engine."""
    stack = LocalStack(
        port=0,
        admin_key="test-admin-key-0123456789",
        data_dir=None,
        table=fresh_table_name,
        dynamodb_endpoint=dynamodb_endpoint,
    )
    with stack:
        yield RunningStack(stack.url, "test-admin-key-0123456789", fresh_table_name)
