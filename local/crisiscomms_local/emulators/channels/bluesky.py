"""Emulator of a Bluesky PDS and its AppView for one account: publishing, sessions and search.

One server plays both hosts a bank talks to, as bsky.social does (it proxies app.bsky.* to the
AppView): the repo API the Publisher writes with (createRecord, getRecord), the session API
(createSession with an app password, refreshSession with the refresh JWT, which rotates it), and
the reads the Poller makes (app.bsky.feed.searchPosts, app.bsky.actor.getProfiles).

A record key names one record in a collection, so a second createRecord with the same rkey
cannot create a second post: it is refused with `InvalidRequest` "Record already exists".
Posts are validated as the app.bsky.feed.post lexicon says (text at most 300 graphemes and
3000 bytes, TID record keys, createdAt datetime, at most 3 langs, strong refs in reply).
Errors are `{"error", "message"}`; rate limits carry `ratelimit-*` headers (reset in epoch s),
and a 429 also `Retry-After`. Access JWTs expire after `access_ttl` of simulated time and are
then refused with HTTP 400 `ExpiredToken`, as the PDS does.

Search follows the lexicon: `q` (words ANDed, "phrases", -exclusions, `from:handle`; `*` alone
matches every post, which `watch_sources` uses so a drill reads all it scripts), sort=latest by
`sortAt` (the earlier of createdAt and indexedAt), `since` inclusive / `until` exclusive,
`limit` 1..100, and an offset `cursor` given whenever a page is full. A post becomes searchable
when the clock reaches its `indexed_at`. Bluesky posts carry no place, so `location` is ignored.

`app.bsky.feed.getPosts` serves post views of up to 25 uris, the bank's own and others'. Someone's
post's counts can change over simulated time (`set_metrics`) and a post can be deleted
(`delete_post`): from then on search skips it and getPosts leaves it out, as the AppView does.

Replies are posts whose record has `reply` strong refs (root, parent); `replies` lists the bank's.
Like a PDS, the emulator checks their shape, not that the parent exists: a PDS holds only its own
repos, and whether a reply shows (a deleted parent, a thread gate) is the AppView's decision.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import unicodedata
from bisect import insort
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from math import ceil
from typing import Any, Callable

from ..base import Clock, EmulatorServer, Fault, Request, Response, as_utc
from ._common import BadBody, bearer_token, grapheme_count, json_body, json_response

CREATE_PATH = "/xrpc/com.atproto.repo.createRecord"
GET_PATH = "/xrpc/com.atproto.repo.getRecord"
CREATE_SESSION_PATH = "/xrpc/com.atproto.server.createSession"
REFRESH_SESSION_PATH = "/xrpc/com.atproto.server.refreshSession"
SEARCH_PATH = "/xrpc/app.bsky.feed.searchPosts"
PROFILES_PATH = "/xrpc/app.bsky.actor.getProfiles"
GET_POSTS_PATH = "/xrpc/app.bsky.feed.getPosts"
MAX_GET_POSTS = 25
POST_COLLECTION = "app.bsky.feed.post"
MENTION_FEATURE = "app.bsky.richtext.facet#mention"
MAX_GRAPHEMES = 300
MAX_BYTES = 3000
MAX_SEARCH_LIMIT = 100
MAX_PROFILE_ACTORS = 25
TID_RE = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
_B32_SORTABLE = "234567abcdefghijklmnopqrstuvwxyz"
_STATUS_ERRORS = {500: "InternalServerError", 502: "UpstreamFailure", 503: "NotEnoughResources",
                  504: "UpstreamTimeout", 401: "AuthenticationRequired", 403: "Forbidden"}
_METHODS = {CREATE_PATH: "createRecord", GET_PATH: "getRecord", CREATE_SESSION_PATH: "createSession",
            REFRESH_SESSION_PATH: "refreshSession", SEARCH_PATH: "searchPosts", PROFILES_PATH: "getProfiles",
            GET_POSTS_PATH: "getPosts"}
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


@dataclass(frozen=True)
class BlueskyRecord:
    """One post record in the bank's repo."""

    rkey: str
    uri: str
    cid: str
    value: dict[str, Any]
    created_at: datetime


@dataclass
class BlueskyActor:
    """An account whose posts the AppView serves."""

    did: str
    handle: str
    followers: int = 0


