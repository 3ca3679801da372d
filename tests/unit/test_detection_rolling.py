"""The rolling state against the full-read reference: same Signals every minute, late posts included,
with at most three arrivals items read a run."""
from __future__ import annotations

import bisect
import copy
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

import crisiscomms.detection.run as detector_run
from crisiscomms.aws.dynamo import to_value
from crisiscomms.aws.post_store import PostRepository, PostTables
from crisiscomms.detection.levels import (
    OPEN_ARRIVALS,
    DetectorState,
    RollingState,
    Signals,
    Thresholds,
    minute_key,
    raw_level,
    rebuilt,
    roll,
    rolling_gap,
    rolling_signals,
    signals,
    step,
    with_open,
)
from crisiscomms.detection.run import Detector
from crisiscomms.models import Post, ScoredPost
from crisiscomms.models.posts import CARRIED_LATENESS_MINUTES
from crisiscomms.watch import Topic
from crisiscomms_local import moto_transactions

TH = Thresholds()
T0 = datetime(2026, 11, 28, 8, 0, tzinfo=timezone.utc)
TOPIC = Topic(id="harbor", names=["Harbor Bank"])
MINUTE = timedelta(minutes=1)
FIELDS = ("posts", "negative", "sentiment_sum", "engagement", "reach", "crisis_posts", "crisis_weight_sum",
          "high_reach_negative", "early_warning")
STEADY_ITEMS = OPEN_ARRIVALS + 2  # a run after the previous minute's: the arrivals of E - 2 (now closed), E - 1, E


# --- a post store whose aggregates and arrivals items fill as posts arrive, some of them late ---------

@dataclass
class Arrival:
    at: datetime  # its ingested_at, whose minute names its arrivals item
    minute: datetime  # its published minute
    source: str
    figures: dict[str, float]
    commit: timedelta = timedelta(0)  # how long after `at` its transaction commits

    @property
    def committed(self) -> datetime:
        return self.at + self.commit


