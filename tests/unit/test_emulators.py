"""The local X and news-feed emulators speak the platforms' documented wire formats.

The project's adapters are tested against these emulators, so the emulators themselves
are pinned down here over real HTTP on 127.0.0.1.
"""
from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Iterator

import httpx
import pytest

from crisiscomms.clock import SimulatedClock
from crisiscomms_local.emulators import Fault, NewsEmulator, XEmulator

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
SEARCH = "/2/tweets/search/recent"
AUTH = {"Authorization": "Bearer local-x-token"}
ATOM = "{http://www.w3.org/2005/Atom}"
TOO_MANY = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(T0)


@pytest.fixture
def x(clock: SimulatedClock) -> Iterator[XEmulator]:
    with XEmulator(clock, timeout_delay=0.3) as emulator:
        yield emulator
    assert emulator.errors == []


@pytest.fixture
def news(clock: SimulatedClock) -> Iterator[NewsEmulator]:
    with NewsEmulator(clock, items_per_feed=5, timeout_delay=0.3) as emulator:
        yield emulator
    assert emulator.errors == []


def search(x: XEmulator, timeout: float = 5.0, headers: dict[str, str] | None = None, **params: str) -> httpx.Response:
    return httpx.get(x.base_url + SEARCH, params=params, headers=AUTH if headers is None else headers, timeout=timeout)


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json().get("data", [])]


def epoch(when: datetime) -> str:
    return str(int(when.timestamp()))


# ---------------------------------------------------------------------------------------
# X: visibility, since_id, pagination
# ---------------------------------------------------------------------------------------


def test_only_posts_up_to_now_and_within_seven_days_are_searchable(x: XEmulator, clock: SimulatedClock) -> None:
    old = x.add_post(text="bank outage", author="a", created_at=T0 - timedelta(days=7, minutes=1))
    recent = x.add_post(text="bank outage", author="b", created_at=T0 - timedelta(days=6))
    future = x.add_post(text="bank outage", author="c", created_at=T0 + timedelta(minutes=5))

    assert ids(search(x, query="bank")) == [recent]
    clock.advance(timedelta(minutes=5))
    assert ids(search(x, query="bank")) == [future, recent]
    assert old not in ids(search(x, query="bank"))


def test_ids_grow_with_created_at_and_since_id_returns_only_newer(x: XEmulator) -> None:
    later = x.add_post(text="bank down", author="a", created_at=T0 - timedelta(minutes=1))
    earlier = x.add_post(text="bank down", author="a", created_at=T0 - timedelta(minutes=2))
    assert int(later) > int(earlier)

    assert ids(search(x, query="bank", since_id=earlier)) == [later]
    assert ids(search(x, query="bank", until_id=later)) == [earlier]
    assert search(x, query="bank", since_id=later).json() == {"meta": {"result_count": 0}}


def test_pagination_is_complete_and_stable_when_posts_arrive_between_pages(x: XEmulator, clock: SimulatedClock) -> None:
    scripted = {x.add_post(text=f"bank outage {i}", author=f"user{i % 4}", created_at=T0 - timedelta(minutes=30 - i))
                for i in range(25)}
    seen: list[str] = []
    first = search(x, query="bank", max_results="10")
    body = first.json()
    seen += ids(first)
    assert body["meta"]["result_count"] == 10
    assert body["meta"]["newest_id"] == seen[0] and body["meta"]["oldest_id"] == seen[-1]
    newest_before = body["meta"]["newest_id"]

    clock.advance(timedelta(seconds=30))
    arrived = x.add_post(text="bank outage breaking", author="late", created_at=clock())
    token = body["meta"]["next_token"]
    pages = 1
    while token:
        page = search(x, query="bank", max_results="10", next_token=token)
        seen += ids(page)
        token = page.json()["meta"].get("next_token")
        pages += 1

    assert pages == 3
    assert len(seen) == len(set(seen)) == 25
    assert set(seen) == scripted
    assert seen == sorted(seen, key=int, reverse=True)
    assert ids(search(x, query="bank", since_id=newest_before)) == [arrived]


