"""A queue drained into a function on local AWS the way Lambda's SQS integration does it.

    drain(stack, "ExportQueue", "exporter", timeout_seconds=900)

Batches of one (as the template's event sources for the Exporter and the Reporter), each message
deleted once handled and made visible again at once when it failed, standing in for its visibility
timeout. Returns each batch's answer.
"""
from __future__ import annotations

import hashlib
from typing import Any

from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from crisiscomms_local.aws import Stack, client
from crisiscomms_local.lambda_runtime import invoke


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One received message as Lambda hands it to a function in an SQS event."""
    attributes = message.get("Attributes", {})
    return {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
            "attributes": {"ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                           "SentTimestamp": attributes.get("SentTimestamp", "0"), "SenderId": "local",
                           "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", "0")},
            "messageAttributes": {}, "md5OfBody": hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
            "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": "eu-west-1"}


def drain(stack: Stack, queue: str, function_dir: str, *, timeout_seconds: float, rounds: int = 10,
          first_twice: bool = False) -> list[dict[str, Any]]:
    """`first_twice`: the first message is handed over twice (SQS delivers at least once), as one drill fault."""
    url, arn = stack.refs[queue], stack.arns[queue]
    answers = []
    for _ in range(rounds):
        messages = client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=0,
                                                 AttributeNames=["All"]).get("Messages", [])
        if not messages:
            break
        [message] = messages
        try:
            if first_twice:
                first_twice = False
                answers.append(invoke(function_dir, {"Records": [sqs_record(message, arn)]}, timeout_seconds=timeout_seconds))
            answer = invoke(function_dir, {"Records": [sqs_record(message, arn)]}, timeout_seconds=timeout_seconds)
        except BatchProcessingError:  # every record of the batch failed: Lambda hands the batch back
            answer = {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
        answers.append(answer)
        if answer.get("batchItemFailures"):
            client("sqs").change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
        else:
            client("sqs").delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return answers


__all__ = ["drain", "sqs_record"]
