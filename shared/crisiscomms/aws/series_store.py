"""A topic's time series from what listening stores, by Query only.

    by source type: AggregatesTable minute items (topic, minute_key "<minute>#<social|news>"),
                    one Query on the key for the whole range, summed into the buckets; hour
                    buckets are summed from minutes too, because the hour items carry no
                    sentiment sum
    by platform:    TopicPostsTable links (topic_day, published_key), one Query per UTC day of
                    the range; a link holds the post's platform, sentiment, sentiment label and
                    crisis flag, and is negative by its label, as the minute items count it (a
                    link stored before links carried the label: by the scorer's negative
                    threshold, passed in by the wiring)

Both read every item of the range, so the range is bounded (`max_buckets`). Posts past their
retention (TTL) are gone from both alike.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import from_item, query_all, to_value
from crisiscomms.errors import InvalidParameter
from crisiscomms.models.posts import minute_key
from crisiscomms.models.series import (
    BUCKET_SIZE, Bucket, SeriesLine, SeriesPoint, TopicSeries, ceil_to, floor_to, point,
)

SOURCE_TYPES = ("social", "news")
DEFAULT_MAX_BUCKETS = 2880  # two days of minutes, four months of hours


@dataclass(frozen=True)
class SeriesTables:
    topic_posts: str
    aggregates: str


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


class _Sums:
    __slots__ = ("posts", "negative", "crisis_posts", "sentiment_sum")

    def __init__(self) -> None:
        self.posts = self.negative = self.crisis_posts = 0
        self.sentiment_sum = 0.0

    def add(self, posts: int, negative: int, crisis_posts: int, sentiment_sum: float) -> None:
        self.posts += posts
        self.negative += negative
        self.crisis_posts += crisis_posts
        self.sentiment_sum += sentiment_sum

    def point(self, start: datetime) -> SeriesPoint:
        return point(start, self.posts, self.negative, self.crisis_posts, self.sentiment_sum)


class TopicSeriesReader:
    def __init__(self, tables: SeriesTables, *, clients: AwsClients, negative_threshold: float,
                 max_buckets: int = DEFAULT_MAX_BUCKETS) -> None:
        self._tables = tables
        self._clients = clients
        self._negative_threshold = negative_threshold
        self._max_buckets = max_buckets

    def series(self, topic: str, start: datetime, end: datetime, bucket: Bucket = "minute") -> TopicSeries:
        """The topic's figures over [start, end) widened to whole buckets (UTC).

        InvalidParameter when the bucket is not "minute" or "hour", the range is empty or
        reversed, or it holds more than `max_buckets` buckets.
        """
        if bucket not in BUCKET_SIZE:
            raise InvalidParameter("bucket", 'must be "minute" or "hour"')
        first, stop = floor_to(start, bucket), ceil_to(end, bucket)
        if _utc(end) <= _utc(start):
            raise InvalidParameter("to", "must be after from")
        size = BUCKET_SIZE[bucket]
        count = int((stop - first) / size)
        if count > self._max_buckets:
            raise InvalidParameter("to", f"the range holds {count} {bucket} buckets, more than {self._max_buckets}")
        buckets = [first + n * size for n in range(count)]

        by_type: dict[str, dict[datetime, _Sums]] = {kind: defaultdict(_Sums) for kind in SOURCE_TYPES}
        for item in self._minute_items(topic, first, stop):
            kind = item.get("source_type") or item["minute_key"].rpartition("#")[2]
            when = floor_to(datetime.fromisoformat(item["minute"]), bucket)
            by_type.setdefault(kind, defaultdict(_Sums))[when].add(
                int(item.get("posts", 0)), int(item.get("negative", 0)), int(item.get("crisis_posts", 0)),
                float(item.get("sentiment_sum", 0.0)))

        by_platform: dict[str, dict[datetime, _Sums]] = defaultdict(lambda: defaultdict(_Sums))
        for link in self._links(topic, first, stop):
            when = floor_to(datetime.fromisoformat(link["published_key"][:19]), bucket)
            sentiment = float(link.get("sentiment", 0.0))
            label = link.get("sentiment_label")
            negative = label == "negative" if label is not None else sentiment <= self._negative_threshold
            by_platform[link["platform"]][when].add(1, int(negative), int(bool(link.get("is_crisis"))), sentiment)

        return TopicSeries(
            topic=topic, bucket=bucket, start=first, end=stop, buckets=buckets,
            by_source_type=[_line(kind, sums, buckets, first) for kind, sums in by_type.items()],
            by_platform=[_line(key, by_platform[key], buckets, first) for key in sorted(by_platform)],
        )

    def _minute_items(self, topic: str, start: datetime, stop: datetime) -> list[dict[str, Any]]:
        """Minute items with start <= minute < stop: one Query on the key, every page."""
        items = query_all(
            self._clients("dynamodb"), TableName=self._tables.aggregates,
            KeyConditionExpression="topic = :t AND minute_key BETWEEN :a AND :b",
            ExpressionAttributeValues={":t": to_value(topic), ":a": to_value(minute_key(start)),
                                       ":b": to_value(minute_key(stop))},
        )
        end_minute = minute_key(stop)
        return [i for i in map(from_item, items) if "minute" in i and i["minute"] < end_minute]

    def _links(self, topic: str, start: datetime, stop: datetime) -> list[dict[str, Any]]:
        """The topic's post links with start <= published < stop: one Query per UTC day."""
        links: list[dict[str, Any]] = []
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        low, high = _iso(start), _iso(stop)
        while day < stop:
            links += map(from_item, query_all(
                self._clients("dynamodb"), TableName=self._tables.topic_posts,
                KeyConditionExpression="topic_day = :td AND published_key BETWEEN :a AND :b",
                ExpressionAttributeValues={":td": to_value(f"{topic}#{day:%Y-%m-%d}"), ":a": to_value(low),
                                           ":b": to_value(high)},
                ProjectionExpression="published_key, platform, sentiment, sentiment_label, is_crisis",
            ))
            day += timedelta(days=1)
        return [link for link in links if link["published_key"][:20] < high]


def _line(key: str, sums: dict[datetime, _Sums], buckets: list[datetime], start: datetime) -> SeriesLine:
    total = _Sums()
    for bucket_sums in sums.values():
        total.add(bucket_sums.posts, bucket_sums.negative, bucket_sums.crisis_posts, bucket_sums.sentiment_sum)
    empty = _Sums()
    return SeriesLine(key=key, points=[sums.get(when, empty).point(when) for when in buckets], total=total.point(start))