def test_pagination_token_alias_and_invalid_tokens(x: XEmulator) -> None:
    for i in range(12):
        x.add_post(text="bank", author="a", created_at=T0 - timedelta(minutes=i + 1))
    token = search(x, query="bank").json()["meta"]["next_token"]
    assert len(ids(search(x, query="bank", pagination_token=token))) == 2

    for bad_query, bad_token in (("bank", "garbage!"), ("bank", token[:-2]), ("other", token)):
        response = search(x, query=bad_query, next_token=bad_token)
        assert response.status_code == 400
        body = response.json()
        assert body["title"] == "Invalid Request"
        assert body["errors"][0]["parameters"] == {"next_token": [bad_token]}


# ---------------------------------------------------------------------------------------
# X: fields and expansions
# ---------------------------------------------------------------------------------------


def test_default_fields_are_id_text_and_edit_history_only(x: XEmulator) -> None:
    tweet_id = x.add_post(text="bank", author="alice", created_at=T0, likes=3, lang="en")
    body = search(x, query="bank").json()
    assert body["data"] == [{"id": tweet_id, "text": "bank", "edit_history_tweet_ids": [tweet_id]}]
    assert "includes" not in body


def test_requested_fields_expansions_and_user_metrics(x: XEmulator) -> None:
    first = x.add_post(text="bank one", author="alice", created_at=T0 - timedelta(hours=2), followers=10)
    x.add_post(text="bank two", author="alice", created_at=T0 - timedelta(hours=1), followers=12,
               likes=5, reposts=2, replies=1, quotes=4, lang="en")
    x.add_post(text="unrelated", author="alice", created_at=T0 - timedelta(minutes=1), followers=12)
    body = search(x, query="bank", **{
        "tweet.fields": "created_at,public_metrics,lang",
        "expansions": "author_id",
        "user.fields": "public_metrics",
    }).json()

    newest = body["data"][0]
    assert newest["created_at"] == "2024-05-01T11:00:00.000Z"
    assert newest["lang"] == "en"
    assert newest["public_metrics"] == {"retweet_count": 2, "reply_count": 1, "like_count": 5,
                                        "quote_count": 4, "bookmark_count": 0, "impression_count": 0}
    assert "geo" not in newest
    assert body["data"][1]["id"] == first
    assert newest["author_id"] == body["data"][1]["author_id"]
    assert body["includes"]["users"] == [{
        "id": newest["author_id"], "name": "Alice", "username": "alice",
        "public_metrics": {"followers_count": 12, "following_count": 0, "tweet_count": 3, "listed_count": 0},
    }]


def test_location_becomes_place_id_and_expands_to_places(x: XEmulator) -> None:
    x.add_post(text="汇丰 网点关门", author="wang", created_at=T0, location="广东 深圳")
    plain = search(x, query="汇丰", **{"tweet.fields": "geo"}).json()
    place_id = plain["data"][0]["geo"]["place_id"]
    assert "includes" not in plain

    expanded = search(x, query="汇丰", expansions="geo.place_id").json()
    assert expanded["data"][0]["geo"] == {"place_id": place_id}
    assert expanded["includes"]["places"] == [{"id": place_id, "full_name": "广东 深圳"}]


@pytest.mark.parametrize("value", ["9", "101", "ten"])
def test_max_results_out_of_range_is_rejected(x: XEmulator, value: str) -> None:
    response = search(x, query="bank", max_results=value)
    assert response.status_code == 400
    body = response.json()
    assert (body["title"], body["status"]) == ("Invalid Request", 400)
    assert body["type"] == "https://api.twitter.com/2/problems/invalid-request"
    assert body["errors"] == [{"parameters": {"max_results": [value]},
                               "message": f"The `max_results` query parameter value [{value}] is not between 10 and 100"}]


@pytest.mark.parametrize("params", [{"query": "bank", "tweet.fields": "created_at,bogus"},
                                    {"query": "bank", "colour": "red"},
                                    {"max_results": "10"}])
