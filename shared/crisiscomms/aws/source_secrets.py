"""Listening credentials: one Secrets Manager secret per platform, a JSON object of its tokens.

Read through a short in-process cache; a refreshed token is written back as a new version of
the same secret so every function sees it. Values never reach a log line or an error message.
"""
from __future__ import annotations

import json
import time
from typing import Any

from crisiscomms.aws.clients import AwsClients
from crisiscomms.errors import ConfigurationError


class SourceSecrets:
    def __init__(self, prefix: str, *, clients: AwsClients, max_age: float = 300,
                 monotonic: Any = time.monotonic) -> None:
        self._prefix = prefix
        self._clients = clients
        self._max_age = max_age
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}

    def name(self, platform: str) -> str:
        return f"{self._prefix}{platform}"

    def read(self, platform: str, *, fresh: bool = False) -> dict[str, Any]:
        """The platform's credentials; `fresh` skips the cache (after another run may have refreshed them)."""
        cached = self._cache.get(platform)
        if cached and not fresh and self._monotonic() - cached[0] < self._max_age:
            return dict(cached[1])
        from botocore.exceptions import ClientError

        name = self.name(platform)
        try:
            raw = self._clients("secretsmanager").get_secret_value(SecretId=name)["SecretString"]
        except ClientError as exc:
            raise ConfigurationError(f"secret {name!r} could not be read") from exc
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise ConfigurationError(f"secret {name!r} is not a JSON object of {platform} credentials")
        self._cache[platform] = (self._monotonic(), value)
        return dict(value)

    def write(self, platform: str, value: dict[str, Any]) -> None:
        """A new version of the platform's secret (the old one stays as AWSPREVIOUS)."""
        self._clients("secretsmanager").put_secret_value(SecretId=self.name(platform), SecretString=json.dumps(value))
        self._cache[platform] = (self._monotonic(), dict(value))
