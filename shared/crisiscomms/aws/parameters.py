"""Configuration documents and secrets, cached for a bounded time.

One `Parameters` per process, owned by the composition root; values are re-read after
`max_age` seconds so the desk's edits apply without a deploy (a value read with 0 is not kept).
Secret values never appear in an error message or a log line.

This is what powertools' SSM and Secrets Manager providers did here (GetParameter without
decryption, GetSecretValue's string or binary, a cache per name that keeps a value for
`max_age` seconds), on the process's own clients: the providers import boto3 and powertools'
other parameter stores, which no function needs.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from crisiscomms.aws.clients import AwsClients
from crisiscomms.errors import ConfigurationError

T = TypeVar("T")


class Parameters:
    """SSM parameters and Secrets Manager secrets read on the process's shared AWS clients."""

    def __init__(self, clients: AwsClients, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._clients = clients
        self._monotonic = monotonic
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def _get(self, kind: str, name: str, *, max_age: int, what: str) -> Any:
        key = (kind, name)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[0] >= self._monotonic():
            return cached[1]
        client = self._clients("ssm" if kind == "ssm" else "secretsmanager")
        try:
            if kind == "ssm":
                value = client.get_parameter(Name=name, WithDecryption=False)["Parameter"]["Value"]
            else:
                answer = client.get_secret_value(SecretId=name)
                value = answer["SecretString"] if "SecretString" in answer else answer["SecretBinary"]
        except Exception as exc:  # noqa: BLE001 - any failure to read is a configuration problem
            # The message names the parameter, never a value: secrets must not reach the logs.
            raise ConfigurationError(f"{what} {name!r} could not be read") from exc
        if max_age > 0 and value is not None:
            with self._lock:
                self._cache[key] = (self._monotonic() + max_age, value)
        return value

    def document(self, parameter_name: str, *, max_age: int) -> str:
        """The raw text of a configuration document in SSM."""
        return self._get("ssm", parameter_name, max_age=max_age, what="configuration parameter")  # type: ignore[no-any-return]

    def model(self, parameter_name: str, model: type[T], *, max_age: int) -> T:
        """A JSON configuration document from SSM, validated whole against a pydantic `model`."""
        from pydantic import ValidationError

        raw = self.document(parameter_name, max_age=max_age)
        try:
            return model.model_validate_json(raw)  # type: ignore[attr-defined,no-any-return]
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(document)'}: {e['msg']}" for e in exc.errors())
            raise ConfigurationError(f"invalid {parameter_name}: {problems}") from exc

    def secret(self, secret_name: str, *, max_age: int) -> str:
        """A platform token; never logged, never returned in an error message."""
        value = self._get("secret", secret_name, max_age=max_age, what="secret")
        if not isinstance(value, str) or not value.strip():
            raise ConfigurationError(f"secret {secret_name!r} is empty")
        return value.strip()
