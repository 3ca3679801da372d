"""The inbox's part of the watch configuration: reply-time targets and the approval switch.

    "inbox": {"targets": {"complaint": 60, "rumour": 30, "question": 120, "praise": 1440, "other": 1440},
              "escalated_minutes": 15, "approve_every_reply_at_crisis": true,
              "growth": {"ratio": 1.5, "absolute": 500}}

A conversation's reply-time target is its kind's, in minutes from when the person posted; while the
topic is at WARNING or above it is at most `escalated_minutes` (crisiscomms.inbox.triage). `growth`
says when a post read again has gained enough engagement to update its conversation's priority
(crisiscomms.inbox.growth).
"""
from __future__ import annotations

from pydantic import Field, model_validator

from crisiscomms.watch.base import Strict

MINUTES_PER_DAY = 24 * 60
MAX_TARGET_MINUTES = 7 * MINUTES_PER_DAY


class ReplyTargets(Strict):
    """Minutes from the post to the bank's answer, per kind of conversation."""

    complaint: int = Field(default=60, ge=1, le=MAX_TARGET_MINUTES)
    rumour: int = Field(default=30, ge=1, le=MAX_TARGET_MINUTES)
    question: int = Field(default=120, ge=1, le=MAX_TARGET_MINUTES)
    praise: int = Field(default=MINUTES_PER_DAY, ge=1, le=MAX_TARGET_MINUTES)
    other: int = Field(default=MINUTES_PER_DAY, ge=1, le=MAX_TARGET_MINUTES)

    def minutes(self, kind: str) -> int:
        return int(getattr(self, kind))

    def shortest(self) -> int:
        return min(self.complaint, self.rumour, self.question, self.praise, self.other)


class EngagementGrowth(Strict):
    """A re-read post's engagement has grown materially (its conversation is updated) when it is at
    least `ratio` times, or `absolute` more than, the engagement last written to the conversation."""

    ratio: float = Field(default=1.5, ge=1.01, le=100.0)
    absolute: int = Field(default=500, ge=1, le=100_000_000)


class InboxSettings(Strict):
    """How the inbox treats conversations; read by the Poller (targets), the Detector (overdue
    notices) and the reply use cases (the approval switch)."""

    targets: ReplyTargets = Field(default_factory=ReplyTargets)
    escalated_minutes: int = Field(
        default=15, ge=1, le=MAX_TARGET_MINUTES,
        description="the longest target of any kind while the topic is at WARNING or above")
    approve_every_reply_at_crisis: bool = Field(
        default=True, description="while the topic is at CRISIS every reply, a template reply too, needs approval")
    growth: EngagementGrowth = Field(default_factory=EngagementGrowth)
    max_overdue_notices_per_run: int = Field(
        default=50, ge=1, le=500, description="desk messages one Detector run sends at most; the rest go a minute later")

    @model_validator(mode="after")
    def _escalation_shortens(self) -> InboxSettings:
        if self.escalated_minutes > max(self.targets.complaint, self.targets.rumour, self.targets.question,
                                        self.targets.praise, self.targets.other):
            raise ValueError("escalated_minutes must not be longer than every target (it shortens them)")
        return self
