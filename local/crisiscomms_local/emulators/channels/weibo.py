"""Emulator of Sina Weibo: the bank's publishing endpoints and the listening endpoints, on one host.

Publishing (the Publisher's Weibo channel):

* ``POST /2/statuses/share.json`` (form: access_token, status, optional rip) checks the token,
  the length, that the text links into the app's secure domain, that it has no ``#topic#``
  (the share endpoint forbids them) and that it does not repeat a status the account already
  posted; it answers the documented status object.
* ``GET /2/statuses/user_timeline.json`` lists the account's statuses, newest first.

Replies (the Publisher's Weibo replies; `replies` keeps what was sent):

* ``POST /2/comments/create.json`` (form: access_token, id, comment) comments on a status: the
  bank's own, or one it heard (a mention, a searched status); an unknown status is 20101.
* ``POST /2/comments/reply.json`` (form: access_token, cid, id, comment, without_mention) answers a
  comment under one of the bank's statuses; an unknown comment (or one not under `id`) is 20201.
  Unless `without_mention=1`, Weibo puts "回复@name:" before the text, as it does.
  Both refuse more than 140 characters (20012) and the same text twice on the same status (20019).
* ``GET /2/comments/by_me.json`` lists the comments the account sent, newest first (`count`, `page`),
  each with its `status` and, for a reply, `reply_comment`.

Listening (the Poller's Weibo sources; one server plays both api.weibo.com and the commercial
host c.api.weibo.com, so a search source's base_url points here too):

* ``GET /2/statuses/mentions.json`` - statuses that @ the account (`add_post(..., to_bank=True)`).
* ``GET /2/comments/to_me.json`` - comments under the account's posts (`add_comment`).
* ``GET /2/comments/show.json?id=`` - the comments under one of its posts.
* ``GET /2/search/statuses/limited.json`` - keyword search over everyone else's statuses
  (`add_post(...)` without to_bank) and the account's own: `q` (every word must appear, case,
  width and Traditional/Simplified script folded), `starttime`/`endtime` in Unix seconds (both
  inclusive), `sort=time`, `count` up to 50, `page`.

The listings page like Weibo's: newest first, `since_id` exclusive, `max_id` inclusive, `count`,
`page`, and `next_cursor` (the id the next page would start at, 0 when none). Ids grow with
`created_at`, and an item is listed once the simulated clock reaches its `created_at`. Each
scripted post is served by exactly one listing (a mention is not also searchable here), so a
drill's counts stay exact; on Weibo a public mention would also be found by search, and the
adapter stores such a repeat once.

On demand: malformed items (`add_malformed`), expired tokens (`expire_token`, then
`reauthorise`: Weibo offers server apps no refresh, so there is no refresh endpoint), the hourly
frequency limits (`requests_per_hour`, `search_requests_per_hour`: error 10023 / 10022 until the
next full hour; a rate_limit fault answers 10023, with Retry-After only when the fault names a
retry_after), scripted error envelopes (`fail_next`), and fault windows per listing
(Fault.target: mentions, comments, post_comments, search, timeline, share).

Errors use Weibo's envelope ``{"error", "error_code", "request"}``. The HTTP statuses are
the emulator's choice (400 parameters, 401 tokens, 403 frequency limits, 5xx system); clients
should key on ``error_code``, as Weibo's documentation does.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from bisect import insort
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from ..base import Clock, EmulatorServer, Fault, Request, Response, as_utc

SHARE_PATH = "/2/statuses/share.json"
USER_TIMELINE_PATH = "/2/statuses/user_timeline.json"
MENTIONS_PATH = "/2/statuses/mentions.json"
COMMENTS_TO_ME_PATH = "/2/comments/to_me.json"
COMMENTS_SHOW_PATH = "/2/comments/show.json"
SEARCH_PATH = "/2/search/statuses/limited.json"
COMMENTS_CREATE_PATH = "/2/comments/create.json"
COMMENTS_REPLY_PATH = "/2/comments/reply.json"
COMMENTS_BY_ME_PATH = "/2/comments/by_me.json"
COUNT_PATH = "/2/statuses/count.json"
TARGETS = {MENTIONS_PATH: "mentions", COMMENTS_TO_ME_PATH: "comments", COMMENTS_SHOW_PATH: "post_comments",
           SEARCH_PATH: "search", USER_TIMELINE_PATH: "timeline", SHARE_PATH: "share",
           COMMENTS_CREATE_PATH: "reply", COMMENTS_REPLY_PATH: "reply", COMMENTS_BY_ME_PATH: "by_me",
           COUNT_PATH: "count"}
LISTING_COUNT_MAX = 200
SEARCH_COUNT_MAX = 50
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MAX_LENGTH = 140
URL_PATTERN = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
TOPIC_PATTERN = re.compile(r"#[^#\s]+#")
CST = timezone(timedelta(hours=8))
FIRST_ID = 5_031_000_000_000_000


def weibo_length(text: str) -> int:
    """Length in Weibo "characters" (the limit is 140 Chinese characters).

    Weibo does not document its weights; the rule implemented is the one observed of Weibo's
    own counter (schappo.blogspot.com, 2012): a character in U+0000-U+00FF (ASCII and Latin-1)
    counts one half, one in the rest of the Basic Multilingual Plane (Chinese, full-width
    punctuation) counts one, one beyond it (most emoji) counts two; the total is rounded up.
    URLs are counted literally, character by character, although Weibo may show them as t.cn
    short links. crisiscomms.statements.channel_rules counts only ASCII as half, the stricter reading,
    so anything the renderer accepts this emulator accepts too.
    """
    halves = 0
    for char in text:
        point = ord(char)
        halves += 1 if point <= 0xFF else 2 if point <= 0xFFFF else 4
    return math.ceil(halves / 2)


@dataclass(frozen=True)
class WeiboStatus:
    id: int
    text: str
    created_at: datetime
    rip: str | None

    def as_json(self, uid: str, screen_name: str) -> dict[str, Any]:
        return {
            "created_at": self.created_at.astimezone(CST).strftime("%a %b %d %H:%M:%S +0800 %Y"),
            "id": self.id,
            "mid": str(self.id),
            "idstr": str(self.id),
            "text": self.text,
            "source": "<a href=\"https://open.weibo.com\" rel=\"nofollow\">crisiscomms</a>",
            "favorited": False,
            "truncated": False,
            "in_reply_to_status_id": "",
            "in_reply_to_user_id": "",
            "in_reply_to_screen_name": "",
            "reposts_count": 0,
            "comments_count": 0,
            "attitudes_count": 0,
            "user": {"id": int(uid), "idstr": uid, "screen_name": screen_name},
        }


class WeiboError(Exception):
    """An answer in Weibo's error envelope."""

    def __init__(self, http_status: int, code: int, error: str) -> None:
        super().__init__(error)
        self.http_status = http_status
        self.code = code
        self.error = error


