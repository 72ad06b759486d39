"""Budget alerts (the EventBridge schedule and POST /v1/budgets/evaluate) and, on the schedule, the
operational alerts."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from marginlens.api.app import create_app, is_scheduled
from marginlens.api.routers import budget_evaluation
from marginlens.core.observability import logger
from marginlens.usecases import budgets

app = create_app([budget_evaluation.router], docs=False)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_scheduled(event):
        logger.set_correlation_id(event.get("id"))
        report = budgets.report_dict(budgets.run_evaluation())
        report["operations"] = budgets.run_operations()
        # Failed publications released their claims: the next run retries them. Never raise here:
        # EventBridge's retries would only repeat what the next scheduled run does anyway.
        if report["failures"] or report["operations"]["failures"]:
            logger.warning("scheduled budget check: some alerts failed to publish", **report)
        else:
            logger.info("scheduled budget check", **report)
        return report
    return app.resolve(event, context)
