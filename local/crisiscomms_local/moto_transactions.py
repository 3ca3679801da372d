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

A page's posts are stored a few transactions at a time, each carrying every post's item and links
and one `ADD`/`SET` update per aggregates item, so what moto spends per action is spent per post. Besides
the transaction itself, `install` puts in the shortcuts the scale benchmark (20,000 posts an hour,
`crisiscomms_local.bench_scale`) showed were worth it, each giving moto's own answer: the minute
aggregate's `ADD`/`SET` update applied directly (`_simple_update`), each condition and update
expression parsed once per text, an item's size checked once when it is built, a projection of
top-level attributes picked rather than converted, sizes measured in one walk over the values, a
Scan's page started by bisection on the table's keys, copying only what it answers, and a Query's
page started by bisection on its partition, measuring only the items it answers.
tests/unit/test_bench_scale_moto.py holds each against moto's own path.
"""
from __future__ import annotations

import copy
import re
from typing import Any

MOTO_VERSION = "5.2.5"
MOTO_OWN: dict[tuple[type, str], Any] = {}  # (class, method) -> moto's own, where a shortcut replaced it (for tests)
_OPERATIONS = {"ConditionCheck", "Put", "Delete", "Update"}
LARGEST_ITEM = 405_000  # bytes: moto refuses to store a larger item (its LimitedSizeDict, ItemSizeTooLarge)


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


_ACTION = {
    "ADD": re.compile(r"\s*(#[A-Za-z0-9_]+)\s+(:[A-Za-z0-9_]+)\s*"),
    "SET": re.compile(r"\s*(#[A-Za-z0-9_]+)\s*=\s*(:[A-Za-z0-9_]+)\s*"),
}
_CLAUSE = re.compile(r"\s*\b(ADD|SET)\b", re.IGNORECASE)


def _parse_clauses(expression: str, clause: re.Pattern[str], actions_of: dict[str, re.Pattern[str]],
                   *, anchored: bool = False) -> tuple[tuple[str, str, str | None], ...] | None:
    """An update expression of `clause` keywords, each at most once, whose comma-separated actions
    each fully match the keyword's pattern in `actions_of`, as (verb, name, value placeholder or None);
    None for anything else, so moto's own code handles it. `anchored`: the first clause starts the text."""
    starts = list(clause.finditer(expression))
    if not starts or (anchored and starts[0].start() != 0) or expression[:starts[0].start(1)].strip():
        return None
    actions: list[tuple[str, str, str | None]] = []
    verbs: set[str] = set()
    for n, match in enumerate(starts):
        verb = match.group(1).upper()
        if verb in verbs:
            return None
        verbs.add(verb)
        end = starts[n + 1].start() if n + 1 < len(starts) else len(expression)
        for part in expression[match.end():end].split(","):
            action = actions_of[verb].fullmatch(part)
            if action is None:
                return None
            actions.append((verb, action.group(1), action.group(2) if action.re.groups > 1 else None))
    return tuple(actions)


def _parse_simple(expression: str) -> tuple[tuple[str, str, str | None], ...] | None:
    """`ADD #a :a, ... SET #b = :b, ...` as (verb, name placeholder, value placeholder); None for anything else."""
    return _parse_clauses(expression, _CLAUSE, _ACTION, anchored=True)


_SIMPLE: dict[str, tuple[tuple[str, str, str], ...] | None] = {}


