"""WeChat Official Account comments through the real Poller handler, against the WeChat emulator and local AWS."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from crisiscomms.adapters.http import make_client
from crisiscomms.adapters.sources.wechat import COMMENT_LIST_PATH, stable_token_refresh
from crisiscomms_local.aws import Stack, client, put_watch_config
from crisiscomms_local.emulators import Fault
from crisiscomms_local.emulators.channels.wechat import STABLE_TOKEN_PATH, WeChatEmulator
from crisiscomms_local.lambda_runtime import invoke

from .conftest import poller_with, renew_concurrently, source_state, stored_posts

pytestmark = pytest.mark.integration
DAY = "2026-11-28"
TOPICS = [{"id": "harbor", "names": ["Harbor Bank", "港湾银行"]}]
STATEMENT_URL = "https://mp.weixin.qq.com/s/harbor-statement"


@dataclass
class WeChatWorld:
    stack: Stack
    clock: Any
    wechat: WeChatEmulator

    def configure(self, *articles: int, **source: Any) -> None:
        entries = [{"msg_data_id": a, "index": 0, **({"url": STATEMENT_URL} if n == 0 else {})}
                   for n, a in enumerate(articles or (self.wechat.watched_article,))]
        document = {"version": 1, "topics": TOPICS, "sources": [
            {"id": "comments", "platform": "wechat", "every_minutes": 1, "base_url": self.wechat.base_url,
             "articles": entries, **source}], "accounts": {"wechat": self.wechat.default_account()}}
        put_watch_config(self.stack, json.dumps(document))

    def poll(self) -> dict[str, Any]:
        event = {"source": "wechat", "scheduled_time": self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")}
        [report] = invoke("poller", event)["reports"]
        return report

    def tick(self, minutes: int = 1) -> None:
        self.clock.advance(timedelta(minutes=minutes))

    def secret(self) -> dict[str, Any]:
        name = os.environ["SOURCE_SECRET_PREFIX"] + "wechat"
        return json.loads(client("secretsmanager").get_secret_value(SecretId=name)["SecretString"])

    def comment(self, count: int, *, start: datetime, article: int | None = None, text: str = "港湾银行 网银还是登不上 {n}") -> list[str]:
        return [self.wechat.add_comment(article or self.wechat.watched_article, content=text.format(n=n),
                                        openid=f"o{n:027d}", created_at=start + timedelta(seconds=n)) for n in range(count)]


@pytest.fixture
def world(stack: Stack, sim_clock: Any) -> Iterator[WeChatWorld]:
    with poller_with(stack, WeChatEmulator(sim_clock, timeout_delay=1.5)) as wechat:
        yield WeChatWorld(stack, sim_clock, wechat)


def _stored() -> dict[str, dict[str, Any]]:
    return {p["post_key"]: p for p in stored_posts("wechat", DAY)}


def _state() -> dict[str, Any]:
    return source_state("source#wechat#comments")


def _list_calls(world: WeChatWorld) -> list[Any]:
    return [r for r in world.wechat.requests_log if r.path == COMMENT_LIST_PATH]


def test_first_poll_then_resume_misses_nothing_and_stores_nothing_twice(world: WeChatWorld) -> None:
    second = world.wechat.add_article()
    world.configure(world.wechat.watched_article, second)
    first = world.comment(120, start=world.clock() - timedelta(hours=2))
    other = world.comment(3, start=world.clock() - timedelta(minutes=30), article=second)
    report = world.poll()
    # 120 comments take three pages of 49 (each after the first starts at the last comment read), then one page.
    assert (report["status"], report["pages"], report["stored"], report["duplicates"]) == ("ok", 4, 123, 2)
    state = _state()
    assert sorted(state["progress"]) == sorted([f"{world.wechat.watched_article}:0:120:120", f"{second}:0:3:123"])
    assert "queue" not in state, "the round ended"

    world.tick()
    later = world.comment(10, start=world.clock() - timedelta(seconds=30), text="港湾银行 还要等多久 {n}")
    report = world.poll()
    assert (report["stored"], report["duplicates"], report["pages"]) == (10, 2, 2)  # the two anchors read again
    assert [r.query.get("access_token") for r in _list_calls(world)][-1] == world.wechat.access_token

    world.tick()
    report = world.poll()
    assert (report["stored"], report["duplicates"]) == (0, 2)
    assert sorted(_stored()) == sorted(f"wechat#{i}" for i in first + other + later)


def test_stored_comments_carry_the_openid_time_and_article_and_address_the_bank(world: WeChatWorld) -> None:
    world.configure()
    created = datetime(2026, 11, 28, 8, 59, 30, tzinfo=timezone.utc)  # 16:59:30 in Beijing
    key = world.wechat.add_comment(world.wechat.watched_article, content="港湾银行的声明说清楚了吗？",
                                   openid="o6_bmjrPTlm6_2sgVt7hMZOPfL2M", created_at=created, reply="已回复")
    anonymous = world.wechat.add_comment(world.wechat.watched_article, content="港湾银行 退款呢", openid=None,
                                         created_at=created)
    assert world.poll()["stored"] == 2
    item = _stored()[f"wechat#{key}"]
    assert (item["author"], item["followers"], item["replies"], item["to_bank"], item["url"]) == (
        "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", 0, 1, True, STATEMENT_URL)
    assert datetime.fromisoformat(item["published_at"].replace("Z", "+00:00")) == created
    assert _stored()[f"wechat#{anonymous}"]["author"] == "anonymous"


def test_a_deleted_comment_never_makes_a_new_one_skipped(world: WeChatWorld) -> None:
    world.configure()
    ids = world.comment(8, start=world.clock() - timedelta(minutes=20))
    assert world.poll()["stored"] == 8
    world.tick()
    world.wechat.delete_comment(world.wechat.watched_article, 0, int(ids[1].rsplit("_", 1)[1]))
    new = world.comment(1, start=world.clock() - timedelta(seconds=5), text="港湾银行 删评论了？ {n}")
    report = world.poll()
    assert (report["status"], report["stored"], report["pages"]) == ("ok", 1, 2)
    assert f"wechat#{new[0]}" in _stored()


def test_the_daily_quota_parks_the_source_until_midnight_beijing_time(world: WeChatWorld) -> None:
    world.configure()
    now = world.clock()
    world.wechat.add_fault(Fault(now, now + timedelta(hours=2), "rate_limit"))
    ids = world.comment(5, start=now - timedelta(minutes=5))
    report = world.poll()
    assert report["status"] == "rate_limited" and "45009" in report["detail"]
    assert datetime.fromisoformat(_state()["resume_at"]) == datetime(2026, 11, 28, 16, 0, tzinfo=timezone.utc)
    calls = len(world.wechat.requests_log)
    world.tick(180)
    assert world.poll()["status"] == "paused" and len(world.wechat.requests_log) == calls
    world.clock.set(datetime(2026, 11, 28, 16, 0, 30, tzinfo=timezone.utc))
    report = world.poll()
    assert (report["status"], report["stored"]) == ("ok", 5)
    assert set(_stored()) == {f"wechat#{i}" for i in ids}


def test_5xx_is_retried_a_bounded_number_of_times_then_the_next_run_reads(world: WeChatWorld) -> None:
    world.configure()
    ids = world.comment(4, start=world.clock() - timedelta(minutes=5))
    now = world.clock()
    world.wechat.add_fault(Fault(now, now + timedelta(minutes=1), "http_status", status=503, target=COMMENT_LIST_PATH))
    report = world.poll()
    assert (report["status"], report["retries"]) == ("failed", 2) and len(_list_calls(world)) == 3
    assert "progress" not in _state()
    world.tick()
    world.wechat.fail_next(-1, "system error")  # "busy" inside HTTP 200 is retried too
    report = world.poll()
    assert (report["status"], report["retries"], report["stored"]) == ("ok", 1, 4)
    assert set(_stored()) == {f"wechat#{i}" for i in ids}


def test_a_malformed_comment_is_counted_and_never_fails_the_page(world: WeChatWorld) -> None:
    world.configure()
    start = world.clock() - timedelta(minutes=5)
    good = world.comment(3, start=start)
    world.wechat.add_comment(world.wechat.watched_article, content="", created_at=start + timedelta(seconds=10),
                             raw={"user_comment_id": "abc", "create_time": "later", "content": 5})
    report = world.poll()
    assert (report["status"], report["stored"], report["malformed"]) == ("ok", 3, 1)
    assert set(_stored()) == {f"wechat#{i}" for i in good}


def test_a_refused_token_is_renewed_by_the_stable_token_written_back_and_used(world: WeChatWorld) -> None:
    world.configure()
    ids = world.comment(3, start=world.clock() - timedelta(minutes=5))
    old = world.wechat.access_token
    world.wechat.expire_access_token()
    report = world.poll()
    assert (report["status"], report["stored"]) == ("ok", 3)
    secret = world.secret()
    assert secret["access_token"] == world.wechat.access_token != old
    assert (secret["appid"], secret["secret"]) == (world.wechat.appid, world.wechat.secret)
    assert [r.query["access_token"] for r in _list_calls(world)] == [old, world.wechat.access_token]
    assert world.wechat.stable_token_calls == 1
    assert set(_stored()) == {f"wechat#{i}" for i in ids}


def test_wrong_app_credentials_are_reported_for_a_person(world: WeChatWorld) -> None:
    world.configure()
    client("secretsmanager").put_secret_value(SecretId=os.environ["SOURCE_SECRET_PREFIX"] + "wechat",
                                              SecretString=json.dumps({**world.wechat.credentials(), "secret": "rotated"}))
    world.wechat.expire_access_token()
    report = world.poll()
    assert report["status"] == "failed" and report["detail"].startswith("ReauthorisationNeeded")
    assert "rotated" not in report["detail"] and world.wechat.secret not in report["detail"]


def test_two_concurrent_renewals_call_stable_token_once(world: WeChatWorld) -> None:
    world.wechat.expire_access_token()
    http = make_client(world.wechat.base_url, timeout_seconds=2.0)
    results = renew_concurrently("wechat", stable_token_refresh(http, clock=world.clock), world.clock)
    assert [r["access_token"] for r in results] == [world.wechat.access_token] * 2
    assert world.wechat.stable_token_calls == 1
    assert len([r for r in world.wechat.requests_log if r.path == STABLE_TOKEN_PATH]) == 1
    assert world.secret()["access_token"] == world.wechat.access_token
    http.close()
