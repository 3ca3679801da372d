"""Counting what a client asks of DynamoDB: operations, the table and index of each read, any Scan."""
from __future__ import annotations

from collections import Counter
from typing import Any


class DynamoRequests:
    """DynamoDB requests made through one client, by operation, with each read's table and index."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self.reads: list[tuple[str, str, str | None]] = []  # (operation, table, index)
        client.meta.events.register("provide-client-params.dynamodb", self._params)
        client.meta.events.register("after-call.dynamodb", self._count)

    def _params(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in ("Query", "Scan", "GetItem"):
            self.reads.append((model.name, str(params.get("TableName", "")), params.get("IndexName")))
        if model.name == "BatchGetItem":
            self.reads += [(model.name, table, None) for table in params.get("RequestItems", {})]

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def reset(self) -> None:
        self.calls.clear()
        self.reads.clear()
