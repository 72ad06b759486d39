"""POST /v1/stripe/backfill (scope admin): Stripe objects fetched from the API, applied as webhooks are.

`marginlens stripe backfill` reads invoices, refunded charges and credit notes from Stripe and sends
them here in batches; each becomes the event a webhook would have carried and goes through the same
translation and idempotent upsert, so a backfill and the webhooks can overlap in any order.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel, ConfigDict, Field

from marginlens.api.stripe_routes import apply_stripe_event
from marginlens.revenue.backfill import as_event
from marginlens.revenue.stripe_events import MalformedStripeEvent

router = Router()


class StripeObjectIn(BaseModel):
    kind: Literal["invoice", "charge", "refund", "credit_note"]
    object: dict[str, Any] = Field(description="The object as the Stripe API returned it")


class BackfillIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    objects: list[StripeObjectIn] = Field(min_length=1, max_length=100)


class BackfillOut(BaseModel):
    received: int
    applied: int = Field(description="Objects whose event was applied (documents upserted)")
    skipped: int = Field(description="Drafts, unchanged objects already applied, and malformed ones")
    statuses: dict[str, int] = Field(description="Document upserts by status: created, updated, ...")


@router.post("/v1/stripe/backfill", summary="Apply Stripe objects fetched from the API", tags=["revenue"])
def post_backfill(request: Annotated[BackfillIn, Body()]) -> BackfillOut:
    fetched_at = datetime.now(UTC)
    applied = skipped = 0
    statuses: Counter[str] = Counter()
    for item in request.objects:
        event = as_event(item.kind, item.object, fetched_at)
        if event is None:
            skipped += 1
            continue
        try:
            outcome = apply_stripe_event(event)
        except MalformedStripeEvent:
            skipped += 1
            continue
        if outcome.ignored or outcome.duplicate:
            skipped += 1
        else:
            applied += 1
        statuses.update(outcome.statuses)
    return BackfillOut(
        received=len(request.objects), applied=applied, skipped=skipped, statuses=dict(statuses)
    )
