"""Douyin comments on the bank's videos: the parser on documented payloads, the error envelope, the
passes that miss nothing when the list shifts or comes back unordered, and the token refresh."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from crisiscomms.adapters.http import make_client
from crisiscomms.adapters.sources.douyin import (
    COMMENT_LIST_PATH,
    PAGE_SIZE,
    VIDEO_LIST_PATH,
    DouyinCommentReader,
    WatchedVideo,
    parse_comment_page,
    token_refresh,
)
from crisiscomms.errors import (
    ConfigurationError,
    PermanentPlatformError,
    RateLimited,
    ReauthorisationNeeded,
    TokenExpired,
    TransientPlatformError,
)
from crisiscomms.watch import parse_watch_config
from crisiscomms_local.emulators import Fault
from crisiscomms_local.emulators.douyin_listen import DouyinEmulator

VIDEO = WatchedVideo("@9VwWjvGUTp9kKW+ma4huFs791GfuOPuEM5RzrQOuKFAUZ/f660zdRmYqig357zEBoG9CZ3tmAj/+zx3ynAUaVA==",
                     "https://www.iesdouyin.com/share/video/7300000001/")
# The documented answer of item/comment/list.
DOCUMENTED = {
    "data": {"error_code": 0, "description": "", "cursor": 1, "has_more": True, "list": [
        {"top": True, "comment_id": "@9VxS1234567890cmT7Rq==", "comment_user_id": "u-4d2f09ab",
         "content": "港湾银行的转账什么时候恢复", "create_time": 1607399832, "digg_count": 647, "reply_comment_total": 12}]},
    "extra": {"logid": "202008121419360101980821035705926A", "now": 1597213176393, "error_code": 0, "description": "",
              "sub_error_code": 0, "sub_description": ""},
}


class Credentials:
    def __init__(self, value: dict[str, Any]) -> None:
        self.value = value

    def current(self) -> dict[str, Any]:
        return dict(self.value)


# -- the parser -------------------------------------------------------------------------------------

def test_documented_comments_become_posts_addressed_to_the_bank() -> None:
    page = parse_comment_page(DOCUMENTED, video=VIDEO, source_id="douyin-comments")
    assert page.malformed == [] and (page.cursor, page.has_more) == (1, True)
    [post] = page.posts
    assert post.key == "douyin#@9VxS1234567890cmT7Rq=="
    assert (post.platform, post.source_type, post.source_id, post.url) == ("douyin", "social", "douyin-comments", VIDEO.url)
    assert (post.author, post.author_id, post.followers) == ("u-4d2f09ab", "u-4d2f09ab", 0)
    assert (post.text, post.likes, post.replies, post.to_bank) == ("港湾银行的转账什么时候恢复", 647, 12, True)
    assert post.published_at == datetime(2020, 12, 8, 3, 57, 12, tzinfo=timezone.utc)  # 11:57:12 in Beijing
    assert page.times == [(1607399832, True)]
    # item/comment/reply names the video and the comment (open_id, the bank's, is in the credentials).
    assert post.reply_ref == {"item_id": VIDEO.item_id, "comment_id": "@9VxS1234567890cmT7Rq=="}


def test_malformed_comments_are_described_and_skipped() -> None:
    good = DOCUMENTED["data"]["list"][0]
    payload = {"data": {"error_code": 0, "has_more": False, "list": [
        {**good, "comment_id": ""}, {**good, "comment_id": "c2", "content": None},
        {**good, "comment_id": "c3", "create_time": "soon"}, {**good, "comment_id": "c4", "create_time": True},
        {key: value for key, value in good.items() if key != "content"}, ["not", "an", "object"],
        {**good, "comment_id": "c7", "digg_count": "many", "reply_comment_total": -3, "comment_user_id": None},
    ]}}
    page = parse_comment_page(payload, video=VIDEO, source_id="s")
    assert len(page.malformed) == 6 and [p.native_id for p in page.posts] == ["c7"]
    assert (page.posts[0].likes, page.posts[0].replies, page.posts[0].author) == (0, 0, "unknown")
    assert parse_comment_page({"data": {"list": "x"}}, video=VIDEO, source_id="s").malformed
    assert parse_comment_page({"extra": {}}, video=VIDEO, source_id="s").posts == []


def test_parse_throughput_is_far_above_a_page_a_second() -> None:
    import timeit

    good = DOCUMENTED["data"]["list"][0]
    payload = {"data": {"list": [{**good, "comment_id": f"c{n}", "top": False} for n in range(100)]}}
    seconds = min(timeit.repeat(lambda: parse_comment_page(payload, video=VIDEO, source_id="s"), number=20,
                                repeat=3)) / 20
    assert 100 / seconds > 5_000


# -- errors inside HTTP 200 --------------------------------------------------------------------------

def _answering(status: int, body: Any, clock: Any) -> DouyinCommentReader:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, json=body))
    return DouyinCommentReader(httpx.Client(base_url="https://open.douyin.com", transport=transport),
                               credentials=Credentials({"access_token": "act.x", "open_id": "o"}), videos=[VIDEO],
                               source_id="s", clock=clock, lookback=timedelta(hours=1))


@pytest.mark.parametrize(("code", "error"), [
    (2190008, TokenExpired), (28001008, TokenExpired), (10008, TokenExpired), (2190002, TokenExpired),
    (2100004, TransientPlatformError), (28001005, TransientPlatformError), (28003018, RateLimited),
    (28003017, RateLimited), (2190001, RateLimited), (28001012, PermanentPlatformError)])
def test_error_codes_inside_http_200_map_to_domain_errors(sim_clock, code: int, error: type) -> None:
    body = {"data": {"error_code": code, "description": "scripted"}, "extra": {"error_code": code}}
    with pytest.raises(error) as caught:
        _answering(200, body, sim_clock).read({})
    if code == 28003018:
        assert caught.value.resume_at == sim_clock() + timedelta(minutes=1)
    if code in (28003017, 2190001):  # the daily quota: back at midnight Beijing time, 16:00 UTC
        assert caught.value.resume_at == datetime(2026, 11, 28, 16, 0, tzinfo=timezone.utc)


def test_an_error_only_in_extra_and_http_failures_are_mapped(sim_clock) -> None:
    with pytest.raises(TokenExpired):
        _answering(200, {"extra": {"error_code": 28001008, "description": "expired"}}, sim_clock).read({})
    with pytest.raises(TransientPlatformError):
        _answering(502, {"extra": {"error_code": 2100004}}, sim_clock).read({})
    with pytest.raises(RateLimited):
        _answering(429, {}, sim_clock).read({})
    with pytest.raises(TokenExpired):
        _answering(401, {}, sim_clock).read({})


# -- the reader against the emulator ----------------------------------------------------------------

@pytest.fixture
def douyin(sim_clock: Any) -> Iterator[tuple[DouyinEmulator, httpx.Client]]:
    emulator = DouyinEmulator(sim_clock, timeout_delay=0.4)
    client = make_client(emulator.start(), timeout_seconds=2.0)
    yield emulator, client
    client.close()
    emulator.stop()


def _reader(emulator: DouyinEmulator, client: httpx.Client, clock: Any, *, videos: list[WatchedVideo] | None = None,
            reread: int = 10, **options: Any) -> DouyinCommentReader:
    if videos is None:
        videos = [WatchedVideo(emulator.watched_video, emulator.videos[emulator.watched_video].share_url)]
    return DouyinCommentReader(client, credentials=Credentials(emulator.credentials()), videos=videos, source_id="dy",
                               clock=clock, lookback=timedelta(hours=1), reread=timedelta(minutes=reread), **options)


def _pass(reader: DouyinCommentReader, cursor: dict[str, Any]) -> tuple[list[str], dict[str, Any], int]:
    """Read until the round ends, as the listening loop does; the posts, the cursor and the pages."""
    keys: list[str] = []
    pages = 0
    while True:
        page = reader.read(cursor)
        pages += 1
        keys += [p.native_id for p in page.posts]
        cursor = {k: v for k, v in {**cursor, **page.cursor}.items() if v is not None}
        if not page.more:
            return keys, cursor, pages


def _comments(emulator: DouyinEmulator, count: int, start: datetime, step: int = 10, video: str | None = None) -> list[str]:
    return [emulator.add_comment(video or emulator.watched_video, content=f"港湾银行 排队 {n}", user_id=f"u{n}",
                                 created_at=start + timedelta(seconds=step * n)) for n in range(count)]


def _list_calls(emulator: DouyinEmulator) -> list[Any]:
    return [r for r in emulator.requests_log if r.path == COMMENT_LIST_PATH]


def test_a_first_pass_reads_newest_first_down_to_the_lookback(douyin, sim_clock) -> None:
    emulator, client = douyin
    old = _comments(emulator, 5, sim_clock() - timedelta(hours=5))
    recent = _comments(emulator, 45, sim_clock() - timedelta(minutes=30), step=30)
    keys, cursor, pages = _pass(_reader(emulator, client, sim_clock), {})
    assert set(recent) <= set(keys) and pages == 3
    assert [r.query["sort_type"] for r in _list_calls(emulator)] == ["time"] * 3
    assert [r.query["cursor"] for r in _list_calls(emulator)] == ["0", "20", "40"]
    assert {r.query["count"] for r in _list_calls(emulator)} == {str(PAGE_SIZE)}
    assert set(old) & set(keys) == set(old)  # the last page held both: the pass stopped there
    newest = int((sim_clock() - timedelta(minutes=30) + timedelta(seconds=30 * 44)).timestamp())
    floor = int((sim_clock() - timedelta(hours=1)).timestamp())
    assert cursor["marks"] == [f"{emulator.watched_video} {newest} {floor}"]
    assert not {"queue", "pass_cursor", "pass_newest", "pass_ordered"} & set(cursor)


def test_the_access_token_travels_in_its_header(douyin, sim_clock) -> None:
    emulator, client = douyin
    captured: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: (captured.append(request), httpx.Response(
        200, json={"data": {"error_code": 0, "list": [], "has_more": False, "cursor": 0}}))[1])
    DouyinCommentReader(httpx.Client(base_url="https://open.douyin.com", transport=transport),
                        credentials=Credentials({"access_token": "act.secret", "open_id": "open-1"}), videos=[VIDEO],
                        source_id="s", clock=sim_clock, lookback=timedelta(hours=1)).read({})
    [request] = captured
    assert request.headers["access-token"] == "act.secret" and "act.secret" not in str(request.url)
    assert request.url.params["open_id"] == "open-1" and request.url.params["item_id"] == VIDEO.item_id


def test_later_passes_read_down_to_where_the_pass_before_last_began(douyin, sim_clock) -> None:
    emulator, client = douyin
    reader = _reader(emulator, client, sim_clock, reread=0)
    first = _comments(emulator, 30, sim_clock() - timedelta(minutes=20), step=30)
    _, cursor, _ = _pass(reader, {})
    _, cursor, _ = _pass(reader, cursor)  # the second pass still reads to the lookback: the first began there
    sim_clock.advance(timedelta(minutes=1))
    new = _comments(emulator, 3, sim_clock() - timedelta(seconds=30))
    emulator.clear_log()
    keys, cursor, pages = _pass(reader, cursor)
    assert pages == 1 and set(new) <= set(keys)  # quiet: one page reaches the floor
    assert set(first) | set(new) == {c.comment_id for c in emulator.videos[emulator.watched_video].comments}


def test_a_comment_shifted_past_a_page_boundary_by_a_deletion_is_read_by_the_next_pass(douyin, sim_clock) -> None:
    emulator, client = douyin
    reader = _reader(emulator, client, sim_clock, reread=0)
    _comments(emulator, 5, sim_clock() - timedelta(minutes=50))
    _, cursor, _ = _pass(reader, {})
    _, cursor, _ = _pass(reader, cursor)
    sim_clock.advance(timedelta(minutes=5))
    burst = _comments(emulator, 30, sim_clock() - timedelta(minutes=4), step=5)  # newest first: burst[29] .. burst[0]
    page = reader.read(cursor)  # burst[29] .. burst[10]
    cursor = {k: v for k, v in {**cursor, **page.cursor}.items() if v is not None}
    emulator.delete_comment(emulator.watched_video, burst[15])  # everything older moves up one place
    keys, cursor, _ = _pass(reader, cursor)
    assert burst[9] not in keys  # this pass's second page starts one comment too far down
    keys, cursor, _ = _pass(reader, cursor)
    assert burst[9] in keys  # the next pass reads down to where the last one began, so it is found


def test_a_comment_released_late_with_its_original_time_is_read_within_the_reread_window(douyin, sim_clock) -> None:
    emulator, client = douyin
    reader = _reader(emulator, client, sim_clock, reread=10)
    _comments(emulator, 25, sim_clock() - timedelta(minutes=40), step=60)
    cursor: dict[str, Any] = {}
    for _ in range(3):
        _, cursor, _ = _pass(reader, cursor)
    newest = max(c.created_at for c in emulator.videos[emulator.watched_video].comments)
    late = emulator.add_comment(emulator.watched_video, content="港湾银行 审核后才出现", created_at=newest - timedelta(minutes=8))
    keys, cursor, _ = _pass(reader, cursor)
    assert late in keys


def test_an_unordered_list_is_read_to_its_end_within_the_page_bound(douyin, sim_clock) -> None:
    emulator, client = douyin
    emulator.ignore_sort_type = True
    for n in range(60):
        emulator.add_comment(emulator.watched_video, content=f"港湾银行 {n}", digg_count=(n * 37) % 11,
                             created_at=sim_clock() - timedelta(minutes=50) + timedelta(seconds=30 * n))
    reader = _reader(emulator, client, sim_clock, max_pages_per_video=2)
    page = reader.read({})
    assert page.more is True and page.cursor["pass_ordered"] is False
    keys, cursor, pages = _pass(reader, {k: v for k, v in page.cursor.items() if v is not None})
    assert pages == 1 and len(page.posts) + len(keys) == 40  # the bound ends the pass after two pages
    emulator.ignore_sort_type = False
    keys, _, _ = _pass(reader, cursor)
    assert len(keys) == 60  # ordered again: the next pass reads down to its floor


def test_pinned_comments_do_not_break_the_order_check(douyin, sim_clock) -> None:
    emulator, client = douyin
    emulator.add_comment(emulator.watched_video, content="置顶: 官方说明", top=True,
                         created_at=sim_clock() - timedelta(minutes=59))
    _comments(emulator, 30, sim_clock() - timedelta(minutes=20), step=30)
    page = _reader(emulator, client, sim_clock).read({})
    assert page.cursor["pass_ordered"] is True and len(page.posts) == 20


def test_the_newest_videos_are_looked_up_at_the_start_of_each_round(douyin, sim_clock) -> None:
    emulator, client = douyin
    fresh = emulator.add_video("关于近期谣言的声明", created_at=sim_clock() - timedelta(minutes=30))
    on_fresh = _comments(emulator, 2, sim_clock() - timedelta(minutes=10), video=fresh)
    on_watched = _comments(emulator, 1, sim_clock() - timedelta(minutes=10))
    reader = _reader(emulator, client, sim_clock, videos=[], recent_videos=5)
    first = reader.read({})
    assert first.posts == [] and first.more is True and first.cursor["queue"] == [fresh, emulator.watched_video]
    assert f"{fresh} {emulator.videos[fresh].share_url}" in first.cursor["discovered"]
    keys, cursor, _ = _pass(reader, {k: v for k, v in first.cursor.items() if v is not None})
    assert set(keys) == set(on_fresh + on_watched)
    stored = parse_comment_page({"data": {"list": [{"comment_id": "x", "content": "c", "create_time": 1}]}},
                                video=WatchedVideo(fresh, emulator.videos[fresh].share_url), source_id="dy").posts[0]
    assert stored.url == emulator.videos[fresh].share_url
    assert [r.query["count"] for r in emulator.requests_log if r.path == VIDEO_LIST_PATH] == ["5"]


def test_a_video_douyin_does_not_know_is_skipped_and_the_others_read(douyin, sim_clock) -> None:
    emulator, client = douyin
    mine = _comments(emulator, 2, sim_clock() - timedelta(minutes=5))
    reader = _reader(emulator, client, sim_clock, videos=[WatchedVideo("@gone=="), WatchedVideo(emulator.watched_video)])
    keys, cursor, pages = _pass(reader, {})
    assert set(keys) == set(mine) and pages == 2 and [m.split(" ")[0] for m in cursor["marks"]] == [emulator.watched_video]


def test_a_rate_limit_fault_pauses_for_a_minute(douyin, sim_clock) -> None:
    emulator, client = douyin
    emulator.add_fault(Fault(sim_clock(), sim_clock() + timedelta(minutes=5), "rate_limit"))
    with pytest.raises(RateLimited) as caught:
        _reader(emulator, client, sim_clock).read({})
    assert caught.value.resume_at == sim_clock() + timedelta(minutes=1)


# -- the token refresh ----------------------------------------------------------------------------------

def test_an_expired_token_is_refreshed_with_the_refresh_token(douyin, sim_clock) -> None:
    emulator, client = douyin
    emulator.expire_access_token()
    old = emulator.credentials()
    with pytest.raises(TokenExpired):
        _reader(emulator, client, sim_clock).read({})
    fresh = token_refresh(client, clock=sim_clock)(old)
    assert fresh["access_token"] == emulator.access_token != old["access_token"]
    assert fresh["refresh_token"] == old["refresh_token"] and emulator.renew_calls == 0  # 30 days left: no renewal
    assert fresh["access_expires_at"] == (sim_clock() + timedelta(days=15)).isoformat()
    reader = DouyinCommentReader(client, credentials=Credentials({**old, **fresh}), videos=[WatchedVideo(emulator.watched_video)],
                                 source_id="dy", clock=sim_clock, lookback=timedelta(hours=1))
    assert reader.read({}).more is False


def test_a_refresh_token_running_low_is_renewed_once_and_rotates(douyin, sim_clock) -> None:
    emulator, client = douyin
    emulator.refresh_expires_at = sim_clock() + timedelta(days=14)
    old = emulator.credentials()
    fresh = token_refresh(client, clock=sim_clock)(old)
    assert emulator.renew_calls == 1 and fresh["refresh_token"] == emulator.refresh_token != old["refresh_token"]
    assert fresh["refresh_expires_at"] == (sim_clock() + timedelta(days=30)).isoformat()


def test_a_refresh_token_that_may_not_be_renewed_is_kept_and_a_dead_one_needs_the_owner(douyin, sim_clock) -> None:
    emulator, client = douyin
    emulator.renew_allowed = False
    emulator.refresh_expires_at = sim_clock() + timedelta(days=3)
    old = emulator.credentials()
    fresh = token_refresh(client, clock=sim_clock)(old)
    assert fresh["refresh_token"] == old["refresh_token"]
    assert fresh["refresh_expires_at"] == (sim_clock() + timedelta(days=3)).isoformat()
    sim_clock.advance(timedelta(days=4))
    with pytest.raises(ReauthorisationNeeded, match="10010"):
        token_refresh(client, clock=sim_clock)(old)
    with pytest.raises(ReauthorisationNeeded, match="client_key"):
        token_refresh(client, clock=sim_clock)({"access_token": "a"})


# -- the watch configuration ------------------------------------------------------------------------

def test_a_source_names_videos_or_reads_the_newest_ones() -> None:
    def config(**source: Any) -> Any:
        return parse_watch_config({"topics": [{"id": "harbor", "names": ["港湾银行"]}],
                                   "sources": [{"id": "dy", "platform": "douyin", **source}]}).sources[0]

    assert config(recent_videos=5).videos == [] and config(videos=[{"item_id": "@a=="}]).recent_videos == 0
    for bad, where in [({}, "recent_videos"), ({"recent_videos": 21}, "recent_videos"),
                       ({"videos": [{"item_id": "@a=="}, {"item_id": "@a=="}]}, "listed twice"),
                       ({"videos": [{"item_id": "has space"}]}, "item_id"),
                       ({"recent_videos": 1, "max_pages_per_video": 0}, "max_pages_per_video")]:
        with pytest.raises(ConfigurationError, match=where):
            config(**bad)
