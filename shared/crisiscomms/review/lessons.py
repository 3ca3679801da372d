"""Closing an alert with a conclusion, and reading the lessons the closed alerts leave.

An alert resolves by itself when its topic calms down; closing is a person's act: on-call staff
or an approver record the cause and the lessons (what worked and what to change, optionally). The
close is conditional on the alert not being closed yet and on its status being the one just read,
and is written with its audit entry (the whole conclusion) in one transaction. Closing does not
silence the Detector: should the topic rise again while the alert is still open, it is raised and
on-call staff are told as before. A TRIGGERED alert is acknowledged by its closing, so nobody is
escalated to about an alert a person has concluded.

Lessons are read per topic and time range from the alerts' by_topic index (the alerts triggered
in the range, the closed ones kept): one Query, never a Scan.

Retention: a closed alert is kept as long as its lessons are (`lesson_retention_days`; 0, the
default, keeps them for good and removes any expiry the alert had from its creation).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from crisiscomms.aws.alert_store import AlertRepository
from crisiscomms.errors import Conflict, InvalidParameter, NotFound
from crisiscomms.identity import APPROVER, AUDITOR, AUTHOR, ONCALL, Identity
from crisiscomms.models.alerts import CLOSED, Conclusion
from crisiscomms.models.audit import AuditEntry
from crisiscomms.observability import count, logger

CLOSERS = (ONCALL, APPROVER)
LESSON_READERS = (ONCALL, APPROVER, AUTHOR, AUDITOR)
DEFAULT_SPAN = timedelta(days=90)
MAX_SPAN = timedelta(days=400)


class LessonBook:
    def __init__(self, alerts: AlertRepository, *, clock: Callable[[], datetime], retention_days: int = 0) -> None:
        self._alerts = alerts
        self._clock = clock
        self._retention = timedelta(days=retention_days) if retention_days > 0 else None

    def close(self, who: Identity, alert_id: str, conclusion: Conclusion) -> dict[str, Any]:
        """Close the alert with the conclusion; 404 when there is no such alert, 409 when it is closed."""
        who.require(*CLOSERS)
        alert = self._alerts.get(alert_id)
        if alert is None:
            raise NotFound(f"no alert {alert_id!r}")
        if alert.get("state") == CLOSED:
            raise Conflict(f"alert {alert_id} was closed by {alert.get('closed_by')} at {alert.get('closed_at')}")
        now = self._clock()
        stored = conclusion.stored()
        acknowledge = alert["status"] == "TRIGGERED"
        role = ONCALL if ONCALL in who.groups else APPROVER
        after: dict[str, Any] = {"state": CLOSED, "conclusion": stored}
        if acknowledge:
            after["status"] = "ACKNOWLEDGED"
        entry = AuditEntry(actor=who.user, role=role, action="alert_closed", target=f"alert#{alert_id}", at=now,
                           before={"status": alert["status"]}, after=after, text_hash=_digest(stored))
        if not self._alerts.close(alert_id, expect_status=alert["status"], conclusion=stored, by=who.user,
                                  at=now.isoformat(), entry=entry, acknowledge=acknowledge,
                                  expires_at=self._expiry(alert, now)):
            again = self._alerts.get(alert_id) or {}
            if again.get("state") == CLOSED:
                raise Conflict(f"alert {alert_id} was closed by {again.get('closed_by')} at {again.get('closed_at')}")
            raise Conflict(f"alert {alert_id} changed meanwhile; read it again")
        count("AlertsClosed")
        logger.info("alert closed", extra={"alert_id": alert_id, "topic": alert.get("topic"), "by": who.user,
                                           "acknowledged_by_closing": acknowledge})
        return self._alerts.get(alert_id)  # type: ignore[return-value]

    def lessons(self, who: Identity, topic: str, start: datetime | None, end: datetime | None) -> dict[str, Any]:
        """The topic's lessons over a range of trigger times (default: the 90 days up to now)."""
        who.require(*LESSON_READERS)
        upper = end or self._clock()
        lower = start or upper - DEFAULT_SPAN
        if lower >= upper:
            raise InvalidParameter("from", "must be before to")
        if upper - lower > MAX_SPAN:
            raise InvalidParameter("to", f"at most {MAX_SPAN.days} days after from")
        found = self._alerts.lessons(topic, lower, upper)
        return {"topic": topic, "from": lower.isoformat(), "to": upper.isoformat(),
                "lessons": [lesson.model_dump(exclude_none=True) for lesson in found]}

    def _expiry(self, alert: dict[str, Any], now: datetime) -> int | None:
        """Kept for good (None) unless lessons have a retention; then no sooner than the alert's own."""
        if self._retention is None:
            return None
        until = int((now + self._retention).timestamp())
        current = alert.get("expires_at")
        return max(until, int(current)) if isinstance(current, (int, float)) else until


def _digest(conclusion: dict[str, Any]) -> str:
    """SHA-256 of the conclusion as canonical JSON: what the audit entry vouches for."""
    return hashlib.sha256(json.dumps(conclusion, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                          .encode("utf-8")).hexdigest()
