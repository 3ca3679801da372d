"""Where and when a topic is talked about: its posts by place, by hour of day and by platform.

Read from the hour figures the post store keeps per topic (one Query over a range of UTC hours,
both source types). Hours are UTC in storage and turned into the caller's time zone here, so one
set of figures answers for a desk in Shanghai and one in London; in a zone offset by a fraction of
an hour, a UTC hour counts in the local hour it starts in. The range is whole hours: `from` is
taken down and `to` up to the hour, and the answer says which hours it counted.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from crisiscomms.errors import InvalidParameter
from crisiscomms.models.timestamps import MAX_PARAMETER_CHARS, instant
from crisiscomms.models.posts import UNKNOWN_PLACE, hour_key
from crisiscomms.observability import logger
from crisiscomms.places import place_for_code

DEFAULT_TIMEZONE = "Asia/Shanghai"  # the desk's zone, as the watch configuration's default_timezone
DEFAULT_SPAN = timedelta(hours=24)
MAX_SPAN = timedelta(days=92)
_HOUR = timedelta(hours=1)
_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+){0,2}$")

HoursReader = Callable[[str, str, str], list[dict[str, Any]]]  # (topic, start hour, end hour) -> hour items


def zone_named(name: str | None, *, default: str = DEFAULT_TIMEZONE) -> tuple[str, tzinfo]:
    """The IANA zone a request names, or the default; InvalidParameter("tz") for anything else."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    chosen = default if name is None else name
    if len(chosen) > MAX_PARAMETER_CHARS or not _ZONE_NAME.match(chosen):
        raise InvalidParameter("tz", "an IANA time zone name such as Asia/Shanghai")
    try:
        return chosen, ZoneInfo(chosen)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InvalidParameter("tz", f"unknown IANA time zone {chosen!r}") from exc


def hour_range(start: str | None, end: str | None, now: datetime) -> tuple[datetime, datetime]:
    """The whole UTC hours [first, last) a request covers: `from` down, `to` up to the hour."""
    try:
        upper = instant("to", end) if end is not None else now
        lower = instant("from", start) if start is not None else upper - DEFAULT_SPAN
        if lower >= upper:
            raise InvalidParameter("from", "must be before to")
        if upper - lower > MAX_SPAN:
            raise InvalidParameter("to", f"at most {MAX_SPAN.days} days after from")
        first = lower.replace(minute=0, second=0, microsecond=0)
        last = upper.replace(minute=0, second=0, microsecond=0)
        return first, last if last == upper else last + _HOUR
    except OverflowError as exc:
        raise InvalidParameter("from" if start is not None else "to", "out of range") from exc


def _hour_of(item: dict[str, Any]) -> datetime:
    hour = item.get("hour") or str(item["minute_key"]).split("#")[1]
    return datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=timezone.utc)


def distribution(items: list[dict[str, Any]], zone: tzinfo) -> dict[str, Any]:
    """Totals, by place (with share of posts), by hour of day in `zone` and by platform."""
    total = negative = 0
    hours = [{"hour": h, "posts": 0, "negative": 0} for h in range(24)]
    places: dict[str, list[int]] = {}
    platforms: dict[str, int] = {}
    for item in items:
        posts, bad = int(item.get("posts", 0)), int(item.get("negative", 0))
        total, negative = total + posts, negative + bad
        local = hours[_hour_of(item).astimezone(zone).hour]
        local["posts"] += posts
        local["negative"] += bad
        for name, value in item.items():
            if name.startswith("r_"):
                places.setdefault(name[2:], [0, 0])[0] += int(value)
            elif name.startswith("rn_"):
                places.setdefault(name[3:], [0, 0])[1] += int(value)
            elif name.startswith("p_"):
                platforms[name[2:]] = platforms.get(name[2:], 0) + int(value)
    by_place = []
    for code, (posts, bad) in sorted(places.items(), key=lambda entry: (-entry[1][0], entry[0])):
        place = place_for_code(code) if code != UNKNOWN_PLACE else None
        by_place.append({"country": place.country if place else None, "region": place.region if place else None,
                         "label": place.label if place else code, "posts": posts, "negative": bad,
                         "share": round(posts / total, 4) if total else 0.0})
    return {"total": total, "negative": negative, "by_region": by_place, "by_hour_of_day": hours,
            "by_platform": dict(sorted(platforms.items()))}


class TopicDistribution:
    """The desk's "where and when" of a topic over a time range, from the stored hour figures."""

    def __init__(self, hours_of: HoursReader, *, clock: Callable[[], datetime],
                 default_timezone: str = DEFAULT_TIMEZONE) -> None:
        self._hours_of = hours_of
        self._clock = clock
        self._default_timezone = default_timezone

    def answer(self, topic: str, *, start: str | None = None, end: str | None = None,
               tz: str | None = None) -> dict[str, Any]:
        """Every parameter is checked before anything is read; a bad one is named in the refusal."""
        zone_name, zone = zone_named(tz, default=self._default_timezone)
        first, last = hour_range(start, end, self._clock())
        items = self._hours_of(topic, hour_key(first), hour_key(last))
        figures = distribution(items, zone)
        logger.info("topic distribution read", extra={
            "topic": topic, "from": first.isoformat(), "to": last.isoformat(), "tz": zone_name,
            "hour_items": len(items), "posts": figures["total"]})
        return {"topic": topic, "from": _rfc3339(first), "to": _rfc3339(last), "tz": zone_name, **figures}


def _rfc3339(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["DEFAULT_TIMEZONE", "MAX_SPAN", "TopicDistribution", "distribution", "hour_range", "zone_named"]
