"""Reconciliation against the providers' bills: the daily EventBridge schedule and
POST /v1/reconciliation/run and /import."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from marginlens.api.app import create_app, is_scheduled
from marginlens.api.routers import reconciliation
from marginlens.core.observability import logger
from marginlens.usecases import reconciliation as runs

app = create_app([reconciliation.runs], docs=False)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_scheduled(event):
        logger.set_correlation_id(event.get("id"))
        # A provider's API error is stored and logged, never raised: a retry would change nothing.
        result = runs.run_daily()
        logger.info("scheduled reconciliation", **result)
        return result
    return app.resolve(event, context)
