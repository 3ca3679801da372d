"""Mastodon publishing: `POST /api/v1/statuses` with `Idempotency-Key: <delivery_id>`.

Mastodon remembers an Idempotency-Key for an hour and answers a repeat with the status it
created, so `publish` itself is safe to retry in that time. `find` never writes: it reads the
account's own statuses and matches the text, reply target and language, so resolving a lost
answer cannot post the statement a second time even after the key has expired.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from typing import Any, NoReturn

import httpx

from crisiscomms.adapters.http import json_object, platform_error, retry_after, send, send_write, with_retries
from crisiscomms.models.delivery import Channel, DeliveryRequest, DeliveryResult
from crisiscomms.models.effect import Engagement
from crisiscomms.errors import PermanentPlatformError, TransientPlatformError

STATUSES_PATH = "/api/v1/statuses"
PAGE_SIZE = 40  # the documented maximum for account statuses
MAX_PAGES = 5
DEFAULT_RATE_LIMIT_PAUSE = timedelta(minutes=5)


class _ContentText(HTMLParser):
    """Status `content` HTML back to plain text: `<br>` a newline, paragraphs blank lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def content_text(content: str) -> str:
    parser = _ContentText()
    parser.feed(content)
    parser.close()
    return "".join(parser.parts)


def _comparable(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def status_language(language: str | None) -> str | None:
    """The status's `language` as Mastodon takes it: an ISO 639 code or one of its regional Chinese ones
    (`zh-CN`, `zh-HK`, `zh-TW`); any other value is replaced by the account's default, so Traditional
    Chinese, which names a script and no region, is sent as `zh`."""
    return "zh" if language == "zh-Hant" else language


def _resume_at(response: httpx.Response, now: datetime) -> datetime:
    """X-RateLimit-Reset is an ISO 8601 timestamp on Mastodon; Retry-After (seconds) as fallback."""
    reset = response.headers.get("x-ratelimit-reset")
    if reset:
        try:
            when = datetime.fromisoformat(reset.strip().replace("Z", "+00:00"))
            if when.tzinfo is not None:
                return when.astimezone(timezone.utc)
        except ValueError:
            pass
    return retry_after(response, now) or now + DEFAULT_RATE_LIMIT_PAUSE


def raise_for(response: httpx.Response, now: datetime) -> NoReturn:
    status = response.status_code
    detail = (json_object(response) or {}).get("error")
    raise platform_error(status, f"Mastodon {status}: {detail or f'HTTP {status}'}",
                         resume_at=lambda: _resume_at(response, now), code="validation" if status == 422 else None)


def status_json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise TransientPlatformError(f"Mastodon answered {response.status_code} with a body that is not JSON",
                                     status=response.status_code) from exc


class MastodonAdapter:
    """Posts as the account `account_id` on the server the client's base URL points at."""

    channel: Channel = "mastodon"

    def __init__(
        self,
        http: httpx.Client,
        *,
        access_token: str,
        account_id: str,
        clock: Callable[[], datetime],
        visibility: str = "public",
        lookback: timedelta = timedelta(days=2),
    ) -> None:
        self._http = http
        self._token = access_token
        self._account_id = account_id
        self._clock = clock
        self._visibility = visibility
        self._lookback = lookback

    def _headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}", **extra}

    @staticmethod
    def _result(status: dict[str, Any], **details: str) -> DeliveryResult:
        if not isinstance(status, dict) or not status.get("id"):
            raise PermanentPlatformError("Mastodon answered success without a status id")
        return DeliveryResult(
            platform_id=str(status["id"]),
            url=status.get("url") or status.get("uri"),
            details={"uri": str(status.get("uri") or ""), **details},
        )

    def publish(self, request: DeliveryRequest) -> DeliveryResult:
        """Post once; the delivery id as Idempotency-Key makes a retry return the same status."""
        body: dict[str, Any] = {"status": request.text, "visibility": self._visibility,
                                "language": status_language(request.language)}
        if request.reply_to:
            body["in_reply_to_id"] = request.reply_to
        http_request = self._http.build_request(
            "POST", STATUSES_PATH, json=body, headers=self._headers(**{"Idempotency-Key": request.delivery_id}))
        response = send_write(self._http, http_request)
        if response.status_code == 200:
            return self._result(status_json(response))
        raise_for(response, self._clock())

    def find(self, request: DeliveryRequest) -> DeliveryResult | None:
        """The oldest recent status of the account with this text, reply target and language."""
        wanted = _comparable(request.text)
        since = self._clock() - self._lookback
        params: dict[str, Any] = {"limit": PAGE_SIZE, "exclude_reblogs": "true"}
        matches: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            response = send(self._http, self._http.build_request(
                "GET", f"/api/v1/accounts/{self._account_id}/statuses", params=params, headers=self._headers()))
            if response.status_code != 200:
                raise_for(response, self._clock())
            page = status_json(response)
            if not isinstance(page, list) or not page:
                break
            statuses = [s for s in page if isinstance(s, dict) and s.get("id")]
            matches.extend(s for s in statuses if self._matches(s, wanted, request))
            oldest = statuses[-1] if statuses else None
            if oldest is None or self._created(oldest) < since or "next" not in response.links:
                break
            params["max_id"] = oldest["id"]
        if not matches:
            return None
        first = min(matches, key=lambda s: int(s["id"]) if str(s["id"]).isdigit() else 0)
        return self._result(first, matches=str(len(matches)))

    def engagement(self, status_ids: list[str], *, attempts: int = 2, base_delay: float = 0.2) -> dict[str, Engagement]:
        """Favourites, boosts and replies of the account's statuses: `GET /api/v1/statuses/:id` each (the
        Status entity's `favourites_count`, `reblogs_count`, `replies_count`), retried at most `attempts`
        times; a status the server no longer has (404) is left out."""
        out: dict[str, Engagement] = {}
        for status_id in status_ids:
            def call(status_id: str = status_id) -> httpx.Response:
                response = send(self._http, self._http.build_request("GET", f"{STATUSES_PATH}/{status_id}",
                                                                     headers=self._headers()))
                if response.status_code not in (200, 404):
                    raise_for(response, self._clock())
                return response

            response = with_retries(call, attempts=attempts, base_delay=base_delay)
            status = status_json(response) if response.status_code == 200 else None
            if isinstance(status, dict) and status.get("id"):
                out[status_id] = Engagement(state="available", posts=1, likes=int(status.get("favourites_count") or 0),
                                            reposts=int(status.get("reblogs_count") or 0),
                                            replies=int(status.get("replies_count") or 0))
        return out

    @staticmethod
    def _created(status: dict[str, Any]) -> datetime:
        try:
            return datetime.fromisoformat(str(status.get("created_at")).replace("Z", "+00:00"))
        except ValueError:
            return datetime.min.replace(tzinfo=timezone.utc)

    @staticmethod
    def _matches(status: dict[str, Any], wanted: str, request: DeliveryRequest) -> bool:
        if _comparable(content_text(str(status.get("content") or ""))) != wanted:
            return False
        if (status.get("in_reply_to_id") or None) != (request.reply_to or None):
            return False
        return status.get("language") in (None, status_language(request.language))
