"""On-call notifications through SNS."""
from __future__ import annotations

from typing import Any


def publish_sms(sns: Any, topic_arn: str, text: str) -> str:
    """Send one SMS-sized message to every subscriber of an SNS topic; returns the message id."""
    response = sns.publish(
        TopicArn=topic_arn, Message=text,
        MessageAttributes={"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}},
    )
    return response["MessageId"]
