"""A Stripe event applied to the revenue ledger: the webhook's verified deliveries and the backfill."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from marginlens.revenue.webhook import WebhookOutcome, handle_stripe_event
from marginlens.usecases.services import services

if TYPE_CHECKING:
    import stripe


def apply_stripe_event(event: stripe.Event | Mapping[str, Any]) -> WebhookOutcome:
    """A verified (or fetched) Stripe event applied with this process's ledger and settings."""
    state = services()
    return handle_stripe_event(
        event,
        ledger=state.revenue,
        customers=state.customers,
        metadata_key=state.settings.stripe_customer_metadata_key,
        refund_source=state.settings.stripe_refund_source,
        livemode=state.settings.stripe_livemode,
    )