def _simple_update(table: Any, key: dict[str, Any], current: Any, op: dict[str, Any]) -> bool:
    """Apply the commonest update, `ADD` numbers and `SET` plain values on top-level attributes, directly.

    moto parses, deep-copies and walks its expression tree through ten validators for every
    update (about half the cost of storing a post). An expression made only of `ADD #n :v` (a
    number) and `SET #n = :v` actions, each on a distinct, non-key attribute named by a
    placeholder, with every name and value used and no condition of its own, has one meaning:
    that is applied here with moto's own number arithmetic and size check. Anything else returns
    False, untouched, and goes through moto's update_item.
    """
    from decimal import Decimal, InvalidOperation

    from moto.dynamodb.exceptions import ItemSizeToUpdateTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, ItemSizeTooLarge

    expression = op.get("UpdateExpression")
    if not expression or op.get("ConditionExpression") or table.stream_shard is not None:
        return False
    if expression not in _SIMPLE:
        if len(_SIMPLE) > 1000:
            _SIMPLE.clear()
        _SIMPLE[expression] = _parse_simple(expression)
    actions = _SIMPLE[expression]
    names, values = op.get("ExpressionAttributeNames") or {}, op.get("ExpressionAttributeValues") or {}
    if actions is None or {a[1] for a in actions} != set(names) or {a[2] for a in actions} != set(values):
        return False
    declared = {d["AttributeName"] for d in table.attr} | set(table.attribute_keys)
    targets = [names[placeholder] for _, placeholder, _ in actions]
    if len(set(targets)) != len(targets) or declared & set(targets):
        return False
    updates: list[tuple[str, Any]] = []
    for (verb, _, value_placeholder), attribute in zip(actions, targets):
        raw = values[value_placeholder]
        if not isinstance(raw, dict) or len(raw) != 1:
            return False
        value = DynamoType(raw)
        if verb == "SET":
            if value.type not in ("S", "N", "B", "BOOL", "NULL"):
                return False
            updates.append((attribute, value))
            continue
        if value.type != "N":
            return False
        try:
            Decimal(value.value)
        except (InvalidOperation, TypeError, ValueError):
            return False
        existing = current.attrs.get(attribute) if current is not None else None
        if existing is not None and existing.type != "N":
            return False
        updates.append((attribute, (existing or DynamoType({"N": "0"})) + value))
    if current is None:
        data = {table.hash_key_attr: key[table.hash_key_attr]}
        if table.range_key_attr is not None:
            data[table.range_key_attr] = key[table.range_key_attr]
        table.put_item(data)
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr is not None else None
        current = table.get_item(hash_value, range_value)
        assert isinstance(current, Item)
    try:
        for attribute, value in updates:
            current.attrs[attribute] = value
    except ItemSizeTooLarge as exc:
        raise ItemSizeToUpdateTooLarge() from exc
    return True


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
            before = table.get_item(hash_key, range_key)
            undo.append((table, hash_key, range_key, copy.deepcopy(before)))
            # Every condition was evaluated by _check, under the same lock, against these same items
            # (one action per item), so the writes below are unconditional.
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(name, op["Item"])
            elif op_type == "Delete":
                self.delete_item(name, key)
            elif not _simple_update(table, key, before, op):
                self.update_item(name, key, update_expression=op["UpdateExpression"],
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
    _item_size_checked_once()
    _update_expressions_parsed_once()
    _conditions_parsed_once()
    _top_level_projection()
    _queries_read_their_partition()
    _queries_start_where_they_stopped()
    _index_results_sorted_by_plain_values()
    _scans_resume_where_they_stopped()
    _items_not_tracked()
    _plain_updates_applied_directly()
    _sizes_measured_directly()


_SET_OR_REMOVE = re.compile(r"\s*\b(SET|REMOVE)\b", re.IGNORECASE)
_NAME = r"(#[A-Za-z0-9_]+|[A-Za-z][A-Za-z0-9_]*)"
_SET_ACTION = re.compile(rf"\s*{_NAME}\s*=\s*(:[A-Za-z0-9_]+)\s*")
_REMOVE_ACTION = re.compile(rf"\s*{_NAME}\s*")
_PLAIN: dict[str, tuple[tuple[str, str, str | None], ...] | None] = {}
_PLAIN_TYPES = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L"})


def _parse_set_remove(expression: str) -> tuple[tuple[str, str, str | None], ...] | None:
    """`SET a = :a, #b = :b ... REMOVE c, #d ...` (either clause, each at most once) as (verb, name, value
    placeholder or None); None for anything else (paths, functions, arithmetic, ADD, DELETE)."""
    return _parse_clauses(expression, _SET_OR_REMOVE, {"SET": _SET_ACTION, "REMOVE": _REMOVE_ACTION})


def _plain_value(raw: Any, depth: int = 0) -> bool:
    """A value of one of the plain types (maps and lists of them, not too deep): no sets, nothing unknown."""
    if not isinstance(raw, dict) or len(raw) != 1 or depth > 16:
        return False
    (kind, value), = raw.items()
    if kind not in _PLAIN_TYPES:
        return False
    if kind == "M":
        return isinstance(value, dict) and all(_plain_value(v, depth + 1) for v in value.values())
    if kind == "L":
        return isinstance(value, list) and all(_plain_value(v, depth + 1) for v in value)
    if kind == "N":
        from decimal import Decimal, InvalidOperation

        try:
            Decimal(value)
        except (InvalidOperation, TypeError, ValueError):
            return False
    return True


def _fits_key(raw: dict[str, Any], kind: str) -> bool:
    """A value DynamoDB accepts for a key attribute of this declared type: that type, and not empty."""
    (value_kind, value), = raw.items()
    return value_kind == kind and (kind == "N" or (isinstance(value, str) and value != ""))


def _plain_updates_applied_directly() -> None:
    """UpdateItem with only `SET name = :value` and `REMOVE name` actions on top-level attributes, applied directly.

    moto deep-copies the item, parses the expression, deep-copies its tree and walks it through ten
    validators and an executor for every update; for the updates the functions make most (a state's
    head and lease, a post's follow-up, a conversation's fields) that was most of what local DynamoDB
    spent on them. When every action names a distinct attribute that is not one of the table's keys, an
    index's key is only removed or set to a non-empty value of its declared type (the one rule DynamoDB
    has for it: the conversation queues and overdue claims), every placeholder is defined,
    no plain name is a reserved word, every value is of a plain type (no sets) and the table has no
    stream, the update has one meaning: moto's own condition is evaluated on the item as moto does
    (ConditionalCheckFailed, with ALL_OLD when asked), then each action is applied in order to the
    item, creating it with its key if missing, as moto's executor would (item size checked on each
    set). Anything else goes through moto's update_item unchanged.
    """
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, "_crisiscomms_plain_updates", False):
        return
    update_item = DynamoDBBackend.update_item

    def plain_update_item(self: Any, table_name: str, key: dict[str, Any], update_expression: str | None,
                          expression_attribute_names: dict[str, Any] | None,
                          expression_attribute_values: dict[str, Any] | None,
                          attribute_updates: dict[str, Any] | None = None, expected: dict[str, Any] | None = None,
                          condition_expression: str | None = None,
                          return_values_on_condition_check_failure: str | None = None) -> Any:
        item = _plain_update(self, table_name, key, update_expression, expression_attribute_names,
                             expression_attribute_values, attribute_updates, expected, condition_expression,
                             return_values_on_condition_check_failure)
        if item is not None:
            return item
        return update_item(self, table_name, key, update_expression, expression_attribute_names,
                           expression_attribute_values, attribute_updates, expected, condition_expression,
                           return_values_on_condition_check_failure)

    MOTO_OWN[(DynamoDBBackend, "update_item")] = update_item
    DynamoDBBackend.update_item = plain_update_item  # type: ignore[method-assign]
    DynamoDBBackend._crisiscomms_plain_updates = True  # type: ignore[attr-defined]


