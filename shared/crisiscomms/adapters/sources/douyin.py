"""Douyin comments on the bank's own videos: `GET /item/comment/list/` on open.douyin.com.

`item/comment/list` pages one video's comments with an opaque `cursor` and `has_more`; the
`access-token` header carries the bank account's user token (scope `item.comment`), `open_id`
names the account. Comments carry `comment_id`, `comment_user_id` (no name, no follower count),
`content`, `create_time` (Unix seconds), `digg_count`, `reply_comment_total` and `top` (pinned).
`video/list` (scope `video.list`) gives the account's own newest videos with their share links.
Errors come inside HTTP 200 in `data.error_code` / `extra.error_code`: 2190008, 28001008 and
10008 (token expired) and 2190002, 28001003 (token invalid) renew the token; 2100004, 28001005,
28001006 are "busy, retry"; 28003018 (too frequent) pauses a minute and 2190001, 28003017 (quota
spent) until midnight Beijing time, Douyin sending no reset time; 2100005 and 28001007 (bad
parameter, e.g. a video that no longer exists) skip that video.

Credentials: the secret `<SOURCE_SECRET_PREFIX>douyin` holds a JSON object with `client_key`
(the app), `open_id` (the bank's account), `access_token` and `refresh_token` from the account
owner's OAuth authorisation, and `access_expires_at` / `refresh_expires_at` (ISO times, written on
refresh). The access token lives 15 days and is renewed on refusal with `POST /oauth/refresh_token/`
(`client_key`, `grant_type=refresh_token`, `refresh_token`); the refresh token lives 30 days and is
itself renewed, while fewer than 20 days remain, with `POST /oauth/renew_refresh_token/` (needs
the app's `renew_refresh_token` permission; at most five times, then the owner authorises again).

Why passes, and the cursor. Douyin's comment list is not a stream: without `sort_type` it is
in recommendation order, and even newest first (`sort_type=time`, which is what is asked for)
an offset cursor shifts when comments are deleted while it pages, and a comment released from
review appears with its original, older time. So each video is read in passes: a pass starts
at the newest comment and reads down until a page holds comments older than the video's
`floor` minus `reread`; the floor is where the pass before the last one began (the newest
comment then). Every comment is therefore read by two passes, and one skipped by a shifted
page boundary in one pass is read by the next; duplicates are stored once. Should a page come
back out of time order (Douyin ignoring `sort_type`), the pass stops trusting the order and
reads to the end of the list, bounded by `max_pages_per_video`, and says so in the log.
A video never read before is read down to `initial_lookback`.

Cursor fields, kept between runs in the source's state item:
  * `queue` - the videos (item_id) still to read this round; a round looks the account's newest
    videos up first when `recent_videos` is set, and ends when every video's pass is done;
  * `discovered` - `"<item_id> <share_url>"` of those newest videos, from the last look-up;
  * `marks` - per video `"<item_id> <mark> <floor>"`: the newest comment time seen (`-` when none
    yet) and the floor the next pass reads down to;
  * `pass_cursor`, `pass_newest`, `pass_oldest`, `pass_ordered`, `pass_pages` - the pass under way
    on the first video of the queue.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn

import httpx
from pydantic import ValidationError

from crisiscomms.adapters.http import json_object, numeric_code, platform_error, redact, retry_after, send
from crisiscomms.errors import (
    PermanentPlatformError,
    PlatformError,
    RateLimited,
    ReauthorisationNeeded,
    TokenExpired,
    TransientPlatformError,
)
from crisiscomms.models import Post
from crisiscomms.models.paging import Credentials, SourcePage
from crisiscomms.observability import logger

COMMENT_LIST_PATH = "/item/comment/list/"
VIDEO_LIST_PATH = "/video/list/"
REFRESH_TOKEN_PATH = "/oauth/refresh_token/"
RENEW_REFRESH_TOKEN_PATH = "/oauth/renew_refresh_token/"
PAGE_SIZE = 20
NEWEST_FIRST = "time"

TOKEN_CODES = frozenset({10008, 2190002, 2190008, 28001003, 28001008})
BUSY_CODES = frozenset({2100004, 28001005, 28001006})
FREQUENCY_CODES = frozenset({28003018})
QUOTA_CODES = frozenset({2190001, 28003017})
BAD_PARAMETER_CODES = frozenset({2100005, 28001007})
REFRESH_TOKEN_EXPIRED = 10010
FREQUENCY_PAUSE = timedelta(minutes=1)
RENEW_WITHIN = timedelta(days=20)  # more than one access token's 15 days: a refresh always comes in time
BEIJING = timezone(timedelta(hours=8))
PASS_FIELDS = ("pass_cursor", "pass_newest", "pass_oldest", "pass_ordered", "pass_pages")


@dataclass(frozen=True)
class WatchedVideo:
    """One of the bank's videos."""

    item_id: str
    url: str | None = None


