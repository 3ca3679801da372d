"""Early warning and slow burns on synthetic minute aggregates: one high-reach crisis post before volume
moves, a negative stream that grows for hours with the volume, and the ordinary busy morning that must not alert."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from crisiscomms.detection.levels import Level, Resolve, Thresholds, TriggerAlert, minute_key, raw_level, signals
from crisiscomms.listening.polling import Ingestor, RunReport
from crisiscomms.listening.topics import TopicMatcher
from crisiscomms.models import Post, ScoredPost
from crisiscomms.scoring.engines import LexiconScorer
from crisiscomms.watch import EarlyWarning, SlowBurn, Tier, Topic

from .test_detection import DAY0, DAY1, TH, aggregates, background, decisions_of, run
from tests.unit.fakes import StoresEach

MINUTE = timedelta(minutes=1)


def _early_post(at: datetime, count: int = 1) -> dict[str, Any]:
    """The minute record of `count` early-warning posts (crisis, negative, high reach)."""
    return {"minute": minute_key(at), "source_type": "social", "posts": count, "negative": count,
            "sentiment_sum": -0.8 * count, "engagement": 4000 * count, "reach": 2_400_000 * count,
            "crisis_posts": count, "crisis_weight_sum": 3.0 * count, "high_reach_negative": count,
            "early_warning": count}


def _level_now(records: list[dict], now: datetime, thresholds: Thresholds = TH) -> tuple[Level, list[str]]:
    return raw_level(signals(records, now, thresholds, "social"), signals(records, now, thresholds, "news"), thresholds)


# --- early warning -----------------------------------------------------------------------------

def test_one_early_warning_post_on_a_quiet_day_is_warning_before_volume_moves() -> None:
    posted = DAY1 + timedelta(hours=9, minutes=3)
    records = background(24 * 60 + 10 * 60) + [_early_post(posted)]
    level, reasons = _level_now(records, posted + 2 * MINUTE)
    assert level is Level.WARNING, reasons
    assert reasons == ["social early-warning posts 1 >= 1 (high-reach crisis post, fast engagement)"]
    s = signals(records, posted + 2 * MINUTE, TH, "social")
    assert s.early_warning == 1 and s.ratio < TH.social.watch.ratio, "volume has not moved"
    assert _level_now(background(24 * 60 + 10 * 60), posted + 2 * MINUTE)[0] <= Level.WATCH, "without it: quiet"


def test_a_brand_new_topic_warns_on_one_post_whatever_min_posts_says() -> None:
    level, _ = _level_now([_early_post(DAY1 - 3 * MINUTE)], DAY1)
    assert level is Level.WARNING


def test_the_early_warning_alert_waits_for_n_evaluations_then_resolves_after_the_post_and_m_quiet_ones() -> None:
    """Flap control as for every level: raised after raise_after evaluations, lowered after lower_after
    evaluations without it (the post counts while its minute is in the recent window)."""
    posted = DAY1 + timedelta(hours=9)
    records = background(24 * 60 + 11 * 60) + [_early_post(posted)]
    _, ticks = run(records, posted - 5 * MINUTE, 60)
    first_raw = next(i for i, t in enumerate(ticks) if t.raw >= Level.WARNING)
    first_level = next(i for i, t in enumerate(ticks) if t.level >= Level.WARNING)
    assert ticks[first_raw].now == posted + MINUTE, "judged once its minute is complete"
    assert first_level - first_raw == TH.raise_after - 1
    last_raw = max(i for i, t in enumerate(ticks) if t.raw >= Level.WARNING)
    assert last_raw - first_raw == TH.recent_minutes - 1, "counted while its minute is in the recent window"
    triggers, resolves = decisions_of(ticks, TriggerAlert), decisions_of(ticks, Resolve)
    assert [t.level for t in triggers] == [Level.WARNING] and len(resolves) == 1
    resolved = next(i for i, t in enumerate(ticks) if any(isinstance(d, Resolve) for d in t.decisions))
    assert resolved - last_raw == TH.lower_after


def test_a_single_minute_of_early_warning_is_not_raised_when_n_is_longer() -> None:
    """raise_after applies: an early-warning raw level that held fewer evaluations than N raises nothing."""
    posted = DAY1 + timedelta(hours=9)
    records = background(24 * 60 + 11 * 60) + [_early_post(posted)]
    strict = Thresholds(raise_after=TH.recent_minutes + 1)
    _, ticks = run(records, posted - 5 * MINUTE, 40, thresholds=strict)
    assert max(t.raw for t in ticks) is Level.WARNING and max(t.level for t in ticks) <= Level.WATCH
    assert not decisions_of(ticks, TriggerAlert)


def test_the_early_warning_bars_are_per_tier_configuration() -> None:
    records = [_early_post(DAY1 - 3 * MINUTE)]
    two = TH.social.model_copy(update={"warning": TH.social.warning.model_copy(update={"early_warning": 2})})
    assert _level_now(records, DAY1, Thresholds(social=two))[0] is Level.WATCH, "one post: the watch bar only"
    assert _level_now([_early_post(DAY1 - 3 * MINUTE, 2)], DAY1, Thresholds(social=two))[0] is Level.WARNING
    off = two.model_copy(update={"watch": two.watch.model_copy(update={"early_warning": None}),
                                 "warning": two.warning.model_copy(update={"early_warning": None})})
    assert _level_now(records, DAY1, Thresholds(social=off))[0] is Level.NORMAL


def test_crisis_stays_volume_gated() -> None:
    many = [_early_post(DAY1 - 3 * MINUTE, 12)]
    assert _level_now(many, DAY1)[0] is Level.WARNING, "twelve early-warning posts are still no crisis volume"
    crisis = TH.social.crisis.model_copy(update={"early_warning": 1})
    with pytest.raises(ValidationError, match="crisis.early_warning must be null"):
        TH.social.model_validate({**TH.social.model_dump(), "crisis": crisis.model_dump()})


# --- marking at ingest -------------------------------------------------------------------------

class _Store(StoresEach):
    def __init__(self) -> None:
        self.stored: list[ScoredPost] = []

    def known(self, keys: list[str]) -> set[str]:
        return set()

    def store(self, scored: ScoredPost) -> Any:
        from crisiscomms.aws.post_store import StoreOutcome

        self.stored.append(scored)
        return StoreOutcome.STORED



READ_AT = datetime(2026, 11, 28, 9, 10, tzinfo=timezone.utc)
INSOLVENT = "Harbor Bank is insolvent, get your money out now"


@pytest.mark.parametrize(("text", "followers", "engagement", "age_minutes", "marked"), [
    (INSOLVENT, 2_400_000, 3000, 5, True),         # 600 a minute
    (INSOLVENT, 100_000, 50, 5, True),             # exactly the bars: 100,000 followers, 10 a minute
    (INSOLVENT, 99_999, 3000, 5, False),           # too few followers
    (INSOLVENT, 2_400_000, 49, 5, False),          # engagement too slow
    (INSOLVENT, 2_400_000, 9, 0.2, False),         # read seconds after it appeared: the age counts as a minute
    (INSOLVENT, 2_400_000, 600, 60, True),         # an hour old, still 10 a minute
    ("Harbor Bank opens a new branch today, come and see", 2_400_000, 3000, 5, False),  # no crisis terms
])
def test_the_ingestor_marks_crisis_posts_from_high_reach_accounts_with_fast_engagement(
        text: str, followers: int, engagement: int, age_minutes: float, marked: bool) -> None:
    store = _Store()
    ingestor = Ingestor(TopicMatcher([Topic(id="harbor", names=["Harbor Bank"])]), LexiconScorer(), store,  # type: ignore[arg-type]
                        lambda: READ_AT)
    post = Post(platform="x", native_id="1", source_type="social", source_id="x", url="u", author="a",
                followers=followers, text=text, likes=engagement, published_at=READ_AT - timedelta(minutes=age_minutes))
    ingestor.ingest([post], RunReport())
    assert [s.early_warning for s in store.stored] == [marked]


def test_the_marking_bars_come_from_the_watch_configuration() -> None:
    store = _Store()
    ingestor = Ingestor(TopicMatcher([Topic(id="harbor", names=["Harbor Bank"])]), LexiconScorer(), store,  # type: ignore[arg-type]
                        lambda: READ_AT, early_warning=EarlyWarning(followers=5_000_000, engagement_per_minute=1))
    post = Post(platform="x", native_id="1", source_type="social", source_id="x", url="u", author="a",
                followers=2_400_000, text=INSOLVENT, likes=3000, published_at=READ_AT - 5 * MINUTE)
    ingestor.ingest([post], RunReport())
    assert [s.early_warning for s in store.stored] == [False]
    assert Thresholds.model_validate({"early_warning": {"followers": 1000}}).early_warning.followers == 1000


# --- slow burns --------------------------------------------------------------------------------

def _slow_burn(start: datetime, hours: int = 4) -> list[dict]:
    """From `start` a complaint stream grows for `hours`: volume from 2 to 3.5 posts a minute, the negative
    share from 15% to 55%, never a jump (the recent window never reaches the warning surge bars)."""
    minutes = hours * 60
    rate = lambda i: 2.0 + 1.5 * i / minutes  # noqa: E731
    return [record for i in range(minutes)
            for record in aggregates(start + i * MINUTE, 1, rate(i), negative=0.15 + 0.4 * i / minutes, seed=100 + i)]


def test_a_slow_rise_of_negative_posts_raises_warning_though_volume_never_surges() -> None:
    start = DAY1 + timedelta(hours=8)
    records = aggregates(DAY0, 24 * 60 + 8 * 60, 2.0, negative=0.15, seed=2) + _slow_burn(start)
    _, ticks = run(records, start, 4 * 60)
    warned = next(i for i, t in enumerate(ticks) if t.level >= Level.WARNING)
    assert 60 <= warned <= 4 * 60, warned
    reasons = ticks[warned].reasons
    assert reasons and all(" in 120 min (baseline 1" in r for r in reasons), reasons
    assert max(t.level for t in ticks) is Level.WARNING
    assert [t.level for t in decisions_of(ticks, TriggerAlert)] == [Level.WARNING]
    without = Thresholds(social=TH.social.model_copy(update={"slow_burn": None}))
    _, ticks = run(records, start, 4 * 60, thresholds=without)
    assert max(t.level for t in ticks) <= Level.WATCH, "the volume rules alone never warn"


def test_the_slow_window_and_its_baseline_share_follow_the_documented_formulas() -> None:
    now = DAY1 + timedelta(hours=12)
    old = [{"minute": minute_key(now - m * MINUTE), "source_type": "social", "posts": 4, "negative": 1}
           for m in range(121, 24 * 60 + 16)]
    slow = [{"minute": minute_key(now - m * MINUTE), "source_type": "social", "posts": 2, "negative": 1}
            for m in range(1, 121)]
    s = signals(old + slow, now, TH, "social")
    assert (s.slow_minutes, s.slow_posts, s.slow_negative) == (120, 240, 120)
    assert s.slow_negative_share == 0.5 and s.baseline_negative_share == 0.25
    short = Thresholds(baseline_hours=1)
    assert signals(old + slow, now, short, "social").slow_minutes == short.recent_minutes + 30, "at most half the baseline"
    with pytest.raises(ValidationError):
        Thresholds(slow_minutes=10)


def test_a_topic_that_is_always_this_negative_is_not_a_slow_burn() -> None:
    records = aggregates(DAY0, 2 * 24 * 60, 2.0, negative=0.5, seed=4)
    _, ticks = run(records, DAY1, 6 * 60)
    assert max(t.level for t in ticks) <= Level.WATCH


def test_a_negative_wave_that_has_passed_does_not_hold_the_level_up_for_the_slow_window() -> None:
    wave = DAY1 + timedelta(hours=9)
    records = (aggregates(DAY0, 24 * 60 + 12 * 60, 2.0, negative=0.15, seed=6)
               + aggregates(wave, 40, 3.0, negative=0.8, seed=7))
    now = wave + timedelta(minutes=70)
    s = signals(records, now, TH, "social")
    assert s.slow_negative >= TH.social.slow_burn.min_negative and s.slow_negative_share >= 0.3, "still in the window"
    assert _level_now(records, now)[0] <= Level.WATCH, "calm again in the recent window"


def test_the_slow_burn_bars_are_configuration() -> None:
    start = DAY1 + timedelta(hours=8)
    records = aggregates(DAY0, 24 * 60 + 8 * 60, 2.0, negative=0.15, seed=2) + _slow_burn(start)
    strict = Thresholds(social=TH.social.model_copy(update={"slow_burn": SlowBurn(min_negative=30, negative_share=0.4,
                                                                                   above_baseline=0.5)}))
    _, ticks = run(records, start + timedelta(hours=3), 60, thresholds=strict)
    assert max(t.level for t in ticks) <= Level.WATCH, "not clearly enough above the baseline's 15%"


# --- the ordinary busy morning -------------------------------------------------------------------

def test_a_busy_morning_after_a_quiet_night_is_watch_at_most() -> None:
    """Five times the volume at 08:00, mostly neutral, 15% negative, no crisis terms: seen, never alerted."""
    morning = DAY1 + timedelta(hours=8)
    records = (aggregates(DAY0, 24 * 60 + 8 * 60, 0.8, negative=0.15, seed=8)
               + aggregates(morning, 3 * 60, 4.0, negative=0.15, seed=9))
    _, ticks = run(records, morning - timedelta(minutes=10), 3 * 60)
    assert max(t.raw for t in ticks) is Level.WATCH, "the surge is seen"
    assert max(t.level for t in ticks) is Level.WATCH
    assert not decisions_of(ticks, TriggerAlert)
