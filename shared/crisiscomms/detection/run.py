"""The Detector's run: per topic, read the minute figures, decide the level, act on the decisions.

The baseline is rolled forward from the stored state, so a run reads only the aggregates from the
baseline's end on (the recent window and the minute leaving it); a full read of B hours happens
only to rebuild it (see crisiscomms.detection.levels).

Pure decisions come from crisiscomms.detection.levels; this module applies them: alert records
(TRIGGERED -> ACKNOWLEDGED -> RESOLVED) with their audit entries, one SMS per new level to
the on-call topic, one escalation when an alert is not acknowledged in time. A notification is
claimed on the alert record before it is sent, so nothing is sent twice for the same level; if
SNS fails the claim is released and the next run (a minute later) tries again.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from crisiscomms.models.audit import AuditEntry
from crisiscomms.aws.alert_store import AlertRepository
from crisiscomms.aws.post_store import PostRepository
from crisiscomms.detection.levels import (
    DetectorState,
    Level,
    LevelChanged,
    Notify,
    RaiseAlert,
    Resolve,
    RollingBaseline,
    Thresholds,
    TriggerAlert,
    baseline_from,
    baseline_gap,
    escalation_due,
    minute_key,
    raw_level,
    roll,
    rolling_signals,
    step,
)
from crisiscomms.observability import count, logger
from crisiscomms.detection.sms import sms_text
from crisiscomms.watch import Topic

SYSTEM = "detector"
OPEN = ("TRIGGERED", "ACKNOWLEDGED")


class Detector:
    def __init__(self, posts: PostRepository, alerts: AlertRepository, *, thresholds: Thresholds,
                 clock: Callable[[], datetime], send_sms: Callable[[str, str], str],
                 oncall_topic: str, escalation_topic: str) -> None:
        self._posts = posts
        self._alerts = alerts
        self._thresholds = thresholds
        self._clock = clock
        self._send = send_sms
        self._oncall = oncall_topic
        self._escalation = escalation_topic

    def _entry(self, action: str, target: str, *, before: dict | None = None, after: dict | None = None) -> AuditEntry:
        return AuditEntry(actor=SYSTEM, role="system", action=action, target=target, at=self._clock(),
                          before=before, after=after)

    def run(self, topics: list[Topic]) -> list[dict[str, Any]]:
        """Evaluate every topic; one topic's failure is logged and does not stop the others."""
        results = []
        for topic in topics:
            try:
                results.append(self.evaluate(topic))
            except Exception:
                logger.exception("topic evaluation failed", extra={"topic": topic.id})
                results.append({"topic": topic.id, "error": True})
        logger.info("detector run", extra={
            "topics": len(topics), "failed": sum(1 for r in results if r.get("error")),
            "baselines_rebuilt": sum(1 for r in results if r.get("baseline", "rolled") != "rolled"),
            "aggregates_read": sum(r.get("aggregates_read", 0) for r in results)})
        return results

    def evaluate(self, topic: Topic) -> dict[str, Any]:
        now = self._clock()
        t = self._thresholds
        stored = self._alerts.detector_state(topic.id) or {}
        baseline, kept, minutes, how = self._baseline(topic, RollingBaseline.from_dict(stored.pop("baseline", None)), now)
        social = rolling_signals(baseline, minutes, now, t, "social")
        news = rolling_signals(baseline, minutes, now, t, "news")
        raw, reasons = raw_level(social, news, t)
        state = DetectorState.from_dict(stored)
        new_state, decisions = step(state, raw, reasons, now, t)
        figures = {"social": _figures(social), "news": _figures(news)}
        for decision in decisions:
            self._apply(topic, decision, figures)
        self._alerts.save_detector_state(topic.id, {**new_state.to_dict(), "baseline": kept.to_dict()})
        self._deliver_notifications(topic)
        return {"topic": topic.id, "raw": raw.name, "level": Level.parse(new_state.level).name, "reasons": reasons,
                "baseline": how, "aggregates_read": len(minutes)}

    def _baseline(self, topic: Topic, stored: RollingBaseline | None,
                  now: datetime) -> tuple[RollingBaseline, RollingBaseline, list[dict[str, Any]], str]:
        """This minute's baseline, the one to store, the aggregates read and how ("rolled" or why rebuilt)."""
        t = self._thresholds
        end = minute_key(now)
        gap = baseline_gap(stored, now, t)
        if stored is not None and gap is None:
            minutes = self._posts.minute_aggregates(topic.id, stored.through, end)
            rolled = roll(stored, minutes, now, t)
            return rolled, rolled, minutes, "rolled"
        start = minute_key(now - timedelta(minutes=t.recent_minutes * (1 + t.baseline_windows)))
        minutes = self._posts.minute_aggregates(topic.id, start, end)
        rebuilt = baseline_from(minutes, now, t)
        logger.info("detector baseline rebuilt from a full read",
                    extra={"topic": topic.id, "reason": gap, "minute": end, "aggregates_read": len(minutes)})
        return rebuilt, (stored if stored is not None and gap == "ahead" else rebuilt), minutes, f"rebuilt: {gap}"

    # --- decisions ------------------------------------------------------------------------------

    def _apply(self, topic: Topic, decision: Any, figures: dict[str, Any]) -> None:
        now = self._clock().isoformat()
        if isinstance(decision, LevelChanged):
            self._alerts_audit(topic, "level_changed", decision)
        elif isinstance(decision, TriggerAlert):
            alert_id = f"{topic.id}-{decision.alert_id}"
            self._alerts.create({
                "alert_id": alert_id, "topic": topic.id, "topic_name": topic.names[0], "status": "TRIGGERED",
                "level": decision.level.name, "triggered_at": now, "updated_at": now, "reasons": decision.reasons,
                "figures": figures, "top_posts": self._top_posts(topic.id), "notify_level": decision.level.name,
            }, self._entry("alert_triggered", f"alert#{alert_id}", after={"level": decision.level.name,
                                                                         "reasons": decision.reasons}))
            count("AlertsTriggered")
        elif isinstance(decision, RaiseAlert):
            alert_id = f"{topic.id}-{decision.alert_id}"
            self._alerts.update(alert_id, expect_status=OPEN, entry=self._entry(
                "alert_level_raised", f"alert#{alert_id}", after={"level": decision.level.name, "reasons": decision.reasons}),
                updates={"level": decision.level.name, "reasons": decision.reasons, "figures": figures,
                         "notify_level": decision.level.name, "updated_at": now})
        elif isinstance(decision, Notify):
            pass  # notify_level was set with the trigger/raise; _deliver_notifications sends it (and retries)
        elif isinstance(decision, Resolve):
            alert_id = f"{topic.id}-{decision.alert_id}"
            self._alerts.update(alert_id, expect_status=OPEN, entry=self._entry("alert_resolved", f"alert#{alert_id}"),
                                updates={"status": "RESOLVED", "resolved_at": now, "updated_at": now})
            count("AlertsResolved")

    def _alerts_audit(self, topic: Topic, action: str, decision: LevelChanged) -> None:
        self._alerts.audit(self._entry(action, f"topic#{topic.id}", before={"level": Level.parse(decision.previous).name},
                                       after={"level": Level.parse(decision.level).name, "reasons": decision.reasons}))

    def _top_posts(self, topic: str) -> list[dict[str, Any]]:
        day = self._clock().strftime("%Y-%m-%d")
        return [{k: p.get(k) for k in ("url", "author", "followers", "risk", "text")}
                for p in self._posts.topic_posts(topic, day, by_risk=True, limit=3)]

    # --- notifications --------------------------------------------------------------------------

    def _deliver_notifications(self, topic: Topic) -> None:
        now = self._clock()
        for alert in self._alerts.for_topic(topic.id, limit=5):
            if alert["status"] not in OPEN:
                continue
            wanted = alert.get("notify_level")
            if wanted and Level.parse(wanted) > Level.parse(alert.get("notified_level") or "NORMAL"):
                self._notify(alert, wanted)
            view = {**alert, "status": "open" if alert["status"] == "TRIGGERED" else alert["status"].lower()}
            if escalation_due(view, now, self._thresholds.escalate_after_minutes):
                self._escalate(alert)

    def _notify(self, alert: dict[str, Any], level: str) -> None:
        previous = alert.get("notified_level") or "NORMAL"
        claimed = self._alerts.claim_notification(
            alert["alert_id"], level=level, previous=previous, open_status=OPEN,
            entry=self._entry("notification_claimed", f"alert#{alert['alert_id']}", after={"level": level}))
        if not claimed:
            return
        text = sms_text(Level.parse(level), alert.get("topic_name") or alert["topic"],
                        (alert.get("reasons") or ["level raised"])[0], alert["alert_id"])
        try:
            message_id = self._send(self._oncall, text)
        except Exception as exc:  # SNS down: give the claim back, the next run sends it
            logger.warning("on-call SMS failed; will retry", extra={"alert_id": alert["alert_id"], "error": str(exc)})
            self._alerts.release_notification(alert["alert_id"], level=level, previous=previous, open_status=OPEN,
                                              entry=self._entry("notification_failed", f"alert#{alert['alert_id']}",
                                                  after={"level": level, "error": str(exc)[:200]}))
            return
        self._alerts.update(alert["alert_id"], expect_status=OPEN, updates={"notified_at": self._clock().isoformat(),
                                                                           "last_message_id": message_id},
                            entry=self._entry("notification_sent", f"alert#{alert['alert_id']}",
                                              after={"level": level, "text": text}))
        count("SmsSent")

    def _escalate(self, alert: dict[str, Any]) -> None:
        now = self._clock().isoformat()
        claimed = self._alerts.claim_escalation(
            alert["alert_id"], at=now,
            entry=self._entry("alert_escalated", f"alert#{alert['alert_id']}", after={"level": alert["level"]}))
        if not claimed:
            return
        text = sms_text(Level.parse(alert["level"]), alert.get("topic_name") or alert["topic"],
                        "not acknowledged", alert["alert_id"])
        try:
            self._send(self._escalation, text)
        except Exception as exc:
            logger.warning("escalation SMS failed; will retry", extra={"alert_id": alert["alert_id"], "error": str(exc)})
            self._alerts.release_escalation(alert["alert_id"], entry=self._entry(
                "escalation_failed", f"alert#{alert['alert_id']}", after={"error": str(exc)[:200]}))
            return
        count("Escalations")


def _figures(s: Any) -> dict[str, Any]:
    return {"posts": s.posts, "negative_share": round(s.negative_share, 3), "z": round(s.z, 2),
            "ratio": round(s.ratio, 2), "growth": round(s.growth, 2), "crisis_posts": s.crisis_posts,
            "high_reach_negative": s.high_reach_negative}