def test_invalid_parameters_are_rejected(x: XEmulator, params: dict[str, str]) -> None:
    response = search(x, **params)
    assert response.status_code == 400
    assert response.json()["errors"]


def test_time_bounds_filter_and_are_validated(x: XEmulator) -> None:
    inside = x.add_post(text="bank", author="a", created_at=T0 - timedelta(hours=2))
    x.add_post(text="bank", author="a", created_at=T0 - timedelta(hours=4))
    window = {"start_time": "2024-05-01T09:00:00Z", "end_time": "2024-05-01T11:00:00Z"}
    assert ids(search(x, query="bank", **window)) == [inside]

    too_recent = search(x, query="bank", end_time="2024-05-01T11:59:55Z")
    assert too_recent.status_code == 400
    assert "10 seconds prior" in too_recent.json()["errors"][0]["message"]
    assert search(x, query="bank", start_time="2024-04-20T00:00:00Z").status_code == 400


# ---------------------------------------------------------------------------------------
# X: query language
# ---------------------------------------------------------------------------------------

POSTS = {
    "a": ("HSBC app is down again #outage", "alice", "en"),
    "b": ("Loving the new HSBC card design", "bob", "en"),
    "c": ("汇丰银行系统故障，无法转账", "carol", "zh"),
    "d": ("The app is down but HSBCnet works", "dave", "en"),
    "e": ("@HSBC_UK why is the app down?", "erin", "en"),
    "f": ("Banco HSBC fuera de servicio", "frank", "es"),
}


@pytest.mark.parametrize(("query", "expected"), [
    ("hsbc", "abf"),
    ("HSBC OR 汇丰", "abcf"),
    ('"is down"', "ad"),
    ("hsbc -card", "af"),
    ("系统故障", "c"),
    ("hsbc lang:es", "f"),
    ("#outage", "a"),
    ("@hsbc_uk", "e"),
    ("from:Alice", "a"),
    ("app down", "ade"),
    ("hsbc down OR 汇丰", "ac"),
    ("(hsbc OR app) -lang:en -is:retweet", "f"),
    ("hsbc is:retweet", ""),
])
def test_query_operators(x: XEmulator, query: str, expected: str) -> None:
    by_id = {x.add_post(text=text, author=author, lang=lang, created_at=T0 - timedelta(minutes=i + 1)): key
             for i, (key, (text, author, lang)) in enumerate(POSTS.items())}
    assert "".join(sorted(by_id[i] for i in ids(search(x, query=query)))) == expected


@pytest.mark.parametrize("query", ["has:media bank", "bank place:london", "-bank", "lang:en", "(bank", "bank OR"])
def test_unsupported_or_invalid_queries_are_400_problems(x: XEmulator, query: str) -> None:
    response = search(x, query=query)
    assert response.status_code == 400
    body = response.json()
    assert body["title"] == "Invalid Request"
    error = body["errors"][0]
    assert error["parameters"] == {"query": [query]}
    assert error["message"].startswith("There were errors processing your request")


