"""POST /v1/stripe/backfill (scope admin): Stripe objects fetched from the API, applied as webhooks are.

`marginlens stripe backfill` reads invoices, refunded charges and credit notes from Stripe and sends
them here in batches; each becomes the event a webhook would have carried and goes through the same
translation and idempotent upsert, so a backfill and the webhooks can overlap in any order.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from marginlens.core.observability import logger
from marginlens.revenue.backfill import as_event
from marginlens.revenue.ledger import DocumentTooLarge
from marginlens.revenue.stripe_events import MalformedStripeEvent
from marginlens.usecases.stripe import apply_stripe_event

router = Router()
MAX_CLOCK_SKEW = timedelta(minutes=5)  # as for usage timestamps and webhook signatures


class StripeObjectIn(BaseModel):
    kind: Literal["invoice", "charge", "refund", "credit_note"]
    object: dict[str, Any] = Field(description="The object as the Stripe API returned it")
    fetched_at: AwareDatetime | None = Field(
        None,
        description=(
            "When the object was read from Stripe (just before the request of its page): a webhook "
            "about a later change then wins over this snapshot. Default: when this request arrives"
        ),
    )

    @field_validator("fetched_at")
    @classmethod
    def _not_ahead(cls, value: datetime | None) -> datetime | None:
        if value is not None and value > datetime.now(UTC) + MAX_CLOCK_SKEW:
            raise ValueError("fetched_at is in the future: a snapshot cannot be newer than now")
        return value


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
    received_at = datetime.now(UTC)
    applied = skipped = 0
    statuses: Counter[str] = Counter()
    for item in request.objects:
        event = as_event(item.kind, item.object, item.fetched_at or received_at)
        if event is None:
            skipped += 1
            continue
        try:
            outcome = apply_stripe_event(event)
        except (MalformedStripeEvent, DocumentTooLarge) as error:
            logger.warning("backfilled object skipped", kind=item.kind, error=str(error))
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
