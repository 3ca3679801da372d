"""Local tables come from template.yaml; storing is once-only and aggregates move with the post."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from crisiscomms.aws.clients import AwsClients

from crisiscomms_local.aws import client
from crisiscomms.aws.post_store import PostRepository, PostTables, StoreOutcome
from crisiscomms.models import Post, ScoredPost
from crisiscomms_local.template import load_template, resources_of_type

pytestmark = pytest.mark.integration


def test_local_tables_have_the_templates_keys_indexes_and_ttl(stack) -> None:
    for logical, resource in resources_of_type(load_template(), "AWS::DynamoDB::Table").items():
        props = resource["Properties"]
        table = client("dynamodb").describe_table(TableName=stack.refs[logical])["Table"]
        assert table["KeySchema"] == props["KeySchema"], logical
        assert sorted(table["AttributeDefinitions"], key=str) == sorted(props["AttributeDefinitions"], key=str)
        local_indexes = {i["IndexName"]: i["KeySchema"] for i in table.get("GlobalSecondaryIndexes", [])}
        assert local_indexes == {i["IndexName"]: i["KeySchema"] for i in props.get("GlobalSecondaryIndexes", [])}
        ttl = client("dynamodb").describe_time_to_live(TableName=stack.refs[logical])["TimeToLiveDescription"]
        if "TimeToLiveSpecification" in props:
            assert ttl["AttributeName"] == props["TimeToLiveSpecification"]["AttributeName"]


def _scored(native_id: str, *, topics=("harbor",), sentiment=-0.6, followers=20_000, published=None) -> ScoredPost:
    post = Post(platform="x", native_id=native_id, source_type="social", source_id="x-main",
                url=f"https://x.com/a/status/{native_id}", author="a", followers=followers, text="Harbor Bank bank run",
                published_at=published or datetime(2026, 11, 28, 9, 15, 30, tzinfo=timezone.utc), likes=3, reposts=2)
    return ScoredPost(post=post, topics=topics, language="en", sentiment=sentiment,
                      sentiment_label="negative" if sentiment < 0 else "positive", crisis_terms=("bank run",),
                      crisis_categories=("bank_run",), crisis_weight=3.0, is_crisis=True, risk=71,
                      ingested_at=datetime(2026, 11, 28, 9, 16, tzinfo=timezone.utc),
                      high_reach_negative=sentiment < 0 and followers >= 10_000)


def _repository(stack) -> PostRepository:
    return PostRepository(PostTables(stack.refs["PostsTable"], stack.refs["TopicPostsTable"], stack.refs["AggregatesTable"]), clients=AwsClients(),
                          retention_days=30)


def test_store_once_and_aggregates_only_for_the_new_post(stack) -> None:
    repo = _repository(stack)
    assert repo.store(_scored("1")) is StoreOutcome.STORED
    assert repo.store(_scored("1")) is StoreOutcome.DUPLICATE
    assert repo.store(_scored("2", sentiment=0.5, followers=10)) is StoreOutcome.STORED
    [minute] = repo.minute_aggregates("harbor", "2026-11-28T09:00", "2026-11-28T10:00")
    assert minute["minute"] == "2026-11-28T09:15" and minute["source_type"] == "social"
    assert minute["posts"] == 2 and minute["negative"] == 1 and minute["high_reach_negative"] == 1
    assert minute["sentiment_sum"] == pytest.approx(-0.1)
    assert minute["engagement"] == 10 and minute["crisis_posts"] == 2
    item = repo.get("x#1")
    assert item["expires_at"] == int(datetime(2026, 12, 28, 9, 16, tzinfo=timezone.utc).timestamp())
    assert item["platform_day"] == "x#2026-11-28" and item["risk"] == 71


def test_topic_posts_by_time_and_by_risk(stack) -> None:
    repo = _repository(stack)
    for n, minute in enumerate((10, 20, 30)):
        scored = _scored(str(n), published=datetime(2026, 11, 28, 9, minute, tzinfo=timezone.utc))
        scored = scored.model_copy(update={"risk": [50, 90, 10][n]})
        repo.store(scored)
    newest_first = repo.topic_posts("harbor", "2026-11-28")
    assert [p["post_key"] for p in newest_first] == ["x#2", "x#1", "x#0"]
    riskiest = repo.topic_posts("harbor", "2026-11-28", by_risk=True)
    assert [p["risk"] for p in riskiest] == [90, 50, 10]
    assert [p["post_key"] for p in repo.platform_posts("x", "2026-11-28", since="2026-11-28T09:15")] == ["x#1", "x#2"]


def test_minute_aggregates_window_is_half_open(stack) -> None:
    repo = _repository(stack)
    for n, minute in enumerate((14, 15, 16)):
        repo.store(_scored(str(n), published=datetime(2026, 11, 28, 9, minute, tzinfo=timezone.utc)))
    minutes = [a["minute"] for a in repo.minute_aggregates("harbor", "2026-11-28T09:15", "2026-11-28T09:16")]
    assert minutes == ["2026-11-28T09:15"]
