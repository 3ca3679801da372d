"""Serve the desk API on 127.0.0.1 for trying it with curl, backed by local AWS and the channel emulators.

    python3 tasks.py serve [--port 8080]

Each HTTP request becomes an API Gateway REST proxy event for the real handler. Identity comes
from the development-only header `x-crisiscomms-dev-identity: USER:GROUP[,GROUP]`, honoured only
because this server sets CRISISCOMMS_DEV_IDENTITY_HEADER=enabled; template.yaml never does.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from crisiscomms.api import DEV_IDENTITY_HEADER
from crisiscomms_local.apigw import rest_event
from crisiscomms_local.lambda_runtime import invoke


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "ApiServer"

    def _send(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

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


def main(argv: list[str]) -> int:
    from crisiscomms_local.desk_world import start_desk_world

    parser = argparse.ArgumentParser(prog="serve", description=__doc__)
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    os.environ["CRISISCOMMS_DEV_IDENTITY_HEADER"] = "enabled"  # ApiSettings.dev_identity_header
    world = start_desk_world()
    stop = threading.Event()

    def publisher_loop() -> None:
        """Stands in for the SQS event source mapping: the Publisher gets the queue's messages."""
        while not stop.wait(1.0):
            world.pump()

    threading.Thread(target=publisher_loop, daemon=True).start()
    server = ApiServer(args.port)
    print(json.dumps({"api": f"http://127.0.0.1:{args.port}", "channels": world.summary()}, indent=2), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
        world.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
