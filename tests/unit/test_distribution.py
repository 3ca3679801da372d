"""Where and when: a post's place on the way in, the hour figures it adds to, and the route that reads them."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from crisiscomms.adapters.sources.x_search import parse_search_page
from crisiscomms.api import FIGURE_READERS, ApiServices, handle
from crisiscomms.aws.post_store import PostRepository, PostTables
from crisiscomms.errors import ConfigurationError, InvalidParameter
from crisiscomms.listening.distribution import TopicDistribution, distribution, hour_range, zone_named
from crisiscomms.models.timestamps import instant
from crisiscomms.listening.polling import Ingestor, RunReport
from crisiscomms.listening.topics import TopicMatcher
from crisiscomms.models import Post, ScoredPost
from crisiscomms.models.posts import hour_key, minute_key
from crisiscomms.scoring.engines import LexiconScorer
from crisiscomms.watch import Topic, parse_watch_config
from crisiscomms_local import moto_transactions
from crisiscomms_local.apigw import rest_event
from tests.unit.fakes import StoresEach

NOW = datetime(2026, 11, 28, 9, 20, tzinfo=timezone.utc)


def _hour(hour: str, source: str = "social", **counters: int) -> dict[str, Any]:
    return {"topic": "harbor", "minute_key": f"hour#{hour}#{source}", "hour": hour, "source_type": source, **counters}


# --- the figures ----------------------------------------------------------------------------------

ITEMS = [
    _hour("2026-11-28T01", posts=4, negative=3, **{"p_weibo": 3, "p_x": 1, "r_CN-GD": 3, "rn_CN-GD": 2,
                                                   "r_HK": 1, "rn_HK": 1}),
    _hour("2026-11-28T01", "news", posts=1, negative=0, **{"p_news": 1, "r_unknown": 1, "rn_unknown": 0}),
    _hour("2026-11-28T09", posts=5, negative=1, **{"p_weibo": 5, "r_CN-GD": 1, "rn_CN-GD": 0, "r_CN-BJ": 4,
                                                   "rn_CN-BJ": 1}),
]


def test_figures_by_place_hour_and_platform_add_up() -> None:
    figures = distribution(ITEMS, ZoneInfo("UTC"))
    assert (figures["total"], figures["negative"]) == (10, 4)
    assert [(r["region"] or r["country"] or r["label"], r["posts"], r["negative"], r["share"])
            for r in figures["by_region"]] == [("CN-BJ", 4, 1, 0.4), ("CN-GD", 4, 2, 0.4), ("HK", 1, 1, 0.1),
                                               ("unknown", 1, 0, 0.1)]  # most posts first; a tie by code
    assert figures["by_region"][1]["label"] == "广东 Guangdong" and figures["by_region"][2]["country"] == "HK"
    assert figures["by_region"][3] == {"country": None, "region": None, "label": "unknown", "posts": 1,
                                       "negative": 0, "share": 0.1}
    assert figures["by_platform"] == {"news": 1, "weibo": 8, "x": 1}
    hours = figures["by_hour_of_day"]
    assert [h["hour"] for h in hours] == list(range(24))
    assert (hours[1]["posts"], hours[1]["negative"], hours[9]["posts"], hours[9]["negative"]) == (5, 3, 5, 1)
    assert sum(h["posts"] for h in hours) == figures["total"]


@pytest.mark.parametrize(("zone", "first", "second"), [
    ("UTC", 1, 9),
    ("Asia/Shanghai", 9, 17),       # UTC+8
    ("America/New_York", 20, 4),    # UTC-5 in November: 01:00 UTC is 20:00 the evening before
    ("Asia/Kolkata", 6, 14),        # UTC+5:30: a UTC hour counts in the local hour it starts in
])
def test_hours_of_day_follow_the_requested_zone(zone: str, first: int, second: int) -> None:
    hours = distribution(ITEMS, ZoneInfo(zone))["by_hour_of_day"]
    assert {h["hour"]: h["posts"] for h in hours if h["posts"]} == {first: 5, second: 5}


def test_no_figures_is_an_empty_answer_not_an_error() -> None:
    figures = distribution([], ZoneInfo("Asia/Shanghai"))
    assert figures["total"] == 0 and figures["by_region"] == [] and len(figures["by_hour_of_day"]) == 24


# --- the request's range and zone ------------------------------------------------------------------

def test_the_range_is_whole_utc_hours_with_defaults() -> None:
    assert hour_range("2026-11-28T09:30:00+08:00", "2026-11-28T10:00:00Z", NOW) == (
        datetime(2026, 11, 28, 1, tzinfo=timezone.utc), datetime(2026, 11, 28, 10, tzinfo=timezone.utc))
    assert hour_range(None, None, NOW) == (datetime(2026, 11, 27, 9, tzinfo=timezone.utc),
                                          datetime(2026, 11, 28, 10, tzinfo=timezone.utc))
    first, last = hour_range("2026-08-28T00:00:00Z", "2026-11-28T00:00:00Z", NOW)  # 92 days: the most
    assert last - first == timedelta(days=92)


@pytest.mark.parametrize(("start", "end", "field"), [
    ("yesterday", None, "from"),
    ("2026-11-28T09:00:00", None, "from"),                 # no offset
    ("2026-11-28", None, "from"),
    ("2026-11-28T09:00:00Z", "2026-11-28T09:00:00Z", "from"),
    ("2026-11-28T10:00:00Z", "2026-11-28T09:00:00Z", "from"),
    ("2026-08-27T23:59:59Z", "2026-11-28T00:00:00Z", "to"),  # a second over 92 days
    (None, "0001-01-01T00:30:00Z", "to"),
    (None, "9999-12-31T23:30:00Z", "to"),
    ("0001-01-01T00:00:00+01:00", None, "from"),
    (None, "２０２６-11-28T09:00:00Z", "to"),
    ("2026-11-28T09:00:00.000000000000000000000000000000000000000000000Z", None, "from"),
])
def test_a_bad_range_is_refused_naming_the_field(start: str | None, end: str | None, field: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        hour_range(start, end, NOW)
    assert refused.value.details[0]["field"] == field


def test_rfc3339_forms_are_read_and_an_unencoded_plus_is_forgiven() -> None:
    expected = datetime(2026, 11, 28, 1, tzinfo=timezone.utc)
    for text in ("2026-11-28T09:00:00+08:00", "2026-11-28T09:00:00 08:00", "2026-11-28t01:00:00z",
                 "2026-11-28T01:00:00.000Z"):
        assert instant("from", text) == expected, text


@pytest.mark.parametrize("name", ["Mars/Olympus", "../../etc/passwd", "/etc/localtime", "America", "", "a" * 65,
                                  "Asia/Shanghai\x00", "leapseconds", "Asia Shanghai"])
def test_a_zone_is_an_iana_name_or_refused(name: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        zone_named(name)
    assert refused.value.details[0]["field"] == "tz"


def test_the_default_zone_is_the_desks() -> None:
    assert zone_named(None)[0] == "Asia/Shanghai" and zone_named("Europe/London")[0] == "Europe/London"


# --- the route --------------------------------------------------------------------------------------

class _Hours:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.calls: list[tuple[str, str, str]] = []

    def __call__(self, topic: str, start: str, end: str) -> list[dict[str, Any]]:
        self.calls.append((topic, start, end))
        return [i for i in self.items if start <= i["hour"] < end]


def _no_desk() -> Any:
    raise AssertionError("only the figures are read")


def _call(query: str = "", *, groups: list[str] | None = None, path: str = "/topics/harbor/distribution",
          hours: _Hours | None = None) -> tuple[int, dict[str, Any], _Hours]:
    hours = hours or _Hours(ITEMS)
    services = ApiServices(desk=_no_desk, alerts=_no_desk, verify_audit=_no_desk,
                           distribution=lambda: TopicDistribution(hours, clock=lambda: NOW))
    event = rest_event("GET", path, query=query, user="zhou", groups=["oncall"] if groups is None else groups)
    result = handle(event, None, services)
    return result["statusCode"], json.loads(result["body"]), hours


@pytest.mark.parametrize("role", FIGURE_READERS)
def test_every_desk_role_reads_the_figures(role: str) -> None:
    status, body, hours = _call("from=2026-11-28T00:00:00Z&to=2026-11-28T12:00:00Z&tz=Asia/Shanghai", groups=[role])
    assert status == 200, body
    assert hours.calls == [("harbor", "2026-11-28T00", "2026-11-28T12")]
    assert (body["topic"], body["from"], body["to"], body["tz"]) == (
        "harbor", "2026-11-28T00:00:00Z", "2026-11-28T12:00:00Z", "Asia/Shanghai")
    assert body["total"] == 10 and body["by_hour_of_day"][9]["posts"] == 5 and body["by_hour_of_day"][17]["posts"] == 5


def test_a_caller_without_a_desk_group_is_refused_before_anything_is_read() -> None:
    status, _, hours = _call(groups=["someone-else"])
    assert status == 403 and hours.calls == []


@pytest.mark.parametrize(("query", "field"), [
    ("from=last+week", "from"),
    ("to=2026-13-01T00:00:00Z", "to"),
    ("tz=Mars/Olympus", "tz"),
    ("tz=", "tz"),
    ("from=2026-01-01T00:00:00Z&to=2026-06-01T00:00:00Z", "to"),
    ("from=2026-11-28T12:00:00Z&to=2026-11-28T00:00:00Z", "from"),
])
def test_bad_parameters_are_a_400_naming_the_field_and_nothing_is_read(query: str, field: str) -> None:
    status, body, hours = _call(query)
    assert status == 400, body
    assert body["details"] == [{"field": field, "reason": body["details"][0]["reason"]}] and field in body["error"]
    assert hours.calls == []


def test_a_malformed_topic_is_a_422_naming_it() -> None:
    status, body, hours = _call(path="/topics/Not%20A%20Topic/distribution")
    assert status == 422 and body["details"][0]["field"].endswith("topic") and hours.calls == []


def test_an_api_built_without_the_figures_says_it_is_misconfigured() -> None:
    services = ApiServices(desk=_no_desk, alerts=_no_desk, verify_audit=_no_desk)
    result = handle(rest_event("GET", "/topics/harbor/distribution", user="zhou", groups=["auditor"]), None, services)
    assert result["statusCode"] == 500 and "misconfigured" in result["body"]


# --- on the way in: the place of each post ----------------------------------------------------------

class _Store(StoresEach):
    def __init__(self) -> None:
        self.stored: list[ScoredPost] = []

    def known(self, keys: list[str]) -> set[str]:
        return set(keys) & {s.post.key for s in self.stored}

    def store(self, scored: ScoredPost) -> Any:
        from crisiscomms.aws.post_store import StoreOutcome

        self.stored.append(scored)
        return StoreOutcome.STORED



def _post(native_id: str, *, platform: str = "weibo", location: str | None = None, country: str | None = None,
          source_type: str = "social") -> Post:
    return Post(platform=platform, native_id=native_id, source_type=source_type, source_id="s", url="u", author="a",
                text="港湾银行 网点排队", published_at=NOW, location=location, location_country=country)


def test_the_ingestor_keeps_the_posts_place_and_falls_back_to_the_sources_region() -> None:
    store = _Store()
    ingestor = Ingestor(TopicMatcher([Topic(id="harbor", names=["港湾银行"])]), LexiconScorer(), store,  # type: ignore[arg-type]
                        lambda: NOW)
    ingestor.ingest([_post("1", location="廣東 深圳"), _post("2", location="其他"),
                     _post("3", platform="x", location="Hong Kong", country="HK")], RunReport())
    ingestor.ingest([_post("4", platform="news", source_type="news"),
                     _post("5", platform="news", source_type="news", location="海外 美国")], RunReport(), region="CN-BJ")
    assert [(s.country, s.region) for s in store.stored] == [
        ("CN", "CN-GD"), (None, None), ("HK", None), ("CN", "CN-BJ"), ("US", None)]


def test_a_feeds_region_is_checked_against_the_place_table() -> None:
    feed = {"name": "gd-daily", "url": "https://news.example/rss", "region": "CN-GD"}
    config = parse_watch_config({"version": 1, "topics": [{"id": "harbor", "names": ["Harbor"]}], "feeds": [feed]})
    assert config.feeds[0].region == "CN-GD"
    with pytest.raises(ConfigurationError, match=r"feeds\.0\.region.*unknown region 'Guangdong'"):
        parse_watch_config({"version": 1, "topics": [{"id": "harbor", "names": ["Harbor"]}],
                            "feeds": [{**feed, "region": "Guangdong"}]})


def test_x_places_bring_their_country_code_to_the_post() -> None:
    payload = {
        "data": [{"id": "1861234567890123458", "text": "Harbor Bank", "author_id": "9", "created_at": "2026-11-28T09:14:03.000Z",
                  "geo": {"place_id": "p1"}},
                 {"id": "1861234567890123459", "text": "Harbor Bank", "author_id": "9", "created_at": "2026-11-28T09:14:04.000Z",
                  "geo": {"place_id": "p2"}}],
        "includes": {"places": [
            {"id": "p1", "full_name": "Shenzhen, People's Republic of China", "country_code": "CN", "place_type": "city",
             "name": "Shenzhen"},
            {"id": "p2", "full_name": "Manhattan, NY", "country_code": 7}]},
    }
    first, second = parse_search_page(payload, source_id="x").posts
    assert (first.location, first.location_country) == ("Shenzhen, People's Republic of China", "CN")
    assert (second.location, second.location_country) == ("Manhattan, NY", None)  # a code that is no text is dropped


# --- what the store writes -----------------------------------------------------------------------------

def _scored(topics: tuple[str, ...], *, country: str | None = "CN", region: str | None = "CN-GD") -> ScoredPost:
    post = _post("42", location="广东 深圳")
    return ScoredPost(post=post, topics=topics, language="zh-Hans", sentiment=-0.5, sentiment_label="negative",
                      crisis_terms=(), crisis_categories=(), crisis_weight=0.0, is_crisis=True, risk=50,
                      ingested_at=NOW, country=country, region=region)


def _transaction(scored: ScoredPost) -> list[dict[str, Any]]:
    repo = PostRepository(PostTables("posts", "links", "aggregates"), clients=lambda service: None,  # type: ignore[arg-type]
                          retention_days=1)
    return repo._transaction(scored)


def test_one_transaction_adds_an_hour_item_per_topic_beside_the_minute_item() -> None:
    actions = _transaction(_scored(("harbor", "northgate")))
    assert len(actions) == 1 + 4 * 2  # per topic: link, minute, hour and arrivals (crisiscomms.aws.post_store)
    hours = [a["Update"] for a in actions if "Update" in a and a["Update"]["Key"]["minute_key"]["S"].startswith("hour#")]
    assert [h["Key"]["minute_key"]["S"] for h in hours] == ["hour#2026-11-28T09#social"] * 2
    update = hours[0]
    named = {update["ExpressionAttributeNames"][n]: update["ExpressionAttributeValues"][":" + n[1:]]
             for n in update["ExpressionAttributeNames"]}
    assert named["posts"] == {"N": "1"} and named["negative"] == {"N": "1"} and named["crisis_posts"] == {"N": "1"}
    assert named["p_weibo"] == {"N": "1"} and named["r_CN-GD"] == {"N": "1"} and named["rn_CN-GD"] == {"N": "1"}
    assert named["hour"] == {"S": "2026-11-28T09"} and named["source_type"] == {"S": "social"}
    # the shape local DynamoDB applies directly, as it does the minute item
    assert moto_transactions._parse_simple(update["UpdateExpression"]) is not None
    post = actions[0]["Put"]["Item"]
    assert post["country"] == {"S": "CN"} and post["region"] == {"S": "CN-GD"} and post["location"] == {"S": "广东 深圳"}


def test_a_post_without_a_place_counts_as_unknown() -> None:
    [_, _, _, update, _] = _transaction(_scored(("harbor",), country=None, region=None))
    names = set(update["Update"]["ExpressionAttributeNames"].values())
    assert {"r_unknown", "rn_unknown"} <= names and not any(n.startswith("r_CN") for n in names)
    assert "country" not in _transaction(_scored(("harbor",), country=None, region=None))[0]["Put"]["Item"]


def test_no_range_of_minute_keys_reaches_an_hour_item() -> None:
    """The Detector reads `minute_key BETWEEN <minute> AND <minute>`: minute keys start with a digit, hour
    keys with "h", which sorts after every digit, so the widest minute range ends before any hour key."""
    widest = (minute_key(datetime(1, 1, 1, tzinfo=timezone.utc)).zfill(16), "9999-12-31T23:59#social")
    earliest_hour = "hour#" + hour_key(datetime(1, 1, 1, tzinfo=timezone.utc)).zfill(13) + "#news"
    assert widest[0] < widest[1] < earliest_hour
    assert all(c < "h" for c in "0123456789")
