"""Replies on Reddit: a comment under the submission (`POST /api/comment`), as the bank's account.

The bank only listens on Reddit (it publishes no statements there), so replies use the listening
credentials, as Douyin's do: the secret's user `access_token`, which the Poller renews with the
`refresh_token` or `password` grant of the bank's account (scopes `submit` to comment, `history`
to find a comment again, `identity` when the secret names no `username`). The Publisher reads that
secret and never writes it: a token Reddit refuses is read again once (the Poller may have renewed
it meanwhile), and if it is still refused the reply is retried later. An application-only token
(`client_credentials`) can search but not comment: Reddit answers USER_REQUIRED, and the reply
fails with that reason.

The form is `api_type=json, thing_id=<t3_ or t1_ fullname>, text` (a submission, or a comment: the
answer goes in its thread); `text` is Markdown, so the approved
text is escaped (`markdown_text`) to show exactly as approved, line breaks kept. Reddit answers
HTTP 200 with ``{"json": {"errors": [[CODE, message, field], ...], "data": {"things": [{"kind": "t1",
"data": {...}}]}}}``; RATELIMIT carries ``json.ratelimit`` (seconds to wait). Reddit has no
idempotency key: a lost answer is found in the account's own comments
(`GET /user/{username}/comments`, newest first) as one under the same submission with this text.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from crisiscomms.adapters.http import json_object, send, send_write
from crisiscomms.adapters.replies.listening_account import ListeningAccountReplies
from crisiscomms.adapters.sources.reddit import WEB_HOST, raise_for
from crisiscomms.errors import DeliveryOutcomeUnknown, PermanentPlatformError, RateLimited, TransientPlatformError
from crisiscomms.models.delivery import DeliveryResult
from crisiscomms.models.inbox import ReplyTarget

COMMENT_PATH = "/api/comment"
ME_PATH = "/api/v1/me"
USER_COMMENTS_PATH = "/user/{username}/comments"
LIST_LIMIT = 100  # the documented maximum
LIST_PAGES = 3
USER_AGENT = "server:crisiscomms-replies:0.1"
DEFAULT_RATELIMIT = timedelta(minutes=1)

_INLINE_MARKS = re.compile(r"([\\`*_~^\[\]|])")
_LINE_MARKS = re.compile(r"^(\s*)([#>])", re.MULTILINE)


def markdown_text(text: str) -> str:
    """The approved text as Reddit Markdown that shows it as written: emphasis, links, tables and
    headings escaped, every line break a hard break (a single newline would join the lines)."""
    escaped = _LINE_MARKS.sub(r"\1\\\2", _INLINE_MARKS.sub(r"\\\1", text))
    return "  \n".join(escaped.splitlines())


def _thing_id(target: ReplyTarget) -> str:
    thing = target.native_id
    if not re.fullmatch(r"t[13]_[0-9a-z]+", thing):
        raise PermanentPlatformError(f"Reddit: {target.post_key} is not a submission or comment fullname",
                                     code="missing_reply_ref")
    return thing


def _comment_error(errors: list[Any], answer: dict[str, Any], now: datetime) -> Exception:
    """Reddit's `json.errors` (each ``[CODE, message, field]``) as the domain's error."""
    first = errors[0] if isinstance(errors[0], list) and errors[0] else [str(errors[0])]
    code = str(first[0])
    message = f"Reddit refused the comment: {code}: {str(first[1]) if len(first) > 1 else ''}"[:300]
    if code == "RATELIMIT":
        wait = answer.get("ratelimit")
        pause = timedelta(seconds=float(wait)) if isinstance(wait, (int, float)) and wait > 0 else DEFAULT_RATELIMIT
        return RateLimited(message, resume_at=now + pause, status=200)
    if code == "USER_REQUIRED":
        return PermanentPlatformError(f"{message} (the Reddit secret's token is application-only: authorise the "
                                      "bank's account with the submit scope)", status=200, code="user_required")
    return PermanentPlatformError(message, status=200, code=code.lower())


class RedditReplies(ListeningAccountReplies):
    """Replies as the bank's Reddit account (the listening secret's user token)."""

    platform = "reddit"
    platform_name = "Reddit"

    def reply(self, target: ReplyTarget, text: str, *, idempotency_key: str,
              language: str | None = None) -> DeliveryResult:
        thing = _thing_id(target)
        form = {"api_type": "json", "thing_id": thing, "text": markdown_text(text)}
        response = self._authorised(lambda headers: self._http.build_request(
            "POST", COMMENT_PATH, data=form, headers=headers), write=True)
        body = json_object(response)
        if body is None:
            raise DeliveryOutcomeUnknown("Reddit answered 200 to the comment with an unreadable body", status=200)
        answer = body.get("json") if isinstance(body.get("json"), dict) else {}
        errors = answer.get("errors")
        if isinstance(errors, list) and errors:
            raise _comment_error(errors, answer, self._clock())
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        things = data.get("things") if isinstance(data.get("things"), list) else []
        comment = things[0].get("data") if things and isinstance(things[0], dict) else None
        if not isinstance(comment, dict) or not comment.get("name"):
            raise DeliveryOutcomeUnknown("Reddit accepted the comment but returned no comment", status=200)
        return self._result(comment, thing)

    def find_reply(self, target: ReplyTarget, text: str, since: datetime, *,
                   idempotency_key: str | None = None, language: str | None = None) -> DeliveryResult | None:
        """The oldest comment of the bank's account under the submission with this text since `since`."""
        thing, wanted = _thing_id(target), markdown_text(text)
        username = self._username()
        after: str | None = None
        found = None
        for _ in range(LIST_PAGES):
            params = {"sort": "new", "limit": LIST_LIMIT, "raw_json": 1, **({"after": after} if after else {})}
            response = self._authorised(lambda headers: self._http.build_request(
                "GET", USER_COMMENTS_PATH.format(username=username), params=params, headers=headers), write=False)
            listing = (json_object(response) or {}).get("data")
            if not isinstance(listing, dict):
                raise TransientPlatformError("Reddit answered 200 without a Listing of comments", status=200)
            older = False
            for child in listing.get("children") or []:
                comment = child.get("data") if isinstance(child, dict) else None
                if not isinstance(comment, dict):
                    continue
                created = comment.get("created_utc")
                if isinstance(created, (int, float)) and datetime.fromtimestamp(created, tz=timezone.utc) < since:
                    older = True
                    continue
                if comment.get("parent_id") == thing and comment.get("body") == wanted and comment.get("name"):
                    found = comment  # newest first: the last match is the oldest
            after = listing.get("after") if isinstance(listing.get("after"), str) else None
            if older or not after:
                break
        return None if found is None else self._result(found, thing)

    def _username(self) -> str:
        name = str(self._credentials(False).get("username") or "")
        if name:
            return name
        response = self._authorised(lambda headers: self._http.build_request("GET", ME_PATH, headers=headers),
                                    write=False)
        name = str((json_object(response) or {}).get("name") or "")
        if not name:
            raise TransientPlatformError("Reddit answered /api/v1/me without the account's name", status=200)
        return name

    def _authorised(self, build: Callable[[dict[str, str]], httpx.Request], *, write: bool) -> httpx.Response:
        """One call with the listening token (read afresh once if Reddit refuses it)."""
        def call(creds: dict[str, Any]) -> httpx.Response:
            agent = f"{USER_AGENT} (by /u/{creds['username']})" if creds.get("username") else USER_AGENT
            request = build({"Authorization": f"Bearer {creds.get('access_token') or ''}", "User-Agent": agent})
            response = (send_write if write else send)(self._http, request)
            if response.status_code == 200:
                return response
            try:
                raise_for(response, self._clock(), what="Reddit")
            except PermanentPlatformError as exc:
                if exc.status == 403:
                    raise PermanentPlatformError(f"{exc} (the token lacks the scope: submit to comment, history to "
                                                 "read the account's comments)", status=403, code="scope") from exc
                raise

        return self._with_token(call)

    @staticmethod
    def _result(comment: dict[str, Any], thing: str) -> DeliveryResult:
        permalink = str(comment.get("permalink") or "")
        return DeliveryResult(platform_id=str(comment["name"]),
                              url=f"{WEB_HOST}{permalink}" if permalink.startswith("/") else None,
                              details={"thing_id": thing})
