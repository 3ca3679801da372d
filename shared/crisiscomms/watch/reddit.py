"""The watch configuration of a Reddit source: one stream, newest first, with its own cursor.

`search` (the default) searches all of Reddit (`/search`) or one subreddit (`/r/{sub}/search`,
restrict_sr) for submissions, title and self text, sorted by `new`. Reddit's search has OR, so when
no query is given one is built from the source's topics. `comments` reads a subreddit's comments,
newest first (`/r/{sub}/comments`): what people answer under the bank's own posts in its subreddit,
which search does not find (Reddit's search finds submissions only). Posts in the bank's own
subreddit, posts naming the bank's account as u/<handle>, and comments under the bank's own posts
are marked as addressed to the bank.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import Field, HttpUrl, model_validator

from crisiscomms.watch.base import SourceBase

QUERY_MAX_LENGTH = 512  # Reddit: "q: a string no longer than 512 characters"
PAGE_MAX = 100  # listing `limit`: default 25, maximum 100
APP_VERSION = "0.1"

Subreddit = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_]{1,20}$",
                                 description="a subreddit name without r/ (Reddit allows 3-21 letters, digits, _)")]


class RedditSource(SourceBase):
    """Reddit: what to read and how (see the module docstring and the README's source table)."""

    platform: Literal["reddit"]
    stream: Literal["search", "comments"] = Field(default="search", description=(
        "search: submissions matching the query; comments: the comments of `subreddit`, newest first"))
    query: str | None = Field(default=None, min_length=1, max_length=QUERY_MAX_LENGTH, description=(
        "the search `q` (AND, OR, \"phrases\", title:, selftext:);"
        " built from the topics' names and keywords when absent"))
    subreddit: Subreddit | None = Field(default=None,
                                        description="search only this subreddit; all of Reddit when absent")
    bank_subreddit: Subreddit | None = Field(default=None, description=(
        "the bank's own subreddit: every post in it is addressed to the bank"))
    auth_base_url: HttpUrl = Field(default=HttpUrl("https://www.reddit.com"), description=(
        "where tokens are renewed (`/api/v1/access_token`); searches go to base_url, oauth.reddit.com by default"))
    page_size: int = Field(default=PAGE_MAX, ge=1, le=PAGE_MAX, description="listing `limit` per call")
    overlap_minutes: int = Field(default=5, ge=0, le=180, description=(
        "each pass re-reads this much time below the newest post read, so a post the search indexed late"
        " is still found; posts already read are recognised and skipped"))
    user_agent: str | None = Field(default=None, min_length=10, max_length=200,
                                   pattern=r"^\S+:\S+:\S+ \(by /?u/[\w-]+\)$", description=(
                                       "Reddit's required `<platform>:<app id>:<version> (by /u/<name>)`;"
                                       " built from the bank's Reddit account when absent"))

    @model_validator(mode="after")
    def _comments_of_a_subreddit(self) -> "RedditSource":
        if self.stream == "comments" and not self.subreddit:
            raise ValueError("a comments stream reads one subreddit: give `subreddit` (the bank's own, usually)")
        if self.stream == "comments" and self.query:
            raise ValueError("a comments stream takes no query: it reads every comment of `subreddit`")
        return self

    def search_query(self, topics: Iterable[Any], bank_handle: str | None = None) -> str:
        """The configured query, else every name, keyword and ambiguous name of the topics, quoted, joined by OR,
        and the bank's account name (a post naming u/<handle> addresses the bank, and may name nothing else)."""
        if self.query:
            return self.query
        terms: list[str] = []
        for topic in topics:
            terms += [t.strip().replace('"', "") for t in [*topic.names, *topic.keywords, *getattr(topic, "ambiguous", ())]]
        if bank_handle:
            terms.append(bank_handle.strip().removeprefix("/").removeprefix("u/").replace('"', ""))
        unique = [t for t in dict.fromkeys(terms) if t]
        query = " OR ".join(f'"{t}"' if re.search(r"\s", t) else t for t in unique)
        if not query:
            raise ValueError("the topics give no search terms: give the source a query")
        if len(query) > QUERY_MAX_LENGTH:
            raise ValueError(f"the query built from the topics is {len(query)} characters, over Reddit's"
                             f" {QUERY_MAX_LENGTH}: give the source an explicit query")
        return query

    def agent(self, bank_handle: str | None) -> str:
        """The User-Agent Reddit asks every API client to send (generic ones are throttled or refused)."""
        if self.user_agent:
            return self.user_agent
        owner = f" (by /u/{bank_handle.removeprefix('u/').removeprefix('/u/')})" if bank_handle else ""
        return f"server:crisiscomms-listening:{APP_VERSION}{owner}"
