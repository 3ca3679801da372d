"""Weibo, WeChat and webhook publishing adapters against their local emulators on 127.0.0.1."""
from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from crisiscomms.adapters.channels.webhook import (
    InvalidWebhookSignature,
    WebhookAdapter,
    decode_secret,
    sign,
    verify_signature,
)
from crisiscomms.adapters.channels.wechat import WeChatAdapter
from crisiscomms.adapters.channels.weibo import WeiboAdapter
from crisiscomms.adapters.http import make_client
from crisiscomms.models.delivery import DeliveryRequest
from crisiscomms.errors import (
    ConfigurationError,
    DeliveryOutcomeUnknown,
    PermanentPlatformError,
    PlatformError,
    RateLimited,
    TransientPlatformError,
)
from crisiscomms_local.emulators.base import EmulatorServer, Fault
from crisiscomms_local.emulators.channels.webhook import WebhookReceiver
from crisiscomms_local.emulators.channels.wechat import SUBMIT_PATH, GET_PATH, WeChatEmulator
from crisiscomms_local.emulators.channels.weibo import WeiboEmulator, WeiboStatus, weibo_length

WEIBO_TOKEN = "2.00weibo-secret-token"
WECHAT_TOKEN = "wechat-secret-access-token"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"partner-signing-key-0123456789ab").decode()
NEWSROOM = "https://newsroom.examplebank.com/statements/s-42"
SECRETS = (WEIBO_TOKEN, WECHAT_TOKEN, WEBHOOK_SECRET, WEBHOOK_SECRET.removeprefix("whsec_"))
LOST_ANSWER_TIMEOUT = 0.15  # client timeout; the emulators hold a lost answer for 0.4 s


def delivery(channel: str, text: str, **changes: Any) -> DeliveryRequest:
    fields: dict[str, Any] = dict(
        delivery_id=f"d-{channel}-1",
        statement_id="s-42",
        version=1,
        channel=channel,
        language="zh",
        text=text,
        title="关于网上银行服务中断的说明",
        newsroom_url=NEWSROOM,
    )
    fields.update(changes)
    return DeliveryRequest(**fields)


WEIBO_TEXT = f"我行网上银行服务已于10:40全面恢复，客户资金安全不受影响。详见{NEWSROOM}。"


def assert_no_secret(exc: BaseException) -> None:
    text = f"{exc} {exc!r} {exc.__cause__!r}"
    for secret in SECRETS:
        assert secret not in text


def lost_answer(emulator: EmulatorServer, now: datetime, target: str | None = None) -> None:
    emulator.add_fault(Fault(now, now + timedelta(hours=1), "timeout_after_send", target=target))


@pytest.fixture
def started() -> Iterator[Callable[..., tuple[Any, httpx.Client]]]:
    """Start an emulator and give a client for it; everything stops at teardown."""
    cleanup: list[Callable[[], None]] = []

    def start(emulator: EmulatorServer, timeout: float = 2.0) -> tuple[Any, httpx.Client]:
        base_url = emulator.start()
        cleanup.append(emulator.stop)
        client = make_client(base_url, timeout_seconds=timeout)
        cleanup.append(client.close)
        return emulator, client

    yield start
    for step in reversed(cleanup):
        step()


# -- Weibo -------------------------------------------------------------------------------------


def weibo_pair(started: Callable, sim_clock: Any, timeout: float = 2.0) -> tuple[WeiboEmulator, WeiboAdapter]:
    emulator, client = started(WeiboEmulator(sim_clock, access_token=WEIBO_TOKEN, timeout_delay=0.4), timeout)
    return emulator, WeiboAdapter(client, access_token=WEIBO_TOKEN, uid=emulator.uid, clock=sim_clock, rip="203.0.113.7")


def test_weibo_length_counts_half_width_as_half_and_astral_as_two() -> None:
    assert weibo_length("中" * 140) == 140
    assert weibo_length("a" * 280) == 140
    assert weibo_length("a" * 281) == 141
    assert weibo_length("😀") == 2
    assert weibo_length("，") == 1  # full-width punctuation is a whole character


def test_weibo_publish_returns_status_id_and_url(started, sim_clock) -> None:
    weibo, adapter = weibo_pair(started, sim_clock)
    result = adapter.publish(delivery("weibo", WEIBO_TEXT))
    assert len(weibo.posts) == 1
    post = weibo.posts[0]
    assert post.text == WEIBO_TEXT and post.rip == "203.0.113.7"
    assert result.platform_id == str(post.id)
    assert result.url == f"https://weibo.com/{weibo.uid}/{post.id}"
    assert "access_token" not in weibo.requests_log[0].query  # the token travels in the form body


