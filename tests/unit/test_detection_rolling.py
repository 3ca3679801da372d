"""The rolling baseline against the full-read reference: same Signals every minute, a handful of items read."""
from __future__ import annotations

import bisect
import copy
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import crisiscomms.detection.run as detector_run
from crisiscomms.detection.levels import (
    DetectorState,
    RollingBaseline,
    Signals,
    Thresholds,
    baseline_from,
    baseline_gap,
    minute_key,
    raw_level,
    roll,
    rolling_signals,
    signals,
    step,
)
from crisiscomms.detection.run import Detector
from crisiscomms.watch import Topic

TH = Thresholds()
T0 = datetime(2026, 11, 28, 8, 0, tzinfo=timezone.utc)
TOPIC = Topic(id="harbor", names=["Harbor Bank"])
MINUTE = timedelta(minutes=1)
FIELDS = ("posts", "negative", "sentiment_sum", "engagement", "reach", "crisis_posts", "crisis_weight_sum",
          "high_reach_negative")


# --- a post store whose aggregates fill as posts arrive, some of them late -------------------------

@dataclass(order=True)
class Arrival:
    at: datetime
    minute: datetime = field(compare=False)
    source: str = field(compare=False)
    figures: dict[str, float] = field(compare=False)


class Store:
    """Minute aggregates as the post store keeps them (keyed topic, "<minute>#<source>"), counting reads."""

    def __init__(self, arrivals: list[Arrival]) -> None:
        self._pending = sorted(arrivals, reverse=True)
        self._items: dict[str, dict[str, Any]] = {}
        self._keys: list[str] = []
        self.queries = 0
        self.items_read = 0

    def advance(self, now: datetime) -> None:
        while self._pending and self._pending[-1].at <= now:
            arrival = self._pending.pop()
            minute = minute_key(arrival.minute)
            key = f"{minute}#{arrival.source}"
            if key not in self._items:
                bisect.insort(self._keys, key)
                self._items[key] = {"topic": TOPIC.id, "minute_key": key, "minute": minute, "source_type": arrival.source}
            item = self._items[key]
            for name, value in arrival.figures.items():
                item[name] = item.get(name, 0) + value

    def minute_aggregates(self, topic: str, start: str, end: str) -> list[dict[str, Any]]:
        """Like PostRepository.minute_aggregates: minute_key BETWEEN start AND end, minute < end."""
        keys = self._keys[bisect.bisect_left(self._keys, start):bisect.bisect_right(self._keys, end)]
        found = [dict(self._items[k]) for k in keys if self._items[k]["minute"] < end]
        self.queries += 1
        self.items_read += len(found)
        return found

    def topic_posts(self, topic: str, day: str, *, by_risk: bool = False, limit: int = 50) -> list[dict[str, Any]]:
        return []


