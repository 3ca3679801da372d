"""The watch configuration of a Mastodon source."""
from __future__ import annotations

from typing import Literal

from crisiscomms.watch.base import SourceBase


class MastodonSource(SourceBase):
    """Mastodon: what to read and how (see the README's source table)."""

    platform: Literal["mastodon"]
