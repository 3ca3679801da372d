"""The Detector on local AWS: alerts from stored minute figures, SMS once per level, retried after an SNS failure."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from crisiscomms.aws.clients import AwsClients

from crisiscomms.aws.alert_store import AlertRepository
from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.post_store import PostRepository, PostTables
from crisiscomms.detection.levels import Thresholds
from crisiscomms.detection.run import Detector
from crisiscomms.models import Post, ScoredPost
from crisiscomms.watch import Topic

pytestmark = pytest.mark.integration
START = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
TOPIC = Topic(id="harbor", names=["Harbor Bank"])


class _Phone:
    """An SNS stand-in that can be down, and remembers what it delivered."""

    def __init__(self) -> None:
        self.down = False
        self.sent: list[tuple[str, str]] = []

    def __call__(self, topic_arn: str, text: str) -> str:
        if self.down:
            raise ConnectionError("SNS unavailable")
        self.sent.append((topic_arn, text))
        return f"m{len(self.sent)}"


def _store(repo: PostRepository, when: datetime, n: int, *, negative: bool) -> None:
    for i in range(n):
        post = Post(platform="x", native_id=f"{int(when.timestamp())}{i:03d}", source_type="social", source_id="x",
                    url="u", author=f"a{i}", followers=50_000 if negative else 10, text="Harbor Bank",
                    published_at=when + timedelta(seconds=i % 60))
        repo.store(ScoredPost(post=post, topics=("harbor",), language="en", sentiment=-0.8 if negative else 0.4,
                              sentiment_label="negative" if negative else "positive",
                              crisis_terms=("bank run",) if negative else (), crisis_categories=(),
                              crisis_weight=3.0 if negative else 0.0, is_crisis=negative, risk=70 if negative else 0,
                              ingested_at=when, high_reach_negative=negative))


@pytest.fixture
def world(stack, sim_clock):
    posts = PostRepository(PostTables(stack.refs["PostsTable"], stack.refs["TopicPostsTable"], stack.refs["AggregatesTable"]), clients=AwsClients(),
                           retention_days=30)
    alerts = AlertRepository(stack.refs["AlertsTable"], stack.refs["StateTable"],
                             AuditLog(stack.refs["AuditTable"], stack.refs["StateTable"], clients=AwsClients(), sleep=lambda s: None))
    phone = _Phone()

    def detector() -> Detector:  # a fresh one each minute, as a new Lambda environment would be
        return Detector(posts, alerts, thresholds=Thresholds(baseline_hours=1), clock=sim_clock, send_sms=phone,
                        oncall_topic="oncall", escalation_topic="escalation")

    return posts, alerts, phone, detector, sim_clock


def test_a_negative_burst_alerts_once_per_level_and_a_failed_sms_is_retried(world) -> None:
    posts, alerts, phone, detector, clock = world
    for minute in range(60):  # a quiet hour of baseline
        _store(posts, START + timedelta(minutes=minute), 1, negative=False)
    clock.set(START + timedelta(minutes=60))
    levels = []
    phone.down = True
    failed_while_down = 0
    for minute in range(60, 75):
        _store(posts, START + timedelta(minutes=minute), 6 if minute < 66 else 20, negative=True)
        clock.set(START + timedelta(minutes=minute + 1))
        levels.append(detector().evaluate(TOPIC)["level"])
        if phone.down and "WARNING" in levels:
            failed_while_down += 1
            if failed_while_down == 2:
                phone.down = False  # SNS is back two evaluations after the alert opened
    assert levels.index("WARNING") < levels.index("CRISIS") and levels[-1] == "CRISIS", levels
    [alert] = alerts.for_topic("harbor")
    assert alert["status"] == "TRIGGERED" and alert["notified_level"] == "CRISIS"
    texts = [t for arn, t in phone.sent if arn == "oncall"]
    assert [t.split()[0] for t in texts] == ["WARNING", "CRISIS"], (levels, texts)
    assert all(alert["alert_id"] in t for t in texts)
    for _ in range(3):  # repeats at the same level send nothing
        clock.advance(timedelta(minutes=1))
        detector().evaluate(TOPIC)
    assert len([1 for arn, _ in phone.sent if arn == "oncall"]) == 2


def _a_quiet_hour_then_a_burst(world, topic: Topic) -> None:
    """An hour of one positive post a minute, then four minutes of 15 negative ones, evaluated each minute."""
    posts, _, _, detector, clock = world
    for minute in range(60):
        _store(posts, START + timedelta(minutes=minute), 1, negative=False)
    for minute in range(60, 64):
        _store(posts, START + timedelta(minutes=minute), 15, negative=True)
        clock.set(START + timedelta(minutes=minute + 1))
        detector().evaluate(topic)


def test_an_unacknowledged_alert_escalates_once(world) -> None:
    posts, alerts, phone, detector, clock = world
    _a_quiet_hour_then_a_burst(world, TOPIC)
    for _ in range(15):
        clock.advance(timedelta(minutes=1))
        detector().evaluate(TOPIC)
    escalations = [t for arn, t in phone.sent if arn == "escalation"]
    assert len(escalations) == 1 and "not acknowledged" in escalations[0]
    assert alerts.for_topic("harbor")[0]["escalated_at"]


def test_a_topic_named_in_chinese_first_is_texted_by_its_english_name_when_only_that_fits(world) -> None:
    """On-call hears which bank and what was measured: 港湾银行 would leave no room for the figure in 70 units."""
    _, alerts, phone, _, _ = world
    _a_quiet_hour_then_a_burst(world, Topic(id="harbor", names=["港湾银行", "港灣銀行", "Harbor Bank"]))
    [alert] = alerts.for_topic("harbor")
    assert alert["topic_names"] == ["港湾银行", "港灣銀行", "Harbor Bank"]
    texts = [t for arn, t in phone.sent if arn == "oncall"]
    assert texts and all(t.split(":")[0].endswith("Harbor Bank") and alert["alert_id"] in t for t in texts), texts


def test_an_alert_s_escalation_names_the_bank_as_its_on_call_sms_did(world) -> None:
    """"not acknowledged" leaves room for 港湾银行, but the phone already showed this alert as Harbor Bank."""
    _, alerts, phone, detector, clock = world
    topic = Topic(id="harbor", names=["港湾银行", "港灣銀行", "Harbor Bank"])
    _a_quiet_hour_then_a_burst(world, topic)
    for _ in range(15):
        clock.advance(timedelta(minutes=1))
        detector().evaluate(topic)
    [alert] = alerts.for_topic("harbor")
    [escalation] = [t for arn, t in phone.sent if arn == "escalation"]
    assert alert["sms_name"] == "Harbor Bank"
    assert escalation.split(":")[0].endswith("Harbor Bank") and "not acknowledged" in escalation, escalation
