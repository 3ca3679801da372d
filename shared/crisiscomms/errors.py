"""The one error tree: every error the project raises on purpose derives from CrisisCommsError.

`crisiscomms.api` maps each kind to an HTTP status in one place; adapters raise the platform
errors, repositories the contention and refusal errors, use cases the refusals.
"""
from __future__ import annotations

from datetime import datetime


class CrisisCommsError(Exception):
    """Base class for every error the domain raises on purpose."""


class ConfigurationError(CrisisCommsError):
    """Deployment or watch configuration is missing or invalid: nothing may run with it."""


class RequestRefused(CrisisCommsError):
    """A request the rules refuse; `status` is the HTTP status the API answers with."""

    status = 400

    def __init__(self, message: str, *, details: list[dict] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


class InvalidParameter(RequestRefused):
    """A query or path parameter the API cannot use (a list cursor it did not issue); details name it."""

    status = 400

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(f"invalid {parameter!r}: {reason}", details=[{"field": parameter, "reason": reason}])


class NotFound(RequestRefused):
    status = 404


class Forbidden(RequestRefused):
    status = 403


class Conflict(RequestRefused):
    status = 409


class ChannelCheckFailed(RequestRefused):
    status = 422


class InvalidInput(RequestRefused):
    """A request that parses but its content breaks a rule the schema cannot state (a template's
    placeholders, a value against its placeholder's pattern); details name each field and why."""

    status = 422


class AuditContention(CrisisCommsError):
    """The audit chain could not take the entry now (too many concurrent writers); nothing changed.

    The API answers 503 with Retry-After: the caller's action did not happen and may be repeated.
    """

    retry_after_seconds = 2


class NotHandedOver(CrisisCommsError):
    """The change is recorded, but the queue to the function that acts on it did not take it. The API answers
    503 with Retry-After; the same request again finds what was recorded and hands it over (nothing twice)."""

    retry_after_seconds = 5


class PlatformError(CrisisCommsError):
    """A platform answered with an error we understood."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class TransientPlatformError(PlatformError):
    """5xx, timeouts, connection resets: worth a bounded retry."""


class PermanentPlatformError(PlatformError):
    """4xx other than rate limiting: retrying the same request cannot help."""


class RateLimited(PlatformError):
    """The platform asked us to stop until `resume_at`."""

    def __init__(self, message: str, *, resume_at: datetime, status: int | None = 429) -> None:
        super().__init__(message, status=status, code="rate_limited")
        self.resume_at = resume_at


class InvalidCursor(PermanentPlatformError):
    """A stored pagination token was refused; the poll restarts from the committed cursor."""


class DeliveryOutcomeUnknown(PlatformError):
    """A write may have reached the platform but no answer came back (a read timeout after sending).

    Posting again could duplicate the statement; the publisher looks for the post where the
    platform allows it, and otherwise flags the delivery for a person.
    """


class TokenExpired(PlatformError):
    """The platform refused the access token as expired or revoked; a refresh may help.

    The poll renews the token once (one caller at a time across functions) and repeats the page.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str | None = "token_expired") -> None:
        super().__init__(message, status=status, code=code)


class ReauthorisationNeeded(PermanentPlatformError):
    """The token cannot be refreshed by API (none offered, or the refresh token is dead):
    a person has to authorise the app again. The source stays failed until then."""
