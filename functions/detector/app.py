"""Detector: every minute, decide each topic's crisis level and alert on-call staff on a rise."""
from crisiscomms.coldstart import after_first_invocation  # first: the collector pauses while loading
from aws_lambda_powertools.utilities.typing import LambdaContext

from crisiscomms.observability import log_metrics, logger, tracer
from crisiscomms.wiring import container


@after_first_invocation
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return {"topics": container().run_detector()}
