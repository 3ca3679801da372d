"""What the Detector reads from local DynamoDB per topic and run, counted on the boto3 client, and its
signals against a full read, late posts and a crash between its two saves included."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import crisiscomms.detection.run as detector_run
from crisiscomms.aws.alert_store import AlertRepository
from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import from_item, to_item
from crisiscomms.aws.post_store import PostRepository, PostTables, StoreOutcome
from crisiscomms.detection.levels import (DetectorState, Level, RollingState, Signals, Thresholds, raw_level,
                                          rolling_signals, signals)
from crisiscomms.detection.run import Detector
from crisiscomms.models import Post, ScoredPost
from crisiscomms.watch import Topic

pytestmark = pytest.mark.integration
START = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
TOPIC = Topic(id="harbor", names=["Harbor Bank"])
TH = Thresholds(baseline_hours=1)
TARGET_ITEMS = 5


class Reads:
    """DynamoDB calls by operation, and items read by table (GetItem: the item found; Query: ScannedCount),
    from botocore's events; `fail_put` makes the next PutItem of a key ending so fail."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self.queries: Counter[str] = Counter()
        self.items: Counter[str] = Counter()
        self.fail_put: str | None = None
        client.meta.events.register("provide-client-params.dynamodb", self._table)
        client.meta.events.register("before-parameter-build.dynamodb.PutItem", self._maybe_fail)
        client.meta.events.register("after-call.dynamodb", self._count)

    @staticmethod
    def _table(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["counted_table"] = params.get("TableName")

    def _maybe_fail(self, params: dict[str, Any], **_: Any) -> None:
        if self.fail_put and params["Item"].get("pk", {}).get("S", "").endswith(self.fail_put):
            self.fail_put = None
            raise ConnectionError("the Lambda ended here")

    def _count(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        self.calls[model.name] += 1
        table = context.get("counted_table")
        if model.name == "Query":
            self.queries[table] += 1
            self.items[table] += parsed.get("ScannedCount", parsed.get("Count", 0))
        elif model.name == "GetItem":
            self.items[table] += int("Item" in parsed)

    def reset(self) -> None:
        self.calls.clear(), self.queries.clear(), self.items.clear()


def _store(repo: PostRepository, published: datetime, n: int, *, arrived: datetime | None = None,
           source: str = "social", negative: bool = False, tag: str = "") -> None:
    """`n` posts of `published`'s minute, stored at `arrived` (by default their own time: on time)."""
    for i in range(n):
        post = Post(platform="x" if source == "social" else "news", native_id=f"{source}{tag}{int(published.timestamp())}{i:03d}",
                    source_type=source, source_id="x", url="u", author=f"a{i}", followers=50_000 if negative else 10,
                    text="Harbor Bank", published_at=published + timedelta(seconds=i % 60))
        repo.store(ScoredPost(post=post, topics=("harbor",), language="en", sentiment=-0.8 if negative else 0.4,
                              sentiment_label="negative" if negative else "positive",
                              crisis_terms=("bank run",) if negative else (), crisis_categories=(),
                              crisis_weight=3.0 if negative else 0.0, is_crisis=negative, risk=70 if negative else 0,
                              ingested_at=arrived or published, high_reach_negative=negative))


def _repositories(stack: Any, clients: AwsClients) -> tuple[PostRepository, AlertRepository]:
    posts = PostRepository(PostTables(stack.refs["PostsTable"], stack.refs["TopicPostsTable"], stack.refs["AggregatesTable"]),
                           clients=clients, retention_days=30)
    alerts = AlertRepository(stack.refs["AlertsTable"], stack.refs["StateTable"],
                             AuditLog(stack.refs["AuditTable"], stack.refs["StateTable"], clients=clients, sleep=lambda s: None))
    return posts, alerts


def test_a_run_reads_at_most_five_items_late_posts_included_and_agrees_with_a_full_read(stack, sim_clock,
                                                                                        monkeypatch) -> None:
    clients = AwsClients()
    reads = Reads(clients("dynamodb"))
    posts, alerts = _repositories(stack, clients)
    aggregates = stack.refs["AggregatesTable"]
    seen: list[Signals] = []
    monkeypatch.setattr(detector_run, "rolling_signals", lambda *a: seen.append(rolling_signals(*a)) or seen[-1])
    for minute in range(76):  # an hour and a quarter of one social post a minute, news every ten minutes
        _store(posts, START + timedelta(minutes=minute), 1)
        if minute % 10 == 3:
            _store(posts, START + timedelta(minutes=minute), 1, source="news")
    runs = []
    for minute in range(76, 100):
        now = START + timedelta(minutes=minute, seconds=30)
        this = now - timedelta(seconds=30)
        _store(posts, this, 2 if minute < 88 else 12, arrived=now - timedelta(seconds=20), negative=minute >= 88)
        if minute % 5 == 0:  # the news feed, polled every five minutes: the last five minutes' articles at once
            for back in range(1, 6):
                _store(posts, this - timedelta(minutes=back), 1, arrived=now, source="news", tag="feed")
        if minute % 4 == 1:  # a post of a minute the Detector has folded, four minutes late
            _store(posts, this - timedelta(minutes=4), 1, arrived=now, tag="late")
        if minute == 83:  # X stalled for eight minutes: the backlog arrives at once
            for back in range(1, 9):
                _store(posts, this - timedelta(minutes=back), 3, arrived=now, tag="stall")
        if minute == 85:  # a federated server catching up: a baseline minute, forty minutes late
            _store(posts, this - timedelta(minutes=40), 6, arrived=now, tag="fed")
        sim_clock.set(now)
        reads.reset()
        seen.clear()
        result = Detector(posts, alerts, thresholds=TH, clock=sim_clock, send_sms=lambda arn, text: "m",
                          oncall_topic="oncall", escalation_topic="escalation").evaluate(TOPIC)
        runs.append((result, dict(reads.calls), reads.queries[aggregates], reads.items[aggregates],
                     sum(reads.items.values())))
        everything = posts.minute_aggregates("harbor", "2026-11-28T08:00", now.strftime("%Y-%m-%dT%H:%M"))
        expected = [signals(everything, now, TH, "social"), signals(everything, now, TH, "news")]
        assert seen == expected, minute
        raw, reasons = raw_level(*expected, TH)
        assert (result["raw"], result["reasons"]) == (raw.name, reasons), minute

    first, *steady = runs
    assert first[0]["baseline"] == "rebuilt: missing" and first[3] >= 76 + 8   # the full read
    assert {r[0]["baseline"] for r in steady} == {"rolled"}
    # a run that opens or raises an alert reads the window's minute items once more, for its leading narrative
    rises = [Level.parse(r[0]["level"]) >= Level.WARNING and Level.parse(r[0]["level"]) > Level.parse(before[0]["level"])
             for before, r in zip(runs, steady)]
    assert any(rises)
    assert {r[2] for r, rose in zip(steady, rises) if not rose} == {1}, "one Query of the aggregates table per run"
    assert max(r[3] for r, rose in zip(steady, rises) if not rose) <= 3, [r[3] for r in steady]  # arrivals E - 2 .. E
    assert {r[2] for r, rose in zip(steady, rises) if rose} == {2}
    assert max(r[3] for r, rose in zip(steady, rises) if rose) <= 3 + 2 * TH.recent_minutes
    # a run that changes nothing else (no level change to audit, no alert yet): its reads on every table
    quiet = [r for r in steady if r[0]["level"] in ("NORMAL", "WATCH") and "TransactWriteItems" not in r[1]]
    assert len(quiet) >= 10 and all(r[1] == {"GetItem": 2, "Query": 1, "PutItem": 2} for r in quiet), [r[1] for r in quiet]
    assert max(r[4] for r in quiet) <= TARGET_ITEMS, [r[4] for r in quiet]   # state, rolling state, arrivals
    assert {r[0]["level"] for r in runs} >= {"WARNING"}

    client = clients("dynamodb")
    state = from_item(client.get_item(TableName=stack.refs["StateTable"], Key=to_item({"pk": "detector#harbor"}))["Item"])
    rolling = client.get_item(TableName=stack.refs["StateTable"], Key=to_item({"pk": "detector#harbor#baseline"}))["Item"]
    state.pop("pk")
    assert DetectorState.from_dict(state).last_minute == "2026-11-28T10:39", "the state item alone still loads"
    assert set(rolling) == {"pk", "minute", "window", "social", "news", "recent"} and "B" in rolling["recent"]
    assert sum(len(v.get("B", b"")) for v in rolling.values()) < 2048
    stored = RollingState.from_dict(alerts.detector_state("harbor")["baseline"])
    assert stored is not None and stored.minute == "2026-11-28T10:39" and len(stored.counts["social"]) == 60


def test_a_run_that_ends_between_its_two_saves_runs_again_with_the_same_figures(stack, sim_clock, monkeypatch) -> None:
    clients = AwsClients()
    reads = Reads(clients("dynamodb"))
    posts, alerts = _repositories(stack, clients)
    seen: list[Signals] = []
    monkeypatch.setattr(detector_run, "rolling_signals", lambda *a: seen.append(rolling_signals(*a)) or seen[-1])
    for minute in range(76):
        _store(posts, START + timedelta(minutes=minute), 2)

    def run(now: datetime) -> dict[str, Any]:
        sim_clock.set(now)
        seen.clear()
        result = Detector(posts, alerts, thresholds=TH, clock=sim_clock, send_sms=lambda arn, text: "m",
                          oncall_topic="oncall", escalation_topic="escalation").evaluate(TOPIC)
        everything = posts.minute_aggregates("harbor", "2026-11-28T08:00", now.strftime("%Y-%m-%dT%H:%M"))
        assert seen == [signals(everything, now, TH, "social"), signals(everything, now, TH, "news")], now
        return result

    for minute in range(76, 86):
        now = START + timedelta(minutes=minute, seconds=30)
        _store(posts, now - timedelta(seconds=30), 3, arrived=now - timedelta(seconds=10))
        _store(posts, now - timedelta(minutes=3), 1, arrived=now - timedelta(seconds=5), tag="late")
        if minute in (80, 83):  # the flap state is saved, the rolling state is not
            reads.fail_put = "#baseline"
            with pytest.raises(ConnectionError):
                run(now)
        assert run(now)["baseline"] in ("rolled", "rebuilt: missing")
    assert run(now + timedelta(seconds=10))["baseline"] == "rolled", "the same minute again"


def test_a_duplicate_post_leaves_the_arrivals_item_as_it_was(stack) -> None:
    posts, _ = _repositories(stack, AwsClients())
    arrived = START + timedelta(minutes=20, seconds=5)
    _store(posts, START + timedelta(minutes=12), 1, arrived=arrived)
    before = posts.arrivals("harbor", "2026-11-28T09:20")
    post = Post(platform="x", native_id=f"social{int((START + timedelta(minutes=12)).timestamp())}000", source_type="social",
                source_id="x", url="u", author="a0", followers=10, text="Harbor Bank", published_at=START + timedelta(minutes=12))
    again = ScoredPost(post=post, topics=("harbor", "northgate"), language="en", sentiment=0.4, sentiment_label="positive",
                       crisis_terms=(), crisis_categories=(), crisis_weight=0.0, is_crisis=False, risk=0,
                       ingested_at=arrived + timedelta(minutes=1))
    assert posts.store(again) is StoreOutcome.DUPLICATE
    assert posts.arrivals("harbor", "2026-11-28T09:20") == before and posts.arrivals("northgate", "2026-11-28T00:00") == []
    [record] = before
    assert (record["arrived"], record["minute"], record["source_type"], record["posts"]) == \
        ("2026-11-28T09:20", "2026-11-28T09:12", "social", 1)
    assert posts.minute_aggregates("harbor", "2026-11-28T09:00", "2026-11-28T10:00")[0]["posts"] == 1


def test_a_long_alert_history_costs_no_reads_and_an_open_alert_one(stack, sim_clock) -> None:
    """Only the alert the state keeps open is read (by key); past alerts are never paged through."""
    clients = AwsClients()
    reads = Reads(clients("dynamodb"))
    posts, alerts = _repositories(stack, clients)
    table = stack.refs["AlertsTable"]
    for n in range(40):  # a year of resolved alerts
        clients("dynamodb").put_item(TableName=table, Item=to_item({
            "alert_id": f"harbor-2025{n:04d}", "topic": "harbor", "status": "RESOLVED", "level": "WARNING",
            "triggered_at": f"2025-{n % 12 + 1:02d}-01T09:00:00+00:00", "list_pk": "alert"}))
    detector = Detector(posts, alerts, thresholds=TH, clock=sim_clock, send_sms=lambda arn, text: "m",
                        oncall_topic="oncall", escalation_topic="escalation")
    for minute in range(3):
        _store(posts, START + timedelta(minutes=minute), 1)
        sim_clock.set(START + timedelta(minutes=minute, seconds=30))
        reads.reset()
        detector.evaluate(TOPIC)
        assert reads.queries[table] == 0 and reads.items[table] == 0, dict(reads.items)
    state = alerts.detector_state("harbor") or {}
    state.pop("baseline", None)
    alerts.save_detector_state("harbor", {**state, "alert_id": "20251101-0900", "level": "WARNING",
                                          "notified_level": "WARNING", "baseline": None})
    clients("dynamodb").put_item(TableName=table, Item=to_item({
        "alert_id": "harbor-20251101-0900", "topic": "harbor", "status": "ACKNOWLEDGED", "level": "WARNING",
        "notify_level": "WARNING", "notified_level": "WARNING", "triggered_at": "2025-11-01T09:00:00+00:00"}))
    sim_clock.set(START + timedelta(minutes=3, seconds=30))
    reads.reset()
    detector.evaluate(TOPIC)
    assert reads.queries[table] == 0 and reads.items[table] == 1, dict(reads.items)
