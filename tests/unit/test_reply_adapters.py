"""Reply adapters against their platform emulators on 127.0.0.1.

For every platform: a reply lands where the person spoke (asserted on the emulator's side), a
refusal comes back as PermanentPlatformError with the platform's reason, a 5xx is transient, a
lost answer is DeliveryOutcomeUnknown and `find_reply` finds the reply, and the reply's
idempotency key reaches the platform's own guard where it has one (Mastodon's Idempotency-Key,
Bluesky's record key) so a retry cannot reply twice.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from crisiscomms.adapters.channels.bluesky import rkey_for
from crisiscomms.adapters.http import make_client
from crisiscomms.adapters.replies import REPLY_CAPABILITIES, default_pace
from crisiscomms.adapters.replies.bluesky import BlueskyReplies
from crisiscomms.adapters.replies.douyin import DouyinReplies
from crisiscomms.adapters.replies.mastodon import MastodonReplies
from crisiscomms.adapters.replies.reddit import RedditReplies, markdown_text
from crisiscomms.adapters.replies.wechat import WeChatReplies
from crisiscomms.adapters.replies.weibo import WeiboReplies
from crisiscomms.adapters.replies.x import XReplies
from crisiscomms.errors import DeliveryOutcomeUnknown, PermanentPlatformError, RateLimited, TransientPlatformError
from crisiscomms.models.delivery import REPLY_PLATFORMS
from crisiscomms.models.inbox import ReplyTarget
from crisiscomms_local.emulators.base import Fault
from crisiscomms_local.emulators.channels.bluesky import BlueskyEmulator
from crisiscomms_local.emulators.channels.mastodon import MastodonEmulator
from crisiscomms_local.emulators.channels.wechat import WeChatEmulator
from crisiscomms_local.emulators.channels.weibo import WeiboEmulator
from crisiscomms_local.emulators.channels.x_publish import REPLY_NOT_ALLOWED_DETAIL, XPublishEmulator
from crisiscomms_local.emulators.douyin_listen import DouyinEmulator
from crisiscomms_local.emulators.reddit_listen import RedditEmulator

CLIENT_TIMEOUT = 0.15  # shorter than the emulators' timeout_delay, so a held answer is lost
EMULATOR_DELAY = 0.4
KEY = "rp-0123456789abcdef.0"


def fault(emulator: Any, clock: Any, kind: str, **kwargs: Any) -> None:
    now = clock()
    emulator.add_fault(Fault(start=now, end=now + timedelta(minutes=1), kind=kind, **kwargs))  # type: ignore[arg-type]


def target(platform: str, native_id: str, author: str = "someone", **ref: str) -> ReplyTarget:
    return ReplyTarget(platform=platform, post_key=f"{platform}#{native_id}", native_id=native_id, author=author, ref=ref)


def _running(emulator: Any, make: Any) -> Iterator[tuple[Any, Any]]:
    emulator.start()
    http = make_client(emulator.base_url, timeout_seconds=CLIENT_TIMEOUT)
    try:
        yield emulator, make(http, emulator)
    finally:
        http.close()
        emulator.stop()


def test_every_reply_platform_has_an_adapter_and_a_row_in_the_capability_table() -> None:
    adapters = {"x": XReplies, "weibo": WeiboReplies, "wechat": WeChatReplies, "douyin": DouyinReplies,
                "mastodon": MastodonReplies, "bluesky": BlueskyReplies, "reddit": RedditReplies}
    assert set(adapters) == set(REPLY_PLATFORMS) == set(REPLY_CAPABILITIES)
    for platform, cls in adapters.items():
        assert cls.platform == platform and callable(cls.reply) and callable(cls.find_reply)
        row = REPLY_CAPABILITIES[platform]
        assert row.answers and row.api and row.length and row.found_again and row.pace_source
        per_minute, burst = default_pace(platform)
        assert per_minute > 0 and burst >= 1
    assert REPLY_CAPABILITIES["x"].alternatives == ("quote", "statement")


# --- X ---------------------------------------------------------------------------------------------

@pytest.fixture
def x(sim_clock: Any) -> Iterator[tuple[XPublishEmulator, XReplies]]:
    yield from _running(XPublishEmulator(sim_clock, timeout_delay=EMULATOR_DELAY), lambda http, em: XReplies(
        http, access_token=em.access_token, user_id=em.user_id, username=em.username, clock=sim_clock))


def test_x_replies_to_a_post_that_mentions_the_bank(x: tuple[XPublishEmulator, XReplies], sim_clock: Any) -> None:
    emulator, adapter = x
    post = emulator.add_external_post(sim_clock() - timedelta(minutes=5), text="@examplebank my card was declined")
    result = adapter.reply(target("x", post), "Sorry about that, please DM us.", idempotency_key=KEY)
    [reply] = emulator.replies
    assert (reply.in_reply_to, reply.submitted_text, result.platform_id) == (post, "Sorry about that, please DM us.",
                                                                             reply.id)
    assert result.url == f"https://x.com/examplebank/status/{reply.id}"


def test_x_refuses_a_reply_to_a_post_that_did_not_summon_the_bank(x: tuple[XPublishEmulator, XReplies],
                                                                    sim_clock: Any) -> None:
    emulator, adapter = x
    post = emulator.add_external_post(sim_clock() - timedelta(minutes=5), text="Harbor Bank is down again")
    with pytest.raises(PermanentPlatformError) as refused:
        adapter.reply(target("x", post), "We are sorry, service is back.", idempotency_key=KEY)
    assert refused.value.status == 403 and refused.value.code == "reply_not_allowed"
    assert REPLY_NOT_ALLOWED_DETAIL in str(refused.value) and "public statement" in str(refused.value)
    assert emulator.replies == []
    quoted = emulator.add_external_post(sim_clock() - timedelta(minutes=4), quotes_bank=True)
    adapter.reply(target("x", quoted), "Thanks for sharing our update.", idempotency_key=KEY + "q")
    assert [r.in_reply_to for r in emulator.replies] == [quoted], "a post quoting the bank may be answered"


def test_x_enterprise_apps_may_reply_to_anyone(sim_clock: Any) -> None:
    emulator = XPublishEmulator(sim_clock, reply_restriction=False)
    for em, adapter in _running(emulator, lambda http, em: XReplies(http, access_token=em.access_token,
                                                                    user_id=em.user_id, username=em.username,
                                                                    clock=sim_clock)):
        post = em.add_external_post(sim_clock() - timedelta(minutes=1), text="Harbor Bank is down")
        adapter.reply(target("x", post), "Service is restored.", idempotency_key=KEY)
        assert len(em.replies) == 1


def test_x_server_error_is_transient(x: tuple[XPublishEmulator, XReplies], sim_clock: Any) -> None:
    emulator, adapter = x
    post = emulator.add_external_post(sim_clock(), mentions_bank=True)
    fault(emulator, sim_clock, "http_status", status=503)
    with pytest.raises(TransientPlatformError):
        adapter.reply(target("x", post), "Service is restored.", idempotency_key=KEY)
    assert emulator.replies == []


def test_x_lost_answer_is_unknown_then_found_and_a_retry_replies_once(x: tuple[XPublishEmulator, XReplies],
                                                                      sim_clock: Any) -> None:
    emulator, adapter = x
    post = emulator.add_external_post(sim_clock() - timedelta(minutes=1), mentions_bank=True)
    fault(emulator, sim_clock, "timeout_after_send")
    with pytest.raises(DeliveryOutcomeUnknown):
        adapter.reply(target("x", post), "Service is restored.", idempotency_key=KEY)
    emulator.clear_faults()
    found = adapter.find_reply(target("x", post), "Service is restored.", sim_clock() - timedelta(minutes=5))
    [reply] = emulator.replies
    assert found is not None and found.platform_id == reply.id
    assert adapter.find_reply(target("x", post), "Another text", sim_clock()) is None
    again = adapter.reply(target("x", post), "Service is restored.", idempotency_key=KEY)  # X: duplicate content
    assert again.platform_id == reply.id and len(emulator.replies) == 1


# --- Weibo -----------------------------------------------------------------------------------------

@pytest.fixture
def weibo(sim_clock: Any) -> Iterator[tuple[WeiboEmulator, WeiboReplies]]:
    yield from _running(WeiboEmulator(sim_clock, timeout_delay=EMULATOR_DELAY), lambda http, em: WeiboReplies(
        http, access_token=em.access_token, uid=em.uid, clock=sim_clock))


def _weibo_comment(emulator: WeiboEmulator, clock: Any) -> tuple[str, str]:
    status = emulator.add_own_post("我行声明 https://newsroom.examplebank.com/s/1", created_at=clock() - timedelta(hours=1))
    cid = emulator.add_comment(text="转账一直失败，怎么回事？", author="小王", created_at=clock() - timedelta(minutes=5),
                               post_id=status)
    return status, cid


def test_weibo_answers_a_comment_with_comments_reply_and_a_mention_with_comments_create(
        weibo: tuple[WeiboEmulator, WeiboReplies], sim_clock: Any) -> None:
    emulator, adapter = weibo
    status, cid = _weibo_comment(emulator, sim_clock)
    result = adapter.reply(target("weibo", cid, id=status, cid=cid), "您好，已为您处理，请查收。", idempotency_key=KEY)
    mention = emulator.add_post(text="@ExampleBank 网点排队太久", author="小李", created_at=sim_clock() - timedelta(minutes=2),
                                to_bank=True)
    adapter.reply(target("weibo", mention, id=mention), "抱歉，已反馈网点。", idempotency_key=KEY + "m")
    first, second = emulator.replies
    assert (first.status_id, first.reply_to, first.text) == (int(status), int(cid), "您好，已为您处理，请查收。")
    assert (second.status_id, second.reply_to) == (int(mention), None)
    assert result.platform_id == str(first.id) and result.url == f"https://weibo.com/{emulator.uid}/{status}"
    [call] = [r for r in emulator.requests_log if r.path == "/2/comments/reply.json"]
    assert call.method == "POST"


def test_weibo_refusals_carry_weibos_reason(weibo: tuple[WeiboEmulator, WeiboReplies], sim_clock: Any) -> None:
    emulator, adapter = weibo
    status, cid = _weibo_comment(emulator, sim_clock)
    with pytest.raises(PermanentPlatformError, match="20201") as gone:
        adapter.reply(target("weibo", "999", id=status, cid="999"), "您好", idempotency_key=KEY)
    assert "does not exist" in str(gone.value)
    with pytest.raises(PermanentPlatformError, match="20012"):
        adapter.reply(target("weibo", cid, id=status, cid=cid), "好" * 141, idempotency_key=KEY)
    with pytest.raises(PermanentPlatformError, match="20101"):
        adapter.reply(target("weibo", "5031", id="5031"), "您好", idempotency_key=KEY)
    assert emulator.replies == []


def test_weibo_server_error_is_transient(weibo: tuple[WeiboEmulator, WeiboReplies], sim_clock: Any) -> None:
    emulator, adapter = weibo
    status, cid = _weibo_comment(emulator, sim_clock)
    fault(emulator, sim_clock, "http_status", status=502, target="reply")
    with pytest.raises(TransientPlatformError):
        adapter.reply(target("weibo", cid, id=status, cid=cid), "您好", idempotency_key=KEY)


def test_weibo_lost_answer_is_found_among_the_comments_sent_and_a_repeat_resolves(
        weibo: tuple[WeiboEmulator, WeiboReplies], sim_clock: Any) -> None:
    emulator, adapter = weibo
    status, cid = _weibo_comment(emulator, sim_clock)
    where = target("weibo", cid, id=status, cid=cid)
    fault(emulator, sim_clock, "timeout_after_send", target="reply")
    with pytest.raises(DeliveryOutcomeUnknown):
        adapter.reply(where, "您好，已为您处理。", idempotency_key=KEY)
    emulator.clear_faults()
    found = adapter.find_reply(where, "您好，已为您处理。", sim_clock() - timedelta(minutes=1))
    [sent] = emulator.replies
    assert found is not None and found.platform_id == str(sent.id)
    assert adapter.find_reply(target("weibo", status, id=status), "您好，已为您处理。", sim_clock()) is None, \
        "a reply to the comment is not a comment on the status"
    assert adapter.reply(where, "您好，已为您处理。", idempotency_key=KEY).platform_id == str(sent.id)  # 20019, found
    assert len(emulator.replies) == 1


# --- WeChat ----------------------------------------------------------------------------------------

@pytest.fixture
def wechat(sim_clock: Any) -> Iterator[tuple[WeChatEmulator, WeChatReplies]]:
    yield from _running(WeChatEmulator(sim_clock, timeout_delay=EMULATOR_DELAY), lambda http, em: WeChatReplies(
        http, access_token=em.access_token, thumb_media_id="THUMB_MEDIA_ID", author="", clock=sim_clock))


def _wechat_comment(emulator: WeChatEmulator, clock: Any) -> ReplyTarget:
    article = emulator.add_article()
    native = emulator.add_comment(article, 0, content="网银什么时候恢复？", created_at=clock() - timedelta(minutes=3))
    msg_data_id, index, comment_id = native.split("_")
    return target("wechat", native, msg_data_id=msg_data_id, index=index, user_comment_id=comment_id)


def test_wechat_replies_under_a_comment_of_a_mass_sent_article(wechat: tuple[WeChatEmulator, WeChatReplies],
                                                               sim_clock: Any) -> None:
    emulator, adapter = wechat
    where = _wechat_comment(emulator, sim_clock)
    result = adapter.reply(where, "已全面恢复，感谢耐心等待。", idempotency_key=KEY)
    assert emulator.replies == [(int(where.ref["msg_data_id"]), 0, int(where.ref["user_comment_id"]),
                                 "已全面恢复，感谢耐心等待。")]
    assert result.platform_id == where.native_id


def test_wechat_refuses_free_published_articles_and_a_second_different_reply(
        wechat: tuple[WeChatEmulator, WeChatReplies], sim_clock: Any) -> None:
    emulator, adapter = wechat
    with pytest.raises(PermanentPlatformError, match="88001") as refused:
        adapter.reply(target("wechat", "2659999999_0_1", msg_data_id="2659999999", index="0", user_comment_id="1"),
                      "您好", idempotency_key=KEY)
    assert "mass-sent" in str(refused.value)
    with pytest.raises(PermanentPlatformError, match="free-published"):
        adapter.reply(target("wechat", "article-of-a-free-publish"), "您好", idempotency_key=KEY)
    where = _wechat_comment(emulator, sim_clock)
    adapter.reply(where, "已恢复。", idempotency_key=KEY)
    assert adapter.reply(where, "已恢复。", idempotency_key=KEY).platform_id == where.native_id  # 88005, found
    with pytest.raises(PermanentPlatformError, match="different reply"):
        adapter.reply(where, "另一条回复", idempotency_key=KEY + "b")
    assert len(emulator.replies) == 1


def test_wechat_server_error_is_transient_and_a_lost_answer_is_read_from_the_comment_list(
        wechat: tuple[WeChatEmulator, WeChatReplies], sim_clock: Any) -> None:
    emulator, adapter = wechat
    where = _wechat_comment(emulator, sim_clock)
    fault(emulator, sim_clock, "http_status", status=503, target="/cgi-bin/comment/reply/add")
    with pytest.raises(TransientPlatformError):
        adapter.reply(where, "已恢复。", idempotency_key=KEY)
    emulator.clear_faults()
    assert adapter.find_reply(where, "已恢复。", sim_clock()) is None, "nothing was sent"
    fault(emulator, sim_clock, "timeout_after_send", target="/cgi-bin/comment/reply/add")
    with pytest.raises(DeliveryOutcomeUnknown):
        adapter.reply(where, "已恢复。", idempotency_key=KEY)
    emulator.clear_faults()
    found = adapter.find_reply(where, "已恢复。", sim_clock())
    assert found is not None and found.platform_id == where.native_id and len(emulator.replies) == 1


# --- Douyin ----------------------------------------------------------------------------------------

@pytest.fixture
def douyin(sim_clock: Any) -> Iterator[tuple[DouyinEmulator, DouyinReplies]]:
    def make(http: Any, em: DouyinEmulator) -> DouyinReplies:
        return DouyinReplies(http, credentials=lambda fresh: em.credentials(), clock=sim_clock)

    yield from _running(DouyinEmulator(sim_clock, timeout_delay=EMULATOR_DELAY), make)


def _douyin_comment(emulator: DouyinEmulator, clock: Any) -> ReplyTarget:
    comment = emulator.add_comment(emulator.watched_video, content="网点几点开门？", created_at=clock() - timedelta(minutes=2))
    return target("douyin", comment, item_id=emulator.watched_video, comment_id=comment)


def test_douyin_replies_under_a_comment_of_the_banks_video(douyin: tuple[DouyinEmulator, DouyinReplies],
                                                           sim_clock: Any) -> None:
    emulator, adapter = douyin
    where = _douyin_comment(emulator, sim_clock)
    result = adapter.reply(where, "您好，网点9点开门。", idempotency_key=KEY)
    [reply] = emulator.replies
    assert (reply.answers, reply.content, reply.user_id, result.platform_id) == (
        where.native_id, "您好，网点9点开门。", emulator.open_id, reply.comment_id)
    [call] = [r for r in emulator.requests_log if r.path == "/item/comment/reply/"]
    assert call.query["open_id"] == emulator.open_id


def test_douyin_refusal_transient_error_and_a_lost_answer(douyin: tuple[DouyinEmulator, DouyinReplies],
                                                          sim_clock: Any) -> None:
    emulator, adapter = douyin
    with pytest.raises(PermanentPlatformError, match="2100005"):
        adapter.reply(target("douyin", "@gone", item_id=emulator.watched_video, comment_id="@gone"), "您好",
                      idempotency_key=KEY)
    where = _douyin_comment(emulator, sim_clock)
    fault(emulator, sim_clock, "http_status", status=503)
    with pytest.raises(TransientPlatformError):
        adapter.reply(where, "您好", idempotency_key=KEY)
    emulator.clear_faults()
    fault(emulator, sim_clock, "timeout_after_send")
    with pytest.raises(DeliveryOutcomeUnknown):
        adapter.reply(where, "您好，已处理。", idempotency_key=KEY)
    emulator.clear_faults()
    found = adapter.find_reply(where, "您好，已处理。", sim_clock() - timedelta(minutes=1))
    [reply] = emulator.replies
    assert found is not None and found.platform_id == reply.comment_id


def test_douyin_reads_the_renewed_token_once_and_otherwise_retries_later(sim_clock: Any) -> None:
    emulator = DouyinEmulator(sim_clock, timeout_delay=EMULATOR_DELAY)
    stale = dict(emulator.credentials())
    reads: list[bool] = []

    def credentials(fresh: bool) -> dict[str, Any]:
        reads.append(fresh)
        return emulator.credentials() if fresh else stale

    for em, adapter in _running(emulator, lambda http, em: DouyinReplies(http, credentials=credentials, clock=sim_clock)):
        where = _douyin_comment(em, sim_clock)
        em.expire_access_token()
        em.access_token = "act.renewed-by-the-poller"  # the Poller renewed it meanwhile
        adapter.reply(where, "您好", idempotency_key=KEY)
        assert reads[:2] == [False, True] and len(em.replies) == 1
        em.expire_access_token()  # expired, and not renewed yet
        with pytest.raises(TransientPlatformError, match="renews"):
            adapter.reply(where, "您好，再次说明", idempotency_key=KEY + "b")


# --- Reddit ----------------------------------------------------------------------------------------

@pytest.fixture
def reddit(sim_clock: Any) -> Iterator[tuple[RedditEmulator, RedditReplies]]:
    def make(http: Any, em: RedditEmulator) -> RedditReplies:
        creds = em.credentials()
        return RedditReplies(http, credentials=lambda fresh: creds, clock=sim_clock)

    yield from _running(RedditEmulator(sim_clock, timeout_delay=EMULATOR_DELAY), make)


def _reddit_post(emulator: RedditEmulator, clock: Any) -> ReplyTarget:
    post = emulator.add_post(text="u/examplebank why was my transfer held?", author="redditor1",
                             created_at=clock() - timedelta(minutes=3))
    return target("reddit", post, author="redditor1")


def test_reddit_comments_under_the_submission_as_the_banks_account(reddit: tuple[RedditEmulator, RedditReplies],
                                                                   sim_clock: Any) -> None:
    emulator, adapter = reddit
    where = _reddit_post(emulator, sim_clock)
    result = adapter.reply(where, "Sorry for the wait: transfers complete today.", idempotency_key=KEY)
    [comment] = emulator.comments
    assert (comment.link.name, comment.author, comment.body) == (
        where.native_id, "examplebank", "Sorry for the wait: transfers complete today.")
    assert result.platform_id == comment.name and result.url == f"https://www.reddit.com{comment.link.permalink}{comment.id}/"
    [call] = [r for r in emulator.requests_log if r.path == "/api/comment"]
    assert {k.lower(): v for k, v in call.headers.items()}["user-agent"].startswith("server:crisiscomms-replies:")


def test_reddit_answers_a_comment_in_its_thread(reddit: tuple[RedditEmulator, RedditReplies], sim_clock: Any) -> None:
    """A comment heard under the bank's post (a comments stream) is answered under that comment, and found again."""
    emulator, adapter = reddit
    link = emulator.add_post(text="Update", title="Transfers delayed", author="examplebank",
                             created_at=sim_clock() - timedelta(minutes=9), subreddit="examplebank")
    asked = emulator.add_comment(link, text="When will mine arrive?", author="ann", created_at=sim_clock() - timedelta(minutes=2))
    result = adapter.reply(target("reddit", asked, author="ann"), "Today by 18:00.", idempotency_key=KEY)
    [comment] = emulator.comments
    assert (comment.parent, comment.link.name, result.platform_id) == (asked, link, comment.name)
    found = adapter.find_reply(target("reddit", asked), "Today by 18:00.", sim_clock() - timedelta(minutes=1))
    assert found is not None and found.platform_id == comment.name
    assert adapter.find_reply(target("reddit", link), "Today by 18:00.", sim_clock() - timedelta(minutes=1)) is None


