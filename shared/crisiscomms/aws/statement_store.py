"""Statements, their versions and per-channel deliveries in one DynamoDB table.

    pk = statement#<id>   sk = meta              the statement (state, current version, approval)
                          sk = version#0001      one immutable version of the text and its renderings
                          sk = delivery#<key>    one channel (and language) of one published version
                          sk = prepared#<key>    what a channel holds, not public, for an approved version
    GSI by_created: list_pk = "statement", created_at   newest statements first
    GSI by_qa_situation: qa_situation, created_at       Q&A statements naming a reply situation (sparse)

Every change is one transaction with its audit entry, guarded by the statement's `revision`,
so two desks acting at once cannot both win and nothing is stored half-way.

The Publisher handles a batch in threads, all appending to the one audit chain. Threads of one
process queue for it here rather than race: a lost race costs a re-read and a retry after a
backoff, a queue only the wait. Other processes still race, and the chain's conditions decide.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from collections.abc import Callable
from typing import Any

from crisiscomms.errors import Conflict, InvalidParameter
from crisiscomms.models.audit import AuditEntry
from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import from_item, query_all, to_item, to_value


def _key(statement_id: str, sk: str) -> dict[str, Any]:
    return to_item({"pk": f"statement#{statement_id}", "sk": sk})


def version_sk(version: int) -> str:
    return f"version#{version:04d}"


_STATEMENT_ID = re.compile(r"st-[0-9a-f]{16}")
CURSOR_MAX_CHARS = 256


def encode_cursor(last_key: dict[str, Any]) -> str:
    """An opaque list cursor: the position (created_at, id), not the table's key layout."""
    item = from_item(last_key)
    position = [item["created_at"], item["pk"].removeprefix("statement#")]
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    """The ExclusiveStartKey for a cursor `encode_cursor` made; InvalidParameter("next") for anything else."""
    def refuse(reason: str) -> InvalidParameter:
        return InvalidParameter("next", reason)

    if len(cursor) > CURSOR_MAX_CHARS or not re.fullmatch(r"[A-Za-z0-9_-]+", cursor):
        raise refuse("not a cursor this API issued")
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise refuse("not a cursor this API issued") from exc
    if (not isinstance(position, list) or len(position) != 2 or not all(isinstance(p, str) for p in position)
            or not _STATEMENT_ID.fullmatch(position[1])):
        raise refuse("not a cursor this API issued")
    created_at, sid = position
    try:
        datetime.fromisoformat(created_at)
    except ValueError as exc:
        raise refuse("not a cursor this API issued") from exc
    return to_item({"pk": f"statement#{sid}", "sk": "meta", "list_pk": "statement", "created_at": created_at})


