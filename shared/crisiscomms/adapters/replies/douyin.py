"""Replies on Douyin: `POST /item/comment/reply/` under a comment on one of the bank's videos.

The bank only listens on Douyin (it publishes no statements there), so replies use the listening
credentials: the secret holds `open_id` (the bank's account, a query parameter of every call)
and the user `access_token` (header `access-token`, scope `item.comment`) that the Poller renews.
The Publisher reads that secret and never writes it: a token Douyin refuses as expired is read
again once (the Poller may have renewed it meanwhile), and if it is still refused the reply is
retried later (TransientPlatformError) rather than failed. Douyin's request and error handling
(HTTP 200 with `data.error_code`) are the listening adapter's.

The body is `{"item_id", "comment_id", "content"}` (`reply_ref` holds the video's `item_id`).
Douyin has no idempotency key: a lost answer is found in the comment's replies
(`GET /item/comment/reply/list/`, newest first) as one by the bank's account with this text.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import httpx

from crisiscomms.adapters.http import json_object, send, send_write
from crisiscomms.adapters.replies.listening_account import ListeningAccountReplies
from crisiscomms.adapters.sources.douyin import douyin_answer
from crisiscomms.errors import DeliveryOutcomeUnknown, PermanentPlatformError
from crisiscomms.models.delivery import DeliveryResult
from crisiscomms.models.inbox import ReplyTarget

REPLY_PATH = "/item/comment/reply/"
REPLY_LIST_PATH = "/item/comment/reply/list/"
LIST_COUNT = 20  # the documented maximum
LIST_PAGES = 5


def _ids(target: ReplyTarget) -> tuple[str, str]:
    item_id = target.ref.get("item_id") or ""
    if not item_id:
        raise PermanentPlatformError(f"Douyin: the comment {target.post_key} names no video (item_id)",
                                     code="missing_reply_ref")
    return item_id, target.ref.get("comment_id") or target.native_id


class DouyinReplies(ListeningAccountReplies):
    """Replies as the bank's Douyin account (the listening secret's open_id and token)."""

    platform = "douyin"
    platform_name = "Douyin"

    def reply(self, target: ReplyTarget, text: str, *, idempotency_key: str,
              language: str | None = None) -> DeliveryResult:
        item_id, comment_id = _ids(target)
        body = {"item_id": item_id, "comment_id": comment_id, "content": text}
        answer = self._authorised(lambda creds: self._http.build_request(
            "POST", REPLY_PATH, params={"open_id": str(creds.get("open_id") or "")}, json=body,
            headers={"access-token": str(creds.get("access_token") or "")}), write=True, what="item/comment/reply")
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        reply_id = str(data.get("comment_id") or "")
        if not reply_id:
            raise DeliveryOutcomeUnknown("Douyin accepted the reply but returned no comment_id", code="unknown")
        return self._result(reply_id, target, item_id, comment_id)

    def find_reply(self, target: ReplyTarget, text: str, since: datetime, *,
                   idempotency_key: str | None = None, language: str | None = None) -> DeliveryResult | None:
        """The oldest reply by the bank's account under the comment with this text since `since`."""
        item_id, comment_id = _ids(target)
        wanted = " ".join(text.split())
        cursor, found = 0, None
        for _ in range(LIST_PAGES):
            answer = self._authorised(lambda creds: self._http.build_request(
                "GET", REPLY_LIST_PATH, headers={"access-token": str(creds.get("access_token") or "")},
                params={"open_id": str(creds.get("open_id") or ""), "item_id": item_id, "comment_id": comment_id,
                        "cursor": cursor, "count": LIST_COUNT, "sort_type": "time"}),
                write=False, what="item/comment/reply/list")
            data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
            open_id = str(self._credentials(False).get("open_id") or "")
            for item in data.get("list") or []:
                if not isinstance(item, dict) or str(item.get("comment_user_id") or "") != open_id:
                    continue
                created = item.get("create_time")
                if isinstance(created, int) and datetime.fromtimestamp(created, tz=timezone.utc) < since:
                    continue
                if " ".join(str(item.get("content") or "").split()) == wanted and item.get("comment_id"):
                    found = item  # newest first: the last match is the oldest
            if not data.get("has_more"):
                break
            cursor = int(data.get("cursor") or 0)
        return None if found is None else self._result(str(found["comment_id"]), target, item_id, comment_id)

    def _authorised(self, build: Callable[[dict[str, Any]], httpx.Request], *, write: bool, what: str) -> dict[str, Any]:
        """One call with the listening token (read afresh once if Douyin refuses it)."""
        def call(creds: dict[str, Any]) -> dict[str, Any]:
            response = (send_write if write else send)(self._http, build(creds))
            if write and response.status_code == 200 and json_object(response) is None:
                raise DeliveryOutcomeUnknown(f"Douyin {what} answered 200 with an unreadable body", status=200)
            return douyin_answer(response, what, self._clock())

        return self._with_token(call)

    @staticmethod
    def _result(reply_id: str, target: ReplyTarget, item_id: str, comment_id: str) -> DeliveryResult:
        return DeliveryResult(platform_id=reply_id, url=target.ref.get("url") or None,
                              details={"item_id": item_id, "comment_id": comment_id})
