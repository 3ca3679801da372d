"""How `PostRepository.store_many` packs a page's posts into transactions (no AWS: the client records)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from crisiscomms.aws.post_store import MAX_TOPICS_PER_POST, TRANSACT_ACTIONS, PostRepository, PostTables, StoreOutcome
from crisiscomms.models import Post, ScoredPost

AT = datetime(2026, 11, 28, 9, 40, 20, tzinfo=timezone.utc)


class Client:
    def __init__(self) -> None:
        self.sent: list[list[dict[str, Any]]] = []

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.sent.append(TransactItems)
        return {}


def _scored(n: int, topics: tuple[str, ...]) -> ScoredPost:
    post = Post(platform="x", native_id=str(n), source_type="social", source_id="x", url="u", author="a",
                text="Harbor Bank", published_at=AT - timedelta(seconds=n * 2))
    return ScoredPost(post=post, topics=topics, language="en", sentiment=0.1, sentiment_label="neutral",
                      crisis_terms=(), crisis_categories=(), crisis_weight=0.0, is_crisis=False, risk=5, ingested_at=AT)


def _store(page: list[ScoredPost]) -> tuple[list[StoreOutcome], list[list[dict[str, Any]]]]:
    client = Client()
    repo = PostRepository(PostTables("posts", "links", "aggregates"), clients=lambda service: client,  # type: ignore[arg-type]
                          retention_days=1)
    return repo.store_many(page), client.sent


def _items(actions: list[dict[str, Any]]) -> list[tuple[str, str]]:
    keys = []
    for action in actions:
        (kind, body), = action.items()
        key = body["Key"] if kind == "Update" else body["Item"]
        keys.append((body["TableName"], str(sorted((k, v) for k, v in key.items()
                                                   if k in ("post_key", "topic_day", "published_key", "topic", "minute_key")))))
    return keys


def test_a_page_of_100_posts_in_2_topics_takes_4_transactions_of_at_most_100_actions() -> None:
    outcomes, sent = _store([_scored(n, ("harbor", "withdrawals")) for n in range(100)])
    assert outcomes == [StoreOutcome.STORED] * 100
    assert len(sent) == 4 and all(len(actions) <= TRANSACT_ACTIONS for actions in sent)
    for actions in sent:
        assert len(_items(actions)) == len(set(_items(actions))), "no item twice in a transaction"
    posts = sum(1 for actions in sent for a in actions if "ConditionExpression" in a.get("Put", {}))
    assert posts == 100


def test_the_widest_post_fits_one_transaction_alone_and_a_wider_one_is_refused() -> None:
    widest = tuple(f"t{n}" for n in range(MAX_TOPICS_PER_POST))
    outcomes, sent = _store([_scored(1, ("harbor",)), _scored(2, widest), _scored(3, widest + ("one more",))])
    assert outcomes == [StoreOutcome.STORED, StoreOutcome.STORED, StoreOutcome.REFUSED]
    assert [len(actions) for actions in sent] == [5, 1 + 4 * MAX_TOPICS_PER_POST]
    assert 1 + 4 * (MAX_TOPICS_PER_POST + 1) > TRANSACT_ACTIONS
