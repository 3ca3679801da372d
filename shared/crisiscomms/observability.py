"""The one place that creates the logger, tracer and metrics singletons.

Service name, log level, namespace and tracing switches come from the standard
POWERTOOLS_* environment variables set in template.yaml, so code never repeats them. The
tracer is `crisiscomms.tracing.Tracer` (X-Ray subsegments without the X-Ray SDK's cold start).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics

from crisiscomms.tracing import Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def log_metrics(handler: Callable[..., Any]) -> Callable[..., Any]:
    """powertools' log_metrics, plus a clean slate after every invocation.

    With metrics disabled (tests, drills) powertools keeps what was recorded; a warm process
    would carry one invocation's figures into the next until its 100-metric limit tripped.
    """
    wrapped = metrics.log_metrics(handler)

    @functools.wraps(handler)
    def run(event: Any, context: Any) -> Any:
        try:
            return wrapped(event, context)
        finally:
            metrics.clear_metrics()

    return run


def count(name: str, value: int = 1) -> None:
    """Add to a count metric of this invocation."""
    from aws_lambda_powertools.metrics import MetricUnit

    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


__all__ = ["logger", "tracer", "metrics", "log_metrics", "count"]
