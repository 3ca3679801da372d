"""Early warning from engagement that grows after a post was first read: the mark on local AWS, and the real
Poller and Detector handlers against the X emulator in simulated time."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from crisiscomms.aws.alert_store import AlertRepository
from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.post_store import PostRepository, PostTables
from crisiscomms.models import Post, ScoredPost
from crisiscomms.models.posts import minute_key
from crisiscomms_local.aws import Stack, put_watch_config
from crisiscomms_local.emulators import XEmulator

from .conftest import TEST_WAITS, X_TOKEN, assert_warned_before_volume, detect_at, poll_at, poller_and_detector, source_state

pytestmark = pytest.mark.integration
RUMOUR = "BREAKING: Harbor Bank is insolvent. Regulators were told last night. Get your money out while you still can."


def _repo(stack: Stack) -> PostRepository:
    return PostRepository(PostTables(stack.refs["PostsTable"], stack.refs["TopicPostsTable"], stack.refs["AggregatesTable"]),
                          clients=AwsClients(), retention_days=30, sleep=lambda s: None)


def _stored(repo: PostRepository, at: datetime, native_id: str = "77", topics: tuple[str, ...] = ("harbor", "northgate")) -> Post:
    post = Post(platform="x", native_id=native_id, source_type="social", source_id="x-main", url="u", author="macro",
                followers=2_000_000, text=RUMOUR, reposts=5, published_at=at - timedelta(minutes=2))
    repo.store(ScoredPost(post=post, topics=topics, language="en", sentiment=-0.8, sentiment_label="negative",
                          crisis_terms=("insolvent",), crisis_categories=("solvency",), crisis_weight=3.0,
                          is_crisis=True, risk=90, ingested_at=at))
    return post


def _figures(repo: PostRepository, topic: str, start: datetime, end: datetime) -> dict[str, dict[str, Any]]:
    return {m["minute"]: m for m in repo.minute_aggregates(topic, minute_key(start), minute_key(end))}


def test_a_mark_counts_once_in_the_minute_it_is_made_whatever_repeats_or_races_it(stack: Stack, sim_clock: Any) -> None:
    repo = _repo(stack)
    stored_at = sim_clock()
    post = _stored(repo, stored_at)
    marked_at = stored_at + timedelta(minutes=20, seconds=12)
    assert repo.escalate_early_warning(post.key, ("harbor", "northgate"), "social", marked_at) is True
    item = repo.get(post.key)
    assert item["early_warning"] is True and item["early_warning_at"] == marked_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    for topic in ("harbor", "northgate"):
        minutes = _figures(repo, topic, stored_at - timedelta(minutes=5), marked_at + timedelta(minutes=1))
        assert minutes[minute_key(post.published_at)]["early_warning"] == 0, "its published minute is left alone"
        assert minutes[minute_key(post.published_at)]["posts"] == 1
        mark = minutes[minute_key(marked_at)]
        assert (mark["early_warning"], mark["posts"], mark["negative"], mark["engagement"]) == (1, 0, 0, 0)
        [arrival] = [r for r in repo.arrivals(topic, minute_key(marked_at)) if r["arrived"] == minute_key(marked_at)]
        assert (arrival["minute"], arrival["early_warning"], arrival["posts"]) == (minute_key(marked_at), 1, 0)

    again = marked_at + timedelta(minutes=1)
    assert repo.escalate_early_warning(post.key, ("harbor", "northgate"), "social", again) is False, "a repeated run"
    assert minute_key(again) not in _figures(repo, "harbor", again, again + timedelta(minutes=1))

    raced = _stored(repo, stored_at, native_id="78", topics=("harbor",))
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def mark() -> None:
        barrier.wait()
        results.append(repo.escalate_early_warning(raced.key, ("harbor",), "social", marked_at))

    runs = [threading.Thread(target=mark) for _ in range(4)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert sorted(results) == [False, False, False, True], "concurrent runs: one counts it"
    assert _figures(repo, "harbor", marked_at, marked_at + timedelta(minutes=1))[minute_key(marked_at)]["early_warning"] == 2
    assert repo.escalate_early_warning("x#never-stored", ("harbor",), "social", marked_at) is False


# --- through the real handlers --------------------------------------------------------------------------------



@pytest.fixture
def x_and_detector(stack: Stack, sim_clock: Any) -> Iterator[XEmulator]:
    """The Poller and the Detector in one process, as the drill runs them, reading the X emulator."""
    x = XEmulator(sim_clock, bearer_token=X_TOKEN, timeout_delay=TEST_WAITS.stall)
    x.start()
    with poller_and_detector(stack, [x], {"X_API_BASE_URL": x.base_url}):
        put_watch_config(stack, json.dumps({
            "version": 1,
            "topics": [{"id": "harbor", "names": ["Harbor Bank"]}, {"id": "northgate", "names": ["Northgate Savings"]}],
            "sources": [{"id": "x-main", "platform": "x", "initial_lookback_minutes": 10}],
            "detection": {"baseline_hours": 1},
        }))
        yield x


def test_a_post_read_early_that_goes_viral_warns_at_its_mark_and_a_quiet_one_raises_nothing(
        stack: Stack, sim_clock: Any, x_and_detector: XEmulator) -> None:
    """A 2M-follower account's rumour first read seconds after publication with 5 reposts (the age counted as a
    minute: 5 a minute, under the bar of 10), 50 reposts 10 minutes later (still under), 5,000 at 20 minutes:
    marked by the poll that reads them, WARNING two Detector runs later, with volume flat. The same account's
    rumour about another bank stays at 5 reposts: watched, read every minute, never marked."""
    x, clock = x_and_detector, sim_clock
    start = clock()
    for n in range(15):  # ordinary chatter about both, one post every other minute: 7 about Harbor Bank
        x.add_post(text=f"Harbor Bank opening hours {n}" if n % 2 else f"Northgate Savings app {n}", author=f"user{n}",
                   followers=300, created_at=start + timedelta(minutes=2 * n, seconds=3))
    viral = x.add_post(text=RUMOUR, author="macro_insider", followers=2_000_000, created_at=start + timedelta(minutes=3),
                       reposts=5)
    x.set_metrics(viral, at=start + timedelta(minutes=13), reposts=50)
    x.set_metrics(viral, at=start + timedelta(minutes=23), reposts=5_000, likes=1_200)
    quiet = x.add_post(text=RUMOUR.replace("Harbor Bank", "Northgate Savings"), author="macro_insider",
                       followers=2_000_000, created_at=start + timedelta(minutes=3, seconds=30), reposts=5)
    repo, topics = _repo(stack), ("harbor", "northgate")
    alerts = AlertRepository(stack.refs["AlertsTable"], stack.refs["StateTable"],
                             AuditLog(stack.refs["AuditTable"], stack.refs["StateTable"], clients=AwsClients()))

    levels: dict[str, list[tuple[int, str, str]]] = {topic: [] for topic in topics}
    polls = []
    for minute in range(1, 31):
        polls.append(poll_at(clock, start + timedelta(minutes=minute, seconds=10), "x"))
        if minute == 5:
            assert {k: repo.get(f"x#{i}")["early_warning"] for k, i in (("viral", viral), ("quiet", quiet))} == \
                   {"viral": False, "quiet": False}, "stored under the bar"
            assert sorted(e.split(" ")[0] for e in source_state("source#x#x-main")["watch"]) == sorted([viral, quiet])
        detect_at(clock, start + timedelta(minutes=minute, seconds=30), minute, levels)

    assert all(r["status"] == "ok" and r["watch_failed"] == 0 for r in polls), polls
    assert [m for m, r in enumerate(polls, 1) if r["escalated"]] == [23], "marked by the poll that read 5,000 reposts"
    assert sum(r["watched"] for r in polls) == 2
    lookups = [len(r.query["ids"].split(",")) for r in x.requests_log if r.path == "/2/tweets"]
    assert lookups == [1] + [2] * 19 + [1] * 7, "one request a run (polls 4 to 30), each post from the run after it was stored"

    assert_warned_before_volume(levels, alerts, repo, viral_key=f"x#{viral}", quiet_key=f"x#{quiet}", quiet_id=quiet,
                                source_pk="source#x#x-main", start=start - timedelta(hours=1), end=clock() + timedelta(minutes=1))
