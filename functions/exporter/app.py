"""Exporter: one export-queue message per auditor's export; writes its files and manifest to the export bucket."""
from crisiscomms.coldstart import after_first_invocation  # first: the collector pauses while loading
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from crisiscomms.observability import log_metrics, logger, tracer
from crisiscomms.wiring import container

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> dict:
    return container().run_export(record.body)


@after_first_invocation
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
