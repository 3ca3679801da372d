"""A page's posts stored a few transactions at a time (`PostRepository.store_many`) on local AWS: the same
items and figures as storing them one by one, duplicates dropped and counted once, conflicts retried."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError

from crisiscomms.aws import post_store
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import deserialize
from crisiscomms.aws.post_store import MAX_TOPICS_PER_POST, TRANSACT_ACTIONS, PostRepository, PostTables, StoreOutcome
from crisiscomms.models import Post, ScoredPost
from crisiscomms.models.posts import CARRIED_LATENESS_MINUTES
from crisiscomms_local import moto_transactions
from crisiscomms_local.aws import client

pytestmark = pytest.mark.integration
STORED_AT = datetime(2026, 11, 28, 9, 40, 20, tzinfo=timezone.utc)
TABLES = ("PostsTable", "TopicPostsTable", "AggregatesTable")


class Recorder:
    """The functions' DynamoDB client, keeping every TransactWriteItems sent; `fail` may answer one instead."""

    def __init__(self) -> None:
        self.real = AwsClients()("dynamodb")
        self.sent: list[list[dict[str, Any]]] = []
        self.fail: Any = None  # (sent so far, the items) -> an exception to raise, or None to send it
        self.unexplained = False  # a cancellation without its reasons per action

    def __call__(self, service: str) -> Any:
        assert service == "dynamodb"
        return self

    def transact_write_items(self, TransactItems: list[dict[str, Any]], **kwargs: Any) -> Any:  # noqa: N803
        self.sent.append(TransactItems)
        refused = self.fail(len(self.sent), TransactItems) if self.fail is not None else None
        if refused is not None:
            raise refused
        try:
            return self.real.transact_write_items(TransactItems=TransactItems, **kwargs)
        except ClientError as exc:
            if self.unexplained:
                exc.response.pop("CancellationReasons", None)
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def _twin_tables(stack: Any) -> dict[str, str]:
    """Empty tables shaped as the stack's posts, links and aggregates tables (keys and indexes)."""
    names = {}
    for logical in TABLES:
        table = client("dynamodb").describe_table(TableName=stack.refs[logical])["Table"]
        name = f"{logical}-twin-{uuid.uuid4().hex[:6]}"
        extra = {"GlobalSecondaryIndexes": [{k: i[k] for k in ("IndexName", "KeySchema", "Projection")}
                                            for i in table["GlobalSecondaryIndexes"]]} \
            if table.get("GlobalSecondaryIndexes") else {}
        client("dynamodb").create_table(TableName=name, KeySchema=table["KeySchema"],
                                        AttributeDefinitions=table["AttributeDefinitions"],
                                        BillingMode="PAY_PER_REQUEST", **extra)
        names[logical] = name
    return names


def _repository(tables: dict[str, str], clients: Any = None, **kwargs: Any) -> PostRepository:
    return PostRepository(PostTables(*(tables[t] for t in TABLES)), clients=clients or AwsClients(),
                          retention_days=30, figures_retention_days=400, **kwargs)


