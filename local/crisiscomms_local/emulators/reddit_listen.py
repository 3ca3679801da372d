"""Emulator of Reddit's search API and of its token endpoint, for listening, and of comments, for replies.

One server plays both Reddit hosts: oauth.reddit.com, which answers `GET /search` and
`GET /r/{subreddit}/search` to a bearer token, and www.reddit.com, whose
`POST /api/v1/access_token` hands out tokens (HTTP Basic client_id:client_secret; grants
`client_credentials`, `password`, `refresh_token`). Tokens live 24 hours on the simulated clock;
`expire_tokens()` ends them early. A bad grant is answered, as on Reddit, with HTTP 200 and
``{"error": "invalid_grant"}``; bad client credentials with 401.

Search: `q` (at most 512 characters; OR between clauses, words and "quoted phrases" ANDed inside
one, matched as case-insensitive substrings of title and self text), `sort=new`, `limit` (25 by
default, at most 100), `after` / `before` fullnames, `restrict_sr`. Listings are
``{"kind": "Listing", "data": {"after", "before", "dist", "children": [{"kind": "t3", "data"}]}}``,
newest first and at most 1000 deep. A post is found once the clock reaches its `indexed_at`
(search lags behind posting). A deleted post leaves the listings, and an `after` or `before`
anchored on it answers an empty listing, as Reddit does.

Every API answer carries `X-Ratelimit-Used`, `X-Ratelimit-Remaining` (a decimal) and
`X-Ratelimit-Reset` (seconds until the window resets); 100 queries a minute averaged over 10
minutes. Errors are ``{"message": "...", "error": <status>}``.

Replies: `POST /api/comment` (form `api_type=json`, `thing_id`, `text`) comments as the bank's account
under a submission and answers ``{"json": {"errors": [], "data": {"things": [{"kind": "t1", "data"}]}}}``;
a refusal is HTTP 200 with ``json.errors`` (``[CODE, message, field]``): USER_REQUIRED for an
application-only token (`client_credentials`), DELETED_LINK for a submission that is gone, THREAD_LOCKED
for a locked one, NO_TEXT, TOO_LONG (over 10,000 characters); `thing_id` may name a comment too (a reply
in its thread). `GET /user/{name}/comments` lists an account's comments newest first (`limit`, `after`);
`GET /api/v1/me` names the token's account. `comments` holds what the bank's account said, in order.

Comments by people (`add_comment`) are listed by `GET /r/{subreddit}/comments`, newest first (`limit`,
`after`), each with its submission's author (`link_author`), as Reddit lists a subreddit's comments.
"""
from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from math import ceil
from typing import Any
from urllib.parse import parse_qs

from .base import Clock, EmulatorServer, Fault, Request, Response, as_utc, reason_phrase
from .channels._common import bearer_token, json_response

SEARCH_PATH = "/search"
SUBREDDIT_SEARCH = re.compile(r"^/r/([A-Za-z0-9_]{2,21})/search$")
SUBREDDIT_COMMENTS = re.compile(r"^/r/([A-Za-z0-9_]{2,21})/comments$")
TOKEN_PATH = "/api/v1/access_token"
COMMENT_PATH = "/api/comment"
ME_PATH = "/api/v1/me"
USER_COMMENTS = re.compile(r"^/user/([A-Za-z0-9_-]{3,20})/comments$")
COMMENT_MAX_LENGTH = 10_000
QUERY_MAX_LENGTH = 512
LISTING_DEPTH = 1000
FIRST_ID = int("1h0000", 36)


def to_base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out or "0"


@dataclass
class Submission:
    """A post (t3) on the emulated Reddit."""

    id: str
    title: str
    selftext: str
    author: str
    subreddit: str
    created_at: datetime
    indexed_at: datetime
    score: int
    num_comments: int
    num_crossposts: int
    raw: dict[str, Any] | None = None  # a child served as it is: a malformed item on demand
    subreddit_subscribers: int = 0
    deleted: bool = False
    locked: bool = False

    @property
    def permalink(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "_", self.title.lower())[:50].strip("_")
        return f"/r/{self.subreddit}/comments/{self.id}/{slug}/"

    @property
    def name(self) -> str:
        return f"t3_{self.id}"

    def searchable_text(self) -> str:
        return f"{self.title}\n{self.selftext}".casefold()


