"""Telegram publishing: Bot API `sendMessage` to the bank's channel.

Telegram has no idempotency key and gives bots no way to list what they sent, so `find`
cannot tell whether a lost answer hid a message: it returns None and the publisher flags the
delivery for a person. The bot token is part of every URL (`/bot<token>/...`); it is kept out
of error messages, exception chains and httpx's request log lines.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NoReturn

import httpx

from crisiscomms.adapters.http import json_object, platform_error, redact, redact_url_tokens_in_logs, send_write
from crisiscomms.models.delivery import Channel, DeliveryRequest, DeliveryResult
from crisiscomms.errors import PermanentPlatformError, PlatformError

DEFAULT_RATE_LIMIT_PAUSE = timedelta(seconds=30)


def _raise_for(body: dict[str, Any], status: int, now: datetime) -> NoReturn:
    """`error_code` in the body outranks the HTTP status; a rate limit always reports 429."""
    code = body.get("error_code") if isinstance(body.get("error_code"), int) else status
    message = redact(f"Telegram {code}: {body.get('description') or f'HTTP {status}'}")
    parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    limited, transient = 429 in (code, status), code >= 500 or status >= 500
    if "migrate_to_chat_id" in parameters and not (limited or transient):
        message += f" (the chat moved to {parameters['migrate_to_chat_id']})"
    wait = parameters.get("retry_after")
    raise platform_error(429 if limited else status, message, rate_limited=limited, transient=transient,
                         resume_at=lambda: now + (timedelta(seconds=wait) if isinstance(wait, int)
                                                  else DEFAULT_RATE_LIMIT_PAUSE))


class TelegramAdapter:
    """Sends to `chat_id` (a channel `@username` or numeric id) as the bot `bot_token`."""

    channel: Channel = "telegram"
    findable = False  # the Bot API cannot list a channel's messages: a lost answer goes to a person at once

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
        redact_url_tokens_in_logs()

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
            raise type(exc)(redact(str(exc), self._token), status=exc.status, code=exc.code) from None
        body = json_object(response)
        if body is None:
            status = response.status_code
            raise platform_error(status, f"Telegram {status} with a body that is not JSON", rate_limited=False,
                                 resume_at=self._clock)
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
