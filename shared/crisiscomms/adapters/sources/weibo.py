"""Sina Weibo listening: what is said to the bank's account, under its posts, and (optionally) about it.

Streams, and why there are four
-------------------------------
Each configured Weibo source is one stream with its own cursor (crisiscomms.watch.weibo):

* ``mentions`` - `GET /2/statuses/mentions.json`: statuses that @ the authorised account.
* ``comments`` - `GET /2/comments/to_me.json`: every comment the authorised account receives,
  under its own posts and in reply to its own comments, newest first, through one cursor. This
  is how comments on the bank's posts should normally be heard: one call a page whatever the
  number of posts.
* ``post_comments`` - `GET /2/statuses/user_timeline.json` (the bank's newest own posts; since
  2013 it lists only the authorised account's own) then `GET /2/comments/show.json?id=` for each
  of them. It reads the same comments as ``comments`` for the newest posts only, at one call per
  post and pass (plus the timeline call), bounded by `recent_posts`. It exists for a desk that
  wants the newest statements' threads swept post by post; configure it instead of ``comments``,
  not beside it, because an ordinary app has about 150 calls an hour per authorised account
  (Weibo's rate-limiting page) and the publisher's own calls share that budget.
* ``search`` - `GET /2/search/statuses/limited.json` on the commercial host c.api.weibo.com:
  keyword search (`q`, `starttime`/`endtime` in Unix seconds, `sort=time`, `count` up to 50,
  `page`). It is a paid business API, optional; the commercial budget is 50,000 calls an hour per IP.

Paging and cursors
------------------
The timeline listings page by id: `since_id` (exclusive) and `max_id` (inclusive), newest
first. A pass starts below nothing and above the committed `since_id`, walks down with
`max_id = oldest id seen - 1` and, only when it reaches the bottom, commits the newest id it saw
as the new `since_id`. Items that arrive during a pass are above the pass's first page and are
read by the next one; a crash resumes the pass where its last stored page ended. `page` is
avoided because arrivals shift its offsets. A first pass (no `since_id`) stops at the source's
initial look-back. `post_comments` keeps one `since_id` per recent post.

Search cannot page by id, so it pages by time window: a pass fixes a window
[`searched_until`, now - `search_lag_seconds`] and runs every keyword's `page` 1, 2, ... in it.
The next window starts at the second the previous one ended (a one-second overlap: a repeat is
stored once, a gap would lose posts). Keywords come from the source or its topics' names.

Credentials: secret `<SOURCE_SECRET_PREFIX>weibo`, a JSON object
``{"access_token": "...", "uid": "...", "search_access_token": "..."}`` - `access_token` is the
OAuth2 token the bank's Weibo account granted the app (`oauth2/access_token`, authorisation-code
grant); `uid` is informational; `search_access_token` is only needed when the commercial search is
contracted under a different app (it defaults to `access_token`).

Tokens: Weibo issues a refresh token only to mobile apps using its official mobile SDK (OAuth2
documentation, "授权有效期"); a server-side app cannot refresh by API. Expired or revoked tokens
(error codes 21314-21317, 21319, 21327 expired_token, 21332 invalid_access_token, 21301) raise
TokenExpired, which the poll turns into ReauthorisationNeeded: someone signs in as the bank's
account and authorises the app again. A token the app's own developer account grants lasts 5 years.

Errors come as ``{"error": "...", "error_code": 10023, "request": "/2/..."}`` with whatever HTTP
status (200 included); the code decides. 10022/10023/10024 (IP, user, user-per-API frequency
limits) pause the source until the next full hour, since Weibo counts per clock hour and sends
no reset header (`account/rate_limit_status` would cost a call from the same budget).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from pydantic import ValidationError

from crisiscomms.adapters.http import json_object, numeric_code, platform_error, redact, redact_url_tokens_in_logs
from crisiscomms.adapters.http import retry_after, send
from crisiscomms.errors import (
    InvalidCursor,
    PermanentPlatformError,
    PlatformError,
    ReauthorisationNeeded,
    TokenExpired,
    TransientPlatformError,
)
from crisiscomms.models import Post
from crisiscomms.models.paging import Credentials, SourcePage
from crisiscomms.observability import logger

MENTIONS_PATH = "/2/statuses/mentions.json"
COMMENTS_TO_ME_PATH = "/2/comments/to_me.json"
COMMENTS_SHOW_PATH = "/2/comments/show.json"
USER_TIMELINE_PATH = "/2/statuses/user_timeline.json"
SEARCH_PATH = "/2/search/statuses/limited.json"
SEARCH_HOST = "https://c.api.weibo.com"
USER_TIMELINE_COUNT_MAX = 100

# System errors and overload: the same request may succeed later.
TRANSIENT_CODES = frozenset({10001, 10002, 10003, 10009, 10010, 10011})
# IP, user and user-per-API frequency limits, counted per clock hour.
RATE_LIMIT_CODES = frozenset({10022, 10023, 10024})
# Token used, expired, revoked, rejected or invalid, and a failed authorisation.
TOKEN_CODES = frozenset({21301, 21314, 21315, 21316, 21317, 21319, 21327, 21332})
# "Param error" / "Parameter (%s)'s value invalid": a stored cursor value when the message names one.
PARAMETER_CODES = frozenset({10008, 10017})
# "Target weibo does not exist": a post of the sweep was deleted.
MISSING_POST_CODES = frozenset({"20101"})
CURSOR_PARAMETERS = ("max_id", "since_id", "page")

MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}


@dataclass(frozen=True)
class WeiboStream:
    """What one configured source reads, as plain values (the adapter layer sits below the watch models)."""

    kind: str  # mentions | comments | post_comments | search
    source_id: str
    count: int
    lookback: timedelta
    recent_posts: int = 5
    terms: tuple[str, ...] = ()
    lag_seconds: int = 60
    bank_handle: str | None = None
    bank_id: str | None = None


@dataclass
class ParsedPage:
    """One listing parsed: its posts, what could not be read, and what paging needs."""

    posts: list[Post] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)  # every readable id, of skipped and malformed items too
    oldest_at: datetime | None = None
    raw_count: int = 0
    next_cursor: int = 0
    total_number: int | None = None


def parse_created_at(value: Any) -> datetime:
    """Weibo's "Tue May 31 17:46:55 +0800 2011" as an aware datetime (no locale-dependent strptime)."""
    if not isinstance(value, str):
        raise TypeError("created_at is not a string")
    parts = value.split()
    if len(parts) != 6 or parts[1] not in MONTHS or not re.fullmatch(r"[+-]\d{4}", parts[4]):
        raise ValueError(f"created_at {value[:40]!r} is not Weibo's time format")
    hours, minutes, seconds = (int(p) for p in parts[3].split(":"))
    offset = timedelta(hours=int(parts[4][1:3]), minutes=int(parts[4][3:5]))
    zone = timezone(-offset if parts[4][0] == "-" else offset)
    return datetime(int(parts[5]), MONTHS[parts[1]], int(parts[2]), hours, minutes, seconds, tzinfo=zone)


