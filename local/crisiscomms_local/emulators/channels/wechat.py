"""Emulator of the WeChat Official Account API (`/cgi-bin/...`): publishing, mass send, comments, tokens.

One server is the Official Account's host for both sides: the publishing tests and the desk
drive drafts, free publishing and mass sends; the listening tests and the drill read comments
through it (it keeps the ListeningEmulator protocol, `platform = "wechat"`).

Lifecycle: ``draft/add`` stores articles and returns a ``media_id`` (``draft/delete`` removes
one again; `deleted_drafts` keeps what was deleted, for checks); ``freepublish/submit``
turns a draft into a publish task; ``freepublish/get`` answers ``publish_status`` 1
(publishing) for `publishing_polls` polls, then the task's outcome - 0 with ``article_id``
and ``article_detail``, or `final_status` (2-6) when a failure is scripted. Like WeChat's, a
task also completes on its own, polled or not, once `publishing_seconds` (on the emulator's
clock) have passed since the submit; whichever comes first counts. A task that needs no polls
is published at submit. ``freepublish/batchget`` lists published articles, newest first.

Every error is ``{"errcode": N, "errmsg": "..."}`` inside HTTP 200, as on WeChat. Like WeChat,
a JSON body whose strings use ``\\uXXXX`` escapes is stored with the escapes as literal text.
A fault's `target` is an endpoint path, so one step of the lifecycle can be made to fail.

Mass send: ``message/mass/sendall`` (``mpnews`` with a draft's ``media_id``) answers ``msg_id`` and
``msg_data_id`` while `mass_send_quota` lasts (then 45028; 48001 when `mass_send_allowed` is off);
a repeated ``clientmsgid`` answers 45065 with the earlier ``msg_id``. ``message/mass/get`` reports
``SENDING`` for `mass_polls` polls, then `mass_final_status`. Each mass-sent article gets a comment
list.

Comments: ``comment/list`` pages an article's comments oldest first from ``begin`` (``count``
under 50, else 88010; an unknown article is 88001); a comment shows once the clock reaches its
time, and `delete_comment` removes one, shifting the later ones as on WeChat.
``comment/reply/add`` answers a comment as the account (`msg_data_id`, `index`, `user_comment_id`,
`content`): only comments of mass-sent articles exist (a free-published article's id is 88001), an
unknown comment is 88008, a second reply 88005 "already reply", an empty or over-long content
(`reply_max`: WeChat publishes no number) 88007; the reply shows under the comment in
``comment/list`` and in `replies`. Tokens:
``stable_token`` (normal mode) answers the current token while it is valid and a new one once
`expire_access_token` retired it; `stable_token_calls` counts the calls.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..base import Clock, EmulatorServer, Fault, Request, Response

DRAFT_ADD_PATH = "/cgi-bin/draft/add"
STABLE_TOKEN_PATH = "/cgi-bin/stable_token"
COMMENT_LIST_PATH = "/cgi-bin/comment/list"
MASS_SEND_PATH = "/cgi-bin/message/mass/sendall"
MASS_GET_PATH = "/cgi-bin/message/mass/get"
COMMENT_REPLY_PATH = "/cgi-bin/comment/reply/add"
DEFAULT_ACCESS_TOKEN = "emulated-wechat-access-token"
DEFAULT_APPID = "wx5e1f0c3a2b4d6e8f"
DEFAULT_SECRET = "emulated-wechat-app-secret"
TOKEN_LIFETIME_SECONDS = 7200
COMMENT_COUNT_LIMIT = 50  # comment/list refuses a count of 50 or more
CLIENTMSGID_MAX = 64
FIRST_MSG_DATA_ID = 2_650_000_001
DRAFT_DELETE_PATH = "/cgi-bin/draft/delete"
SUBMIT_PATH = "/cgi-bin/freepublish/submit"
GET_PATH = "/cgi-bin/freepublish/get"
BATCHGET_PATH = "/cgi-bin/freepublish/batchget"
# draft/add: title at most 32 characters, digest at most 128, content under 20,000.
TITLE_MAX = 32
DIGEST_MAX = 128
CONTENT_MAX = 20_000
# A \uXXXX escape, i.e. one preceded by an even number of backslashes.
_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u([0-9a-fA-F]{4})")


class WeChatError(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass
class PublishTask:
    publish_id: str
    media_id: str
    polls_left: int  # 0 once the task is done
    final_status: int
    due: datetime  # when it completes unpolled
    article_id: str | None = None
    articles: list[dict[str, Any]] | None = None  # the draft as submitted


@dataclass
class Comment:
    """A comment under a mass-sent article; `raw` replaces the rendered item (a malformed one)."""

    user_comment_id: int
    content: str
    created_at: datetime
    openid: str | None = None
    elected: bool = False
    reply: str | None = None
    raw: dict[str, Any] | None = None
    reply_at: datetime | None = None


@dataclass
class MassSend:
    msg_id: int
    msg_data_id: int
    media_id: str
    clientmsgid: str
    articles: list[dict[str, Any]]
    polls_left: int
    final_status: str
    sent_at: datetime


@dataclass
class PublishedArticle:
    """One article that went out: what tests assert on ("exactly one")."""

    article_id: str
    publish_id: str
    url: str
    news_item: dict[str, Any]
    published_at: datetime


class WeChatEmulator(EmulatorServer):
    """One Official Account. `articles` holds free-published articles, `drafts` the stored drafts,
    `mass_sends` the mass sends and `comments` each mass-sent article's comments by (msg_data_id, index)."""

    platform = "wechat"

    def __init__(
        self,
        clock: Clock,
        *,
        access_token: str = DEFAULT_ACCESS_TOKEN,
        thumb_media_ids: tuple[str, ...] = ("THUMB_MEDIA_ID",),
        publishing_polls: int = 1,
        publishing_seconds: float = 30.0,
        final_status: int = 0,
        expired_tokens: tuple[str, ...] = (),
        timeout_delay: float = 2.0,
        appid: str = DEFAULT_APPID,
        secret: str = DEFAULT_SECRET,
        mass_send_quota: int = 1,
        mass_send_allowed: bool = True,
        mass_polls: int = 0,
        mass_final_status: str = "SEND_SUCCESS",
        reply_max: int = 600,
    ) -> None:
        super().__init__(clock, timeout_delay=timeout_delay)
        self.access_token = access_token
        self.appid = appid
        self.account_name = "ExampleBank"  # the official account's name, as the watch configuration gives it
        self.secret = secret
        self.mass_send_quota = mass_send_quota
        self.mass_send_allowed = mass_send_allowed
        self.mass_polls = mass_polls
        self.mass_final_status = mass_final_status
        self.reply_max = reply_max
        self.mass_sends: list[MassSend] = []
        self.comments: dict[tuple[int, int], list[Comment]] = {}
        self.stable_token_calls = 0
        self._comment_serial = 0
        self._token_serial = 0
        self.thumb_media_ids = set(thumb_media_ids)
        self.publishing_polls = publishing_polls
        self.publishing_seconds = publishing_seconds
        self.final_status = final_status
        self.expired_tokens = set(expired_tokens)
        self.drafts: dict[str, list[dict[str, Any]]] = {}
        self.deleted_drafts: dict[str, list[dict[str, Any]]] = {}
        self.tasks: dict[str, PublishTask] = {}
        self._articles: list[PublishedArticle] = []
        self._scripted: list[WeChatError] = []
        self._counter = 0
        self.watched_article = self.add_article()  # the article the listening drill comments under

    @property
    def articles(self) -> list[PublishedArticle]:
        """The free-published articles, oldest first, counting every publish task whose time has come."""
        with self._lock:
            self._complete_due()
            return self._articles

    def fail_next(self, errcode: int, errmsg: str, *, times: int = 1) -> None:
        """Answer the next `times` requests with this errcode (e.g. -1 system busy)."""
        with self._lock:
            self._scripted.extend(WeChatError(errcode, errmsg) for _ in range(times))

    # -- comments and tokens (the listening side) -------------------------------------------------

    def add_article(self, msg_data_id: int | None = None, *, articles: int = 1) -> int:
        """A mass-sent message with `articles` articles whose comments can be read; returns its msg_data_id."""
        with self._lock:
            if msg_data_id is None:
                msg_data_id = FIRST_MSG_DATA_ID + len({key[0] for key in self.comments})
            for index in range(articles):
                self.comments.setdefault((msg_data_id, index), [])
            return msg_data_id

    def add_comment(self, msg_data_id: int, index: int = 0, *, content: str, created_at: datetime,
                    openid: str | None = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", elected: bool = False,
                    reply: str | None = None, raw: dict[str, Any] | None = None) -> str:
        """A reader's comment, shown from `created_at`; returns the native id the listening adapter stores."""
        with self._lock:
            self._comment_serial += 1
            comment = Comment(self._comment_serial, content, created_at, openid, elected, reply, raw)
            self.comments[(msg_data_id, index)].append(comment)
            return f"{msg_data_id}_{index}_{comment.user_comment_id}"

    def delete_comment(self, msg_data_id: int, index: int, user_comment_id: int) -> None:
        """The account (or its author) deletes a comment: the ones after it move up one place."""
        with self._lock:
            listed = self.comments[(msg_data_id, index)]
            listed[:] = [c for c in listed if c.user_comment_id != user_comment_id]

    @property
    def replies(self) -> list[tuple[int, int, int, str]]:
        """The account's replies to comments: (msg_data_id, index, user_comment_id, content), in the order sent."""
        with self._lock:
            sent = [(key[0], key[1], c) for key, listed in self.comments.items() for c in listed if c.reply_at]
            return [(m, i, c.user_comment_id, c.reply or "") for m, i, c in sorted(sent, key=lambda s: s[2].reply_at)]

    def expire_access_token(self) -> None:
        """The current token lapses: calls answer 42001 until stable_token hands out a new one."""
        with self._lock:
            self.expired_tokens.add(self.access_token)

    # -- the ListeningEmulator protocol ---------------------------------------------------------------

    def add_post(self, *, text: str, author: str, created_at: datetime, followers: int = 0, likes: int = 0,
                 reposts: int = 0, replies: int = 0, lang: str | None = None, location: str | None = None,
                 to_bank: bool = False) -> str:
        """A comment under the watched article (every WeChat comment is under the bank's own article).
        WeChat shows no name, follower count or place for a commenter, only an openid."""
        openid = "o" + hashlib.sha256(author.encode()).hexdigest()[:27]
        return self.add_comment(self.watched_article, 0, content=text, created_at=created_at, openid=openid)

    def credentials(self) -> dict[str, Any]:
        return {"appid": self.appid, "secret": self.secret, "access_token": self.access_token}

    def watch_sources(self, account: dict[str, Any] | None) -> list[dict[str, Any]]:
        return [{"id": "wechat-comments", "platform": "wechat", "base_url": self.base_url, "every_minutes": 1,
                 "articles": [{"msg_data_id": self.watched_article, "index": 0}]}]

    def default_account(self) -> dict[str, Any]:
        return {"handle": self.account_name, "id": "gh_3f9a2c1d7e5b"}

    def play_account(self, handle: str) -> None:
        self.account_name = handle  # (comments under its articles address it whatever its name)

    # -- EmulatorServer hooks ------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        routes = {
            DRAFT_ADD_PATH: self._draft_add,
            DRAFT_DELETE_PATH: self._draft_delete,
            SUBMIT_PATH: self._submit,
            GET_PATH: self._get,
            BATCHGET_PATH: self._batchget,
            MASS_SEND_PATH: self._mass_send,
            MASS_GET_PATH: self._mass_get,
            COMMENT_LIST_PATH: self._comment_list,
            COMMENT_REPLY_PATH: self._comment_reply,
            STABLE_TOKEN_PATH: self._stable_token,
        }
        try:
            with self._lock:
                self._complete_due()
                if self._scripted:
                    raise self._scripted.pop(0)
                route = routes.get(request.path)
                if route is None:
                    raise WeChatError(40066, "invalid url")
                if request.method != "POST":
                    raise WeChatError(43002, "require POST method")
                if request.path != STABLE_TOKEN_PATH:
                    self._check_token(request.param("access_token"))
                return _answer(route(_body(request)))
        except WeChatError as exc:
            return _answer({"errcode": exc.errcode, "errmsg": exc.errmsg})

    def is_write(self, request: Request) -> bool:
        """Every WeChat call is a POST; only adding a draft, submitting it and mass-sending create something."""
        return request.path in (DRAFT_ADD_PATH, SUBMIT_PATH, MASS_SEND_PATH, COMMENT_REPLY_PATH)

    def fault_target(self, request: Request) -> str | None:
        """Faults can aim at one endpoint (e.g. lose only the submit answer)."""
        return request.path

    def fault_response(self, fault: Fault, request: Request, now: datetime) -> Response:
        if fault.kind == "rate_limit":
            return _answer({"errcode": 45009, "errmsg": "reach max api daily quota limit"})
        assert fault.status is not None
        return _answer({"errcode": -1, "errmsg": "system error"}, status=fault.status)

    # -- endpoints -------------------------------------------------------------------------

    def _draft_add(self, body: dict[str, Any]) -> dict[str, Any]:
        articles = body.get("articles")
        if not isinstance(articles, list) or not articles:
            raise WeChatError(40097, "invalid args: articles")
        for article in articles:
            if not isinstance(article, dict) or not article.get("title") or not article.get("content"):
                raise WeChatError(40097, "invalid args: title and content are required")
            if len(article["title"]) > TITLE_MAX:
                raise WeChatError(45003, "title size out of limit")
            if len(article.get("digest") or "") > DIGEST_MAX:
                raise WeChatError(45004, "description size out of limit")
            if len(article["content"]) > CONTENT_MAX:
                raise WeChatError(45002, "content size out of limit")
            if article.get("thumb_media_id") not in self.thumb_media_ids:
                raise WeChatError(40007, "invalid media_id")
        media_id = self._new_id("media")
        self.drafts[media_id] = articles
        return {"media_id": media_id, "item": []}

    def _draft_delete(self, body: dict[str, Any]) -> dict[str, Any]:
        media_id = body.get("media_id")
        if media_id not in self.drafts:
            raise WeChatError(40007, "invalid media_id")
        self.deleted_drafts[media_id] = self.drafts.pop(media_id)
        return {"errcode": 0, "errmsg": "ok"}

    def _submit(self, body: dict[str, Any]) -> dict[str, Any]:
        media_id = body.get("media_id")
        if media_id not in self.drafts:
            raise WeChatError(40007, "invalid media_id")
        publish_id = str(2_247_483_000 + len(self.tasks) + 1)
        task = PublishTask(publish_id, media_id, self.publishing_polls, self.final_status,
                           due=self.clock() + timedelta(seconds=self.publishing_seconds), articles=self.drafts[media_id])
        self.tasks[publish_id] = task
        if task.polls_left == 0:
            self._finish(task)
        return {"errcode": 0, "errmsg": "ok", "publish_id": publish_id, "msg_data_id": int(publish_id) + 1}

    def _get(self, body: dict[str, Any]) -> dict[str, Any]:
        task = self.tasks.get(str(body.get("publish_id")))
        if task is None:
            raise WeChatError(40097, "invalid args: publish_id")
        if task.polls_left > 0:
            task.polls_left -= 1
            if task.polls_left == 0:
                self._finish(task)  # goes out right after its last "publishing" answer
            return {"publish_id": task.publish_id, "publish_status": 1, "fail_idx": []}
        if task.final_status != 0:
            failed = [1] if task.final_status in (2, 4) else []
            return {"publish_id": task.publish_id, "publish_status": task.final_status, "fail_idx": failed}
        article = next(a for a in self._articles if a.article_id == task.article_id)
        return {
            "publish_id": task.publish_id,
            "publish_status": 0,
            "article_id": article.article_id,
            "article_detail": {"count": 1, "item": [{"idx": 1, "article_url": article.url}]},
            "fail_idx": [],
        }

    def _batchget(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            offset, count = int(body["offset"]), int(body["count"])
        except (KeyError, TypeError, ValueError):
            raise WeChatError(40097, "invalid args: offset and count are required") from None
        if not 1 <= count <= 20 or offset < 0:
            raise WeChatError(40097, "invalid args: count must be 1 to 20")
        no_content = bool(body.get("no_content"))
        newest_first = list(reversed(self._articles))[offset: offset + count]
        items = []
        for article in newest_first:
            news = dict(article.news_item)
            if no_content:
                news.pop("content", None)
            items.append({
                "article_id": article.article_id,
                "content": {"news_item": [news]},
                "update_time": int(article.published_at.timestamp()),
            })
        return {"total_count": len(self._articles), "item_count": len(items), "item": items}

    def _mass_send(self, body: dict[str, Any]) -> dict[str, Any]:
        if not self.mass_send_allowed:
            raise WeChatError(48001, "api unauthorized")
        clientmsgid = str(body.get("clientmsgid") or "")
        if len(clientmsgid.encode()) > CLIENTMSGID_MAX:
            raise WeChatError(45067, "clientmsgid size out of limit")
        earlier = next((m for m in self.mass_sends if clientmsgid and m.clientmsgid == clientmsgid), None)
        if earlier is not None:
            return {"errcode": 45065, "errmsg": "clientmsgid exist", "msg_id": earlier.msg_id}
        audience = body.get("filter")
        if not isinstance(audience, dict) or (audience.get("is_to_all") is not True and "tag_id" not in audience):
            raise WeChatError(40097, "invalid args: filter")
        if body.get("msgtype") != "mpnews":
            raise WeChatError(40008, "invalid message type")
        media_id = (body.get("mpnews") or {}).get("media_id") if isinstance(body.get("mpnews"), dict) else None
        if media_id not in self.drafts:
            raise WeChatError(40007, "invalid media_id")
        if self.mass_send_quota <= 0:
            raise WeChatError(45028, "has no masssend quota")
        self.mass_send_quota -= 1
        articles = self.drafts[media_id]
        msg_data_id = self.add_article(articles=len(articles))
        sent = MassSend(msg_id=1_000_000_001 + len(self.mass_sends), msg_data_id=msg_data_id, media_id=media_id,
                        clientmsgid=clientmsgid, articles=articles, polls_left=self.mass_polls,
                        final_status=self.mass_final_status, sent_at=self.clock())
        self.mass_sends.append(sent)
        return {"errcode": 0, "errmsg": "send job submission success", "msg_id": sent.msg_id,
                "msg_data_id": sent.msg_data_id}

    def _mass_get(self, body: dict[str, Any]) -> dict[str, Any]:
        sent = next((m for m in self.mass_sends if str(m.msg_id) == str(body.get("msg_id"))), None)
        if sent is None:
            raise WeChatError(40059, "invalid msg id")
        if sent.polls_left > 0:
            sent.polls_left -= 1
            return {"msg_id": sent.msg_id, "msg_status": "SENDING"}
        return {"msg_id": sent.msg_id, "msg_status": sent.final_status}

    def _comment_list(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            msg_data_id, begin, count = int(body["msg_data_id"]), int(body["begin"]), int(body["count"])
            index, kind = int(body.get("index", 0)), int(body["type"])
        except (KeyError, TypeError, ValueError):
            raise WeChatError(47001, "data format error") from None
        if not 0 < count < COMMENT_COUNT_LIMIT:
            raise WeChatError(88010, "count range error. cout <= 0 or count > 50")
        if begin < 0 or kind not in (0, 1, 2):
            raise WeChatError(40097, "invalid args: begin and type")
        listed = self.comments.get((msg_data_id, index))
        if listed is None:
            raise WeChatError(88001, "msg_data is not exists")
        now = self.clock()
        shown = sorted((c for c in listed if c.created_at <= now and (kind == 0 or c.elected == (kind == 2))),
                       key=lambda c: (c.created_at, c.user_comment_id))
        return {"errcode": 0, "errmsg": "ok", "total": len(shown),
                "comment": [_render_comment(c) for c in shown[begin: begin + count]]}

    def _comment_reply(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            msg_data_id, comment_id = int(body["msg_data_id"]), int(body["user_comment_id"])
            index = int(body.get("index", 0))
        except (KeyError, TypeError, ValueError):
            raise WeChatError(47001, "data format error") from None
        content = body.get("content")
        listed = self.comments.get((msg_data_id, index))
        if listed is None:
            raise WeChatError(88001, "msg_data is not exists")
        comment = next((c for c in listed if c.user_comment_id == comment_id and c.raw is None), None)
        if comment is None or comment.created_at > self.clock():
            raise WeChatError(88008, "comment is not exists")
        if not isinstance(content, str) or not content.strip() or len(content) > self.reply_max:
            raise WeChatError(88007, "reply content beyond max len or content len is zero")
        if comment.reply:
            raise WeChatError(88005, "already reply")
        comment.reply, comment.reply_at = content, self.clock()
        return {"errcode": 0, "errmsg": "ok"}

    def _stable_token(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("grant_type") != "client_credential":
            raise WeChatError(40002, "invalid grant_type")
        if body.get("appid") != self.appid:
            raise WeChatError(40013, "invalid appid")
        if body.get("secret") != self.secret:
            raise WeChatError(40125, "invalid appsecret")
        self.stable_token_calls += 1
        if body.get("force_refresh") is True or self.access_token in self.expired_tokens:
            self.expired_tokens.add(self.access_token)
            self._token_serial += 1
            self.access_token = f"stable-access-token-{self._token_serial}"
        return {"access_token": self.access_token, "expires_in": TOKEN_LIFETIME_SECONDS}

    # -- helpers ---------------------------------------------------------------------------

    def _complete_due(self) -> None:
        """Finish every publish task whose time has come, as WeChat does without being asked."""
        now = self.clock()
        for task in self.tasks.values():
            if task.polls_left > 0 and task.due <= now:
                task.polls_left = 0
                self._finish(task)

    def _finish(self, task: PublishTask) -> None:
        """The task's outcome: a published article, or a failure status with nothing published."""
        if task.final_status != 0:
            return
        draft = (task.articles or self.drafts[task.media_id])[0]
        task.article_id = self._new_id("article")
        url = f"https://mp.weixin.qq.com/s/{task.article_id[:22]}"
        news = {key: draft.get(key, "") for key in (
            "title", "author", "digest", "content", "content_source_url", "thumb_media_id",
            "need_open_comment", "only_fans_can_comment",
        )}
        news.update({"url": url, "is_deleted": False, "thumb_url": "https://mmbiz.qpic.cn/thumb"})
        self._articles.append(PublishedArticle(task.article_id, task.publish_id, url, news, self.clock()))

    def _check_token(self, token: str | None) -> None:
        if not token:
            raise WeChatError(41001, "access_token missing")
        if token in self.expired_tokens:
            raise WeChatError(42001, "access_token expired")
        if token != self.access_token:
            raise WeChatError(40001, "invalid credential, access_token is invalid or not latest")

    def _new_id(self, kind: str) -> str:
        self._counter += 1
        return hashlib.sha256(f"{kind}-{self._counter}".encode()).hexdigest()[:43]


def _render_comment(comment: Comment) -> dict[str, Any]:
    if comment.raw is not None:
        return comment.raw
    item: dict[str, Any] = {"user_comment_id": comment.user_comment_id, "create_time": int(comment.created_at.timestamp()),
                            "content": comment.content, "comment_type": 1 if comment.elected else 0}
    if comment.openid:
        item["openid"] = comment.openid
    if comment.reply:
        replied = comment.reply_at or comment.created_at + timedelta(minutes=1)
        item["reply"] = {"content": comment.reply, "create_time": int(replied.timestamp())}
    return item


def _body(request: Request) -> dict[str, Any]:
    """The JSON body, keeping ``\\uXXXX`` escapes as literal text the way WeChat stores them."""
    raw = request.body.decode("utf-8", errors="replace")
    try:
        body = json.loads(_ESCAPE.sub(r"\1\\\\u\2", raw))
    except ValueError:
        raise WeChatError(47001, "data format error") from None
    if not isinstance(body, dict):
        raise WeChatError(47001, "data format error")
    return body


def _answer(payload: dict[str, Any], status: int = 200) -> Response:
    return Response(
        status=status,
        body=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json; encoding=utf-8"},
    )
