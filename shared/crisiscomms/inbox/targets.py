"""Reply-time targets: when a conversation's answer is due, from the watch configuration's `inbox` section.

Apart from triage (crisiscomms.inbox.triage, which re-exports these) so that the Detector's overdue
check does not import the text rules and the scorer they fold text with.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from crisiscomms.watch.inbox import InboxSettings

ESCALATING_LEVELS = frozenset({"WARNING", "CRISIS"})


def escalates(level: str | None) -> bool:
    """Whether a topic at this level (a Detector level name) answers on the shorter target."""
    return (level or "").upper() in ESCALATING_LEVELS


def target_minutes(kind: str, level: str | None, settings: InboxSettings) -> int:
    """The kind's target, at most `escalated_minutes` while the topic is at WARNING or above."""
    minutes = settings.targets.minutes(kind)
    return min(minutes, settings.escalated_minutes) if escalates(level) else minutes


def due_at(created_at: datetime, kind: str, level: str | None, settings: InboxSettings) -> datetime:
    """When the answer is due: the target counted from when the person posted."""
    return created_at + timedelta(minutes=target_minutes(kind, level, settings))


def effective_due(created_at: datetime, stored_due: datetime, level: str | None, settings: InboxSettings) -> datetime:
    """The due time that holds now: the stored one, or the shorter target's if the topic's level rose since."""
    if escalates(level):
        return min(stored_due, created_at + timedelta(minutes=settings.escalated_minutes))
    return stored_due


def shortest_target(settings: InboxSettings) -> int:
    """The shortest target any conversation can have, whatever its topic's level was or is: a
    conversation posted less than this long ago cannot be overdue (it bounds the overdue query)."""
    return min(settings.targets.shortest(), settings.escalated_minutes)
