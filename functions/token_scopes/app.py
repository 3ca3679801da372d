"""Cognito pre-token-generation trigger (V2): desk groups become access-token scopes."""
from crisiscomms.coldstart import after_first_invocation  # first: the collector pauses while loading
from aws_lambda_powertools.utilities.typing import LambdaContext

from crisiscomms.identity import add_group_scopes
from crisiscomms.observability import logger


@after_first_invocation
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return add_group_scopes(event)
