"""Shared plumbing for the local platform emulators.

Every emulator is a small HTTP server on 127.0.0.1 that answers from in-memory state and
reads "now" from an injected clock, so tests and the crisis drill can replay a scripted
crisis in simulated time. This module holds what all emulators share: the threaded
server and its lifecycle, the request log, and fault windows (outages, throttling and
slow answers scheduled in simulated time).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Literal, Mapping
from urllib.parse import parse_qs, urlsplit

from crisiscomms_local.servers import shutdown_promptly

Clock = Callable[[], datetime]
FaultKind = Literal["rate_limit", "http_status", "timeout", "timeout_after_send"]

_FAULT_KINDS = ("rate_limit", "http_status", "timeout", "timeout_after_send")

# Request headers worth keeping in the log: enough to assert on auth and conditional GETs
# without storing everything a client sends.
LOGGED_HEADERS = (
    "authorization",
    "accept",
    "user-agent",
    "if-none-match",
    "if-modified-since",
    "content-type",
    "idempotency-key",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
)


def as_utc(when: datetime, what: str = "datetime") -> datetime:
    """Normalise to UTC, refusing naive datetimes (they would silently mean local time)."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {when!r}")
    return when.astimezone(timezone.utc)


def rfc3339(when: datetime) -> str:
    """UTC timestamp with millisecond precision and a 'Z' suffix, as X and Atom use."""
    when = as_utc(when)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Fault:
    """A window of simulated time during which an emulator misbehaves.

    kind:
      * ``rate_limit``  - answer 429; ``retry_after`` seconds (default: until ``end``).
      * ``http_status`` - answer ``status`` (e.g. 503) with the platform's error body.
      * ``timeout``     - wait ``timeout_delay`` real seconds before answering normally,
        so a client with a shorter timeout gives up.
    * ``timeout_after_send`` - act on the request (a post is created), then wait
        ``timeout_delay`` and drop the connection without answering.
    target: None hits every request of the emulator; otherwise only requests the
    emulator attributes to that target (the feed emulator uses the feed name).
    """

    start: datetime
    end: datetime
    kind: FaultKind
    status: int | None = None
    retry_after: int | None = None
    target: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", as_utc(self.start, "Fault.start"))
        object.__setattr__(self, "end", as_utc(self.end, "Fault.end"))
        if self.end <= self.start:
            raise ValueError("Fault.end must be after Fault.start")
        if self.kind not in _FAULT_KINDS:
            raise ValueError(f"Fault.kind must be one of {_FAULT_KINDS}, got {self.kind!r}")
        if self.kind == "http_status" and (self.status is None or not 400 <= self.status <= 599):
            raise ValueError("an http_status fault needs an error status between 400 and 599")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("Fault.retry_after must not be negative")

    def applies(self, now: datetime, target: str | None) -> bool:
        """Active at ``now`` (start inclusive, end exclusive) and aimed at ``target``."""
        return self.start <= now < self.end and (self.target is None or self.target == target)

    def seconds_left(self, now: datetime) -> int:
        """Whole seconds until the window closes (at least 1), the natural Retry-After."""
        remaining = (self.end - now).total_seconds()
        return max(1, int(remaining) + (remaining % 1 > 0))


