"""Bluesky listening: the searchPosts parser on documented payloads, the reader's sweeps, sessions and errors."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from crisiscomms.adapters.sources.bluesky import (
    BankIdentity,
    BlueskySearchReader,
    BlueskySessions,
    author_dids,
    iso,
    parse_profiles,
    parse_search_page,
)
from crisiscomms.errors import (
    PermanentPlatformError,
    RateLimited,
    ReauthorisationNeeded,
    TokenExpired,
    TransientPlatformError,
)
from crisiscomms.watch import parse_watch_config
from crisiscomms.watch.bluesky import BlueskySource
from crisiscomms_local.emulators.base import Fault
from crisiscomms_local.emulators.channels.bluesky import BlueskyEmulator

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
BANK_DID = "did:plc:examplebank0000000000000"
BANK = BankIdentity.of("examplebank.bsky.social", BANK_DID)
AUTHOR_DID = "did:plc:z72i7hdynmk6r22z27h6tvur"


def post_view(rkey: str = "3l6oveex3ii2l", *, text: str = "Harbor Bank app is down again", did: str = AUTHOR_DID,
              handle: str = "alice.bsky.social", created: str = "2026-11-28T16:58:30.120+08:00",
              indexed: str = "2026-11-28T08:58:31.004Z", **record_extra: Any) -> dict[str, Any]:
    """An app.bsky.feed.defs#postView as searchPosts returns it."""
    return {
        "uri": f"at://{did}/app.bsky.feed.post/{rkey}",
        "cid": "bafyreibjifzpqj6o6wcq3hejh7y4z4z2vmiklkvykc57tw3pcbx3kxifpm",
        "author": {"did": did, "handle": handle, "displayName": "Alice", "avatar": "https://cdn.bsky.app/a.jpg",
                   "labels": [], "createdAt": "2023-04-12T04:53:57.057Z"},
        "record": {"$type": "app.bsky.feed.post", "text": text, "createdAt": created, "langs": ["en"], **record_extra},
        "replyCount": 2, "repostCount": 5, "likeCount": 31, "quoteCount": 1, "bookmarkCount": 0,
        "indexedAt": indexed, "labels": [], "viewer": {"threadMuted": False},
    }


# --- the parser ------------------------------------------------------------------------------------

def test_a_documented_post_view_becomes_a_post_with_utc_time_and_bsky_app_url() -> None:
    page = parse_search_page({"posts": [post_view()], "cursor": "25", "hitsTotal": 1}, source_id="bsky",
                             bank=BANK, followers={AUTHOR_DID: 1200})
    [post] = page.posts
    assert post.native_id == f"at://{AUTHOR_DID}/app.bsky.feed.post/3l6oveex3ii2l"
    assert post.url == "https://bsky.app/profile/alice.bsky.social/post/3l6oveex3ii2l"
    assert (post.platform, post.source_type, post.source_id) == ("bluesky", "social", "bsky")
    assert (post.author, post.author_id, post.followers) == ("alice.bsky.social", AUTHOR_DID, 1200)
    assert post.published_at == datetime(2026, 11, 28, 8, 58, 30, 120000, tzinfo=timezone.utc)
    assert (post.likes, post.reposts, post.replies, post.quotes) == (31, 5, 2, 1)
    assert (post.lang_hint, post.location, post.to_bank, post.title) == ("en", None, False, None)
    assert page.cursor == "25" and page.malformed == []
    assert page.sort_at[post.native_id] == post.published_at  # created before it was indexed
    # A post that starts a thread is its own root: the reply names it as root and parent.
    cid = "bafyreibjifzpqj6o6wcq3hejh7y4z4z2vmiklkvykc57tw3pcbx3kxifpm"
    assert post.reply_ref == {"uri": post.native_id, "cid": cid, "root_uri": post.native_id, "root_cid": cid}


