"""The table's stream (usage events only): the aggregates, exactly once, and the budgets they cross."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from marginlens.core.observability import logger
from marginlens.usecases.aggregation import aggregate_stream_batch


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # A failure raises: Lambda retries the batch (bisecting it), and the checkpoint skips what was applied.
    return aggregate_stream_batch(event)