def _items(table: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Every item of a table by key, numbers as DynamoDB holds them (Decimal)."""
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    schema = client("dynamodb").describe_table(TableName=table)["Table"]["KeySchema"]
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = client("dynamodb").scan(**kwargs)
        for raw in page["Items"]:
            item = {k: deserialize(v) for k, v in raw.items()}
            found[tuple(item[k["AttributeName"]] for k in schema)] = item
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _scored(n: int, *, topics: tuple[str, ...] = ("harbor",), late: bool = False, stored_at: datetime = STORED_AT,
            platform: str = "x") -> ScoredPost:
    """Posts that differ in every figure the store counts: minute, hour, platform, place, narrative, sign."""
    source = "news" if platform == "news" else "social"
    published = stored_at - timedelta(minutes=(CARRIED_LATENESS_MINUTES + 5 + n % 50) if late else n % 7,
                                      seconds=n % 60)
    post = Post(platform=platform, native_id=str(1000 + n), source_type=source, source_id="s",
                url=f"https://example.com/{n}", author=f"a{n % 5}", followers=[0, 15, 20_000, 300][n % 4],
                text=f"Harbor Bank queue {n}", published_at=published, likes=n % 9, reposts=n % 4)
    negative = n % 3 == 0
    crisis = n % 4 != 1
    places = [("CN", "CN-GD"), ("HK", None), (None, None), ("CN", "CN-BJ")]
    country, region = places[n % 4]
    return ScoredPost(post=post, topics=topics, language="en", sentiment=-0.123457 * (n % 5) if negative else 0.3 + n / 1000,
                      sentiment_label="negative" if negative else "positive",
                      crisis_terms=("bank run",) if crisis else (), crisis_categories=("bank_run",) if crisis else (),
                      crisis_weight=1.5 + n % 3 if crisis else 0.0, is_crisis=crisis, risk=n % 100,
                      ingested_at=stored_at, high_reach_negative=negative and post.followers >= 10_000,
                      early_warning=crisis and n % 6 == 0, country=country, region=region,
                      narrative=["withdrawals", "insolvency", None][n % 3] if crisis else None)


def _page() -> list[ScoredPost]:
    """A page of 120 posts in one to three topics, social and news, some too late for the arrivals items,
    stored over two ingest minutes (expires_at differs), one post twice."""
    topic_sets = [("harbor",), ("harbor", "northgate"), ("harbor", "northgate", "eastbank")]
    page = []
    for n in range(120):
        at = STORED_AT if n < 60 else STORED_AT + timedelta(minutes=1, seconds=10)
        page.append(_scored(n, topics=topic_sets[n % 3], late=n % 11 == 0, stored_at=at,
                            platform=["x", "weibo", "news"][n % 3]))
    page.insert(50, page[7])
    return page


@pytest.mark.parametrize("limits", [{}, {"UPDATE_ATTRIBUTES": 20}, {"TRANSACTION_BYTES": 6_000}])
def test_storing_a_page_in_batches_writes_what_storing_it_post_by_post_writes(stack, monkeypatch, limits) -> None:
    for name, value in limits.items():
        monkeypatch.setattr(post_store, name, value)
    page = _page()
    one_by_one, batched = _twin_tables(stack), _twin_tables(stack)
    singles = Recorder()
    single_outcomes = [_repository(one_by_one, singles).store(s) for s in page]
    batches = Recorder()
    seen: list[tuple[int, StoreOutcome]] = []
    outcomes = _repository(batched, batches).store_many(page, settled=lambda i, o: seen.append((i, o)))

    assert outcomes == single_outcomes and outcomes.count(StoreOutcome.DUPLICATE) == 1 and outcomes[50] is StoreOutcome.DUPLICATE
    assert sorted(seen) == list(enumerate(outcomes)), "each outcome handed over once"
    assert len(singles.sent) == 121 and 1 < len(batches.sent) < 121
    if not limits:
        assert len(batches.sent) <= 121 / 4, batches.sent
    for sent in batches.sent:
        assert len(sent) <= TRANSACT_ACTIONS
        updates = [a["Update"] for a in sent if "Update" in a]
        keys = [(u["Key"]["topic"]["S"], u["Key"]["minute_key"]["S"]) for u in updates]
        assert len(keys) == len(set(keys)), "one action per item"
        for update in updates:
            assert len(update["UpdateExpression"]) < 4096
            assert moto_transactions._parse_simple(update["UpdateExpression"]) is not None, "local AWS's direct path"
        if "UPDATE_ATTRIBUTES" in limits:
            assert all(len(u["ExpressionAttributeNames"]) <= limits["UPDATE_ATTRIBUTES"] for u in updates)
    merged = max(sum(1 for a in sent if "Put" in a and "ConditionExpression" in a["Put"]) for sent in batches.sent)
    assert merged > 1

    for logical in TABLES:
        mine, theirs = _items(batched[logical]), _items(one_by_one[logical])
        assert mine.keys() == theirs.keys(), logical
        for key in theirs:
            assert mine[key] == theirs[key], (logical, key)
    figures = _items(batched["AggregatesTable"])
    kinds = {k[1].split("#")[0] if not k[1][0].isdigit() else "minute" for k in figures}
    assert kinds == {"minute", "hour", "arrivals"}
    names = {name for item in figures.values() for name in item}
    assert {"nv_withdrawals", "nr_insolvency", "np_withdrawals_x", "r_CN-GD", "rn_unknown", "p_weibo"} <= names
    hours = [i for k, i in figures.items() if k == ("harbor", f"hour#{STORED_AT:%Y-%m-%dT%H}#social")]
    assert hours and hours[0]["expires_at"] == int((STORED_AT + timedelta(minutes=1, seconds=10, days=400)).timestamp()), \
        "the latest expiry of the posts it counts"


def test_one_transaction_of_posts_stored_at_different_times_keeps_the_latest_expiry_and_each_post_once(stack) -> None:
    later = STORED_AT + timedelta(seconds=30)
    page = [_scored(1), _scored(2, stored_at=later), _scored(1)]
    expected, tables = _twin_tables(stack), _twin_tables(stack)
    assert [_repository(expected).store(s) for s in page] == [StoreOutcome.STORED, StoreOutcome.STORED,
                                                              StoreOutcome.DUPLICATE]
    recorder = Recorder()
    assert _repository(tables, recorder).store_many(page) == [StoreOutcome.STORED, StoreOutcome.STORED,
                                                               StoreOutcome.DUPLICATE]
    assert len(recorder.sent) == 1, "a post twice in one call is not sent twice"
    for logical in TABLES:
        assert _items(tables[logical]) == _items(expected[logical]), logical
    [hour] = [i for k, i in _items(tables["AggregatesTable"]).items() if k[1].startswith("hour#")]
    assert hour["expires_at"] == int((later + timedelta(days=400)).timestamp())


def test_a_post_stored_already_in_the_middle_of_a_batch_is_dropped_and_the_rest_stored(stack) -> None:
    page = [_scored(n, topics=("harbor", "northgate")) for n in range(30)]
    expected, tables = _twin_tables(stack), _twin_tables(stack)
    for scored in page:
        _repository(expected).store(scored)
    recorder = Recorder()
    repo = _repository(tables, recorder)
    assert repo.store(page[13]) is StoreOutcome.STORED and repo.store(page[21]) is StoreOutcome.STORED
    recorder.sent.clear()

    outcomes = repo.store_many(page)
    assert [n for n, o in enumerate(outcomes) if o is StoreOutcome.DUPLICATE] == [13, 21]
    assert outcomes.count(StoreOutcome.STORED) == 28
    assert len(recorder.sent) <= 3, "the first try, then the transaction without what its reasons named"
    for logical in TABLES:
        assert _items(tables[logical]) == _items(expected[logical]), logical

    recorder.sent.clear()
    assert repo.store_many(page) == [StoreOutcome.DUPLICATE] * 30
    assert len(recorder.sent) <= 30, "every retry drops at least one post"
    for logical in TABLES:
        assert _items(tables[logical]) == _items(expected[logical]), "nothing counted twice"


def test_a_post_stored_by_another_writer_between_the_lookup_and_the_write_counts_once(stack) -> None:
    from crisiscomms.listening.polling import Ingestor, RunReport
    from crisiscomms.listening.topics import TopicMatcher
    from crisiscomms.scoring.engines import LexiconScorer
    from crisiscomms.watch import Topic

    tables = _twin_tables(stack)
    repo, other = _repository(tables), _repository(tables)
    posts = [Post(platform="x", native_id=str(n), source_type="social", source_id="x", url=f"u{n}", author="a",
                  text=f"Harbor Bank queue {n}", published_at=STORED_AT - timedelta(minutes=1)) for n in range(40)]

    class Racing:
        """The real repository; another Poller stores post 17 just after the lookup."""

        def known(self, keys: list[str]) -> Any:
            found = repo.known(keys)
            raced = _scored(0).model_copy(update={"post": posts[17]})
            assert other.store(raced) is StoreOutcome.STORED
            return found

        def store_many(self, scored: list[ScoredPost], **kwargs: Any) -> list[StoreOutcome]:
            return repo.store_many(scored, **kwargs)

    opened: list[str] = []
    ingestor = Ingestor(TopicMatcher([Topic(id="harbor", names=["Harbor Bank"])]), LexiconScorer(), Racing(),  # type: ignore[arg-type]
                        lambda: STORED_AT, on_stored=lambda stored: opened.extend(s.post.key for s in stored) or len(stored))
    report = RunReport(source="x:x")
    ingestor.ingest(posts, report)
    assert (report.stored, report.duplicates) == (39, 1)
    assert sorted(opened) == sorted(p.key for n, p in enumerate(posts) if n != 17), "followed up once, when stored"
    minutes = repo.minute_aggregates("harbor", "2026-11-28T00:00", "2026-11-29T00:00")
    assert sum(m["posts"] for m in minutes) == 40, "the raced post counted by its own writer only"
    [arrivals] = repo.arrivals("harbor", "2026-11-28T09:00")
    assert arrivals["posts"] == 40


def _cancelled(codes: list[str]) -> ClientError:
    """What DynamoDB answers for a cancelled transaction: a reason per action, in order."""
    return ClientError({"Error": {"Code": "TransactionCanceledException",
                                  "Message": f"Transaction cancelled, please refer cancellation reasons for specific "
                                             f"reasons [{', '.join(codes)}]"},
                        "CancellationReasons": [{"Code": c} for c in codes]}, "TransactWriteItems")


def test_without_reasons_per_action_each_post_is_sent_alone_to_find_the_one_stored_already(stack) -> None:
    page = [_scored(n, topics=("harbor", "northgate")) for n in range(10)]
    expected, tables = _twin_tables(stack), _twin_tables(stack)
    for scored in page:
        _repository(expected).store(scored)
    recorder = Recorder()
    repo = _repository(tables, recorder)
    repo.store(page[5])

    recorder.unexplained = True
    outcomes = repo.store_many(page)
    assert len(recorder.sent) == 1 + 1 + 10, "the batch, then each post alone"
    assert [n for n, o in enumerate(outcomes) if o is StoreOutcome.DUPLICATE] == [5]
    for logical in TABLES:
        assert _items(tables[logical]) == _items(expected[logical]), logical


def test_a_conflicting_writer_is_waited_out_and_the_transaction_sent_again(stack) -> None:
    page = [_scored(n, topics=("harbor", "northgate")) for n in range(40)]
    expected, tables = _twin_tables(stack), _twin_tables(stack)
    for scored in page:
        _repository(expected).store(scored)
    recorder = Recorder()
    # another writer's transaction on a counter item, twice, on the first transaction
    recorder.fail = lambda sent, items: _cancelled(["None"] * (len(items) - 1) + ["TransactionConflict"]) \
        if sent <= 2 else None
    pauses: list[float] = []
    outcomes = _repository(tables, recorder, sleep=pauses.append).store_many(page)
    assert outcomes == [StoreOutcome.STORED] * 40
    assert len(pauses) == 2 and all(0 <= p <= post_store.CONFLICT_BASE_DELAY * 4 for p in pauses)
    assert recorder.sent[0] == recorder.sent[1] == recorder.sent[2], "the same transaction again"
    for logical in TABLES:
        assert _items(tables[logical]) == _items(expected[logical]), "stored once, nothing counted twice"


def test_a_conflict_that_lasts_is_raised_after_bounded_attempts_and_earlier_transactions_stay(stack, monkeypatch) -> None:
    monkeypatch.setattr(post_store, "TRANSACTION_BYTES", 12_000)  # a few transactions for this page
    page = [_scored(n) for n in range(30)]
    tables = _twin_tables(stack)
    recorder = Recorder()
    recorder.fail = lambda sent, items: _cancelled(["TransactionConflict"] + ["None"] * (len(items) - 1)) \
        if sent >= 2 else None
    settled: list[tuple[int, StoreOutcome]] = []
    repo = _repository(tables, recorder, sleep=lambda s: None)
    with pytest.raises(ClientError, match="TransactionCanceledException"):
        repo.store_many(page, settled=lambda i, o: settled.append((i, o)))
    assert len(recorder.sent) == 1 + post_store.CONFLICT_ATTEMPTS
    first = [n for n, o in settled]
    assert first and all(o is StoreOutcome.STORED for _, o in settled) and first == list(range(len(first)))
    stored = _items(tables["PostsTable"])
    assert sorted(k[0] for k in stored) == sorted(page[n].post.key for n in first), "only the committed ones"
    minutes = repo.minute_aggregates("harbor", "2026-11-28T00:00", "2026-11-29T00:00")
    assert sum(m["posts"] for m in minutes) == len(first)


def test_a_post_about_more_topics_than_a_transaction_holds_is_refused_and_the_rest_stored(stack) -> None:
    tables = _twin_tables(stack)
    widest = tuple(f"t{n:02d}" for n in range(MAX_TOPICS_PER_POST))
    recorder = Recorder()
    repo = _repository(tables, recorder)
    page = [_scored(1), _scored(2, topics=widest + ("t99",)), _scored(3, topics=widest), _scored(4)]
    assert repo.store_many(page) == [StoreOutcome.STORED, StoreOutcome.REFUSED, StoreOutcome.STORED, StoreOutcome.STORED]
    assert max(len(sent) for sent in recorder.sent) <= TRANSACT_ACTIONS
    assert any(len(sent) == 1 + 4 * MAX_TOPICS_PER_POST for sent in recorder.sent), "the widest post alone"
    assert sorted(k[0] for k in _items(tables["PostsTable"])) == sorted(page[n].post.key for n in (0, 2, 3))
    assert not any(k[0] == "t99" for k in _items(tables["AggregatesTable"]))
    assert repo.minute_aggregates("t00", "2026-11-28T00:00", "2026-11-29T00:00")[0]["posts"] == 1
    assert MAX_TOPICS_PER_POST == 24 and 1 + 4 * (MAX_TOPICS_PER_POST + 1) > TRANSACT_ACTIONS


def test_the_ingestor_counts_and_logs_a_refused_post(stack, caplog) -> None:
    from crisiscomms.listening.polling import Ingestor, RunReport
    from crisiscomms.listening.topics import TopicMatcher
    from crisiscomms.scoring.engines import LexiconScorer
    from crisiscomms.watch import Topic

    tables = _twin_tables(stack)
    topics = [Topic(id=f"t{n:02d}", names=["Harbor Bank"]) for n in range(MAX_TOPICS_PER_POST + 1)]
    topics.append(Topic(id="queues", names=["queue"]))
    posts = [Post(platform="x", native_id=str(n), source_type="social", source_id="x", url="u", author="a", text=text,
                  published_at=STORED_AT) for n, text in enumerate(["Harbor Bank queue", "a long queue", "another queue"])]
    opened: list[str] = []
    ingestor = Ingestor(TopicMatcher(topics), LexiconScorer(), _repository(tables), lambda: STORED_AT,
                        on_stored=lambda stored: opened.extend(s.post.key for s in stored) or len(stored))
    report = RunReport(source="x:x")
    with caplog.at_level("ERROR"):
        ingestor.ingest(posts, report)
    assert (report.stored, report.refused, report.duplicates) == (2, 1, 0)
    assert opened == ["x#1", "x#2"]
    assert any("more topics than one transaction holds" in r.getMessage() for r in caplog.records)
