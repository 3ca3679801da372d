"""boto3 clients with bounded timeouts and retries, made on first use.

One `AwsClients` per process, owned by the composition root (`crisiscomms.wiring`) and passed
to every repository. boto3 reads AWS_ENDPOINT_URL itself, which is how local runs reach moto.
"""
from __future__ import annotations

import threading
from typing import Any

CLIENT_CONFIG = {
    "connect_timeout": 2,
    "read_timeout": 5,
    "retries": {"max_attempts": 3, "mode": "standard"},
}


def botocore_config() -> Any:
    from botocore.config import Config

    return Config(**CLIENT_CONFIG)


class AwsClients:
    """A client per service, created once; thread-safe because the Publisher handles records in threads."""

    def __init__(self) -> None:
        self._made: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, service: str) -> Any:
        made = self._made.get(service)
        if made is None:
            with self._lock:
                made = self._made.get(service)
                if made is None:
                    import boto3

                    made = self._made[service] = boto3.session.Session().client(service, config=botocore_config())
        return made
