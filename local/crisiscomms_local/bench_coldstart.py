"""Cold start of every function, as Lambda would pay it: a fresh process imports the handler module and
handles its first, representative event against local AWS and the platform emulators.

    python -m crisiscomms_local.bench_coldstart

Each function runs in a fresh interpreter with its own environment from template.yaml, as in
Lambda with active tracing (a sampled trace header and a daemon address, so tracing is on), and is
compared with a fresh `import boto3`. Deferring an import to the first call saves nothing here,
because the first call is part of what is measured, and each run gets an event of its own that
needs the same work as the first (new posts for the Poller, a new delivery for the Publisher).
Bytecode is compiled first for both sides, as the layer ships it. Medians of several runs, each
paired with an anchor measured next to it.
"""
from __future__ import annotations

import compileall
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RUNS = 5

# Lambda's Python has the runtime's boto3 (with botocore, s3transfer, jmespath, dateutil, six,
# urllib3) and the layer's packages; this environment has the development tools too, and some
# libraries import what they find (httpx's command line pulls in click, rich and pygments). The
# probe refuses what Lambda would not have, so a cold start pays for what it would pay in Lambda.
_GUARD = r"""
import json, sys
class _NotInLambda:
    refused = frozenset(json.loads(sys.argv.pop(1)))
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.partition(".")[0] in cls.refused:
            raise ModuleNotFoundError(f"No module named {name!r} (not in the runtime or the layer)", name=name)
        return None
sys.meta_path.insert(0, _NotInLambda)
"""

_PROBE = _GUARD + r"""
import importlib.util, time, uuid
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
imported = time.perf_counter()

class Context:
    function_name = sys.argv[2]
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:eu-west-1:123456789012:function:{sys.argv[2]}"
    function_version = "$LATEST"
    log_group_name = "/aws/lambda/" + sys.argv[2]
    log_stream_name = "cold"
    def __init__(self):
        self.aws_request_id = str(uuid.uuid4())
    def get_remaining_time_in_millis(self):
        return 60_000

def report(**figures):
    sys.stdout.write("@probe " + json.dumps(figures) + "\n")
    sys.stdout.flush()

# The first event: the cold start. Then, in the same process, a second event of the same kind
# (made after the first was handled): what the work itself costs once everything is loaded.
event = json.loads(sys.stdin.readline())
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
report(import_s=imported - started, total_s=done - started, xray_loaded="aws_xray_sdk" in sys.modules,
       boto3_loaded="boto3" in sys.modules, modules=len(sys.modules), ok=str(result)[:200])
line = sys.stdin.readline()
if line.strip():
    warm_started = time.perf_counter()
    result = module.lambda_handler(json.loads(line), Context())
    report(warm_s=time.perf_counter() - warm_started, ok=str(result)[:200])
"""


def not_in_lambda() -> list[str]:
    """Top-level modules of installed distributions that Lambda would not have: neither the runtime's
    boto3 nor the layer's pinned dependencies (pyproject.toml) nor what those require."""
    import importlib.metadata as metadata
    import re
    import tomllib

    def name(requirement: str) -> str:
        return re.split(r"[ <>=!~;\[(]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")

    pins = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    wanted, todo = set(), [name(p) for p in [*pins, "boto3", "crisiscomms"]]
    while todo:
        dist = todo.pop()
        if dist in wanted:
            continue
        wanted.add(dist)
        try:
            requires = metadata.distribution(dist).requires or []
        except metadata.PackageNotFoundError:
            continue
        todo += [name(r) for r in requires if "extra ==" not in r]
    return sorted(top for top, dists in metadata.packages_distributions().items()
                  if not any(name(d) in wanted for d in dists))


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


def _probe(function_dir: str, make_event: Callable[[], dict[str, Any]], env: dict[str, str], refused: list[str], *,
           profile: bool = False, warm: bool = True) -> dict[str, Any]:
    """One fresh process: import and first event (cold), then a second event in the same process (warm)."""
    handler = ROOT / "functions" / function_dir / "app.py"
    argv = [sys.executable, "-c", _PROBE, json.dumps(refused), str(handler), function_dir] + (["profile"] if profile else [])
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                          text=True) as process:
        assert process.stdin is not None and process.stdout is not None

        def answer() -> dict[str, Any]:
            for line in process.stdout:  # type: ignore[union-attr]
                if line.startswith("@probe "):
                    return json.loads(line[len("@probe "):])  # type: ignore[no-any-return]
            raise RuntimeError(f"{function_dir} failed: {process.stderr.read()[-2000:]}")  # type: ignore[union-attr]

        process.stdin.write(json.dumps(make_event()) + "\n")
        process.stdin.flush()
        figures = answer()
        process.stdin.write((json.dumps(make_event()) if warm else "") + "\n")
        process.stdin.close()
        if warm:
            figures.update(warm_s=answer()["warm_s"])
        errors = process.stderr.read()  # type: ignore[union-attr]
        if process.wait(timeout=60) != 0:
            raise RuntimeError(f"{function_dir} failed: {errors[-2000:]}")
    if profile:
        sys.stderr.write(f"--- {function_dir}: where the first invocation's time goes\n{errors}\n")
    return figures


