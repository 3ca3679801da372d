"""The whole per-post path in memory: topic matching with relatedness, scoring, narrative assignment.

    python -m crisiscomms_local.bench_path

Texts are the labelled set's (tests/data/reputation/posts.jsonl, three languages and eight platforms'
styles), watched as the set's entities (tests/data/reputation/entities.json: 21 banks, their
ambiguous names included), each post run through what the Ingestor does to it before storing:
`TopicMatcher.relate`, `score_text` and `narrative_group`. One core, no I/O timed; goal >= 5,000
posts/s, the best of three passes. Scoring alone is timed on the same texts so the share of each step shows.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SET_DIR = ROOT / "tests" / "data" / "reputation"
GOAL_POSTS_PER_S = 5_000


def _watched_topics() -> list[Any]:
    from crisiscomms.watch import Topic

    entities = json.loads((SET_DIR / "entities.json").read_text(encoding="utf-8"))
    return [Topic(id=key, names=e["names"], ambiguous=e["ambiguous"])
            for key, e in entities.items() if not key.startswith("_") and e.get("names")]


def _posts(n: int) -> list[Any]:
    from crisiscomms.models import Post

    rows = [json.loads(line) for line in (SET_DIR / "posts.jsonl").read_text(encoding="utf-8").splitlines() if line]
    published = datetime(2026, 11, 29, 9, tzinfo=timezone.utc)
    return [Post(platform="x", native_id=str(i), source_type="social", source_id="bench", url=f"https://x.test/{i}",
                 author=f"user{i % 97}", followers=1000 + i % 5000, text=rows[i % len(rows)]["text"],
                 published_at=published, likes=i % 40, reposts=i % 7)
            for i in range(n)]


def bench_path(n: int = 20_000, rounds: int = 3) -> dict[str, float]:
    """The best of `rounds` passes of the path and of scoring alone, alternating pass by pass (as
    bench.bench_scoring and timeit: on a shared machine a pass is only ever slowed)."""
    from crisiscomms.listening.topics import TopicMatcher
    from crisiscomms.scoring import score_text
    from crisiscomms.scoring.narratives import narrative_group

    topics = _watched_topics()
    matcher = TopicMatcher(topics)
    posts = _posts(n)
    for post in posts[:200]:      # warm the per-word caches as a container does after its first polls
        narrative_group(score_text(post.full_text))
        matcher.relate(post)

    path_s = scoring_s = float("inf")
    passes: list[float] = []
    for _ in range(rounds):
        started = time.process_time()
        related = 0
        for post in posts:
            found = matcher.relate(post)
            score = score_text(post.full_text, followers=post.followers, likes=post.likes, reposts=post.reposts)
            narrative_group(score)
            related += bool(found.related)
        passes.append(time.process_time() - started)
        path_s = min(path_s, passes[-1])

        started = time.process_time()
        for post in posts:
            score_text(post.full_text, followers=post.followers, likes=post.likes, reposts=post.reposts)
        scoring_s = min(scoring_s, time.process_time() - started)
    return {"posts": n, "topics": len(topics), "related": related, "rounds": rounds,
            "path_posts_per_s": n / path_s, "slowest_pass_posts_per_s": n / max(passes),
            "scoring_posts_per_s": n / scoring_s,
            "scoring_share": scoring_s / path_s, "ratio_to_goal": n / path_s / GOAL_POSTS_PER_S}


def render(b: dict[str, float]) -> str:
    return (f"  whole path (relate + score + narrative), {b['posts']:,} posts, {b['topics']} topics:"
            f" {b['path_posts_per_s']:,.0f} posts/s = {b['ratio_to_goal']:.2f} x the goal of {GOAL_POSTS_PER_S:,}"
            f" (best of {b['rounds']} passes; the slowest {b['slowest_pass_posts_per_s']:,.0f})\n"
            f"  scoring alone: {b['scoring_posts_per_s']:,.0f} posts/s ({b['scoring_share']:.0%} of the path's time)")


if __name__ == "__main__":
    print(render(bench_path()))