def test_reply_ref_of_a_post_in_a_thread_keeps_the_threads_root() -> None:
    root = {"uri": f"at://{BANK_DID}/app.bsky.feed.post/3l6oroot00000", "cid": "bafyreiroot"}
    parent = {"uri": f"at://{BANK_DID}/app.bsky.feed.post/3l6oparent0000", "cid": "bafyreiparent"}
    [post] = parse_search_page({"posts": [post_view(reply={"root": root, "parent": parent})]}, source_id="bsky",
                               bank=BANK).posts
    assert post.reply_ref == {"uri": post.native_id, "cid": "bafyreibjifzpqj6o6wcq3hejh7y4z4z2vmiklkvykc57tw3pcbx3kxifpm",
                              "root_uri": root["uri"], "root_cid": root["cid"]}
    [no_cid] = parse_search_page({"posts": [{**post_view(), "cid": None}]}, source_id="bsky", bank=BANK).posts
    assert no_cid.reply_ref is None, "without its cid a post cannot be answered"


def test_sort_time_is_the_earlier_of_created_and_indexed_so_a_future_date_cannot_lead() -> None:
    view = post_view(created="2030-01-01T00:00:00Z", indexed="2026-11-28T08:59:00.000Z")
    page = parse_search_page({"posts": [view]}, source_id="bsky")
    assert page.sort_at[view["uri"]] == datetime(2026, 11, 28, 8, 59, tzinfo=timezone.utc)
    assert page.posts[0].published_at.year == 2030


def test_missing_handle_falls_back_to_the_did_and_counts_default_to_zero() -> None:
    view = post_view(handle="handle.invalid")
    for key in ("likeCount", "repostCount"):
        del view[key]
    view["replyCount"] = "many"
    [post] = parse_search_page({"posts": [view]}, source_id="bsky").posts
    assert post.url == f"https://bsky.app/profile/{AUTHOR_DID}/post/3l6oveex3ii2l"
    assert (post.likes, post.reposts, post.replies, post.followers) == (0, 0, 0, 0)


@pytest.mark.parametrize("extra, text, expected", [
    ({"facets": [{"index": {"byteStart": 0, "byteEnd": 24},
                  "features": [{"$type": "app.bsky.richtext.facet#mention", "did": BANK_DID}]}]},
     "@examplebank.bsky.social where is my money", True),
    ({}, "Asking @ExampleBank.bsky.social: why is the app down?", True),
    ({}, "examplebank.bsky.social is quiet", False),
    ({}, "@examplebank.bsky.social.fake.example is not the bank", False),
    ({"reply": {"root": {"uri": f"at://{BANK_DID}/app.bsky.feed.post/3kabc", "cid": "bafy1"},
                "parent": {"uri": f"at://{AUTHOR_DID}/app.bsky.feed.post/3kdef", "cid": "bafy2"}}},
     "agreed, same here", True),
    ({"reply": {"root": {"uri": f"at://{AUTHOR_DID}/app.bsky.feed.post/3kabc", "cid": "bafy1"},
                "parent": {"uri": f"at://{AUTHOR_DID}/app.bsky.feed.post/3kdef", "cid": "bafy2"}}},
     "a thread of someone else", False),
    ({"embed": {"$type": "app.bsky.embed.record",
                "record": {"uri": f"at://{BANK_DID}/app.bsky.feed.post/3kxyz", "cid": "bafy3"}}},
     "this statement says nothing", True),
    ({"embed": {"$type": "app.bsky.embed.recordWithMedia",
                "record": {"record": {"uri": f"at://{BANK_DID}/app.bsky.feed.post/3kxyz", "cid": "bafy3"}},
                "media": {"$type": "app.bsky.embed.images", "images": []}}},
     "screenshot of the statement", True),
])
def test_to_bank_means_a_mention_a_reply_under_its_post_or_a_quote(extra: dict, text: str, expected: bool) -> None:
    [post] = parse_search_page({"posts": [post_view(text=text, **extra)]}, source_id="bsky", bank=BANK).posts
    assert post.to_bank is expected


