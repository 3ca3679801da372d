"""Reddit listening: submissions found by search, or a subreddit's comments, newest first.

Endpoint (reddit.com/dev/api, GET [/r/subreddit]/search) on oauth.reddit.com: `q` (at most 512
characters), `sort=new`, `type=link`, `limit` (25 by default, at most 100), `after`/`before`
(fullnames, `t3_<id>`), `restrict_sr` for one subreddit, `raw_json=1` (text without HTML
escaping). The answer is a Listing: ``{"kind": "Listing", "data": {"after", "before", "children":
[{"kind": "t3", "data": {name, id, title, selftext, author, created_utc, score, num_comments,
permalink, subreddit, ...}}]}}``.

Paging. A pass reads from the top (newest first) and walks down with `after` until it reaches
posts older than its floor, then moves the floor up; the cursor stores where the walk is, so a
pass cut short resumes where it stopped and posts arriving above it meanwhile are read by the
next pass. It does not read forward with `before=<newest fullname>`: once that post is deleted
or removed, Reddit answers an empty listing below it (the behaviour PRAW's streams work around by
dropping `before` after an empty answer), and the source would go quiet without an error; the
listing's own `before` is null unless a `count` is sent, so it cannot say whether more is waiting. Search is indexed with a delay, so each pass starts `overlap_minutes` below the newest
post read and skips the fullnames it already stored (the `seen` list in the cursor). An `after`
anchor that vanishes mid-walk gives an empty page; the walk then restarts once from the top.

Comments (`stream: comments`): `GET /r/{subreddit}/comments` (`limit` at most 100, `after`, `raw_json=1`)
answers a Listing of t1 children, newest first: ``{name, id, body, author, created_utc, score, permalink,
link_id, link_author, parent_id, subreddit}``. Search finds submissions only, so this is how what people
write under the bank's own posts is heard; a comment is addressed to the bank in the bank's subreddit,
under one of the bank's own posts (`link_author`), or naming u/<bank>. It is read and paged as search is.

Reddit gives no follower count for a post's author, no language and no location. A post's audience is
its subreddit's (`subreddit_subscribers`, in every t3): that is its `followers`, the reach that risk,
high-reach negative posts and the early warning read (a fast-rising post in a large subreddit is the
moment to know, as one from a large account is elsewhere).

Rate limits: 100 queries a minute per OAuth client, averaged over 10 minutes; every answer carries
`X-Ratelimit-Used`, `X-Ratelimit-Remaining` (a decimal) and `X-Ratelimit-Reset` (seconds until the
window resets). Errors are ``{"message": "...", "error": <status>}``.

Tokens: OAuth2 bearer tokens expire after 24 hours (`expires_in: 86400`). They are renewed at
`https://www.reddit.com/api/v1/access_token` with HTTP Basic client_id:client_secret and the
grant the secret allows: `refresh_token` (an app the bank's account authorised with
duration=permanent), `password` (a script app of the bank's account) or `client_credentials`
(application-only). That endpoint answers a bad grant with HTTP 200 and ``{"error": "invalid_grant"}``.

Secret `<SOURCE_SECRET_PREFIX>reddit`: ``{"client_id", "client_secret", "access_token",
"refresh_token"?, "username"?, "password"?}`` (the refresh writes `access_token` and `expires_at`).
"""
from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn

import httpx
from pydantic import ValidationError

from crisiscomms.adapters.http import json_object, numeric_code, platform_error, retry_after, send
from crisiscomms.errors import PermanentPlatformError, PlatformError, ReauthorisationNeeded, TokenExpired, \
    TransientPlatformError
from crisiscomms.models import Post
from crisiscomms.models.paging import Credentials, SourcePage

SITE_SEARCH_PATH = "/search"
SUBREDDIT_SEARCH_PATH = "/r/{subreddit}/search"
SUBREDDIT_COMMENTS_PATH = "/r/{subreddit}/comments"
TOKEN_PATH = "/api/v1/access_token"
WEB_HOST = "https://www.reddit.com"
DEFAULT_RATE_LIMIT_PAUSE = timedelta(minutes=1)
SEEN_KEPT = 1000


# --- pure parsing ---------------------------------------------------------------------------------

def _mentions_user(handle: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w/])/?u/{re.escape(handle)}(?![\w-])", re.IGNORECASE)


