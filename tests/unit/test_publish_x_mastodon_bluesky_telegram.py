"""Publishing adapters for X, Mastodon, Bluesky and Telegram against their emulators on 127.0.0.1.

Each emulator keeps the posts it created, so "exactly one post" is asserted on the platform
side, not inferred from what the adapter returned.
"""
from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from crisiscomms.adapters.channels.bluesky import BlueskyAdapter, rkey_for
from crisiscomms.adapters.channels.mastodon import MastodonAdapter
from crisiscomms.adapters.channels.telegram import TelegramAdapter
from crisiscomms.adapters.channels.x import XAdapter
from crisiscomms.adapters.http import make_client
from crisiscomms.models.delivery import DeliveryRequest
from crisiscomms.errors import (
    DeliveryOutcomeUnknown,
    PermanentPlatformError,
    RateLimited,
    TransientPlatformError,
)
from crisiscomms_local.emulators.base import Fault
from crisiscomms_local.emulators.channels.bluesky import TID_RE, BlueskyEmulator
from crisiscomms_local.emulators.channels.mastodon import MastodonEmulator
from crisiscomms_local.emulators.channels.telegram import TelegramEmulator
from crisiscomms_local.emulators.channels.x_publish import XPublishEmulator
from crisiscomms_local.emulators.x import XEmulator

CLIENT_TIMEOUT = 0.15  # shorter than the emulators' timeout_delay, so a held answer is lost
EMULATOR_DELAY = 0.4
NEWSROOM = "https://newsroom.examplebank.test/statements/s-42?v=2&lang=en"
TEXT = f"Update on card payments: service is restored & all payments completed. Details: {NEWSROOM}"


def delivery(channel: str, *, delivery_id: str = "d-1", text: str = TEXT, reply_to: str | None = None,
             language: str = "en") -> DeliveryRequest:
    return DeliveryRequest(
        delivery_id=f"{channel}-{delivery_id}", statement_id="s-42", version=1,
        channel=channel,  # type: ignore[arg-type]
        language=language, text=text, newsroom_url=NEWSROOM, reply_to=reply_to,
        kind="correction" if reply_to else "statement",
    )


def fault(emulator: Any, clock: Any, kind: str, **kwargs: Any) -> None:
    """A fault window open for the next minute of simulated time."""
    now = clock()
    emulator.add_fault(Fault(start=now, end=now + timedelta(minutes=1), kind=kind, **kwargs))  # type: ignore[arg-type]


def full_text(exc: BaseException) -> str:
    """Everything a log line or error report could show about an exception, chain included."""
    return "".join(traceback.format_exception(exc)) + repr(exc)


# -- fixtures -------------------------------------------------------------------------------


def _running(emulator: Any, make_adapter: Any) -> Iterator[tuple[Any, Any]]:
    """Start an emulator, hand its adapter over a client with the tests' short timeout, then stop both."""
    emulator.start()
    http = make_client(emulator.base_url, timeout_seconds=CLIENT_TIMEOUT)
    try:
        yield emulator, make_adapter(http, emulator)
    finally:
        http.close()
        emulator.stop()


@pytest.fixture
def x(sim_clock: Any) -> Iterator[tuple[XPublishEmulator, XAdapter]]:
    yield from _running(XPublishEmulator(sim_clock, timeout_delay=EMULATOR_DELAY), lambda http, em: XAdapter(
        http, access_token=em.access_token, user_id=em.user_id, username=em.username, clock=sim_clock))


@pytest.fixture
def mastodon(sim_clock: Any) -> Iterator[tuple[MastodonEmulator, MastodonAdapter]]:
    yield from _running(MastodonEmulator(sim_clock, timeout_delay=EMULATOR_DELAY), lambda http, em: MastodonAdapter(
        http, access_token=em.access_token, account_id=em.account_id, clock=sim_clock))


@pytest.fixture
def bluesky(sim_clock: Any) -> Iterator[tuple[BlueskyEmulator, BlueskyAdapter]]:
    yield from _running(BlueskyEmulator(sim_clock, timeout_delay=EMULATOR_DELAY), lambda http, em: BlueskyAdapter(
        http, did=em.did, handle=em.account_handle, access_jwt=em.access_jwt, clock=sim_clock))


