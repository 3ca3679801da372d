"""Emulator of X API v2 posting for one account: `POST /2/tweets` and `GET /2/users/:id/tweets`.

It follows the documented wire format: OAuth 2.0 user-context bearer token, `{"data": {...}}`
answers, problem-details errors, `x-rate-limit-*` headers, weighted 280-character limit
(twitter-text v3: CJK counts double, every link counts 23), links rewritten to t.co and
`&`, `<`, `>` escaped in returned text, replies only to posts that exist, and X's refusal of
duplicate content. The timeline endpoint is what the adapter reads to resolve a lost answer.

Replies follow X's restriction of 2026-02-23 (docs.x.com changelog): below the Enterprise tier a
programmatic reply is accepted only when the post replied to is the account's own, @mentions it
or quotes one of its posts (`add_external_post(..., mentions_bank=True / quotes_bank=True)`);
anything else is refused with 403 and X's message (`REPLY_NOT_ALLOWED_DETAIL`). An emulator made
with `reply_restriction=False` plays an Enterprise app. `replies` lists the replies created.
"""
from __future__ import annotations

import hashlib
import html
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from math import ceil
from typing import Any

from ..base import Clock, EmulatorServer, Fault, Request, Response, as_utc, reason_phrase, rfc3339
from ..x import SEQUENCE_LIMIT, TWITTER_EPOCH, user_id_for
from ._common import URL_RE, BadBody, bearer_token, json_body, json_response

TWEETS_PATH = "/2/tweets"
MAX_WEIGHTED_LENGTH = 280
TRANSFORMED_URL_LENGTH = 23
# twitter-text v3: code points in these ranges weigh 1, everything else (CJK, emoji) weighs 2.
_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
INVALID_REQUEST_TYPE = "https://api.twitter.com/2/problems/invalid-request"
DUPLICATE_DETAIL = "You are not allowed to create a Tweet with duplicate content."
REPLY_MISSING_DETAIL = "You attempted to reply to a Tweet that is deleted or not visible to you."
REPLY_NOT_ALLOWED_DETAIL = ("Reply to this conversation is not allowed because you have not been mentioned or otherwise "
                            "engaged by the author of the post you are replying to.")


def weighted_length(text: str) -> int:
    """X's weighted length of `text` (what must stay within 280)."""
    text = unicodedata.normalize("NFC", text)
    units = 0
    last = 0
    for match in URL_RE.finditer(text):
        units += _weigh(text[last:match.start()]) + TRANSFORMED_URL_LENGTH * 100
        last = match.end()
    units += _weigh(text[last:])
    return ceil(units / 100)


def _weigh(chunk: str) -> int:
    return sum(100 if any(lo <= ord(c) <= hi for lo, hi in _LIGHT_RANGES) else 200 for c in chunk)


def _tco(url: str) -> str:
    return "https://t.co/" + hashlib.sha256(url.encode("utf-8")).hexdigest()[:10]


@dataclass(frozen=True)
class XPublishedPost:
    """One post created through the API; `text` is what X returns, `submitted_text` what was sent."""

    id: str
    text: str
    submitted_text: str
    created_at: datetime
    in_reply_to: str | None = None


@dataclass(frozen=True)
class XExternalPost:
    """Another account's post: whether its author summoned the bank (a mention, a quote of its post)."""

    id: str
    author: str
    text: str
    created_at: datetime
    mentions_bank: bool = False
    quotes_bank: bool = False


