"""Mastodon listening: a hashtag timeline, status search, or the bank account's mentions.

Endpoints (docs.joinmastodon.org/methods/timelines, /search, /notifications):

* ``GET /api/v1/timelines/tag/:hashtag`` (`any[]`, `local`, `min_id`, `limit` <= 40) and
  ``GET /api/v1/notifications?types[]=mention`` (`min_id`, `limit` <= 80) page with a `Link`
  header. With `min_id` the server returns the page *immediately newer* than it (newest first
  inside the page) and `rel="prev"` carries the `min_id` of the next newer page, so reading
  forward page by page from the newest id already read misses nothing however many posts
  arrived between polls.
* ``GET /api/v2/search?type=statuses`` (`q`, `min_id`, `max_id`, `limit` <= 40) has no `Link`
  header. Mastodon turns `min_id`/`max_id` into `after:`/`before:` dates to the second and
  answers the newest matches first, so a pass walks down from the top with `max_id` until a
  short page, and only then moves its lower bound up. It finds only the posts of accounts that
  opted into search (and the token owner's own posts, mentions and favourites), and only on
  servers that run Elasticsearch.

Ids are 48 bits of milliseconds and 16 of sequence. A remote post gets an id dated to its
publication, so one that federates late lands *below* ids already read: hashtag and search
passes therefore start `overlap_minutes` below the newest post read and skip the ids they
already stored (the `seen` list in the cursor).

Status `content` is sanitised HTML; it is stored as clean text: nh3 (Ammonia) with no tag
allowed, entities unescaped, whitespace collapsed. Mastodon has no location field.

Reading again (the early-warning watch list, crisiscomms.listening.watchlist): `lookup` reads
statuses by id, each with its author's `followers_count`, with ``GET /api/v1/statuses?id[]=...``
(Mastodon 4.3+, at most 20 ids a call: more is a 422); a status the server no longer has or no
longer shows the token's account is left out of the answer and reported missing. A server older
than 4.3 has no such route and answers 404: the reader then reads ``GET /api/v1/statuses/:id``
one at a time, at most `SINGLE_READS_PER_RUN` a run (newest first, as the watch list is kept; the
rest wait), a 404 there meaning the status is gone. The server's 404 is remembered for a day with
the process's connection pool to it (`_NO_BATCH`), so a warm function pays it once.

Rate limits: 300 calls per 5 minutes per account, `X-RateLimit-Limit/Remaining/Reset`, the reset
an ISO 8601 time. Errors are `{"error": "..."}`.

Secret `<SOURCE_SECRET_PREFIX>mastodon`: ``{"access_token": "..."}``, a user token of the bank's
account on the server in `base_url` with scopes read:statuses, read:search, read:notifications.
Mastodon tokens do not expire and cannot be refreshed: a refused one (401) needs a person to
authorise the app again.
"""
from __future__ import annotations

import html
import re
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import nh3
from pydantic import ValidationError

from crisiscomms.adapters.http import json_object, platform_error, retry_after, send
from crisiscomms.errors import PermanentPlatformError, ReauthorisationNeeded, TokenExpired, TransientPlatformError
from crisiscomms.models import Post
from crisiscomms.models.paging import Credentials, LookupResult, SourcePage
from crisiscomms.observability import logger

TAG_TIMELINE_PATH = "/api/v1/timelines/tag/{hashtag}"
STATUSES_PATH = "/api/v1/statuses"
STATUSES_PER_CALL = 20  # Api::BaseController::DEFAULT_STATUSES_LIMIT: GET /api/v1/statuses refuses more ids
SINGLE_READS_PER_RUN = 10  # GET /api/v1/statuses/:id calls a run may spend, of 60 a minute for the whole account
NO_BATCH_REMEMBERED = timedelta(days=1)  # then the batch form is tried again (the server may have been upgraded)
SEARCH_PATH = "/api/v2/search"
NOTIFICATIONS_PATH = "/api/v1/notifications"
DEFAULT_RATE_LIMIT_PAUSE = timedelta(minutes=5)  # the length of Mastodon's default window
SEEN_KEPT = 1000
_SEPARATORS = re.compile(r"<br\s*/?>|</p\s*>", re.IGNORECASE)


