"""One Mastodon status read from several servers (a local id on each, one URI) is stored once: its claim
item fails the second copy's transaction, which is settled DUPLICATE (no AWS: a fake that keeps items and
cancels a transaction whose condition fails, naming the action, as DynamoDB does)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from crisiscomms.aws.post_store import (
    MAX_TOPICS_PER_POST,
    TRANSACT_ACTIONS,
    PostRepository,
    PostTables,
    StoreOutcome,
    claim_key,
)
from crisiscomms.models import Post, ScoredPost

AT = datetime(2026, 11, 28, 9, 40, 20, tzinfo=timezone.utc)
KEYS = {"posts": ("post_key",), "links": ("topic_day", "published_key"), "aggregates": ("topic", "minute_key")}


class Table:
    """DynamoDB's TransactWriteItems as storing relies on it: all or nothing, a failed
    `attribute_not_exists(post_key)` cancels with a reason per action, one action per item."""

    def __init__(self) -> None:
        self.items: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {name: {} for name in KEYS}
        self.sent: list[list[dict[str, Any]]] = []

    def _key(self, table: str, item: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(item[k]["S"] for k in KEYS[table])

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.sent.append(TransactItems)
        touched = [(body["TableName"], self._key(body["TableName"], body["Item"] if kind == "Put" else body["Key"]))
                   for action in TransactItems for kind, body in action.items()]
        if len(touched) != len(set(touched)):
            raise ClientError({"Error": {"Code": "ValidationException", "Message": "Transaction request cannot"
                                         " include multiple operations on one item"}}, "TransactWriteItems")
        codes = ["ConditionalCheckFailed" if "ConditionExpression" in body and key in self.items[table] else "None"
                 for (table, key), action in zip(touched, TransactItems) for body in action.values()]
        if "ConditionalCheckFailed" in codes:
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                               "CancellationReasons": [{"Code": code} for code in codes]}, "TransactWriteItems")
        for (table, key), action in zip(touched, TransactItems):
            for kind, body in action.items():
                if kind == "Put":
                    self.items[table][key] = body["Item"]
                    continue
                item = self.items[table].setdefault(key, {})
                names, values = body["ExpressionAttributeNames"], body["ExpressionAttributeValues"]
                for placeholder, name in names.items():
                    if placeholder.startswith("#a"):
                        before = Decimal(item.get(name, {"N": "0"})["N"])
                        item[name] = {"N": str(before + Decimal(values[":" + placeholder[1:]]["N"]))}
        return {}

    def posts_counted(self) -> int:
        return sum(int(item["posts"]["N"]) for (_, minute), item in self.items["aggregates"].items()
                   if minute[0].isdigit())


def _post(native_id: str, *, platform: str = "mastodon", uri: str | None = "https://remote.example/statuses/1",
          topics: tuple[str, ...] = ("harbor",)) -> ScoredPost:
    post = Post(platform=platform, native_id=native_id, source_type="social", source_id=f"{platform}-src", url="u",
                author="li", text="Harbor Bank froze my account", published_at=AT - timedelta(minutes=1),
                reply_ref={"uri": uri, "server": f"https://{native_id}.example"} if uri else None)
    return ScoredPost(post=post, topics=topics, language="en", sentiment=-0.6, sentiment_label="negative",
                      crisis_terms=(), crisis_categories=(), crisis_weight=0.0, is_crisis=False, risk=40, ingested_at=AT)


def _repo(table: Table) -> PostRepository:
    return PostRepository(PostTables("posts", "links", "aggregates"), clients=lambda service: table,  # type: ignore[arg-type]
                          retention_days=1)


def test_the_same_status_from_a_second_server_is_a_duplicate_counted_nowhere() -> None:
    table = Table()
    repo = _repo(table)
    assert repo.store(_post("111")) is StoreOutcome.STORED
    assert repo.store(_post("222")) is StoreOutcome.DUPLICATE, "another server's id, the same URI"
    assert set(table.items["posts"]) == {("mastodon#111",), (claim_key(_post("111").post),)}
    assert table.items["posts"][claim_key(_post("222").post),]["claimed_by"] == {"S": "mastodon#111"}
    assert table.posts_counted() == 1 and len(table.items["links"]) == 1
    assert repo.store(_post("333", uri="https://remote.example/statuses/2")) is StoreOutcome.STORED


def test_a_claim_failing_in_a_packed_transaction_drops_its_own_post_and_stores_the_others() -> None:
    table = Table()
    repo = _repo(table)
    repo.store(_post("111"))
    page = [_post("a1", uri="https://remote.example/statuses/10"), _post("222"),
            _post("x1", platform="x", uri=None), _post("a2", uri="https://remote.example/statuses/11")]
    settled: list[tuple[int, StoreOutcome]] = []
    outcomes = repo.store_many(page, settled=lambda index, outcome: settled.append((index, outcome)))
    assert outcomes == [StoreOutcome.STORED, StoreOutcome.DUPLICATE, StoreOutcome.STORED, StoreOutcome.STORED]
    assert settled[0] == (1, StoreOutcome.DUPLICATE), "the claim's failure maps to its post"
    assert table.posts_counted() == 4 and ("mastodon#222",) not in table.items["posts"]


def test_two_copies_in_one_call_write_one_post_and_no_transaction_touches_the_claim_twice() -> None:
    table = Table()
    outcomes = _repo(table).store_many([_post("111"), _post("222"), _post("x1", platform="x", uri=None)])
    assert outcomes == [StoreOutcome.STORED, StoreOutcome.DUPLICATE, StoreOutcome.STORED]
    assert len(table.sent) == 1 and table.posts_counted() == 2


def test_only_mastodon_posts_with_a_uri_claim_and_the_widest_still_fits_one_transaction() -> None:
    assert claim_key(_post("x1", platform="x", uri="https://remote.example/statuses/1").post) is None
    assert claim_key(_post("111", uri=None).post) is None
    table = Table()
    widest = tuple(f"t{n}" for n in range(MAX_TOPICS_PER_POST))
    assert _repo(table).store_many([_post("111", topics=widest), _post("x1", platform="x", uri=None, topics=widest)]) \
        == [StoreOutcome.STORED, StoreOutcome.STORED]
    mastodon, x = table.sent
    assert len(mastodon) == 2 + 4 * MAX_TOPICS_PER_POST <= TRANSACT_ACTIONS
    assert len(x) == 1 + 4 * MAX_TOPICS_PER_POST, "other platforms write what they wrote before"
