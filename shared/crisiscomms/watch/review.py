"""The Reviewer's part of the watch configuration: measurement windows and the recommendation thresholds.

    "review": {"window_minutes": 30, "second_look_minutes": 120, "wave_minutes": 30,
               "revise_volume_ratio": 1.2, "min_posts": 5, "news_min_items": 1,
               "news_negative_share": 0.5, "low_engagement": 20, "many_open_questions": 10,
               "max_topics": 10}

A statement or reply wave is measured over two windows of `window_minutes` each, one before and one
after publication, when the after-window closes; and again at `second_look_minutes` after
publication (the before-window against the latest `window_minutes`). The thresholds are the written
rules' (crisiscomms.review.recommend); they live here so the desk can tune them without a deploy.
"""
from __future__ import annotations

from pydantic import Field, model_validator

from crisiscomms.watch.base import Strict


class EffectRules(Strict):
    window_minutes: int = Field(default=30, ge=5, le=240, description="length of each of the two equal windows")
    second_look_minutes: int = Field(default=120, ge=10, le=24 * 60,
                                     description="the second measurement, minutes after publication")
    wave_minutes: int = Field(default=30, ge=1, le=240,
                              description="replies of one topic from one template within this of the first are one wave")
    revise_volume_ratio: float = Field(default=1.2, gt=0, le=100,
                                       description="rule 1: volume after >= this x before (and negative share not lower)")
    min_posts: int = Field(default=5, ge=1, le=100_000,
                           description="rule 1 needs this many posts after, rule 4 this many before")
    news_min_items: int = Field(default=1, ge=1, le=10_000, description="rule 2 needs this many news items after")
    news_negative_share: float = Field(default=0.5, ge=0, lt=1,
                                       description="rule 2: news after is 'mostly negative' above this share")
    low_engagement: int = Field(default=20, ge=0, le=10_000_000,
                                description="rule 3: likes + reposts + replies on the bank's posts below this is low")
    many_open_questions: int = Field(default=10, ge=1, le=100_000,
                                     description="rule 3: this many open question conversations is many")
    max_topics: int = Field(default=10, ge=1, le=40, description="at most this many topics measured per subject")

    @model_validator(mode="after")
    def _second_look_after_the_window(self) -> EffectRules:
        if self.second_look_minutes <= self.window_minutes:
            raise ValueError("second_look_minutes must be longer than window_minutes")
        return self

    def thresholds(self) -> dict[str, float]:
        """The rules' thresholds as stored with each measurement (what it was judged by)."""
        return {name: float(getattr(self, name)) for name in (
            "revise_volume_ratio", "min_posts", "news_min_items", "news_negative_share", "low_engagement",
            "many_open_questions")}
