"""A service outage in a drill: DynamoDB or SQS down for minutes, the functions failing as they would, nothing lost."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from crisiscomms_local.drill.runner import _scheduled

from .conftest import NORTHGATE_STATEMENT, NORTHGATE_TOPIC, TEST_WAITS, drill_passes

pytestmark = pytest.mark.integration

SCENARIO = {
    "name": "aws-outages",
    "description": "DynamoDB and SQS each down for minutes while posts arrive and a statement goes out.",
    "start": "2027-03-01T09:00:00+00:00",
    "duration": "+00:15",
    "topics": [NORTHGATE_TOPIC],
    "posts": [
        {"burst": {"from": "+00:00", "to": "+00:12", "per_minute": 6, "platform": "x", "lang": "en",
                   "texts": ["Northgate Savings app down again", "Is Northgate Savings OK?"], "followers": [10, 5000], "seed": 5}},
        {"burst": {"from": "+00:01", "to": "+00:11", "per_minute": 3, "platform": "weibo", "lang": "zh",
                   "texts": ["北门储蓄的应用又打不开了"], "followers": [10, 5000], "seed": 6}},
    ],
    "faults": [
        {"from": "+00:03", "to": "+00:05", "service": "dynamodb", "kind": "unavailable"},
        {"from": "+00:06", "to": "+00:07", "channel": "newsroom", "kind": "http_status", "status": 503},
        {"from": "+00:07", "to": "+00:09", "service": "sqs", "kind": "unavailable"},
    ],
    "desk": [
        {"at": "+00:01", "as": "author:li", "do": "draft", "ref": "s1", "channels": ["newsroom", "x"], "text": NORTHGATE_STATEMENT},
        {"at": "+00:02", "as": "approver:wang", "do": "approve", "ref": "s1"},
        # while DynamoDB is down the desk is told to try again, and nothing changes
        {"at": "+00:03:30", "as": "approver:wang", "do": "expect_refused", "action": "publish", "ref": "s1", "status": 503},
        {"at": "+00:06", "as": "approver:wang", "do": "publish", "ref": "s1"},
    ],
    "expect": [{"check": "deliveries", "ref": "s1", "state": "SENT"}, {"check": "stored_posts", "min": 102, "max": 102},
               {"check": "no_duplicates"}, {"check": "audit_chain_valid"}],
}


@pytest.mark.slow(seconds=8)
def test_through_dynamodb_and_sqs_outages_nothing_is_missed_stored_twice_or_sent_twice(tmp_path: Path, capsys) -> None:
    result = drill_passes(tmp_path, SCENARIO, capsys)
    timeline = result["timeline"]
    assert any("dynamodb unavailable (injected)" in line for line in timeline)
    assert sum("poller failed while dynamodb unavailable" in line for line in timeline) == 4  # x and weibo, 2 minutes
    assert any(line.startswith("+00:09") and "sqs available again" in line for line in timeline)
    assert result["figures"]["missed"] == 0 and result["figures"]["stored_posts"] == 102
    # two minutes of DynamoDB down: each minute's two polls and its review failed; the Detector answers
    # with each topic's evaluation failed instead of failing
    assert result["figures"]["failed_invocations"] == {"poller": 4, "reviewer": 2}
    assert any("detector: evaluating northgate failed" in line for line in timeline)
    [statement] = result["statements"]
    newsroom = [d for d in statement["deliveries"] if d["channel"] == "newsroom"]
    # failed at +00:06 (503), held in the queue through the SQS outage, sent once it could be received
    assert all(d["state"] == "SENT" and d["attempts"] >= 2 for d in newsroom)
    assert statement["publish_to_last_delivery_s"] >= 180


def test_a_scheduled_run_that_fails_outside_an_outage_still_ends_the_drill(monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime(2027, 3, 1, 9, 3, tzinfo=timezone.utc)
    world = SimpleNamespace(scenario=SimpleNamespace(start=now), clock=lambda: now, failed_invocations={})
    timeline: list[str] = []
    for service in ("SNS", "SQS", "DYNAMODB"):
        monkeypatch.delenv(f"AWS_ENDPOINT_URL_{service}", raising=False)
    with pytest.raises(Exception):  # a function that cannot even be loaded: a drill's own failure, never hidden
        _scheduled(world, "no-such-function", {}, timeline)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")
    assert _scheduled(world, "no-such-function", {}, timeline) is None
    assert world.failed_invocations == {"no-such-function": 1}
    assert timeline and "failed while dynamodb unavailable" in timeline[0]


RISE = {
    "name": "duplicate-schedules",
    "description": "A bank-run burst while EventBridge delivers the Detector's and the Reviewer's events twice.",
    "start": "2027-03-01T09:00:00+00:00",
    "duration": "+00:14",
    "topics": [{"id": "northgate", "names": ["Northgate Savings"]}],
    "posts": [{"burst": {"from": "+00:04", "to": "+00:12", "per_minute": 30, "platform": "x", "lang": "en",
                         "texts": ["Northgate Savings bank run, get your money out now",
                                   "Can't withdraw from Northgate Savings, ATMs empty"], "followers": [10, 50000], "seed": 4}}],
    "expect": [{"check": "no_duplicates"}],
}


@pytest.mark.slow(seconds=8)
def test_a_detector_or_reviewer_event_delivered_twice_changes_no_level_and_sends_no_second_sms(tmp_path: Path) -> None:
    """EventBridge delivers at least once: every minute's second delivery must be a no-op."""
    from crisiscomms_local.drill.runner import run_scenario

    def run(name: str, faults: list[dict]) -> dict:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({**RISE, "name": name, "faults": faults}), encoding="utf-8")
        report = run_scenario(path, waits=TEST_WAITS)
        assert all(c.passed for c in report.checks) and not report.notes[:-1], [c.line() for c in report.checks]
        return {"levels": [line for line in report.timeline if ": level " in line],
                "sms": [line for line in report.timeline if "SMS (" in line]}

    once = run("once", [])
    twice = run("twice", [{"at": f"+00:{m:02d}", "function": function, "kind": "duplicate_invocation"}
                          for m in range(3, 14) for function in ("detector", "reviewer")])
    assert len(once["sms"]) >= 1 and len(once["levels"]) >= 2, once  # the burst raised the level and paged
    assert twice == once