def _boto3(env: dict[str, str], refused: list[str]) -> float:
    code = _GUARD + "import time; t = time.perf_counter(); import boto3; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code, json.dumps(refused)], env=env, capture_output=True, text=True,
                         check=True, timeout=60)
    return float(out.stdout.strip().splitlines()[-1])


# The floor under the goal: functions that do nothing of their own. One reads a DynamoDB item with
# boto3 (the least any function here does: import, a client, one request); the other adds what every
# handler here also loads (pydantic with one small model validated, powertools' Logger).
_FLOORS = {
    "boto3 + one GetItem": "import boto3\n"
                           "boto3.client('dynamodb').get_item(TableName=TABLE, Key={'pk': {'S': 'floor'}})\n",
    "boto3 + one GetItem + pydantic model + Logger":
        "import boto3, pydantic\n"
        "from aws_lambda_powertools import Logger\n"
        "class Event(pydantic.BaseModel):\n"
        "    source: str\n"
        "    scheduled_time: str\n"
        "Event.model_validate({'source': 'x', 'scheduled_time': '2026-01-01T00:00:00Z'})\n"
        "Logger(service='floor')\n"
        "boto3.client('dynamodb').get_item(TableName=TABLE, Key={'pk': {'S': 'floor'}})\n",
}


def _floor(code: str, table: str, env: dict[str, str], refused: list[str]) -> float:
    timed = (_GUARD + f"TABLE = {table!r}\nimport time; t = time.perf_counter()\n" + code
             + "print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", timed, json.dumps(refused)], env=env, capture_output=True, text=True,
                         check=True, timeout=60)
    return float(out.stdout.strip().splitlines()[-1])


