"""Replies on X: `POST /2/tweets` with `reply.in_reply_to_tweet_id`, through the publishing adapter.

Since 2026-02-23 X accepts a programmatic reply only when the author of the post replied to has
"summoned" the replying account: @mentioned it, or quoted one of its posts (a reply under the
bank's own post mentions it). Other replies are refused with 403 "Reply to this conversation is
not allowed because you have not been mentioned or otherwise engaged by the author of the post
you are replying to." on every self-serve tier (Free, Basic, Pro, Pay-Per-Use); Enterprise is
not affected (docs.x.com changelog; @XDevelopers). The adapter does not guess beforehand: it
sends, and X's refusal becomes a PermanentPlatformError with code `reply_not_allowed` and X's
message, so the reply is FAILED with that reason and the inbox offers the alternatives the
capability table names (a quote post, which X may refuse likewise, or a public statement; a
person replying by hand in the X app is not restricted).

X has no idempotency key: a lost answer is found on the account's own timeline (a reply to the
same post with the same text), and a repeat that X refuses as duplicate content is resolved
the same way by the publishing adapter.
"""
from __future__ import annotations

from datetime import datetime

from crisiscomms.adapters.channels.x import XAdapter
from crisiscomms.errors import PermanentPlatformError
from crisiscomms.models.delivery import DeliveryRequest, DeliveryResult
from crisiscomms.models.inbox import ReplyTarget

# The phrase of X's refusal of an uninvited reply (403).
NOT_SUMMONED_MARKER = "reply to this conversation is not allowed"


def _request(target: ReplyTarget, text: str, key: str, language: str | None) -> DeliveryRequest:
    return DeliveryRequest(delivery_id=key, statement_id="", version=0, channel="x", language=language or "",
                           text=text, reply_to=target.native_id)


class XReplies(XAdapter):
    """Replies as the bank's X account (the publishing channel's account and token)."""

    platform = "x"

    def reply(self, target: ReplyTarget, text: str, *, idempotency_key: str,
              language: str | None = None) -> DeliveryResult:
        try:
            return self.publish(_request(target, text, idempotency_key, language))
        except PermanentPlatformError as exc:
            if exc.status == 403 and NOT_SUMMONED_MARKER in str(exc).lower():
                raise PermanentPlatformError(
                    f"{exc} (X accepts API replies only to posts that mention or quote the bank's account; "
                    "offer a quote post or a public statement instead)", status=403, code="reply_not_allowed") from exc
            raise

    def find_reply(self, target: ReplyTarget, text: str, since: datetime, *,
                   idempotency_key: str | None = None, language: str | None = None) -> DeliveryResult | None:
        return self.find(_request(target, text, idempotency_key or "", None))
