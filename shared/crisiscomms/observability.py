"""The one place that creates the logger, tracer and metrics singletons.

Service name, log level, namespace and tracing switches come from the standard
POWERTOOLS_* environment variables set in template.yaml, so code never repeats them. The
tracer is `crisiscomms.tracing.Tracer` (X-Ray subsegments without the X-Ray SDK's cold start).

It also keeps credentials out of the logs. Some platforms put them in the URL (WeChat's and
Weibo's `access_token` query parameter, Telegram's `/bot<token>/` path), and httpx logs every
request URL at INFO. On import, this module turns the `httpx` and `httpcore` loggers down to
WARNING, and puts a filter that masks token-shaped text (`redact`) on them and on every logger
under them, whatever level they are later given.
"""
from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics

from crisiscomms.tracing import Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()

# Query parameters (and form fields) that carry a credential. `next_token` and the like are
# cursors, not secrets: a name must stand on its own (not preceded by a word character).
SECRET_PARAMETERS = (
    "access_token", "refresh_token", "id_token", "token", "auth", "auth_token", "key", "api_key", "apikey",
    "secret", "client_secret", "app_secret", "appsecret", "signature", "sig", "sign", "password", "passwd",
    "x-amz-signature", "x-amz-security-token", "x-amz-credential",
)
_SECRET_TEXT = re.compile(
    r"(/bot)[^/\s\"'?#]+"  # Telegram: https://api.telegram.org/bot<token>/method
    r"|((?<![\w.-])(?:" + "|".join(re.escape(name) for name in SECRET_PARAMETERS) + r")=)[^&#\s\"'<>;]+"
    r"|(\bBearer\s+)[^\s\"',;]+",
    re.IGNORECASE,
)
# The loggers that print request URLs: httpx's, and httpcore's per-module loggers (a filter on
# a parent logger does not see records logged on its children).
HTTP_LOGGERS = ("httpx", "httpcore", "httpcore.connection", "httpcore.connection_pool", "httpcore.http11",
                "httpcore.http2", "httpcore.proxy", "httpcore.socks")


def redact(text: str, *secrets: str, mask: str = "<redacted>") -> str:
    """`text` with every known secret and every token-shaped part (credential query parameters,
    Telegram's bot path, bearer tokens) masked, so it can go into exceptions and logs."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, mask)
    return _SECRET_TEXT.sub(lambda m: next(g for g in m.groups() if g is not None) + mask, text)


class RedactSecrets(logging.Filter):
    """Masks token-shaped text in a record's formatted message and traceback; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is the handler's to report
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_REDACTOR = RedactSecrets()


def protect_http_logs() -> None:
    """Put the redacting filter on every logger that prints request URLs (idempotent; loggers
    httpx/httpcore created since the last call are covered too)."""
    known = set(HTTP_LOGGERS) | {name for name in list(logging.root.manager.loggerDict)
                                 if name.startswith(("httpx.", "httpcore."))}
    for name in sorted(known):
        http_logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in http_logger.filters):
            http_logger.addFilter(_REDACTOR)


# Once, at import: request lines are not worth their risk at INFO; the filter stays whatever
# level someone sets later.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)
protect_http_logs()


def log_metrics(handler: Callable[..., Any]) -> Callable[..., Any]:
    """powertools' log_metrics, plus a clean slate after every invocation.

    With metrics disabled (tests, drills) powertools keeps what was recorded; a warm process
    would carry one invocation's figures into the next until its 100-metric limit tripped.
    """
    wrapped = metrics.log_metrics(handler)

    @functools.wraps(handler)
    def run(event: Any, context: Any) -> Any:
        try:
            return wrapped(event, context)
        finally:
            metrics.clear_metrics()

    return run


def count(name: str, value: int = 1) -> None:
    """Add to a count metric of this invocation."""
    from aws_lambda_powertools.metrics import MetricUnit

    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


__all__ = ["logger", "tracer", "metrics", "log_metrics", "count", "redact", "RedactSecrets", "protect_http_logs"]