def test_weibo_refuses_text_without_newsroom_url_before_sending(started, sim_clock) -> None:
    weibo, adapter = weibo_pair(started, sim_clock)
    with pytest.raises(PermanentPlatformError, match="newsroom URL"):
        adapter.publish(delivery("weibo", "服务已恢复。"))
    assert weibo.requests_log == []


@pytest.mark.parametrize(
    ("text", "newsroom", "code"),
    [
        ("长" * 141 + NEWSROOM, NEWSROOM, "20012"),  # 141 + 23 half-width characters
        ("详见https://evil.example.net/s", "https://evil.example.net/s", "10017"),  # not the secure domain
        (f"#银行# 详见{NEWSROOM}", NEWSROOM, "10017"),  # share forbids #topics#
    ],
)
def test_weibo_emulator_enforces_share_rules(started, sim_clock, text: str, newsroom: str, code: str) -> None:
    weibo, adapter = weibo_pair(started, sim_clock)
    with pytest.raises(PermanentPlatformError) as caught:
        adapter.publish(delivery("weibo", text, newsroom_url=newsroom))
    assert caught.value.code == code
    assert weibo.posts == []


@pytest.mark.parametrize(
    ("setup", "error", "code"),
    [
        (lambda w, now: w.expired_tokens.add(WEIBO_TOKEN), PermanentPlatformError, "21327"),
        (lambda w, now: w.fail_next(21332, "invalid_access_token", http_status=401), PermanentPlatformError, "21332"),
        (lambda w, now: w.add_fault(Fault(now, now + timedelta(minutes=5), "rate_limit")), RateLimited, "rate_limited"),
        (lambda w, now: w.fail_next(20016, "Out of limit!", http_status=403), RateLimited, "rate_limited"),
        (lambda w, now: w.add_fault(Fault(now, now + timedelta(minutes=5), "http_status", status=503)), TransientPlatformError, "10001"),
        (lambda w, now: w.fail_next(10009, "Too many pending tasks, system is busy", http_status=200), TransientPlatformError, "10009"),
        (lambda w, now: w.fail_next(20021, "Contain illegal website!"), PermanentPlatformError, "20021"),
    ],
    ids=["expired-token", "invalid-token", "frequency-fault", "posting-limit", "http-503", "system-busy", "illegal-site"],
)
def test_weibo_error_codes_map_to_domain_errors(started, sim_clock, setup, error, code) -> None:
    weibo, adapter = weibo_pair(started, sim_clock)
    setup(weibo, sim_clock())
    with pytest.raises(PlatformError) as caught:
        adapter.publish(delivery("weibo", WEIBO_TEXT))
    assert type(caught.value) is error
    assert caught.value.code == code
    if error is RateLimited:
        assert caught.value.resume_at == datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)  # the next clock hour
    assert_no_secret(caught.value)
    assert weibo.posts == []


def test_weibo_repeat_content_resolves_to_the_existing_status(started, sim_clock) -> None:
    weibo, adapter = weibo_pair(started, sim_clock)
    first = adapter.publish(delivery("weibo", WEIBO_TEXT))
    again = adapter.publish(delivery("weibo", WEIBO_TEXT))
    assert again == first
    assert len(weibo.posts) == 1


def test_weibo_lost_answer_is_unknown_then_find_resolves_it(started, sim_clock) -> None:
    weibo, adapter = weibo_pair(started, sim_clock, timeout=LOST_ANSWER_TIMEOUT)
    lost_answer(weibo, sim_clock())
    with pytest.raises(DeliveryOutcomeUnknown) as caught:
        adapter.publish(delivery("weibo", WEIBO_TEXT))
    assert_no_secret(caught.value)
    assert len(weibo.posts) == 1
    weibo.clear_faults()
    found = adapter.find(delivery("weibo", WEIBO_TEXT))
    assert found is not None and found.platform_id == str(weibo.posts[0].id)
    assert adapter.find(delivery("weibo", f"另一条声明。{NEWSROOM}")) is None


def test_weibo_find_matches_text_whose_link_weibo_shortened(started, sim_clock) -> None:
    weibo, adapter = weibo_pair(started, sim_clock)
    shortened = WEIBO_TEXT.replace(NEWSROOM, "http://t.cn/A6xYz12")
    weibo.posts.append(WeiboStatus(id=5_031_000_000_000_777, text=shortened, created_at=sim_clock(), rip=None))
    found = adapter.find(delivery("weibo", WEIBO_TEXT))
    assert found is not None and found.platform_id == "5031000000000777"


