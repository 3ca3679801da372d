"""Headless Chromium (Debian's `chromium` package) driven over the DevTools protocol, for tests.

Opens a page the way a reader's browser would, and tells what it saw: console messages and
uncaught exceptions, log entries (a refused resource, a Content-Security-Policy violation), every
network request the page made, a JavaScript expression's value, and the page printed to PDF. The
protocol runs over a WebSocket on 127.0.0.1; the small client here needs nothing beyond the
standard library (no browser download, no driver).

    with Chromium() as browser:
        seen = browser.open(Path("report.html"), evaluate="document.title", pdf=True)
        assert not seen.errors

`CHROMIUM` names the binary (default /usr/bin/chromium). `available()` says whether it is there.
"""
from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_BINARY = "/usr/bin/chromium"
STARTUP_SECONDS = 30.0
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--disable-default-apps", "--disable-domain-reliability", "--metrics-recording-only", "--mute-audio",
    "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
)


def binary() -> str:
    return os.environ.get("CHROMIUM", DEFAULT_BINARY)


def available() -> bool:
    path = binary()
    return Path(path).is_file() and os.access(path, os.X_OK) or shutil.which(path) is not None


class ChromiumError(RuntimeError):
    """Chromium did not start, or the protocol answered with an error."""


@dataclass
class PageVisit:
    """What one page load showed."""

    url: str
    console: list[dict[str, Any]] = field(default_factory=list)  # {"type", "text"}
    exceptions: list[str] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)  # {"level", "source", "text", "url"}
    requests: list[str] = field(default_factory=list)
    value: Any = None  # the evaluated expression's value
    pdf: bytes | None = None

    @property
    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error-level log entries, as text."""
        out = [f"console.{m['type']}: {m['text']}" for m in self.console if m["type"] in ("error", "assert")]
        out += [f"exception: {text}" for text in self.exceptions]
        out += [f"{e['source']}: {e['text']}" for e in self.log if e["level"] == "error"]
        return out


class _WebSocket:
    """A client WebSocket (RFC 6455) for text messages: what the DevTools protocol needs, no more."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self._sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {parts.path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self._sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self._sock.recv(4096)
            if not chunk:
                raise ChromiumError("the DevTools endpoint closed the connection during the handshake")
            head += chunk
        status, _, rest = head.partition(b"\r\n\r\n")
        if b" 101 " not in status.split(b"\r\n", 1)[0] + b" ":
            raise ChromiumError(f"WebSocket handshake refused: {status.splitlines()[0]!r}")
        self._buffer = rest

    def _read(self, n: int) -> bytes:
        while len(self._buffer) < n:
            chunk = self._sock.recv(max(65536, n - len(self._buffer)))
            if not chunk:
                raise ChromiumError("the DevTools connection closed")
            self._buffer += chunk
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def send(self, text: str) -> None:
        payload = text.encode("utf-8")
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x81, 0x80 | size)
        elif size < 1 << 16:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, size)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self._sock.sendall(header + mask + masked)

    def receive(self) -> str:
        """The next text message (fragments joined; pings answered)."""
        message = b""
        while True:
            first, second = self._read(2)
            opcode, size = first & 0x0F, second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", self._read(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", self._read(8))
            mask = self._read(4) if second & 0x80 else b""
            payload = self._read(size)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:
                raise ChromiumError("the DevTools connection was closed by the browser")
            if opcode == 0x9:  # ping: answer with a pong carrying the same payload (masked, as a client must)
                pong_mask = os.urandom(4)
                self._sock.sendall(struct.pack("!BB", 0x8A, 0x80 | len(payload)) + pong_mask
                                   + bytes(b ^ pong_mask[i % 4] for i, b in enumerate(payload)))
                continue
            if opcode == 0xA:
                continue
            message += payload
            if first & 0x80:
                return message.decode("utf-8")

    def close(self) -> None:
        try:
            self._sock.sendall(struct.pack("!BB", 0x88, 0x80) + os.urandom(4))
        except OSError:
            pass
        self._sock.close()


