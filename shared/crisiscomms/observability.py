"""The one place that creates the logger, tracer and metrics singletons.

Service name, log level, namespace and tracing switches come from the standard
POWERTOOLS_* environment variables set in template.yaml, so code never repeats them.
"""
from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()

__all__ = ["logger", "tracer", "metrics"]
