"""Detector scenarios on synthetic minute aggregates: signals, raw level, flap control, alerts."""
from __future__ import annotations

import bisect
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from crisiscomms.detection.levels import (
    DetectorState,
    Level,
    LevelChanged,
    Notify,
    RaiseAlert,
    Resolve,
    Thresholds,
    TriggerAlert,
    escalation_due,
    minute_key,
    raw_level,
    signals,
    step,
)

TH = Thresholds()
DAY0 = datetime(2026, 11, 27, 0, 0, tzinfo=timezone.utc)
DAY1 = DAY0 + timedelta(days=1)
Rate = Callable[[int], float]


# --- synthetic aggregates ----------------------------------------------------------------------

def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k, product = k + 1, product * rng.random()
    return k


def _binomial(rng: random.Random, n: int, p: float) -> int:
    return sum(rng.random() < p for _ in range(n))


def aggregates(start: datetime, minutes: int, rate: float | Rate, *, source: str = "social",
               negative: float = 0.2, crisis: float = 0.0, high_reach: float = 0.0,
               sentiment: float = 0.1, seed: int = 1) -> list[dict]:
    """Per-minute records as crisiscomms.aws.post_store writes them; a minute without posts has none.

    `rate` is mean posts per minute (a number or a function of the minute index); each post is
    negative, crisis and (when negative) high-reach with the given probabilities.
    """
    rng = random.Random(seed)
    records = []
    for i in range(minutes):
        posts = _poisson(rng, rate(i) if callable(rate) else rate)
        if not posts:
            continue
        neg = _binomial(rng, posts, negative)
        records.append({
            "minute": minute_key(start + timedelta(minutes=i)), "source_type": source, "posts": posts,
            "negative": neg, "sentiment_sum": round(sentiment * (posts - neg) - 0.7 * neg, 3),
            "engagement": posts * 12, "reach": posts * 900,
            "crisis_posts": _binomial(rng, posts, crisis), "crisis_weight_sum": 0.0,
            "high_reach_negative": _binomial(rng, neg, high_reach),
        })
    for r in records:
        r["crisis_weight_sum"] = r["crisis_posts"] * 2.5
    return records


def background(minutes: int = 24 * 60, start: datetime = DAY0, seed: int = 1) -> list[dict]:
    """A bank's ordinary chatter: 2 social posts a minute, 20% negative; news now and then."""
    return (aggregates(start, minutes, 2.0, seed=seed)
            + aggregates(start, minutes, 0.05, source="news", negative=0.3, seed=seed + 1))


@dataclass
class Tick:
    now: datetime
    raw: Level
    reasons: list[str]
    level: Level
    decisions: list


def run(records: list[dict], start: datetime, minutes: int, *, state: DetectorState | None = None,
        thresholds: Thresholds = TH) -> tuple[DetectorState, list[Tick]]:
    """Evaluate once a minute, each time with only the aggregates a real read would return."""
    ordered = sorted(records, key=lambda r: r["minute"])
    keys = [r["minute"] for r in ordered]
    horizon = timedelta(minutes=thresholds.recent_minutes * (thresholds.baseline_windows + 1))
    state = state or DetectorState()
    ticks = []
    for i in range(minutes):
        now = start + timedelta(minutes=i)
        window = ordered[bisect.bisect_left(keys, minute_key(now - horizon)):bisect.bisect_left(keys, minute_key(now))]
        raw, reasons = raw_level(signals(window, now, thresholds, "social"),
                                 signals(window, now, thresholds, "news"), thresholds)
        state, decisions = step(state, raw, reasons, now, thresholds)
        ticks.append(Tick(now, raw, reasons, state.level, decisions))
    return state, ticks


def decisions_of(ticks: list[Tick], kind: type) -> list:
    return [d for t in ticks for d in t.decisions if isinstance(d, kind)]


