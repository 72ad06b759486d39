"""Revenue corners over real HTTP: a backfill never replaces newer webhook state; one Stripe mode counts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from marginlens.usecases.services import reset, services
from tests import stripe_fixtures as sf
from tests.e2e.conftest import RunningStack
from tests.e2e.test_stripe_webhook_http import NOVEMBER, accepted, deliver, stripe_client

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(local_stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningStack]:
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", sf.SECRET)
    for name in ("STRIPE_WEBHOOK_SECRET_NAME", "STRIPE_CUSTOMER_METADATA_KEY", "STRIPE_REFUND_SOURCE"):
        monkeypatch.delenv(name, raising=False)
    reset()
    yield local_stack
    reset()


def test_a_backfilled_snapshot_older_than_a_webhook_does_not_replace_it(stack: RunningStack) -> None:
    now = int(time.time())
    charge_id = sf.new_id("ch")
    read_before = sf.charge(id=charge_id, customer="cus_bf", amount=10_000, amount_refunded=1_000)
    # The backfill read the charge a minute ago; a second refund's webhook landed since.
    webhook = sf.charge_refunded(
        id=charge_id, customer="cus_bf", amount=10_000, amount_refunded=4_000, event_created=now - 20
    )
    with stripe_client(stack) as client:
        accepted(deliver(client, webhook))
    fetched_at = datetime.fromtimestamp(now - 60, tz=UTC).isoformat()
    with stack.client() as admin:
        answer = admin.post(
            "/v1/stripe/backfill",
            json={"objects": [{"kind": "charge", "object": read_before, "fetched_at": fetched_at}]},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["statuses"] == {"stale": 1}
        ahead = admin.post(
            "/v1/stripe/backfill",
            json={
                "objects": [
                    {
                        "kind": "charge",
                        "object": read_before,
                        "fetched_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                    }
                ]
            },
        )
        assert ahead.status_code == 422, ahead.text
        assert ahead.json()["errors"][0]["pointer"] == "/objects/0/fetched_at"
    refund = services().revenue.document(f"stripe:refund:{charge_id}")
    assert refund is not None and refund["lines"][0]["amount_minor"] == -4_000


def test_a_live_deployment_ignores_test_mode_events(
    stack: RunningStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIPE_LIVEMODE", "true")
    reset()
    test_event = sf.invoice_paid(
        customer="cus_mode_http",
        lines=[sf.invoice_line(5_000, start=sf.ts(2026, 11, 1), end=sf.ts(2026, 12, 1))],
    )
    with stripe_client(stack) as client:
        body = accepted(deliver(client, test_event))
    assert body["ignored"] is True and body["documents"] == 0
    assert services().revenue.totals(*NOVEMBER) == {}


def compact_line(amount: int) -> dict[str, object]:
    """An invoice line with only what a webhook's line needs, so 10,000 fit in one delivery."""
    return {
        "id": sf.new_id("il"),
        "object": "line_item",
        "amount": amount,
        "period": {"start": sf.ts(2026, 11, 1), "end": sf.ts(2026, 12, 1)},
        "pretax_credit_amounts": [],
        "taxes": [],
    }


def test_an_invoice_of_10000_lines_is_stored_once_and_its_redelivery_answers_the_same(
    stack: RunningStack,
) -> None:
    lines = [compact_line(100 + n % 7) for n in range(10_000)]
    event = sf.invoice_paid(customer="cus_big", lines=lines)
    with stripe_client(stack) as client:
        first = accepted(deliver(client, event))
        again = accepted(deliver(client, event))
    assert (first["documents"], first["duplicate"], first["ignored"]) == (1, False, False)
    assert (again["documents"], again["duplicate"]) == (1, True)
    assert services().revenue.totals(*NOVEMBER) == {
        "unmapped:cus_big": {"USD": sum(line["amount"] for line in lines)}
    }
    stored = services().revenue.document(f"stripe:invoice:{event['data']['object']['id']}")
    assert stored is not None and "lines_gz" in stored and "lines" not in stored


def test_an_event_without_livemode_is_applied_once_and_answers_the_same_again(stack: RunningStack) -> None:
    event = sf.invoice_paid(customer="cus_nolive", lines=[compact_line(4_200)])
    del event["livemode"]
    with stripe_client(stack) as client:
        first = accepted(deliver(client, event))
        again = accepted(deliver(client, event))
    assert (first["documents"], first["ignored"], again["duplicate"]) == (1, False, True)
    assert services().revenue.totals(*NOVEMBER) == {"unmapped:cus_nolive": {"USD": 4_200}}
