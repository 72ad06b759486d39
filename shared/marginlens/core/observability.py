"""The one place that creates Powertools' logger and metrics.

No X-Ray SDK tracer: the functions run with Lambda's active tracing, which records each
invocation (init, invoke, overhead) without code in the function; the SDK alone would add about
100 ms to every cold start (docs/DECISIONS.md, "Cold starts").
"""

import warnings

from aws_lambda_powertools import Logger, Metrics

SERVICE = "marginlens"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="MarginLens", service=SERVICE)

# A request that records no metric (a rejected body, a read) is normal here, not worth a warning.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
