"""Emulator of the Telegram Bot API `sendMessage` for one bot posting to one channel.

Requests go to `/bot<token>/<method>` with JSON or form parameters. Answers are
`{"ok": true, "result": Message}` or `{"ok": false, "error_code", "description",
"parameters": {"retry_after"}}`. Text is 1-4096 characters (UTF-16 units); replies name an
existing message in `reply_parameters`. Telegram keeps no idempotency key and offers bots no
way to list sent messages, which the emulator reflects by serving nothing else.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..base import Clock, EmulatorServer, Fault, Request, Response, as_utc, reason_phrase
from ._common import BadBody, form_or_json_body, json_response, utf16_length

MAX_TEXT = 4096
_PATH_RE = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)$")


@dataclass(frozen=True)
class TelegramMessage:
    """One message the bot sent to the channel."""

    message_id: int
    text: str
    date: datetime
    reply_to_message_id: int | None = None
    link_preview_options: dict[str, Any] | None = None


class TelegramEmulator(EmulatorServer):
    """The bot `bot_token`, admin of the public channel @`channel_username` (id `channel_id`)."""

    def __init__(
        self,
        clock: Clock,
        *,
        bot_token: str = "123456789:AAlocal-telegram-token",
        channel_username: str = "examplebank",
        channel_id: int = -1001234567890,
        channel_title: str = "Example Bank",
        timeout_delay: float = 2.0,
    ) -> None:
        super().__init__(clock, timeout_delay=timeout_delay)
        self.bot_token = bot_token
        self.channel_username = channel_username
        self.channel_id = channel_id
        self.channel_title = channel_title
        self._posts: list[TelegramMessage] = []

    @property
    def posts(self) -> list[TelegramMessage]:
        """Messages sent so far, oldest first."""
        with self._lock:
            return list(self._posts)

    def add_channel_message(self, text: str) -> int:
        """A message already in the channel (posted by hand), so replies may point at it."""
        with self._lock:
            message = TelegramMessage(message_id=len(self._posts) + 1, text=text, date=as_utc(self.clock()))
            self._posts.append(message)
        return message.message_id

    # -- HTTP ------------------------------------------------------------------------------

    @staticmethod
    def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> Response:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            body["parameters"] = parameters
        return json_response(code, body)

    def fault_response(self, fault: Fault, request: Request, now: datetime) -> Response:
        if fault.kind == "rate_limit":
            wait = fault.retry_after if fault.retry_after is not None else fault.seconds_left(now)
            return self._error(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
        assert fault.status is not None
        return self._error(fault.status, reason_phrase(fault.status))

    def handle(self, request: Request) -> Response:
        now = as_utc(self.clock(), "clock()")
        match = _PATH_RE.match(request.path)
        if match is None:
            return self._error(404, "Not Found")
        if match["token"] != self.bot_token:
            return self._error(401, "Unauthorized")
        if match["method"].lower() != "sendmessage":
            return self._error(404, "Not Found: method not found")
        try:
            params = form_or_json_body(request)
        except BadBody as exc:
            return self._error(400, f"Bad Request: {exc}")
        return self._send_message(params, now)

    def _chat(self) -> dict[str, Any]:
        return {"id": self.channel_id, "title": self.channel_title, "username": self.channel_username,
                "type": "channel"}

    def _send_message(self, params: dict[str, Any], now: datetime) -> Response:
        chat_id = str(params.get("chat_id") or "")
        if chat_id.lower() not in (f"@{self.channel_username}".lower(), str(self.channel_id)):
            return self._error(400, "Bad Request: chat not found")
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            return self._error(400, "Bad Request: message text is empty")
        if utf16_length(text) > MAX_TEXT:
            return self._error(400, "Bad Request: message is too long")
        try:
            reply = _object_param(params, "reply_parameters")
            preview = _object_param(params, "link_preview_options")
        except BadBody as exc:
            return self._error(400, f"Bad Request: {exc}")
        with self._lock:
            reply_to: TelegramMessage | None = None
            if reply is not None:
                wanted = reply.get("message_id")
                reply_to = next((m for m in self._posts if m.message_id == wanted), None)
                if reply_to is None and not reply.get("allow_sending_without_reply"):
                    return self._error(400, "Bad Request: message to be replied not found")
            message = TelegramMessage(
                message_id=len(self._posts) + 1,
                text=text,
                date=now,
                reply_to_message_id=reply_to.message_id if reply_to else None,
                link_preview_options=preview,
            )
            self._posts.append(message)
        result = self._render(message)
        if reply_to is not None:
            result["reply_to_message"] = self._render(reply_to)
        return json_response(200, {"ok": True, "result": result})

    def _render(self, message: TelegramMessage) -> dict[str, Any]:
        out: dict[str, Any] = {
            "message_id": message.message_id,
            "sender_chat": self._chat(),
            "chat": self._chat(),
            "date": int(message.date.timestamp()),
            "text": message.text,
        }
        if message.link_preview_options:
            out["link_preview_options"] = message.link_preview_options
        return out


def _object_param(params: dict[str, Any], name: str) -> dict[str, Any] | None:
    """A JSON-object parameter, given as an object (JSON body) or a serialized string (form)."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise BadBody(f"can't parse {name} JSON object") from exc
    if not isinstance(value, dict):
        raise BadBody(f"field \"{name}\" must be of type Object")
    return value
