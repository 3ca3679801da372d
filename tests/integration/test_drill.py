"""The drill runs any scenario in the shared format, end to end, and judges its expectations."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from crisiscomms_local.drill.runner import main, run_scenario

from ..conftest import ROOT

pytestmark = pytest.mark.integration


def _write(tmp_path: Path, scenario: dict) -> Path:
    path = tmp_path / f"{scenario['name']}.json"
    path.write_text(json.dumps(scenario, ensure_ascii=False), encoding="utf-8")
    return path


UNSEEN = {
    "name": "unseen-small",
    "description": "A scenario the project does not ship: Northgate Savings, a burst, a stalled X, an Atom feed.",
    "start": "2027-03-01T23:50:00+08:00",
    "duration": "+00:20",
    "topics": [{"id": "northgate", "names": ["Northgate Savings", "北门储蓄"], "keywords": ["NGS"], "exclude": ["NGS Cup"]}],
    "posts": [
        {"at": "+00:01", "platform": "x", "author": "a1", "followers": 120, "text": "Northgate Savings app down again"},
        {"at": "+00:02", "platform": "x", "author": "a2", "text": "NGS Cup final tonight"},
        {"at": "+00:03", "platform": "x", "author": "a3", "lang": "zh", "text": "北門儲蓄擠兌了嗎？"},
        {"burst": {"from": "+00:05", "to": "+00:10", "per_minute": 12, "platform": "x", "lang": "en",
                   "texts": ["Can't withdraw from Northgate Savings", "NGS froze my account"], "followers": [10, 100000], "seed": 3}},
        {"at": "+00:06", "platform": "reddit", "author": "r1", "text": "Northgate Savings thread"},
    ],
    "news": [{"at": "+00:07", "feed": "wire", "title": "Northgate Savings denies liquidity problems", "summary": "", "lang": "en"}],
    "faults": [
        {"from": "+00:06", "to": "+00:07", "platform": "x", "kind": "timeout"},
        {"at": "+00:08", "function": "poller", "kind": "duplicate_invocation"},
    ],
    "expect": [{"check": "stored_posts", "min": 64, "max": 64}, {"check": "no_duplicates"}],
}


def test_a_scenario_never_seen_before_runs_and_passes(tmp_path: Path) -> None:
    report = run_scenario(_write(tmp_path, UNSEEN))
    assert [c.passed for c in report.checks] == [True, True], [c.line() for c in report.checks]
    figures = report.figures
    assert figures["stored_posts"] == 64 and figures["missed"] == 0          # 2 + 60 burst + reddit + news
    assert figures["emulated_posts"] == 65
    assert figures["stored_by_platform"] == {"news": 1, "reddit": 1, "x": 62}
    assert not report.notes[:-1]  # nothing left unreplayed (the last note names the log file)
    assert any("timed out" in line for line in report.timeline)
    assert report.sources["x:x-drill"].retries == 2


def test_a_failed_expectation_fails_the_drill_with_the_observed_value(tmp_path: Path, capsys) -> None:
    scenario = dict(UNSEEN, name="unseen-too-hopeful", expect=[{"check": "stored_posts", "min": 1000}])
    out_json = tmp_path / "result.json"
    assert main([str(_write(tmp_path, scenario)), "--json", str(out_json)]) == 1
    printed = capsys.readouterr().out
    assert "FAIL  stored_posts min=1000: 64 posts stored" in printed
    result = json.loads(out_json.read_text(encoding="utf-8"))
    assert result["ok"] is False and result["checks"][0]["observed"] == "64 posts stored"


def test_unsupported_faults_are_reported_and_a_missed_alert_fails(tmp_path: Path, capsys) -> None:
    scenario = dict(UNSEEN, name="unseen-desk", duration="+00:03",
                    faults=[{"from": "+00:01", "to": "+00:02", "service": "dynamodb", "kind": "unavailable"}],
                    expect=[{"check": "alert", "topic": "northgate", "level": "WARNING", "by": "+00:02"}])
    assert main([str(_write(tmp_path, scenario))]) == 1
    printed = capsys.readouterr().out
    assert "FAIL  alert topic=northgate level=WARNING by=+00:02: highest by then NORMAL" in printed
    assert "not run: fault {'from': '+00:01', 'to': '+00:02', 'service': 'dynamodb', 'kind': 'unavailable'}" in printed


def test_an_invalid_scenario_names_the_file_and_the_key(tmp_path: Path, capsys) -> None:
    scenario = dict(UNSEEN, name="unseen-bad")
    scenario["posts"] = [{"at": "+00:01", "platform": "x", "text": "hi", "colour": "red"}]
    path = _write(tmp_path, scenario)
    assert main([str(path)]) == 2
    assert f"{path}: posts[0].colour: unknown key" in capsys.readouterr().err


def test_without_topics_the_sample_configuration_is_watched(tmp_path: Path) -> None:
    scenario = {"name": "no-topics", "start": "2026-11-28T09:00:00Z", "duration": "+00:02",
                "posts": [{"at": "+00:00:30", "platform": "x", "text": "Example Bank ATMs are empty"},
                          {"at": "+00:01", "platform": "x", "text": "Some other bank"}],
                "expect": [{"check": "stored_posts", "min": 1, "max": 1}]}
    assert run_scenario(_write(tmp_path, scenario)).ok


@pytest.mark.parametrize("path", sorted((ROOT / "events" / "drills").glob("*.json")), ids=lambda p: p.stem)
def test_the_projects_own_drill_passes(path: Path) -> None:
    report = run_scenario(path)
    assert report.ok, [c.line() for c in report.checks]
    assert report.figures["missed"] == 0
