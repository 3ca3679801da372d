"""The drill's `close_alert` desk action and `alert_closed` check, on a scenario the project does not ship."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from crisiscomms_local.drill.runner import run_scenario

from .conftest import TEST_WAITS

pytestmark = pytest.mark.integration

CLOSING = {
    "name": "unseen-closing",
    "description": "Northgate Savings: a burst of run posts raises an alert; an auditor may not close it, on-call does.",
    "start": "2027-03-01T09:00:00+08:00",
    "duration": "+00:24",
    "topics": [{"id": "northgate", "names": ["Northgate Savings"]}, {"id": "southgate", "names": ["Southgate Trust"]}],
    "posts": [
        {"at": "+00:01", "platform": "x", "author": "a1", "text": "Northgate Savings opened a new branch"},
        {"burst": {"from": "+00:04", "to": "+00:14", "per_minute": 20, "platform": "x", "lang": "en",
                   "texts": ["Northgate Savings bank run, withdraw your money now",
                             "Can't withdraw from Northgate Savings, is it collapsing?"],
                   "followers": [1000, 200000], "seed": 5}},
    ],
    "desk": [
        {"at": "+00:20", "as": "auditor:zhou", "do": "expect_refused", "action": "close_alert", "topic": "northgate",
         "cause": "x", "lessons": "y", "status": 403},
        {"at": "+00:21", "as": "oncall:chen", "do": "close_alert", "topic": "northgate",
         "cause": "A bank-run rumour on X.", "lessons": "Answer within 15 minutes.", "change": "A holding template."},
    ],
    "expect": [
        {"check": "alert", "topic": "northgate", "level": "WARNING", "by": "+00:20"},
        {"check": "alert_closed", "topic": "northgate"},
        {"check": "alert_closed", "topic": "southgate"},
    ],
}


def test_close_alert_closes_the_topics_alert_and_alert_closed_judges_it(tmp_path: Path) -> None:
    path = tmp_path / "unseen-closing.json"
    path.write_text(json.dumps(CLOSING), encoding="utf-8")
    report = run_scenario(path, waits=TEST_WAITS)
    checks = {(c.check["check"], c.check.get("topic") or c.check.get("action")): c for c in report.checks}
    assert checks[("alert", "northgate")].passed, checks[("alert", "northgate")].line()
    closed = checks[("alert_closed", "northgate")]
    assert closed.passed and "closed by chen" in closed.observed and "A bank-run rumour on X." in closed.observed, \
        closed.line()
    never = checks[("alert_closed", "southgate")]
    assert not never.passed and never.observed == "no closed alert (no alert at all)"
    refused = checks[("expect_refused", "close_alert")]
    assert refused.passed, refused.line()
    assert not [c for c in report.checks if c.check["check"] in ("desk_action", "scenario_runs_fully")], \
        [c.line() for c in report.checks]
    assert any("oncall:chen close_alert" in line and ": 200" in line for line in report.timeline), report.timeline
