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
from typing import Any
from urllib.parse import urlsplit

from crisiscomms.api import DEV_IDENTITY_HEADER
from crisiscomms_local.apigw import rest_event
from crisiscomms_local.lambda_runtime import invoke


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else None
        url = urlsplit(self.path)
        event = rest_event(self.command, url.path, body=body, query=url.query,
                           headers={k: v for k, v in self.headers.items()},
                           dev_header=self.headers.get(DEV_IDENTITY_HEADER))
        result: dict[str, Any] = invoke("api", event)
        payload = (result.get("body") or "").encode("utf-8")
        self.send_response(result["statusCode"])
        for name, value in (result.get("headers") or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = _serve

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}\n")


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
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _Handler)
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