Listing = Literal["mentions", "comments", "search"]


@dataclass(frozen=True)
class WeiboReply:
    """A comment the bank's account sent: on status `status_id`, in answer to comment `reply_to` (None: on the status)."""

    id: int
    text: str
    status_id: int
    reply_to: int | None
    created_at: datetime


@dataclass
class WeiboUser:
    """Someone other than the bank: the follower count and location of their latest scripted item."""

    uid: str
    screen_name: str
    followers: int = 0
    location: str | None = None

    def as_json(self, posted: int) -> dict[str, Any]:
        return {
            "id": int(self.uid), "idstr": self.uid, "screen_name": self.screen_name, "name": self.screen_name,
            "location": self.location or "", "description": "", "url": "", "gender": "n",
            "followers_count": self.followers, "friends_count": 0, "statuses_count": posted,
            "favourites_count": 0, "created_at": "Fri Aug 28 00:00:00 +0800 2009", "verified": False,
        }


@dataclass(frozen=True)
class ListenedItem:
    """A status or comment by someone else, or a malformed item served verbatim (`raw`)."""

    id: int
    created_at: datetime
    listing: Listing
    author: str = ""
    text: str = ""
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    post_id: int | None = None  # comments: the bank's status they are under
    raw: dict[str, Any] | None = field(default=None, compare=False)

    def __lt__(self, other: "ListenedItem") -> bool:
        return self.id < other.id


