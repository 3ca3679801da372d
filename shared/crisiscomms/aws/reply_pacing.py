"""Pacing replies per platform: a token bucket in the state table, and deferring a message on SQS.

One approved answer may go to hundreds of people within minutes; platforms flag accounts that
reply in bursts, and their rate limits are per account. Every Publisher instance therefore takes
a token from one bucket per platform before it sends a reply, whichever message it is handling.

The bucket is GCRA (the generic cell rate algorithm) in one item, `pk = pace#<platform>`, holding
the theoretical arrival time `tat` (epoch milliseconds): a reply may go when `tat - now` is at most
`(burst - 1) x interval`, and then `tat` becomes `max(tat, now) + interval`. The write is
conditional on the `tat` read, so two instances cannot take the same slot; a lost race reads again.
When the pace is exceeded the answer is how long to wait, and the Publisher defers the message:
it sends it again with that `DelaySeconds` (at most 15 minutes, SQS's maximum) and acknowledges
this copy, so a paced reply neither spends its SQS receives (6, then the dead-letter queue) nor
waits a whole visibility timeout.

Why not SQS DelaySeconds at enqueue time alone: the desk enqueues in batches and cannot know what
the other batches, retries and redeliveries already spent; the bucket is the one place that does.
"""
from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import from_item, to_item, to_value

PACE_PREFIX = "pace#"
MAX_DELAY_SECONDS = 900  # SQS DelaySeconds maximum
RACE_ATTEMPTS = 5


def gcra(tat_ms: int | None, now_ms: int, *, per_minute: float, burst: int) -> tuple[int | None, int]:
    """(the new tat to store, or None when over the pace; milliseconds to wait, 0 when allowed)."""
    interval = 60_000 / per_minute
    tat = max(tat_ms or 0, now_ms)
    allowance = (burst - 1) * interval
    if tat - now_ms > allowance:
        return None, math.ceil(tat - now_ms - allowance)
    return math.ceil(tat + interval), 0


class ReplyPacer:
    """Takes one token of a platform's bucket; answers the seconds to wait when there is none."""

    def __init__(self, state_table: str, *, clients: AwsClients) -> None:
        self._table = state_table
        self._clients = clients

    def take(self, platform: str, *, per_minute: float, burst: int, now: datetime) -> float:
        from botocore.exceptions import ClientError

        key = to_item({"pk": f"{PACE_PREFIX}{platform}"})
        now_ms = int(now.timestamp() * 1000)
        for _ in range(RACE_ATTEMPTS):
            item = self._clients("dynamodb").get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
            stored = from_item(item).get("tat") if item else None
            tat, wait_ms = gcra(int(stored) if stored is not None else None, now_ms, per_minute=per_minute, burst=burst)
            if tat is None:
                return wait_ms / 1000
            condition = "attribute_not_exists(pk)" if stored is None else "tat = :old"
            values = {":tat": to_value(tat)} | ({} if stored is None else {":old": to_value(int(stored))})
            try:
                self._clients("dynamodb").update_item(
                    TableName=self._table, Key=key, UpdateExpression="SET tat = :tat", ConditionExpression=condition,
                    ExpressionAttributeValues=values)
                return 0.0
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
        return 60 / per_minute  # contended beyond reason: wait one interval and take a token then


def defer(sqs: Any, queue_url: str, message: dict[str, Any], seconds: float) -> None:
    """Send `message` again, visible after `seconds` (1 to 900)."""
    delay = max(1, min(MAX_DELAY_SECONDS, math.ceil(seconds)))
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message, sort_keys=True), DelaySeconds=delay)
