"""Douyin comments on the bank's videos through the real Poller handler, against the Douyin emulator and local AWS."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from crisiscomms.adapters.http import make_client
from crisiscomms.adapters.sources.douyin import COMMENT_LIST_PATH, token_refresh
from crisiscomms_local.aws import Stack, client, put_watch_config
from crisiscomms_local.emulators import Fault
from crisiscomms_local.emulators.douyin_listen import REFRESH_TOKEN_PATH, DouyinEmulator
from crisiscomms_local.lambda_runtime import invoke

from .conftest import poller_with, renew_concurrently, source_state, stored_posts

pytestmark = pytest.mark.integration
DAY = "2026-11-28"
TOPICS = [{"id": "harbor", "names": ["Harbor Bank", "港湾银行"]}]


@dataclass
class DouyinWorld:
    stack: Stack
    clock: Any
    douyin: DouyinEmulator

    def configure(self, **source: Any) -> None:
        [entry] = self.douyin.watch_sources(None)
        document = {"version": 1, "topics": TOPICS, "sources": [{**entry, "id": "comments", **source}],
                    "accounts": {"douyin": self.douyin.default_account()}}
        put_watch_config(self.stack, json.dumps(document))

    def poll(self) -> dict[str, Any]:
        event = {"source": "douyin", "scheduled_time": self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")}
        [report] = invoke("poller", event)["reports"]
        return report

    def tick(self, minutes: int = 1) -> None:
        self.clock.advance(timedelta(minutes=minutes))

    def secret(self) -> dict[str, Any]:
        name = os.environ["SOURCE_SECRET_PREFIX"] + "douyin"
        return json.loads(client("secretsmanager").get_secret_value(SecretId=name)["SecretString"])

    def comment(self, count: int, *, start: datetime, step: int = 10, text: str = "港湾银行 转账一直失败 {n}") -> list[str]:
        return [self.douyin.add_comment(self.douyin.watched_video, content=text.format(n=n), user_id=f"u{n}",
                                        digg_count=n, created_at=start + timedelta(seconds=step * n))
                for n in range(count)]


@pytest.fixture
def world(stack: Stack, sim_clock: Any) -> Iterator[DouyinWorld]:
    with poller_with(stack, DouyinEmulator(sim_clock, timeout_delay=1.5)) as douyin:
        yield DouyinWorld(stack, sim_clock, douyin)


def _stored() -> dict[str, dict[str, Any]]:
    return {p["post_key"]: p for p in stored_posts("douyin", DAY)}


def _state() -> dict[str, Any]:
    return source_state("source#douyin#comments")


def _list_calls(world: DouyinWorld) -> list[Any]:
    return [r for r in world.douyin.requests_log if r.path == COMMENT_LIST_PATH]


def test_first_poll_then_resume_misses_nothing_and_stores_nothing_twice(world: DouyinWorld) -> None:
    world.configure(reread_minutes=0)
    first = world.comment(45, start=world.clock() - timedelta(minutes=40), step=30)
    report = world.poll()
    assert (report["status"], report["pages"], report["stored"]) == ("ok", 3, 45)
    state = _state()
    assert state["marks"][0].startswith(world.douyin.watched_video) and "pass_cursor" not in state

    world.tick()
    second = world.comment(5, start=world.clock() - timedelta(seconds=50), text="港湾银行 还是不行 {n}")
    report = world.poll()  # the second pass still reads down to the lookback: the first one began there
    assert (report["stored"], report["duplicates"], report["pages"]) == (5, 45, 3)

    world.tick()
    third = world.comment(2, start=world.clock() - timedelta(seconds=20), text="港湾银行 客服电话打不通 {n}")
    report = world.poll()  # from now on a pass reads down to where the one before it began
    assert (report["stored"], report["pages"]) == (2, 1)
    assert [r.query["sort_type"] for r in _list_calls(world)] == ["time"] * 7
    assert sorted(_stored()) == sorted(f"douyin#{i}" for i in first + second + third)


def test_stored_comments_carry_douyin_fields_and_address_the_bank(world: DouyinWorld) -> None:
    world.configure()
    created = datetime(2026, 11, 28, 8, 59, 30, tzinfo=timezone.utc)
    key = world.douyin.add_comment(world.douyin.watched_video, content="港湾银行 APP闪退", user_id="u-0427",
                                   created_at=created, digg_count=88, reply_total=4)
    assert world.poll()["stored"] == 1
    item = _stored()[f"douyin#{key}"]
    video = world.douyin.videos[world.douyin.watched_video]
    assert (item["author"], item["likes"], item["replies"], item["to_bank"], item["url"]) == (
        "u-0427", 88, 4, True, video.share_url)
    assert datetime.fromisoformat(item["published_at"].replace("Z", "+00:00")) == created


def test_comments_arriving_between_runs_of_a_long_pass_are_repeated_never_lost(world: DouyinWorld) -> None:
    world.configure(max_pages_per_run=1, reread_minutes=0)
    ids = world.comment(50, start=world.clock() - timedelta(minutes=40), step=30)
    stored, duplicates = 0, 0
    for run in range(3):
        report = world.poll()
        stored, duplicates = stored + report["stored"], duplicates + report["duplicates"]
        world.tick()
        ids += world.comment(1, start=world.clock() - timedelta(seconds=5), text=f"港湾银行 第{run}次 {{n}}")
    # Each arrival pushes the list down one place, so the next page starts with a comment already read.
    assert (stored, duplicates) == (50, 2) and "pass_cursor" not in _state()
    report = world.poll()  # the next pass starts at the newest comment again
    assert (report["stored"], report["pages"]) == (3, 1)
    assert sorted(_stored()) == sorted(f"douyin#{i}" for i in ids)


def test_a_frequency_limit_parks_the_source_for_a_minute(world: DouyinWorld) -> None:
    world.configure()
    ids = world.comment(3, start=world.clock() - timedelta(minutes=5))
    now = world.clock()
    world.douyin.add_fault(Fault(now, now + timedelta(seconds=30), "rate_limit"))
    report = world.poll()
    assert report["status"] == "rate_limited" and "28003018" in report["detail"]
    assert datetime.fromisoformat(_state()["resume_at"]) == now + timedelta(minutes=1)
    world.clock.advance(timedelta(seconds=40))
    calls = len(world.douyin.requests_log)
    assert world.poll()["status"] == "paused" and len(world.douyin.requests_log) == calls
    world.clock.advance(timedelta(seconds=30))
    report = world.poll()
    assert (report["status"], report["stored"]) == ("ok", 3)
    assert set(_stored()) == {f"douyin#{i}" for i in ids}


def test_5xx_is_retried_a_bounded_number_of_times_and_busy_inside_200_too(world: DouyinWorld) -> None:
    world.configure()
    ids = world.comment(4, start=world.clock() - timedelta(minutes=5))
    now = world.clock()
    world.douyin.add_fault(Fault(now, now + timedelta(minutes=1), "http_status", status=503))
    report = world.poll()
    assert (report["status"], report["retries"]) == ("failed", 2) and len(_list_calls(world)) == 3
    assert "marks" not in _state()
    world.tick()
    world.douyin.fail_next(2100004, "系统繁忙,此时请开发者稍候再试")
    report = world.poll()
    assert (report["status"], report["retries"], report["stored"]) == ("ok", 1, 4)
    assert set(_stored()) == {f"douyin#{i}" for i in ids}


def test_a_malformed_comment_is_counted_and_never_fails_the_page(world: DouyinWorld) -> None:
    world.configure()
    start = world.clock() - timedelta(minutes=5)
    good = world.comment(3, start=start)
    world.douyin.add_comment(world.douyin.watched_video, content="", created_at=start + timedelta(seconds=5),
                             raw={"comment_id": "@bad==", "content": "港湾银行", "create_time": "yesterday"})
    report = world.poll()
    assert (report["status"], report["stored"], report["malformed"]) == ("ok", 3, 1)
    assert set(_stored()) == {f"douyin#{i}" for i in good}


def test_an_expired_token_is_refreshed_written_back_and_used(world: DouyinWorld) -> None:
    world.configure()
    ids = world.comment(3, start=world.clock() - timedelta(minutes=5))
    old = world.douyin.access_token
    world.douyin.expire_access_token()
    report = world.poll()
    assert (report["status"], report["stored"]) == ("ok", 3)
    secret = world.secret()
    assert secret["access_token"] == world.douyin.access_token != old
    assert secret["refresh_token"] == world.douyin.refresh_token and secret["open_id"] == world.douyin.open_id
    assert [r.headers.get("access-token", "") for r in _list_calls(world)] == ["", ""]  # the header is not logged
    assert world.douyin.refresh_calls == 1
    assert set(_stored()) == {f"douyin#{i}" for i in ids}


def test_a_dead_refresh_token_is_reported_for_the_owner_to_authorise_again(world: DouyinWorld) -> None:
    world.configure()
    world.douyin.refresh_expires_at = world.clock() - timedelta(seconds=1)
    world.douyin.expire_access_token()
    report = world.poll()
    assert report["status"] == "failed" and report["detail"].startswith("ReauthorisationNeeded")
    assert "10010" in report["detail"] and world.douyin.refresh_token not in report["detail"]
    assert world.secret() == world.douyin.credentials(), "the secret is left for a person"


def test_two_concurrent_renewals_refresh_once(world: DouyinWorld) -> None:
    world.douyin.expire_access_token()
    http = make_client(world.douyin.base_url, timeout_seconds=2.0)
    results = renew_concurrently("douyin", token_refresh(http, clock=world.clock), world.clock)
    assert [r["access_token"] for r in results] == [world.douyin.access_token] * 2
    assert world.douyin.refresh_calls == 1
    assert len([r for r in world.douyin.requests_log if r.path == REFRESH_TOKEN_PATH]) == 1
    assert world.secret()["access_token"] == world.douyin.access_token
    http.close()