def replay(raws: list[Level], *, start: datetime = DAY1, state: DetectorState | None = None,
           thresholds: Thresholds = TH, roundtrip: bool = False) -> tuple[DetectorState, list[list]]:
    """Feed raw levels one a minute straight to `step`; optionally store and reload the state each time."""
    state = state or DetectorState()
    out = []
    for i, raw in enumerate(raws):
        if roundtrip:
            state = DetectorState.from_dict(json.loads(json.dumps(state.to_dict())))
        state, decisions = step(state, raw, [f"raw {raw.name}"], start + timedelta(minutes=i), thresholds)
        out.append(decisions)
    return state, out


def flat(batches: list[list]) -> list:
    return [d for batch in batches for d in batch]


# --- signals -----------------------------------------------------------------------------------

def test_signals_follow_the_documented_formulas() -> None:
    now = DAY1 + timedelta(hours=1)
    base = [{"minute": minute_key(now - timedelta(minutes=m)), "source_type": "social", "posts": 1}
            for m in range(16, 24 * 60 + 16)]
    recent = [{"minute": minute_key(now - timedelta(minutes=m)), "source_type": "social", "posts": 3,
               "negative": 2, "sentiment_sum": -1.5, "crisis_posts": 1, "crisis_weight_sum": 2.0,
               "high_reach_negative": 1} for m in range(1, 16)]
    ignored = [{"minute": minute_key(now), "source_type": "social", "posts": 500},
               {"minute": minute_key(now - timedelta(minutes=3)), "source_type": "news", "posts": 500}]
    s = signals(base + recent + ignored, now, TH, "social")
    assert (s.posts, s.negative, s.crisis_posts, s.high_reach_negative) == (45, 30, 15, 15)
    assert s.baseline_centre == 15 and s.baseline_spread == pytest.approx(math.sqrt(15))
    assert s.z == pytest.approx(30 / math.sqrt(15)) and s.ratio == pytest.approx(3.0)
    assert s.negative_share == pytest.approx(2 / 3) and s.net_sentiment == pytest.approx(-0.5)
    assert s.crisis_weight == pytest.approx(30.0) and s.growth == pytest.approx(1.0)


def test_growth_compares_the_last_five_minutes_with_the_five_before_smoothed() -> None:
    now = DAY1
    records = [{"minute": minute_key(now - timedelta(minutes=m)), "source_type": "social", "posts": p}
               for m, p in [(1, 20), (3, 15), (6, 5), (9, 0)]]
    assert signals(records, now, TH, "social").growth == pytest.approx((35 + 5) / (5 + 5))


def test_a_zero_baseline_has_a_floor_so_three_posts_are_not_infinitely_unusual() -> None:
    records = [{"minute": minute_key(DAY1 - timedelta(minutes=2)), "source_type": "social", "posts": 3, "negative": 3}]
    s = signals(records, DAY1, TH, "social")
    assert s.baseline_centre == 0 and s.baseline_spread == 1.0 and s.z == pytest.approx(3.0)


