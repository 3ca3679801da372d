"""Which crisis stories a topic carries over a time range, ranked by priority.

Figures come from the narrative counters of the topic's aggregates (crisiscomms.aws.post_store):
one Query of its minute items for a range of up to MINUTE_SPAN (the range taken to whole
minutes), of its hour items beyond (whole hours), both source types. Per narrative: posts,
negative posts and share, growth (second half of the range against the first), mean author
reach, posts per platform (stored counters, so every post counts, not only the top ones) and
the priority of crisiscomms.scoring.narratives. Top posts (the riskiest three of each
narrative, with platform and an excerpt) come from the topic's posts index by risk, a bounded
number of links read (`PostRepository.narrative_posts`). Nothing is scanned.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from crisiscomms.errors import InvalidParameter
from crisiscomms.models.posts import hour_key, minute_key
from crisiscomms.models.timestamps import instant
from crisiscomms.observability import logger
from crisiscomms.scoring.narratives import ranked, tally

DEFAULT_SPAN = timedelta(hours=24)
MINUTE_SPAN = timedelta(hours=48)  # up to this, minute items (precise halves); beyond, hour items
MAX_SPAN = timedelta(days=31)
TOP_POSTS = 3
EXCERPT_CHARS = 140
_MINUTE, _HOUR = timedelta(minutes=1), timedelta(hours=1)

ItemsReader = Callable[[str, str, str], list[dict[str, Any]]]  # (topic, first key, end key) -> aggregate items
PostsReader = Callable[[str, datetime, datetime, set[str]], tuple[list[dict[str, Any]], int]]


def narrative_range(start: str | None, end: str | None, now: datetime) -> tuple[datetime, datetime, timedelta]:
    """The range [first, last) a request covers and its unit: minutes up to MINUTE_SPAN, else hours;
    `from` is taken down and `to` up to the unit. InvalidParameter names the parameter at fault."""
    try:
        upper = instant("to", end) if end is not None else now.astimezone(timezone.utc)
        lower = instant("from", start) if start is not None else upper - DEFAULT_SPAN
        if lower >= upper:
            raise InvalidParameter("from", "must be before to")
        if upper - lower > MAX_SPAN:
            raise InvalidParameter("to", f"at most {MAX_SPAN.days} days after from")
        unit = _MINUTE if upper - lower <= MINUTE_SPAN else _HOUR
        first, last = _floor(lower, unit), _floor(upper, unit)
        return first, (last if last == upper else last + unit), unit
    except OverflowError as exc:
        raise InvalidParameter("from" if start is not None else "to", "out of range") from exc


def _floor(when: datetime, unit: timedelta) -> datetime:
    when = when.replace(second=0, microsecond=0)
    return when.replace(minute=0) if unit == _HOUR else when


def _start_of(item: dict[str, Any]) -> datetime:
    """When an aggregate item's minute or hour begins (UTC)."""
    if item.get("minute"):
        return datetime.fromisoformat(str(item["minute"])[:16]).replace(tzinfo=timezone.utc)
    hour = item.get("hour") or str(item["minute_key"]).split("#")[1]
    return datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=timezone.utc)


def top_post(post: dict[str, Any]) -> dict[str, Any]:
    """What a narrative shows of one of its top posts."""
    text = " ".join(str(post.get("text") or "").split())
    published = str(post.get("published_key") or "").split("#", 1)[0]
    return {"post_key": post.get("post_key"), "platform": post.get("platform"), "author": post.get("author"),
            "followers": int(post.get("followers") or 0), "risk": int(post.get("risk") or 0),
            "published_at": published or None, "url": post.get("url") or None,
            "excerpt": text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS - 1].rstrip() + "…"}


def narratives(items: list[dict[str, Any]], posts: list[dict[str, Any]], first: datetime, last: datetime,
               unit: timedelta) -> tuple[list[dict[str, Any]], datetime]:
    """Each narrative's figures over [first, last), ranked, with its top posts; and the range's middle."""
    units = max(1, (last - first) // unit)
    middle = first + (units // 2) * unit
    first_length, second_length = (middle - first) / unit, (last - middle) / unit
    tallies = tally(((_start_of(item), item) for item in items), middle)
    tops: dict[str, list[dict[str, Any]]] = {}
    for post in sorted(posts, key=lambda p: (-int(p.get("risk") or 0), str(p.get("published_key") or ""))):
        group = tops.setdefault(str(post.get("narrative")), [])
        if len(group) < TOP_POSTS:
            group.append(top_post(post))
    figures = [{**t.figures(first_length, second_length), "top_posts": tops.get(t.narrative, [])}
               for t in tallies.values() if t.posts > 0]
    return ranked(figures), middle


class TopicNarratives:
    """GET /topics/{topic}/narratives: a topic's narratives over a time range."""

    def __init__(self, minutes_of: ItemsReader, hours_of: ItemsReader, posts_of: PostsReader, *,
                 clock: Callable[[], datetime]) -> None:
        self._minutes_of = minutes_of
        self._hours_of = hours_of
        self._posts_of = posts_of
        self._clock = clock

    def answer(self, topic: str, *, start: str | None = None, end: str | None = None) -> dict[str, Any]:
        """Every parameter is checked before anything is read; a bad one is named in the refusal."""
        first, last, unit = narrative_range(start, end, self._clock())
        if unit == _MINUTE:
            items = self._minutes_of(topic, minute_key(first), minute_key(last))
        else:
            items = self._hours_of(topic, hour_key(first), hour_key(last))
        wanted = {name[3:] for item in items for name in item if name.startswith("nv_")}
        posts, links = self._posts_of(topic, first, last, wanted) if wanted else ([], 0)
        found, middle = narratives(items, posts, first, last, unit)
        logger.info("topic narratives read", extra={
            "topic": topic, "from": first.isoformat(), "to": last.isoformat(), "aggregate_items": len(items),
            "links_read": links, "narratives": len(found)})
        return {"topic": topic, "from": _rfc3339(first), "to": _rfc3339(last), "middle": _rfc3339(middle),
                "resolution": "minute" if unit == _MINUTE else "hour", "narratives": found}


def _rfc3339(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["MAX_SPAN", "MINUTE_SPAN", "TopicNarratives", "narrative_range", "narratives", "top_post"]
