"""Emulator of a Mastodon server for one account: what the bank publishes and what it listens to.

One server is the platform's host for both sides, as a real instance is.

Publishing: `POST /api/v1/statuses` (form or JSON) with the documented `Idempotency-Key`
behaviour: the same key from the same account within an hour answers the status it created the
first time. `GET /api/v1/accounts/:id/statuses` and `GET /api/v1/statuses/:id` return Status
entities whose `content` is HTML as Mastodon renders it. A status's `language` is kept when Mastodon
supports it (an ISO 639 code, or `zh-CN`, `zh-HK`, `zh-TW`, `zh-YUE`: LanguagesHelper's
SUPPORTED_LOCALES) and otherwise replaced by the instance's default, `en` (valid_locale_cascade).

Replies: `in_reply_to_id` may name the account's own statuses, `add_external_status` ones, or any
status the server heard (`add_post`); anything else is 404. `replies` lists the account's replies.
`GET /api/v2/search?q=<status URI or URL>&resolve=true` finds a heard status by its address (how
the bank's server learns its own id for a status read through another server).

Listening (`add_post` puts other people's statuses here):
* `GET /api/v1/timelines/tag/:hashtag` (`any[]`, `local`, `max_id`, `since_id`, `min_id`,
  `limit` <= 40) and `GET /api/v1/notifications` (`types[]`, `min_id`, ..., `limit` <= 80):
  newest first; with `min_id` the page immediately newer than it; a `Link` header with
  rel="next" (`max_id`) and rel="prev" (`min_id`). An unknown hashtag answers 404.
* `GET /api/v2/search?type=statuses`: as Mastodon 4.2+ runs it, `min_id`/`max_id` become
  `after:`/`before:` times cut to the second, the newest matches come first, no `Link` header;
  only statuses of accounts that opted into search, or that mention the bank's account, are found.
  Terms are ANDed, "quoted phrases" kept together, `-term` excluded (case-insensitive substrings).
* Ids are milliseconds << 16 plus a sequence, dated to the post's publication even when it
  arrives later (`arrives_at`), as a late-federating remote post is on Mastodon.
* `GET /api/v1/statuses?id[]=...` (Mastodon 4.3+; more than 20 ids is a 422) answers the heard
  statuses it still has, in the order asked, leaving out the others; `GET /api/v1/statuses/:id`
  answers one (404 when gone). `batch_statuses=False` plays a server before 4.3, which has no
  batch route and answers it 404. A heard status's counts can change over simulated time
  (`set_metrics`) and it can be deleted (`delete_post`): from then on every read leaves it out.
* Reads share a budget of 300 calls per 5 minutes (`X-RateLimit-*`, reset as ISO 8601); so do
  the reads of heard statuses by id.

Errors are `{"error": "..."}`: 401 bad or revoked token (Mastodon tokens never expire, and
there is no refresh), 404 unknown record, 422 validation (500 characters, links counted as 23),
429 with `X-RateLimit-*` headers whose reset is an ISO 8601 timestamp.
"""
from __future__ import annotations

import hashlib
import html
import re
from bisect import insort
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote

from ..base import Clock, EmulatorServer, Fault, Request, Response, as_utc, reason_phrase, rfc3339
from ._common import URL_RE, BadBody, bearer_token, form_or_json_body, grapheme_count, json_response, replace_urls

STATUSES_PATH = "/api/v1/statuses"
URL_LENGTH = 23
IDEMPOTENCY_TTL = timedelta(hours=1)
VISIBILITIES = ("public", "unlisted", "private", "direct")
TAG_TIMELINE_PREFIX = "/api/v1/timelines/tag/"
SEARCH_PATH = "/api/v2/search"
NOTIFICATIONS_PATH = "/api/v1/notifications"
MAX_STATUS_IDS = 20  # Api::BaseController::DEFAULT_STATUSES_LIMIT
_HASHTAG_RE = re.compile(r"(?<![\w#])#(\w+)")
# LanguagesHelper::SUPPORTED_LOCALES: ISO 639-1 and the ISO 639-3 codes it lists (told apart here by their
# form: two or three lowercase letters), and its regional Chinese ones; anything else gives the default.
_ISO_639 = re.compile(r"[a-z]{2,3}")
_REGIONAL_LOCALES = frozenset({"zh-CN", "zh-HK", "zh-TW", "zh-YUE"})
DEFAULT_LOCALE = "en"


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