def _plain_update(backend: Any, table_name: str, key: dict[str, Any], expression: str | None,
                  names: dict[str, Any] | None, values: dict[str, Any] | None, attribute_updates: Any, expected: Any,
                  condition: str | None, return_on_failure: str | None) -> Any:
    """The updated item, or None (untouched) when the update is not one `_plain_updates_applied_directly` takes."""
    from moto.dynamodb.comparisons import create_condition_expression_parser
    from moto.dynamodb.exceptions import ConditionalCheckFailed, ItemSizeToUpdateTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, ItemSizeTooLarge
    from moto.dynamodb.parsing.reserved_keywords import ReservedKeywords

    if not expression or attribute_updates or expected or not isinstance(key, dict):
        return None
    if expression not in _PLAIN:
        if len(_PLAIN) > 1000:
            _PLAIN.clear()
        _PLAIN[expression] = _parse_set_remove(expression)
    actions = _PLAIN[expression]
    if actions is None:
        return None
    table = backend.get_table(table_name)
    if table.stream_shard is not None:
        return None
    names, values = names or {}, values or {}
    reserved = ReservedKeywords.get_reserved_keywords()
    targets = []
    for _, name, placeholder in actions:
        if name.startswith("#"):
            if name not in names:
                return None
            name = names[name]
        elif name.upper() in reserved:
            return None
        if placeholder is not None and (placeholder not in values or not _plain_value(values[placeholder])):
            return None
        targets.append(name)
    if len(set(targets)) != len(targets) or not all(isinstance(t, str) for t in targets) or set(targets) & set(
            table.table_key_attrs):
        return None
    declared = {d["AttributeName"]: d["AttributeType"] for d in table.attr}
    for (verb, _, placeholder), attribute in zip(actions, targets):
        # an index's key: removed freely; set only to a value of its declared type that DynamoDB accepts in a key
        kind = declared.get(attribute)
        if kind is not None and verb == "SET" and not _fits_key(values[placeholder], kind):
            return None
    if set(key) != {table.hash_key_attr} | ({table.range_key_attr} if table.range_key_attr else set()):
        return None
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    item = table.get_item(hash_value, range_value)
    check = create_condition_expression_parser(condition, names, values).parse()
    if not check.expr(item):
        if return_on_failure == "ALL_OLD" and item is not None:
            raise ConditionalCheckFailed(item=item.to_json()["Attributes"])
        raise ConditionalCheckFailed
    if item is None:
        data = {table.hash_key_attr: key[table.hash_key_attr]}
        if table.range_key_attr:
            data[table.range_key_attr] = key[table.range_key_attr]
        table.put_item(data)
        item = table.get_item(hash_value, range_value)
        assert isinstance(item, Item)
    try:
        for (verb, _, placeholder), attribute in zip(actions, targets):
            if verb == "SET":
                item.attrs[attribute] = DynamoType(values[placeholder])
            else:
                item.attrs.pop(attribute, None)
    except ItemSizeTooLarge as exc:
        raise ItemSizeToUpdateTooLarge() from exc
    return item


