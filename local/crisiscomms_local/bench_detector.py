"""What one Detector run costs per topic, before (a full read of the baseline) and after (a rolling baseline).

    python -m crisiscomms_local.bench_detector

Each topic gets 24 h of baseline plus the 15-minute window of per-minute aggregates for social
(about 2 posts a minute) and news (a post every 20 minutes, so most minutes have no record),
generated once. In-memory stand-ins for the post and alert repositories count what a run reads
(Query calls, items, read units from the items' DynamoDB sizes) and writes; times are this
process only, without DynamoDB's round trips. The new path is the real `Detector.evaluate`, in
steady state: its first run (a full read) and one more happen before the timed runs. The old path
is the Detector as it was: a full read, `signals` for both source types, `raw_level`, `step`.
"""
from __future__ import annotations

import bisect
import math
import random
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

from crisiscomms.detection.levels import DetectorState, Thresholds, minute_key, raw_level, signals, step
from crisiscomms.detection.run import Detector
from crisiscomms.watch import Topic

NOW = datetime(2026, 11, 28, 9, 15, tzinfo=timezone.utc)
SIZES = (10, 100, 1_000)
REPEATS = 3
WARM_UP = 2  # runs before the timed ones: the full read that builds the baseline, then one rolled run
TARGET_ITEMS = 5


def _size(value: Any) -> int:
    """Approximate DynamoDB size of a value (strings and binary by length, numbers about a byte per two digits)."""
    if isinstance(value, (bytes, str)):
        return len(value.encode() if isinstance(value, str) else value)
    if isinstance(value, (int, float)):
        return len(repr(value).strip("-0.").replace(".", "")) // 2 + 2
    if isinstance(value, dict):
        return 3 + sum(len(k) + _size(v) + 1 for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return 3 + sum(_size(v) + 1 for v in value)
    return 1


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name) + _size(value) for name, value in item.items())


class Aggregates:
    """The aggregates table for the bench: a Query per call, counted with its items and read units."""

    def __init__(self, by_topic: dict[str, list[dict[str, Any]]]) -> None:
        self._by_topic = by_topic
        self._keys = {topic: [r["minute_key"] for r in records] for topic, records in by_topic.items()}
        self.tally: Counter[str] = Counter()

    def minute_aggregates(self, topic: str, start_minute: str, end_minute: str) -> list[dict[str, Any]]:
        keys = self._keys[topic]
        found = self._by_topic[topic][bisect.bisect_left(keys, start_minute):bisect.bisect_right(keys, end_minute)]
        found = [r for r in found if r["minute"] < end_minute]
        self.tally["queries"] += 1
        self.tally["calls"] += 1
        self.tally["items"] += len(found)
        self.tally["read_units"] += math.ceil(sum(item_size(r) for r in found) / 4096) / 2  # eventually consistent
        return found

    def topic_posts(self, topic: str, day: str, *, by_risk: bool = False, limit: int = 50) -> list[dict[str, Any]]:
        return []


class States:
    """The state table's detector items for the bench; the baseline goes to an item of its own, as stored.

    Counts read and write units per item as DynamoDB does (4 KB and 1 KB steps, sizes approximate).
    """

    def __init__(self, *, tracks_baseline: bool) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.tally: Counter[str] = Counter()
        self.tracks_baseline = tracks_baseline

    def detector_state(self, topic: str) -> dict[str, Any] | None:
        state, baseline = self.items.get(f"detector#{topic}"), self.items.get(f"detector#{topic}#baseline")
        self.tally["read_units"] += math.ceil(item_size(state or {}) / 4096) or 1      # GetItem, strongly consistent
        self.tally["calls"] += 1
        if self.tracks_baseline:
            self.tally["read_units"] += (math.ceil(item_size(baseline or {}) / 4096) or 1) / 2  # eventually consistent
            self.tally["calls"] += 1
        if state is None and baseline is None:
            return None
        found = {k: v for k, v in (state or {}).items() if k != "pk"}
        if baseline is not None:
            found["baseline"] = {k: v for k, v in baseline.items() if k != "pk"}
        return found

    def save_detector_state(self, topic: str, state: dict[str, Any]) -> None:
        state = dict(state)
        baseline = state.pop("baseline", None)
        self.items[f"detector#{topic}"] = {**state, "pk": f"detector#{topic}"}
        if baseline is not None:
            self.items[f"detector#{topic}#baseline"] = {**baseline, "pk": f"detector#{topic}#baseline"}
        written = [f"detector#{topic}"] + ([f"detector#{topic}#baseline"] if baseline is not None else [])
        self.tally["write_units"] += sum(math.ceil(item_size(self.items[k]) / 1024) for k in written)
        self.tally["calls"] += len(written)

    def for_topic(self, topic: str, *, limit: int = 20) -> list[dict[str, Any]]:
        self.tally["calls"] += 1  # the open alerts, for notifications and escalation
        return []

    def audit(self, entry: Any) -> None:
        """A level change (a few generated topics reach WATCH); the bench keeps no audit trail."""


