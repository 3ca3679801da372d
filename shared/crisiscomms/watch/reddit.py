"""The watch configuration of a Reddit source."""
from __future__ import annotations

from typing import Literal

from crisiscomms.watch.base import SourceBase


class RedditSource(SourceBase):
    """Reddit: what to read and how (see the README's source table)."""

    platform: Literal["reddit"]