def _items_not_tracked() -> None:
    """DynamoDB items are not added to moto's list of every model instance ever made.

    moto lists each instance of its models for its dashboard (/moto-api/data.json) and never lets go
    of it: every item stored, copied, updated or projected for an answer, so a drill kept ~37,000 dead
    items (1.3 million objects, walked by every full garbage collection) and memory grew with every
    write. Items are the table's own business (read through DynamoDB's API); the dashboard still lists
    tables, queues, topics and the rest.
    """
    from moto.dynamodb.models.dynamo_type import Item

    if getattr(Item, "_crisiscomms_untracked", False):
        return

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    MOTO_OWN[(Item, "__new__")] = Item.__new__
    Item.__new__ = staticmethod(__new__)  # type: ignore[assignment]
    Item._crisiscomms_untracked = True  # type: ignore[attr-defined]


def _conditions_parsed_once() -> None:
    """A condition expression is parsed once per text, names and values, not two or three times a request.

    moto re-lexes a condition (regular expressions and named tuples per token) wherever it meets
    it: the request handler's validation, the transaction's check, the write itself. That was a
    third of local DynamoDB's time per stored post, for `attribute_not_exists(post_key)`. The
    parsed condition only reads the item it is evaluated against, so one parse serves every
    request with the same expression, names and values; a parse that fails is never kept.
    """
    import json
    import threading

    from moto.dynamodb.comparisons import ConditionExpressionParser

    if getattr(ConditionExpressionParser, "_crisiscomms_cached", False):
        return
    parse = ConditionExpressionParser.parse
    lock = threading.Lock()
    parsed: dict[tuple[str, str, str], tuple[Any, list[str], list[str]]] = {}

    def parse_once(self: Any) -> Any:
        if not self.condition_expression:
            return parse(self)
        try:
            key = (self.condition_expression, json.dumps(self.expression_attribute_names, sort_keys=True),
                   json.dumps(self.expression_attribute_values, sort_keys=True))
        except (TypeError, ValueError):
            return parse(self)
        with lock:
            hit = parsed.get(key)
        if hit is None:
            condition = parse(self)
            hit = (condition, list(self.expr_attr_names_found), list(self.expr_attr_values_found))
            with lock:
                if len(parsed) >= 4096:
                    parsed.clear()
                parsed[key] = hit
            return condition
        self.expr_attr_names_found.extend(hit[1])
        self.expr_attr_values_found.extend(hit[2])
        return hit[0]

    ConditionExpressionParser.parse = parse_once  # type: ignore[method-assign]
    ConditionExpressionParser._crisiscomms_cached = True  # type: ignore[attr-defined]