@dataclass
class IndexedPost:
    """A post as the AppView's search holds it; `raw` is served verbatim (a malformed view)."""

    uri: str
    cid: str
    author_did: str
    record: dict[str, Any]
    indexed_at: datetime
    sort_at: datetime
    counts: dict[str, int] = field(default_factory=dict)
    raw: dict[str, Any] | None = None


@dataclass
class _Session:
    did: str
    kind: str  # "access" | "refresh"
    expires_at: datetime
    revoked: bool = False


def cid_for(value: dict[str, Any]) -> str:
    """A CIDv1-looking content hash (base32 'bafyrei...'), stable for the same record."""
    digest = hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8")).digest()
    return "bafyrei" + base64.b32encode(digest).decode("ascii").rstrip("=").lower()[:52]


def did_for(handle: str) -> str:
    """A stable did:plc (24 base32 characters) for a handle."""
    digest = hashlib.sha256(handle.lower().encode("utf-8")).digest()
    return "did:plc:" + base64.b32encode(digest).decode("ascii").lower()[:24]


def tid_at(when: datetime, clock_id: int) -> str:
    """A TID: microseconds since the Unix epoch, then a 10-bit clock id, base32-sortable."""
    micros = int(as_utc(when).timestamp() * 1_000_000)
    value = (micros << 10) | (clock_id & 1023)
    return "".join(_B32_SORTABLE[(value >> (5 * i)) & 31] for i in reversed(range(13)))


def iso(when: datetime) -> str:
    when = as_utc(when)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _term_pattern(term: str) -> Callable[[str], bool]:
    """One search term against folded text: CJK as a substring, anything else as whole words."""
    folded = _fold(term)
    if _CJK.search(folded):
        compact = re.sub(r"\s+", "", folded)
        return lambda text: compact in re.sub(r"\s+", "", text)
    words = [re.escape(w) for w in folded.split()]
    pattern = re.compile(r"(?<![\w#@])" + r"\s+".join(words) + r"(?![\w])")
    return lambda text: pattern.search(text) is not None


class _BadQuery(ValueError):
    """A q the search cannot run (answered 400 BadQueryString)."""


def compile_query(q: str) -> Callable[[str, str], bool]:
    """`q` as a predicate of (folded text, author handle): terms ANDed, "phrases", -negation, from:."""
    if q.strip() == "*":
        return lambda text, handle: True
    tokens = re.findall(r'-?"[^"]*"|\S+', q)
    wanted: list[Callable[[str, str], bool]] = []
    positive = False
    for token in tokens:
        negate = token.startswith("-") and len(token) > 1
        body = token[1:] if negate else token
        if body.startswith('"'):
            body = body.strip('"')
        if not body.strip():
            continue
        if body.lower().startswith("from:"):
            who = _fold(body[5:].lstrip("@"))
            test: Callable[[str, str], bool] = lambda text, handle, who=who: handle == who
        else:
            match = _term_pattern(body)
            test = lambda text, handle, match=match: match(text)
        positive = positive or not negate
        wanted.append((lambda text, handle, t=test: not t(text, handle)) if negate else test)
    if not positive:
        raise _BadQuery("query must contain a term to match")
    return lambda text, handle: all(t(text, handle) for t in wanted)


