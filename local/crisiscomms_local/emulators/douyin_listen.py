"""Emulator of the Douyin open platform's reading side (open.douyin.com): the bank's videos and their comments.

* ``GET /item/comment/list/`` - one video's comments (header ``access-token``; ``open_id``,
  ``item_id``, ``cursor``, ``count`` 1-50, ``sort_type`` ``time`` newest first or ``time_asc``;
  without it, or with `ignore_sort_type` set, recommendation order: most liked first). Pinned
  comments come first in every order. ``cursor`` is an offset into the list as it is at the time
  of each call, so a deletion shifts later comments up, as on Douyin.
* ``GET /video/list/`` - the account's videos, newest first (``count`` 1-20).
* ``POST /oauth/refresh_token/`` and ``POST /oauth/renew_refresh_token/`` (form bodies).
* ``POST /item/comment/reply/`` (JSON ``item_id``, ``comment_id``, ``content``; ``open_id`` in the
  query) answers a comment as the account and returns the reply's ``comment_id``; an unknown video
  or comment is 2100005, an empty or over-long content (`reply_max`: Douyin publishes no number)
  2100005 too. ``GET /item/comment/reply/list/`` pages a comment's replies newest first (``count``
  1-20). `replies` lists what the account sent.

Errors are HTTP 200 with ``{"data": {"error_code", "description"}, "extra": {...}}``: 2190008 for
an expired token (`expire_access_token`), 2190002 for an unknown one, 2100005 for a bad parameter,
28003018 for a rate-limit fault, 10010 for a dead refresh token, 10004/10020 when the refresh
token may not be renewed. `fail_next` scripts any code. A comment shows once the clock reaches it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from .base import Clock, EmulatorServer, Fault, Request, Response

COMMENT_LIST_PATH = "/item/comment/list/"
VIDEO_LIST_PATH = "/video/list/"
REPLY_PATH = "/item/comment/reply/"
REPLY_LIST_PATH = "/item/comment/reply/list/"
REFRESH_TOKEN_PATH = "/oauth/refresh_token/"
RENEW_REFRESH_TOKEN_PATH = "/oauth/renew_refresh_token/"
CLIENT_KEY = "awemulated0douyin"
OPEN_ID = "ba253642-0590-40bc-9bdf-9a1334b94059"
ACCESS_LIFETIME = timedelta(days=15)
REFRESH_LIFETIME = timedelta(days=30)
RENEWALS = 5


@dataclass
class DouyinComment:
    comment_id: str
    user_id: str
    content: str
    created_at: datetime
    digg_count: int = 0
    reply_total: int = 0
    top: bool = False
    raw: dict[str, Any] | None = None  # served as is: a malformed item
    replies: list["DouyinReply"] = field(default_factory=list)


@dataclass(frozen=True)
class DouyinReply:
    """A reply under a comment; `user_id` is the bank's open_id when the account sent it."""

    comment_id: str
    user_id: str
    content: str
    created_at: datetime
    item_id: str = ""
    answers: str = ""


@dataclass
class DouyinVideo:
    item_id: str
    title: str
    created_at: datetime
    share_url: str
    comments: list[DouyinComment] = field(default_factory=list)


class DouyinError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


