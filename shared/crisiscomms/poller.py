"""The Poller's composition root: settings, configuration, clients and repositories, wired once.

Everything expensive (settings, HTTP clients, repositories) is built on first use and reused
by later invocations of the same Lambda environment. The watch configuration is re-read from
SSM at most every CONFIG_MAX_AGE_SECONDS, so the desk's edits apply without a deploy.
"""
from __future__ import annotations

import time
import uuid
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from crisiscomms import clock
from crisiscomms.adapters.feeds import FeedClient
from crisiscomms.adapters.http import make_client
from crisiscomms.adapters.x import XSearchClient
from crisiscomms.aws.parameters import load_watch_config, platform_secret
from crisiscomms.aws.posts import PostRepository, PostTables
from crisiscomms.aws.state import StateRepository
from crisiscomms.listening import Ingestor, Listener, RunReport
from crisiscomms.observability import count, logger, metrics
from crisiscomms.scorer import make_scorer
from crisiscomms.settings import Settings, get_settings
from crisiscomms.topics import TopicMatcher
from crisiscomms.watch import WatchConfig


class ScheduledPoll(BaseModel):
    """The EventBridge Scheduler input of a poll schedule (see template.yaml)."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["x", "news"]
    scheduled_time: datetime | None = None


@lru_cache(maxsize=4)
def _http(timeout: float, base_url: str = "") -> Any:
    """One connection pool per base URL for the life of the Lambda environment."""
    return make_client(base_url, timeout_seconds=timeout)


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def build_listener(settings: Settings, config: WatchConfig, *, remaining_seconds: Any, run_id: str) -> Listener:
    repository = PostRepository(
        PostTables(settings.posts_table, settings.topic_posts_table, settings.aggregates_table),
        retention_days=settings.post_retention_days,
        high_reach_followers=config.high_reach_followers,
    )
    http = _http(settings.http_timeout_seconds)

    def x_search() -> XSearchClient:
        token = platform_secret(settings.x_token_secret, max_age=settings.config_max_age_seconds)
        return XSearchClient(_http(settings.http_timeout_seconds, settings.x_api_base_url), bearer_token=token, clock=clock.now)

    return Listener(
        config,
        ingestor=Ingestor(TopicMatcher(config.topics), make_scorer(settings.sentiment_engine), repository, clock.now),
        state=StateRepository(settings.state_table),
        x_search=x_search,
        feeds=lambda: FeedClient(http, clock=clock.now),
        clock=clock.now,
        attempts=settings.http_max_attempts,
        base_delay=settings.retry_base_delay_seconds,
        sleep=_sleep,
        run_id=run_id,
        remaining_seconds=remaining_seconds,
    )


def poll(request: ScheduledPoll, *, remaining_seconds: Any, run_id: str | None = None) -> dict[str, Any]:
    """Poll every configured source of the requested kind and report what each one did."""
    settings = get_settings()
    config = load_watch_config(settings.watch_config_parameter, max_age=settings.config_max_age_seconds)
    listener = build_listener(settings, config, remaining_seconds=remaining_seconds, run_id=run_id or uuid.uuid4().hex)
    reports = listener.poll(request.source)
    _record(request.source, reports)
    return {"source": request.source, "reports": [r.as_log() for r in reports]}


def _record(kind: str, reports: list[RunReport]) -> None:
    for report in reports:
        logger.info("source polled", extra=report.as_log())
    metrics.add_dimension(name="source_kind", value=kind)
    for name, value in (
        ("PostsFetched", sum(r.fetched for r in reports)),
        ("PostsStored", sum(r.stored for r in reports)),
        ("DuplicatesRejected", sum(r.duplicates for r in reports)),
        ("MalformedItems", sum(r.malformed for r in reports)),
        ("SourcesFailed", sum(r.status == "failed" for r in reports)),
        ("SourcesRateLimited", sum(r.status == "rate_limited" for r in reports)),
    ):
        count(name, value)
