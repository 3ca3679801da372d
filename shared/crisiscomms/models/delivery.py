"""The contract every channel adapter keeps.

A delivery is one statement version going to one channel. Its `delivery_id` is stable across
retries and is what each adapter turns into the platform's own idempotency mechanism
(Idempotency-Key, a record key, a webhook id), so a retry can never create a second post.

Some channels let part of the work happen before anything is public (a WeChat draft, the
newsroom page at a key nothing links to). Their adapters also keep `PreparingAdapter`: the
Publisher prepares when the statement is approved, so that publishing is one call, and
discards what it prepared when the approval is withdrawn. Adapters whose publish call only
starts the work (WeChat's publish task) or leaves something to follow (the newsroom feed)
also keep `ConfirmingAdapter`: the delivery is recorded SENT on the platform's acceptance
and confirmed afterwards.

A reply is one approved answer going to one person where they spoke (a comment, a mention, a
post addressed to the bank). Its adapter keeps `ReplyAdapter`: `reply` answers the post or
comment a `ReplyTarget` names (with the ids its platform's reply API needs, from
`Post.reply_ref`), turning the reply's idempotency key into the platform's own guard where it
has one; `find_reply` looks for a reply whose answer was lost (None where the platform cannot be
asked). The platforms and what each can answer are in `crisiscomms.adapters.replies`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from crisiscomms.errors import DeliveryOutcomeUnknown
from crisiscomms.models.inbox import ReplyTarget

__all__ = ["CHANNELS", "CONFIRM_PENDING", "REPLY_PLATFORMS", "Channel", "ChannelAdapter", "ConfirmingAdapter",
           "DeliveryOutcomeUnknown", "DeliveryRequest", "DeliveryResult", "PreparedItem", "PreparingAdapter",
           "ReplyAdapter", "ReplyPlatform", "ReplySettings", "ReplyTarget"]

Channel = Literal["newsroom", "x", "weibo", "wechat", "mastodon", "bluesky", "telegram", "webhook"]
CHANNELS: tuple[Channel, ...] = ("newsroom", "x", "weibo", "wechat", "mastodon", "bluesky", "telegram", "webhook")
# Where the bank can answer people in place (crisiscomms.adapters.replies has what each one allows).
ReplyPlatform = Literal["x", "weibo", "wechat", "douyin", "mastodon", "bluesky", "reddit"]
REPLY_PLATFORMS: tuple[ReplyPlatform, ...] = ("x", "weibo", "wechat", "douyin", "mastodon", "bluesky", "reddit")

# `DeliveryResult.details["confirm"]` when the platform accepted the post and `confirm` must follow.
CONFIRM_PENDING = "pending"


@dataclass(frozen=True)
class DeliveryRequest:
    delivery_id: str                 # stable across retries; the idempotency key
    statement_id: str
    version: int
    channel: Channel
    language: str                    # "zh", "zh-Hant" or "en" (crisiscomms.models.languages)
    text: str                        # exactly the approved rendering for this channel
    title: str | None = None         # newsroom page / WeChat article title
    digest: str | None = None        # WeChat article digest, as approved
    newsroom_url: str | None = None  # the authoritative copy the short forms link to
    reply_to: str | None = None      # platform id of the post a correction answers
    kind: Literal["statement", "correction", "update", "qa"] = "statement"
    revision: int = 0                # kind "qa": the entry's correction count; the Q&A page keeps the highest


@dataclass(frozen=True)
class DeliveryResult:
    platform_id: str
    url: str | None = None
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PreparedItem:
    """What a channel holds, not public, for one delivery of an approved version (e.g. a draft's media_id)."""

    channel: Channel
    data: dict[str, str]


class ChannelAdapter(Protocol):
    channel: Channel

    def publish(self, request: DeliveryRequest) -> DeliveryResult:
        """Post once. Raises TransientPlatformError (safe to retry), RateLimited, PermanentPlatformError,
        or DeliveryOutcomeUnknown."""

    def find(self, request: DeliveryRequest) -> DeliveryResult | None:
        """The post this delivery created, if the platform lets us look it up; None when it cannot tell.
        An adapter whose platform cannot be asked at all says so with a class attribute
        `findable = False`, so a lost answer is not looked for again (see the Publisher)."""


@runtime_checkable
class PreparingAdapter(Protocol):
    channel: Channel

    def prepare(self, request: DeliveryRequest) -> PreparedItem:
        """Do what can be done without anything going public. Raises PlatformError like publish;
        a prepared item is never public, so repeating this after any error is safe."""

    def discard(self, prepared: PreparedItem) -> None:
        """Remove a prepared item; one that is already gone is not an error."""

    def publish(self, request: DeliveryRequest, prepared: PreparedItem | None = None) -> DeliveryResult:
        """Post once, using `prepared` when given and still usable, else doing the whole work."""


@runtime_checkable
class ConfirmingAdapter(Protocol):
    channel: Channel

    def confirm(self, request: DeliveryRequest, sent: DeliveryResult) -> DeliveryResult | None:
        """After the platform accepted the post (its result says `confirm: pending`): the final result,
        or None while the platform is still working on it. Raises PermanentPlatformError when the
        post failed after all, other PlatformErrors when the platform could not be asked."""


@runtime_checkable
class ReplyAdapter(Protocol):
    """Answers one person where they spoke, as the bank's official account on that platform."""

    platform: str

    def reply(self, target: ReplyTarget, text: str, *, idempotency_key: str,
              language: str | None = None) -> DeliveryResult:
        """Send `text` (exactly the approved text) as a reply to `target`, once. `idempotency_key` is
        stable across retries of the same reply (the reply id and its generation) and becomes the
        platform's own guard where it has one. Raises TransientPlatformError, RateLimited,
        PermanentPlatformError (the platform refused: its reason is the message) or
        DeliveryOutcomeUnknown (sent, no answer)."""

    def find_reply(self, target: ReplyTarget, text: str, since: datetime, *,
                   idempotency_key: str | None = None, language: str | None = None) -> DeliveryResult | None:
        """The reply with this text the account made to `target` at or after `since`, if the platform
        lets us look; None when there is none or the platform cannot be asked."""


class ReplySettings(BaseModel):
    """One platform's replies in the channels configuration (`replies: {platform: ...}`).

    Pacing is a token bucket per platform: at most `per_minute` replies a minute on average, with
    bursts of `burst`; unset values take the defaults of the capability table
    (crisiscomms.adapters.replies), which name their sources. `base_url` is for a platform the
    bank does not publish statements on (Douyin), whose API host is not a channel's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_minute: float | None = Field(default=None, gt=0, le=600)
    burst: int | None = Field(default=None, ge=1, le=100)
    base_url: HttpUrl | None = None
