"""Post-crisis reports: their records, their files, and the few reads no other repository makes.

    StateTable    pk report#<id>        one report: topic, range, time zone, state REQUESTED -> RUNNING ->
                                         DONE | FAILED, who asked and when, attempts, the files written
                                         (key, bytes, SHA-256) and the headline figures; `revision` guards
                                         every move, and every move is one transaction with its audit entry
    ReportBucket  reports/<topic>/<id>/report.html      the page (inline SVG charts, nothing fetched)
                  reports/<topic>/<id>/csv/<series>.csv  every series the page draws or lists

Reads for the report's content, each a Query on a key or an index (never a Scan):

    level changes ........ AuditTable GSI by_target: target "topic#<topic>" (the Detector's entries)
    alerts ............... AlertsTable GSI by_topic: topic, triggered_at in the range
    statements ........... StatementsTable GSI by_created: list_pk "statement", created_at up to the
                           range's end (from a week before it), then each statement's own partition
    replies .............. InboxTable GSI by_time: the topic's conversations a reply reached (queues
                           "<topic>#REPLIED" and "<topic>#CLOSED") opened in the range, with the ids of
                           their replies; then the replies by key (BatchGetItem)

Reports are kept: no record or file expires.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import from_item, query_all, to_item, to_value
from crisiscomms.models.audit import AuditEntry
from crisiscomms.models.inbox import REPLY_PREFIX

REPORT_PREFIX = "report#"
FILE_PREFIX = "reports/"
REPLIED_STATES = ("REPLIED", "CLOSED")  # a conversation a reply reached is REPLIED, or CLOSED after it
BATCH_GET_LIMIT = 100  # DynamoDB's limit of keys per BatchGetItem
BATCH_GET_ATTEMPTS = 3
STATEMENT_LOOKBACK = timedelta(days=7)  # a statement drafted up to a week before the range may be published in it


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat()


def _iso_z(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def report_pk(report_id: str) -> str:
    return f"{REPORT_PREFIX}{report_id}"


def file_key(topic: str, report_id: str, name: str) -> str:
    """Where one file of a report is written: `report.html`, or `csv/<series>.csv`."""
    return f"{FILE_PREFIX}{topic}/{report_id}/{name}"


class ReportRepository:
    """The report records (StateTable) and files (ReportBucket)."""

    def __init__(self, state_table: str, bucket: str, audit: AuditLog) -> None:
        self._state = state_table
        self._bucket = bucket
        self._audit = audit
        self._clients: AwsClients = audit.clients

    def get(self, report_id: str) -> dict[str, Any] | None:
        item = self._clients("dynamodb").get_item(TableName=self._state, Key=to_item({"pk": report_pk(report_id)}),
                                                  ConsistentRead=True).get("Item")
        if not item:
            return None
        record = from_item(item)
        record.pop("pk", None)
        return record

    def create(self, record: dict[str, Any], entry: AuditEntry) -> None:
        """A new report record (its id never used before), with its audit entry."""
        item = {**record, "pk": report_pk(record["id"]), "revision": 1}
        self._audit.append(entry, with_items=lambda: [{"Put": {
            "TableName": self._state, "Item": to_item(item), "ConditionExpression": "attribute_not_exists(pk)"}}])

    def move(self, record: dict[str, Any], *, expect: tuple[str, ...], updates: dict[str, Any],
             entry: AuditEntry) -> bool:
        """Move a report still in one of `expect` at the revision it was read with (which goes up by
        one), with its audit entry; False when it moved meanwhile."""
        from botocore.exceptions import ClientError

        names = {f"#f{i}": k for i, k in enumerate(updates)} | {"#state": "state", "#rev": "revision"}
        values = {f":v{i}": to_value(v) for i, v in enumerate(updates.values())}
        values |= {f":e{i}": to_value(s) for i, s in enumerate(expect)}
        values |= {":rev": to_value(int(record["revision"])), ":next": to_value(int(record["revision"]) + 1)}
        update = {
            "TableName": self._state, "Key": to_item({"pk": report_pk(record["id"])}),
            "UpdateExpression": "SET " + ", ".join([*(f"#f{i} = :v{i}" for i in range(len(updates))), "#rev = :next"]),
            "ConditionExpression": "#rev = :rev AND #state IN (" + ", ".join(f":e{i}" for i in range(len(expect))) + ")",
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values,
        }
        try:
            self._audit.append(entry, with_items=lambda: [{"Update": update}])
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons") or []
            if any(r.get("Code") == "ConditionalCheckFailed" for r in reasons[2:]):
                return False
            raise
        return True

    # --- files ------------------------------------------------------------------------------------

    def put_file(self, key: str, body: bytes, content_type: str) -> None:
        """Write one file; writing it again (a repeated run) replaces it with the same bytes' successor."""
        self._clients("s3").put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=content_type,
                                       ServerSideEncryption="AES256")

    def link(self, key: str, *, seconds: int, filename: str) -> str:
        """A presigned GET of one file, valid `seconds`, saved under `filename` by a browser."""
        return str(self._clients("s3").generate_presigned_url(
            "get_object", ExpiresIn=seconds,
            Params={"Bucket": self._bucket, "Key": key,
                    "ResponseContentDisposition": f'attachment; filename="{filename}"'}))