class Chromium:
    """One headless Chromium process with its own throwaway profile, ended on exit."""

    def __init__(self, *, timeout: float = STARTUP_SECONDS) -> None:
        self._timeout = timeout
        self._process: subprocess.Popen[str] | None = None
        self._profile: tempfile.TemporaryDirectory[str] | None = None
        self._ws: _WebSocket | None = None
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    def __enter__(self) -> Chromium:
        self._profile = tempfile.TemporaryDirectory(prefix="crisiscomms-chromium-")
        # its own process group: the helpers it starts (zygote, crash handler, GPU and renderer processes) end with it
        self._process = subprocess.Popen([binary(), *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                         text=True, start_new_session=True)
        try:
            self._ws = _WebSocket(self._devtools_url(), self._timeout)
        except Exception:
            self.__exit__(None, None, None)
            raise
        return self

    def _devtools_url(self) -> str:
        """The browser's DevTools WebSocket, from the line Chromium prints on stderr when it listens."""
        assert self._process is not None and self._process.stderr is not None
        lines: queue.Queue[str | None] = queue.Queue()
        stderr = self._process.stderr

        def pump() -> None:
            for line in stderr:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, name="chromium-stderr", daemon=True).start()
        seen: list[str] = []
        while True:
            try:
                line = lines.get(timeout=self._timeout)
            except queue.Empty:
                raise ChromiumError(f"Chromium did not open DevTools within {self._timeout:.0f} s: {''.join(seen)[-2000:]}")
            if line is None:
                raise ChromiumError(f"Chromium exited before opening DevTools: {''.join(seen)[-2000:]}")
            if "DevTools listening on " in line:
                return line.split("DevTools listening on ", 1)[1].strip()
            seen.append(line)

    def __exit__(self, *exc: object) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            # a helper still writing into the profile made removing it fail now and then ("Directory not empty")
            _end_group(self._process.pid)
            self._process = None
        if self._profile is not None:
            self._profile.cleanup()
            self._profile = None

    @property
    def profile_dir(self) -> str | None:
        """The browser's own profile while it runs (removed when it closes)."""
        return self._profile.name if self._profile is not None else None

    # --- the protocol ---------------------------------------------------------------------------

    def _call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        """Send a command and wait for its answer; events that arrive meanwhile are kept."""
        assert self._ws is not None
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._ws.send(json.dumps(message))
        while True:
            answer = json.loads(self._ws.receive())
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise ChromiumError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            if "method" in answer:
                self._events.append(answer)

    def _wait_for(self, event: str, session: str) -> None:
        assert self._ws is not None
        while not any(e["method"] == event and e.get("sessionId") == session for e in self._events):
            answer = json.loads(self._ws.receive())
            if "method" in answer:
                self._events.append(answer)

    def open(self, path: Path, *, evaluate: str | None = None, pdf: bool = False) -> PageVisit:
        """Load a file in a new tab, wait for its load event, and report what happened."""
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self._call(f"{domain}.enable", session=session)
        self._events = [e for e in self._events if e.get("sessionId") != session]
        url = path.resolve().as_uri()
        navigation = self._call("Page.navigate", {"url": url}, session=session)
        if navigation.get("errorText"):
            raise ChromiumError(f"navigating to {url}: {navigation['errorText']}")
        self._wait_for("Page.loadEventFired", session)
        visit = PageVisit(url=url)
        if evaluate is not None:
            result = self._call("Runtime.evaluate", {"expression": evaluate, "returnByValue": True}, session=session)
            if "exceptionDetails" in result:
                raise ChromiumError(f"evaluating the check threw: {result['exceptionDetails'].get('text')}")
            visit.value = result.get("result", {}).get("value")
        if pdf:
            printed = self._call("Page.printToPDF", {"printBackground": True, "preferCSSPageSize": True}, session=session)
            visit.pdf = base64.b64decode(printed["data"])
        for event in self._events:
            if event.get("sessionId") != session:
                continue
            params = event.get("params", {})
            if event["method"] == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                visit.console.append({"type": params.get("type"), "text": text})
            elif event["method"] == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                visit.exceptions.append(str(details.get("exception", {}).get("description") or details.get("text")))
            elif event["method"] == "Log.entryAdded":
                entry = params.get("entry", {})
                visit.log.append({k: entry.get(k) for k in ("level", "source", "text", "url")})
            elif event["method"] == "Network.requestWillBeSent":
                visit.requests.append(params.get("request", {}).get("url", ""))
        self._call("Target.closeTarget", {"targetId": target})
        return visit


__all__ = ["Chromium", "ChromiumError", "PageVisit", "available", "binary"]


def _end_group(group: int) -> None:
    """SIGKILL whatever is left of the browser's process group, and wait until none of it is left."""
    import signal
    import time

    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        return
    for _ in range(100):    # a killed process is gone within milliseconds; at most a second in all
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)
