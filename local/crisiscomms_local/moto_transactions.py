"""DynamoDB transactions in local AWS that cost what they touch, with DynamoDB's all-or-nothing kept.

moto 5.2.5's `transact_write_items` deep-copies every table a transaction names before it starts
and restores the whole table when a condition fails. Each stored post therefore costs time and
memory in proportion to everything stored before it (a 1,702-post drill took 431 s and 10.5 GB),
and a write by another request that lands between the copy and the restore is lost.

This replacement works the way DynamoDB describes it: every condition is checked first, against
the items as they are, and only if all hold are the writes applied; an item is copied only when
it is about to change, so an unexpected failure half-way restores exactly those items. It runs
under the same lock as every other local DynamoDB write (see `crisiscomms_local.aws`), which is
what isolates concurrent transactions. Pinned to the moto version it was written against.
"""
from __future__ import annotations

import copy
from typing import Any

MOTO_VERSION = "5.2.5"
_OPERATIONS = {"ConditionCheck", "Put", "Delete", "Update"}


def _key_of(backend: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return op["Key"]
    table = backend.get_table(op["TableName"])
    key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = op["Item"][table.range_key_attr]
    return key


def _check(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Validate every action and evaluate every condition without writing; cancel with reasons if any fails."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    seen: set[tuple[str, str]] = set()
    plan: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    reasons: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    for action in transact_items:
        if len(action) > 1:
            raise TransactWriteSingleOpException
        original: dict[str, Any] | None = None
        try:
            op_type, op = next(iter(action.items()))
            if op_type not in _OPERATIONS:
                raise ValueError("Unsupported transaction operation")
            key = _key_of(backend, op_type, op)
            identity = (str(op["TableName"]), str(dict(sorted(key.items()))))
            if identity in seen:
                raise MultipleTransactionsException()
            seen.add(identity)
            current = backend.get_item(op["TableName"], key)
            condition = op.get("ConditionExpression")
            if condition is not None:
                check = get_filter_expression(condition, op.get("ExpressionAttributeNames"),
                                              op.get("ExpressionAttributeValues"))
                if not check.expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original)
            plan.append((op_type, op, key))
            reasons.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            raise
        except ConditionalCheckFailed as exc:
            reasons.append(("ConditionalCheckFailed", str(exc.message), original))
        except Exception as exc:  # noqa: BLE001 - reported per action, as DynamoDB does
            reasons.append((type(exc).__name__, str(exc), original))
    if any(code is not None for code, _, _ in reasons):
        raise TransactionCanceledException(reasons)
    return plan


def _restore(table: Any, hash_key: Any, range_key: Any, before: Any) -> None:
    if range_key is not None:
        if before is None:
            table.items[hash_key].pop(range_key, None)
        else:
            table.items[hash_key][range_key] = before
    elif before is None:
        table.items.pop(hash_key, None)
    else:
        table.items[hash_key] = before


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto's DynamoDBBackend.transact_write_items, checking first and copying only the items it changes."""
    from moto.dynamodb.exceptions import (
        MockValidationException,
        TooManyTransactionsException,
        TransactionCanceledException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    plan = _check(self, transact_items)
    undo: list[tuple[Any, Any, Any, Any]] = []
    index = 0
    try:
        for index, (op_type, op, key) in enumerate(plan):
            if op_type == "ConditionCheck":
                continue
            name = op["TableName"]
            table = self.get_table(name)
            hash_key, range_key = self.get_keys_value(table, key)
            undo.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            condition = op.get("ConditionExpression")
            if op_type == "Put":
                self.put_item(name, op["Item"], condition_expression=condition, expression_attribute_names=names,
                              expression_attribute_values=values)
            elif op_type == "Delete":
                self.delete_item(name, key, condition_expression=condition, expression_attribute_names=names,
                                 expression_attribute_values=values)
            else:
                self.update_item(name, key, update_expression=op["UpdateExpression"], condition_expression=condition,
                                 expression_attribute_names=names, expression_attribute_values=values)
    except Exception as exc:
        for table, hash_key, range_key, before in reversed(undo):
            _restore(table, hash_key, range_key, before)
        if isinstance(exc, MockValidationException):
            raise
        reasons: list[tuple[str | None, str | None, None]] = [(None, None, None)] * len(plan)
        reasons[index] = (type(exc).__name__, str(exc), None)
        raise TransactionCanceledException(reasons) from exc


def install() -> None:
    """Replace moto's implementation, once; refuse a moto this was not written against."""
    import moto
    from moto.dynamodb.models import DynamoDBBackend

    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(f"local AWS's transaction patch is for moto {MOTO_VERSION}, this is {moto.__version__}:"
                           " check moto's transact_write_items and update crisiscomms_local/moto_transactions.py")
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
