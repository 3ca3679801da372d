"""Posts found only through ambiguous names: stored as unrelated and kept out of every per-topic figure."""
from __future__ import annotations

import os
from datetime import timedelta

import pytest

from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.post_store import PostRepository, PostTables

from .conftest import Listening

pytestmark = pytest.mark.integration
DAY = "2026-11-28"


def test_unrelated_posts_are_stored_as_such_and_counted_for_no_topic(listening: Listening) -> None:
    from crisiscomms.aws.dynamo import from_item
    from crisiscomms_local.aws import client

    listening.configure(topics=[{"id": "pingan", "names": ["平安银行"], "ambiguous": ["平安"]},
                                {"id": "chase", "names": ["Chase Bank"], "ambiguous": ["Chase"]}])
    start = listening.clock() - timedelta(minutes=3)
    texts = {
        "bank": "平安APP又崩了，转账转不出去，气死了",                       # about the bank through 平安 alone
        "eve": "平安夜加班到现在，气死了，一路平安吧",                       # 平安 in its ordinary senses
        "both": "Chase app froze my card again, worst 平安夜 ever",          # Chase's, not 平安's
        "dream": "Chase the dream, not the money",
    }
    ids = {name: listening.x.add_post(text=text, author=f"user_{name}", followers=50_000,
                                      created_at=start + timedelta(seconds=n))
           for n, (name, text) in enumerate(texts.items())}
    [report] = listening.poll("x")
    assert (report["stored"], report["unrelated"], report["unmatched"]) == (4, 2, 0), report

    repo = PostRepository(PostTables(os.environ["POSTS_TABLE"], os.environ["TOPIC_POSTS_TABLE"],
                                     os.environ["AGGREGATES_TABLE"]), clients=AwsClients(), retention_days=1)
    stored = {name: repo.get(f"x#{ids[name]}") for name in texts}
    assert {name: (p["related"], p["topics"], p.get("unrelated_topics", [])) for name, p in stored.items()} == {
        "bank": (True, ["pingan"], []),
        "eve": (False, [], ["pingan"]),
        "both": (True, ["chase"], ["pingan"]),
        "dream": (False, [], ["chase"]),
    }
    for topic, name in (("pingan", "bank"), ("chase", "both")):
        assert [link["post_key"] for link in repo.topic_posts(topic, DAY)] == [f"x#{ids[name]}"]
        assert [m["posts"] for m in repo.minute_aggregates(topic, f"{DAY}T00:00", f"{DAY}T23:59")] == [1]
        assert [h["posts"] for h in repo.topic_hours(topic, f"{DAY}T00", f"{DAY}T23")] == [1]
        assert sum(a["posts"] for a in repo.arrivals(topic, f"{DAY}T00:00")) == 1
    conversations = [from_item(i) for i in client("dynamodb").scan(TableName=os.environ["INBOX_TABLE"])["Items"]]
    opened = {c["post_key"] for c in conversations if "post_key" in c}
    assert f"x#{ids['eve']}" not in opened and f"x#{ids['dream']}" not in opened
    assert f"x#{ids['bank']}" in opened, "a related complaint still opens its conversation"
