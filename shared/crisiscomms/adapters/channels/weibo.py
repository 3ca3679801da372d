"""Sina Weibo: `POST /2/statuses/share.json` (third-party share) and `GET /2/statuses/user_timeline.json`.

Weibo answers errors as ``{"error": "...", "error_code": 21327, "request": "/2/..."}`` and the
error code, not the HTTP status, says what happened (system-level codes start with 1,
service-level codes with 2). The share endpoint only accepts text that links to the app's
registered secure domain, so every statement must carry its newsroom URL; the adapter never
edits the approved text to make that true, it refuses instead.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NoReturn

import httpx

from crisiscomms.adapters.http import json_object, numeric_code, platform_error, redact, redact_url_tokens_in_logs
from crisiscomms.adapters.http import send, send_write, with_retries
from crisiscomms.models.delivery import Channel, DeliveryRequest, DeliveryResult
from crisiscomms.models.effect import Engagement
from crisiscomms.errors import DeliveryOutcomeUnknown, PermanentPlatformError, TransientPlatformError

SHARE_PATH = "/2/statuses/share.json"
USER_TIMELINE_PATH = "/2/statuses/user_timeline.json"
COUNT_PATH = "/2/statuses/count.json"
COUNT_IDS = 100  # statuses/count takes at most 100 ids
TIMELINE_COUNT = 50

# System errors and overload: the same request may succeed later.
TRANSIENT_CODES = frozenset({10001, 10002, 10003, 10009, 10010, 10011})
# IP / user / per-endpoint frequency limits, and the hourly posting limit (20016 "Out of limit").
RATE_LIMIT_CODES = frozenset({10022, 10023, 10024, 20016})
# The token is expired, revoked or invalid: a person must re-authorise the account.
TOKEN_CODES = frozenset({21301, 21314, 21315, 21316, 21317, 21319, 21327, 21332})
# "Repeated weibo text" / "Repeat content": the account already posted exactly this.
REPEATED_CODES = frozenset({"20017", "20019"})

# RFC 3986 characters only, so a URL followed directly by Chinese punctuation ends where it should.
URL_PATTERN = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


def _next_hour(now: datetime) -> datetime:
    """Weibo's frequency limits are counted per clock hour."""
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def comparable_text(text: str) -> str:
    """Text with URLs blanked and whitespace collapsed: Weibo returns links as t.cn short links."""
    return " ".join(URL_PATTERN.sub("<url>", text).split())


class WeiboAdapter:
    """Posts as the bank's verified Weibo account through a ready OAuth2 access token."""

    channel: Channel = "weibo"

    def __init__(
        self,
        http: httpx.Client,
        *,
        access_token: str,
        uid: str,
        clock: Callable[[], datetime],
        rip: str | None = None,
    ) -> None:
        self._http = http
        self._token = access_token
        self._uid = uid
        self._clock = clock
        self._rip = rip
        redact_url_tokens_in_logs()  # find() sends the token in the query string

    def publish(self, request: DeliveryRequest) -> DeliveryResult:
        if not request.newsroom_url or request.newsroom_url not in request.text:
            raise PermanentPlatformError(
                "Weibo share needs the newsroom URL (the registered secure domain) inside the approved text",
                code="missing_newsroom_url",
            )
        form = {"access_token": self._token, "status": request.text}
        if self._rip:
            form["rip"] = self._rip
        response = send_write(self._http, self._http.build_request("POST", SHARE_PATH, data=form))
        body = json_object(response)
        if response.status_code == 200 and (body is None or "error_code" not in body):
            if body is None or not (body.get("idstr") or body.get("id")):
                # Weibo accepted the post but we cannot tell which status it made.
                raise DeliveryOutcomeUnknown("Weibo answered 200 without a readable status", status=200)
            return self._result(body)
        try:
            self._raise_for_error(response)
        except PermanentPlatformError as exc:
            if exc.code in REPEATED_CODES:
                # Our own earlier attempt got through; the status on the timeline is this delivery's.
                found = self.find(request)
                if found is not None:
                    return found
            raise

    def find(self, request: DeliveryRequest) -> DeliveryResult | None:
        """The newest status on the account's own timeline whose text is this delivery's text
        (URLs ignored, since Weibo shortens them); None when it is not among the latest ones."""
        params = {"access_token": self._token, "uid": self._uid, "count": TIMELINE_COUNT, "trim_user": 1}
        response = send(self._http, self._http.build_request("GET", USER_TIMELINE_PATH, params=params))
        body = json_object(response)
        if response.status_code != 200 or body is None or "error_code" in body:
            self._raise_for_error(response)
        wanted = comparable_text(request.text)
        for status in body.get("statuses") or []:
            if not isinstance(status, dict) or not (status.get("idstr") or status.get("id")):
                continue
            if comparable_text(str(status.get("text", ""))) == wanted:
                return self._result(status)
        return None

    def engagement(self, status_ids: list[str], *, attempts: int = 2, base_delay: float = 0.2) -> dict[str, Engagement]:
        """Likes (`attitudes`), reposts and comments of the account's statuses: `GET /2/statuses/count.json`,
        100 ids a call, each call retried at most `attempts` times. Weibo leaves out ids it does not
        know (deleted statuses); so does this."""
        out: dict[str, Engagement] = {}
        for start in range(0, len(status_ids), COUNT_IDS):
            params = {"access_token": self._token, "ids": ",".join(status_ids[start:start + COUNT_IDS])}

            def call(params: dict[str, Any] = params) -> Any:
                response = send(self._http, self._http.build_request("GET", COUNT_PATH, params=params))
                try:
                    body = response.json()
                except ValueError:
                    body = None
                if response.status_code != 200 or not isinstance(body, list):
                    self._raise_for_error(response)
                return body

            for row in with_retries(call, attempts=attempts, base_delay=base_delay):
                if isinstance(row, dict) and row.get("id") is not None:
                    out[str(row["id"])] = Engagement(state="available", posts=1, likes=numeric_code(row.get("attitudes")),
                                                     reposts=numeric_code(row.get("reposts")),
                                                     replies=numeric_code(row.get("comments")))
        return out

    def _result(self, status: dict[str, Any]) -> DeliveryResult:
        idstr = str(status.get("idstr") or status.get("id"))
        mid = str(status.get("mid") or idstr)
        return DeliveryResult(
            platform_id=idstr,
            url=f"https://weibo.com/{self._uid}/{mid}",
            details={"mid": mid},
        )

    def _raise_for_error(self, response: httpx.Response) -> NoReturn:
        """Map Weibo's error envelope (or a bare HTTP failure) onto the domain's errors."""
        status = response.status_code
        body = json_object(response)
        if body is None or "error_code" not in body:
            if status >= 500 or status == 200:
                raise TransientPlatformError(f"Weibo answered {status} without a readable body", status=status)
            raise PermanentPlatformError(f"Weibo answered {status} without an error envelope", status=status)
        code = numeric_code(body["error_code"])
        error = redact(str(body.get("error", "")), self._token, mask="[access_token]")[:200]
        message = f"Weibo error {body['error_code']}: {error}"
        if code in TOKEN_CODES:
            message += " (the account must be re-authorised)"
        raise platform_error(status, message, code=str(code), rate_limited=code in RATE_LIMIT_CODES,
                             transient=code in TRANSIENT_CODES or (status >= 500 and code not in TOKEN_CODES),
                             resume_at=lambda: _next_hour(self._clock()))
