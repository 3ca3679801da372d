"""Cold start of every function, as Lambda would pay it: a fresh process imports the handler module and
handles its first, representative event against local AWS and the platform emulators.

    python -m crisiscomms_local.bench_coldstart

Each function runs in a fresh interpreter with its own environment from template.yaml, as in
Lambda with active tracing (a sampled trace header and a daemon address, so tracing is on), and is
compared with a fresh `import boto3`. Deferring an import to the first call saves nothing here,
because the first call is part of what is measured. Bytecode is compiled first for both sides,
as the layer ships it. Medians of several runs; each run also reports its slowest imports.
"""
from __future__ import annotations

import compileall
import json
import os
import statistics
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RUNS = 5

_PROBE = r"""
import importlib.util, json, sys, time, uuid
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
imported = time.perf_counter()

class Context:
    function_name = sys.argv[2]
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:eu-west-1:123456789012:function:{sys.argv[2]}"
    aws_request_id = str(uuid.uuid4())
    function_version = "$LATEST"
    log_group_name = "/aws/lambda/" + sys.argv[2]
    log_stream_name = "cold"
    def get_remaining_time_in_millis(self):
        return 60_000

event = json.loads(sys.stdin.read())
if len(sys.argv) > 3:
    import cProfile, pstats, io
    profile = cProfile.Profile()
    result = profile.runcall(module.lambda_handler, event, Context())
    stream = io.StringIO()
    pstats.Stats(profile, stream=stream).sort_stats("cumulative").print_stats(35)
    sys.stderr.write(stream.getvalue())
else:
    result = module.lambda_handler(event, Context())
done = time.perf_counter()
heavy = sorted(((m, s) for m, s in sys.modules.items() if s is not None), key=lambda kv: kv[0])
print(json.dumps({"import_s": imported - started, "total_s": done - started,
                  "xray_loaded": "aws_xray_sdk" in sys.modules, "modules": len(sys.modules),
                  "ok": str(result)[:200]}))
"""


def _environment(base: dict[str, str], function_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in base.items() if not k.startswith(("POWERTOOLS_", "AWS_LAMBDA", "_X_AMZN"))}
    env.update(function_env)
    env.update({
        "AWS_LAMBDA_FUNCTION_NAME": "cold-start-probe",
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        "POWERTOOLS_METRICS_DISABLED": "true",  # metrics go to stdout either way; keep the probe's output clean
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    })
    return env


def _probe(function_dir: str, event: dict[str, Any], env: dict[str, str], *, profile: bool = False) -> dict[str, Any]:
    handler = ROOT / "functions" / function_dir / "app.py"
    argv = [sys.executable, "-c", _PROBE, str(handler), function_dir] + (["profile"] if profile else [])
    out = subprocess.run(argv, input=json.dumps(event), env=env, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"{function_dir} failed cold: {out.stderr[-2000:]}")
    if profile:
        sys.stderr.write(f"--- {function_dir}: where the first invocation's time goes\n{out.stderr}\n")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _boto3(env: dict[str, str]) -> float:
    code = "import time; t = time.perf_counter(); import boto3; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=60)
    return float(out.stdout.strip().splitlines()[-1])


