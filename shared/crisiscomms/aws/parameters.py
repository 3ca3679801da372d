"""Configuration and secrets through powertools parameters, cached for a bounded time per process."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from crisiscomms.aws.clients import _CONFIG_KW
from crisiscomms.errors import ConfigurationError
from crisiscomms.watch import WatchConfig, parse_watch_config


@lru_cache(maxsize=1)
def _providers() -> tuple[Any, Any]:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
    from botocore.config import Config

    config = Config(**_CONFIG_KW)
    return SSMProvider(boto_config=config), SecretsProvider(boto_config=config)


def _get(provider: Any, name: str, *, max_age: int, what: str) -> Any:
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        return provider.get(name, max_age=max_age)
    except GetParameterError as exc:
        # The message names the parameter, never a value: secrets must not reach the logs.
        raise ConfigurationError(f"{what} {name!r} could not be read") from exc


def load_watch_config(parameter_name: str, *, max_age: int) -> WatchConfig:
    """The validated watch configuration; invalid documents raise ConfigurationError naming the field."""
    ssm, _ = _providers()
    return parse_watch_config(_get(ssm, parameter_name, max_age=max_age, what="watch configuration parameter"))


def load_document(parameter_name: str, model: Any, *, max_age: int) -> Any:
    """A JSON configuration document from SSM, validated whole against `model`."""
    from pydantic import ValidationError

    ssm, _ = _providers()
    raw = _get(ssm, parameter_name, max_age=max_age, what="configuration parameter")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(document)'}: {e['msg']}" for e in exc.errors())
        raise ConfigurationError(f"invalid {parameter_name}: {problems}") from exc


def platform_secret(secret_name: str, *, max_age: int) -> str:
    """A platform token; never logged, never returned in an error message."""
    _, secrets = _providers()
    value = _get(secrets, secret_name, max_age=max_age, what="secret")
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"secret {secret_name!r} is empty")
    return value.strip()


def forget_cached() -> None:
    """Drop cached providers and values (tests and drills switch endpoints)."""
    _providers.cache_clear()