class ReportReads:
    """What the report needs that no other repository reads: by key or index, every page."""

    def __init__(self, *, audit_table: str, alerts_table: str, statements_table: str, inbox_table: str,
                 clients: AwsClients) -> None:
        self._audit = audit_table
        self._alerts = alerts_table
        self._statements = statements_table
        self._inbox = inbox_table
        self._clients = clients

    def _query(self, **kwargs: Any) -> list[dict[str, Any]]:
        return [from_item(i) for i in query_all(self._clients("dynamodb"), **kwargs)]

    def level_changes(self, topic: str, end: datetime) -> list[dict[str, Any]]:
        """Every level change of the topic recorded up to `end`, oldest first (the level in force when
        the range starts is the last one before it)."""
        entries = self._query(TableName=self._audit, IndexName="by_target", KeyConditionExpression="target = :t",
                              ExpressionAttributeValues={":t": to_value(f"topic#{topic}")})
        limit = _iso(end)
        return sorted((e for e in entries if e.get("action") == "level_changed" and _stamp(e["at"]) <= limit),
                      key=lambda e: int(e["seq"]))

    def alerts(self, topic: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The topic's alerts triggered in [start, end], oldest first."""
        return self._query(TableName=self._alerts, IndexName="by_topic",
                           KeyConditionExpression="topic = :t AND triggered_at BETWEEN :a AND :b",
                           ExpressionAttributeValues={":t": to_value(topic), ":a": to_value(_iso(start)),
                                                      ":b": to_value(_iso(end))})

    def statements(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Statements published in [start, end], oldest first, each with its versions and deliveries
        (its measured effects are the EffectRepository's)."""
        heads = self._query(TableName=self._statements, IndexName="by_created",
                            KeyConditionExpression="list_pk = :l AND created_at BETWEEN :a AND :b",
                            ExpressionAttributeValues={":l": to_value("statement"),
                                                       ":a": to_value(_iso(start - STATEMENT_LOOKBACK)),
                                                       ":b": to_value(_iso(end))})
        published = [h for h in heads if h.get("published_at") and _iso(start) <= _stamp(h["published_at"]) <= _iso(end)]
        out = []
        for head in sorted(published, key=lambda h: _stamp(h["published_at"])):
            records = self._query(TableName=self._statements, KeyConditionExpression="pk = :pk",
                                  ExpressionAttributeValues={":pk": to_value(head["pk"])})
            statement = next((r for r in records if r["sk"] == "meta"), head)
            statement["versions"] = [r for r in records if r["sk"].startswith("version#")]
            statement["deliveries"] = [r for r in records if r["sk"].startswith("delivery#")]
            out.append(statement)
        return out

    def replies(self, topic: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The replies sent to the topic's conversations opened in [start, end], oldest first: the
        conversations a reply reached (REPLIED, or CLOSED since) list them (`reply_ids`); the replies
        are read by key, a hundred at a time."""
        ids: list[str] = []
        for state in REPLIED_STATES:
            for conversation in self._query(
                    TableName=self._inbox, IndexName="by_time", KeyConditionExpression="#q = :q AND created_at BETWEEN :a AND :b",
                    ExpressionAttributeNames={"#q": "queue"}, ProjectionExpression="post_key, reply_ids",
                    ExpressionAttributeValues={":q": to_value(f"{topic}#{state}"), ":a": to_value(_iso_z(start)),
                                               ":b": to_value(_iso_z(end))}):
                ids += [str(i) for i in conversation.get("reply_ids") or []]
        replies: list[dict[str, Any]] = []
        unique = list(dict.fromkeys(ids))
        for first in range(0, len(unique), BATCH_GET_LIMIT):
            request: dict[str, Any] = {self._inbox: {"Keys": [to_item({"pk": f"{REPLY_PREFIX}{i}", "sk": "#"})
                                                              for i in unique[first:first + BATCH_GET_LIMIT]]}}
            for _ in range(BATCH_GET_ATTEMPTS):
                answer = self._clients("dynamodb").batch_get_item(RequestItems=request)
                replies += [from_item(i) for i in answer["Responses"].get(self._inbox, [])]
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
        return sorted(replies, key=lambda r: str(r.get("created_at")))


def _stamp(value: str) -> str:
    """A stored timestamp in the one form they compare in (UTC, +00:00)."""
    return _iso(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


__all__ = ["FILE_PREFIX", "REPORT_PREFIX", "ReportReads", "ReportRepository", "file_key", "report_pk"]