def _events(world: Any, stack: Any, sim: Any, x: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """One representative first event per function, with what it needs already in local AWS."""
    from crisiscomms_local.apigw import rest_event
    from crisiscomms_local.aws import client, put_watch_config
    from crisiscomms_local.lambda_runtime import invoke

    for n in range(20):
        x.add_post(text=f"Harbor Bank queue {n}: can't withdraw", author=f"u{n}",
                   created_at=sim() - timedelta(minutes=5) + timedelta(seconds=n), followers=100 * n)
    put_watch_config(stack, json.dumps({
        "topics": [{"id": "harbor", "names": ["Harbor Bank"]}],
        "sources": [{"id": "x-main", "platform": "x", "initial_lookback_minutes": 30}],
    }))
    draft = {"channels": ["telegram"], "text": {"zh": {"full": "我行服务已恢复。", "short": "我行服务已恢复。"}}}
    created = json.loads(invoke("api", rest_event("POST", "/statements", body=draft, user="li",
                                                  groups=["comms-author"]))["body"])
    sid = created["id"]
    invoke("api", rest_event("POST", f"/statements/{sid}/approve", body={"version": 1}, user="wang",
                             groups=["comms-approver"]))
    invoke("api", rest_event("POST", f"/statements/{sid}/publish", user="wang", groups=["comms-approver"]))
    queue = stack.refs["DeliveryQueue"]
    messages = client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=1, VisibilityTimeout=0,
                                             AttributeNames=["All"])["Messages"]
    from crisiscomms_local.desk_world import _sqs_record

    sqs_event = {"Records": [_sqs_record(messages[0], stack.arns["DeliveryQueue"])]}
    cognito = {"version": "2", "triggerSource": "TokenGeneration_Authentication", "region": "eu-west-1",
               "userPoolId": "eu-west-1_x", "userName": "li", "callerContext": {}, "request": {
                   "userAttributes": {}, "groupConfiguration": {"groupsToOverride": ["comms-author"]}}, "response": {}}
    draft2 = {"channels": ["x", "weibo", "telegram", "newsroom"],
              "text": {"zh": {"full": "关于网点排队的说明。", "short": "网点排队情况说明。"},
                       "en": {"full": "About the queues at branches.", "short": "About the queues."}}}
    return {
        "poller": ("PollerFunction", {"source": "x", "scheduled_time": sim().strftime("%Y-%m-%dT%H:%M:%SZ")}),
        "detector": ("DetectorFunction", {"job": "detect", "scheduled_time": sim().strftime("%Y-%m-%dT%H:%M:%SZ")}),
        "api": ("DeskApiFunction", rest_event("POST", "/statements", body=draft2, user="li", groups=["comms-author"])),
        "publisher": ("PublisherFunction", sqs_event),
        "token_scopes": ("TokenScopesFunction", cognito),
    }


def bench_cold_start(runs: int = RUNS, profile: tuple[str, ...] = ()) -> dict[str, Any]:
    from crisiscomms import clock
    from crisiscomms.clock import SimulatedClock
    from crisiscomms_local.desk_world import start_desk_world
    from crisiscomms_local.emulators import XEmulator

    compileall.compile_dir(str(ROOT / "shared" / "crisiscomms"), quiet=1)
    compileall.compile_dir(str(ROOT / "functions"), quiet=1)
    sim = SimulatedClock(datetime.now(timezone.utc).replace(microsecond=0))
    clock.install(sim)
    saved = dict(os.environ)
    world = start_desk_world(timeout_delay=1.0, http_timeout=2.0, clock=sim)
    results: dict[str, Any] = {}
    try:
        stack = world.stack
        with XEmulator(sim, bearer_token="local") as x:
            events = _events(world, stack, sim, x)
            base = dict(os.environ)
            boto3_env = _environment(base, {})
            anchors: list[float] = []
            for name, (logical, event) in events.items():
                overrides = {"X_API_BASE_URL": x.base_url} if name == "poller" else {}
                env = _environment(base, stack.function_environment(logical, overrides))
                if name in profile:
                    _probe(name, event, env, profile=True)
                samples, ratios = [], []
                for _ in range(runs):  # each run paired with an anchor measured next to it: load affects both alike
                    anchor = _boto3(boto3_env)
                    sample = _probe(name, event, env)
                    anchors.append(anchor)
                    samples.append(sample)
                    ratios.append(sample["total_s"] / anchor)
                results[name] = {"import_s": statistics.median(s["import_s"] for s in samples),
                                 "total_s": statistics.median(s["total_s"] for s in samples),
                                 "ratio": statistics.median(ratios), "xray_loaded": samples[0]["xray_loaded"],
                                 "modules": samples[0]["modules"]}
            results["boto3_import_s"] = statistics.median(anchors)
    finally:
        world.close()
        os.environ.clear()
        os.environ.update(saved)
        clock.install(None)
    return results


def main(argv: list[str] | None = None) -> int:
    figures = bench_cold_start(profile=tuple(argv if argv is not None else sys.argv[1:]))
    boto3 = figures["boto3_import_s"]
    print("cold start = handler import + first invocation, fresh process, tracing on;"
          f" anchor: import boto3 {boto3 * 1000:.0f} ms (median); ratio = median of runs paired with an anchor")
    for name, f in figures.items():
        if not isinstance(f, dict):
            continue
        print(f"  {name:<13} import {f['import_s'] * 1000:6.0f} ms   total {f['total_s'] * 1000:6.0f} ms"
              f"   {f['ratio']:.2f} x boto3   X-Ray SDK loaded: {f['xray_loaded']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
