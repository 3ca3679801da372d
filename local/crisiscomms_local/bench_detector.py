"""What one Detector run costs per topic, before (a full read of the baseline) and after (a rolling state).

    python -m crisiscomms_local.bench_detector

Each topic gets 24 h of baseline plus the 15-minute window of per-minute aggregates for social
(about 2 posts a minute, stored in their minute) and news (a post every 20 minutes, so most
minutes have no record, stored late: at the next five-minute poll), generated once, with the
arrivals items the store keeps beside them (crisiscomms.aws.post_store). In-memory stand-ins for
the post and alert repositories count what a run reads (Query calls, items, read units from the
items' DynamoDB sizes) and writes; times are this process only, without DynamoDB's round trips.
The new path is the real `Detector.evaluate`, in steady state: its first run (a full read) and
one more happen before the timed runs. The old path is the Detector before the rolling baseline:
a full read, `signals` for both source types, `raw_level`, `step`. "items" counts the aggregates
table's items (minute figures, arrivals); "all items" adds the state table's (the flap state and
the rolling state; a topic without alerts reads no alert).
"""
from __future__ import annotations

import bisect
import math
import random
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from crisiscomms.aws.post_store import ARRIVAL_FIGURES, ARRIVAL_SOURCES, ARRIVALS_PREFIX
from crisiscomms.detection.levels import DetectorState, Thresholds, minute_key, raw_level, signals, step
from crisiscomms.detection.run import Detector
from crisiscomms.watch import Topic

NOW = datetime(2026, 11, 28, 9, 15, tzinfo=timezone.utc)
SIZES = (10, 100, 1_000)
REPEATS = 3
WARM_UP = 2  # runs before the timed ones: the full read that builds the state, then one rolled run
TARGET_ITEMS = 5
NEWS_POLL_MINUTES = 5


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
    """The aggregates table for the bench: minute items and arrivals items, a Query per call, counted with
    its items and read units; what arrived after `now` is not there yet."""

    def __init__(self, by_topic: dict[str, list[dict[str, Any]]], arrivals: dict[str, list[dict[str, Any]]]) -> None:
        self._by_topic = by_topic
        self._keys = {topic: [r["minute_key"] for r in records] for topic, records in by_topic.items()}
        self._arrivals = arrivals
        self._arrived = {topic: [item["minute_key"] for item in items] for topic, items in arrivals.items()}
        self.tally: Counter[str] = Counter()
        self.now = ""

    def minute_aggregates(self, topic: str, start_minute: str, end_minute: str, *, exact: bool = False,
                          consistent: bool = False) -> list[dict[str, Any]]:
        keys = self._keys[topic]
        found = self._by_topic[topic][bisect.bisect_left(keys, start_minute):bisect.bisect_right(keys, end_minute)]
        found = [r for r in found if r["minute"] < end_minute and r["minute"] <= self.now]
        self._count(found, consistent)
        if exact:
            return [{k: Decimal(str(v)) if isinstance(v, float) else v for k, v in r.items()} for r in found]
        return found

    def arrivals(self, topic: str, since_minute: str) -> list[dict[str, Any]]:
        keys = self._arrived[topic]
        found = self._arrivals[topic][bisect.bisect_left(keys, ARRIVALS_PREFIX + since_minute):
                                      bisect.bisect_right(keys, ARRIVALS_PREFIX + self.now)]
        self._count(found, consistent=True)
        return [record for item in found for record in item["records"]]

    def _count(self, items: list[dict[str, Any]], consistent: bool) -> None:
        self.tally["queries"] += 1
        self.tally["calls"] += 1
        self.tally["items"] += len(items)
        size = math.ceil(sum(item_size({k: v for k, v in i.items() if k != "records"}) for i in items) / 4096)
        self.tally["read_units"] += max(size, 1) if consistent else size / 2

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
        self.tally["state_items"] += state is not None
        if self.tracks_baseline:
            self.tally["read_units"] += (math.ceil(item_size(baseline or {}) / 4096) or 1) / 2  # eventually consistent
            self.tally["calls"] += 1
            self.tally["state_items"] += baseline is not None
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


