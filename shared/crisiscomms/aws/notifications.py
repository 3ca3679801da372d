"""Notifications through SNS: on-call SMS, and the desk's email or chat messages."""
from __future__ import annotations

from typing import Any


def publish_sms(sns: Any, topic_arn: str, text: str) -> str:
    """Send one SMS-sized message to every subscriber of an SNS topic; returns the message id."""
    response = sns.publish(
        TopicArn=topic_arn, Message=text,
        MessageAttributes={"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}},
    )
    return response["MessageId"]


def publish_desk_message(sns: Any, topic_arn: str, subject: str, text: str) -> str:
    """Send one message to the desk's topic (email or chat subscribers: a subject and a plain-text body,
    no SMS attributes); returns the message id."""
    response = sns.publish(TopicArn=topic_arn, Subject=subject, Message=text)
    return response["MessageId"]
