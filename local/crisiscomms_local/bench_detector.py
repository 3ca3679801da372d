"""How one detector evaluation grows with the number of topics (not a timed test).

    python -m crisiscomms_local.bench_detector

Each topic gets 24 h of baseline plus the 15-minute window of per-minute aggregates for social
(about 2 posts a minute) and news (a post every 20 minutes, so most minutes have no record),
generated once. Only the evaluation is timed: signals for both source types, raw_level and step,
for every topic, as one scheduled run would do after reading the aggregates.
"""
from __future__ import annotations

import random
import statistics
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from crisiscomms.detection.levels import DetectorState, Thresholds, minute_key, raw_level, signals, step

NOW = datetime(2026, 11, 28, 9, 15, tzinfo=timezone.utc)
SIZES = (10, 100, 1_000)
REPEATS = 3


def topic_minutes(rng: random.Random, thresholds: Thresholds) -> list[dict[str, Any]]:
    """One topic's aggregates, both source types, as a DynamoDB query would return them."""
    span = thresholds.recent_minutes * (thresholds.baseline_windows + 1)
    records = []
    for age in range(span, 0, -1):
        minute = minute_key(NOW - timedelta(minutes=age))
        for source, mean in (("social", 2.0), ("news", 0.05)):
            posts = rng.randint(0, round(2 * mean)) if mean >= 1 else int(rng.random() < mean)
            if posts:
                negative = sum(rng.random() < 0.2 for _ in range(posts))
                records.append({
                    "minute": minute, "source_type": source, "posts": posts, "negative": negative,
                    "sentiment_sum": 0.1 * (posts - negative) - 0.7 * negative, "engagement": 12 * posts,
                    "reach": 900 * posts, "crisis_posts": 0, "crisis_weight_sum": 0.0, "high_reach_negative": 0,
                })
    return records


def evaluate_all(topics: list[list[dict[str, Any]]], states: list[DetectorState], thresholds: Thresholds) -> None:
    for i, minutes in enumerate(topics):
        level, reasons = raw_level(signals(minutes, NOW, thresholds, "social"),
                                   signals(minutes, NOW, thresholds, "news"), thresholds)
        states[i], _ = step(states[i], level, reasons, NOW, thresholds)


def main() -> None:
    thresholds = Thresholds()
    rng = random.Random(20261128)
    data = [topic_minutes(rng, thresholds) for _ in range(max(SIZES))]
    print(f"one evaluation (signals x2 + raw_level + step per topic), best of {REPEATS}")
    print(f"{'topics':>7} {'records':>10} {'seconds':>9} {'ms/topic':>9} {'x previous':>11} {'x 10 topics':>12}")
    timings: list[float] = []
    for size in SIZES:
        topics = data[:size]
        runs = []
        for _ in range(REPEATS):
            states = [DetectorState() for _ in topics]
            started = time.perf_counter()
            evaluate_all(topics, states, thresholds)
            runs.append(time.perf_counter() - started)
        best = min(runs)
        previous = best / timings[-1] if timings else 1.0
        first = best / timings[0] if timings else 1.0
        timings.append(best)
        records = sum(map(len, topics))
        print(f"{size:>7} {records:>10,} {best:>9.3f} {1000 * best / size:>9.2f} {previous:>11.1f} {first:>12.1f}")
    print(f"variation between repeats at {SIZES[-1]} topics: {statistics.pstdev(runs) / statistics.mean(runs):.1%} (sd / mean)")


if __name__ == "__main__":
    main()
