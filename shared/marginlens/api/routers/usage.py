"""POST /v1/usage: served by the ingest_usage function."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from marginlens.api.app import current_principal, gated_body, json_response
from marginlens.api.problems import Problem, validation_problem
from marginlens.api.request_gate import NO_BODY
from marginlens.api.schemas.usage import USAGE_REQUEST_SCHEMA, UsageResponse
from marginlens.usage.ingest import BatchTooLarge, NotAnEventPayload, ingest
from marginlens.usecases.services import services

router = Router()

UsageBody = Annotated[
    Any,
    Body(description='One usage event, or {"events": [...]} with at most 100 events.'),
    USAGE_REQUEST_SCHEMA,
]


@router.post(
    "/v1/usage",
    summary="Record usage events (one per model call)",
    tags=["usage"],
    responses={
        200: {"description": "Per-event results", "content": {"application/json": {"model": UsageResponse}}},
        409: {"description": "Single event: same request_id, different content"},
        413: {"description": "More than 100 events; nothing written"},
        422: {"description": "Rejected; problem+json with JSON pointers"},
    },
)
def post_usage(payload: UsageBody):
    # The body as the gate read it (floats as Decimal, never binary floating point), not Powertools'.
    parsed = gated_body(router)
    if parsed is NO_BODY:
        errors = [{"pointer": "", "detail": "the body is empty"}]
        raise Problem(400, "The body is not valid JSON.", slug="malformed-json", errors=errors)
    state = services()
    principal = current_principal(router)
    try:
        result = ingest(
            parsed,
            settings=state.settings,
            ledger=state.ledger,
            prices=state.prices.book(),
            now=datetime.now(UTC),
            key_id=principal.key_id if principal else None,
            arrived_at=_arrived_at(),
        )
    except BatchTooLarge as error:
        raise Problem(413, f"{error}; nothing was written.", slug="batch-too-large") from error
    except NotAnEventPayload as error:
        raise validation_problem([error.error.as_dict()]) from error

    body = result.body()
    if result.status_code == 409:
        raise Problem(
            409,
            "This request_id was already recorded with different content; nothing changed.",
            slug="conflict",
            extra=body,
        )
    if result.status_code == 422:
        raise Problem(
            422, "No event was accepted.", slug="validation-error", errors=result.errors(), extra=body
        )
    return json_response(200, body)


def _arrived_at() -> datetime | None:
    """When API Gateway received the request (`requestContext.timeEpoch`, ms), if it says."""
    epoch_ms = router.current_event.raw_event.get("requestContext", {}).get("timeEpoch")
    if not isinstance(epoch_ms, int) or epoch_ms <= 0:
        return None
    return datetime.fromtimestamp(epoch_ms / 1000, UTC)
