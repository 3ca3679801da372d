"""Enqueuing deliveries for the Publisher (SQS)."""
from __future__ import annotations

import json
from typing import Any


BATCH = 10  # SendMessageBatch's maximum


def enqueue(sqs: Any, queue_url: str, messages: list[dict[str, Any]]) -> list[str]:
    """Send each message once; returns the ids of messages SQS refused (the caller reports them)."""
    failed: list[str] = []
    for start in range(0, len(messages), BATCH):
        chunk = messages[start:start + BATCH]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "MessageBody": json.dumps(m, sort_keys=True)} for i, m in enumerate(chunk)
        ])
        failed += [_message_id(chunk[int(f["Id"])]) for f in response.get("Failed", [])]
    return failed


def _message_id(message: dict[str, Any]) -> str:
    """What names a message in a report: a statement delivery's id, or a reply's (kind "reply")."""
    return str(message.get("delivery_id") or message.get("reply_id") or "")
