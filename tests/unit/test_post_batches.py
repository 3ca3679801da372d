"""How `PostRepository.store_many` packs a page's posts into transactions (no AWS: the client records)."""
from __future__ import annotations

import math
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


# --- a post DynamoDB refuses is set apart; the page's others are stored ------------------------------------

def _key(action: dict[str, Any]) -> str | None:
    put = action.get("Put", {})
    return put["Item"]["post_key"]["S"] if "ConditionExpression" in put else None


class Refusing(Client):
    """DynamoDB refusing every transaction that holds one of `poison`'s posts: whole (`ValidationException`,
    as for an item over 400 KB) or, with `reason_at`, by a cancellation reason on the action it names."""

    def __init__(self, poison: set[str], *, reason_at: str | None = None) -> None:
        super().__init__()
        self.poison, self.reason_at = poison, reason_at
        self.committed: list[str] = []
        self.unexplained = False

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        from botocore.exceptions import ClientError

        self.sent.append(TransactItems)
        bad = [n for n, action in enumerate(TransactItems) if _key(action) in self.poison]
        if not bad:
            self.committed += [key for key in map(_key, TransactItems) if key]
            return {}
        if self.reason_at is None:
            raise ClientError({"Error": {"Code": "ValidationException",
                                         "Message": "Item size has exceeded the maximum allowed size"}},
                              "TransactWriteItems")
        at = bad[0] if self.reason_at == "put" else len(TransactItems) - 1  # the post's own Put, or a figures Update
        reasons = [{"Code": "None"}] * len(TransactItems)
        reasons[at] = {"Code": "ValidationError", "Message": "Item size to update has exceeded the maximum allowed size"}
        listed = ", ".join(r["Code"] for r in reasons)
        answer: dict[str, Any] = {"Error": {"Code": "TransactionCanceledException",
                                            "Message": f"Transaction cancelled, please refer cancellation reasons"
                                                       f" for specific reasons [{listed}]"}}
        if not self.unexplained:  # SDKs other than Java's may leave the reasons out
            answer["CancellationReasons"] = reasons
        raise ClientError(answer, "TransactWriteItems")  # type: ignore[arg-type]


def _store_refused(page: list[ScoredPost], client: Client) -> tuple[list[StoreOutcome], dict[int, Any]]:
    from crisiscomms.aws.post_store import Refusal

    repo = PostRepository(PostTables("posts", "links", "aggregates"), clients=lambda service: client,  # type: ignore[arg-type]
                          retention_days=1)
    refusals: dict[int, Refusal] = {}
    return repo.store_many(page, refusals=refusals), refusals


def test_a_post_refused_whole_is_set_apart_by_halves_and_the_others_stored_once() -> None:
    page = [_scored(n, ("harbor",)) for n in range(40)]
    client = Refusing({"x#17"})
    outcomes, refusals = _store_refused(page, client)
    assert sum(1 for action in client.sent[0] if _key(action)) == 40, "the page shares one transaction"
    assert [n for n, o in enumerate(outcomes) if o is StoreOutcome.REFUSED] == [17]
    assert outcomes.count(StoreOutcome.STORED) == 39
    assert sorted(client.committed) == sorted(p.post.key for n, p in enumerate(page) if n != 17), "each once"
    assert (refusals[17].code, refusals[17].reason) == ("ValidationException",
                                                        "Item size has exceeded the maximum allowed size")
    assert len(client.sent) <= 1 + 2 * math.ceil(math.log2(40)), "the page's transaction, then two halves a level"


def test_a_post_a_cancellation_reason_names_is_dropped_at_once() -> None:
    page = [_scored(n, ("harbor", "withdrawals")) for n in range(20)]
    client = Refusing({"x#3"}, reason_at="put")
    outcomes, refusals = _store_refused(page, client)
    assert [n for n, o in enumerate(outcomes) if o is StoreOutcome.REFUSED] == [3]
    assert len(client.sent) == 2, "the transaction, then the same without the post its reason named"
    assert refusals[3].code == "ValidationError" and "maximum allowed size" in refusals[3].reason


def test_a_figures_item_refused_sets_the_posts_apart_by_halves() -> None:
    page = [_scored(n, ("harbor",)) for n in range(16)]
    client = Refusing({"x#9"}, reason_at="update")
    outcomes, refusals = _store_refused(page, client)
    assert [n for n, o in enumerate(outcomes) if o is StoreOutcome.REFUSED] == [9]
    assert len(client.sent) == 1 + 2 * 4 and refusals[9].code == "ValidationError"


def test_without_reasons_per_action_a_refusal_listed_in_the_message_sets_the_posts_apart_by_halves() -> None:
    page = [_scored(n, ("harbor",)) for n in range(8)]
    client = Refusing({"x#2"}, reason_at="put")
    client.unexplained = True
    outcomes, refusals = _store_refused(page, client)
    assert [n for n, o in enumerate(outcomes) if o is StoreOutcome.REFUSED] == [2]
    assert len(client.sent) == 1 + 2 * 3 and refusals[2].code == "ValidationError"


def test_a_page_of_refused_posts_costs_at_most_2k_minus_1_transactions_and_raises_nothing() -> None:
    page = [_scored(n, ("harbor",)) for n in range(12)]
    client = Refusing({p.post.key for p in page})
    outcomes, refusals = _store_refused(page, client)
    assert outcomes == [StoreOutcome.REFUSED] * 12 and sorted(refusals) == list(range(12))
    assert len(client.sent) == 2 * 12 - 1 and client.committed == []


def test_a_value_no_dynamodb_number_holds_refuses_its_post_before_anything_is_sent() -> None:
    page = [_scored(n, ("harbor",)) for n in range(3)]
    page[1] = page[1].model_copy(update={"post": page[1].post.model_copy(update={"followers": 10**40 + 1})})
    client = Refusing(set())
    outcomes, refusals = _store_refused(page, client)
    assert outcomes == [StoreOutcome.STORED, StoreOutcome.REFUSED, StoreOutcome.STORED]
    assert refusals[1].code == "Inexact" and len(client.sent) == 1


def test_only_a_post_that_owes_its_inbox_step_carries_the_mark_in_its_own_put() -> None:
    page = [_scored(1, ("harbor",)).model_copy(update={"inbox_due": True}), _scored(2, ("harbor",))]
    _, sent = _store(page)
    items = {action["Put"]["Item"]["post_key"]["S"]: action["Put"]["Item"] for action in sent[0]
             if "ConditionExpression" in action.get("Put", {})}
    assert items["x#1"]["inbox_due"] == {"S": "2026-11-28T09:40:20Z"} and "inbox_due" not in items["x#2"]
    assert len(sent) == 1, "no request more"