def test_reddit_shows_the_approved_text_as_written_markdown_escaped() -> None:
    """Reddit renders Markdown: *HB*_1_ would lose its marks and # would make a heading; a single newline
    would join two lines."""
    assert markdown_text("Ref *HB*_1_ [see] a|b ~x^ `c` \\\n# not a heading\n> not a quote") == (
        "Ref \\*HB\\*\\_1\\_ \\[see\\] a\\|b \\~x\\^ \\`c\\` \\\\  \n\\# not a heading  \n\\> not a quote")
    assert markdown_text("港湾银行：转账今日完成。") == "港湾银行：转账今日完成。"


def test_reddit_refusals_carry_reddits_reason(reddit: tuple[RedditEmulator, RedditReplies], sim_clock: Any) -> None:
    emulator, adapter = reddit
    where = _reddit_post(emulator, sim_clock)
    emulator.lock_post(where.native_id)
    with pytest.raises(PermanentPlatformError, match="THREAD_LOCKED") as locked:
        adapter.reply(where, "Sorry for the wait.", idempotency_key=KEY)
    assert locked.value.code == "thread_locked"
    gone = _reddit_post(emulator, sim_clock)
    emulator.delete_post(gone.native_id)
    with pytest.raises(PermanentPlatformError, match="DELETED_LINK"):
        adapter.reply(gone, "Sorry for the wait.", idempotency_key=KEY)
    with pytest.raises(PermanentPlatformError, match="not a submission"):
        adapter.reply(target("reddit", "12345"), "Sorry.", idempotency_key=KEY)
    assert emulator.comments == []


