"""Reports, models, keys, and the OpenAPI document (which also describes POST /v1/usage)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from marginlens.api import (
    budget_evaluate_routes,
    budget_routes,
    key_routes,
    model_routes,
    price_refresh_routes,
    report_routes,
    reprice_routes,
    revenue_routes,
    simulator_routes,
    stripe_backfill_routes,
    stripe_routes,
    usage_routes,
)
from marginlens.api.app import create_app
from marginlens.core.observability import logger, tracer

# usage_routes, price_refresh_routes, stripe_routes and budget_evaluate_routes are included so the
# one spec documents the whole API; API Gateway sends their routes to their own functions (see
# marginlens.api.routes).
app = create_app(
    [
        usage_routes.router,
        report_routes.router,
        model_routes.router,
        price_refresh_routes.router,
        reprice_routes.router,
        key_routes.router,
        revenue_routes.router,
        stripe_backfill_routes.router,
        stripe_routes.router,
        budget_routes.router,
        budget_evaluate_routes.router,
        simulator_routes.router,
    ],
    docs=True,
)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
