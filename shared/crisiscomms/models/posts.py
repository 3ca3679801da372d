"""Domain models shared by the functions: what a post is once a platform adapter has parsed it."""
from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

Platform = Literal["x", "news", "weibo", "mastodon", "bluesky", "reddit", "wechat", "douyin"]
SourceType = Literal["social", "news"]

# What one post may carry, so that its item, its topic links and its conversation always fit DynamoDB's
# 400 KB an item however a platform or a feed fills its fields (40,000 characters of text are at most 160 KB
# in UTF-8; Reddit's self text, the longest any source here documents, fits whole). Free text past its bound
# is cut and its length as read kept in `Post.truncated`; an identifier, link or count past its bound makes
# the item malformed (skipped, counted and logged by its adapter): a cut one would point at something else.
CUT_CHARS = {"text": 40_000, "title": 2_000, "author": 500, "location": 500}
URL_CHARS = 8_192  # longer than servers accept in a request line, so no working link
ID_CHARS = 512
MAX_COUNT = 10**15  # far above any real audience or engagement; DynamoDB numbers hold 38 digits, sums included
_SURROGATE = re.compile("[\ud800-\udfff]")
_Id = Annotated[str, StringConstraints(max_length=ID_CHARS)]
_Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]


def valid_text(value: str) -> str:
    """`value` as text DynamoDB stores: a lone UTF-16 surrogate (a platform's JSON escape for half an emoji,
    where the platform cut its own text) becomes U+FFFD, as a UTF-8 decoder reads a broken sequence."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", value)
    return value


class Post(BaseModel):
    """A post or article as a platform published it, before scoring."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    platform: Platform
    native_id: str = Field(min_length=1, max_length=256)
    source_type: SourceType
    source_id: _Id
    url: str = Field(max_length=URL_CHARS)
    author: str
    author_id: _Id | None = None
    followers: _Count = 0
    title: str | None = None
    text: str
    lang_hint: _Id | None = None
    published_at: datetime
    likes: _Count = 0
    reposts: _Count = 0
    replies: _Count = 0
    quotes: _Count = 0
    location: str | None = None  # as the platform gave it: a profile's free text, a place name
    location_country: _Id | None = None  # the ISO country code the platform gave with the place (X places)
    to_bank: bool = False  # addresses the bank: mentions it, replies under or comments on its own post
    # What the platform's reply API needs besides native_id (Weibo's status id for a comment,
    # WeChat's msg_data_id/index/user_comment_id, Douyin's item_id, Bluesky's root/parent refs).
    reply_ref: dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], _Id] | None = Field(
        default=None, max_length=16)
    # a free-text field cut to its bound (CUT_CHARS): its length as read, in characters
    truncated: dict[str, int] | None = None

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        """Free text made valid and cut to its bound, the length as read kept (see CUT_CHARS)."""
        if type(data) is not dict:
            return data
        changed: dict[str, Any] | None = None
        for name, limit in CUT_CHARS.items():
            value = data.get(name)
            if value.__class__ is not str:
                continue
            if len(value) <= limit:  # the common case, inline: valid text within its bound
                if value.isascii():
                    continue
                try:
                    value.encode("utf-8")
                    continue
                except UnicodeEncodeError:
                    pass
            changed = {} if changed is None else changed
            text = valid_text(value)
            if len(text) > limit:
                changed.setdefault("truncated", dict(data.get("truncated") or {}))[name] = len(text)
                text = text[:limit]
            changed[name] = text
        return data if changed is None else {**data, **changed}

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
        """Title and text, each once: a headline-only news item carries its headline as its text too (an
        item's text is never empty), and read twice it would weigh twice in its score."""
        return f"{self.title}\n{self.text}" if self.title and self.text != self.title else self.title or self.text


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
    # a post the bank's own account wrote (a statement heard back by search) lists the topics it names here
    # instead: kept for the record, counted nowhere (it is the bank speaking, not the public reacting)
    own_topics: tuple[str, ...] = ()
    # crisis terms from an account over the early-warning bar whose engagement came fast (watch.EarlyWarning)
    early_warning: bool = False
    country: str | None = None  # ISO 3166-1 alpha-2 of the post's place (crisiscomms.places), None when unknown
    region: str | None = None  # ISO 3166-2 of its mainland Chinese province-level division, when known
    # a crisis post's narrative group (crisiscomms.scoring.narratives.narrative_group): a catalogue id, or
    # `other:<term>` beyond the catalogue; None for a post that is not crisis
    narrative: str | None = None
    # it would open a conversation: stored with its inbox step marked due, in the same transaction, until the
    # step is done (crisiscomms.aws.post_store INBOX_DUE), so a run stopped between the two leaves a trace
    inbox_due: bool = False


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