def weibo_time(when: datetime) -> str:
    """created_at as Weibo writes it, in China Standard Time, whatever the process locale."""
    local = as_utc(when).astimezone(CST)
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    return f"{days[local.weekday()]} {months[local.month - 1]} {local:%d %H:%M:%S} +0800 {local.year}"


def uid_for(screen_name: str) -> str:
    """A stable 10-digit uid derived from the screen name."""
    digest = int(hashlib.sha256(screen_name.encode("utf-8")).hexdigest(), 16)
    return str(2_000_000_000 + digest % 7_000_000_000)


def _fold(text: str) -> str:
    """What search compares: width- and case-folded, Traditional characters read as Simplified
    (the emulator's assumption of a Chinese search engine; Weibo does not document its matching)."""
    from crisiscomms.scoring import to_simplified

    return to_simplified(unicodedata.normalize("NFKC", text)).casefold()


class WeiboEmulator(EmulatorServer):
    """One account (`uid`) whose app registered `secure_domain`; `posts` holds what it published.

    Implements crisiscomms_local.emulators.listening.ListeningEmulator for the drill.
    """

    platform = "weibo"

    def __init__(
        self,
        clock: Clock,
        *,
        access_token: str = "local-weibo-token",
        uid: str = "5566778899",
        screen_name: str = "ExampleBank",
        secure_domain: str = "newsroom.examplebank.com",
        expired_tokens: tuple[str, ...] = (),
        timeout_delay: float = 2.0,
        requests_per_hour: int | None = None,
        search_requests_per_hour: int | None = None,
    ) -> None:
        super().__init__(clock, timeout_delay=timeout_delay)
        self.access_token = access_token
        self.uid = uid
        self.screen_name = screen_name
        self.secure_domain = secure_domain.lower()
        self.expired_tokens = set(expired_tokens)
        self.posts: list[WeiboStatus] = []
        self.replies: list[WeiboReply] = []
        self.requests_per_hour = requests_per_hour
        self.search_requests_per_hour = search_requests_per_hour
        self._scripted: list[WeiboError] = []
        self._items: dict[str, list[ListenedItem]] = {"mentions": [], "comments": [], "search": []}
        self._users: dict[str, WeiboUser] = {}
        self._posted: dict[str, int] = {}
        self._fold_cache: dict[int, str] = {}
        self._seq: dict[int, int] = {}
        self._hour: datetime | None = None
        self._used = {"user": 0, "search": 0}
        self._reauthorised = 0
        self._counts: dict[int, dict[str, int]] = {}

    def set_counts(self, status_id: str | int, *, likes: int = 0, reposts: int = 0, comments: int = 0) -> None:
        """What people did with one of the account's statuses, as statuses/count shows it."""
        with self._lock:
            self._counts[int(status_id)] = {"comments": comments, "reposts": reposts, "attitudes": likes}

    def fail_next(self, code: int, error: str, *, http_status: int = 400, times: int = 1) -> None:
        """Answer the next `times` requests with this error envelope (for codes no fault kind covers)."""
        with self._lock:
            self._scripted.extend(WeiboError(http_status, code, error) for _ in range(times))

    # -- scripting the listened content ----------------------------------------------------

    def add_post(self, *, text: str, author: str, created_at: datetime, followers: int = 0, likes: int = 0,
                 reposts: int = 0, replies: int = 0, lang: str | None = None, location: str | None = None,
                 to_bank: bool = False) -> str:
        """A status by someone else: a mention of the bank when `to_bank`, else a searchable status.

        `location` is the author's profile text as Weibo shows it ("广东 深圳"); Weibo statuses carry
        no language, so `lang` is not served. Returns the idstr the adapter stores.
        """
        return self._add(ListenedItem(
            id=0, created_at=as_utc(created_at, "created_at"), listing="mentions" if to_bank else "search",
            author=author, text=text, likes=likes, reposts=reposts, replies=replies), followers, location)

    def add_comment(self, *, text: str, author: str, created_at: datetime, post_id: str | int | None = None,
                    followers: int = 0, likes: int = 0, location: str | None = None) -> str:
        """A comment under one of the bank's own statuses (its newest when `post_id` is None)."""
        with self._lock:
            if post_id is None:
                if not self.posts:
                    raise ValueError("the account has no status to comment on: add_own_post or share first")
                post_id = max(self.posts, key=lambda p: p.id).id
            if not any(p.id == int(post_id) for p in self.posts):
                raise ValueError(f"status {post_id} is not one of the account's own")
        return self._add(ListenedItem(
            id=0, created_at=as_utc(created_at, "created_at"), listing="comments", author=author, text=text,
            likes=likes, post_id=int(post_id)), followers, location)

    def add_own_post(self, text: str, *, created_at: datetime | None = None) -> str:
        """A status of the bank's own, as if it had shared it (no share-rule checks)."""
        with self._lock:
            status = WeiboStatus(id=FIRST_ID + len(self.posts) + 1, text=text,
                                 created_at=as_utc(created_at or self.clock(), "created_at"), rip=None)
            self.posts.append(status)
        return str(status.id)

    def add_malformed(self, *, listing: Listing, created_at: datetime, raw: dict[str, Any],
                      post_id: str | int | None = None) -> str:
        """A broken item served verbatim in `listing` (and under `post_id` for comments/show),
        positioned by an id generated from `created_at`, which is returned."""
        item = ListenedItem(id=0, created_at=as_utc(created_at, "created_at"), listing=listing,
                            post_id=int(post_id) if post_id is not None else None, raw=dict(raw))
        return self._add(item, 0, None)

    def _add(self, item: ListenedItem, followers: int, location: str | None) -> str:
        if item.raw is None and not item.author.strip():
            raise ValueError("author must be a non-empty screen name")
        with self._lock:
            if item.raw is None:
                user = self._users.get(item.author)
                if user is None:
                    user = self._users[item.author] = WeiboUser(uid_for(item.author), item.author)
                user.followers = followers
                user.location = location.strip() if location and location.strip() else None
                self._posted[item.author] = self._posted.get(item.author, 0) + 1
            stored = replace(item, id=self._next_id(item.created_at))
            insort(self._items[item.listing], stored)
        return str(stored.id)

    def _next_id(self, created_at: datetime) -> int:
        """Ids grow with created_at (milliseconds x 1000 + a per-millisecond sequence), so since_id works."""
        ms = (created_at - UNIX_EPOCH) // timedelta(milliseconds=1)
        seq = self._seq.get(ms, 0)
        if seq >= 1000:
            raise ValueError("too many items in the same millisecond")
        self._seq[ms] = seq + 1
        return ms * 1000 + seq

    # -- tokens ----------------------------------------------------------------------------

    def expire_token(self) -> None:
        """The current token is refused from now on with 21327 expired_token."""
        with self._lock:
            self.expired_tokens.add(self.access_token)

    def reauthorise(self) -> str:
        """What the bank's account signing in again gives: a new token (Weibo has no refresh for server apps)."""
        with self._lock:
            self._reauthorised += 1
            self.access_token = f"2.00reauthorised-{self._reauthorised}-{hashlib.sha256(self.access_token.encode()).hexdigest()[:12]}"
            return self.access_token

    # -- ListeningEmulator -----------------------------------------------------------------

    def credentials(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "uid": self.uid}

    def default_account(self) -> dict[str, Any]:
        return {"handle": self.screen_name, "id": self.uid}

    def play_account(self, handle: str) -> None:
        with self._lock:
            self.screen_name = handle.lstrip("@")

    def watch_sources(self, account: dict[str, Any] | None) -> list[dict[str, Any]]:
        """Mentions, comments to the account, and search (lag 0: this emulator indexes instantly).

        The emulator plays the configured account, so its own statuses are recognised as the bank's."""
        if account:
            with self._lock:
                self.screen_name = str(account.get("handle") or self.screen_name).lstrip("@")
                if str(account.get("id") or "").isdigit():
                    self.uid = str(account["id"])
        common = {"platform": "weibo", "every_minutes": 1, "initial_lookback_minutes": 5, "base_url": self.base_url}
        return [
            {"id": "weibo-mentions", "stream": "mentions", **common},
            {"id": "weibo-comments", "stream": "comments", **common},
            {"id": "weibo-search", "stream": "search", "search_lag_seconds": 0, **common},
        ]

    def calls(self, path: str) -> int:
        """How many requests reached one endpoint."""
        return sum(1 for r in self.requests_log if r.path == path)

    # -- EmulatorServer hooks ------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        try:
            with self._lock:
                if self._scripted:
                    raise self._scripted.pop(0)
                if request.path in (SHARE_PATH, COMMENTS_CREATE_PATH, COMMENTS_REPLY_PATH):
                    if request.method != "POST":
                        raise WeiboError(405, 10021, "HTTP method is not suported for this request!")
                    self._spend(request)
                    return self._share(request) if request.path == SHARE_PATH else self._comment(request)
                readers = {USER_TIMELINE_PATH: self._user_timeline, MENTIONS_PATH: self._mentions,
                           COMMENTS_TO_ME_PATH: self._comments_to_me, COMMENTS_SHOW_PATH: self._comments_show,
                           SEARCH_PATH: self._search, COMMENTS_BY_ME_PATH: self._comments_by_me,
                           COUNT_PATH: self._count}
                if request.path in readers:
                    if request.method != "GET":
                        raise WeiboError(405, 10021, "HTTP method is not suported for this request!")
                    self._check_token(request.param("access_token") or _bearer(request))
                    self._spend(request)
                    return readers[request.path](request)
                raise WeiboError(404, 10020, "Request api not found!")
        except WeiboError as exc:
            return self._error(exc, request.path)

    def fault_target(self, request: Request) -> str | None:
        return TARGETS.get(request.path)

    def fault_response(self, fault: Fault, request: Request, now: datetime) -> Response:
        if fault.kind == "rate_limit":
            limited = self._error(WeiboError(403, 10023, "User requests out of rate limit!"), request.path)
            if fault.retry_after is not None:
                # Weibo sends no reset (its limits reset on the hour); a scenario that names one gets it
                # as Retry-After, which the adapter honours before falling back to the next full hour.
                limited.headers["Retry-After"] = str(fault.retry_after)
            return limited
        assert fault.status is not None
        if fault.status >= 500:
            return self._error(WeiboError(fault.status, 10001, "System error!"), request.path)
        return self._error(WeiboError(fault.status, 10008, "Param error, see doc for more info."), request.path)

    def _spend(self, request: Request) -> None:
        """Weibo's hourly frequency limits: per user for the open API, per IP for the commercial search."""
        now = as_utc(self.clock(), "clock()")
        hour = now.replace(minute=0, second=0, microsecond=0)
        if hour != self._hour:
            self._hour, self._used = hour, {"user": 0, "search": 0}
        search = request.path == SEARCH_PATH
        budget = self.search_requests_per_hour if search else self.requests_per_hour
        kind = "search" if search else "user"
        if budget is not None:
            if self._used[kind] >= budget:
                if search:
                    raise WeiboError(403, 10022, "IP requests out of rate limit!")
                raise WeiboError(403, 10023, "User requests out of rate limit!")
            self._used[kind] += 1

    # -- publishing endpoints ------------------------------------------------------------------

    def _share(self, request: Request) -> Response:
        form = _form(request)
        self._check_token(form.get("access_token") or _bearer(request))
        text = form.get("status")
        if not text:
            raise WeiboError(400, 10016, "Miss required parameter (status) , see doc for more info.")
        if weibo_length(text) > MAX_LENGTH:
            raise WeiboError(400, 20012, "Text too long, please input text less than 140 characters!")
        if TOPIC_PATTERN.search(URL_PATTERN.sub(" ", text)):  # a '#' inside a link is no topic
            raise WeiboError(400, 10017, "Parameter (status)'s value invalid, expect (text without #topic#), see doc for more info.")
        if not any(self._in_secure_domain(url) for url in URL_PATTERN.findall(text)):
            raise WeiboError(400, 10017, "Parameter (status)'s value invalid, expect (a URL of the app's secure domain), see doc for more info.")
        if any(post.text == text for post in self.posts):
            raise WeiboError(400, 20019, "Repeat conetnt!")
        status = WeiboStatus(id=FIRST_ID + len(self.posts) + 1, text=text, created_at=self.clock(), rip=form.get("rip"))
        self.posts.append(status)
        return _json_response(200, status.as_json(self.uid, self.screen_name))

    # -- reply endpoints -------------------------------------------------------------------------

    def _comment(self, request: Request) -> Response:
        """comments/create (on a status) and comments/reply (to a comment under a status)."""
        form = _form(request)
        self._check_token(form.get("access_token") or _bearer(request))
        text = form.get("comment")
        if not text:
            raise WeiboError(400, 10016, "Miss required parameter (comment) , see doc for more info.")
        raw_id = form.get("id") or ""
        if not raw_id.isdigit():
            raise WeiboError(400, 20109, "Weibo id is null!")
        status_id = int(raw_id)
        heard = {i.id for listing in ("mentions", "search") for i in self._items[listing] if i.raw is None}
        if status_id not in heard and not any(p.id == status_id for p in self.posts):
            raise WeiboError(400, 20101, "Target weibo does not exist!")
        reply_to: int | None = None
        if request.path == COMMENTS_REPLY_PATH:
            raw_cid = form.get("cid") or ""
            if not raw_cid.isdigit():
                raise WeiboError(400, 20204, "Comment id is null!")
            comment = next((c for c in self._items["comments"] if c.id == int(raw_cid) and c.raw is None), None)
            if comment is None or comment.post_id != status_id:
                raise WeiboError(400, 20201, "Target weibo comment does not exist!")
            reply_to = comment.id
            if form.get("without_mention") != "1":
                text = f"回复@{comment.author}:{text}"
        if weibo_length(text) > MAX_LENGTH:
            raise WeiboError(400, 20012, "Text too long, please input text less than 140 characters!")
        if any(r.text == text and r.status_id == status_id for r in self.replies):
            raise WeiboError(400, 20019, "Repeat conetnt!")
        now = as_utc(self.clock(), "clock()")
        reply = WeiboReply(id=self._next_id(now), text=text, status_id=status_id, reply_to=reply_to, created_at=now)
        self.replies.append(reply)
        return _json_response(200, self._reply_json(reply))

    def _comments_by_me(self, request: Request) -> Response:
        count = _count_param(request, default=50, maximum=LISTING_COUNT_MAX)
        page = _int_param(request, "page") or 1
        newest_first = sorted(self.replies, key=lambda r: r.id, reverse=True)
        chunk = newest_first[(page - 1) * count: page * count]
        return _json_response(200, {"comments": [self._reply_json(r) for r in chunk], "previous_cursor": 0,
                                    "next_cursor": 0, "total_number": len(newest_first)})

    def _reply_json(self, reply: WeiboReply) -> dict[str, Any]:
        own = next((p for p in self.posts if p.id == reply.status_id), None)
        heard = next((i for listing in ("mentions", "search") for i in self._items[listing] if i.id == reply.status_id),
                     None)
        status = own.as_json(self.uid, self.screen_name) if own else self._status_json(heard)  # type: ignore[arg-type]
        body: dict[str, Any] = {
            "created_at": weibo_time(reply.created_at), "id": reply.id, "idstr": str(reply.id), "mid": str(reply.id),
            "text": reply.text, "source": "<a href=\"https://open.weibo.com\" rel=\"nofollow\">crisiscomms</a>",
            "user": {"id": int(self.uid), "idstr": self.uid, "screen_name": self.screen_name}, "status": status,
        }
        if reply.reply_to is not None:
            answered = next(c for c in self._items["comments"] if c.id == reply.reply_to)
            body["reply_comment"] = {"id": answered.id, "idstr": str(answered.id), "text": answered.text,
                                     "created_at": weibo_time(answered.created_at)}
        return body

    def _user_timeline(self, request: Request) -> Response:
        uid = request.param("uid")
        if uid is not None and uid != self.uid:
            # Since 2013 the endpoint returns only the authorised user's own statuses.
            raise WeiboError(403, 20003, "User does not exists!")
        try:
            count = min(100, max(1, int(request.param("count") or 20)))
            page = max(1, int(request.param("page") or 1))
        except ValueError:
            raise WeiboError(400, 10017, "Parameter (count)'s value invalid, expect (int), see doc for more info.") from None
        now = as_utc(self.clock(), "clock()")
        visible = [p for p in self.posts if as_utc(p.created_at) <= now]
        newest_first = sorted(visible, key=lambda p: p.id, reverse=True)[(page - 1) * count: page * count]
        return _json_response(200, {
            "statuses": [post.as_json(self.uid, self.screen_name) for post in newest_first],
            "previous_cursor": 0,
            "next_cursor": 0,
            "total_number": len(visible),
        })

    def _count(self, request: Request) -> Response:
        """statuses/count: comments, reposts and likes (`attitudes`) of up to 100 statuses; ids it does not
        know (deleted statuses, other accounts' here) are left out of the list."""
        raw = request.param("ids") or ""
        ids = [i for i in raw.split(",") if i]
        if not ids:
            raise WeiboError(400, 10016, "Miss required parameter (ids) , see doc for more info.")
        if len(ids) > 100 or not all(i.isdigit() for i in ids):
            raise WeiboError(400, 10017, "Parameter (ids)'s value invalid, expect (ids), see doc for more info.")
        now = as_utc(self.clock(), "clock()")
        own = {p.id for p in self.posts if as_utc(p.created_at) <= now}
        rows = [{"id": int(i), **self._counts.get(int(i), {"comments": 0, "reposts": 0, "attitudes": 0})}
                for i in ids if int(i) in own]
        return Response(status=200, body=json.dumps(rows).encode("utf-8"),
                        headers={"Content-Type": "application/json;charset=UTF-8"})

    # -- listening endpoints -------------------------------------------------------------------

    def _mentions(self, request: Request) -> Response:
        page, next_cursor, total = self._listing(self._items["mentions"], request, default_count=20)
        return _json_response(200, {"statuses": [self._status_json(i) for i in page], "previous_cursor": 0,
                                    "next_cursor": next_cursor, "total_number": total})

    def _comments_to_me(self, request: Request) -> Response:
        page, next_cursor, total = self._listing(self._items["comments"], request, default_count=50)
        return _json_response(200, {"comments": [self._comment_json(i) for i in page], "previous_cursor": 0,
                                    "next_cursor": next_cursor, "total_number": total})

    def _comments_show(self, request: Request) -> Response:
        wanted = _int_param(request, "id", required=True)
        if not any(p.id == wanted for p in self.posts):
            raise WeiboError(400, 20101, "Target weibo does not exist!")
        under = [i for i in self._items["comments"] if i.post_id == wanted]
        page, next_cursor, total = self._listing(under, request, default_count=50)
        return _json_response(200, {"comments": [self._comment_json(i) for i in page], "previous_cursor": 0,
                                    "next_cursor": next_cursor, "total_number": total})

    def _search(self, request: Request) -> Response:
        query = (request.param("q") or "").strip()
        if not query:
            raise WeiboError(400, 10016, "Miss required parameter (q) , see doc for more info.")
        if any(c in query for c in '{}"“”'):
            raise WeiboError(400, 10017, "Parameter (q)'s value invalid, expect (no special characters), see doc for more info.")
        if (request.param("sort") or "time") != "time":
            raise WeiboError(400, 10017, "Parameter (sort)'s value invalid, expect (time), the emulator sorts by time only.")
        start = _int_param(request, "starttime")
        end = _int_param(request, "endtime")
        count = _count_param(request, default=10, maximum=SEARCH_COUNT_MAX)
        page = _int_param(request, "page") or 1
        now = as_utc(self.clock(), "clock()")
        words = [_fold(w) for w in query.split()]
        # (id, the status's JSON when it is answered): only a page's statuses are written out
        found: list[tuple[int, Callable[[], dict[str, Any]]]] = []
        for item in self._items["search"]:
            if item.raw is None and not all(w in self._folded(item) for w in words):
                continue
            found.append((item.id, partial(self._status_json, item)))
        own = [p for p in self.posts if all(w in _fold(p.text) for w in words)]
        found += [(p.id, partial(p.as_json, self.uid, self.screen_name)) for p in own]
        created = {p.id: as_utc(p.created_at) for p in own} | {i.id: i.created_at for i in self._items["search"]}
        in_window = [(i, body) for i, body in found
                     if created[i] <= now and (start is None or int(created[i].timestamp()) >= start)
                     and (end is None or int(created[i].timestamp()) <= end)]
        newest_first = sorted(in_window, key=lambda pair: created[pair[0]], reverse=True)
        statuses = [write() for _, write in newest_first[(page - 1) * count: page * count]]
        return _json_response(200, {"statuses": statuses, "total_number": len(newest_first)})

    def _folded(self, item: ListenedItem) -> str:
        folded = self._fold_cache.get(item.id)
        if folded is None:
            folded = self._fold_cache[item.id] = _fold(item.text)
        return folded

    def _listing(self, items: list[ListenedItem], request: Request, *,
                 default_count: int) -> tuple[list[ListenedItem], int, int]:
        """Newest first: since_id exclusive, max_id inclusive, then count and page."""
        since = _int_param(request, "since_id") or 0
        max_id = _int_param(request, "max_id") or 0
        count = _count_param(request, default=default_count, maximum=LISTING_COUNT_MAX)
        page = _int_param(request, "page") or 1
        now = as_utc(self.clock(), "clock()")
        visible = [i for i in reversed(items)
                   if i.created_at <= now and i.id > since and (max_id == 0 or i.id <= max_id)]
        chunk = visible[(page - 1) * count: page * count]
        next_cursor = visible[page * count].id if len(visible) > page * count else 0
        return chunk, next_cursor, len(visible)

    def _status_json(self, item: ListenedItem) -> dict[str, Any]:
        if item.raw is not None:
            return item.raw
        user, posted = self._users[item.author], self._posted.get(item.author, 0)
        return {
            "created_at": weibo_time(item.created_at), "id": item.id, "idstr": str(item.id), "mid": str(item.id),
            "text": item.text, "source": "<a href=\"https://weibo.com\" rel=\"nofollow\">微博 weibo.com</a>",
            "favorited": False, "truncated": False, "in_reply_to_status_id": "", "in_reply_to_user_id": "",
            "in_reply_to_screen_name": "", "geo": None, "reposts_count": item.reposts,
            "comments_count": item.replies, "attitudes_count": item.likes, "user": user.as_json(posted),
        }

    def _comment_json(self, item: ListenedItem) -> dict[str, Any]:
        if item.raw is not None:
            return item.raw
        user, posted = self._users[item.author], self._posted.get(item.author, 0)
        status = next(p for p in self.posts if p.id == item.post_id)
        return {
            "created_at": weibo_time(item.created_at), "id": item.id, "idstr": str(item.id), "mid": str(item.id),
            "text": item.text, "source": "<a href=\"https://weibo.com\" rel=\"nofollow\">微博 weibo.com</a>",
            "like_count": item.likes, "user": user.as_json(posted),
            "status": status.as_json(self.uid, self.screen_name),
        }

    # -- helpers ---------------------------------------------------------------------------

    def _check_token(self, token: str | None) -> None:
        if not token:
            raise WeiboError(401, 21301, "auth faild!")
        if token in self.expired_tokens:
            raise WeiboError(401, 21327, "expired_token")
        if token != self.access_token:
            raise WeiboError(401, 21332, "invalid_access_token")

    def _in_secure_domain(self, url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower()
        return host == self.secure_domain or host.endswith("." + self.secure_domain)

    def _error(self, exc: WeiboError, path: str) -> Response:
        return _json_response(exc.http_status, {"error": exc.error, "error_code": exc.code, "request": path})


def _int_param(request: Request, name: str, *, required: bool = False) -> int | None:
    raw = request.param(name)
    if raw is None or raw == "":
        if required:
            raise WeiboError(400, 10016, f"Miss required parameter ({name}) , see doc for more info.")
        return None
    if not raw.isdigit():
        raise WeiboError(400, 10017, f"Parameter ({name})'s value invalid, expect (int64), but get ({raw}), see doc for more info.")
    return int(raw)


def _count_param(request: Request, *, default: int, maximum: int) -> int:
    count = _int_param(request, "count")
    if count is None:
        return default
    if not 1 <= count <= maximum:
        raise WeiboError(400, 10017, f"Parameter (count)'s value invalid, expect (1~{maximum}), but get ({count}), see doc for more info.")
    return count


def _form(request: Request) -> dict[str, str]:
    """First value of each urlencoded form field."""
    fields = parse_qs(request.body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items() if values}


def _bearer(request: Request) -> str | None:
    """Weibo also takes the token as ``Authorization: OAuth2 <token>``."""
    value = request.header("authorization") or ""
    return value.split(" ", 1)[1] if value.startswith("OAuth2 ") else None


def _json_response(status: int, payload: dict[str, Any]) -> Response:
    return Response(
        status=status,
        body=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json;charset=UTF-8"},
    )