# -- WeChat ------------------------------------------------------------------------------------

WECHAT_TEXT = "尊敬的客户：\n\n我行网上银行服务已全面恢复，<b>资金安全</b>不受影响。\n\n如有疑问请致电95555。"


def wechat_pair(
    started: Callable, sim_clock: Any, *, timeout: float = 2.0, token: str = WECHAT_TOKEN, poll_attempts: int = 5, **options: Any
) -> tuple[WeChatEmulator, WeChatAdapter, list[float]]:
    emulator, client = started(
        WeChatEmulator(sim_clock, access_token=WECHAT_TOKEN, thumb_media_ids=("THUMB-1",), timeout_delay=0.4, **options), timeout
    )
    sleeps: list[float] = []
    adapter = WeChatAdapter(
        client, access_token=token, thumb_media_id="THUMB-1", author="新闻中心", clock=sim_clock,
        sleep=sleeps.append, poll_attempts=poll_attempts, poll_interval=2.0,
    )
    return emulator, adapter, sleeps


def test_wechat_publish_answers_on_submit_then_confirm_polls_until_done(started, sim_clock) -> None:
    wechat, adapter, sleeps = wechat_pair(started, sim_clock, publishing_polls=2)
    request = delivery("wechat", WECHAT_TEXT)
    sent = adapter.publish(request)
    assert [entry.path for entry in wechat.requests_log] == ["/cgi-bin/draft/add", SUBMIT_PATH]
    assert sent.platform_id == sent.details["publish_id"] == "2247483001"
    assert sent.details["confirm"] == "pending" and sent.url is None
    result = adapter.confirm(request, sent)
    assert result is not None and len(wechat.articles) == 1
    article = wechat.articles[0]
    assert result.platform_id == article.article_id
    assert result.url == article.url and result.url.startswith("https://mp.weixin.qq.com/s/")
    assert sleeps == [2.0, 2.0]  # two "publishing" answers, then done
    news = article.news_item
    assert news["title"] == "关于网上银行服务中断的说明"  # not \\u escapes
    assert news["content_source_url"] == NEWSROOM and news["thumb_media_id"] == "THUMB-1"
    assert "&lt;b&gt;资金安全&lt;/b&gt;" in news["content"] and news["content"].startswith("<p>")
    assert [entry.path for entry in wechat.requests_log].count(GET_PATH) == 3
    assert all(WECHAT_TOKEN not in value for value in {**sent.details, **result.details}.values())


def test_wechat_rendered_html_goes_out_unchanged_with_a_visible_text_digest(started, sim_clock) -> None:
    wechat, adapter, _ = wechat_pair(started, sim_clock, publishing_polls=0)
    rendered = "<p>尊敬的客户：</p><p>服务已恢复，&lt;资金安全&gt;。</p>"
    adapter.publish(delivery("wechat", rendered))
    news = wechat.articles[0].news_item
    assert news["content"] == rendered
    assert news["digest"] == "尊敬的客户： 服务已恢复，<资金安全>。"


def test_wechat_title_over_the_limit_is_permanent(started, sim_clock) -> None:
    wechat, adapter, _ = wechat_pair(started, sim_clock)
    with pytest.raises(PermanentPlatformError) as caught:
        adapter.publish(delivery("wechat", WECHAT_TEXT, title="长" * 33))
    assert caught.value.code == "45003"
    assert wechat.drafts == {}


def test_wechat_still_publishing_after_the_last_poll_is_not_confirmed_yet(started, sim_clock) -> None:
    wechat, adapter, sleeps = wechat_pair(started, sim_clock, publishing_polls=5, poll_attempts=3)
    request = delivery("wechat", WECHAT_TEXT)
    sent = adapter.publish(request)
    assert adapter.confirm(request, sent) is None
    assert len(sleeps) == 2
    assert adapter.confirm(request, sent) is not None  # the next confirmation finds it done


def test_wechat_failed_publish_status_is_permanent_with_its_meaning(started, sim_clock) -> None:
    wechat, adapter, _ = wechat_pair(started, sim_clock, publishing_polls=1, final_status=4)
    request = delivery("wechat", WECHAT_TEXT)
    sent = adapter.publish(request)
    with pytest.raises(PermanentPlatformError, match="platform review") as caught:
        adapter.confirm(request, sent)
    assert caught.value.code == "publish_status_4"
    assert wechat.articles == []


