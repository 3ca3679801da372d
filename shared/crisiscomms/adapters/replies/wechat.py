"""Replies on WeChat: `comment/reply/add` under a comment on one of the bank's mass-sent articles.

Only mass-sent articles have comments an API can reach: `comment/reply/add` takes the
`msg_data_id` of the mass send, the article's `index` and the comment's `user_comment_id`
(the listening adapter stores all three in `reply_ref`). A free-published article has no
`msg_data_id`, so its readers cannot be answered by API (WeChat answers 88001 "msg_data is not
exists"). A comment takes one reply from the account (88005 "already reply" on a second).

The call answers only `errcode`; there is no reply id. A reply is identified by the comment it
answers (`<msg_data_id>_<index>_<user_comment_id>`), and a lost answer is settled by reading the
article's comments (`comment/list`) for that comment's `reply`: the account's text there means it
was sent; an empty reply means it was not. A retry that WeChat refuses as "already reply" is
settled the same way. Calls, the token in the query and errcode mapping are the publishing
adapter's.
"""
from __future__ import annotations

from datetime import datetime

from crisiscomms.adapters.channels.wechat import WeChatAdapter
from crisiscomms.errors import PermanentPlatformError
from crisiscomms.models.delivery import DeliveryResult
from crisiscomms.models.inbox import ReplyTarget

REPLY_ADD_PATH = "/cgi-bin/comment/reply/add"
COMMENT_LIST_PATH = "/cgi-bin/comment/list"
ALREADY_REPLIED = 88005
NO_SUCH_ARTICLE = 88001
COMMENT_PAGE = 49  # comment/list refuses a count of 50 or more
MAX_PAGES = 20


def _ids(target: ReplyTarget) -> tuple[int, int, int]:
    ref = target.ref
    parts = target.native_id.split("_")
    values = (ref.get("msg_data_id") or (parts[0] if len(parts) == 3 else ""),
              ref.get("index") or (parts[1] if len(parts) == 3 else "0"),
              ref.get("user_comment_id") or (parts[2] if len(parts) == 3 else ""))
    if not all(str(v).isdigit() for v in values):
        raise PermanentPlatformError(
            f"WeChat: {target.post_key} is not a comment under a mass-sent article (msg_data_id, index and "
            "user_comment_id are needed; free-published articles cannot be answered)", code="missing_reply_ref")
    return int(values[0]), int(values[1]), int(values[2])


class WeChatReplies(WeChatAdapter):
    """Replies as the bank's Official Account (the publishing channel's token)."""

    platform = "wechat"

    def reply(self, target: ReplyTarget, text: str, *, idempotency_key: str,
              language: str | None = None) -> DeliveryResult:
        msg_data_id, index, comment_id = _ids(target)
        body = {"msg_data_id": msg_data_id, "index": index, "user_comment_id": comment_id, "content": text}
        try:
            self._call(REPLY_ADD_PATH, body, write=True)
        except PermanentPlatformError as exc:
            if exc.code == str(ALREADY_REPLIED) and (found := self.find_reply(target, text, datetime.min)) is not None:
                return found
            if exc.code == str(NO_SUCH_ARTICLE):
                raise PermanentPlatformError(f"{exc} (only comments under mass-sent articles can be answered)",
                                             status=exc.status, code=exc.code) from exc
            raise
        return self._result(target, msg_data_id, index, comment_id)

    def find_reply(self, target: ReplyTarget, text: str, since: datetime, *,
                   idempotency_key: str | None = None, language: str | None = None) -> DeliveryResult | None:
        """The account's reply under the comment, if it is this text; None when the comment has none."""
        msg_data_id, index, comment_id = _ids(target)
        begin = 0
        for _ in range(MAX_PAGES):
            page = self._call(COMMENT_LIST_PATH, {"msg_data_id": msg_data_id, "index": index, "begin": begin,
                                                  "count": COMMENT_PAGE, "type": 0}, write=False)
            comments = [c for c in page.get("comment") or [] if isinstance(c, dict)]
            for comment in comments:
                if str(comment.get("user_comment_id")) != str(comment_id):
                    continue
                reply = comment.get("reply") if isinstance(comment.get("reply"), dict) else {}
                content = str(reply.get("content") or "")
                if not content:
                    return None
                if " ".join(content.split()) != " ".join(text.split()):
                    raise PermanentPlatformError(
                        "WeChat: the comment already has a different reply from the account (one reply per comment)",
                        code=str(ALREADY_REPLIED))
                return self._result(target, msg_data_id, index, comment_id, found="comment_list")
            begin += len(comments)
            if not comments or begin >= int(page.get("total") or 0):
                break
        return None

    @staticmethod
    def _result(target: ReplyTarget, msg_data_id: int, index: int, comment_id: int, **details: str) -> DeliveryResult:
        return DeliveryResult(platform_id=f"{msg_data_id}_{index}_{comment_id}", url=target.ref.get("url") or None,
                              details={"msg_data_id": str(msg_data_id), "index": str(index),
                                       "user_comment_id": str(comment_id), **details})