def test_a_desk_action_answered_503_in_an_outage_is_sent_again_after_it_and_done_once(tmp_path: Path) -> None:
    """What the desk is told (503: try again) it does once AWS answers, with the same Idempotency-Key; an
    outage that outlasts the drill leaves the action failed, with why."""
    from crisiscomms_local.drill.runner import run_scenario

    scenario = {
        "name": "desk-in-outage", "start": "2027-03-01T09:00:00+00:00", "duration": "+00:06",
        "topics": [NORTHGATE_TOPIC],
        "faults": [{"from": "+00:02", "to": "+00:04", "service": "dynamodb", "kind": "unavailable"},
                   {"from": "+00:05", "to": "+00:08", "service": "dynamodb", "kind": "unavailable"}],
        "desk": [
            {"at": "+00:01", "as": "author:li", "do": "draft", "ref": "s1", "channels": ["newsroom", "x"], "text": NORTHGATE_STATEMENT},
            {"at": "+00:01:30", "as": "approver:wang", "do": "approve", "ref": "s1"},
            {"at": "+00:02:30", "as": "approver:wang", "do": "publish", "ref": "s1"},
            {"at": "+00:05:30", "as": "author:li", "do": "draft", "ref": "s2", "channels": ["newsroom"], "text": NORTHGATE_STATEMENT},
        ],
        "expect": [{"check": "deliveries", "ref": "s1", "state": "SENT"}, {"check": "no_duplicates"},
                   {"check": "audit_chain_valid"}],
    }
    path = tmp_path / "desk-in-outage.json"
    path.write_text(json.dumps(scenario), encoding="utf-8")
    report = run_scenario(path, waits=TEST_WAITS)
    failed = [c.line() for c in report.checks if not c.passed]
    assert failed == ["FAIL  desk_action at=+00:05:30 action=draft ref=s2: answered 503: AWS did not answer again"
                      " before the drill's end"], failed
    assert any(line.startswith("+00:04") and "approver:wang publish s1 sent again after the outage (from +00:02:30): 202"
               in line for line in report.timeline), report.timeline
    [statement] = report.statements
    assert statement["state"] == "PUBLISHED"
