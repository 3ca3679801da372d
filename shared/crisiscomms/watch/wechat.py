"""The watch configuration of a WeChat Official Account source."""
from __future__ import annotations

from typing import Literal

from crisiscomms.watch.base import SourceBase


class WeChatSource(SourceBase):
    """WeChat Official Account: what to read and how (see the README's source table)."""

    platform: Literal["wechat"]