def test_reddit_application_only_token_cannot_comment(sim_clock: Any) -> None:
    """A client_credentials token searches but has no account behind it: USER_REQUIRED, FAILED with why."""
    emulator = RedditEmulator(sim_clock, timeout_delay=EMULATOR_DELAY)
    for em, adapter in _running(emulator, lambda http, em: RedditReplies(
            http, credentials=lambda fresh: {"access_token": em.issue_token(app_only=True)}, clock=sim_clock)):
        with pytest.raises(PermanentPlatformError, match="application-only") as refused:
            adapter.reply(_reddit_post(em, sim_clock), "Sorry for the wait.", idempotency_key=KEY)
        assert refused.value.code == "user_required" and em.comments == []


def test_reddit_rate_limits_wait_as_long_as_reddit_says(reddit: tuple[RedditEmulator, RedditReplies],
                                                        sim_clock: Any) -> None:
    """The API's 429 (X-Ratelimit-Reset) and the spam filter's RATELIMIT inside a 200 (json.ratelimit)."""
    emulator, adapter = reddit
    where = _reddit_post(emulator, sim_clock)
    fault(emulator, sim_clock, "rate_limit", retry_after=300)
    with pytest.raises(RateLimited) as limited:
        adapter.reply(where, "Sorry for the wait.", idempotency_key=KEY)
    assert limited.value.resume_at == sim_clock() + timedelta(seconds=300)
    emulator.clear_faults()
    emulator.rate_limit_comments(417.5)
    with pytest.raises(RateLimited, match="RATELIMIT") as spam:
        adapter.reply(where, "Sorry for the wait.", idempotency_key=KEY)
    assert spam.value.resume_at == sim_clock() + timedelta(seconds=417.5)
    assert emulator.comments == []
    adapter.reply(where, "Sorry for the wait.", idempotency_key=KEY)
    assert len(emulator.comments) == 1


