"""Early warning and slow burns through the real Ingestor, post store and Detector on local AWS."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from crisiscomms.aws.alert_store import AlertRepository
from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.post_store import PostRepository, PostTables
from crisiscomms.detection.levels import Thresholds
from crisiscomms.detection.run import Detector
from crisiscomms.listening.polling import Ingestor, RunReport
from crisiscomms.listening.topics import TopicMatcher
from crisiscomms.models import Post, ScoredPost
from crisiscomms.scoring.engines import LexiconScorer
from crisiscomms.watch import SlowBurn, Topic

pytestmark = pytest.mark.integration
START = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
TOPIC = Topic(id="harbor", names=["Harbor Bank"])


def _store(repo: PostRepository, when: datetime, tag: str, *, negative: bool) -> None:
    """One ordinary post of `when`'s minute, stored on time (no crisis terms, small audience)."""
    post = Post(platform="x", native_id=f"{tag}{int(when.timestamp())}", source_type="social", source_id="x", url="u",
                author="a", followers=40, text="Harbor Bank", published_at=when)
    repo.store(ScoredPost(post=post, topics=("harbor",), language="en", sentiment=-0.6 if negative else 0.0,
                          sentiment_label="negative" if negative else "neutral", crisis_terms=(), crisis_categories=(),
                          crisis_weight=0.0, is_crisis=False, risk=20 if negative else 0, ingested_at=when))


@pytest.fixture
def world(stack, sim_clock):
    posts = PostRepository(PostTables(stack.refs["PostsTable"], stack.refs["TopicPostsTable"], stack.refs["AggregatesTable"]),
                           clients=AwsClients(), retention_days=30)
    alerts = AlertRepository(stack.refs["AlertsTable"], stack.refs["StateTable"],
                             AuditLog(stack.refs["AuditTable"], stack.refs["StateTable"], clients=AwsClients(),
                                      sleep=lambda s: None))
    sent: list[tuple[str, str]] = []

    def detector(thresholds: Thresholds) -> Detector:  # a fresh one each minute, as a new Lambda environment would be
        return Detector(posts, alerts, thresholds=thresholds, clock=sim_clock,
                        send_sms=lambda arn, text: sent.append((arn, text)) or f"m{len(sent)}",
                        oncall_topic="oncall", escalation_topic="escalation")

    return posts, alerts, sent, detector, sim_clock


def test_one_insolvency_post_from_a_high_reach_account_is_stored_as_early_warning_and_raises_warning(world) -> None:
    posts, alerts, sent, detector, clock = world
    th = Thresholds(baseline_hours=1)
    for minute in range(60):  # a quiet hour: one ordinary post a minute
        _store(posts, START + timedelta(minutes=minute), "q", negative=minute % 5 == 0)
    clock.set(START + timedelta(minutes=60, seconds=40))
    ingestor = Ingestor(TopicMatcher([TOPIC]), LexiconScorer(), posts, clock, early_warning=th.early_warning)
    rumour = Post(platform="x", native_id="ew1", source_type="social", source_id="x", url="https://x.com/m/status/1",
                  author="macro_insider", followers=2_400_000, published_at=START + timedelta(minutes=60, seconds=5),
                  text="BREAKING: Harbor Bank is insolvent. Get your money out while you still can.",
                  likes=900, reposts=1400, replies=200)
    quiet = Post(platform="x", native_id="ew2", source_type="social", source_id="x", url="u", author="fan",
                 followers=2_400_000, published_at=START + timedelta(minutes=60, seconds=9),
                 text="Harbor Bank opening hours on Saturday?", likes=5000)
    ingestor.ingest([rumour, quiet], RunReport())
    assert posts.get("x#ew1")["early_warning"] is True and posts.get("x#ew2")["early_warning"] is False
    [minute] = posts.minute_aggregates("harbor", "2026-11-28T10:00", "2026-11-28T10:01")
    assert minute["early_warning"] == 1 and minute["posts"] == 2

    levels = []
    for minute in range(61, 64):
        clock.set(START + timedelta(minutes=minute, seconds=5))
        result = detector(th).evaluate(TOPIC)
        levels.append((result["raw"], result["level"]))
    assert levels == [("WARNING", "NORMAL"), ("WARNING", "WARNING"), ("WARNING", "WARNING")], "raised after N = 2"
    [alert] = alerts.for_topic("harbor")
    assert alert["level"] == "WARNING" and alert["figures"]["social"]["early_warning"] == 1
    assert alert["figures"]["social"]["posts"] < th.social.min_posts, "before volume moves"
    [(arn, text)] = sent
    assert arn == "oncall" and text.startswith("WARNING Harbor Bank: social early-warning posts 1 >= 1")


def test_a_slow_rise_of_negative_posts_warns_through_the_rolling_state(world) -> None:
    """An hour of baseline at 20% negative, then 45 minutes of one post a minute whose negative share rises to
    two thirds: never the 20 posts the volume rules judge, a slow-burn WARNING (its window is W + B*60/2 = 45
    minutes with a one-hour baseline) from the state rolled minute by minute."""
    posts, alerts, sent, detector, clock = world
    th = Thresholds(baseline_hours=1,
                    social=Thresholds().social.model_copy(update={"slow_burn": SlowBurn(
                        min_negative=12, negative_share=0.4, above_baseline=0.15)}))
    for minute in range(60):
        _store(posts, START + timedelta(minutes=minute), "b", negative=minute % 5 == 0)
    levels = []
    for minute in range(60, 106):
        negative = minute % 3 == 0 if minute < 75 else minute % 2 == 0 if minute < 90 else minute % 3 != 0
        _store(posts, START + timedelta(minutes=minute), "s", negative=negative)
        clock.set(START + timedelta(minutes=minute + 1, seconds=5))
        result = detector(th).evaluate(TOPIC)
        levels.append(result)
    assert [r["baseline"] for r in levels][1:] == ["rolled"] * (len(levels) - 1)
    warned = next(i for i, r in enumerate(levels) if r["level"] == "WARNING")
    assert 60 + 20 <= 60 + warned <= 105, [r["raw"] for r in levels]
    assert all(" in 45 min (baseline 2" in reason for reason in levels[warned]["reasons"]), levels[warned]["reasons"]
    [alert] = alerts.for_topic("harbor")
    figures = alert["figures"]["social"]
    assert figures["posts"] < th.social.min_posts and figures["slow_negative_share"] >= 0.4
    assert [text.split(":")[0] for _, text in sent] == ["WARNING Harbor Bank"]