@dataclass(frozen=True)
class HeardStatus:
    """A status by someone else that the server knows of: what `add_post` puts here."""

    id: int
    text: str
    author: str
    followers: int
    created_at: datetime
    arrives_at: datetime  # when the server learns of it; a late remote post keeps an id dated to created_at
    tags: tuple[str, ...]
    language: str | None
    likes: int
    reposts: int
    replies: int
    to_bank: bool
    indexable: bool
    raw: dict[str, Any] | None = None  # served as it is: a malformed item on demand
    uri: str | None = None  # its ActivityPub id on its home server, when given (a status federated here)

    @property
    def notification_id(self) -> int:
        return (int(self.arrives_at.timestamp() * 1000) << 16) | (self.id & 0xFFFF)


def snowflake_time(status_id: int) -> datetime:
    return datetime.fromtimestamp((status_id >> 16) / 1000, tz=timezone.utc)


def _account_id(name: str) -> str:
    return str(int(hashlib.sha256(name.encode("utf-8")).hexdigest()[:12], 16))


def _page(items: list[Any], key: Any, *, limit: int, max_id: int | None, since_id: int | None,
          min_id: int | None) -> list[Any]:
    """Mastodon's paginate_by_id: newest first; with min_id, the page immediately newer than it."""
    chosen = [i for i in items if (max_id is None or key(i) < max_id) and (since_id is None or key(i) > since_id)]
    if min_id is not None:
        ascending = sorted((i for i in chosen if key(i) > min_id), key=key)[:limit]
        return sorted(ascending, key=key, reverse=True)
    return sorted(chosen, key=key, reverse=True)[:limit]


def _id_param(request: Request, name: str) -> int | None:
    value = request.param(name)
    return int(value) if value and value.isdigit() else None