@dataclass(frozen=True)
class Comment:
    """A comment (t1) under a submission, answering it or another comment (`parent`, a fullname)."""

    id: str
    author: str
    body: str
    link: Submission
    created_at: datetime
    parent: str = ""
    score: int = 1

    @property
    def name(self) -> str:
        return f"t1_{self.id}"

    def data(self) -> dict[str, Any]:
        created = self.created_at.timestamp()
        return {"id": self.id, "name": self.name, "author": self.author, "body": self.body,
                "author_fullname": _user_fullname(self.author), "parent_id": self.parent or self.link.name,
                "link_id": self.link.name, "link_author": self.link.author, "link_title": self.link.title,
                "subreddit": self.link.subreddit, "permalink": f"{self.link.permalink}{self.id}/",
                "created": created, "created_utc": created, "score": self.score, "edited": False,
                "distinguished": None, "stickied": False}


def _clauses(query: str) -> list[list[str]]:
    """OR between clauses; inside one, words and "quoted phrases" must all be present."""
    return [[t.strip('"').casefold() for t in re.findall(r'"[^"]+"|\S+', clause) if t.strip('"')]
            for clause in re.split(r"\s+OR\s+", query.strip())]


def _user_fullname(author: str) -> str:
    return f"t2_{to_base36(int(hashlib.sha256(author.encode('utf-8')).hexdigest()[:10], 16))}"