# ---------------------------------------------------------------------------------------
# X: auth, rate limits, faults, malformed items
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "local-x-token"}])
def test_missing_or_wrong_bearer_token_is_401(x: XEmulator, headers: dict[str, str]) -> None:
    response = search(x, headers=headers, query="bank")
    assert response.status_code == 401
    assert response.json() == {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
    assert x.stats().unauthorized == 1


def test_rate_limit_headers_429_and_window_reset(clock: SimulatedClock) -> None:
    with XEmulator(clock, requests_per_window=3, window_seconds=60) as x:
        remaining = [search(x, query="bank").headers["x-rate-limit-remaining"] for _ in range(3)]
        assert remaining == ["2", "1", "0"]

        clock.advance(timedelta(seconds=20))
        limited = search(x, query="bank")
        assert limited.status_code == 429
        assert limited.json() == TOO_MANY
        assert limited.headers["x-rate-limit-limit"] == "3"
        assert limited.headers["x-rate-limit-remaining"] == "0"
        assert limited.headers["x-rate-limit-reset"] == epoch(T0 + timedelta(seconds=60))
        assert x.stats().rate_limited == 1 and x.stats().search_requests == 4

        clock.advance(timedelta(seconds=40))
        fresh = search(x, query="bank")
        assert fresh.status_code == 200
        assert fresh.headers["x-rate-limit-remaining"] == "2"
        assert fresh.headers["x-rate-limit-reset"] == epoch(T0 + timedelta(seconds=120))


def test_rate_limit_fault_window(x: XEmulator, clock: SimulatedClock) -> None:
    x.add_fault(Fault(T0, T0 + timedelta(minutes=5), "rate_limit", retry_after=120))
    limited = search(x, query="bank")
    assert limited.status_code == 429
    assert limited.json() == TOO_MANY
    assert limited.headers["x-rate-limit-remaining"] == "0"
    assert limited.headers["x-rate-limit-reset"] == epoch(T0 + timedelta(seconds=120))

    clock.advance(timedelta(minutes=5))
    assert search(x, query="bank").status_code == 200


def test_http_status_fault_is_a_problem_document(x: XEmulator, clock: SimulatedClock) -> None:
    x.add_fault(Fault(T0 + timedelta(minutes=1), T0 + timedelta(minutes=2), "http_status", status=503))
    assert search(x, query="bank").status_code == 200
    clock.advance(timedelta(minutes=1))
    failed = search(x, query="bank")
    assert failed.status_code == 503
    assert failed.json() == {"title": "Service Unavailable", "detail": "Service Unavailable",
                             "type": "about:blank", "status": 503}
    assert "x-rate-limit-remaining" in failed.headers


def test_timeout_fault_makes_short_timeout_clients_give_up(x: XEmulator, clock: SimulatedClock) -> None:
    x.add_post(text="bank", author="a", created_at=T0)
    x.add_fault(Fault(T0, T0 + timedelta(minutes=1), "timeout"))
    with pytest.raises(httpx.TimeoutException):
        search(x, timeout=0.1, query="bank")
    assert len(ids(search(x, timeout=2.0, query="bank"))) == 1  # patient clients get the answer
    clock.advance(timedelta(minutes=1))
    # After the fault, a 0.1 s client gets its answer: the timeout itself is the bound, no wall clock needed.
    assert len(ids(search(x, timeout=0.1, query="bank"))) == 1


def test_malformed_items_are_served_verbatim(x: XEmulator) -> None:
    good = x.add_post(text="bank", author="a", created_at=T0 - timedelta(minutes=3))
    x.add_malformed(created_at=T0 - timedelta(minutes=2), raw={"id": "1", "created_at": "not a date"})
    x.add_malformed(created_at=T0 - timedelta(minutes=1), raw={"id": "2", "author_id": "9"})
    body = search(x, query="bank", **{"tweet.fields": "created_at"}).json()
    assert body["data"][:2] == [{"id": "2", "author_id": "9"}, {"id": "1", "created_at": "not a date"}]
    assert body["data"][2]["id"] == good and body["meta"]["result_count"] == 3


def test_requests_are_logged(x: XEmulator) -> None:
    search(x, query="bank", max_results="10")
    httpx.get(x.base_url + "/2/users/me", headers=AUTH)
    first, second = x.requests_log
    assert (first.method, first.path, first.query, first.status) == ("GET", SEARCH, {"query": "bank", "max_results": "10"}, 200)
    assert first.headers["authorization"] == "Bearer local-x-token"
    assert first.at == T0
    assert (second.path, second.status) == ("/2/users/me", 404)


# ---------------------------------------------------------------------------------------
# News feeds
# ---------------------------------------------------------------------------------------


def test_rss_is_well_formed_rss_2(news: NewsEmulator, clock: SimulatedClock) -> None:
    guid = news.add_item("reuters", title="Bank <outage> & delays", summary="Customers <b>cannot</b> pay",
                         published_at=T0 - timedelta(hours=1))
    news.add_item("reuters", title="Older", summary="s", published_at=T0 - timedelta(hours=2), lang="fr")
    news.add_item("reuters", title="Future", summary="s", published_at=T0 + timedelta(hours=1))

    response = httpx.get(news.url_for("reuters"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/rss+xml")
    root = ET.fromstring(response.content)
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel is not None
    for tag in ("title", "link", "description", "language", "lastBuildDate"):
        assert channel.findtext(tag), tag
    assert parsedate_to_datetime(channel.findtext("lastBuildDate", "")) == T0 - timedelta(hours=1)
    items = channel.findall("item")
    assert [i.findtext("title") for i in items] == ["Bank <outage> & delays", "Older"]
    first = items[0]
    assert first.findtext("description") == "Customers <b>cannot</b> pay"
    assert first.findtext("link") == "https://news.example/reuters/1"
    assert first.find("guid").get("isPermaLink") == "false"  # type: ignore[union-attr]
    assert first.findtext("guid") == guid
    assert parsedate_to_datetime(first.findtext("pubDate", "")) == T0 - timedelta(hours=1)


def test_atom_is_well_formed_atom_1(news: NewsEmulator) -> None:
    guid = news.add_item("bbc", title="Bank & outage", summary="Summary", published_at=T0 - timedelta(minutes=5),
                         link="https://bbc.example/a", guid="urn:bbc:1")
    response = httpx.get(news.url_for("bbc", "atom"))
    assert response.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)
    assert root.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated"):
        assert root.findtext(f"{ATOM}{tag}"), tag
    (entry,) = root.findall(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}id") == guid == "urn:bbc:1"
    assert entry.findtext(f"{ATOM}title") == "Bank & outage"
    assert entry.find(f"{ATOM}link").get("href") == "https://bbc.example/a"  # type: ignore[union-attr]
    assert entry.findtext(f"{ATOM}summary") == "Summary"
    for tag in ("published", "updated"):
        assert datetime.fromisoformat(entry.findtext(f"{ATOM}{tag}", "")) == T0 - timedelta(minutes=5)


def test_feeds_show_newest_visible_items_up_to_the_limit(news: NewsEmulator, clock: SimulatedClock) -> None:
    for i in range(8):
        news.add_item("ap", title=f"story {i}", summary="s", published_at=T0 - timedelta(minutes=10 - i))
    news.add_item("ap", title="not yet", summary="s", published_at=T0 + timedelta(minutes=1))
    for fmt, path in (("rss", "channel/item/title"), ("atom", f"{ATOM}entry/{ATOM}title")):
        root = ET.fromstring(httpx.get(news.url_for("ap", fmt)).content)
        assert [t.text for t in root.findall(path)] == [f"story {i}" for i in (7, 6, 5, 4, 3)]
    clock.advance(timedelta(minutes=1))
    root = ET.fromstring(httpx.get(news.url_for("ap")).content)
    assert [t.text for t in root.findall("channel/item/title")][:2] == ["not yet", "story 7"]


def test_conditional_get_returns_304_until_the_feed_changes(news: NewsEmulator, clock: SimulatedClock) -> None:
    news.add_item("ft", title="one", summary="s", published_at=T0 - timedelta(minutes=10))
    news.add_item("ft", title="two", summary="s", published_at=T0 + timedelta(minutes=1))
    first = httpx.get(news.url_for("ft"))
    etag, last_modified = first.headers["etag"], first.headers["last-modified"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert parsedate_to_datetime(last_modified) == T0 - timedelta(minutes=10)

    cached = httpx.get(news.url_for("ft"), headers={"If-None-Match": etag})
    assert (cached.status_code, cached.content) == (304, b"")
    assert cached.headers["etag"] == etag
    assert httpx.get(news.url_for("ft"), headers={"If-Modified-Since": last_modified}).status_code == 304
    older = "Wed, 01 May 2024 11:49:59 GMT"
    assert httpx.get(news.url_for("ft"), headers={"If-Modified-Since": older}).status_code == 200

    clock.advance(timedelta(minutes=1))
    changed = httpx.get(news.url_for("ft"), headers={"If-None-Match": etag, "If-Modified-Since": last_modified})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert parsedate_to_datetime(changed.headers["last-modified"]) == T0 + timedelta(minutes=1)


def test_unknown_feed_is_404(news: NewsEmulator) -> None:
    news.add_feed("empty")
    assert httpx.get(news.url_for("nope")).status_code == 404
    assert httpx.get(news.base_url + "/rss/").status_code == 404
    empty = httpx.get(news.url_for("empty", "atom"))
    assert empty.status_code == 200 and ET.fromstring(empty.content).findall(f"{ATOM}entry") == []


def test_feed_faults_hit_only_their_target(news: NewsEmulator, clock: SimulatedClock) -> None:
    for feed in ("a", "b", "c"):
        news.add_item(feed, title="t", summary="s", published_at=T0)
    news.add_fault(Fault(T0, T0 + timedelta(minutes=2), "http_status", status=503, target="a"))
    news.add_fault(Fault(T0, T0 + timedelta(minutes=2), "rate_limit", target="b"))
    assert httpx.get(news.url_for("a")).status_code == 503
    limited = httpx.get(news.url_for("b", "atom"))
    assert limited.status_code == 429 and limited.headers["retry-after"] == "120"
    assert httpx.get(news.url_for("c")).status_code == 200
    clock.advance(timedelta(minutes=2))
    assert [httpx.get(news.url_for(f)).status_code for f in "abc"] == [200, 200, 200]


def test_timeout_fault_does_not_block_other_feeds(news: NewsEmulator) -> None:
    news.add_item("slow", title="t", summary="s", published_at=T0)
    news.add_item("fast", title="t", summary="s", published_at=T0)
    news.add_fault(Fault(T0, T0 + timedelta(minutes=1), "timeout", target="slow"))
    slow_status: list[int] = []
    waiter = threading.Thread(target=lambda: slow_status.append(httpx.get(news.url_for("slow"), timeout=5).status_code))
    waiter.start()
    with pytest.raises(httpx.TimeoutException):  # the slow feed stalls (and the waiter with it) ...
        httpx.get(news.url_for("slow"), timeout=0.1)
    assert httpx.get(news.url_for("fast"), timeout=0.25).status_code == 200  # ... while the fast one answers
    waiter.join(timeout=2)
    assert slow_status == [200]


def test_stop_does_not_wait_for_sleeping_handlers(clock: SimulatedClock) -> None:
    news = NewsEmulator(clock, timeout_delay=30)
    news.add_item("slow", title="t", summary="s", published_at=T0)
    news.add_fault(Fault(T0, T0 + timedelta(minutes=1), "timeout"))
    news.start()
    with pytest.raises(httpx.TimeoutException):
        httpx.get(news.url_for("slow"), timeout=0.1)
    started = time.monotonic()
    news.stop()
    assert time.monotonic() - started < 1.0
    assert [(r.status, r.fault) for r in news.requests_log] == [(None, "timeout")]


def test_malformed_feed_items_are_inserted_verbatim(news: NewsEmulator) -> None:
    news.add_item("wire", title="good", summary="s", published_at=T0 - timedelta(minutes=2))
    news.add_malformed("wire", published_at=T0 - timedelta(minutes=1),
                       xml_fragment="<item><description>no title or guid</description><pubDate>yesterday</pubDate></item>")
    news.add_malformed("wire", published_at=T0, fmt="atom",
                       xml_fragment="<entry><title>no id</title><updated>soon</updated></entry>")
    channel = ET.fromstring(httpx.get(news.url_for("wire")).content).find("channel")
    assert channel is not None
    items = channel.findall("item")
    assert [(i.findtext("title"), i.findtext("pubDate")) for i in items] == [(None, "yesterday"), ("good", items[1].findtext("pubDate"))]
    assert channel.find("entry") is None  # the atom-only fragment stays out of RSS
    entries = ET.fromstring(httpx.get(news.url_for("wire", "atom")).content).findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}id") for e in entries] == [None, "tag:news.example,2010:wire/1"]