class Alerts:
    """The alert repository's detector-state methods over a dict (stored copies, as DynamoDB would)."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []

    def detector_state(self, topic: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.items.get(topic))

    def save_detector_state(self, topic: str, state: dict[str, Any]) -> None:
        self.items[topic] = copy.deepcopy(state)

    def for_topic(self, topic: str, *, limit: int = 20) -> list[dict[str, Any]]:
        return []

    def create(self, alert: dict[str, Any], entry: Any) -> None:
        self.created.append(alert)

    def update(self, alert_id: str, **_: Any) -> bool:
        return True

    def audit(self, entry: Any) -> None:
        pass


# --- generated traffic ---------------------------------------------------------------------------

def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k, product = k + 1, product * rng.random()
    return k


def traffic(start: datetime, minutes: int, rate: Callable[[datetime], float], *, source: str = "social",
            negative: Callable[[datetime], float] = lambda m: 0.2, crisis: Callable[[datetime], float] = lambda m: 0.0,
            arrive: Callable[[datetime, random.Random], datetime] | None = None, late_within: int = TH.recent_minutes,
            seed: int = 1) -> list[Arrival]:
    """A post batch per minute; it arrives at arrive(minute), and now and then one post of it up to W minutes late."""
    rng = random.Random(seed)
    out = []
    for i in range(minutes):
        minute = start + i * MINUTE
        posts = _poisson(rng, rate(minute))
        if not posts:
            continue
        neg = sum(rng.random() < negative(minute) for _ in range(posts))
        crisis_posts = sum(rng.random() < crisis(minute) for _ in range(posts))
        figures = {"posts": posts, "negative": neg, "sentiment_sum": round(0.3 * (posts - neg) - 0.7 * neg, 6),
                   "engagement": 12 * posts, "reach": 900 * posts, "crisis_posts": crisis_posts,
                   "crisis_weight_sum": round(2.5 * crisis_posts + rng.random(), 6),
                   "high_reach_negative": sum(rng.random() < 0.1 for _ in range(neg))}
        at = arrive(minute, rng) if arrive else minute + MINUTE - timedelta(seconds=rng.randint(1, 50))
        split = rng.random()
        if split < 0.3 and posts > neg:  # a positive post of the minute arrives a few minutes later, within W
            late = dict(figures)
            late["posts"], late["negative"] = 1, 0
            for k in ("sentiment_sum", "engagement", "reach", "crisis_weight_sum"):
                late[k] = round(figures[k] / posts, 6)
                figures[k] = round(figures[k] - late[k], 6)
            late["crisis_posts"] = late["high_reach_negative"] = 0
            figures["posts"] -= 1
            out.append(Arrival(minute + MINUTE + timedelta(minutes=rng.randint(1, late_within - 1)),
                               minute, source, late))
        out.append(Arrival(at, minute, source, figures))
    return out


def scenario(start: datetime, hours: int, seed: int = 7, window: int = TH.recent_minutes) -> list[Arrival]:
    """A day of history then `hours` judged: quiet, silent gaps, a late-polled news feed, a stalled X, a surge."""
    begin = start - timedelta(hours=25)
    surge = (start + timedelta(hours=2), start + timedelta(hours=2, minutes=40))
    silent = [(start - timedelta(hours=20), start - timedelta(hours=17)),   # a silent night in the baseline
              (start + timedelta(minutes=70), start + timedelta(minutes=95))]
    stall = (start + timedelta(minutes=30), start + timedelta(minutes=30 + window - 3))

    def social_rate(m: datetime) -> float:
        if any(a <= m < b for a, b in silent):
            return 0.0
        return 45.0 if surge[0] <= m < surge[1] else 2.0

    def stalled(m: datetime, rng: random.Random) -> datetime:  # X stalls: the backlog arrives at once, <= W late
        if stall[0] <= m < stall[1]:
            return stall[1] + timedelta(seconds=10)
        return m + MINUTE - timedelta(seconds=rng.randint(1, 50))

    def polled(m: datetime, rng: random.Random) -> datetime:  # news feeds are polled every five minutes
        after = m + MINUTE
        return after + timedelta(minutes=(-after.minute) % 5, seconds=5)

    minutes = (hours + 25) * 60
    in_surge = lambda m: surge[0] <= m < surge[1]  # noqa: E731
    return (traffic(begin, minutes, social_rate, negative=lambda m: 0.85 if in_surge(m) else 0.2,
                    crisis=lambda m: 0.4 if in_surge(m) else 0.0, arrive=stalled, late_within=window, seed=seed)
            + traffic(begin, minutes, lambda m: 0.6 if in_surge(m) else 0.05, source="news",
                      negative=lambda m: 0.7 if in_surge(m) else 0.3, crisis=lambda m: 0.4 if in_surge(m) else 0.0,
                      arrive=polled, late_within=window, seed=seed + 1))


# --- the comparison ------------------------------------------------------------------------------

@dataclass
class Run:
    now: datetime
    how: str
    items: int
    queries: int
    result: dict[str, Any]


def compare(store: Store, schedule: list[tuple[datetime, str]], thresholds: Thresholds,
            monkeypatch: pytest.MonkeyPatch) -> list[Run]:
    """Run the real Detector on `schedule` and assert its Signals and levels equal the full-read reference.

    Each entry is (now, what): "run", "lost" (the stored baseline gone before the run) or "replay" (a
    run for an earlier minute, store not advanced).
    """
    seen: list[Signals] = []

    def spy(*args: Any) -> Signals:
        seen.append(rolling_signals(*args))
        return seen[-1]

    monkeypatch.setattr(detector_run, "rolling_signals", spy)
    alerts = Alerts()
    clock = {"now": schedule[0][0]}
    detector = Detector(store, alerts, thresholds=thresholds, clock=lambda: clock["now"], send_sms=lambda a, t: "m",
                        oncall_topic="oncall", escalation_topic="escalation")
    span = timedelta(minutes=thresholds.recent_minutes * (thresholds.baseline_windows + 1) + 1)
    reference_state, runs = DetectorState(), []
    for now, what in schedule:
        if what != "replay":
            store.advance(now)
        if what == "lost":
            alerts.items[TOPIC.id].pop("baseline")
        clock["now"] = now
        queries, items = store.queries, store.items_read
        seen.clear()
        result = detector.evaluate(TOPIC)
        runs.append(Run(now, result["baseline"], store.items_read - items, store.queries - queries, result))
        everything = store.minute_aggregates(TOPIC.id, minute_key(now - span), minute_key(now))
        store.queries, store.items_read = queries + runs[-1].queries, items + runs[-1].items
        expected = [signals(everything, now, thresholds, "social"), signals(everything, now, thresholds, "news")]
        assert seen == expected, (now, what, result["baseline"])
        raw, reasons = raw_level(*expected, thresholds)
        reference_state, _ = step(reference_state, raw, reasons, now, thresholds)
        assert (result["raw"], result["level"], result["reasons"]) == (raw.name, reference_state.level.name, reasons)
    return runs


def test_rolling_signals_equal_the_full_read_every_minute_through_surge_gaps_late_data_and_lost_state(
        monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(scenario(T0, hours=4))
    at = lambda m: T0 + timedelta(minutes=m, seconds=20)  # noqa: E731
    schedule: list[tuple[datetime, str]] = []
    for m in range(4 * 60):
        if 100 <= m < 110 or 150 <= m < 170:  # ten missed runs (caught up), then twenty (rebuilt)
            continue
        schedule.append((at(m), "lost" if m == 200 else "run"))
        if m == 210:
            schedule.append((at(m) + timedelta(seconds=15), "run"))    # the same minute twice
            schedule.append((at(m - 4), "replay"))                      # a late retry of an earlier minute
    runs = compare(store, schedule, TH, monkeypatch)

    rebuilt = {(r.now - T0) // MINUTE: r.how for r in runs if r.how != "rolled"}
    assert rebuilt == {0: "rebuilt: missing", 170: "rebuilt: stale", 200: "rebuilt: missing", 206: "rebuilt: ahead"}
    assert "CRISIS" in {r.result["level"] for r in runs} and runs[-1].result["level"] == "NORMAL"
    steady = [r for r in runs if r.how == "rolled"]
    assert all(r.queries == 1 for r in runs)
    assert max(r.items for r in steady) <= 2 * (2 * TH.recent_minutes + 1)        # after ten missed runs
    typical = sorted(r.items for r in steady)[len(steady) // 2]
    assert typical <= TH.recent_minutes + 1 + 2, typical                          # W+1 social minutes, news now and then
    full = [r.items for r in runs if r.how != "rolled"]
    assert min(full) > 40 * typical


@pytest.mark.parametrize("thresholds", [Thresholds(baseline_hours=1), Thresholds(recent_minutes=10, velocity_minutes=4,
                                                                                   baseline_hours=2)])
def test_other_windows_and_baselines_match_too(thresholds: Thresholds, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(scenario(T0, hours=3, seed=11, window=thresholds.recent_minutes))
    runs = compare(store, [(T0 + timedelta(minutes=m, seconds=5), "run") for m in range(150, 3 * 60)], thresholds,
                   monkeypatch)
    assert [r.how for r in runs].count("rolled") == len(runs) - 1


# --- late data, cold start and the stored form -----------------------------------------------------

def _flat(now: datetime, minutes: int, posts: int = 2) -> list[dict[str, Any]]:
    return [{"minute": minute_key(now - m * MINUTE), "source_type": "social", "posts": posts}
            for m in range(1, minutes + 1)]


def test_posts_more_than_w_minutes_late_miss_only_the_baseline_until_it_is_rebuilt() -> None:
    now, window = T0, TH.recent_minutes
    busy = lambda age: ((age - window - 1) // window) % 2 == 0  # noqa: E731  every other baseline window
    records = [r for r in _flat(now, TH.baseline_windows * window + window)
               if busy((now - datetime.fromisoformat(r["minute"]).replace(tzinfo=timezone.utc)) // MINUTE)
               or r["minute"] > minute_key(now - (window + 1) * MINUTE)]
    baseline = baseline_from(records, now, TH)
    records.append({"minute": minute_key(now - 35 * MINUTE), "source_type": "social", "posts": 500})  # folded 19 runs ago
    reference = signals(records, now, TH, "social")
    rolled = rolling_signals(baseline, records, now, TH, "social")
    assert (rolled.posts, rolled.growth) == (reference.posts, reference.growth) == (30, 1.0)
    assert (rolled.baseline_centre, reference.baseline_centre) == (15, 30)         # one quiet window no longer quiet
    assert rolling_signals(baseline_from(records, now, TH), records, now, TH, "social") == reference


def test_a_post_late_inside_the_recent_window_counts_at_once() -> None:
    now = T0
    records = _flat(now, 24 * 60 + 16)
    baseline = baseline_from(records, now - MINUTE, TH)
    records[13].update(posts=42, negative=40)                                      # 14 minutes ago, 40 more
    rolled = rolling_signals(roll(baseline, records, now, TH), records, now, TH, "social")
    assert rolled == signals(records, now, TH, "social") and (rolled.posts, rolled.negative) == (70, 40)


def test_the_gap_decides_between_rolling_and_a_full_read() -> None:
    now = T0
    baseline = baseline_from(_flat(now, 24 * 60 + 15), now, TH)
    assert baseline_gap(None, now, TH) == "missing"
    assert baseline_gap(baseline, now, TH) is None                                 # the same minute again
    assert baseline_gap(baseline, now + 15 * MINUTE, TH) is None
    assert baseline_gap(baseline, now + 16 * MINUTE, TH) == "stale"
    assert baseline_gap(baseline, now - MINUTE, TH) == "ahead"
    assert baseline_gap(baseline, now, Thresholds(baseline_hours=12)) == "resized"


def test_rolling_forward_after_missed_runs_equals_a_rebuild() -> None:
    records = [{"minute": minute_key(T0 - m * MINUTE), "source_type": s, "posts": (m * 7 + len(s)) % 5}
               for m in range(-20, 24 * 60 + 16) for s in ("social", "news")]
    records.sort(key=lambda r: (r["minute"], r["source_type"]))
    baseline = baseline_from(records, T0, TH)
    for later in (1, 7, 15):
        now = T0 + later * MINUTE
        assert roll(baseline, records, now, TH) == baseline_from(records, now, TH)


def test_the_stored_baseline_is_bounded_small_and_round_trips() -> None:
    rng = random.Random(3)
    records = [{"minute": minute_key(T0 - m * MINUTE), "source_type": s, "posts": rng.randint(0, 4) if s == "social"
                else int(rng.random() < 0.05)} for m in range(1, 24 * 60 + 16) for s in ("social", "news")]
    baseline = baseline_from(records, T0, TH)
    stored = baseline.to_dict()
    assert set(stored) == {"through", "social", "news"} and stored["through"] == "2026-11-28T07:45"
    assert all(len(c) == 24 * 60 for c in baseline.counts.values())
    assert len(stored["social"]) + len(stored["news"]) < 1000, "under 1 KB: one write unit"
    assert RollingBaseline.from_dict(stored) == baseline
    assert RollingBaseline.from_dict(None) is None
    assert RollingBaseline.from_dict({"through": "yesterday", "social": b"", "news": b""}) is None
    assert RollingBaseline.from_dict({**stored, "news": b"not zlib"}) is None
    rolled = roll(baseline, records, T0 + MINUTE, TH)
    assert all(len(c) == 24 * 60 for c in rolled.counts.values()), "fixed size as it rolls"


def test_a_baseline_not_rolled_to_now_is_refused() -> None:
    baseline = baseline_from(_flat(T0, 24 * 60 + 15), T0, TH)
    with pytest.raises(ValueError, match="not at the recent window"):
        rolling_signals(baseline, [], T0 + MINUTE, TH, "social")