def test_the_banks_own_posts_and_an_unconfigured_bank_are_never_to_bank() -> None:
    own = post_view(did=BANK_DID, handle="examplebank.bsky.social", text="@examplebank.bsky.social update")
    assert parse_search_page({"posts": [own]}, source_id="bsky", bank=BANK).posts[0].to_bank is False
    mention = post_view(text="@examplebank.bsky.social hello")
    assert parse_search_page({"posts": [mention]}, source_id="bsky", bank=None).posts[0].to_bank is False
    handle_only = BankIdentity.of("@ExampleBank.bsky.social", None)
    assert handle_only is not None and handle_only.did is None
    assert parse_search_page({"posts": [mention]}, source_id="bsky", bank=handle_only).posts[0].to_bank is True


def test_malformed_post_views_are_described_and_skipped_never_fatal() -> None:
    naive = post_view("3l6aaaaaaaaa2", created="2026-11-28T08:00:00")
    no_record = post_view("3l6aaaaaaaaa3")
    del no_record["record"]
    not_a_post = post_view("3l6aaaaaaaaa4")
    not_a_post["uri"] = f"at://{AUTHOR_DID}/app.bsky.feed.like/3l6aaaaaaaaa4"
    bad_text = post_view("3l6aaaaaaaaa5")
    bad_text["record"]["text"] = {"html": "<b>"}
    bad_did = post_view("3l6aaaaaaaaa6", did="alice")
    page = parse_search_page({"posts": [post_view(), naive, no_record, "oops", not_a_post, bad_text, bad_did]},
                             source_id="bsky")
    assert [p.native_id for p in page.posts] == [post_view()["uri"]]
    assert len(page.malformed) == 6
    assert "no timezone" in page.malformed[0] and "KeyError: 'record'" in page.malformed[1]
    assert page.malformed[2].startswith("post ?: TypeError")
    assert naive["uri"] in page.unreadable_uris and len(page.unreadable_uris) == 5


def test_profiles_and_author_dids() -> None:
    assert parse_profiles({"profiles": [{"did": "did:plc:a", "followersCount": 12}, {"did": "did:plc:b"}, "x"]}) == {
        "did:plc:a": 12, "did:plc:b": 0}
    views = [post_view(did="did:plc:a"), post_view(did="did:plc:b"), post_view(did="did:plc:a"), {"author": "?"}]
    assert author_dids(views) == ["did:plc:a", "did:plc:b"]


def test_parser_throughput_on_a_page_of_100() -> None:
    import timeit

    payload = {"posts": [post_view(f"3l6{n:010d}"[:13], text=f"Harbor Bank queue {n} @examplebank.bsky.social")
                         for n in range(100)]}
    runs = 20
    seconds = timeit.timeit(lambda: parse_search_page(payload, source_id="bsky", bank=BANK), number=runs)
    assert len(parse_search_page(payload, source_id="bsky", bank=BANK).posts) == 100
    assert 100 * runs / seconds > 2_000, f"{100 * runs / seconds:.0f} items/s"


# --- the watch configuration -----------------------------------------------------------------------

def test_a_bluesky_source_needs_a_query_and_respects_the_documented_limits() -> None:
    base = {"topics": [{"id": "harbor", "names": ["Harbor Bank"]}],
            "accounts": {"bluesky": {"handle": "examplebank.bsky.social", "id": BANK_DID}}}
    config = parse_watch_config({**base, "sources": [{"id": "bsky", "platform": "bluesky", "query": ' "Harbor Bank" '}]})
    source = config.sources[0]
    assert isinstance(source, BlueskySource)
    assert (source.query, source.page_size, source.overlap_seconds, source.lang) == ('"Harbor Bank"', 100, 120, None)
    for bad, where in (({}, "query"), ({"query": "  "}, "query"), ({"query": "x", "page_size": 101}, "page_size"),
                       ({"query": "x", "lang": "English"}, "lang"), ({"query": "x", "overlap_seconds": -1}, "overlap")):
        with pytest.raises(Exception, match=where):
            parse_watch_config({**base, "sources": [{"id": "bsky", "platform": "bluesky", **bad}]})


# --- the reader against scripted answers -----------------------------------------------------------

class Creds:
    def __init__(self, value: dict[str, Any]) -> None:
        self.value = value

    def current(self) -> dict[str, Any]:
        return dict(self.value)


def _source(**overrides: Any) -> BlueskySource:
    return BlueskySource(**{"id": "bsky", "platform": "bluesky", "query": "Harbor Bank", **overrides})


