"""Reply templates and replies in the InboxTable, and the small read of a conversation replies need.

    pk tmpl#<id>   sk #        the template's head: its current version's fields, state, approval,
                               queue "templates#<kind>" + created_at (GSI by_time: the library by kind)
                   sk v#0001   one version as written (text, placeholder rules, their hashes) and what
                               became of it (APPROVED / REJECTED, by whom)
    pk reply#<id>  sk #        one reply: conversation, target, text and its hash, template or none,
                               state (models.inbox.ReplyState), queue "replies#<post key>" + created_at
                               (GSI by_time: a conversation's replies, oldest first)
    pk conv#<post key> sk #    the conversation (written by the inbox's triage; read here)

No Scan: every list is a query of one by_time partition. Every change is conditional (the head's
`revision`, a reply's `state` and `version`) and is one transaction with its audit entry.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.dynamo import from_item, query_all, to_item, to_value
from crisiscomms.errors import Conflict
from crisiscomms.models.audit import AuditEntry
from crisiscomms.models.inbox import REPLY_PREFIX, TEMPLATE_PREFIX, conversation_pk

HEAD = "#"
TIME_INDEX = "by_time"
TEMPLATE_KINDS = ("reply", "holding")


def template_queue(kind: str) -> str:
    """The by_time partition of a kind of template (topic queues are "<topic>#<STATE>", so never this)."""
    return f"templates#{kind}"


def reply_queue(post_key: str) -> str:
    """The by_time partition of one conversation's replies."""
    return f"replies#{post_key}"


def version_sk(version: int) -> str:
    return f"v#{version:04d}"


def _key(pk: str, sk: str = HEAD) -> dict[str, Any]:
    return to_item({"pk": pk, "sk": sk})


def _cancelled_by_condition(exc: Exception, first_own_item: int = 2) -> bool:
    """A transaction refused because one of our own items' conditions failed (not the audit chain's)."""
    response = getattr(exc, "response", {})
    if response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    reasons = response.get("CancellationReasons") or []
    return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons[first_own_item:])