@pytest.fixture
def telegram(sim_clock: Any) -> Iterator[tuple[TelegramEmulator, TelegramAdapter]]:
    yield from _running(TelegramEmulator(sim_clock, timeout_delay=EMULATOR_DELAY), lambda http, em: TelegramAdapter(
        http, bot_token=em.bot_token, chat_id=f"@{em.channel_username}", clock=sim_clock))


# -- X --------------------------------------------------------------------------------------


def test_x_publish_returns_id_and_status_url(x: tuple[XPublishEmulator, XAdapter]) -> None:
    emulator, adapter = x
    result = adapter.publish(delivery("x"))
    [post] = emulator.posts
    assert result.platform_id == post.id and post.id.isdigit()
    assert result.url == f"https://x.com/examplebank/status/{post.id}"
    assert post.submitted_text == TEXT and post.in_reply_to is None
    assert emulator.requests_log[0].headers["authorization"] == f"Bearer {emulator.access_token}"


def test_x_correction_is_a_reply_to_the_original(x: tuple[XPublishEmulator, XAdapter]) -> None:
    emulator, adapter = x
    original = adapter.publish(delivery("x"))
    correction = adapter.publish(delivery("x", delivery_id="d-2", text="Correction: payments resume at 10:00.",
                                          reply_to=original.platform_id))
    assert emulator.posts[1].id == correction.platform_id
    assert emulator.posts[1].in_reply_to == original.platform_id


def test_x_the_banks_post_and_anothers_of_the_same_millisecond_never_share_an_id(
        x: tuple[XPublishEmulator, XAdapter], sim_clock: Any) -> None:
    """A statement published the millisecond someone posted (a drill's burst and a desk action at the same
    offset): the two ids differ, so the correction threads under the statement, not under that post."""
    emulator, adapter = x
    listening = XEmulator(sim_clock)
    theirs = [listening.add_post(text=f"Example Bank app down {i}", author=f"user{i}", created_at=sim_clock())
              for i in range(3)]
    original = adapter.publish(delivery("x"))
    assert original.platform_id not in theirs
    assert int(original.platform_id) >> 22 == int(theirs[0]) >> 22, "the same millisecond"
    correction = adapter.publish(delivery("x", delivery_id="d-2", text="Correction: payments resume at 10:00.",
                                          reply_to=original.platform_id))
    assert emulator.posts[1].id == correction.platform_id and emulator.posts[1].in_reply_to == original.platform_id


def test_x_rate_limit_resumes_at_the_reset_header(x: tuple[XPublishEmulator, XAdapter], sim_clock: Any) -> None:
    emulator, adapter = x
    fault(emulator, sim_clock, "rate_limit", retry_after=120)
    with pytest.raises(RateLimited) as caught:
        adapter.publish(delivery("x"))
    assert caught.value.resume_at == sim_clock() + timedelta(seconds=120)
    assert emulator.posts == []


def test_x_server_error_is_transient(x: tuple[XPublishEmulator, XAdapter], sim_clock: Any) -> None:
    emulator, adapter = x
    fault(emulator, sim_clock, "http_status", status=503)
    with pytest.raises(TransientPlatformError) as caught:
        adapter.publish(delivery("x"))
    assert caught.value.status == 503


def test_x_too_long_text_is_permanent_with_xs_message(x: tuple[XPublishEmulator, XAdapter]) -> None:
    emulator, adapter = x
    with pytest.raises(PermanentPlatformError) as caught:
        adapter.publish(delivery("x", text="支付服务已恢复" * 21))  # 147 CJK characters weigh 294
    assert caught.value.status == 400 and "too long" in str(caught.value)
    assert emulator.posts == []


def test_x_bad_token_is_permanent(sim_clock: Any) -> None:
    with XPublishEmulator(sim_clock) as emulator, make_client(emulator.base_url, timeout_seconds=2) as http:
        adapter = XAdapter(http, access_token="wrong-token", user_id=emulator.user_id,
                             username=emulator.username, clock=sim_clock)
        with pytest.raises(PermanentPlatformError) as caught:
            adapter.publish(delivery("x"))
    assert caught.value.status == 401 and "Unauthorized" in str(caught.value)
    assert "wrong-token" not in full_text(caught.value)