def _events(world: Any, stack: Any, sim: Any, x: Any) -> dict[str, tuple[str, Callable[[], dict[str, Any]]]]:
    """Per function, how to make a representative first event with what it needs already in local AWS.

    Each run gets an event of its own, so every run does the same work as the first: the Poller
    finds 20 new posts (it stores them, scores them, opens conversations), the Publisher a new
    delivery (it goes to the channel; a repeated one would be answered from the idempotency
    record), the Digest new audit entries to sign."""
    from crisiscomms_local.apigw import rest_event
    from crisiscomms_local.aws import client, put_watch_config
    from crisiscomms_local.desk_world import _sqs_record
    from crisiscomms_local.lambda_runtime import invoke

    put_watch_config(stack, json.dumps({
        "topics": [{"id": "harbor", "names": ["Harbor Bank"]}],
        "sources": [{"id": "x-main", "platform": "x", "initial_lookback_minutes": 30}],
    }))
    batches = iter(range(1_000))

    def poll() -> dict[str, Any]:
        batch = next(batches)
        # The functions read the system clock: a run a few seconds after the last one would find
        # the source not due, so the last poll time is taken back (the cursor stays).
        dynamodb, table = client("dynamodb"), stack.refs["StateTable"]
        for item in dynamodb.scan(TableName=table, FilterExpression="attribute_exists(last_polled_at)")["Items"]:
            dynamodb.update_item(TableName=table, Key={"pk": item["pk"]}, UpdateExpression="REMOVE last_polled_at")
        for n in range(20):
            x.add_post(text=f"Harbor Bank queue {batch}-{n}: can't withdraw", author=f"u{batch}-{n}",
                       created_at=sim() - timedelta(minutes=5) + timedelta(seconds=batch, milliseconds=40 * n),
                       followers=100 * n)
        return {"source": "x", "scheduled_time": sim().strftime("%Y-%m-%dT%H:%M:%SZ")}

    def published() -> str:
        draft = {"channels": ["telegram"], "text": {"zh": {"full": "我行服务已恢复。", "short": "我行服务已恢复。"}}}
        created = json.loads(invoke("api", rest_event("POST", "/statements", body=draft, user="li",
                                                      groups=["comms-author"]))["body"])
        sid = created["id"]
        invoke("api", rest_event("POST", f"/statements/{sid}/approve", body={"version": 1}, user="wang",
                                 groups=["comms-approver"]))
        invoke("api", rest_event("POST", f"/statements/{sid}/publish", user="wang", groups=["comms-approver"]))
        return str(sid)

    def delivery() -> dict[str, Any]:
        sid, queue = published(), stack.refs["DeliveryQueue"]
        while True:  # the new statement's delivery; anything else on the queue is taken off it
            messages = client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                                     AttributeNames=["All"], WaitTimeSeconds=1).get("Messages", [])
            if not messages:
                raise RuntimeError(f"no delivery of {sid} on the queue")
            for message in messages:
                client("sqs").delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            ours = [m for m in messages if sid in m["Body"]]
            if ours:
                return {"Records": [_sqs_record(ours[0], stack.arns["DeliveryQueue"])]}

    def digest() -> dict[str, Any]:
        published()  # audit entries the digest has not signed yet
        return {"job": "digest", "scheduled_time": sim().strftime("%Y-%m-%dT%H:%M:%SZ")}

    cognito = {"version": "2", "triggerSource": "TokenGeneration_Authentication", "region": "eu-west-1",
               "userPoolId": "eu-west-1_x", "userName": "li", "callerContext": {}, "request": {
                   "userAttributes": {}, "groupConfiguration": {"groupsToOverride": ["comms-author"]}}, "response": {}}
    draft2 = {"channels": ["x", "weibo", "telegram", "newsroom"],
              "text": {"zh": {"full": "关于网点排队的说明。", "short": "网点排队情况说明。"},
                       "en": {"full": "About the queues at branches.", "short": "About the queues."}}}
    return {
        "poller": ("PollerFunction", poll),
        "detector": ("DetectorFunction", lambda: {"job": "detect",
                                                  "scheduled_time": sim().strftime("%Y-%m-%dT%H:%M:%SZ")}),
        "api": ("DeskApiFunction", lambda: rest_event("POST", "/statements", body=draft2, user="li",
                                                      groups=["comms-author"])),
        "publisher": ("PublisherFunction", delivery),
        "token_scopes": ("TokenScopesFunction", lambda: cognito),
        "digest": ("DigestFunction", digest),
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
            refused = not_in_lambda()
            for name, (logical, make_event) in events.items():
                overrides = {"X_API_BASE_URL": x.base_url} if name == "poller" else {}
                env = _environment(base, stack.function_environment(logical, overrides))
                if name in profile:
                    _probe(name, make_event, env, refused, profile=True, warm=False)
                samples, ratios = [], []
                for _ in range(runs):  # each run paired with an anchor measured next to it: load affects both alike
                    anchor = _boto3(boto3_env, refused)
                    sample = _probe(name, make_event, env, refused)
                    anchors.append(anchor)
                    samples.append(sample)
                    ratios.append(sample["total_s"] / anchor)
                results[name] = {"import_s": statistics.median(s["import_s"] for s in samples),
                                 "total_s": statistics.median(s["total_s"] for s in samples),
                                 "warm_s": statistics.median(s["warm_s"] for s in samples),
                                 "cold_extra_s": statistics.median(s["total_s"] - s["warm_s"] for s in samples),
                                 "ratio": statistics.median(ratios),
                                 "xray_loaded": samples[0]["xray_loaded"], "boto3_loaded": samples[0]["boto3_loaded"],
                                 "modules": samples[0]["modules"]}
            results["boto3_import_s"] = statistics.median(anchors)
            floor_env = _environment(base, {})
            floors: dict[str, Any] = {}
            for label, code in _FLOORS.items():
                pairs = [(_boto3(boto3_env, refused), _floor(code, stack.refs["StateTable"], floor_env, refused))
                         for _ in range(runs)]
                floors[label] = {"total_s": statistics.median(f for _, f in pairs),
                                 "ratio": statistics.median(f / a for a, f in pairs)}
            results["floors"] = floors
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
          f" anchor: import boto3 {boto3 * 1000:.0f} ms (median); ratio = median of runs paired with an anchor;"
          " warm = the same kind of event again in that process (the work itself)")
    for name, f in figures.items():
        if not isinstance(f, dict) or name == "floors":
            continue
        print(f"  {name:<13} import {f['import_s'] * 1000:5.0f} ms   total {f['total_s'] * 1000:5.0f} ms"
              f"   {f['ratio']:.2f} x boto3   warm {f['warm_s'] * 1000:5.0f} ms"
              f"   boto3 imported: {f['boto3_loaded']}   X-Ray SDK loaded: {f['xray_loaded']}")
    for label, f in figures["floors"].items():
        print(f"  floor: {label:<46} total {f['total_s'] * 1000:5.0f} ms   {f['ratio']:.2f} x boto3")
    return 0


if __name__ == "__main__":
    sys.exit(main())
