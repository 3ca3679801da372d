"""Per-source benchmark: how fast each adapter reads its platform, and what a stored post costs in DynamoDB.

    python -m crisiscomms_local.bench_sources [--posts N] [--json OUT]

Every source kind (x, news and each platform of LISTENING_EMULATORS) gets the same N posts, all
naming both watched topics, one in TO_BANK_EVERY addressed to the bank's own account.

1. Parse throughput. The platform's real answers are captured once from its emulator while the
   adapter reads everything (each source to the end of its pages, as the Poller's loop would), then
   the same read is replayed from memory through `httpx.MockTransport` and timed. Timed: the
   adapter's `read`/`search`/`fetch` calls from the first request to the last Post: building each
   request in httpx, handing it to the in-process transport, the response object, JSON (or XML)
   decoding, the adapter's parsing and every Post's pydantic validation. Not timed: sockets and the
   emulator, building the readers, tracing (the replay clients carry no tracing hooks). Items/s is
   Posts produced per second, best of REPEATS; every Post an adapter hands back counts, re-reads
   included (Weibo searches each topic term, so a post found by both comes back twice). "ms per 100
   items" is the same figure scaled, since pages hold what the platform allows (X, Bluesky, Reddit
   100; Weibo search 50; WeChat 49; Mastodon 40; Douyin 20; a news feed its 100 newest items), and
   some requests carry no posts (Bluesky's getProfiles for follower counts, empty streams).
2. DynamoDB requests per stored post. Local AWS is provisioned from template.yaml, each platform's
   secret holds its emulator's credentials, and the real Poller is invoked for the kind, a simulated
   minute apart, until a run stores nothing new. The requests are counted on the functions' own
   DynamoDB client by operation; the last run (the quiet one) is reported apart.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from crisiscomms.adapters.http import USER_AGENT
from crisiscomms.clock import SimulatedClock
from crisiscomms.errors import TokenExpired
from crisiscomms.models import Post
from crisiscomms.watch import WatchConfig, parse_watch_config

START = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
POSTS = 300
REPEATS = 15
TO_BANK_EVERY = 50
FEED_ITEMS = 100
X_TOKEN = "bench-sources-x-token"
X_BANK_HANDLE = "HarborBank"
TOPICS = [{"id": "harbor", "names": ["Harbor Bank"]}, {"id": "withdrawals", "names": ["withdraw"]}]
# Every post falls inside the shortest initial lookback of any emulator's sources (Weibo's 5 minutes).
SPREAD = timedelta(minutes=4)
MAX_READS_PER_SOURCE = 500
MAX_POLLER_RUNS = 20


README_ORDER = ("x", "news", "weibo", "wechat", "douyin", "mastodon", "bluesky", "reddit")


def source_kinds() -> list[str]:
    """X, news and every platform with a listening emulator, in the README's order (a new one last)."""
    from crisiscomms_local.emulators import LISTENING_EMULATORS

    kinds = {"x", "news", *LISTENING_EMULATORS}
    return sorted(kinds, key=lambda k: (README_ORDER.index(k) if k in README_ORDER else len(README_ORDER), k))


# --- the emulated platforms, filled the same for every kind ----------------------------------------

@dataclass
class SourceWorld:
    """The emulators running with the same posts each, and the watch configuration that reads them all."""

    clock: SimulatedClock
    x: Any
    news: Any
    listening: dict[str, Any]
    document: dict[str, Any]
    feeds: list[str]

    @property
    def config(self) -> WatchConfig:
        return parse_watch_config(self.document)

    def close(self) -> None:
        for emulator in (self.x, self.news, *self.listening.values()):
            emulator.stop()


def _post_text(n: int) -> str:
    return f"Harbor Bank queue number {n}: can't withdraw my savings, branch closed"


