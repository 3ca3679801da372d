"""Telegram publishing: Bot API `sendMessage` to the bank's channel.

Telegram has no idempotency key and gives bots no way to list what they sent, so `find`
cannot tell whether a lost answer hid a message: it returns None and the publisher flags the
delivery for a person. The bot token is part of every URL (`/bot<token>/...`); it is kept out
of error messages, exception chains and httpx's request log lines.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NoReturn

import httpx

from crisiscomms.adapters.http import send_write
from crisiscomms.channels.base import Channel, DeliveryRequest, DeliveryResult
from crisiscomms.errors import PermanentPlatformError, PlatformError, RateLimited, TransientPlatformError

DEFAULT_RATE_LIMIT_PAUSE = timedelta(seconds=30)
_TOKEN_IN_PATH = re.compile(r"/bot[^/\s\"']+")


class RedactBotToken(logging.Filter):
    """Rewrites `/bot<token>/` to `/bot<redacted>/` in log records (httpx logs every URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/bot" in message:
            record.msg = _TOKEN_IN_PATH.sub("/bot<redacted>", message)
            record.args = None
        return True


_REDACTOR = RedactBotToken()


def _install_redactor() -> None:
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


def _raise_for(body: dict[str, Any], status: int, now: datetime) -> NoReturn:
    code = body.get("error_code") if isinstance(body.get("error_code"), int) else status
    description = str(body.get("description") or f"HTTP {status}")
    message = _TOKEN_IN_PATH.sub("/bot<redacted>", f"Telegram {code}: {description}")
    parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    if code == 429 or status == 429:
        retry_after = parameters.get("retry_after")
        wait = timedelta(seconds=retry_after) if isinstance(retry_after, int) else DEFAULT_RATE_LIMIT_PAUSE
        raise RateLimited(message, resume_at=now + wait, status=429)
    if code >= 500 or status >= 500:
        raise TransientPlatformError(message, status=status)
    if "migrate_to_chat_id" in parameters:
        message += f" (the chat moved to {parameters['migrate_to_chat_id']})"
    raise PermanentPlatformError(message, status=status)


class TelegramAdapter:
    """Sends to `chat_id` (a channel `@username` or numeric id) as the bot `bot_token`."""

    channel: Channel = "telegram"

    def __init__(
        self,
        http: httpx.Client,
        *,
        bot_token: str,
        chat_id: str | int,
        clock: Callable[[], datetime],
    ) -> None:
        self._http = http
        self._token = bot_token
        self._chat_id = chat_id
        self._clock = clock
        _install_redactor()

    def __repr__(self) -> str:
        return f"TelegramAdapter(chat_id={self._chat_id!r})"

    def publish(self, request: DeliveryRequest) -> DeliveryResult:
        """Send once. A lost answer stays DeliveryOutcomeUnknown: there is nothing to look up."""
        params: dict[str, Any] = {"chat_id": self._chat_id, "text": request.text}
        if request.newsroom_url:
            params["link_preview_options"] = {"url": request.newsroom_url}
        if request.reply_to:
            if not request.reply_to.isdigit():
                raise PermanentPlatformError(f"Telegram replies need a message id, got {request.reply_to!r}")
            params["reply_parameters"] = {"message_id": int(request.reply_to)}
        try:
            response = send_write(self._http, self._http.build_request(
                "POST", f"/bot{self._token}/sendMessage", json=params))
        except PlatformError as exc:
            # The httpx exception underneath carries the request URL, token included.
            raise type(exc)(str(exc).replace(self._token, "<redacted>"), status=exc.status, code=exc.code) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if response.status_code >= 500:
                raise TransientPlatformError(f"Telegram {response.status_code} with a body that is not JSON",
                                             status=response.status_code)
            raise PermanentPlatformError(f"Telegram {response.status_code} with a body that is not JSON",
                                         status=response.status_code)
        if body.get("ok") is True and isinstance(body.get("result"), dict):
            return self._result(body["result"])
        _raise_for(body, response.status_code, self._clock())

    def find(self, request: DeliveryRequest) -> DeliveryResult | None:
        """Always None: the Bot API cannot list or search a channel's messages."""
        return None

    @staticmethod
    def _result(message: dict[str, Any]) -> DeliveryResult:
        message_id = message.get("message_id")
        if not isinstance(message_id, int):
            raise PermanentPlatformError("Telegram answered ok without a message_id")
        chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
        username, chat_id = chat.get("username"), str(chat.get("id", ""))
        if username:
            url: str | None = f"https://t.me/{username}/{message_id}"
        elif chat_id.startswith("-100"):
            url = f"https://t.me/c/{chat_id[4:]}/{message_id}"  # private channel: members-only link
        else:
            url = None
        return DeliveryResult(platform_id=str(message_id), url=url, details={"chat_id": chat_id})