def _limit(request: Request, default: int, maximum: int) -> int:
    raw = request.param("limit") or ""
    return min(int(raw), maximum) if raw.isdigit() and int(raw) > 0 else default


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

    platform = "mastodon"

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
        reads_per_window: int = 300,
        read_window_seconds: int = 300,
        listening_hashtag: str = "examplebank",
        batch_statuses: bool = True,
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
        self.reads_per_window = reads_per_window
        self.read_window_seconds = read_window_seconds
        self.listening_hashtag = listening_hashtag.lower()
        self._heard: list[HeardStatus] = []
        self._read_reset: datetime | None = None
        self._reads_used = 0
        self._counts: dict[str, dict[str, int]] = {}
        self.batch_statuses = batch_statuses
        self._count_steps: dict[int, list[tuple[datetime, dict[str, int]]]] = {}  # heard id -> (from, changed)
        self._deleted: dict[int, datetime] = {}

    @property
    def posts(self) -> list[MastodonStatus]:
        """Statuses created so far, oldest first."""
        with self._lock:
            return list(self._posts)

    @property
    def replies(self) -> list[MastodonStatus]:
        """The account's statuses that reply to another, oldest first."""
        with self._lock:
            return [s for s in self._posts if s.in_reply_to_id is not None]

    def set_counts(self, status_id: str, *, favourites: int = 0, reblogs: int = 0, replies: int = 0) -> None:
        """What people did with one of the account's statuses, as its Status entity shows it."""
        with self._lock:
            self._counts[status_id] = {"favourites_count": favourites, "reblogs_count": reblogs, "replies_count": replies}

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
        if not self.access_token or bearer_token(request) != self.access_token:
            return self._error(401, "The access token is invalid")
        if request.path == STATUSES_PATH and request.method == "POST":
            return self._create(request, now)
        if request.method in ("GET", "HEAD"):
            if request.path == f"/api/v1/accounts/{self.account_id}/statuses":
                return self._list(request, now)
            if request.path.startswith(STATUSES_PATH + "/"):
                wanted = request.path.rsplit("/", 1)[-1]
                found = next((s for s in self.posts if s.id == wanted), None)
                if found is not None:
                    return json_response(200, self._entity(found))
                return self._read(request, now)  # someone else's status, or 404
            if request.path == STATUSES_PATH and self.batch_statuses:
                return self._read(request, now)
            if request.path.startswith(TAG_TIMELINE_PREFIX) or request.path in (SEARCH_PATH, NOTIFICATIONS_PATH):
                return self._read(request, now)
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
        if language is not None and not (_ISO_639.fullmatch(str(language)) or language in _REGIONAL_LOCALES):
            language = DEFAULT_LOCALE
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
            heard = {str(s.id) for s in self._heard if s.raw is None and s.arrives_at <= now}
            if in_reply_to is not None and in_reply_to not in self._external | heard | {s.id for s in self._posts}:
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
            **self._counts.get(status.id, {}),
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

    # -- listening: what others post, and the three ways of reading it -------------------------

    def add_post(self, *, text: str, author: str, created_at: datetime, followers: int = 0, likes: int = 0,
                 reposts: int = 0, replies: int = 0, lang: str | None = None, location: str | None = None,
                 to_bank: bool = False, tags: tuple[str, ...] | None = None, arrives_at: datetime | None = None,
                 indexable: bool = True, uri: str | None = None) -> str:
        """A status by `author` (a local name, or name@server for a remote account); returns its id.

        It is filed under its own #hashtags and under `listening_hashtag` (shown at the end of its
        content when the text lacks it), so the hashtag source of `watch_sources` hears every post.
        `to_bank` mentions the bank's account (and notifies it). Mastodon has no location: it is
        ignored. `arrives_at` (default `created_at`) is when the server learns of the post; its id
        stays dated to `created_at`. `indexable=False`: an author who did not opt into search. `uri`: the
        status's ActivityPub id, the same on every server it federated to (default: minted from this id)."""
        created = as_utc(created_at, "created_at")
        arrives = as_utc(arrives_at, "arrives_at") if arrives_at else created
        own = tuple(t.lower() for t in _HASHTAG_RE.findall(text))
        wanted = tuple(t.lower().lstrip("#") for t in tags) if tags is not None else (*own, self.listening_hashtag)
        with self._lock:
            status_id = int(self._next_id(created))
            self._heard.append(HeardStatus(
                id=status_id, text=text, author=author, followers=followers, created_at=created, arrives_at=arrives,
                tags=tuple(dict.fromkeys(wanted)), language=lang, likes=likes, reposts=reposts, replies=replies,
                to_bank=to_bank, indexable=indexable, uri=uri))
        return str(status_id)

    def add_malformed(self, *, raw: dict[str, Any], created_at: datetime, tags: tuple[str, ...] | None = None,
                      to_bank: bool = False) -> str:
        """An item served exactly as `raw` (its `id` added when missing) wherever it belongs; returns its id."""
        created = as_utc(created_at, "created_at")
        with self._lock:
            status_id = int(self._next_id(created))
            self._heard.append(HeardStatus(
                id=status_id, text="", author="malformed", followers=0, created_at=created, arrives_at=created,
                tags=tuple(tags) if tags is not None else (self.listening_hashtag,), language=None, likes=0, reposts=0,
                replies=0, to_bank=to_bank, indexable=True, raw={"id": str(status_id), **raw}))
        return str(status_id)

    def set_metrics(self, status_id: str, *, at: datetime, likes: int | None = None, reposts: int | None = None,
                    replies: int | None = None) -> None:
        """From simulated time `at` on, a heard status shows these counts (those not given keep their value):
        engagement that grows after it was first read. Calls add steps to a schedule."""
        changed = {name: value for name, value in (("favourites_count", likes), ("reblogs_count", reposts),
                                                   ("replies_count", replies)) if value is not None}
        if any(value < 0 for value in changed.values()):
            raise ValueError("counts must not be negative")
        at = as_utc(at, "at")
        with self._lock:
            self._heard_status(int(status_id))
            insort(self._count_steps.setdefault(int(status_id), []), (at, changed), key=lambda step: step[0])

    def delete_post(self, status_id: str, *, at: datetime) -> None:
        """From simulated time `at` on the heard status is gone: timelines, search and reads by id leave it out."""
        with self._lock:
            self._heard_status(int(status_id))
            self._deleted[int(status_id)] = as_utc(at, "at")

    def _heard_status(self, status_id: int) -> HeardStatus:
        with self._lock:
            found = next((s for s in self._heard if s.id == status_id), None)
        if found is None:
            raise KeyError(f"no heard status {status_id}")
        return found

    def _gone(self, status: HeardStatus, now: datetime) -> bool:
        deleted = self._deleted.get(status.id)
        return deleted is not None and deleted <= now

    def _counts_at(self, status: HeardStatus, now: datetime) -> dict[str, int]:
        counts = {"replies_count": status.replies, "reblogs_count": status.reposts, "favourites_count": status.likes}
        with self._lock:
            for at, changed in self._count_steps.get(status.id, ()):
                if at > now:
                    break
                counts.update(changed)
        return counts

    def revoke_token(self) -> None:
        """The account owner revoked the app (Mastodon tokens never expire otherwise): every call answers 401."""
        self.access_token = ""

    def authorise(self, access_token: str) -> None:
        """A person authorised the app again and got a new token."""
        self.access_token = access_token

    def credentials(self) -> dict[str, Any]:
        return {"access_token": self.access_token}

    def default_account(self) -> dict[str, Any]:
        return {"handle": self.username, "id": self.account_id}

    def play_account(self, handle: str) -> None:
        """`handle` as the scenario writes it: "harbor", "@harbor" or "harbor@social.example" (its user part)."""
        with self._lock:
            self.username = handle.lstrip("@").split("@")[0]

    def watch_sources(self, account: dict[str, Any] | None) -> list[dict[str, Any]]:
        """The hashtag every added post is filed under, and the account's mentions (the token is the bank's)."""
        return [
            {"id": "mastodon-tag", "platform": "mastodon", "base_url": self.base_url, "stream": "hashtag",
             "hashtag": self.listening_hashtag, "initial_lookback_minutes": 60},
            {"id": "mastodon-mentions", "platform": "mastodon", "base_url": self.base_url, "stream": "mentions",
             "initial_lookback_minutes": 60},
        ]

    def _consume_read(self, now: datetime) -> tuple[bool, datetime, int]:
        with self._lock:
            if self._read_reset is None or now >= self._read_reset:
                self._read_reset = now + timedelta(seconds=self.read_window_seconds)
                self._reads_used = 0
            allowed = self._reads_used < self.reads_per_window
            self._reads_used += allowed
            return allowed, self._read_reset, self.reads_per_window - self._reads_used

    def _read(self, request: Request, now: datetime) -> Response:
        allowed, reset, remaining = self._consume_read(now)
        headers = {"X-RateLimit-Limit": str(self.reads_per_window), "X-RateLimit-Remaining": str(remaining),
                   "X-RateLimit-Reset": rfc3339(reset)}
        if not allowed:
            return self._error(429, "Too many requests", headers)
        with self._lock:
            known = [s for s in self._heard if s.arrives_at <= now and not self._gone(s, now)]
        if request.path == STATUSES_PATH:
            response = self._statuses(request, known)
        elif request.path.startswith(STATUSES_PATH + "/"):
            wanted = request.path.rsplit("/", 1)[-1]
            found = next((s for s in known if str(s.id) == wanted and s.raw is None), None)
            response = json_response(200, self._heard_entity(found)) if found else self._error(404, "Record not found")
        elif request.path == SEARCH_PATH:
            response = self._search(request, known)
        elif request.path == NOTIFICATIONS_PATH:
            response = self._notifications(request, known)
        else:
            response = self._tag_timeline(request, known)
        response.headers.update(headers)
        return response

    def _statuses(self, request: Request, known: list[HeardStatus]) -> Response:
        """GET /api/v1/statuses (4.3+): the statuses of `id[]` still here, in the order asked, others left out."""
        wanted = list(dict.fromkeys(request.query.get("id[]") or []))
        if len(wanted) > MAX_STATUS_IDS:
            return self._error(422, "Validation failed")
        by_id = {str(s.id): s for s in known}
        return json_response(200, [self._heard_entity(by_id[i]) for i in wanted if i in by_id])

    def _links(self, path: str, page: list[int], limit: int) -> dict[str, str]:
        if not page:
            return {}
        base = f"{self.base_url}{path}?limit={limit}"
        return {"Link": f'<{base}&max_id={page[-1]}>; rel="next", <{base}&min_id={page[0]}>; rel="prev"'}

    def _tag_timeline(self, request: Request, known: list[HeardStatus]) -> Response:
        tag = unquote(request.path[len(TAG_TIMELINE_PREFIX):]).lower()
        with self._lock:
            if not any(tag in s.tags for s in self._heard):
                return self._error(404, "Record not found")
        wanted = {tag, *(t.lower() for t in request.query.get("any[]", []))}
        limit = _limit(request, 20, 40)
        page = _page([s for s in known if wanted & set(s.tags)], lambda s: s.id, limit=limit,
                     max_id=_id_param(request, "max_id"), since_id=_id_param(request, "since_id"),
                     min_id=_id_param(request, "min_id"))
        headers = self._links(request.path, [s.id for s in page], limit)
        return json_response(200, [self._heard_entity(s) for s in page], headers)

    def _notifications(self, request: Request, known: list[HeardStatus]) -> Response:
        types = request.query.get("types[]") or ["mention"]
        excluded = request.query.get("exclude_types[]") or []
        if "mention" not in types or "mention" in excluded:
            return json_response(200, [])
        limit = _limit(request, 40, 80)
        page = _page([s for s in known if s.to_bank], lambda s: s.notification_id, limit=limit,
                     max_id=_id_param(request, "max_id"), since_id=_id_param(request, "since_id"),
                     min_id=_id_param(request, "min_id"))
        body = [{"id": str(s.notification_id), "type": "mention", "created_at": rfc3339(s.arrives_at),
                 "account": self._heard_account(s), "status": self._heard_entity(s)} for s in page]
        return json_response(200, body, self._links(request.path, [s.notification_id for s in page], limit))

    def _search(self, request: Request, known: list[HeardStatus]) -> Response:
        query = (request.param("q") or "").strip()
        if not query:
            return self._error(400, "Validation failed: q is missing")
        empty: dict[str, Any] = {"accounts": [], "statuses": [], "hashtags": []}
        if request.param("type") not in (None, "statuses"):
            return json_response(200, empty)
        if request.param("resolve") in ("true", "1") and re.fullmatch(r"https?://\S+", query):
            by_address = [s for s in known if s.raw is None and query in (self._heard_entity(s)["uri"],
                                                                           self._heard_entity(s)["url"])]
            return json_response(200, {**empty, "statuses": [self._heard_entity(s) for s in by_address[:1]]})
        terms = [(t.startswith("-"), t.lstrip("-").strip('"').casefold()) for t in re.findall(r'-?"[^"]+"|\S+', query)]
        after = _id_param(request, "min_id")
        before = _id_param(request, "max_id")
        after_at = snowflake_time(after).replace(microsecond=0) if after is not None else None
        before_at = snowflake_time(before).replace(microsecond=0) if before is not None else None
        offset = int(request.param("offset") or 0) if (request.param("offset") or "0").isdigit() else 0
        found = []
        for status in sorted(known, key=lambda s: s.id, reverse=True):
            if not (status.indexable or status.to_bank):  # only opted-in authors, or mentions of the token's account
                continue
            if (after_at and status.created_at <= after_at) or (before_at and status.created_at >= before_at):
                continue
            haystack = status.text.casefold()
            if status.raw is None and not all((term in haystack) != negated for negated, term in terms if term):
                continue
            found.append(status)
        page = found[offset:offset + _limit(request, 20, 40)]
        return json_response(200, {**empty, "statuses": [self._heard_entity(s) for s in page]})

    def _heard_account(self, status: HeardStatus) -> dict[str, Any]:
        username, _, server = status.author.partition("@")
        home = server or self.domain
        return {"id": _account_id(status.author), "username": username, "acct": status.author,
                "display_name": username, "url": f"https://{home}/@{username}", "followers_count": status.followers,
                "following_count": 0, "statuses_count": 1, "locked": False, "bot": False,
                "created_at": "2022-11-01T00:00:00.000Z", "note": "", "avatar": "", "header": "",
                "emojis": [], "fields": []}

    def _heard_entity(self, status: HeardStatus) -> dict[str, Any]:
        if status.raw is not None:
            return status.raw
        account = self._heard_account(status)
        username, _, server = status.author.partition("@")
        home = server or self.domain
        content = render_content(status.text)
        tag_url = f"https://{self.domain}/tags/"
        content = re.sub(r"(?<![\w#&])#(\w+)", lambda m: f'<a href="{tag_url}{m.group(1).lower()}"'
                         f' class="mention hashtag" rel="tag">#<span>{m.group(1)}</span></a>', content)
        mentions: list[dict[str, Any]] = []
        if status.to_bank:
            bank_url = f"https://{self.domain}/@{self.username}"
            mention = (f'<span class="h-card" translate="no"><a href="{bank_url}" class="u-url mention">'
                       f'@<span>{self.username}</span></a></span> ')
            content = (content.replace("<p>", f"<p>{mention}", 1) if content.startswith("<p>")
                       else f"<p>{mention}</p>{content}")
            mentions = [{"id": self.account_id, "username": self.username, "acct": self.username, "url": bank_url}]
        if self.listening_hashtag in status.tags and f"#{self.listening_hashtag}" not in status.text.lower():
            content += (f'<p><a href="{tag_url}{self.listening_hashtag}" class="mention hashtag" rel="tag">'
                        f'#<span>{self.listening_hashtag}</span></a></p>')
        return {
            "id": str(status.id),
            "created_at": rfc3339(status.created_at),
            "in_reply_to_id": None,
            "in_reply_to_account_id": None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": "public",
            "language": status.language,
            "uri": status.uri or f"https://{home}/users/{username}/statuses/{status.id}",
            "url": f"https://{home}/@{username}/{status.id}",
            **self._counts_at(status, as_utc(self.clock(), "clock()")),
            "edited_at": None,
            "content": content,
            "reblog": None,
            "account": account,
            "media_attachments": [],
            "mentions": mentions,
            "tags": [{"name": t, "url": f"{tag_url}{t}"} for t in status.tags],
            "emojis": [],
            "card": None,
            "poll": None,
        }
