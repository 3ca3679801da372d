"""Statement fan-out: publish-to-last-delivery to 8 channels, each platform answering after L.

    python -m crisiscomms_local.bench_fanout [L_seconds [rounds]]

Measured end to end like the fan-out figure of `crisiscomms_local.bench`: local AWS (moto) and
the channel emulators, every emulator answering each request after L seconds, the real API
handler and the real Publisher handler draining the delivery queue. The statement is drafted
and approved first, and the "prepare" messages the approval queues are processed before the
clock starts (approval happens earlier than publishing); then the publish call is made and the
clock runs from its answer until the last delivery is recorded SENT and the statement PUBLISHED
(the moment the DynamoDB transaction writing it returns, seen from the Publisher's own client).

The limit is one call of the slowest channel: every delivery is independent and runs at once,
and with its preparation done at approval each channel publishes in one call, so nothing can
finish sooner than one platform answer, L. Also reported: the same run with L = 0 (local AWS
and bookkeeping only), the requests each channel received while publishing, and when the
confirmations that follow a delivery (the WeChat article, the newsroom feed) were done.
"""
from __future__ import annotations

import json
import os
import re
import statistics
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any

CHANNELS = ("newsroom", "x", "weibo", "wechat", "mastodon", "bluesky", "telegram", "webhook")
ONE_EACH = {c: ["zh"] if c in ("weibo", "wechat") else ["en"] for c in CHANNELS}
TEXT = {"zh": {"full": "港湾银行声明：所有账户正常。", "short": "港湾银行：所有账户正常。"},
        "en": {"full": "Harbor Bank statement: all accounts are available.", "short": "All Harbor Bank accounts are available."}}


_TOKEN_IN_PATH = re.compile(r"(/bot)[^/]+")


def _call(method: str, path: str, body: object = None, *, who: str = "li:comms-author") -> dict[str, Any]:
    from crisiscomms_local.apigw import rest_event
    from crisiscomms_local.lambda_runtime import invoke

    user, group = who.split(":")
    result = invoke("api", rest_event(method, path, body=body, user=user, groups=[group]))
    assert result["statusCode"] < 300, (path, result["statusCode"], result.get("body"))
    return json.loads(result["body"])


def _seconds_after(start: datetime, stamps: list[str]) -> float:
    return (max(datetime.fromisoformat(s) for s in stamps) - start).total_seconds()