class DouyinEmulator(EmulatorServer):
    """One authorised Douyin account (`open_id`) with its videos; keeps the ListeningEmulator protocol."""

    platform = "douyin"

    def __init__(self, clock: Clock, *, timeout_delay: float = 2.0, access_token: str = "act.emulated-douyin-1",
                 refresh_token: str = "rft.emulated-douyin-1", renew_allowed: bool = True,
                 ignore_sort_type: bool = False, reply_max: int = 500) -> None:
        super().__init__(clock, timeout_delay=timeout_delay)
        self.client_key = CLIENT_KEY
        self.open_id = OPEN_ID
        self.account_name = "示例银行"
        self.access_token = access_token
        self.refresh_token = refresh_token
        self.expired_tokens: set[str] = set()
        self.refresh_expires_at = clock() + REFRESH_LIFETIME
        self.renew_allowed = renew_allowed
        self.renewals_left = RENEWALS
        self.ignore_sort_type = ignore_sort_type
        self.reply_max = reply_max
        self.refresh_calls = 0
        self.renew_calls = 0
        self.videos: dict[str, DouyinVideo] = {}
        self._scripted: list[DouyinError] = []
        self._serial = 0
        self.watched_video = self.add_video("示例银行关于网点服务的说明", created_at=clock() - timedelta(days=1))

    # -- content -------------------------------------------------------------------------------------

    def add_video(self, title: str, *, created_at: datetime) -> str:
        with self._lock:
            self._serial += 1
            item_id = f"@9VwW{self._serial:06d}mvXq+a/ZFpC1H2n=="
            self.videos[item_id] = DouyinVideo(item_id, title, created_at,
                                               f"https://www.iesdouyin.com/share/video/{7_300_000_000 + self._serial}/")
            return item_id

    def add_comment(self, item_id: str, *, content: str, created_at: datetime, user_id: str = "u-emulated",
                    digg_count: int = 0, reply_total: int = 0, top: bool = False,
                    raw: dict[str, Any] | None = None) -> str:
        """A comment shown from `created_at`; returns its comment_id (the native id the adapter stores)."""
        with self._lock:
            self._serial += 1
            comment_id = f"@9VxS{self._serial:08d}cmT7Rq=="
            self.videos[item_id].comments.append(DouyinComment(comment_id, user_id, content, created_at, digg_count,
                                                               reply_total, top, raw))
            return comment_id

    def delete_comment(self, item_id: str, comment_id: str) -> None:
        with self._lock:
            video = self.videos[item_id]
            video.comments = [c for c in video.comments if c.comment_id != comment_id]

    @property
    def replies(self) -> list[DouyinReply]:
        """The account's replies to comments, in the order sent."""
        with self._lock:
            sent = [r for v in self.videos.values() for c in v.comments for r in c.replies if r.user_id == self.open_id]
            return sorted(sent, key=lambda r: (r.created_at, r.comment_id))

    def expire_access_token(self) -> None:
        with self._lock:
            self.expired_tokens.add(self.access_token)

    def fail_next(self, code: int, description: str, *, times: int = 1) -> None:
        """Answer the next `times` requests with this error code inside HTTP 200."""
        with self._lock:
            self._scripted.extend(DouyinError(code, description) for _ in range(times))

    # -- the ListeningEmulator protocol ---------------------------------------------------------------

    def add_post(self, *, text: str, author: str, created_at: datetime, followers: int = 0, likes: int = 0,
                 reposts: int = 0, replies: int = 0, lang: str | None = None, location: str | None = None,
                 to_bank: bool = False) -> str:
        """A comment on the bank's watched video (every comment read here is under the bank's own video)."""
        return self.add_comment(self.watched_video, content=text, created_at=created_at,
                                user_id="u-" + hashlib.sha256(author.encode()).hexdigest()[:16], digg_count=likes, reply_total=replies)

    def credentials(self) -> dict[str, Any]:
        return {"client_key": self.client_key, "open_id": self.open_id, "access_token": self.access_token,
                "refresh_token": self.refresh_token}

    def watch_sources(self, account: dict[str, Any] | None) -> list[dict[str, Any]]:
        video = self.videos[self.watched_video]
        return [{"id": "douyin-comments", "platform": "douyin", "base_url": self.base_url, "every_minutes": 1,
                 "initial_lookback_minutes": 60, "videos": [{"item_id": video.item_id, "url": video.share_url}]}]

    def default_account(self) -> dict[str, Any]:
        return {"handle": self.account_name, "id": self.open_id}

    def play_account(self, handle: str) -> None:
        self.account_name = handle  # (comments under its videos address it whatever its name)

    # -- EmulatorServer hooks --------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        routes = {
            (COMMENT_LIST_PATH, "GET"): self._comment_list,
            (VIDEO_LIST_PATH, "GET"): self._video_list,
            (REFRESH_TOKEN_PATH, "POST"): self._refresh,
            (REPLY_PATH, "POST"): self._reply,
            (REPLY_LIST_PATH, "GET"): self._reply_list,
            (RENEW_REFRESH_TOKEN_PATH, "POST"): self._renew,
        }
        try:
            with self._lock:
                if self._scripted:
                    raise self._scripted.pop(0)
                route = routes.get((request.path, request.method))
                if route is None:
                    return _json(404, {"extra": {"error_code": 404, "description": "not found"}})
                return _json(200, route(request))
        except DouyinError as exc:
            return _json(200, _error_body(exc.code, exc.description, self.clock()))

    def is_write(self, request: Request) -> bool:
        return request.method == "POST"  # only the token calls change anything

    def fault_response(self, fault: Fault, request: Request, now: datetime) -> Response:
        if fault.kind == "rate_limit":
            return _json(200, _error_body(28003018, "请求频率过高", now))
        assert fault.status is not None
        return _json(fault.status, _error_body(2100004, "系统繁忙,此时请开发者稍候再试", now))

    # -- endpoints ---------------------------------------------------------------------------------------

    def _authorised(self, request: Request) -> None:
        token = request.header("access-token") or ""
        if token in self.expired_tokens:
            raise DouyinError(2190008, "access_token过期,请刷新或重新授权")
        if token != self.access_token:
            raise DouyinError(2190002, "access_token无效")
        if request.param("open_id") != self.open_id:
            raise DouyinError(28001015, "请求参数 access_token 和 openId不匹配")

    def _comment_list(self, request: Request) -> dict[str, Any]:
        self._authorised(request)
        video = self.videos.get(request.param("item_id") or "")
        cursor, count = _number(request.param("cursor") or "0"), _number(request.param("count") or "")
        sort_type = request.param("sort_type")
        if video is None or cursor is None or count is None or not 1 <= count <= 50 or \
                sort_type not in (None, "time", "time_asc"):
            raise DouyinError(2100005, "参数不合法")
        now = self.clock()
        shown = [c for c in video.comments if c.created_at <= now]
        if sort_type is None or self.ignore_sort_type:
            shown.sort(key=lambda c: (-c.digg_count, c.created_at, c.comment_id))
        else:
            shown.sort(key=lambda c: (c.created_at, c.comment_id), reverse=sort_type == "time")
        shown.sort(key=lambda c: not c.top)  # stable: pinned first, the rest keep their order
        page = shown[cursor: cursor + count]
        following = cursor + len(page)
        return _ok({"cursor": following, "has_more": following < len(shown), "list": [_render(c) for c in page]}, now)

    def _comment(self, item_id: str, comment_id: str) -> DouyinComment:
        video = self.videos.get(item_id)
        comment = next((c for c in video.comments if c.comment_id == comment_id and c.raw is None), None) if video else None
        if comment is None or comment.created_at > self.clock():
            raise DouyinError(2100005, "参数不合法")
        return comment

    def _reply(self, request: Request) -> dict[str, Any]:
        self._authorised(request)
        try:
            body = json.loads(request.body.decode("utf-8") or "null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise DouyinError(2100005, "参数不合法")
        comment = self._comment(str(body.get("item_id") or ""), str(body.get("comment_id") or ""))
        content = body.get("content")
        if not isinstance(content, str) or not content.strip() or len(content) > self.reply_max:
            raise DouyinError(2100005, "参数不合法")
        self._serial += 1
        reply = DouyinReply(f"@9VxR{self._serial:08d}rpL2Qw==", self.open_id, content, self.clock(),
                            str(body["item_id"]), comment.comment_id)
        comment.replies.append(reply)
        comment.reply_total += 1
        return _ok({"comment_id": reply.comment_id}, self.clock())

    def _reply_list(self, request: Request) -> dict[str, Any]:
        self._authorised(request)
        comment = self._comment(request.param("item_id") or "", request.param("comment_id") or "")
        cursor, count = _number(request.param("cursor") or "0"), _number(request.param("count") or "")
        if cursor is None or count is None or not 1 <= count <= 20:
            raise DouyinError(2100005, "参数不合法")
        newest = sorted(comment.replies, key=lambda r: (r.created_at, r.comment_id), reverse=True)
        page = newest[cursor: cursor + count]
        items = [{"comment_id": r.comment_id, "comment_user_id": r.user_id, "content": r.content,
                  "create_time": int(r.created_at.timestamp()), "digg_count": 0, "reply_comment_total": 0, "top": False}
                 for r in page]
        following = cursor + len(page)
        return _ok({"cursor": following, "has_more": following < len(newest), "list": items}, self.clock())

    def _video_list(self, request: Request) -> dict[str, Any]:
        self._authorised(request)
        cursor, count = _number(request.param("cursor") or "0"), _number(request.param("count") or "")
        if cursor is None or count is None or not 1 <= count <= 20:
            raise DouyinError(2100005, "参数不合法")
        now = self.clock()
        newest = sorted((v for v in self.videos.values() if v.created_at <= now), key=lambda v: v.created_at,
                        reverse=True)
        page = newest[cursor: cursor + count]
        items = [{"item_id": v.item_id, "title": v.title, "create_time": int(v.created_at.timestamp()), "is_top": False,
                  "is_reviewed": True, "share_url": v.share_url, "video_status": 1,
                  "statistics": {"comment_count": sum(c.created_at <= now for c in v.comments), "digg_count": 0,
                                 "download_count": 0, "forward_count": 0, "play_count": 0, "share_count": 0}}
                 for v in page]
        following = cursor + len(page)
        return _ok({"cursor": following, "has_more": following < len(newest), "list": items}, now)

    def _refresh(self, request: Request) -> dict[str, Any]:
        form = _form(request)
        now = self.clock()
        if form.get("client_key") != self.client_key or form.get("grant_type") != "refresh_token":
            raise DouyinError(10005, "缺少参数")
        if form.get("refresh_token") != self.refresh_token or now >= self.refresh_expires_at:
            raise DouyinError(10010, "refresh_token过期")
        self.refresh_calls += 1
        if self.access_token in self.expired_tokens:
            self.access_token = f"act.emulated-douyin-{self.refresh_calls + 1}"
        left = int((self.refresh_expires_at - now).total_seconds())
        return {"data": {"access_token": self.access_token, "description": "", "error_code": 0,
                         "expires_in": int(ACCESS_LIFETIME.total_seconds()), "open_id": self.open_id,
                         "refresh_expires_in": left, "refresh_token": self.refresh_token,
                         "scope": "item.comment,video.list"}, "message": "success"}

    def _renew(self, request: Request) -> dict[str, Any]:
        form = _form(request)
        now = self.clock()
        if form.get("client_key") != self.client_key or not form.get("refresh_token"):
            raise DouyinError(10005, "缺少参数")
        if not self.renew_allowed:
            raise DouyinError(10004, "权限不足")
        if form.get("refresh_token") != self.refresh_token or now >= self.refresh_expires_at:
            raise DouyinError(10010, "refresh_token过期")
        if self.renewals_left <= 0:
            raise DouyinError(10020, "超过刷新次数限制")
        self.renew_calls += 1
        self.renewals_left -= 1
        self.refresh_token = f"rft.emulated-douyin-{self.renew_calls + 1}"
        self.refresh_expires_at = now + REFRESH_LIFETIME
        return {"data": {"description": "", "error_code": 0, "expires_in": int(REFRESH_LIFETIME.total_seconds()),
                         "refresh_token": self.refresh_token}, "message": "success"}


def _render(comment: DouyinComment) -> dict[str, Any]:
    if comment.raw is not None:
        return comment.raw
    return {"comment_id": comment.comment_id, "comment_user_id": comment.user_id, "content": comment.content,
            "create_time": int(comment.created_at.timestamp()), "digg_count": comment.digg_count,
            "reply_comment_total": comment.reply_total, "top": comment.top}


def _number(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def _form(request: Request) -> dict[str, str]:
    pairs = parse_qs(request.body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in pairs.items()}


def _extra(code: int, description: str, now: datetime) -> dict[str, Any]:
    return {"error_code": code, "description": description, "sub_error_code": 0, "sub_description": "",
            "logid": f"{now:%Y%m%d%H%M%S}0101980821035705926A", "now": int(now.timestamp() * 1000)}


def _ok(data: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {"data": {"error_code": 0, "description": "", **data}, "extra": _extra(0, "", now)}


def _error_body(code: int, description: str, now: datetime) -> dict[str, Any]:
    return {"data": {"error_code": code, "description": description}, "extra": _extra(code, description, now)}


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status=status, body=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                    headers={"Content-Type": "application/json; charset=utf-8"})
