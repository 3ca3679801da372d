"""The bank's own site failing while statements go out: its deliveries are retried alone and land once."""
from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import NORTHGATE_STATEMENT, NORTHGATE_TOPIC, drill_passes

pytestmark = pytest.mark.integration

CORRECTED = {"en": {"full": "Northgate Savings: all accounts are available; the app is back.",
                    "short": "Northgate Savings: app back."},
             "zh": {"full": "北门储蓄：所有账户正常，应用已恢复。", "short": "北门储蓄：应用已恢复。"}}
SCENARIO = {
    "name": "newsroom-faults",
    "description": "No answer from the site at approval, 503 at publish, a lost answer on the correction.",
    "start": "2027-03-01T09:00:00+00:00",
    "duration": "+00:20",
    "topics": [NORTHGATE_TOPIC],
    "posts": [{"at": "+00:00:30", "platform": "x", "text": "Northgate Savings app down"}],
    "faults": [
        {"from": "+00:02", "to": "+00:03", "channel": "newsroom", "kind": "timeout"},
        {"from": "+00:03", "to": "+00:06", "channel": "newsroom", "kind": "http_status", "status": 503},
        {"at": "+00:12", "channel": "newsroom", "kind": "timeout_after_send"},
    ],
    "desk": [
        {"at": "+00:01", "as": "author:li", "do": "draft", "ref": "s1", "channels": ["newsroom", "x"], "text": NORTHGATE_STATEMENT},
        {"at": "+00:02", "as": "approver:wang", "do": "approve", "ref": "s1"},
        {"at": "+00:03", "as": "approver:wang", "do": "publish", "ref": "s1"},
        {"at": "+00:10", "as": "author:li", "do": "correct", "ref": "s2", "corrects": "s1", "text": CORRECTED},
        {"at": "+00:11", "as": "approver:wang", "do": "approve", "ref": "s2"},
        {"at": "+00:12", "as": "approver:wang", "do": "publish", "ref": "s2"},
    ],
    "expect": [{"check": "deliveries", "ref": "s1", "state": "SENT"}, {"check": "deliveries", "ref": "s2", "state": "SENT"},
               {"check": "no_duplicates"}, {"check": "audit_chain_valid"}],
}


@pytest.mark.slow(seconds=6)
def test_newsroom_faults_are_retried_alone_and_every_page_lands_once_in_the_feed(tmp_path: Path, capsys) -> None:
    result = drill_passes(tmp_path, SCENARIO, capsys)
    deliveries = {(s["ref"], d["channel"], d["language"]): d for s in result["statements"] for d in s["deliveries"]}
    assert {key: d["state"] for key, d in deliveries.items()} == {
        (ref, channel, language): "SENT"
        for ref in ("s1", "s2") for channel, language in (("newsroom", "en"), ("newsroom", "zh"), ("x", "en"))}
    first = deliveries[("s1", "newsroom", "en")]
    assert first["attempts"] > 1 and "SlowDown" in first["error"]  # retried through the 503s, then sent
    assert deliveries[("s2", "newsroom", "en")]["attempts"] > 1  # the lost answer: written again, the same page
    assert {d["attempts"] for key, d in deliveries.items() if key[1] == "x"} == {1}  # the other channel was not held up
    s1 = next(s for s in result["statements"] if s["ref"] == "s1")
    assert s1["published_at"].startswith("2027-03-01T09:03") and s1["publish_to_last_delivery_s"] >= 180
    assert next(c for c in result["checks"] if c["check"] == "no_duplicates")["passed"]


def test_no_duplicates_counts_a_statement_repeated_in_the_newsroom_feed() -> None:
    """The newsroom's pages are keyed by statement and language, so a repeat can only show in its feed."""
    from types import SimpleNamespace

    from crisiscomms_local.drill.runner import _channel_duplicates

    class Site:
        emulators: dict = {}

        def __init__(self, feed: list[str]) -> None:
            self.feed = feed

        def newsroom_feed(self) -> list[str]:
            return self.feed

    once = ["Statement\nall accounts are available", "声明\n所有账户正常"]
    assert _channel_duplicates(SimpleNamespace(desk_world=Site(once))) == {}
    assert _channel_duplicates(SimpleNamespace(desk_world=Site([*once, once[0]]))) == {"newsroom": 1}


def test_the_drill_reads_the_newsroom_feed_as_a_reader_gets_it(stack) -> None:
    from datetime import datetime, timezone

    from crisiscomms.aws.clients import AwsClients
    from crisiscomms.aws.newsroom_site import NewsroomAdapter
    from crisiscomms.models.delivery import DeliveryRequest
    from crisiscomms_local.desk_world import DeskWorld

    site = DeskWorld(stack=stack, emulators={})
    assert site.newsroom_feed() == []  # nothing published yet
    adapter = NewsroomAdapter(stack.refs["NewsroomBucket"], clients=AwsClients(), base_url="https://newsroom.example",
                              site_title="Newsroom", clock=lambda: datetime(2027, 3, 1, 9, tzinfo=timezone.utc))
    for language, text in (("en", "All accounts are available."), ("zh", "所有账户正常。")):
        request = DeliveryRequest(delivery_id=f"d-{language}", statement_id="st-1", version=1, channel="newsroom",
                                  language=language, title="Northgate Savings", text=text)
        adapter.confirm(request, adapter.publish(request))
    assert site.newsroom_feed() == ["Northgate Savings\nAll accounts are available.", "Northgate Savings\n所有账户正常。"][::-1]
