"""Timestamps as request parameters give them, read one way for every route."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from crisiscomms.errors import InvalidParameter

MAX_PARAMETER_CHARS = 64


def instant(name: str, value: str) -> datetime:
    """An RFC 3339 timestamp with its offset, in UTC; InvalidParameter naming `name` otherwise.

    A "+" in a query string arrives as a space when the caller did not encode it, so a space before
    a trailing offset is read as "+".
    """
    text = value.strip()
    if len(text) > MAX_PARAMETER_CHARS or not text.isascii():
        raise InvalidParameter(name, "an RFC 3339 timestamp, e.g. 2026-11-28T09:00:00+08:00")
    text = re.sub(r"(T\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:?\d\d)$", r"\1+\2", text)
    try:
        when = datetime.fromisoformat(text.upper())  # RFC 3339 allows a lower-case "t" and "z"
    except ValueError as exc:
        raise InvalidParameter(name, "an RFC 3339 timestamp, e.g. 2026-11-28T09:00:00+08:00") from exc
    if when.tzinfo is None or when.utcoffset() is None:
        raise InvalidParameter(name, "the timestamp needs an offset (Z or +08:00)")
    try:
        return when.astimezone(timezone.utc)
    except (OverflowError, ValueError) as exc:
        raise InvalidParameter(name, "out of range") from exc
