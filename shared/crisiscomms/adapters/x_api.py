"""What X's API v2 shares between reading (recent search) and publishing: its error envelope and rate-limit headers."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from crisiscomms.adapters.http import epoch_header, retry_after

DEFAULT_RATE_LIMIT_PAUSE = timedelta(minutes=1)


def error_message(response: httpx.Response) -> tuple[str, dict[str, Any]]:
    """X's error, whichever envelope it came in: problem JSON (v2) or `errors[].code` (legacy)."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code} with a non-JSON body", {}
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}", {}
    if "title" in body or "detail" in body:
        return f"{body.get('title', 'error')}: {body.get('detail', '')}".strip(": "), body
    errors = body.get("errors") or []
    if errors and isinstance(errors[0], dict):
        first = errors[0]
        return f"code {first.get('code', '?')}: {first.get('message', '')}", body
    return f"HTTP {response.status_code}", body


def reset_time(response: httpx.Response, now: datetime) -> datetime | None:
    """When X lets us call again: `x-rate-limit-reset` (epoch seconds), else Retry-After."""
    return epoch_header(response, "x-rate-limit-reset") or retry_after(response, now)
