"""Deployment settings, read once from the environment at cold start.

A missing or malformed variable stops the function at start-up with a message naming it,
instead of failing half-way through a poll.
"""
from __future__ import annotations

import os
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crisiscomms.errors import ConfigurationError


class _WatchedData(BaseModel):
    """What the Poller writes and the Detector reads: the post tables and the watch configuration."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    posts_table: str = Field(alias="POSTS_TABLE", min_length=3)
    topic_posts_table: str = Field(alias="TOPIC_POSTS_TABLE", min_length=3)
    aggregates_table: str = Field(alias="AGGREGATES_TABLE", min_length=3)
    state_table: str = Field(alias="STATE_TABLE", min_length=3)
    watch_config_parameter: str = Field(alias="WATCH_CONFIG_PARAMETER", min_length=1)
    config_max_age_seconds: int = Field(default=300, alias="CONFIG_MAX_AGE_SECONDS", ge=0)


class Settings(_WatchedData):
    """The Poller."""

    x_token_secret: str = Field(alias="X_BEARER_TOKEN_SECRET", min_length=1)
    x_api_base_url: str = Field(default="https://api.x.com", alias="X_API_BASE_URL")
    sentiment_engine: Literal["lexicon", "comprehend"] = Field(default="lexicon", alias="SENTIMENT_ENGINE")
    http_timeout_seconds: float = Field(default=5.0, alias="HTTP_TIMEOUT_SECONDS", gt=0, le=60)
    http_max_attempts: int = Field(default=3, alias="HTTP_MAX_ATTEMPTS", ge=1, le=6)
    retry_base_delay_seconds: float = Field(default=0.5, alias="RETRY_BASE_DELAY_SECONDS", ge=0, le=30)
    post_retention_days: int = Field(default=400, alias="POST_RETENTION_DAYS", ge=1)


class DeskSettings(BaseModel):
    """The statements API and the Publisher."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    statements_table: str = Field(alias="STATEMENTS_TABLE", min_length=3)
    audit_table: str = Field(alias="AUDIT_TABLE", min_length=3)
    state_table: str = Field(alias="STATE_TABLE", min_length=3)
    delivery_queue_url: str = Field(alias="DELIVERY_QUEUE_URL", min_length=1)
    channels_config_parameter: str = Field(alias="CHANNELS_CONFIG_PARAMETER", min_length=1)
    newsroom_bucket: str = Field(alias="NEWSROOM_BUCKET", min_length=3)
    idempotency_table: str = Field(default="", alias="IDEMPOTENCY_TABLE")
    http_timeout_seconds: float = Field(default=5.0, alias="HTTP_TIMEOUT_SECONDS", gt=0, le=60)
    config_max_age_seconds: int = Field(default=300, alias="CONFIG_MAX_AGE_SECONDS", ge=0)
    max_delivery_attempts: int = Field(default=5, alias="MAX_DELIVERY_ATTEMPTS", ge=1, le=20)


class DetectorSettings(_WatchedData):
    """The Detector and the alert routes of the desk API."""

    alerts_table: str = Field(alias="ALERTS_TABLE", min_length=3)
    audit_table: str = Field(alias="AUDIT_TABLE", min_length=3)
    oncall_topic_arn: str = Field(default="", alias="ONCALL_TOPIC_ARN")
    escalation_topic_arn: str = Field(default="", alias="ESCALATION_TOPIC_ARN")


@lru_cache(maxsize=1)
def get_detector_settings() -> DetectorSettings:
    return load_settings(os.environ, DetectorSettings)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The Poller's settings; cached because the environment does not change under us."""
    return load_settings(os.environ)


@lru_cache(maxsize=1)
def get_desk_settings() -> DeskSettings:
    return load_settings(os.environ, DeskSettings)


def load_settings(environ: dict[str, str] | os._Environ, model: type[BaseModel] = Settings) -> Any:
    try:
        return model.model_validate(dict(environ))
    except ValidationError as exc:
        problems = "; ".join(f"{err['loc'][0]}: {err['msg']}" for err in exc.errors())
        raise ConfigurationError(f"invalid environment: {problems}") from exc