def test_reddit_server_error_is_transient_and_a_lost_answer_is_found_among_the_accounts_comments(
        reddit: tuple[RedditEmulator, RedditReplies], sim_clock: Any) -> None:
    emulator, adapter = reddit
    where, other = _reddit_post(emulator, sim_clock), _reddit_post(emulator, sim_clock)
    fault(emulator, sim_clock, "http_status", status=503)
    with pytest.raises(TransientPlatformError):
        adapter.reply(where, "Sorry *again*.", idempotency_key=KEY)
    emulator.clear_faults()
    adapter.reply(other, "Sorry *again*.", idempotency_key=KEY + "o")  # the same text under another post
    fault(emulator, sim_clock, "timeout_after_send")
    with pytest.raises(DeliveryOutcomeUnknown):
        adapter.reply(where, "Sorry *again*.", idempotency_key=KEY)
    emulator.clear_faults()
    found = adapter.find_reply(where, "Sorry *again*.", sim_clock() - timedelta(minutes=1))
    mine = [c for c in emulator.comments if c.link.name == where.native_id]
    assert found is not None and [found.platform_id] == [c.name for c in mine]
    assert adapter.find_reply(where, "Another text", sim_clock() - timedelta(minutes=1)) is None
    assert adapter.find_reply(where, "Sorry *again*.", sim_clock() + timedelta(minutes=1)) is None, "older: not it"


