"""Conversions between Python values and DynamoDB's typed attribute values."""
from __future__ import annotations

from decimal import Context, Decimal
from typing import Any

_DECIMAL = Context(prec=38)


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return _DECIMAL.create_decimal_from_float(value).quantize(Decimal("0.000001"))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """A typed DynamoDB item; None values are left out rather than stored as NULL."""
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {k: serializer.serialize(_plain(v)) for k, v in values.items() if v is not None}


def to_value(value: Any) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    return TypeSerializer().serialize(_plain(value))


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    out: dict[str, Any] = {}
    for key, value in item.items():
        plain = deserializer.deserialize(value)
        out[key] = _python(plain)
    return out


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
