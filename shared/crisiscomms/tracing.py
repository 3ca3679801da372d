"""X-Ray subsegments for Lambda active tracing, sent to the X-Ray daemon without the X-Ray SDK.

Why: importing the X-Ray SDK costs about 0.25 s of every cold start (it builds a botocore session
of its own and patches libraries), more than the whole budget a function has, and it ships a
second botocore in the layer. Lambda active tracing already records each invocation's segment;
what the functions add are subsegments: the handler, AWS calls (hooked on botocore's events in
`crisiscomms.aws.clients`) and platform calls (httpx event hooks in `crisiscomms.adapters.http`).
Each is one UDP datagram in the daemon's documented format, sent when it ends; a send never
raises and never waits. Nothing is recorded when the invocation is not sampled or tracing is
switched off (POWERTOOLS_TRACE_DISABLED), and outside Lambda (no trace header).

The trace header is read per invocation from `_X_AMZN_TRACE_ID`, which the Lambda runtime sets
for each request; that is why this module, besides settings and wiring, reads the environment.
"""
from __future__ import annotations

import functools
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
_HEADER = b'{"format": "json", "version": 1}\n'
_MAX_DATAGRAM = 63 * 1024


@dataclass
class Subsegment:
    """One timed piece of work under the invocation's segment."""

    name: str
    trace_id: str
    parent_id: str
    id: str = field(default_factory=lambda: secrets.token_hex(8))
    start_time: float = field(default_factory=time.time)
    namespace: str | None = None
    annotations: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    http: dict[str, Any] | None = None
    aws: dict[str, Any] | None = None
    error: bool = False
    fault: bool = False
    cause: dict[str, Any] | None = None

    def document(self, end_time: float) -> dict[str, Any]:
        doc: dict[str, Any] = {"type": "subsegment", "id": self.id, "trace_id": self.trace_id,
                               "parent_id": self.parent_id, "name": self.name[:200], "start_time": self.start_time,
                               "end_time": end_time}
        for key in ("namespace", "http", "aws", "cause"):
            if getattr(self, key):
                doc[key] = getattr(self, key)
        if self.annotations:
            doc["annotations"] = self.annotations
        if self.metadata:
            doc["metadata"] = {"default": self.metadata}
        if self.error:
            doc["error"] = True
        if self.fault:
            doc["fault"] = True
        return doc

    def failed(self, exc: BaseException) -> None:
        self.fault = True
        self.cause = {"exceptions": [{"id": secrets.token_hex(8), "type": type(exc).__name__, "message": str(exc)[:500]}]}


def _trace_context() -> tuple[str, str] | None:
    """(trace id, parent id) of a sampled invocation, or None when nothing should be recorded."""
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true"):
        return None
    header = os.environ.get("_X_AMZN_TRACE_ID", "")
    parts = dict(p.split("=", 1) for p in header.split(";") if "=" in p)
    if parts.get("Sampled") != "1" or "Root" not in parts or "Parent" not in parts:
        return None
    return parts["Root"], parts["Parent"]


class Tracer:
    def __init__(self) -> None:
        self._local = threading.local()
        self._invocation: Subsegment | None = None  # the handler's subsegment: parent of work done in threads
        self._socket: socket.socket | None = None
        self._cold_start = True

    # --- recording --------------------------------------------------------------------------------

    def _stack(self) -> list[Subsegment]:
        if not hasattr(self._local, "stack"):
            self._local.stack = []
        return self._local.stack  # type: ignore[no-any-return]

    def begin(self, name: str, **fields: Any) -> Subsegment | None:
        """Open a subsegment under the current one (None when this invocation is not traced)."""
        context = _trace_context()
        if context is None:
            return None
        stack = self._stack()
        parent = stack[-1].id if stack else (self._invocation.id if self._invocation else context[1])
        subsegment = Subsegment(name=name, trace_id=context[0], parent_id=parent, **fields)
        stack.append(subsegment)
        return subsegment

    def end(self, subsegment: Subsegment | None) -> None:
        if subsegment is None:
            return
        stack = self._stack()
        if subsegment in stack:
            stack.remove(subsegment)
        self._send(subsegment.document(time.time()))

    @contextmanager
    def subsegment(self, name: str, **fields: Any) -> Iterator[Subsegment | None]:
        opened = self.begin(name, **fields)
        try:
            yield opened
        except BaseException as exc:
            if opened is not None:
                opened.failed(exc)
            raise
        finally:
            self.end(opened)

    def put_annotation(self, key: str, value: str | int | float | bool) -> None:
        stack = self._stack()
        target = stack[-1] if stack else self._invocation
        if target is not None:
            target.annotations[key] = value

    def _send(self, document: dict[str, Any]) -> None:
        address = os.environ.get("AWS_XRAY_DAEMON_ADDRESS", "127.0.0.1:2000").split(" ")[0]
        host, _, port = address.rpartition(":")
        payload = _HEADER + json.dumps(document, separators=(",", ":"), default=str).encode("utf-8")
        if len(payload) > _MAX_DATAGRAM:
            document.pop("metadata", None)
            payload = _HEADER + json.dumps(document, separators=(",", ":"), default=str).encode("utf-8")
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self._socket.setblocking(False)
            self._socket.sendto(payload, (host or "127.0.0.1", int(port or 2000)))
        except (OSError, ValueError):
            pass  # tracing must never break or slow the work it observes

    # --- decorators -------------------------------------------------------------------------------

    def capture_lambda_handler(self, handler: F) -> F:
        """The handler's subsegment, annotated with ColdStart and Service, faulted on an exception."""

        @functools.wraps(handler)
        def traced(event: Any, context: Any) -> Any:
            cold, self._cold_start = self._cold_start, False
            opened = self.begin(f"## {handler.__name__}",
                                annotations={"ColdStart": cold, "Service": os.environ.get("POWERTOOLS_SERVICE_NAME", "")})
            self._invocation = opened
            try:
                return handler(event, context)
            except BaseException as exc:
                if opened is not None:
                    opened.failed(exc)
                raise
            finally:
                self._invocation = None
                self.end(opened)

        return traced  # type: ignore[return-value]

    def capture_method(self, method: F) -> F:
        @functools.wraps(method)
        def traced(*args: Any, **kwargs: Any) -> Any:
            with self.subsegment(f"## {method.__qualname__}"):
                return method(*args, **kwargs)

        return traced  # type: ignore[return-value]
