"""Stopping a local threaded server (emulators, local AWS, the local API) without waiting out its poll."""
from __future__ import annotations

import socket
import threading
from socketserver import BaseServer


def shutdown_promptly(server: BaseServer) -> None:
    """`server.shutdown()`, returning within milliseconds instead of up to one poll interval.

    `serve_forever` looks at a stop request only when its select() returns: after `poll_interval`
    (0.5 s by default) or when a connection arrives. Here the loop is sent empty connections (each
    closed at once, before any request is read; a loop told to stop does not even accept them)
    until it has stopped. As with `shutdown()`, the loop must be running.
    """
    host, port = server.server_address[:2]
    stopper = threading.Thread(target=server.shutdown, name="shutdown", daemon=True)
    stopper.start()
    while stopper.is_alive():
        try:
            socket.create_connection((host, port), timeout=0.05).close()
        except OSError:
            pass  # already closed: the loop has stopped
        stopper.join(0.002)
