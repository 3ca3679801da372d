"""The watch configuration of a Weibo source."""
from __future__ import annotations

from typing import Literal

from crisiscomms.watch.base import SourceBase


class WeiboSource(SourceBase):
    """Weibo: what to read and how (see the README's source table)."""

    platform: Literal["weibo"]
