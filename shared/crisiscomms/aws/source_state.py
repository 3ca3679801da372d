"""Per-source state: cursors, feed validators, rate-limit pauses and a lease against overlapping runs.

A lease is taken with the same request that reads the state, and given back with the same
request that writes the final cursor, so a run costs two requests plus one per page.

The Publisher also writes here, to one item only: the articles it mass-sent on a platform
(`source#<platform>#mass-sent`), because the platform lists no past mass sends and the
listening source must learn of them to read their comments.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import from_item, to_item, to_value

LEASE_FIELDS = ("lease_owner", "lease_until")
ANNOUNCED_FIELD = "articles"


def announced_articles_key(platform: str) -> str:
    """The state item listing the articles the Publisher mass-sent on `platform` (no source may take this id)."""
    return f"source#{platform}#mass-sent"


class LeaseHeld(Exception):
    """Another run of the same source is still in progress."""


class StateRepository:
    def __init__(self, table: str, *, clients: AwsClients) -> None:
        self._clients = clients
        self._table = table

    def acquire(self, pk: str, *, owner: str, now: datetime, until: datetime) -> dict[str, Any]:
        """Take the source's lease and return its state; LeaseHeld when a live run has it."""
        from botocore.exceptions import ClientError

        try:
            result = self._clients("dynamodb").update_item(
                TableName=self._table,
                Key=to_item({"pk": pk}),
                UpdateExpression="SET lease_owner = :owner, lease_until = :until",
                ConditionExpression="attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :owner",
                ExpressionAttributeValues={
                    ":owner": to_value(owner),
                    ":until": to_value(until.isoformat()),
                    ":now": to_value(now.isoformat()),
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise LeaseHeld(pk) from exc
            raise
        state = from_item(result["Attributes"])
        for key in ("pk", *LEASE_FIELDS):
            state.pop(key, None)
        return state

    def save(self, pk: str, *, owner: str, set_fields: dict[str, Any], remove: tuple[str, ...] = (),
             release: bool = False) -> None:
        """Write state fields while still holding the lease; optionally give the lease back."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {":owner": to_value(owner)}
        sets: list[str] = []
        for i, (field, value) in enumerate(set_fields.items()):
            if value is None:
                remove = (*remove, field)
                continue
            names[f"#s{i}"] = field
            values[f":s{i}"] = to_value(value)
            sets.append(f"#s{i} = :s{i}")
        removes = list(dict.fromkeys(remove + (LEASE_FIELDS if release else ())))
        for j, field in enumerate(removes):
            names[f"#r{j}"] = field
        expression = ""
        if sets:
            expression += "SET " + ", ".join(sets)
        if removes:
            expression += " REMOVE " + ", ".join(f"#r{j}" for j in range(len(removes)))
        if not expression:
            return
        self._clients("dynamodb").update_item(
            TableName=self._table,
            Key=to_item({"pk": pk}),
            UpdateExpression=expression.strip(),
            ConditionExpression="lease_owner = :owner",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def announce_article(self, platform: str, value: str) -> None:
        """Add one mass-sent article to the platform's list; adding it again changes nothing."""
        self._clients("dynamodb").update_item(
            TableName=self._table,
            Key=to_item({"pk": announced_articles_key(platform)}),
            UpdateExpression="ADD #articles :article",
            ExpressionAttributeNames={"#articles": ANNOUNCED_FIELD},
            ExpressionAttributeValues={":article": to_value({value})},
        )

    def announced_articles(self, platform: str) -> set[str]:
        """Every article the Publisher announced on `platform`, read consistently (a fresh send counts at once)."""
        result = self._clients("dynamodb").get_item(
            TableName=self._table,
            Key=to_item({"pk": announced_articles_key(platform)}),
            ProjectionExpression="#articles",
            ExpressionAttributeNames={"#articles": ANNOUNCED_FIELD},
            ConsistentRead=True,
        )
        return {str(v) for v in from_item(result.get("Item") or {}).get(ANNOUNCED_FIELD, set())}