# --- pure parsing ---------------------------------------------------------------------------------

def status_text(content: str) -> str:
    """Status HTML as plain text: line and paragraph breaks become spaces, every tag goes, entities are read."""
    cleaned = nh3.clean(_SEPARATORS.sub(" ", content), tags=set())
    return " ".join(html.unescape(cleaned).split())


def snowflake_at(when: datetime) -> int:
    """The lowest Mastodon id a post published at `when` can have."""
    return int(when.timestamp() * 1000) << 16


def snowflake_time(status_id: Any) -> datetime | None:
    """When a Mastodon id was minted; None for ids that are not Mastodon's time-based ones."""
    text = str(status_id)
    if not text.isdigit() or len(text) > 20:
        return None
    when = datetime.fromtimestamp((int(text) >> 16) / 1000, tz=timezone.utc)
    return when if when.year >= 2016 else None  # older ids are plain sequence numbers (before Mastodon 2.0)


def _time(value: Any) -> datetime:
    when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError("created_at without a timezone")
    return when


def _count(value: Any) -> int:
    return max(0, int(value or 0))


class BankIdentity:
    """The bank's Mastodon account as configured: its id, and its handle with or without the server."""

    def __init__(self, handle: str | None, account_id: str | None) -> None:
        self.handle = (handle or "").lstrip("@").lower() or None
        self.account_id = account_id

    def is_bank(self, account_id: Any, acct: Any) -> bool:
        if self.account_id and account_id is not None and str(account_id) == self.account_id:
            return True
        if not self.handle or not isinstance(acct, str):
            return False
        acct = acct.lstrip("@").lower()
        if acct == self.handle:
            return True
        mine, _, my_server = self.handle.partition("@")
        theirs, _, their_server = acct.partition("@")
        return mine == theirs and not (my_server and their_server)  # a local acct carries no server


def status_to_post(raw: Mapping[str, Any], *, source_id: str, bank: BankIdentity, mentions_bank: bool = False,
                   server: str | None = None) -> Post:
    """One Status entity as a Post; a boost is read as the boosted status.

    `reply_ref` keeps the status URI and the server it was read from (`server`): the id is that
    server's, and a reply from the bank's account needs its own server's id for the same status."""
    status = raw["reblog"] if isinstance(raw.get("reblog"), dict) else raw
    status_id = str(status["id"])
    account = status["account"]
    if not isinstance(account, dict):
        raise TypeError("account is not an object")
    content = status["content"]
    if not isinstance(content, str):
        raise TypeError("content is not a string")
    to_bank = mentions_bank or bank.is_bank(status.get("in_reply_to_account_id"), None) or any(
        isinstance(m, dict) and bank.is_bank(m.get("id"), m.get("acct")) for m in status.get("mentions") or [])
    spoiler = status.get("spoiler_text")
    return Post(
        platform="mastodon",
        native_id=status_id,
        source_type="social",
        source_id=source_id,
        url=str(status.get("url") or status.get("uri") or ""),
        author=str(account.get("acct") or account.get("username") or account["id"]),
        author_id=str(account["id"]),
        followers=_count(account.get("followers_count")),
        title=" ".join(spoiler.split()) if isinstance(spoiler, str) and spoiler.strip() else None,  # plain text
        text=status_text(content),
        lang_hint=status.get("language") or None,
        published_at=_time(status["created_at"]),
        likes=_count(status.get("favourites_count")),
        reposts=_count(status.get("reblogs_count")),
        replies=_count(status.get("replies_count")),
        quotes=_count(status.get("quotes_count")),
        location=None,
        to_bank=to_bank,
        reply_ref={k: v for k, v in (("uri", str(status.get("uri") or "")), ("server", server or "")) if v} or None,
    )