class _Recorded:
    """When the functions' DynamoDB transactions recording a delivery SENT and the statement PUBLISHED returned."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: list[float] = []
        self.published: list[float] = []

    def watch(self, dynamodb: Any) -> None:
        dynamodb.meta.events.register("before-parameter-build.dynamodb.TransactWriteItems", self._before)
        dynamodb.meta.events.register("after-call.dynamodb.TransactWriteItems", self._after)

    def clear(self) -> None:
        with self.lock:
            self.sent.clear()
            self.published.clear()

    @staticmethod
    def _before(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        marks = []  # one per move: a transaction may carry several deliveries' moves (the audit log's group commit)
        for item in params.get("TransactItems", []):
            update = item.get("Update") or {}
            sk = update.get("Key", {}).get("sk", {}).get("S", "")
            values = [v.get("S") for v in (update.get("ExpressionAttributeValues") or {}).values()]
            if sk == "meta" and "PUBLISHED" in values:
                marks.append("published")
            if sk.startswith("delivery#") and "SENT" in values and "SENDING" in values:
                marks.append("sent")  # SENDING -> SENT (not the confirmation that follows)
        context["bench_marks"] = marks

    def _after(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        now = time.perf_counter()
        if getattr(http_response, "status_code", 0) != 200:
            return
        with self.lock:
            for mark in context.pop("bench_marks", ()):
                getattr(self, mark).append(now)


def _one_run(world: Any, latency_s: float, recorded: _Recorded) -> dict[str, Any]:
    for emulator in world.emulators.values():
        emulator.latency_seconds = latency_s
    sid = _call("POST", "/statements", {"channels": list(CHANNELS), "text": TEXT})["id"]
    _call("POST", f"/statements/{sid}/approve", {"version": 1}, who="wang:comms-approver")
    world.pump()  # the approval's prepare messages: done before publishing, as in the desk's day
    prepared = {p["channel"]: p["state"] for p in _call("GET", f"/statements/{sid}", who="zhou:auditor")["prepared"]}
    assert prepared == {"newsroom": "READY", "wechat": "READY"}, prepared
    for emulator in world.emulators.values():
        emulator.clear_log()
    recorded.clear()

    asked = time.perf_counter()
    _call("POST", f"/statements/{sid}/publish", who="wang:comms-approver")
    answered = time.perf_counter()
    start = datetime.now(timezone.utc)
    world.pump()
    pumped = time.perf_counter() - answered
    assert len(recorded.sent) == len(CHANNELS) and len(recorded.published) == 1, (recorded.sent, recorded.published)

    statement = _call("GET", f"/statements/{sid}", who="zhou:auditor")
    deliveries = statement["deliveries"]
    assert [d["state"] for d in deliveries] == ["SENT"] * len(CHANNELS), deliveries
    assert all(d.get("prepared_used") for d in deliveries if d["channel"] in ("newsroom", "wechat")), deliveries
    confirmed = [d["confirmed_at"] for d in deliveries if d.get("confirmed_at")]
    return {
        "publish_call_s": answered - asked,
        "last_delivery_s": recorded.published[0] - answered,
        "last_recorded_sent_s": max(recorded.sent) - answered,
        "last_accepted_s": _seconds_after(start, [d["sent_at"] for d in deliveries]),
        "all_confirmed_s": _seconds_after(start, confirmed) if confirmed else None,
        "pump_s": pumped,
        "requests": {name: [_TOKEN_IN_PATH.sub(r"\1…", r.path) for r in em.requests_log] for name, em in world.emulators.items()},
    }


def bench_fanout(latency_s: float = 0.5, rounds: int = 5) -> dict[str, Any]:
    """Publish-to-last-delivery wall time for 8 channels with platform latency `latency_s` (the median
    of `rounds` statements, with the range), its ratio to L, and the limit it is measured against:
    one call of the slowest channel."""
    from crisiscomms.wiring import container
    from crisiscomms_local.desk_world import start_desk_world

    saved = dict(os.environ)
    world = start_desk_world(http_timeout=max(5.0, 4 * latency_s), languages=ONE_EACH)
    recorded = _Recorded()
    try:
        recorded.watch(container().clients("dynamodb"))
        _one_run(world, 0.0, recorded)  # warm-up: imports, clients, connection pools
        overhead = _one_run(world, 0.0, recorded)
        runs = [_one_run(world, latency_s, recorded) for _ in range(rounds)]
    finally:
        world.close()
        os.environ.clear()
        os.environ.update(saved)
    walls = sorted(r["last_delivery_s"] for r in runs)
    wall = statistics.median(walls)
    last = runs[-1]
    return {
        "latency_s": latency_s,
        "channels": len(CHANNELS),
        "rounds": rounds,
        "publish_to_last_delivery_s": wall,
        "ratio": wall / latency_s if latency_s else None,
        "min_s": walls[0],
        "max_s": walls[-1],
        "limit_s": latency_s,  # one call of the slowest channel
        "limit_ratio": 1.0,
        "overhead_s": overhead["last_delivery_s"],
        "last_accepted_s": statistics.median(r["last_accepted_s"] for r in runs),
        "publish_call_s": statistics.median(r["publish_call_s"] for r in runs),
        "all_confirmed_s": statistics.median(r["all_confirmed_s"] for r in runs if r["all_confirmed_s"] is not None),
        "pump_s": statistics.median(r["pump_s"] for r in runs),
        "publish_requests": last["requests"],
    }


def report(f: dict[str, Any]) -> str:
    ms = 1000
    lines = [
        f"Statement fan-out to {f['channels']} channels, each platform answering after L = {f['latency_s'] * ms:.0f} ms",
        f"  publish to last delivery   {f['publish_to_last_delivery_s'] * ms:6.0f} ms = {f['ratio']:.2f} x L"
        f"   (limit: one call of the slowest channel = {f['limit_s'] * ms:.0f} ms = {f['limit_ratio']:.2f} x L)",
        f"    median of {f['rounds']} statements; range {f['min_s'] * ms:.0f} to {f['max_s'] * ms:.0f} ms"
        f" = {f['min_s'] / f['latency_s']:.2f} to {f['max_s'] / f['latency_s']:.2f} x L",
        f"  last platform acceptance   {f['last_accepted_s'] * ms:6.0f} ms   (when the slowest platform answered)",
        f"  same with L = 0            {f['overhead_s'] * ms:6.0f} ms   (local AWS and bookkeeping only)",
        f"  the publish call itself    {f['publish_call_s'] * ms:6.0f} ms   (before the clock starts, as in bench.py)",
    ]
    lines.append(f"  confirmations done         {f['all_confirmed_s'] * ms:6.0f} ms   "
                 "(WeChat article, newsroom feed: after the deliveries, not holding them;")
    lines.append(f"  Publisher invocation done  {f['pump_s'] * ms:6.0f} ms    the confirmation polls WeChat in the same invocation)")
    lines.append("  requests each platform received while publishing (newsroom: one S3 copy, not an emulator):")
    for name, paths in f["publish_requests"].items():
        lines.append(f"    {name:<9} {len(paths)}: {', '.join(paths)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    print(report(bench_fanout(float(args[0]) if args else 0.5, int(args[1]) if len(args) > 1 else 5)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
