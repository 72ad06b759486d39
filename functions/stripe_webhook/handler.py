"""Stripe webhooks (POST /v1/stripe/webhook): no API key, the Stripe-Signature header instead."""

from typing import Any

import stripe  # noqa: F401 - every delivery is verified with it: loaded during init, not on the first one
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from marginlens.api.app import create_app
from marginlens.api.routers import stripe_webhook
from marginlens.core.observability import logger

app = create_app([stripe_webhook.router], docs=False)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