def _problem(kind: str, raw: Any, exc: Exception) -> str:
    item_id = raw.get("id") if isinstance(raw, dict) else None
    return f"{kind} {item_id or '?'}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"


def parse_statuses(items: list[Any], *, source_id: str, bank: BankIdentity,
                   server: str | None = None) -> tuple[list[Post], list[str]]:
    """A page of Status entities (tag timeline, search); an unreadable one is described, never fatal."""
    posts: list[Post] = []
    malformed: list[str] = []
    for raw in items:
        try:
            if not isinstance(raw, dict):
                raise TypeError("status is not an object")
            posts.append(status_to_post(raw, source_id=source_id, bank=bank, server=server))
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            malformed.append(_problem("status", raw, exc))
    return posts, malformed


def parse_mentions(items: list[Any], *, source_id: str, bank: BankIdentity,
                   server: str | None = None) -> tuple[list[Post], list[str]]:
    """A page of Notification entities of type mention: each one's status, addressed to the bank."""
    posts: list[Post] = []
    malformed: list[str] = []
    for raw in items:
        try:
            if not isinstance(raw, dict) or not isinstance(raw.get("status"), dict):
                raise TypeError("notification without a status")
            if raw.get("type") != "mention":
                continue
            posts.append(status_to_post(raw["status"], source_id=source_id, bank=bank, mentions_bank=True,
                                        server=server))
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            malformed.append(_problem("notification", raw, exc))
    return posts, malformed


def _numeric_ids(items: list[Any]) -> list[int]:
    return [int(i["id"]) for i in items if isinstance(i, dict) and str(i.get("id", "")).isdigit()]


def _prev_min_id(response: httpx.Response) -> str | None:
    """`min_id` of the Link header's rel="prev": the cursor of the next newer page."""
    link = response.links.get("prev", {}).get("url")
    if not link:
        return None
    values = parse_qs(urlsplit(link).query).get("min_id")
    return values[0] if values and values[0].isdigit() else None


def _later(*ids: Any) -> str | None:
    numeric = [int(i) for i in ids if i is not None and str(i).isdigit()]
    return str(max(numeric)) if numeric else None


# --- errors and rate limits -------------------------------------------------------------------------

def reset_time(response: httpx.Response) -> datetime | None:
    """X-RateLimit-Reset: an ISO 8601 time on Mastodon."""
    value = (response.headers.get("x-ratelimit-reset") or "").strip()
    if not value:
        return None
    try:
        return _time(value).astimezone(timezone.utc)
    except ValueError:
        return None


def budget_spent_until(response: httpx.Response) -> datetime | None:
    """The reset time when this answer used the window's last call."""
    remaining = (response.headers.get("x-ratelimit-remaining") or "").strip()
    if remaining and remaining.isdigit() and int(remaining) == 0:
        return reset_time(response)
    return None


def raise_for(response: httpx.Response, now: datetime) -> NoReturn:
    """Mastodon's `{"error": ...}` answers as the domain's errors."""
    status = response.status_code
    message = str((json_object(response) or {}).get("error") or f"HTTP {status}")[:300]
    if status == 401:
        raise TokenExpired(f"Mastodon refused the access token: {message}", status=status)
    if status == 403:
        raise ReauthorisationNeeded(f"Mastodon 403: {message}: authorise the app again with the read scopes it needs",
                                    status=status)
    raise platform_error(status, f"Mastodon {status}: {message}", rate_limit_message=f"Mastodon rate limit: {message}",
                         resume_at=lambda: reset_time(response) or retry_after(response, now)
                         or now + DEFAULT_RATE_LIMIT_PAUSE)


