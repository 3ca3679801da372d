"""WeChat Official Account comments: `POST /cgi-bin/comment/list` on api.weixin.qq.com.

`comment/list` reads the comments under one article of one mass send, named by the
`msg_data_id` that `message/mass/sendall` returned and the article's `index` in it; `begin` is an
offset into the article's comment list and `count` must stay under 50. Comments carry no name
and no follower count, only the commenter's `openid` (absent for commenters without a WeChat
identity). Errors come as `{"errcode": N, "errmsg": "..."}` inside HTTP 200: 45009 (daily quota,
reset at midnight Beijing time) and 45011 (minute quota) pause the source, 40001/40014/41001/
42001 mean the token must be renewed, -1 is "system busy", 88001 names an article that does not
exist (it is skipped, the others are read), 88000 means the account may not read comments.

Credentials: the secret `<SOURCE_SECRET_PREFIX>wechat` holds a JSON object with `appid` and
`secret` (the Official Account's AppID and AppSecret), `access_token` (the current token) and
`expires_at` (ISO time, written on refresh). Renewal calls `POST /cgi-bin/stable_token` in its
normal mode (`force_refresh: false`): the stable token is separate from the one `cgi-bin/token`
hands out, so a refresh by another system of the bank does not invalidate it, and asking again
while it is valid returns the same token. WeChat only hands tokens to callers whose IP address
is on the account's API allow-list.

Statements the Publisher mass-sends are watched without being configured: it records each
`msg_data_id` (`"<msg_data_id>:<index>:<sent epoch seconds>"` in the state item
`source#wechat#mass-sent`), and each run reads that list once and watches the articles sent
within `mass_sent_days` after the configured ones, oldest first. The trade-off: every such
article costs at least one call per round against the daily quota for its whole window, and one
that WeChat never showed (a mass send that failed after acceptance) is skipped as unknown.

The cursor, kept between runs in the source's state item:
  * `queue` - the articles (`"<msg_data_id>:<index>"`) still to read in the current round; each
    read takes the first. A round ends when every article was read to its end; the next run
    starts a new round with every watched article, configured or announced.
  * `progress` - per article `"<msg_data_id>:<index>:<seen>:<last_user_comment_id>"`: how many
    comments were read and the id of the last one. The next read starts one before, at the last
    comment read, and checks it is still there: comments only ever append, so as long as that
    anchor has not moved everything after it is new. When it moved (a comment before it, or the
    anchor itself, was deleted) the article is read again from its first comment, so a deletion
    can never shift a new comment past the offset. Re-read comments are duplicates, which are
    stored once. The same check makes the reader correct, if slower, should WeChat ever answer
    newest first: every anchor then moves and every round reads the article whole.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from pydantic import ValidationError

from crisiscomms.adapters.http import json_object, numeric_code, platform_error, redact, redact_url_tokens_in_logs, send
from crisiscomms.errors import ReauthorisationNeeded, TokenExpired, TransientPlatformError
from crisiscomms.models import Post
from crisiscomms.models.paging import Credentials, SourcePage
from crisiscomms.observability import logger

COMMENT_LIST_PATH = "/cgi-bin/comment/list"
STABLE_TOKEN_PATH = "/cgi-bin/stable_token"
PAGE_SIZE = 49  # `count` of 50 or more is refused (88010)
COMMENT_TYPES = {"all": 0, "normal": 1, "elected": 2}

SYSTEM_BUSY = -1
DAILY_QUOTA = 45009
MINUTE_QUOTA = 45011
TOKEN_CODES = frozenset({40001, 40014, 41001, 42001})
NO_SUCH_ARTICLE = 88001
WRONG_APP_CREDENTIALS = frozenset({40002, 40013, 40125, 40164, 41002, 41004})  # 40164: caller IP not allowed
BEIJING = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class WatchedArticle:
    """One article of one mass send, as the watch configuration names it."""

    msg_data_id: int
    index: int = 0
    url: str | None = None

    @property
    def key(self) -> str:
        return f"{self.msg_data_id}:{self.index}"


@dataclass
class CommentPage:
    """One answer of comment/list: the posts, what could not be read, and every item's id in order."""

    posts: list[Post] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    ids: list[str | None] = field(default_factory=list)  # user_comment_id per position (None: unreadable)


def mass_sent_entry(msg_data_id: int | str, index: int, sent_at: datetime) -> str:
    """How the Publisher records one mass-sent article for the source to find."""
    return f"{int(msg_data_id)}:{index}:{int(sent_at.timestamp())}"


def announced_since(entries: Iterable[str], since: datetime) -> list[WatchedArticle]:
    """The recorded mass-sent articles sent at or after `since`, oldest first, each once."""
    sent: dict[str, tuple[int, WatchedArticle]] = {}
    for entry in entries:
        parts = str(entry).split(":")
        if len(parts) != 3 or not all(part.isdigit() for part in parts):
            logger.warning("unreadable mass-sent entry ignored", extra={"entry": str(entry)[:100]})
            continue
        article, epoch = WatchedArticle(int(parts[0]), int(parts[1])), int(parts[2])
        if epoch >= since.timestamp() and epoch > sent.get(article.key, (-1, article))[0]:
            sent[article.key] = (epoch, article)
    oldest_first = sorted(sent.values(), key=lambda kept: (kept[0], kept[1].msg_data_id, kept[1].index))
    return [article for _, article in oldest_first]