def test_x_lost_answer_is_unknown_and_find_resolves_it(x: tuple[XPublishEmulator, XAdapter], sim_clock: Any) -> None:
    emulator, adapter = x
    request = delivery("x")
    assert adapter.find(request) is None
    fault(emulator, sim_clock, "timeout_after_send")
    with pytest.raises(DeliveryOutcomeUnknown):
        adapter.publish(request)
    emulator.clear_faults()
    [post] = emulator.posts
    assert "t.co" in post.text and "&amp;" in post.text  # X rewrote the link and escaped '&'
    found = adapter.find(request)
    assert found is not None and found.platform_id == post.id
    assert found.url == f"https://x.com/examplebank/status/{post.id}"
    assert adapter.find(delivery("x", text="A different statement.")) is None


def test_x_retry_after_unknown_outcome_resolves_the_duplicate(x: tuple[XPublishEmulator, XAdapter],
                                                             sim_clock: Any) -> None:
    emulator, adapter = x
    request = delivery("x")
    fault(emulator, sim_clock, "timeout_after_send")
    with pytest.raises(DeliveryOutcomeUnknown):
        adapter.publish(request)
    emulator.clear_faults()
    result = adapter.publish(request)
    assert len(emulator.posts) == 1
    assert result.platform_id == emulator.posts[0].id and result.details["resolved_by"] == "duplicate"


# -- Mastodon -------------------------------------------------------------------------------


def test_mastodon_publish_sends_idempotency_key_and_returns_url(
        mastodon: tuple[MastodonEmulator, MastodonAdapter]) -> None:
    emulator, adapter = mastodon
    result = adapter.publish(delivery("mastodon"))
    [status] = emulator.posts
    assert result.platform_id == status.id
    assert result.url == f"https://social.example/@examplebank/{status.id}"
    assert status.idempotency_key == "mastodon-d-1"
    assert (status.visibility, status.language, status.text) == ("public", "en", TEXT)


def test_mastodon_correction_replies_to_the_original(mastodon: tuple[MastodonEmulator, MastodonAdapter]) -> None:
    emulator, adapter = mastodon
    original = adapter.publish(delivery("mastodon"))
    adapter.publish(delivery("mastodon", delivery_id="d-2", text="更正:服务于10:00恢复。", language="zh",
                             reply_to=original.platform_id))
    assert emulator.posts[1].in_reply_to_id == original.platform_id
    assert emulator.posts[1].language == "zh"


def test_mastodon_keeps_the_languages_it_supports_and_gives_others_the_default(
        mastodon: tuple[MastodonEmulator, MastodonAdapter]) -> None:
    """The emulator plays valid_locale_cascade: a tag Mastodon does not list becomes the instance's default."""
    emulator, _ = mastodon
    for n, language in enumerate(("zh", "zh-TW", "yue", "zh-Hant", "en-XX")):
        answer = httpx.post(f"{emulator.base_url}/api/v1/statuses", json={"status": f"status {n}", "language": language},
                            headers={"Authorization": f"Bearer {emulator.access_token}"}, timeout=5)
        assert answer.status_code == 200 and answer.json()["language"] == emulator.posts[-1].language
    assert [s.language for s in emulator.posts] == ["zh", "zh-TW", "yue", "en", "en"]


def test_mastodon_traditional_chinese_is_published_as_zh_and_a_lost_answer_is_still_found(
        mastodon: tuple[MastodonEmulator, MastodonAdapter], sim_clock: Any) -> None:
    emulator, adapter = mastodon
    request = delivery("mastodon", text="聲明:港灣銀行各分行營業正常,存款安全。", language="zh-Hant")
    fault(emulator, sim_clock, "timeout_after_send")
    with pytest.raises(DeliveryOutcomeUnknown):
        adapter.publish(request)
    emulator.clear_faults()
    [status] = emulator.posts
    assert status.language == "zh"      # not the instance's default: the statement stays marked Chinese
    found = adapter.find(request)
    assert found is not None and found.platform_id == status.id
    assert adapter.publish(request).platform_id == status.id and len(emulator.posts) == 1


def test_mastodon_retry_with_same_key_creates_one_status(mastodon: tuple[MastodonEmulator, MastodonAdapter]) -> None:
    emulator, adapter = mastodon
    first = adapter.publish(delivery("mastodon"))
    second = adapter.publish(delivery("mastodon"))
    assert first.platform_id == second.platform_id
    assert len(emulator.posts) == 1


