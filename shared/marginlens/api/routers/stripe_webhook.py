"""POST /v1/stripe/webhook: served by the stripe_webhook function (no API key: Stripe signs it).

The signature covers the raw bytes, so the body is read from the API Gateway event as received
(base64-decoded when API Gateway encoded it), never parsed or re-serialised before `verify`; the
route declares no body parameter, so Powertools' validation does not touch it either.

Answers, as Stripe reads them (any non-2xx is redelivered for up to three days):
* 400 problem+json `invalid-signature`: missing or malformed header, no matching signature,
  timestamp over 5 minutes old or ahead, body not a Stripe event. Nothing is written.
* 200 `{"received": true, ...}`: applied, a redelivery (`duplicate`), or `ignored` (a type this
  service does not handle, or an authentic event whose object cannot be read: redelivering it
  would not help, so it is logged as a warning instead).
* 500: no signing secret configured (an operator's job), or storage failed: Stripe retries.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from marginlens.api.app import json_response
from marginlens.api.problems import PROBLEM_CONTENT_TYPE, PROBLEM_SCHEMA, Problem
from marginlens.core.observability import logger
from marginlens.revenue.ledger import DocumentTooLarge
from marginlens.revenue.stripe_events import (
    SIGNATURE_HEADER,
    MalformedStripeEvent,
    WebhookRejected,
    raw_body_of,
    signature_header_of,
    verify,
)
from marginlens.revenue.webhook import (
    WebhookNotConfigured,
    WebhookOutcome,
    webhook_secrets,
)
from marginlens.usecases.services import services
from marginlens.usecases.stripe import apply_stripe_event

router = Router()

WEBHOOK_PATH = "/v1/stripe/webhook"

_OUTCOME_SCHEMA = {
    "type": "object",
    "properties": {
        "received": {"type": "boolean", "const": True},
        "event_id": {"type": "string"},
        "type": {"type": "string"},
        "ignored": {"type": "boolean", "description": "Not a type this service handles; nothing stored"},
        "duplicate": {"type": "boolean", "description": "This event id was already handled"},
        "documents": {"type": "integer", "description": "Invoices, refunds and credit notes it carries"},
    },
    "required": ["received", "event_id", "type", "ignored", "duplicate", "documents"],
}

# The body is documented here rather than declared as a parameter: a declared body would be parsed
# (and validated) before the signature over its raw bytes is checked.
_OPENAPI = {
    "security": [],  # no API key: the Stripe-Signature header authenticates the request
    "parameters": [
        {
            "name": SIGNATURE_HEADER,
            "in": "header",
            "required": True,
            "description": "`t=<unix time>,v1=<HMAC-SHA256 hex>[,v1=...]`, as Stripe sends it",
            "schema": {"type": "string"},
        }
    ],
    "requestBody": {
        "required": True,
        "description": "A Stripe event (API v1 snapshot event), exactly as Stripe sends it",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "object": {"type": "string", "const": "event"},
                        "type": {"type": "string"},
                        "created": {"type": "integer"},
                        "livemode": {"type": "boolean"},
                        "data": {"type": "object", "properties": {"object": {"type": "object"}}},
                    },
                    "required": ["id", "object", "type", "created", "data"],
                }
            }
        },
    },
}


@router.post(
    WEBHOOK_PATH,
    summary="Receive a Stripe webhook event (invoices, refunds, credit notes, customers)",
    description=(
        "Point a Stripe webhook endpoint here. The `Stripe-Signature` header is verified against the "
        "raw body with the endpoint's signing secret; a request that is unsigned, tampered with, or "
        "signed more than 5 minutes in the past or future gets 400 and writes nothing. Handled "
        "types: `invoice.paid`, `invoice.voided`, `charge.refunded`, `refund.created`, "
        "`refund.updated`, `refund.failed`, `charge.refund.updated`, `credit_note.created`, "
        "`credit_note.voided`, `customer.created`, `customer.updated`; any other type gets 200 and "
        "is ignored. Each event id counts once; documents are stored by their own id, so "
        "redeliveries and any arrival order give the same revenue."
    ),
    tags=["revenue"],
    openapi_extensions=_OPENAPI,
    responses={
        200: {
            "description": "Received: applied, a redelivery, or ignored",
            "content": {"application/json": {"schema": _OUTCOME_SCHEMA}},
        },
        400: {
            "description": "Signature missing, invalid or outside the 5-minute window; nothing written",
            "content": {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_SCHEMA}},
        },
        500: {
            "description": "No signing secret configured, or storage failed; Stripe redelivers",
            "content": {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_SCHEMA}},
        },
    },
)
def post_stripe_webhook():  # a bare `-> Response` annotation breaks Powertools' validation
    raw_event = router.current_event.raw_event  # body and header from the same request, as received
    settings = services().settings
    try:
        secrets = webhook_secrets(settings)
    except WebhookNotConfigured as error:
        secrets, problem = [], str(error)
    else:
        problem = "no signing secret is set"
    if not secrets:
        logger.error(
            "stripe webhook secret not configured",
            detail=problem,
            secret_name=settings.stripe_webhook_secret_name,
        )
        raise Problem(
            500,
            "The Stripe webhook signing secret is not configured; the event was not processed.",
            slug="webhook-not-configured",
        )

    try:
        event = verify(raw_body_of(raw_event), signature_header_of(raw_event), secrets)
    except WebhookRejected as error:
        logger.warning("stripe webhook rejected", reason=error.reason)
        raise Problem(400, error.reason, slug="invalid-signature") from None

    try:
        outcome = apply_stripe_event(event)
    except MalformedStripeEvent as error:
        # Authentic but unreadable: a 5xx would be redelivered for days with the same result.
        logger.warning(
            "stripe event ignored: malformed", event_id=event.id, event_type=event.type, error=str(error)
        )
        outcome = WebhookOutcome(event.id, event.type, ignored=True, note=str(error))
    except DocumentTooLarge as error:
        # Authentic but beyond what a document may hold: refused on purpose, every delivery alike.
        logger.error("stripe event refused: too large to store", event_id=event.id, error=str(error))
        outcome = WebhookOutcome(event.id, event.type, ignored=True, note=str(error))
    livemode = event.to_dict(recursive=False).get("livemode")  # absent in a hand-made event
    logger.info("stripe webhook", livemode=livemode, **outcome.log_fields())
    return json_response(200, outcome.body())
