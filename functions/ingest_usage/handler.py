"""POST /v1/usage and POST /v1/otlp/v1/traces: validate, price and record usage events (the second
from OpenTelemetry GenAI spans; protobuf and opentelemetry-proto load with its first request)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from marginlens.api.app import create_app
from marginlens.api.routers import otlp, usage
from marginlens.core.observability import logger, metrics

app = create_app([usage.router, otlp.router], docs=False)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
