"""Reviewer: every minute, schedule what was published and measure the effect of what is due."""
from crisiscomms.coldstart import after_first_invocation  # first: the collector pauses while loading
from aws_lambda_powertools.utilities.typing import LambdaContext

from crisiscomms.observability import log_metrics, logger, tracer
from crisiscomms.wiring import container


@after_first_invocation
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return container().run_reviewer(remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000)
