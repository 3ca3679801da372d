"""The measured effect of a published statement or a reply wave, as the Reviewer stores it.

Shared by the Reviewer (which writes it), the desk API (which shows it) and the post-crisis report
(which prints it). A measurement compares two windows of equal length, one before publication and
one after, per topic: what the public said (`SocialFigures`, from the topic's stored minute
aggregates and the inbox's rumour conversations), what the press wrote (`NewsTone`, apart), and how
people engaged with the bank's own posts, per channel (`Engagement`, read back from each channel, or
"unavailable" with the reason). The written rules (crisiscomms.review.recommend) turn it into a
`Recommendation`.

A subject is measured twice: `after` when the after-window closes, `plus2h` at the second look.
"""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Stage = Literal["after", "plus2h"]
STAGES: tuple[Stage, ...] = ("after", "plus2h")
SubjectKind = Literal["statement", "reply_wave"]
RecommendationCode = Literal["revise", "brief_media", "more_interaction", "keep_cadence", "none"]
# The written rules in the order they are tried (the first that matches wins); "none" when none does.
RULE_ORDER: tuple[RecommendationCode, ...] = ("revise", "brief_media", "more_interaction", "keep_cadence")
TopicsBasis = Literal["given", "above_normal", "every_watched"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Window(_Record):
    """[start, end) in UTC, whole minutes."""

    start: datetime
    end: datetime


class SocialFigures(_Record):
    """A topic's social posts in one window. Shares and polarity are None when the window has no post."""

    volume: int = 0
    negative: int = 0
    negative_share: float | None = None
    net_polarity: float | None = Field(default=None, description="mean sentiment, -1 (hostile) .. 1")
    crisis_hits: int = Field(default=0, description="posts in which the scorer found bank-crisis terms")
    rumour_posts: int = Field(default=0, description="rumour conversations the inbox opened for the topic")


class NewsTone(_Record):
    """A topic's news items in one window, measured apart from social posts."""

    items: int = 0
    negative: int = 0
    negative_share: float | None = None
    net_polarity: float | None = None


class Engagement(_Record):
    """How people engaged with the bank's posts on one channel: cumulative counts read back for the
    delivered ids when measured, or `unavailable` with the reason (no API, next-day statistics, the
    platform failed or did not know the ids)."""

    state: Literal["available", "unavailable"]
    likes: int | None = None
    reposts: int | None = None
    replies: int | None = None
    posts: int = Field(default=0, description="the bank's posts counted")
    reason: str | None = None

    @property
    def total(self) -> int:
        return int(self.likes or 0) + int(self.reposts or 0) + int(self.replies or 0)


class Recommendation(_Record):
    code: RecommendationCode
    rule: int | None = Field(default=None, description="1..4 in RULE_ORDER; None when no rule matched")
    reason: str
    topic: str | None = Field(default=None, description="on the subject's recommendation: the topic it comes from")


class TopicEffect(_Record):
    topic: str
    level_at_publication: str | None = None
    before: SocialFigures
    after: SocialFigures
    news_before: NewsTone
    news_after: NewsTone
    open_questions: int = Field(default=0, description="question conversations still open when measured")
    recommendation: Recommendation


class WaveInfo(_Record):
    """What a reply wave is: replies of one topic from one approved template (or one approved text),
    the first sent at `published_at`, the others within the wave's window of it."""

    topic: str
    template_id: str | None = None
    text_hash: str | None = None
    replies: int = 0
    platforms: dict[str, int] = Field(default_factory=dict)


class EffectRecord(_Record):
    """One measurement of one subject (`effect#after` or `effect#plus2h` under it)."""

    subject: SubjectKind
    subject_id: str
    stage: Stage
    published_at: datetime
    measured_at: datetime
    window_minutes: int
    before: Window
    after: Window
    topics_basis: TopicsBasis
    topics: list[TopicEffect]
    engagement: dict[str, Engagement] = Field(default_factory=dict)
    recommendation: Recommendation
    thresholds: dict[str, float] = Field(default_factory=dict)
    wave: WaveInfo | None = None
    ref: str | None = Field(default=None, description="the statement's desk reference, when it has one")

    def for_topic(self, topic: str) -> TopicEffect | None:
        return next((t for t in self.topics if t.topic == topic), None)


__all__ = ["RULE_ORDER", "STAGES", "EffectRecord", "Engagement", "NewsTone", "Recommendation", "RecommendationCode",
           "SocialFigures", "Stage", "SubjectKind", "TopicEffect", "TopicsBasis", "WaveInfo", "Window"]
