"""The Reddit listening parser, reader and token renewal, against answers shaped as Reddit documents them."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import ValidationError

from crisiscomms.adapters.sources.reddit import (
    BankOnReddit,
    RedditReader,
    RedditTokenRefresh,
    listing_error,
    parse_listing,
)
from crisiscomms.errors import (
    PermanentPlatformError,
    RateLimited,
    ReauthorisationNeeded,
    TokenExpired,
    TransientPlatformError,
)
from crisiscomms.watch import Topic
from crisiscomms.watch.reddit import RedditSource

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
BANK = BankOnReddit("ExampleBank", "ExampleBankHelp")

# A t3 child as GET /search returns it with raw_json=1 (trimmed to the fields the parser reads, and a few more).
SUBMISSION: dict[str, Any] = {
    "kind": "t3",
    "data": {
        "approved_at_utc": None, "subreddit": "personalfinance", "selftext": "Card declined twice & app shows <error>.",
        "author_fullname": "t2_4x7h2", "title": "Harbor Bank app down?", "subreddit_name_prefixed": "r/personalfinance",
        "name": "t3_1h5k2q9", "upvote_ratio": 0.93, "ups": 57, "score": 57, "created": 1764320405.0,
        "created_utc": 1764320405.0, "num_comments": 23, "num_crossposts": 2,
        "permalink": "/r/personalfinance/comments/1h5k2q9/harbor_bank_app_down/",
        "url": "https://www.reddit.com/r/personalfinance/comments/1h5k2q9/harbor_bank_app_down/", "id": "1h5k2q9",
        "author": "worried_saver", "over_18": False, "is_self": True, "subreddit_subscribers": 19000000,
    },
}


def _child(**changes: Any) -> dict[str, Any]:
    child = json.loads(json.dumps(SUBMISSION))
    child["data"].update(changes)
    return child


def _listing(children: list[Any], after: str | None = None) -> dict[str, Any]:
    return {"kind": "Listing", "data": {"after": after, "dist": len(children), "modhash": "", "geo_filter": "",
                                        "children": children, "before": None}}


# --- parsing -------------------------------------------------------------------------------------

@pytest.mark.parametrize("subscribers", [None, "19000000", -5, True, 1.5e7])
def test_a_subreddit_without_a_count_gives_its_posts_no_audience(subscribers: Any) -> None:
    child = _child(subreddit_subscribers=subscribers)
    posts, malformed, _ = parse_listing(_listing([child]), source_id="r", bank=BANK)
    assert malformed == [] and posts[0].followers == 0


def test_submission_becomes_a_post_with_title_self_text_and_counts() -> None:
    posts, malformed, after = parse_listing(_listing([SUBMISSION], after="t3_1h5k2q9"), source_id="r", bank=BANK)
    assert malformed == [] and after == "t3_1h5k2q9"
    [post] = posts
    assert post.key == "reddit#t3_1h5k2q9"
    assert post.title == "Harbor Bank app down?" and post.text == "Card declined twice & app shows <error>."
    assert post.url == "https://www.reddit.com/r/personalfinance/comments/1h5k2q9/harbor_bank_app_down/"
    assert (post.author, post.author_id) == ("worried_saver", "t2_4x7h2")
    assert post.followers == 19_000_000, "a post's audience is its subreddit's subscribers"
    assert (post.likes, post.reposts, post.replies, post.quotes) == (57, 2, 23, 0)
    assert post.published_at == datetime(2025, 11, 28, 9, 0, 5, tzinfo=timezone.utc)
    assert post.published_at.tzinfo is not None and post.lang_hint is None and post.location is None
    assert post.to_bank is False


@pytest.mark.parametrize(("changes", "to_bank"), [
    ({"selftext": "cc u/examplebank please answer"}, True),
    ({"title": "/u/ExampleBank why is my card blocked"}, True),
    ({"selftext": "u/examplebank2 is someone else"}, False),
    ({"selftext": "see reddit.com/u/examplebank"}, False),
    ({"subreddit": "examplebankhelp"}, True),
])
def test_naming_the_bank_or_posting_in_its_subreddit_addresses_the_bank(changes: dict, to_bank: bool) -> None:
    [post], _, _ = parse_listing(_listing([_child(**changes)]), source_id="r", bank=BANK)
    assert post.to_bank is to_bank


COMMENT = {"name": "t1_k9x2", "id": "k9x2", "body": "When will my transfer arrive?", "author": "ann",
           "author_fullname": "t2_ann", "created_utc": 1764320400.0, "score": 4, "subreddit": "personalfinance",
           "link_id": "t3_1h5k2q9", "link_author": "ExampleBank", "parent_id": "t3_1h5k2q9",
           "permalink": "/r/personalfinance/comments/1h5k2q9/update/k9x2/"}


@pytest.mark.parametrize(("changes", "to_bank"), [
    ({}, True),                                                      # under the bank's own post
    ({"link_author": "someone"}, False),
    ({"link_author": "someone", "body": "u/examplebank any news?"}, True),
    ({"link_author": "someone", "subreddit": "examplebankhelp"}, True),
])
def test_a_comment_is_a_post_addressed_to_the_bank_under_its_own_posts(changes: dict, to_bank: bool) -> None:
    [post], malformed, _ = parse_listing(_listing([{"kind": "t1", "data": {**COMMENT, **changes}}]), source_id="r",
                                         bank=BANK, kind="t1")
    assert not malformed and post.to_bank is to_bank
    assert (post.native_id, post.title, post.text, post.author, post.likes) == (
        "t1_k9x2", None, changes.get("body", "When will my transfer arrive?"), "ann", 4)
    assert post.url == "https://www.reddit.com/r/personalfinance/comments/1h5k2q9/update/k9x2/"
    _, malformed, _ = parse_listing(_listing([SUBMISSION]), source_id="r", bank=BANK, kind="t1")
    assert malformed[0].startswith("comment ") and "not a t1" in malformed[0]


def test_negative_scores_count_as_no_likes_and_link_posts_have_empty_text() -> None:
    [post], _, _ = parse_listing(_listing([_child(score=-4, selftext="", is_self=False)]), source_id="r", bank=BANK)
    assert post.likes == 0 and post.text == "" and post.title == "Harbor Bank app down?"


def test_malformed_children_are_skipped_and_described() -> None:
    children = [
        {"kind": "t1", "data": {"name": "t1_abc", "body": "a comment"}},
        _child(name="t3_bad1", created_utc="yesterday"),
        _child(name="t3_bad2", title=None),
        _child(name="not-a-fullname"),
        "junk",
        SUBMISSION,
    ]
    posts, malformed, _ = parse_listing(_listing(children), source_id="r", bank=BANK)
    assert [p.native_id for p in posts] == ["t3_1h5k2q9"]
    assert malformed[0].startswith("submission t1_abc: TypeError") and "not a t3" in malformed[0]
    assert malformed[1].startswith("submission t3_bad1: TypeError") and "created_utc" in malformed[1]
    assert malformed[2].startswith("submission t3_bad2: TypeError")
    assert malformed[3].startswith("submission not-a-fullname: ValueError")
    assert malformed[4].startswith("submission ?:")


@pytest.mark.parametrize(("payload", "error"), [
    ({"message": "Forbidden", "error": 403}, PermanentPlatformError),
    ({"message": "Unauthorized", "error": 401}, TokenExpired),
    ({"message": "Too Many Requests", "error": 429}, TransientPlatformError),
    ({"message": "Internal Server Error", "error": 500}, TransientPlatformError),
    ({"kind": "t3", "data": {}}, TransientPlatformError),
    ([], TransientPlatformError),
])
def test_errors_inside_a_200_are_recognised(payload: Any, error: type[Exception]) -> None:
    assert isinstance(listing_error(payload), error)
    assert listing_error(_listing([])) is None


# --- the reader -------------------------------------------------------------------------------------

class _Credentials:
    def __init__(self, token: str | None = "live-token") -> None:
        self.token = token

    def current(self) -> dict[str, Any]:
        return {"access_token": self.token} if self.token else {}


def _reader(handler: Any, **options: Any) -> RedditReader:
    http = httpx.Client(base_url="https://oauth.reddit.com", transport=httpx.MockTransport(handler))
    settings: dict[str, Any] = {"query": '"Harbor Bank" OR 港湾银行', "user_agent": "server:crisiscomms:0.1 (by /u/examplebank)",
                                "limit": 2, "lookback": timedelta(minutes=15), "overlap": timedelta(minutes=5),
                                "bank": BANK, "credentials": _Credentials()}
    settings.update(options)
    return RedditReader(http, source_id="r", clock=lambda: NOW, **settings)


def _post(name: str, seconds_before_now: int) -> dict[str, Any]:
    created = (NOW - timedelta(seconds=seconds_before_now)).timestamp()
    return _child(name=name, id=name[3:], created_utc=created)


def _params(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(urlsplit(str(request.url)).query)


def test_search_sends_the_documented_parameters_token_and_user_agent() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_listing([]))

    _reader(handler).read({})
    _reader(handler, subreddit="personalfinance").read({"walk_from": "t3_a", "walk_floor": NOW.isoformat()})
    assert seen[0].url.path == "/search"
    assert _params(seen[0]) == {"q": ['"Harbor Bank" OR 港湾银行'], "sort": ["new"], "type": ["link"], "limit": ["2"],
                                "raw_json": ["1"]}
    assert seen[0].headers["Authorization"] == "Bearer live-token"
    assert seen[0].headers["User-Agent"] == "server:crisiscomms:0.1 (by /u/examplebank)"
    assert seen[1].url.path == "/r/personalfinance/search"
    assert _params(seen[1])["restrict_sr"] == ["true"] and _params(seen[1])["after"] == ["t3_a"]


def test_a_pass_walks_down_with_after_until_it_reaches_its_floor_then_moves_the_floor_up() -> None:
    pages = [
        _listing([_post("t3_e", 10), _post("t3_d", 20)], after="t3_d"),
        _listing([_post("t3_c", 30), _post("t3_b", 1200)], after="t3_b"),  # t3_b is older than the 15-minute look-back
    ]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=pages[len(seen) - 1])

    reader = _reader(handler)
    page = reader.read({})
    assert [p.native_id for p in page.posts] == ["t3_e", "t3_d"] and page.more is True
    assert page.cursor["walk_from"] == "t3_d" and page.cursor["walk_floor"] == (NOW - timedelta(minutes=15)).isoformat()
    cursor = {k: v for k, v in page.cursor.items() if v is not None}
    page = reader.read(cursor)
    assert _params(seen[1])["after"] == ["t3_d"]
    assert [p.native_id for p in page.posts] == ["t3_c"], "nothing below the floor"
    assert page.more is False
    assert page.cursor["newest_at"] == (NOW - timedelta(seconds=10)).isoformat()
    assert page.cursor["walk_from"] is None and page.cursor["walk_floor"] is None
    assert {e.partition("@")[0] for e in page.cursor["seen"]} == {"t3_e", "t3_d", "t3_c"}


def test_the_next_pass_re_reads_the_overlap_and_skips_what_it_stored() -> None:
    newest = NOW - timedelta(seconds=100)
    stored = f"t3_d@{int(newest.timestamp())}"
    listing = _listing([_post("t3_f", 5), _post("t3_late", 150), _post("t3_d", 100), _post("t3_old", 500)], after="t3_old")
    page = _reader(lambda r: httpx.Response(200, json=listing), limit=4).read({"newest_at": newest.isoformat(),
                                                                               "seen": [stored]})
    assert [p.native_id for p in page.posts] == ["t3_f", "t3_late"], "late-indexed t3_late is found, t3_d not again"
    assert page.more is False and page.cursor["newest_at"] == (NOW - timedelta(seconds=5)).isoformat()


def test_a_vanished_anchor_restarts_the_walk_from_the_top_once() -> None:
    reader = _reader(lambda r: httpx.Response(200, json=_listing([])))
    cursor = {"walk_from": "t3_deleted", "walk_floor": (NOW - timedelta(minutes=15)).isoformat()}
    page = reader.read(cursor)
    assert page.more is True and page.cursor["walk_from"] is None and page.cursor["walk_restarted"] is True
    page = reader.read({**cursor, "walk_restarted": True})
    assert page.more is False and page.cursor["walk_restarted"] is None


def _fails_with(response: httpx.Response, error: type[Exception], **options: Any) -> Exception:
    with pytest.raises(error) as caught:
        _reader(lambda r: response, **options).read({})
    return caught.value


def test_errors_map_onto_the_domain_with_the_reset_read_in_seconds() -> None:
    _fails_with(httpx.Response(401, json={"message": "Unauthorized", "error": 401},
                               headers={"www-authenticate": 'Bearer realm="reddit", error="invalid_token"'}), TokenExpired)
    _fails_with(httpx.Response(403, json={"message": "Forbidden", "error": 403}), PermanentPlatformError)
    _fails_with(httpx.Response(502, text="<html>bad gateway</html>"), TransientPlatformError)
    _fails_with(httpx.Response(200, json={"message": "Forbidden", "error": 403}), PermanentPlatformError)
    _fails_with(httpx.Response(200, text="<html>whoa there</html>"), TransientPlatformError)
    limited = _fails_with(httpx.Response(429, json={"message": "Too Many Requests", "error": 429}, headers={
        "X-Ratelimit-Used": "1000", "X-Ratelimit-Remaining": "0.0", "X-Ratelimit-Reset": "132"}), RateLimited)
    assert limited.resume_at == NOW + timedelta(seconds=132)
    # a secret with client credentials only: the first read asks for a token rather than failing
    _fails_with(httpx.Response(200, json=_listing([])), TokenExpired, credentials=_Credentials(None))


def test_the_last_query_of_the_window_parks_the_source_for_the_reset_seconds() -> None:
    headers = {"X-Ratelimit-Used": "1000", "X-Ratelimit-Remaining": "0.0", "X-Ratelimit-Reset": "75"}
    page = _reader(lambda r: httpx.Response(200, json=_listing([]), headers=headers)).read({})
    assert page.resume_at == NOW + timedelta(seconds=75)
    headers["X-Ratelimit-Remaining"] = "412.0"
    assert _reader(lambda r: httpx.Response(200, json=_listing([]), headers=headers)).read({}).resume_at is None


# --- token renewal -----------------------------------------------------------------------------------

def _refresh(handler: Any) -> RedditTokenRefresh:
    http = httpx.Client(base_url="https://www.reddit.com", transport=httpx.MockTransport(handler))
    return RedditTokenRefresh(http, user_agent="server:crisiscomms:0.1 (by /u/examplebank)", clock=lambda: NOW)


@pytest.mark.parametrize(("secret", "form"), [
    ({"refresh_token": "r-1"}, {"grant_type": ["refresh_token"], "refresh_token": ["r-1"]}),
    ({"username": "examplebank", "password": "pw"}, {"grant_type": ["password"], "username": ["examplebank"],
                                                     "password": ["pw"]}),
    ({}, {"grant_type": ["client_credentials"]}),
])
def test_renewal_uses_the_grant_the_secret_allows_with_basic_client_auth(secret: dict, form: dict) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"access_token": "fresh", "token_type": "bearer", "expires_in": 86400,
                                         "scope": "read"})

    renewed = _refresh(handler)({"client_id": "app", "client_secret": "s3cret", "access_token": "old", **secret})
    assert renewed == {"access_token": "fresh", "expires_at": (NOW + timedelta(days=1)).isoformat()}
    [request] = seen
    assert request.method == "POST" and request.url.path == "/api/v1/access_token"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"app:s3cret").decode()
    assert request.headers["User-Agent"].startswith("server:crisiscomms")
    assert parse_qs(request.content.decode()) == form


@pytest.mark.parametrize(("response", "error"), [
    (httpx.Response(200, json={"error": "invalid_grant"}), ReauthorisationNeeded),
    (httpx.Response(401, json={"message": "Unauthorized", "error": 401}), ReauthorisationNeeded),
    (httpx.Response(503, text="busy"), TransientPlatformError),
    (httpx.Response(429, json={"message": "Too Many Requests", "error": 429}, headers={"X-Ratelimit-Reset": "30"}),
     RateLimited),
])
def test_renewal_failures_say_whether_a_person_must_authorise_again(response: httpx.Response,
                                                                      error: type[Exception]) -> None:
    with pytest.raises(error):
        _refresh(lambda r: response)({"client_id": "app", "client_secret": "s", "refresh_token": "dead"})


def test_renewal_without_client_credentials_needs_a_person() -> None:
    with pytest.raises(ReauthorisationNeeded, match="client_id"):
        _refresh(lambda r: httpx.Response(200))({"access_token": "old"})


# --- the watch configuration ----------------------------------------------------------------------

def test_query_is_built_from_the_topics_and_bounded_by_reddits_limit() -> None:
    source = RedditSource(id="r", platform="reddit")
    topics = [Topic(id="harbor", names=["Harbor Bank", "港湾银行"], keywords=['say "hi"']), Topic(id="n", names=["HBK"])]
    assert source.search_query(topics) == '"Harbor Bank" OR 港湾银行 OR "say hi" OR HBK'
    with pytest.raises(ValueError, match="over Reddit's 512"):
        source.search_query([Topic(id="big", names=[f"name number {i}" for i in range(40)])])
    assert RedditSource(id="r", platform="reddit", query="bank run").search_query(topics) == "bank run"
    assert source.search_query(topics[:1], "u/HarborBank_Official") == \
        '"Harbor Bank" OR 港湾银行 OR "say hi" OR HarborBank_Official', "a post naming the bank's account is found"


def test_user_agent_names_the_banks_account_as_reddit_asks() -> None:
    source = RedditSource(id="r", platform="reddit")
    assert source.agent("examplebank") == "server:crisiscomms-listening:0.1 (by /u/examplebank)"
    custom = RedditSource(id="r", platform="reddit", user_agent="python:com.bank.listen:2.0 (by /u/bankops)")
    assert custom.agent("examplebank") == "python:com.bank.listen:2.0 (by /u/bankops)"


@pytest.mark.parametrize(("fields", "problem"), [
    ({"subreddit": "r/news"}, "subreddit"),
    ({"bank_subreddit": "x"}, "bank_subreddit"),
    ({"page_size": 101}, "page_size"),
    ({"query": "x" * 513}, "query"),
    ({"user_agent": "python-requests/2.31"}, "user_agent"),
    ({"overlap_minutes": -1}, "overlap_minutes"),
])
def test_invalid_sources_are_refused_naming_the_field(fields: dict, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        RedditSource.model_validate({"id": "r", "platform": "reddit", **fields})


# --- the emulator keeps Reddit's documented semantics ---------------------------------------------

@pytest.fixture
def server() -> Any:
    from crisiscomms.clock import SimulatedClock
    from crisiscomms_local.emulators.reddit_listen import RedditEmulator

    emulator = RedditEmulator(SimulatedClock(NOW), timeout_delay=0.2)
    emulator.start()
    yield emulator
    emulator.stop()


def test_emulator_listings_page_with_after_and_before_and_forget_deleted_anchors(server: Any) -> None:
    names = [server.add_post(text=f"Harbor Bank {n}", author="a", created_at=NOW - timedelta(minutes=10 - n))
             for n in range(5)]
    token = server.credentials()["access_token"]
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}) as http:
        def search(**params: Any) -> dict[str, Any]:
            response = http.get("/search", params={"q": "harbor bank", "sort": "new", "limit": 2, **params})
            assert response.headers["X-Ratelimit-Remaining"].endswith(".0") and response.headers["X-Ratelimit-Reset"]
            return response.json()["data"]

        top = search()
        assert [c["data"]["name"] for c in top["children"]] == [names[4], names[3]] and top["after"] == names[3]
        assert [c["data"]["name"] for c in search(after=names[3])["children"]] == [names[2], names[1]]
        assert [c["data"]["name"] for c in search(before=names[0])["children"]] == [names[2], names[1]]
        server.delete_post(names[2])
        assert search(before=names[2])["children"] == [] and search(after=names[2])["children"] == []
        server.expire_tokens()
        assert http.get("/search", params={"q": "x"}).status_code == 401


def test_emulator_token_endpoint_answers_a_bad_grant_with_200_and_bad_clients_with_401(server: Any) -> None:
    with httpx.Client(base_url=server.base_url) as http:
        bad_grant = http.post("/api/v1/access_token", auth=(server.client_id, server.client_secret),
                              data={"grant_type": "refresh_token", "refresh_token": "nope"})
        assert (bad_grant.status_code, bad_grant.json()) == (200, {"error": "invalid_grant"})
        assert http.post("/api/v1/access_token", auth=("x", "y"), data={"grant_type": "client_credentials"}).status_code == 401
        good = http.post("/api/v1/access_token", auth=(server.client_id, server.client_secret),
                         data={"grant_type": "client_credentials"}).json()
        assert good["expires_in"] == 86400 and good["token_type"] == "bearer"
    assert server.grants == ["client_credentials"]


def test_emulator_implements_the_listening_protocol_the_drill_uses(server: Any) -> None:
    from crisiscomms.watch import parse_watch_config

    config = parse_watch_config({"topics": [{"id": "bank", "names": ["Example Bank"]}],
                                 "sources": server.watch_sources(server.default_account()),
                                 "accounts": {"reddit": server.default_account()}})
    assert config.sources[0].search_query(config.topics) == '"Example Bank"'
    credentials = server.credentials()
    assert server.platform == "reddit" and {"client_id", "client_secret", "refresh_token", "access_token"} <= set(credentials)
