"""Weibo listening: the parser on Weibo's documented payloads, the error envelope (inside HTTP 200 too),
the cursors of each stream against the emulator, and the watch configuration of a Weibo source."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from crisiscomms.adapters.http import make_client
from crisiscomms.adapters.sources.weibo import (
    COMMENTS_SHOW_PATH,
    MENTIONS_PATH,
    SEARCH_PATH,
    USER_TIMELINE_PATH,
    WeiboReader,
    WeiboStream,
    mention_pattern,
    parse_created_at,
    parse_items,
)
from crisiscomms.errors import (
    PermanentPlatformError,
    RateLimited,
    ReauthorisationNeeded,
    TokenExpired,
    TransientPlatformError,
)
from crisiscomms.errors import ConfigurationError
from crisiscomms.watch import parse_watch_config
from crisiscomms_local.emulators.channels.weibo import WeiboEmulator

TOKEN = "2.00weibo-listening-token"
CST = timezone(timedelta(hours=8))

# The status object of Weibo's statuses/mentions documentation (trimmed to the fields it shows).
DOC_STATUS = {
    "created_at": "Tue May 31 17:46:55 +0800 2011",
    "id": 11488058246,
    "text": "求关注。",
    "source": "<a href=\"http://weibo.com\" rel=\"nofollow\">新浪微博</a>",
    "favorited": False,
    "truncated": False,
    "in_reply_to_status_id": "",
    "in_reply_to_user_id": "",
    "in_reply_to_screen_name": "",
    "geo": None,
    "mid": "5612814510546515491",
    "reposts_count": 8,
    "comments_count": 9,
    "annotations": [],
    "user": {
        "id": 1404376560, "screen_name": "zaku", "name": "zaku", "province": "11", "city": "5",
        "location": "北京 朝阳区", "description": "人生五十年，乃如梦如幻；有生斯有死，壮士复何憾。",
        "url": "http://blog.sina.com.cn/zaku", "domain": "zaku", "gender": "m", "followers_count": 1204,
        "friends_count": 447, "statuses_count": 2908, "favourites_count": 0,
        "created_at": "Fri Aug 28 00:00:00 +0800 2009", "verified": False,
    },
}
# The comment object of Weibo's comments/to_me documentation.
DOC_COMMENT = {
    "created_at": "Wed Jun 01 00:50:25 +0800 2011",
    "id": 12438492184,
    "text": "love your work.......",
    "source": "<a href=\"http://weibo.com\" rel=\"nofollow\">新浪微博</a>",
    "mid": "202110601896455629",
    "user": DOC_STATUS["user"],
    "status": {**DOC_STATUS, "user": {**DOC_STATUS["user"], "id": 5566778899, "screen_name": "ExampleBank"}},
}


def _parse(payload: dict[str, Any], **kwargs: Any) -> Any:
    options = {"key": "statuses", "source_id": "weibo-mentions", "to_bank": True, **kwargs}
    return parse_items(payload, **options)


# --- the parser ----------------------------------------------------------------------------------

def test_documented_status_becomes_a_post_with_every_field() -> None:
    page = _parse({"statuses": [DOC_STATUS], "previous_cursor": 0, "next_cursor": 11488013766, "total_number": 81655})
    assert page.malformed == []
    [post] = page.posts
    assert (post.platform, post.native_id, post.source_id) == ("weibo", "11488058246", "weibo-mentions")
    assert (post.author, post.author_id, post.followers) == ("zaku", "1404376560", 1204)
    assert post.text == "求关注。"
    assert post.published_at == datetime(2011, 5, 31, 9, 46, 55, tzinfo=timezone.utc)  # 17:46:55 CST
    assert (post.likes, post.reposts, post.replies) == (0, 8, 9)
    assert post.location == "北京 朝阳区", "user.location is kept as Weibo's free text"
    assert post.url == "https://weibo.com/1404376560/11488058246"
    assert post.to_bank is True
    assert (page.next_cursor, page.total_number, page.ids) == (11488013766, 81655, [11488058246])
    assert post.reply_ref == {"id": "11488058246"}, "a status is answered with comments/create on it"


def test_documented_comment_points_at_the_post_it_is_under() -> None:
    page = _parse({"comments": [DOC_COMMENT]}, key="comments", source_id="weibo-comments")
    [post] = page.posts
    assert post.native_id == "12438492184"
    assert post.url == "https://weibo.com/5566778899/11488058246"
    assert post.published_at == datetime(2011, 5, 31, 16, 50, 25, tzinfo=timezone.utc)
    assert post.to_bank is True and post.location == "北京 朝阳区"
    # comments/reply needs the comment (cid) and the status it is under (id).
    assert post.reply_ref == {"id": "11488058246", "cid": "12438492184"}


@pytest.mark.parametrize(("raw", "expected"), [
    ("Tue May 31 17:46:55 +0800 2011", datetime(2011, 5, 31, 17, 46, 55, tzinfo=CST)),
    ("Sat Nov 28 00:30:00 +0800 2026", datetime(2026, 11, 27, 16, 30, tzinfo=timezone.utc)),  # the day before in UTC
    ("Mon Jan 05 08:00:00 -0500 2026", datetime(2026, 1, 5, 13, 0, tzinfo=timezone.utc)),
    ("Mon Jan 05 08:00:00 +0000 2026", datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)),
])
def test_created_at_keeps_its_zone(raw: str, expected: datetime) -> None:
    parsed = parse_created_at(raw)
    assert parsed == expected and parsed.utcoffset() is not None


@pytest.mark.parametrize("raw", ["2011-05-31T17:46:55+08:00", "Tue Mai 31 17:46:55 +0800 2011",
                                 "Tue May 31 17:46:55 2011", "Tue May 31 25:46:55 +0800 2011", 1306835215, None])
def test_created_at_in_another_form_is_refused(raw: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        parse_created_at(raw)


def test_malformed_items_are_described_and_never_fail_the_page() -> None:
    good = {**DOC_STATUS, "id": 4001, "idstr": "4001"}
    items = [
        good,
        {**DOC_STATUS, "id": None, "idstr": None},  # no id
        {**DOC_STATUS, "idstr": "4002", "created_at": "yesterday"},
        {**DOC_STATUS, "idstr": "4003", "text": None},
        {**DOC_STATUS, "idstr": "4004", "user": None},
        {**DOC_STATUS, "idstr": "4005", "user": {"id": 1}},  # no screen_name
        "not an object",
        {**DOC_STATUS, "idstr": "4006", "reposts_count": "10万+", "user": {**DOC_STATUS["user"], "followers_count": None}},
    ]
    page = _parse({"statuses": items})
    assert [p.native_id for p in page.posts] == ["4001", "4006"]
    assert page.posts[1].reposts == 0 and page.posts[1].followers == 0, "unreadable figures count as 0"
    assert len(page.malformed) == 6
    assert page.malformed[0].startswith("status ?: ValueError: no numeric idstr or id")
    assert any(m.startswith("status 4002: ValueError") for m in page.malformed)
    assert any(m.startswith("status 4004: TypeError: user is not an object") for m in page.malformed)
    assert page.ids == [4001, 4002, 4003, 4004, 4005, 4006], "ids of broken items still move the cursor"
    assert page.raw_count == 8


def test_a_listing_that_is_not_a_list_is_reported() -> None:
    assert _parse({"statuses": {"oops": 1}}).malformed == ["statuses is not a list"]
    assert _parse({}).malformed == [] and _parse({}).posts == []


def test_deleted_own_and_too_old_items_are_skipped_without_complaint() -> None:
    old = {**DOC_STATUS, "idstr": "10", "created_at": "Sat Nov 28 16:00:00 +0800 2026"}
    fresh = {**DOC_STATUS, "idstr": "11", "created_at": "Sat Nov 28 16:59:00 +0800 2026"}
    deleted = {"idstr": "12", "created_at": "Sat Nov 28 16:59:30 +0800 2026", "text": "此微博已被作者删除。", "deleted": "1"}
    own = {**fresh, "idstr": "13", "user": {**DOC_STATUS["user"], "id": 5566778899, "screen_name": "ExampleBank"}}
    own_by_name = {**fresh, "idstr": "14", "user": {"screen_name": "examplebank"}}
    page = _parse({"statuses": [own_by_name, own, deleted, fresh, old]}, bank_id="5566778899", bank_handle="@ExampleBank",
                  floor=datetime(2026, 11, 28, 8, 30, tzinfo=timezone.utc))
    assert [p.native_id for p in page.posts] == ["11"]
    assert page.malformed == []
    assert page.oldest_at == datetime(2026, 11, 28, 8, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("text", "to_bank"), [
    ("@ExampleBank 网银登不上", True),
    ("网银登不上 @examplebank", True),
    ("回复@ExampleBank:还是不行", True),
    ("@ExampleBankFans 今天活动", False),
    ("ExampleBank 网银登不上", False),
    ("@ExampleBank-HK 你好", False),
])
def test_search_marks_posts_that_mention_the_bank(text: str, to_bank: bool) -> None:
    page = _parse({"statuses": [{**DOC_STATUS, "text": text}]}, to_bank=False, mention=mention_pattern("ExampleBank"))
    assert page.posts[0].to_bank is to_bank


def test_a_chinese_handle_is_recognised() -> None:
    pattern = mention_pattern("示例银行官方微博")
    assert pattern is not None and pattern.search("@示例银行官方微博 为什么转账失败") is not None
    assert pattern.search("@示例银行官方微博客服 你好") is None
    assert mention_pattern(None) is None


def test_parser_throughput_on_a_page_of_100() -> None:
    import timeit

    page = {"statuses": [{**DOC_STATUS, "id": 5000 + n, "idstr": str(5000 + n), "text": f"@ExampleBank 网银 {n}"}
                         for n in range(100)]}
    seconds = min(timeit.repeat(lambda: _parse(page, to_bank=False, mention=mention_pattern("ExampleBank")),
                                number=20, repeat=3)) / 20
    assert len(_parse(page).posts) == 100
    assert seconds < 0.5, f"{100 / seconds:.0f} items/s"


# --- the error envelope, whatever the HTTP status --------------------------------------------------

class _Credentials:
    def __init__(self, value: dict[str, Any]) -> None:
        self.value = value

    def current(self) -> dict[str, Any]:
        return dict(self.value)


NOW = datetime(2026, 11, 28, 9, 20, 30, tzinfo=timezone.utc)


def _reader(answer: Callable[[httpx.Request], httpx.Response], kind: str = "mentions", **stream: Any) -> WeiboReader:
    http = httpx.Client(base_url="https://api.weibo.com", transport=httpx.MockTransport(answer))
    settings = {"kind": kind, "source_id": f"weibo-{kind}", "count": 200, "lookback": timedelta(minutes=15), **stream}
    return WeiboReader(http, stream=WeiboStream(**settings), credentials=_Credentials({"access_token": TOKEN}),
                       clock=lambda: NOW)


def _answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Callable[[httpx.Request], httpx.Response]:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return lambda request: httpx.Response(status, content=content, headers=headers or {})


def _envelope(code: Any, error: str = "error") -> dict[str, Any]:
    return {"request": MENTIONS_PATH, "error_code": code, "error": error}


@pytest.mark.parametrize("status", [200, 403])
@pytest.mark.parametrize("code", [10022, 10023, 10024, "10023"])
def test_frequency_limits_pause_until_the_next_full_hour(status: int, code: Any) -> None:
    with pytest.raises(RateLimited) as caught:
        _reader(_answer(status, _envelope(code, "User requests out of rate limit!"))).read({})
    assert caught.value.resume_at == datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("code", [21327, 21332, 21315, 21314, 21316, 21317, 21319, 21301])
@pytest.mark.parametrize("status", [200, 401])
def test_refused_tokens_ask_for_renewal(code: int, status: int) -> None:
    with pytest.raises(TokenExpired) as caught:
        _reader(_answer(status, _envelope(code, f"expired_token {TOKEN}"))).read({})
    assert caught.value.code == str(code)
    assert TOKEN not in str(caught.value), "the token Weibo echoes is masked"


@pytest.mark.parametrize(("status", "body", "expected"), [
    (200, _envelope(10001, "System error"), TransientPlatformError),
    (200, _envelope(10009, "Too many pending tasks, system is busy"), TransientPlatformError),
    (503, _envelope(10002, "Service unavailable"), TransientPlatformError),
    (502, b"<html>Bad Gateway</html>", TransientPlatformError),
    (200, b"<html>maintenance</html>", TransientPlatformError),
    (200, _envelope(20003, "User does not exists!"), PermanentPlatformError),
    (400, _envelope(10014, "Insufficient app permissions!"), PermanentPlatformError),
    (403, b"Forbidden", PermanentPlatformError),
])
def test_other_errors_are_transient_or_permanent_by_their_code(status: int, body: Any, expected: type) -> None:
    with pytest.raises(expected) as caught:
        _reader(_answer(status, body)).read({})
    assert not isinstance(caught.value, (RateLimited, TokenExpired))


def test_a_plain_429_honours_retry_after_when_given() -> None:
    with pytest.raises(RateLimited) as caught:
        _reader(_answer(429, b"slow down", {"Retry-After": "120"})).read({})
    assert caught.value.resume_at == NOW + timedelta(seconds=120)


def test_no_token_in_the_secret_needs_a_person() -> None:
    reader = _reader(_answer(200, {"statuses": []}))
    reader._credentials = _Credentials({"uid": "1"})
    with pytest.raises(ReauthorisationNeeded):
        reader.read({})


def test_a_refused_max_id_restarts_the_pass_from_the_committed_since_id() -> None:
    body = _envelope(10017, "Parameter (max_id)'s value invalid, expect (int64), but get (x), see doc for more info.")
    page = _reader(_answer(400, body)).read({"since_id": "100", "max_id": "x", "pending_since_id": "300"})
    assert page.posts == [] and page.more is True
    assert page.cursor == {"max_id": None, "pending_since_id": None}


def test_a_refused_since_id_starts_over_from_the_look_back() -> None:
    body = _envelope(10017, "Parameter (since_id)'s value invalid, expect (int64), but get (abc), see doc for more info.")
    page = _reader(_answer(400, body)).read({"since_id": "abc"})
    assert page.cursor == {"max_id": None, "pending_since_id": None, "since_id": None, "floor": None}


def test_the_token_travels_as_the_documented_parameter_and_search_may_use_its_own() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"statuses": [], "total_number": 0})

    reader = _reader(answer, "search", terms=("港湾银行",), lag_seconds=60, count=50)
    reader._credentials = _Credentials({"access_token": TOKEN, "search_access_token": "2.00business"})
    reader.read({})
    [request] = seen
    params = dict(request.url.params)
    assert request.url.path == SEARCH_PATH and params["access_token"] == "2.00business"
    assert params["q"] == "港湾银行" and params["sort"] == "time" and params["count"] == "50"
    assert int(params["endtime"]) == int(NOW.timestamp()) - 60
    assert int(params["starttime"]) == int((NOW - timedelta(minutes=15)).timestamp())


# --- the streams against the emulator ------------------------------------------------------------

@pytest.fixture
def weibo(sim_clock: Any) -> Iterator[WeiboEmulator]:
    emulator = WeiboEmulator(sim_clock, access_token=TOKEN, timeout_delay=0.4)
    emulator.start()
    yield emulator
    emulator.stop()


def _emulated_reader(weibo: WeiboEmulator, sim_clock: Any, kind: str, **stream: Any) -> WeiboReader:
    settings = {"kind": kind, "source_id": f"weibo-{kind}", "count": 200, "lookback": timedelta(minutes=30),
                "bank_handle": weibo.screen_name, "bank_id": weibo.uid, **stream}
    return WeiboReader(make_client(weibo.base_url, timeout_seconds=2), stream=WeiboStream(**settings),
                       credentials=_Credentials({"access_token": TOKEN}), clock=sim_clock)


def _drain(reader: WeiboReader, cursor: dict[str, Any], *, pages: int = 50) -> tuple[list[Any], dict[str, Any], int]:
    """Read until the stream says nothing more is waiting; the cursor is merged as the listener does."""
    posts: list[Any] = []
    for n in range(1, pages + 1):
        page = reader.read(cursor)
        posts += page.posts
        cursor = {k: v for k, v in {**cursor, **page.cursor}.items() if v is not None}
        if not page.more:
            return posts, cursor, n
    return posts, cursor, pages


def test_mentions_page_down_by_max_id_and_commit_since_id_only_at_the_bottom(weibo: WeiboEmulator, sim_clock: Any) -> None:
    start = sim_clock() - timedelta(minutes=20)
    ids = [weibo.add_post(text=f"@ExampleBank 转账失败 {n}", author=f"user{n % 9}", created_at=start + timedelta(seconds=n),
                          to_bank=True) for n in range(450)]
    reader = _emulated_reader(weibo, sim_clock, "mentions")
    first = reader.read({})
    assert len(first.posts) == 200 and first.more
    assert first.cursor["pending_since_id"] == max(ids, key=int) and "since_id" not in first.cursor
    assert first.cursor["max_id"] == str(int(ids[250]) - 1)

    late = weibo.add_post(text="@ExampleBank 又来了", author="late", created_at=sim_clock(), to_bank=True)
    posts, cursor, pages = _drain(reader, {k: v for k, v in first.cursor.items() if v is not None})
    assert pages == 2 and len(first.posts) + len(posts) == 450
    assert cursor == {"since_id": max(ids, key=int)}, "the arrival during the pass is left for the next one"
    [mentions] = [r for r in weibo.requests_log if r.path == MENTIONS_PATH][-1:]
    assert mentions.query["count"] == "200" and mentions.query["max_id"]

    posts, cursor, _ = _drain(reader, cursor)
    assert [p.native_id for p in posts] == [late] and cursor == {"since_id": late}
    assert weibo.requests_log[-1].query["since_id"] == max(ids, key=int)


def test_a_first_pass_stops_at_the_look_back(weibo: WeiboEmulator, sim_clock: Any) -> None:
    for n in range(300):
        weibo.add_post(text=f"@ExampleBank old {n}", author="a", created_at=sim_clock() - timedelta(hours=5, seconds=n),
                       to_bank=True)
    recent = [weibo.add_post(text=f"@ExampleBank new {n}", author="b", created_at=sim_clock() - timedelta(minutes=n),
                             to_bank=True) for n in range(3)]
    posts, cursor, pages = _drain(_emulated_reader(weibo, sim_clock, "mentions", count=2), {})
    assert sorted(p.native_id for p in posts) == sorted(recent)
    assert pages == 2, "the page that reaches past the look-back ends the pass"
    assert cursor == {"since_id": max(recent, key=int)}


def test_comments_to_me_are_to_the_bank_and_keep_the_location(weibo: WeiboEmulator, sim_clock: Any) -> None:
    post = weibo.add_own_post("我行网上银行今日维护", created_at=sim_clock() - timedelta(hours=2))
    cid = weibo.add_comment(text="维护到几点？", author="深圳网友", created_at=sim_clock() - timedelta(minutes=1),
                            followers=320, location="广东 深圳", likes=4)
    [comment], cursor, _ = _drain(_emulated_reader(weibo, sim_clock, "comments"), {})
    assert (comment.native_id, comment.location, comment.followers, comment.likes) == (cid, "广东 深圳", 320, 4)
    assert comment.to_bank and comment.url == f"https://weibo.com/{weibo.uid}/{post}"
    assert comment.published_at == sim_clock() - timedelta(minutes=1)
    assert cursor == {"since_id": cid}


def test_post_comments_sweep_is_bounded_to_the_newest_posts(weibo: WeiboEmulator, sim_clock: Any) -> None:
    posts = [weibo.add_own_post(f"声明 {n}", created_at=sim_clock() - timedelta(hours=3 - n)) for n in range(3)]
    for n, post in enumerate(posts):
        weibo.add_comment(text=f"评论 {n}", author=f"c{n}", created_at=sim_clock() - timedelta(minutes=5), post_id=post)
    reader = _emulated_reader(weibo, sim_clock, "post_comments", recent_posts=2)
    found, cursor, pages = _drain(reader, {})
    assert sorted(p.text for p in found) == ["评论 1", "评论 2"], "the oldest post is outside the sweep"
    assert pages == 3 and weibo.calls(USER_TIMELINE_PATH) == 1 and weibo.calls(COMMENTS_SHOW_PATH) == 2
    assert set(cursor) == {"post_since"} and len(cursor["post_since"]) == 2

    newer = weibo.add_comment(text="还没好", author="c9", created_at=sim_clock(), post_id=posts[2])
    found, cursor, _ = _drain(reader, cursor)
    assert [p.native_id for p in found] == [newer]
    assert f"{posts[2]}:{newer}" in cursor["post_since"]


def test_post_comments_of_a_post_without_comments_read_everything_later(weibo: WeiboEmulator, sim_clock: Any) -> None:
    post = weibo.add_own_post("新声明", created_at=sim_clock() - timedelta(minutes=1))
    reader = _emulated_reader(weibo, sim_clock, "post_comments", recent_posts=1, lookback=timedelta(minutes=5))
    _found, cursor, _ = _drain(reader, {})
    assert cursor == {"post_since": [f"{post}:0"]}
    sim_clock.advance(timedelta(hours=2))  # a long pause (a rate limit): a floor would now drop the comment
    late = weibo.add_comment(text="两小时前的评论", author="x", created_at=sim_clock() - timedelta(minutes=90), post_id=post)
    found, _cursor, _ = _drain(reader, cursor)
    assert [p.native_id for p in found] == [late]


def test_search_runs_every_keyword_through_one_window_then_moves_on(weibo: WeiboEmulator, sim_clock: Any) -> None:
    for n in range(60):
        weibo.add_post(text=f"港湾银行 排队 {n}", author=f"s{n}", created_at=sim_clock() - timedelta(minutes=10, seconds=n))
    weibo.add_own_post("港湾银行 公告", created_at=sim_clock() - timedelta(minutes=2))
    reader = _emulated_reader(weibo, sim_clock, "search", terms=("港湾银行", "排队"), lag_seconds=0, count=50)
    found, cursor, pages = _drain(reader, {})
    assert pages == 4 and len(found) == 120 and len({p.native_id for p in found}) == 60, "each keyword finds all 60"
    assert not any(p.author == weibo.screen_name for p in found), "the bank's own post is not listened to"
    end = int(sim_clock().timestamp())
    assert cursor == {"searched_until": end}

    sim_clock.advance(timedelta(minutes=1))
    _drain(reader, cursor)
    searches = [r.query for r in weibo.requests_log if r.path == SEARCH_PATH]
    assert searches[-1]["starttime"] == str(end), "the next window starts where the last ended"


@pytest.mark.parametrize(("retry_after", "resume"), [(None, datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)),
                                                     (90, datetime(2026, 11, 28, 9, 1, 30, tzinfo=timezone.utc))])
def test_a_frequency_limit_resumes_on_the_hour_unless_told_otherwise(weibo: WeiboEmulator, sim_clock: Any,
                                                                      retry_after: int | None, resume: datetime) -> None:
    from crisiscomms_local.emulators import Fault

    now = sim_clock()
    weibo.add_fault(Fault(now, now + timedelta(minutes=2), "rate_limit", retry_after=retry_after, target="mentions"))
    with pytest.raises(RateLimited) as caught:
        _emulated_reader(weibo, sim_clock, "mentions").read({})
    assert caught.value.resume_at == resume
    _emulated_reader(weibo, sim_clock, "comments").read({})  # a fault aimed at one listing spares the others


def test_search_with_nothing_to_search_costs_nothing(weibo: WeiboEmulator, sim_clock: Any) -> None:
    page = _emulated_reader(weibo, sim_clock, "search", terms=()).read({})
    assert page.posts == [] and page.more is False and weibo.requests_log == []


def test_a_deleted_post_leaves_the_sweep(weibo: WeiboEmulator, sim_clock: Any) -> None:
    reader = _emulated_reader(weibo, sim_clock, "post_comments", recent_posts=2)
    page = reader.read({"post_queue": ["5031000000009999"], "post_since": ["5031000000009999:5"]})
    assert page.posts == [] and page.cursor["post_queue"] is None and page.cursor["post_since"] is None


# --- the watch configuration ------------------------------------------------------------------------

def _config(*sources: dict[str, Any]) -> Any:
    return parse_watch_config({"topics": [{"id": "harbor", "names": ["港湾银行", "Harbor Bank"], "keywords": ["网银"]}],
                               "sources": list(sources)})


def test_weibo_sources_default_to_mentions_every_three_minutes_at_full_pages() -> None:
    config = _config({"id": "wb", "platform": "weibo"}, {"id": "wb-search", "platform": "weibo", "stream": "search"})
    mentions, search = config.sources
    assert (mentions.stream, mentions.every_minutes, mentions.page_size) == ("mentions", 3, 200)
    assert (search.page_size, search.lag_seconds) == (50, 60)
    assert search.search_terms(config.topics_for(search)) == ["港湾银行", "港灣銀行", "Harbor Bank", "网银", "網銀"]
    topics = [SimpleNamespace(names=["港湾银行"], keywords=["港湾银行APP", "harbor bank app"]),
              SimpleNamespace(names=["Harbor Bank"], keywords=[])]
    assert search.search_terms(topics) == ["港湾银行", "港灣銀行", "Harbor Bank"], "terms holding another add no call"


@pytest.mark.parametrize(("source", "field"), [
    ({"stream": "mentions", "keywords": ["港湾银行"]}, "keywords applies only to stream search"),
    ({"stream": "comments", "recent_posts": 3}, "recent_posts applies only to stream post_comments"),
    ({"stream": "search", "count": 51}, "at most 50"),
    ({"stream": "mentions", "count": 201}, "sources.0.count"),
    ({"stream": "search", "keywords": ['"港湾银行"']}, "sources.0.keywords.0"),
    ({"stream": "search", "keywords": ["  "]}, "sources.0.keywords.0"),
    ({"stream": "post_comments", "recent_posts": 21}, "sources.0.recent_posts"),
    ({"stream": "timeline"}, "sources.0.stream"),
    ({"stream": "search", "search_lag_seconds": -1}, "sources.0.search_lag_seconds"),
])
def test_a_weibo_source_is_validated_strictly(source: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        _config({"id": "wb", "platform": "weibo", **source})
    assert field in str(caught.value)


def test_explicit_keywords_replace_the_topics() -> None:
    config = _config({"id": "wb", "platform": "weibo", "stream": "search", "keywords": ["港湾银行 网银", "港湾银行 网银"]})
    assert config.sources[0].search_terms(config.topics) == ["港湾银行 网银"]
