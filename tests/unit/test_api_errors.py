"""Every domain error reaches the caller through one mapping: a clear status, never a bare 500 for a known kind."""
from __future__ import annotations

import json
import logging

import pytest

from crisiscomms.api import ApiServices, handle
from crisiscomms.errors import (
    AuditContention,
    ChannelCheckFailed,
    ConfigurationError,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    RequestRefused,
)
from crisiscomms_local.apigw import rest_event


class _FailingDesk:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def list(self, who, **kwargs):
        raise self.error

    def get(self, who, statement_id, **kwargs):
        raise self.error


def _call(error: Exception) -> tuple[int, dict, dict]:
    desk = _FailingDesk(error)
    services = ApiServices(desk=lambda: desk, alerts=lambda: None, verify_audit=lambda: {})  # type: ignore[arg-type,return-value]
    result = handle(rest_event("GET", "/statements", user="zhou", groups=["auditor"]), None, services)
    headers = {**(result.get("headers") or {}), **{k: v[-1] for k, v in (result.get("multiValueHeaders") or {}).items()}}
    return result["statusCode"], json.loads(result["body"]), headers


@pytest.mark.parametrize(("error", "status"), [
    (RequestRefused("bad"), 400), (Forbidden("no"), 403), (NotFound("none"), 404), (Conflict("moved"), 409),
    (ChannelCheckFailed("too long", details=[{"channel": "x", "message": "too long"}]), 422),
])
def test_refusals_carry_their_status_and_details(error: Exception, status: int) -> None:
    code, body, _ = _call(error)
    assert code == status and body["error"] == str(error)
    assert body.get("details", []) == getattr(error, "details", [])


def test_audit_contention_is_503_with_retry_after() -> None:
    code, body, headers = _call(AuditContention("busy"))
    assert code == 503 and "nothing was changed" in body["error"]
    assert int(headers["Retry-After"]) >= 1


def test_configuration_error_is_500_with_a_clear_log_line(caplog: pytest.LogCaptureFixture) -> None:
    from crisiscomms.observability import logger

    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.ERROR):
            code, body, _ = _call(ConfigurationError("invalid environment: STATEMENTS_TABLE: Field required"))
    finally:
        logger.removeHandler(caplog.handler)
    assert code == 500 and "misconfigured" in body["error"]
    assert "STATEMENTS_TABLE" not in body["error"], "configuration details stay in the log"
    assert any("configuration error" in r.getMessage() for r in caplog.records)


def test_a_platform_error_is_502() -> None:
    from datetime import datetime, timezone

    code, _, _ = _call(RateLimited("slow down", resume_at=datetime(2026, 1, 1, tzinfo=timezone.utc)))
    assert code == 502