class RedditEmulator(EmulatorServer):
    """Reddit as one app (`client_id`, `client_secret`) authorised by the bank's account `bank_username`."""

    platform = "reddit"

    def __init__(
        self,
        clock: Clock,
        *,
        timeout_delay: float = 2.0,
        client_id: str = "local-reddit-app",
        client_secret: str = "local-reddit-secret",
        refresh_token: str = "local-reddit-refresh",
        bank_username: str = "examplebank",
        script_password: str = "local-reddit-password",
        token_lifetime_seconds: int = 86400,
        queries_per_window: int = 1000,
        window_seconds: int = 600,
    ) -> None:
        super().__init__(clock, timeout_delay=timeout_delay)
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.bank_username = bank_username
        self.script_password = script_password
        self.token_lifetime = timedelta(seconds=token_lifetime_seconds)
        self.queries_per_window = queries_per_window
        self.window_seconds = window_seconds
        self._posts: list[Submission] = []
        self._comments: list[Comment] = []
        self._tokens: dict[str, datetime] = {}
        self._app_only: set[str] = set()  # tokens of the client_credentials grant: no account behind them
        self._comment_waits: list[float] = []  # RATELIMIT answers to give the next comments, in seconds
        self._grants: list[str] = []
        self._next_number = FIRST_ID
        self._window_reset: datetime | None = None
        self._window_used = 0

    # -- what tests and the drill do -------------------------------------------------------------

    def add_post(self, *, text: str, author: str, created_at: datetime, followers: int = 0, likes: int = 0,
                 reposts: int = 0, replies: int = 0, lang: str | None = None, location: str | None = None,
                 to_bank: bool = False, title: str | None = None, subreddit: str = "news",
                 indexed_at: datetime | None = None) -> str:
        """A submission; returns its fullname (t3_<id>), the native_id the adapter stores.

        Without `title` the text is the title (a link post's, no self text). `to_bank` names the
        bank's account as u/<bank_username> in the self text, unless the post names it already. Reddit shows no author's follower count,
        language or location: `followers` is the subreddit's subscribers (the post's audience, as a
        listing gives it), language and location are ignored. `indexed_at` (default `created_at`) is when search
        starts finding it."""
        created = as_utc(created_at, "created_at")
        selftext = text if title is not None else ""
        named = re.search(rf"(?<![\w/])/?u/{re.escape(self.bank_username)}(?![\w-])", f"{title or ''}\n{text}", re.I)
        if to_bank and not named:
            selftext = f"{selftext}\n\nu/{self.bank_username}".strip()
        with self._lock:
            post = Submission(id=self._new_id(), title=title if title is not None else text, selftext=selftext,
                              author=author, subreddit=subreddit, created_at=created,
                              indexed_at=as_utc(indexed_at, "indexed_at") if indexed_at else created, score=likes,
                              num_comments=replies, num_crossposts=reposts, subreddit_subscribers=max(0, followers))
            self._posts.append(post)
        return post.name

    def add_malformed(self, *, raw: Any, created_at: datetime) -> str:
        """A listing child served exactly as `raw` at `created_at`'s place in the listing; returns its fullname."""
        created = as_utc(created_at, "created_at")
        with self._lock:
            post = Submission(id=self._new_id(), title="", selftext="", author="", subreddit="news", created_at=created,
                              indexed_at=created, score=0, num_comments=0, num_crossposts=0, raw=raw)
            self._posts.append(post)
        return post.name

    def delete_post(self, fullname: str) -> None:
        """The author deleted it (or a moderator removed it): it leaves every listing."""
        with self._lock:
            for post in self._posts:
                if post.name == fullname:
                    post.deleted = True

    def lock_post(self, fullname: str) -> None:
        """A moderator locked the thread: it takes no more comments."""
        with self._lock:
            for post in self._posts:
                if post.name == fullname:
                    post.locked = True

    def rate_limit_comments(self, seconds: float, *, times: int = 1) -> None:
        """The spam filter's answer to an account commenting fast: the next `times` comments are refused
        with RATELIMIT, HTTP 200, and `json.ratelimit` seconds to wait."""
        with self._lock:
            self._comment_waits += [seconds] * times

    def add_comment(self, link: str, *, text: str, author: str, created_at: datetime, likes: int = 0,
                    parent: str | None = None) -> str:
        """A person's comment under the submission `link` (a t3 fullname), answering `parent` (a fullname;
        the submission when absent); returns its fullname (t1_<id>)."""
        created = as_utc(created_at, "created_at")
        with self._lock:
            submission = next(p for p in self._posts if p.name == link)
            comment = Comment(self._new_id(), author, text, submission, created, parent or link, likes)
            self._comments.append(comment)
            submission.num_comments += 1
        return comment.name

    @property
    def comments(self) -> list[Comment]:
        """The comments the bank's account made, oldest first."""
        with self._lock:
            return [c for c in self._comments if c.author.lower() == self.bank_username.lower()]

    def issue_token(self, *, app_only: bool = False) -> str:
        with self._lock:
            token = f"reddit-{secrets.token_hex(8)}"
            self._tokens[token] = as_utc(self.clock()) + self.token_lifetime
            if app_only:
                self._app_only.add(token)
            return token

    def expire_tokens(self) -> None:
        """Every access token handed out so far stops working (as 24 hours passing would)."""
        with self._lock:
            self._tokens.clear()

    def revoke_refresh_token(self) -> None:
        """The bank's account withdrew the app's authorisation: the refresh grant answers invalid_grant."""
        self.refresh_token = ""

    @property
    def grants(self) -> list[str]:
        """The grant type of every token handed out through the token endpoint, in order."""
        with self._lock:
            return list(self._grants)

    def credentials(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "client_secret": self.client_secret,
                "refresh_token": self.refresh_token, "access_token": self.issue_token()}

    def default_account(self) -> dict[str, Any]:
        return {"handle": self.bank_username}

    def play_account(self, handle: str) -> None:
        with self._lock:
            self.bank_username = handle.lstrip("@").removeprefix("u/")

    def watch_sources(self, account: dict[str, Any] | None) -> list[dict[str, Any]]:
        """One site-wide search; its query is built from the watch's topics, which the drill's posts name."""
        return [{"id": "reddit-search", "platform": "reddit", "base_url": self.base_url, "auth_base_url": self.base_url,
                 "initial_lookback_minutes": 60}]

    # -- HTTP -----------------------------------------------------------------------------------

    def _new_id(self) -> str:
        self._next_number += 1
        return to_base36(self._next_number)

    @staticmethod
    def _error(status: int, message: str | None = None, headers: dict[str, str] | None = None) -> Response:
        return json_response(status, {"message": message or reason_phrase(status), "error": status}, headers)

    def _rate_headers(self, now: datetime, used: int, reset: datetime) -> dict[str, str]:
        return {"X-Ratelimit-Used": str(used),
                "X-Ratelimit-Remaining": f"{max(0, self.queries_per_window - used):.1f}",
                "X-Ratelimit-Reset": str(max(0, ceil((reset - now).total_seconds())))}

    def fault_response(self, fault: Fault, request: Request, now: datetime) -> Response:
        if fault.kind == "rate_limit":
            wait = fault.retry_after if fault.retry_after is not None else fault.seconds_left(now)
            return self._error(429, "Too Many Requests", self._rate_headers(
                now, self.queries_per_window, now + timedelta(seconds=wait)))
        assert fault.status is not None
        return self._error(fault.status)

    def is_write(self, request: Request) -> bool:
        return request.path == COMMENT_PATH

    def fault_target(self, request: Request) -> str | None:
        """A fault may aim at the comment endpoint alone (a reply's), leaving search alone."""
        return request.path

    def handle(self, request: Request) -> Response:
        now = as_utc(self.clock(), "clock()")
        if request.path == TOKEN_PATH:
            return self._token(request, now) if request.method == "POST" else self._error(405)
        subreddit_match = SUBREDDIT_SEARCH.match(request.path)
        user_match = USER_COMMENTS.match(request.path)
        thread_match = SUBREDDIT_COMMENTS.match(request.path)
        if (request.path not in (SEARCH_PATH, COMMENT_PATH, ME_PATH) and subreddit_match is None
                and user_match is None and thread_match is None):
            return self._error(404, "Not Found")
        if (request.method == "POST") != (request.path == COMMENT_PATH):
            return self._error(405, "Method Not Allowed")
        token = bearer_token(request)
        with self._lock:
            expires = self._tokens.get(token or "")
        if expires is None or expires <= now:
            return Response(status=401, body=b'{"message": "Unauthorized", "error": 401}', headers={
                "Content-Type": "application/json; charset=UTF-8",
                "www-authenticate": 'Bearer realm="reddit", error="invalid_token"'})
        with self._lock:
            if self._window_reset is None or now >= self._window_reset:
                self._window_reset, self._window_used = now + timedelta(seconds=self.window_seconds), 0
            self._window_used += 1
            used, reset = self._window_used, self._window_reset
        headers = self._rate_headers(now, used, reset)
        if used > self.queries_per_window:
            return self._error(429, "Too Many Requests", headers)
        if request.path == COMMENT_PATH:
            response = self._comment(request, now, app_only=token in self._app_only)
        elif request.path == ME_PATH:
            response = json_response(200, {"name": self.bank_username, "id": _user_fullname(self.bank_username)[3:]})
        elif user_match is not None:
            response = self._comment_listing(request, lambda c: c.author.lower() == user_match.group(1).lower())
        elif thread_match is not None:
            response = self._comment_listing(request, lambda c: c.link.subreddit.lower() == thread_match.group(1).lower()
                                             and c.created_at <= now)
        else:
            subreddit = subreddit_match.group(1) if subreddit_match else None
            restrict = subreddit is not None and request.param("restrict_sr") in ("1", "true", "on")
            response = self._search(request, now, subreddit if restrict else None)
        response.headers.update(headers)
        return response

    def _comment(self, request: Request, now: datetime, *, app_only: bool) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True).items()}

        def refused(code: str, message: str, field: str | None) -> Response:
            return json_response(200, {"json": {"errors": [[code, message, field]]}})

        if app_only:
            return refused("USER_REQUIRED", "Please log in to do that.", None)
        text, thing = form.get("text", ""), form.get("thing_id", "")
        if not text.strip():
            return refused("NO_TEXT", "we need something here", "text")
        if len(text) > COMMENT_MAX_LENGTH:
            return refused("TOO_LONG", f"this is too long (max: {COMMENT_MAX_LENGTH})", "text")
        with self._lock:
            parent = next((c for c in self._comments if c.name == thing), None)
            if parent is not None:
                thing = parent.link.name  # a reply in the comment's thread
            if self._comment_waits:
                wait = self._comment_waits.pop(0)
                return json_response(200, {"json": {"ratelimit": wait, "errors": [[
                    "RATELIMIT", f"Looks like you've been doing that a lot. Take a break for {ceil(wait / 60)} "
                    "minutes before trying again.", "ratelimit"]]}})
            link = next((p for p in self._posts if p.name == thing and not p.deleted and p.raw is None), None)
            if link is None:
                return refused("DELETED_LINK", "that link has been deleted", "parent")
            if link.locked:
                return refused("THREAD_LOCKED", "Comments are locked.", "parent")
            comment = Comment(self._new_id(), self.bank_username, text, link, now, parent.name if parent else link.name)
            self._comments.append(comment)
            link.num_comments += 1
        return json_response(200, {"json": {"errors": [], "data": {"things": [{"kind": "t1", "data": comment.data()}]}}})

    def _comment_listing(self, request: Request, wanted: Any) -> Response:
        """The comments `wanted` keeps, newest first, paged by `limit` and `after`."""
        limit_raw = request.param("limit") or "25"
        limit = min(int(limit_raw), 100) if limit_raw.isdigit() and int(limit_raw) > 0 else 25
        with self._lock:
            mine = sorted((c for c in self._comments if wanted(c)),
                          key=lambda c: (c.created_at, int(c.id, 36)), reverse=True)
        names = [c.name for c in mine]
        after = request.param("after")
        start = names.index(after) + 1 if after in names else 0 if not after else len(mine)
        page = mine[start:start + limit]
        more = start + limit < len(mine)
        return json_response(200, {"kind": "Listing", "data": {
            "after": page[-1].name if page and more else None, "before": None, "dist": len(page),
            "children": [{"kind": "t1", "data": c.data()} for c in page]}})

    def _search(self, request: Request, now: datetime, subreddit: str | None) -> Response:
        query = request.param("q") or ""
        if len(query) > QUERY_MAX_LENGTH:
            return self._error(400, "query too long")
        limit_raw = request.param("limit") or "25"
        limit = min(int(limit_raw), 100) if limit_raw.isdigit() and int(limit_raw) > 0 else 25
        clauses = _clauses(query) if query.strip() else []
        with self._lock:
            listing = [p for p in self._posts if not p.deleted and p.indexed_at <= now
                       and (subreddit is None or p.subreddit.lower() == subreddit.lower())
                       and (p.raw is not None or any(all(t in p.searchable_text() for t in c) for c in clauses))]
        listing.sort(key=lambda p: (p.created_at, int(p.id, 36)), reverse=True)
        listing = listing[:LISTING_DEPTH]
        names = [p.name for p in listing]
        after, before = request.param("after"), request.param("before")
        if after:
            if after not in names:
                return json_response(200, self._listing([], None, None))
            start = names.index(after) + 1
            page = listing[start:start + limit]
            more_after = start + limit < len(listing)
        elif before:
            if before not in names:
                return json_response(200, self._listing([], None, None))
            end = names.index(before)
            page = listing[max(0, end - limit):end]
            more_after = True
        else:
            page = listing[:limit]
            more_after = limit < len(listing)
        data_after = page[-1].name if page and more_after else None
        data_before = page[0].name if page and (after or before or request.param("count")) else None
        return json_response(200, self._listing(page, data_after, data_before))

    def _listing(self, page: list[Submission], after: str | None, before: str | None) -> dict[str, Any]:
        return {"kind": "Listing", "data": {"after": after, "dist": len(page), "modhash": "", "geo_filter": "",
                                            "children": [self._child(p) for p in page], "before": before}}

    def _child(self, post: Submission) -> Any:
        if post.raw is not None:
            return post.raw
        permalink = post.permalink
        created = post.created_at.timestamp()
        return {"kind": "t3", "data": {
            "approved_at_utc": None, "subreddit": post.subreddit, "selftext": post.selftext,
            "author_fullname": _user_fullname(post.author), "title": post.title,
            "subreddit_name_prefixed": f"r/{post.subreddit}", "name": post.name, "upvote_ratio": 1.0,
            "ups": post.score, "score": post.score, "created": created, "created_utc": created,
            "num_comments": post.num_comments, "num_crossposts": post.num_crossposts, "permalink": permalink,
            "url": f"https://www.reddit.com{permalink}", "id": post.id, "author": post.author, "over_18": False,
            "is_self": bool(post.selftext), "domain": f"self.{post.subreddit}", "stickied": False, "locked": False,
            "spoiler": False, "subreddit_id": "t5_2qh3l", "subreddit_subscribers": post.subreddit_subscribers, "link_flair_text": None,
        }}

    def _token(self, request: Request, now: datetime) -> Response:
        scheme, _, encoded = (request.header("Authorization") or "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            user, password = "", ""
        if scheme.lower() != "basic" or user != self.client_id or password != self.client_secret:
            return self._error(401, "Unauthorized")
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        grant = form.get("grant_type", "")
        if grant == "refresh_token":
            ok = bool(self.refresh_token) and form.get("refresh_token") == self.refresh_token
        elif grant == "password":
            ok = form.get("username") == self.bank_username and form.get("password") == self.script_password
        elif grant == "client_credentials":
            ok = True
        else:
            return json_response(200, {"error": "unsupported_grant_type"})
        if not ok:
            return json_response(200, {"error": "invalid_grant"})
        token = self.issue_token(app_only=grant == "client_credentials")
        with self._lock:
            self._grants.append(grant)
        return json_response(200, {"access_token": token, "token_type": "bearer",
                                   "expires_in": int(self.token_lifetime.total_seconds()),
                                   "scope": "read" if grant == "client_credentials" else "identity history read submit"})