def topic_minutes(rng: random.Random, topic: str, thresholds: Thresholds) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One topic's aggregates, both source types, in key order as a DynamoDB query returns them, and its
    arrivals items (social stored in its minute, news at the next poll), each with its decoded records."""
    span = thresholds.recent_minutes * (thresholds.baseline_windows + 1) + WARM_UP
    records = []
    arrived: dict[str, dict[tuple[str, str], dict[str, Any]]] = defaultdict(dict)
    for age in range(span, -REPEATS, -1):
        when = NOW - timedelta(minutes=age)
        minute = minute_key(when)
        for source, mean in (("news", 0.05), ("social", 2.0)):
            posts = rng.randint(0, round(2 * mean)) if mean >= 1 else int(rng.random() < mean)
            if posts:
                negative = sum(rng.random() < 0.2 for _ in range(posts))
                figures = {"posts": posts, "negative": negative,
                           "sentiment_sum": round(0.1 * (posts - negative) - 0.7 * negative, 6),
                           "engagement": 12 * posts, "reach": 900 * posts, "crisis_posts": 0, "crisis_weight_sum": 0.0,
                           "high_reach_negative": 0, "early_warning": 0}
                records.append({"topic": topic, "minute_key": f"{minute}#{source}", "minute": minute,
                                "source_type": source, **figures, "expires_at": 1_795_000_000})
                late = (-(when.minute + 1)) % NEWS_POLL_MINUTES + 1 if source == "news" else 0
                arrived[minute_key(when + timedelta(minutes=late))][minute, source] = figures
    items = []
    for arrival in sorted(arrived):
        item: dict[str, Any] = {"topic": topic, "minute_key": ARRIVALS_PREFIX + arrival, "expires_at": 1_795_000_000,
                                "records": []}
        for (minute, source), figures in arrived[arrival].items():
            lag = (datetime.fromisoformat(arrival) - datetime.fromisoformat(minute)) // timedelta(minutes=1)
            item |= {f"{ARRIVAL_SOURCES[source]}{lag}{code}": figures[name] for name, code in ARRIVAL_FIGURES.items()
                     if name == "posts" or figures[name]}  # as stored: a zero figure is left out
            item["records"].append({"arrived": arrival, "minute": minute, "source_type": source,
                                    **{k: Decimal(str(v)) for k, v in figures.items()}})
        items.append(item)
    return records, items


def old_run(topics: list[Topic], posts: Aggregates, states: States, thresholds: Thresholds, now: datetime) -> None:
    """The Detector before the rolling baseline: a full read of baseline and window for every topic, every run."""
    posts.now = minute_key(now)
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
    posts.now = minute_key(now)
    Detector(posts, states, thresholds=thresholds, clock=clock, send_sms=lambda arn, text: "",  # type: ignore[arg-type]
             oncall_topic="oncall", escalation_topic="escalation").run(topics)


def measure(run: Any, topics: list[Topic], data: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]],
            thresholds: Thresholds, warm_up: int) -> tuple[float, dict[str, float], dict[str, float]]:
    """Best time of the timed runs, their reads and writes per topic and run, and the first run's."""
    posts = Aggregates({t.id: data[t.id][0] for t in topics}, {t.id: data[t.id][1] for t in topics})
    states = States(tracks_baseline=run is new_run)
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


def main() -> dict[str, float]:
    """Print the table; return the new path's figures at the largest size, per topic and run."""
    from crisiscomms.observability import logger

    logger.setLevel("WARNING")  # a line per run and per rebuilt state: not wanted here
    thresholds = Thresholds()
    rng = random.Random(20261128)
    topics = [Topic(id=f"topic{i:04d}", names=[f"Topic {i}"]) for i in range(max(SIZES))]
    data = {t.id: topic_minutes(rng, t.id, thresholds) for t in topics}
    print(f"one Detector run, steady state, best of {REPEATS}; time in this process (no DynamoDB round trips)")
    print(f"{'topics':>7} {'path':<5} {'run s':>8} {'ms/topic':>9} {'calls':>6} {'items':>7} {'all items':>10}"
          f" {'read units':>11} {'write units':>12}   per topic and run (calls: all DynamoDB requests)")
    results: dict[tuple[int, str], tuple[float, dict[str, float], dict[str, float]]] = {}
    for size in SIZES:
        for path, run, warm_up in (("old", old_run, 0), ("new", new_run, WARM_UP)):
            best, per_run, first = results[size, path] = measure(run, topics[:size], data, thresholds, warm_up)
            print(f"{size:>7,} {path:<5} {best:>8.3f} {1000 * best / size:>9.2f} {per_run['calls']:>6.1f}"
                  f" {per_run['items']:>7.1f} {per_run['items'] + per_run.get('state_items', 0):>10.1f}"
                  f" {per_run['read_units']:>11.1f} {per_run['write_units']:>12.1f}")
    size = SIZES[-1]
    (old_s, old, _), (new_s, new, first) = results[size, "old"], results[size, "new"]
    print(f"\nat {size:,} topics, per run: {old['items'] * size:,.0f} -> {new['items'] * size:,.0f} aggregates table items"
          f" read ({(new['items'] + new['state_items']) * size:,.0f} with the state items),"
          f" {old['read_units'] * size:,.0f} -> {new['read_units'] * size:,.0f} read units,"
          f" {old['write_units'] * size:,.0f} -> {new['write_units'] * size:,.0f} write units,"
          f" {old_s:.2f} s -> {new_s:.2f} s in process")
    print(f"new, first run of a topic (or after lost or stale state): one full read, {first['items']:.0f} items,"
          f" {first['read_units']:.1f} read units")
    total = new["items"] + new["state_items"]
    verdict = "met" if total <= TARGET_ITEMS else "not met"
    print(f"target <= {TARGET_ITEMS} items per topic and run: {verdict} ({new['items']:.1f} aggregates table items,"
          f" {total:.1f} on every table); a run reads the arrivals items of its minute and the two before,"
          f" so late posts count without re-reading minutes")
    return {"topics": size, "items": new["items"], "all_items": total, "read_units": new["read_units"],
            "write_units": new["write_units"], "old_items": old["items"], "old_read_units": old["read_units"],
            "first_items": first["items"], "old_s": old_s, "new_s": new_s}


if __name__ == "__main__":
    main()