@pytest.mark.parametrize(
    ("setup", "token", "error", "code"),
    [
        (lambda w, now: None, "not-the-token", PermanentPlatformError, "40001"),
        (lambda w, now: w.expired_tokens.add(WECHAT_TOKEN), WECHAT_TOKEN, PermanentPlatformError, "42001"),
        (lambda w, now: w.add_fault(Fault(now, now + timedelta(minutes=5), "rate_limit")), WECHAT_TOKEN, RateLimited, "rate_limited"),
        (lambda w, now: w.fail_next(-1, "system error"), WECHAT_TOKEN, TransientPlatformError, "-1"),
        (lambda w, now: w.add_fault(Fault(now, now + timedelta(minutes=5), "http_status", status=502)), WECHAT_TOKEN, TransientPlatformError, None),
        (lambda w, now: w.thumb_media_ids.clear(), WECHAT_TOKEN, PermanentPlatformError, "40007"),
    ],
    ids=["invalid-token", "expired-token", "daily-quota", "system-busy", "http-502", "bad-thumb"],
)
def test_wechat_errcodes_map_to_domain_errors(started, sim_clock, setup, token, error, code) -> None:
    wechat, adapter, _ = wechat_pair(started, sim_clock, token=token)
    setup(wechat, sim_clock())
    with pytest.raises(PlatformError) as caught:
        adapter.publish(delivery("wechat", WECHAT_TEXT))
    assert type(caught.value) is error
    assert caught.value.code == code
    if error is RateLimited:
        # 09:00 UTC is 17:00 in Beijing; the daily quota resets at Beijing midnight.
        assert caught.value.resume_at == datetime(2026, 11, 28, 16, 0, tzinfo=timezone.utc)
    assert_no_secret(caught.value)
    assert wechat.articles == [] and wechat.tasks == {}