def test_reddit_asks_who_the_account_is_when_the_secret_names_nobody_and_rereads_a_refused_token(
        sim_clock: Any) -> None:
    emulator = RedditEmulator(sim_clock, timeout_delay=EMULATOR_DELAY)
    reads: list[bool] = []
    stale = {"access_token": "reddit-expired"}

    def credentials(fresh: bool) -> dict[str, Any]:
        reads.append(fresh)
        return {"access_token": current[0]} if fresh else stale

    current = [""]
    for em, adapter in _running(emulator, lambda http, em: RedditReplies(http, credentials=credentials, clock=sim_clock)):
        current[0] = em.issue_token()      # the Poller renewed it meanwhile
        where = _reddit_post(em, sim_clock)
        adapter.reply(where, "Sorry for the wait.", idempotency_key=KEY)
        assert reads[:2] == [False, True] and len(em.comments) == 1
        stale["access_token"] = current[0]
        assert adapter.find_reply(where, "Sorry for the wait.", sim_clock() - timedelta(minutes=1)) is not None
        assert any(r.path == "/api/v1/me" for r in em.requests_log), "no username in the secret: asked Reddit"
        em.expire_tokens()                 # expired, and not renewed yet
        with pytest.raises(TransientPlatformError, match="renews"):
            adapter.reply(where, "Sorry, once more.", idempotency_key=KEY + "b")


