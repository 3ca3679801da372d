"""Serve the desk API on 127.0.0.1 for trying it with curl, backed by local AWS and the channel emulators.

    python3 tasks.py serve [--port 8080]

Each HTTP request becomes an API Gateway REST proxy event for the real handler. Identity comes
from the development-only header `x-crisiscomms-dev-identity: USER:GROUP[,GROUP]`, honoured only
because this server sets CRISISCOMMS_DEV_IDENTITY_HEADER=enabled; template.yaml never does.

In the background (`BackgroundWork`, one thread), standing in for what AWS runs after a request: the
delivery queue through the Publisher, the export queue through the Exporter and the report queue
through the Reporter (the SQS event source mappings, every second), and the Reviewer on the schedule
template.yaml gives it. So an export or a report asked for through this server completes, and a
published statement is measured when its windows close.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from crisiscomms.api import DEV_IDENTITY_HEADER
from crisiscomms_local.apigw import rest_event
from crisiscomms_local.lambda_runtime import invoke

if TYPE_CHECKING:
    from crisiscomms_local.aws import Stack
    from crisiscomms_local.desk_world import DeskWorld

BACKGROUND_FUNCTIONS = ("ExporterFunction", "ReporterFunction", "ReviewerFunction")
_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_RATE_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "ApiServer"

    def _send(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        # Head and body in one write: as two small writes on a kept-alive connection, the body waited
        # for the client's delayed ACK of the head (Nagle), ~40 ms on every answer.
        self._headers_buffer.append(b"\r\n")  # type: ignore[attr-defined]
        self.wfile.write(b"".join(self._headers_buffer) + payload)  # type: ignore[attr-defined]
        self._headers_buffer = []  # type: ignore[attr-defined]

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = raw.decode("utf-8") if length else None
        except UnicodeDecodeError:
            payload = json.dumps({"error": "invalid request",
                                  "details": [{"field": "body", "reason": "not valid UTF-8"}]}).encode()
            self._send(400, [("Content-Type", "application/json")], payload)
            return
        url = urlsplit(self.path)
        event = rest_event(self.command, url.path, body=body, query=url.query,
                           headers={k: v for k, v in self.headers.items()},
                           dev_header=self.headers.get(DEV_IDENTITY_HEADER))
        # One request at a time through the handler: the resolver (and its current event) is one
        # object per process, as in a Lambda execution environment, which takes one event at a time.
        with self.server.handler_lock:
            result: dict[str, Any] = self.server.call_api(event)
        self._send(result["statusCode"], response_headers(result), (result.get("body") or "").encode("utf-8"))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: object) -> None:
        if self.server.quiet:
            return
        sys.stderr.write(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}\n")


def response_headers(result: dict[str, Any]) -> list[tuple[str, str]]:
    """The HTTP headers of a proxy result, as API Gateway sends them: `headers` and every value of
    `multiValueHeaders` (where powertools puts Content-Type), the single value giving way to the list."""
    multi = {name.lower(): (name, [str(v) for v in values]) for name, values in (result.get("multiValueHeaders") or {}).items()}
    out = [(name, str(value)) for name, value in (result.get("headers") or {}).items() if name.lower() not in multi]
    out += [(name, value) for name, values in multi.values() for value in values]
    return out


class ApiServer(ThreadingHTTPServer):
    """The local API on 127.0.0.1: each request becomes an API Gateway event for `call_api`, one at a time."""

    daemon_threads = True
    request_queue_size = 128  # a burst of parallel clients waits in the backlog instead of being reset

    def __init__(self, port: int = 0, call_api: Callable[[dict[str, Any]], dict[str, Any]] | None = None, *,
                 quiet: bool = False) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.call_api = call_api or (lambda event: invoke("api", event))
        self.handler_lock = threading.Lock()
        self.quiet = quiet

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def schedule(template: dict[str, Any], function: str) -> tuple[float, dict[str, Any]]:
    """A scheduled function's period in seconds and its event, from its `rate(...)` schedule in the template."""
    events = template["Resources"][function]["Properties"].get("Events", {})
    for event in events.values():
        if event.get("Type") in ("Schedule", "ScheduleV2"):
            props = event["Properties"]
            match = _RATE.fullmatch(props["ScheduleExpression"])
            if match is None:
                raise ValueError(f"{function}: only rate(...) schedules are run locally")
            return int(match.group(1)) * _RATE_SECONDS[match.group(2).rstrip("s")], json.loads(props.get("Input") or "{}")
    raise ValueError(f"{function} has no schedule in the template")


