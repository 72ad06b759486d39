"""One verified Stripe event applied to the revenue ledger, and where the signing secrets come from.

`handle_stripe_event` is plain domain code (no HTTP): the webhook route verifies the delivery
(`stripe_events.verify`) and hands the event here.

Order of work, chosen so that a crash anywhere is repaired by Stripe's redelivery:

1. `to_documents` translates the event (pure). Types it does not handle: ignored, nothing written.
2. An event id already recorded as handled is a redelivery: nothing is done again.
3. Customer mappings first (`CustomerStore.record_from_stripe`, the newest webhook deciding); the
   Stripe customer's revenue follows its current mapping (`RevenueLedger.remap`, a no-op when
   every document is already attributed to it).
4. Each invoice, refund and credit note is upserted by its own id, as *state*: a duplicate or any
   arrival order ends in the same place.
5. Only then is the event id recorded (`RevenueLedger.first_sighting`). A delivery that fails
   before this point is answered 5xx and redelivered by Stripe, and redoing steps 3-4 is safe.
   Two concurrent deliveries of the same event may both do the work: the upserts make that
   harmless, and the id skip is an optimisation (and protection for customer records, which keep
   no version), not what makes counting exact.

Signing secrets (`webhook_secrets`):

* `STRIPE_WEBHOOK_SECRET` (local and tests): the `whsec_...` value, or several comma-separated while
  a secret is rolled in Stripe's dashboard (any of them may sign).
* `STRIPE_WEBHOOK_SECRET_NAME` (AWS): the id or ARN of a Secrets Manager secret, read through
  Powertools Parameters and cached for `SECRET_MAX_AGE_S` in the warm function. Its value is
  either the plain string `whsec_...` (or `whsec_new,whsec_old`), or JSON
  `{"secrets": ["whsec_new", "whsec_old"]}`. A JSON value with no secrets (the placeholder the
  stack creates) means "not configured yet".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from marginlens.core.settings import Settings
from marginlens.revenue.customers import CustomerStore
from marginlens.revenue.ledger import RevenueLedger, UpsertStatus
from marginlens.revenue.stripe_events import DEFAULT_CUSTOMER_METADATA_KEY, RefundSource, to_documents

if TYPE_CHECKING:
    import stripe

__all__ = [
    "SECRET_MAX_AGE_S",
    "WebhookNotConfigured",
    "WebhookOutcome",
    "handle_stripe_event",
    "parse_secret_value",
    "webhook_secrets",
]

# How long a warm function keeps the secret before reading Secrets Manager again. Stripe signs
# with both the old and the new secret while one is rolled, so a few minutes' delay is harmless.
SECRET_MAX_AGE_S = 300


@dataclass(frozen=True)
class WebhookOutcome:
    event_id: str
    event_type: str
    ignored: bool = False  # a type this service does not handle (or a malformed object): nothing stored
    duplicate: bool = False  # this event id was already handled: nothing done again
    documents: int = 0  # revenue documents the event carries
    customers: int = 0  # Stripe customer records it carries
    statuses: tuple[UpsertStatus, ...] = ()  # per document, when upserted
    remapped: int = 0  # documents moved from unmapped to their customer
    note: str | None = None

    def body(self) -> dict[str, Any]:
        """The 200 answer Stripe gets (and shows in its dashboard's delivery log)."""
        return {
            "received": True,
            "event_id": self.event_id,
            "type": self.event_type,
            "ignored": self.ignored,
            "duplicate": self.duplicate,
            "documents": self.documents,
        }

    def log_fields(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "ignored": self.ignored,
            "duplicate": self.duplicate,
            "documents": self.documents,
            "customers": self.customers,
            "statuses": list(self.statuses),
            "remapped": self.remapped,
            "note": self.note,
        }


def handle_stripe_event(
    event: stripe.Event | Mapping[str, Any],
    *,
    ledger: RevenueLedger,
    customers: CustomerStore,
    metadata_key: str = DEFAULT_CUSTOMER_METADATA_KEY,
    refund_source: RefundSource = "charge",
    livemode: bool = True,
) -> WebhookOutcome:
    """Apply one verified event. Raises `MalformedStripeEvent` (before writing anything) when its
    object lacks what the translation needs; storage errors propagate (answer 5xx: Stripe retries).
    An event of the other Stripe mode than `livemode` is ignored: test money is never revenue."""
    parsed = to_documents(event, customer_metadata_key=metadata_key, refund_source=refund_source)
    if not parsed.ignored and parsed.livemode != livemode:
        mode, counted = ("live", "test") if parsed.livemode else ("test", "live")
        return WebhookOutcome(
            parsed.event_id,
            parsed.event_type,
            ignored=True,
            note=f"a {mode}-mode event; this deployment counts {counted}-mode events (STRIPE_LIVEMODE)",
        )
    outcome = WebhookOutcome(
        parsed.event_id,
        parsed.event_type,
        ignored=parsed.ignored,
        documents=len(parsed.documents),
        customers=len(parsed.customers),
        note=parsed.note,
    )
    if parsed.ignored or not (parsed.documents or parsed.customers):
        return outcome  # nothing to store, so nothing to remember either
    if ledger.handled_before(parsed.event_id):
        return _replace(outcome, duplicate=True)

    remapped = 0
    for mapping in parsed.customers:
        customers.record_from_stripe(
            mapping.stripe_customer_id, mapping.customer_id, mapping.name, mapping.email, parsed.created
        )
        # Every time, not only when the mapping changed: a delivery that crashed between recording
        # the mapping and moving the revenue is repaired by its redelivery. Only documents
        # attributed elsewhere than the current mapping are rewritten.
        remapped += ledger.remap(mapping.stripe_customer_id)

    statuses: list[UpsertStatus] = []
    for doc in parsed.documents:
        result = ledger.upsert(doc)
        statuses.append(result.status)
        if result.customer_id is None and doc.customer_ref:
            # Written as unmapped: if a customer.* event mapped this Stripe customer meanwhile, its
            # remap may have listed the unmapped documents before this one was there. Look again.
            known = customers.stripe_customer(doc.customer_ref)
            if known is not None and known.customer_id:
                remapped += ledger.remap(doc.customer_ref)

    ledger.first_sighting(parsed.event_id)  # last: only a fully applied event is skipped next time
    return _replace(outcome, statuses=tuple(statuses), remapped=remapped)


def _replace(outcome: WebhookOutcome, **changes: Any) -> WebhookOutcome:
    return WebhookOutcome(**{**outcome.__dict__, **changes})


# --------------------------------------------------------------------------------------------
# Signing secrets
# --------------------------------------------------------------------------------------------


class WebhookNotConfigured(Exception):
    """No usable signing secret: an operator has to set one (answer 5xx, never 2xx)."""


def webhook_secrets(settings: Settings) -> list[str]:
    """The endpoint's signing secrets, newest first as configured; empty when none is set."""
    if settings.stripe_webhook_secret is not None:
        return parse_secret_value(settings.stripe_webhook_secret.get_secret_value())
    if settings.stripe_webhook_secret_name:
        from aws_lambda_powertools.utilities import parameters  # AWS only: keeps local imports lean

        value = parameters.get_secret(settings.stripe_webhook_secret_name, max_age=SECRET_MAX_AGE_S)
        return parse_secret_value(value)
    return []


def parse_secret_value(value: str | bytes | Mapping[str, Any] | None) -> list[str]:
    """`whsec_a`, `whsec_a,whsec_b`, or `{"secrets": ["whsec_a", "whsec_b"]}` -> the secrets."""
    if value is None:
        return []
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("{"):
            return [part.strip() for part in text.split(",") if part.strip()]
        try:
            value = json.loads(text)
        except ValueError:
            raise WebhookNotConfigured("the webhook secret looks like JSON but is not valid JSON") from None
    if not isinstance(value, Mapping):
        raise WebhookNotConfigured('the webhook secret must be "whsec_..." or {"secrets": [...]}')
    listed = value.get("secrets", [])
    if isinstance(listed, str):
        listed = [listed]
    if not isinstance(listed, list) or not all(isinstance(item, str) for item in listed):
        raise WebhookNotConfigured('"secrets" in the webhook secret must be a list of strings')
    return [item.strip() for item in listed if item.strip()]