def start_world(posts: int = POSTS, kinds: list[str] | None = None) -> SourceWorld:
    """Start the emulators of `kinds` (all by default) and give each `posts` posts."""
    from crisiscomms_local.emulators import LISTENING_EMULATORS, NewsEmulator, XEmulator

    kinds = kinds or source_kinds()
    clock = SimulatedClock(START)
    x = XEmulator(clock, bearer_token=X_TOKEN)
    news = NewsEmulator(clock, items_per_feed=FEED_ITEMS)
    listening = {p: LISTENING_EMULATORS[p](clock, timeout_delay=2.0) for p in kinds if p in LISTENING_EMULATORS}
    started: list[Any] = []
    try:
        for emulator in (x, news, *listening.values()):
            emulator.start()
            started.append(emulator)
        x.bank_handle = X_BANK_HANDLE
        step = min(timedelta(seconds=1), SPREAD / max(posts, 1))
        created = [START - SPREAD + step * n for n in range(posts)]
        feeds = [f"bench-{i + 1}" for i in range(math.ceil(posts / FEED_ITEMS))] if "news" in kinds else []
        for n, when in enumerate(created):
            author, to_bank = f"user{n}", n % TO_BANK_EVERY == 0
            common = {"text": _post_text(n), "author": author, "created_at": when, "followers": 100 + n,
                      "likes": n % 7, "reposts": n % 3, "replies": n % 5, "lang": "en", "to_bank": to_bank}
            if "x" in kinds:
                x.add_post(**common)
            for emulator in listening.values():
                emulator.add_post(**common)
            if feeds:
                news.add_item(feeds[n // FEED_ITEMS], title=f"Harbor Bank branch queues, report {n}",
                              summary=_post_text(n), published_at=when)
        accounts = {p: dict(e.default_account()) for p, e in listening.items()}
        sources: list[dict[str, Any]] = []
        if "x" in kinds:
            accounts["x"] = {"handle": X_BANK_HANDLE}
            sources.append({"id": "x-bench", "platform": "x", "initial_lookback_minutes": 30})
        for platform, emulator in listening.items():
            sources += emulator.watch_sources(accounts.get(platform))
        document = {
            "version": 1, "topics": TOPICS, "sources": sources, "accounts": accounts,
            # RSS and Atom alternate, so the news figure is of both parsers.
            "feeds": [{"name": name, "url": news.url_for(name, "rss" if i % 2 == 0 else "atom"), "language": "en",
                       "audience": 500_000, "every_minutes": 1} for i, name in enumerate(feeds)],
        }
        parse_watch_config(document)  # refuse a bad configuration here rather than in the Poller
    except Exception:
        for emulator in started:
            emulator.stop()
        raise
    return SourceWorld(clock, x, news, listening, document, feeds)


# --- capture and replay of a platform's HTTP answers ------------------------------------------------

@dataclass(frozen=True)
class Exchange:
    """One request as sent and the platform's answer, kept to be served again."""

    method: str
    url: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


class RecordingTransport(httpx.BaseTransport):
    """Sends for real and keeps every answer, decoded, so it can be replayed without a socket."""

    def __init__(self, exchanges: list[Exchange]) -> None:
        self._inner = httpx.HTTPTransport()
        self._exchanges = exchanges

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        body = response.read()
        response.close()
        # The body is kept decoded: its length and encoding headers would no longer describe it.
        headers = tuple((k, v) for k, v in response.headers.multi_items()
                        if k.lower() not in ("content-encoding", "content-length", "transfer-encoding"))
        self._exchanges.append(Exchange(request.method, str(request.url), response.status_code, headers, body))
        return httpx.Response(response.status_code, headers=headers, content=body, request=request)

    def close(self) -> None:
        self._inner.close()


class ReplayMismatch(AssertionError):
    """The adapter asked for something else than it did when the answers were captured."""


class Replay:
    """Serves captured answers in order, refusing any request that differs from the captured one."""

    def __init__(self, exchanges: list[Exchange]) -> None:
        self._exchanges = exchanges
        self._next = 0

    def rewind(self) -> None:
        self._next = 0

    @property
    def served(self) -> int:
        return self._next

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self._next >= len(self._exchanges):
            raise ReplayMismatch(f"request {self._next + 1} was never captured: {request.method} {request.url}")
        expected = self._exchanges[self._next]
        if (request.method, str(request.url)) != (expected.method, expected.url):
            raise ReplayMismatch(f"request {self._next + 1}: {request.method} {request.url}, "
                                 f"captured {expected.method} {expected.url}")
        self._next += 1
        return httpx.Response(expected.status, headers=list(expected.headers), content=expected.body)


def _client(base_url: str, transport: httpx.BaseTransport) -> httpx.Client:
    """The adapters' own client settings (see crisiscomms.adapters.http.make_client) on another transport."""
    return httpx.Client(base_url=base_url.rstrip("/"), transport=transport, timeout=httpx.Timeout(5.0),
                        headers={"User-Agent": USER_AGENT}, follow_redirects=True)


class StaticCredentials:
    """A platform's credentials as its secret would hold them; `renew` asks the platform's own refresh."""

    def __init__(self, value: dict[str, Any],
                 refresh: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        self.value = dict(value)
        self._refresh = refresh

    def current(self) -> dict[str, Any]:
        return dict(self.value)

    def renew(self) -> None:
        if self._refresh is None:
            raise TokenExpired("the platform refused its credentials and offers no refresh")
        self.value = {**self.value, **self._refresh(self.value)}


# --- reading a source kind to the end ----------------------------------------------------------------

ReadPass = Callable[[], list[Post]]


def _source_parts(world: SourceWorld, config: WatchConfig, source: Any, http: Callable[[str], httpx.Client],
                  credentials: Any) -> Any:
    from crisiscomms.wiring import DEFAULT_SOURCE_HOSTS, SourceParts

    base = str(source.base_url) if source.base_url else DEFAULT_SOURCE_HOSTS.get(source.platform, "")
    return SourceParts(source=source, config=config, http=http, base_url=base.rstrip("/"),
                       credentials=credentials, clock=world.clock)


def read_passes(kind: str, world: SourceWorld, http: Callable[[str], httpx.Client],
                credentials: Any) -> list[ReadPass]:
    """One callable per configured source of `kind`, each reading it to its last page as the Poller's loop does
    (cursor merged after every page, next page while `more`), without storing anything."""
    config = world.config
    if kind == "x":
        from crisiscomms.adapters.sources.x_search import XSearchClient

        def x_pass(source: Any) -> ReadPass:
            client = XSearchClient(http(world.x.base_url), bearer_token=X_TOKEN, clock=world.clock,
                                   bank_handle=X_BANK_HANDLE)
            query = config.query_for(source)
            since = world.clock() - timedelta(minutes=source.initial_lookback_minutes)

            def read() -> list[Post]:
                posts: list[Post] = []
                token: str | None = None
                for _ in range(MAX_READS_PER_SOURCE):
                    page = client.search(query, source_id=source.id, next_token=token, start_time=since)
                    posts += page.posts
                    token = page.next_token
                    if not token:
                        break
                return posts
            return read

        return [x_pass(s) for s in config.sources_on("x")]
    if kind == "news":
        from crisiscomms.adapters.sources.feeds import FeedClient

        def feed_pass(feed: Any) -> ReadPass:
            client = FeedClient(http(""), clock=world.clock)

            def read() -> list[Post]:
                return client.fetch(str(feed.url), feed_name=feed.name, audience=feed.audience, language=feed.language,
                                    timezone=feed.timezone or config.default_timezone).posts
            return read

        return [feed_pass(f) for f in config.feeds]

    from crisiscomms.wiring import SOURCE_READERS

    def paged_pass(source: Any) -> ReadPass:
        reader = SOURCE_READERS[kind].reader(_source_parts(world, config, source, http, credentials))

        def read() -> list[Post]:
            posts: list[Post] = []
            cursor: dict[str, Any] = {}
            for _ in range(MAX_READS_PER_SOURCE):
                page = reader.read(cursor)
                posts += page.posts
                cursor = {k: v for k, v in {**cursor, **page.cursor}.items() if v is not None}
                if not page.more:
                    break
            return posts
        return read

    return [paged_pass(s) for s in config.sources_on(kind)]


def _platform_credentials(kind: str, world: SourceWorld) -> StaticCredentials:
    """The emulator's credentials, renewable through the platform's own refresh as the Poller's keeper does."""
    if kind not in world.listening:
        return StaticCredentials({})
    from crisiscomms.wiring import SOURCE_READERS

    emulator = world.listening[kind]
    kind_readers = SOURCE_READERS[kind]
    config = world.config
    source = config.sources_on(kind)[0]
    if kind_readers.refresh is None:
        return StaticCredentials(emulator.credentials())
    parts = _source_parts(world, config, source, lambda url: _client(url, httpx.HTTPTransport()), None)
    return StaticCredentials(emulator.credentials(), kind_readers.refresh(parts))


@dataclass
class Capture:
    """A kind's captured conversation, and the credentials it was held with."""

    kind: str
    exchanges: list[Exchange]
    credentials: StaticCredentials
    posts: list[Post] = field(default_factory=list)


def capture(kind: str, world: SourceWorld) -> Capture:
    """Read every source of `kind` from its emulator, keeping the answers. A refused token (a Bluesky session
    not yet created) is renewed and the whole read started again, so the capture holds only the reading."""
    credentials = _platform_credentials(kind, world)
    for _ in range(3):
        exchanges: list[Exchange] = []
        clients: list[httpx.Client] = []

        def http(url: str) -> httpx.Client:
            clients.append(_client(url, RecordingTransport(exchanges)))
            return clients[-1]

        try:
            posts = [p for read in read_passes(kind, world, http, credentials) for p in read()]
        except TokenExpired:
            credentials.renew()
            continue
        finally:
            for client in clients:
                client.close()
        return Capture(kind, exchanges, credentials, posts)
    raise RuntimeError(f"{kind}: the emulator kept refusing renewed credentials")


def replay_once(captured: Capture, world: SourceWorld) -> tuple[list[Post], float]:
    """The captured read again, served from memory: the posts and the seconds spent reading them."""
    replay = Replay(captured.exchanges)
    transport = httpx.MockTransport(replay)
    clients: list[httpx.Client] = []

    def http(url: str) -> httpx.Client:
        clients.append(_client(url, transport))
        return clients[-1]

    passes = read_passes(captured.kind, world, http, StaticCredentials(captured.credentials.value))
    started = time.perf_counter()
    posts = [p for read in passes for p in read()]
    elapsed = time.perf_counter() - started
    for client in clients:
        client.close()
    if replay.served != len(captured.exchanges):
        raise ReplayMismatch(f"{captured.kind}: {replay.served} of {len(captured.exchanges)} captured answers used")
    return posts, elapsed


def parse_throughput(kind: str, world: SourceWorld, repeats: int = REPEATS) -> dict[str, Any]:
    """Items/s of the adapter's read path on replayed answers, best of `repeats`."""
    captured = capture(kind, world)
    replay_once(captured, world)  # imports and first-call caches, not timed
    best = math.inf
    posts: list[Post] = []
    for _ in range(repeats):
        posts, elapsed = replay_once(captured, world)
        best = min(best, elapsed)
    if [p.key for p in posts] != [p.key for p in captured.posts]:
        raise ReplayMismatch(f"{kind}: the replay produced other posts than the capture")
    items = len(posts)
    return {
        "items": items,
        "requests": len(captured.exchanges),
        "items_per_request": items / len(captured.exchanges) if captured.exchanges else 0.0,
        "bytes": sum(len(e.body) for e in captured.exchanges),
        "best_s": best,
        "items_per_s": items / best if best > 0 else 0.0,
        "ms_per_100_items": best / items * 100_000 if items else 0.0,
    }


# --- DynamoDB requests per stored post through the real Poller --------------------------------------

@contextmanager
def poller_on(world: SourceWorld) -> Iterator[Callable[[], list[str]]]:
    """A fresh stack on the running local AWS (tables, parameters, secrets from template.yaml) with every
    platform's secret and the watch configuration in place and the Poller's environment set; yields the live
    list of DynamoDB operations the functions' own client has called. The environment is restored after."""
    from crisiscomms import clock
    from crisiscomms.observability import logger
    from crisiscomms_local.aws import client, provision, put_watch_config, reset_process_caches

    saved, level = dict(os.environ), logger.log_level
    clock.install(world.clock)
    logger.setLevel("ERROR")  # a line per source and run: not wanted in a benchmark's output
    try:
        stack = provision(secrets={"XBearerTokenSecret": X_TOKEN})
        prefix = stack.function_environment("PollerFunction")["SOURCE_SECRET_PREFIX"]
        for platform, emulator in world.listening.items():
            client("secretsmanager").put_secret_value(SecretId=f"{prefix}{platform}",
                                                      SecretString=json.dumps(emulator.credentials()))
        put_watch_config(stack, json.dumps(world.document))
        os.environ.update(stack.function_environment("PollerFunction", {
            "X_API_BASE_URL": world.x.base_url, "RETRY_BASE_DELAY_SECONDS": "0",
            "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "ERROR"}))
        reset_process_caches()
        from crisiscomms.wiring import container

        calls: list[str] = []
        container().clients("dynamodb").meta.events.register("before-call.dynamodb",
                                                             lambda model, **kw: calls.append(model.name))
        yield lambda: calls
    finally:
        os.environ.clear()
        os.environ.update(saved)
        clock.install(None)
        logger.setLevel(level)
        reset_process_caches()


def dynamodb_requests(kind: str, world: SourceWorld, calls: Callable[[], list[str]]) -> dict[str, Any]:
    """Poll `kind` with the real Poller, a minute apart, until a run stores nothing; count its DynamoDB calls."""
    from crisiscomms_local.lambda_runtime import invoke

    runs: list[dict[str, Any]] = []
    for _ in range(MAX_POLLER_RUNS):
        before = len(calls())
        reports = invoke("poller", {"source": kind})["reports"]
        made = calls()[before:]
        runs.append({"reports": reports, "calls": made, "stored": sum(r["stored"] for r in reports)})
        world.clock.advance(timedelta(minutes=1))
        if runs[-1]["stored"] == 0:
            break
    storing, quiet = runs[:-1], runs[-1]
    made = [op for run in storing for op in run["calls"]]
    stored = sum(run["stored"] for run in storing)
    reports = [r for run in storing for r in run["reports"]]
    problems = sorted({f"{r['source']}: {r['status']} {r.get('detail') or ''}".strip()
                       for run in runs for r in run["reports"] if r["status"] not in ("ok", "not_modified", "not_due")})
    return {
        "runs": len(storing),
        "sources": len({r["source"] for r in reports}),
        "pages": sum(r["pages"] for r in reports),
        "fetched": sum(r["fetched"] for r in reports),
        "stored": stored,
        "duplicates": sum(r["duplicates"] for r in reports),
        "unmatched": sum(r["unmatched"] for r in reports),
        "requests": len(made),
        "requests_per_stored_post": len(made) / stored if stored else math.nan,
        "by_operation": dict(sorted(Counter(made).items())),
        "quiet_poll_requests": len(quiet["calls"]),
        "quiet_poll_by_operation": dict(sorted(Counter(quiet["calls"]).items())),
        "quiet_poll_fetched": sum(r["fetched"] for r in quiet["reports"]),
        "problems": problems,
    }


# --- the benchmark ---------------------------------------------------------------------------------

def bench_sources(posts: int = POSTS, kinds: list[str] | None = None, *, repeats: int = REPEATS,
                  with_dynamodb: bool = True) -> dict[str, Any]:
    """Both figures for every source kind. Each kind gets its own emulators and stack, all at the same
    simulated start, so no kind's posts age out of its lookback while another kind is polled."""
    from crisiscomms_local.aws import LocalAwsServer

    kinds = kinds or source_kinds()
    results: dict[str, dict[str, Any]] = {}
    with LocalAwsServer() if with_dynamodb else nullcontext():
        for kind in kinds:
            world = start_world(posts, [kind])
            try:
                results[kind] = {"parse": parse_throughput(kind, world, repeats)}
                if with_dynamodb:
                    with poller_on(world) as calls:
                        results[kind]["dynamodb"] = dynamodb_requests(kind, world, calls)
            finally:
                world.close()
    return {"posts": posts, "to_bank_every": TO_BANK_EVERY, "topics_per_post": len(TOPICS), "repeats": repeats,
            "sources": results}


def render(result: dict[str, Any]) -> str:
    """The per-source table, and each kind's DynamoDB requests by operation."""
    lines = ["| source | items/s | ms per 100 items | items per request | stored | DynamoDB requests "
             "| per stored post |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    details: list[str] = []
    for kind, figures in result["sources"].items():
        p, d = figures["parse"], figures.get("dynamodb")
        stored = f"{d['stored']:,}" if d else "-"
        requests = f"{d['requests']:,}" if d else "-"
        per_post = f"{d['requests_per_stored_post']:.3f}" if d else "-"
        lines.append(f"| {kind} | {p['items_per_s']:,.0f} | {p['ms_per_100_items']:.2f} | {p['items_per_request']:.0f} "
                     f"| {stored} | {requests} | {per_post} |")
        if d:
            ops = ", ".join(f"{op} {n}" for op, n in d["by_operation"].items())
            quiet = ", ".join(f"{op} {n}" for op, n in d["quiet_poll_by_operation"].items()) or "none"
            details.append(f"  {kind:<9} {d['runs']} run(s), {d['sources']} source(s), {d['pages']} pages, "
                           f"{d['fetched']} fetched, {d['duplicates']} duplicates: {ops}; quiet poll: {quiet}")
            details += [f"  {kind:<9} problem: {problem}" for problem in d["problems"]]
    return "\n".join(lines + ([""] + details if details else []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=POSTS, help="posts in every emulator (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="timed replays, the best kept")
    parser.add_argument("--kinds", nargs="*", help="source kinds to run (default: all)")
    parser.add_argument("--no-dynamodb", action="store_true", help="parse throughput only, without local AWS")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = bench_sources(args.posts, args.kinds, repeats=args.repeats, with_dynamodb=not args.no_dynamodb)
    result["wall_s"] = time.perf_counter() - started
    print(f"Per-source reading: {args.posts} posts in every emulator, each in {len(TOPICS)} topics, "
          f"1 in {TO_BANK_EVERY} to the bank ({result['wall_s']:.0f} s)")
    print(render(result))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(result, out, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