def quota_reset(code: int, now: datetime) -> datetime:
    """When a spent quota comes back: the next minute (45011), else midnight Beijing time (45009)."""
    if code == MINUTE_QUOTA:
        return now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    local = now.astimezone(BEIJING)
    return (local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)).astimezone(timezone.utc)


def _comment_id(raw: Any) -> str | None:
    value = raw.get("user_comment_id") if isinstance(raw, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        return None
    return str(int(value))


def _seconds(value: Any, what: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit() or int(value) <= 0:
        raise ValueError(f"{what} {value!r} is not Unix seconds")
    return datetime.fromtimestamp(int(value), tz=timezone.utc)


def parse_comment_page(payload: Mapping[str, Any], *, article: WatchedArticle, source_id: str) -> CommentPage:
    """The comments of one comment/list answer as Posts; an unreadable comment is described, never fatal."""
    page = CommentPage()
    items = payload.get("comment")
    if items is None:
        return page
    if not isinstance(items, list):
        page.malformed.append(f"article {article.key}: `comment` is not a list")
        return page
    for raw in items:
        comment_id = _comment_id(raw)
        page.ids.append(comment_id)
        try:
            if comment_id is None:
                raise ValueError("user_comment_id is missing or not a number")
            page.posts.append(_comment_to_post(raw, comment_id, article, source_id))
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            page.malformed.append(f"comment {article.key}:{comment_id or '?'}: {type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0][:200]}")
    return page


def _comment_to_post(raw: dict[str, Any], comment_id: str, article: WatchedArticle, source_id: str) -> Post:
    content = raw["content"]
    if not isinstance(content, str):
        raise TypeError("content is not a string")
    openid = raw.get("openid")
    openid = openid if isinstance(openid, str) and openid else None
    reply = raw.get("reply")
    answered = isinstance(reply, dict) and bool(reply.get("content"))
    return Post(
        platform="wechat",
        native_id=f"{article.msg_data_id}_{article.index}_{comment_id}",
        source_type="social",
        source_id=source_id,
        url=article.url or "",
        author=openid or "anonymous",  # comment/list gives no names, only the commenter's openid
        author_id=openid,
        followers=0,
        text=content,
        published_at=_seconds(raw["create_time"], "create_time"),
        replies=1 if answered else 0,  # the account's own reply, if it answered
        to_bank=True,  # every comment is under the bank's own article
        # comment/reply/add answers it: the mass send, the article in it, the comment.
        reply_ref={"msg_data_id": str(article.msg_data_id), "index": str(article.index), "user_comment_id": comment_id},
    )


def _progress(entries: Any) -> dict[str, tuple[int, str | None]]:
    """The `progress` cursor field as {article key: (comments read, last user_comment_id)}."""
    out: dict[str, tuple[int, str | None]] = {}
    for entry in entries or []:
        parts = str(entry).split(":")
        if len(parts) == 4 and parts[2].isdigit():
            out[f"{parts[0]}:{parts[1]}"] = (int(parts[2]), parts[3] or None)
    return out


class _ArticleUnavailable(Exception):
    """WeChat does not know the article (88001): skip it, read the others."""


class WeChatCommentReader:
    """Reads the comments under the configured and the announced mass-sent articles, one comment/list
    call per page."""

    def __init__(self, http: httpx.Client, *, credentials: Credentials, articles: Sequence[WatchedArticle],
                 source_id: str, clock: Callable[[], datetime], comment_type: str = "all",
                 announced: Callable[[], Iterable[str]] | None = None, announced_days: int = 7) -> None:
        if not articles and announced is None:
            raise ValueError("a WeChat source needs at least one article or the announced mass sends")
        self._http = http
        self._credentials = credentials
        self._configured = {a.key: a for a in articles}
        self._announced = announced
        self._announced_window = timedelta(days=announced_days)
        self._watched: dict[str, WatchedArticle] | None = None
        self._source_id = source_id
        self._clock = clock
        self._type = COMMENT_TYPES[comment_type]
        redact_url_tokens_in_logs()  # the token travels in the query string

    @property
    def _articles(self) -> dict[str, WatchedArticle]:
        """The configured articles, then the announced ones still in their window; read once per run
        (a reader lives for one run), so an article announced meanwhile joins at the next round."""
        if self._watched is None:
            watched = dict(self._configured)
            if self._announced is not None:
                since = self._clock() - self._announced_window
                for article in announced_since(self._announced(), since):
                    watched.setdefault(article.key, article)
            self._watched = watched
        return self._watched

    def read(self, cursor: Mapping[str, Any]) -> SourcePage:
        if not self._articles:
            return SourcePage(posts=[], more=False, cursor={"queue": None, "progress": None})
        queue = [k for k in cursor.get("queue") or [] if k in self._articles] or list(self._articles)
        progress = _progress(cursor.get("progress"))
        article = self._articles[queue[0]]
        seen, last_id = progress.get(article.key, (0, None))
        begin = seen - 1 if seen else 0
        try:
            payload = self._comment_list(article, begin)
        except _ArticleUnavailable as exc:
            logger.warning("watched article unavailable, skipped", extra={
                "source": self._source_id, "article": article.key, "error": str(exc)})
            return self._page(CommentPage(), queue[1:], progress)
        page = parse_comment_page(payload, article=article, source_id=self._source_id)
        if seen and (not page.ids or page.ids[0] != last_id):
            logger.warning("comments before the last one read were deleted, reading the article again", extra={
                "source": self._source_id, "article": article.key, "seen": seen})
            progress[article.key] = (0, None)
            return self._page(page, queue, progress)
        if page.ids:
            progress[article.key] = (begin + len(page.ids), page.ids[-1])
        if len(page.ids) >= PAGE_SIZE:
            return self._page(page, queue, progress)  # a full page: the article may have more
        return self._page(page, queue[1:], progress)

    def _page(self, page: CommentPage, queue: list[str], progress: dict[str, tuple[int, str | None]]) -> SourcePage:
        kept = [f"{key}:{seen}:{last or ''}" for key, (seen, last) in progress.items() if key in self._articles]
        return SourcePage(posts=page.posts, malformed=page.malformed, more=bool(queue),
                          cursor={"queue": queue or None, "progress": kept or None})

    def _comment_list(self, article: WatchedArticle, begin: int) -> dict[str, Any]:
        token = str(self._credentials.current().get("access_token") or "")
        body = {"msg_data_id": article.msg_data_id, "index": article.index, "begin": begin, "count": PAGE_SIZE,
                "type": self._type}
        request = self._http.build_request("POST", COMMENT_LIST_PATH, params={"access_token": token}, json=body)
        response = send(self._http, request)
        answer = json_object(response)
        if response.status_code != 200 or answer is None:
            status = response.status_code
            raise platform_error(status, f"WeChat comment/list answered HTTP {status}", rate_limited=False,
                                 transient=status >= 500 or status == 200, resume_at=self._clock)
        code = numeric_code(answer.get("errcode", 0))
        if code == 0:
            return answer
        message = f"WeChat comment/list errcode {code}: {redact(str(answer.get('errmsg', '')), token)[:200]}"
        if code == NO_SUCH_ARTICLE:
            raise _ArticleUnavailable(message)
        if code in TOKEN_CODES:
            raise TokenExpired(message, status=200, code=str(code))
        raise platform_error(200, message, code=str(code), rate_limited=code in (DAILY_QUOTA, MINUTE_QUOTA),
                             transient=code == SYSTEM_BUSY, resume_at=lambda: quota_reset(code, self._clock()))


def stable_token_refresh(http: httpx.Client, *, clock: Callable[[], datetime]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The refresh the TokenKeeper calls: a token from getStableAccessToken in its normal mode."""

    def refresh(credentials: dict[str, Any]) -> dict[str, Any]:
        appid, secret = credentials.get("appid"), credentials.get("secret")
        if not appid or not secret:
            raise ReauthorisationNeeded("the WeChat secret needs `appid` and `secret` to renew its access token")
        body = {"grant_type": "client_credential", "appid": appid, "secret": secret, "force_refresh": False}
        response = send(http, http.build_request("POST", STABLE_TOKEN_PATH, json=body))
        answer = json_object(response)
        if response.status_code != 200 or answer is None:
            status = response.status_code
            raise platform_error(status, f"WeChat stable_token answered HTTP {status}", rate_limited=False,
                                 transient=status >= 500 or status == 200, resume_at=clock)
        code = numeric_code(answer.get("errcode", 0))
        token = answer.get("access_token")
        if code == 0 and isinstance(token, str) and token:
            if token == credentials.get("access_token"):
                logger.warning("WeChat handed back the refused token", extra={"platform": "wechat"})
            expires = answer.get("expires_in")
            seconds = int(expires) if isinstance(expires, int) and not isinstance(expires, bool) else 7200
            return {"access_token": token, "expires_at": (clock() + timedelta(seconds=seconds)).isoformat()}
        message = f"WeChat stable_token errcode {code}: {redact(str(answer.get('errmsg', '')), str(secret))[:200]}"
        if code in WRONG_APP_CREDENTIALS:
            raise ReauthorisationNeeded(f"{message} (check the AppID, the AppSecret and the API IP allow-list)")
        if code == 0:
            raise TransientPlatformError("WeChat stable_token answered without an access_token", status=200)
        raise platform_error(200, message, code=str(code), rate_limited=code in (DAILY_QUOTA, MINUTE_QUOTA),
                             transient=code == SYSTEM_BUSY, resume_at=lambda: quota_reset(code, clock()))

    return refresh