def _floor(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


def _as_read(value: Any) -> Any:
    """A stored number as `crisiscomms.aws.dynamo.from_item` gives it (int when whole, else float)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class Store:
    """The post store's minute aggregates and arrivals items over dicts, with DynamoDB's decimal sums,
    counting Query calls and items read; `during_full_read` runs once inside the next full read."""

    def __init__(self, arrivals: list[Arrival]) -> None:
        self._pending = sorted(arrivals, key=lambda a: a.committed, reverse=True)
        self._minutes: dict[str, dict[str, Any]] = {}
        self._keys: list[str] = []
        self._arrived: dict[str, dict[tuple[str, str], dict[str, Decimal]]] = {}
        self.queries = 0
        self.items_read = 0
        self.during_full_read: tuple[str, Callable[[], None]] | None = None

    def add(self, arrival: Arrival) -> None:
        minute, arrived = minute_key(arrival.minute), minute_key(arrival.at)
        key = f"{minute}#{arrival.source}"
        if key not in self._minutes:
            bisect.insort(self._keys, key)
            self._minutes[key] = {"topic": TOPIC.id, "minute_key": key, "minute": minute, "source_type": arrival.source}
        item = self._minutes[key]
        figures = {name: Decimal(to_value(arrival.figures.get(name, 0))["N"]) for name in FIELDS}
        for name, value in figures.items():
            item[name] = item.get(name, Decimal(0)) + value
        if abs((_floor(arrival.at) - _floor(arrival.minute)) // MINUTE) <= CARRIED_LATENESS_MINUTES:
            sums = self._arrived.setdefault(arrived, {}).setdefault((minute, arrival.source),
                                                                    dict.fromkeys(FIELDS, Decimal(0)))
            for name, value in figures.items():
                sums[name] += value

    def advance(self, now: datetime) -> None:
        while self._pending and self._pending[-1].committed <= now:
            self.add(self._pending.pop())

    def minute_aggregates(self, topic: str, start: str, end: str, *, exact: bool = False,
                          consistent: bool = False) -> list[dict[str, Any]]:
        """Like PostRepository.minute_aggregates: minute_key BETWEEN start AND end, minute < end."""
        hook = self.during_full_read if exact else None
        if hook and hook[0] == "before":
            self.during_full_read = None
            hook[1]()
        keys = self._keys[bisect.bisect_left(self._keys, start):bisect.bisect_right(self._keys, end)]
        found = [dict(self._minutes[k]) for k in keys if self._minutes[k]["minute"] < end]
        if hook and hook[0] == "after":
            self.during_full_read = None
            hook[1]()
        self.queries += 1
        self.items_read += len(found)
        return found if exact else [{k: _as_read(v) for k, v in item.items()} for item in found]

    def arrivals(self, topic: str, since: str) -> list[dict[str, Any]]:
        """Like PostRepository.arrivals: a record per arrival minute, published minute and source type."""
        found = sorted(a for a in self._arrived if a >= since)
        self.queries += 1
        self.items_read += len(found)
        return [{"arrived": a, "minute": m, "source_type": s, **sums}
                for a in found for (m, s), sums in sorted(self._arrived[a].items())]

    def topic_posts(self, topic: str, day: str, *, by_risk: bool = False, limit: int = 50) -> list[dict[str, Any]]:
        return []


class Crash(Exception):
    pass


class Alerts:
    """The alert repository's detector-state methods over a dict (stored copies, as DynamoDB would).

    `crash`: "state" fails before anything is saved, "baseline" after the flap state and before the
    rolling state (two PutItems in the real repository).
    """

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.crash: str | None = None

    def detector_state(self, topic: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.items.get(topic))

    def save_detector_state(self, topic: str, state: dict[str, Any]) -> None:
        if self.crash == "state":
            raise Crash("before the state")
        baseline = state.get("baseline")
        kept = self.items.get(topic, {}).get("baseline")
        self.items[topic] = copy.deepcopy({k: v for k, v in state.items() if k != "baseline"})
        if self.crash == "baseline":
            if kept is not None:
                self.items[topic]["baseline"] = kept
            raise Crash("between the state and the rolling state")
        self.items[topic]["baseline"] = copy.deepcopy(baseline)

    def get(self, alert_id: str) -> dict[str, Any] | None:
        return None

    def create(self, alert: dict[str, Any], entry: Any) -> None:
        pass

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
    """A post batch per minute; it arrives at arrive(minute), and now and then one post of it up to
    `late_within` minutes late (past the recent window too when that is longer than W)."""
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
                   "high_reach_negative": sum(rng.random() < 0.1 for _ in range(neg)),
                   "early_warning": sum(rng.random() < 0.05 for _ in range(crisis_posts))}
        at = arrive(minute, rng) if arrive else minute + MINUTE - timedelta(seconds=rng.randint(1, 50))
        commit = timedelta(seconds=50) if rng.random() < 0.1 else timedelta(0)  # built in one minute, stored in the next
        split = rng.random()
        if split < 0.3 and posts > neg:  # a positive post of the minute arrives later
            late = dict(figures)
            late["posts"], late["negative"] = 1, 0
            for k in ("sentiment_sum", "engagement", "reach", "crisis_weight_sum"):
                late[k] = round(figures[k] / posts, 6)
                figures[k] = round(figures[k] - late[k], 6)
            late["crisis_posts"] = late["high_reach_negative"] = late["early_warning"] = 0
            figures["posts"] -= 1
            out.append(Arrival(minute + MINUTE + timedelta(minutes=rng.randint(1, late_within - 1), seconds=rng.randint(0, 59)),
                               minute, source, late))
        out.append(Arrival(at, minute, source, figures, commit))
    return out


def scenario(start: datetime, hours: int, seed: int = 7, window: int = TH.recent_minutes,
             late_within: int = 40) -> list[Arrival]:
    """A day of history then `hours` judged: quiet, silent gaps, a late-polled news feed, a stalled X,
    a surge, and posts arriving up to `late_within` minutes after their minute."""
    begin = start - timedelta(hours=25)
    surge = (start + timedelta(hours=2), start + timedelta(hours=2, minutes=40))
    silent = [(start - timedelta(hours=20), start - timedelta(hours=17)),   # a silent night in the baseline
              (start + timedelta(minutes=70), start + timedelta(minutes=95))]
    stall = (start + timedelta(minutes=30), start + timedelta(minutes=30 + window - 3))

    def social_rate(m: datetime) -> float:
        if any(a <= m < b for a, b in silent):
            return 0.0
        return 45.0 if surge[0] <= m < surge[1] else 2.0

    def stalled(m: datetime, rng: random.Random) -> datetime:  # X stalls: the backlog arrives at once
        if stall[0] <= m < stall[1]:
            return stall[1] + timedelta(seconds=10)
        return m + MINUTE - timedelta(seconds=rng.randint(1, 50))

    def polled(m: datetime, rng: random.Random) -> datetime:  # news feeds are polled every five minutes
        after = m + MINUTE
        return after + timedelta(minutes=(-after.minute) % 5, seconds=5)

    minutes = (hours + 25) * 60
    in_surge = lambda m: surge[0] <= m < surge[1]  # noqa: E731
    return (traffic(begin, minutes, social_rate, negative=lambda m: 0.85 if in_surge(m) else 0.2,
                    crisis=lambda m: 0.4 if in_surge(m) else 0.0, arrive=stalled, late_within=late_within, seed=seed)
            + traffic(begin, minutes, lambda m: 0.6 if in_surge(m) else 0.05, source="news",
                      negative=lambda m: 0.7 if in_surge(m) else 0.3, crisis=lambda m: 0.4 if in_surge(m) else 0.0,
                      arrive=polled, late_within=late_within, seed=seed + 1))


# --- the comparison ------------------------------------------------------------------------------

@dataclass
class Run:
    now: datetime
    how: str
    items: int
    queries: int
    result: dict[str, Any]
    what: str


def compare(store: Store, schedule: list[tuple[datetime, str]], thresholds: Thresholds,
            monkeypatch: pytest.MonkeyPatch) -> list[Run]:
    """Run the real Detector on `schedule` and assert its Signals and levels equal the full-read reference
    (a full read of the aggregates at the time of the run) every time.

    Each entry is (now, what): "run", "lost" (the stored rolling state gone before the run), "replay" (a
    run for an earlier minute, store not advanced), "crash-state" / "crash-baseline" (the run fails
    before saving anything / between the two saves, and runs again at once), "stored-meanwhile-before"
    / "-after" (the state lost, and a post stored while the full read lists the minutes, or just after).
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
        if what == "lost" or what.startswith("stored-meanwhile"):
            alerts.items[TOPIC.id].pop("baseline")
        if what.startswith("stored-meanwhile"):
            late = Arrival(now, now - 3 * MINUTE, "social", {f: int(f != "early_warning") for f in FIELDS})
            store.during_full_read = (what.rpartition("-")[2], lambda: store.add(late))
        clock["now"] = now
        queries, items = store.queries, store.items_read
        if what.startswith("crash"):
            alerts.crash = what.partition("-")[2]
            seen.clear()
            with pytest.raises(Crash):
                detector.evaluate(TOPIC)
            alerts.crash = None
            first = list(seen)
        seen.clear()
        result = detector.evaluate(TOPIC)
        runs.append(Run(now, result["baseline"], store.items_read - items, store.queries - queries, result, what))
        everything = store.minute_aggregates(TOPIC.id, minute_key(now - span), minute_key(now))
        store.queries, store.items_read = queries + runs[-1].queries, items + runs[-1].items
        expected = [signals(everything, now, thresholds, "social"), signals(everything, now, thresholds, "news")]
        assert seen == expected, (now, what, result["baseline"])
        if what.startswith("crash"):
            assert first == expected, (now, what)
        raw, reasons = raw_level(*expected, thresholds)
        reference_state, _ = step(reference_state, raw, reasons, now, thresholds)
        assert (result["raw"], result["level"], result["reasons"]) == (raw.name, reference_state.level.name, reasons)
    return runs


def test_rolling_signals_equal_the_full_read_every_minute_through_late_posts_gaps_crashes_and_lost_state(
        monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(scenario(T0, hours=4))
    at = lambda m: T0 + timedelta(minutes=m, seconds=20)  # noqa: E731
    special = {200: "lost", 40: "crash-state", 41: "crash-baseline", 130: "crash-baseline",
               215: "stored-meanwhile-before", 225: "stored-meanwhile-after", 232: "crash-state"}
    schedule: list[tuple[datetime, str]] = []
    for m in range(4 * 60):
        if 100 <= m < 110 or 150 <= m < 170:  # ten missed runs (caught up), then twenty (rebuilt)
            continue
        schedule.append((at(m), special.get(m, "run")))
        if m == 210:
            schedule.append((at(m) + timedelta(seconds=15), "run"))    # the same minute twice
            schedule.append((at(m - 4), "replay"))                      # a late retry of an earlier minute
    runs = compare(store, schedule, TH, monkeypatch)

    rebuilt_at = {(r.now - T0) // MINUTE: r.how for r in runs if r.how != "rolled"}
    assert rebuilt_at == {0: "rebuilt: missing", 170: "rebuilt: stale", 200: "rebuilt: missing", 206: "rebuilt: ahead",
                          215: "rebuilt: missing", 225: "rebuilt: missing"}
    assert "CRISIS" in {r.result["level"] for r in runs} and runs[-1].result["level"] in ("NORMAL", "WATCH")
    rolled = [(previous, r) for previous, r in zip(runs, runs[1:]) if r.how == "rolled"]
    assert any(_opens_or_raises(previous, r) for previous, r in rolled)
    assert all(r.queries == (2 if r.what.startswith("crash") else 1) + _opens_or_raises(previous, r)
               for previous, r in rolled), "one Query a run"
    steady = [r for previous, r in rolled if (r.now - previous.now) // MINUTE <= 1 and not r.what.startswith("crash")
              and not _opens_or_raises(previous, r)]
    assert max(r.items for r in steady) <= STEADY_ITEMS, sorted(r.items for r in steady)[-5:]
    assert max(r.items for previous, r in rolled if not _opens_or_raises(previous, r)) <= 10 + STEADY_ITEMS  # ten missed
    assert max(r.items for previous, r in rolled) <= 10 + STEADY_ITEMS + 2 * TH.recent_minutes
    full = [r.items for r in runs if r.how != "rolled"]
    assert min(full) > 400 * STEADY_ITEMS / 3


def _opens_or_raises(previous: Run, run: Run) -> bool:
    """Whether a run opened or raised an alert: it reads the window's minute items once more, for the alert's
    leading narrative (crisiscomms.detection.run)."""
    order = ("NORMAL", "WATCH", "WARNING", "CRISIS")
    level = order.index(run.result["level"])
    return level >= order.index("WARNING") and level > order.index(previous.result["level"])


@pytest.mark.parametrize("thresholds", [Thresholds(baseline_hours=1), Thresholds(recent_minutes=10, velocity_minutes=4,
                                                                                   baseline_hours=2)])
def test_other_windows_and_baselines_match_too(thresholds: Thresholds, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(scenario(T0, hours=3, seed=11, window=thresholds.recent_minutes))
    runs = compare(store, [(T0 + timedelta(minutes=m, seconds=5), "run") for m in range(150, 3 * 60)], thresholds,
                   monkeypatch)
    assert [r.how for r in runs].count("rolled") == len(runs) - 1
    assert max(r.items for previous, r in zip(runs, runs[1:]) if not _opens_or_raises(previous, r)) <= STEADY_ITEMS


def test_a_post_stored_later_than_the_store_carries_misses_only_the_baseline_until_a_full_read(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """70 minutes late (more than CARRIED_LATENESS_MINUTES): counted by a full read only, and a minute
    that old is in the baseline, never in the recent window."""
    th = Thresholds(baseline_hours=1)
    store = Store(scenario(T0, hours=1))
    alerts = Alerts()
    clock = {"now": T0}
    detector = Detector(store, alerts, thresholds=th, clock=lambda: clock["now"], send_sms=lambda a, t: "m",
                        oncall_topic="oncall", escalation_topic="escalation")
    seen: list[Signals] = []
    monkeypatch.setattr(detector_run, "rolling_signals", lambda *a: seen.append(rolling_signals(*a)) or seen[-1])
    span = timedelta(minutes=th.recent_minutes * (th.baseline_windows + 1) + 1)
    for m in range(3):
        clock["now"] = now = T0 + timedelta(minutes=m, seconds=20)
        store.advance(now)
        detector.evaluate(TOPIC)
    clock["now"] = now = now + MINUTE
    store.advance(now)
    without = signals(store.minute_aggregates(TOPIC.id, minute_key(now - span), minute_key(now)), now, th, "social")
    store.add(Arrival(now - timedelta(seconds=10), now - 70 * MINUTE, "social", {"posts": 500, "negative": 400}))
    everything = signals(store.minute_aggregates(TOPIC.id, minute_key(now - span), minute_key(now)), now, th, "social")
    assert everything.baseline_centre != without.baseline_centre and everything.posts == without.posts
    seen.clear()
    assert detector.evaluate(TOPIC)["baseline"] == "rolled"
    assert seen[0] == without
    alerts.items[TOPIC.id].pop("baseline")
    seen.clear()
    assert detector.evaluate(TOPIC)["baseline"] == "rebuilt: missing"
    assert seen[0] == everything


# --- the pure parts --------------------------------------------------------------------------------

def _flat(now: datetime, minutes: int, posts: int = 2) -> list[dict[str, Any]]:
    return [{"minute": minute_key(now - m * MINUTE), "source_type": "social", "posts": posts, "negative": 1,
             "sentiment_sum": Decimal("0.25")} for m in range(1, minutes + 1)]


def test_the_gap_decides_between_rolling_and_a_full_read() -> None:
    now = T0
    state = rebuilt(_flat(now, 24 * 60 + 15), {}, now, TH)
    assert rolling_gap(None, now, TH) == "missing"
    assert rolling_gap(state, now, TH) is None                                  # the same minute again
    assert rolling_gap(state, now + 15 * MINUTE, TH) is None
    assert rolling_gap(state, now + 16 * MINUTE, TH) == "stale"
    assert rolling_gap(state, now - MINUTE, TH) == "ahead"
    assert rolling_gap(state, now, Thresholds(baseline_hours=12)) == "resized"
    assert rolling_gap(state, now, Thresholds(recent_minutes=20, baseline_hours=24)) == "resized"


def test_rolling_forward_equals_a_rebuild_and_open_arrivals_count_only_in_this_runs_copy() -> None:
    records = [{"minute": minute_key(T0 - m * MINUTE), "source_type": s, "posts": (m * 7 + len(s)) % 5,
                "negative": m % 2, "sentiment_sum": Decimal(m % 3) / 4}
               for m in range(-20, 24 * 60 + 16) for s in ("social", "news")]
    state = rebuilt(records, {}, T0, TH)
    for later in (1, 7, 15):
        now = T0 + later * MINUTE
        assert roll(state, [], now) == rebuilt(records, {}, now, TH)
    arrival = {"arrived": minute_key(T0), "minute": minute_key(T0 - 3 * MINUTE), "source_type": "social",
               "posts": Decimal(4), "negative": Decimal(4), "sentiment_sum": Decimal("-2.8")}
    opened = with_open(state, [arrival])
    assert opened.figures[minute_key(T0 - 3 * MINUTE), "social"]["posts"] == \
        state.figures[minute_key(T0 - 3 * MINUTE), "social"]["posts"] + 4
    assert roll(state, [arrival], T0 + MINUTE) == roll(state, [], T0 + MINUTE), "still open at the next minute"
    folded = roll(state, [arrival], T0 + 2 * MINUTE)
    assert with_open(folded, [arrival]) == folded, "closed: in the state once, not added again"
    assert folded == rebuilt(records + [arrival], {}, T0 + 2 * MINUTE, TH)


def test_the_stored_state_is_small_round_trips_and_refuses_what_it_cannot_read() -> None:
    rng = random.Random(3)
    records = [{"minute": minute_key(T0 - m * MINUTE), "source_type": s,
                "posts": rng.randint(1, 4) if s == "social" else int(rng.random() < 0.05),
                "negative": rng.randint(0, 1), "sentiment_sum": Decimal(rng.randint(-300, 300)) / 100,
                "engagement": rng.randint(0, 500), "reach": rng.randint(0, 90_000), "crisis_posts": 0,
                "crisis_weight_sum": Decimal(rng.randint(0, 10**6)) / 10**6, "high_reach_negative": 0}
               for m in range(-2, 24 * 60 + 16) for s in ("social", "news")]
    state = rebuilt(records, {}, T0, TH)
    stored = state.to_dict()
    assert set(stored) == {"minute", "window", "social", "news", "recent"} and stored["minute"] == "2026-11-28T08:00"
    assert all(len(c) == 24 * 60 for c in state.counts.values())
    assert sum(len(v) for v in stored.values() if isinstance(v, bytes)) < 2000, "under 2 KB: two write units"
    assert RollingState.from_dict(stored) == state
    assert RollingState.from_dict(None) is None
    assert RollingState.from_dict({"through": "2026-11-28T07:45", "social": b"", "news": b""}) is None  # before
    assert RollingState.from_dict({**stored, "recent": b"not zlib"}) is None
    assert RollingState.from_dict({**stored, "minute": "yesterday"}) is None
    assert all(len(c) == 24 * 60 for c in roll(state, [], T0 + MINUTE).counts.values()), "fixed size as it rolls"


def test_a_state_not_rolled_to_now_is_refused() -> None:
    state = rebuilt(_flat(T0, 24 * 60 + 15), {}, T0, TH)
    with pytest.raises(ValueError, match="not to"):
        rolling_signals(state, T0 + MINUTE, TH, "social")


def test_the_recent_window_is_no_longer_than_the_lateness_the_store_carries() -> None:
    Thresholds(recent_minutes=CARRIED_LATENESS_MINUTES, velocity_minutes=5, baseline_hours=24)
    with pytest.raises(ValidationError):
        Thresholds(recent_minutes=CARRIED_LATENESS_MINUTES + 1, velocity_minutes=5, baseline_hours=61)


# --- what the store's transaction carries ------------------------------------------------------------

def _scored(published: datetime, stored: datetime, topics: tuple[str, ...] = ("harbor",),
            source: str = "social") -> ScoredPost:
    post = Post(platform="x" if source == "social" else "news", native_id="42", source_type=source, source_id="x",
                url="u", author="a", followers=20_000, text="Harbor Bank", published_at=published)
    return ScoredPost(post=post, topics=topics, language="en", sentiment=-0.7, sentiment_label="negative",
                      crisis_terms=("bank run",), crisis_categories=(), crisis_weight=2.5, is_crisis=True, risk=60,
                      ingested_at=stored, high_reach_negative=True, early_warning=True)


def _transaction(scored: ScoredPost) -> list[dict[str, Any]]:
    repo = PostRepository(PostTables("posts", "links", "aggregates"), clients=lambda service: None,  # type: ignore[arg-type]
                          retention_days=1)
    return repo._transaction(scored)


def _arrival_updates(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a["Update"] for a in actions
            if "Update" in a and a["Update"]["Key"]["minute_key"]["S"].startswith("arrivals#")]


def test_the_transaction_adds_the_post_to_each_topics_arrivals_item_of_the_minute_it_is_stored() -> None:
    stored = datetime(2026, 11, 28, 9, 20, 5, tzinfo=timezone.utc)
    actions = _transaction(_scored(stored - timedelta(minutes=12, seconds=30), stored, topics=("harbor", "northgate")))
    assert len(actions) == 1 + 4 * 2, "post; per topic link, minute, hour and arrivals items"
    updates = _arrival_updates(actions)
    assert [(u["Key"]["topic"]["S"], u["Key"]["minute_key"]["S"]) for u in updates] == \
        [("harbor", "arrivals#2026-11-28T09:20"), ("northgate", "arrivals#2026-11-28T09:20")]
    named = {updates[0]["ExpressionAttributeNames"][n]: updates[0]["ExpressionAttributeValues"][":" + n[1:]]
             for n in updates[0]["ExpressionAttributeNames"]}
    assert named == {"s13p": {"N": "1"}, "s13n": {"N": "1"}, "s13s": {"N": "-0.700000"}, "s13r": {"N": "20000"},
                     "s13c": {"N": "1"}, "s13w": {"N": "2.500000"}, "s13h": {"N": "1"}, "s13x": {"N": "1"},
                     "expires_at": {"N": str(int((stored + timedelta(days=1)).timestamp()))}}, "engagement 0: left out"
    assert moto_transactions._parse_simple(updates[0]["UpdateExpression"]) is not None, "local AWS's direct path"
    ahead = _arrival_updates(_transaction(_scored(stored + timedelta(minutes=2), stored, source="news")))
    assert {n for n in ahead[0]["ExpressionAttributeNames"].values()} >= {"n-2p", "n-2h", "n-2x"}


def test_a_post_further_from_its_minute_than_the_store_carries_has_no_arrivals_update() -> None:
    stored = datetime(2026, 11, 28, 9, 20, 5, tzinfo=timezone.utc)
    edge = _transaction(_scored(stored - timedelta(minutes=CARRIED_LATENESS_MINUTES), stored))
    assert len(_arrival_updates(edge)) == 1
    for published in (stored - timedelta(minutes=CARRIED_LATENESS_MINUTES + 1), stored + timedelta(hours=2)):
        actions = _transaction(_scored(published, stored))
        assert len(actions) == 1 + 3 and not _arrival_updates(actions)
