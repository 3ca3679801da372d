"""The watch configuration of a Bluesky source."""
from __future__ import annotations

from typing import Literal

from crisiscomms.watch.base import SourceBase


class BlueskySource(SourceBase):
    """Bluesky: what to read and how (see the README's source table)."""

    platform: Literal["bluesky"]
