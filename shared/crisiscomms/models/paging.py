"""What a listening adapter hands back for one page, and how it reaches its credentials.

Every source pages the same way: the adapter reads one page from the cursor it was given and
returns the posts with the cursor to store once they are stored. The listening loop owns
ordering (stored first, cursor second), retries, rate-limit pauses and token renewal.

A reader that can also read posts again by id (`ByIdReader`) lets its source keep an
early-warning watch list (crisiscomms.listening.watchlist); the loop decides what to read again.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from crisiscomms.models.posts import Post


@dataclass
class SourcePage:
    """One page read from a platform."""

    posts: list[Post]
    malformed: list[str] = field(default_factory=list)
    cursor: dict[str, Any] = field(default_factory=dict)  # fields to store once this page's posts are stored; None removes
    more: bool = False  # another page is waiting now: read it in the same run
    resume_at: datetime | None = None  # the platform's budget is spent until then (read from its own headers)


@dataclass
class LookupResult:
    """Posts read again by id: those read, the ids the platform says it no longer has (deleted, hidden,
    suspended), what could not be parsed, and the ids left unread this time (a per-run budget)."""

    posts: list[Post]
    missing: set[str] = field(default_factory=set)
    malformed: list[str] = field(default_factory=list)
    unread: set[str] = field(default_factory=set)


class SourceReader(Protocol):
    """A platform adapter's reading side for one configured source."""

    def read(self, cursor: Mapping[str, Any]) -> SourcePage: ...


class ByIdReader(SourceReader, Protocol):
    """A reader whose platform also reads posts by id, so its source can follow posts after storing them.

    `lookup_ids`: the most ids one `lookup` takes (one request when the platform has a batch read).
    `lookup_followers`: whether the answer carries the authors' follower counts; when it does not,
    the count read when the post was stored is used."""

    lookup_ids: int
    lookup_followers: bool

    def lookup(self, ids: list[str]) -> LookupResult: ...


class Credentials(Protocol):
    """A platform's current credentials (a JSON object from its secret), renewed when refused."""

    def current(self) -> dict[str, Any]: ...