def test_wechat_minute_quota_resumes_next_minute(started, sim_clock) -> None:
    wechat, adapter, _ = wechat_pair(started, sim_clock)
    wechat.fail_next(45011, "api minute-quota reach limit must slower retry next minute")
    with pytest.raises(RateLimited) as caught:
        adapter.publish(delivery("wechat", WECHAT_TEXT))
    assert caught.value.resume_at == datetime(2026, 11, 28, 9, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("status", [503, 403])
def test_wechat_poll_failure_after_submit_is_unknown_never_a_failed_post(started, sim_clock, status: int) -> None:
    wechat, adapter, _ = wechat_pair(started, sim_clock, publishing_polls=0)
    now = sim_clock()
    wechat.add_fault(Fault(now, now + timedelta(minutes=5), "http_status", status=status, target=GET_PATH))
    request = delivery("wechat", WECHAT_TEXT)
    sent = adapter.publish(request)
    with pytest.raises(DeliveryOutcomeUnknown) as caught:
        adapter.confirm(request, sent)
    assert "2247483001" in str(caught.value)  # the publish_id, for the person who follows up
    assert len(wechat.articles) == 1


def test_wechat_lost_draft_answer_is_retryable(started, sim_clock) -> None:
    wechat, adapter, _ = wechat_pair(started, sim_clock, timeout=LOST_ANSWER_TIMEOUT)
    lost_answer(wechat, sim_clock(), target="/cgi-bin/draft/add")
    with pytest.raises(TransientPlatformError):
        adapter.publish(delivery("wechat", WECHAT_TEXT))
    assert len(wechat.drafts) == 1 and wechat.tasks == {}


def test_wechat_lost_submit_answer_is_unknown_then_find_resolves_it(started, sim_clock) -> None:
    wechat, adapter, _ = wechat_pair(started, sim_clock, timeout=LOST_ANSWER_TIMEOUT, publishing_polls=0)
    lost_answer(wechat, sim_clock(), target=SUBMIT_PATH)
    with pytest.raises(DeliveryOutcomeUnknown) as caught:
        adapter.publish(delivery("wechat", WECHAT_TEXT))
    assert_no_secret(caught.value)
    assert len(wechat.articles) == 1
    wechat.clear_faults()
    found = adapter.find(delivery("wechat", WECHAT_TEXT))
    assert found is not None
    assert (found.platform_id, found.url) == (wechat.articles[0].article_id, wechat.articles[0].url)
    assert adapter.find(delivery("wechat", WECHAT_TEXT, title="另一份声明")) is None


def test_wechat_publish_task_completes_on_its_own_once_its_time_has_come(started, sim_clock) -> None:
    """As on WeChat, a submitted article goes out when its publish task is done, whether or not anyone
    asks freepublish/get; until then the published list does not show it."""
    wechat, adapter, _ = wechat_pair(started, sim_clock, timeout=LOST_ANSWER_TIMEOUT, publishing_seconds=45)
    lost_answer(wechat, sim_clock(), target=SUBMIT_PATH)
    with pytest.raises(DeliveryOutcomeUnknown):
        adapter.publish(delivery("wechat", WECHAT_TEXT))
    wechat.clear_faults()
    assert adapter.find(delivery("wechat", WECHAT_TEXT)) is None and wechat.articles == []
    sim_clock.advance(timedelta(seconds=44))
    assert adapter.find(delivery("wechat", WECHAT_TEXT)) is None
    sim_clock.advance(timedelta(seconds=1))
    assert len(wechat.articles) == 1  # done without a request
    found = adapter.find(delivery("wechat", WECHAT_TEXT))
    assert found is not None and (found.platform_id, found.url) == (wechat.articles[0].article_id, wechat.articles[0].url)
    assert GET_PATH not in [entry.path for entry in wechat.requests_log]


def test_wechat_publish_task_polled_after_its_time_answers_its_outcome(started, sim_clock) -> None:
    wechat, adapter, sleeps = wechat_pair(started, sim_clock, publishing_polls=3, publishing_seconds=30)
    request = delivery("wechat", WECHAT_TEXT)
    sent = adapter.publish(request)
    sim_clock.advance(timedelta(seconds=30))
    result = adapter.confirm(request, sent)
    assert result is not None and result.platform_id == wechat.articles[0].article_id and sleeps == []
    failing, failing_adapter, _ = wechat_pair(started, sim_clock, publishing_polls=3, publishing_seconds=30, final_status=4)
    sent = failing_adapter.publish(request)
    sim_clock.advance(timedelta(seconds=30))
    with pytest.raises(PermanentPlatformError, match="platform review"):
        failing_adapter.confirm(request, sent)
    assert failing.articles == []


def test_wechat_find_pages_through_the_published_list(started, sim_clock) -> None:
    wechat, adapter, _ = wechat_pair(started, sim_clock, publishing_polls=0)
    adapter.publish(delivery("wechat", WECHAT_TEXT))
    target = wechat.articles[0]
    for n in range(25):  # pushes the target to the second page of 20
        adapter.publish(delivery("wechat", f"更新 {n}", title=f"更新 {n}"))
    found = adapter.find(delivery("wechat", WECHAT_TEXT))
    assert found is not None and found.platform_id == target.article_id
    offsets = [entry for entry in wechat.requests_log if entry.path == "/cgi-bin/freepublish/batchget"]
    assert len(offsets) == 2


# -- Webhook -----------------------------------------------------------------------------------

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
BODY = b'{"type":"statement.statement","data":{"text":"ok"}}'


def signed_headers(body: bytes = BODY, msg_id: str = "d-1", when: datetime = NOW) -> dict[str, str]:
    timestamp = int(when.timestamp())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(decode_secret(WEBHOOK_SECRET), msg_id, timestamp, body),
    }


def test_signature_matches_the_spec_test_vector() -> None:
    # From the Standard Webhooks specification's reference libraries.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert sign(decode_secret(secret), "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_verify_accepts_a_valid_delivery_and_a_rotated_signature_list() -> None:
    assert verify_signature(WEBHOOK_SECRET, signed_headers(), BODY, NOW) == "d-1"
    headers = signed_headers()
    headers["webhook-signature"] = "v1,bm90LXRoaXMtb25l " + headers["webhook-signature"]
    assert verify_signature(WEBHOOK_SECRET, {k.title(): v for k, v in headers.items()}, BODY, NOW) == "d-1"


@pytest.mark.parametrize(
    ("headers", "body", "now", "reason"),
    [
        (signed_headers(), BODY.replace(b"ok", b"KO"), NOW, "no matching"),
        (signed_headers(when=NOW - timedelta(seconds=301)), BODY, NOW, "tolerance"),
        (signed_headers(when=NOW + timedelta(seconds=301)), BODY, NOW, "tolerance"),
        ({**signed_headers(), "webhook-id": "d-2"}, BODY, NOW, "no matching"),
        ({k: v for k, v in signed_headers().items() if k != "webhook-signature"}, BODY, NOW, "missing"),
    ],
    ids=["tampered-body", "stale", "future", "other-id", "unsigned"],
)
def test_verify_rejects(headers: dict[str, str], body: bytes, now: datetime, reason: str) -> None:
    with pytest.raises(InvalidWebhookSignature, match=reason) as caught:
        verify_signature(WEBHOOK_SECRET, headers, body, now)
    assert_no_secret(caught.value)


