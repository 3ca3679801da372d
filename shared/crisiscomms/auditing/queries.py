"""The auditor's questions: posts, alerts, statements, audit entries and a topic's figures over time.

Read-only and for the auditor group only. Every answer is one page with an opaque `next` cursor (null on
the last page); a range is [from, to) in RFC 3339, by default the 24 hours before now. Posts are kept
per UTC day, so their ranges are at most MAX_POST_SPAN; the rest at most MAX_SPAN.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from crisiscomms.errors import InvalidParameter
from crisiscomms.models.timestamps import instant
from crisiscomms.identity import AUDITOR, Identity

DEFAULT_SPAN = timedelta(hours=24)
MAX_POST_SPAN = timedelta(days=31)
MAX_SPAN = timedelta(days=366)
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)  # nothing is stored before; keeps day and bucket arithmetic
LATEST = datetime(2999, 12, 31, tzinfo=timezone.utc)  # far from datetime's limits


class PageLike(Protocol):
    items: list[dict[str, Any]]
    next: str | None


class Records(Protocol):
    def topic_posts(self, topic: str, start: datetime, end: datetime, *, limit: int, cursor: str | None,
                    min_risk: int | None = None) -> PageLike: ...

    def platform_posts(self, platform: str, start: datetime, end: datetime, *, limit: int,
                       cursor: str | None) -> PageLike: ...

    def alerts(self, start: datetime, end: datetime, *, limit: int, cursor: str | None,
               topic: str | None = None) -> PageLike: ...

    def statements(self, start: datetime, end: datetime, *, limit: int, cursor: str | None) -> PageLike: ...

    def audit_entries(self, start: datetime, end: datetime, *, limit: int, cursor: str | None,
                      actor: str | None = None) -> PageLike: ...

    def entries_for_target(self, target: str, *, limit: int, cursor: str | None, start: datetime | None = None,
                           end: datetime | None = None) -> PageLike: ...


class Series(Protocol):
    def series(self, topic: str, start: datetime, end: datetime, bucket: Any = "minute") -> Any: ...


def time_range(start: str | None, end: str | None, now: datetime, max_span: timedelta) -> tuple[datetime, datetime]:
    """[from, to) of a request: `to` defaults to now, `from` to DEFAULT_SPAN before `to`."""
    try:
        upper = instant("to", end) if end is not None else now.astimezone(timezone.utc)
        lower = instant("from", start) if start is not None else upper - DEFAULT_SPAN
    except OverflowError as exc:
        raise InvalidParameter("from" if start is not None else "to", "out of range") from exc
    for name, when in (("from", lower), ("to", upper)):
        if not EARLIEST <= when <= LATEST:
            raise InvalidParameter(name, f"out of range ({EARLIEST.year} to {LATEST.year})")
    if lower >= upper:
        raise InvalidParameter("from", "must be before to")
    if upper - lower > max_span:
        raise InvalidParameter("to", f"at most {max_span.days} days after from")
    return lower, upper


def _z(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class AuditorQueries:
    def __init__(self, records: Records, series: Series | None, *, clock: Callable[[], datetime]) -> None:
        self._records = records
        self._series = series
        self._clock = clock

    def _range(self, who: Identity, start: str | None, end: str | None,
               max_span: timedelta = MAX_SPAN) -> tuple[datetime, datetime]:
        who.require(AUDITOR)
        return time_range(start, end, self._clock(), max_span)

    def topic_posts(self, who: Identity, topic: str, *, start: str | None, end: str | None, min_risk: int | None,
                    limit: int, cursor: str | None) -> dict[str, Any]:
        lower, upper = self._range(who, start, end, MAX_POST_SPAN)
        page = self._records.topic_posts(topic, lower, upper, limit=limit, cursor=cursor, min_risk=min_risk)
        return {"topic": topic, "from": _z(lower), "to": _z(upper), "min_risk": min_risk,
                "order": "time" if min_risk is None else "risk", "posts": page.items, "next": page.next}

    def platform_posts(self, who: Identity, platform: str, *, start: str | None, end: str | None, limit: int,
                       cursor: str | None) -> dict[str, Any]:
        lower, upper = self._range(who, start, end, MAX_POST_SPAN)
        page = self._records.platform_posts(platform, lower, upper, limit=limit, cursor=cursor)
        return {"platform": platform, "from": _z(lower), "to": _z(upper), "posts": page.items, "next": page.next}

    def alerts(self, who: Identity, *, start: str | None, end: str | None, topic: str | None, limit: int,
               cursor: str | None) -> dict[str, Any]:
        lower, upper = self._range(who, start, end)
        page = self._records.alerts(lower, upper, limit=limit, cursor=cursor, topic=topic)
        return {"topic": topic, "from": _z(lower), "to": _z(upper), "alerts": page.items, "next": page.next}

    def statements(self, who: Identity, *, start: str | None, end: str | None, limit: int,
                   cursor: str | None) -> dict[str, Any]:
        lower, upper = self._range(who, start, end)
        page = self._records.statements(lower, upper, limit=limit, cursor=cursor)
        return {"from": _z(lower), "to": _z(upper), "statements": page.items, "next": page.next}

    def audit_entries(self, who: Identity, *, start: str | None, end: str | None, actor: str | None,
                      target: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
        """By time (optionally one actor's), or one target's in chain order (optionally within a range)."""
        if actor and target:
            raise InvalidParameter("target", "ask by actor or by target, not both")
        if target:
            who.require(AUDITOR)
            lower = upper = None
            if start is not None or end is not None:
                lower, upper = self._range(who, start, end)
            page = self._records.entries_for_target(target, limit=limit, cursor=cursor, start=lower, end=upper)
            return {"target": target, "from": _z(lower) if lower else None, "to": _z(upper) if upper else None,
                    "entries": page.items, "next": page.next}
        lower, upper = self._range(who, start, end)
        page = self._records.audit_entries(lower, upper, limit=limit, cursor=cursor, actor=actor)
        return {"actor": actor, "from": _z(lower), "to": _z(upper), "entries": page.items, "next": page.next}

    def series(self, who: Identity, topic: str, *, start: str | None, end: str | None,
               bucket: str) -> dict[str, Any]:
        lower, upper = self._range(who, start, end)
        if self._series is None:
            raise LookupError("built without the series reader")
        return self._series.series(topic, lower, upper, bucket).model_dump(mode="json")  # type: ignore[no-any-return]