# --- Mastodon --------------------------------------------------------------------------------------

@pytest.fixture
def mastodon(sim_clock: Any) -> Iterator[tuple[MastodonEmulator, MastodonReplies]]:
    yield from _running(MastodonEmulator(sim_clock, timeout_delay=EMULATOR_DELAY), lambda http, em: MastodonReplies(
        http, access_token=em.access_token, account_id=em.account_id, clock=sim_clock))


def test_mastodon_replies_with_in_reply_to_id_and_the_idempotency_key(
        mastodon: tuple[MastodonEmulator, MastodonReplies], sim_clock: Any) -> None:
    emulator, adapter = mastodon
    heard = emulator.add_post(text="@examplebank my transfer failed", author="ann", created_at=sim_clock(), to_bank=True)
    where = target("mastodon", heard, server=emulator.base_url)
    first = adapter.reply(where, "@ann Sorry, it is fixed now.", idempotency_key=KEY, language="en")
    again = adapter.reply(where, "@ann Sorry, it is fixed now.", idempotency_key=KEY, language="en")
    [reply] = emulator.replies
    assert (reply.in_reply_to_id, reply.idempotency_key, reply.language) == (heard, KEY, "en")
    assert first.platform_id == again.platform_id == reply.id, "the same key answers the same status"