@dataclass(frozen=True)
class Request:
    """What a handler needs from an HTTP request, decoupled from http.server."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Message
    body: bytes = b""

    def param(self, name: str) -> str | None:
        """First value of a query parameter, or None when absent."""
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass
class Response:
    """An answer to send; ``body`` is omitted on the wire for HEAD and 304."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RecordedRequest:
    """One entry of ``EmulatorServer.requests_log``.

    ``status`` is None while the answer is pending (e.g. during a timeout fault) and stays
    None when the server was stopped before answering. ``fault`` names the fault kind that
    shaped the answer, if any. ``at`` is the simulated time of arrival.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: datetime
    status: int | None = None
    fault: str | None = None


class _Handler(BaseHTTPRequestHandler):
    """Translates http.server callbacks into ``EmulatorServer._dispatch`` calls."""

    server: "_HTTPServer"
    protocol_version = "HTTP/1.1"
    server_version = "crisiscomms-emulator/1"
    sys_version = ""

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        """Silence the per-request stderr line; the request log replaces it."""

    def _serve(self) -> None:
        # One request per connection: a pooled keep-alive connection must never reach an
        # emulator after stop(), and idle handler threads must not linger.
        self.close_connection = True
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
        )
        response = self.server.emulator._dispatch(request)
        if response is None:
            return
        try:
            self.send_response(response.status)
            send_body = self.command != "HEAD" and response.status not in (204, 304)
            for name, value in response.headers.items():
                self.send_header(name, value)
            if response.status != 304:
                self.send_header("Content-Length", str(len(response.body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if send_body:
                self.wfile.write(response.body)
        except (ConnectionError, TimeoutError):
            pass  # the client gave up (typically during a timeout fault)


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its emulator and stays quiet about dropped clients."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, emulator: "EmulatorServer") -> None:
        self.emulator = emulator
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """Client disconnects are expected; anything else is already recorded by _dispatch."""


class EmulatorServer:
    """Base class: lifecycle, request log and fault windows; subclasses implement ``handle``.

    Use as a context manager (``with XEmulator(clock) as x: ...``) or call start()/stop().
    """

    def __init__(self, clock: Clock, *, timeout_delay: float = 2.0) -> None:
        if timeout_delay < 0:
            raise ValueError("timeout_delay must not be negative")
        self.clock = clock
        self.timeout_delay = timeout_delay
        self._lock = threading.RLock()
        self._log: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._errors: list[BaseException] = []
        self._stopping = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._inflight = 0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._base_url: str | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> str:
        """Bind an ephemeral port on 127.0.0.1, serve in a daemon thread, return the base URL."""
        with self._lock:
            if self._httpd is not None:
                raise RuntimeError(f"{type(self).__name__} is already started")
            self._stopping.clear()
            self._httpd = _HTTPServer(self)
            host, port = self._httpd.server_address[:2]
            self._base_url = f"http://{host}:{port}"
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"{type(self).__name__}-{port}",
                daemon=True,
            )
            self._thread.start()
            return self._base_url

    def stop(self) -> None:
        """Stop serving; handlers sleeping in a timeout fault are woken and drop their client.

        On return no handler is still computing an answer, so nothing touches the
        emulator's state after stop().
        """
        with self._lock:
            httpd, thread = self._httpd, self._thread
            self._httpd = self._thread = None
        if httpd is None:
            return
        self._stopping.set()
        shutdown_promptly(httpd)
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        with self._idle:
            self._idle.wait_for(lambda: self._inflight == 0, timeout=5)

    def __enter__(self) -> "EmulatorServer":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        if self._base_url is None or self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._base_url

    # -- faults ------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> Fault:
        """Schedule a fault window; the first matching window (in insertion order) wins."""
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def active_fault(self, target: str | None = None, now: datetime | None = None) -> Fault | None:
        """The fault applying to ``target`` at ``now`` (default: the clock's now)."""
        now = as_utc(now or self.clock(), "clock()")
        with self._lock:
            return next((f for f in self._faults if f.applies(now, target)), None)

    # -- request log ---------------------------------------------------------------------

    @property
    def requests_log(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised by handlers (answered as 500); tests should expect none."""
        with self._lock:
            return list(self._errors)

    # -- subclass hooks ------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer a request from the emulator's state. Subclasses must implement it."""
        raise NotImplementedError

    def is_write(self, request: Request) -> bool:
        """Whether a request creates something (platforms whose reads are POSTs override this)."""
        return request.method in ("POST", "PUT")

    def fault_target(self, request: Request) -> str | None:
        """Which fault target a request belongs to (None: only untargeted faults apply)."""
        return None

    def fault_response(self, fault: Fault, request: Request, now: datetime) -> Response:
        """The answer for a rate_limit or http_status fault, in the platform's style."""
        if fault.kind == "rate_limit":
            retry_after = fault.retry_after if fault.retry_after is not None else fault.seconds_left(now)
            return text_response(429, headers={"Retry-After": str(retry_after)})
        assert fault.status is not None
        return text_response(fault.status)

    # -- dispatch ------------------------------------------------------------------------

    def _dispatch(self, request: Request) -> Response | None:
        """Log, apply any fault, then delegate to ``handle``; None means drop the connection."""
        now = as_utc(self.clock(), "clock()")
        entry = RecordedRequest(
            method=request.method,
            path=request.path,
            query={name: values[0] for name, values in request.query.items() if values},
            headers={
                name: value
                for name in LOGGED_HEADERS
                if (value := request.headers.get(name)) is not None
            },
            at=now,
        )
        with self._lock:
            self._log.append(entry)
            self._inflight += 1
        try:
            return self._answer(request, entry, now)
        finally:
            with self._idle:
                self._inflight -= 1
                self._idle.notify_all()

    latency_seconds: float = 0.0
    """Real seconds every answer takes (benchmarks set it to model a platform's response time)."""

    def _answer(self, request: Request, entry: RecordedRequest, now: datetime) -> Response | None:
        if self.latency_seconds and self._stopping.wait(self.latency_seconds):
            return None
        try:
            fault = self.active_fault(self.fault_target(request), now)
            if fault is not None and fault.kind == "timeout_after_send" and not self.is_write(request):
                fault = None  # only a request that creates something can lose its answer after acting
            if fault is not None:
                entry.fault = fault.kind
            if fault is not None and fault.kind == "timeout":
                # Event.wait instead of sleep: stop() wakes us so shutdown never hangs.
                if self._stopping.wait(self.timeout_delay):
                    return None
                response = self.handle(request)
            elif fault is not None and fault.kind == "timeout_after_send":
                # The platform acts on the request, but the answer never reaches the client.
                response = self.handle(request)
                entry.status = response.status
                self._stopping.wait(self.timeout_delay)
                return None
            elif fault is not None:
                response = self.fault_response(fault, request, now)
            else:
                response = self.handle(request)
        except Exception as exc:  # an emulator bug must surface as 500, not a hung client
            with self._lock:
                self._errors.append(exc)
            response = text_response(500)
        entry.status = response.status
        return response


def text_response(status: int, body: str | None = None, headers: dict[str, str] | None = None) -> Response:
    """A plain-text answer whose body defaults to the status' reason phrase."""
    text = body if body is not None else reason_phrase(status)
    return Response(
        status=status,
        body=text.encode("utf-8"),
        headers={"Content-Type": "text/plain; charset=utf-8", **(headers or {})},
    )


def reason_phrase(status: int) -> str:
    """'Service Unavailable' for 503 and so on; 'Error' for codes http.HTTPStatus lacks."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
