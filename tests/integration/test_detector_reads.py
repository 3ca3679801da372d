"""What the Detector reads from local DynamoDB per topic and run, counted on the boto3 client."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from crisiscomms.aws.alert_store import AlertRepository
from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import from_item, to_item
from crisiscomms.aws.post_store import PostRepository, PostTables
from crisiscomms.detection.levels import DetectorState, RollingBaseline, Thresholds, raw_level, signals
from crisiscomms.detection.run import Detector
from crisiscomms.models import Post, ScoredPost
from crisiscomms.watch import Topic

pytestmark = pytest.mark.integration
START = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
TOPIC = Topic(id="harbor", names=["Harbor Bank"])
TH = Thresholds(baseline_hours=1)


class Reads:
    """Counts DynamoDB calls by operation, and Query calls and items by table, from botocore's events."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self.queries: Counter[str] = Counter()
        self.items: Counter[str] = Counter()
        client.meta.events.register("provide-client-params.dynamodb.Query", self._table)
        client.meta.events.register("after-call.dynamodb", self._count)

    @staticmethod
    def _table(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["counted_table"] = params["TableName"]

    def _count(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        self.calls[model.name] += 1
        if model.name == "Query":
            self.queries[context["counted_table"]] += 1
            self.items[context["counted_table"]] += parsed.get("ScannedCount", parsed.get("Count", 0))

    def reset(self) -> None:
        self.calls.clear(), self.queries.clear(), self.items.clear()


def _store(repo: PostRepository, when: datetime, n: int, *, source: str = "social", negative: bool = False) -> None:
    for i in range(n):
        post = Post(platform="x" if source == "social" else "news", native_id=f"{source}{int(when.timestamp())}{i:03d}",
                    source_type=source, source_id="x", url="u", author=f"a{i}", followers=50_000 if negative else 10,
                    text="Harbor Bank", published_at=when + timedelta(seconds=i % 60))
        repo.store(ScoredPost(post=post, topics=("harbor",), language="en", sentiment=-0.8 if negative else 0.4,
                              sentiment_label="negative" if negative else "positive",
                              crisis_terms=("bank run",) if negative else (), crisis_categories=(),
                              crisis_weight=3.0 if negative else 0.0, is_crisis=negative, risk=70 if negative else 0,
                              ingested_at=when, high_reach_negative=negative))


def test_after_one_full_read_a_run_reads_only_the_recent_window_and_agrees_with_the_reference(stack, sim_clock) -> None:
    clients = AwsClients()
    reads = Reads(clients("dynamodb"))
    posts = PostRepository(PostTables(stack.refs["PostsTable"], stack.refs["TopicPostsTable"], stack.refs["AggregatesTable"]),
                           clients=clients, retention_days=30)
    alerts = AlertRepository(stack.refs["AlertsTable"], stack.refs["StateTable"],
                             AuditLog(stack.refs["AuditTable"], stack.refs["StateTable"], clients=clients, sleep=lambda s: None))
    aggregates = stack.refs["AggregatesTable"]
    for minute in range(76):  # an hour and a quarter of one social post a minute, news every ten minutes
        _store(posts, START + timedelta(minutes=minute), 1)
        if minute % 10 == 3:
            _store(posts, START + timedelta(minutes=minute), 1, source="news")
    runs = []
    for minute in range(76, 96):
        now = START + timedelta(minutes=minute, seconds=30)
        _store(posts, now - timedelta(seconds=30), 2 if minute < 86 else 12, negative=minute >= 86)
        if minute % 5 == 0:  # a post for a minute already read, four minutes late
            _store(posts, now - timedelta(minutes=4, seconds=30), 1)
        sim_clock.set(now)
        reads.reset()
        result = Detector(posts, alerts, thresholds=TH, clock=sim_clock, send_sms=lambda arn, text: "m",
                          oncall_topic="oncall", escalation_topic="escalation").evaluate(TOPIC)
        runs.append((result, dict(reads.calls), reads.queries[aggregates], reads.items[aggregates]))
        everything = posts.minute_aggregates("harbor", "2026-11-28T08:00", now.strftime("%Y-%m-%dT%H:%M"))
        raw, reasons = raw_level(signals(everything, now, TH, "social"), signals(everything, now, TH, "news"), TH)
        assert (result["raw"], result["reasons"]) == (raw.name, reasons), minute

    first, *steady = runs
    assert first[0]["baseline"] == "rebuilt: missing" and first[3] == 75 + 8   # the full read: 75 minutes of social, 8 of news
    assert {r[0]["baseline"] for r in steady} == {"rolled"}
    assert {r[2] for r in runs} == {1}, "one Query of the aggregates per run"
    assert max(r[3] for r in steady) <= TH.recent_minutes + 1 + 2, [r[3] for r in steady]
    quiet = [r[1] for r in steady if r[0]["level"] == "NORMAL"]
    assert quiet and all(calls == {"GetItem": 2, "Query": 2, "PutItem": 2} for calls in quiet), quiet
    assert {r[0]["level"] for r in runs} >= {"WARNING"}

    client = clients("dynamodb")
    state = from_item(client.get_item(TableName=stack.refs["StateTable"], Key=to_item({"pk": "detector#harbor"}))["Item"])
    baseline = client.get_item(TableName=stack.refs["StateTable"], Key=to_item({"pk": "detector#harbor#baseline"}))["Item"]
    state.pop("pk")
    assert DetectorState.from_dict(state).last_minute == "2026-11-28T10:35", "the state item alone still loads"
    assert set(baseline) == {"pk", "through", "social", "news"} and "B" in baseline["social"]
    stored = alerts.detector_state("harbor")
    rolled = RollingBaseline.from_dict(stored["baseline"])
    assert rolled is not None and rolled.through == "2026-11-28T10:20" and len(rolled.counts["social"]) == 60


def test_the_state_without_a_baseline_is_stored_and_read_as_before(stack) -> None:
    repo = AlertRepository(stack.refs["AlertsTable"], stack.refs["StateTable"],
                           AuditLog(stack.refs["AuditTable"], stack.refs["StateTable"], clients=AwsClients()))
    repo.save_detector_state("harbor", {"level": "WARNING", "baseline": {"through": "2026-11-28T09:00", "social": b"\x00"}})
    assert repo.detector_state("harbor") == {"level": "WARNING",
                                             "baseline": {"through": "2026-11-28T09:00", "social": b"\x00"}}
    repo.save_detector_state("harbor", {"level": "CRISIS"})
    assert repo.detector_state("harbor")["level"] == "CRISIS"
    assert repo.detector_state("northgate") is None