def background_environment(stack: "Stack") -> dict[str, str]:
    """What the background functions read from their environment, as the template gives it them."""
    env: dict[str, str] = {}
    for function in BACKGROUND_FUNCTIONS:
        env.update(stack.function_environment(function))
    return env


class BackgroundWork:
    """One thread standing in for the event source mappings and the Reviewer's schedule: every `every`
    seconds a round drains the delivery, export and report queues through their functions, and runs the
    Reviewer when its period has passed since the last run (the first one period after the start, as a
    new schedule fires). A failing function is reported on `log` and the round goes on."""

    def __init__(self, world: "DeskWorld", *, every: float = 1.0, review_every: float | None = None,
                 log: TextIO | None = None) -> None:
        self._world = world
        self._every = every
        period, self._review_event = schedule(world.stack.template, "ReviewerFunction")
        self._review_every = period if review_every is None else review_every
        self._next_review = 0.0
        self._log = log or sys.stderr
        self._stop = threading.Event()
        self._round_done = threading.Condition()
        self._thread: threading.Thread | None = None
        self.rounds = 0
        self.reviews = 0
        self.errors: list[str] = []

    @property
    def review_every(self) -> float:
        return self._review_every

    def start(self) -> "BackgroundWork":
        self._next_review = time.monotonic() + self._review_every
        self._thread = threading.Thread(target=self._run, name="crisiscomms-background", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_rounds(self, count: int = 2, timeout: float = 60.0) -> bool:
        """Wait until `count` more rounds have finished (the first may have begun before the call)."""
        with self._round_done:
            target = self.rounds + count
            return self._round_done.wait_for(lambda: self.rounds >= target, timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_round()
            self._stop.wait(self._every)

    def run_round(self) -> None:
        from crisiscomms_local import exports, reports

        stack = self._world.stack
        for name, work in (("publisher", self._world.pump), ("exporter", lambda: exports.run_queue(stack)),
                           ("reporter", lambda: reports.run_queue(stack))):
            self._attempt(name, work)
        if time.monotonic() >= self._next_review:
            self._next_review = time.monotonic() + self._review_every
            if self._attempt("reviewer", lambda: invoke("reviewer", self._review_event)):
                self.reviews += 1
        with self._round_done:
            self.rounds += 1
            self._round_done.notify_all()

    def _attempt(self, name: str, work: Callable[[], Any]) -> bool:
        try:
            work()
        except Exception as exc:  # noqa: BLE001 - one failing function must not stop the others
            message = f"{name}: {type(exc).__name__}: {exc}"
            self.errors.append(message)
            self._log.write(f"background {message}\n")
            return False
        return True


def main(argv: list[str]) -> int:
    from crisiscomms_local.aws import reset_process_caches
    from crisiscomms_local.desk_world import start_desk_world

    parser = argparse.ArgumentParser(prog="serve", description=__doc__)
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    os.environ["CRISISCOMMS_DEV_IDENTITY_HEADER"] = "enabled"  # ApiSettings.dev_identity_header
    world = start_desk_world()
    os.environ.update(background_environment(world.stack))
    reset_process_caches()
    background = BackgroundWork(world).start()
    server = ApiServer(args.port)
    print(json.dumps({"api": f"http://127.0.0.1:{args.port}", "channels": world.summary(),
                      "background": {"queues": ["delivery", "export", "report"], "every_seconds": 1,
                                     "reviewer_every_seconds": background.review_every}}, indent=2), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        background.stop()
        server.server_close()
        world.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
