"""The drill's `effect` check: the Reviewer runs every simulated minute, the effects are printed and in the JSON."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from crisiscomms_local.drill.runner import main

from ..conftest import ROOT
from .conftest import NORTHGATE_STATEMENT, TEST_WAITS

pytestmark = pytest.mark.integration

TOO_SHORT = {
    "name": "effect-too-short",
    "description": "A statement published four minutes before the drill ends cannot have a measured effect yet.",
    "start": "2027-03-01T09:00:00+00:00",
    "duration": "+00:05",
    "topics": [{"id": "northgate", "names": ["Northgate Savings"]}],
    "posts": [{"at": "+00:00:30", "platform": "x", "text": "Northgate Savings app down"}],
    "desk": [
        {"at": "+00:00:10", "as": "author:li", "do": "draft", "ref": "s1", "channels": ["newsroom", "x"], "text": NORTHGATE_STATEMENT},
        {"at": "+00:00:20", "as": "approver:wang", "do": "approve", "ref": "s1"},
        {"at": "+00:01", "as": "approver:wang", "do": "publish", "ref": "s1"},
    ],
    "expect": [{"check": "effect", "ref": "s1", "recommendation": "keep_cadence"},
               {"check": "effect", "ref": "s9", "recommendation": "revise"}],
}


def test_an_effect_not_yet_measured_fails_the_check_with_when_it_is_due(tmp_path: Path, capsys) -> None:
    path = tmp_path / "effect-too-short.json"
    path.write_text(json.dumps(TOO_SHORT), encoding="utf-8")
    out = tmp_path / "result.json"
    assert main([str(path), "--json", str(out)], waits=TEST_WAITS) == 1
    printed = capsys.readouterr().out
    assert ("FAIL  effect ref=s1 recommendation=keep_cadence: not measured; due at +00:33 (2027-03-01T09:33:00Z), after"
            " the drill's end at +00:05: the after-window is measured when it closes and its posts have settled") in printed
    assert "FAIL  effect ref=s9 recommendation=revise: no statement 's9' was drafted" in printed
    result = json.loads(out.read_text(encoding="utf-8"))
    [statement] = result["statements"]
    assert statement["effects"] == [] and statement["next_measurement"] == {"stage": "after", "due_at": "2027-03-01T09:33:00Z"}


@pytest.mark.slow(seconds=12)
def test_the_project_scenario_prints_each_statements_effect_and_writes_it_to_json(tmp_path: Path, capsys) -> None:
    out = tmp_path / "result.json"
    assert main([str(ROOT / "events" / "drills" / "statement-effect.json"), "--json", str(out)], waits=TEST_WAITS) == 0
    printed = capsys.readouterr().out
    assert "effect after: after +00:30..+01:00 vs before +00:00..+00:30, measured +01:02 -> revise (rule 1, harbor)" in printed
    assert "effect after: after +01:05..+01:35 vs before +00:35..+01:05, measured +01:37 -> keep_cadence (rule 4, harbor)" in printed
    assert "newsroom unavailable (a page on the bank's own site" in printed
    assert "+01:02  effect of statement s1 (after): revise" in printed
    result = json.loads(out.read_text(encoding="utf-8"))
    effects = {s["ref"]: s["effects"] for s in result["statements"]}
    [first], [second] = effects["s1"], effects["s2"]
    assert first["recommendation"]["code"] == "revise" and second["recommendation"]["code"] == "keep_cadence"
    harbor = first["topics"][0]
    assert harbor["after"]["volume"] >= 1.2 * harbor["before"]["volume"]
    assert harbor["after"]["negative_share"] >= harbor["before"]["negative_share"]
    assert {c: e["state"] for c, e in first["engagement"].items()} == {
        "mastodon": "available", "newsroom": "unavailable", "weibo": "available", "x": "available"}
    assert all(c["passed"] for c in result["checks"])
    assert result["figures"]["missed"] == 0  # as every project drill is judged (tests/integration/test_drill.py)
