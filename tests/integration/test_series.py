"""A topic's time series against the posts that made it: stored through the real repository, read back
by Query only, figures per bucket equal to the posts counted by hand."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.post_store import PostRepository, PostTables
from crisiscomms.aws.series_store import SeriesTables, TopicSeriesReader
from crisiscomms.errors import InvalidParameter
from crisiscomms.models import Post, ScoredPost
from crisiscomms.scoring import NEGATIVE_THRESHOLD
from crisiscomms_local.aws import Stack

from .dynamo_counter import DynamoRequests

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 28, 23, 58, tzinfo=timezone.utc)  # the range crosses midnight: two link days


def scored(n: int, *, platform: str, at: datetime, sentiment: float, crisis: bool = False,
           topics: tuple[str, ...] = ("harbor",), label: str | None = None) -> ScoredPost:
    source_type = "news" if platform == "news" else "social"
    post = Post(platform=platform, native_id=f"p{n}", source_type=source_type, source_id="s", url=f"https://e/{n}",
                author=f"a{n}", text=f"post {n}", published_at=at, likes=1)
    label = label or ("negative" if sentiment <= NEGATIVE_THRESHOLD else "positive" if sentiment >= 0.25
                      else "neutral")
    return ScoredPost(post=post, topics=topics, language="en", sentiment=sentiment, sentiment_label=label,
                      crisis_terms=("bank run",) if crisis else (), crisis_categories=(), crisis_weight=3.0 if crisis else 0,
                      is_crisis=crisis, risk=50, ingested_at=at)


def store(stack: Stack, posts: list[ScoredPost]) -> None:
    repo = PostRepository(PostTables(stack.refs["PostsTable"], stack.refs["TopicPostsTable"],
                                     stack.refs["AggregatesTable"]), clients=AwsClients(), retention_days=30)
    for post in posts:
        repo.store(post)


def reader(stack: Stack, clients: AwsClients | None = None, **kwargs: Any) -> TopicSeriesReader:
    return TopicSeriesReader(SeriesTables(stack.refs["TopicPostsTable"], stack.refs["AggregatesTable"]),
                             clients=clients or AwsClients(), negative_threshold=NEGATIVE_THRESHOLD, **kwargs)


POSTS = [  # (platform, minute offset from T0, sentiment, crisis)
    ("x", 0, -0.8, True), ("x", 0, 0.5, False), ("weibo", 1, -0.3, False), ("news", 1, -0.6, False),
    ("x", 2, 0.0, False), ("x", 3, -0.25, True), ("news", 3, 0.4, False), ("bluesky", 65, -0.9, True),
]


def test_minute_series_by_source_type_and_platform_equal_the_posts_and_read_by_query_only(stack: Stack) -> None:
    posts = [scored(n, platform=p, at=T0 + timedelta(minutes=m, seconds=n), sentiment=s, crisis=c)
             for n, (p, m, s, c) in enumerate(POSTS)]
    posts.append(scored(99, platform="x", at=T0, sentiment=-0.9, topics=("northgate",)))  # another topic
    store(stack, posts)
    clients = AwsClients()
    requests = DynamoRequests(clients("dynamodb"))

    series = reader(stack, clients).series("harbor", T0, T0 + timedelta(minutes=4), "minute")

    assert requests.calls.keys() == {"Query"}, requests.calls
    assert requests.calls["Query"] == 3, "one for the minute items, one per UTC day of links"
    assert series.buckets == [T0 + timedelta(minutes=m) for m in range(4)]
    social, news = series.source_type("social"), series.source_type("news")
    assert [p.posts for p in social.points] == [2, 1, 1, 1] and [p.posts for p in news.points] == [0, 1, 0, 1]
    assert [p.negative for p in social.points] == [1, 1, 0, 1], "-0.25 is at the threshold: negative"
    assert [p.crisis_posts for p in social.points] == [1, 0, 0, 1]
    assert social.points[0].negative_share == 0.5 and social.points[0].net_sentiment == pytest.approx(-0.15)
    assert news.points[0].negative_share == 0.0 and news.points[0].net_sentiment == 0.0, "empty bucket: zeros"
    assert (social.total.posts, social.total.negative, news.total.posts) == (5, 3, 2)
    assert [line.key for line in series.by_platform] == ["news", "weibo", "x"], "bluesky's post is outside the range"
    x = series.platform("x")
    assert [p.posts for p in x.points] == [2, 0, 1, 1] and [p.negative for p in x.points] == [1, 0, 0, 1]
    assert x.total.sentiment_sum == pytest.approx(-0.55)
    for kind, platforms in (("social", ("x", "weibo")), ("news", ("news",))):
        line = series.source_type(kind)
        for n in range(4):
            parts = [series.platform(p).points[n] for p in platforms]
            assert line.points[n].posts == sum(p.posts for p in parts)
            assert line.points[n].negative == sum(p.negative for p in parts)
            assert line.points[n].sentiment_sum == pytest.approx(sum(p.sentiment_sum for p in parts))


def test_a_post_is_negative_by_its_label_alike_by_platform_and_by_source_type(stack: Stack) -> None:
    """The label comes from the model's margins, not from a cut of the polarity: -0.1 may be negative
    and -0.4 neutral.  Both lines count the label, so a platform's negatives add up to its source type's."""
    store(stack, [scored(1, platform="x", at=T0, sentiment=-0.1, label="negative"),
                  scored(2, platform="x", at=T0, sentiment=-0.4, label="neutral"),
                  scored(3, platform="news", at=T0, sentiment=-0.3, label="neutral")])

    series = reader(stack).series("harbor", T0, T0 + timedelta(minutes=1), "minute")

    assert series.source_type("social").total.negative == 1 and series.source_type("news").total.negative == 0
    assert series.platform("x").total.negative == 1 and series.platform("news").total.negative == 0


def test_hour_series_widens_the_range_to_whole_hours_and_sums_the_minutes(stack: Stack) -> None:
    posts = [scored(n, platform=p, at=T0 + timedelta(minutes=m), sentiment=s, crisis=c)
             for n, (p, m, s, c) in enumerate(POSTS)]
    store(stack, posts)

    series = reader(stack).series("harbor", T0 + timedelta(minutes=1), T0 + timedelta(minutes=66), "hour")

    assert (series.start, series.end) == (datetime(2026, 11, 28, 23, tzinfo=timezone.utc),
                                          datetime(2026, 11, 29, 2, tzinfo=timezone.utc))
    # 23:58 and 23:59 fall in the first hour, 00:00 and 00:01 in the second, 01:05 in the third
    assert [p.posts for p in series.source_type("social").points] == [3, 2, 1]
    assert [p.posts for p in series.source_type("news").points] == [1, 1, 0]
    assert [p.crisis_posts for p in series.platform("bluesky").points] == [0, 0, 1]
    assert series.source_type("social").points[2].net_sentiment == pytest.approx(-0.9)
    assert series.platform("x").total.posts == 4


@pytest.mark.parametrize(("start", "end", "bucket", "field"), [
    (T0, T0, "minute", "to"),
    (T0, T0 - timedelta(minutes=1), "minute", "to"),
    (T0, T0 + timedelta(minutes=11), "minute", "to"),  # over max_buckets=10
    (T0, T0 + timedelta(minutes=1), "day", "bucket"),
])
def test_refused_ranges_name_the_parameter_and_read_nothing(stack: Stack, start: datetime, end: datetime,
                                                            bucket: str, field: str) -> None:
    clients = AwsClients()
    requests = DynamoRequests(clients("dynamodb"))
    with pytest.raises(InvalidParameter) as refused:
        reader(stack, clients, max_buckets=10).series("harbor", start, end, bucket)  # type: ignore[arg-type]
    assert refused.value.details[0]["field"] == field
    assert not requests.calls
