"""Conversations past their reply-time target notify the desk once, on the desk's own SNS topic.

Run each minute from the Detector's handler (wiring passes the topics' levels it just decided). For
each topic and open state (NEW, ASSIGNED), one Query reads the conversations not yet notified that may
be due: below WARNING those whose stored due time has passed (the sparse by_due_at index: every one
read is due, so a long queue still within its targets costs no reads); at WARNING and above those
posted at least the shortest possible target ago (by_due), due at that level (crisiscomms.aws.inbox_store).
They are claimed together (each a conditional update with its own audit entry, as few transactions as
DynamoDB allows: only one run can claim a conversation, and one claimed elsewhere is left out without
holding up the rest), then one message per topic lists every conversation claimed in this run. If SNS
refuses it, the claims are given back (audited) and the next run tries again.

A topic at WARNING or above answers on the shorter target: a conversation opened at a lower level
keeps its stored due_at, and is treated as due at `created_at + escalated_minutes` when that is
earlier (crisiscomms.inbox.targets.effective_due). The message never goes to the on-call SMS topic:
the send function wiring passes in publishes to DESK_TOPIC_ARN only.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from crisiscomms.aws.inbox_store import InboxRepository, iso_z
from crisiscomms.inbox.targets import effective_due, escalates, shortest_target
from crisiscomms.models.audit import AuditEntry
from crisiscomms.models.inbox import OPEN_STATES, conversation_id
from crisiscomms.observability import count, logger
from crisiscomms.watch.inbox import InboxSettings

SYSTEM = "detector"
EXCERPT_CHARS = 120
SUBJECT_MAX = 99  # SNS email subjects: under 100 ASCII characters


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _minutes(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds() // 60))


def overdue_message(topic: str, level: str | None, items: list[tuple[dict[str, Any], datetime]],
                    now: datetime, settings: InboxSettings) -> tuple[str, str]:
    """(subject, text) of the desk message listing conversations past their target, most urgent first."""
    n = len(items)
    subject = f"Inbox {topic}: {n} conversation{'s' if n != 1 else ''} past the reply target"[:SUBJECT_MAX]
    lines = [f"{n} conversation{'s' if n != 1 else ''} in topic {topic} passed the reply-time target."]
    if escalates(level):
        lines.append(f"The topic is at {str(level).upper()}: every target is at most {settings.escalated_minutes} min.")
    for conversation, due in items:
        late = _minutes(now - due)
        followers = conversation.get("followers")
        who = conversation.get("author") or "?"
        if followers:
            who += f" ({followers:,} followers)"
        text = " ".join(str(conversation.get("text") or "").split())
        if len(text) > EXCERPT_CHARS:
            text = text[:EXCERPT_CHARS - 1] + "…"
        lines += [
            "",
            f"[{conversation.get('kind')}] {conversation.get('platform')} · {who} · {late} min late"
            f" (due {iso_z(due)}, priority {conversation.get('priority')}, {conversation.get('state')}"
            + (f", assigned to {conversation['assignee']}" if conversation.get("assignee") else "") + ")",
            f"  {conversation.get('url')}",
            f"  \u201c{text}\u201d",
            f"  desk: /inbox/{conversation_id(conversation['post_key'])}",
        ]
    return subject, "\n".join(lines)


class OverdueNotifier:
    def __init__(self, repo: InboxRepository, *, settings: InboxSettings, send: Callable[[str, str], str],
                 clock: Callable[[], datetime]) -> None:
        self._repo = repo
        self._settings = settings
        self._send = send  # (subject, text) -> message id, to the desk topic
        self._clock = clock

    def _entry(self, action: str, post_key: str, after: dict[str, Any]) -> AuditEntry:
        return AuditEntry(actor=SYSTEM, role="system", action=action, target=f"conversation#{post_key}",
                          at=self._clock(), after=after)

    def run(self, levels: Mapping[str, str | None]) -> dict[str, Any]:
        """Every topic's overdue conversations, notified once; one topic's failure does not stop the others."""
        results: dict[str, Any] = {"notified": 0, "topics": {}}
        budget = self._settings.max_overdue_notices_per_run
        for topic, level in levels.items():
            if budget <= 0:
                break
            try:
                sent = self.topic(topic, level, budget=budget)
            except Exception:
                logger.exception("overdue check failed", extra={"topic": topic})
                results["topics"][topic] = {"error": True}
                continue
            budget -= sent
            results["notified"] += sent
            results["topics"][topic] = {"notified": sent}
        return results

    def due(self, topic: str, level: str | None, *, limit: int) -> list[tuple[dict[str, Any], datetime]]:
        """The topic's open conversations past their target now and not yet notified, most urgent first."""
        now = self._clock()
        # Below WARNING the stored due time decides; at WARNING+ the shorter target since posting may come first.
        if escalates(level):
            read, until = self._repo.posted_before, iso_z(now - timedelta(minutes=shortest_target(self._settings)))
        else:
            read, until = self._repo.past_due, iso_z(now)
        found: list[tuple[dict[str, Any], datetime]] = []
        for state in OPEN_STATES:
            for conversation in read(topic, state, until, limit=limit):
                due = effective_due(_parse(conversation["created_at"]), _parse(conversation["due_at"]), level,
                                    self._settings)
                if due <= now:
                    found.append((conversation, due))
        found.sort(key=lambda pair: (-int(pair[0].get("priority") or 0), pair[1]))
        return found[:limit]

    def topic(self, topic: str, level: str | None, *, budget: int) -> int:
        """Claim and notify one topic's overdue conversations; how many were notified."""
        now = self._clock()
        due = self.due(topic, level, limit=budget)
        if not due:
            return 0
        marked = self._repo.claim_overdue_notices([(conversation["post_key"], self._entry(
            "inbox.overdue_claimed", conversation["post_key"],
            {"due_at": iso_z(when), "minutes_late": _minutes(now - when), "level": (level or "NORMAL").upper()}))
            for conversation, when in due], now)
        claimed = [pair for pair, won in zip(due, marked) if won]
        if not claimed:
            return 0
        subject, text = overdue_message(topic, level, claimed, now, self._settings)
        try:
            self._send(subject, text)
        except Exception as exc:  # SNS down: give every claim back, the next run sends them
            logger.warning("desk notice failed; will retry", extra={"topic": topic, "error": str(exc)})
            self._repo.release_overdue_notices([(conversation["post_key"], self._entry(
                "inbox.overdue_notice_failed", conversation["post_key"], {"error": str(exc)[:200]}))
                for conversation, _ in claimed], now)
            return 0
        count("InboxOverdueNotified", len(claimed))
        return len(claimed)