def topic_minutes(rng: random.Random, topic: str, thresholds: Thresholds) -> list[dict[str, Any]]:
    """One topic's aggregates, both source types, in key order as a DynamoDB query returns them."""
    span = thresholds.recent_minutes * (thresholds.baseline_windows + 1) + WARM_UP
    records = []
    for age in range(span, -REPEATS, -1):
        minute = minute_key(NOW - timedelta(minutes=age))
        for source, mean in (("news", 0.05), ("social", 2.0)):
            posts = rng.randint(0, round(2 * mean)) if mean >= 1 else int(rng.random() < mean)
            if posts:
                negative = sum(rng.random() < 0.2 for _ in range(posts))
                records.append({
                    "topic": topic, "minute_key": f"{minute}#{source}", "minute": minute, "source_type": source,
                    "posts": posts, "negative": negative, "sentiment_sum": round(0.1 * (posts - negative) - 0.7 * negative, 6),
                    "engagement": 12 * posts, "reach": 900 * posts, "crisis_posts": 0, "crisis_weight_sum": 0.0,
                    "high_reach_negative": 0, "expires_at": 1_795_000_000,
                })
    return records


def old_run(topics: list[Topic], posts: Aggregates, states: States, thresholds: Thresholds, now: datetime) -> None:
    """The Detector before the rolling baseline: a full read of baseline and window for every topic, every run."""
    for topic in topics:
        since = now - timedelta(hours=thresholds.baseline_hours, minutes=thresholds.recent_minutes + 1)
        minutes = posts.minute_aggregates(topic.id, minute_key(since), minute_key(now))
        level, reasons = raw_level(signals(minutes, now, thresholds, "social"),
                                   signals(minutes, now, thresholds, "news"), thresholds)
        state = DetectorState.from_dict(states.detector_state(topic.id) or {})
        state, _ = step(state, level, reasons, now, thresholds)
        states.save_detector_state(topic.id, state.to_dict())
        states.for_topic(topic.id, limit=5)


def new_run(topics: list[Topic], posts: Aggregates, states: States, thresholds: Thresholds, now: datetime) -> None:
    clock = lambda: now  # noqa: E731
    Detector(posts, states, thresholds=thresholds, clock=clock, send_sms=lambda arn, text: "",  # type: ignore[arg-type]
             oncall_topic="oncall", escalation_topic="escalation").run(topics)


def measure(run: Any, topics: list[Topic], data: dict[str, list[dict[str, Any]]], thresholds: Thresholds,
            warm_up: int) -> tuple[float, dict[str, float], dict[str, float]]:
    """Best time of the timed runs, their reads and writes per topic and run, and the first run's."""
    posts, states = Aggregates({t.id: data[t.id] for t in topics}), States(tracks_baseline=run is new_run)
    first: dict[str, float] = {}
    for warm in range(warm_up):
        run(topics, posts, states, thresholds, NOW - timedelta(minutes=warm_up - warm))
        if not warm:
            first = {k: v / len(topics) for k, v in (posts.tally + states.tally).items()}
    posts.tally.clear(), states.tally.clear()
    times = []
    for repeat in range(REPEATS):
        started = time.perf_counter()
        run(topics, posts, states, thresholds, NOW + timedelta(minutes=repeat))
        times.append(time.perf_counter() - started)
    per_run = {k: v / (len(topics) * REPEATS) for k, v in (posts.tally + states.tally).items()}
    return min(times), per_run, first


def main() -> None:
    from crisiscomms.observability import logger

    logger.setLevel("WARNING")  # a line per run and per rebuilt baseline: not wanted here
    thresholds = Thresholds()
    rng = random.Random(20261128)
    topics = [Topic(id=f"topic{i:04d}", names=[f"Topic {i}"]) for i in range(max(SIZES))]
    data = {t.id: topic_minutes(rng, t.id, thresholds) for t in topics}
    print(f"one Detector run, steady state, best of {REPEATS}; time in this process (no DynamoDB round trips)")
    print(f"{'topics':>7} {'path':<5} {'run s':>8} {'ms/topic':>9} {'calls':>6} {'items':>7} {'read units':>11}"
          f" {'write units':>12}   per topic and run (calls: all DynamoDB requests; items: aggregates read)")
    results: dict[tuple[int, str], tuple[float, dict[str, float], dict[str, float]]] = {}
    for size in SIZES:
        for path, run, warm_up in (("old", old_run, 0), ("new", new_run, WARM_UP)):
            best, per_run, first = results[size, path] = measure(run, topics[:size], data, thresholds, warm_up)
            print(f"{size:>7,} {path:<5} {best:>8.3f} {1000 * best / size:>9.2f} {per_run['calls']:>6.1f}"
                  f" {per_run['items']:>7.1f} {per_run['read_units']:>11.1f} {per_run['write_units']:>12.1f}")
    size = SIZES[-1]
    (old_s, old, _), (new_s, new, first) = results[size, "old"], results[size, "new"]
    print(f"\nat {size:,} topics, per run: {old['items'] * size:,.0f} -> {new['items'] * size:,.0f} aggregate items read,"
          f" {old['read_units'] * size:,.0f} -> {new['read_units'] * size:,.0f} read units,"
          f" {old['write_units'] * size:,.0f} -> {new['write_units'] * size:,.0f} write units,"
          f" {old_s:.2f} s -> {new_s:.2f} s in process")
    print(f"new, first run of a topic (or after lost or stale state): one full read, {first['items']:.0f} items,"
          f" {first['read_units']:.1f} read units")
    verdict = "met" if new["items"] <= TARGET_ITEMS else "not met"
    print(f"target <= {TARGET_ITEMS} items per topic and run: {verdict} ({new['items']:.1f}); every run re-reads the"
          f" {thresholds.recent_minutes}-minute window plus the minute it folds in, so late posts still count")


if __name__ == "__main__":
    main()
