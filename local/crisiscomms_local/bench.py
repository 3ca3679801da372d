"""Benchmarks: figures and ratios measured in one run (not timed tests).

    python3 tasks.py bench

1. scoring throughput, the project's scorer against VADER on the same texts;
2. Poller cold start (a fresh process importing the handler module) against a fresh `import boto3`;
3. DynamoDB requests per stored post for a realistic poll against the emulator and local AWS;
4. statement fan-out wall time to 8 channels as a ratio to each platform's response time;
5. the detector's evaluation time for 10, 100 and 1,000 topics.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "tests" / "data" / "labelled_posts.jsonl"


def _texts(n: int) -> list[str]:
    rows = [json.loads(line)["text"] for line in DATASET.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [rows[i % len(rows)] for i in range(n)]


def bench_scoring(n: int = 20_000) -> dict[str, float]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from crisiscomms.scoring import score_text

    texts = _texts(n)
    score_text(texts[0])
    started = time.perf_counter()
    for text in texts:
        score_text(text, followers=1000, likes=3, reposts=1)
    ours = n / (time.perf_counter() - started)
    vader = SentimentIntensityAnalyzer()
    started = time.perf_counter()
    for text in texts:
        vader.polarity_scores(text)
    theirs = n / (time.perf_counter() - started)
    return {"posts": n, "crisiscomms_posts_per_s": ours, "vader_posts_per_s": theirs, "ratio": ours / theirs}


def _fresh_import_seconds(code: str, runs: int = 7) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"POWERTOOLS_SERVICE_NAME": "crisiscomms", "AWS_DEFAULT_REGION": "eu-west-1", "PYTHONDONTWRITEBYTECODE": "1"})
    probe = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
    samples = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def bench_cold_start() -> dict[str, float]:
    handler = ROOT / "functions" / "poller" / "app.py"
    load_handler = (
        "import importlib.util as u; "
        f"s = u.spec_from_file_location('app', {str(handler)!r}); m = u.module_from_spec(s); s.loader.exec_module(m)"
    )
    poller = _fresh_import_seconds(load_handler)
    boto3 = _fresh_import_seconds("import boto3")
    return {"poller_import_s": poller, "boto3_import_s": boto3, "ratio": poller / boto3}


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
            calls: list[str] = []
            client("dynamodb").meta.events.register("before-call.dynamodb", lambda model, **kw: calls.append(model.name))
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


def bench_fanout(latency: float = 0.2) -> dict[str, float]:
    """Wall time to deliver one statement to 8 channels when each platform answers after `latency` s."""
    from crisiscomms_local.apigw import rest_event
    from crisiscomms_local.desk_world import start_desk_world
    from crisiscomms_local.lambda_runtime import invoke

    saved = dict(os.environ)
    one_each = {c: ["en"] for c in ("newsroom", "x", "weibo", "wechat", "mastodon", "bluesky", "telegram", "webhook")}
    one_each.update(weibo=["zh"], wechat=["zh"])
    text = {"zh": {"full": "港湾银行声明：所有账户正常。", "short": "港湾银行：所有账户正常。"},
            "en": {"full": "Harbor Bank statement: all accounts are available.", "short": "All Harbor Bank accounts are available."}}
    results = {}
    world = start_desk_world(http_timeout=5.0, languages=one_each)
    try:
        for label, delay in (("warm-up", 0.0), ("overhead", 0.0), ("latency", latency)):
            for em in world.emulators.values():
                em.latency_seconds = delay

            def call(method: str, path: str, body: object = None, user: str = "li", group: str = "comms-author") -> dict:
                result = invoke("api", rest_event(method, path, body=body, user=user, groups=[group]))
                return json.loads(result["body"])

            sid = call("POST", "/statements", {"channels": list(one_each), "text": text})["id"]
            call("POST", f"/statements/{sid}/approve", {"version": 1}, user="wang", group="comms-approver")
            call("POST", f"/statements/{sid}/publish", user="wang", group="comms-approver")
            started = time.perf_counter()
            world.pump()
            results[label] = time.perf_counter() - started
            states = [d["state"] for d in call("GET", f"/statements/{sid}", user="zhou", group="auditor")["deliveries"]]
            assert states == ["SENT"] * 8, states
    finally:
        world.close()
        os.environ.clear()
        os.environ.update(saved)
    return {"latency_s": latency, "wall_s": results["latency"], "overhead_s": results["overhead"],
            "ratio": results["latency"] / latency, "ratio_net": (results["latency"] - results["overhead"]) / latency}


def main() -> int:
    print("Scoring throughput (same texts, one core)")
    s = bench_scoring()
    print(f"  crisiscomms.scoring  {s['crisiscomms_posts_per_s']:>10,.0f} posts/s")
    print(f"  VADER                {s['vader_posts_per_s']:>10,.0f} posts/s")
    print(f"  ratio                {s['ratio']:>10.2f} x VADER")
    print("\nPoller cold start (fresh process, median of 7)")
    c = bench_cold_start()
    print(f"  import handler module  {c['poller_import_s'] * 1000:>7.0f} ms")
    print(f"  import boto3           {c['boto3_import_s'] * 1000:>7.0f} ms")
    print(f"  ratio                  {c['ratio']:>7.2f} x boto3")
    print("\nDynamoDB requests per stored post (one X poll, each post in 2 topics)")
    d = bench_dynamodb_requests()
    print(f"  stored {d['stored']} posts in {d['pages']} pages with {d['requests']} requests "
          f"= {d['requests_per_stored_post']:.3f} requests per post")
    print(f"  by operation: {d['by_operation']}")
    print(f"  a poll with nothing new: {d['requests_for_a_quiet_poll']} requests")
    print("\nStatement fan-out to 8 channels, each platform answering after L")
    f = bench_fanout(0.5)
    print(f"  L = {f['latency_s'] * 1000:.0f} ms: all 8 delivered in {f['wall_s'] * 1000:.0f} ms = {f['ratio']:.2f} x L "
          f"(sequential posting would be 8 x L or more)")
    print(f"  same with L = 0 (local AWS and bookkeeping only): {f['overhead_s'] * 1000:.0f} ms; "
          f"net of that: {f['ratio_net']:.2f} x L")
    print("\nDetector: one evaluation of every topic")
    from crisiscomms_local.bench_detector import main as bench_detector

    bench_detector()
    return 0


if __name__ == "__main__":
    sys.exit(main())
