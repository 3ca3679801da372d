"""What a listening adapter hands back for one page, and how it reaches its credentials.

Every source pages the same way: the adapter reads one page from the cursor it was given and
returns the posts with the cursor to store once they are stored. The listening loop owns
ordering (stored first, cursor second), retries, rate-limit pauses and token renewal.
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


class SourceReader(Protocol):
    """A platform adapter's reading side for one configured source."""

    def read(self, cursor: Mapping[str, Any]) -> SourcePage: ...


class Credentials(Protocol):
    """A platform's current credentials (a JSON object from its secret), renewed when refused."""

    def current(self) -> dict[str, Any]: ...
