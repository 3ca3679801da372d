"""Weibo listening through the real Poller handler, against the Weibo emulator and local AWS."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from crisiscomms_local.aws import Stack, client, put_watch_config
from crisiscomms_local.emulators import Fault
from crisiscomms_local.emulators.channels.weibo import (
    COMMENTS_SHOW_PATH,
    COMMENTS_TO_ME_PATH,
    MENTIONS_PATH,
    SEARCH_PATH,
    USER_TIMELINE_PATH,
    WeiboEmulator,
)
from crisiscomms_local.lambda_runtime import invoke

from .conftest import poller_with, source_state, stored_posts

pytestmark = pytest.mark.integration
DAY = "2026-11-28"
TOKEN = "2.00weibo-integration-token"
TOPICS = [{"id": "harbor", "names": ["Harbor Bank", "港湾银行"], "exclude": ["Harbor Bank Arena"]}]


@dataclass
class WeiboWorld:
    stack: Stack
    clock: Any
    weibo: WeiboEmulator

    def configure(self, *sources: dict[str, Any]) -> None:
        common = {"platform": "weibo", "every_minutes": 1, "initial_lookback_minutes": 60, "base_url": self.weibo.base_url}
        document = {"version": 1, "topics": TOPICS, "sources": [{**common, **s} for s in sources],
                    "accounts": {"weibo": {"handle": self.weibo.screen_name, "id": self.weibo.uid}}}
        put_watch_config(self.stack, json.dumps(document))

    def poll(self) -> dict[str, dict[str, Any]]:
        event = {"source": "weibo", "scheduled_time": self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")}
        return {r["source"].split(":", 1)[1]: r for r in invoke("poller", event)["reports"]}

    def tick(self, minutes: int = 1) -> None:
        self.clock.advance(timedelta(minutes=minutes))

    def store_token(self, credentials: dict[str, Any]) -> None:
        client("secretsmanager").put_secret_value(SecretId=os.environ["SOURCE_SECRET_PREFIX"] + "weibo",
                                                  SecretString=json.dumps(credentials))

    def secret(self) -> dict[str, Any]:
        name = os.environ["SOURCE_SECRET_PREFIX"] + "weibo"
        return json.loads(client("secretsmanager").get_secret_value(SecretId=name)["SecretString"])


@pytest.fixture
def world(stack: Stack, sim_clock: Any) -> Iterator[WeiboWorld]:
    with poller_with(stack, WeiboEmulator(sim_clock, access_token=TOKEN, timeout_delay=1.5)) as weibo:
        yield WeiboWorld(stack, sim_clock, weibo)


def _stored() -> dict[str, dict[str, Any]]:
    return {p["post_key"]: p for p in stored_posts("weibo", DAY, limit=100)}


def _state(source_id: str) -> dict[str, Any]:
    return source_state(f"source#weibo#{source_id}")


def _mentions(world: WeiboWorld, count: int, *, start: datetime, text: str = "@ExampleBank 港湾银行 转账失败 {n}") -> list[str]:
    return [world.weibo.add_post(text=text.format(n=n), author=f"user{n % 17}", created_at=start + timedelta(seconds=n),
                                 followers=n, location="广东 深圳", to_bank=True) for n in range(count)]


def _requests(world: WeiboWorld, path: str) -> list[Any]:
    return [r for r in world.weibo.requests_log if r.path == path]


def test_first_poll_then_resume_misses_nothing_and_stores_nothing_twice(world: WeiboWorld) -> None:
    world.configure({"id": "mentions", "stream": "mentions"}, {"id": "comments", "stream": "comments"})
    post = world.weibo.add_own_post("港湾银行关于网银维护的公告", created_at=world.clock() - timedelta(hours=3))
    first = _mentions(world, 450, start=world.clock() - timedelta(minutes=30))
    comments = [world.weibo.add_comment(text=f"港湾银行 还要等多久 {n}", author=f"c{n}", post_id=post,
                                        created_at=world.clock() - timedelta(minutes=5 - n)) for n in range(5)]
    reports = world.poll()
    assert (reports["mentions"]["status"], reports["mentions"]["stored"], reports["mentions"]["pages"]) == ("ok", 450, 3)
    assert (reports["comments"]["stored"], reports["comments"]["pages"]) == (5, 1)
    assert _state("mentions")["since_id"] == max(first, key=int)
    assert _state("comments")["since_id"] == max(comments, key=int)
    assert not {"max_id", "pending_since_id", "floor"} & set(_state("mentions"))

    world.tick()
    second = _mentions(world, 40, start=world.clock() - timedelta(seconds=50), text="@ExampleBank 港湾银行 还是不行 {n}")
    reports = world.poll()
    assert (reports["mentions"]["fetched"], reports["mentions"]["stored"], reports["mentions"]["duplicates"]) == (40, 40, 0)
    assert reports["comments"]["fetched"] == 0
    assert _requests(world, MENTIONS_PATH)[-1].query["since_id"] == max(first, key=int)
    assert _requests(world, COMMENTS_TO_ME_PATH)[-1].query["since_id"] == max(comments, key=int)

    world.tick()
    reports = world.poll()
    assert reports["mentions"]["fetched"] == 0 and reports["mentions"]["pages"] == 1
    assert sorted(_stored()) == sorted(f"weibo#{i}" for i in first + second + comments)


def test_stored_posts_carry_weibo_fields_time_zone_location_and_to_bank(world: WeiboWorld) -> None:
    world.configure({"id": "mentions", "stream": "mentions"},
                    {"id": "search", "stream": "search", "search_lag_seconds": 0})
    created = datetime(2026, 11, 28, 8, 59, 30, tzinfo=timezone.utc)  # 16:59:30 in Beijing
    mention = world.weibo.add_post(text="@ExampleBank 港湾银行的APP打不开", author="深圳用户", created_at=created,
                                   followers=12_000, likes=7, reposts=3, replies=2, location="广东 深圳", to_bank=True)
    addressed = world.weibo.add_post(text="港湾银行 又宕机了 @ExampleBank 出来说话", author="路人甲", created_at=created,
                                     location="海外 美国")
    overheard = world.weibo.add_post(text="港湾银行 门口排长队", author="路人乙", created_at=created, location="")
    world.weibo.add_own_post("港湾银行 服务公告", created_at=created)
    reports = world.poll()
    assert reports["mentions"]["stored"] == 1 and reports["search"]["stored"] == 2
    stored = _stored()
    assert set(stored) == {f"weibo#{i}" for i in (mention, addressed, overheard)}, "the bank's own status is not stored"
    item = stored[f"weibo#{mention}"]
    assert (item["author"], item["followers"], item["likes"], item["reposts"], item["replies"]) == ("深圳用户", 12_000, 7, 3, 2)
    assert item["location"] == "广东 深圳" and item["to_bank"] is True
    assert datetime.fromisoformat(item["published_at"].replace("Z", "+00:00")) == created
    assert item["url"].startswith("https://weibo.com/") and item["url"].endswith(f"/{mention}")
    assert stored[f"weibo#{addressed}"]["to_bank"] is True and stored[f"weibo#{addressed}"]["location"] == "海外 美国"
    assert stored[f"weibo#{overheard}"]["to_bank"] is False and "location" not in stored[f"weibo#{overheard}"]


def test_items_arriving_during_a_pass_spread_over_runs_are_all_stored(world: WeiboWorld) -> None:
    world.configure({"id": "mentions", "stream": "mentions", "max_pages_per_run": 1})
    first = _mentions(world, 450, start=world.clock() - timedelta(minutes=30))
    stored, arrivals = 0, []
    for run in range(5):
        stored += world.poll()["mentions"]["stored"]
        world.tick()
        arrivals += _mentions(world, 10, start=world.clock() - timedelta(seconds=20), text=f"@ExampleBank 港湾银行 run {run} {{n}}")
    stored += world.poll()["mentions"]["stored"]
    assert stored == 500 and sorted(_stored()) == sorted(f"weibo#{i}" for i in first + arrivals)
    assert _state("mentions")["since_id"] == max(arrivals, key=int)


def test_a_frequency_limit_parks_the_source_until_the_next_hour_keeping_its_place(world: WeiboWorld) -> None:
    world.configure({"id": "mentions", "stream": "mentions"})
    ids = _mentions(world, 450, start=world.clock() - timedelta(minutes=30))
    world.weibo.requests_per_hour = 2
    [report] = world.poll().values()
    assert (report["status"], report["stored"], report["pages"]) == ("rate_limited", 400, 2)
    state = _state("mentions")
    assert datetime.fromisoformat(state["resume_at"]) == datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)
    assert state["max_id"] and "since_id" not in state, "the pass's place is kept"

    calls = len(world.weibo.requests_log)
    world.tick(30)
    assert world.poll()["mentions"]["status"] == "paused"
    assert len(world.weibo.requests_log) == calls, "no request while parked"

    world.clock.set(datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc))
    report = world.poll()["mentions"]
    assert (report["status"], report["stored"], report["duplicates"]) == ("ok", 50, 0)
    assert sorted(_stored()) == sorted(f"weibo#{i}" for i in ids)


def test_5xx_is_retried_a_bounded_number_of_times_and_the_other_streams_carry_on(world: WeiboWorld) -> None:
    world.configure({"id": "mentions", "stream": "mentions"}, {"id": "search", "stream": "search", "search_lag_seconds": 0})
    ids = _mentions(world, 10, start=world.clock() - timedelta(minutes=5))
    searched = world.weibo.add_post(text="港湾银行 网点关门了", author="x", created_at=world.clock() - timedelta(minutes=1))
    now = world.clock()
    world.weibo.add_fault(Fault(start=now, end=now + timedelta(minutes=1), kind="http_status", status=503, target="mentions"))
    reports = world.poll()
    assert reports["mentions"]["status"] == "failed" and "10001" in reports["mentions"]["detail"]
    assert reports["mentions"]["retries"] == 2 and len(_requests(world, MENTIONS_PATH)) == 3
    assert (reports["search"]["status"], reports["search"]["stored"]) == ("ok", 1)
    assert "since_id" not in _state("mentions")
    world.tick()
    assert world.poll()["mentions"]["stored"] == 10
    assert set(_stored()) == {f"weibo#{i}" for i in [*ids, searched]}


def test_an_error_inside_http_200_is_read_from_its_code(world: WeiboWorld) -> None:
    world.configure({"id": "mentions", "stream": "mentions"})
    _mentions(world, 3, start=world.clock() - timedelta(minutes=5))
    world.weibo.fail_next(10009, "Too many pending tasks, system is busy", http_status=200)
    report = world.poll()["mentions"]
    assert (report["status"], report["retries"], report["stored"]) == ("ok", 1, 3)


def test_malformed_items_are_skipped_counted_and_never_fail_the_page(world: WeiboWorld) -> None:
    world.configure({"id": "mentions", "stream": "mentions"})
    start = world.clock() - timedelta(minutes=5)
    good = _mentions(world, 4, start=start)
    world.weibo.add_malformed(listing="mentions", created_at=start + timedelta(seconds=30),
                              raw={"idstr": "1", "created_at": "not a date", "text": "x", "user": {"screen_name": "a"}})
    world.weibo.add_malformed(listing="mentions", created_at=start + timedelta(seconds=31), raw={"text": "no id at all"})
    report = world.poll()["mentions"]
    assert (report["status"], report["stored"], report["malformed"]) == ("ok", 4, 2)
    assert set(_stored()) == {f"weibo#{i}" for i in good}


def test_repeats_across_keywords_and_window_edges_are_stored_once(world: WeiboWorld) -> None:
    world.configure({"id": "search", "stream": "search", "keywords": ["港湾银行", "港湾银行 排队"], "search_lag_seconds": 0})
    posts = [world.weibo.add_post(text=f"港湾银行 排队 {n}", author=f"s{n}", created_at=world.clock() - timedelta(minutes=n))
             for n in range(5)]
    report = world.poll()["search"]
    assert (report["fetched"], report["stored"], report["duplicates"], report["pages"]) == (10, 5, 5, 2)

    world.tick()  # the post made on the window's last second is searched again by the next window
    report = world.poll()["search"]
    assert (report["fetched"], report["stored"], report["duplicates"]) == (2, 0, 2)
    windows = [(int(r.query["starttime"]), int(r.query["endtime"])) for r in _requests(world, SEARCH_PATH)]
    assert windows[2][0] == windows[0][1] and windows[2][1] - windows[0][1] == 60
    assert set(_stored()) == {f"weibo#{i}" for i in posts}


def test_an_expired_token_is_reported_for_reauthorisation_then_a_new_one_is_used(world: WeiboWorld) -> None:
    world.configure({"id": "mentions", "stream": "mentions"})
    ids = _mentions(world, 3, start=world.clock() - timedelta(minutes=5))
    world.weibo.expire_token()
    report = world.poll()["mentions"]
    assert report["status"] == "failed"
    assert report["detail"].startswith("ReauthorisationNeeded") and "authorise the app again" in report["detail"]
    assert len(_requests(world, MENTIONS_PATH)) == 1, "Weibo offers no refresh: nothing is retried"
    assert world.secret() == {"access_token": TOKEN, "uid": world.weibo.uid}, "the secret is left for a person"
    assert TOKEN not in report["detail"]

    renewed = world.weibo.reauthorise()
    world.store_token(world.weibo.credentials())
    world.tick()
    report = world.poll()["mentions"]
    assert (report["status"], report["stored"]) == ("ok", 3)
    assert _requests(world, MENTIONS_PATH)[-1].query["access_token"] == renewed
    assert set(_stored()) == {f"weibo#{i}" for i in ids}


def test_post_comments_read_the_newest_posts_with_a_bounded_number_of_calls(world: WeiboWorld) -> None:
    world.configure({"id": "threads", "stream": "post_comments", "recent_posts": 2})
    posts = [world.weibo.add_own_post(f"港湾银行 声明 {n}", created_at=world.clock() - timedelta(hours=3 - n)) for n in range(3)]
    for n, post in enumerate(posts):
        for k in range(3):
            world.weibo.add_comment(text=f"港湾银行 评论 {n}-{k}", author=f"c{n}{k}", post_id=post,
                                    created_at=world.clock() - timedelta(minutes=10 - k))
    report = world.poll()["threads"]
    assert (report["status"], report["stored"], report["pages"]) == ("ok", 6, 3)
    assert (len(_requests(world, USER_TIMELINE_PATH)), len(_requests(world, COMMENTS_SHOW_PATH))) == (1, 2)
    assert {r.query["id"] for r in _requests(world, COMMENTS_SHOW_PATH)} == set(posts[1:])
    assert all(p["to_bank"] for p in _stored().values())

    world.tick()
    late = world.weibo.add_comment(text="港湾银行 还没恢复", author="late", post_id=posts[1], created_at=world.clock())
    report = world.poll()["threads"]
    assert (report["stored"], report["duplicates"]) == (1, 0)
    assert f"weibo#{late}" in _stored()
    assert all("since_id" in r.query for r in _requests(world, COMMENTS_SHOW_PATH)[-2:])
