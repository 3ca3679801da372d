"""Emulator of Sina Weibo's share and own-timeline endpoints.

* ``POST /2/statuses/share.json`` (form: access_token, status, optional rip) checks the token,
  the length, that the text links into the app's secure domain, that it has no ``#topic#``
  (the share endpoint forbids them) and that it does not repeat a status the account already
  posted; it answers the documented status object.
* ``GET /2/statuses/user_timeline.json`` lists the account's statuses, newest first.

Errors use Weibo's envelope ``{"error", "error_code", "request"}``. The HTTP statuses are
the emulator's choice (400 parameters, 401 tokens, 403 frequency limits, 5xx system); clients
should key on ``error_code``, as Weibo's documentation does.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..base import Clock, EmulatorServer, Fault, Request, Response

SHARE_PATH = "/2/statuses/share.json"
USER_TIMELINE_PATH = "/2/statuses/user_timeline.json"
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


class WeiboEmulator(EmulatorServer):
    """One account (`uid`) whose app registered `secure_domain`; `posts` holds what it published."""

    def __init__(
        self,
        clock: Clock,
        *,
        access_token: str,
        uid: str = "5566778899",
        screen_name: str = "ExampleBank",
        secure_domain: str = "newsroom.examplebank.com",
        expired_tokens: tuple[str, ...] = (),
        timeout_delay: float = 2.0,
    ) -> None:
        super().__init__(clock, timeout_delay=timeout_delay)
        self.access_token = access_token
        self.uid = uid
        self.screen_name = screen_name
        self.secure_domain = secure_domain.lower()
        self.expired_tokens = set(expired_tokens)
        self.posts: list[WeiboStatus] = []
        self._scripted: list[WeiboError] = []

    def fail_next(self, code: int, error: str, *, http_status: int = 400, times: int = 1) -> None:
        """Answer the next `times` requests with this error envelope (for codes no fault kind covers)."""
        with self._lock:
            self._scripted.extend(WeiboError(http_status, code, error) for _ in range(times))

    # -- EmulatorServer hooks ------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        try:
            with self._lock:
                if self._scripted:
                    raise self._scripted.pop(0)
                if request.path == SHARE_PATH:
                    if request.method != "POST":
                        raise WeiboError(405, 10021, "HTTP method is not suported for this request!")
                    return self._share(request)
                if request.path == USER_TIMELINE_PATH:
                    if request.method != "GET":
                        raise WeiboError(405, 10021, "HTTP method is not suported for this request!")
                    return self._user_timeline(request)
                raise WeiboError(404, 10020, "Request api not found!")
        except WeiboError as exc:
            return self._error(exc, request.path)

    def fault_response(self, fault: Fault, request: Request, now: datetime) -> Response:
        if fault.kind == "rate_limit":
            return self._error(WeiboError(403, 10023, "User requests out of rate limit!"), request.path)
        assert fault.status is not None
        if fault.status >= 500:
            return self._error(WeiboError(fault.status, 10001, "System error!"), request.path)
        return self._error(WeiboError(fault.status, 10008, "Param error, see doc for more info."), request.path)

    # -- endpoints -------------------------------------------------------------------------

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

    def _user_timeline(self, request: Request) -> Response:
        self._check_token(request.param("access_token") or _bearer(request))
        uid = request.param("uid")
        if uid is not None and uid != self.uid:
            # Since 2013 the endpoint returns only the authorised user's own statuses.
            raise WeiboError(403, 20003, "User does not exists!")
        try:
            count = min(100, max(1, int(request.param("count") or 20)))
            page = max(1, int(request.param("page") or 1))
        except ValueError:
            raise WeiboError(400, 10017, "Parameter (count)'s value invalid, expect (int), see doc for more info.") from None
        newest_first = list(reversed(self.posts))[(page - 1) * count: page * count]
        return _json_response(200, {
            "statuses": [post.as_json(self.uid, self.screen_name) for post in newest_first],
            "previous_cursor": 0,
            "next_cursor": 0,
            "total_number": len(self.posts),
        })

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
