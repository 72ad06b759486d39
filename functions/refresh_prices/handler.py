"""The upstream price refresh: the daily EventBridge schedule and POST /v1/prices/refresh."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from marginlens.api.app import create_app, is_scheduled
from marginlens.api.routers import price_refresh
from marginlens.core.observability import logger
from marginlens.usecases import prices

app = create_app([price_refresh.router], docs=False)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_scheduled(event):
        logger.set_correlation_id(event.get("id"))
        result = prices.run_refresh()
        # A refusal has already alerted and must not raise: EventBridge's retries would alert again.
        logger.info("scheduled price refresh", **result.as_dict())
        return result.as_dict()
    return app.resolve(event, context)
