"""The one place that creates Powertools' logger, tracer and metrics."""

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "marginlens"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="MarginLens", service=SERVICE)

# A request that records no metric (a rejected body, a read) is normal here, not worth a warning.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
