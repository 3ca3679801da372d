"""A topic's time series: the figures dashboards and the post-crisis report draw.

Each line (a source type, or a platform) holds one point for every bucket of the range, empty
buckets included as zeros, so lines of one series can be drawn and compared point by point.

    negative_share = negative / posts;  net_sentiment = sentiment_sum / posts   (0 when posts = 0)

the same definitions the Detector uses (crisiscomms.detection.levels).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Bucket = Literal["minute", "hour"]
BUCKET_SIZE: dict[str, timedelta] = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1)}


def floor_to(when: datetime, bucket: Bucket) -> datetime:
    """The start of the bucket holding `when`, in UTC (a naive time is taken as UTC)."""
    when = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
    when = when.replace(second=0, microsecond=0)
    return when.replace(minute=0) if bucket == "hour" else when


def ceil_to(when: datetime, bucket: Bucket) -> datetime:
    """The first bucket boundary at or after `when`."""
    floor = floor_to(when, bucket)
    aware = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
    return floor if floor == aware else floor + BUCKET_SIZE[bucket]


class SeriesPoint(BaseModel):
    """The figures of one bucket, starting at `start` (UTC)."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    posts: int = Field(ge=0)
    negative: int = Field(ge=0)
    crisis_posts: int = Field(ge=0)
    sentiment_sum: float
    negative_share: float
    net_sentiment: float


class SeriesLine(BaseModel):
    """One line of a series: a source type ("social", "news") or a platform, and its total."""

    model_config = ConfigDict(frozen=True)

    key: str
    points: list[SeriesPoint]
    total: SeriesPoint  # the whole range as one bucket, starting at the series' start


class TopicSeries(BaseModel):
    """A topic's figures over [start, end) in buckets, by source type and by platform.

    `start` and `end` are the requested range widened to whole buckets. `by_source_type` always
    holds "social" and "news"; `by_platform` holds the platforms that had a post in the range.
    """

    model_config = ConfigDict(frozen=True)

    topic: str
    bucket: Bucket
    start: datetime
    end: datetime
    buckets: list[datetime]
    by_source_type: list[SeriesLine]
    by_platform: list[SeriesLine]

    def source_type(self, key: str) -> SeriesLine | None:
        return next((line for line in self.by_source_type if line.key == key), None)

    def platform(self, key: str) -> SeriesLine | None:
        return next((line for line in self.by_platform if line.key == key), None)


def point(start: datetime, posts: int, negative: int, crisis_posts: int, sentiment_sum: float) -> SeriesPoint:
    """A point with its shares worked out (0 when the bucket is empty)."""
    sentiment_sum = round(sentiment_sum, 6)
    return SeriesPoint(
        start=start, posts=posts, negative=negative, crisis_posts=crisis_posts, sentiment_sum=sentiment_sum,
        negative_share=round(negative / posts, 6) if posts else 0.0,
        net_sentiment=round(sentiment_sum / posts, 6) if posts else 0.0,
    )
