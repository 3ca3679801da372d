"""Each function's settings, read once from its environment at cold start.

One model per function with exactly the variables template.yaml gives that function (a test
holds the two together). A missing or malformed variable stops the function at start-up with a
message naming it, instead of failing half-way through a poll. Only this module and
`crisiscomms.wiring` read the environment.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crisiscomms.errors import ConfigurationError

DEV_IDENTITY_SWITCH = "CRISISCOMMS_DEV_IDENTITY_HEADER"  # set only by the local API server, never by template.yaml


class _FromEnvironment(BaseModel):
    # Built when first validated: a function validates its own model only.
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, defer_build=True)


class PollerSettings(_FromEnvironment):
    posts_table: str = Field(alias="POSTS_TABLE", min_length=3)
    topic_posts_table: str = Field(alias="TOPIC_POSTS_TABLE", min_length=3)
    aggregates_table: str = Field(alias="AGGREGATES_TABLE", min_length=3)
    state_table: str = Field(alias="STATE_TABLE", min_length=3)
    watch_config_parameter: str = Field(alias="WATCH_CONFIG_PARAMETER", min_length=1)
    config_max_age_seconds: int = Field(default=300, alias="CONFIG_MAX_AGE_SECONDS", ge=0)
    x_token_secret: str = Field(alias="X_BEARER_TOKEN_SECRET", min_length=1)
    x_api_base_url: str = Field(default="https://api.x.com", alias="X_API_BASE_URL")
    source_secret_prefix: str = Field(alias="SOURCE_SECRET_PREFIX", min_length=1,
                                      description="secret of platform p is <prefix><p>, a JSON object of its tokens")
    sentiment_engine: Literal["lexicon", "comprehend"] = Field(default="lexicon", alias="SENTIMENT_ENGINE")
    http_timeout_seconds: float = Field(default=5.0, alias="HTTP_TIMEOUT_SECONDS", gt=0, le=60)
    http_max_attempts: int = Field(default=3, alias="HTTP_MAX_ATTEMPTS", ge=1, le=6)
    retry_base_delay_seconds: float = Field(default=0.5, alias="RETRY_BASE_DELAY_SECONDS", ge=0, le=30)
    post_retention_days: int = Field(default=400, alias="POST_RETENTION_DAYS", ge=1,
                                     description="posts and topic posts expire (TTL) this many days after storage")
    aggregate_retention_days: int = Field(default=400, alias="AGGREGATE_RETENTION_DAYS", ge=1,
                                          description="minute and hour figures expire this many days after storage")
    inbox_table: str = Field(alias="INBOX_TABLE", min_length=3)


class DetectorSettings(_FromEnvironment):
    topic_posts_table: str = Field(alias="TOPIC_POSTS_TABLE", min_length=3)
    aggregates_table: str = Field(alias="AGGREGATES_TABLE", min_length=3)
    state_table: str = Field(alias="STATE_TABLE", min_length=3)
    alerts_table: str = Field(alias="ALERTS_TABLE", min_length=3)
    audit_table: str = Field(alias="AUDIT_TABLE", min_length=3)
    watch_config_parameter: str = Field(alias="WATCH_CONFIG_PARAMETER", min_length=1)
    config_max_age_seconds: int = Field(default=300, alias="CONFIG_MAX_AGE_SECONDS", ge=0)
    oncall_topic_arn: str = Field(default="", alias="ONCALL_TOPIC_ARN")
    escalation_topic_arn: str = Field(default="", alias="ESCALATION_TOPIC_ARN")
    inbox_table: str = Field(alias="INBOX_TABLE", min_length=3)
    desk_topic_arn: str = Field(default="", alias="DESK_TOPIC_ARN")
    alert_retention_days: int = Field(default=0, alias="ALERT_RETENTION_DAYS", ge=0,
                                      description="0: alerts are kept; else they expire that many days after triggering")


class ApiSettings(_FromEnvironment):
    """The desk API: statements, alerts, audit verification, topics' figures."""

    statements_table: str = Field(alias="STATEMENTS_TABLE", min_length=3)
    alerts_table: str = Field(alias="ALERTS_TABLE", min_length=3)
    audit_table: str = Field(alias="AUDIT_TABLE", min_length=3)
    state_table: str = Field(alias="STATE_TABLE", min_length=3)
    delivery_queue_url: str = Field(alias="DELIVERY_QUEUE_URL", min_length=1)
    channels_config_parameter: str = Field(alias="CHANNELS_CONFIG_PARAMETER", min_length=1)
    audit_digest_bucket: str = Field(alias="AUDIT_DIGEST_BUCKET", min_length=3)
    audit_signing_key: str = Field(alias="AUDIT_SIGNING_KEY", min_length=1)
    aggregates_table: str = Field(alias="AGGREGATES_TABLE", min_length=3,
                                  description="read: topics' hour figures, and minute figures for narratives")
    config_max_age_seconds: int = Field(default=300, alias="CONFIG_MAX_AGE_SECONDS", ge=0)
    dev_identity_header: Literal["enabled", "disabled"] = Field(default="disabled", alias=DEV_IDENTITY_SWITCH)
    inbox_table: str = Field(alias="INBOX_TABLE", min_length=3)
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE", min_length=3,
                                   description="the first answer to a request sent with an Idempotency-Key (items api#*)")
    watch_config_parameter: str = Field(alias="WATCH_CONFIG_PARAMETER", min_length=1,
                                        description="read: inbox.approve_every_reply_at_crisis")
    lesson_retention_days: int = Field(default=0, alias="LESSON_RETENTION_DAYS", ge=0,
                                       description="0: a closed alert and its lessons are kept; else that many days")
    # The auditor's reads and exports (crisiscomms.auditing): posts by topic, platform and risk, the export queue
    # and the links to finished exports.
    posts_table: str = Field(alias="POSTS_TABLE", min_length=3, description="read: posts, by platform and time")
    topic_posts_table: str = Field(alias="TOPIC_POSTS_TABLE", min_length=3, description="read: a topic's posts")
    export_queue_url: str = Field(alias="EXPORT_QUEUE_URL", min_length=1)
    export_bucket: str = Field(alias="EXPORT_BUCKET", min_length=3, description="read: links to finished exports")
    # Post-crisis reports (crisiscomms.review.report): their records (StateTable report#<id>), the queue that
    # hands them to the Reporter, and presigned links to the finished files.
    report_queue_url: str = Field(alias="REPORT_QUEUE_URL", min_length=1)
    report_bucket: str = Field(alias="REPORT_BUCKET", min_length=3, description="read: links to finished reports")
    report_link_seconds: int = Field(default=900, alias="REPORT_LINK_SECONDS", ge=60, le=7 * 24 * 3600)