def _id_of(raw: Any) -> int | None:
    """The item's numeric id (idstr first: ids exceed what JavaScript's numbers hold), or None."""
    if not isinstance(raw, dict):
        return None
    value = raw.get("idstr") or raw.get("id")
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    return int(text) if text.isdigit() else None


def _count(value: Any) -> int:
    """An engagement figure; anything unreadable counts as 0 rather than discarding the post."""
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def mention_pattern(handle: str | None) -> re.Pattern[str] | None:
    """@handle as Weibo links it: the name ends where a character that cannot be in a name starts."""
    if not handle:
        return None
    return re.compile(rf"@{re.escape(handle.lstrip('@'))}(?![\w-])", re.IGNORECASE)


def parse_items(
    payload: Mapping[str, Any],
    *,
    key: str,
    source_id: str,
    to_bank: bool,
    mention: re.Pattern[str] | None = None,
    bank_id: str | None = None,
    bank_handle: str | None = None,
    floor: datetime | None = None,
) -> ParsedPage:
    """A Weibo listing (`statuses` or `comments`) as Posts; one unreadable item never fails the page.

    Skipped without complaint: deleted statuses, the bank's own words, and items older than
    `floor` (a first pass's look-back). `to_bank` marks every post (mentions, comments on the
    bank's posts); otherwise a post addresses the bank when its text matches `mention`.
    """
    items = payload.get(key)
    page = ParsedPage(next_cursor=_count(payload.get("next_cursor")))
    if "total_number" in payload:
        page.total_number = _count(payload.get("total_number"))
    if not isinstance(items, list):
        if items is not None:
            page.malformed.append(f"{key} is not a list")
        return page
    page.raw_count = len(items)
    own_handle = bank_handle.lstrip("@").casefold() if bank_handle else None
    for raw in items:
        item_id = _id_of(raw)
        if item_id is not None:
            page.ids.append(item_id)
        try:
            if item_id is None:
                raise ValueError("no numeric idstr or id")
            published = parse_created_at(raw.get("created_at"))
            if page.oldest_at is None or published < page.oldest_at:
                page.oldest_at = published
            if str(raw.get("deleted") or "0") not in ("0", "false", "False"):
                continue
            user = raw.get("user")
            if not isinstance(user, dict):
                raise TypeError("user is not an object")
            author_id = str(user.get("idstr") or user.get("id") or "") or None
            screen_name = user.get("screen_name")
            if not isinstance(screen_name, str) or not screen_name:
                raise ValueError("user.screen_name is missing")
            if (bank_id and author_id == bank_id) or (own_handle and screen_name.casefold() == own_handle):
                continue
            if floor is not None and published < floor:
                continue
            page.posts.append(_post(raw, item_id, published, user, author_id, screen_name, key=key,
                                    source_id=source_id, to_bank=to_bank, mention=mention))
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            kind = "status" if key == "statuses" else "comment"
            page.malformed.append(f"{kind} {item_id or '?'}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    return page


def _post(raw: dict[str, Any], item_id: int, published: datetime, user: dict[str, Any], author_id: str | None,
          screen_name: str, *, key: str, source_id: str, to_bank: bool, mention: re.Pattern[str] | None) -> Post:
    text = raw.get("text")
    if not isinstance(text, str):
        raise TypeError("text is not a string")
    if key == "comments":
        status = raw.get("status") if isinstance(raw.get("status"), dict) else {}
        status_user = status.get("user") if isinstance(status.get("user"), dict) else {}
        owner = str(status_user.get("idstr") or status_user.get("id") or "")
        status_id = _id_of(status)
        url = f"https://weibo.com/{owner}/{status_id}" if owner and status_id else f"https://weibo.com/{author_id or ''}"
        likes = _count(raw.get("like_count", raw.get("like_counts")))
        # A comment is answered with comments/reply: the status it is under, and the comment itself.
        reply_ref = {"cid": str(item_id), **({"id": str(status_id)} if status_id else {})}
    else:
        url = f"https://weibo.com/{author_id}/{item_id}" if author_id else f"https://weibo.com/detail/{item_id}"
        likes = _count(raw.get("attitudes_count"))
        reply_ref = {"id": str(item_id)}  # a status (a mention) is answered with comments/create on it
    location = user.get("location")
    return Post(
        platform="weibo",
        native_id=str(item_id),
        source_type="social",
        source_id=source_id,
        url=url,
        author=screen_name,
        author_id=author_id,
        followers=_count(user.get("followers_count")),
        text=text,
        published_at=published,
        likes=likes,
        reposts=_count(raw.get("reposts_count")),
        replies=_count(raw.get("comments_count")),
        location=(location.strip() or None) if isinstance(location, str) else None,
        to_bank=to_bank or bool(mention and mention.search(text)),
        reply_ref=reply_ref,
    )


def _next_hour(now: datetime) -> datetime:
    """Weibo's frequency limits are counted per clock hour (CST is a whole-hour offset from UTC)."""
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def _newest(*ids: Any) -> str | None:
    numeric = [int(i) for i in ids if i is not None and str(i).isdigit()]
    return str(max(numeric)) if numeric else None


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


class WeiboReader:
    """Reads one Weibo stream a page at a time; one HTTP call per `read`."""

    def __init__(self, http: httpx.Client, *, stream: WeiboStream, credentials: Credentials,
                 clock: Callable[[], datetime]) -> None:
        self._http = http
        self._stream = stream
        self._credentials = credentials
        self._clock = clock
        self._mention = mention_pattern(stream.bank_handle)
        redact_url_tokens_in_logs()  # the token travels as the documented access_token parameter

    def read(self, cursor: Mapping[str, Any]) -> SourcePage:
        readers = {"mentions": self._read_inbox, "comments": self._read_inbox,
                   "post_comments": self._read_post_comments, "search": self._read_search}
        try:
            return readers[self._stream.kind](cursor)
        except InvalidCursor as exc:
            logger.warning("Weibo refused the stored cursor; the stream restarts from its committed position",
                           extra={"source": self._stream.source_id, "parameter": exc.code, "error": str(exc)})
            return SourcePage(posts=[], cursor=self._reset(cursor, exc.code), more=True)

    def _reset(self, cursor: Mapping[str, Any], parameter: str | None) -> dict[str, Any]:
        if self._stream.kind == "search":
            return {"searched_until": cursor.get("window_end"), "window_start": None, "window_end": None,
                    "term_index": None, "page": None}
        reset: dict[str, Any] = {"max_id": None, "pending_since_id": None}
        if parameter == "since_id" and self._stream.kind == "post_comments":
            reset.update(post_queue=None, post_since=None)
        elif parameter == "since_id":
            reset.update(since_id=None, floor=None)
        return reset

    # --- mentions and comments/to_me: one id-paged inbox ---------------------------------------

    def _read_inbox(self, cursor: Mapping[str, Any]) -> SourcePage:
        since = cursor.get("since_id")
        floor = None if since else _when(cursor.get("floor")) or self._clock() - self._stream.lookback
        path, key = (MENTIONS_PATH, "statuses") if self._stream.kind == "mentions" else (COMMENTS_TO_ME_PATH, "comments")
        page, newest, next_max = self._window_page(path, key, {}, since=since, max_id=cursor.get("max_id"),
                                                   pending=cursor.get("pending_since_id"), floor=floor)
        if next_max:
            position = {"max_id": next_max, "pending_since_id": newest, "floor": _iso(floor)}
            return SourcePage(posts=page.posts, malformed=page.malformed, cursor=position, more=True)
        committed = newest or since
        position = {"since_id": committed, "max_id": None, "pending_since_id": None,
                    "floor": None if committed else _iso(floor)}
        return SourcePage(posts=page.posts, malformed=page.malformed, cursor=position)

    def _window_page(self, path: str, key: str, params: dict[str, Any], *, since: str | None, max_id: str | None,
                     pending: str | None, floor: datetime | None) -> tuple[ParsedPage, str | None, str | None]:
        """One page of an id window: the page, the newest id of the pass so far, and the next
        `max_id` when the window holds more below this page (None: the pass is complete)."""
        query = {**params, "count": self._stream.count}
        if since and since != "0":
            query["since_id"] = since
        if max_id:
            query["max_id"] = max_id
        body = self._get(path, query)
        page = parse_items(body, key=key, source_id=self._stream.source_id, to_bank=True,
                           bank_id=self._stream.bank_id, bank_handle=self._stream.bank_handle, floor=floor)
        newest = _newest(pending, *page.ids)
        below_floor = floor is not None and page.oldest_at is not None and page.oldest_at < floor
        fuller = page.raw_count >= self._stream.count or page.next_cursor > 0
        next_max = min(page.ids) - 1 if page.ids else 0
        if page.raw_count == 0 or below_floor or not fuller or next_max <= int(since or 0):
            if page.raw_count and not page.ids:
                logger.warning("a full Weibo page had no readable id; the pass ends here",
                               extra={"source": self._stream.source_id})
            return page, newest, None
        return page, newest, str(next_max)

    # --- post_comments: the bank's newest posts, one comments/show window each -------------------

    def _read_post_comments(self, cursor: Mapping[str, Any]) -> SourcePage:
        queue = [str(p) for p in cursor.get("post_queue") or []]
        since_of = dict(str(pair).split(":", 1) for pair in cursor.get("post_since") or [] if ":" in str(pair))
        if not queue:
            return self._start_sweep(since_of)
        head = queue[0]
        since = since_of.get(head)
        floor = None if since else _when(cursor.get("floor")) or self._clock() - self._stream.lookback
        try:
            page, newest, next_max = self._window_page(
                COMMENTS_SHOW_PATH, "comments", {"id": head}, since=since, max_id=cursor.get("max_id"),
                pending=cursor.get("pending_since_id"), floor=floor)
        except PermanentPlatformError as exc:
            if exc.code not in MISSING_POST_CODES:
                raise
            logger.info("a post of the sweep no longer exists", extra={"source": self._stream.source_id, "post": head})
            page, newest, next_max = ParsedPage(), None, None
            since_of.pop(head, None)
        else:
            # "0": swept once without a comment; from now on every comment under it is new, whatever its age.
            since_of[head] = newest or since or "0"
        if next_max:
            return SourcePage(posts=page.posts, malformed=page.malformed, cursor={
                "max_id": next_max, "pending_since_id": newest}, more=True)
        rest = queue[1:]
        return SourcePage(posts=page.posts, malformed=page.malformed, more=bool(rest), cursor={
            "post_queue": rest or None, "max_id": None, "pending_since_id": None, "floor": cursor.get("floor") if rest else None,
            "post_since": [f"{p}:{s}" for p, s in since_of.items()] or None})

    def _start_sweep(self, since_of: dict[str, str]) -> SourcePage:
        """The bank's newest own posts become this pass's queue; posts that left it are forgotten."""
        count = min(self._stream.recent_posts, USER_TIMELINE_COUNT_MAX)
        body = self._get(USER_TIMELINE_PATH, {"count": count, "trim_user": 1})
        statuses = body.get("statuses")
        malformed: list[str] = [] if isinstance(statuses, list) else ["statuses is not a list"]
        posts: list[str] = []
        for raw in statuses if isinstance(statuses, list) else []:
            post_id = _id_of(raw)
            if post_id is None:
                malformed.append("own status ?: no numeric idstr or id")
            elif str(raw.get("deleted") or "0") in ("0", "false", "False"):
                posts.append(str(post_id))
        floor = self._clock() - self._stream.lookback
        return SourcePage(posts=[], malformed=malformed, more=bool(posts), cursor={
            "post_queue": posts or None, "floor": floor.isoformat(), "max_id": None, "pending_since_id": None,
            "post_since": [f"{p}:{since_of[p]}" for p in posts if p in since_of] or None})

    # --- search: fixed time windows, every keyword paged through ----------------------------------

    def _read_search(self, cursor: Mapping[str, Any]) -> SourcePage:
        terms = self._stream.terms
        if not terms:
            return SourcePage(posts=[])
        now = self._clock()
        end = cursor.get("window_end")
        if end is None:
            start = int(cursor.get("searched_until") or (now - self._stream.lookback).timestamp())
            end = int(now.timestamp()) - self._stream.lag_seconds
            if end <= start:
                return SourcePage(posts=[])
            term_index, page_number = 0, 1
        else:
            start = int(cursor.get("window_start") or end)
            term_index, page_number = int(cursor.get("term_index") or 0), int(cursor.get("page") or 1)
        term_index = min(term_index, len(terms) - 1)
        body = self._get(SEARCH_PATH, {"q": terms[term_index], "starttime": start, "endtime": int(end),
                                       "sort": "time", "count": self._stream.count, "page": page_number}, search=True)
        page = parse_items(body, key="statuses", source_id=self._stream.source_id, to_bank=False,
                           mention=self._mention, bank_id=self._stream.bank_id, bank_handle=self._stream.bank_handle)
        reported = page.total_number
        more_pages = page.raw_count > 0 and (
            page.raw_count >= self._stream.count if reported is None else page_number * self._stream.count < reported)
        if more_pages:
            term_index, page_number = term_index, page_number + 1
        elif term_index + 1 < len(terms):
            term_index, page_number = term_index + 1, 1
        else:
            done = {"searched_until": int(end), "window_start": None, "window_end": None, "term_index": None, "page": None}
            return SourcePage(posts=page.posts, malformed=page.malformed, cursor=done)
        position = {"window_start": start, "window_end": int(end), "term_index": term_index, "page": page_number}
        return SourcePage(posts=page.posts, malformed=page.malformed, cursor=position, more=True)

    # --- one call, and Weibo's error envelope ------------------------------------------------------

    def _get(self, path: str, params: dict[str, Any], *, search: bool = False) -> dict[str, Any]:
        credentials = self._credentials.current()
        token = str((search and credentials.get("search_access_token")) or credentials.get("access_token") or "")
        if not token:
            raise ReauthorisationNeeded("the weibo secret holds no access_token: authorise the app for the bank's account")
        request = self._http.build_request("GET", path, params={**params, "access_token": token})
        response = send(self._http, request)
        now = self._clock()
        body = json_object(response)
        if body is not None and "error_code" in body:
            raise self._error(path, params, response, body, token, now)
        if response.status_code == 200:
            if body is None:
                raise TransientPlatformError(f"Weibo answered {path} with a body that is not a JSON object", status=200)
            return body
        status = response.status_code
        raise platform_error(status, f"Weibo answered {path} with {status} and no error envelope",
                             resume_at=lambda: retry_after(response, now) or _next_hour(now))

    def _error(self, path: str, params: Mapping[str, Any], response: httpx.Response, body: dict[str, Any],
               token: str, now: datetime) -> PlatformError:
        status = response.status_code
        code = numeric_code(body.get("error_code"))
        error = redact(str(body.get("error", "")), token, mask="[access_token]")[:200]
        message = f"Weibo error {code} on {path}: {error}"
        if code in TOKEN_CODES:
            return TokenExpired(f"{message} (the account must authorise the app again)", status=status, code=str(code))
        if code in PARAMETER_CODES:
            refused = next((name for name in CURSOR_PARAMETERS if name in params and f"({name})" in error), None)
            if refused:
                return InvalidCursor(message, status=status, code=refused)
        return platform_error(status, message, code=str(code),
                              rate_limited=code in RATE_LIMIT_CODES or (status == 429 and code not in TOKEN_CODES),
                              transient=code in TRANSIENT_CODES or (status >= 500 and code not in RATE_LIMIT_CODES),
                              rate_limit_message=f"Weibo frequency limit ({code}): {error}",
                              resume_at=lambda: retry_after(response, now) or _next_hour(now))
