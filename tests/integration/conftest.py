"""Integration fixtures: local AWS from template.yaml, the platform emulators, the real Poller handler."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from crisiscomms_local.aws import Stack, put_watch_config, reset_process_caches
from crisiscomms_local.drill.world import FaultWaits
from crisiscomms_local.emulators import NewsEmulator, XEmulator
from crisiscomms_local.lambda_runtime import invoke

X_TOKEN = "test-x-token"
# How long a timeout fault holds in these tests, in real time: clients give up after 0.25 s, emulators stall
# 0.5 s (the drill command's are twice that, crisiscomms_local.drill.world.DRILL_WAITS; the code is the same).
TEST_WAITS = FaultWaits(client=0.25, stall=0.5)
# A statement of the drills' second bank, in both languages and both forms
NORTHGATE_STATEMENT = {
    "en": {"full": "Northgate Savings: all accounts are available.", "short": "Northgate Savings: accounts available."},
    "zh": {"full": "北门储蓄：所有账户正常。", "short": "北门储蓄：账户正常。"}}
NORTHGATE_TOPIC = {"id": "northgate", "names": ["Northgate Savings", "北门储蓄"]}
TOPICS = [
    {"id": "harbor", "names": ["Harbor Bank", "港湾银行"], "exclude": ["Harbor Bank Arena"]},
    {"id": "northgate", "names": ["Northgate Savings"]},
]


def drill_passes(tmp_path: Any, scenario: dict[str, Any], capsys: Any) -> dict[str, Any]:
    """Run `scenario` through the drill command with the tests' waits: it must pass and run every part of
    the scenario (nothing reported as not run). Returns the JSON result."""
    from crisiscomms_local.drill.runner import main

    path = tmp_path / f"{scenario['name']}.json"
    path.write_text(json.dumps(scenario, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "result.json"
    assert main([str(path), "--json", str(out)], waits=TEST_WAITS) == 0, capsys.readouterr().out
    result = json.loads(out.read_text(encoding="utf-8"))
    assert "not run" not in " ".join(result["notes"])
    return result


def stop_together(emulators: Any) -> None:
    """Stop emulators (each returns within milliseconds: crisiscomms_local.servers.shutdown_promptly);
    one never started, or already stopped, is left as it is."""
    for emulator in emulators:
        emulator.stop()


QUIET = {"CONFIG_MAX_AGE_SECONDS": "0", "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true"}


def poll_at(clock: Any, at: Any, source: str) -> dict[str, Any]:
    """The Poller's scheduled run for one kind of source at simulated time `at`: its one report."""
    clock.set(at)
    [report] = invoke("poller", {"source": source, "scheduled_time": clock().strftime("%Y-%m-%dT%H:%M:%SZ")})["reports"]
    return report  # type: ignore[no-any-return]


def detect_at(clock: Any, at: Any, minute: int, levels: dict[str, list[Any]]) -> None:
    """The Detector's run at simulated time `at`: each topic's (minute, raw level, level) appended to `levels`."""
    clock.set(at)
    for result in invoke("detector", {"job": "detect", "scheduled_time": clock().strftime("%Y-%m-%dT%H:%M:%SZ")})["topics"]:
        levels[result["topic"]].append((minute, result["raw"], result["level"]))


@contextmanager
def poller_and_detector(stack: Stack, emulators: list[Any], poller: dict[str, str] | None = None) -> Iterator[None]:
    """The Poller and the Detector in one process, as the drill runs them (fast retries, the tests'
    client timeout); the emulators stopped and the environment and caches restored after."""
    saved = dict(os.environ)
    os.environ.update(stack.function_environment("DetectorFunction", QUIET))
    os.environ.update(stack.function_environment("PollerFunction", {
        **QUIET, "HTTP_TIMEOUT_SECONDS": str(TEST_WAITS.client), "HTTP_MAX_ATTEMPTS": "3",
        "RETRY_BASE_DELAY_SECONDS": "0", **(poller or {})}))
    reset_process_caches()
    try:
        yield
    finally:
        stop_together(emulators)
        os.environ.clear()
        os.environ.update(saved)
        reset_process_caches()


