"""Stripe webhooks over real HTTP: signed deliveries through the local gateway into the revenue ledger.

Bodies and `Stripe-Signature` headers are built as Stripe builds them (tests/stripe_fixtures.py):
the handler verifies them with the stripe library against STRIPE_WEBHOOK_SECRET.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from marginlens.core.settings import Settings
from marginlens.revenue.webhook import WebhookNotConfigured, parse_secret_value, webhook_secrets
from marginlens.usecases.services import reset, services
from tests import stripe_fixtures as sf
from tests.e2e.conftest import RunningStack
from tests.e2e.test_api import scan_table

pytestmark = pytest.mark.e2e

PROBLEM = "application/problem+json"
WEBHOOK = "/v1/stripe/webhook"
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))
STRIPE_HEADERS = {
    "Content-Type": "application/json; charset=utf-8",
    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
}


@pytest.fixture
def stack(local_stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningStack]:
    """The local stack with a webhook signing secret, as `make run` with it in .env."""
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", sf.SECRET)
    for name in ("STRIPE_WEBHOOK_SECRET_NAME", "STRIPE_CUSTOMER_METADATA_KEY", "STRIPE_REFUND_SOURCE"):
        monkeypatch.delenv(name, raising=False)
    reset()  # the handlers read settings once per process
    yield local_stack
    reset()


def stripe_client(stack: RunningStack) -> httpx.Client:
    return httpx.Client(base_url=stack.url, timeout=30)  # no API key: Stripe has none


def signed(
    event: dict[str, Any], *, secret: str | list[str] = sf.SECRET, at: int | None = None
) -> tuple[bytes, dict[str, str]]:
    body = sf.body(event)
    timestamp = int(time.time()) if at is None else at
    return body, {**STRIPE_HEADERS, "Stripe-Signature": sf.sign(body, secret, timestamp)}


def deliver(client: httpx.Client, event: dict[str, Any], **signing: Any) -> httpx.Response:
    body, headers = signed(event, **signing)
    return client.post(WEBHOOK, content=body, headers=headers)


def accepted(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["received"] is True
    return body


def november_line(amount: int) -> dict[str, Any]:
    return sf.invoice_line(amount, start=sf.ts(2026, 11, 1), end=sf.ts(2026, 12, 1))


def totals() -> dict[str, dict[str, int]]:
    return services().revenue.totals(*NOVEMBER)


# --- acceptance: mapped customers, each invoice once ---------------------------------------------


def test_five_invoices_for_five_mapped_customers_each_counted_once(stack: RunningStack) -> None:
    amounts = {f"acct_wh_{n}": 10_000 * n + 25 for n in range(1, 6)}
    with stripe_client(stack) as client:
        for n, (customer_id, amount) in enumerate(amounts.items(), start=1):
            stripe_id = f"cus_wh_{n}"
            created = accepted(
                deliver(
                    client,
                    sf.customer_event(id=stripe_id, metadata={"customer_id": customer_id}, name=f"Co {n}"),
                )
            )
            assert created["type"] == "customer.created" and created["ignored"] is False
            paid = accepted(
                deliver(client, sf.invoice_paid(customer=stripe_id, lines=[november_line(amount)]))
            )
            assert paid["type"] == "invoice.paid" and paid["documents"] == 1 and paid["duplicate"] is False

    assert totals() == {customer_id: {"USD": amount} for customer_id, amount in amounts.items()}
    assert services().revenue.unmapped() == []
    invoices = [item for item in scan_table(stack.table) if item["pk"].startswith("REVDOC#stripe:invoice:")]
    assert sorted(item["attributed_to"] for item in invoices) == sorted(amounts)
    month_items = [item for item in scan_table(stack.table) if item["pk"] == "REV#M#2026-11"]
    assert len(month_items) == 5  # one item per invoice and month, whatever the deliveries

    with stack.client() as reader:
        pnl = reader.get("/v1/pnl", params={"month": "2026-11"})
    assert pnl.status_code == 200, pnl.text
    rows = {row["customer_id"]: row for row in pnl.json()["customers"]}
    for customer_id, amount in amounts.items():
        assert Decimal(rows[customer_id]["revenue"]) == Decimal(amount) / 100  # each invoice, once


def test_the_same_event_delivered_ten_times_concurrently_counts_once(stack: RunningStack) -> None:
    event = sf.invoice_paid(customer="cus_conc", lines=[november_line(12_345)])
    body, headers = signed(event)
    start = threading.Barrier(10)

    def post(_: int) -> httpx.Response:
        with stripe_client(stack) as client:
            # Connect first (keep-alive), so the ten requests race in the handlers rather than in
            # the local server's small accept backlog.
            assert client.get("/openapi.json").status_code == 200
            start.wait()
            return client.post(WEBHOOK, content=body, headers=headers)

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(post, range(10)))
    bodies = [accepted(response) for response in responses]
    assert {b["event_id"] for b in bodies} == {event["id"]}
    assert any(not b["duplicate"] for b in bodies)  # at least one delivery did the work

    assert totals() == {"unmapped:cus_conc": {"USD": 12_345}}
    items = scan_table(stack.table)
    assert len([i for i in items if i["pk"].startswith("REVDOC#")]) == 1
    assert len([i for i in items if i["pk"] == f"STRIPEEVT#{event['id']}"]) == 1
    (listing,) = services().revenue.unmapped()
    assert listing["stripe_customer_id"] == "cus_conc" and listing["amount_minor"] == 12_345

    # A later redelivery of the same event is recognised as one and changes nothing.
    with stripe_client(stack) as client:
        again = accepted(deliver(client, event))
    assert again["duplicate"] is True
    assert totals() == {"unmapped:cus_conc": {"USD": 12_345}}


def test_refund_before_its_invoice_and_cumulative_partial_refunds(stack: RunningStack) -> None:
    invoice_id, charge_id, customer = sf.new_id("in"), sf.new_id("ch"), "cus_refunds"
    paid_at = sf.T0 + 3600
    # Refunds of a charge carry their invoice only before API 2025-03-31.basil (`invoice=`): with
    # it they follow the invoice's service period; `amount_refunded` is the cumulative total.
    first_refund = sf.charge_refunded(
        amount=10_000,
        amount_refunded=300,
        customer=customer,
        id=charge_id,
        invoice=invoice_id,
        event_created=paid_at + 600,
    )
    second_refund = sf.charge_refunded(
        amount=10_000,
        amount_refunded=500,
        customer=customer,
        id=charge_id,
        invoice=invoice_id,
        event_created=paid_at + 1200,
    )
    invoice = sf.invoice_paid(
        id=invoice_id, customer=customer, lines=[november_line(10_000)], created=sf.T0, paid_at=paid_at
    )
    with stripe_client(stack) as client:
        accepted(deliver(client, sf.customer_event(id=customer, metadata={"customer_id": "acct_refunds"})))
        assert accepted(deliver(client, first_refund))["documents"] == 1  # before its invoice
        accepted(deliver(client, invoice))
        assert totals() == {"acct_refunds": {"USD": 10_000 - 300}}
        accepted(deliver(client, second_refund))
        # The earlier state, redelivered (same event) or re-sent (a new event with the old state).
        assert accepted(deliver(client, first_refund))["duplicate"] is True
        late = sf.charge_refunded(
            amount=10_000,
            amount_refunded=300,
            customer=customer,
            id=charge_id,
            invoice=invoice_id,
            event_created=paid_at + 600,
        )
        assert accepted(deliver(client, late))["duplicate"] is False

    assert totals() == {"acct_refunds": {"USD": 10_000 - 500}}
    refund = services().revenue.document(f"stripe:refund:{charge_id}")
    assert refund is not None and [line["amount_minor"] for line in refund["lines"]] == [-500]
    assert not [item for item in scan_table(stack.table) if item["pk"].startswith("REVPENDING#")]


# --- acceptance: rejected deliveries write nothing -----------------------------------------------


def _tampered(event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body, headers = signed(event)
    return body.replace(b'"amount_paid": 5000', b'"amount_paid": 500000'), headers


def _wrong_secret(event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    return signed(event, secret="whsec_not_the_endpoint_secret")


def _missing_header(event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    return sf.body(event), dict(STRIPE_HEADERS)


def _six_minutes_old(event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    return signed(event, at=int(time.time()) - 360)


def _six_minutes_ahead(event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    return signed(event, at=int(time.time()) + 360)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_tampered, "no signature matches"),
        (_wrong_secret, "no signature matches"),
        (_missing_header, "missing Stripe-Signature"),
        (_six_minutes_old, "old"),
        (_six_minutes_ahead, "ahead"),
    ],
    ids=["tampered-body", "wrong-secret", "missing-header", "6-min-old", "6-min-ahead"],
)
def test_unauthentic_or_stale_deliveries_get_400_and_write_nothing(
    stack: RunningStack, make: Any, reason: str
) -> None:
    event = sf.invoice_paid(customer="cus_reject", lines=[november_line(5000)])
    body, headers = make(event)
    if make is _tampered:
        assert b'"amount_paid": 500000' in body  # the body really changed after signing
    before = scan_table(stack.table)
    with stripe_client(stack) as client:
        response = client.post(WEBHOOK, content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"].endswith("/invalid-signature") and problem["status"] == 400
    assert reason in problem["detail"]
    assert scan_table(stack.table) == before
    assert totals() == {}


def test_two_v1_signatures_of_which_one_is_valid_are_accepted(stack: RunningStack) -> None:
    event = sf.invoice_paid(customer="cus_two_sigs", lines=[november_line(4200)])
    body, headers = signed(event, secret=["whsec_not_the_endpoint_secret", sf.SECRET])
    assert headers["Stripe-Signature"].count("v1=") == 2
    with stripe_client(stack) as client:
        assert accepted(client.post(WEBHOOK, content=body, headers=headers))["documents"] == 1
    assert totals() == {"unmapped:cus_two_sigs": {"USD": 4200}}


def test_rolled_secrets_either_one_signs(stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", f"whsec_new_one, {sf.SECRET}")
    reset()
    with stripe_client(stack) as client:
        for n, secret in enumerate(("whsec_new_one", sf.SECRET)):
            event = sf.invoice_paid(customer=f"cus_roll_{n}", lines=[november_line(100)])
            assert accepted(deliver(client, event, secret=secret))["documents"] == 1
    assert set(totals()) == {"unmapped:cus_roll_0", "unmapped:cus_roll_1"}


def test_a_base64_encoded_body_is_verified_on_its_decoded_bytes(stack: RunningStack) -> None:
    # A binary content type makes API Gateway (and the local gateway) base64-encode the body.
    event = sf.invoice_paid(customer="cus_b64", lines=[november_line(777)])
    body, headers = signed(event)
    headers["Content-Type"] = "application/octet-stream"
    with stripe_client(stack) as client:
        assert accepted(client.post(WEBHOOK, content=body, headers=headers))["documents"] == 1
    assert totals() == {"unmapped:cus_b64": {"USD": 777}}


def test_no_signing_secret_configured_is_a_server_error_and_writes_nothing(
    stack: RunningStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET")
    reset()
    before = scan_table(stack.table)
    with stripe_client(stack) as client:
        response = deliver(client, sf.invoice_paid(customer="cus_x", lines=[november_line(1)]))
    # Not the sender's fault: a 5xx, which Stripe redelivers once an operator sets the secret.
    assert response.status_code == 500 and response.headers["content-type"] == PROBLEM
    assert response.json()["type"].endswith("/webhook-not-configured")
    assert scan_table(stack.table) == before


# --- event types ------------------------------------------------------------------------------------


def test_unknown_event_types_get_200_and_are_ignored(stack: RunningStack) -> None:
    before = scan_table(stack.table)
    unknown = sf.event("payment_intent.created", {"id": sf.new_id("pi"), "object": "payment_intent"})
    with stripe_client(stack) as client:
        body = accepted(deliver(client, unknown))
    assert body == {
        "received": True,
        "event_id": unknown["id"],
        "type": "payment_intent.created",
        "ignored": True,
        "duplicate": False,
        "documents": 0,
    }
    assert scan_table(stack.table) == before


def test_an_authentic_but_malformed_event_is_acknowledged_and_ignored(stack: RunningStack) -> None:
    # Redelivering would not make it readable, and Stripe retries every non-2xx for days.
    broken = sf.invoice_paid(customer="cus_broken", lines=[november_line(100)])
    del broken["data"]["object"]["currency"]
    before = scan_table(stack.table)
    with stripe_client(stack) as client:
        body = accepted(deliver(client, broken))
    assert body["ignored"] is True and body["type"] == "invoice.paid"
    assert scan_table(stack.table) == before


def test_unmapped_revenue_moves_to_the_customer_when_stripe_maps_it(stack: RunningStack) -> None:
    stripe_id = "cus_late_mapping"
    with stripe_client(stack) as client:
        accepted(deliver(client, sf.customer_event(id=stripe_id, metadata={})))  # no mapping yet
        accepted(deliver(client, sf.invoice_paid(customer=stripe_id, lines=[november_line(8800)])))
        (listing,) = services().revenue.unmapped()
        assert listing["stripe_customer_id"] == stripe_id and listing["amount_minor"] == 8800
        assert totals() == {f"unmapped:{stripe_id}": {"USD": 8800}}

        updated = sf.customer_event(
            "customer.updated",
            id=stripe_id,
            metadata={"customer_id": "acct_late"},
            previous_attributes={"metadata": {"customer_id": None}},
            event_created=sf.T0 + 60,
        )
        accepted(deliver(client, updated))

    assert services().revenue.unmapped() == []
    assert totals() == {"acct_late": {"USD": 8800}}
    mapping = services().customers.stripe_customer(stripe_id)
    assert mapping is not None and mapping.customer_id == "acct_late" and mapping.mapped_by == "metadata"


def test_the_customer_metadata_key_is_configurable(
    stack: RunningStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIPE_CUSTOMER_METADATA_KEY", "marginlens_id")
    reset()
    with stripe_client(stack) as client:
        accepted(
            deliver(
                client,
                sf.customer_event(
                    id="cus_keyed", metadata={"customer_id": "wrong", "marginlens_id": "acct_k"}
                ),
            )
        )
        accepted(deliver(client, sf.invoice_paid(customer="cus_keyed", lines=[november_line(300)])))
    assert totals() == {"acct_k": {"USD": 300}}


# --- where the signing secret comes from ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("whsec_a", ["whsec_a"]),
        (" whsec_new , whsec_old ", ["whsec_new", "whsec_old"]),
        ('{"secrets": ["whsec_new", "whsec_old"]}', ["whsec_new", "whsec_old"]),
        ('{"secrets": [], "placeholder": "Xy12"}', []),  # what the stack creates: not configured
        ("", []),
    ],
)
def test_secret_values(value: str, expected: list[str]) -> None:
    assert parse_secret_value(value) == expected


@pytest.mark.parametrize("value", ['{"secrets": "', '{"secrets": [1]}', '{"secrets": {"a": 1}}'])
def test_malformed_secret_values_are_refused(value: str) -> None:
    with pytest.raises(WebhookNotConfigured):
        parse_secret_value(value)


def test_on_aws_the_secret_is_read_from_secrets_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
    from moto import mock_aws

    for name in ("STRIPE_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET_NAME"):
        monkeypatch.delenv(name, raising=False)
    DEFAULT_PROVIDERS.pop("secrets", None)
    try:
        with mock_aws():
            import boto3

            client = boto3.client("secretsmanager", region_name="us-east-1")
            arn = client.create_secret(
                Name="marginlens/stripe", SecretString=json.dumps({"secrets": [], "placeholder": "x"})
            )["ARN"]
            settings = Settings(STRIPE_WEBHOOK_SECRET_NAME=arn)  # type: ignore[call-arg]
            assert webhook_secrets(settings) == []  # the placeholder: not configured yet

            client.put_secret_value(SecretId=arn, SecretString="whsec_live_1,whsec_live_0")
            assert webhook_secrets(settings) == []  # cached for SECRET_MAX_AGE_S in a warm function
            parameters.clear_caches()
            assert webhook_secrets(settings) == ["whsec_live_1", "whsec_live_0"]

            # The local value wins when both are set (make run never reaches AWS).
            local = Settings(STRIPE_WEBHOOK_SECRET="whsec_local", STRIPE_WEBHOOK_SECRET_NAME=arn)  # type: ignore[call-arg]
            assert webhook_secrets(local) == ["whsec_local"]
    finally:
        parameters.clear_caches()
        DEFAULT_PROVIDERS.pop("secrets", None)
