"""Desk API: API Gateway REST proxy events, routed by the powertools resolver in crisiscomms.api."""
from crisiscomms.coldstart import after_first_invocation  # first: the collector pauses while loading
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from crisiscomms.api import handle
from crisiscomms.observability import log_metrics, logger, tracer
from crisiscomms.wiring import container


@after_first_invocation
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle(event, context, container().api_services())