class BankOnReddit:
    """How a post addresses the bank: it names the bank's account as u/<handle>, sits in the bank's subreddit,
    or (a comment) answers under one of the bank's own posts."""

    def __init__(self, handle: str | None, subreddit: str | None) -> None:
        name = (handle or "").strip().removeprefix("/").removeprefix("u/")
        self._name = name.lower() or None
        self._mention = _mentions_user(name) if name else None
        self._subreddit = (subreddit or "").lower() or None

    def addressed(self, title: str, text: str, subreddit: Any, link_author: Any = None) -> bool:
        if self._subreddit and isinstance(subreddit, str) and subreddit.lower() == self._subreddit:
            return True
        if self._name and isinstance(link_author, str) and link_author.lower() == self._name:
            return True
        return bool(self._mention and (self._mention.search(title) or self._mention.search(text)))


def _audience(subscribers: Any) -> int:
    """The subreddit's subscribers as a post's reach; 0 when Reddit leaves it out or sends no count."""
    return subscribers if type(subscribers) is int and subscribers > 0 else 0


def _thing_fields(data: Mapping[str, Any], kind: str, what: str) -> dict[str, Any]:
    """What a t3 and a t1 give a Post alike: fullname, author, date, score and link; ValueError or TypeError
    when the thing is not one of `kind` or its date is unreadable."""
    name = str(data["name"])
    if not re.fullmatch(rf"{kind}_[0-9a-z]+", name):
        raise ValueError(f"name {name!r} is not a {what} fullname")
    created = data["created_utc"]
    if isinstance(created, bool) or not isinstance(created, (int, float)):
        raise TypeError("created_utc is not a number")
    permalink = str(data.get("permalink") or "")
    return {"platform": "reddit", "native_id": name, "source_type": "social",
            "url": f"{WEB_HOST}{permalink}" if permalink.startswith("/") else str(data.get("url") or ""),
            "author": str(data.get("author") or "[deleted]"),
            "author_id": str(data["author_fullname"]) if data.get("author_fullname") else None,
            "lang_hint": None, "location": None,
            "published_at": datetime.fromtimestamp(float(created), tz=timezone.utc),
            "likes": max(0, int(data.get("score") or 0))}


def submission_to_post(data: Mapping[str, Any], *, source_id: str, bank: BankOnReddit) -> Post:
    """One t3 (link or self post) as a Post."""
    title, text = data["title"], data.get("selftext") or ""
    fields = _thing_fields(data, "t3", "submission")
    if not isinstance(title, str) or not isinstance(text, str):
        raise TypeError("title or selftext is not a string")
    return Post(
        **fields,
        source_id=source_id,
        followers=_audience(data.get("subreddit_subscribers")),
        title=title,
        text=text,
        reposts=max(0, int(data.get("num_crossposts") or 0)),
        replies=max(0, int(data.get("num_comments") or 0)),
        to_bank=bank.addressed(title, text, data.get("subreddit")),
    )


def comment_to_post(data: Mapping[str, Any], *, source_id: str, bank: BankOnReddit) -> Post:
    """One t1 (a comment) as a Post; a reply to it answers the comment (its fullname)."""
    fields = _thing_fields(data, "t1", "comment")
    body = data["body"]
    if not isinstance(body, str):
        raise TypeError("body is not a string")
    return Post(
        **fields,
        source_id=source_id,
        followers=0,  # a comment's audience is its thread's, which the listing does not give
        text=body,
        to_bank=bank.addressed("", body, data.get("subreddit"), data.get("link_author")),
    )


def listing_error(payload: Any) -> PlatformError | None:
    """An error envelope where a Listing was expected (Reddit sends some with HTTP 200)."""
    if isinstance(payload, dict) and payload.get("kind") == "Listing" and isinstance(payload.get("data"), dict):
        return None
    if isinstance(payload, dict) and "error" in payload:
        code = numeric_code(payload.get("error"))
        message = f"Reddit error inside a 200: {str(payload.get('message') or payload.get('error'))[:300]}"
        if code == 401:
            return TokenExpired(message, status=200)
        if code == 429 or code >= 500:
            return TransientPlatformError(message, status=200)
        return PermanentPlatformError(message, status=200)
    return TransientPlatformError("Reddit answered 200 without a Listing", status=200)


_CHILD_READERS = {"t3": submission_to_post, "t1": comment_to_post}