def test_mastodon_lost_answer_is_unknown_then_found_and_retry_is_safe(
        mastodon: tuple[MastodonEmulator, MastodonAdapter], sim_clock: Any) -> None:
    emulator, adapter = mastodon
    request = delivery("mastodon", text=f"Statement\n\nPayments are restored.\nDetails: {NEWSROOM}")
    fault(emulator, sim_clock, "timeout_after_send")
    with pytest.raises(DeliveryOutcomeUnknown):
        adapter.publish(request)
    emulator.clear_faults()
    [status] = emulator.posts
    found = adapter.find(request)
    assert found is not None and found.platform_id == status.id
    assert adapter.publish(request).platform_id == status.id
    assert len(emulator.posts) == 1


def test_mastodon_find_pages_back_and_ignores_other_statuses(
        mastodon: tuple[MastodonEmulator, MastodonAdapter], sim_clock: Any) -> None:
    emulator, adapter = mastodon
    target = adapter.publish(delivery("mastodon"))
    for n in range(45):  # more than one page of newer statuses
        sim_clock.advance(timedelta(seconds=1))
        adapter.publish(delivery("mastodon", delivery_id=f"other-{n}", text=f"Unrelated notice {n}"))
    found = adapter.find(delivery("mastodon"))
    assert found is not None and found.platform_id == target.platform_id
    assert adapter.find(delivery("mastodon", delivery_id="d-9", text="Never posted")) is None


def test_mastodon_rate_limit_uses_iso_reset_header(
        mastodon: tuple[MastodonEmulator, MastodonAdapter], sim_clock: Any) -> None:
    emulator, adapter = mastodon
    fault(emulator, sim_clock, "rate_limit", retry_after=90)
    with pytest.raises(RateLimited) as caught:
        adapter.publish(delivery("mastodon"))
    assert caught.value.resume_at == sim_clock() + timedelta(seconds=90)


def test_mastodon_server_error_is_transient(mastodon: tuple[MastodonEmulator, MastodonAdapter],
                                           sim_clock: Any) -> None:
    emulator, adapter = mastodon
    fault(emulator, sim_clock, "http_status", status=500)
    with pytest.raises(TransientPlatformError):
        adapter.publish(delivery("mastodon"))


def test_mastodon_validation_and_missing_reply_are_permanent(
        mastodon: tuple[MastodonEmulator, MastodonAdapter]) -> None:
    emulator, adapter = mastodon
    with pytest.raises(PermanentPlatformError) as too_long:
        adapter.publish(delivery("mastodon", text="a" * 501))
    assert too_long.value.status == 422 and "character limit of 500 exceeded" in str(too_long.value)
    adapter.publish(delivery("mastodon", delivery_id="d-500", text="b" * 476 + " " + NEWSROOM))  # link counts 23: 500
    with pytest.raises(PermanentPlatformError) as missing:
        adapter.publish(delivery("mastodon", delivery_id="d-3", reply_to="999"))
    assert missing.value.status == 404 and "Record not found" in str(missing.value)
    assert len(emulator.posts) == 1


# -- Bluesky --------------------------------------------------------------------------------


def test_bluesky_rkey_is_a_deterministic_tid() -> None:
    assert rkey_for("d-1") == rkey_for("d-1") != rkey_for("d-2")
    assert all(TID_RE.match(rkey_for(f"delivery-{n}")) for n in range(200))


def test_bluesky_publish_returns_at_uri_url_and_link_facet(bluesky: tuple[BlueskyEmulator, BlueskyAdapter]) -> None:
    emulator, adapter = bluesky
    text = f"银行声明:服务已恢复。{NEWSROOM}"
    result = adapter.publish(delivery("bluesky", text=text, language="zh"))
    [record] = emulator.posts
    rkey = rkey_for("bluesky-d-1")
    assert record.rkey == rkey and result.platform_id == f"at://{emulator.did}/app.bsky.feed.post/{rkey}"
    assert result.url == f"https://bsky.app/profile/examplebank.bsky.social/post/{rkey}"
    assert record.value["langs"] == ["zh"] and record.value["text"] == text
    [facet] = record.value["facets"]
    start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
    assert text.encode("utf-8")[start:end].decode("utf-8") == NEWSROOM == facet["features"][0]["uri"]


