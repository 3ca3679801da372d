"""WeChat Official Account comments: the parser on documented payloads, the reader and the stable-token
refresh against the emulator, and publishing by mass send so the statement's comments can be read."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from crisiscomms.adapters.channels.wechat import MASS_GET_PATH, MASS_SEND_PATH, WeChatAdapter
from crisiscomms.adapters.http import make_client
from crisiscomms.adapters.sources.wechat import (
    COMMENT_LIST_PATH,
    PAGE_SIZE,
    WatchedArticle,
    WeChatCommentReader,
    parse_comment_page,
    stable_token_refresh,
)
from crisiscomms.errors import (
    ConfigurationError,
    PermanentPlatformError,
    RateLimited,
    ReauthorisationNeeded,
    TokenExpired,
    TransientPlatformError,
)
from crisiscomms.models.delivery import DeliveryRequest, PreparedItem
from crisiscomms.watch import parse_watch_config
from crisiscomms_local.emulators import Fault
from crisiscomms_local.emulators.channels.wechat import DRAFT_ADD_PATH, SUBMIT_PATH, WeChatEmulator

ARTICLE = WatchedArticle(2650000123, 0, "https://mp.weixin.qq.com/s/statement")
# The documented answer of comment/list, with the documented fields only.
DOCUMENTED = {
    "errcode": 0,
    "errmsg": "ok",
    "total": 2,
    "comment": [
        {"user_comment_id": 17, "openid": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "create_time": 1795852800,
         "content": "港湾银行的网银什么时候恢复？", "comment_type": 0,
         "reply": {"content": "已全面恢复，感谢耐心等待", "create_time": 1795853400}},
        {"user_comment_id": 18, "create_time": 1795852860, "content": "转账还是失败", "comment_type": 1},
    ],
}


class Credentials:
    def __init__(self, value: dict[str, Any]) -> None:
        self.value = value

    def current(self) -> dict[str, Any]:
        return dict(self.value)


# -- the parser -------------------------------------------------------------------------------------

def test_documented_comments_become_posts_addressed_to_the_bank() -> None:
    page = parse_comment_page(DOCUMENTED, article=ARTICLE, source_id="wechat-comments")
    assert page.malformed == [] and page.ids == ["17", "18"]
    first, second = page.posts
    assert first.key == "wechat#2650000123_0_17"
    assert (first.platform, first.source_type, first.source_id, first.url) == (
        "wechat", "social", "wechat-comments", "https://mp.weixin.qq.com/s/statement")
    assert (first.author, first.author_id, first.followers) == ("o6_bmjrPTlm6_2sgVt7hMZOPfL2M",) * 2 + (0,)
    assert first.text == "港湾银行的网银什么时候恢复？" and first.replies == 1 and first.to_bank is True
    assert first.published_at == datetime(2026, 11, 28, 8, 0, tzinfo=timezone.utc)  # 16:00 in Beijing
    assert first.published_at.tzinfo is not None
    # A commenter without a WeChat identity comes without an openid.
    assert (second.author, second.author_id, second.replies, second.to_bank) == ("anonymous", None, 0, True)
    # comment/reply/add names the mass send, the article in it and the comment.
    assert first.reply_ref == {"msg_data_id": "2650000123", "index": "0", "user_comment_id": "17"}
    assert second.reply_ref == {"msg_data_id": "2650000123", "index": "0", "user_comment_id": "18"}


def test_an_article_without_a_link_stores_an_empty_url_and_its_index_in_the_id() -> None:
    page = parse_comment_page(DOCUMENTED, article=WatchedArticle(99, 3), source_id="s")
    assert [p.native_id for p in page.posts] == ["99_3_17", "99_3_18"] and page.posts[0].url == ""
    assert page.posts[1].reply_ref == {"msg_data_id": "99", "index": "3", "user_comment_id": "18"}


def test_malformed_comments_are_described_and_skipped_keeping_their_place() -> None:
    payload = {"errcode": 0, "comment": [
        {"user_comment_id": "x1", "create_time": 1795860000, "content": "id not a number"},
        {"user_comment_id": 20, "create_time": "yesterday", "content": "time not seconds"},
        {"user_comment_id": 21, "create_time": True, "content": "time a boolean"},
        {"user_comment_id": 22, "create_time": 1795860000, "content": ["not", "text"]},
        {"user_comment_id": 23, "create_time": 1795860000},
        "not an object",
        {"user_comment_id": 24, "create_time": 1795860000, "content": "fine"},
    ]}
    page = parse_comment_page(payload, article=ARTICLE, source_id="s")
    assert [p.native_id for p in page.posts] == ["2650000123_0_24"]
    assert len(page.malformed) == 6
    assert page.ids == [None, "20", "21", "22", "23", None, "24"]  # the anchor check counts every position
    assert parse_comment_page({"errcode": 0, "comment": {"a": 1}}, article=ARTICLE, source_id="s").malformed
    assert parse_comment_page({"errcode": 0, "total": 0}, article=ARTICLE, source_id="s").posts == []


def test_parse_throughput_is_far_above_a_page_a_second() -> None:
    import timeit

    payload = {"errcode": 0, "comment": [dict(DOCUMENTED["comment"][0], user_comment_id=n) for n in range(100)]}
    seconds = min(timeit.repeat(lambda: parse_comment_page(payload, article=ARTICLE, source_id="s"), number=20,
                                repeat=3)) / 20
    assert 100 / seconds > 5_000  # items per second


# -- the watch configuration ------------------------------------------------------------------------

def _config(**source: Any) -> Any:
    return parse_watch_config({"topics": [{"id": "harbor", "names": ["港湾银行"]}],
                               "sources": [{"id": "wc", "platform": "wechat", **source}]})


def test_a_source_names_its_articles_each_once_and_within_limits() -> None:
    from crisiscomms.errors import ConfigurationError as Invalid

    source = _config(articles=[{"msg_data_id": 2650000123}, {"msg_data_id": 2650000123, "index": 1}]).sources[0]
    assert [(a.msg_data_id, a.index) for a in source.articles] == [(2650000123, 0), (2650000123, 1)]
    assert source.comment_type == "all"
    for bad, where in [({"articles": [], "watch_mass_sent": False}, "watches nothing"),
                       ({"articles": [{"msg_data_id": 1}, {"msg_data_id": 1}]}, "listed twice"),
                       ({"articles": [{"msg_data_id": 1, "index": 8}]}, "index"),
                       ({"articles": [{"msg_data_id": 0}]}, "msg_data_id"),
                       ({"articles": [{"msg_data_id": 1}], "comment_type": "hot"}, "comment_type")]:
        with pytest.raises(Invalid, match=where):
            _config(**bad)


# -- the reader against the emulator ---------------------------------------------------------------

@pytest.fixture
def wechat(sim_clock: Any) -> Iterator[tuple[WeChatEmulator, httpx.Client]]:
    emulator = WeChatEmulator(sim_clock, thumb_media_ids=("THUMB-1",), timeout_delay=0.4)
    client = make_client(emulator.start(), timeout_seconds=2.0)
    yield emulator, client
    client.close()
    emulator.stop()


def _reader(emulator: WeChatEmulator, client: httpx.Client, clock: Any, *articles: WatchedArticle,
            comment_type: str = "all") -> WeChatCommentReader:
    return WeChatCommentReader(client, credentials=Credentials(emulator.credentials()), source_id="wc", clock=clock,
                               articles=articles or (WatchedArticle(emulator.watched_article),),
                               comment_type=comment_type)


def _comments(emulator: WeChatEmulator, count: int, start: datetime, article: int | None = None) -> list[str]:
    return [emulator.add_comment(article or emulator.watched_article, content=f"港湾银行 排队 {n}",
                                 created_at=start + timedelta(seconds=n)) for n in range(count)]


def _bodies(emulator: WeChatEmulator) -> list[dict[str, Any]]:
    return [r for r in emulator.requests_log if r.path == COMMENT_LIST_PATH]


def test_pages_an_article_from_an_anchor_and_the_round_ends_when_it_is_read(wechat, sim_clock) -> None:
    emulator, client = wechat
    ids = _comments(emulator, 110, sim_clock() - timedelta(hours=1))
    reader, cursor, keys = _reader(emulator, client, sim_clock), {}, []
    for _ in range(3):
        page = reader.read(cursor)
        keys += [p.native_id for p in page.posts]
        cursor = {k: v for k, v in {**cursor, **page.cursor}.items() if v is not None}
    assert len(keys) == 110 + 2 and list(dict.fromkeys(keys)) == ids  # each page re-reads its anchor
    assert page.more is False and "queue" not in cursor
    assert cursor["progress"] == [f"{emulator.watched_article}:0:110:110"]
    assert [r.query["access_token"] for r in _bodies(emulator)] == [emulator.access_token] * 3

    new = _comments(emulator, 5, sim_clock() - timedelta(seconds=10))
    page = reader.read(cursor)
    # Starts at the last comment read, checks it is still there, and reads only what follows.
    assert [p.native_id for p in page.posts] == [ids[-1], *new] and page.more is False
    assert page.cursor["progress"] == [f"{emulator.watched_article}:0:115:115"]


def test_requests_carry_the_documented_body(sim_clock) -> None:
    import json

    captured: list[dict[str, Any]] = []
    transport = httpx.MockTransport(lambda request: (captured.append(json.loads(request.content)),
                                                     httpx.Response(200, json={"errcode": 0, "comment": []}))[1])
    mocked = httpx.Client(base_url="https://api.weixin.qq.com", transport=transport)
    WeChatCommentReader(mocked, credentials=Credentials({"access_token": "t"}), source_id="wc", clock=sim_clock,
                        articles=[WatchedArticle(7, 2)], comment_type="elected").read({})
    assert captured == [{"msg_data_id": 7, "index": 2, "begin": 0, "count": PAGE_SIZE, "type": 2}]
    assert PAGE_SIZE < 50


def test_a_deleted_comment_before_the_anchor_rereads_the_article_so_nothing_is_skipped(wechat, sim_clock) -> None:
    emulator, client = wechat
    article = emulator.watched_article
    ids = _comments(emulator, 10, sim_clock() - timedelta(minutes=30))
    reader = _reader(emulator, client, sim_clock)
    cursor = reader.read({}).cursor
    emulator.delete_comment(article, 0, int(ids[2].rsplit("_", 1)[1]))
    new = emulator.add_comment(article, content="港湾银行 新留言", created_at=sim_clock())
    page = reader.read(cursor)  # offset 9 now holds the new comment: the anchor moved
    assert page.more is True and page.cursor["progress"] == [f"{article}:0:0:"]
    cursor = {k: v for k, v in {**cursor, **page.cursor}.items() if v is not None}
    again = reader.read(cursor)
    assert new in [p.native_id for p in again.posts] and again.more is False
    assert again.cursor["progress"] == [f"{article}:0:10:{new.rsplit('_', 1)[1]}"]


def test_articles_are_read_in_turn_and_an_unknown_one_is_skipped(wechat, sim_clock) -> None:
    emulator, client = wechat
    second = emulator.add_article()
    first_ids = _comments(emulator, 3, sim_clock() - timedelta(minutes=5))
    second_ids = _comments(emulator, 2, sim_clock() - timedelta(minutes=5), article=second)
    reader = _reader(emulator, client, sim_clock, WatchedArticle(emulator.watched_article), WatchedArticle(404),
                     WatchedArticle(second))
    cursor: dict[str, Any] = {}
    pages = []
    while True:
        page = reader.read(cursor)
        pages.append(page)
        cursor = {k: v for k, v in {**cursor, **page.cursor}.items() if v is not None}
        if not page.more:
            break
    assert [[p.native_id for p in page.posts] for page in pages] == [first_ids, [], second_ids]
    assert sorted(cursor["progress"]) == sorted([f"{emulator.watched_article}:0:3:3", f"{second}:0:2:5"])


@pytest.mark.parametrize(("code", "error"), [
    (45009, RateLimited), (45011, RateLimited), (42001, TokenExpired), (40001, TokenExpired),
    (-1, TransientPlatformError), (88000, PermanentPlatformError)])
def test_errors_inside_http_200_map_to_domain_errors(wechat, sim_clock, code: int, error: type) -> None:
    emulator, client = wechat
    emulator.fail_next(code, "scripted")
    with pytest.raises(error) as caught:
        _reader(emulator, client, sim_clock).read({})
    assert emulator.access_token not in str(caught.value)
    if code == 45009:  # the daily quota comes back at midnight Beijing time (16:00 UTC)
        assert caught.value.resume_at == datetime(2026, 11, 28, 16, 0, tzinfo=timezone.utc)
    if code == 45011:
        assert caught.value.resume_at == datetime(2026, 11, 28, 9, 1, tzinfo=timezone.utc)


def test_http_errors_and_unreadable_bodies_are_transient(wechat, sim_clock) -> None:
    emulator, client = wechat
    now = sim_clock()
    emulator.add_fault(Fault(now, now + timedelta(minutes=1), "http_status", status=503))
    with pytest.raises(TransientPlatformError):
        _reader(emulator, client, sim_clock).read({})
    mocked = httpx.Client(base_url="https://x", transport=httpx.MockTransport(lambda r: httpx.Response(200, text="<html>")))
    with pytest.raises(TransientPlatformError):
        WeChatCommentReader(mocked, credentials=Credentials({"access_token": "t"}), source_id="wc", clock=sim_clock,
                            articles=[WatchedArticle(7)]).read({})


def test_stable_token_refresh_hands_a_new_token_once_the_old_one_lapsed(wechat, sim_clock) -> None:
    emulator, client = wechat
    refresh = stable_token_refresh(client, clock=sim_clock)
    same = refresh(emulator.credentials())
    assert same["access_token"] == emulator.access_token  # normal mode: a valid token is handed back unchanged
    emulator.expire_access_token()
    old = emulator.credentials()
    with pytest.raises(TokenExpired):
        _reader(emulator, client, sim_clock).read({})
    fresh = refresh(old)
    assert fresh["access_token"] != old["access_token"] and fresh["access_token"] == emulator.access_token
    assert fresh["expires_at"] == (sim_clock() + timedelta(seconds=7200)).isoformat()
    body = next(r for r in emulator.requests_log if r.path == "/cgi-bin/stable_token")
    assert "access_token" not in body.query
    reader = WeChatCommentReader(client, credentials=Credentials({**old, **fresh}), source_id="wc", clock=sim_clock,
                                 articles=[WatchedArticle(emulator.watched_article)])
    assert reader.read({}).more is False


def test_a_refresh_with_wrong_app_credentials_needs_a_person(wechat, sim_clock) -> None:
    emulator, client = wechat
    refresh = stable_token_refresh(client, clock=sim_clock)
    with pytest.raises(ReauthorisationNeeded, match="40125"):
        refresh({**emulator.credentials(), "secret": "wrong"})
    with pytest.raises(ReauthorisationNeeded, match="appid"):
        refresh({"access_token": "t"})


# -- publishing by mass send, so the statement's comments can be read ---------------------------------

def _statement(**changes: Any) -> DeliveryRequest:
    return DeliveryRequest(**{"delivery_id": "d-wechat-mass-1", "statement_id": "s-42", "version": 1,
                              "channel": "wechat", "language": "zh", "title": "关于网上银行服务中断的说明",
                              "text": "我行网上银行服务已全面恢复。", **changes})


def _publisher(emulator: WeChatEmulator, client: httpx.Client, clock: Any, **options: Any) -> WeChatAdapter:
    return WeChatAdapter(client, access_token=emulator.access_token, thumb_media_id="THUMB-1", author="新闻中心",
                         clock=clock, sleep=lambda s: None, poll_attempts=3, publish_mode="mass_send", **options)


def test_a_mass_send_records_the_msg_data_id_whose_comments_the_source_then_reads(wechat, sim_clock) -> None:
    emulator, client = wechat
    emulator.mass_polls = 1
    adapter = _publisher(emulator, client, sim_clock)
    sent = adapter.publish(_statement())
    [mass] = emulator.mass_sends
    assert sent.platform_id == str(mass.msg_data_id) and sent.details["msg_id"] == str(mass.msg_id)
    assert sent.details["publish_mode"] == "mass_send" and sent.details["confirm"] == "pending"
    body = [r for r in emulator.requests_log if r.path == MASS_SEND_PATH]
    assert len(body) == 1 and mass.clientmsgid == "d-wechat-mass-1" and emulator.articles == []
    assert adapter.confirm(_statement(), sent).platform_id == sent.platform_id  # SENDING once, then SEND_SUCCESS
    assert [r.path for r in emulator.requests_log].count(MASS_GET_PATH) == 2

    comment = emulator.add_comment(int(sent.platform_id), content="港湾银行 声明收到了", created_at=sim_clock())
    reader = _reader(emulator, client, sim_clock, WatchedArticle(int(sent.platform_id)))
    assert [p.native_id for p in reader.read({}).posts] == [comment]


def test_a_prepared_draft_is_mass_sent_in_one_call(wechat, sim_clock) -> None:
    emulator, client = wechat
    adapter = _publisher(emulator, client, sim_clock)
    item = adapter.prepare(_statement())
    emulator.clear_log()
    sent = adapter.publish(_statement(), prepared=PreparedItem(channel="wechat", data=item.data))
    assert [r.path for r in emulator.requests_log] == [MASS_SEND_PATH]
    assert sent.details["draft"] == "prepared" and emulator.mass_sends[0].media_id == item.data["media_id"]


@pytest.mark.parametrize("limit", ["quota", "permission"])
def test_an_account_that_may_not_mass_send_now_free_publishes_instead(wechat, sim_clock, limit: str) -> None:
    emulator, client = wechat
    emulator.publishing_polls = 0
    if limit == "quota":
        emulator.mass_send_quota = 0
    else:
        emulator.mass_send_allowed = False
    sent = _publisher(emulator, client, sim_clock).publish(_statement())
    assert [r.path for r in emulator.requests_log] == [DRAFT_ADD_PATH, MASS_SEND_PATH, SUBMIT_PATH]
    assert sent.details["mass_send_refused"].startswith("errcode 45028" if limit == "quota" else "errcode 48001")
    assert sent.platform_id == sent.details["publish_id"] and len(emulator.articles) == 1 and emulator.mass_sends == []


def test_a_repeated_send_of_the_same_delivery_is_recognised_not_sent_twice(wechat, sim_clock) -> None:
    emulator, client = wechat
    emulator.mass_send_quota = 2
    adapter = _publisher(emulator, client, sim_clock)
    first = adapter.publish(_statement())
    again = adapter.publish(_statement())
    assert len(emulator.mass_sends) == 1
    assert again.platform_id == f"msg_id:{first.details['msg_id']}" and again.details["sent_before"] == "true"
    assert adapter.confirm(_statement(), again) is not None


def test_a_failed_mass_send_is_permanent_with_its_status(wechat, sim_clock) -> None:
    emulator, client = wechat
    emulator.mass_final_status = "SEND_FAIL"
    adapter = _publisher(emulator, client, sim_clock)
    sent = adapter.publish(_statement())
    with pytest.raises(PermanentPlatformError, match="SEND_FAIL"):
        adapter.confirm(_statement(), sent)


def test_an_unknown_publish_mode_is_a_configuration_error(sim_clock) -> None:
    with pytest.raises(ConfigurationError, match="publish_mode"):
        WeChatAdapter(httpx.Client(), access_token="t", thumb_media_id="THUMB-1", author="", clock=sim_clock,
                      publish_mode="broadcast")