class PublisherSettings(_FromEnvironment):
    statements_table: str = Field(alias="STATEMENTS_TABLE", min_length=3)
    audit_table: str = Field(alias="AUDIT_TABLE", min_length=3)
    state_table: str = Field(alias="STATE_TABLE", min_length=3)
    channels_config_parameter: str = Field(alias="CHANNELS_CONFIG_PARAMETER", min_length=1)
    channel_tokens_secret: str = Field(alias="CHANNEL_TOKENS_SECRET", min_length=1)
    newsroom_bucket: str = Field(alias="NEWSROOM_BUCKET", min_length=3)
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE", min_length=3)
    config_max_age_seconds: int = Field(default=300, alias="CONFIG_MAX_AGE_SECONDS", ge=0)
    http_timeout_seconds: float = Field(default=5.0, alias="HTTP_TIMEOUT_SECONDS", gt=0, le=60)
    max_delivery_attempts: int = Field(default=5, alias="MAX_DELIVERY_ATTEMPTS", ge=1, le=20)
    inbox_table: str = Field(alias="INBOX_TABLE", min_length=3)
    # Replies: a paced reply is sent again on the delivery queue with a delay (empty: SQS brings it
    # back after its visibility timeout); Douyin and Reddit replies use the listening secret's token, read only.
    delivery_queue_url: str = Field(default="", alias="DELIVERY_QUEUE_URL")
    douyin_tokens_secret: str = Field(default="", alias="DOUYIN_TOKENS_SECRET")
    reddit_tokens_secret: str = Field(default="", alias="REDDIT_TOKENS_SECRET")


class DigestSettings(_FromEnvironment):
    """The Digest function: signs digests of the audit chain into the Object Lock bucket."""

    audit_table: str = Field(alias="AUDIT_TABLE", min_length=3)
    state_table: str = Field(alias="STATE_TABLE", min_length=3)
    audit_digest_bucket: str = Field(alias="AUDIT_DIGEST_BUCKET", min_length=3)
    audit_signing_key: str = Field(alias="AUDIT_SIGNING_KEY", min_length=1)


