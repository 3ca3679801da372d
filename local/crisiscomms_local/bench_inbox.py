"""Inbox triage throughput: the pure triage (kind, opens, priority) of scored posts, on one core.

    python -m crisiscomms_local.bench_inbox [posts]

The labelled texts of tests/data/labelled_posts.jsonl are scored once by the lexicon scorer, as the
Poller scores them (not timed), with a mix of posts addressing the bank; then `triage` runs over
`posts` of them (cycled) and the rate is set against the scorer's own on the same texts, the step
before it on every stored post.
"""
from __future__ import annotations

import json
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "tests" / "data" / "labelled_posts.jsonl"


def _scored_posts() -> list[Any]:
    from crisiscomms.models import Post, ScoredPost
    from crisiscomms.scoring.engines import LexiconScorer

    rows = [json.loads(line) for line in DATASET.read_text(encoding="utf-8").splitlines() if line.strip()]
    when = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
    posts = [Post(platform="weibo", native_id=str(i), source_type="social", source_id="bench", url=f"https://weibo.com/{i}",
                  author=f"u{i}", followers=(i * 37) % 50_000, likes=i % 90, reposts=i % 7, text=row["text"],
                  published_at=when, to_bank=i % 3 == 0)
             for i, row in enumerate(rows)]
    scores = LexiconScorer().score(posts)
    return [ScoredPost(post=p, topics=("harbor",), language=s.language, sentiment=s.sentiment,
                       sentiment_label=s.sentiment_label, tone=s.tone, tone_label=s.tone_label,
                       crisis_terms=tuple(h.term for h in s.crisis_terms if not h.negated),
                       crisis_categories=(), crisis_weight=s.crisis_weight, is_crisis=s.is_crisis, risk=s.risk,
                       ingested_at=when) for p, s in zip(posts, scores, strict=True)]


def bench_inbox_triage(n: int = 20_000) -> dict[str, Any]:
    from crisiscomms.inbox.triage import TriageInput, triage
    from crisiscomms.scoring import score_text

    scored = _scored_posts()
    batch = [scored[i % len(scored)] for i in range(n)]
    triage(TriageInput.of(batch[0]))
    started = time.perf_counter()
    results = [triage(TriageInput.of(p)) for p in batch]
    elapsed = time.perf_counter() - started
    texts = [p.post.text for p in batch]
    started = time.perf_counter()
    for text in texts:
        score_text(text, followers=1000, likes=3, reposts=1)
    scoring = n / (time.perf_counter() - started)
    kinds = Counter(r.kind for r in results[:len(scored)])
    return {"posts": n, "triage_posts_per_s": n / elapsed, "us_per_post": elapsed / n * 1e6,
            "scoring_posts_per_s": scoring, "ratio": (n / elapsed) / scoring, "labelled_posts": len(scored),
            "kinds": dict(kinds), "opening": sum(r.opens for r in results[:len(scored)])}


def render(figures: dict[str, Any]) -> str:
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(figures["kinds"].items(), key=lambda kv: -kv[1]))
    return (f"  triage    {figures['triage_posts_per_s']:>10,.0f} posts/s ({figures['us_per_post']:.1f} us per post,"
            f" {figures['posts']:,} posts)\n"
            f"  scoring   {figures['scoring_posts_per_s']:>10,.0f} posts/s on the same texts\n"
            f"  ratio     {figures['ratio']:>10.2f} x scoring\n"
            f"  of the {figures['labelled_posts']} labelled posts (a third addressing the bank): {kinds};"
            f" {figures['opening']} open a conversation")


if __name__ == "__main__":
    print("Inbox triage throughput (pure: kind, opens, priority; one core)")
    print(render(bench_inbox_triage(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)))
    sys.exit(0)