class XPublishEmulator(EmulatorServer):
    """Posting and the user timeline for the account `username`, authenticated by `access_token`.

    Posting is rate limited per user in fixed windows of simulated time, as X limits
    `POST /2/tweets` per user per 15 minutes.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        username: str = "examplebank",
        access_token: str = "local-x-user-token",
        posts_per_window: int = 100,
        window_seconds: int = 900,
        timeout_delay: float = 2.0,
        reply_restriction: bool = True,
    ) -> None:
        super().__init__(clock, timeout_delay=timeout_delay)
        self.username = username
        self.user_id = user_id_for(username)
        self.access_token = access_token
        self.posts_per_window = posts_per_window
        self.window_seconds = window_seconds
        self.reply_restriction = reply_restriction
        self._posts: list[XPublishedPost] = []
        self._external: dict[str, XExternalPost] = {}
        self._seq: dict[int, int] = {}
        self._window_reset: datetime | None = None
        self._window_used = 0
        self._metrics: dict[str, dict[str, int]] = {}

    @property
    def posts(self) -> list[XPublishedPost]:
        """Posts created so far, oldest first."""
        with self._lock:
            return list(self._posts)

    @property
    def replies(self) -> list[XPublishedPost]:
        """The account's posts that reply to another post, oldest first."""
        with self._lock:
            return [p for p in self._posts if p.in_reply_to is not None]

    def add_external_post(self, created_at: datetime, *, author: str = "someone", text: str = "",
                          mentions_bank: bool = False, quotes_bank: bool = False) -> str:
        """Another account's post that exists on X; returns its id. The account may reply to it only
        when it @mentions the account (or replies under its post) or quotes one of its posts."""
        with self._lock:
            post_id = self._next_id(as_utc(created_at, "created_at"))
            mentions = mentions_bank or f"@{self.username}".lower() in text.lower()
            self._external[post_id] = XExternalPost(post_id, author, text, as_utc(created_at), mentions, quotes_bank)
        return post_id

    def set_metrics(self, post_id: str, *, likes: int = 0, reposts: int = 0, replies: int = 0, quotes: int = 0) -> None:
        """What people did with one of the account's posts, as `public_metrics` shows it."""
        with self._lock:
            self._metrics[post_id] = {"retweet_count": reposts, "reply_count": replies, "like_count": likes,
                                      "quote_count": quotes, "bookmark_count": 0, "impression_count": 0}

    # -- HTTP ------------------------------------------------------------------------------

    def _rate_headers(self, now: datetime, exhausted: bool = False) -> dict[str, str]:
        with self._lock:
            open_window = self._window_reset is not None and now < self._window_reset
            reset = self._window_reset if open_window else now + timedelta(seconds=self.window_seconds)
            remaining = self.posts_per_window - self._window_used if open_window else self.posts_per_window
        assert reset is not None
        return {
            "x-rate-limit-limit": str(self.posts_per_window),
            "x-rate-limit-remaining": "0" if exhausted else str(remaining),
            "x-rate-limit-reset": str(ceil(reset.timestamp())),
        }

    def _problem(self, status: int, detail: str | None = None, *, title: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> Response:
        title = title or reason_phrase(status)
        body = {"title": title, "detail": detail or title, "type": "about:blank", "status": status, **extra}
        return json_response(status, body, headers)

    def fault_response(self, fault: Fault, request: Request, now: datetime) -> Response:
        """429 problem with x-rate-limit-reset at the window's end, or the fault's status."""
        if fault.kind == "rate_limit":
            wait = fault.retry_after if fault.retry_after is not None else fault.seconds_left(now)
            headers = {
                "x-rate-limit-limit": str(self.posts_per_window),
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(ceil((now + timedelta(seconds=wait)).timestamp())),
            }
            return self._problem(429, title="Too Many Requests", headers=headers)
        assert fault.status is not None
        return self._problem(fault.status)

    def handle(self, request: Request) -> Response:
        now = as_utc(self.clock(), "clock()")
        timeline = f"/2/users/{self.user_id}/tweets"
        if request.path != TWEETS_PATH and not request.path.startswith("/2/users/"):
            return self._problem(404, f"Could not find the requested resource: {request.path}",
                                 title="Not Found Error")
        if bearer_token(request) != self.access_token:
            return self._problem(401, "Unauthorized", title="Unauthorized")
        if request.path == TWEETS_PATH:
            if request.method in ("GET", "HEAD"):
                return self._lookup(request, now)
            if request.method != "POST":
                return self._problem(405)
            return self._create(request, now)
        if request.method not in ("GET", "HEAD"):
            return self._problem(405)
        if request.path != timeline:
            return json_response(200, {"meta": {"result_count": 0}})
        return self._timeline(request, now)

    # -- POST /2/tweets --------------------------------------------------------------------

    def _consume(self, now: datetime) -> bool:
        with self._lock:
            if self._window_reset is None or now >= self._window_reset:
                self._window_reset = now + timedelta(seconds=self.window_seconds)
                self._window_used = 0
            if self._window_used >= self.posts_per_window:
                return False
            self._window_used += 1
            return True

    def _invalid(self, name: str, value: Any, message: str) -> Response:
        return json_response(400, {
            "errors": [{"parameters": {name: [value]}, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": INVALID_REQUEST_TYPE,
        })

    def _create(self, request: Request, now: datetime) -> Response:
        try:
            body = json_body(request)
        except BadBody as exc:
            return self._invalid("body", None, str(exc))
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return self._invalid("text", text, "The `text` field is required and must be a non-empty string")
        if weighted_length(text) > MAX_WEIGHTED_LENGTH:
            return self._invalid("text", text[:50], "Your Tweet text is too long. For more information on how X "
                                 "determines text length see https://github.com/twitter/twitter-text.")
        reply = body.get("reply")
        in_reply_to: str | None = None
        if reply is not None:
            if not isinstance(reply, dict) or not isinstance(reply.get("in_reply_to_tweet_id"), str):
                return self._invalid("reply.in_reply_to_tweet_id", None,
                                     "The `reply.in_reply_to_tweet_id` field must be a string tweet id")
            in_reply_to = reply["in_reply_to_tweet_id"]
        if not self._consume(now):
            return self._problem(429, title="Too Many Requests", headers=self._rate_headers(now, exhausted=True))
        shown = html.escape(URL_RE.sub(lambda m: _tco(m.group(0)), text), quote=False)
        with self._lock:
            known = {p.id for p in self._posts} | set(self._external)
            if in_reply_to is not None and in_reply_to not in known:
                return self._problem(403, REPLY_MISSING_DETAIL, title="Forbidden", headers=self._rate_headers(now))
            external = self._external.get(in_reply_to or "")
            if self.reply_restriction and external is not None and not (external.mentions_bank or external.quotes_bank):
                return self._problem(403, REPLY_NOT_ALLOWED_DETAIL, title="Forbidden", headers=self._rate_headers(now))
            if any(p.submitted_text == text for p in self._posts):
                return self._problem(403, DUPLICATE_DETAIL, title="Forbidden", headers=self._rate_headers(now))
            post = XPublishedPost(id=self._next_id(now), text=shown, submitted_text=text,
                                  created_at=now, in_reply_to=in_reply_to)
            self._posts.append(post)
        data = {"id": post.id, "text": post.text, "edit_history_tweet_ids": [post.id]}
        return json_response(201, {"data": data}, self._rate_headers(now))

    def _next_id(self, created_at: datetime) -> str:
        """Snowflake ids, so they grow with creation time like X's; from the upper half of the
        sequence, apart from the listening emulator's posts that a drill mirrors here."""
        ms = (created_at - TWITTER_EPOCH) // timedelta(milliseconds=1)
        seq = self._seq.get(ms, 0)
        if seq >= SEQUENCE_LIMIT:
            raise ValueError("too many posts in the same millisecond")
        self._seq[ms] = seq + 1
        return str((ms << 22) | SEQUENCE_LIMIT | seq)

    # -- GET /2/tweets?ids=... (post lookup) -----------------------------------------------

    def _lookup(self, request: Request, now: datetime) -> Response:
        """Up to 100 posts by id; `public_metrics` when `tweet.fields` asks for it. Ids it cannot find are
        listed under `errors` (Not Found Error), as X does, beside the posts it found."""
        raw = request.param("ids") or ""
        ids = [i for i in raw.split(",") if i]
        if not ids or len(ids) > 100 or not all(i.isdigit() for i in ids):
            return self._invalid("ids", raw, "The `ids` query parameter value must be 1 to 100 comma-separated post ids")
        fields = set((request.param("tweet.fields") or "").split(","))
        with self._lock:
            known = {p.id: p for p in self._posts if p.created_at <= now}
            metrics = dict(self._metrics)
        data, errors = [], []
        for post_id in ids:
            post = known.get(post_id)
            if post is None:
                errors.append({"value": post_id, "detail": f"Could not find tweet with ids: [{post_id}].",
                               "title": "Not Found Error", "resource_type": "tweet", "parameter": "ids",
                               "resource_id": post_id, "type": "https://api.twitter.com/2/problems/resource-not-found"})
                continue
            out = self._render(post, fields)
            if "public_metrics" in fields:
                out["public_metrics"] = metrics.get(post_id) or {"retweet_count": 0, "reply_count": 0, "like_count": 0,
                                                                 "quote_count": 0, "bookmark_count": 0,
                                                                 "impression_count": 0}
            data.append(out)
        body: dict[str, Any] = {"data": data} if data else {}
        if errors:
            body["errors"] = errors
        return json_response(200, body)

    # -- GET /2/users/:id/tweets -----------------------------------------------------------

    def _timeline(self, request: Request, now: datetime) -> Response:
        raw_max = request.param("max_results") or "10"
        if not raw_max.isdigit() or not 5 <= int(raw_max) <= 100:
            return self._invalid("max_results", raw_max,
                                 f"The `max_results` query parameter value [{raw_max}] is not between 5 and 100")
        max_results = int(raw_max)
        start_time: datetime | None = None
        if (raw_start := request.param("start_time")) is not None:
            try:
                start_time = as_utc(datetime.fromisoformat(raw_start.replace("Z", "+00:00")))
            except ValueError:
                return self._invalid("start_time", raw_start, f"Invalid 'start_time':'{raw_start}'")
        token = request.param("pagination_token")
        before = int(token) if token and token.isdigit() else None
        fields = set((request.param("tweet.fields") or "").split(","))
        with self._lock:
            posts = [p for p in reversed(self._posts) if p.created_at <= now]
        posts = [p for p in posts if (start_time is None or p.created_at >= start_time)
                 and (before is None or int(p.id) < before)]
        page = posts[:max_results]
        if not page:
            return json_response(200, {"meta": {"result_count": 0}})
        data = [self._render(p, fields) for p in page]
        meta: dict[str, Any] = {"result_count": len(page), "newest_id": page[0].id, "oldest_id": page[-1].id}
        if len(posts) > max_results:
            meta["next_token"] = page[-1].id
        return json_response(200, {"data": data, "meta": meta})

    def _render(self, post: XPublishedPost, fields: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": post.id, "text": post.text, "edit_history_tweet_ids": [post.id]}
        if "created_at" in fields:
            out["created_at"] = rfc3339(post.created_at)
        if "author_id" in fields:
            out["author_id"] = self.user_id
        if "referenced_tweets" in fields and post.in_reply_to:
            out["referenced_tweets"] = [{"type": "replied_to", "id": post.in_reply_to}]
        return out
