"""Polling semantics against the X and feed emulators and local DynamoDB, through the real handler."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from crisiscomms.aws.clients import AwsClients

from crisiscomms.aws.post_store import PostRepository, PostTables
from crisiscomms.aws.source_state import StateRepository
from crisiscomms_local.aws import request_counts
from crisiscomms_local.emulators import Fault

from .conftest import Listening

pytestmark = pytest.mark.integration
DAY = "2026-11-28"


def _repo() -> PostRepository:
    return PostRepository(PostTables(os.environ["POSTS_TABLE"], os.environ["TOPIC_POSTS_TABLE"],
                                     os.environ["AGGREGATES_TABLE"]), clients=AwsClients(), retention_days=1)


def _stored(platform: str = "x") -> list[dict[str, Any]]:
    return _repo().platform_posts(platform, DAY)


def _state(pk: str) -> dict[str, Any]:
    from crisiscomms.aws.dynamo import from_item, to_item
    from crisiscomms_local.aws import client

    item = client("dynamodb").get_item(TableName=os.environ["STATE_TABLE"], Key=to_item({"pk": pk}), ConsistentRead=True)
    return from_item(item.get("Item", {}))


def _add_posts(listening: Listening, count: int, *, start: datetime, text: str = "Harbor Bank queue #{n}") -> list[str]:
    return [listening.x.add_post(text=text.format(n=n), author=f"user{n}", created_at=start + timedelta(seconds=n),
                                 followers=n * 10) for n in range(count)]


def _searches(listening: Listening) -> list[Any]:
    return [r for r in listening.x.requests_log if r.path == "/2/tweets/search/recent"]


def test_resumes_from_the_cursor_missing_nothing_and_storing_nothing_twice(listening: Listening) -> None:
    start = listening.clock() - timedelta(minutes=30)
    first = _add_posts(listening, 250, start=start)
    [report] = listening.poll("x")
    assert (report["status"], report["stored"], report["pages"], report["duplicates"]) == ("ok", 250, 3, 0)
    assert _state("source#x#x-main")["since_id"] == max(first, key=int)

    listening.tick()
    second = _add_posts(listening, 40, start=listening.clock() - timedelta(seconds=50), text="港湾银行 new {n}")
    [report] = listening.poll("x")
    assert (report["stored"], report["duplicates"], report["fetched"]) == (40, 0, 40)
    assert _searches(listening)[-1].query["since_id"] == max(first, key=int)

    listening.tick()
    [report] = listening.poll("x")
    assert (report["fetched"], report["stored"]) == (0, 0)
    keys = [p["post_key"] for p in _stored()]
    assert sorted(keys) == sorted(f"x#{i}" for i in first + second)


def test_first_poll_looks_back_only_the_configured_window(listening: Listening) -> None:
    listening.configure(sources=[{"id": "x-main", "platform": "x", "initial_lookback_minutes": 10}])
    _add_posts(listening, 5, start=listening.clock() - timedelta(minutes=30))
    recent = _add_posts(listening, 3, start=listening.clock() - timedelta(minutes=5))
    [report] = listening.poll("x")
    assert report["stored"] == 3
    assert {p["post_key"] for p in _stored()} == {f"x#{i}" for i in recent}


class _CrashingRepository:
    """Stores through the real repository, then fails once a number of posts are in: a crash mid-run."""

    def __init__(self, real: PostRepository, fail_after: int) -> None:
        self._real, self._left = real, fail_after

    def known(self, keys: list[str]) -> set[str]:
        return self._real.known(keys)

    def store_many(self, scored: list[Any], *, settled: Any = None, refusals: Any = None) -> list[Any]:
        """The first posts of the page stored for real (in their own transactions), then the crash."""
        kept = scored[:self._left]
        self._left -= len(kept)
        outcomes = self._real.store_many(kept, settled=settled, refusals=refusals)
        if len(kept) < len(scored):
            raise ConnectionError("lost the connection to DynamoDB")
        return outcomes


def test_a_crash_between_pages_loses_nothing_and_a_rerun_stores_nothing_twice(listening: Listening) -> None:
    from crisiscomms import clock
    from crisiscomms.listening.polling import Ingestor, Listener
    from crisiscomms.listening.topics import TopicMatcher
    from crisiscomms.scoring.engines import LexiconScorer
    from crisiscomms.wiring import Container

    ids = _add_posts(listening, 250, start=listening.clock() - timedelta(minutes=30))
    listener = Container().listener(remaining_seconds=lambda: 60.0, run_id="crashing-run")
    crashing = Ingestor(TopicMatcher(listener._config.topics), LexiconScorer(), _CrashingRepository(_repo(), 150), clock.now)
    listener._ingestor = crashing  # the one seam: a repository that dies mid-page

    [report] = Listener.poll(listener, "x")
    assert report.status == "failed" and "lost the connection" in report.detail
    assert report.stored == 150
    state = _state("source#x#x-main")
    assert "since_id" not in state and state["next_token"], "only the first page's progress is committed"

    listening.tick()
    [report] = listening.poll("x")
    assert report["status"] == "ok"
    assert report["stored"] == 100 and report["duplicates"] == 50  # page 2 replayed: 50 already in
    assert sorted(p["post_key"] for p in _stored()) == sorted(f"x#{i}" for i in ids)
    aggregates = _repo().minute_aggregates("harbor", "2026-11-28T08:00", "2026-11-28T10:00")
    assert sum(a["posts"] for a in aggregates) == 250, "no aggregate counted a replayed post twice"


def test_posts_already_stored_are_skipped_before_any_write(listening: Listening) -> None:
    """A re-read page costs one key lookup per 100 posts, not a cancelled transaction per post."""
    from crisiscomms.aws.dynamo import to_item
    from crisiscomms.wiring import container
    from crisiscomms_local.aws import client

    _add_posts(listening, 150, start=listening.clock() - timedelta(minutes=30))
    [report] = listening.poll("x")
    assert report["stored"] == 150
    client("dynamodb").delete_item(TableName=os.environ["STATE_TABLE"], Key=to_item({"pk": "source#x#x-main"}))
    calls: list[str] = []
    container().clients("dynamodb").meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    listening.tick()
    [report] = listening.poll("x")
    assert (report["stored"], report["duplicates"], report["pages"]) == (0, 150, 2)
    assert calls.count("TransactWriteItems") == 0 and calls.count("BatchGetItem") == 2


def test_rate_limit_parks_the_source_keeps_the_cursor_and_resumes_at_reset(listening: Listening) -> None:
    _add_posts(listening, 20, start=listening.clock() - timedelta(minutes=10))
    [report] = listening.poll("x")
    since = _state("source#x#x-main")["since_id"]

    now = listening.clock()
    listening.x.add_fault(Fault(start=now + timedelta(minutes=1), end=now + timedelta(minutes=4), kind="rate_limit", retry_after=180))
    listening.tick()
    later = _add_posts(listening, 30, start=listening.clock() - timedelta(seconds=40))
    [report] = listening.poll("x")
    assert report["status"] == "rate_limited"
    state = _state("source#x#x-main")
    assert state["since_id"] == since
    assert datetime.fromisoformat(state["resume_at"]) == listening.clock() + timedelta(seconds=180)

    requests_before = len(_searches(listening))
    listening.tick()
    [report] = listening.poll("x")
    assert report["status"] == "paused"
    assert len(_searches(listening)) == requests_before, "no request while parked"

    listening.tick(2)
    [report] = listening.poll("x")
    assert (report["status"], report["stored"]) == ("ok", 30)
    assert {f"x#{i}" for i in later} <= {p["post_key"] for p in _stored()}


def test_spent_rate_budget_stops_after_storing_the_page(listening: Listening) -> None:
    listening.x.stop()
    from crisiscomms_local.emulators import XEmulator
    from crisiscomms_local.aws import reset_process_caches

    tight = XEmulator(listening.clock, bearer_token="test-x-token", requests_per_window=1, window_seconds=900)
    tight.start()
    os.environ["X_API_BASE_URL"] = tight.base_url
    reset_process_caches()
    try:
        for n in range(150):
            tight.add_post(text=f"Harbor Bank {n}", author="a", created_at=listening.clock() - timedelta(minutes=20, seconds=-n))
        [report] = listening.poll("x")
        assert report["status"] == "rate_limited" and report["stored"] == 100
        state = _state("source#x#x-main")
        assert state["next_token"] and datetime.fromisoformat(state["resume_at"]) > listening.clock()
        listening.tick(16)
        [report] = listening.poll("x")
        assert report["stored"] == 50
    finally:
        tight.stop()


def test_5xx_is_retried_a_bounded_number_of_times_then_the_next_run_catches_up(listening: Listening) -> None:
    ids = _add_posts(listening, 10, start=listening.clock() - timedelta(minutes=5))
    now = listening.clock()
    listening.x.add_fault(Fault(start=now, end=now + timedelta(minutes=1), kind="http_status", status=503))
    [report] = listening.poll("x")
    assert report["status"] == "failed" and "503" in report["detail"]
    assert report["retries"] == 2 and len(_searches(listening)) == 3
    assert "since_id" not in _state("source#x#x-main")
    listening.tick()
    [report] = listening.poll("x")
    assert report["stored"] == 10
    assert {p["post_key"] for p in _stored()} == {f"x#{i}" for i in ids}


def test_timeouts_are_bounded_and_do_not_lose_posts(listening: Listening) -> None:
    ids = _add_posts(listening, 5, start=listening.clock() - timedelta(minutes=5))
    now = listening.clock()
    listening.x.add_fault(Fault(start=now, end=now + timedelta(minutes=1), kind="timeout"))
    [report] = listening.poll("x")
    assert report["status"] == "failed" and "timed out" in report["detail"]
    assert report["retries"] == 2
    listening.tick()
    [report] = listening.poll("x")
    assert report["stored"] == 5 and {p["post_key"] for p in _stored()} == {f"x#{i}" for i in ids}


def test_malformed_items_are_skipped_counted_and_never_fail_the_batch(listening: Listening) -> None:
    start = listening.clock() - timedelta(minutes=5)
    good = _add_posts(listening, 4, start=start)
    listening.x.add_malformed(created_at=start + timedelta(seconds=30), raw={"id": "x", "created_at": "not a date"})
    listening.x.add_malformed(created_at=start + timedelta(seconds=31), raw={"author_id": "1"})
    [report] = listening.poll("x")
    assert (report["status"], report["stored"], report["malformed"]) == ("ok", 4, 2)
    assert {p["post_key"] for p in _stored()} == {f"x#{i}" for i in good}


def test_a_post_about_two_topics_is_stored_once_and_linked_to_each(listening: Listening) -> None:
    [tweet] = [listening.x.add_post(text="Harbor Bank and Northgate Savings: can't withdraw my money from either!",
                                    author="both", created_at=listening.clock() - timedelta(minutes=1), followers=50_000)]
    [report] = listening.poll("x")
    assert report["stored"] == 1
    [post] = _stored()
    assert post["topics"] == ["harbor", "northgate"]
    repo = _repo()
    for topic in ("harbor", "northgate"):
        [link] = repo.topic_posts(topic, DAY)
        assert link["post_key"] == f"x#{tweet}"
        [minute] = repo.minute_aggregates(topic, "2026-11-28T08:00", "2026-11-28T10:00")
        assert minute["posts"] == 1 and minute["negative"] == 1 and minute["high_reach_negative"] == 1


def test_unrelated_and_excluded_posts_are_not_stored(listening: Listening) -> None:
    start = listening.clock() - timedelta(minutes=2)
    listening.x.add_post(text="Harbor Bank Arena concert tonight", author="fan", created_at=start)
    [report] = listening.poll("x")
    assert (report["fetched"], report["unmatched"], report["stored"]) == (1, 1, 0)


def test_one_failing_source_does_not_stop_the_others(listening: Listening) -> None:
    listening.configure(sources=[
        {"id": "x-broken", "platform": "x", "query": "Harbor Bank has:media"},
        {"id": "x-main", "platform": "x"},
    ])
    ids = _add_posts(listening, 3, start=listening.clock() - timedelta(minutes=2))
    broken, main = listening.poll("x")
    assert broken["status"] == "failed" and "400" in broken["detail"]
    assert main["status"] == "ok" and main["stored"] == 3
    assert _state("source#x#x-broken")["last_error"].startswith("PermanentPlatformError")

    now = listening.clock()
    listening.news.add_fault(Fault(start=now, end=now + timedelta(minutes=1), kind="http_status", status=500, target="daily"))
    listening.news.add_item("caixin", title="港湾银行网点排队", summary="客户排队取款", published_at=now - timedelta(minutes=1), lang="zh")
    daily, caixin = listening.poll("news")
    assert daily["status"] == "failed" and caixin["stored"] == 1
    assert ids


def test_feeds_conditional_get_and_guid_dedupe(listening: Listening) -> None:
    now = listening.clock()
    listening.news.add_item("daily", title="Harbor Bank shares slide", summary="Customers queue.", published_at=now - timedelta(minutes=3))
    listening.news.add_item("daily", title="Rates unchanged", summary="Central bank holds.", published_at=now - timedelta(minutes=2))
    daily, caixin = listening.poll("news")
    assert (daily["stored"], daily["unmatched"]) == (1, 1)
    assert caixin["status"] == "ok" and caixin["stored"] == 0

    listening.tick()
    daily, _ = listening.poll("news")
    assert daily["status"] == "not_modified"
    assert listening.news.requests_log[-2].status == 304

    listening.news.add_item("daily", title="Harbor Bank says ATMs restored", summary="All accounts available.",
                            published_at=listening.clock() - timedelta(seconds=10))
    listening.tick()
    before = request_counts().get("DynamoDB_20120810.UpdateItem", 0)
    daily, _ = listening.poll("news")
    assert (daily["stored"], daily["duplicates"], daily["fetched"]) == (1, 0, 3), "seen items are not written again"
    assert request_counts()["DynamoDB_20120810.UpdateItem"] - before == 4, \
        "each feed's run writes its state twice: the lease, then its place in the write giving the lease back"
    titles = sorted(p["title"] for p in _stored("news"))
    assert titles == ["Harbor Bank says ATMs restored", "Harbor Bank shares slide"]


def test_feed_polls_follow_their_schedule(listening: Listening) -> None:
    document = listening.configure()
    document["feeds"][0]["every_minutes"] = 5
    listening.configure(feeds=document["feeds"])
    daily, _ = listening.poll("news")
    assert daily["status"] == "ok"
    listening.tick()
    daily, _ = listening.poll("news")
    assert daily["status"] == "not_due"
    listening.tick(4)
    daily, _ = listening.poll("news")
    assert daily["status"] in {"ok", "not_modified"}


def test_a_second_concurrent_run_of_a_source_stands_aside(listening: Listening) -> None:
    now = listening.clock()
    StateRepository(os.environ["STATE_TABLE"], clients=AwsClients()).acquire("source#x#x-main", owner="other-run", now=now, until=now + timedelta(minutes=3))
    [report] = listening.poll("x")
    assert report["status"] == "busy" and not _searches(listening)
    listening.tick(4)  # the other run's lease has lapsed: it crashed
    [report] = listening.poll("x")
    assert report["status"] == "ok"


def test_duplicate_invocation_stores_nothing_twice(listening: Listening) -> None:
    ids = _add_posts(listening, 30, start=listening.clock() - timedelta(minutes=3))
    first = listening.poll("x")
    again = listening.poll("x")
    assert first[0]["stored"] == 30 and again[0]["stored"] == 0
    assert len(_stored()) == len(ids)


def test_scheduled_time_in_the_event_is_optional_but_source_is_not(listening: Listening) -> None:
    from pydantic import ValidationError

    from crisiscomms_local.lambda_runtime import invoke

    assert invoke("poller", {"source": "news"})["source"] == "news"
    with pytest.raises(ValidationError, match="source"):
        invoke("poller", {"source": "myspace"})
    with pytest.raises(ValidationError):
        invoke("poller", {"scheduled_time": "2026-11-28T09:00:00Z"})


def test_invalid_watch_configuration_stops_the_poll_and_names_the_field(listening: Listening) -> None:
    from crisiscomms.errors import ConfigurationError
    from crisiscomms_local.aws import put_watch_config
    from crisiscomms_local.lambda_runtime import invoke

    put_watch_config(listening.stack, '{"version": 1, "topics": [{"id": "harbor"}]}')
    with pytest.raises(ConfigurationError, match=r"topics\.0\.names"):
        invoke("poller", {"source": "x"})
    assert not _searches(listening)


def test_stored_post_carries_its_score(listening: Listening) -> None:
    listening.x.add_post(text="港湾银行挤兑了，取不出钱！", author="li_wei", followers=54_000, reposts=300,
                         created_at=listening.clock() - timedelta(seconds=30), lang="zh")
    listening.poll("x")
    [post] = _stored()
    assert post["language"] == "zh-Hans"
    assert post["is_crisis"] is True and post["sentiment_label"] == "negative"
    assert "bank_run" in post["crisis_categories"] or "withdrawal" in post["crisis_categories"]
    assert 0 < post["risk"] <= 100
    assert post["url"].startswith("https://x.com/li_wei/status/")
    assert datetime.fromisoformat(post["ingested_at"].replace("Z", "+00:00")) == listening.clock().replace(tzinfo=timezone.utc)


def test_the_platform_token_never_reaches_the_logs(listening: Listening) -> None:
    import io

    from crisiscomms.observability import logger

    captured = io.StringIO()
    previous = logger.registered_handler.setStream(captured)
    try:
        _add_posts(listening, 3, start=listening.clock() - timedelta(minutes=2))
        now = listening.clock()
        listening.x.add_fault(Fault(start=now, end=now + timedelta(minutes=1), kind="http_status", status=401))
        listening.poll("x")
        listening.tick()
        listening.poll("x")
    finally:
        logger.registered_handler.setStream(previous)
    logged = captured.getvalue()
    assert "source polled" in logged and "401" in logged
    assert "test-x-token" not in logged
    assert [r.headers.get("authorization") for r in _searches(listening)][-1] == "Bearer test-x-token"


def test_an_unset_platform_token_fails_the_source_with_a_clear_message(listening: Listening) -> None:
    from crisiscomms_local.aws import client

    client("secretsmanager").put_secret_value(SecretId=os.environ["X_BEARER_TOKEN_SECRET"], SecretString="  ")
    [report] = listening.poll("x")
    assert report["status"] == "failed" and "is empty" in report["detail"]


def test_a_post_from_a_read_once_source_opens_its_conversation_without_a_follow_up_write(listening: Listening) -> None:
    """X's search never returns a stored post again, so its conversations get no follow-up record: a
    rumour wave on X costs its conversation's Put in the page's openings and its share of the page's
    transaction, nothing more."""
    from crisiscomms.aws.dynamo import from_item, to_item
    from crisiscomms.wiring import container
    from crisiscomms_local.aws import client

    ids = [listening.x.add_post(text=f"Is Harbor Bank about to collapse? I heard there is a bank run #{n}",
                                author=f"worried{n}", created_at=listening.clock() - timedelta(minutes=5 - n))
           for n in range(3)]
    calls: list[str] = []
    container().clients("dynamodb").meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    [report] = listening.poll("x")
    assert report["stored"] == 3 and report["followed_up"] == 3, report
    # the posts' transaction, the topic's level, the three conversations together; the lease and its release
    assert calls.count("TransactWriteItems") == 2 and calls.count("PutItem") == 0, calls
    assert calls.count("UpdateItem") == 2, calls
    stored = [from_item(client("dynamodb").get_item(TableName=os.environ["POSTS_TABLE"], Key=to_item({"post_key": key}))["Item"])
              for key in (f"x#{native_id}" for native_id in ids)]
    assert stored and all("follow_up" not in post for post in stored)


def test_the_banks_own_post_heard_back_is_kept_for_the_record_and_counted_nowhere(listening: Listening) -> None:
    """Search finds the bank's own statement too ("… the bank run rumour is false …"): it is the bank
    speaking, not the public reacting, so it is stored with the topics it names as `own_topics`, and is in
    no figure, no topic's list and the inbox; the same words from anyone else count."""
    from crisiscomms.aws.dynamo import from_item
    from crisiscomms_local.aws import client

    listening.configure(accounts={"x": {"handle": "HarborBank"}})
    text = "Is Harbor Bank facing a bank run? Withdrawals work at every branch and ATM."
    start = listening.clock() - timedelta(minutes=2)
    own = listening.x.add_post(text=text, author="HarborBank", created_at=start)
    echo = listening.x.add_post(text=text, author="someone", created_at=start + timedelta(seconds=1))
    [report] = listening.poll("x")
    assert (report["stored"], report["own"], report["unrelated"]) == (2, 1, 0), report
    posts = {p["native_id"]: p for p in _stored()}
    assert posts[own]["own_topics"] == ["harbor"] and posts[own]["topics"] == [] and posts[own]["related"] is False
    assert posts[echo]["topics"] == ["harbor"] and "own_topics" not in posts[echo]
    repo = _repo()
    assert [link["post_key"] for link in repo.topic_posts("harbor", DAY)] == [f"x#{echo}"]
    assert sum(a["posts"] for a in repo.minute_aggregates("harbor", "2026-11-28T08:00", "2026-11-28T10:00")) == 1
    inbox = [from_item(i) for i in client("dynamodb").scan(TableName=os.environ["INBOX_TABLE"])["Items"]]
    opened = {str(item.get("post_key") or item.get("pk")) for item in inbox}
    assert any(echo in key for key in opened) and not any(own in key for key in opened), opened
