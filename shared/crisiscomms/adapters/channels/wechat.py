"""WeChat Official Account: draft, then free-publish, on `api.weixin.qq.com/cgi-bin`.

`draft/add` stores the article and returns a `media_id`; `freepublish/submit` starts a publish
task (`publish_id`); `freepublish/get` reports `publish_status` (0 published, 1 still publishing,
2+ failed). WeChat answers errors inside HTTP 200 as ``{"errcode": 40001, "errmsg": "..."}``.
The access token travels in the query string, so no URL ever goes into an exception message here.

The draft is not public, so it is made when the statement is approved (`prepare`) and deleted
with `draft/delete` if the approval is withdrawn (`discard`). Publishing is then one call,
`freepublish/submit`; without a usable prepared draft it adds the draft first. The delivery
counts as sent when WeChat accepts the task; `confirm` then polls `freepublish/get` for the
article (or the failure) without holding up the delivery.

Once `submit` has been sent the article may go out whatever happens next, so a lost submit
answer becomes DeliveryOutcomeUnknown (never a retryable error) and `find` settles it from
the published list.

Publishing by mass send (channel option `publish_mode: "mass_send"`; the default is
`"freepublish"`). `message/mass/sendall` with the draft's `media_id` and `is_to_all: true`
sends the article to every follower's chat and answers `msg_id` (the send task) and
`msg_data_id` (the article). The delivery's platform id is then the `msg_data_id`, which is what
`comment/list` needs to read the comments under the statement: the WeChat listening source can
watch it. `confirm` polls `message/mass/get` until the task is `SEND_SUCCESS`. The trade-off:
  * mass send notifies followers and its article's comments can be read by API, but it is
    rationed (a subscription account may mass-send to all once a day, a service account four
    times a month, shared with sends from the web console), WeChat may hold the send for review,
    and an account with "API mass-send protection" on waits up to 30 minutes for an
    administrator to confirm it on their phone;
  * free publishing has no quota and no confirmation, but notifies nobody (the article appears
    on the account's page only) and has no comment API at all.
When WeChat refuses the mass send for want of quota (45028) or of the permission (48001; only
verified accounts may mass-send), the same draft is free-published instead: a statement that
must go out goes out, unannounced and unwatched, and the delivery says so
(`mass_send_refused`). The bank's own `delivery_id` is sent as `clientmsgid`, WeChat's guard
against sending twice: a repeat answers 45065 with the earlier task's `msg_id`, which counts as
sent (its `msg_data_id` is not in that answer, so the article must then be added to the watch
configuration from the console's mass-send record). WeChat lists no past mass sends, so `find`
can only look in the free-published list; a lost sendall answer leaves the delivery UNKNOWN for a
person, for whom retrying is safe.
"""
from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn

import httpx

from crisiscomms.adapters.http import json_object, numeric_code, platform_error, redact, redact_url_tokens_in_logs
from crisiscomms.adapters.http import send, send_write
from crisiscomms.models.delivery import CONFIRM_PENDING, Channel, DeliveryRequest, DeliveryResult, PreparedItem
from crisiscomms.errors import (
    ConfigurationError,
    DeliveryOutcomeUnknown,
    PermanentPlatformError,
    PlatformError,
    TransientPlatformError,
)
from crisiscomms.observability import logger

DRAFT_ADD_PATH = "/cgi-bin/draft/add"
DRAFT_DELETE_PATH = "/cgi-bin/draft/delete"
SUBMIT_PATH = "/cgi-bin/freepublish/submit"
GET_PATH = "/cgi-bin/freepublish/get"
BATCHGET_PATH = "/cgi-bin/freepublish/batchget"
MASS_SEND_PATH = "/cgi-bin/message/mass/sendall"
MASS_GET_PATH = "/cgi-bin/message/mass/get"
PUBLISH_MODES = ("freepublish", "mass_send")
CLIENTMSGID_MAX = 64  # bytes
BATCHGET_MAX = 20  # the documented upper bound of `count`
# WeChat fills an empty digest with the first 54 characters of the article; we do the same
# explicitly so `find` knows what to match.
DIGEST_LENGTH = 54

SYSTEM_BUSY = -1
DAILY_QUOTA = 45009
MINUTE_QUOTA = 45011
TOKEN_CODES = frozenset({40001, 40014, 41001, 42001})
INVALID_MEDIA_ID = 40007  # no such draft (deleted, or already published)
NO_MASS_SEND_QUOTA = 45028
API_UNAUTHORIZED = 48001
CLIENTMSGID_EXISTS = 45065
MASS_SENT = "SEND_SUCCESS"
MASS_SENDING = "SENDING"
MASS_FAILURES = {"SEND_FAIL": "the mass send failed", "DELETE": "the mass-sent article was deleted"}
PUBLISHING = 1
PUBLISH_FAILURES = {
    2: "original-content declaration failed",
    3: "publishing failed",
    4: "rejected by platform review",
    5: "all articles deleted by the account after publishing",
    6: "all articles blocked by the platform after publishing",
}
# WeChat's daily API quota resets at midnight Beijing time.
BEIJING = timezone(timedelta(hours=8))
_TAG = re.compile(r"<[^>]*>")


