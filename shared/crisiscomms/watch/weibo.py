"""The watch configuration of a Weibo source: each source is one stream with its own cursor.

Streams (see crisiscomms.adapters.sources.weibo for why there are four and which to choose):

* ``mentions``: statuses that @ the bank's authorised account (`statuses/mentions`).
* ``comments``: every comment the authorised account receives, under its own posts and in
  reply to its own comments (`comments/to_me`). The recommended way to hear comments.
* ``post_comments``: the comments under each of the bank's newest posts, post by post
  (`statuses/user_timeline`, then `comments/show` per post); costs one call per post.
* ``search``: the commercial keyword search (`search/statuses/limited`, host c.api.weibo.com);
  optional, it needs a business contract with Weibo.

Weibo limits an ordinary app to about 150 calls an hour per authorised user (more at higher
authorisation levels) and recommends polling every 3-5 minutes, so the default interval here is
3 minutes rather than the 1 minute other platforms use.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from crisiscomms.watch.base import SourceBase

WeiboStream = Literal["mentions", "comments", "post_comments", "search"]
TIMELINE_COUNT_MAX = 200  # statuses/mentions, comments/to_me, comments/show: count up to 200
SEARCH_COUNT_MAX = 50  # search/statuses: count up to 50
RECENT_POSTS_MAX = 20
DEFAULT_RECENT_POSTS = 5
DEFAULT_SEARCH_LAG_SECONDS = 60
STREAM_FIELDS = {"recent_posts": ("post_comments",), "keywords": ("search",), "search_lag_seconds": ("search",)}

# Weibo refuses `q` holding braces or double quotes; the length bound is ours (Weibo documents none).
SearchKeyword = Annotated[str, Field(min_length=1, max_length=50, pattern=r'^[^{}"“”]*\S[^{}"“”]*$')]


class WeiboSource(SourceBase):
    """Weibo: one stream of what is said to, under or about the bank (see the README's source table)."""

    platform: Literal["weibo"]
    stream: WeiboStream = Field(default="mentions", description="which Weibo listing this source reads")
    every_minutes: int = Field(default=3, ge=1, le=1440,
                               description="Weibo asks for polls 3-5 minutes apart; an ordinary app has ~150 calls/hour")
    count: int | None = Field(default=None, ge=1, le=TIMELINE_COUNT_MAX,
                              description="items per call (Weibo's `count`): up to 200, up to 50 for search; the maximum when absent")
    recent_posts: int | None = Field(default=None, ge=1, le=RECENT_POSTS_MAX,
                                     description="post_comments only: how many of the bank's newest posts are swept (one call each)")
    keywords: list[SearchKeyword] | None = Field(default=None, min_length=1, max_length=20,
                                                 description="search only: each searched as its own `q`; the topics' names and keywords when absent")
    search_lag_seconds: int | None = Field(default=None, ge=0, le=3600,
                                           description="search only: how far behind now a search window ends, for Weibo's indexing delay")

    @model_validator(mode="after")
    def _fields_fit_the_stream(self) -> WeiboSource:
        for name, streams in STREAM_FIELDS.items():
            if name in self.model_fields_set and getattr(self, name) is not None and self.stream not in streams:
                raise ValueError(f"{name} applies only to stream {' or '.join(streams)}, not {self.stream}")
        if self.stream == "search" and self.count is not None and self.count > SEARCH_COUNT_MAX:
            raise ValueError(f"count: Weibo search returns at most {SEARCH_COUNT_MAX} items a call")
        return self

    @property
    def page_size(self) -> int:
        if self.count is not None:
            return self.count
        return SEARCH_COUNT_MAX if self.stream == "search" else TIMELINE_COUNT_MAX

    @property
    def posts_per_pass(self) -> int:
        return self.recent_posts or DEFAULT_RECENT_POSTS

    @property
    def lag_seconds(self) -> int:
        return DEFAULT_SEARCH_LAG_SECONDS if self.search_lag_seconds is None else self.search_lag_seconds

    def search_terms(self, topics: Iterable[Any]) -> list[str]:
        """The `q` values one search pass runs: the configured keywords, else every name, keyword and
        ambiguous name of the source's topics in both scripts (nothing says Weibo search folds Traditional
        into Simplified)."""
        if self.keywords:
            return list(dict.fromkeys(k.strip() for k in self.keywords))
        from crisiscomms.scoring import to_traditional

        terms: list[str] = []
        for topic in topics:
            for term in [*topic.names, *topic.keywords, *getattr(topic, "ambiguous", ())]:
                terms += [term.strip(), to_traditional(term).strip()]
        usable = [t for t in dict.fromkeys(terms) if t and not any(c in t for c in '{}"“”')]
        # A term holding a shorter term finds nothing the shorter one misses: one call saved a page.
        return [t for t in usable if not any(o != t and o.casefold() in t.casefold() for o in usable)]
