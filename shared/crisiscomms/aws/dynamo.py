"""Conversions between Python values and DynamoDB's typed attribute values.

The typed values are made and read exactly as boto3's `TypeSerializer` and `TypeDeserializer`
make and read them (the same types, the same number context, the same errors; a test compares
the two), without importing boto3: importing `boto3.dynamodb.types` imports all of boto3, which
no function needs otherwise (its clients are botocore's, `crisiscomms.aws.clients`).
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

TRANSACT_ACTIONS = 100  # DynamoDB's limit of actions per TransactWriteItems
CONFLICT_ATTEMPTS = 5  # a transaction cancelled by another writer's is sent again at most this often in all
_DECIMAL = Context(prec=38)
# DynamoDB's numbers: 38 significant digits, exponents -128 to 126; anything else is an error.
DYNAMODB_CONTEXT = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])
_BINARY_TYPES = (bytearray, bytes)


class Binary:
    """Binary data read from DynamoDB (boto3's `Binary`): `bytes(value)` gives the bytes."""

    def __init__(self, value: bytes | bytearray) -> None:
        if not isinstance(value, _BINARY_TYPES):
            raise TypeError(f"Value must be of the following types: {', '.join(str(t) for t in _BINARY_TYPES)}")
        self.value = value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Binary):
            return self.value == other.value
        return self.value == other

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __repr__(self) -> str:
        return f"Binary({self.value!r})"

    def __bytes__(self) -> bytes:
        return bytes(self.value)

    def __hash__(self) -> int:
        return hash(self.value)


def _is_number(value: Any) -> bool:
    if isinstance(value, (int, Decimal)):
        return True
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    return False


def _is_string(value: Any) -> bool:
    return isinstance(value, str)


def _is_binary(value: Any) -> bool:
    return isinstance(value, (Binary, bytearray, bytes))


def _is_set_of(value: Any, is_type: Callable[[Any], bool]) -> bool:
    return isinstance(value, Set) and False not in map(is_type, value)


def _number(value: Any) -> str:
    number = str(DYNAMODB_CONTEXT.create_decimal(value))
    if number in ("Infinity", "NaN"):
        raise TypeError("Infinity and NaN not supported")
    return number


def _binary(value: Any) -> Any:
    return value.value if isinstance(value, Binary) else value


# Integers DynamoDB holds exactly (38 digits), written as str() writes them: the usual number, without a Decimal.
_EXACT_INT = 10 ** 38


def serialize(value: Any) -> dict[str, Any]:
    """One Python value as a typed DynamoDB value (boto3's `TypeSerializer().serialize`)."""
    kind = type(value)  # the two types of most values first (a post's item is mostly strings and counts)
    if kind is str:
        return {"S": value}
    if kind is int and -_EXACT_INT < value < _EXACT_INT:
        return {"N": str(value)}
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if _is_number(value):
        return {"N": _number(value)}
    if _is_string(value):
        return {"S": value}
    if _is_binary(value):
        return {"B": _binary(value)}
    if _is_set_of(value, _is_number):
        return {"NS": [_number(v) for v in value]}
    if _is_set_of(value, _is_string):
        return {"SS": list(value)}
    if _is_set_of(value, _is_binary):
        return {"BS": [_binary(v) for v in value]}
    if isinstance(value, Mapping):
        return {"M": {k: serialize(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [serialize(v) for v in value]}
    raise TypeError(f'Unsupported type "{type(value)}" for value "{value}"')


_READERS: dict[str, Callable[[Any], Any]] = {
    "NULL": lambda v: None,
    "BOOL": lambda v: v,
    "N": DYNAMODB_CONTEXT.create_decimal,
    "S": lambda v: v,
    "B": Binary,
    "NS": lambda v: set(map(DYNAMODB_CONTEXT.create_decimal, v)),
    "SS": set,
    "BS": lambda v: set(map(Binary, v)),
    "L": lambda v: [deserialize(x) for x in v],
    "M": lambda v: {k: deserialize(x) for k, x in v.items()},
}


def deserialize(value: dict[str, Any]) -> Any:
    """One typed DynamoDB value as Python (boto3's `TypeDeserializer().deserialize`)."""
    if not value:
        raise TypeError("Value must be a nonempty dictionary whose key is a valid dynamodb type.")
    dynamodb_type = next(iter(value))
    reader = _READERS.get(dynamodb_type.upper())
    if reader is None:
        raise TypeError(f"Dynamodb type {dynamodb_type} is not supported")
    return reader(value[dynamodb_type])


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int:
        return value
    if isinstance(value, float):
        return _DECIMAL.create_decimal_from_float(value).quantize(Decimal("0.000001"))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """A typed DynamoDB item; None values are left out rather than stored as NULL."""
    item = {}
    for k, v in values.items():
        kind = type(v)  # serialize's two first cases, written here: a stored post is mostly these
        if kind is str:
            item[k] = {"S": v}
        elif kind is int and -_EXACT_INT < v < _EXACT_INT:
            item[k] = {"N": str(v)}
        elif v is not None:
            item[k] = serialize(_plain(v))
    return item


def to_value(value: Any) -> dict[str, Any]:
    return serialize(_plain(value))


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _python(deserialize(value)) for key, value in item.items()}


def _python(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _python(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_python(v) for v in value]
    return value


def query_all(dynamodb: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a query, following LastEvaluatedKey."""
    items: list[dict[str, Any]] = []
    while True:
        page = dynamodb.query(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def packed(sizes: Sequence[int], room: int = TRANSACT_ACTIONS) -> Iterator[list[int]]:
    """Consecutive indexes of `sizes` (the actions each change needs), in groups that fit `room` actions:
    the fewest transactions for changes written in order."""
    group: list[int] = []
    used = 0
    for index, size in enumerate(sizes):
        if size > room:
            raise ValueError(f"a change of {size} actions does not fit a transaction of {room}")
        if used + size > room:
            yield group
            group, used = [], 0
        group.append(index)
        used += size
    if group:
        yield group


def jittered(attempt: int, base: float = 0.01) -> float:
    """Seconds to pause before sending again a write another writer beat: full jitter, doubling with each
    attempt (at most 2**6 times `base`), so writers that collided do not collide again in step."""
    return random.uniform(0, base * 2 ** min(attempt, 6))
