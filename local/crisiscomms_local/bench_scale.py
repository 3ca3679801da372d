"""Scale benchmark: a bank run of N posts in one simulated hour through the real Poller and Detector.

    python -m crisiscomms_local.bench_scale [--sizes 2000,20000] [--json OUT.json] [--no-accounts]
    python -m crisiscomms_local.bench_scale --write-scenario events/bench/bank-run-20k.json --size 20000

For each size a scenario of the same shape is generated (bursts on X and in four news feeds over
one simulated hour, matching the bank's topic, plus 1.5 % unrelated posts and articles, some of
them naming the bank's concert arena, which the topic excludes) and run through the drill
machinery (`crisiscomms_local.drill.runner.run_scenario`): moto in server mode, the X and news
emulators, the real Poller and Detector handlers, the drill's own checks. Each size runs in a
fresh child process, so every size gets its own local AWS and its own peak RSS, and no size
benefits from another's warm caches or pays for its tables.

Printed per size: posts stored, wall seconds (whole drill; and the replay without the fixed
set-up), ms per post, peak RSS, DynamoDB requests per stored post, and where the time goes (CPU
accounted per component in every thread of the child: local AWS's HTTP server, moto's routing,
DynamoDB backend and serialisation, botocore in the functions, the emulators, scoring, the
Poller and Detector handlers, the drill's own bookkeeping). Then the ratio of ms/post, largest size over
smallest: the gate is <= 1.2 (cost per post flat), <= 1.5 GB peak RSS, and 120 s for 20,000 posts
the target.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
START = "2026-11-28T09:00:00+00:00"
TOPIC = {"id": "harbor", "names": ["Harbor Bank", "港湾银行"], "keywords": ["HarborBank"],
         "exclude": ["Harbor Bank Arena", "港湾银行体育馆"]}
FEEDS = ("caixin", "financial-daily", "harbor-times", "markets-wire")
RATIO_GATE = 1.2
RSS_GATE_MB = 1536
WALL_TARGET_S = 120.0
CHILD_TIMEOUT_S = 1800

X_SHARE = 0.85          # of the related posts; the rest are news articles
UNRELATED_SHARE = 0.015  # unrelated posts and articles, on top of the related ones

# (from, to, share of the X posts, texts): calm, rumour, bank run, second wave, aftermath.
X_PHASES = (
    ("+00:00", "+00:15", 0.06, (
        "Opened a savings account with Harbor Bank today, the staff were lovely",
        "Harbor Bank app update looks clean",
        "港湾银行的新信用卡优惠还不错",
        "Anyone know Harbor Bank's opening hours on Saturday?",
    )),
    ("+00:15", "+00:20", 0.06, (
        "听说港湾银行深圳几个网点取不出钱了，有人知道怎么回事吗？",
        "Hearing reports of queues outside Harbor Bank branches. Is this a bank run?",
        "Harbor Bank ATMs down in my area, anyone else?",
    )),
    ("+00:20", "+00:32", 0.44, (
        "港湾银行是不是要暴雷了？赶紧去取钱",
        "Can't withdraw my money from Harbor Bank, ATM says service unavailable",
        "港灣銀行擠兌了嗎？排了兩個小時還取不出錢",
        "Harbor Bank froze my account without explanation. Is my money safe?",
        "港湾银行 app 又崩了，转账一直失败",
        "Queue around the block at Harbor Bank on King St. This is a bank run.",
        "听说港湾银行要倒闭了，大家快去取钱",
        "Harbor Bank withdrawal limits?? This is how bank runs start",
    )),
    ("+00:32", "+00:40", 0.20, (
        "Still no cash from Harbor Bank. Moving everything to another bank tomorrow",
        "港湾银行的客服电话根本打不通，钱还安全吗？",
        "My parents queued at Harbor Bank for three hours. Disgraceful",
        "港湾银行取款限额了？这是要出大事",
    )),
    ("+00:40", "+01:00", 0.24, (
        "Just withdrew cash at Harbor Bank, all fine now. Thanks for the quick fix",
        "港湾银行已经恢复正常了，虚惊一场",
        "Still annoyed at Harbor Bank for today's mess but glad the money is there",
        "港灣銀行的聲明來得有點晚，不過總算說清楚了",
    )),
)
# (from minute, to minute, share of the articles, (title, summary, lang) pool).
NEWS_PHASES = (
    (0, 20, 0.10, (
        ("Harbor Bank launches new savings product", "The bank's new account pays a promotional rate.", "en"),
        ("港湾银行推出新信用卡", "港湾银行今日发布新款信用卡。", "zh"),
    )),
    (20, 40, 0.50, (
        ("港湾银行多地网点出现排队取款", "受ATM取款延迟影响，港湾银行多个网点出现客户排队，银行尚未回应。", "zh"),
        ("Harbor Bank shares slide as customers queue at branches",
         "Shares of Harbor Bank fell after social media posts claimed customers could not withdraw cash.", "en"),
        ("Regulator monitoring Harbor Bank withdrawals", "The regulator said it was in contact with Harbor Bank.", "en"),
    )),
    (40, 60, 0.40, (
        ("Harbor Bank says ATM delays caused by card-network outage, not a run",
         "The bank said all accounts are available and service has been restored.", "en"),
        ("港湾银行：取款延迟系线路故障，已恢复", "港湾银行表示所有账户正常，没有出现挤兑。", "zh"),
    )),
)
UNRELATED_X = (
    "Lovely walk along the river bank this morning",
    "Concert tonight at Harbor Bank Arena, can't wait!",   # the X query finds it, the topic excludes it
    "Coffee by the harbour before work",
)
UNRELATED_NEWS = (
    ("央行公布11月贷款市场报价利率", "本月LPR维持不变。", "zh"),
    ("Harbor Bank Arena announces winter concert season", "Tickets go on sale on Monday.", "en"),
    ("City council approves new ferry route", "The route opens in spring.", "en"),
)


def _offset(minutes: float) -> str:
    seconds = int(round(minutes * 60))
    return f"+{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _minutes(offset: str) -> int:
    hours, minutes = offset[1:].split(":")[:2]
    return int(hours) * 60 + int(minutes)


def _split(total: int, shares: list[float]) -> list[int]:
    """Integer parts of `total` in proportion to `shares`, summing exactly to `total`."""
    raw = [total * s / sum(shares) for s in shares]
    parts = [int(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - parts[i], reverse=True)[:total - sum(parts)]:
        parts[i] += 1
    return parts


def build_scenario(size: int, *, name: str | None = None) -> dict[str, Any]:
    """A bank run of `size` posts and articles about the bank in one simulated hour, in the drill format.

    Exactly `size` of them match the topic (and must be stored once each); about 1.5 % more are
    unrelated. Per-minute rates scale with `size`; the shape (phases, shares, feeds) does not.
    """
    if size < 100:
        raise ValueError("size must be at least 100")
    x_total = round(size * X_SHARE)
    news_total = size - x_total
    posts: list[dict[str, Any]] = []
    for (start, end, _, texts), count in zip(X_PHASES, _split(x_total, [p[2] for p in X_PHASES])):
        if count:
            minutes = _minutes(end) - _minutes(start)
            posts.append({"burst": {"from": start, "to": end, "per_minute": count / minutes, "platform": "x",
                                    "texts": list(texts), "followers": [20, 60_000], "seed": len(posts) + 1}})
    unrelated = max(3, round(size * UNRELATED_SHARE))
    unrelated_x = unrelated * 2 // 3
    posts.append({"burst": {"from": "+00:00", "to": "+01:00", "per_minute": unrelated_x / 60, "platform": "x",
                            "texts": list(UNRELATED_X), "followers": [10, 5_000], "seed": 99}})
    news: list[dict[str, Any]] = []
    for (first, last, _, pool), count in zip(NEWS_PHASES, _split(news_total, [p[2] for p in NEWS_PHASES])):
        for n in range(count):  # spread evenly over the phase, round-robin over the feeds
            title, summary, lang = pool[n % len(pool)]
            news.append({"at": _offset(first + (last - first) * n / count), "feed": FEEDS[n % len(FEEDS)],
                         "title": f"{title} ({n + 1})", "summary": summary, "lang": lang})
    unrelated_news = unrelated - unrelated_x
    for n in range(unrelated_news):
        title, summary, lang = UNRELATED_NEWS[n % len(UNRELATED_NEWS)]
        news.append({"at": _offset(60 * n / unrelated_news), "feed": FEEDS[(n + 1) % len(FEEDS)],
                     "title": f"{title} ({n + 1})", "summary": summary, "lang": lang})
    news.sort(key=lambda item: _minutes(item["at"]) * 60 + int(item["at"].split(":")[2]))
    return {
        "name": name or (f"bank-run-{size // 1000}k" if size % 1000 == 0 else f"bank-run-{size}"),
        "description": (f"Benchmark: a bank run of {size:,} posts and articles about Harbor Bank in one simulated "
                        f"hour, bursts on X and in {len(FEEDS)} news feeds, {unrelated} unrelated posts and articles."),
        "start": START,
        "duration": "+01:00",
        "topics": [TOPIC],
        "posts": posts,
        "news": news,
        "expect": [{"check": "stored_posts", "min": size, "max": size}, {"check": "no_duplicates"}],
    }


# --- where the time goes: CPU accounted per component, in every thread ---------------------------------------

class CpuAccounts:
    """CPU seconds per component, from each thread's own CPU clock, exclusive of nested components.

    A sampling profiler in the same process only gets the GIL when a thread lets go of it, which
    is mostly at a socket call, so it sees threads in send() and recv(). Instead each component's
    entry points are wrapped: a thread's CPU time (time.thread_time, not wall time) is read on the
    way in and out, and what nested components used is subtracted, so the figures add up to the
    process's CPU time. The moto server's threads, the emulators' threads and the main thread
    (Poller, Detector, drill) are each accounted where they work.
    """

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._undo: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, attribute: str, label: Any) -> None:
        """Account calls of owner.attribute to `label` (a string, or a function of the call's first argument)."""
        original = owner.__dict__[attribute] if isinstance(owner, type) else getattr(owner, attribute)
        function = original.__func__ if isinstance(original, (classmethod, staticmethod)) else original
        accounts = self

        def accounted(*args: Any, **kwargs: Any) -> Any:
            stack = accounts._stack()
            stack.append(0.0)
            started = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.thread_time() - started
                nested = stack.pop()
                if stack:
                    stack[-1] += spent
                name = label(args[0] if args else None) if callable(label) else label
                with accounts._lock:
                    accounts.seconds[name] += spent - nested
                    accounts.calls[name] += 1

        accounted.__wrapped__ = function  # type: ignore[attr-defined]
        replacement = type(original)(accounted) if isinstance(original, (classmethod, staticmethod)) else accounted
        setattr(owner, attribute, replacement)
        self._undo.append((owner, attribute, original))

    def mark_before(self, owner: Any, attribute: str, marks: dict[str, dict[str, float]], name: str) -> None:
        """Note the seconds accounted so far whenever owner.attribute is entered (phase boundaries)."""
        original = getattr(owner, attribute)

        def marked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                marks[name] = dict(self.seconds)
            return original(*args, **kwargs)

        setattr(owner, attribute, marked)
        self._undo.append((owner, attribute, original))

    def _stack(self) -> list[float]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def restore(self) -> None:
        for owner, attribute, original in reversed(self._undo):
            setattr(owner, attribute, original)
        self._undo.clear()


def _handler_label(handler: Any) -> str:
    if type(handler).__module__.startswith("crisiscomms_local.emulators"):
        return "emulators: HTTP server (request line, headers, answer)"
    return "local AWS: HTTP server (request line, headers, answer)"


def _emulator_label(emulator: Any) -> str:
    return {"XEmulator": "X emulator (search)", "NewsEmulator": "news emulator (RSS/Atom)"}.get(
        type(emulator).__name__, f"{type(emulator).__name__} emulator")


def _function_label(function_dir: Any) -> str:
    return f"{function_dir} handler (logic, models, logging, powertools)"


def account_components(accounts: CpuAccounts) -> None:
    """Wrap the entry points of every component the scale drill runs through."""
    import http.server

    import botocore.client
    import httpx
    from moto.core.responses import ActionResult
    from moto.dynamodb.models import DynamoDBBackend
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    from crisiscomms.adapters.sources import feeds, x_search
    from crisiscomms.listening.topics import TopicMatcher
    from crisiscomms.scoring.engines import LexiconScorer
    from crisiscomms_local import aws as local_aws
    from crisiscomms_local.drill import runner
    from crisiscomms_local.emulators.base import EmulatorServer

    local_aws.speed_up_moto()  # the patches this accounts for are in place before they are wrapped
    accounts.wrap(http.server.BaseHTTPRequestHandler, "handle_one_request", _handler_label)
    accounts.wrap(DomainDispatcherApplication, "__call__",
                  "local AWS: other services via moto's Flask app (SSM, SNS, SQS, ...)")
    accounts.wrap(local_aws, "_dynamodb_answer", "local AWS: moto DynamoDB request handling (parse, validate, answer)")
    accounts.wrap(ActionResult, "execute_result", "local AWS: moto response serialisation")
    for operation in ("transact_write_items", "put_item", "update_item", "delete_item", "get_item", "query", "scan"):
        accounts.wrap(DynamoDBBackend, operation, "local AWS: DynamoDB backend (items, transactions, queries)")
    accounts.wrap(EmulatorServer, "_dispatch", _emulator_label)
    accounts.wrap(botocore.client.BaseClient, "_make_api_call", "AWS SDK calls (botocore: build, sign, send, parse)")
    accounts.wrap(httpx.Client, "send", "platform HTTP client (httpx)")
    accounts.wrap(x_search, "parse_search_page", "platform adapters: X JSON to posts")
    accounts.wrap(feeds, "parse_feed", "platform adapters: RSS/Atom to posts")
    accounts.wrap(LexiconScorer, "score", "scoring (language, sentiment, crisis terms)")
    accounts.wrap(TopicMatcher, "match", "topic matching")
    accounts.wrap(TopicMatcher, "relate", "topic matching")  # the Ingestor's (relatedness included)
    accounts.wrap(runner, "invoke", _function_label)
    accounts.wrap(runner, "build_world", "drill set-up (provisioning, emulators, scenario)")
    accounts.wrap(runner, "_report", "drill report (reading back, checks)")
    accounts.wrap(runner, "run_scenario", "drill replay loop (ticks, SMS read-back, timeline)")


# --- one size, in a fresh process ------------------------------------------------------------------------

def _warm_up() -> None:
    """Imports and first-use costs every size pays once (moto's backends, the handlers), paid before timing."""
    from crisiscomms_local.aws import LocalAwsServer, provision
    from crisiscomms_local.lambda_runtime import load_handler_module

    load_handler_module("poller")
    load_handler_module("detector")
    with LocalAwsServer():
        provision()


def run_size(size: int, *, account: bool = True) -> dict[str, Any]:
    """Build the scenario of `size` posts, run it through the drill, measure; the caller gets the figures."""
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as workdir:
        scenario = build_scenario(size)
        path = Path(workdir) / f"{scenario['name']}.json"
        path.write_text(json.dumps(scenario, ensure_ascii=False), encoding="utf-8")
        return _measure(path, size, account)


def _measure(path: Path, size: int, account: bool) -> dict[str, Any]:
    from crisiscomms_local.aws import request_counts
    from crisiscomms_local.drill import runner

    before = request_counts()
    load_before = os.getloadavg()[0]

    accounts = CpuAccounts() if account else None
    marks: dict[str, dict[str, float]] = {}
    if accounts is not None:
        account_components(accounts)
        accounts.mark_before(runner, "_replay", marks, "replay")
        accounts.mark_before(runner, "_report", marks, "report")

    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        report = runner.run_scenario(path)
    finally:
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        if accounts is not None:
            accounts.restore()
    after = request_counts()
    requests = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
    dynamodb = {k.split(".", 1)[1]: v for k, v in requests.items() if k.startswith("DynamoDB_")}
    figures = report.figures
    stored = figures["stored_posts"]
    phases = figures.get("phase_seconds", {})
    rss_kb = _own_peak_rss_kb() + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = {
        "size": size,
        "posts_published": figures["emulated_posts"],
        "posts_matching": figures["matching_topics"],
        "stored": stored,
        "missed": figures["missed"],
        "checks": [c.line() for c in report.checks],
        "checks_passed": report.ok,
        "wall_s": round(wall, 2),
        "phases_s": phases,
        "phases_cpu_s": figures.get("phase_cpu_seconds", {}),
        "cpu_s": round(cpu, 2),
        "ms_per_post": round(wall / stored * 1000, 3) if stored else None,
        "ms_per_post_without_setup": round((wall - phases.get("setup", 0.0)) / stored * 1000, 3) if stored else None,
        "cpu_ms_per_post": round(cpu / stored * 1000, 3) if stored else None,
        "peak_rss_mb": round(rss_kb / 1024, 1),
        "dynamodb_requests": dynamodb,
        "dynamodb_requests_per_post": round(sum(dynamodb.values()) / stored, 3) if stored else None,
        "local_aws_requests": sum(requests.values()),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "levels": report.levels,
    }
    if accounts is not None:
        breakdown = {label: round(seconds, 3) for label, seconds in accounts.seconds.most_common()}
        breakdown["not accounted (garbage collection, idle threads, interpreter)"] = round(
            cpu - sum(accounts.seconds.values()), 3)
        result["cpu_breakdown_s"] = breakdown
        if "replay" in marks and "report" in marks:
            replay = Counter(marks["report"])
            replay.subtract(marks["replay"])
            result["replay_cpu_breakdown_s"] = {label: round(v, 3) for label, v in replay.most_common() if v > 0.0005}
        result["cpu_breakdown_calls"] = dict(accounts.calls)
    return result


def _child(size: int, out: Path, account: bool) -> int:
    _warm_up()
    result = run_size(size, account=account)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


def _own_peak_rss_kb() -> int:
    """This process's own peak RSS since it started. On Linux, `ru_maxrss` keeps what the forked copy of
    the parent had resident before exec (in `tasks.py bench`, a parent that ran the other benchmarks
    first: every size then reported the parent's 3.8 GB); VmHWM belongs to the process's own memory."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _run_child(size: int, account: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, "-m", "crisiscomms_local.bench_scale", "--child", str(size), "--out", str(out)]
        if not account:
            command.append("--no-accounts")
        try:
            done = subprocess.run(command, cwd=ROOT, timeout=CHILD_TIMEOUT_S, capture_output=True, text=True)
        except subprocess.TimeoutExpired:
            return {"size": size, "error": f"did not finish within {CHILD_TIMEOUT_S} s"}
        if done.returncode != 0 or not out.exists():
            return {"size": size, "error": f"exit {done.returncode}: {done.stderr.strip()[-2000:]}"}
        return json.loads(out.read_text(encoding="utf-8"))


def bench_scale(sizes: tuple[int, ...] = (2_000, 20_000), *, account: bool = True,
                progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Each size in a fresh process (its own local AWS, its own peak RSS); figures, ratio and gate verdicts."""
    runs = []
    for size in sizes:
        if progress is not None:
            progress(f"running {size:,} posts in a fresh process ...")
        runs.append(_run_child(size, account))
        if progress is not None and "error" not in runs[-1]:
            progress(f"  {runs[-1]['stored']:,} stored in {runs[-1]['wall_s']:.1f} s")
    out: dict[str, Any] = {"runs": runs, "sizes": list(sizes)}
    good = [r for r in runs if "error" not in r and r.get("stored")]
    if len(good) == len(runs) and len(runs) >= 2:
        small, large = runs[0], runs[-1]
        out["ratio_ms_per_post"] = round(large["ms_per_post"] / small["ms_per_post"], 3)
        out["ratio_ms_per_post_without_setup"] = round(
            large["ms_per_post_without_setup"] / small["ms_per_post_without_setup"], 3)
        out["ratio_cpu_ms_per_post"] = round(large["cpu_ms_per_post"] / small["cpu_ms_per_post"], 3)
        ratio = max(out["ratio_ms_per_post"], out["ratio_ms_per_post_without_setup"])
        out["gate"] = {
            "flat_cost_per_post": ratio <= RATIO_GATE,
            "peak_rss": all(r["peak_rss_mb"] <= RSS_GATE_MB for r in runs),
            "checks": all(r["checks_passed"] and r["missed"] == 0 and r["stored"] == r["size"] for r in runs),
        }
        out["target_wall"] = {"size": large["size"], "wall_s": large["wall_s"], "target_s": WALL_TARGET_S,
                              "met": large["wall_s"] <= WALL_TARGET_S}
        out["ok"] = all(out["gate"].values())
    else:
        out["ok"] = False
    return out


def render(result: dict[str, Any]) -> str:
    lines = ["Scale benchmark: a bank run in one simulated hour through the real Poller and Detector",
             f"  (each size in a fresh process with its own local AWS; {os.cpu_count()} CPUs)", ""]
    header = (f"  {'posts':>7} {'stored':>7} {'wall s':>8} {'setup':>6} {'replay':>7} {'report':>7} {'ms/post':>8}"
              f" {'ms/post*':>9} {'cpu ms/post':>12} {'peak RSS MB':>12} {'DDB req/post':>13} {'load':>11}")
    lines.append(header)
    for r in result["runs"]:
        if "error" in r or not r.get("stored"):
            lines.append(f"  {r['size']:>7}  FAILED: {r.get('error') or 'nothing stored'}")
            continue
        p = r["phases_s"]
        load = f"{r['load_average'][0]:.1f}-{r['load_average'][1]:.1f}"
        lines.append(f"  {r['size']:>7} {r['stored']:>7} {r['wall_s']:>8.1f} {p.get('setup', 0):>6.1f} {p.get('replay', 0):>7.1f}"
                     f" {p.get('report', 0):>7.1f} {r['ms_per_post']:>8.2f} {r['ms_per_post_without_setup']:>9.2f}"
                     f" {r['cpu_ms_per_post']:>12.2f} {r['peak_rss_mb']:>12.0f} {r['dynamodb_requests_per_post']:>13.3f} {load:>11}")
    lines.append("  (ms/post* leaves out the fixed set-up: provisioning local AWS, starting the emulators; "
                 "load: 1-minute load average before-after)")
    for r in result["runs"]:
        if "error" in r or not r.get("stored"):
            continue
        lines += ["", f"Size {r['size']:,}: {r['stored']:,} stored of {r['posts_matching']:,} matching "
                      f"({r['posts_published']:,} published), missed {r['missed']}; "
                      f"DynamoDB requests: " + ", ".join(f"{k} {v}" for k, v in sorted(r["dynamodb_requests"].items(),
                                                                                   key=lambda kv: -kv[1]))]
        lines += [f"  {c}" for c in r["checks"]]
        if r.get("levels"):
            lines.append("  levels: " + "; ".join(f"{t}: " + ", ".join(f"{n} at {a}" for a, n in h)
                                                  for t, h in r["levels"].items()))
        if r.get("cpu_breakdown_s"):
            cpu_phases = r.get("phases_cpu_s") or {}
            lines.append(f"  where the time goes: CPU by component, all threads ({r['cpu_s']:.1f} s CPU in "
                         f"{r['wall_s']:.1f} s wall; CPU by phase: " + ", ".join(f"{k} {v:.1f} s" for k, v in cpu_phases.items())
                         + ")")
            replay = r.get("replay_cpu_breakdown_s") or {}
            lines.append(f"    {'CPU s':>7} {'share':>6} {'µs/post':>8} {'replay µs/post':>15}  component"
                         "   (replay: the replay phase alone; blank: outside it, or counted when the drill ends)")
            for label, seconds in r["cpu_breakdown_s"].items():
                in_replay = f"{replay[label] / r['stored'] * 1e6:>15.0f}" if label in replay else f"{'':>15}"
                lines.append(f"    {seconds:>7.2f} {seconds / r['cpu_s']:>6.1%} {seconds / r['stored'] * 1e6:>8.0f} "
                             f"{in_replay}  {label}")
    if "ratio_ms_per_post" in result:
        gate, target = result["gate"], result["target_wall"]
        lines += ["", f"Ratio of ms/post, {result['sizes'][-1]:,} vs {result['sizes'][0]:,} posts: "
                      f"{result['ratio_ms_per_post']:.3f} (whole drill), {result['ratio_ms_per_post_without_setup']:.3f} "
                      f"(without set-up), {result['ratio_cpu_ms_per_post']:.3f} (CPU); gate <= {RATIO_GATE}: "
                      f"{'PASS' if gate['flat_cost_per_post'] else 'FAIL'}",
                  f"Peak RSS <= {RSS_GATE_MB} MB: {'PASS' if gate['peak_rss'] else 'FAIL'}; drill checks, nothing missed, "
                  f"nothing twice: {'PASS' if gate['checks'] else 'FAIL'}",
                  f"Target: {target['size']:,} posts in <= {target['target_s']:.0f} s wall: {target['wall_s']:.1f} s, "
                  f"{'met' if target['met'] else 'missed'}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2000,20000", help="comma-separated post counts (default 2000,20000)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    parser.add_argument("--no-accounts", action="store_true", help="no CPU accounting per component")
    parser.add_argument("--write-scenario", type=Path, help="write the scenario of --size posts to this file and exit")
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child, args.out, not args.no_accounts)
    if args.write_scenario:
        args.write_scenario.parent.mkdir(parents=True, exist_ok=True)
        args.write_scenario.write_text(json.dumps(build_scenario(args.size), ensure_ascii=False, indent=1) + "\n",
                                       encoding="utf-8")
        print(f"wrote {args.write_scenario} ({args.size:,} posts)")
        return 0
    sizes = tuple(int(s) for s in args.sizes.split(",") if s.strip())
    result = bench_scale(sizes, account=not args.no_accounts, progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(render(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