class StatementRepository:
    def __init__(self, table: str, audit: AuditLog) -> None:
        self._table = table
        self._audit = audit
        self._clients = audit.clients

    def _append(self, entry: AuditEntry, items: Callable[[], list[dict[str, Any]]]) -> None:
        self._audit.append(entry, with_items=items)

    # --- reads ----------------------------------------------------------------------------------

    def load(self, statement_id: str) -> dict[str, Any] | None:
        """The statement with its versions and deliveries, or None."""
        items = query_all(self._clients("dynamodb"), TableName=self._table, KeyConditionExpression="pk = :pk",
                           ExpressionAttributeValues={":pk": to_value(f"statement#{statement_id}")}, ConsistentRead=True)
        records = [from_item(i) for i in items]
        meta = next((r for r in records if r["sk"] == "meta"), None)
        if meta is None:
            return None
        meta["versions"] = [r for r in records if r["sk"].startswith("version#")]
        meta["deliveries"] = [r for r in records if r["sk"].startswith("delivery#")]
        meta["prepared"] = [r for r in records if r["sk"].startswith("prepared#")]
        return meta

    def load_states(self, statement_id: str) -> dict[str, Any] | None:
        """The statement's meta with only the key, state and version of each delivery (no texts,
        versions or prepared items): what settling the statement's state needs, in one small read."""
        items = query_all(self._clients("dynamodb"), TableName=self._table,
                          KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :meta",
                          ProjectionExpression="sk, id, #state, revision, published_version, version",
                          ExpressionAttributeNames={"#state": "state"},
                          ExpressionAttributeValues={":pk": to_value(f"statement#{statement_id}"),
                                                     ":first": to_value("delivery#"), ":meta": to_value("meta")},
                          ConsistentRead=True)
        records = [from_item(i) for i in items]
        meta = next((r for r in records if r["sk"] == "meta"), None)
        if meta is None:
            return None
        meta["deliveries"] = [r for r in records if r["sk"].startswith("delivery#")]
        return meta

    def list(self, *, limit: int = 50, state: str | None = None, start: str | None = None) -> tuple[list[dict], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self._table, "IndexName": "by_created", "KeyConditionExpression": "list_pk = :l",
            "ExpressionAttributeValues": {":l": to_value("statement")}, "ScanIndexForward": False, "Limit": limit,
        }
        if state:
            kwargs["FilterExpression"] = "#s = :s"
            kwargs["ExpressionAttributeNames"] = {"#s": "state"}
            kwargs["ExpressionAttributeValues"][":s"] = to_value(state)
        if start:  # an empty `next` is the first page, as before
            kwargs["ExclusiveStartKey"] = decode_cursor(start)
        page = self._clients("dynamodb").query(**kwargs)
        nxt = page.get("LastEvaluatedKey")
        return [from_item(i) for i in page["Items"]], encode_cursor(nxt) if nxt else None

    def qa_statements_for(self, situation: str, *, states: tuple[str, ...], limit: int = 20) -> list[dict[str, Any]]:
        """The meta items of Q&A statements (entries and their corrections) naming `situation`, in one of
        `states`, newest first, at most `limit`: Queries on the sparse by_qa_situation index, which holds
        only those statements."""
        kwargs: dict[str, Any] = {
            "TableName": self._table, "IndexName": "by_qa_situation", "KeyConditionExpression": "qa_situation = :s",
            "FilterExpression": "#state IN (" + ", ".join(f":st{i}" for i in range(len(states))) + ")",
            "ExpressionAttributeNames": {"#state": "state"},
            "ExpressionAttributeValues": {":s": to_value(situation), **{f":st{i}": to_value(s) for i, s in enumerate(states)}},
            "ScanIndexForward": False, "Limit": max(limit, 25)}
        found: list[dict[str, Any]] = []
        while len(found) < limit:
            page = self._clients("dynamodb").query(**kwargs)
            found += [from_item(i) for i in page["Items"]]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:limit]

    def version(self, statement_id: str, version: int) -> dict[str, Any] | None:
        """One stored version of the statement's text, or None."""
        item = self._clients("dynamodb").get_item(TableName=self._table, Key=_key(statement_id, version_sk(version)),
                                                  ConsistentRead=True).get("Item")
        return from_item(item) if item else None

    def delivery(self, statement_id: str, delivery_key: str) -> dict[str, Any] | None:
        item = self._clients("dynamodb").get_item(TableName=self._table, Key=_key(statement_id, f"delivery#{delivery_key}"),
                                           ConsistentRead=True).get("Item")
        return from_item(item) if item else None

    def prepared(self, statement_id: str, key: str) -> dict[str, Any] | None:
        item = self._clients("dynamodb").get_item(TableName=self._table, Key=_key(statement_id, f"prepared#{key}"),
                                           ConsistentRead=True).get("Item")
        return from_item(item) if item else None

    # --- writes: each with its audit entry, in one transaction ----------------------------------

    def create(self, meta: dict[str, Any], version: dict[str, Any], entry: AuditEntry) -> None:
        sid = meta["id"]
        self._append(entry, lambda: [
            {"Put": {"TableName": self._table, "Item": to_item({**meta, "pk": f"statement#{sid}", "sk": "meta",
                                                                 "list_pk": "statement", "revision": 1}),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": self._table, "Item": to_item({**version, "pk": f"statement#{sid}",
                                                                 "sk": version_sk(version["version"])}),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ])

    def change(self, statement: dict[str, Any], updates: dict[str, Any], entry: AuditEntry, *,
               new_version: dict[str, Any] | None = None, new_deliveries: list[dict[str, Any]] | None = None,
               new_prepared: list[dict[str, Any]] | None = None,
               prepared_updates: dict[str, dict[str, Any]] | None = None, remove: tuple[str, ...] = ()) -> None:
        """Apply `updates` to the statement if nobody changed it since it was read, with any new
        version, deliveries and prepared entries, and changes to existing prepared entries (by key).

        Prepared entries are changed whatever the Publisher did to them meanwhile: the statement's
        revision guards the change, and the Publisher acts on what it finds afterwards."""
        sid = statement["id"]
        names = {f"#f{i}": k for i, k in enumerate(updates)}
        values = {f":v{i}": to_value(v) for i, v in enumerate(updates.values())}
        values[":rev"] = to_value(statement["revision"])
        values[":next"] = to_value(statement["revision"] + 1)
        expression = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(updates))) + (", " if updates else "") + "revision = :next"
        if remove:
            names.update({f"#r{i}": k for i, k in enumerate(remove)})
            expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
        items: list[dict[str, Any]] = [{"Update": {
            "TableName": self._table, "Key": _key(sid, "meta"), "UpdateExpression": expression,
            "ConditionExpression": "revision = :rev", "ExpressionAttributeNames": names or None,
            "ExpressionAttributeValues": values,
        }}]
        if not names:
            items[0]["Update"].pop("ExpressionAttributeNames")
        if new_version:
            items.append({"Put": {"TableName": self._table, "Item": to_item({**new_version, "pk": f"statement#{sid}",
                                                                             "sk": version_sk(new_version["version"])}),
                                  "ConditionExpression": "attribute_not_exists(pk)"}})
        for delivery in new_deliveries or []:
            items.append({"Put": {"TableName": self._table,
                                  "Item": to_item({**delivery, "pk": f"statement#{sid}", "sk": f"delivery#{delivery['key']}"}),
                                  "ConditionExpression": "attribute_not_exists(pk)"}})
        for prepared in new_prepared or []:
            items.append({"Put": {"TableName": self._table,
                                  "Item": to_item({**prepared, "pk": f"statement#{sid}", "sk": f"prepared#{prepared['key']}"}),
                                  "ConditionExpression": "attribute_not_exists(pk)"}})
        for key, changes in (prepared_updates or {}).items():
            items.append({"Update": {"TableName": self._table, "Key": _key(sid, f"prepared#{key}"),
                                     "UpdateExpression": "SET " + ", ".join(f"#p{i} = :p{i}" for i in range(len(changes))),
                                     "ConditionExpression": "attribute_exists(pk)",
                                     "ExpressionAttributeNames": {f"#p{i}": k for i, k in enumerate(changes)},
                                     "ExpressionAttributeValues": {f":p{i}": to_value(v) for i, v in enumerate(changes.values())}}})
        self._transact(entry, items)

    def _transact(self, entry: AuditEntry, items: list[dict[str, Any]]) -> None:
        """One transaction with the audit entry; a lost race on the statement becomes Conflict (409)."""
        from botocore.exceptions import ClientError

        try:
            self._append(entry, lambda: items)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                raise Conflict("the statement changed while this request was being handled; read it again") from exc
            raise

    def move_delivery(self, statement_id: str, key: str, *, expect: tuple[str, ...], updates: dict[str, Any],
                      entry: AuditEntry | None = None, remove: tuple[str, ...] = (),
                      unchanged: dict[str, Any] | None = None) -> bool:
        """Move a delivery between states if it is still in one of `expect` (and each field of
        `unchanged` still holds its value, None meaning absent: a counter two copies of a message
        could both raise); False when it was not."""
        return self._move(statement_id, f"delivery#{key}", expect=expect, updates=updates, entry=entry, remove=remove,
                          unchanged=unchanged)

    def move_prepared(self, statement_id: str, key: str, *, expect: tuple[str, ...], updates: dict[str, Any],
                      entry: AuditEntry | None = None) -> bool:
        """Move a prepared entry between states if it is still in one of `expect`; False when it was not."""
        return self._move(statement_id, f"prepared#{key}", expect=expect, updates=updates, entry=entry)

    def _move(self, statement_id: str, sk: str, *, expect: tuple[str, ...], updates: dict[str, Any],
              entry: AuditEntry | None, remove: tuple[str, ...] = (), unchanged: dict[str, Any] | None = None) -> bool:
        from botocore.exceptions import ClientError

        names = {f"#f{i}": k for i, k in enumerate(updates)}
        values = {f":v{i}": to_value(v) for i, v in enumerate(updates.values())}
        values.update({f":e{i}": to_value(s) for i, s in enumerate(expect)})
        expression = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(updates)))
        if remove:
            names.update({f"#r{i}": k for i, k in enumerate(remove)})
            expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
        condition = "#state IN (" + ", ".join(f":e{i}" for i in range(len(expect))) + ")"
        for i, (field, value) in enumerate((unchanged or {}).items()):
            names[f"#u{i}"] = field
            if value is None:
                condition += f" AND attribute_not_exists(#u{i})"
            else:
                values[f":u{i}"] = to_value(value)
                condition += f" AND #u{i} = :u{i}"
        update = {
            "TableName": self._table, "Key": _key(statement_id, sk),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {**names, "#state": "state"}, "ExpressionAttributeValues": values,
        }
        try:
            if entry is None:
                self._clients("dynamodb").update_item(**update)
            else:
                self._append(entry, lambda: [{"Update": update}])
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "ConditionalCheckFailedException" or (
                    code == "TransactionCanceledException"
                    and any(r.get("Code") == "ConditionalCheckFailed" for r in exc.response.get("CancellationReasons", [])[2:])):
                return False
            raise
        return True
