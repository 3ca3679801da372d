"""The X recent-search parser and client, against payloads and answers shaped as X documents them."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import httpx
import pytest

from crisiscomms.adapters.sources.x_search import XSearchClient, parse_search_page
from crisiscomms.errors import InvalidCursor, PermanentPlatformError, RateLimited, TransientPlatformError

from ..conftest import ROOT

PAYLOAD = json.loads((ROOT / "tests/data/payloads/x_search_recent.json").read_text(encoding="utf-8"))
NOW = datetime(2026, 11, 28, 9, 15, tzinfo=timezone.utc)


def test_page_becomes_posts_with_author_reach_and_url() -> None:
    page = parse_search_page(PAYLOAD, source_id="x-test")
    first = page.posts[0]
    assert first.key == "x#1861234567890123458"
    assert first.author == "markets_mary" and first.followers == 88000
    assert first.url == "https://x.com/markets_mary/status/1861234567890123458"
    assert (first.likes, first.reposts, first.replies, first.quotes) == (410, 120, 33, 7)
    assert first.location == "Manhattan, NY"
    assert first.published_at == datetime(2026, 11, 28, 9, 14, 3, tzinfo=timezone.utc)
    assert page.posts[1].lang_hint == "zh" and page.posts[1].followers == 5400
    assert page.newest_id == "1861234567890123458"
    assert page.next_token == PAYLOAD["meta"]["next_token"]


def test_malformed_tweets_are_skipped_and_described() -> None:
    page = parse_search_page(PAYLOAD, source_id="x-test")
    assert len(page.posts) == 2
    assert len(page.malformed) == 2
    assert "1861234567890123456" in page.malformed[0] and "text" in page.malformed[0]
    assert "1861234567890123455" in page.malformed[1]


def test_empty_result_is_an_empty_page() -> None:
    page = parse_search_page({"meta": {"result_count": 0}}, source_id="x-test")
    assert page.posts == [] and page.next_token is None and page.newest_id is None


def test_tweet_without_user_expansion_still_has_a_working_url() -> None:
    payload = {"data": [dict(PAYLOAD["data"][0])], "meta": {}}
    post = parse_search_page(payload, source_id="x-test").posts[0]
    assert post.url == "https://x.com/i/web/status/1861234567890123458"
    assert post.followers == 0


def _client(handler) -> XSearchClient:
    http = httpx.Client(base_url="https://api.x.test", transport=httpx.MockTransport(handler))
    return XSearchClient(http, bearer_token="t0ken", clock=lambda: NOW)


def test_request_carries_the_documented_parameters_and_bearer_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"meta": {"result_count": 0}},
                              headers={"x-rate-limit-remaining": "449", "x-rate-limit-reset": "1795864500"})

    page = _client(handler).search("(a OR b) -is:retweet", source_id="s", since_id="123", next_token="tok")
    params = seen[0].url.params
    assert seen[0].url.path == "/2/tweets/search/recent"
    assert seen[0].headers["authorization"] == "Bearer t0ken"
    assert params["query"] == "(a OR b) -is:retweet" and params["since_id"] == "123" and params["next_token"] == "tok"
    assert params["max_results"] == "100"
    assert set(params["tweet.fields"].split(",")) == {"created_at", "public_metrics", "lang", "geo", "author_id",
                                                    "in_reply_to_user_id", "entities"}
    assert params["expansions"] == "author_id,geo.place_id,in_reply_to_user_id" and params["user.fields"] == "username,public_metrics"
    assert set(params["place.fields"].split(",")) == {"full_name", "country_code", "place_type", "name"}
    assert page.rate_limit_remaining == 449
    assert page.rate_limit_reset == datetime.fromtimestamp(1795864500, tz=timezone.utc)


def test_first_poll_uses_start_time_not_since_id() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"meta": {"result_count": 0}})

    _client(handler).search("q", source_id="s", start_time=datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc))
    assert seen[0].url.params["start_time"] == "2026-11-28T09:00:00Z"
    assert "since_id" not in seen[0].url.params


def test_429_becomes_rate_limited_until_the_reset_header() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429},
                              headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": "1795864800"})

    with pytest.raises(RateLimited) as caught:
        _client(handler).search("q", source_id="s")
    assert caught.value.resume_at == datetime.fromtimestamp(1795864800, tz=timezone.utc)


def test_429_without_headers_pauses_a_minute() -> None:
    with pytest.raises(RateLimited) as caught:
        _client(lambda r: httpx.Response(429, json={"errors": [{"code": 88, "message": "Rate limit exceeded"}]})).search("q", source_id="s")
    assert (caught.value.resume_at - NOW).total_seconds() == 60
    assert "code 88" in str(caught.value)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_transient(status: int) -> None:
    body = {"title": "Service Unavailable", "detail": "Service Unavailable", "type": "about:blank", "status": status}
    with pytest.raises(TransientPlatformError, match=str(status)):
        _client(lambda r: httpx.Response(status, json=body)).search("q", source_id="s")


def test_timeout_is_transient() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(TransientPlatformError, match="timed out"):
        _client(handler).search("q", source_id="s")


def test_problem_json_400_is_permanent_and_reported() -> None:
    body = {"errors": [{"parameters": {"query": ["bad"]}, "message": "There were errors processing your request"}],
            "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request"}
    with pytest.raises(PermanentPlatformError, match="Invalid Request: One or more parameters") as caught:
        _client(lambda r: httpx.Response(400, json=body)).search("q", source_id="s")
    assert not isinstance(caught.value, InvalidCursor)


def test_rejected_pagination_token_is_an_invalid_cursor() -> None:
    body = {"errors": [{"parameters": {"next_token": ["zzz"]}, "message": "The `next_token` query parameter value [zzz] is not valid"}],
            "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request"}
    with pytest.raises(InvalidCursor):
        _client(lambda r: httpx.Response(400, json=body)).search("q", source_id="s", next_token="zzz")


def test_unauthorized_is_permanent() -> None:
    body = {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
    with pytest.raises(PermanentPlatformError, match="401"):
        _client(lambda r: httpx.Response(401, json=body)).search("q", source_id="s")


def test_200_with_garbage_body_is_transient_not_a_crash() -> None:
    with pytest.raises(TransientPlatformError):
        _client(lambda r: httpx.Response(200, text="<html>maintenance</html>")).search("q", source_id="s")


def _reply_payload(**tweet: object) -> dict:
    base = {"id": "1861234567890123999", "text": "my card was blocked", "author_id": "11", "created_at": "2026-11-28T09:00:00Z"}
    return {"data": [{**base, **tweet}],
            "includes": {"users": [{"id": "11", "username": "li"}, {"id": "77", "username": "HarborBank"}]},
            "meta": {"result_count": 1}}


@pytest.mark.parametrize(("tweet", "handle", "bank_id", "addressed"), [
    ({"in_reply_to_user_id": "77"}, "HarborBank", None, True),  # reply, known by the expanded username
    ({"in_reply_to_user_id": "77"}, None, "77", True),  # reply, known by the configured id
    ({"entities": {"mentions": [{"start": 0, "end": 11, "username": "harborbank"}]}}, "@HarborBank", None, True),
    ({"in_reply_to_user_id": "11"}, "HarborBank", "77", False),  # a reply to someone else
    ({}, "HarborBank", "77", False),
    ({"in_reply_to_user_id": "77"}, None, None, False),  # no bank account configured
])
def test_a_reply_to_or_mention_of_the_bank_addresses_it(tweet: dict, handle: str | None, bank_id: str | None,
                                                         addressed: bool) -> None:
    page = parse_search_page(_reply_payload(**tweet), source_id="x", bank_handle=handle, bank_id=bank_id)
    assert page.posts[0].to_bank is addressed