def test_a_malformed_secret_is_a_configuration_error_without_the_secret() -> None:
    with pytest.raises(ConfigurationError) as caught:
        decode_secret("whsec_not*base64!")
    assert "not*base64" not in str(caught.value)


def webhook_pair(
    started: Callable, sim_clock: Any, *, timeout: float = 2.0, secret: str = WEBHOOK_SECRET,
    clock: Callable[[], datetime] | None = None,
) -> tuple[WebhookReceiver, WebhookAdapter]:
    receiver, client = started(WebhookReceiver(sim_clock, secret=WEBHOOK_SECRET, timeout_delay=0.4), timeout)
    return receiver, WebhookAdapter(client, url=receiver.url, secret=secret, clock=clock or sim_clock)


def test_webhook_delivery_is_signed_and_recorded(started, sim_clock) -> None:
    receiver, adapter = webhook_pair(started, sim_clock)
    result = adapter.publish(delivery("webhook", "服务已恢复"))
    assert result.platform_id == "d-webhook-1" and result.url is None
    assert [r.webhook_id for r in receiver.received] == ["d-webhook-1"]
    payload = receiver.received[0].payload
    assert payload["type"] == "statement.statement" and payload["data"]["text"] == "服务已恢复"
    assert receiver.rejections == []
    assert adapter.find(delivery("webhook", "服务已恢复")) is None


def test_webhook_id_is_stable_across_retries_and_recorded_once(started, sim_clock) -> None:
    receiver, adapter = webhook_pair(started, sim_clock, timeout=LOST_ANSWER_TIMEOUT)
    lost_answer(receiver, sim_clock())
    with pytest.raises(TransientPlatformError, match="sent again with the same webhook-id") as lost:
        adapter.publish(delivery("webhook", "服务已恢复"))
    assert isinstance(lost.value.__cause__, DeliveryOutcomeUnknown)
    receiver.clear_faults()
    sim_clock.advance(timedelta(seconds=30))
    adapter.publish(delivery("webhook", "服务已恢复"))
    attempts = receiver.requests_log
    assert [a.headers["webhook-id"] for a in attempts] == ["d-webhook-1", "d-webhook-1"]
    assert attempts[0].headers["webhook-timestamp"] != attempts[1].headers["webhook-timestamp"]
    assert len(receiver.received) == 1 and receiver.redeliveries == 1


@pytest.mark.parametrize("case", ["wrong-secret", "stale-clock"])
def test_webhook_receiver_rejects_bad_signatures_with_401(started, sim_clock, case: str) -> None:
    other = "whsec_" + base64.b64encode(b"some-other-partner-key-000000000").decode()
    late = lambda: sim_clock() - timedelta(minutes=10)  # noqa: E731
    receiver, adapter = webhook_pair(
        started, sim_clock, **({"secret": other} if case == "wrong-secret" else {"clock": late})
    )
    with pytest.raises(PermanentPlatformError) as caught:
        adapter.publish(delivery("webhook", "服务已恢复"))
    assert caught.value.status == 401
    assert receiver.received == [] and len(receiver.rejections) == 1
    assert_no_secret(caught.value)
    assert other.removeprefix("whsec_") not in str(caught.value)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (dict(kind="rate_limit", retry_after=30), RateLimited),
        (dict(kind="http_status", status=503), TransientPlatformError),
        (dict(kind="http_status", status=410), PermanentPlatformError),
    ],
    ids=["429", "503", "410"],
)
def test_webhook_status_mapping(started, sim_clock, fault: dict, error: type) -> None:
    receiver, adapter = webhook_pair(started, sim_clock)
    now = sim_clock()
    receiver.add_fault(Fault(now, now + timedelta(minutes=5), **fault))
    with pytest.raises(PlatformError) as caught:
        adapter.publish(delivery("webhook", "服务已恢复"))
    assert type(caught.value) is error
    if error is RateLimited:
        assert caught.value.resume_at == now + timedelta(seconds=30)
    assert receiver.received == []
