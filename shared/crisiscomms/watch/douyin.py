"""The watch configuration of a Douyin source: comments under the bank's own videos.

The videos are named here, or taken from the account's own newest videos (`video/list`), or
both. Douyin's comment list is not a stream, so each video is read in passes from the newest
comment down to where the pass before last began (see crisiscomms.adapters.sources.douyin).
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, HttpUrl, field_validator, model_validator

from crisiscomms.watch.base import SourceBase, Strict

MAX_VIDEOS = 100
VIDEO_LIST_MAX = 20  # one video/list page of the newest videos, kept small


class WatchedVideo(Strict):
    """One of the bank's videos."""

    item_id: str = Field(min_length=1, max_length=256, pattern=r"^\S+$",
                         description="the video's open item_id (as video/list returns it, e.g. '@9VwW...==')")
    url: HttpUrl | None = Field(default=None, description="the video's share link, stored with each comment")


class DouyinSource(SourceBase):
    """Comments on the bank's own Douyin videos (see the README's source table)."""

    platform: Literal["douyin"]
    videos: list[WatchedVideo] = Field(default_factory=list, max_length=MAX_VIDEOS,
                                       description="videos whose comments are read")
    recent_videos: int = Field(default=0, ge=0, le=VIDEO_LIST_MAX,
                               description="also read the account's newest N videos, looked up at each round")
    reread_minutes: int = Field(default=10, ge=0, le=24 * 60,
                                description="how far below the last pass a new pass still reads, for comments "
                                            "that appear late with their original time (held for review)")
    max_pages_per_video: int = Field(default=50, ge=1, le=1000,
                                     description="bound of one pass when Douyin answers out of time order")

    @field_validator("videos")
    @classmethod
    def _each_video_once(cls, videos: list[WatchedVideo]) -> list[WatchedVideo]:
        ids = [v.item_id for v in videos]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"video(s) listed twice: {repeated}")
        return videos

    @model_validator(mode="after")
    def _reads_something(self) -> DouyinSource:
        if not self.videos and not self.recent_videos:
            raise ValueError("name videos, or set recent_videos to read the account's newest ones")
        return self