@dataclass
class Listening:
    stack: Stack
    clock: Any
    x: XEmulator
    news: NewsEmulator

    def configure(self, **overrides: Any) -> dict[str, Any]:
        document = {
            "version": 1,
            "topics": TOPICS,
            "sources": [{"id": "x-main", "platform": "x", "initial_lookback_minutes": 60}],
            "feeds": [
                {"name": "daily", "url": self.news.url_for("daily", "rss"), "language": "en", "every_minutes": 1},
                {"name": "caixin", "url": self.news.url_for("caixin", "atom"), "language": "zh", "every_minutes": 1},
            ],
        }
        document.update(overrides)
        put_watch_config(self.stack, json.dumps(document))
        return document

    def poll(self, kind: str) -> list[dict[str, Any]]:
        event = {"source": kind, "scheduled_time": self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")}
        return invoke("poller", event)["reports"]

    def tick(self, minutes: int = 1) -> None:
        self.clock.advance(timedelta(minutes=minutes))

    def env(self, name: str) -> str:
        return os.environ[name]


@pytest.fixture
def listening(stack: Stack, sim_clock: Any) -> Iterator[Listening]:
    x = XEmulator(sim_clock, bearer_token=X_TOKEN, timeout_delay=TEST_WAITS.stall)
    news = NewsEmulator(sim_clock, timeout_delay=TEST_WAITS.stall)
    x.start()
    news.start()
    news.add_feed("daily")
    news.add_feed("caixin", language="zh")
    saved = dict(os.environ)
    os.environ.update(stack.function_environment("PollerFunction", {
        "X_API_BASE_URL": x.base_url,
        "HTTP_TIMEOUT_SECONDS": str(TEST_WAITS.client),
        "HTTP_MAX_ATTEMPTS": "3",
        "RETRY_BASE_DELAY_SECONDS": "0",
        "CONFIG_MAX_AGE_SECONDS": "0",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }))
    reset_process_caches()
    world = Listening(stack, sim_clock, x, news)
    world.configure()
    yield world
    stop_together([x, news])
    os.environ.clear()
    os.environ.update(saved)
    reset_process_caches()


@dataclass
class DeskClient:
    """Calls the real API handler with API Gateway events, as a named person in Cognito groups."""

    world: Any
    clock: Any

    ROLES = {"author": ["comms-author"], "approver": ["comms-approver"], "auditor": ["auditor"], "oncall": ["oncall"],
             "nobody": []}

    def call(self, method: str, path: str, body: Any = None, *, as_: str = "author:li", raw: str | None = None,
             query: str = "") -> tuple[int, Any]:
        from crisiscomms_local.apigw import rest_event

        role, user = as_.split(":")
        event = rest_event(method, path, body=raw if raw is not None else body, user=user, groups=self.ROLES[role],
                           query=query)
        result = invoke("api", event)
        return result["statusCode"], json.loads(result["body"]) if result.get("body") else None

    def draft(self, text: dict, channels: list[str], *, as_: str = "author:li") -> dict:
        status, body = self.call("POST", "/statements", {"channels": channels, "text": text}, as_=as_)
        assert status == 201, body
        return body

    def approve_and_publish(self, sid: str, version: int = 1) -> dict:
        status, body = self.call("POST", f"/statements/{sid}/approve", {"version": version}, as_="approver:wang")
        assert status == 200, body
        status, body = self.call("POST", f"/statements/{sid}/publish", as_="approver:wang")
        assert status == 202, body
        return body

    def get(self, sid: str) -> dict:
        status, body = self.call("GET", f"/statements/{sid}", as_="auditor:zhou")
        assert status == 200, body
        return body

    def speak(self, languages: dict[str, list[str]]) -> None:
        """Each channel publishes in its `languages` (the channels configuration, as the operator sets it)."""
        from crisiscomms_local.aws import client
        from crisiscomms_local.desk_world import LANGUAGES, channels_config

        client("ssm").put_parameter(Name=self.world.stack.refs["ChannelsConfigParameter"], Overwrite=True, Type="String",
                                    Value=json.dumps(channels_config(self.world.emulators, {**LANGUAGES, **languages})))
        reset_process_caches()


@pytest.fixture
def desk(stack: Stack, sim_clock: Any) -> Iterator[DeskClient]:
    from crisiscomms_local.desk_world import start_desk_world

    saved = dict(os.environ)
    world = start_desk_world(stack=stack, timeout_delay=TEST_WAITS.stall, http_timeout=TEST_WAITS.client, clock=sim_clock)
    yield DeskClient(world, sim_clock)
    stop_together(world.emulators.values())
    world.close()
    os.environ.clear()
    os.environ.update(saved)
    reset_process_caches()


# --- what every platform's listening tests share ----------------------------------------------------

POLLER_TEST_ENVIRONMENT = {
    "HTTP_TIMEOUT_SECONDS": str(TEST_WAITS.client),
    "HTTP_MAX_ATTEMPTS": "3",
    "RETRY_BASE_DELAY_SECONDS": "0",
    "CONFIG_MAX_AGE_SECONDS": "0",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}


@contextmanager
def poller_with(stack: Stack, emulator: Any) -> Iterator[Any]:
    """The real Poller's environment (fast retries, nothing cached) reading a started platform
    emulator, whose credentials are put in the platform's secret; everything undone afterwards."""
    from crisiscomms_local.aws import client

    saved = dict(os.environ)
    emulator.start()
    try:
        os.environ.update(stack.function_environment("PollerFunction", POLLER_TEST_ENVIRONMENT))
        reset_process_caches()
        client("secretsmanager").put_secret_value(SecretId=os.environ["SOURCE_SECRET_PREFIX"] + emulator.platform,
                                                  SecretString=json.dumps(emulator.credentials()))
        yield emulator
    finally:
        stop_together([emulator])
        os.environ.clear()
        os.environ.update(saved)
        reset_process_caches()


def stored_posts(platform: str, day: str, *, limit: int = 2000) -> list[dict[str, Any]]:
    """A platform's stored posts of one UTC day, oldest first."""
    from crisiscomms.aws.clients import AwsClients
    from crisiscomms.aws.post_store import PostRepository, PostTables

    repo = PostRepository(PostTables(os.environ["POSTS_TABLE"], os.environ["TOPIC_POSTS_TABLE"],
                                     os.environ["AGGREGATES_TABLE"]), clients=AwsClients(), retention_days=1)
    return repo.platform_posts(platform, day, limit=limit)


def source_state(pk: str) -> dict[str, Any]:
    """A source's state item as the Poller left it (read consistently)."""
    from crisiscomms.aws.dynamo import from_item, to_item
    from crisiscomms_local.aws import client

    item = client("dynamodb").get_item(TableName=os.environ["STATE_TABLE"], Key=to_item({"pk": pk}), ConsistentRead=True)
    return from_item(item.get("Item", {}))


def renew_concurrently(platform: str, refresh: Any, clock: Any, *, runs: int = 2) -> list[dict[str, Any]]:
    """`runs` Poller runs renew the platform's token at once; returns what each run got back.

    The run that takes the lease refreshes only once every other run has found it taken, and those wait
    (where a run sleeps between tries) until that run is done: the overlap is certain, and nobody sleeps."""
    import threading

    from crisiscomms.aws.clients import AwsClients
    from crisiscomms.aws.source_secrets import SourceSecrets
    from crisiscomms.aws.source_state import StateRepository
    from crisiscomms.listening.tokens import TokenKeeper

    found_taken = threading.Semaphore(0)
    done = threading.Event()

    def holding(credentials: dict[str, Any]) -> dict[str, Any]:
        for _ in range(runs - 1):
            assert found_taken.acquire(timeout=10), "another run never found the lease taken"
        return refresh(credentials)

    def waiting(_: float) -> None:
        found_taken.release()
        assert done.wait(10), "the run holding the lease never finished"

    state = StateRepository(os.environ["STATE_TABLE"], clients=AwsClients())
    keepers = [TokenKeeper(platform, secrets=SourceSecrets(os.environ["SOURCE_SECRET_PREFIX"], clients=AwsClients(), max_age=0),
                           state=state, refresh=holding, clock=clock, owner=f"run-{n}", sleep=waiting, wait_seconds=0.2)
               for n in range(runs)]
    for keeper in keepers:
        keeper.current()
    results: list[dict[str, Any]] = []

    def renew(keeper: Any) -> None:
        try:
            results.append(keeper.renew())
        finally:
            done.set()

    threads = [threading.Thread(target=renew, args=(k,)) for k in keepers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return results


def assert_warned_before_volume(levels: dict[str, list[Any]], alerts: Any, repo: Any, *, viral_key: str,
                                quiet_key: str, quiet_id: str, source_pk: str, start: Any, end: Any) -> None:
    """The early-warning story of the watch-list tests: Harbor at WARNING from the grown post alone (raw at
    minute 24, declared at 25, nothing before, fewer posts than any volume rule), counted once; Northgate's
    quiet post still watched and never marked."""
    from crisiscomms.models.posts import minute_key

    harbor = levels["harbor"]
    assert {(raw, level) for minute, raw, level in harbor if minute <= 23} == {("NORMAL", "NORMAL")}, "nothing before"
    assert [(m, raw, level) for m, raw, level in harbor if m in (24, 25)] == [(24, "WARNING", "NORMAL"), (25, "WARNING", "WARNING")]
    [alert] = alerts.for_topic("harbor")
    assert alert["level"] == "WARNING" and alert["figures"]["social"]["early_warning"] == 1
    assert alert["figures"]["social"]["posts"] < 20, "before volume: fewer posts than any volume rule looks at"
    assert repo.get(viral_key)["early_warning"] is True

    assert {raw for _, raw, _ in levels["northgate"]} == {"NORMAL"} and alerts.for_topic("northgate") == []
    assert repo.get(quiet_key)["early_warning"] is False
    assert [e.split(" ")[0] for e in source_state(source_pk)["watch"]] == [quiet_id], "the quiet one still watched"
    harbor_minutes = repo.minute_aggregates("harbor", minute_key(start), minute_key(end))
    assert sum(m["early_warning"] for m in harbor_minutes) == 1, "counted once"
    assert sum(m["posts"] for m in harbor_minutes) == 7 + 1, "no post counted again"
