"""Auditors' exports on local AWS: the export queue drained through the real Exporter handler.

    run_queue(stack)      each message handed to the Exporter (batches of one, as the template's event
                          source), deleted once handled, made visible again at once when it failed
"""
from __future__ import annotations

import hashlib
from typing import Any

from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from crisiscomms_local.aws import Stack, client
from crisiscomms_local.lambda_runtime import invoke

EXPORTER_TIMEOUT_SECONDS = 900  # template.yaml's ExporterFunction Timeout


def _record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    attributes = message.get("Attributes", {})
    return {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
            "attributes": {"ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                           "SentTimestamp": attributes.get("SentTimestamp", "0"), "SenderId": "local",
                           "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", "0")},
            "messageAttributes": {}, "md5OfBody": hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
            "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": "eu-west-1"}


def run_queue(stack: Stack, *, rounds: int = 10) -> list[dict[str, Any]]:
    """Hand each message of the export queue to the Exporter and delete those it handled, as the Lambda
    SQS integration does; returns each batch's answer. A failed message is made visible again at once,
    standing in for its visibility timeout."""
    url, arn = stack.refs["ExportQueue"], stack.arns["ExportQueue"]
    answers = []
    for _ in range(rounds):
        messages = client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=0,
                                                 AttributeNames=["All"]).get("Messages", [])
        if not messages:
            break
        [message] = messages
        try:
            answer = invoke("exporter", {"Records": [_record(message, arn)]}, timeout_seconds=EXPORTER_TIMEOUT_SECONDS)
        except BatchProcessingError:  # every record of the batch failed: Lambda hands the batch back
            answer = {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
        answers.append(answer)
        if answer.get("batchItemFailures"):
            client("sqs").change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
        else:
            client("sqs").delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return answers


__all__ = ["run_queue"]