def test_bluesky_corrections_thread_under_the_root(bluesky: tuple[BlueskyEmulator, BlueskyAdapter]) -> None:
    emulator, adapter = bluesky
    original = adapter.publish(delivery("bluesky"))
    first = adapter.publish(delivery("bluesky", delivery_id="d-2", text="Correction one.",
                                     reply_to=original.platform_id))
    adapter.publish(delivery("bluesky", delivery_id="d-3", text="Correction two.", reply_to=first.platform_id))
    records = {r.uri: r for r in emulator.posts}
    reply1 = records[first.platform_id].value["reply"]
    assert reply1["root"]["uri"] == reply1["parent"]["uri"] == original.platform_id
    assert reply1["parent"]["cid"] == original.details["cid"]
    reply2 = [r for r in emulator.posts if r.value["text"] == "Correction two."][0].value["reply"]
    assert reply2["root"]["uri"] == original.platform_id and reply2["parent"]["uri"] == first.platform_id


def test_bluesky_retry_with_same_rkey_creates_one_post(bluesky: tuple[BlueskyEmulator, BlueskyAdapter]) -> None:
    emulator, adapter = bluesky
    first = adapter.publish(delivery("bluesky"))
    second = adapter.publish(delivery("bluesky"))
    assert second.platform_id == first.platform_id and second.details["resolved_by"] == "rkey_exists"
    assert len(emulator.posts) == 1


def test_bluesky_lost_answer_is_unknown_then_found(bluesky: tuple[BlueskyEmulator, BlueskyAdapter],
                                                  sim_clock: Any) -> None:
    emulator, adapter = bluesky
    request = delivery("bluesky")
    assert adapter.find(request) is None
    fault(emulator, sim_clock, "timeout_after_send")
    with pytest.raises(DeliveryOutcomeUnknown):
        adapter.publish(request)
    emulator.clear_faults()
    [record] = emulator.posts
    found = adapter.find(request)
    assert found is not None and found.platform_id == record.uri and found.details["cid"] == record.cid
    adapter.publish(request)
    assert len(emulator.posts) == 1


def test_bluesky_rate_limit_uses_ratelimit_reset(bluesky: tuple[BlueskyEmulator, BlueskyAdapter],
                                                 sim_clock: Any) -> None:
    emulator, adapter = bluesky
    fault(emulator, sim_clock, "rate_limit", retry_after=300)
    with pytest.raises(RateLimited) as caught:
        adapter.publish(delivery("bluesky"))
    assert caught.value.resume_at == sim_clock() + timedelta(seconds=300)


def test_bluesky_errors_map_to_transient_and_permanent(bluesky: tuple[BlueskyEmulator, BlueskyAdapter],
                                                       sim_clock: Any) -> None:
    emulator, adapter = bluesky
    fault(emulator, sim_clock, "http_status", status=502)
    with pytest.raises(TransientPlatformError):
        adapter.publish(delivery("bluesky"))
    emulator.clear_faults()
    with pytest.raises(PermanentPlatformError) as too_long:
        adapter.publish(delivery("bluesky", text="é" * 301))
    assert "300 graphemes" in str(too_long.value) and too_long.value.code == "InvalidRequest"
    adapter.publish(delivery("bluesky", delivery_id="d-300", text="e\u0301" * 300))  # 300 graphemes, 600 code points
    with pytest.raises(PermanentPlatformError) as missing:
        adapter.publish(delivery("bluesky", delivery_id="d-4",
                                 reply_to="at://did:plc:nobody/app.bsky.feed.post/3aaaaaaaaaaaa"))
    assert missing.value.code == "RecordNotFound"
    assert len(emulator.posts) == 1


def test_bluesky_bad_token_is_permanent(sim_clock: Any) -> None:
    with BlueskyEmulator(sim_clock) as emulator, make_client(emulator.base_url, timeout_seconds=2) as http:
        adapter = BlueskyAdapter(http, did=emulator.did, handle=emulator.account_handle, access_jwt="stale-jwt",
                                   clock=sim_clock)
        with pytest.raises(PermanentPlatformError) as caught:
            adapter.publish(delivery("bluesky"))
    assert caught.value.status == 401 and caught.value.code == "InvalidToken"
    assert "stale-jwt" not in full_text(caught.value)


# -- Telegram -------------------------------------------------------------------------------


def test_telegram_publish_returns_message_id_and_link(telegram: tuple[TelegramEmulator, TelegramAdapter]) -> None:
    emulator, adapter = telegram
    result = adapter.publish(delivery("telegram"))
    [message] = emulator.posts
    assert result.platform_id == str(message.message_id) == "1"
    assert result.url == "https://t.me/examplebank/1"
    assert message.text == TEXT and message.link_preview_options == {"url": NEWSROOM}