def _body(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError as exc:
        raise TransientPlatformError("Mastodon answered 200 with a body that is not JSON", status=200) from exc
    if isinstance(body, dict) and "error" in body and not {"statuses", "accounts"} & set(body):
        raise PermanentPlatformError(f"Mastodon error inside a 200: {str(body['error'])[:300]}", status=200)
    return body


# Servers that answered 404 to the batch read, and until when that is believed: kept with the client (the
# process's connection pool to the server), so it lives as long as the pool and is forgotten with it.
_NO_BATCH: weakref.WeakKeyDictionary[httpx.Client, datetime] = weakref.WeakKeyDictionary()


# --- the reader ---------------------------------------------------------------------------------------

class MastodonReader:
    """Reads one configured stream; every call is one HTTP request and returns the cursor to store after it.
    Reads statuses again by id (`lookup`) for the watch list."""

    lookup_ids = STATUSES_PER_CALL
    lookup_followers = True  # each Status carries its account's followers_count

    def __init__(self, http: httpx.Client, *, stream: str, source_id: str, credentials: Credentials,
                 clock: Callable[[], datetime], limit: int, lookback: timedelta, overlap: timedelta,
                 hashtag: str | None = None, any_tags: tuple[str, ...] = (), local_only: bool = False,
                 query: str | None = None, bank: BankIdentity | None = None) -> None:
        if stream not in ("hashtag", "search", "mentions"):
            raise ValueError(f"unknown Mastodon stream {stream!r}")
        self._http = http
        self._stream = stream
        self._source_id = source_id
        self._credentials = credentials
        self._clock = clock
        self._limit = limit
        self._lookback = lookback
        self._overlap = overlap
        self._hashtag = hashtag
        self._any_tags = any_tags
        self._local_only = local_only
        self._query = query
        self._bank = bank or BankIdentity(None, None)
        self._server = str(http.base_url).rstrip("/") or None  # whose ids the posts carry (their reply_ref)
        self._single_reads_left = SINGLE_READS_PER_RUN  # a reader lives for one run

    def read(self, cursor: Mapping[str, Any]) -> SourcePage:
        if self._stream == "search":
            return self._read_search(cursor)
        return self._read_forward(cursor)

    def _get(self, path: str, params: list[tuple[str, Any]]) -> tuple[httpx.Response, datetime]:
        token = self._credentials.current().get("access_token")
        if not token:
            raise ReauthorisationNeeded("the Mastodon secret holds no access_token")
        request = self._http.build_request("GET", path, params=params, headers={"Authorization": f"Bearer {token}"})
        response = send(self._http, request)
        return response, self._clock()

    # reading again by id

    def lookup(self, ids: list[str]) -> LookupResult:
        """Statuses again by id, up to 20: one batch request on Mastodon 4.3+, else one request each within
        the run's budget. Errors map as for the streams (a 429 is RateLimited with the ISO reset)."""
        if not 1 <= len(ids) <= STATUSES_PER_CALL:
            raise ValueError(f"a lookup takes 1 to {STATUSES_PER_CALL} ids, not {len(ids)}")
        now = self._clock()
        if _NO_BATCH.get(self._http, now) <= now:
            response, now = self._get(STATUSES_PATH, [("id[]", status_id) for status_id in ids])
            if response.status_code != 404:
                _NO_BATCH.pop(self._http, None)
                if response.status_code != 200:
                    raise_for(response, now)
                return self._looked_up(ids, _body(response))
            _NO_BATCH[self._http] = now + NO_BATCH_REMEMBERED
            logger.info("Mastodon server without GET /api/v1/statuses (before 4.3): statuses are read one at a time",
                        extra={"source": self._source_id, "server": self._server})
        return self._one_at_a_time(ids)

    def _one_at_a_time(self, ids: list[str]) -> LookupResult:
        found: list[Any] = []
        missing: set[str] = set()
        unread: set[str] = set()
        for status_id in ids:
            if not status_id.isdigit():  # no Mastodon id: nothing to read, as the batch form would find nothing
                missing.add(status_id)
                continue
            if self._single_reads_left <= 0:
                unread.add(status_id)
                continue
            self._single_reads_left -= 1
            response, now = self._get(f"{STATUSES_PATH}/{status_id}", [])
            if response.status_code == 404:
                missing.add(status_id)
            elif response.status_code != 200:
                raise_for(response, now)
            else:
                found.append(_body(response))
        result = self._looked_up([i for i in ids if i not in unread and i not in missing], found)
        result.missing |= missing
        result.unread = unread
        return result

    def _looked_up(self, ids: list[str], items: Any) -> LookupResult:
        if not isinstance(items, list):
            raise TransientPlatformError("Mastodon answered 200 without the statuses asked for", status=200)
        posts, malformed = parse_statuses(items, source_id=self._source_id, bank=self._bank, server=self._server)
        answered = {str(item.get("id")) for item in items if isinstance(item, dict)} | {p.native_id for p in posts}
        return LookupResult(posts=posts, malformed=malformed, missing={i for i in ids if i not in answered})

    # hashtag timeline and mentions: forward with min_id, page by page

    def _read_forward(self, cursor: Mapping[str, Any]) -> SourcePage:
        newest_read = cursor.get("min_id")
        start = cursor.get("pass_from") or self._pass_start(newest_read)
        params: list[tuple[str, Any]] = [("min_id", start), ("limit", self._limit)]
        if self._stream == "hashtag":
            path = TAG_TIMELINE_PATH.format(hashtag=quote(self._hashtag or "", safe=""))
            params += [("any[]", tag) for tag in self._any_tags]
            if self._local_only:
                params.append(("local", "true"))
        else:
            path = NOTIFICATIONS_PATH
            params.append(("types[]", "mention"))
        response, now = self._get(path, params)
        if response.status_code == 404 and self._stream == "hashtag":
            logger.info("hashtag unknown to the server yet",
                        extra={"source": self._source_id, "hashtag": self._hashtag})
            return SourcePage(posts=[], resume_at=budget_spent_until(response))
        if response.status_code != 200:
            raise_for(response, now)
        items = _body(response)
        if not isinstance(items, list):
            raise TransientPlatformError("Mastodon answered 200 without the array of items", status=200)
        if self._stream == "hashtag":
            posts, malformed = parse_statuses(items, source_id=self._source_id, bank=self._bank, server=self._server)
        else:
            posts, malformed = parse_mentions(items, source_id=self._source_id, bank=self._bank, server=self._server)
        page_newest = _prev_min_id(response) or _later(*_numeric_ids(items))
        seen = list(cursor.get("seen") or [])
        already = set(seen)
        fresh = [p for p in posts if p.native_id not in already]
        more = len(items) >= self._limit and page_newest is not None
        high = _later(newest_read, page_newest) or newest_read
        return SourcePage(
            posts=fresh, malformed=malformed, more=more, resume_at=budget_spent_until(response),
            cursor={"min_id": high, "pass_from": page_newest if more else None,
                    "seen": _kept(seen, [p.native_id for p in fresh], _below(_minted(high), self._overlap))
                    if self._overlap else None})

    def _pass_start(self, newest_read: Any) -> str:
        """Where a new pass starts: the overlap below the newest id read, or the first poll's look-back."""
        if newest_read is None:
            return str(snowflake_at(self._clock() - self._lookback))
        when = snowflake_time(newest_read)
        if when is None or not self._overlap:
            return str(newest_read)
        return str(min(int(newest_read), snowflake_at(when - self._overlap)))

    # search: newest first, walked down with max_id, then the lower bound moves up

    def _read_search(self, cursor: Mapping[str, Any]) -> SourcePage:
        walk_from = cursor.get("walk_from")
        floor = self._search_floor(cursor)
        params: list[tuple[str, Any]] = [("q", self._query), ("type", "statuses"), ("resolve", "false"),
                                         ("limit", self._limit), ("min_id", str(snowflake_at(floor)))]
        if walk_from:
            params.append(("max_id", walk_from))
        response, now = self._get(SEARCH_PATH, params)
        if response.status_code != 200:
            raise_for(response, now)
        body = _body(response)
        items = body.get("statuses") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise TransientPlatformError("Mastodon answered 200 without a statuses array", status=200)
        posts, malformed = parse_statuses(items, source_id=self._source_id, bank=self._bank, server=self._server)
        seen = list(cursor.get("seen") or [])
        already = set(seen)
        fresh = [p for p in posts if p.native_id not in already]
        # a post dated in the future (a remote server's clock) must not lift the lower bound past now
        newest = max([min(p.published_at, now) for p in posts]
                     + _times(cursor.get("walk_newest_at"), cursor.get("newest_at")), default=None)
        next_from = self._walk_on(items, posts, walk_from)
        # entries stay while this walk's floor or the next pass's can still meet them
        kept = _kept(seen, [p.native_id for p in fresh], min(floor, (newest or floor) - self._overlap))
        resume_at = budget_spent_until(response)
        if len(items) >= self._limit and next_from is not None:
            return SourcePage(posts=fresh, malformed=malformed, more=True, resume_at=resume_at, cursor={
                "walk_from": next_from, "walk_floor": floor.isoformat(),
                "walk_newest_at": newest.isoformat() if newest else None, "seen": kept})
        return SourcePage(posts=fresh, malformed=malformed, resume_at=resume_at, cursor={
            "newest_at": newest.isoformat() if newest else cursor.get("newest_at"),
            "walk_from": None, "walk_floor": None, "walk_newest_at": None, "seen": kept})

    def _search_floor(self, cursor: Mapping[str, Any]) -> datetime:
        if cursor.get("walk_from") and cursor.get("walk_floor"):
            return datetime.fromisoformat(str(cursor["walk_floor"]))
        newest_at = cursor.get("newest_at")
        if newest_at:
            return datetime.fromisoformat(str(newest_at)) - self._overlap
        return self._clock() - self._lookback

    def _walk_on(self, items: list[Any], posts: list[Post], walk_from: Any) -> str | None:
        """The next page's max_id. Mastodon reads max_id as `before:` a time cut to the second, so
        the boundary is the second after the oldest post's (its same-second neighbours come back and
        are skipped as seen); only when that makes no progress is the oldest id itself used."""
        ids = _numeric_ids(items)
        if not ids:
            return None
        oldest = min(ids)
        oldest_at = min((p.published_at for p in posts if p.native_id == str(oldest)), default=None)
        oldest_at = oldest_at or snowflake_time(oldest)
        limit = int(walk_from) if walk_from and str(walk_from).isdigit() else None
        candidates = []
        if oldest_at is not None:
            candidates.append(snowflake_at(oldest_at.replace(microsecond=0) + timedelta(seconds=1)))
        candidates.append(oldest)
        for candidate in candidates:
            if limit is None or candidate < limit:
                return str(candidate)
        return None


def _minted(status_id: str | None) -> datetime | None:
    return snowflake_time(status_id) if status_id else None


def _below(when: datetime | None, overlap: timedelta) -> datetime | None:
    return when - overlap if when else None


def _kept(seen: list[str], added: list[str], floor: datetime | None) -> list[str]:
    """Ids minted at or after the floor (a minute of slack), newest first, at most SEEN_KEPT."""
    slack = floor - timedelta(minutes=1) if floor else None
    kept = [i for i in dict.fromkeys([*added, *seen])
            if slack is None or (minted := snowflake_time(i)) is None or minted >= slack]
    kept.sort(key=lambda i: int(i) if i.isdigit() else 0, reverse=True)
    return kept[:SEEN_KEPT]


def _times(*values: Any) -> list[datetime]:
    return [datetime.fromisoformat(str(v)) for v in values if v]
