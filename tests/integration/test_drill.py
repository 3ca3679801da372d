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


EVERY_PLATFORM = {
    "name": "every-platform",
    "description": "A complaint heard on every listened platform, each platform failing once, places and the bank's accounts.",
    "start": "2027-05-04T10:00:00+08:00",
    "duration": "+00:12",
    "topics": [{"id": "lotus", "names": ["Lotus Bank", "莲花银行"]}],
    "accounts": {"weibo": "莲花银行", "x": "LotusBank"},
    "posts": [
        *[{"at": f"+00:0{n % 5 + 1}", "platform": platform, "author": f"{platform}_user{n}", "followers": 100 + n,
           "lang": "zh" if platform in ("weibo", "wechat", "douyin") else "en",
           "text": ("莲花银行 ATM 吞卡了" if platform in ("weibo", "wechat", "douyin") else "Lotus Bank ATM ate my card"),
           "location": "广东 深圳" if platform == "weibo" else None}
          for n, platform in enumerate(["x", "weibo", "wechat", "douyin", "mastodon", "bluesky", "reddit"] * 2)],
        {"at": "+00:02", "platform": "weibo", "author": "addressed", "text": "我的卡到现在还没退回来", "to_bank": True,
         "id": "w1", "location": "北京 朝阳区"},
        {"at": "+00:03", "platform": "x", "author": "replier", "text": "still waiting for my card", "to_bank": True, "id": "x1"},
    ],
    "faults": [
        {"from": "+00:02", "to": "+00:03", "platform": platform, "kind": "http_status", "status": 503}
        for platform in ["x", "weibo", "wechat", "douyin", "mastodon", "bluesky", "reddit"]
    ],
    "expect": [
        *[{"check": "stored_posts", "platform": platform, "min": minimum, "max": minimum}
          for platform, minimum in [("x", 3), ("weibo", 3), ("wechat", 2), ("douyin", 2), ("mastodon", 2),
                                    ("bluesky", 2), ("reddit", 2)]],
        {"check": "topic_posts", "topic": "lotus", "min": 16, "max": 16},
        {"check": "no_duplicates"},
    ],
}


def test_every_listened_platform_is_replayed_with_places_faults_and_the_banks_accounts(tmp_path: Path) -> None:
    report = run_scenario(_write(tmp_path, EVERY_PLATFORM))
    assert all(c.passed for c in report.checks), [c.line() for c in report.checks]
    assert sorted(report.figures["stored_by_platform"]) == ["bluesky", "douyin", "mastodon", "reddit", "wechat", "weibo", "x"]
    by_key = {s["post_key"]: s for s in report.stored}
    addressed = [s for s in report.stored if s.get("to_bank")]
    assert {s["platform_day"].split("#")[0] for s in addressed} >= {"weibo", "x", "wechat", "douyin"}
    weibo_w1 = next(s for s in report.stored if s.get("author") == "addressed")
    assert weibo_w1["to_bank"] and weibo_w1.get("region") == "CN-BJ"  # named no topic: counted for the bank's
    assert any(s.get("region") == "CN-GD" for s in by_key.values())
    assert sum(t.retries for t in report.sources.values()) >= 7  # each platform's 503 was retried
