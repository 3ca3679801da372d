"""Emulator of the WeChat Official Account draft and free-publish API (`/cgi-bin/...`).

Lifecycle: ``draft/add`` stores articles and returns a ``media_id`` (``draft/delete`` removes
one again; `deleted_drafts` keeps what was deleted, for checks); ``freepublish/submit``
turns a draft into a publish task; ``freepublish/get`` answers ``publish_status`` 1
(publishing) for `publishing_polls` polls, then the task's outcome - 0 with ``article_id``
and ``article_detail``, or `final_status` (2-6) when a failure is scripted. A task that
needs no polls is published at submit. ``freepublish/batchget`` lists published articles,
newest first.

Every error is ``{"errcode": N, "errmsg": "..."}`` inside HTTP 200, as on WeChat. Like WeChat,
a JSON body whose strings use ``\\uXXXX`` escapes is stored with the escapes as literal text.
A fault's `target` is an endpoint path, so one step of the lifecycle can be made to fail.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..base import Clock, EmulatorServer, Fault, Request, Response

DRAFT_ADD_PATH = "/cgi-bin/draft/add"
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
    polls_left: int
    final_status: int
    article_id: str | None = None
    articles: list[dict[str, Any]] | None = None  # the draft as submitted


@dataclass
class PublishedArticle:
    """One article that went out: what tests assert on ("exactly one")."""

    article_id: str
    publish_id: str
    url: str
    news_item: dict[str, Any]
    published_at: datetime


class WeChatEmulator(EmulatorServer):
    """One Official Account. `articles` holds published articles, `drafts` the stored drafts."""

    def __init__(
        self,
        clock: Clock,
        *,
        access_token: str,
        thumb_media_ids: tuple[str, ...] = ("THUMB_MEDIA_ID",),
        publishing_polls: int = 1,
        final_status: int = 0,
        expired_tokens: tuple[str, ...] = (),
        timeout_delay: float = 2.0,
    ) -> None:
        super().__init__(clock, timeout_delay=timeout_delay)
        self.access_token = access_token
        self.thumb_media_ids = set(thumb_media_ids)
        self.publishing_polls = publishing_polls
        self.final_status = final_status
        self.expired_tokens = set(expired_tokens)
        self.drafts: dict[str, list[dict[str, Any]]] = {}
        self.deleted_drafts: dict[str, list[dict[str, Any]]] = {}
        self.tasks: dict[str, PublishTask] = {}
        self.articles: list[PublishedArticle] = []
        self._scripted: list[WeChatError] = []
        self._counter = 0

    def fail_next(self, errcode: int, errmsg: str, *, times: int = 1) -> None:
        """Answer the next `times` requests with this errcode (e.g. -1 system busy)."""
        with self._lock:
            self._scripted.extend(WeChatError(errcode, errmsg) for _ in range(times))

    # -- EmulatorServer hooks ------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        routes = {
            DRAFT_ADD_PATH: self._draft_add,
            DRAFT_DELETE_PATH: self._draft_delete,
            SUBMIT_PATH: self._submit,
            GET_PATH: self._get,
            BATCHGET_PATH: self._batchget,
        }
        try:
            with self._lock:
                if self._scripted:
                    raise self._scripted.pop(0)
                route = routes.get(request.path)
                if route is None:
                    raise WeChatError(40066, "invalid url")
                if request.method != "POST":
                    raise WeChatError(43002, "require POST method")
                self._check_token(request.param("access_token"))
                return _answer(route(_body(request)))
        except WeChatError as exc:
            return _answer({"errcode": exc.errcode, "errmsg": exc.errmsg})

    def is_write(self, request: Request) -> bool:
        """Every WeChat call is a POST; only adding a draft and submitting it create something."""
        return request.path in (DRAFT_ADD_PATH, SUBMIT_PATH)

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
        task = PublishTask(publish_id, media_id, self.publishing_polls, self.final_status, articles=self.drafts[media_id])
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
        article = next(a for a in self.articles if a.article_id == task.article_id)
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
        newest_first = list(reversed(self.articles))[offset: offset + count]
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
        return {"total_count": len(self.articles), "item_count": len(items), "item": items}

    # -- helpers ---------------------------------------------------------------------------

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
        self.articles.append(PublishedArticle(task.article_id, task.publish_id, url, news, self.clock()))

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
