"""Alerts and the detector's per-topic state in DynamoDB; notifications through SNS.

    AlertsTable  pk alert_id                       one alert: TRIGGERED -> ACKNOWLEDGED -> RESOLVED (`status`,
                                                    the Detector's), and once a person closes it `state` =
                                                    "CLOSED" with `conclusion`, `closed_at`, `closed_by`
                 GSI by_topic: topic, triggered_at  a topic's alerts, newest first (auditors, the drill), and
                                                    its lessons: the closed ones in a time range
                 GSI by_triggered: list_pk = "alert", triggered_at   every topic's alerts by time (auditors)
    StateTable   pk detector#<topic>                the flap-control state, so a restart resumes mid-crisis
                 pk detector#<topic>#baseline       its rolling baseline; an item apart, so a Detector without
                                                    one still reads the state (and the IAM key prefix holds)

Every change of an alert is one transaction with its audit entry.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from crisiscomms.models.alerts import CLOSED, Lesson
from crisiscomms.models.audit import AuditEntry
from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import from_item, query_all, to_item, to_value


ALERT_LIST = "alert"


class AlertRepository:
    def __init__(self, alerts_table: str, state_table: str, audit: AuditLog, *, retention_days: int = 0) -> None:
        """`retention_days` > 0 gives each new alert an `expires_at` (AlertsTable TTL) that many days after
        it was triggered; 0, the default, keeps alerts."""
        self._alerts = alerts_table
        self._state = state_table
        self._audit = audit
        self._clients = audit.clients
        self._retention = timedelta(days=retention_days) if retention_days > 0 else None

    # --- detector state -------------------------------------------------------------------------

    def detector_state(self, topic: str) -> dict[str, Any] | None:
        """The topic's detector state, with its rolling baseline under "baseline" when one is stored.

        The baseline is read eventually consistent: an older copy is still a valid one (it says which
        minutes it holds), the Detector just reads a few more minutes to roll it forward.
        """
        from crisiscomms.aws.dynamo import Binary

        dynamodb = self._clients("dynamodb")
        state = dynamodb.get_item(TableName=self._state, Key=to_item({"pk": f"detector#{topic}"}),
                                  ConsistentRead=True).get("Item")
        baseline = dynamodb.get_item(TableName=self._state, Key=to_item({"pk": f"detector#{topic}#baseline"})).get("Item")
        if not state and not baseline:
            return None
        found = from_item(state) if state else {}
        if baseline:
            found["baseline"] = {k: bytes(v) if isinstance(v, Binary) else v for k, v in from_item(baseline).items()}
            found["baseline"].pop("pk", None)
        found.pop("pk", None)
        return found

    def topic_level(self, topic: str) -> str | None:
        """The topic's current level as the Detector last stored it ("NORMAL" .. "CRISIS"), None when it
        has never been evaluated: one consistent read of the state item's `level` only."""
        item = self._clients("dynamodb").get_item(TableName=self._state, Key=to_item({"pk": f"detector#{topic}"}),
                                                  ConsistentRead=True, ProjectionExpression="#l",
                                                  ExpressionAttributeNames={"#l": "level"}).get("Item")
        level = from_item(item).get("level") if item else None
        return str(level) if level is not None else None

    def save_detector_state(self, topic: str, state: dict[str, Any]) -> None:
        """Store the state; a "baseline" goes to an item of its own, written after it."""
        state = dict(state)
        baseline = state.pop("baseline", None)
        dynamodb = self._clients("dynamodb")
        dynamodb.put_item(TableName=self._state, Item=to_item({**state, "pk": f"detector#{topic}"}))
        if baseline is not None:
            dynamodb.put_item(TableName=self._state, Item=to_item({**baseline, "pk": f"detector#{topic}#baseline"}))

    # --- alerts ---------------------------------------------------------------------------------

    def get(self, alert_id: str) -> dict[str, Any] | None:
        item = self._clients("dynamodb").get_item(TableName=self._alerts, Key=to_item({"alert_id": alert_id}),
                                           ConsistentRead=True).get("Item")
        return from_item(item) if item else None

    def for_topic(self, topic: str, *, limit: int = 20) -> list[dict[str, Any]]:
        return [from_item(i) for i in query_all(self._clients("dynamodb"), TableName=self._alerts, IndexName="by_topic", KeyConditionExpression="topic = :t",
            ExpressionAttributeValues={":t": to_value(topic)}, ScanIndexForward=False, Limit=limit)]

    def newest_for_topic(self, topic: str, *, limit: int) -> list[dict[str, Any]]:
        """The topic's newest `limit` alerts, in one query page (`for_topic` reads every page, `limit` at a time)."""
        page = self._clients("dynamodb").query(TableName=self._alerts, IndexName="by_topic", KeyConditionExpression="topic = :t",
                                               ExpressionAttributeValues={":t": to_value(topic)}, ScanIndexForward=False,
                                               Limit=limit)
        return [from_item(i) for i in page["Items"][:limit]]

    def create(self, alert: dict[str, Any], entry: AuditEntry) -> None:
        if self._retention is not None:
            triggered = datetime.fromisoformat(str(alert["triggered_at"]).replace("Z", "+00:00"))
            alert = {**alert, "expires_at": int((triggered + self._retention).timestamp())}
        alert = {**alert, "list_pk": ALERT_LIST}  # GSI by_triggered: every topic's alerts by time (auditors)
        self._audit.append(entry, with_items=lambda: [{"Put": {
            "TableName": self._alerts, "Item": to_item(alert), "ConditionExpression": "attribute_not_exists(alert_id)"}}])

    def _change(self, alert_id: str, *, expect_status: tuple[str, ...], entry: AuditEntry,
                updates: dict[str, Any] | None = None, remove: tuple[str, ...] = (),
                condition: str | None = None, values: dict[str, Any] | None = None,
                names: dict[str, str] | None = None) -> bool:
        """Change an alert if it is still in one of `expect_status` (and `condition` holds); False otherwise."""
        from botocore.exceptions import ClientError

        updates = updates or {}
        names = {f"#f{i}": k for i, k in enumerate(updates)} | {f"#r{i}": k for i, k in enumerate(remove)} | (names or {})
        names["#status"] = "status"
        vals = {f":v{i}": to_value(v) for i, v in enumerate(updates.values())}
        vals.update({f":s{i}": to_value(s) for i, s in enumerate(expect_status)})
        vals.update({k: to_value(v) for k, v in (values or {}).items()})
        expression = "#status IN (" + ", ".join(f":s{i}" for i in range(len(expect_status))) + ")"
        if condition:
            expression += f" AND ({condition})"
        actions = []
        if updates:
            actions.append("SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(updates))))
        if remove:
            actions.append("REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove))))
        update = {"TableName": self._alerts, "Key": to_item({"alert_id": alert_id}),
                  "UpdateExpression": " ".join(actions), "ConditionExpression": expression,
                  "ExpressionAttributeNames": names, "ExpressionAttributeValues": vals}
        try:
            self._audit.append(entry, with_items=lambda: [{"Update": update}])
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons") or []
            if any(r.get("Code") == "ConditionalCheckFailed" for r in reasons[2:]):
                return False
            raise
        return True

    def update(self, alert_id: str, *, expect_status: tuple[str, ...], updates: dict[str, Any],
               entry: AuditEntry) -> bool:
        """Set fields of an alert still in one of `expect_status`; False when it has moved on."""
        return self._change(alert_id, expect_status=expect_status, updates=updates, entry=entry)

    def acknowledge(self, alert_id: str, *, by: str, at: str, entry: AuditEntry) -> bool:
        return self.update(alert_id, expect_status=("TRIGGERED",), entry=entry,
                           updates={"status": "ACKNOWLEDGED", "acknowledged_by": by, "acknowledged_at": at, "updated_at": at})

    def close(self, alert_id: str, *, expect_status: str, conclusion: dict[str, Any], by: str, at: str,
              entry: AuditEntry, acknowledge: bool, expires_at: int | None) -> bool:
        """Close an alert nobody has closed, still in `expect_status`: `state` CLOSED with the conclusion, in
        one transaction with its audit entry; False when it was closed or moved meanwhile. The Detector's
        `status` goes on (a rise is still raised and told); `acknowledge` also acknowledges a TRIGGERED
        alert, so nobody is escalated to about an alert a person has concluded. `expires_at` None keeps
        the alert for good (an expiry from its creation is removed), else sets it."""
        updates: dict[str, Any] = {"state": CLOSED, "closed_at": at, "closed_by": by, "conclusion": conclusion,
                                   "updated_at": at}
        if acknowledge:
            updates |= {"status": "ACKNOWLEDGED", "acknowledged_by": by, "acknowledged_at": at}
        if expires_at is not None:
            updates["expires_at"] = expires_at
        return self._change(alert_id, expect_status=(expect_status,), entry=entry, updates=updates,
                            remove=() if expires_at is not None else ("expires_at",),
                            condition="attribute_not_exists(#closed)", names={"#closed": "state"})

    def lessons(self, topic: str, start: datetime, end: datetime) -> list[Lesson]:
        """The lessons of the topic's alerts triggered from `start` to `end` (inclusive), oldest first:
        one Query of the by_topic index on its sort key, every page, the closed alerts filtered."""
        def stamp(when: datetime) -> str:
            return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).astimezone(timezone.utc).isoformat()

        items = query_all(self._clients("dynamodb"), TableName=self._alerts, IndexName="by_topic",
                          KeyConditionExpression="topic = :t AND triggered_at BETWEEN :a AND :b",
                          FilterExpression="#closed = :closed", ExpressionAttributeNames={"#closed": "state"},
                          ExpressionAttributeValues={":t": to_value(topic), ":a": to_value(stamp(start)),
                                                     ":b": to_value(stamp(end)), ":closed": to_value(CLOSED)})
        return [Lesson.of(from_item(i)) for i in items]

    def claim_notification(self, alert_id: str, *, level: str, previous: str, open_status: tuple[str, ...],
                           entry: AuditEntry) -> bool:
        """Take the right to send `level`'s SMS: only one caller moves notified_level from `previous`."""
        return self._change(alert_id, expect_status=open_status, updates={"notified_level": level}, entry=entry,
                            condition="attribute_not_exists(notified_level) OR notified_level = :prev",
                            values={":prev": previous})

    def release_notification(self, alert_id: str, *, level: str, previous: str, open_status: tuple[str, ...],
                             entry: AuditEntry) -> bool:
        """Give a claim back after the send failed, so the next run sends it; only the claimer's level moves."""
        return self._change(alert_id, expect_status=open_status, updates={"notified_level": previous}, entry=entry,
                            condition="notified_level = :mine", values={":mine": level})

    def claim_escalation(self, alert_id: str, *, at: str, entry: AuditEntry) -> bool:
        """Take the right to escalate a still-unacknowledged alert, once."""
        return self._change(alert_id, expect_status=("TRIGGERED",), updates={"escalated_at": at}, entry=entry,
                            condition="attribute_not_exists(escalated_at)")

    def release_escalation(self, alert_id: str, *, entry: AuditEntry) -> bool:
        """Give an escalation claim back after its SMS failed."""
        return self._change(alert_id, expect_status=("TRIGGERED", "ACKNOWLEDGED", "RESOLVED"),
                            remove=("escalated_at",), entry=entry)

    def audit(self, entry: AuditEntry) -> None:
        """An audit entry about a topic rather than an alert (a level change)."""
        self._audit.append(entry)
