"""Replies on Weibo: a comment on a status, or a reply to a comment, through the publishing adapter's errors.

* A comment (the listening adapter stores its status id as `reply_ref["id"]` and its own id as
  `reply_ref["cid"]`) is answered with `POST /2/comments/reply.json` (`cid`, `id`, `comment`,
  `without_mention=1`, so the text is exactly the approved one; Weibo notifies the commenter anyway).
* A status (a mention, or a post found by search: `reply_ref["id"]` only) is answered with a comment
  on it, `POST /2/comments/create.json` (`id`, `comment`).

A comment holds 140 Chinese characters (20012 beyond). Weibo has no idempotency key; a lost answer
is found among the comments the account sent (`GET /2/comments/by_me.json`, newest first) by its
status, the comment it answers and its text, and "repeat content" (20019) on a retry is resolved
the same way. Errors come in Weibo's envelope and are mapped by the publishing adapter: 20101
(the status is gone) and 20201 (the comment is gone) are refusals with Weibo's message.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from crisiscomms.adapters.channels.weibo import REPEATED_CODES, WeiboAdapter, comparable_text
from crisiscomms.adapters.http import json_object, send, send_write
from crisiscomms.adapters.sources.weibo import parse_created_at
from crisiscomms.errors import DeliveryOutcomeUnknown, PermanentPlatformError
from crisiscomms.models.delivery import DeliveryResult
from crisiscomms.models.inbox import ReplyTarget

COMMENTS_CREATE_PATH = "/2/comments/create.json"
COMMENTS_REPLY_PATH = "/2/comments/reply.json"
COMMENTS_BY_ME_PATH = "/2/comments/by_me.json"
BY_ME_COUNT = 50
BY_ME_PAGES = 4


def _ids(target: ReplyTarget) -> tuple[str, str | None]:
    """(status id, comment id or None) of what is answered."""
    status_id = target.ref.get("id") or (None if target.ref.get("cid") else target.native_id)
    if not status_id or not str(status_id).isdigit():
        raise PermanentPlatformError(f"Weibo: the post to answer has no status id ({target.post_key})",
                                     code="missing_reply_ref")
    cid = target.ref.get("cid")
    return str(status_id), str(cid) if cid else None


class WeiboReplies(WeiboAdapter):
    """Comments as the bank's Weibo account (the publishing channel's token)."""

    platform = "weibo"

    def reply(self, target: ReplyTarget, text: str, *, idempotency_key: str,
              language: str | None = None) -> DeliveryResult:
        status_id, cid = _ids(target)
        form = {"access_token": self._token, "id": status_id, "comment": text}
        if cid:
            form.update(cid=cid, without_mention="1")
        if self._rip:
            form["rip"] = self._rip
        path = COMMENTS_REPLY_PATH if cid else COMMENTS_CREATE_PATH
        response = send_write(self._http, self._http.build_request("POST", path, data=form))
        body = json_object(response)
        if response.status_code == 200 and (body is None or "error_code" not in body):
            if body is None or not (body.get("idstr") or body.get("id")):
                raise DeliveryOutcomeUnknown("Weibo answered 200 without a readable comment", status=200)
            return self._comment_result(body, status_id)
        try:
            self._raise_for_error(response)
        except PermanentPlatformError as exc:
            if exc.code in REPEATED_CODES:
                found = self.find_reply(target, text, datetime.min.replace(tzinfo=timezone.utc))
                if found is not None:
                    return found
            raise

    def find_reply(self, target: ReplyTarget, text: str, since: datetime, *,
                   idempotency_key: str | None = None, language: str | None = None) -> DeliveryResult | None:
        """The oldest comment the account sent on this status (in answer to this comment) with this
        text since `since`, among its newest BY_ME_COUNT x BY_ME_PAGES; None when there is none."""
        status_id, cid = _ids(target)
        wanted = comparable_text(text)
        found: dict[str, Any] | None = None
        for page in range(1, BY_ME_PAGES + 1):
            params = {"access_token": self._token, "count": BY_ME_COUNT, "page": page}
            response = send(self._http, self._http.build_request("GET", COMMENTS_BY_ME_PATH, params=params))
            body = json_object(response)
            if response.status_code != 200 or body is None or "error_code" in body:
                self._raise_for_error(response)
            comments = [c for c in body.get("comments") or [] if isinstance(c, dict)]
            older = False
            for comment in comments:
                try:
                    created = parse_created_at(comment.get("created_at"))
                except (TypeError, ValueError):
                    continue
                if created < since:
                    older = True
                    continue
                status = comment.get("status") if isinstance(comment.get("status"), dict) else {}
                answered = comment.get("reply_comment") if isinstance(comment.get("reply_comment"), dict) else {}
                if str(status.get("idstr") or status.get("id") or "") != status_id:
                    continue
                if (str(answered.get("idstr") or answered.get("id") or "") or None) != cid:
                    continue
                if comparable_text(str(comment.get("text", ""))) == wanted:
                    found = comment  # newest first: the last match is the oldest
            if older or len(comments) < BY_ME_COUNT:
                break
        return None if found is None else self._comment_result(found, status_id)

    def _comment_result(self, comment: dict[str, Any], status_id: str) -> DeliveryResult:
        comment_id = str(comment.get("idstr") or comment.get("id"))
        status = comment.get("status") if isinstance(comment.get("status"), dict) else {}
        owner = status.get("user") if isinstance(status.get("user"), dict) else {}
        owner_id = str(owner.get("idstr") or owner.get("id") or "")
        mid = str(status.get("mid") or status_id)
        url = f"https://weibo.com/{owner_id}/{mid}" if owner_id else f"https://weibo.com/detail/{status_id}"
        return DeliveryResult(platform_id=comment_id, url=url, details={"status_id": status_id})
