"""Engagement read back from each channel for the delivered ids, through the channel adapters and their
emulators (X public_metrics, Weibo statuses/count, Mastodon Status counts, Bluesky getPosts), with a
timeout on every call and at most two attempts."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from crisiscomms.adapters.channels.bluesky import BlueskyAdapter
from crisiscomms.adapters.channels.mastodon import MastodonAdapter
from crisiscomms.adapters.channels.weibo import WeiboAdapter
from crisiscomms.adapters.channels.x import XAdapter
from crisiscomms.adapters.http import make_client
from crisiscomms.errors import RateLimited, TransientPlatformError
from crisiscomms.models.delivery import DeliveryRequest
from crisiscomms_local.emulators.base import Fault
from crisiscomms_local.emulators.channels.bluesky import BlueskyEmulator
from crisiscomms_local.emulators.channels.mastodon import MastodonEmulator
from crisiscomms_local.emulators.channels.weibo import WeiboEmulator
from crisiscomms_local.emulators.channels.x_publish import XPublishEmulator

NEWSROOM = "https://newsroom.examplebank.com/statements/st-1.en.html"
CLIENT_TIMEOUT = 0.3
EMULATOR_DELAY = 0.8


def delivery(channel: str, n: int, text: str | None = None) -> DeliveryRequest:
    return DeliveryRequest(delivery_id=f"{channel}-d{n}", statement_id="st-1", version=1, channel=channel,  # type: ignore[arg-type]
                           language="en", text=text or f"Harbor Bank update {n}: all accounts are available. {NEWSROOM}",
                           newsroom_url=NEWSROOM)


@pytest.fixture
def started(sim_clock: Any) -> Iterator[Callable[[Any], Any]]:
    cleanup: list[Callable[[], None]] = []

    def start(emulator: Any) -> Any:
        emulator.start()
        cleanup.append(emulator.stop)
        client = make_client(emulator.base_url, timeout_seconds=CLIENT_TIMEOUT)
        cleanup.append(client.close)
        return client

    yield start
    for step in reversed(cleanup):
        step()


def _fault(emulator: Any, clock: Any, kind: str, **kwargs: Any) -> None:
    emulator.add_fault(Fault(clock(), clock() + timedelta(minutes=1), kind, **kwargs))  # type: ignore[arg-type]


def test_x_reads_public_metrics_of_the_delivered_posts(started, sim_clock) -> None:
    emulator = XPublishEmulator(sim_clock, timeout_delay=EMULATOR_DELAY)
    adapter = XAdapter(started(emulator), access_token=emulator.access_token, user_id=emulator.user_id,
                       username=emulator.username, clock=sim_clock)
    first, second = (adapter.publish(delivery("x", n)).platform_id for n in (1, 2))
    emulator.set_metrics(first, likes=40, reposts=7, replies=3, quotes=2)
    found = adapter.engagement([first, second, "1234567890123"])
    assert (found[first].likes, found[first].reposts, found[first].replies) == (40, 9, 3)  # quotes count as reposts
    assert found[second].total == 0
    assert "1234567890123" not in found  # X lists it under errors: Not Found
    lookup = emulator.requests_log[-1]
    assert lookup.path == "/2/tweets" and lookup.query["tweet.fields"] == "public_metrics"
    assert lookup.query["ids"] == f"{first},{second},1234567890123"


def test_weibo_reads_statuses_count(started, sim_clock) -> None:
    emulator = WeiboEmulator(sim_clock, timeout_delay=EMULATOR_DELAY)
    adapter = WeiboAdapter(started(emulator), access_token=emulator.access_token, uid=emulator.uid, clock=sim_clock)
    status = adapter.publish(delivery("weibo", 1, f"港湾银行声明：所有账户正常。{NEWSROOM}")).platform_id
    emulator.set_counts(status, likes=120, reposts=30, comments=45)
    found = adapter.engagement([status, "5031999999999999"])
    assert (found[status].likes, found[status].reposts, found[status].replies) == (120, 30, 45)
    assert "5031999999999999" not in found
    assert emulator.requests_log[-1].path == "/2/statuses/count.json"


def test_mastodon_reads_each_status_and_leaves_out_a_deleted_one(started, sim_clock) -> None:
    emulator = MastodonEmulator(sim_clock, timeout_delay=EMULATOR_DELAY)
    adapter = MastodonAdapter(started(emulator), access_token=emulator.access_token, account_id=emulator.account_id,
                              clock=sim_clock)
    status = adapter.publish(delivery("mastodon", 1)).platform_id
    emulator.set_counts(status, favourites=12, reblogs=4, replies=2)
    found = adapter.engagement([status, "1"])
    assert (found[status].likes, found[status].reposts, found[status].replies) == (12, 4, 2)
    assert "1" not in found


def test_bluesky_reads_post_views_through_get_posts(started, sim_clock) -> None:
    emulator = BlueskyEmulator(sim_clock, timeout_delay=EMULATOR_DELAY)
    adapter = BlueskyAdapter(started(emulator), did=emulator.did, handle=emulator.account_handle,
                             access_jwt=emulator.access_jwt, clock=sim_clock)
    uri = adapter.publish(delivery("bluesky", 1)).platform_id
    emulator.set_counts(uri, likes=9, reposts=2, replies=5, quotes=1)
    missing = emulator.uri_for("3kabcdefghijk")
    found = adapter.engagement([uri, missing])
    assert (found[uri].likes, found[uri].reposts, found[uri].replies) == (9, 3, 5)
    assert missing not in found
    assert emulator.requests_log[-1].path == "/xrpc/app.bsky.feed.getPosts"


def test_a_failing_channel_is_asked_at_most_twice_and_a_rate_limit_not_again(started, sim_clock) -> None:
    emulator = XPublishEmulator(sim_clock, timeout_delay=EMULATOR_DELAY)
    adapter = XAdapter(started(emulator), access_token=emulator.access_token, user_id=emulator.user_id,
                       username=emulator.username, clock=sim_clock)
    post = adapter.publish(delivery("x", 1)).platform_id
    before = len(emulator.requests_log)
    _fault(emulator, sim_clock, "http_status", status=503)
    with pytest.raises(TransientPlatformError):
        adapter.engagement([post], base_delay=0)
    assert len(emulator.requests_log) - before == 2
    emulator.clear_faults()
    _fault(emulator, sim_clock, "rate_limit", retry_after=60)
    before = len(emulator.requests_log)
    with pytest.raises(RateLimited):
        adapter.engagement([post], base_delay=0)
    assert len(emulator.requests_log) - before == 1


def test_a_channel_that_does_not_answer_times_out(started, sim_clock) -> None:
    emulator = MastodonEmulator(sim_clock, timeout_delay=EMULATOR_DELAY)
    adapter = MastodonAdapter(started(emulator), access_token=emulator.access_token, account_id=emulator.account_id,
                              clock=sim_clock)
    status = adapter.publish(delivery("mastodon", 1)).platform_id
    _fault(emulator, sim_clock, "timeout")
    with pytest.raises(TransientPlatformError, match="timed out"):
        adapter.engagement([status], base_delay=0)
