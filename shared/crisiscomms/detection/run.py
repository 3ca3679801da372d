"""The Detector's run: per topic, read the minute figures, decide the level, act on the decisions.

The minute figures are rolled forward from the stored state with what arrived since the last run
(the topic's newest arrivals items, three in steady state), so a run re-reads no minute; a full
read of B hours happens only to rebuild the state (see crisiscomms.detection.levels).

Pure decisions come from crisiscomms.detection.levels; this module applies them: alert records
(TRIGGERED -> ACKNOWLEDGED -> RESOLVED) with their audit entries, one SMS per new level to
the on-call topic, one escalation when an alert is not acknowledged in time. A notification is
claimed on the alert record before it is sent, so nothing is sent twice for the same level; if
SNS fails the claim is released and the next run (a minute later) tries again. An alert carries
the recent window's leading narrative, read when it opens or rises (`_leading_narrative`), and its
SMS names it when the message still fits one SMS.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
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
    RollingState,
    Thresholds,
    TriggerAlert,
    escalation_due,
    minute_key,
    open_from,
    open_sums,
    raw_level,
    rebuilt,
    roll,
    rolling_gap,
    rolling_signals,
    step,
    with_open,
)
from crisiscomms.observability import count, logger
from crisiscomms.detection.sms import compose_sms, sms_text
from crisiscomms.watch import Topic

SYSTEM = "detector"
OPEN = ("TRIGGERED", "ACKNOWLEDGED")
SETTLE_ATTEMPTS = 5  # full read: times the minutes whose open arrivals changed meanwhile are read again
LAST_MINUTE = "9999-12-31T23:59"  # a full read takes every minute from the baseline's start on
NARRATIVE_FIELDS = ("id", "names", "posts", "negative", "negative_share", "growth", "priority")  # kept on the alert


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
        current, kept, how, read = self._rolling(topic, RollingState.from_dict(stored.pop("baseline", None)), now)
        social = rolling_signals(current, now, t, "social")
        news = rolling_signals(current, now, t, "news")
        raw, reasons = raw_level(social, news, t)
        state = DetectorState.from_dict(stored)
        new_state, decisions = step(state, raw, reasons, now, t)
        figures = {"social": _figures(social), "news": _figures(news)}
        for decision in decisions:
            self._apply(topic, decision, figures)
        self._alerts.save_detector_state(topic.id, {**new_state.to_dict(), "baseline": kept.to_dict()})
        self._deliver_notifications(topic, new_state.alert_id)
        return {"topic": topic.id, "raw": raw.name, "level": Level.parse(new_state.level).name, "reasons": reasons,
                "baseline": how, "aggregates_read": read}

    def _rolling(self, topic: Topic, stored: RollingState | None,
                 now: datetime) -> tuple[RollingState, RollingState, str, int]:
        """This minute's figures, the state to store, how ("rolled" or why rebuilt) and the aggregates
        table items read."""
        gap = rolling_gap(stored, now, self._thresholds)
        if stored is not None and gap is None:
            arrivals = self._posts.arrivals(topic.id, open_from(stored.minute))
            rolled = roll(stored, arrivals, now)
            return with_open(rolled, arrivals), rolled, "rolled", len({r["arrived"] for r in arrivals})
        state, arrivals, read = self._rebuild(topic, now)
        logger.info("detector state rebuilt from a full read",
                    extra={"topic": topic.id, "reason": gap, "minute": minute_key(now), "aggregates_read": read})
        kept = stored if stored is not None and gap == "ahead" else state
        return with_open(state, arrivals), kept, f"rebuilt: {gap}", read

    def _rebuild(self, topic: Topic, now: datetime) -> tuple[RollingState, list[dict[str, Any]], int]:
        """The state of `now` from a full read, the open arrivals to add, and the items read.

        The full read counts part of what the open arrivals hold (posts stored before it). That part
        is known for a minute when the open arrivals read before and after its figures agree on it;
        the minutes where they differ (a post stored meanwhile) are read again, up to SETTLE_ATTEMPTS.
        """
        t, minute = self._thresholds, minute_key(now)
        start = minute_key(now - timedelta(minutes=t.recent_minutes * (1 + t.baseline_windows)))
        arrivals = self._posts.arrivals(topic.id, open_from(minute))
        before = open_sums(arrivals, minute)
        figures = {(r["minute"], r["source_type"]): r
                   for r in self._posts.minute_aggregates(topic.id, start, LAST_MINUTE, exact=True, consistent=True)}
        read, checked, counted = len(figures) + len({r["arrived"] for r in arrivals}), None, {}
        for _ in range(SETTLE_ATTEMPTS):
            arrivals = self._posts.arrivals(topic.id, open_from(minute))
            after = open_sums(arrivals, minute)
            read += len({r["arrived"] for r in arrivals})
            keys = (set(before) | set(after)) if checked is None else checked
            unsettled = {key for key in keys if before.get(key) != after.get(key)}
            counted |= {key: after[key] for key in keys - unsettled if key in after}
            if not unsettled:
                break
            low, high = min(m for m, _ in unsettled), max(m for m, _ in unsettled)
            again = self._posts.minute_aggregates(topic.id, low, minute_key(datetime.fromisoformat(high) + timedelta(minutes=1)),
                                                  exact=True, consistent=True)
            read += len(again)
            figures = {key: r for key, r in figures.items() if not low <= key[0] <= high}
            figures |= {(r["minute"], r["source_type"]): r for r in again}
            checked = {key for key in set(figures) | set(before) | set(after) if low <= key[0] <= high}
            for key in checked:
                counted.pop(key, None)
            before = after
        else:
            counted |= {key: after[key] for key in unsettled if key in after}
            logger.warning("detector full read did not settle; a post stored meanwhile may count twice",
                           extra={"topic": topic.id, "minute": minute, "minutes": sorted(m for m, _ in unsettled)})
        return rebuilt(list(figures.values()), counted, now, t), arrivals, read

    # --- decisions ------------------------------------------------------------------------------

    def _apply(self, topic: Topic, decision: Any, figures: dict[str, Any]) -> None:
        now = self._clock().isoformat()
        if isinstance(decision, LevelChanged):
            self._alerts_audit(topic, "level_changed", decision)
        elif isinstance(decision, TriggerAlert):
            alert_id = f"{topic.id}-{decision.alert_id}"
            self._alerts.create({
                "alert_id": alert_id, "topic": topic.id, "topic_name": topic.names[0],
                "topic_names": list(topic.names[:10]),  # the SMS may need another script's name (detection.sms)
                "status": "TRIGGERED",
                "level": decision.level.name, "triggered_at": now, "updated_at": now, "reasons": decision.reasons,
                "figures": figures, "top_posts": self._top_posts(topic.id), "notify_level": decision.level.name,
                **self._leading_narrative(topic.id, figures),
            }, self._entry("alert_triggered", f"alert#{alert_id}", after={"level": decision.level.name,
                                                                         "reasons": decision.reasons}))
            count("AlertsTriggered")
        elif isinstance(decision, RaiseAlert):
            alert_id = f"{topic.id}-{decision.alert_id}"
            self._alerts.update(alert_id, expect_status=OPEN, entry=self._entry(
                "alert_level_raised", f"alert#{alert_id}", after={"level": decision.level.name, "reasons": decision.reasons}),
                updates={**self._leading_narrative(topic.id, figures),
                         "level": decision.level.name, "reasons": decision.reasons, "figures": figures,
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

    def _leading_narrative(self, topic: str, figures: dict[str, Any]) -> dict[str, Any]:
        """`{"narrative": ...}`: the recent window's narrative of highest priority (crisiscomms.scoring.narratives,
        halves of the window for growth), or {} when the window holds no crisis post. Read only when an alert
        opens or rises and the window has crisis posts: one Query of its minute items (at most 2 x W), no state kept."""
        if not any(source.get("crisis_posts") for source in figures.values()):
            return {}
        from crisiscomms.scoring.narratives import ranked, tally  # the catalogue loads the lexicons: on first use only

        window = self._thresholds.recent_minutes
        end = datetime.fromisoformat(minute_key(self._clock())).replace(tzinfo=timezone.utc)
        start, middle = end - timedelta(minutes=window), end - timedelta(minutes=window - window // 2)
        items = self._posts.minute_aggregates(topic, minute_key(start), minute_key(end))
        found = tally(((datetime.fromisoformat(i["minute"]).replace(tzinfo=timezone.utc), i) for i in items), middle)
        leading = ranked(t.figures(window // 2, window - window // 2) for t in found.values() if t.posts > 0)
        if not leading:
            return {}
        return {"narrative": {key: leading[0][key] for key in NARRATIVE_FIELDS}}

    def _top_posts(self, topic: str) -> list[dict[str, Any]]:
        day = self._clock().strftime("%Y-%m-%d")
        return [{k: p.get(k) for k in ("url", "author", "followers", "risk", "text")}
                for p in self._posts.topic_posts(topic, day, by_risk=True, limit=3)]

    # --- notifications --------------------------------------------------------------------------

    def _deliver_notifications(self, topic: Topic, open_alert: str | None) -> None:
        """Send what the topic's open alert still owes (its SMS, a retry, an escalation).

        The state names the one alert it keeps open (`step` triggers a new one only when none is),
        so that alert is read by key, and a topic without one reads nothing: a long alert history
        costs no reads per run."""
        if open_alert is None:
            return
        now = self._clock()
        for alert in filter(None, [self._alerts.get(f"{topic.id}-{open_alert}")]):
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
        text, named = compose_sms(Level.parse(level), _sms_name(alert), (alert.get("reasons") or ["level raised"])[0],
                                  alert["alert_id"], narrative=(alert.get("narrative") or {}).get("names"),
                                  other_names=alert.get("topic_names") or ())
        try:
            message_id = self._send(self._oncall, text)
        except Exception as exc:  # SNS down: give the claim back, the next run sends it
            logger.warning("on-call SMS failed; will retry", extra={"alert_id": alert["alert_id"], "error": str(exc)})
            self._alerts.release_notification(alert["alert_id"], level=level, previous=previous, open_status=OPEN,
                                              entry=self._entry("notification_failed", f"alert#{alert['alert_id']}",
                                                  after={"level": level, "error": str(exc)[:200]}))
            return
        self._alerts.update(alert["alert_id"], expect_status=OPEN, updates={"notified_at": self._clock().isoformat(),
                                                                           "last_message_id": message_id,
                                                                           "sms_name": named},
                            entry=self._entry("notification_sent", f"alert#{alert['alert_id']}",
                                              after={"level": level, "text": text}))
        alert["sms_name"] = named
        count("SmsSent")

    def _escalate(self, alert: dict[str, Any]) -> None:
        now = self._clock().isoformat()
        claimed = self._alerts.claim_escalation(
            alert["alert_id"], at=now,
            entry=self._entry("alert_escalated", f"alert#{alert['alert_id']}", after={"level": alert["level"]}))
        if not claimed:
            return
        text = sms_text(Level.parse(alert["level"]), _sms_name(alert), "not acknowledged", alert["alert_id"],
                        other_names=alert.get("topic_names") or ())
        try:
            self._send(self._escalation, text)
        except Exception as exc:
            logger.warning("escalation SMS failed; will retry", extra={"alert_id": alert["alert_id"], "error": str(exc)})
            self._alerts.release_escalation(alert["alert_id"], entry=self._entry(
                "escalation_failed", f"alert#{alert['alert_id']}", after={"error": str(exc)[:200]}))
            return
        count("Escalations")


def _sms_name(alert: dict[str, Any]) -> str:
    """The name the alert's last SMS gave the bank (one alert, one name on the phone), else the topic's."""
    return alert.get("sms_name") or alert.get("topic_name") or alert["topic"]


def _figures(s: Any) -> dict[str, Any]:
    return {"posts": s.posts, "negative_share": round(s.negative_share, 3), "z": round(s.z, 2),
            "ratio": round(s.ratio, 2), "growth": round(s.growth, 2), "crisis_posts": s.crisis_posts,
            "high_reach_negative": s.high_reach_negative, "early_warning": s.early_warning,
            "slow_negative": s.slow_negative, "slow_negative_share": round(s.slow_negative_share, 3),
            "baseline_negative_share": round(s.baseline_negative_share, 3)}
