"""The drill's `report` check: the post-crisis report is asked for through the API, written by the Reporter,
brought into drill-output/ and its path printed and put in the JSON; its per-platform counts must be the
stored records', and a difference fails the check."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crisiscomms_local.drill import runner

from ..conftest import ROOT
from .conftest import TEST_WAITS

pytestmark = pytest.mark.integration

SCENARIO = {
    "name": "report-small",
    "description": "Northgate Savings complaints on X and Reddit, one news item; the report is written at the end.",
    "start": "2027-03-01T09:00:00+08:00",
    "duration": "+00:10",
    "topics": [{"id": "northgate", "names": ["Northgate Savings", "北门储蓄"]}],
    "posts": [
        {"burst": {"from": "+00:01", "to": "+00:06", "per_minute": 3, "platform": "x", "lang": "en",
                   "texts": ["Northgate Savings app is down", "Northgate Savings froze my card"], "seed": 5}},
        {"at": "+00:04", "platform": "reddit", "author": "r1", "text": "Northgate Savings outage thread"},
        {"at": "+00:05", "platform": "x", "author": "other", "text": "nothing about any bank"},
    ],
    "news": [{"at": "+00:03", "feed": "wire", "title": "Northgate Savings says app restored", "lang": "en"}],
    "expect": [{"check": "stored_posts", "min": 17}, {"check": "report", "topic": "northgate"}],
}


def _write(tmp_path: Path, scenario: dict[str, Any]) -> Path:
    path = tmp_path / f"{scenario['name']}.json"
    path.write_text(json.dumps(scenario, ensure_ascii=False), encoding="utf-8")
    return path


def test_the_report_is_written_locally_its_path_printed_and_its_counts_are_the_stored_posts(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "result.json"
    assert runner.main([str(_write(tmp_path, SCENARIO)), "--json", str(out)], waits=TEST_WAITS) == 0
    printed = capsys.readouterr().out
    result = json.loads(out.read_text(encoding="utf-8"))
    html = ROOT / result["report"]
    assert html.is_file() and html.name == "report.html" and (html.parent / "csv" / "platform_totals.csv").is_file()
    assert f"Post-crisis report, topic northgate: {result['report']}" in printed
    check = next(c for c in result["checks"] if c["check"] == "report")
    assert check["passed"] and "= stored {'news': 1, 'reddit': 1, 'x': 15}" in check["observed"], check
    [written] = result["reports"]
    assert written["figures"]["by_platform"] == {"news": 1, "reddit": 1, "x": 15}
    assert "wire" not in written["figures"]["by_platform"]


def test_a_report_whose_counts_differ_from_the_stored_posts_fails(tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    stored = runner._stored_posts
    monkeypatch.setattr(runner, "_stored_posts", lambda *args: stored(*args)[1:])  # one stored post the page counted
    scenario = dict(SCENARIO, name="report-small-differs")
    assert runner.main([str(_write(tmp_path, scenario))], waits=TEST_WAITS) == 1
    printed = capsys.readouterr().out
    assert "FAIL  report topic=northgate:" in printed and " but stored " in printed
