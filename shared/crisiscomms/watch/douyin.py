"""The watch configuration of a Douyin source."""
from __future__ import annotations

from typing import Literal

from crisiscomms.watch.base import SourceBase


class DouyinSource(SourceBase):
    """Douyin: what to read and how (see the README's source table)."""

    platform: Literal["douyin"]
