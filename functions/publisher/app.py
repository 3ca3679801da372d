"""Publisher: SQS batches of deliveries and replies, handled concurrently, failures reported per message.

powertools' batch utility is imported before anything imports pydantic: with pydantic already
loaded it builds every event parser model, for type hints only (tests/unit/test_cold_start.py).
"""
from crisiscomms.coldstart import after_first_invocation  # first: the collector pauses while loading
from aws_lambda_powertools.utilities.batch import EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from crisiscomms.batch import ConcurrentBatchProcessor
from crisiscomms.observability import log_metrics, logger, tracer
from crisiscomms.wiring import container

processor = ConcurrentBatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> dict:
    return container().deliver_record(record.body)


@after_first_invocation
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    container().idempotency_config().register_lambda_context(context)
    container().reply_idempotency_config().register_lambda_context(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
