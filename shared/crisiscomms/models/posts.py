"""Domain models shared by the functions: what a post is once a platform adapter has parsed it."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Platform = Literal["x", "news", "weibo", "mastodon", "bluesky", "reddit", "wechat", "douyin"]
SourceType = Literal["social", "news"]


class Post(BaseModel):
    """A post or article as a platform published it, before scoring."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    platform: Platform
    native_id: str = Field(min_length=1, max_length=256)
    source_type: SourceType
    source_id: str
    url: str
    author: str
    author_id: str | None = None
    followers: int = Field(default=0, ge=0)
    title: str | None = None
    text: str
    lang_hint: str | None = None
    published_at: datetime
    likes: int = Field(default=0, ge=0)
    reposts: int = Field(default=0, ge=0)
    replies: int = Field(default=0, ge=0)
    quotes: int = Field(default=0, ge=0)
    location: str | None = None  # as the platform gave it: a profile's free text, a place name
    location_country: str | None = None  # the ISO country code the platform gave with the place (X places)
    to_bank: bool = False  # addresses the bank: mentions it, replies under or comments on its own post
    # What the platform's reply API needs besides native_id (Weibo's status id for a comment,
    # WeChat's msg_data_id/index/user_comment_id, Douyin's item_id, Bluesky's root/parent refs).
    reply_ref: dict[str, str] | None = None

    @field_validator("published_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("published_at must carry a timezone")
        return value.astimezone(timezone.utc)

    @property
    def key(self) -> str:
        """Identity across polls: a platform's own id never changes, so neither does this."""
        return f"{self.platform}#{self.native_id}"

    @property
    def engagement(self) -> int:
        return self.likes + self.reposts + self.replies + self.quotes

    @property
    def full_text(self) -> str:
        return f"{self.title}\n{self.text}" if self.title else self.text


class ScoredPost(BaseModel):
    """A post with its score and the topics it belongs to: what gets stored."""

    model_config = ConfigDict(frozen=True)

    post: Post
    topics: tuple[str, ...]
    language: str
    sentiment: float  # polarity for reputation (crisiscomms.scoring.reputation), -1..1
    sentiment_label: str
    crisis_terms: tuple[str, ...]
    crisis_categories: tuple[str, ...]
    crisis_weight: float
    is_crisis: bool
    risk: int
    ingested_at: datetime
    high_reach_negative: bool = False  # negative, from an author at or over the watch's high-reach bar
    # the author's tone (the lexicon's, or Comprehend's), kept beside the polarity the figures count
    tone: float = 0.0
    tone_label: str = "neutral"
    # `topics` holds the topics the post is about; a post found for a topic only through its ambiguous
    # names and judged not about it (crisiscomms.listening.relatedness) lists that topic here instead,
    # counted nowhere; `related` is False when no topic is left
    related: bool = True
    unrelated_topics: tuple[str, ...] = ()
    # crisis terms from an account over the early-warning bar whose engagement came fast (watch.EarlyWarning)
    early_warning: bool = False
    country: str | None = None  # ISO 3166-1 alpha-2 of the post's place (crisiscomms.places), None when unknown
    region: str | None = None  # ISO 3166-2 of its mainland Chinese province-level division, when known
    # a crisis post's narrative group (crisiscomms.scoring.narratives.narrative_group): a catalogue id, or
    # `other:<term>` beyond the catalogue; None for a post that is not crisis
    narrative: str | None = None


def stable_id(*parts: str, length: int = 32) -> str:
    """A short deterministic id for items whose platform id is long or free-form (feed guids)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:length]


def hour_key(when: datetime) -> str:
    """The per-hour figures' key of `when`: naive UTC, to the hour (a naive input is taken as UTC)."""
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H")


def minute_key(when: datetime) -> str:
    """The per-minute aggregate key of `when`: naive UTC, to the minute (a naive input is taken as UTC)."""
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M")


# The place code the figures count a post under when it has neither region nor country; here rather
# than in crisiscomms.places, so that the store and the Detector do not import the places' tables.
UNKNOWN_PLACE = "unknown"

# How far (in minutes, either way) a post's published minute may lie from the minute it was stored
# for the store to carry it to the Detector as a change (crisiscomms.aws.post_store, "arrivals");
# the Detector's recent window may be no longer (crisiscomms.watch.Thresholds.recent_minutes).
CARRIED_LATENESS_MINUTES = 60
