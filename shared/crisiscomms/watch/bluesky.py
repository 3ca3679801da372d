"""The watch configuration of a Bluesky source: one `app.bsky.feed.searchPosts` query with its own cursor.

Bluesky's search has no OR operator (terms are ANDed, quotes make phrases, `-` negates), so a
source is one search; watch several names with several sources. The bank's own account
(`accounts.bluesky`: handle, and its DID as `id`) lets posts that mention it or reply under its
posts be marked as addressed to the bank.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from crisiscomms.watch.base import SourceBase

SEARCH_PAGE_MAX = 100  # searchPosts `limit`: 1..100, 25 when absent


class BlueskySource(SourceBase):
    """Bluesky: what to read and how (see the README's source table)."""

    platform: Literal["bluesky"]
    query: str = Field(min_length=1, max_length=512, description=(
        "the searchPosts `q`: words are ANDed, \"quoted phrases\", -word excludes; no OR, so one source per name"))
    lang: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", description=(
        "only posts in this language (searchPosts `lang`, a BCP-47 tag); every language when absent"))
    page_size: int = Field(default=SEARCH_PAGE_MAX, ge=1, le=SEARCH_PAGE_MAX, description="searchPosts `limit` per page")
    overlap_seconds: int = Field(default=120, ge=0, le=3600, description=(
        "each sweep re-reads this much time below the newest post already read, so a post the search "
        "indexed late is still found; posts already read in that window are recognised and skipped"))

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the query must contain a search term")
        return value.strip()
