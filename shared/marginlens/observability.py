"""The one place that creates Powertools' logger, tracer and metrics."""

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "marginlens"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="MarginLens", service=SERVICE)