def test_mastodon_looks_up_a_status_heard_on_another_server(mastodon: tuple[MastodonEmulator, MastodonReplies],
                                                             sim_clock: Any) -> None:
    emulator, adapter = mastodon
    heard = emulator.add_post(text="Harbor Bank ATMs are empty", author="bob@other.example", created_at=sim_clock())
    uri = f"https://other.example/users/bob/statuses/{heard}"
    where = target("mastodon", "10999", server="https://other.example", uri=uri)  # that server's own id
    adapter.reply(where, "@bob@other.example ATMs are being refilled.", idempotency_key=KEY, language="en")
    assert [r.in_reply_to_id for r in emulator.replies] == [heard]
    with pytest.raises(PermanentPlatformError, match="cannot find"):
        adapter.reply(target("mastodon", "1", server="https://other.example", uri="https://other.example/x/1"),
                      "Hi", idempotency_key=KEY + "b")


def test_mastodon_refusal_transient_error_and_a_lost_answer(mastodon: tuple[MastodonEmulator, MastodonReplies],
                                                            sim_clock: Any) -> None:
    emulator, adapter = mastodon
    with pytest.raises(PermanentPlatformError, match="404"):
        adapter.reply(target("mastodon", "123"), "Hi", idempotency_key=KEY)
    heard = emulator.add_post(text="@examplebank hello", author="ann", created_at=sim_clock(), to_bank=True)
    fault(emulator, sim_clock, "http_status", status=503)
    with pytest.raises(TransientPlatformError):
        adapter.reply(target("mastodon", heard), "@ann Hello!", idempotency_key=KEY)
    emulator.clear_faults()
    fault(emulator, sim_clock, "timeout_after_send")
    with pytest.raises(DeliveryOutcomeUnknown):
        adapter.reply(target("mastodon", heard), "@ann Hello!", idempotency_key=KEY, language="en")
    emulator.clear_faults()
    found = adapter.find_reply(target("mastodon", heard), "@ann Hello!", sim_clock(), language="en")
    [reply] = emulator.replies
    assert found is not None and found.platform_id == reply.id


