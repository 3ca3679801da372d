"""Storing scored posts: once per platform id, linked to every topic, minute and hour figures updated with it.

One TransactWriteItems per new post puts the post (conditional on its key being new), one link
item per topic, and adds the post to each topic's minute aggregate and hour figures. A duplicate
fails the condition, so the whole transaction is cancelled and no aggregate counts it twice.

The hour figures share the aggregates table: `minute_key = "hour#<YYYY-MM-DDTHH>#<source type>"`
(UTC), counting posts, negative and crisis posts, engagement, and posts per platform (`p_<platform>`)
and per place (`r_<code>`, negative `rn_<code>`; code as in crisiscomms.places, or `unknown`). A
minute key starts with a digit and "h" sorts after every digit, so no range between two minute
keys (the Detector's reads) can reach an hour item.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import from_item, query_all, to_item, to_value
from crisiscomms.models.posts import ScoredPost, hour_key, minute_key
from crisiscomms.places import UNKNOWN

LINK_TEXT_CHARS = 280
BATCH_GET_LIMIT = 100  # DynamoDB's limit of keys per BatchGetItem
BATCH_GET_ATTEMPTS = 3
HOUR_PREFIX = "hour#"


class StoreOutcome(str, Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class PostTables:
    posts: str | None  # None where a function only reads figures (the Detector, the desk API)
    topic_posts: str | None  # None where a function reads only the hour figures (the desk API)
    aggregates: str


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def published_key(scored: ScoredPost) -> str:
    return f"{_iso(scored.post.published_at)}#{scored.post.key}"


class PostRepository:
    def __init__(self, tables: PostTables, *, clients: AwsClients, retention_days: int) -> None:
        self._clients = clients
        self._tables = tables
        self._retention = timedelta(days=retention_days)

    def store(self, scored: ScoredPost) -> StoreOutcome:
        """Store a post once; a second call for the same platform id changes nothing."""
        from botocore.exceptions import ClientError

        try:
            self._clients("dynamodb").transact_write_items(TransactItems=self._transaction(scored))
        except ClientError as exc:
            if _is_duplicate(exc):
                return StoreOutcome.DUPLICATE
            raise
        return StoreOutcome.STORED

    def known(self, post_keys: list[str]) -> set[str]:
        """Which of these posts are stored already: keys only, one request per 100.

        Sources that re-read a window (late federation, review queues, overlapping searches)
        see most posts more than once; a cancelled transaction costs the write capacity of every
        item in it, reading a key costs half a read unit. A key left unprocessed after the
        bounded retries counts as new: the transaction's condition still refuses a duplicate.
        """
        found: set[str] = set()
        unique = list(dict.fromkeys(post_keys))
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            request: dict[str, Any] = {self._tables.posts: {
                "Keys": [to_item({"post_key": key}) for key in unique[start:start + BATCH_GET_LIMIT]],
                "ProjectionExpression": "post_key"}}
            for _ in range(BATCH_GET_ATTEMPTS):
                answer = self._clients("dynamodb").batch_get_item(RequestItems=request)
                found.update(item["post_key"]["S"] for item in answer["Responses"].get(self._tables.posts, []))
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
        return found

    def _transaction(self, scored: ScoredPost) -> list[dict[str, Any]]:
        post = scored.post
        expires_at = int((scored.ingested_at + self._retention).timestamp())
        pkey = published_key(scored)
        day = post.published_at.strftime("%Y-%m-%d")
        item = {
            **post.model_dump(mode="json", exclude_none=True),
            "post_key": post.key,
            "published_key": pkey,
            "platform_day": f"{post.platform}#{day}",
            "engagement": post.engagement,
            "topics": list(scored.topics),
            "language": scored.language,
            "sentiment": scored.sentiment,
            "sentiment_label": scored.sentiment_label,
            "crisis_terms": list(scored.crisis_terms),
            "crisis_categories": list(scored.crisis_categories),
            "crisis_weight": scored.crisis_weight,
            "is_crisis": scored.is_crisis,
            "risk": scored.risk,
            "ingested_at": _iso(scored.ingested_at),
            "expires_at": expires_at,
            "country": scored.country,
            "region": scored.region,
        }
        actions: list[dict[str, Any]] = [{
            "Put": {
                "TableName": self._tables.posts,
                "Item": to_item(item),
                "ConditionExpression": "attribute_not_exists(post_key)",
            }
        }]
        negative = scored.sentiment_label == "negative"
        for topic in scored.topics:
            link = {
                "topic_day": f"{topic}#{day}",
                "published_key": pkey,
                "risk_key": f"{scored.risk:03d}#{pkey}",
                "topic": topic,
                "post_key": post.key,
                "platform": post.platform,
                "source_type": post.source_type,
                "url": post.url,
                "author": post.author,
                "followers": post.followers,
                "text": post.full_text[:LINK_TEXT_CHARS],
                "sentiment": scored.sentiment,
                "risk": scored.risk,
                "is_crisis": scored.is_crisis,
                "crisis_terms": list(scored.crisis_terms),
                "expires_at": expires_at,
            }
            actions.append({"Put": {"TableName": self._tables.topic_posts, "Item": to_item(link)}})
            increments = {
                "posts": 1,
                "negative": int(negative),
                "sentiment_sum": scored.sentiment,
                "engagement": post.engagement,
                "reach": post.followers,
                "crisis_posts": int(scored.is_crisis),
                "crisis_weight_sum": scored.crisis_weight,
                "high_reach_negative": int(scored.high_reach_negative),
            }
            labels = {"minute": minute_key(post.published_at), "source_type": post.source_type, "expires_at": expires_at}
            actions.append({
                "Update": {
                    "TableName": self._tables.aggregates,
                    "Key": to_item({"topic": topic, "minute_key": f"{labels['minute']}#{post.source_type}"}),
                    "UpdateExpression": "ADD " + ", ".join(f"#{k} :{k}" for k in increments)
                                        + " SET " + ", ".join(f"#{k} = :{k}" for k in labels),
                    "ExpressionAttributeNames": {f"#{k}": k for k in (*increments, *labels)},
                    "ExpressionAttributeValues": {f":{k}": to_value(v) for k, v in {**increments, **labels}.items()},
                }
            })
            actions.append(self._hour_update(scored, topic, expires_at))
        return actions

    def _hour_update(self, scored: ScoredPost, topic: str, expires_at: int) -> dict[str, Any]:
        """The topic's hour figures: totals, and per platform and place, so a range of hours answers
        "where and when" from a few items; placeholders are numbered because codes hold hyphens."""
        post = scored.post
        negative = int(scored.sentiment_label == "negative")
        place = scored.region or scored.country or UNKNOWN
        increments = {
            "posts": 1,
            "negative": negative,
            "crisis_posts": int(scored.is_crisis),
            "engagement": post.engagement,
            f"p_{post.platform}": 1,
            f"r_{place}": 1,
            f"rn_{place}": negative,
        }
        hour = hour_key(post.published_at)
        labels = {"hour": hour, "source_type": post.source_type, "expires_at": expires_at}
        names = {f"#a{n}": name for n, name in enumerate(increments)}
        names |= {f"#s{n}": name for n, name in enumerate(labels)}
        values = {f":a{n}": to_value(v) for n, v in enumerate(increments.values())}
        values |= {f":s{n}": to_value(v) for n, v in enumerate(labels.values())}
        return {
            "Update": {
                "TableName": self._tables.aggregates,
                "Key": to_item({"topic": topic, "minute_key": f"{HOUR_PREFIX}{hour}#{post.source_type}"}),
                "UpdateExpression": "ADD " + ", ".join(f"#a{n} :a{n}" for n in range(len(increments)))
                                    + " SET " + ", ".join(f"#s{n} = :s{n}" for n in range(len(labels))),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    # --- reads (drill summary, later the detector and the auditors' API) ----------------------

    def get(self, post_key: str) -> dict[str, Any] | None:
        item = self._clients("dynamodb").get_item(TableName=self._tables.posts, Key=to_item({"post_key": post_key}))
        return from_item(item["Item"]) if "Item" in item else None

    def topic_posts(self, topic: str, day: str, *, by_risk: bool = False, limit: int = 50) -> list[dict[str, Any]]:
        """A topic's posts of one UTC day, newest first or riskiest first."""
        kwargs: dict[str, Any] = {
            "TableName": self._tables.topic_posts,
            "KeyConditionExpression": "topic_day = :td",
            "ExpressionAttributeValues": {":td": to_value(f"{topic}#{day}")},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if by_risk:
            kwargs["IndexName"] = "by_risk"
        return [from_item(i) for i in self._clients("dynamodb").query(**kwargs)["Items"]]

    def platform_posts(self, platform: str, day: str, *, since: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """A platform's posts of one UTC day, oldest first, optionally from a time on."""
        condition = "platform_day = :pd"
        values = {":pd": to_value(f"{platform}#{day}")}
        if since:
            condition += " AND published_key >= :since"
            values[":since"] = to_value(since)
        return [from_item(i) for i in query_all(self._clients("dynamodb"), TableName=self._tables.posts, IndexName="by_platform_time", KeyConditionExpression=condition,
            ExpressionAttributeValues=values, Limit=limit,
        )]

    def minute_aggregates(self, topic: str, start_minute: str, end_minute: str) -> list[dict[str, Any]]:
        """A topic's per-minute, per-source-type figures with start <= minute < end."""
        items = [from_item(i) for i in query_all(self._clients("dynamodb"), TableName=self._tables.aggregates,
            KeyConditionExpression="topic = :t AND minute_key BETWEEN :a AND :b",
            ExpressionAttributeValues={":t": to_value(topic), ":a": to_value(start_minute), ":b": to_value(end_minute)},
        )]
        return [item for item in items if item["minute"] < end_minute]

    def topic_hours(self, topic: str, start_hour: str, end_hour: str) -> list[dict[str, Any]]:
        """A topic's hour figures, both source types, with start <= hour < end ("YYYY-MM-DDTHH", UTC):
        one Query on the key, every page of it."""
        return [from_item(i) for i in query_all(self._clients("dynamodb"), TableName=self._tables.aggregates,
            KeyConditionExpression="topic = :t AND minute_key BETWEEN :a AND :b",
            ExpressionAttributeValues={":t": to_value(topic), ":a": to_value(f"{HOUR_PREFIX}{start_hour}"),
                                       ":b": to_value(f"{HOUR_PREFIX}{end_hour}")},
        )]



def _is_duplicate(exc: Exception) -> bool:
    response = getattr(exc, "response", {})
    if response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    reasons = response.get("CancellationReasons") or []
    if reasons:
        return reasons[0].get("Code") == "ConditionalCheckFailed"
    return "ConditionalCheckFailed" in response.get("Error", {}).get("Message", "")
