"""Early warning from engagement that grows after a post was first read, on Bluesky and Mastodon: the real Poller
and Detector handlers against the platform emulators in simulated time (as test_early_warning_watch does for X)."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from crisiscomms.aws.alert_store import AlertRepository
from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.post_store import PostRepository, PostTables
from crisiscomms_local.aws import Stack, client, put_watch_config
from crisiscomms_local.emulators.channels.bluesky import BlueskyEmulator
from crisiscomms_local.emulators.channels.mastodon import MastodonEmulator

from .conftest import TEST_WAITS, assert_warned_before_volume, detect_at, poll_at, poller_and_detector, source_state

pytestmark = pytest.mark.integration
RUMOUR = "BREAKING: Harbor Bank is insolvent. Regulators were told last night. Get your money out while you still can."


def _emulator(kind: str, clock: Any) -> Any:
    if kind == "bluesky":
        return BlueskyEmulator(clock, timeout_delay=TEST_WAITS.stall)
    return MastodonEmulator(clock, timeout_delay=TEST_WAITS.stall, batch_statuses=kind == "mastodon")


def _source(kind: str, emulator: Any) -> dict[str, Any]:
    if kind == "bluesky":
        return {"id": "bsky-all", "platform": "bluesky", "query": "*", "base_url": emulator.base_url,
                "initial_lookback_minutes": 10}
    return {"id": "masto-tag", "platform": "mastodon", "base_url": emulator.base_url, "stream": "hashtag",
            "hashtag": emulator.listening_hashtag, "initial_lookback_minutes": 10}


@pytest.fixture(params=["bluesky", "mastodon", "mastodon-before-4.3"])
def platform(request: Any, stack: Stack, sim_clock: Any) -> Iterator[tuple[str, Any]]:
    """The Poller and the Detector in one process, as the drill runs them, reading one platform's emulator."""
    kind = request.param
    emulator = _emulator(kind, sim_clock)
    emulator.start()
    with poller_and_detector(stack, [emulator]):
        client("secretsmanager").put_secret_value(SecretId=os.environ["SOURCE_SECRET_PREFIX"] + emulator.platform,
                                                  SecretString=json.dumps(emulator.credentials()))
        put_watch_config(stack, json.dumps({
            "version": 1,
            "topics": [{"id": "harbor", "names": ["Harbor Bank"]}, {"id": "northgate", "names": ["Northgate Savings"]}],
            "sources": [_source(kind, emulator)],
            "accounts": {emulator.platform: emulator.default_account()},
            "detection": {"baseline_hours": 1},
        }))
        yield kind, emulator


def _lookups(kind: str, emulator: Any) -> list[Any]:
    if kind == "bluesky":
        return emulator.calls("getPosts")
    return [r for r in emulator.requests_log if r.path.startswith("/api/v1/statuses")]


def test_a_post_read_early_that_goes_viral_warns_at_its_mark_and_a_quiet_one_raises_nothing(
        stack: Stack, sim_clock: Any, platform: tuple[str, Any]) -> None:
    """A 2M-follower account's rumour first read seconds after publication with 5 reposts (5 a minute, under the
    bar of 10), 50 reposts 10 minutes later (still under), 5,000 at 20 minutes: marked by the poll that reads
    them again, WARNING two Detector runs later, with volume flat. The same account's rumour about another bank
    stays at 5 reposts: watched, read again every minute, never marked."""
    kind, emulator = platform
    clock = sim_clock
    start = clock()
    for n in range(15):  # ordinary chatter about both, one post every other minute: 7 about Harbor Bank
        emulator.add_post(text=f"Harbor Bank opening hours {n}" if n % 2 else f"Northgate Savings app {n}",
                          author=f"user{n}", followers=300, created_at=start + timedelta(minutes=2 * n, seconds=3))
    viral = emulator.add_post(text=RUMOUR, author="macro_insider", followers=2_000_000,
                              created_at=start + timedelta(minutes=3), reposts=5)
    emulator.set_metrics(viral, at=start + timedelta(minutes=13), reposts=50)
    emulator.set_metrics(viral, at=start + timedelta(minutes=23), reposts=5_000, likes=1_200)
    quiet = emulator.add_post(text=RUMOUR.replace("Harbor Bank", "Northgate Savings"), author="macro_insider",
                              followers=2_000_000, created_at=start + timedelta(minutes=3, seconds=30), reposts=5)
    repo = PostRepository(PostTables(stack.refs["PostsTable"], stack.refs["TopicPostsTable"], stack.refs["AggregatesTable"]),
                          clients=AwsClients(), retention_days=30, sleep=lambda s: None)
    alerts = AlertRepository(stack.refs["AlertsTable"], stack.refs["StateTable"],
                             AuditLog(stack.refs["AuditTable"], stack.refs["StateTable"], clients=AwsClients()))
    pk = f"source#{emulator.platform}#{_source(kind, emulator)['id']}"
    key = f"{emulator.platform}#{{}}".format

    levels: dict[str, list[tuple[int, str, str]]] = {"harbor": [], "northgate": []}
    polls = []
    for minute in range(1, 31):
        polls.append(poll_at(clock, start + timedelta(minutes=minute, seconds=10), emulator.platform))
        if minute == 5:
            assert (repo.get(key(viral))["early_warning"], repo.get(key(quiet))["early_warning"]) == (False, False)
            assert sorted(e.split(" ")[0] for e in source_state(pk)["watch"]) == sorted([viral, quiet])
        detect_at(clock, start + timedelta(minutes=minute, seconds=30), minute, levels)

    assert all(r["status"] == "ok" and r["watch_failed"] == 0 for r in polls), polls
    assert [m for m, r in enumerate(polls, 1) if r["escalated"]] == [23], "marked by the poll that read 5,000 reposts"
    assert sum(r["watched"] for r in polls) == 2
    lookups = _lookups(kind, emulator)
    if kind == "mastodon-before-4.3":
        assert [(r.path, r.status) for r in lookups[:1]] == [("/api/v1/statuses", 404)], "tried once, then remembered"
        assert sum(r.path == "/api/v1/statuses" for r in lookups) == 1
        assert len(lookups) == 1 + 1 + 2 * 19 + 7, "one status a request: 1 (poll 4), 2 (polls 5 to 23), then 1"
    else:
        assert len(lookups) == 27 and all(r.status == 200 for r in lookups), "one request a run, polls 4 to 30"

    assert_warned_before_volume(levels, alerts, repo, viral_key=key(viral), quiet_key=key(quiet), quiet_id=quiet,
                                source_pk=pk, start=start - timedelta(hours=1), end=clock() + timedelta(minutes=1))