@dataclass
class CommentPage:
    """One answer of item/comment/list."""

    posts: list[Post] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    times: list[tuple[int, bool]] = field(default_factory=list)  # (create_time, pinned) of each readable comment
    cursor: int | None = None
    has_more: bool = False


def _next_midnight_beijing(now: datetime) -> datetime:
    local = now.astimezone(BEIJING)
    return (local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)).astimezone(timezone.utc)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def parse_comment_page(payload: Mapping[str, Any], *, video: WatchedVideo, source_id: str) -> CommentPage:
    """The comments of one item/comment/list answer as Posts; an unreadable comment is described, never fatal."""
    data = payload.get("data")
    data = data if isinstance(data, dict) else {}
    page = CommentPage(cursor=_int(data.get("cursor")), has_more=data.get("has_more") is True)
    items = data.get("list")
    if items is None:
        return page
    if not isinstance(items, list):
        page.malformed.append(f"video {video.item_id}: `list` is not a list")
        return page
    for raw in items:
        comment_id = raw.get("comment_id") if isinstance(raw, dict) else None
        try:
            post = _comment_to_post(raw, video, source_id)
        except (AttributeError, KeyError, TypeError, ValueError, ValidationError) as exc:
            page.malformed.append(f"comment {comment_id or '?'}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            continue
        page.posts.append(post)
        page.times.append((int(post.published_at.timestamp()), raw.get("top") is True))
    return page


def _comment_to_post(raw: dict[str, Any], video: WatchedVideo, source_id: str) -> Post:
    comment_id = raw["comment_id"]
    if not isinstance(comment_id, str) or not comment_id.strip():
        raise ValueError("comment_id is missing")
    content = raw["content"]
    if not isinstance(content, str):
        raise TypeError("content is not a string")
    created = _int(raw["create_time"])
    if created is None or created <= 0:
        raise ValueError(f"create_time {raw['create_time']!r} is not Unix seconds")
    user = raw.get("comment_user_id")
    user = user if isinstance(user, str) and user else None
    return Post(
        platform="douyin",
        native_id=comment_id,
        source_type="social",
        source_id=source_id,
        url=video.url or "",
        author=user or "unknown",  # the list gives the commenter's id only, no name or follower count
        author_id=user,
        followers=0,
        text=content,
        published_at=datetime.fromtimestamp(created, tz=timezone.utc),
        likes=max(0, _int(raw.get("digg_count")) or 0),
        replies=max(0, _int(raw.get("reply_comment_total")) or 0),
        to_bank=True,  # every comment is under the bank's own video
        reply_ref={"item_id": video.item_id, "comment_id": comment_id},  # item/comment/reply answers it
    )


def _error(answer: Mapping[str, Any]) -> tuple[int, str]:
    """The error code and description of an answer (0 when it succeeded), from `data` or `extra`."""
    parts = [answer.get(name) for name in ("data", "extra")]
    for part in (p for p in parts if isinstance(p, dict)):
        code = numeric_code(part.get("error_code", 0))
        if code:
            return code, str(part.get("description") or part.get("sub_description") or "")
    return 0, ""


def _raise_error(what: str, code: int, description: str, now: datetime) -> NoReturn:
    message = f"Douyin {what} error_code {code}: {redact(description)[:200]}"
    if code in TOKEN_CODES:
        raise TokenExpired(message, status=200, code=str(code))
    if code in FREQUENCY_CODES:
        raise RateLimited(message, resume_at=now + FREQUENCY_PAUSE, status=200)
    if code in QUOTA_CODES:
        raise RateLimited(message, resume_at=_next_midnight_beijing(now), status=200)
    if code in BUSY_CODES:
        raise TransientPlatformError(message, status=200, code=str(code))
    raise PermanentPlatformError(message, status=200, code=str(code))


def douyin_answer(response: httpx.Response, what: str, now: datetime) -> dict[str, Any]:
    """The answer's body, or the mapped error: HTTP first, then Douyin's own codes inside a 200."""
    answer = json_object(response)
    status = response.status_code
    if status == 401:
        raise TokenExpired(f"Douyin {what} answered HTTP 401", status=401)
    if status != 200 or answer is None:
        raise platform_error(status, f"Douyin {what} answered HTTP {status}", transient=status >= 500 or status == 200,
                             resume_at=lambda: retry_after(response, now) or now + FREQUENCY_PAUSE)
    code, description = _error(answer)
    if code:
        _raise_error(what, code, description, now)
    return answer


def _marks(entries: Any) -> dict[str, tuple[int | None, int | None]]:
    out: dict[str, tuple[int | None, int | None]] = {}
    for entry in entries or []:
        parts = str(entry).split(" ")
        if len(parts) == 3:
            out[parts[0]] = (_int(parts[1]), _int(parts[2]))
    return out


def _videos(entries: Any) -> list[WatchedVideo]:
    out = []
    for entry in entries or []:
        item_id, _, url = str(entry).partition(" ")
        if item_id:
            out.append(WatchedVideo(item_id, url or None))
    return out


class DouyinCommentReader:
    """Reads the comments under the bank's videos, one Douyin call per page (see the module docstring)."""

    def __init__(self, http: httpx.Client, *, credentials: Credentials, videos: Sequence[WatchedVideo], source_id: str,
                 clock: Callable[[], datetime], lookback: timedelta, recent_videos: int = 0,
                 reread: timedelta = timedelta(minutes=10), max_pages_per_video: int = 50) -> None:
        if not videos and not recent_videos:
            raise ValueError("a Douyin source needs videos or recent_videos")
        self._http = http
        self._credentials = credentials
        self._videos = list(videos)
        self._source_id = source_id
        self._clock = clock
        self._lookback = lookback
        self._recent = recent_videos
        self._reread = int(reread.total_seconds())
        self._max_pages = max_pages_per_video

    # -- the round and the queue ---------------------------------------------------------------

    def read(self, cursor: Mapping[str, Any]) -> SourcePage:
        discovered = _videos(cursor.get("discovered"))
        marks = _marks(cursor.get("marks"))
        known = {v.item_id: v for v in [*discovered, *self._videos]}  # configured links win
        stored = list(cursor.get("queue") or [])
        queue = [item for item in stored if item in known]
        if not queue and self._recent:
            discovered = self._video_list()
            queue = self._round(discovered)
            return SourcePage(posts=[], more=bool(queue), cursor={
                "queue": queue or None, "discovered": [f"{v.item_id} {v.url or ''}".strip() for v in discovered] or None,
                "marks": _marks_out(marks, keep=set(queue)) or None, **dict.fromkeys(PASS_FIELDS)})
        if not queue:
            queue = self._round(discovered)
            marks = {item: value for item, value in marks.items() if item in queue}
        video = known.get(queue[0]) or WatchedVideo(queue[0])
        under_way = cursor if stored and stored[0] == queue[0] else {}  # the pass fields belong to the head
        return self._read_video(video, queue, marks, under_way)

    def _round(self, discovered: list[WatchedVideo]) -> list[str]:
        return list(dict.fromkeys([v.item_id for v in self._videos] + [v.item_id for v in discovered]))

    # -- one page of one video's pass ------------------------------------------------------------

    def _read_video(self, video: WatchedVideo, queue: list[str], marks: dict[str, tuple[int | None, int | None]],
                    state: Mapping[str, Any]) -> SourcePage:
        now = self._clock()
        mark, floor = marks.get(video.item_id, (None, None))
        if floor is None:
            floor = int((now - self._lookback).timestamp())
        try:
            answer = self._get(COMMENT_LIST_PATH, {"item_id": video.item_id, "cursor": _int(state.get("pass_cursor")) or 0,
                                                   "count": PAGE_SIZE, "sort_type": NEWEST_FIRST}, "item/comment/list")
        except PermanentPlatformError as exc:
            if exc.code not in {str(c) for c in BAD_PARAMETER_CODES}:
                raise
            logger.warning("watched video refused, skipped this round", extra={
                "source": self._source_id, "item_id": video.item_id, "error": str(exc)})
            rest = queue[1:]
            return SourcePage(posts=[], more=bool(rest), cursor={
                "queue": rest or None, "marks": _marks_out(marks) or None, **dict.fromkeys(PASS_FIELDS)})
        page = parse_comment_page(answer, video=video, source_id=self._source_id)
        unpinned = [t for t, pinned in page.times if not pinned]  # a pinned comment sits on top whatever its time
        newest_before, oldest_before = _int(state.get("pass_newest")), _int(state.get("pass_oldest"))
        newest = max([t for t, _ in page.times] + ([newest_before] if newest_before is not None else []), default=None)
        oldest = min(unpinned + ([oldest_before] if oldest_before is not None else []), default=None)
        was_ordered = state.get("pass_ordered") is not False
        ordered = was_ordered and unpinned == sorted(unpinned, reverse=True) and (
            oldest_before is None or not unpinned or unpinned[0] <= oldest_before)
        if was_ordered and not ordered:
            logger.warning("comments came back out of time order, reading the whole list", extra={
                "source": self._source_id, "item_id": video.item_id})
        pages = (_int(state.get("pass_pages")) or 0) + 1
        reached_floor = ordered and bool(unpinned) and min(unpinned) < floor - self._reread
        result = SourcePage(posts=page.posts, malformed=page.malformed)
        if page.has_more and not reached_floor:
            if page.cursor is None:
                logger.warning("Douyin said has_more without a cursor, pass ended", extra={
                    "source": self._source_id, "item_id": video.item_id})
            elif ordered or pages < self._max_pages:
                result.more = True
                result.cursor = {"queue": queue, "marks": _marks_out(marks) or None, "pass_cursor": page.cursor,
                                 "pass_newest": newest, "pass_oldest": oldest, "pass_ordered": ordered,
                                 "pass_pages": pages}
                return result
            else:
                logger.warning("pass ended at its page bound before the end of the list", extra={
                    "source": self._source_id, "item_id": video.item_id, "pages": pages})
        # The pass is done: the next one reads down to where this one's predecessor began.
        marks[video.item_id] = (max((t for t in (mark, newest) if t is not None), default=None),
                                mark if mark is not None else floor)
        rest = queue[1:]
        result.more = bool(rest)
        result.cursor = {"queue": rest or None, "marks": _marks_out(marks) or None, **dict.fromkeys(PASS_FIELDS)}
        return result

    # -- calls -------------------------------------------------------------------------------------

    def _video_list(self) -> list[WatchedVideo]:
        answer = self._get(VIDEO_LIST_PATH, {"cursor": 0, "count": self._recent}, "video/list")
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        found = []
        for item in data.get("list") or []:
            item_id = item.get("item_id") if isinstance(item, dict) else None
            if isinstance(item_id, str) and item_id.strip() and " " not in item_id:
                url = item.get("share_url")
                found.append(WatchedVideo(item_id, url if isinstance(url, str) and " " not in url and url else None))
        return found[: self._recent]

    def _get(self, path: str, params: dict[str, Any], what: str) -> dict[str, Any]:
        credentials = self._credentials.current()
        token = str(credentials.get("access_token") or "")
        query = {"open_id": str(credentials.get("open_id") or ""), **params}
        request = self._http.build_request("GET", path, params=query, headers={"access-token": token})
        return douyin_answer(send(self._http, request), what, self._clock())


def _marks_out(marks: dict[str, tuple[int | None, int | None]], keep: set[str] | None = None) -> list[str]:
    return [f"{item} {'-' if mark is None else mark} {'-' if floor is None else floor}"
            for item, (mark, floor) in marks.items() if keep is None or item in keep]


def token_refresh(http: httpx.Client, *, clock: Callable[[], datetime],
                  renew_within: timedelta = RENEW_WITHIN) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The refresh the TokenKeeper calls: a new access token, and a renewed refresh token when it runs low."""

    def post(path: str, form: dict[str, str], what: str) -> dict[str, Any]:
        response = send(http, http.build_request("POST", path, data=form))
        answer = douyin_answer(response, what, clock())
        data = answer.get("data")
        return data if isinstance(data, dict) else {}

    def refresh(credentials: dict[str, Any]) -> dict[str, Any]:
        client_key, refresh_token = credentials.get("client_key"), credentials.get("refresh_token")
        if not client_key or not refresh_token:
            raise ReauthorisationNeeded("the Douyin secret needs `client_key` and `refresh_token` to renew its token")
        try:
            data = post(REFRESH_TOKEN_PATH, {"client_key": str(client_key), "grant_type": "refresh_token",
                                             "refresh_token": str(refresh_token)}, "oauth/refresh_token")
        except PermanentPlatformError as exc:
            if exc.code == str(REFRESH_TOKEN_EXPIRED):
                raise ReauthorisationNeeded(f"{exc}: the Douyin refresh token expired, the account owner must "
                                            "authorise the app again") from exc
            raise
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise TransientPlatformError("Douyin oauth/refresh_token answered without an access_token", status=200)
        now = clock()
        fresh: dict[str, Any] = {"access_token": token, "refresh_token": data.get("refresh_token") or refresh_token,
                                 "open_id": data.get("open_id") or credentials.get("open_id")}
        fresh["access_expires_at"] = (now + timedelta(seconds=_int(data.get("expires_in")) or 15 * 86400)).isoformat()
        refresh_left = _int(data.get("refresh_expires_in"))
        if refresh_left is not None:
            fresh["refresh_expires_at"] = (now + timedelta(seconds=refresh_left)).isoformat()
        if refresh_left is not None and timedelta(seconds=refresh_left) < renew_within:
            try:
                renewed = post(RENEW_REFRESH_TOKEN_PATH, {"client_key": str(client_key),
                                                          "refresh_token": str(fresh["refresh_token"])},
                               "oauth/renew_refresh_token")
            except PlatformError as exc:
                logger.warning("Douyin refresh token not renewed; the owner must authorise again before it lapses",
                               extra={"platform": "douyin", "refresh_expires_at": fresh["refresh_expires_at"],
                                      "error": str(exc)})
            else:
                if isinstance(renewed.get("refresh_token"), str) and renewed["refresh_token"]:
                    fresh["refresh_token"] = renewed["refresh_token"]
                    lifetime = _int(renewed.get("expires_in")) or 30 * 86400
                    fresh["refresh_expires_at"] = (now + timedelta(seconds=lifetime)).isoformat()
        return fresh

    return refresh