def _scripted(answers: Callable[[httpx.Request], httpx.Response]) -> tuple[httpx.Client, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers(request)

    return httpx.Client(base_url="https://bsky.test", transport=httpx.MockTransport(handler)), seen


def _reader(http: httpx.Client, *, creds: dict[str, Any] | None = None, **source: Any) -> BlueskySearchReader:
    return BlueskySearchReader(http, source=_source(**source), credentials=Creds(creds or {"accessJwt": "jwt-1"}),
                               clock=lambda: NOW, bank=BANK)


def _xrpc_error(status: int, error: str, message: str = "", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": error, "message": message}, headers=headers)


def test_first_page_asks_for_the_latest_in_a_pinned_window_with_the_session_token() -> None:
    http, seen = _scripted(lambda r: httpx.Response(200, json={"posts": []}, headers={"ratelimit-remaining": "2999"}))
    page = _reader(http, lang="zh").read({})
    [request] = seen
    params = request.url.params
    assert request.url.path == "/xrpc/app.bsky.feed.searchPosts"
    assert request.headers["authorization"] == "Bearer jwt-1"
    assert (params["q"], params["sort"], params["limit"], params["lang"]) == ("Harbor Bank", "latest", "100", "zh")
    assert params["since"] == iso(NOW - timedelta(minutes=15)) == "2026-11-28T08:45:00.000Z"
    assert params["until"] == "2026-11-28T09:00:00.000Z" and "cursor" not in params
    assert page.more is False and page.resume_at is None
    assert page.cursor["high_water"] == "2026-11-28T08:45:00.000Z", "an empty first sweep keeps its look-back as the mark"


def test_follower_counts_come_from_get_profiles_in_batches_of_25_cached_for_the_run() -> None:
    views = [post_view(f"3l6a{n:09d}", did=f"did:plc:author{n:04d}", handle=f"a{n}.bsky.social") for n in range(60)]
    profiles_asked: list[list[str]] = []

    def answers(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("getProfiles"):
            actors = request.url.params.get_list("actors")
            profiles_asked.append(actors)
            return httpx.Response(200, json={"profiles": [{"did": d, "followersCount": int(d[-4:]) * 10} for d in actors]})
        return httpx.Response(200, json={"posts": views, "cursor": "60"})

    http, _ = _scripted(answers)
    reader = _reader(http)
    page = reader.read({})
    assert [len(batch) for batch in profiles_asked] == [25, 25, 10]
    assert {p.author_id: p.followers for p in page.posts}[f"did:plc:author0042"] == 420
    reader.read(page.cursor)
    assert len(profiles_asked) == 3, "authors already looked up this run are not asked again"


def test_a_failing_get_profiles_keeps_the_posts_with_zero_followers_and_a_429_parks_the_source() -> None:
    reset = int((NOW + timedelta(minutes=4)).timestamp())

    def answers(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("getProfiles"):
            return _xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded",
                               {"ratelimit-remaining": "0", "ratelimit-reset": str(reset), "retry-after": "60"})
        return httpx.Response(200, json={"posts": [post_view()]})

    http, _ = _scripted(answers)
    page = _reader(http).read({})
    assert [p.followers for p in page.posts] == [0]
    assert page.resume_at == NOW + timedelta(minutes=4), "the later of RateLimit-Reset and Retry-After"

    http, _ = _scripted(lambda r: httpx.Response(503) if r.url.path.endswith("getProfiles")
                        else httpx.Response(200, json={"posts": [post_view()]}))
    page = _reader(http).read({})
    assert len(page.posts) == 1 and page.resume_at is None


def test_a_spent_budget_on_a_good_page_returns_the_posts_and_the_epoch_reset() -> None:
    reset = int((NOW + timedelta(seconds=250)).timestamp())
    http, _ = _scripted(lambda r: httpx.Response(200, json={"posts": [post_view()], "cursor": "1"}, headers={
        "RateLimit-Limit": "3000", "RateLimit-Remaining": "0", "RateLimit-Reset": str(reset),
        "RateLimit-Policy": "3000;w=300"}) if "searchPosts" in r.url.path else httpx.Response(200, json={"profiles": []}))
    page = _reader(http).read({})
    assert len(page.posts) == 1 and page.more is True
    assert page.resume_at == NOW + timedelta(seconds=250)


@pytest.mark.parametrize("response, error, detail", [
    (_xrpc_error(400, "ExpiredToken", "Token has expired"), TokenExpired, "ExpiredToken"),
    (_xrpc_error(401, "InvalidToken", "Bad token scope"), TokenExpired, "InvalidToken"),
    (_xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded", {"Retry-After": "90"}), RateLimited, "429"),
    (_xrpc_error(502, "UpstreamFailure", "Upstream Failure"), TransientPlatformError, "502"),
    (httpx.Response(504, text="<html>gateway</html>"), TransientPlatformError, "HTTP 504"),
    (_xrpc_error(400, "BadQueryString", "Invalid query"), PermanentPlatformError, "BadQueryString"),
    (httpx.Response(200, json={"error": "ExpiredToken", "message": "Token has expired"}), TokenExpired, "ExpiredToken"),
    (httpx.Response(200, text="<html>maintenance</html>"), TransientPlatformError, "not a JSON object"),
    (httpx.Response(200, json={"cursor": "5"}), TransientPlatformError, "without a posts array"),
])
def test_errors_map_onto_the_domain_including_errors_inside_a_200(response: httpx.Response, error: type,
                                                                  detail: str) -> None:
    http, _ = _scripted(lambda r: response)
    with pytest.raises(error, match=detail) as caught:
        _reader(http).read({})
    if isinstance(caught.value, RateLimited):
        assert caught.value.resume_at == NOW + timedelta(seconds=90)
    assert "jwt-1" not in str(caught.value)


def test_no_session_yet_is_reported_as_a_token_to_renew() -> None:
    http, seen = _scripted(lambda r: httpx.Response(200, json={"posts": []}))
    with pytest.raises(TokenExpired, match="no Bluesky session"):
        _reader(http, creds={"identifier": "examplebank.bsky.social", "password": "app-pass"}).read({})
    assert not seen


def test_a_refused_cursor_restarts_the_sweep_in_the_same_window_and_says_so(caplog: Any) -> None:
    http, seen = _scripted(lambda r: _xrpc_error(400, "InvalidRequest", "Error: invalid cursor"))
    cursor = {"sweep_since": "2026-11-28T08:40:00.000Z", "sweep_until": "2026-11-28T08:59:00.000Z",
              "sweep_cursor": "garbage", "high_water": "2026-11-28T08:42:00.000Z"}
    page = _reader(http).read(cursor)
    assert (page.posts, page.more, page.cursor) == ([], True, {"sweep_cursor": None})
    assert seen[0].url.params["since"] == "2026-11-28T08:40:00.000Z"
    with pytest.raises(PermanentPlatformError):
        _reader(http).read({})  # without a cursor of ours the same answer is a plain error


# --- sessions --------------------------------------------------------------------------------------

def _session(suffix: str) -> dict[str, Any]:
    return {"accessJwt": f"access-{suffix}", "refreshJwt": f"refresh-{suffix}", "handle": "examplebank.bsky.social",
            "did": BANK_DID, "didDoc": {}, "active": True}


def test_refresh_uses_the_refresh_jwt_then_falls_back_to_the_app_password() -> None:
    http, seen = _scripted(lambda r: httpx.Response(200, json=_session("2")))
    fields = BlueskySessions(http, clock=lambda: NOW).renew({"refreshJwt": "refresh-1", "accessJwt": "access-1"})
    assert fields == {"accessJwt": "access-2", "refreshJwt": "refresh-2", "handle": "examplebank.bsky.social",
                      "did": BANK_DID}
    assert seen[0].url.path == "/xrpc/com.atproto.server.refreshSession"
    assert seen[0].headers["authorization"] == "Bearer refresh-1"

    http, seen = _scripted(lambda r: _xrpc_error(400, "ExpiredToken", "Token has been revoked")
                           if r.url.path.endswith("refreshSession") else httpx.Response(200, json=_session("3")))
    fields = BlueskySessions(http, clock=lambda: NOW).renew(
        {"refreshJwt": "refresh-1", "identifier": "examplebank.bsky.social", "password": "app-pass"})
    assert fields["accessJwt"] == "access-3"
    assert [r.url.path.rsplit(".", 1)[-1] for r in seen] == ["refreshSession", "createSession"]
    assert json.loads(seen[1].content) == {"identifier": "examplebank.bsky.social", "password": "app-pass"}


def test_a_refused_or_missing_app_password_needs_reauthorisation() -> None:
    http, _ = _scripted(lambda r: _xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password"))
    with pytest.raises(ReauthorisationNeeded, match="new app password") as caught:
        BlueskySessions(http, clock=lambda: NOW).renew({"identifier": "examplebank.bsky.social", "password": "old"})
    assert "old" not in str(caught.value).replace("Bluesky", "")
    with pytest.raises(ReauthorisationNeeded, match="identifier and app password"):
        BlueskySessions(http, clock=lambda: NOW).renew({"accessJwt": "a"})
    http, _ = _scripted(lambda r: _xrpc_error(400, "AccountTakedown", "Account has been taken down"))
    with pytest.raises(ReauthorisationNeeded, match="AccountTakedown"):
        BlueskySessions(http, clock=lambda: NOW).renew({"refreshJwt": "r"})


def test_session_rate_limits_and_outages_are_not_reauthorisation() -> None:
    reset = int((NOW + timedelta(minutes=5)).timestamp())
    http, _ = _scripted(lambda r: _xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded",
                                              {"ratelimit-reset": str(reset), "ratelimit-policy": "30;w=300"}))
    with pytest.raises(RateLimited) as caught:
        BlueskySessions(http, clock=lambda: NOW).renew({"identifier": "h", "password": "p"})
    assert caught.value.resume_at == NOW + timedelta(minutes=5)
    http, _ = _scripted(lambda r: httpx.Response(503))
    with pytest.raises(TransientPlatformError):
        BlueskySessions(http, clock=lambda: NOW).renew({"refreshJwt": "r"})
    http, _ = _scripted(lambda r: httpx.Response(200, json={**_session("4"), "status": "takendown"}))
    with pytest.raises(ReauthorisationNeeded, match="takendown"):
        BlueskySessions(http, clock=lambda: NOW).renew({"refreshJwt": "r"})


# --- sweeps against the emulator -------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world() -> Iterator[tuple[BlueskyEmulator, Clock, httpx.Client]]:
    clock = Clock()
    emulator = BlueskyEmulator(clock, timeout_delay=0.3)
    emulator.start()
    http = httpx.Client(base_url=emulator.base_url, timeout=2)
    try:
        yield emulator, clock, http
    finally:
        http.close()
        emulator.stop()


def _sweep_reader(emulator: BlueskyEmulator, clock: Clock, http: httpx.Client, **source: Any) -> BlueskySearchReader:
    session = BlueskySessions(http, clock=clock).renew(emulator.credentials())
    return BlueskySearchReader(http, source=_source(**source), credentials=Creds(session), clock=clock,
                               bank=BankIdentity.of(emulator.account_handle, emulator.did))


def _run(reader: BlueskySearchReader, cursor: dict[str, Any], *, pages: int = 50,
         between: Callable[[int], None] = lambda n: None) -> tuple[list[str], dict[str, Any], int]:
    """What the listening loop does: read, merge the cursor fields (None removes), until no more."""
    uris: list[str] = []
    for n in range(pages):
        page = reader.read(cursor)
        uris += [p.native_id for p in page.posts]
        cursor = {k: v for k, v in {**cursor, **page.cursor}.items() if v is not None}
        between(n)
        if not page.more:
            return uris, cursor, n + 1
    return uris, cursor, pages


def _searches(emulator: BlueskyEmulator) -> list[Any]:
    return emulator.calls("searchPosts")


def test_a_sweep_pages_a_fixed_window_so_posts_arriving_meanwhile_neither_shift_nor_vanish(world: Any) -> None:
    emulator, clock, http = world
    old = [emulator.add_post(text=f"Harbor Bank queue {n}", author=f"u{n}", created_at=NOW - timedelta(minutes=10, seconds=-n))
           for n in range(250)]
    reader = _sweep_reader(emulator, clock, http)
    arrivals: list[str] = []

    def arrive(n: int) -> None:
        clock.now += timedelta(seconds=5)
        arrivals.append(emulator.add_post(text=f"Harbor Bank new {n}", author="late", created_at=clock.now))

    uris, cursor, pages = _run(reader, {}, between=arrive)
    assert sorted(uris) == sorted(old) and len(uris) == len(set(uris)) == 250
    assert pages == 3
    windows = {(r.query["since"], r.query["until"]) for r in _searches(emulator)}
    assert len(windows) == 1, "every page of a sweep asks for the same window"
    assert cursor["high_water"] == iso(NOW - timedelta(minutes=10, seconds=-249))
    assert set(cursor) == {"high_water", "seen"}

    clock.now += timedelta(minutes=1)
    uris, cursor, _ = _run(reader, cursor)
    assert sorted(uris) == sorted(arrivals), "the next sweep reads what arrived during the last one, only that"


def test_the_overlap_finds_a_post_indexed_late_and_skips_those_already_read(world: Any) -> None:
    emulator, clock, http = world
    first = emulator.add_post(text="Harbor Bank one", author="a", created_at=NOW - timedelta(seconds=30))
    reader = _sweep_reader(emulator, clock, http, overlap_seconds=120)
    uris, cursor, _ = _run(reader, {})
    assert uris == [first]
    late = emulator.add_post(text="Harbor Bank late", author="b", created_at=NOW - timedelta(seconds=45),
                             indexed_at=NOW + timedelta(seconds=20))
    clock.now += timedelta(minutes=1)
    uris, cursor, _ = _run(reader, cursor)
    assert uris == [late], "found below the high-water mark, and the post already read is not returned again"
    assert cursor["high_water"] == iso(NOW - timedelta(seconds=30))
    assert _searches(emulator)[-1].query["since"] == iso(NOW - timedelta(seconds=150))

    clock.now += timedelta(minutes=1)
    uris, _, _ = _run(reader, cursor)
    assert uris == []


def test_a_stopped_sweep_resumes_on_its_next_page_with_the_same_window(world: Any) -> None:
    emulator, clock, http = world
    ids = [emulator.add_post(text=f"Harbor Bank {n}", author="a", created_at=NOW - timedelta(minutes=5, seconds=-n))
           for n in range(30)]
    reader = _sweep_reader(emulator, clock, http, page_size=10)
    first, cursor, _ = _run(reader, {}, pages=1)
    assert len(first) == 10 and cursor["sweep_cursor"] == "10"
    clock.now += timedelta(minutes=3)
    rest, cursor, _ = _run(reader, cursor)
    assert sorted(first + rest) == sorted(ids)
    assert len({(r.query["since"], r.query["until"]) for r in _searches(emulator)}) == 1


def test_the_emulator_serves_malformed_views_expired_tokens_and_throttles(world: Any) -> None:
    emulator, clock, http = world
    emulator.add_post(text="Harbor Bank ok", author="a", created_at=NOW - timedelta(seconds=20))
    emulator.add_malformed({"uri": f"at://{AUTHOR_DID}/app.bsky.feed.post/3lbroken00000", "author": {}},
                           indexed_at=NOW - timedelta(seconds=10))
    reader = _sweep_reader(emulator, clock, http)
    page = reader.read({})
    assert len(page.posts) == 1 and len(page.malformed) == 1
    emulator.expire_access_tokens()
    with pytest.raises(TokenExpired, match="ExpiredToken"):
        reader.read({})
    emulator.add_fault(Fault(start=clock.now, end=clock.now + timedelta(minutes=2), kind="rate_limit",
                             target="searchPosts"))
    fresh = _sweep_reader(emulator, clock, http)
    with pytest.raises(RateLimited) as caught:
        fresh.read({})
    assert caught.value.resume_at == NOW + timedelta(minutes=2)
