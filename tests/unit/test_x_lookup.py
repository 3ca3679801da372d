"""X posts lookup (GET /2/tweets): the adapter against the X emulator over HTTP on 127.0.0.1, and its parser."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from crisiscomms.adapters.http import make_client
from crisiscomms.adapters.sources.x_search import XSearchClient, parse_lookup
from crisiscomms.clock import SimulatedClock
from crisiscomms.errors import PermanentPlatformError, RateLimited, TransientPlatformError
from crisiscomms_local.emulators import Fault, XEmulator

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
TOKEN = "local-x-token"
RUMOUR = "BREAKING: Harbor Bank is insolvent. Get your money out while you still can."


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(T0)


@pytest.fixture
def x(clock: SimulatedClock) -> Iterator[XEmulator]:
    with XEmulator(clock, timeout_delay=0.5, requests_per_window=3, window_seconds=900) as emulator:
        yield emulator
    assert emulator.errors == []


def _client(x: XEmulator, clock: SimulatedClock, *, token: str = TOKEN, timeout: float = 5.0) -> XSearchClient:
    return XSearchClient(make_client(x.base_url, timeout_seconds=timeout), bearer_token=token, clock=clock)


def test_the_request_is_one_get_with_the_documented_parameters(x: XEmulator, clock: SimulatedClock) -> None:
    ids = [x.add_post(text=f"Harbor Bank {n}", author=f"user{n}", created_at=T0 - timedelta(minutes=n)) for n in range(3)]
    _client(x, clock).lookup(ids, source_id="x-main")
    [request] = x.requests_log
    assert (request.method, request.path, request.status) == ("GET", "/2/tweets", 200)
    assert request.query == {"ids": ",".join(ids), "tweet.fields": "public_metrics,created_at",
                             "expansions": "author_id", "user.fields": "public_metrics"}
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert x.stats().lookup_requests == 1 and x.stats().search_requests == 0


def test_metrics_and_followers_are_read_as_they_are_now(x: XEmulator, clock: SimulatedClock) -> None:
    tweet = x.add_post(text=RUMOUR, author="macro_insider", followers=2_000_000, created_at=T0 - timedelta(minutes=2),
                       reposts=5, likes=1)
    x.set_metrics(tweet, at=T0 + timedelta(minutes=20), reposts=5_000, likes=900, replies=40)
    client = _client(x, clock)
    [post] = client.lookup([tweet], source_id="x-main").posts
    assert (post.key, post.reposts, post.likes, post.followers) == (f"x#{tweet}", 5, 1, 2_000_000)
    assert post.published_at == T0 - timedelta(minutes=2) and post.text == RUMOUR
    assert post.url == f"https://x.com/macro_insider/status/{tweet}"
    clock.advance(timedelta(minutes=20))
    [post] = client.lookup([tweet], source_id="x-main").posts
    assert (post.reposts, post.likes, post.replies, post.engagement) == (5_000, 900, 40, 5_940)


def test_deleted_and_unknown_posts_are_named_in_errors_inside_a_200(x: XEmulator, clock: SimulatedClock) -> None:
    kept = x.add_post(text="Harbor Bank", author="a", created_at=T0 - timedelta(minutes=3))
    deleted = x.add_post(text="Harbor Bank gone", author="b", created_at=T0 - timedelta(minutes=2))
    x.delete_post(deleted, at=T0 + timedelta(minutes=1))
    unknown = "1861234567890123458"
    client = _client(x, clock)
    found = client.lookup([kept, deleted, unknown], source_id="x-main")
    assert [p.native_id for p in found.posts] == [kept, deleted] and found.missing == {unknown}

    clock.advance(timedelta(minutes=1))
    found = client.lookup([kept, deleted, unknown], source_id="x-main")
    assert [p.native_id for p in found.posts] == [kept] and found.missing == {deleted, unknown}
    body = httpx.get(x.base_url + "/2/tweets", params={"ids": deleted}, headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert "data" not in body and "meta" not in body
    assert body["errors"] == [{"value": deleted, "detail": f"Could not find tweet with ids: [{deleted}].",
                               "title": "Not Found Error", "resource_type": "tweet", "parameter": "ids",
                               "resource_id": deleted, "type": "https://api.twitter.com/2/problems/resource-not-found"}]
    assert not any(t["id"] == deleted for t in httpx.get(
        x.base_url + "/2/tweets/search/recent", params={"query": "Harbor"},
        headers={"Authorization": f"Bearer {TOKEN}"}).json().get("data", [])), "search no longer finds it either"


def test_a_timeout_is_transient_and_the_client_never_waits_longer(x: XEmulator, clock: SimulatedClock) -> None:
    tweet = x.add_post(text="Harbor Bank", author="a", created_at=T0 - timedelta(minutes=1))
    x.add_fault(Fault(T0, T0 + timedelta(minutes=1), "timeout", target="lookup"))
    with pytest.raises(TransientPlatformError) as caught:
        _client(x, clock, timeout=0.1).lookup([tweet], source_id="x-main")
    assert caught.value.code == "timeout"
    clock.advance(timedelta(minutes=1))
    assert len(_client(x, clock, timeout=0.1).lookup([tweet], source_id="x-main").posts) == 1


def test_rate_limits_are_the_lookup_endpoint_own_and_read_from_x_headers(x: XEmulator, clock: SimulatedClock) -> None:
    tweet = x.add_post(text="Harbor Bank", author="a", created_at=T0 - timedelta(minutes=1))
    client = _client(x, clock)
    for _ in range(3):
        client.lookup([tweet], source_id="x-main")
    with pytest.raises(RateLimited) as caught:
        client.lookup([tweet], source_id="x-main")
    assert caught.value.resume_at == T0 + timedelta(minutes=15)
    assert client.search("Harbor", source_id="x-main").posts, "recent search has its own window"


def test_refused_requests_are_permanent_and_more_than_a_hundred_ids_is_never_sent(x: XEmulator,
                                                                                clock: SimulatedClock) -> None:
    with pytest.raises(PermanentPlatformError) as caught:
        _client(x, clock, token="wrong").lookup(["1"], source_id="x-main")
    assert caught.value.status == 401
    with pytest.raises(ValueError):
        _client(x, clock).lookup([str(n) for n in range(1, 102)], source_id="x-main")
    answer = httpx.get(x.base_url + "/2/tweets", params={"ids": ",".join(str(n) for n in range(1, 102))},
                       headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 400 and "[101] is not between 1 and 100" in answer.text
    assert len(x.requests_log) == 2


def test_the_parser_reads_protected_posts_as_missing_and_skips_unreadable_ones() -> None:
    payload = {
        "data": [{"id": "20", "text": "Harbor Bank", "created_at": "2026-11-28T08:58:00.000Z", "author_id": "7",
                  "public_metrics": {"retweet_count": 3, "reply_count": 0, "like_count": 2, "quote_count": 0}},
                 {"id": "21", "created_at": "2026-11-28T08:58:00.000Z"}],
        "includes": {"users": [{"id": "7", "username": "mary", "public_metrics": {"followers_count": 150000}}]},
        "errors": [{"value": "22", "detail": "Sorry, you are not authorized to see the Tweet with ids: [22].",
                    "title": "Authorization Error", "resource_type": "tweet", "parameter": "ids", "resource_id": "22",
                    "type": "https://api.twitter.com/2/problems/not-authorized-for-resource"},
                   {"value": "mary", "resource_type": "user", "parameter": "username", "title": "Not Found Error"}],
    }
    found = parse_lookup(payload, source_id="x-main")
    [post] = found.posts
    assert (post.native_id, post.followers, post.engagement, post.author) == ("20", 150_000, 5, "mary")
    assert found.missing == {"22"}, "a user error names no post"
    assert len(found.malformed) == 1 and "21" in found.malformed[0]