def test_telegram_correction_replies_to_the_original(telegram: tuple[TelegramEmulator, TelegramAdapter]) -> None:
    emulator, adapter = telegram
    original = emulator.add_channel_message("Original statement posted by hand")
    result = adapter.publish(delivery("telegram", text="Correction: payments resume at 10:00.", reply_to=str(original)))
    assert emulator.posts[-1].reply_to_message_id == original
    assert result.platform_id == str(emulator.posts[-1].message_id)


def test_telegram_rate_limit_uses_retry_after(telegram: tuple[TelegramEmulator, TelegramAdapter],
                                              sim_clock: Any) -> None:
    emulator, adapter = telegram
    fault(emulator, sim_clock, "rate_limit", retry_after=35)
    with pytest.raises(RateLimited) as caught:
        adapter.publish(delivery("telegram"))
    assert caught.value.resume_at == sim_clock() + timedelta(seconds=35)
    assert "retry after 35" in str(caught.value)


def test_telegram_errors_map_without_leaking_the_token(telegram: tuple[TelegramEmulator, TelegramAdapter],
                                                       sim_clock: Any) -> None:
    emulator, adapter = telegram
    fault(emulator, sim_clock, "http_status", status=502)
    with pytest.raises(TransientPlatformError) as server:
        adapter.publish(delivery("telegram"))
    emulator.clear_faults()
    with pytest.raises(PermanentPlatformError) as too_long:
        adapter.publish(delivery("telegram", text="x" * 4097))
    with pytest.raises(PermanentPlatformError) as missing:
        adapter.publish(delivery("telegram", reply_to="77"))
    assert "Bad Request: message is too long" in str(too_long.value)
    assert "message to be replied not found" in str(missing.value)
    for caught in (server, too_long, missing):
        assert emulator.bot_token not in full_text(caught.value)
    assert emulator.posts == []


def test_telegram_lost_answer_is_unknown_and_cannot_be_found(
        telegram: tuple[TelegramEmulator, TelegramAdapter], sim_clock: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    emulator, adapter = telegram
    caplog.set_level(logging.DEBUG, logger="httpx")  # httpx runs at WARNING; even at DEBUG no token shows
    fault(emulator, sim_clock, "timeout_after_send")
    with pytest.raises(DeliveryOutcomeUnknown) as caught:
        adapter.publish(delivery("telegram"))
    assert len(emulator.posts) == 1
    assert adapter.find(delivery("telegram")) is None
    assert emulator.bot_token not in full_text(caught.value)
    emulator.clear_faults()
    adapter.publish(delivery("telegram", delivery_id="d-2", text="Second message"))  # httpx logs answered requests
    assert "sendMessage" in caplog.text and emulator.bot_token not in caplog.text
    assert len(emulator.posts) == 2


def test_telegram_bad_token_and_unreachable_server_never_show_the_token(sim_clock: Any) -> None:
    secret = "4242:never-show-this-token"
    with TelegramEmulator(sim_clock) as emulator, make_client(emulator.base_url, timeout_seconds=2) as http:
        adapter = TelegramAdapter(http, bot_token=secret, chat_id="@examplebank", clock=sim_clock)
        with pytest.raises(PermanentPlatformError) as unauthorized:
            adapter.publish(delivery("telegram"))
        base_url = emulator.base_url
    assert unauthorized.value.status == 401 and "Unauthorized" in str(unauthorized.value)
    with make_client(base_url, timeout_seconds=0.5) as http:  # the emulator is stopped: nothing listens
        adapter = TelegramAdapter(http, bot_token=secret, chat_id="@examplebank", clock=sim_clock)
        with pytest.raises(TransientPlatformError) as unreachable:
            adapter.publish(delivery("telegram"))
    for caught in (unauthorized, unreachable):
        assert secret not in full_text(caught.value)
        assert not re.search(r"never-show", full_text(caught.value))
    assert secret not in repr(adapter)


def test_sim_clock_starts_on_a_whole_second(sim_clock: Any) -> None:
    """The reset headers are whole seconds; the exact resume_at assertions above rely on this."""
    now: datetime = sim_clock()
    assert now.microsecond == 0