class ReviewerSettings(_FromEnvironment):
    """The Reviewer: measures the effect of published statements and reply waves, and recommends."""

    statements_table: str = Field(alias="STATEMENTS_TABLE", min_length=3)
    aggregates_table: str = Field(alias="AGGREGATES_TABLE", min_length=3, description="read: topics' minute figures")
    inbox_table: str = Field(alias="INBOX_TABLE", min_length=3, description="read: replies, conversations by kind")
    audit_table: str = Field(alias="AUDIT_TABLE", min_length=3)
    state_table: str = Field(alias="STATE_TABLE", min_length=3)
    watch_config_parameter: str = Field(alias="WATCH_CONFIG_PARAMETER", min_length=1,
                                        description="read: topics and the review section")
    channels_config_parameter: str = Field(alias="CHANNELS_CONFIG_PARAMETER", min_length=1)
    channel_tokens_secret: str = Field(alias="CHANNEL_TOKENS_SECRET", min_length=1,
                                       description="read: engagement is read back with the channels' tokens")
    config_max_age_seconds: int = Field(default=300, alias="CONFIG_MAX_AGE_SECONDS", ge=0)
    http_timeout_seconds: float = Field(default=5.0, alias="HTTP_TIMEOUT_SECONDS", gt=0, le=60)


class ExporterSettings(_FromEnvironment):
    """The Exporter: writes an auditor's export (JSON Lines, CSV, manifest) to the export bucket."""

    posts_table: str = Field(alias="POSTS_TABLE", min_length=3)
    alerts_table: str = Field(alias="ALERTS_TABLE", min_length=3)
    statements_table: str = Field(alias="STATEMENTS_TABLE", min_length=3)
    audit_table: str = Field(alias="AUDIT_TABLE", min_length=3)
    state_table: str = Field(alias="STATE_TABLE", min_length=3)
    export_bucket: str = Field(alias="EXPORT_BUCKET", min_length=3)
    audit_digest_bucket: str = Field(alias="AUDIT_DIGEST_BUCKET", min_length=3, description="read: the latest digest")
    inbox_table: str = Field(alias="INBOX_TABLE", min_length=3, description="read: conversations, replies, templates")
    aggregates_table: str = Field(alias="AGGREGATES_TABLE", min_length=3, description="read: minute and hour figures")
    aggregate_retention_days: int = Field(default=400, alias="AGGREGATE_RETENTION_DAYS", ge=1,
                                          description="the Poller's: tells a figure grown since an export began")


class ReporterSettings(_FromEnvironment):
    """The Reporter: writes a post-crisis report (an HTML page with inline SVG charts, CSV files) to the report bucket."""

    topic_posts_table: str = Field(alias="TOPIC_POSTS_TABLE", min_length=3, description="read: a topic's posts by time, risk")
    aggregates_table: str = Field(alias="AGGREGATES_TABLE", min_length=3, description="read: minute and hour figures")
    alerts_table: str = Field(alias="ALERTS_TABLE", min_length=3, description="read: alerts and lessons by topic")
    statements_table: str = Field(alias="STATEMENTS_TABLE", min_length=3, description="read: statements, effects")
    inbox_table: str = Field(alias="INBOX_TABLE", min_length=3, description="read: conversations and replies")
    audit_table: str = Field(alias="AUDIT_TABLE", min_length=3, description="read: level changes; append: its moves")
    state_table: str = Field(alias="STATE_TABLE", min_length=3, description="the report records and the audit anchor")
    report_bucket: str = Field(alias="REPORT_BUCKET", min_length=3)
    watch_config_parameter: str = Field(alias="WATCH_CONFIG_PARAMETER", min_length=1, description="read: topic names")
    config_max_age_seconds: int = Field(default=300, alias="CONFIG_MAX_AGE_SECONDS", ge=0)
    max_report_attempts: int = Field(default=3, alias="MAX_REPORT_ATTEMPTS", ge=1, le=10)


FUNCTION_SETTINGS: dict[str, type[BaseModel]] = {
    "PollerFunction": PollerSettings,
    "DetectorFunction": DetectorSettings,
    "DeskApiFunction": ApiSettings,
    "PublisherFunction": PublisherSettings,
    "DigestFunction": DigestSettings,
    "ExporterFunction": ExporterSettings,
    "ReviewerFunction": ReviewerSettings,
    "ReporterFunction": ReporterSettings,
}

S = TypeVar("S", bound=BaseModel)


def load_settings(model: type[S], environ: Mapping[str, str] | None = None) -> S:
    """Validate the environment against one function's model; ConfigurationError names each bad variable."""
    try:
        return model.model_validate(dict(os.environ if environ is None else environ))
    except ValidationError as exc:
        problems = "; ".join(f"{err['loc'][0]}: {err['msg']}" for err in exc.errors())
        raise ConfigurationError(f"invalid environment: {problems}") from exc
