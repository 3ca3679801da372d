"""Conversations in the InboxTable: opened once per post, queued by topic and state, moved conditionally.

    pk = conv#<post key>   sk = "#"     one conversation (shape: notes in crisiscomms.models.inbox)
    GSI by_priority: queue = "<topic>#<state>", priority_key = "<999 - priority>#<created_at>"
                     a queue, highest priority first, then oldest first
    GSI by_time:     queue, created_at  a queue, oldest first
    GSI by_due_at:   due_queue, due_at      only open conversations not yet notified as overdue (sparse:
                     due_queue is removed by the notice and by leaving the open states), by stored
                     due time: the overdue check reads what is past it and nothing else
    GSI by_due:      due_queue, created_at  the same set by time posted: at WARNING and above a
                     conversation posted the shorter target ago is due whatever its stored due_at

Opening is one conditional PutItem (attribute_not_exists: one post, one conversation), written by the
Poller as a post is stored; it is no desk action and is not chained (the item carries opened_at). Every
move after it (assign, close, ignore, replied, the overdue notice) is conditional on the conversation's
state, and a desk action on its version too, and goes into the audit chain in the same transaction, the
way crisiscomms.aws.statement_store writes statements. The Poller's other write, `raise_priority` (a
re-read post's grown engagement), is like opening a system fact, not chained: one UpdateItem conditional
on the conversation being open and the priority not falling. Lists and the overdue check are Queries on the
indexes; nothing here scans.

List cursors are opaque: base64url of [order, sort value, post key], validated before use.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Literal

from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import CONFLICT_ATTEMPTS, from_item, jittered, packed, to_item, to_value
from crisiscomms.errors import Conflict, InvalidParameter
from crisiscomms.models.audit import AuditEntry
from crisiscomms.models.inbox import FOLLOW_UP_STATES, OPEN_STATES, conversation_pk, priority_key, queue_key

SK = "#"
CURSOR_MAX_CHARS = 1024
Order = Literal["priority", "time"]
_INDEX = {"priority": ("by_priority", "priority_key"), "time": ("by_time", "created_at")}
_ISO_Z = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"
_SORT_VALUE = {"priority": re.compile(rf"\d{{3}}#{_ISO_Z}"), "time": re.compile(_ISO_Z)}
_POST_KEY = re.compile(r"[a-z]{1,16}#[^\x00-\x1f]{1,512}")


def iso_z(when: datetime) -> str:
    """UTC to the second with a Z, the form the indexes sort on (a naive time is taken as UTC)."""
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_cursor(order: Order, last_key: dict[str, Any]) -> str:
    item = from_item(last_key)
    position = [order[0], item[_INDEX[order][1]], item["pk"].removeprefix("conv#")]
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":"), ensure_ascii=False).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, order: Order, queue: str) -> dict[str, Any]:
    """The ExclusiveStartKey of a cursor `encode_cursor` made for this order; InvalidParameter("cursor") otherwise."""
    refused = InvalidParameter("cursor", "not a cursor this API issued for this order")
    if len(cursor) > CURSOR_MAX_CHARS or not re.fullmatch(r"[A-Za-z0-9_-]+", cursor):
        raise refused
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise refused from exc
    if (not isinstance(position, list) or len(position) != 3 or not all(isinstance(p, str) for p in position)
            or position[0] != order[0] or not _SORT_VALUE[order].fullmatch(position[1])
            or not _POST_KEY.fullmatch(position[2])):
        raise refused
    _, sort_value, post_key = position
    return to_item({"pk": conversation_pk(post_key), "sk": SK, "queue": queue, _INDEX[order][1]: sort_value})


def opening_put(table: str, conversation: dict[str, Any]) -> dict[str, Any]:
    """The conditional Put that opens a conversation (nothing when the post has one): in its state's queue,
    and in the due queues while it is open."""
    queue = queue_key(conversation["topic"], conversation["state"])
    item = {**conversation, "pk": conversation_pk(conversation["post_key"]), "sk": SK, "queue": queue}
    if conversation["state"] in OPEN_STATES:
        item["due_queue"] = queue
    return {"TableName": table, "Item": to_item(item), "ConditionExpression": "attribute_not_exists(pk)"}


def _cancelled_on_our_item(exc: Any, first_own: int) -> bool:
    """A write whose own item failed its condition, or lost a race with another transaction on it
    (in a transaction, the items from `first_own` on: after the audit entry and the anchor)."""
    response = getattr(exc, "response", {})
    code = response.get("Error", {}).get("Code")
    if code == "ConditionalCheckFailedException":
        return True
    if code != "TransactionCanceledException":
        return False
    reasons = response.get("CancellationReasons") or []
    return any(r.get("Code") in ("ConditionalCheckFailed", "TransactionConflict") for r in reasons[first_own:])


class InboxRepository:
    def __init__(self, table: str, *, clients: AwsClients, audit: AuditLog | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._table = table
        self._clients = clients
        self._audit = audit
        self._sleep = sleep

    # --- opening (the Poller: conditional Puts, a page's together) --------------------------------

    def open_conversation(self, conversation: dict[str, Any]) -> bool:
        """Store a new conversation; False (and nothing written) when the post already has one."""
        from botocore.exceptions import ClientError

        try:
            self._clients("dynamodb").put_item(**self._opening_put(conversation))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def open_conversations(self, openings: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> list[bool]:
        """`open_conversation` of many, each with an Update of the caller's that goes with it or not at all (the
        post's follow-up, `PostRepository.follow_up_update`), in as few transactions as DynamoDB allows.

        A conversation the post has already is left out, its Update with it (False); an Update whose condition
        fails is dropped and its conversation still opened. A conflict with another writer sends the
        transaction again after a jittered pause, at most CONFLICT_ATTEMPTS times, then raises its error (the
        transactions before it stay written)."""
        opened = [False] * len(openings)
        for group in packed([1 + (update is not None) for _, update in openings]):
            for index in self._open_together(openings, group):
                opened[index] = True
        return opened

    def _open_together(self, openings: list[tuple[dict[str, Any], dict[str, Any] | None]],
                       pending: list[int]) -> list[int]:
        """One transaction of the `pending` openings, less those refused; the indexes opened."""
        from botocore.exceptions import ClientError

        dropped: set[int] = set()  # openings whose Update was refused: opened without it
        conflicts = 0
        while pending:
            actions: list[dict[str, Any]] = []
            owners: list[tuple[int, bool]] = []  # (opening, is its Put) of each action
            for index in pending:
                conversation, update = openings[index]
                actions.append({"Put": self._opening_put(conversation)})
                owners.append((index, True))
                if update is not None and index not in dropped:
                    actions.append({"Update": update})
                    owners.append((index, False))
            try:
                self._clients("dynamodb").transact_write_items(TransactItems=actions)
                return pending
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons") or []
                failed = [owners[k] for k, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"]
                if failed:  # each such retry has an action fewer: bounded
                    opened_already = {index for index, put in failed if put}
                    pending = [i for i in pending if i not in opened_already]
                    dropped |= {index for index, put in failed if not put}
                    continue
                conflicts += 1
                if conflicts == CONFLICT_ATTEMPTS or not any(r.get("Code") == "TransactionConflict" for r in reasons):
                    raise
            self._sleep(jittered(conflicts))
        return []

    def _opening_put(self, conversation: dict[str, Any]) -> dict[str, Any]:
        return opening_put(self._table, conversation)

    # --- reads ------------------------------------------------------------------------------------

    def get(self, post_key: str) -> dict[str, Any] | None:
        item = self._clients("dynamodb").get_item(TableName=self._table, Key=to_item({"pk": conversation_pk(post_key), "sk": SK}),
                                                  ConsistentRead=True).get("Item")
        return from_item(item) if item else None

    def list_queue(self, topic: str, state: str, *, order: Order = "priority", limit: int = 50,
                   cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a topic's conversations in one state: by priority (highest, then oldest, first)
        or by time (oldest first). One Query on the order's index."""
        index, _ = _INDEX[order]
        queue = queue_key(topic, state)
        kwargs: dict[str, Any] = {"TableName": self._table, "IndexName": index, "KeyConditionExpression": "#q = :q",
                                  "ExpressionAttributeNames": {"#q": "queue"},
                                  "ExpressionAttributeValues": {":q": to_value(queue)}, "Limit": limit}
        if cursor:
            kwargs["ExclusiveStartKey"] = decode_cursor(cursor, order, queue)
        page = self._clients("dynamodb").query(**kwargs)
        nxt = page.get("LastEvaluatedKey")
        return [from_item(i) for i in page["Items"]], encode_cursor(order, nxt) if nxt else None

    def past_due(self, topic: str, state: str, due_by: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """Conversations of a topic in one (open) state, not yet notified, whose stored due_at is at or before
        `due_by` (ISO Z), most overdue first: a Query on the sparse by_due_at index bounded by it, so every
        conversation read is due and one still within its target costs nothing however long it waits (a
        day for praise); one already notified is not in the index at all (a notice removes its due_queue)."""
        return self._due_query("by_due_at", "due_at", queue_key(topic, state), due_by, limit)

    def posted_before(self, topic: str, state: str, before: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """Conversations of a topic in one (open) state, not yet notified, posted at or before `before` (ISO Z),
        oldest first: a Query on the sparse by_due index. At WARNING and above a conversation is due once the
        shorter target has passed since it was posted, whatever its stored due_at says."""
        return self._due_query("by_due", "created_at", queue_key(topic, state), before, limit)

    def _due_query(self, index: str, bound: str, queue: str, until: str, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` conversations of `queue` on the sparse `index` whose range key `bound` is at or before `until`."""
        kwargs: dict[str, Any] = {"TableName": self._table, "IndexName": index,
                                  "KeyConditionExpression": f"due_queue = :q AND {bound} <= :until",
                                  "ExpressionAttributeValues": {":q": to_value(queue), ":until": to_value(until)},
                                  "Limit": max(limit, 25)}
        found: list[dict[str, Any]] = []
        while len(found) < limit:
            page = self._clients("dynamodb").query(**kwargs)
            # The index is eventually consistent: a notice just claimed may still be listed (its claim is conditional).
            found += [c for c in (from_item(i) for i in page["Items"]) if "overdue_notified_at" not in c]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:limit]

    # --- desk moves: conditional on version and state, chained with their audit entry -----------

    def assign(self, current: dict[str, Any], *, to: str, by: str, version: int, at: datetime,
               role: str = "comms-author") -> dict[str, Any]:
        """NEW, ASSIGNED or REPLIED (a follow-up) -> ASSIGNED to `to`; Conflict when the conversation changed or
        is closed."""
        return self._desk_move(current, "ASSIGNED", {"assignee": to, "assigned_by": by, "assigned_at": iso_z(at)},
                               by=by, version=version, at=at, role=role, action="inbox.assigned",
                               after={"assignee": to}, from_states=FOLLOW_UP_STATES)

    def close(self, current: dict[str, Any], *, reason: str, by: str, version: int, at: datetime,
              role: str = "comms-author") -> dict[str, Any]:
        """An open or replied conversation -> CLOSED, with the reason; Conflict when it changed or is closed."""
        return self._desk_move(current, "CLOSED", {"reason": reason, "closed_by": by, "closed_at": iso_z(at)},
                               by=by, version=version, at=at, role=role, action="inbox.closed", after={"reason": reason},
                               from_states=FOLLOW_UP_STATES)

    def ignore(self, current: dict[str, Any], *, reason: str, by: str, version: int, at: datetime,
               role: str = "comms-author") -> dict[str, Any]:
        """An open conversation -> IGNORED, with the reason; Conflict when it changed or is no longer open."""
        return self._desk_move(current, "IGNORED", {"reason": reason, "closed_by": by, "closed_at": iso_z(at)},
                               by=by, version=version, at=at, role=role, action="inbox.ignored", after={"reason": reason})

    def _desk_move(self, current: dict[str, Any], state: str, fields: dict[str, Any], *, by: str, version: int,
                   at: datetime, role: str, action: str, after: dict[str, Any],
                   from_states: tuple[str, ...] = OPEN_STATES) -> dict[str, Any]:
        post_key = current["post_key"]
        queue = queue_key(current["topic"], state)
        updates = {**fields, "state": state, "queue": queue, "updated_at": iso_z(at), "version": version + 1}
        # (one replied to is not due again: its target was met or missed, and noticed, once)
        still_due = state in OPEN_STATES and "overdue_notified_at" not in current and "replied_at" not in current
        if still_due:
            updates["due_queue"] = queue
        allowed = {f":from{i}": s for i, s in enumerate(from_states)}
        update = self._update(post_key, updates, condition=f"version = :expected AND #state IN ({', '.join(allowed)})",
                              values={":expected": version, **allowed}, remove=() if still_due else ("due_queue",))
        entry = AuditEntry(actor=by, role=role, action=action, target=f"conversation#{post_key}", at=at,
                           before={"state": current.get("state"), "assignee": current.get("assignee"), "version": version},
                           after={"state": state, **after})
        if not self._chained(entry, update):
            raise Conflict(f"conversation {post_key} changed or is no longer open; read it again")
        return {**current, **updates}

    # --- the Publisher: a sent reply closes the conversation as REPLIED -------------------------

    def replied_update(self, conversation: dict[str, Any], reply_id: str, at: datetime) -> dict[str, Any]:
        """The transaction item that moves an open conversation to REPLIED and records the reply, for a
        caller that writes it with its own items (the Publisher, with the reply's SENT move)."""
        post_key = conversation["post_key"]
        return self._update(post_key, {"state": "REPLIED", "queue": queue_key(conversation["topic"], "REPLIED"),
                                       "replied_at": iso_z(at), "updated_at": iso_z(at),
                                       "version": int(conversation["version"]) + 1},
                            condition="version = :expected AND #state IN (:open0, :open1)",
                            values={":expected": int(conversation["version"]), ":open0": OPEN_STATES[0],
                                    ":open1": OPEN_STATES[1], ":reply": [reply_id], ":none": []},
                            extra="reply_ids = list_append(if_not_exists(reply_ids, :none), :reply)",
                            remove=("due_queue",))

    def mark_replied(self, post_key: str, reply_id: str, at: datetime, *, entry: AuditEntry | None = None,
                     attempts: int = 3) -> bool:
        """Move the conversation to REPLIED with `reply_id` appended, if it is still open (NEW or ASSIGNED);
        False when it is not open (or not there). A desk move racing it is re-read and tried again."""
        for _ in range(attempts):
            current = self.get(post_key)
            if current is None or current.get("state") not in OPEN_STATES:
                return False
            update = self.replied_update(current, reply_id, at)
            if self._chained(entry, update) if entry is not None else self._plain(update):
                return True
        return False

    # --- the Detector: an overdue conversation notifies the desk once ---------------------------

    def mark_overdue_notified(self, post_key: str, at: datetime, *, entry: AuditEntry | None = None) -> bool:
        """Claim the overdue notice of an open conversation; False when it was claimed already (by
        another run) or the conversation is no longer open. Claim first, send second: never twice."""
        update = self._claim_update(post_key, at)
        return self._chained(entry, update) if entry is not None else self._plain(update)

    def release_overdue_notified(self, post_key: str, claimed_at: datetime, *, entry: AuditEntry | None = None) -> bool:
        """Give a claim back when the notice could not be sent, so the next run sends it."""
        update = self._release_update(post_key, claimed_at)
        return self._chained(entry, update) if entry is not None else self._plain(update)

    def claim_overdue_notices(self, claims: list[tuple[str, AuditEntry]], at: datetime) -> list[bool]:
        """`mark_overdue_notified` of many conversations (post key, its audit entry), in as few transactions
        as DynamoDB allows; True for each claimed, False for each claimed already or no longer open."""
        return self._chained_each([(entry, self._claim_update(key, at)) for key, entry in claims])

    def release_overdue_notices(self, claims: list[tuple[str, AuditEntry]], claimed_at: datetime) -> list[bool]:
        """`release_overdue_notified` of many conversations, in as few transactions as DynamoDB allows."""
        return self._chained_each([(entry, self._release_update(key, claimed_at)) for key, entry in claims])

    def _claim_update(self, post_key: str, at: datetime) -> dict[str, Any]:
        return self._update(post_key, {"overdue_notified_at": iso_z(at)},
                            condition="attribute_exists(pk) AND attribute_not_exists(overdue_notified_at)"
                                      " AND #state IN (:open0, :open1)",
                            values={":open0": OPEN_STATES[0], ":open1": OPEN_STATES[1]}, remove=("due_queue",))

    def _release_update(self, post_key: str, claimed_at: datetime) -> dict[str, Any]:
        return {"TableName": self._table, "Key": to_item({"pk": conversation_pk(post_key), "sk": SK}),
                "UpdateExpression": "SET due_queue = #queue REMOVE overdue_notified_at",
                "ExpressionAttributeNames": {"#queue": "queue"},
                "ConditionExpression": "overdue_notified_at = :at",
                "ExpressionAttributeValues": {":at": to_value(iso_z(claimed_at))}}

    # --- the Poller: a post read again with more engagement raises its conversation's priority --

    def raise_priority(self, post_key: str, *, engagement: int, priority: int, created_at: str,
                       fields: dict[str, Any]) -> str:
        """Write a re-read post's grown engagement, the priority it gives and `fields` (its growth) to
        its open conversation: one conditional UpdateItem, nothing read first.

        "raised" when written; "not_open" when the conversation is CLOSED, IGNORED, REPLIED or gone
        (follow it no further); "not_higher" when it already holds as much engagement or a higher
        priority (another run wrote it). The priority is never lowered. The version is left alone:
        this is no desk move, and a desk move in flight must not be refused because of it."""
        from botocore.exceptions import ClientError

        updates = {**fields, "engagement": int(engagement), "priority": int(priority),
                   "priority_key": priority_key(priority, created_at)}
        names = {f"#f{i}": k for i, k in enumerate(updates)} | {"#state": "state", "#e": "engagement", "#p": "priority"}
        values = {f":f{i}": to_value(v) for i, v in enumerate(updates.values())}
        values |= {":open0": to_value(OPEN_STATES[0]), ":open1": to_value(OPEN_STATES[1]),
                   ":e": to_value(int(engagement)), ":p": to_value(int(priority))}
        try:
            self._clients("dynamodb").update_item(
                TableName=self._table, Key=to_item({"pk": conversation_pk(post_key), "sk": SK}),
                UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(updates))),
                ConditionExpression="attribute_exists(pk) AND #state IN (:open0, :open1)"
                                    " AND (attribute_not_exists(#e) OR #e < :e)"
                                    " AND (attribute_not_exists(#p) OR #p <= :p)",
                ExpressionAttributeNames=names, ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            old = from_item(exc.response["Item"]) if exc.response.get("Item") else {}
            return "not_higher" if old.get("state") in OPEN_STATES else "not_open"
        return "raised"

    # --- plumbing -------------------------------------------------------------------------------

    def _update(self, post_key: str, updates: dict[str, Any], *, condition: str, values: dict[str, Any],
                extra: str | None = None, remove: tuple[str, ...] = ()) -> dict[str, Any]:
        names = {f"#f{i}": k for i, k in enumerate(updates)}
        names["#state"] = "state"
        expression = "SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(updates))) + (f", {extra}" if extra else "")
        if remove:
            names.update({f"#r{i}": k for i, k in enumerate(remove)})
            expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
        all_values = {f":f{i}": to_value(v) for i, v in enumerate(updates.values())}
        all_values.update({k: to_value(v) for k, v in values.items()})
        if "#state" not in condition and "#state" not in expression:
            names.pop("#state")
        return {"TableName": self._table, "Key": to_item({"pk": conversation_pk(post_key), "sk": SK}),
                "UpdateExpression": expression, "ConditionExpression": condition,
                "ExpressionAttributeNames": names, "ExpressionAttributeValues": all_values}

    def _plain(self, update: dict[str, Any]) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._clients("dynamodb").update_item(**update)
        except ClientError as exc:
            if _cancelled_on_our_item(exc, 0):
                return False
            raise
        return True

    def _chained(self, entry: AuditEntry, update: dict[str, Any]) -> bool:
        """The update and its audit entry in one transaction; False when the update's condition failed."""
        from botocore.exceptions import ClientError

        try:
            self._audited().append(entry, with_items=lambda: [{"Update": update}])
        except ClientError as exc:
            if _cancelled_on_our_item(exc, 2):
                return False
            raise
        return True

    def _chained_each(self, changes: list[tuple[AuditEntry, dict[str, Any]]]) -> list[bool]:
        """Updates each with its audit entry, batched into transactions (AuditLog.append_each)."""
        return self._audited().append_each([(entry, [{"Update": update}]) for entry, update in changes])

    def _audited(self) -> AuditLog:
        if self._audit is None:
            raise RuntimeError("this InboxRepository was built without the audit log; it can only open conversations")
        return self._audit


class TopicLevels:
    """The Detector's current level of a topic (its state item `detector#<topic>`), read for opening a
    conversation with the right target: one GetItem of one attribute per topic, kept `max_age` seconds."""

    def __init__(self, state_table: str, *, clients: AwsClients, max_age: float = 60.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._table = state_table
        self._clients = clients
        self._max_age = max_age
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, str | None]] = {}

    def level(self, topic: str) -> str | None:
        cached = self._cache.get(topic)
        now = self._monotonic()
        if cached is not None and now - cached[0] < self._max_age:
            return cached[1]
        item = self._clients("dynamodb").get_item(TableName=self._table, Key=to_item({"pk": f"detector#{topic}"}),
                                                  ProjectionExpression="#l", ExpressionAttributeNames={"#l": "level"}).get("Item")
        level = from_item(item).get("level") if item else None
        self._cache[topic] = (now, str(level) if level is not None else None)
        return self._cache[topic][1]