def test_a_wide_baseline_uses_mad_not_the_poisson_floor() -> None:
    now = DAY1
    records = [{"minute": minute_key(now - timedelta(minutes=m)), "source_type": "social",
                "posts": 100 if (m // 15) % 2 else 0} for m in range(16, 24 * 60 + 16, 15)]
    s = signals(records, now, TH, "social")
    assert s.baseline_spread == pytest.approx(1.4826 * 50)


# --- raw level ---------------------------------------------------------------------------------

def _crisis_window(source: str = "social", posts: int = 4, negative: float = 0.9, crisis: float = 0.5) -> list[dict]:
    return aggregates(DAY1 - timedelta(minutes=15), 15, posts, source=source, negative=negative, crisis=crisis, seed=7)


def test_a_strong_negative_surge_with_crisis_terms_is_crisis_and_says_why() -> None:
    records = background(start=DAY1 - timedelta(days=1)) + _crisis_window(posts=30)
    level, reasons = raw_level(signals(records, DAY1, TH, "social"), signals(records, DAY1, TH, "news"), TH)
    assert level is Level.CRISIS
    assert any(r.startswith("social volume ") and "x baseline (z " in r for r in reasons), reasons
    assert any(r.startswith("social negative share ") and r.endswith(">= 60%") for r in reasons), reasons
    assert any(r.startswith("social crisis posts ") and r.endswith(">= 15") for r in reasons), reasons


def test_a_news_surge_with_crisis_terms_raises_the_level_on_its_own() -> None:
    records = background(start=DAY1 - timedelta(days=1)) + _crisis_window("news", posts=1, negative=0.7, crisis=0.4)
    social, news = signals(records, DAY1, TH, "social"), signals(records, DAY1, TH, "news")
    level, reasons = raw_level(social, news, TH)
    assert level >= Level.WARNING and all(r.startswith("news ") for r in reasons), (level, reasons)
    quiet_news = signals([], DAY1, TH, "news")
    assert raw_level(social, quiet_news, TH)[0] <= Level.WATCH


def test_negativity_without_a_surge_is_at_most_watch() -> None:
    records = aggregates(DAY1 - timedelta(days=1), 24 * 60 + 15, 3.0, negative=0.9, crisis=0.5)
    level, _ = raw_level(signals(records, DAY1, TH, "social"), signals([], DAY1, TH, "news"), TH)
    assert level is Level.WATCH


# --- scenarios ---------------------------------------------------------------------------------

def test_steady_background_for_a_day_never_goes_above_watch_or_triggers() -> None:
    _, ticks = run(background(2 * 24 * 60), DAY1, 24 * 60)
    assert max(t.raw for t in ticks) <= Level.WATCH
    assert max(t.level for t in ticks) <= Level.WATCH
    assert not decisions_of(ticks, TriggerAlert) and not decisions_of(ticks, Notify)


def _burst(start: datetime) -> list[dict]:
    """At 09:00 a complaint wave (+6 posts/min, 60% negative) that turns into a run on the bank at 09:30."""
    return (aggregates(start, 30, 6.0, negative=0.6, crisis=0.1, seed=11)
            + aggregates(start + timedelta(minutes=30), 30, 40.0, negative=0.85, crisis=0.4, seed=12))


def _burst_run() -> list[Tick]:
    burst = DAY1 + timedelta(hours=9)
    return run(background(24 * 60 + 10 * 60) + _burst(burst), burst - timedelta(minutes=30), 90)[1]


def test_a_negative_burst_raises_warning_after_n_evaluations_then_crisis_when_it_grows() -> None:
    ticks = _burst_run()
    first_raw = next(i for i, t in enumerate(ticks) if t.raw >= Level.WARNING)
    first_level = next(i for i, t in enumerate(ticks) if t.level >= Level.WARNING)
    assert first_level - first_raw == TH.raise_after - 1
    assert ticks[first_level].now <= DAY1 + timedelta(hours=9, minutes=10), "raised within ten minutes"
    triggers, raises = decisions_of(ticks, TriggerAlert), decisions_of(ticks, RaiseAlert)
    assert [(d.level, ticks[first_level].decisions[1:]) for d in triggers] == [
        (Level.WARNING, [TriggerAlert(triggers[0].alert_id, Level.WARNING, triggers[0].reasons),
                         Notify(triggers[0].alert_id, Level.WARNING)])]
    assert [(d.alert_id, d.level) for d in raises] == [(triggers[0].alert_id, Level.CRISIS)]
    assert [n.level for n in decisions_of(ticks, Notify)] == [Level.WARNING, Level.CRISIS]
    assert ticks[-1].level is Level.CRISIS and not decisions_of(ticks, Resolve)


def test_a_positive_viral_post_never_goes_above_watch() -> None:
    viral = DAY1 + timedelta(hours=12)
    records = background(24 * 60 + 14 * 60) + aggregates(viral, 90, lambda i: 20.0 * min(i + 1, 15), negative=0.05,
                                                          sentiment=0.8, seed=5)
    _, ticks = run(records, viral - timedelta(minutes=5), 100)
    assert max(t.raw for t in ticks) is Level.WATCH, "the surge is seen"
    assert max(t.level for t in ticks) is Level.WATCH
    assert not decisions_of(ticks, TriggerAlert) and not decisions_of(ticks, Notify)


def test_slow_drift_of_two_percent_an_hour_never_alerts() -> None:
    records = aggregates(DAY0, 2 * 24 * 60, lambda i: 2.0 * 1.02 ** (i / 60), negative=0.15, sentiment=0.0, seed=3)
    _, ticks = run(records, DAY1, 24 * 60)
    assert max(t.level for t in ticks) <= Level.WATCH
    assert not decisions_of(ticks, TriggerAlert) and not decisions_of(ticks, Notify)


def test_a_brand_new_topic_ignores_three_negative_posts_but_alerts_on_sixty_crisis_posts() -> None:
    few = [{"minute": minute_key(DAY1 + timedelta(minutes=m)), "source_type": "social", "posts": 1, "negative": 1,
            "sentiment_sum": -0.8, "crisis_posts": 1, "crisis_weight_sum": 3.0, "high_reach_negative": 1}
           for m in (1, 4, 9)]
    _, ticks = run(few, DAY1, 30)
    assert max(t.raw for t in ticks) is Level.NORMAL and not flat([t.decisions for t in ticks])
    many = [{**r, "minute": minute_key(DAY1 + timedelta(minutes=m)), "posts": 4, "negative": 4, "crisis_posts": 4}
            for r in few[:1] for m in range(15)]
    _, ticks = run(many, DAY1, 16)
    triggers = decisions_of(ticks, TriggerAlert)
    assert [t.level for t in triggers] == [Level.CRISIS]


# --- flap control ------------------------------------------------------------------------------

def test_flapping_raw_input_neither_raises_nor_notifies() -> None:
    state, batches = replay([Level.WARNING, Level.NORMAL] * 60)
    assert state.level is Level.NORMAL and flat(batches) == []


def test_flapping_after_a_warning_keeps_one_alert_and_one_notification() -> None:
    state, batches = replay([Level.WARNING] * 2 + [Level.NORMAL, Level.WARNING] * 60)
    decisions = flat(batches)
    assert state.level is Level.WARNING and state.alert_id is not None
    assert [type(d) for d in decisions] == [LevelChanged, TriggerAlert, Notify]


def test_a_jump_counts_for_the_lower_levels() -> None:
    state, _ = replay([Level.CRISIS, Level.WARNING])
    assert state.level is Level.WARNING
    state, batches = replay([Level.WARNING, Level.CRISIS, Level.CRISIS])
    assert [[type(d) for d in b] for b in batches] == [[], [LevelChanged, TriggerAlert, Notify],
                                                       [LevelChanged, RaiseAlert, Notify]]
    assert state.level is Level.CRISIS


def test_watch_never_notifies() -> None:
    state, batches = replay([Level.WATCH] * 30)
    assert state.level is Level.WATCH
    assert [type(d) for d in flat(batches)] == [LevelChanged]


def test_a_restart_mid_crisis_continues_without_a_second_trigger() -> None:
    raws = [t.raw for t in _burst_run()]
    kept, in_memory = replay(raws)
    restored, restarted = replay(raws, roundtrip=True)
    assert restarted == in_memory and restored == kept
    assert len(decisions_of([Tick(DAY1, Level.NORMAL, [], Level.NORMAL, flat(restarted))], TriggerAlert)) == 1


def test_the_stored_state_is_plain_json_with_level_names() -> None:
    state, _ = replay([Level.CRISIS] * 2)
    stored = state.to_dict()
    assert stored["level"] == "CRISIS" and stored["notified_level"] == "CRISIS"
    assert json.loads(json.dumps(stored)) == stored and DetectorState.from_dict(stored) == state


def test_repeating_an_evaluated_minute_changes_nothing() -> None:
    state, _ = replay([Level.WARNING])
    again, decisions = step(state, Level.CRISIS, ["late retry"], DAY1 + timedelta(seconds=42), TH)
    earlier, old = step(state, Level.CRISIS, ["out of order"], DAY1 - timedelta(minutes=3), TH)
    assert (again, decisions) == (state, []) and (earlier, old) == (state, [])
    moved, batch = step(state, Level.WARNING, ["next minute"], DAY1 + timedelta(minutes=1), TH)
    assert moved.level is Level.WARNING and any(isinstance(d, TriggerAlert) for d in batch)


def test_an_alert_resolves_only_after_m_quiet_minutes() -> None:
    state, _ = replay([Level.CRISIS] * 2)
    quiet = [Level.NORMAL] * TH.lower_after
    state, batches = replay(quiet, start=DAY1 + timedelta(minutes=2), state=state)
    assert flat(batches[:-1]) == []
    assert [type(d) for d in batches[-1]] == [LevelChanged, Resolve]
    assert state.level is Level.NORMAL and state.alert_id is None
    assert state.cooldown_until == DAY1 + timedelta(minutes=2 + TH.lower_after - 1 + TH.cooldown_minutes)


def test_a_quiet_stretch_lowers_to_the_highest_level_seen_and_keeps_the_alert_open() -> None:
    state, _ = replay([Level.CRISIS] * 2)
    quiet = [Level.WARNING] + [Level.NORMAL] * (TH.lower_after - 1)
    state, batches = replay(quiet, start=DAY1 + timedelta(minutes=2), state=state)
    assert state.level is Level.WARNING and state.alert_id is not None
    assert [type(d) for d in flat(batches)] == [LevelChanged]


def test_during_cool_down_only_crisis_opens_a_new_alert() -> None:
    state, _ = replay([Level.WARNING] * 2 + [Level.NORMAL] * TH.lower_after)
    resolved_at = DAY1 + timedelta(minutes=2 + TH.lower_after)
    state, batches = replay([Level.WARNING] * 5, start=resolved_at, state=state)
    assert state.level is Level.WARNING and state.alert_id is None
    assert [type(d) for d in flat(batches)] == [LevelChanged]
    state, batches = replay([Level.CRISIS] * 2, start=resolved_at + timedelta(minutes=5), state=state)
    assert [(type(d), getattr(d, "level", None)) for d in flat(batches)] == [
        (LevelChanged, Level.CRISIS), (TriggerAlert, Level.CRISIS), (Notify, Level.CRISIS)]


def test_a_warning_that_outlasts_the_cool_down_opens_an_alert_then() -> None:
    state, _ = replay([Level.WARNING] * 2 + [Level.NORMAL] * TH.lower_after)
    start = DAY1 + timedelta(minutes=2 + TH.lower_after)
    state, batches = replay([Level.WARNING] * (TH.cooldown_minutes + 2), start=start, state=state)
    opened = [i for i, b in enumerate(batches) if any(isinstance(d, TriggerAlert) for d in b)]
    assert opened == [TH.cooldown_minutes - 1] and state.alert_id is not None


# --- escalation and configuration --------------------------------------------------------------

@pytest.mark.parametrize(("alert", "minutes_later", "due"), [
    ({"status": "open", "triggered_at": "2026-11-28T09:00:00Z"}, 10, True),
    ({"status": "open", "triggered_at": "2026-11-28T09:00:00Z"}, 9, False),
    ({"status": "open", "triggered_at": "2026-11-28T09:00:00"}, 11, True),
    ({"status": "acknowledged", "triggered_at": "2026-11-28T09:00:00Z"}, 60, False),
    ({"status": "resolved", "triggered_at": "2026-11-28T09:00:00Z"}, 60, False),
    ({"status": "open", "triggered_at": "2026-11-28T09:00:00Z", "escalated_at": "2026-11-28T09:10:00Z"}, 60, False),
])
def test_escalation_is_due_once_for_an_unacknowledged_alert(alert: dict, minutes_later: int, due: bool) -> None:
    now = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc) + timedelta(minutes=minutes_later)
    assert escalation_due(alert, now, TH.escalate_after_minutes) is due


def test_thresholds_are_configurable_and_checked() -> None:
    custom = Thresholds(raise_after=3, social=TH.social.model_copy(update={"min_posts": 50}))
    assert custom.social.min_posts == 50 and custom.news.min_posts == 5 and custom.baseline_windows == 96
    with pytest.raises(ValidationError):
        Thresholds(recent_minutes=8)
    state, _ = replay([Level.WARNING] * 2, thresholds=custom)
    assert state.level is Level.NORMAL
