"""Measured effects, the Reviewer's schedule and reply waves in the StatementsTable; the Reviewer's reads.

    pk statement#<id> | wave#<id>
        sk effect#after, effect#plus2h   one measurement each (crisiscomms.models.effect.EffectRecord)
        sk effect-topic#<topic>          the subject listed under a topic: list_pk "effects#<topic>",
                                         created_at = publication time (GSI by_created: a topic's effects
                                         by time, for the report), written with the first measurement
        sk review#due                    what is still to measure: while pending it sits in the sparse
                                         partition list_pk "effect-due" with created_at = when it is due,
                                         so due measurements are one Query of by_created, never a Scan
    pk wave#<id>        sk meta          a reply wave: topic, template (or approved text hash), its replies
    pk wave-open#<topic>#<basis>  sk meta   the topic's newest wave from that template, while replies join it
    StateTable pk review#cursor          the last audit sequence number the Reviewer has read

The `statement` partition of by_created is the statements list; the other partitions named above
hold only these items, so the list never sees them. Measurements are written once: a conditional
Put of the effect item, the due item moved on from the stage it was read at, and the audit entry,
in one transaction; a repeat (a second run, a duplicated event) fails the condition and changes
nothing. Scheduling and wave membership are derived from audited entries (a publication, a sent
reply) and are conditional puts, re-derivable from the chain; they are not chained themselves.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from crisiscomms.aws.audit_log import CHAIN, AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import from_item, query_all, to_item, to_value
from crisiscomms.models.audit import AuditEntry
from crisiscomms.models.effect import STAGES, EffectRecord

DUE_PARTITION = "effect-due"
DUE_SK = "review#due"
EFFECT_PREFIX = "effect#"
TOPIC_POINTER_PREFIX = "effect-topic#"
CURSOR_KEY = "review#cursor"
BY_CREATED = "by_created"


def iso_z(when: datetime) -> str:
    """UTC to the second with a Z: the form every range key here sorts on (naive is taken as UTC)."""
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def subject_pk(subject: str, subject_id: str) -> str:
    return f"{'wave' if subject == 'reply_wave' else 'statement'}#{subject_id}"


def topic_partition(topic: str) -> str:
    return f"effects#{topic}"


def _cancelled_by_our_items(exc: Exception, first_own: int) -> bool:
    response = getattr(exc, "response", {})
    code = response.get("Error", {}).get("Code")
    if code == "ConditionalCheckFailedException":
        return True
    if code != "TransactionCanceledException":
        return False
    reasons = response.get("CancellationReasons") or []
    return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons[first_own:])


class EffectRepository:
    """Reads of measured effects (the desk API, the report) and the Reviewer's writes."""

    def __init__(self, table: str, *, clients: AwsClients, audit: AuditLog | None = None) -> None:
        self._table = table
        self._clients = clients
        self._audit = audit

    # --- reads: the API and the report ----------------------------------------------------------

    def for_statement(self, statement_id: str) -> list[EffectRecord]:
        """A statement's measurements, `after` first; empty until the first is made."""
        return self._effects(f"statement#{statement_id}")

    def for_wave(self, wave_id: str) -> list[EffectRecord]:
        return self._effects(f"wave#{wave_id}")

    def _effects(self, pk: str) -> list[EffectRecord]:
        items = query_all(self._clients("dynamodb"), TableName=self._table,
                          KeyConditionExpression="pk = :pk AND begins_with(sk, :e)",
                          ExpressionAttributeValues={":pk": to_value(pk), ":e": to_value(EFFECT_PREFIX)})
        records = [EffectRecord.model_validate(from_item(i)) for i in items]
        return sorted(records, key=lambda r: STAGES.index(r.stage))

    def for_topic(self, topic: str, start: datetime, end: datetime) -> list[EffectRecord]:
        """Every measurement of the statements and reply waves published in [start, end) that measured
        `topic`, oldest publication first: one Query of the topic's partition, one per subject."""
        pointers = query_all(self._clients("dynamodb"), TableName=self._table, IndexName=BY_CREATED,
                             KeyConditionExpression="list_pk = :p AND created_at BETWEEN :a AND :b",
                             ExpressionAttributeValues={":p": to_value(topic_partition(topic)),
                                                        ":a": to_value(iso_z(start)),
                                                        ":b": to_value(iso_z(end - timedelta(seconds=1)))})
        out: list[EffectRecord] = []
        for pointer in (from_item(p) for p in pointers):
            out += self._effects(pointer["pk"])
        return out

    def pending(self, subject: str, subject_id: str) -> dict[str, Any] | None:
        """A subject's due item: the stage it waits for (or "done") and when."""
        item = self._clients("dynamodb").get_item(TableName=self._table,
                                                  Key=to_item({"pk": subject_pk(subject, subject_id), "sk": DUE_SK})).get("Item")
        return from_item(item) if item else None

    def exists(self, subject: str, subject_id: str) -> bool:
        """Whether the statement (or wave) itself is stored: its `meta` item, key only."""
        item = self._clients("dynamodb").get_item(TableName=self._table, ProjectionExpression="pk",
                                                  Key=to_item({"pk": subject_pk(subject, subject_id), "sk": "meta"}))
        return "Item" in item

    # --- the Reviewer's schedule ------------------------------------------------------------------

    def schedule(self, due: dict[str, Any], *, due_at: datetime) -> bool:
        """Put a subject's due item (stage "after"); False when it is scheduled already."""
        from botocore.exceptions import ClientError

        item = {**due, "pk": subject_pk(due["subject"], due["subject_id"]), "sk": DUE_SK,
                "list_pk": DUE_PARTITION, "created_at": iso_z(due_at)}
        try:
            self._clients("dynamodb").put_item(TableName=self._table, Item=to_item(item),
                                               ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if _cancelled_by_our_items(exc, 0):
                return False
            raise
        return True

    def due(self, now: datetime, *, limit: int = 25) -> list[dict[str, Any]]:
        """Due items whose time has come, the longest due first: one Query page of the sparse partition."""
        page = self._clients("dynamodb").query(
            TableName=self._table, IndexName=BY_CREATED, KeyConditionExpression="list_pk = :p AND created_at <= :now",
            ExpressionAttributeValues={":p": to_value(DUE_PARTITION), ":now": to_value(iso_z(now))}, Limit=limit)
        return [from_item(i) for i in page["Items"]]

    def record(self, record: EffectRecord, due: dict[str, Any], *, next_due: datetime | None,
               entry: AuditEntry) -> bool:
        """Store one measurement with its audit entry, moving the due item to the next stage (or out of
        the due partition after the last), and on the first measurement list the subject under each
        topic. False, and nothing written, when this stage was measured already."""
        from botocore.exceptions import ClientError

        if self._audit is None:
            raise RuntimeError("this EffectRepository was built without the audit log; it can only read")
        pk = subject_pk(record.subject, record.subject_id)
        effect = {**record.model_dump(mode="json"), "pk": pk, "sk": f"{EFFECT_PREFIX}{record.stage}"}
        if next_due is not None:
            following = STAGES[STAGES.index(record.stage) + 1]
            move = {"UpdateExpression": "SET #stage = :next, created_at = :due",
                    "ExpressionAttributeValues": {":next": to_value(following), ":due": to_value(iso_z(next_due)),
                                                  ":stage": to_value(record.stage)}}
        else:
            move = {"UpdateExpression": "SET #stage = :done REMOVE list_pk, created_at",
                    "ExpressionAttributeValues": {":done": to_value("done"), ":stage": to_value(record.stage)}}
        items: list[dict[str, Any]] = [
            {"Put": {"TableName": self._table, "Item": to_item(effect), "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Update": {"TableName": self._table, "Key": to_item({"pk": pk, "sk": DUE_SK}),
                        "ConditionExpression": "#stage = :stage", "ExpressionAttributeNames": {"#stage": "stage"},
                        **move}},
        ]
        if record.stage == STAGES[0]:
            for topic in dict.fromkeys(t.topic for t in record.topics):
                items.append({"Put": {"TableName": self._table, "ConditionExpression": "attribute_not_exists(pk)",
                                      "Item": to_item({"pk": pk, "sk": f"{TOPIC_POINTER_PREFIX}{topic}",
                                                       "list_pk": topic_partition(topic),
                                                       "created_at": iso_z(record.published_at),
                                                       "subject": record.subject, "subject_id": record.subject_id})}})
        try:
            self._audit.append(entry, with_items=lambda: items)
        except ClientError as exc:
            if _cancelled_by_our_items(exc, 2):
                return False
            raise
        return True

    # --- reply waves ------------------------------------------------------------------------------

    def open_wave(self, topic: str, basis: str) -> dict[str, Any] | None:
        item = self._clients("dynamodb").get_item(TableName=self._table, ConsistentRead=True,
                                                  Key=to_item({"pk": f"wave-open#{topic}#{basis}", "sk": "meta"})).get("Item")
        return from_item(item) if item else None

    def wave(self, wave_id: str) -> dict[str, Any] | None:
        item = self._clients("dynamodb").get_item(TableName=self._table, ConsistentRead=True,
                                                  Key=to_item({"pk": f"wave#{wave_id}", "sk": "meta"})).get("Item")
        return from_item(item) if item else None

    def start_wave(self, wave: dict[str, Any], due: dict[str, Any], *, due_at: datetime) -> bool:
        """A new wave with its first reply, its due item, and the topic's open-wave pointer moved to it,
        in one transaction; False when this wave exists already (its first reply was seen before)."""
        from botocore.exceptions import ClientError

        pk = f"wave#{wave['id']}"
        pointer = {"pk": f"wave-open#{wave['topic']}#{wave['basis']}", "sk": "meta", "wave_id": wave["id"],
                   "closes_at": wave["closes_at"]}
        items = [
            {"Put": {"TableName": self._table, "Item": to_item({**wave, "pk": pk, "sk": "meta"}),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": self._table, "ConditionExpression": "attribute_not_exists(pk)",
                     "Item": to_item({**due, "pk": pk, "sk": DUE_SK, "list_pk": DUE_PARTITION,
                                      "created_at": iso_z(due_at)})}},
            {"Put": {"TableName": self._table, "Item": to_item(pointer)}},
        ]
        try:
            self._clients("dynamodb").transact_write_items(TransactItems=items)
        except ClientError as exc:
            if _cancelled_by_our_items(exc, 0):
                return False
            raise
        return True

    def join_wave(self, wave_id: str, reply: dict[str, Any]) -> bool:
        """Add a sent reply to a wave; False when it is in it already."""
        from botocore.exceptions import ClientError

        try:
            self._clients("dynamodb").update_item(
                TableName=self._table, Key=to_item({"pk": f"wave#{wave_id}", "sk": "meta"}),
                UpdateExpression="SET replies = list_append(replies, :r), reply_ids = list_append(reply_ids, :i)",
                ConditionExpression="attribute_exists(pk) AND NOT contains(reply_ids, :id)",
                ExpressionAttributeValues={":r": to_value([reply]), ":i": to_value([reply["id"]]),
                                           ":id": to_value(reply["id"])})
        except ClientError as exc:
            if _cancelled_by_our_items(exc, 0):
                return False
            raise
        return True


class ReviewReads:
    """What the Reviewer reads besides its own items: the audit chain (new publications and replies,
    a topic's level at a point of the chain), its cursor, and the inbox's conversation counts."""

    def __init__(self, *, audit_table: str, state_table: str, inbox_table: str, clients: AwsClients,
                 chain: str = CHAIN) -> None:
        self._audit = audit_table
        self._state = state_table
        self._inbox = inbox_table
        self._clients = clients
        self._chain = chain

    # --- the audit chain -------------------------------------------------------------------------

    def cursor(self) -> int:
        item = self._clients("dynamodb").get_item(TableName=self._state, Key=to_item({"pk": CURSOR_KEY}),
                                                  ConsistentRead=True).get("Item")
        return int(from_item(item).get("seq", 0)) if item else 0

    def advance(self, previous: int, seq: int) -> bool:
        """Move the cursor from `previous` to `seq`; False when another run moved it meanwhile."""
        from botocore.exceptions import ClientError

        try:
            self._clients("dynamodb").update_item(
                TableName=self._state, Key=to_item({"pk": CURSOR_KEY}), UpdateExpression="SET seq = :seq",
                ConditionExpression="attribute_not_exists(seq) OR seq = :prev",
                ExpressionAttributeValues={":seq": to_value(seq), ":prev": to_value(previous)})
        except ClientError as exc:
            if _cancelled_by_our_items(exc, 0):
                return False
            raise
        return True

    def entries_after(self, seq: int, *, limit: int = 500) -> list[dict[str, Any]]:
        """The next audit entries after `seq`, in order: one Query page (consistent) of the chain."""
        page = self._clients("dynamodb").query(
            TableName=self._audit, KeyConditionExpression="chain = :c AND seq > :s", ConsistentRead=True,
            ExpressionAttributeValues={":c": to_value(self._chain), ":s": to_value(seq)}, Limit=limit,
            ProjectionExpression="seq, #a, #t, #at", ExpressionAttributeNames={"#a": "action", "#t": "target", "#at": "at"})
        return [from_item(i) for i in page["Items"]]

    def level_before(self, topic: str, seq: int) -> str | None:
        """The topic's level as the Detector last recorded a change of it before entry `seq` (None: never
        changed, so NORMAL): the newest `topic#<topic>` entries before it, on the by_target index."""
        page = self._clients("dynamodb").query(
            TableName=self._audit, IndexName="by_target", KeyConditionExpression="target = :t AND seq < :s",
            ExpressionAttributeValues={":t": to_value(f"topic#{topic}"), ":s": to_value(seq)},
            ScanIndexForward=False, Limit=20)
        for entry in (from_item(i) for i in page["Items"]):
            level = (entry.get("after") or {}).get("level")
            if level:
                return str(level)
        return None

    # --- the inbox: conversations counted by topic, state, kind and time -------------------------

    def conversations(self, topic: str, kind: str, states: Iterable[str], *, start: datetime | None = None,
                      end: datetime | None = None) -> int:
        """How many of a topic's conversations of one kind are in `states`, posted in [start, end) when
        given: a counting Query of each state's by_time partition, filtered on the kind."""
        total = 0
        for state in states:
            condition = "#q = :q"
            values: dict[str, Any] = {":q": to_value(f"{topic}#{state}"), ":k": to_value(kind)}
            if start is not None and end is not None:
                condition += " AND created_at BETWEEN :a AND :b"
                values[":a"] = to_value(iso_z(start))
                values[":b"] = to_value(iso_z(end - timedelta(seconds=1)))
            kwargs: dict[str, Any] = {"TableName": self._inbox, "IndexName": "by_time", "KeyConditionExpression": condition,
                                      "FilterExpression": "#k = :k", "ExpressionAttributeNames": {"#q": "queue", "#k": "kind"},
                                      "ExpressionAttributeValues": values, "Select": "COUNT"}
            while True:
                page = self._clients("dynamodb").query(**kwargs)
                total += int(page.get("Count", 0))
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return total