def parse_listing(payload: Mapping[str, Any], *, source_id: str, bank: BankOnReddit, kind: str = "t3"
                  ) -> tuple[list[Post], list[str], str | None]:
    """A Listing's children of `kind` (t3 submissions, t1 comments) as Posts, what could not be read, and its
    `after`."""
    data = payload["data"]
    posts: list[Post] = []
    malformed: list[str] = []
    to_post = _CHILD_READERS[kind]
    for child in data.get("children") or []:
        try:
            if not isinstance(child, dict) or child.get("kind") != kind or not isinstance(child.get("data"), dict):
                raise TypeError(f"child is not a {kind}")
            posts.append(to_post(child["data"], source_id=source_id, bank=bank))
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            inner = child.get("data") if isinstance(child, dict) else None
            name = inner.get("name") if isinstance(inner, dict) else None
            what = "submission" if kind == "t3" else "comment"
            malformed.append(f"{what} {name or '?'}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    after = data.get("after")
    return posts, malformed, after if isinstance(after, str) and after else None


# --- errors and rate limits -------------------------------------------------------------------------

def _reset_seconds(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("x-ratelimit-reset", ""))
    except ValueError:
        return None


def reset_time(response: httpx.Response, now: datetime) -> datetime | None:
    """X-Ratelimit-Reset: seconds until the window resets, on Reddit."""
    seconds = _reset_seconds(response)
    return now + timedelta(seconds=max(1.0, seconds)) if seconds is not None else None


def budget_spent_until(response: httpx.Response, now: datetime) -> datetime | None:
    """The reset time when this answer used the window's last query."""
    try:
        remaining = float(response.headers.get("x-ratelimit-remaining", ""))
    except ValueError:
        return None
    return reset_time(response, now) if remaining < 1 else None


def raise_for(response: httpx.Response, now: datetime, what: str = "Reddit") -> NoReturn:
    """Reddit's `{"message", "error"}` answers as the domain's errors."""
    status = response.status_code
    body = json_object(response) or {}
    message = str(body.get("message") or body.get("reason") or body.get("error") or f"HTTP {status}")[:300]
    if status == 401:
        raise TokenExpired(f"{what} refused the access token: {message}", status=status)
    raise platform_error(status, f"{what} {status}: {message}", rate_limit_message=f"{what} rate limit: {message}",
                         resume_at=lambda: reset_time(response, now) or retry_after(response, now)
                         or now + DEFAULT_RATE_LIMIT_PAUSE)


# --- the reader ---------------------------------------------------------------------------------------

def _seen_entry(post: Post) -> str:
    return f"{post.native_id}@{int(post.published_at.timestamp())}"


def _kept(seen: list[str], added: list[Post], floor: datetime) -> list[str]:
    """`fullname@epoch` entries still above the floor, newest first, at most SEEN_KEPT."""
    entries = dict.fromkeys([*map(_seen_entry, added), *seen])
    dated = [(int(e.rpartition("@")[2]) if e.rpartition("@")[2].isdigit() else 0, e) for e in entries]
    kept = sorted((d for d in dated if d[0] >= floor.timestamp() - 60), reverse=True)
    return [e for _, e in kept][:SEEN_KEPT]


class RedditReader:
    """Reads one configured search (or a subreddit's comments); every call is one HTTP request and returns the
    cursor to store after it."""

    def __init__(self, http: httpx.Client, *, source_id: str, credentials: Credentials,
                 clock: Callable[[], datetime], query: str, user_agent: str, limit: int,
                 lookback: timedelta, overlap: timedelta, subreddit: str | None = None,
                 bank: BankOnReddit | None = None, stream: str = "search") -> None:
        self._http = http
        self._source_id = source_id
        self._credentials = credentials
        self._clock = clock
        self._query = query
        self._agent = user_agent
        self._limit = limit
        self._lookback = lookback
        self._overlap = overlap
        self._subreddit = subreddit
        self._bank = bank or BankOnReddit(None, None)
        self._comments = stream == "comments"
        if self._comments and not subreddit:
            raise ValueError("a comments stream reads one subreddit")

    def read(self, cursor: Mapping[str, Any]) -> SourcePage:
        walk_from = cursor.get("walk_from")
        floor = self._floor(cursor)
        response, now = self._search(walk_from)
        if response.status_code != 200:
            raise_for(response, now)
        try:
            payload = response.json()
        except ValueError as exc:
            raise TransientPlatformError("Reddit answered 200 with a body that is not JSON", status=200) from exc
        problem = listing_error(payload)
        if problem is not None:
            raise problem
        posts, malformed, after = parse_listing(payload, source_id=self._source_id, bank=self._bank,
                                                kind="t1" if self._comments else "t3")
        seen = list(cursor.get("seen") or [])
        already = {entry.rpartition("@")[0] for entry in seen}
        fresh = [p for p in posts if p.published_at >= floor and p.native_id not in already]
        newest = max([min(p.published_at, now) for p in posts]
                     + [datetime.fromisoformat(str(v))
                        for v in (cursor.get("walk_newest_at"), cursor.get("newest_at")) if v],
                     default=None)
        # entries stay while this walk's floor or the next pass's can still meet them
        kept = _kept(seen, fresh, min(floor, (newest or floor) - self._overlap))
        resume_at = budget_spent_until(response, now)
        walk = {"walk_floor": floor.isoformat(), "walk_newest_at": newest.isoformat() if newest else None, "seen": kept}
        if not payload["data"].get("children") and walk_from and not cursor.get("walk_restarted"):
            # the anchor was deleted or removed: Reddit answers nothing below it, so read from the top again
            return SourcePage(posts=[], more=True, resume_at=resume_at,
                              cursor={**walk, "walk_from": None, "walk_restarted": True})
        reached_floor = any(p.published_at < floor for p in posts)
        if after and not reached_floor:
            return SourcePage(posts=fresh, malformed=malformed, more=True, resume_at=resume_at,
                              cursor={**walk, "walk_from": after})
        return SourcePage(posts=fresh, malformed=malformed, resume_at=resume_at, cursor={
            "newest_at": newest.isoformat() if newest else cursor.get("newest_at"), "seen": kept,
            "walk_from": None, "walk_floor": None, "walk_newest_at": None, "walk_restarted": None})

    def _floor(self, cursor: Mapping[str, Any]) -> datetime:
        """Oldest time this pass reads down to: fixed for the whole walk."""
        if cursor.get("walk_floor") and (cursor.get("walk_from") or cursor.get("walk_restarted")):
            return datetime.fromisoformat(str(cursor["walk_floor"]))
        if cursor.get("newest_at"):
            return datetime.fromisoformat(str(cursor["newest_at"])) - self._overlap
        return self._clock() - self._lookback

    def _search(self, after: Any) -> tuple[httpx.Response, datetime]:
        token = self._credentials.current().get("access_token")
        if not token:
            raise TokenExpired("the Reddit secret holds no access_token yet", code="no_token")
        params: dict[str, Any] = {"q": self._query, "sort": "new", "type": "link", "limit": self._limit, "raw_json": 1}
        path = SITE_SEARCH_PATH
        if self._comments:
            path, params = SUBREDDIT_COMMENTS_PATH.format(subreddit=self._subreddit), {"limit": self._limit, "raw_json": 1}
        elif self._subreddit:
            path = SUBREDDIT_SEARCH_PATH.format(subreddit=self._subreddit)
            params["restrict_sr"] = "true"
        if after:
            params["after"] = after
        request = self._http.build_request("GET", path, params=params, headers={
            "Authorization": f"Bearer {token}", "User-Agent": self._agent})
        response = send(self._http, request)
        return response, self._clock()


# --- token renewal ------------------------------------------------------------------------------------

class RedditTokenRefresh:
    """Exchanges the secret's client credentials (and refresh token or script login) for a new access token."""

    def __init__(self, http: httpx.Client, *, user_agent: str, clock: Callable[[], datetime]) -> None:
        self._http = http
        self._agent = user_agent
        self._clock = clock

    def __call__(self, credentials: dict[str, Any]) -> dict[str, Any]:
        client_id, client_secret = credentials.get("client_id"), credentials.get("client_secret")
        if not client_id or client_secret is None:
            raise ReauthorisationNeeded("the Reddit secret needs client_id and client_secret to renew its token")
        if credentials.get("refresh_token"):
            form = {"grant_type": "refresh_token", "refresh_token": credentials["refresh_token"]}
        elif credentials.get("username") and credentials.get("password"):
            form = {"grant_type": "password", "username": credentials["username"], "password": credentials["password"]}
        else:
            form = {"grant_type": "client_credentials"}
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
        request = self._http.build_request("POST", TOKEN_PATH, data=form, headers={
            "Authorization": f"Basic {basic}", "User-Agent": self._agent})
        response = send(self._http, request)
        now = self._clock()
        body = json_object(response) or {}
        if response.status_code == 401:
            raise ReauthorisationNeeded("Reddit refused the app's client_id/client_secret: check the app", status=401)
        if response.status_code != 200:
            raise_for(response, now, what="Reddit token endpoint")
        if body.get("error") or not body.get("access_token"):
            error = str(body.get("error") or "no access_token")[:200]
            raise ReauthorisationNeeded(f"Reddit refused the {form['grant_type']} grant ({error}):"
                                        " authorise the app again",
                                        status=200, code=error)
        renewed: dict[str, Any] = {"access_token": str(body["access_token"])}
        if isinstance(body.get("expires_in"), (int, float)):
            renewed["expires_at"] = (now + timedelta(seconds=float(body["expires_in"]))).isoformat()
        if body.get("refresh_token"):
            renewed["refresh_token"] = str(body["refresh_token"])
        return renewed
