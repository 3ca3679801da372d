"""Benchmarks: figures and ratios measured in one run (not timed tests).

    python3 tasks.py bench

1. scoring throughput, the project's scorer against VADER on the same texts, the whole per-post path
   (relatedness, scoring, narrative: bench_path) and the inbox's triage after it (bench_inbox);
2. every function's cold start (bench_coldstart) against a fresh `import boto3`;
3. DynamoDB requests per stored post for a realistic poll against the emulator and local AWS;
4. per source kind, parse throughput on replayed platform answers and DynamoDB requests per
   stored post through the real Poller (bench_sources);
5. statement fan-out to 8 channels against one call of the slowest channel (bench_fanout);
6. the detector's items read and time for 10, 100 and 1,000 topics (bench_detector);
7. a bank run of 2,000 and 20,000 posts through the real Poller and Detector (bench_scale);
8. reply fan-out: 100 approved replies across six platforms, paced, against the pacing floor (bench_replies).
"""
from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "tests" / "data" / "labelled_posts.jsonl"


def _texts(n: int) -> list[str]:
    rows = [json.loads(line)["text"] for line in DATASET.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [rows[i % len(rows)] for i in range(n)]


def bench_scoring(n: int = 20_000, rounds: int = 5) -> dict[str, float]:
    """Each scorer's best of ``rounds`` passes over the same texts, the two alternating pass by pass (as
    timeit takes the best: on a shared machine a pass is only ever slowed, and alternating gives both
    the same conditions)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from crisiscomms.scoring import score_text

    texts = _texts(n)
    score_text(texts[0])
    vader = SentimentIntensityAnalyzer()
    ours = theirs = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for text in texts:
            score_text(text, followers=1000, likes=3, reposts=1)
        ours = min(ours, time.perf_counter() - started)
        started = time.perf_counter()
        for text in texts:
            vader.polarity_scores(text)
        theirs = min(theirs, time.perf_counter() - started)
    return {"posts": n, "rounds": rounds, "crisiscomms_posts_per_s": n / ours, "vader_posts_per_s": n / theirs,
            "ratio": theirs / ours}


def bench_dynamodb_requests(posts: int = 500) -> dict[str, float]:
    from crisiscomms import clock
    from crisiscomms_local.aws import client
    from crisiscomms.clock import SimulatedClock
    from crisiscomms_local.aws import LocalAwsServer, provision, put_watch_config, reset_process_caches
    from crisiscomms_local.emulators import XEmulator
    from crisiscomms_local.lambda_runtime import invoke

    start = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
    sim = SimulatedClock(start)
    clock.install(sim)
    saved = dict(os.environ)
    with LocalAwsServer():
        stack = provision(secrets={"XBearerTokenSecret": "bench-token"})
        with XEmulator(sim, bearer_token="bench-token") as x:
            for n in range(posts):
                x.add_post(text=f"Harbor Bank queue number {n}: can't withdraw", author=f"u{n}",
                           created_at=start - timedelta(minutes=10) + timedelta(seconds=n), followers=n)
            put_watch_config(stack, json.dumps({
                "topics": [{"id": "harbor", "names": ["Harbor Bank"]}, {"id": "withdrawals", "names": ["withdraw"]}],
                "sources": [{"id": "x-main", "platform": "x", "initial_lookback_minutes": 30}],
            }))
            os.environ.update(stack.function_environment("PollerFunction", {
                "X_API_BASE_URL": x.base_url, "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": "ERROR"}))
            reset_process_caches()
            from crisiscomms.wiring import container

            calls: list[str] = []  # counted on the functions' own client, as the Poller makes them
            container().clients("dynamodb").meta.events.register("before-call.dynamodb",
                                                                 lambda model, **kw: calls.append(model.name))
            first = invoke("poller", {"source": "x"})["reports"][0]
            first_calls = len(calls)
            sim.advance(timedelta(minutes=1))
            invoke("poller", {"source": "x"})
            quiet_calls = len(calls) - first_calls
    os.environ.clear()
    os.environ.update(saved)
    clock.install(None)
    return {
        "stored": first["stored"],
        "pages": first["pages"],
        "topics_per_post": 2,
        "requests": first_calls,
        "requests_per_stored_post": first_calls / first["stored"],
        "requests_for_a_quiet_poll": quiet_calls,
        "by_operation": {op: calls[:first_calls].count(op) for op in sorted(set(calls[:first_calls]))},
    }


def main() -> int:
    """Every benchmark in one run; the table at the end is the one in README.md."""
    from crisiscomms_local.bench_coldstart import bench_cold_start
    from crisiscomms_local.bench_detector import main as bench_detector
    from crisiscomms_local.bench_fanout import bench_fanout, report
    from crisiscomms_local.bench_inbox import bench_inbox_triage
    from crisiscomms_local.bench_inbox import render as render_inbox
    from crisiscomms_local.bench_scale import bench_scale, render
    from crisiscomms_local.bench_sources import POSTS, bench_sources
    from crisiscomms_local.bench_sources import render as render_sources

    rows: list[tuple[str, str, str, str]] = []
    print("Scoring throughput (same texts, one core, each the best of 5 passes, alternating)")
    s = bench_scoring()
    print(f"  crisiscomms.scoring  {s['crisiscomms_posts_per_s']:>10,.0f} posts/s")
    print(f"  VADER                {s['vader_posts_per_s']:>10,.0f} posts/s")
    print(f"  ratio                {s['ratio']:>10.3f} x VADER")
    rows.append(("scoring throughput, same 20,000 texts, one core, best of 5 alternating passes",
                 f"{s['crisiscomms_posts_per_s']:,.0f} posts/s",
                 f"VADER {s['vader_posts_per_s']:,.0f} posts/s; goal >= 0.5 x", f"{s['ratio']:.3f} x VADER"))

    from crisiscomms_local.bench_path import GOAL_POSTS_PER_S, bench_path
    from crisiscomms_local.bench_path import render as render_path

    print("\nThe per-post path: relatedness, scoring, narrative (labelled set's texts and banks, one core)")
    pp = bench_path()
    print(render_path(pp))
    rows.append((f"per-post path (relate to {pp['topics']} topics, score, narrative), labelled set's texts, one core,"
                 f" best of {pp['rounds']} passes",
                 f"{pp['path_posts_per_s']:,.0f} posts/s", f"goal >= {GOAL_POSTS_PER_S:,} posts/s",
                 f"{pp['ratio_to_goal']:.2f} x goal"))

    print("\nInbox triage throughput (pure: kind, opens, priority; one core)")
    t = bench_inbox_triage()
    print(render_inbox(t))
    rows.append(("inbox triage throughput (kind, opens, priority), labelled texts, one core",
                 f"{t['triage_posts_per_s']:,.0f} posts/s", f"scoring {t['scoring_posts_per_s']:,.0f} posts/s on the same"
                 " texts, the step before it", f"{t['ratio']:.2f} x scoring"))

    print("\nCold start of every function (handler import + first invocation, fresh process, tracing on)")
    c = bench_cold_start()
    boto3 = c["boto3_import_s"]
    for name, f in c.items():
        if isinstance(f, dict) and name != "floors":
            print(f"  {name:<13} {f['total_s'] * 1000:6.0f} ms  {f['ratio']:.2f} x import boto3"
                  f"  (the same event warm: {f['warm_s'] * 1000:,.0f} ms)")
            rows.append((f"cold start: {name}", f"{f['total_s'] * 1000:,.0f} ms (warm {f['warm_s'] * 1000:,.0f} ms)",
                         f"import boto3 {boto3 * 1000:,.0f} ms; goal <= 1.5 x", f"{f['ratio']:.2f} x boto3"))
    for label, f in c["floors"].items():  # what a function that does nothing of its own pays
        print(f"  floor: {label:<46} {f['total_s'] * 1000:6.0f} ms  {f['ratio']:.2f} x import boto3")
        rows.append((f"cold start floor: {label}", f"{f['total_s'] * 1000:,.0f} ms",
                     f"import boto3 {boto3 * 1000:,.0f} ms; goal <= 1.5 x", f"{f['ratio']:.2f} x boto3"))

    print("\nDynamoDB requests per stored post (one X poll, each post in 2 topics)")
    d = bench_dynamodb_requests()
    print(f"  stored {d['stored']} posts in {d['pages']} pages with {d['requests']} requests "
          f"= {d['requests_per_stored_post']:.3f} requests per post; a quiet poll: {d['requests_for_a_quiet_poll']}")
    rows.append(("DynamoDB requests per stored post (500 posts, 2 topics each)", f"{d['requests']} requests",
                 "floor: a transaction per 100 actions, 4 per 100 posts in 2 topics",
                 f"{d['requests_per_stored_post']:.3f} per post"))

    print(f"\nPer source kind: parse throughput on replayed answers (no sockets timed), and DynamoDB requests\n"
          f"per stored post through the real Poller ({POSTS} posts per source, each in 2 topics)")
    per_source = bench_sources()
    print(render_sources(per_source))
    scoring = s["crisiscomms_posts_per_s"]
    for kind, figures in per_source["sources"].items():
        p = figures["parse"]
        rows.append((f"parse throughput: {kind} ({p['items_per_request']:.0f} items per request, replayed)",
                     f"{p['items_per_s']:,.0f} items/s ({p['ms_per_100_items']:.2f} ms per 100)",
                     f"scoring {scoring:,.0f} posts/s (row 1), the next step of every post",
                     f"{p['items_per_s'] / scoring:.2f} x scoring"))
    for kind, figures in per_source["sources"].items():
        q = figures["dynamodb"]
        rows.append((f"DynamoDB requests per stored post: {kind} ({q['stored']:,} stored, {q['pages']} pages)",
                     f"{q['requests']:,} requests",
                     "floor 0.04: 4 transactions per 100 posts in 2 topics; + per page a key check and a cursor write,"
                     " a lease per source",
                     f"{q['requests_per_stored_post']:.3f} per post"))

    print()
    f = bench_fanout(0.5)
    print(report(f))
    rows.append(("fan-out to 8 channels, publish to last delivery, L = 500 ms",
                 f"{f['publish_to_last_delivery_s'] * 1000:,.0f} ms (range {f['min_s'] * 1000:,.0f}-{f['max_s'] * 1000:,.0f})",
                 "limit: one call of the slowest channel = 1 x L; goal <= 1.5 x L", f"{f['ratio']:.2f} x L"))

    from crisiscomms_local.bench_replies import bench_replies
    from crisiscomms_local.bench_replies import render as render_replies

    print("\nReply fan-out: approved replies across platforms, paced per platform (simulated time)")
    r = bench_replies(100)
    print(render_replies(r))
    rows.append((f"reply fan-out, {r['replies']} approved replies across {len(r['counts'])} platforms, paced "
                 "(simulated time)", f"{r['fan_out_s']:,.0f} s ({r['shown']} shown, {r['drain_wall_s']:.0f} s wall)",
                 f"pacing floor {r['floor_s']:,.0f} s: {r['floor_platform']} {r['counts'][r['floor_platform']]} replies at "
                 f"{r['per_platform'][r['floor_platform']]['per_minute']:g}/min, burst "
                 f"{r['per_platform'][r['floor_platform']]['burst']}", f"{r['ratio']:.3f} x floor"))

    print("\nDetector: one evaluation of every topic")
    det = bench_detector()
    rows.append((f"Detector, items read per topic per run, steady state ({det['topics']:,} topics)",
                 f"{det['items']:.1f} items ({det['all_items']:.1f} with its two state items), "
                 f"{det['read_units']:.1f} read units",
                 f"full read: {det['old_items']:,.0f} items, {det['old_read_units']:,.0f} read units; "
                 "target <= 5 items", f"{det['items'] / det['old_items']:.4f} x the full read"))

    print("\nScale: a bank run through the real Poller and Detector on local AWS")
    scale = bench_scale()
    print(render(scale))
    small, large = scale["runs"][0], scale["runs"][-1]
    rows.append((f"bank run through the real Poller and Detector, {large['stored']:,} posts in one simulated hour",
                 f"{large['wall_s']:.0f} s wall, {large['ms_per_post']:.2f} ms/post, peak {large['peak_rss_mb']:,.0f} MB",
                 f"{small['stored']:,} posts: {small['ms_per_post']:.2f} ms/post; goals <= 1.2 x per post, "
                 "<= 1,536 MB, <= 120 s", f"{scale['ratio_ms_per_post']:.2f} x per post"))

    print("\n| what | figure | anchor | ratio |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
