"""Alerts and the detector's per-topic state in DynamoDB; notifications through SNS.

    AlertsTable  pk alert_id                       one alert: TRIGGERED -> ACKNOWLEDGED -> RESOLVED
                 GSI by_topic: topic, triggered_at  a topic's alerts, newest first (auditors, the drill)
    StateTable   pk detector#<topic>                the flap-control state, so a restart resumes mid-crisis

Every change of an alert is one transaction with its audit entry.
"""
from __future__ import annotations

from typing import Any

from crisiscomms.audit import AuditEntry
from crisiscomms.aws.audit import AuditLog
from crisiscomms.aws.clients import client
from crisiscomms.aws.dynamo import from_item, query_all, to_item, to_value


class AlertRepository:
    def __init__(self, alerts_table: str, state_table: str, audit: AuditLog) -> None:
        self._alerts = alerts_table
        self._state = state_table
        self._audit = audit

    # --- detector state -------------------------------------------------------------------------

    def detector_state(self, topic: str) -> dict[str, Any] | None:
        item = client("dynamodb").get_item(TableName=self._state, Key=to_item({"pk": f"detector#{topic}"}),
                                           ConsistentRead=True).get("Item")
        if not item:
            return None
        state = from_item(item)
        state.pop("pk", None)
        return state

    def save_detector_state(self, topic: str, state: dict[str, Any]) -> None:
        client("dynamodb").put_item(TableName=self._state, Item=to_item({**state, "pk": f"detector#{topic}"}))

    # --- alerts ---------------------------------------------------------------------------------

    def get(self, alert_id: str) -> dict[str, Any] | None:
        item = client("dynamodb").get_item(TableName=self._alerts, Key=to_item({"alert_id": alert_id}),
                                           ConsistentRead=True).get("Item")
        return from_item(item) if item else None

    def for_topic(self, topic: str, *, limit: int = 20) -> list[dict[str, Any]]:
        return [from_item(i) for i in query_all(
            TableName=self._alerts, IndexName="by_topic", KeyConditionExpression="topic = :t",
            ExpressionAttributeValues={":t": to_value(topic)}, ScanIndexForward=False, Limit=limit)]

    def create(self, alert: dict[str, Any], entry: AuditEntry) -> None:
        self._audit.append(entry, with_items=lambda: [{"Put": {
            "TableName": self._alerts, "Item": to_item(alert), "ConditionExpression": "attribute_not_exists(alert_id)"}}])

    def update(self, alert_id: str, *, expect_status: tuple[str, ...], updates: dict[str, Any],
               entry: AuditEntry, condition: str | None = None, values: dict[str, Any] | None = None) -> bool:
        """Change an alert if it is still in one of `expect_status` (and `condition` holds); False otherwise."""
        from botocore.exceptions import ClientError

        names = {f"#f{i}": k for i, k in enumerate(updates)} | {"#status": "status"}
        vals = {f":v{i}": to_value(v) for i, v in enumerate(updates.values())}
        vals.update({f":s{i}": to_value(s) for i, s in enumerate(expect_status)})
        vals.update({k: to_value(v) for k, v in (values or {}).items()})
        expression = "#status IN (" + ", ".join(f":s{i}" for i in range(len(expect_status))) + ")"
        if condition:
            expression += f" AND ({condition})"
        update = {"TableName": self._alerts, "Key": to_item({"alert_id": alert_id}),
                  "UpdateExpression": "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(updates))),
                  "ConditionExpression": expression, "ExpressionAttributeNames": names, "ExpressionAttributeValues": vals}
        try:
            self._audit.append(entry, with_items=lambda: [{"Update": update}])
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons") or []
            if any(r.get("Code") == "ConditionalCheckFailed" for r in reasons[2:]):
                return False
            raise
        return True


    def audit(self, entry: AuditEntry) -> None:
        """An audit entry about a topic rather than an alert (a level change)."""
        self._audit.append(entry)

    def remove_field(self, alert_id: str, field: str, *, entry: AuditEntry) -> None:
        self._audit.append(entry, with_items=lambda: [{"Update": {
            "TableName": self._alerts, "Key": to_item({"alert_id": alert_id}),
            "UpdateExpression": "REMOVE #f", "ExpressionAttributeNames": {"#f": field}}}])

    def acknowledge(self, alert_id: str, *, by: str, at: str, entry: AuditEntry) -> bool:
        return self.update(alert_id, expect_status=("TRIGGERED",), entry=entry,
                           updates={"status": "ACKNOWLEDGED", "acknowledged_by": by, "acknowledged_at": at, "updated_at": at})


def publish_sms(topic_arn: str, text: str) -> str:
    """Send one SMS-sized message to every subscriber of an SNS topic; returns the message id."""
    response = client("sns").publish(
        TopicArn=topic_arn, Message=text,
        MessageAttributes={"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}},
    )
    return response["MessageId"]
