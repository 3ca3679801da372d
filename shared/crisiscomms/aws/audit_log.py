"""Appending to and reading the audit chain in DynamoDB.

An append is one transaction: put the entry (conditional on its sequence number being new)
and move the anchor from the previous head to it (conditional on the anchor still being
there). Two concurrent writers cannot both win the same position; the loser re-reads the
head and tries the next one, a bounded number of times. Within one process, appends waiting for
the head are written together (`AuditLog.append`). No function's IAM policy allows
updating or deleting an entry; only the anchor item, in the state table, moves.

The anchor is the writers' concurrency mechanism, not evidence: verification trusts the signed
digests (crisiscomms.audit.digests). An anchor that is not a well-formed (seq, hash) pair stops
appends with AuditChainUnavailable, an AuditContention (503 with Retry-After: nothing changed),
never a KeyError; the Digest function raises the alarm for the operators to repair it.
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from crisiscomms.errors import AuditContention
from crisiscomms.models.audit import GENESIS, AuditEntry, chain_record
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import TRANSACT_ACTIONS, from_item, jittered, packed, to_item, to_value

CHAIN = "audit"
MAX_ATTEMPTS = 20
WRITTEN_HEAD_SECONDS = 1.0  # how long the head this log wrote is chained to without reading the anchor
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class AuditChainUnavailable(AuditContention):
    """The anchor cannot be used to chain a new entry (malformed): nothing was changed."""


class AuditLog:
    def __init__(self, audit_table: str, state_table: str, *, clients: AwsClients, chain: str = CHAIN,
                 sleep: Callable[[float], None] = time.sleep, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.clients = clients
        self._clients = clients
        self._table = audit_table
        self._state = state_table
        self._chain = chain
        self._sleep = sleep
        # Writers of one process take turns at the chain's head instead of racing for it: every
        # repository of a function shares this log (the composition root builds one per table).
        self._queue = threading.Lock()
        # Appends waiting for their turn: whoever takes the head next writes them all (`append`).
        self._waiting: list[_Waiting] = []
        self._joining = threading.Lock()
        # The head this log last wrote, and when: the next append of a burst (a Publisher batch's moves)
        # chains to it without reading the anchor first. The anchor's condition still decides: if another
        # writer moved it meanwhile, the transaction is refused, the anchor is read and the append tried again.
        self._written: tuple[dict[str, Any], float] | None = None
        self._monotonic = monotonic

    @property
    def _anchor_key(self) -> dict[str, Any]:
        return to_item({"pk": f"audit-anchor#{self._chain}"})

    def head(self) -> dict[str, Any] | None:
        item = self._clients("dynamodb").get_item(TableName=self._state, Key=self._anchor_key, ConsistentRead=True).get("Item")
        return from_item(item) if item else None

    def _usable_head(self) -> dict[str, Any] | None:
        """The anchor, checked before anything is chained to it."""
        head = self.head()
        if head is None:
            return None
        seq, value = head.get("seq"), head.get("hash")
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1 or not isinstance(value, str) or not _HEX64.match(value):
            raise AuditChainUnavailable(f"the audit anchor of chain {self._chain!r} is malformed "
                                        f"(seq {seq!r}, hash {value!r}); no entry can be chained to it")
        return head

    def _head_to_chain(self, attempt: int) -> dict[str, Any] | None:
        """The head to chain the next entry to: the one this log wrote within WRITTEN_HEAD_SECONDS on a first
        attempt, else the anchor as read now."""
        if attempt == 0 and self._written is not None and self._monotonic() - self._written[1] < WRITTEN_HEAD_SECONDS:
            return self._written[0]
        self._written = None
        return self._usable_head()

    def _wrote(self, seq: int, value: str) -> None:
        self._written = ({"seq": seq, "hash": value}, self._monotonic())

    def _lost_race(self, attempt: int) -> None:
        """Another writer moved the anchor: a pause before reading it, except after chaining to a head of our
        own (the first attempt of a burst), which is read again at once."""
        if attempt or self._written is None:
            self._sleep(jittered(attempt))
        self._written = None

    def append(self, entry: AuditEntry, *, with_items: Callable[[], list[dict[str, Any]]] | None = None) -> dict[str, Any]:
        """Append one entry, in the same transaction as `with_items()` (the state change it records).

        Appends of one process that wait for the head join (group commit): whoever takes it writes every
        append waiting, each with its own entry and items, in as few transactions as DynamoDB allows. Why:
        a Publisher batch moves its deliveries at once, and eight turns at the head, one transaction
        each, held the last delivery back by all the others. Each append still gets its own answer: its
        record, or the error it would have met alone (a refused change raises its ClientError with the
        reasons where a lone append has them, and is left out of the others' transaction).
        """
        waiting = _Waiting(entry, with_items)
        with self._joining:
            self._waiting.append(waiting)
        with self._queue:
            if not waiting.settled:
                with self._joining:
                    group, self._waiting = self._waiting, []
                if waiting not in group:  # taken by a writer stopped before it settled it (a BaseException)
                    group.insert(0, waiting)
                self._write_group(group)
        return waiting.outcome()

    def _write_group(self, group: list[_Waiting]) -> None:
        """Every waiting append of `group` settled: written, or given the error it met."""
        for waiting in group:
            try:
                waiting.items = waiting.with_items() if waiting.with_items else []
            except Exception as exc:  # the caller's own mistake, its own answer
                waiting.fail(exc)
        ready = [w for w in group if not w.settled]
        while ready:
            together = _joinable(ready, TRANSACT_ACTIONS - 1)  # and the anchor
            ready = ready[len(together):]
            if len(together) == 1:
                self._write_alone(together[0])
            else:
                self._write_together(together)

    def _write_alone(self, waiting: _Waiting) -> None:
        try:
            waiting.succeed(self._append(waiting.entry, with_items=lambda: waiting.items))
        except Exception as exc:
            waiting.fail(exc)

    def _write_together(self, together: list[_Waiting]) -> None:
        from botocore.exceptions import ClientError

        refusals: dict[int, ClientError] = {}
        try:
            records = self._append_chunk([(w.entry, w.items) for w in together], list(range(len(together))), refusals)
        except ClientError:
            for waiting in together:  # refused as a whole (too large, one item twice...): each alone says why
                self._write_alone(waiting)
            return
        except Exception as exc:  # contention, or an unknown outcome (a timeout): each append is told, as alone
            for waiting in together:
                waiting.fail(exc)
            return
        for index, waiting in enumerate(together):
            if index in records:
                waiting.succeed(records[index])
            else:
                waiting.fail(refusals[index])

    def _append(self, entry: AuditEntry, *, with_items: Callable[[], list[dict[str, Any]]] | None) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        for attempt in range(MAX_ATTEMPTS):
            head = self._head_to_chain(attempt)
            seq = int(head["seq"]) + 1 if head else 1
            record = chain_record(entry, seq=seq, prev_hash=head["hash"] if head else GENESIS)
            anchor_condition = "attribute_not_exists(pk)" if head is None else "seq = :prev"
            anchor_values = {":seq": to_value(seq), ":hash": to_value(record["hash"])}
            if head is not None:
                anchor_values[":prev"] = to_value(int(head["seq"]))
            items = [
                {"Put": {"TableName": self._table, "Item": to_item({"chain": self._chain, **record}),
                         "ConditionExpression": "attribute_not_exists(seq)"}},
                {"Update": {"TableName": self._state, "Key": self._anchor_key,
                            "UpdateExpression": "SET seq = :seq, #h = :hash",
                            "ExpressionAttributeNames": {"#h": "hash"},
                            "ConditionExpression": anchor_condition,
                            "ExpressionAttributeValues": anchor_values}},
                *(with_items() if with_items else []),
            ]
            try:
                self._clients("dynamodb").transact_write_items(TransactItems=items)
                self._wrote(seq, record["hash"])
                return record
            except ClientError as exc:
                if not _lost_the_race(exc):
                    raise
            self._lost_race(attempt)
        raise AuditContention(f"could not append to the audit chain after {MAX_ATTEMPTS} attempts")

    def append_each(self, changes: list[tuple[AuditEntry, list[dict[str, Any]]]]) -> list[bool]:
        """Many state changes, each with its own entry, in as few transactions as DynamoDB allows.

        Why: a Detector run may claim dozens of conversations; one transaction each cost two requests a
        claim. Entries are chained in the order given. A change whose own items fail their condition
        (another writer got there first) is left out and the rest is tried again, so one refusal never
        drops the others: True for each change written, False for each refused. Bounded like `append`.
        """
        written = [False] * len(changes)
        for group in packed([1 + len(items) for _, items in changes], TRANSACT_ACTIONS - 1):  # and the anchor
            with self._queue:
                for index in self._append_chunk(changes, group):
                    written[index] = True
        return written

    def _append_chunk(self, changes: list[tuple[AuditEntry, list[dict[str, Any]]]], pending: list[int],
                      refusals: dict[int, Any] | None = None) -> dict[int, dict[str, Any]]:
        """The record of each of `changes` written: `pending` in one transaction, less those whose own items
        were refused (each refusal, as a lone append would have met it, put in `refusals` when given)."""
        from botocore.exceptions import ClientError

        attempt = 0
        while pending:
            head = self._head_to_chain(attempt)
            seq = int(head["seq"]) if head else 0
            prev = head["hash"] if head else GENESIS
            puts: list[dict[str, Any]] = []
            own: list[dict[str, Any]] = []
            owner: list[int] = []  # the change of each of `own`
            records: dict[int, dict[str, Any]] = {}
            for index in pending:
                seq += 1
                record = records[index] = chain_record(changes[index][0], seq=seq, prev_hash=prev)
                prev = record["hash"]
                puts.append({"Put": {"TableName": self._table, "Item": to_item({"chain": self._chain, **record}),
                                     "ConditionExpression": "attribute_not_exists(seq)"}})
                own += changes[index][1]
                owner += [index] * len(changes[index][1])
            anchor_values = {":seq": to_value(seq), ":hash": to_value(prev)}
            if head is not None:
                anchor_values[":prev"] = to_value(int(head["seq"]))
            anchor = {"Update": {"TableName": self._state, "Key": self._anchor_key,
                                 "UpdateExpression": "SET seq = :seq, #h = :hash",
                                 "ExpressionAttributeNames": {"#h": "hash"},
                                 "ConditionExpression": "attribute_not_exists(pk)" if head is None else "seq = :prev",
                                 "ExpressionAttributeValues": anchor_values}}
            try:
                self._clients("dynamodb").transact_write_items(TransactItems=[*puts, anchor, *own])
                self._wrote(seq, prev)
                return records
            except ClientError as exc:
                reasons = exc.response.get("CancellationReasons") or []
                chained = len(puts) + 1
                refused = {owner[k - chained] for k, r in enumerate(reasons)
                           if k >= chained and r.get("Code") == "ConditionalCheckFailed"}
                if refused:  # each such retry has a change fewer: bounded
                    if refusals is not None:
                        for index in refused:
                            refusals[index] = _as_if_alone(exc, [r for k, r in enumerate(reasons[chained:])
                                                                 if owner[k] == index])
                    pending = [i for i in pending if i not in refused]
                    continue
                busy = any(r.get("Code") == "TransactionConflict" for r in reasons[chained:])  # tried again
                if not (busy or _lost_the_race(exc, chained)):
                    raise
            if attempt + 1 == MAX_ATTEMPTS:
                raise AuditContention(f"could not append to the audit chain after {MAX_ATTEMPTS} attempts")
            self._lost_race(attempt)
            attempt += 1
        return {}

    def records(self, *, page_size: int = 500) -> Iterator[dict[str, Any]]:
        """Every entry in sequence order (consistent reads, paged)."""
        return self._query("chain = :c", {":c": to_value(self._chain)}, page_size)

    def records_between(self, first: int, last: int, *, page_size: int = 500) -> Iterator[dict[str, Any]]:
        """The entries first..last (inclusive) in sequence order (consistent reads, paged)."""
        values = {":c": to_value(self._chain), ":a": to_value(first), ":b": to_value(last)}
        return self._query("chain = :c AND seq BETWEEN :a AND :b", values, page_size)

    def _query(self, condition: str, values: dict[str, Any], page_size: int) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ConsistentRead": True,
            "Limit": page_size,
        }
        while True:
            page = self._clients("dynamodb").query(**kwargs)
            for item in page["Items"]:
                record = from_item(item)
                record.pop("chain", None)
                yield record
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class _Waiting:
    """One append waiting for the chain's head, and its answer once written or refused."""

    __slots__ = ("entry", "with_items", "items", "settled", "record", "error")

    def __init__(self, entry: AuditEntry, with_items: Callable[[], list[dict[str, Any]]] | None) -> None:
        self.entry = entry
        self.with_items = with_items
        self.items: list[dict[str, Any]] = []
        self.settled = False
        self.record: dict[str, Any] = {}
        self.error: BaseException | None = None

    def succeed(self, record: dict[str, Any]) -> None:
        self.record, self.settled = record, True

    def fail(self, error: BaseException) -> None:
        self.error, self.settled = error, True

    def outcome(self) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        if not self.settled:
            raise RuntimeError("an audit append was neither written nor refused")
        return self.record


def _joinable(ready: list[_Waiting], room: int) -> list[_Waiting]:
    """The first appends of `ready` that fit one transaction with `room` actions and touch no item twice.

    An item is known by its table and key; a Put's key is not known here (tables name their keys
    differently), so a Put's table is taken whole: DynamoDB refuses a transaction naming one item twice.
    """
    taken: list[_Waiting] = []
    keys: set[tuple[str, str]] = set()
    put_tables: set[str] = set()
    tables: set[str] = set()
    for waiting in ready:
        mine = [_identity(item) for item in waiting.items]
        size = 1 + len(mine)
        if taken and (size > room or any(table in put_tables or (table in tables if key is None else (table, key) in keys)
                                         for table, key in mine)):
            break
        room -= size
        taken.append(waiting)
        for table, key in mine:
            tables.add(table)
            if key is None:
                put_tables.add(table)
            else:
                keys.add((table, key))
    return taken


def _identity(item: dict[str, Any]) -> tuple[str, str | None]:
    """(table, key) of a transaction item; the key is None for a Put."""
    (action, body), = item.items()
    key = body.get("Key")
    return body.get("TableName", ""), None if action == "Put" or key is None else repr(sorted(key.items()))


def _as_if_alone(exc: Any, own_reasons: list[dict[str, Any]]) -> Any:
    """The error a lone append of a refused change meets: its own items' reasons after the entry's and the anchor's."""
    from botocore.exceptions import ClientError

    response = {**exc.response, "CancellationReasons": [{"Code": "None"}, {"Code": "None"}, *own_reasons]}
    return ClientError(response, exc.operation_name)


def _lost_the_race(exc: Exception, chained: int = 2) -> bool:
    """True when another writer took the position (one of the first `chained` items, our entries and the
    anchor, failed its condition); False when the caller's own items were refused, which is the caller's
    error to handle."""
    response = getattr(exc, "response", {})
    code = response.get("Error", {}).get("Code")
    if code == "TransactionConflictException":
        return True
    if code != "TransactionCanceledException":
        return False
    reasons = response.get("CancellationReasons") or []
    return any(r.get("Code") in ("ConditionalCheckFailed", "TransactionConflict") for r in reasons[:chained])
