"""Configuration documents and secrets through powertools parameters, cached for a bounded time.

One `Parameters` per process, owned by the composition root; values are re-read after
`max_age` seconds so the desk's edits apply without a deploy. Secret values never appear in
an error message or a log line.
"""
from __future__ import annotations

from typing import Any, TypeVar

from crisiscomms.aws.clients import AwsClients
from crisiscomms.errors import ConfigurationError

T = TypeVar("T")


class Parameters:
    """Providers made on first use, on the process's shared AWS clients."""

    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients
        self._ssm: Any = None
        self._secrets: Any = None

    def _ssm_provider(self) -> Any:
        if self._ssm is None:
            from aws_lambda_powertools.utilities.parameters.ssm import SSMProvider

            self._ssm = SSMProvider(boto3_client=self._clients("ssm"))
        return self._ssm

    def _secrets_provider(self) -> Any:
        if self._secrets is None:
            from aws_lambda_powertools.utilities.parameters.secrets import SecretsProvider

            self._secrets = SecretsProvider(boto3_client=self._clients("secretsmanager"))
        return self._secrets

    @staticmethod
    def _get(provider: Any, name: str, *, max_age: int, what: str) -> Any:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            return provider.get(name, max_age=max_age)
        except GetParameterError as exc:
            # The message names the parameter, never a value: secrets must not reach the logs.
            raise ConfigurationError(f"{what} {name!r} could not be read") from exc

    def document(self, parameter_name: str, *, max_age: int) -> str:
        """The raw text of a configuration document in SSM."""
        return self._get(self._ssm_provider(), parameter_name, max_age=max_age, what="configuration parameter")

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
        value = self._get(self._secrets_provider(), secret_name, max_age=max_age, what="secret")
        if not isinstance(value, str) or not value.strip():
            raise ConfigurationError(f"secret {secret_name!r} is empty")
        return value.strip()