def article_content(text: str) -> str:
    """The article HTML. crisiscomms.statements.render already gives WeChat escaped ``<p>``
    paragraphs, which go out unchanged; plain text from any other caller is escaped into
    paragraphs the same way, so statement text can never inject markup."""
    if text.lstrip().startswith("<p>"):
        return text
    lines = (line.strip() for line in text.replace("\r\n", "\n").split("\n"))
    return "".join(f"<p>{html.escape(line)}</p>" for line in lines if line)


def digest_for(content: str) -> str:
    """The first characters of the article's visible text (what WeChat itself would take)."""
    visible = html.unescape(_TAG.sub(" ", content))
    return " ".join(visible.split())[:DIGEST_LENGTH]


def _quota_reset(code: int, now: datetime) -> datetime:
    if code == MINUTE_QUOTA:
        return now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    local = now.astimezone(BEIJING)
    return (local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)).astimezone(timezone.utc)


class WeChatAdapter:
    """Publishes statements as single-article posts of the bank's Official Account."""

    channel: Channel = "wechat"

    def __init__(
        self,
        http: httpx.Client,
        *,
        access_token: str,
        thumb_media_id: str,
        author: str,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None] = time.sleep,
        poll_attempts: int = 5,  # per confirmation pass: 5 x 3 s stays well inside the Publisher's 30 s
        poll_interval: float = 3.0,
        open_comment: bool = False,
        search_depth: int = 40,
        publish_mode: str = "freepublish",
    ) -> None:
        if poll_attempts < 1:
            raise ValueError("poll_attempts must be at least 1")
        if publish_mode not in PUBLISH_MODES:
            raise ConfigurationError(f"wechat option publish_mode must be one of {PUBLISH_MODES}, not {publish_mode!r}")
        self._publish_mode = publish_mode
        self._http = http
        self._token = access_token
        self._thumb_media_id = thumb_media_id
        self._author = author
        self._clock = clock
        self._sleep = sleep
        self._poll_attempts = poll_attempts
        self._poll_interval = poll_interval
        self._open_comment = open_comment
        self._search_depth = search_depth
        redact_url_tokens_in_logs()  # every call carries the token in the query string

    def article(self, request: DeliveryRequest) -> dict[str, Any]:
        """The draft article for a delivery."""
        if not request.title:
            raise PermanentPlatformError("a WeChat article needs a title", code="missing_title")
        content = article_content(request.text)
        return {
            "title": request.title,
            "author": self._author,
            "digest": request.digest or digest_for(content),
            "content": content,
            "content_source_url": request.newsroom_url or "",
            "thumb_media_id": self._thumb_media_id,
            "need_open_comment": int(self._open_comment),
            "only_fans_can_comment": 0,
        }

    def prepare(self, request: DeliveryRequest) -> PreparedItem:
        """Add the article as a draft (not public); its `media_id` is what publishing submits."""
        return PreparedItem(channel="wechat", data={"media_id": self._draft(request)})

    def discard(self, prepared: PreparedItem) -> None:
        """Delete a prepared draft; one WeChat no longer has is already gone."""
        media_id = prepared.data.get("media_id")
        if not media_id:
            return
        try:
            self._call(DRAFT_DELETE_PATH, {"media_id": media_id}, write=False)
        except PermanentPlatformError as exc:
            if exc.code != str(INVALID_MEDIA_ID):
                raise

    def publish(self, request: DeliveryRequest, prepared: PreparedItem | None = None) -> DeliveryResult:
        """Submit the prepared draft (one call), or add the draft and submit it. Answers on acceptance
        of the publish task, with `confirm: pending`."""
        media_id = (prepared.data.get("media_id") if prepared else None) or ""
        if media_id:
            try:
                return self._send(request, media_id, prepared=True)
            except PermanentPlatformError as exc:
                if exc.code != str(INVALID_MEDIA_ID):
                    raise
                # The prepared draft is gone: WeChat refused the submit, so nothing went out.
        return self._send(request, self._draft(request), prepared=False)

    def _send(self, request: DeliveryRequest, media_id: str, *, prepared: bool) -> DeliveryResult:
        if self._publish_mode == "mass_send":
            return self._mass_send(request, media_id, prepared=prepared)
        return self._submit(media_id, prepared=prepared)

    def _mass_send(self, request: DeliveryRequest, media_id: str, *, prepared: bool) -> DeliveryResult:
        """Send the draft to every follower; free-publish it instead when the account may not mass-send now."""
        clientmsgid = request.delivery_id.encode()[:CLIENTMSGID_MAX].decode(errors="ignore")
        body = {"filter": {"is_to_all": True}, "mpnews": {"media_id": media_id}, "msgtype": "mpnews",
                "send_ignore_reprint": 0, "clientmsgid": clientmsgid}
        answer = self._call(MASS_SEND_PATH, body, write=True,
                            accept=frozenset({NO_MASS_SEND_QUOTA, API_UNAUTHORIZED, CLIENTMSGID_EXISTS}))
        code = numeric_code(answer.get("errcode", 0))
        details = {"publish_mode": "mass_send", "media_id": media_id, "confirm": CONFIRM_PENDING,
                   "draft": "prepared" if prepared else "added"}
        if code in (NO_MASS_SEND_QUOTA, API_UNAUTHORIZED):
            refusal = f"errcode {code}: {redact(str(answer.get('errmsg', '')), self._token, mask='[access_token]')[:120]}"
            logger.warning("WeChat refused the mass send; free-publishing the statement instead, followers are "
                           "not notified and its comments cannot be read", extra={"delivery_id": request.delivery_id,
                                                                                  "refusal": refusal})
            sent = self._submit(media_id, prepared=prepared)
            return DeliveryResult(sent.platform_id, sent.url, {**sent.details, "mass_send_refused": refusal})
        msg_id = str(answer.get("msg_id") or "")
        if not msg_id:
            raise DeliveryOutcomeUnknown("WeChat accepted the mass send but returned no msg_id", code="unknown")
        if code == CLIENTMSGID_EXISTS:
            logger.warning("this delivery was mass-sent before; add its msg_data_id from the mass-send record to the "
                           "watch configuration to read its comments", extra={"delivery_id": request.delivery_id,
                                                                              "msg_id": msg_id})
            return DeliveryResult(f"msg_id:{msg_id}", None, {**details, "msg_id": msg_id, "msg_data_id": "",
                                                             "sent_before": "true"})
        msg_data_id = str(answer.get("msg_data_id") or "")
        if not msg_data_id:
            raise DeliveryOutcomeUnknown(f"WeChat mass send task {msg_id} answered without a msg_data_id", code="unknown")
        return DeliveryResult(msg_data_id, None, {**details, "msg_id": msg_id, "msg_data_id": msg_data_id})

    def _draft(self, request: DeliveryRequest) -> str:
        # A lost draft/add answer leaves at most an unused draft, so plain `send` (retryable) is right.
        draft = self._call(DRAFT_ADD_PATH, {"articles": [self.article(request)]}, write=False)
        media_id = str(draft.get("media_id") or "")
        if not media_id:
            raise TransientPlatformError("WeChat draft/add answered without a media_id")
        return media_id

    def _submit(self, media_id: str, *, prepared: bool) -> DeliveryResult:
        submitted = self._call(SUBMIT_PATH, {"media_id": media_id}, write=True)
        publish_id = str(submitted.get("publish_id") or "")
        if not publish_id:
            raise DeliveryOutcomeUnknown("WeChat accepted the submit but returned no publish_id", code="unknown")
        return DeliveryResult(platform_id=publish_id, url=None, details={
            "publish_id": publish_id, "media_id": media_id, "confirm": CONFIRM_PENDING,
            "draft": "prepared" if prepared else "added"})

    def confirm(self, request: DeliveryRequest, sent: DeliveryResult) -> DeliveryResult | None:
        """The article of the publish task `sent` started, polling `freepublish/get` a bounded number
        of times; None while WeChat is still publishing. A failed task raises PermanentPlatformError
        with its meaning; failing to read the task's state raises DeliveryOutcomeUnknown."""
        if sent.details.get("publish_mode") == "mass_send":
            return self._confirm_mass_send(sent)
        publish_id = sent.details.get("publish_id") or sent.platform_id
        for attempt in range(self._poll_attempts):
            try:
                state = self._call(GET_PATH, {"publish_id": publish_id}, write=False)
            except PlatformError as exc:
                # Not being able to read the task's state says nothing about the article.
                raise DeliveryOutcomeUnknown(
                    f"WeChat publish task {publish_id} submitted, status unknown: {exc}", code="unknown"
                ) from exc
            status = state.get("publish_status")
            if status == 0:
                items = (state.get("article_detail") or {}).get("item") or []
                url = next((str(i["article_url"]) for i in items if isinstance(i, dict) and i.get("article_url")), None)
                return DeliveryResult(
                    platform_id=str(state.get("article_id")),
                    url=url,
                    details={"publish_id": publish_id, "media_id": sent.details.get("media_id", "")},
                )
            if status != PUBLISHING:
                meaning = PUBLISH_FAILURES.get(status, "unknown publish_status") if isinstance(status, int) else "missing"
                raise PermanentPlatformError(
                    f"WeChat publish task {publish_id} ended with publish_status {status} ({meaning}); "
                    f"failed articles: {state.get('fail_idx') or []}",
                    code=f"publish_status_{status}",
                )
            if attempt + 1 < self._poll_attempts:
                self._sleep(self._poll_interval)
        return None

    def _confirm_mass_send(self, sent: DeliveryResult) -> DeliveryResult | None:
        """The mass send task's outcome from `message/mass/get`, polled a bounded number of times."""
        msg_id = sent.details.get("msg_id", "")
        for attempt in range(self._poll_attempts):
            try:
                state = self._call(MASS_GET_PATH, {"msg_id": msg_id}, write=False)
            except PlatformError as exc:
                raise DeliveryOutcomeUnknown(f"WeChat mass send task {msg_id} sent, status unknown: {exc}",
                                             code="unknown") from exc
            status = str(state.get("msg_status") or "")
            if status == MASS_SENT:
                return DeliveryResult(platform_id=sent.platform_id, url=sent.url,
                                      details={k: v for k, v in sent.details.items() if k != "confirm"})
            if status != MASS_SENDING:
                raise PermanentPlatformError(
                    f"WeChat mass send task {msg_id} ended with msg_status {status or 'missing'} "
                    f"({MASS_FAILURES.get(status, 'unknown status')})", code=f"mass_status_{status or 'missing'}")
            if attempt + 1 < self._poll_attempts:
                self._sleep(self._poll_interval)
        return None

    def find(self, request: DeliveryRequest) -> DeliveryResult | None:
        """The most recent successfully published article with this delivery's title and digest,
        among the newest `search_depth`; None when it is not (or not yet) in the published list."""
        wanted = (request.title, request.digest or digest_for(article_content(request.text)))
        offset = 0
        while offset < self._search_depth:
            count = min(BATCHGET_MAX, self._search_depth - offset)
            page = self._call(BATCHGET_PATH, {"offset": offset, "count": count, "no_content": 1}, write=False)
            items = [i for i in page.get("item") or [] if isinstance(i, dict)]
            for item in items:
                for news in (item.get("content") or {}).get("news_item") or []:
                    if isinstance(news, dict) and (news.get("title"), news.get("digest")) == wanted and not news.get("is_deleted"):
                        return DeliveryResult(
                            platform_id=str(item.get("article_id")),
                            url=str(news["url"]) if news.get("url") else None,
                        )
            offset += len(items)
            if not items or offset >= int(page.get("total_count") or 0):
                break
        return None

    def _call(self, path: str, payload: dict[str, Any], *, write: bool,
              accept: frozenset[int] = frozenset()) -> dict[str, Any]:
        """POST JSON with the token in the query; return the body (also for the errcodes in `accept`)
        or raise the mapped error.

        The body is UTF-8 JSON with non-ASCII kept as is: WeChat stores ``\\uXXXX`` escapes
        literally, which would publish a title of escape codes.
        """
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        request = self._http.build_request(
            "POST",
            path,
            params={"access_token": self._token},
            content=body,
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        response = (send_write if write else send)(self._http, request)
        status, answer = response.status_code, json_object(response)
        if status != 200 or answer is None:
            if write and status == 200:
                raise DeliveryOutcomeUnknown(f"WeChat {path} answered 200 with an unreadable body", status=200)
            # Quota errors come as errcodes inside a 200; a bare HTTP failure is never a rate limit.
            raise platform_error(status, f"WeChat {path} answered HTTP {status}", rate_limited=False,
                                 resume_at=self._clock)
        code = answer.get("errcode", 0)
        if code not in (0, None) and numeric_code(code) not in accept:
            self._raise_errcode(path, answer)
        return answer

    def _raise_errcode(self, path: str, answer: dict[str, Any]) -> NoReturn:
        code = numeric_code(answer["errcode"])
        errmsg = redact(str(answer.get("errmsg", "")), self._token, mask="[access_token]")[:200]
        message = f"WeChat {path} errcode {answer['errcode']}: {errmsg}"
        if code in TOKEN_CODES:
            message += " (the access token must be refreshed)"
        raise platform_error(200, message, code=str(code), rate_limited=code in (DAILY_QUOTA, MINUTE_QUOTA),
                             transient=code == SYSTEM_BUSY, resume_at=lambda: _quota_reset(code, self._clock()))
