"""Where and when, end to end: places stored by the real Poller, figures read by the real API handler,
and what each side asks of local DynamoDB (one transaction per page; one Query per request, no Scan)."""
from __future__ import annotations

import json
import os
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.post_store import PostRepository, PostTables
from crisiscomms.models import Post, ScoredPost
from crisiscomms.models.posts import CARRIED_LATENESS_MINUTES
from crisiscomms_local.apigw import rest_event
from crisiscomms_local.aws import reset_process_caches
from crisiscomms_local.lambda_runtime import invoke

from .conftest import Listening

pytestmark = pytest.mark.integration
NEGATIVE = "港湾银行挤兑了，取不出钱！"


class Requests:
    """DynamoDB requests by operation, with the table of each Query and the items of each transaction."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self.query_tables: list[str] = []
        self.transactions: list[int] = []
        client.meta.events.register("provide-client-params.dynamodb", self._params)
        client.meta.events.register("after-call.dynamodb", self._count)

    def _params(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "Query":
            self.query_tables.append(params["TableName"])
        if model.name == "TransactWriteItems":
            self.transactions.append(len(params["TransactItems"]))

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1


def _function_client() -> Any:
    """The DynamoDB client the next invocation's handler will use (the process's container)."""
    from crisiscomms.wiring import container

    return container().clients("dynamodb")


def _distribution(query: str, *, as_group: str = "oncall") -> tuple[int, dict[str, Any]]:
    event = rest_event("GET", "/topics/harbor/distribution", query=query, user="chen", groups=[as_group])
    result = invoke("api", event)
    return result["statusCode"], json.loads(result["body"])


def test_places_stored_by_the_poller_come_back_by_region_and_hour_from_one_query(listening: Listening) -> None:
    feeds = [{"name": "daily", "url": listening.news.url_for("daily", "rss"), "language": "en", "every_minutes": 1,
              "region": "HK"}]
    listening.configure(sources=[{"id": "x-main", "platform": "x", "initial_lookback_minutes": 120}], feeds=feeds)
    at = datetime(2026, 11, 28, 7, 40, tzinfo=timezone.utc)  # 15:40 in Shanghai
    later = datetime(2026, 11, 28, 8, 10, tzinfo=timezone.utc)  # 16:10 in Shanghai
    x = listening.x
    for n in range(3):
        x.add_post(text=NEGATIVE if n < 2 else f"Harbor Bank branch queue {n}", author=f"gd{n}",
                   created_at=later + timedelta(minutes=n), location="Shenzhen, People's Republic of China",
                   country_code="CN", place_type="city", lang="zh" if n < 2 else "en")
    for n in range(2):
        x.add_post(text=f"Harbor Bank in Central {n}", author=f"hk{n}", created_at=at + timedelta(minutes=n),
                   location="Hong Kong", country_code="HK", place_type="admin")
    x.add_post(text="Harbor Bank on Wall Street", author="ny", created_at=later, location="Manhattan, NY",
               country_code="US")
    x.add_post(text="Harbor Bank opening hours today", author="nowhere", created_at=later)
    for n in range(2):
        listening.news.add_item("daily", title=f"Harbor Bank results {n}", summary="Harbor Bank reports",
                                published_at=later + timedelta(minutes=5 + n))

    writes = Requests(_function_client())
    [x_report] = listening.poll("x")
    news_reports = listening.poll("news")
    stored = x_report["stored"] + sum(r["stored"] for r in news_reports)
    assert (x_report["status"], x_report["stored"], stored) == ("ok", 7, 9), (x_report, news_reports)
    assert x_report["followed_up"] == 2
    assert writes.calls["TransactWriteItems"] == 3, "one transaction per page, X's and the feed's, and X's two conversations"

    repo = PostRepository(PostTables(os.environ["POSTS_TABLE"], os.environ["TOPIC_POSTS_TABLE"],
                                     os.environ["AGGREGATES_TABLE"]), clients=AwsClients(), retention_days=1)
    # per post its item and link; per page one Update of each minute and hour item its posts touch, and of
    # the arrivals item when a post was stored within CARRIED_LATENESS_MINUTES of its minute (post_store)
    expected = []
    for platform in ("x", "news"):
        posts = repo.platform_posts(platform, "2026-11-28")
        carried = [abs(datetime.fromisoformat(p["ingested_at"][:16]) - datetime.fromisoformat(p["published_at"][:16]))
                   <= timedelta(minutes=CARRIED_LATENESS_MINUTES) for p in posts]
        assert 0 < sum(carried) < len(posts) or platform == "news"
        items = {p["published_at"][:16] for p in posts} | {"hour" + p["published_at"][:13] for p in posts} \
            | {"arrivals" + p["ingested_at"][:16] for p, c in zip(posts, carried) if c}
        expected.append(2 * len(posts) + len(items))
    expected.append(2)  # the conversations' Puts (X writes no follow-up)
    assert sorted(writes.transactions) == sorted(expected)
    [shenzhen] = [p for p in repo.platform_posts("x", "2026-11-28") if p["author"] == "gd0"]
    assert (shenzhen["country"], shenzhen["region"], shenzhen["location_country"]) == ("CN", "CN-GD", "CN")
    minutes = repo.minute_aggregates("harbor", "0000-01-01T00:00", "9999-12-31T23:59")
    assert minutes and all(m["minute_key"][0].isdigit() for m in minutes), "the Detector's range holds no hour item"
    assert sum(m["posts"] for m in minutes) == stored

    os.environ.update(listening.stack.function_environment("DeskApiFunction"))
    reset_process_caches()
    reads = Requests(_function_client())
    status, body = _distribution("from=2026-11-28T07:00:00Z&to=2026-11-28T09:00:00Z&tz=Asia/Shanghai")
    assert status == 200, body
    assert reads.calls == {"Query": 1} and reads.query_tables == [os.environ["AGGREGATES_TABLE"]]
    assert (body["from"], body["to"], body["tz"], body["total"]) == (
        "2026-11-28T07:00:00Z", "2026-11-28T09:00:00Z", "Asia/Shanghai", 9)
    regions = {(r["country"], r["region"]): (r["posts"], r["negative"], r["share"]) for r in body["by_region"]}
    assert regions == {("CN", "CN-GD"): (3, 2, 0.3333), ("HK", None): (4, 0, 0.4444), ("US", None): (1, 0, 0.1111),
                       (None, None): (1, 0, 0.1111)}
    assert body["by_region"][0]["label"] == "香港 Hong Kong"
    assert {h["hour"]: h["posts"] for h in body["by_hour_of_day"] if h["posts"]} == {15: 2, 16: 7}
    assert body["by_hour_of_day"][16]["negative"] == 2
    assert body["by_platform"] == {"news": 2, "x": 7}

    status, london = _distribution("from=2026-11-28T07:00:00Z&to=2026-11-28T09:00:00Z&tz=Europe/London",
                                   as_group="auditor")
    assert status == 200 and {h["hour"]: h["posts"] for h in london["by_hour_of_day"] if h["posts"]} == {7: 2, 8: 7}
    status, later_only = _distribution("from=2026-11-28T08:00:00Z&to=2026-11-28T09:00:00Z", as_group="comms-author")
    assert status == 200 and later_only["total"] == 7 and later_only["tz"] == "Asia/Shanghai"

    status, refused = _distribution("from=2026-11-28T09:00:00Z&to=2026-11-28T07:00:00Z")
    assert status == 400 and refused["details"][0]["field"] == "from"
    assert reads.calls == {"Query": 3}, "a refused request reads nothing"
    assert "Scan" not in reads.calls and "Scan" not in writes.calls


def test_hour_figures_are_read_across_pages(stack) -> None:
    clients = AwsClients()
    repo = PostRepository(PostTables(stack.refs["PostsTable"], stack.refs["TopicPostsTable"],
                                     stack.refs["AggregatesTable"]), clients=clients, retention_days=30)
    start = datetime(2026, 11, 28, 0, 30, tzinfo=timezone.utc)
    for n in range(6):
        post = Post(platform="weibo", native_id=str(n), source_type="social" if n % 2 else "news", source_id="w",
                    url="u", author="a", text="港湾银行", published_at=start + timedelta(hours=n))
        repo.store(ScoredPost(post=post, topics=("harbor",), language="zh-Hans", sentiment=0.1,
                              sentiment_label="neutral", crisis_terms=(), crisis_categories=(), crisis_weight=0.0,
                              is_crisis=False, risk=0, ingested_at=start, country="CN", region="CN-SH"))
    client = clients("dynamodb")
    requests = Requests(client)
    client.meta.events.register("provide-client-params.dynamodb.Query",
                                lambda params, **_: params.update(Limit=2))  # small pages, as 1 MB pages would be
    hours = repo.topic_hours("harbor", "2026-11-28T01", "2026-11-28T05")
    assert [h["hour"] for h in hours] == ["2026-11-28T01", "2026-11-28T02", "2026-11-28T03", "2026-11-28T04"]
    assert all(h["r_CN-SH"] == 1 and h["posts"] == 1 for h in hours)
    assert requests.calls["Query"] == 3 and "Scan" not in requests.calls