# --- Bluesky ---------------------------------------------------------------------------------------

@pytest.fixture
def bluesky(sim_clock: Any) -> Iterator[tuple[BlueskyEmulator, BlueskyReplies]]:
    yield from _running(BlueskyEmulator(sim_clock, timeout_delay=EMULATOR_DELAY), lambda http, em: BlueskyReplies(
        http, did=em.did, handle=em.account_handle, access_jwt=em.access_jwt, clock=sim_clock))


def _bluesky_post(emulator: BlueskyEmulator, clock: Any, reply_to: str | None = None) -> ReplyTarget:
    uri = emulator.add_post(text="Harbor Bank app down?", author="alice", created_at=clock() - timedelta(minutes=1),
                            reply_to=reply_to)
    post = emulator._index[uri]
    root = (post.record.get("reply") or {}).get("root") or {"uri": uri, "cid": post.cid}
    return target("bluesky", uri, uri=uri, cid=post.cid, root_uri=root["uri"], root_cid=root["cid"])


def test_bluesky_replies_with_root_and_parent_at_the_keys_record(bluesky: tuple[BlueskyEmulator, BlueskyReplies],
                                                                 sim_clock: Any) -> None:
    emulator, adapter = bluesky
    top = _bluesky_post(emulator, sim_clock)
    below = _bluesky_post(emulator, sim_clock, reply_to=top.native_id)
    result = adapter.reply(below, "It is back up, sorry!", idempotency_key=KEY, language="en")
    [reply] = emulator.replies
    assert reply.rkey == rkey_for(KEY) and result.platform_id == reply.uri
    assert reply.value["reply"] == {"root": {"uri": top.native_id, "cid": top.ref["cid"]},
                                    "parent": {"uri": below.native_id, "cid": below.ref["cid"]}}
    again = adapter.reply(below, "It is back up, sorry!", idempotency_key=KEY, language="en")
    assert again.platform_id == reply.uri and len(emulator.replies) == 1, "the same key names the same record"


def test_bluesky_refusal_transient_error_and_a_lost_answer(bluesky: tuple[BlueskyEmulator, BlueskyReplies],
                                                           sim_clock: Any) -> None:
    emulator, adapter = bluesky
    with pytest.raises(PermanentPlatformError, match="uri and cid"):
        adapter.reply(target("bluesky", "at://did:plc:x/app.bsky.feed.post/3l6o"), "Hi", idempotency_key=KEY)
    where = _bluesky_post(emulator, sim_clock)
    fault(emulator, sim_clock, "http_status", status=502)
    with pytest.raises(TransientPlatformError):
        adapter.reply(where, "Back up.", idempotency_key=KEY)
    emulator.clear_faults()
    assert adapter.find_reply(where, "Back up.", sim_clock(), idempotency_key=KEY) is None
    fault(emulator, sim_clock, "timeout_after_send", target="createRecord")
    with pytest.raises(DeliveryOutcomeUnknown):
        adapter.reply(where, "Back up.", idempotency_key=KEY)
    emulator.clear_faults()
    found = adapter.find_reply(where, "Back up.", sim_clock(), idempotency_key=KEY)
    [reply] = emulator.replies
    assert found is not None and found.platform_id == reply.uri


def test_bluesky_pds_accepts_a_reply_to_a_post_it_does_not_hold(bluesky: tuple[BlueskyEmulator, BlueskyReplies],
                                                                 sim_clock: Any) -> None:
    emulator, adapter = bluesky
    elsewhere = "at://did:plc:someoneelse000000000000/app.bsky.feed.post/3l6oveex3ii2l"
    adapter.reply(target("bluesky", elsewhere, uri=elsewhere, cid="bafyreiother"), "Hi", idempotency_key=KEY)
    assert len(emulator.replies) == 1, "the PDS checks a reply's shape, not its parent (the AppView decides)"
