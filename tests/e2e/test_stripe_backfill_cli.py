"""`marginlens stripe backfill` from stripe-mock into the local stack, twice."""

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from marginlens.revenue.backfill import as_event
from marginlens.usecases.services import services
from tests.e2e.conftest import RunningStack
from tests.e2e.test_cli import invoke
from tests.stripe_mock import stripe_mock_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stripe_mock() -> Iterator[str]:
    with stripe_mock_server() as url:
        yield url


def row(output: str, label: str) -> int:
    found = re.search(rf"{re.escape(label)}\W+(\d+)", output)
    assert found, f"no {label!r} in:\n{output}"
    return int(found.group(1))


def test_backfill_applies_stripe_objects_once(local_stack: RunningStack, stripe_mock: str) -> None:
    args = (
        "stripe",
        "backfill",
        "--since",
        "2024-01-01",
        "--stripe-key",
        "sk_test_123",
        "--stripe-api-base",
        stripe_mock,
    )
    first = invoke(local_stack, *args)
    assert first.exit_code == 0, first.output
    read = sum(int(n) for n in re.findall(r"read: \w+\W+(\d+)", first.output))
    assert read >= 2  # stripe-mock answers each list with a fixture object
    assert row(first.output, "applied") + row(first.output, "skipped (drafts, unchanged, malformed)") == read

    second = invoke(local_stack, *args)
    assert second.exit_code == 0, second.output
    assert row(second.output, "applied") == 0  # the same objects again: already applied
    documents = services().revenue.unmapped()  # stripe-mock's customers are not mapped
    assert all(listing["document"].startswith("stripe:") for listing in documents)


def test_draft_invoices_are_not_revenue() -> None:
    now = datetime.now(UTC)
    assert as_event("invoice", {"id": "in_1", "status": "draft"}, now) is None
    paid = as_event("invoice", {"id": "in_1", "status": "paid"}, now)
    assert paid is not None and paid["type"] == "invoice.paid" and paid["created"] == int(now.timestamp())
    changed = as_event("invoice", {"id": "in_1", "status": "paid", "amount_paid": 1}, now)
    assert changed is not None and changed["id"] != paid["id"]  # a changed object is applied again
