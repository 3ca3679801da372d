"""The contract every channel adapter keeps.

A delivery is one statement version going to one channel. Its `delivery_id` is stable across
retries and is what each adapter turns into the platform's own idempotency mechanism
(Idempotency-Key, a record key, a webhook id), so a retry can never create a second post.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from crisiscomms.errors import DeliveryOutcomeUnknown

__all__ = ["CHANNELS", "Channel", "ChannelAdapter", "DeliveryOutcomeUnknown", "DeliveryRequest", "DeliveryResult"]

Channel = Literal["newsroom", "x", "weibo", "wechat", "mastodon", "bluesky", "telegram", "webhook"]
CHANNELS: tuple[Channel, ...] = ("newsroom", "x", "weibo", "wechat", "mastodon", "bluesky", "telegram", "webhook")


@dataclass(frozen=True)
class DeliveryRequest:
    delivery_id: str                 # stable across retries; the idempotency key
    statement_id: str
    version: int
    channel: Channel
    language: str                    # "zh" or "en"
    text: str                        # exactly the approved rendering for this channel
    title: str | None = None         # newsroom page / WeChat article title
    digest: str | None = None        # WeChat article digest, as approved
    newsroom_url: str | None = None  # the authoritative copy the short forms link to
    reply_to: str | None = None      # platform id of the post a correction answers
    kind: Literal["statement", "correction", "update"] = "statement"


@dataclass(frozen=True)
class DeliveryResult:
    platform_id: str
    url: str | None = None
    details: dict[str, str] = field(default_factory=dict)


class ChannelAdapter(Protocol):
    channel: Channel

    def publish(self, request: DeliveryRequest) -> DeliveryResult:
        """Post once. Raises TransientPlatformError (safe to retry), RateLimited, PermanentPlatformError,
        or DeliveryOutcomeUnknown."""

    def find(self, request: DeliveryRequest) -> DeliveryResult | None:
        """The post this delivery created, if the platform lets us look it up; None when it cannot tell."""