class ReplyRepository:
    def __init__(self, table: str, audit: AuditLog) -> None:
        self._table = table
        self._audit = audit
        self._clients = audit.clients

    def _append(self, entry: AuditEntry, items: Callable[[], list[dict[str, Any]]]) -> None:
        """The change and its audit entry in one transaction; threads of one process queue for the chain."""
        self._audit.append(entry, with_items=items)

    def _get(self, pk: str, sk: str = HEAD) -> dict[str, Any] | None:
        item = self._clients("dynamodb").get_item(TableName=self._table, Key=_key(pk, sk), ConsistentRead=True).get("Item")
        return from_item(item) if item else None

    def _by_time(self, queue: str) -> list[dict[str, Any]]:
        items = query_all(self._clients("dynamodb"), TableName=self._table, IndexName=TIME_INDEX,
                          KeyConditionExpression="#q = :q", ExpressionAttributeNames={"#q": "queue"},
                          ExpressionAttributeValues={":q": to_value(queue)})
        return [from_item(i) for i in items]

    # --- conversations: read, and opened when the desk answers a post triage left out ------------

    def conversation(self, post_key: str) -> dict[str, Any] | None:
        return self._get(conversation_pk(post_key))

    def open_conversation(self, conversation: dict[str, Any], entry: AuditEntry) -> bool:
        """Open a conversation the desk asked for, with its audit entry; False (nothing written) when the
        post has one already (opened meanwhile by the Poller or another person)."""
        from botocore.exceptions import ClientError

        from crisiscomms.aws.inbox_store import opening_put

        try:
            self._append(entry, lambda: [{"Put": opening_put(self._table, conversation)}])
        except ClientError as exc:
            if _cancelled_by_condition(exc):
                return False
            raise
        return True

    # --- templates --------------------------------------------------------------------------------

    def template(self, template_id: str) -> dict[str, Any] | None:
        return self._get(f"{TEMPLATE_PREFIX}{template_id}")

    def template_version(self, template_id: str, version: int) -> dict[str, Any] | None:
        return self._get(f"{TEMPLATE_PREFIX}{template_id}", version_sk(version))

    def template_versions(self, template_id: str) -> list[dict[str, Any]]:
        items = query_all(self._clients("dynamodb"), TableName=self._table, ConsistentRead=True,
                          KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
                          ExpressionAttributeValues={":pk": to_value(f"{TEMPLATE_PREFIX}{template_id}"),
                                                     ":v": to_value("v#")})
        return [from_item(i) for i in items]

    def list_templates(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The library (heads), oldest first, of one kind or both."""
        heads: list[dict[str, Any]] = []
        for k in (kind,) if kind else TEMPLATE_KINDS:
            heads += self._by_time(template_queue(k))
        return heads

    def create_template(self, head: dict[str, Any], version: dict[str, Any], entry: AuditEntry) -> None:
        pk = f"{TEMPLATE_PREFIX}{head['id']}"
        self._append(entry, lambda: [
            {"Put": {"TableName": self._table, "ConditionExpression": "attribute_not_exists(pk)",
                     "Item": to_item({**head, "pk": pk, "sk": HEAD, "queue": template_queue(head["kind"]), "revision": 1})}},
            {"Put": {"TableName": self._table, "ConditionExpression": "attribute_not_exists(pk)",
                     "Item": to_item({**version, "pk": pk, "sk": version_sk(version["version"])})}},
        ])

    def change_template(self, head: dict[str, Any], updates: dict[str, Any], entry: AuditEntry, *,
                        new_version: dict[str, Any] | None = None, version_updates: dict[str, Any] | None = None,
                        expect_hashes: dict[str, str] | None = None, remove: tuple[str, ...] = ()) -> None:
        """Apply `updates` to the head if nobody changed it since it was read (its revision), with a new
        version item or changes to the current one; `expect_hashes` also requires the head and the
        version item to still hold those hashes (an approval binds to them). Conflict (409) otherwise."""
        pk = f"{TEMPLATE_PREFIX}{head['id']}"
        names = {f"#f{i}": k for i, k in enumerate(updates)}
        values = {f":v{i}": to_value(v) for i, v in enumerate(updates.values())}
        values.update({":rev": to_value(head["revision"]), ":next": to_value(head["revision"] + 1)})
        expression = "SET " + ", ".join([*(f"#f{i} = :v{i}" for i in range(len(updates))), "revision = :next"])
        if remove:
            names.update({f"#r{i}": k for i, k in enumerate(remove)})
            expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
        condition = "revision = :rev"
        if expect_hashes:
            names.update({"#th": "text_hash", "#rh": "rules_hash"})
            values.update({":th": to_value(expect_hashes["text_hash"]), ":rh": to_value(expect_hashes["rules_hash"])})
            condition += " AND #th = :th AND #rh = :rh"
        items: list[dict[str, Any]] = [{"Update": {
            "TableName": self._table, "Key": _key(pk), "UpdateExpression": expression, "ConditionExpression": condition,
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}}]
        if new_version is not None:
            items.append({"Put": {"TableName": self._table, "ConditionExpression": "attribute_not_exists(pk)",
                                  "Item": to_item({**new_version, "pk": pk, "sk": version_sk(new_version["version"])})}})
        if version_updates:
            vnames = {f"#u{i}": k for i, k in enumerate(version_updates)}
            vvalues = {f":u{i}": to_value(v) for i, v in enumerate(version_updates.values())}
            vcondition = "attribute_exists(pk)"
            if expect_hashes:
                vnames.update({"#th": "text_hash", "#rh": "rules_hash"})
                vvalues.update({":th": to_value(expect_hashes["text_hash"]), ":rh": to_value(expect_hashes["rules_hash"])})
                vcondition += " AND #th = :th AND #rh = :rh"
            items.append({"Update": {
                "TableName": self._table, "Key": _key(pk, version_sk(head["current_version"])),
                "UpdateExpression": "SET " + ", ".join(f"#u{i} = :u{i}" for i in range(len(version_updates))),
                "ConditionExpression": vcondition, "ExpressionAttributeNames": vnames, "ExpressionAttributeValues": vvalues}})
        self._transact(entry, items, what=f"template {head['id']}")

    # --- replies ----------------------------------------------------------------------------------

    def reply(self, reply_id: str) -> dict[str, Any] | None:
        return self._get(f"{REPLY_PREFIX}{reply_id}")

    def replies_for(self, post_key: str) -> list[dict[str, Any]]:
        """A conversation's replies, oldest first."""
        return self._by_time(reply_queue(post_key))

    def create_reply(self, reply: dict[str, Any], entry: AuditEntry) -> None:
        item = {**reply, "pk": f"{REPLY_PREFIX}{reply['id']}", "sk": HEAD, "queue": reply_queue(reply["post_key"])}
        self._transact(entry, [{"Put": {"TableName": self._table, "Item": to_item(item),
                                        "ConditionExpression": "attribute_not_exists(pk)"}}], what=f"reply {reply['id']}")

    def move_reply(self, reply: dict[str, Any], *, expect: tuple[str, ...], updates: dict[str, Any],
                   entry: AuditEntry | None = None, remove: tuple[str, ...] = ()) -> bool:
        """Move a reply if it is still in one of `expect` at the `version` it was read with (the
        version goes up by one); False when it was not. With `entry`, one transaction with it."""
        from botocore.exceptions import ClientError

        names = {f"#f{i}": k for i, k in enumerate(updates)} | {"#state": "state", "#version": "version"}
        values = {f":v{i}": to_value(v) for i, v in enumerate(updates.values())}
        values.update({f":e{i}": to_value(s) for i, s in enumerate(expect)})
        values.update({":ver": to_value(int(reply["version"])), ":next": to_value(int(reply["version"]) + 1)})
        expression = "SET " + ", ".join([*(f"#f{i} = :v{i}" for i in range(len(updates))), "#version = :next"])
        if remove:
            names.update({f"#r{i}": k for i, k in enumerate(remove)})
            expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
        update = {
            "TableName": self._table, "Key": _key(f"{REPLY_PREFIX}{reply['id']}"), "UpdateExpression": expression,
            "ConditionExpression": "#version = :ver AND #state IN (" + ", ".join(f":e{i}" for i in range(len(expect))) + ")",
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values,
        }
        try:
            if entry is None:
                self._clients("dynamodb").update_item(**update)
            else:
                self._append(entry, lambda: [{"Update": update}])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException" or _cancelled_by_condition(exc):
                return False
            raise
        return True

    def _transact(self, entry: AuditEntry, items: list[dict[str, Any]], *, what: str) -> None:
        """One transaction with the audit entry; a lost race on our own items becomes Conflict (409)."""
        from botocore.exceptions import ClientError

        try:
            self._append(entry, lambda: items)
        except ClientError as exc:
            if _cancelled_by_condition(exc):
                raise Conflict(f"{what} changed while this request was being handled; read it again") from exc
            raise
