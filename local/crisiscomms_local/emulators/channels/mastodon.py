"""Emulator of a Mastodon server's status API for one account.

`POST /api/v1/statuses` (form or JSON) with the documented `Idempotency-Key` behaviour: the
same key from the same account within an hour answers the status it created the first time.
`GET /api/v1/accounts/:id/statuses` and `GET /api/v1/statuses/:id` return Status entities whose
`content` is HTML as Mastodon renders it. Errors are `{"error": "..."}`: 401 bad token, 404
unknown reply target, 422 validation (500 characters, links counted as 23), 429 with
`X-RateLimit-*` headers whose reset is an ISO 8601 timestamp.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..base import Clock, EmulatorServer, Fault, Request, Response, as_utc, reason_phrase, rfc3339
from ._common import URL_RE, BadBody, bearer_token, form_or_json_body, grapheme_count, json_response, replace_urls

STATUSES_PATH = "/api/v1/statuses"
URL_LENGTH = 23
IDEMPOTENCY_TTL = timedelta(hours=1)
VISIBILITIES = ("public", "unlisted", "private", "direct")


@dataclass(frozen=True)
class MastodonStatus:
    """One status created through the API."""

    id: str
    text: str
    visibility: str
    language: str | None
    in_reply_to_id: str | None
    idempotency_key: str | None
    created_at: datetime


def render_content(text: str) -> str:
    """Plain text as Mastodon's HTML: paragraphs, `<br />` line breaks, linkified URLs."""
    paragraphs = [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join(f"<p>{'<br />'.join(_linkify(line) for line in p.split(chr(10)))}</p>" for p in paragraphs)


def _linkify(line: str) -> str:
    out, last = [], 0
    for match in URL_RE.finditer(line):
        url = match.group(0)
        scheme, _, rest = url.partition("://")
        shown, hidden = rest[:30], rest[30:]
        out.append(html.escape(line[last:match.start()]))
        out.append(
            f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener noreferrer" translate="no">'
            f'<span class="invisible">{scheme}://</span>'
            f'<span class="{"ellipsis" if hidden else ""}">{html.escape(shown)}</span>'
            f'<span class="invisible">{html.escape(hidden)}</span></a>'
        )
        last = match.end()
    out.append(html.escape(line[last:]))
    return "".join(out)


class MastodonEmulator(EmulatorServer):
    """The account `username` on `domain`, authenticated by `access_token`."""

    def __init__(
        self,
        clock: Clock,
        *,
        domain: str = "social.example",
        username: str = "examplebank",
        account_id: str = "109876543210987654",
        access_token: str = "local-mastodon-token",
        max_characters: int = 500,
        statuses_per_window: int = 300,
        window_seconds: int = 3 * 3600,
        timeout_delay: float = 2.0,
    ) -> None:
        super().__init__(clock, timeout_delay=timeout_delay)
        self.domain = domain
        self.username = username
        self.account_id = account_id
        self.access_token = access_token
        self.max_characters = max_characters
        self.statuses_per_window = statuses_per_window
        self.window_seconds = window_seconds
        self._posts: list[MastodonStatus] = []
        self._keys: dict[str, tuple[str, datetime]] = {}
        self._external: set[str] = set()
        self._seq = 0
        self._window_reset: datetime | None = None
        self._window_used = 0

    @property
    def posts(self) -> list[MastodonStatus]:
        """Statuses created so far, oldest first."""
        with self._lock:
            return list(self._posts)

    def add_external_status(self) -> str:
        """A status from another account that replies may point at; returns its id."""
        with self._lock:
            status_id = self._next_id(as_utc(self.clock()))
            self._external.add(status_id)
        return status_id

    # -- HTTP ------------------------------------------------------------------------------

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        return json_response(status, {"error": message}, headers)

    def _rate_headers(self, reset: datetime, remaining: int) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.statuses_per_window),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": rfc3339(reset),
        }

    def fault_response(self, fault: Fault, request: Request, now: datetime) -> Response:
        if fault.kind == "rate_limit":
            wait = fault.retry_after if fault.retry_after is not None else fault.seconds_left(now)
            return self._error(429, "Too many requests", self._rate_headers(now + timedelta(seconds=wait), 0))
        assert fault.status is not None
        return self._error(fault.status, reason_phrase(fault.status))

    def handle(self, request: Request) -> Response:
        now = as_utc(self.clock(), "clock()")
        if bearer_token(request) != self.access_token:
            return self._error(401, "The access token is invalid")
        if request.path == STATUSES_PATH and request.method == "POST":
            return self._create(request, now)
        if request.method in ("GET", "HEAD"):
            if request.path == f"/api/v1/accounts/{self.account_id}/statuses":
                return self._list(request, now)
            if request.path.startswith(STATUSES_PATH + "/"):
                wanted = request.path.rsplit("/", 1)[-1]
                found = next((s for s in self.posts if s.id == wanted), None)
                return json_response(200, self._entity(found)) if found else self._error(404, "Record not found")
        return self._error(404, "Record not found")

    def _consume(self, now: datetime) -> tuple[bool, datetime, int]:
        with self._lock:
            if self._window_reset is None or now >= self._window_reset:
                self._window_reset = now + timedelta(seconds=self.window_seconds)
                self._window_used = 0
            allowed = self._window_used < self.statuses_per_window
            self._window_used += allowed
            return allowed, self._window_reset, self.statuses_per_window - self._window_used

    def _create(self, request: Request, now: datetime) -> Response:
        key = request.header("Idempotency-Key")
        with self._lock:
            remembered = self._keys.get(key) if key else None
            if remembered and now - remembered[1] < IDEMPOTENCY_TTL:
                original = next(s for s in self._posts if s.id == remembered[0])
                return json_response(200, self._entity(original))
        try:
            params = form_or_json_body(request)
        except BadBody as exc:
            return self._error(400, str(exc))
        text = str(params.get("status") or "")
        visibility = str(params.get("visibility") or "public")
        in_reply_to = params.get("in_reply_to_id") or None
        language = params.get("language") or None
        if not text.strip():
            return self._error(422, "Validation failed: Text can't be blank")
        if grapheme_count(replace_urls(text, "x" * URL_LENGTH)) > self.max_characters:
            return self._error(422, f"Validation failed: Text character limit of {self.max_characters} exceeded")
        if visibility not in VISIBILITIES:
            return self._error(422, "Validation failed: Visibility is not included in the list")
        allowed, reset, remaining = self._consume(now)
        if not allowed:
            return self._error(429, "Too many requests", self._rate_headers(reset, 0))
        with self._lock:
            if in_reply_to is not None and in_reply_to not in self._external | {s.id for s in self._posts}:
                return self._error(404, "Record not found")
            status = MastodonStatus(id=self._next_id(now), text=text, visibility=visibility,
                                    language=str(language) if language else None,
                                    in_reply_to_id=str(in_reply_to) if in_reply_to else None,
                                    idempotency_key=key, created_at=now)
            self._posts.append(status)
            if key:
                self._keys[key] = (status.id, now)
        return json_response(200, self._entity(status), self._rate_headers(reset, remaining))

    def _next_id(self, now: datetime) -> str:
        """Mastodon ids: milliseconds since the epoch shifted left 16 bits, plus a sequence."""
        self._seq += 1
        return str((int(now.timestamp() * 1000) << 16) | (self._seq & 0xFFFF))

    def _list(self, request: Request, now: datetime) -> Response:
        raw_limit = request.param("limit") or "20"
        limit = min(int(raw_limit), 40) if raw_limit.isdigit() and int(raw_limit) > 0 else 20
        max_id = request.param("max_id")
        statuses = [s for s in reversed(self.posts) if s.created_at <= now]
        if max_id and max_id.isdigit():
            statuses = [s for s in statuses if int(s.id) < int(max_id)]
        if request.param("exclude_replies") in ("true", "1"):
            statuses = [s for s in statuses if s.in_reply_to_id is None]
        page = statuses[:limit]
        headers: dict[str, str] = {}
        if len(statuses) > limit:
            base = f"https://{self.domain}/api/v1/accounts/{self.account_id}/statuses"
            headers["Link"] = f'<{base}?limit={limit}&max_id={page[-1].id}>; rel="next"'
        return json_response(200, [self._entity(s) for s in page], headers)

    def _entity(self, status: MastodonStatus) -> dict[str, Any]:
        account_url = f"https://{self.domain}/@{self.username}"
        return {
            "id": status.id,
            "created_at": rfc3339(status.created_at),
            "in_reply_to_id": status.in_reply_to_id,
            "in_reply_to_account_id": None if status.in_reply_to_id is None else self.account_id,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": status.visibility,
            "language": status.language,
            "uri": f"https://{self.domain}/users/{self.username}/statuses/{status.id}",
            "url": f"{account_url}/{status.id}",
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "edited_at": None,
            "content": render_content(status.text),
            "reblog": None,
            "application": {"name": "crisiscomms", "website": None},
            "account": {"id": self.account_id, "username": self.username, "acct": self.username,
                        "display_name": self.username, "url": account_url},
            "media_attachments": [],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "card": None,
            "poll": None,
        }