def _item_size_checked_once() -> None:
    """An item built from a whole set of attributes is checked against the size limit once.

    moto's Item adds attributes one by one to a dict that re-measures everything it holds on
    every insert, so a post's ~25 attributes cost ~300 size computations. The sizes only grow,
    so one check of the total is the same verdict.
    """
    from moto.dynamodb.models import dynamo_type
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, ItemSizeTooLarge, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    if getattr(Item, "_crisiscomms_sized", False):
        return

    def __init__(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        converted = {key: DynamoType(value) for key, value in attrs.items()}
        if sum(bytesize(key) + value.size() for key, value in converted.items()) > LARGEST_ITEM:
            raise ItemSizeTooLarge
        self.attrs = LimitedSizeDict()
        dict.update(self.attrs, converted)

    assert dynamo_type.Item is Item
    Item.__init__ = __init__  # type: ignore[method-assign]
    Item._crisiscomms_sized = True  # type: ignore[attr-defined]


def _update_expressions_parsed_once() -> None:
    """moto parses each UpdateExpression twice per request; the tree for a given text is kept.

    Its users only read the tree: the request handler lists its attribute names (find_clauses,
    answered once per kept tree here) and the validator deep-copies it before changing anything
    (a copy is a different object and is walked as usual).
    """
    import threading

    from moto.dynamodb.parsing.ast_nodes import Node
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    if getattr(UpdateExpressionParser, "_crisiscomms_cached", False):
        return
    parse = UpdateExpressionParser.make.__func__  # type: ignore[attr-defined]
    find_clauses = Node.find_clauses
    lock = threading.Lock()
    trees: dict[tuple[Any, str], Any] = {}
    kept: dict[int, Any] = {}  # id of a kept tree -> the tree (held, so the id stays its own)
    found: dict[tuple[int, tuple[Any, ...]], list[Any]] = {}

    def make(cls: Any, text: str) -> Any:
        with lock:
            tree = trees.get((cls, text))
        if tree is None:
            tree = parse(cls, text)
            with lock:
                if len(trees) >= 512:
                    trees.clear()
                    kept.clear()
                    found.clear()
                tree = trees.setdefault((cls, text), tree)
                kept[id(tree)] = tree
        return tree

    def clauses(self: Any, clause_types: Any) -> list[Any]:
        if id(self) not in kept or kept[id(self)] is not self:
            return find_clauses(self, clause_types)
        key = (id(self), tuple(clause_types))
        with lock:
            hit = found.get(key)
        if hit is None:
            hit = find_clauses(self, clause_types)
            with lock:
                found[key] = hit
        return list(hit)

    UpdateExpressionParser.make = classmethod(make)  # type: ignore[assignment]
    Node.find_clauses = clauses  # type: ignore[method-assign]
    UpdateExpressionParser._crisiscomms_cached = True  # type: ignore[attr-defined]


def _top_level_projection() -> None:
    """A projection of top-level attributes picks them from the item, instead of converting it all.

    moto projects an item by turning the whole of it into plain Python once per projected path
    and back into DynamoDB's types; for names of top-level attributes only, the answer is those
    attributes themselves, as moto answers a read without a projection with the stored item itself:
    the answer is JSON before the request lets go of the lock every DynamoDB request is answered
    under (`crisiscomms_local.aws._dynamodb_answer`). Nested paths (a.b, a[0]) take moto's way.
    """
    from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict

    if getattr(Item, "_crisiscomms_projection", False):
        return
    project = Item.project

    def project_top_level(self: Any, projection_expressions: list[list[str]]) -> Any:
        if not all(len(path) == 1 and isinstance(path[0], str) for path in projection_expressions):
            return project(self, projection_expressions)
        picked = Item.__new__(Item)
        picked.hash_key = self.hash_key
        picked.range_key = self.range_key
        picked.attrs = LimitedSizeDict()
        attrs = self.attrs
        dict.update(picked.attrs, {path[0]: attrs[path[0]] for path in projection_expressions if path[0] in attrs})
        return picked

    Item.project = project_top_level  # type: ignore[method-assign]
    Item._crisiscomms_projection = True  # type: ignore[attr-defined]


def _queries_read_their_partition() -> None:
    """A Query of a table reads the partition it names, not the whole table sorted.

    moto answers every Query by listing and sorting every item of the table (`all_items`), then
    keeping the partition asked for, so each read costs in proportion to everything stored: in the
    weibo-rumour drill that was a sixth of all the time spent. During a Query, `all_items` here gives
    only the named partition for a table query, and every item unsorted for an index query (moto
    keeps no index; the query sorts what matches itself). The answer is moto's own.
    """
    import threading

    from moto.dynamodb.models.table import Table

    if getattr(Table, "_crisiscomms_partitioned", False):
        return
    all_items = Table.all_items
    query = Table.query
    asked = threading.local()  # the partition the current thread's Query names, or _EVERY_ITEM

    def items_for_query(self: Any) -> list[Any]:
        partition = getattr(asked, "partition", None)
        if partition is None:
            return all_items(self)
        return _every_item(self) if partition is _EVERY_ITEM else _partition(self, partition)

    def query_partition(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name is None and hash_key is None:
            return query(self, hash_key, *args, **kwargs)
        asked.partition = _EVERY_ITEM if index_name else hash_key
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            asked.partition = None

    MOTO_OWN[(Table, "all_items")], MOTO_OWN[(Table, "query")] = all_items, query
    Table.all_items = items_for_query  # type: ignore[method-assign]
    Table.query = query_partition  # type: ignore[method-assign]
    Table._crisiscomms_partitioned = True  # type: ignore[attr-defined]


_EVERY_ITEM = object()


def _every_item(table: Any) -> list[Any]:
    """Every item of a moto table, unsorted (moto keeps a dict of range keys per hash key when there is a range key)."""
    if table.range_key_attr:
        return [item for by_range in table.items.values() for item in by_range.values()]
    return list(table.items.values())


def _partition(table: Any, hash_key: Any) -> list[Any]:
    """The items of a moto table stored under one hash key, unsorted."""
    found = table.items.get(hash_key)
    if found is None:
        return []
    return list(found.values()) if table.range_key_attr else [found]


def _plain(value: Any) -> Any:
    """A key attribute's Python value, ordered as moto orders its DynamoType (one type per key attribute)."""
    from decimal import Decimal

    kind = value.type
    if kind == "S":
        return value.value
    if kind == "N":
        return Decimal(value.value)
    return value.cast_value


def _scans_resume_where_they_stopped() -> None:
    """A Scan of a table finds its start key by bisection and copies only what it answers.

    moto answers every page of a Scan by sorting the whole table through DynamoType comparisons,
    walking it from the first item to the page's start key, copying each item whole and then
    projecting the copy: reading back 20,000 posts a page at a time cost 19 s of the bank run's
    134. Here the table's items are ordered by their keys' plain values (moto's order: one type per
    key attribute), the page starts just after the start key, each item's size is measured once,
    and with a projection of top-level attributes and no filter expression an item is answered as
    its projection (the attributes asked for, copied). Index scans, start keys that are not the
    table's key, and anything else take moto's way.
    """
    from bisect import bisect_right
    from operator import attrgetter, itemgetter

    from moto.dynamodb.comparisons import OpDefault
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table

    if getattr(Table, "_crisiscomms_scans", False):
        return
    scan = Table.scan

    def key_attributes(table: Any) -> list[str]:
        return [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])

    def key_reader(table: Any, name: str | None) -> Any:
        """A string key's value is its plain value: read without a call per item."""
        declared = {d["AttributeName"]: d["AttributeType"] for d in table.attr}
        return attrgetter("value") if declared.get(name) == "S" else _plain

    def hash_order(table: Any) -> tuple[list[Any], list[Any]]:
        """A hash-keyed table's keys in moto's scan order (plain values, and moto's keys), sorted again only
        when an item was added or removed since the last scan: paging through N items costs N, not N² log N."""
        snapshot = list(table.items)
        cached = table.__dict__.get("_crisiscomms_scan_order")
        if cached is None or cached[0] != snapshot:
            read = key_reader(table, table.hash_key_attr)
            order = sorted(((read(key), key) for key in snapshot), key=itemgetter(0))
            cached = (snapshot, [plain for plain, _ in order], [key for _, key in order])
            table.__dict__["_crisiscomms_scan_order"] = cached
        return cached[1], cached[2]

    def scan_table(self: Any, filters: dict[str, Any], limit: int, exclusive_start_key: dict[str, Any] | None,
                   filter_expression: Any = None, index_name: str | None = None, consistent_read: bool = False,
                   projection_expression: list[list[str]] | None = None,
                   segments: Any = (None, None)) -> Any:
        keys = key_attributes(self)
        if index_name is not None or (exclusive_start_key is not None and set(exclusive_start_key) != set(keys)):
            return scan(self, filters, limit, exclusive_start_key, filter_expression, index_name, consistent_read,
                        projection_expression, segments=segments)
        after = None
        if exclusive_start_key is not None:
            after = tuple(_plain(DynamoType(exclusive_start_key[name])) for name in keys)
        if self.range_key_attr:
            read_hash, read_range = key_reader(self, self.hash_key_attr), key_reader(self, self.range_key_attr)
            ordered = sorted(((read_hash(item.hash_key), read_range(item.range_key), item) for item in _every_item(self)),
                             key=itemgetter(0, 1))
            start = 0 if after is None else bisect_right(ordered, after, key=itemgetter(0, 1))
            page = (entry[-1] for entry in ordered[start:])
        else:
            plains, hash_keys = hash_order(self)
            start = 0 if after is None else bisect_right(plains, after[0])
            page = map(self.items.__getitem__, hash_keys[start:])
        filtered = not isinstance(filter_expression, OpDefault) and filter_expression is not None
        picked = bool(projection_expression) and not filtered and all(
            len(path) == 1 and isinstance(path[0], str) for path in projection_expression or ())
        results: list[Any] = []
        result_size = scanned_count = 0
        last_evaluated_key = None
        for item in page:
            if not item.is_within_segment(segments):
                continue
            size = item.size()
            if len(results) == limit or result_size + size > RESULT_SIZE_LIMIT:
                last_evaluated_key = self._get_last_evaluated_key(results[-1], None)
                break
            passes = True
            for name, (operator, values) in filters.items():
                attribute = item.attrs.get(name)
                if attribute:
                    if not attribute.compare(operator, values):
                        passes = False
                        break
                elif operator != "NULL":
                    passes = False
                    break
            if passes:
                results.append(item.project(projection_expression) if picked else copy.deepcopy(item))
                result_size += size
            scanned_count += 1
        if filtered:
            results = [item for item in results if filter_expression.expr(item)]
        if projection_expression and not picked:
            results = [r.project(projection_expression) for r in results]
        return results, scanned_count, last_evaluated_key

    MOTO_OWN[(Table, "scan")] = scan
    Table.scan = scan_table  # type: ignore[method-assign]
    Table._crisiscomms_scans = True  # type: ignore[attr-defined]


def _queries_start_where_they_stopped() -> None:
    """A Query's page starts just after its start key and measures only the items it can answer.

    moto answers each page of a Query by sorting every match of the key condition's partition, walking
    from the first to the start key through typed comparisons, and measuring each item it passes on
    the way to the page's end, matching or not: paging through a queue of P conversations costs P²,
    and in the weibo-rumour drill the desk's overdue check (a Query of the open queue, a page at a
    time) was an eighth of the drill. Here the partition is sorted once a page by its keys' plain
    values (moto's order: one type per key attribute), the page starts by bisection, and an item is
    measured when it is answered. An item that does not match is measured only where moto's rule
    could end the page on it (an answer within an item's largest size of the 1 MB page), so the
    page, its counts and its start key are moto's own. Queries with more than one attribute in a key
    condition, QueryFilter, a missing index, a consistent read of a global index or a start key
    without every sort key take moto's way.
    """
    from bisect import bisect_left, bisect_right
    from operator import itemgetter

    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, GlobalSecondaryIndex, Table

    if getattr(Table, "_crisiscomms_queries", False):
        return
    query = Table.query

    def index_partition(table: Any, hash_conditions: list[tuple[str, Any]], range_keys: list[str]) -> list[Any]:
        """The items an index's partition holds: the hash key's value, and every range key of the index present."""
        wanted = [(name, value.type, _plain(value)) for name, value in hash_conditions]
        found = []
        for item in _every_item(table):
            attrs = item.attrs
            for name, kind, plain in wanted:
                value = attrs.get(name)
                if value is None or value.type != kind or _plain(value) != plain:
                    break
            else:
                if all(attrs.get(name) is not None for name in range_keys):
                    found.append(item)
        return found

    def query_page(self: Any, hash_key: Any, range_comparison: str | None, range_objs: list[Any], limit: int,
                   exclusive_start_key: dict[str, Any] | None, scan_index_forward: bool,
                   projection_expressions: list[list[str]] | None, index_name: str | None = None,
                   consistent_read: bool = False, filter_expression: Any = None,
                   hash_key_conditions: list[tuple[str, Any]] | None = None,
                   range_key_conditions: list[tuple[str, str, list[Any]]] | None = None, **filter_kwargs: Any) -> Any:
        def moto_way() -> Any:
            return query(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward,
                         projection_expressions, index_name, consistent_read, filter_expression,
                         hash_key_conditions=hash_key_conditions, range_key_conditions=range_key_conditions,
                         **filter_kwargs)

        if filter_kwargs or len(hash_key_conditions or ()) > 1 or len(range_key_conditions or ()) > 1:
            return moto_way()
        range_attr = range_key_conditions[0][0] if range_key_conditions else None
        if index_name:
            index = {i.name: i for i in self.all_indexes()}.get(index_name)
            if index is None or not hash_key_conditions or (consistent_read and index in self.global_indexes):
                return moto_way()
            hash_names = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
            range_names = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
            if len(hash_names) != 1 or len(range_names) > 1 or (range_comparison and not range_names):
                return moto_way()
            if range_names:
                range_attrs: list[str | None] = [range_names[0], self.range_key_attr]
                range_attr = range_attr or range_names[0]
            elif isinstance(index, GlobalSecondaryIndex) and self.range_key_attr:
                range_attrs = [self.range_key_attr, self.range_key_attr]
            else:
                range_attrs = [self.hash_key_attr, self.range_key_attr]
            sort_names = self._generate_attr_to_sort_by([hash_names[0], self.hash_key_attr], range_attrs)
            candidates = index_partition(self, hash_key_conditions, range_names)
        else:
            if hash_key is None:
                return moto_way()
            candidates = _partition(self, hash_key)  # moto files each item under its own hash key
            sort_names = [name for name in (self.hash_key_attr, self.range_key_attr) if name]
        if exclusive_start_key is not None and any(exclusive_start_key.get(name) is None for name in sort_names):
            return moto_way()
        ordered = sorted(((tuple(_plain(item.attrs[name]) for name in sort_names), item) for item in candidates),
                         key=itemgetter(0))
        start = 0
        if exclusive_start_key is not None:
            after = tuple(_plain(DynamoType(exclusive_start_key[name])) for name in sort_names)
            start = bisect_right(ordered, after, key=itemgetter(0)) if scan_index_forward else \
                len(ordered) - bisect_left(ordered, after, key=itemgetter(0))
        items = [item for _, item in ordered]
        if not scan_index_forward:
            items.reverse()

        def matches(item: Any) -> bool:
            if not range_comparison:
                return True
            value = item.attrs.get(range_attr) if range_attr else None
            if value is not None:
                return value.compare(range_comparison, range_objs)
            return not index_name and item.range_key.compare(range_comparison, range_objs)

        results: list[Any] = []
        result_size = 0
        last_evaluated_key = None
        for item in items[start:]:
            if len(results) == limit:
                last_evaluated_key = self._get_last_evaluated_key(results[-1], index_name)
                break
            if matches(item):
                size = item.size()
                if result_size + size > RESULT_SIZE_LIMIT:
                    last_evaluated_key = self._get_last_evaluated_key(results[-1], index_name)
                    break
                results.append(item)
                result_size += size
            elif result_size + LARGEST_ITEM > RESULT_SIZE_LIMIT and result_size + item.size() > RESULT_SIZE_LIMIT:
                last_evaluated_key = self._get_last_evaluated_key(results[-1], index_name)
                break  # moto measures what it passes and ends the page on an item it does not answer
        scanned_count = len(results)
        if index_name:
            results = [index.project(r) for r in results]
        if filter_expression is not None:  # (a filter only reads: the items it drops need no copy)
            results = [item for item in results if filter_expression.expr(item)]
        results = copy.deepcopy(results)
        if projection_expressions:
            results = [r.project(projection_expressions) for r in results]
        return results, scanned_count, last_evaluated_key

    MOTO_OWN.setdefault((Table, "query"), query)
    Table.query = query_page  # type: ignore[method-assign]
    Table._crisiscomms_queries = True  # type: ignore[attr-defined]


def _index_results_sorted_by_plain_values() -> None:
    """An index Query sorts its matches by the keys' plain values, not by comparing typed wrappers.

    moto sorts an index's matches by tuples of DynamoType, whose every comparison re-derives the
    Python value through five type tests; over a queue of a few hundred conversations read a page
    at a time that sort was the largest cost in local DynamoDB. Key attributes have one type each
    (the table's attribute definitions), so ordering by the plain values is the same order.
    """
    from moto.dynamodb.models.table import Table

    if getattr(Table, "_crisiscomms_sorted", False):
        return

    def sorted_items(self: Any, hash_key_attrs: list[str], range_key_attrs: list[str | None],
                     items: list[Any]) -> list[Any]:
        attrs = self._generate_attr_to_sort_by(hash_key_attrs, range_key_attrs)
        items.sort(key=lambda item: tuple(_plain(item.attrs[name]) for name in attrs))
        return items

    MOTO_OWN[(Table, "sorted_items")] = Table.sorted_items
    Table.sorted_items = sorted_items  # type: ignore[method-assign]
    Table._crisiscomms_sorted = True  # type: ignore[attr-defined]


def _sizes_measured_directly() -> None:
    """A value's and an item's size measured in one walk over the values, with moto's own figures.

    Sizes are measured for the 400 KB item limit (every attribute set on an item measures the whole
    item) and for the 1 MB page of a Query or Scan (every item read). moto's DynamoType.size asks a
    value five type questions before measuring it and wraps every value of a map in a new DynamoType,
    children included, to measure it: about 4% of the drills' CPU time. The rules here are moto's,
    case by case (numbers by their text, sets and lists by their members, maps by their keys and
    values, booleans and null as 1, strings and binaries by their UTF-8 bytes).
    """
    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.models.utilities import bytesize

    if getattr(DynamoType, "_crisiscomms_sized", False):
        return

    def size(value: Any) -> int:
        kind, raw = value.type, value.value
        if kind == "N":
            return len(str(raw))
        if kind == "M":
            return sum(bytesize(k) + size(v if type(v) is DynamoType else DynamoType(v)) for k, v in raw.items())
        if kind == "L":
            return sum(size(v) for v in raw)
        if kind == "NS":
            return sum(len(str(v)) for v in raw)
        if kind in ("SS", "BS"):
            return sum(1 if isinstance(v, bool) else bytesize(v) for v in raw)
        return 1 if isinstance(raw, bool) else bytesize(raw)

    def item_size(self: Any) -> int:
        return sum(bytesize(key) + size(value) for key, value in self.attrs.items())

    MOTO_OWN[(DynamoType, "size")], MOTO_OWN[(Item, "size")] = DynamoType.size, Item.size
    DynamoType.size = size  # type: ignore[method-assign]
    Item.size = item_size  # type: ignore[method-assign]
    DynamoType._crisiscomms_sized = True  # type: ignore[attr-defined]