def _search_time(value: str) -> datetime:
    """A searchPosts since/until: an RFC 3339 datetime, or a date (midnight UTC)."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return datetime.combine(date.fromisoformat(value), time(), tzinfo=timezone.utc)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("datetime without a timezone")
    return parsed.astimezone(timezone.utc)


class BlueskyEmulator(EmulatorServer):
    """The repo of `did` (handle `account_handle`) and the AppView's reads around it.

    `access_jwt` is a session token that never expires (the Publisher's secret); sessions made
    with `createSession` expire like real ones.
    """

    platform = "bluesky"

    def __init__(
        self,
        clock: Clock,
        *,
        did: str = "did:plc:examplebank0000000000000",
        handle: str = "examplebank.bsky.social",
        access_jwt: str = "local-bsky-access-jwt",
        app_password: str = "abcd-efgh-ijkl-mnop",
        writes_per_window: int = 5000,
        window_seconds: int = 3600,
        reads_per_window: int = 3000,
        read_window_seconds: int = 300,
        sessions_per_window: int = 30,
        session_window_seconds: int = 300,
        access_ttl: timedelta = timedelta(hours=2),
        refresh_ttl: timedelta = timedelta(days=90),
        timeout_delay: float = 2.0,
    ) -> None:
        super().__init__(clock, timeout_delay=timeout_delay)
        self.did = did
        self.account_handle = handle
        self.access_jwt = access_jwt
        self.app_password = app_password
        self.writes_per_window = writes_per_window
        self.window_seconds = window_seconds
        self.reads_per_window = reads_per_window
        self.read_window_seconds = read_window_seconds
        self.sessions_per_window = sessions_per_window
        self.session_window_seconds = session_window_seconds
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self._records: dict[str, BlueskyRecord] = {}
        self._windows: dict[str, tuple[datetime, int]] = {}  # budget name -> (reset, used)
        self._actors: dict[str, BlueskyActor] = {did: BlueskyActor(did=did, handle=handle)}
        self._index: dict[str, IndexedPost] = {}
        self._sessions: dict[str, _Session] = {}
        self._clock_ids = 0
        self._own_counts: dict[str, dict[str, int]] = {}
        self._count_steps: dict[str, list[tuple[datetime, dict[str, int]]]] = {}  # uri -> (from, counts changed)
        self._deleted: dict[str, datetime] = {}

    def set_counts(self, uri: str, *, likes: int = 0, reposts: int = 0, replies: int = 0, quotes: int = 0) -> None:
        """What people did with one of the account's posts, as its post view shows it."""
        with self._lock:
            self._own_counts[uri] = {"likeCount": likes, "repostCount": reposts, "replyCount": replies,
                                     "quoteCount": quotes}

    @property
    def posts(self) -> list[BlueskyRecord]:
        """Post records created through createRecord, oldest first."""
        with self._lock:
            return sorted(self._records.values(), key=lambda r: r.created_at)

    @property
    def replies(self) -> list[BlueskyRecord]:
        """The bank's post records that reply to a post, oldest first."""
        return [r for r in self.posts if isinstance(r.value.get("reply"), dict)]

    def uri_for(self, rkey: str, did: str | None = None) -> str:
        return f"at://{did or self.did}/{POST_COLLECTION}/{rkey}"

    # -- scripting the network ---------------------------------------------------------------

    def actor(self, author: str, *, followers: int | None = None) -> BlueskyActor:
        """The account `author` names (a bare name becomes `<name>.bsky.social`), created on first use."""
        handle = author.strip().lstrip("@").lower()
        if not handle:
            raise ValueError("author must be a non-empty handle")
        if "." not in handle:
            handle += ".bsky.social"
        did = self.did if handle == self.account_handle else did_for(handle)
        with self._lock:
            actor = self._actors.setdefault(did, BlueskyActor(did=did, handle=handle))
            if followers is not None:
                actor.followers = followers
            return actor

    def add_post(self, *, text: str, author: str, created_at: datetime, followers: int = 0, likes: int = 0,
                 reposts: int = 0, replies: int = 0, quotes: int = 0, lang: str | None = None,
                 location: str | None = None, to_bank: bool = False, indexed_at: datetime | None = None,
                 reply_to: str | None = None) -> str:
        """Publish someone's post; it is searchable from `indexed_at` (default: `created_at`). Returns its uri.

        `to_bank` mentions the bank's handle (with its mention facet); `reply_to` (an at:// uri)
        threads it under that post. The author's follower count is the latest one given.
        """
        created_at = as_utc(created_at, "created_at")
        indexed = as_utc(indexed_at, "indexed_at") if indexed_at else created_at
        actor = self.actor(author, followers=followers)
        record: dict[str, Any] = {"$type": POST_COLLECTION, "text": text, "createdAt": iso(created_at)}
        if lang:
            record["langs"] = [lang]
        if to_bank:
            mention = f"@{self.account_handle}"
            record["text"] = f"{mention} {text}"
            record["facets"] = [{"index": {"byteStart": 0, "byteEnd": len(mention.encode("utf-8"))},
                                 "features": [{"$type": MENTION_FEATURE, "did": self.did}]}]
        if reply_to:
            record["reply"] = self._reply_refs(reply_to)
        counts = {"likeCount": likes, "repostCount": reposts, "replyCount": replies, "quoteCount": quotes}
        with self._lock:
            self._clock_ids += 1
            uri = self.uri_for(tid_at(created_at, self._clock_ids), actor.did)
            self._index[uri] = IndexedPost(uri=uri, cid=cid_for(record), author_did=actor.did, record=record,
                                           indexed_at=indexed, sort_at=min(created_at, indexed), counts=counts)
        return uri

    def set_metrics(self, uri: str, *, at: datetime, likes: int | None = None, reposts: int | None = None,
                    replies: int | None = None, quotes: int | None = None) -> None:
        """From simulated time `at` on, someone's post shows these counts (those not given keep their value):
        engagement that grows after the post was first read. Calls add steps to a schedule."""
        changed = {name: value for name, value in (("likeCount", likes), ("repostCount", reposts),
                                                   ("replyCount", replies), ("quoteCount", quotes)) if value is not None}
        if any(value < 0 for value in changed.values()):
            raise ValueError("counts must not be negative")
        at = as_utc(at, "at")
        with self._lock:
            if uri not in self._index or self._index[uri].raw is not None:
                raise KeyError(f"no post {uri}")
            insort(self._count_steps.setdefault(uri, []), (at, changed), key=lambda step: step[0])

    def delete_post(self, uri: str, *, at: datetime) -> None:
        """From simulated time `at` on the post is gone: search skips it, getPosts leaves it out."""
        with self._lock:
            if uri not in self._index:
                raise KeyError(f"no post {uri}")
            self._deleted[uri] = as_utc(at, "at")

    def _gone(self, uri: str, now: datetime) -> bool:
        deleted = self._deleted.get(uri)
        return deleted is not None and deleted <= now

    def _counts_at(self, post: IndexedPost, now: datetime) -> dict[str, int]:
        """A post's counts at `now`: as added, then every step of its schedule up to `now` (callers hold the lock)."""
        counts = dict(post.counts)
        for at, changed in self._count_steps.get(post.uri, ()):
            if at > now:
                break
            counts.update(changed)
        return counts

    def add_malformed(self, raw: dict[str, Any], *, indexed_at: datetime) -> str:
        """A broken post view served verbatim to every search, positioned by `indexed_at`."""
        indexed = as_utc(indexed_at, "indexed_at")
        with self._lock:
            self._clock_ids += 1
            key = str(raw.get("uri") or f"malformed-{self._clock_ids}")
            self._index[key] = IndexedPost(uri=key, cid="", author_did="", record={}, indexed_at=indexed,
                                           sort_at=indexed, raw=dict(raw))
        return key

    def _reply_refs(self, uri: str) -> dict[str, Any]:
        with self._lock:
            parent = self._index.get(uri)
            if parent is None or parent.raw is not None:
                raise ValueError(f"no post {uri} to reply to")
            root = (parent.record.get("reply") or {}).get("root") or {"uri": parent.uri, "cid": parent.cid}
            return {"root": root, "parent": {"uri": parent.uri, "cid": parent.cid}}

    # -- tokens on demand ---------------------------------------------------------------------

    def expire_access_tokens(self) -> None:
        """Every session's access JWT is refused from now on (`ExpiredToken`)."""
        self._expire("access")

    def expire_refresh_tokens(self) -> None:
        """Every refresh JWT is refused too: only createSession helps."""
        self._expire("refresh")

    def _expire(self, kind: str) -> None:
        now = as_utc(self.clock(), "clock()")
        with self._lock:
            for session in self._sessions.values():
                if session.kind == kind:
                    session.expires_at = min(session.expires_at, now)

    def calls(self, method: str) -> list[Any]:
        """Logged requests to one XRPC method (e.g. "refreshSession")."""
        return [r for r in self.requests_log if _METHODS.get(r.path) == method]

    # -- the ListeningEmulator side -------------------------------------------------------------

    def credentials(self) -> dict[str, Any]:
        """The listening secret before any session: the handle and an app password."""
        return {"identifier": self.account_handle, "password": self.app_password}

    def watch_sources(self, account: dict[str, Any] | None) -> list[dict[str, Any]]:
        """One search that matches every post here (`*`); the topic matcher does the choosing."""
        return [{"id": "bluesky-all", "platform": "bluesky", "query": "*", "base_url": self.base_url}]

    def default_account(self) -> dict[str, Any]:
        return {"handle": self.account_handle, "id": self.did}

    def play_account(self, handle: str) -> None:
        with self._lock:
            self.account_handle = handle.lstrip("@").lower()

    # -- HTTP ------------------------------------------------------------------------------

    def _error(self, status: int, error: str, message: str, headers: dict[str, str] | None = None) -> Response:
        return json_response(status, {"error": error, "message": message}, headers)

    def _rate_headers(self, reset: datetime, remaining: int, limit: int | None = None,
                      window: int | None = None) -> dict[str, str]:
        limit = self.writes_per_window if limit is None else limit
        window = self.window_seconds if window is None else window
        return {
            "ratelimit-limit": str(limit),
            "ratelimit-remaining": str(max(0, remaining)),
            "ratelimit-reset": str(ceil(reset.timestamp())),
            "ratelimit-policy": f"{limit};w={window}",
        }

    def fault_target(self, request: Request) -> str | None:
        """Faults may aim at one XRPC method: "searchPosts", "getProfiles", "refreshSession"..."""
        return _METHODS.get(request.path)

    def fault_response(self, fault: Fault, request: Request, now: datetime) -> Response:
        if fault.kind == "rate_limit":
            wait = fault.retry_after if fault.retry_after is not None else fault.seconds_left(now)
            headers = self._rate_headers(now + timedelta(seconds=wait), 0)
            return self._error(429, "RateLimitExceeded", "Rate Limit Exceeded", {**headers, "Retry-After": str(wait)})
        assert fault.status is not None
        name = _STATUS_ERRORS.get(fault.status, "InvalidRequest" if fault.status < 500 else "InternalServerError")
        return self._error(fault.status, name, name)

    def handle(self, request: Request) -> Response:
        now = as_utc(self.clock(), "clock()")
        if request.path == GET_PATH and request.method in ("GET", "HEAD"):
            return self._get(request)
        if request.path == CREATE_PATH and request.method == "POST":
            token = bearer_token(request)
            if token is None:
                return self._error(401, "AuthMissing", "Authentication Required")
            refused = self._check_access(token, now)
            if refused is not None:
                return refused
            return self._create(request, now)
        if request.path == CREATE_SESSION_PATH and request.method == "POST":
            return self._create_session(request, now)
        if request.path == REFRESH_SESSION_PATH and request.method == "POST":
            return self._refresh_session(request, now)
        if request.path in (SEARCH_PATH, PROFILES_PATH, GET_POSTS_PATH) and request.method in ("GET", "HEAD"):
            token = bearer_token(request)
            if token is None:
                return self._error(401, "AuthMissing", "Authentication Required")
            refused = self._check_access(token, now)
            if refused is not None:
                return refused
            allowed, reset, remaining = self._consume("reads", now, self.reads_per_window, self.read_window_seconds)
            headers = self._rate_headers(reset, remaining, self.reads_per_window, self.read_window_seconds)
            if not allowed:
                wait = max(1, ceil((reset - now).total_seconds()))
                return self._error(429, "RateLimitExceeded", "Rate Limit Exceeded", {**headers, "Retry-After": str(wait)})
            readers = {SEARCH_PATH: lambda: self._search(request, now), PROFILES_PATH: lambda: self._profiles(request),
                       GET_POSTS_PATH: lambda: self._get_posts(request, now)}
            answer = readers[request.path]()
            answer.headers.update(headers)
            return answer
        return self._error(404, "MethodNotImplemented", "Method Not Implemented")

    # -- sessions ------------------------------------------------------------------------------

    def _check_access(self, token: str, now: datetime) -> Response | None:
        """None when `token` is a live access JWT; otherwise the PDS's refusal."""
        if token == self.access_jwt:
            return None
        with self._lock:
            session = self._sessions.get(token)
        if session is None:
            return self._error(401, "InvalidToken", "Bad token scope")
        if session.kind != "access":
            return self._error(400, "InvalidToken", "Bad token scope")
        if session.revoked or now >= session.expires_at:
            return self._error(400, "ExpiredToken", "Token has expired")
        return None

    def _issue(self, did: str, now: datetime) -> dict[str, Any]:
        def jwt(kind: str, ttl: timedelta) -> str:
            header = base64.urlsafe_b64encode(b'{"typ":"JWT","alg":"ES256K"}').decode().rstrip("=")
            claims = json.dumps({"scope": f"com.atproto.{kind}", "sub": did, "exp": int((now + ttl).timestamp())})
            payload = base64.urlsafe_b64encode(claims.encode()).decode().rstrip("=")
            token = f"{header}.{payload}.{secrets.token_urlsafe(24)}"
            self._sessions[token] = _Session(did=did, kind=kind, expires_at=now + ttl)
            return token

        with self._lock:
            actor = self._actors[did]
            return {"accessJwt": jwt("access", self.access_ttl), "refreshJwt": jwt("refresh", self.refresh_ttl),
                    "handle": actor.handle, "did": did, "active": True}

    def _create_session(self, request: Request, now: datetime) -> Response:
        try:
            body = json_body(request)
        except BadBody as exc:
            return self._error(400, "InvalidRequest", str(exc))
        identifier, password = body.get("identifier"), body.get("password")
        for name, value in (("identifier", identifier), ("password", password)):
            if not isinstance(value, str):
                return self._error(400, "InvalidRequest", f'Input must have the property "{name}"')
        assert isinstance(identifier, str)
        allowed, reset, remaining = self._consume(f"session:{identifier.lower()}", now, self.sessions_per_window,
                                                  self.session_window_seconds)
        headers = self._rate_headers(reset, remaining, self.sessions_per_window, self.session_window_seconds)
        if not allowed:
            wait = max(1, ceil((reset - now).total_seconds()))
            return self._error(429, "RateLimitExceeded", "Rate Limit Exceeded", {**headers, "Retry-After": str(wait)})
        ours = identifier.lower().lstrip("@") in (self.account_handle, self.did)
        if not ours or password != self.app_password:
            return self._error(401, "AuthenticationRequired", "Invalid identifier or password", headers)
        return json_response(200, self._issue(self.did, now), headers)

    def _refresh_session(self, request: Request, now: datetime) -> Response:
        token = bearer_token(request)
        if token is None:
            return self._error(401, "AuthMissing", "Authentication Required")
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return self._error(401, "InvalidToken", "Token could not be verified")
            if session.kind != "refresh":
                return self._error(400, "InvalidToken", "Bad token scope")
            if session.revoked:
                return self._error(400, "ExpiredToken", "Token has been revoked")
            if now >= session.expires_at:
                return self._error(400, "ExpiredToken", "Token has expired")
            session.revoked = True  # rotated: the old refresh JWT is spent
        return json_response(200, self._issue(session.did, now))

    # -- reads -----------------------------------------------------------------------------------

    def _search(self, request: Request, now: datetime) -> Response:
        q = request.param("q")
        if not q:
            return self._error(400, "InvalidRequest", 'Error: Params must have the property "q"')
        raw_limit = request.param("limit") or "25"
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_SEARCH_LIMIT:
            return self._error(400, "InvalidRequest", f"Error: limit must be between 1 and {MAX_SEARCH_LIMIT}")
        limit = int(raw_limit)
        bounds: dict[str, datetime | None] = {}
        for name in ("since", "until"):
            value = request.param(name)
            try:
                bounds[name] = _search_time(value) if value else None
            except ValueError:
                return self._error(400, "InvalidRequest", f"Error: {name} must be a datetime or a date")
        cursor = request.param("cursor")
        if cursor is not None and not cursor.isdigit():
            return self._error(400, "InvalidRequest", f"Error: invalid cursor {cursor!r}")
        try:
            matches = compile_query(q)
        except _BadQuery as exc:
            return self._error(400, "BadQueryString", str(exc))
        lang = request.param("lang")
        since, until = bounds["since"], bounds["until"]
        with self._lock:
            found = []
            for post in self._index.values():
                if post.indexed_at > now or (since and post.sort_at < since) or (until and post.sort_at >= until):
                    continue
                if self._gone(post.uri, now):
                    continue
                if post.raw is None:
                    author = self._actors[post.author_did]
                    if not matches(_fold(post.record.get("text", "")), author.handle):
                        continue
                    if lang and not any(str(l).lower().startswith(lang.lower()) for l in post.record.get("langs", [])):
                        continue
                found.append(post)
            if request.param("sort") == "top":
                found.sort(key=lambda p: (p.counts.get("likeCount", 0), p.sort_at, p.uri), reverse=True)
            else:
                found.sort(key=lambda p: (p.sort_at, p.uri), reverse=True)
            offset = int(cursor or 0)
            page = found[offset:offset + limit]
            views = [p.raw if p.raw is not None else self._view(p, now) for p in page]
        body: dict[str, Any] = {"posts": views, "hitsTotal": len(found)}
        if len(page) == limit:
            body["cursor"] = str(offset + limit)
        return json_response(200, body)

    def _view(self, post: IndexedPost, now: datetime | None = None) -> dict[str, Any]:
        """app.bsky.feed.defs#postView (callers hold the lock); its counts as they are at `now`."""
        author = self._actors[post.author_did]
        counts = self._counts_at(post, now) if now is not None else post.counts
        return {
            "uri": post.uri,
            "cid": post.cid,
            "author": {"did": author.did, "handle": author.handle, "displayName": author.handle.split(".")[0].title(),
                       "labels": [], "createdAt": "2023-04-01T00:00:00.000Z"},
            "record": post.record,
            "replyCount": counts.get("replyCount", 0),
            "repostCount": counts.get("repostCount", 0),
            "likeCount": counts.get("likeCount", 0),
            "quoteCount": counts.get("quoteCount", 0),
            "indexedAt": iso(post.indexed_at),
            "labels": [],
        }

    def _get_posts(self, request: Request, now: datetime) -> Response:
        """app.bsky.feed.getPosts: post views of up to 25 uris, the bank's own and others' (their counts at
        `now`); uris the AppView does not know, or no longer has, are left out, as it does."""
        uris = request.query.get("uris") or []
        if not uris:
            return self._error(400, "InvalidRequest", 'Error: Params must have the property "uris"')
        if len(uris) > MAX_GET_POSTS:
            return self._error(400, "InvalidRequest", f"Error: uris must not have more than {MAX_GET_POSTS} elements")
        views = []
        with self._lock:
            own = {r.uri: r for r in self._records.values()}
            for uri in uris:
                if uri in own:
                    record = own[uri]
                    views.append(self._view(IndexedPost(uri=uri, cid=record.cid, author_did=self.did, record=record.value,
                                                        indexed_at=record.created_at, sort_at=record.created_at,
                                                        counts=self._own_counts.get(uri, {}))))
                elif uri in self._index and self._index[uri].raw is None and not self._gone(uri, now):
                    views.append(self._view(self._index[uri], now))
        return json_response(200, {"posts": views})

    def _profiles(self, request: Request) -> Response:
        actors = request.query.get("actors") or []
        if not actors:
            return self._error(400, "InvalidRequest", 'Error: Params must have the property "actors"')
        if len(actors) > MAX_PROFILE_ACTORS:
            return self._error(400, "InvalidRequest",
                               f"Error: actors must not have more than {MAX_PROFILE_ACTORS} elements")
        profiles = []
        with self._lock:
            by_handle = {a.handle: a for a in self._actors.values()}
            for wanted in actors:
                actor = self._actors.get(wanted) or by_handle.get(wanted.lower())
                if actor is None:
                    continue  # unknown actors are left out, as the AppView does
                posts = sum(1 for p in self._index.values() if p.author_did == actor.did)
                profiles.append({"did": actor.did, "handle": actor.handle,
                                 "displayName": actor.handle.split(".")[0].title(),
                                 "followersCount": actor.followers, "followsCount": 0, "postsCount": posts,
                                 "indexedAt": "2023-04-01T00:00:00.000Z", "createdAt": "2023-04-01T00:00:00.000Z",
                                 "labels": []})
        return json_response(200, {"profiles": profiles})

    # -- the repo ----------------------------------------------------------------------------------

    def _get(self, request: Request) -> Response:
        repo, collection, rkey = request.param("repo"), request.param("collection"), request.param("rkey")
        if not repo or not collection or not rkey:
            return self._error(400, "InvalidRequest", "Error: Params must have the properties \"repo\", "
                               "\"collection\" and \"rkey\"")
        uri = f"at://{repo}/{collection}/{rkey}"
        with self._lock:
            ours = repo in (self.did, self.account_handle) and collection == POST_COLLECTION
            record = self._records.get(rkey) if ours else None
        if record is None:
            return self._error(400, "RecordNotFound", f"Could not locate record: {uri}")
        return json_response(200, {"uri": record.uri, "cid": record.cid, "value": record.value})

    def _consume(self, budget: str, now: datetime, limit: int, window: int) -> tuple[bool, datetime, int]:
        """Take one from a fixed window opened by the first request after the last one closed."""
        with self._lock:
            reset, used = self._windows.get(budget, (now, 0))
            if now >= reset:
                reset, used = now + timedelta(seconds=window), 0
            allowed = used < limit
            used += allowed
            self._windows[budget] = (reset, used)
            return allowed, reset, limit - used

    def _create(self, request: Request, now: datetime) -> Response:
        try:
            body = json_body(request)
        except BadBody as exc:
            return self._error(400, "InvalidRequest", str(exc))
        if body.get("repo") not in (self.did, self.account_handle):
            return self._error(400, "InvalidRequest", "Input/repo must be the authenticated account's DID or handle")
        if body.get("collection") != POST_COLLECTION:
            return self._error(400, "InvalidRequest", f"Unsupported collection: {body.get('collection')}")
        rkey = body.get("rkey") or self._new_tid()
        if not isinstance(rkey, str) or not TID_RE.match(rkey):
            return self._error(400, "InvalidRequest", f"Invalid {POST_COLLECTION} record key: {rkey!r} is not a TID")
        record = body.get("record")
        problem = self._validate(record)
        if problem:
            return self._error(400, "InvalidRequest", f"Invalid {POST_COLLECTION} record: {problem}")
        allowed, reset, remaining = self._consume("writes", now, self.writes_per_window, self.window_seconds)
        if not allowed:
            return self._error(429, "RateLimitExceeded", "Rate Limit Exceeded", self._rate_headers(reset, 0))
        assert isinstance(record, dict)
        with self._lock:
            if rkey in self._records:
                return self._error(400, "InvalidRequest", f"Record already exists: {self.uri_for(rkey)}",
                                   self._rate_headers(reset, remaining))
            stored = BlueskyRecord(rkey=rkey, uri=self.uri_for(rkey), cid=cid_for(record), value=record, created_at=now)
            self._records[rkey] = stored
            created = datetime.fromisoformat(str(record["createdAt"]).replace("Z", "+00:00")).astimezone(timezone.utc)
            self._index[stored.uri] = IndexedPost(uri=stored.uri, cid=stored.cid, author_did=self.did, record=record,
                                                  indexed_at=now, sort_at=min(created, now))
        body_out = {"uri": stored.uri, "cid": stored.cid,
                    "commit": {"cid": cid_for({"commit": stored.cid}), "rev": self._new_tid()},
                    "validationStatus": "valid"}
        return json_response(200, body_out, self._rate_headers(reset, remaining))

    @staticmethod
    def _new_tid() -> str:
        value = secrets.randbits(63)
        return "".join(_B32_SORTABLE[(value >> (5 * i)) & 31] for i in reversed(range(13)))

    @staticmethod
    def _validate(record: Any) -> str | None:
        """What the lexicon would reject, as the PDS words it; None when the record is valid."""
        if not isinstance(record, dict):
            return "Record must be an object"
        if record.get("$type") != POST_COLLECTION:
            return f"Record/$type must be {POST_COLLECTION}"
        text = record.get("text")
        if not isinstance(text, str):
            return "Record must have the property \"text\""
        if grapheme_count(text) > MAX_GRAPHEMES:
            return f"Record/text must not be longer than {MAX_GRAPHEMES} graphemes"
        if len(text.encode("utf-8")) > MAX_BYTES:
            return f"Record/text must not be longer than {MAX_BYTES} characters"
        created = record.get("createdAt")
        try:
            parsed = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            return "Record/createdAt must be an valid atproto datetime (both RFC-3339 and ISO-8601)"
        langs = record.get("langs", [])
        if not isinstance(langs, list) or len(langs) > 3:
            return "Record/langs must not have more than 3 elements"
        reply = record.get("reply")
        if reply is not None:
            for part in ("root", "parent"):
                ref = reply.get(part) if isinstance(reply, dict) else None
                if not isinstance(ref, dict) or not str(ref.get("uri", "")).startswith("at://") or not ref.get("cid"):
                    return f"Record/reply/{part} must be a strong ref with uri and cid"
        return None
