"""boto3 clients with bounded timeouts and retries, created once per process and only when first used.

boto3 reads AWS_ENDPOINT_URL itself, which is how local runs reach moto on 127.0.0.1.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

_CONFIG_KW = {
    "connect_timeout": 2,
    "read_timeout": 5,
    "retries": {"max_attempts": 3, "mode": "standard"},
}


@lru_cache(maxsize=None)
def client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(service, config=Config(**_CONFIG_KW))


def reset_clients() -> None:
    """Forget cached clients (tests and drills point a process at a new endpoint)."""
    client.cache_clear()
