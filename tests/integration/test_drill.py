"""The drill runs any scenario in the shared format, end to end, and judges its expectations."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from crisiscomms_local.drill.runner import main, run_scenario

from ..conftest import ROOT
from .conftest import TEST_WAITS

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
    report = run_scenario(_write(tmp_path, UNSEEN), waits=TEST_WAITS)
    assert [c.passed for c in report.checks] == [True, True], [c.line() for c in report.checks]
    figures = report.figures
    assert figures["stored_posts"] == 64 and figures["missed"] == 0          # 2 + 60 burst + reddit + news
    assert figures["emulated_posts"] == 65
    assert figures["stored_by_platform"] == {"news": 1, "reddit": 1, "x": 62}
    assert not report.notes[:-1]  # nothing left unreplayed (the last note names the log file)
    assert any("timed out" in line for line in report.timeline)
    assert report.sources["x:x-drill"].retries == 2


@pytest.mark.parametrize("start", ["2027-03-01T10:50:00-05:00", "2027-03-01T23:50:00+05:30"])
def test_a_start_in_any_utc_offset_counts_every_post_in_the_topics_figures(tmp_path: Path, start: str) -> None:
    """The stored keys and the functions' times are UTC: a start west of it once read no minute figures."""
    scenario = dict(UNSEEN, name="unseen-offset", start=start, expect=[
        {"check": "topic_posts", "topic": "northgate", "min": 64, "max": 64}, {"check": "no_duplicates"}])
    report = run_scenario(_write(tmp_path, scenario), waits=TEST_WAITS)
    assert [c.passed for c in report.checks] == [True, True], [c.line() for c in report.checks]
    assert report.figures["stored_posts"] == 64


def test_the_drill_s_own_listening_hashtag_matches_no_topic(tmp_path: Path) -> None:
    """Mastodon shows the hashtag the drill's source reads in every post; a topic named as a handle must not match it."""
    scenario = {"name": "unseen-handle-topic", "start": "2027-03-01T10:00:00Z", "duration": "+00:04",
                "topics": [{"id": "examplebank", "names": ["Example Bank", "ExampleBank"]},
                           {"id": "northgate", "names": ["Northgate Savings"]}],
                "posts": [{"at": "+00:01", "platform": "mastodon", "text": "Northgate Savings app is down"},
                          {"at": "+00:02", "platform": "mastodon", "text": "ExampleBank app is down"}],
                "expect": [{"check": "topic_posts", "topic": "examplebank", "min": 1, "max": 1},
                           {"check": "topic_posts", "topic": "northgate", "min": 1, "max": 1}]}
    report = run_scenario(_write(tmp_path, scenario), waits=TEST_WAITS)
    assert [c.passed for c in report.checks] == [True, True], [c.line() for c in report.checks]


def test_timeout_faults_hold_as_long_as_the_drill_command_s_waits_unless_others_are_given(tmp_path: Path) -> None:
    """The drill command's clients give up after 0.5 s and its emulators stall 1 s; these tests pass shorter ones."""
    import io
    import os

    from crisiscomms_local.drill.scenario import load_scenario
    from crisiscomms_local.drill.world import DRILL_WAITS, build_world

    assert (DRILL_WAITS.client, DRILL_WAITS.stall) == (0.5, 1.0)
    assert TEST_WAITS.client < TEST_WAITS.stall
    scenario = load_scenario(_write(tmp_path, dict(UNSEEN, name="unseen-waits")))
    saved = dict(os.environ)
    try:
        for waits, given in ((DRILL_WAITS, {}), (TEST_WAITS, {"waits": TEST_WAITS})):
            world = build_world(scenario, log_stream=io.StringIO(), **given)
            try:
                assert os.environ["HTTP_TIMEOUT_SECONDS"] == str(waits.client)
                stalls = {e.timeout_delay for e in (world.x, world.news, *world.listening.values())}
                assert stalls == {waits.stall} and set(world.listening) == {"reddit"}
            finally:
                world.close()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_a_failed_expectation_fails_the_drill_with_the_observed_value(tmp_path: Path, capsys) -> None:
    scenario = dict(UNSEEN, name="unseen-too-hopeful", expect=[{"check": "stored_posts", "min": 1000}])
    out_json = tmp_path / "result.json"
    assert main([str(_write(tmp_path, scenario)), "--json", str(out_json)], waits=TEST_WAITS) == 1
    printed = capsys.readouterr().out
    assert "FAIL  stored_posts min=1000: 64 posts stored" in printed
    result = json.loads(out_json.read_text(encoding="utf-8"))
    assert result["ok"] is False and result["checks"][0]["observed"] == "64 posts stored"


def test_drills_run_at_once_each_with_its_own_local_aws_and_report_in_their_order(
        tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """--jobs 2: each drill in a process of its own, which starts its own local AWS (the session's is not
    named to them). The longer first drill ends last, yet its report is printed and listed first; its
    failed expectation fails the command, and the short one passes beside it with its own stored posts."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    first = dict(UNSEEN, name="unseen-first", duration="+00:08", news=[], faults=[],
                 expect=[{"check": "stored_posts", "min": 1000}])
    second = dict(UNSEEN, name="unseen-second", duration="+00:02", posts=UNSEEN["posts"][:1], news=[], faults=[],
                  expect=[{"check": "stored_posts", "min": 1, "max": 1}, {"check": "no_duplicates"}])
    out_json = tmp_path / "result.json"
    paths = [str(_write(tmp_path, first)), str(_write(tmp_path, second))]
    assert main([*paths, "--jobs", "2", "--json", str(out_json)], waits=TEST_WAITS) == 1
    printed = capsys.readouterr().out
    assert printed.index("Drill unseen-first") < printed.index("Drill unseen-second")
    assert re.search(r"FAIL  stored_posts min=1000: \d+ posts stored", printed)
    results = json.loads(out_json.read_text(encoding="utf-8"))
    assert [(r["name"], r["ok"]) for r in results] == [("unseen-first", False), ("unseen-second", True)]
    assert results[1]["checks"][0]["observed"] == "1 posts stored", "nothing of the other drill's local AWS"


def test_drills_sharing_one_named_local_aws_are_not_run_at_once(
        tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # one local AWS named for every drill
    path = str(_write(tmp_path, dict(UNSEEN, name="unseen-shared")))
    with pytest.raises(SystemExit) as refused:
        main([path, path, "--jobs", "2"], waits=TEST_WAITS)
    assert refused.value.code == 2 and "AWS_ENDPOINT_URL" in capsys.readouterr().err


def test_unsupported_faults_are_reported_and_a_missed_alert_fails(tmp_path: Path, capsys) -> None:
    scenario = dict(UNSEEN, name="unseen-desk", duration="+00:03",
                    faults=[{"at": "+00:01", "function": "exporter", "kind": "duplicate_invocation"}],
                    expect=[{"check": "alert", "topic": "northgate", "level": "WARNING", "by": "+00:02"}])
    assert main([str(_write(tmp_path, scenario))], waits=TEST_WAITS) == 1
    printed = capsys.readouterr().out
    assert "FAIL  alert topic=northgate level=WARNING by=+00:02: highest by then NORMAL" in printed
    assert ("not run: fault {'at': '+00:01', 'function': 'exporter', 'kind': 'duplicate_invocation'}: 'exporter' is not"
            " a function the drill runs (poller, detector, publisher, api, reviewer, reporter, digest)") in printed


def test_an_invalid_scenario_names_the_file_and_the_key(tmp_path: Path, capsys) -> None:
    scenario = dict(UNSEEN, name="unseen-bad")
    scenario["posts"] = [{"at": "+00:01", "platform": "x", "text": "hi", "colour": "red"}]
    path = _write(tmp_path, scenario)
    assert main([str(path)], waits=TEST_WAITS) == 2
    assert f"{path}: posts[0].colour: unknown key" in capsys.readouterr().err


def test_without_topics_the_sample_configuration_is_watched(tmp_path: Path) -> None:
    scenario = {"name": "no-topics", "start": "2026-11-28T09:00:00Z", "duration": "+00:02",
                "posts": [{"at": "+00:00:30", "platform": "x", "text": "Example Bank ATMs are empty"},
                          {"at": "+00:01", "platform": "x", "text": "Some other bank"}],
                "expect": [{"check": "stored_posts", "min": 1, "max": 1}]}
    assert run_scenario(_write(tmp_path, scenario), waits=TEST_WAITS).ok


# A project drill whose output another test inspects runs there only, once (it judges it the same way).
RUN_ELSEWHERE = {"statement-effect": "tests/integration/test_drill_effect.py",
                 "narratives": "tests/integration/test_drill_narratives.py"}


# About how many seconds of CPU a project drill takes here (the rest take a few): the longest start first.
DRILL_SECONDS = {"weibo-rumour": 26, "listening-hour": 10, "slow-burn": 8, "false-alarm": 4}


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem, marks=pytest.mark.slow(seconds=DRILL_SECONDS.get(p.stem, 2)))
                                  for p in sorted((ROOT / "events" / "drills").glob("*.json"))
                                  if p.stem not in RUN_ELSEWHERE])
def test_the_projects_own_drill_passes(path: Path) -> None:
    report = run_scenario(path, waits=TEST_WAITS)
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
    report = run_scenario(_write(tmp_path, EVERY_PLATFORM), waits=TEST_WAITS)
    assert all(c.passed for c in report.checks), [c.line() for c in report.checks]
    assert sorted(report.figures["stored_by_platform"]) == ["bluesky", "douyin", "mastodon", "reddit", "wechat", "weibo", "x"]
    by_key = {s["post_key"]: s for s in report.stored}
    addressed = [s for s in report.stored if s.get("to_bank")]
    assert {s["platform_day"].split("#")[0] for s in addressed} >= {"weibo", "x", "wechat", "douyin"}
    weibo_w1 = next(s for s in report.stored if s.get("author") == "addressed")
    assert weibo_w1["to_bank"] and weibo_w1.get("region") == "CN-BJ"  # named no topic: counted for the bank's
    assert any(s.get("region") == "CN-GD" for s in by_key.values())
    assert sum(t.retries for t in report.sources.values()) >= 7  # each platform's 503 was retried


UNSEEN_REPLIES = {
    "name": "unseen-replies",
    "description": "Northgate Savings answers on Douyin and Mastodon and closes a WeChat question; Douyin fails during the reply.",
    "start": "2027-06-10T20:00:00+08:00",
    "duration": "+00:12",
    "topics": [{"id": "northgate", "names": ["Northgate Savings", "北门储蓄"]}],
    "posts": [
        {"at": "+00:01", "platform": "douyin", "id": "d1", "to_bank": True, "author": "dy_fan", "lang": "zh",
         "text": "北门储蓄的APP又登不上了，我转不了账"},
        {"at": "+00:02", "platform": "mastodon", "id": "m1", "to_bank": True, "author": "ann", "lang": "en",
         "text": "@northgate my Northgate Savings card was declined twice today"},
        {"at": "+00:03", "platform": "wechat", "id": "w1", "to_bank": True, "author": "wx_reader", "lang": "zh",
         "text": "北门储蓄网银什么时候恢复？"},
        {"at": "+00:04", "platform": "mastodon", "author": "bob", "lang": "en", "text": "Northgate Savings staff were lovely today"},
    ],
    "faults": [{"from": "+00:05", "to": "+00:06", "channel": "douyin", "kind": "http_status", "status": 503}],
    "desk": [
        {"at": "+00:00", "as": "author:amy", "do": "template", "ref": "t1", "kind": "reply",
         "text": {"zh": "{handle} 您好，抱歉给您带来不便，技术人员正在处理，预计{time}前恢复。",
                  "en": "{handle} sorry for the trouble, we expect it fixed by {time}."},
         "placeholders": {"handle": {"pattern": "@?[A-Za-z0-9_]{1,20}", "max": 21},
                          "time": {"pattern": "[0-2][0-9]:[0-5][0-9]", "max": 5}}},
        {"at": "+00:01", "as": "approver:ben", "do": "approve", "ref": "t1"},
        {"at": "+00:04", "as": "author:amy", "do": "assign", "post": "d1", "to": "amy"},
        {"at": "+00:05", "as": "author:amy", "do": "reply_template", "post": "d1", "template": "t1", "ref": "rd1",
         "values": {"handle": "dy_fan", "time": "21:00"}},
        {"at": "+00:06", "as": "author:amy", "do": "reply", "post": "m1", "ref": "rm1",
         "text": "@ann We are sorry. Please call us on 0800 123 456 and we will look at your card at once."},
        {"at": "+00:07", "as": "approver:amy", "do": "expect_refused", "action": "approve_reply", "ref": "rm1", "status": 403},
        {"at": "+00:08", "as": "approver:ben", "do": "approve_reply", "ref": "rm1"},
        {"at": "+00:09", "as": "author:amy", "do": "expect_refused", "action": "close", "post": "w1", "reason": "", "status": 422},
        {"at": "+00:09", "as": "author:amy", "do": "close", "post": "w1", "reason": "answered in the outage statement"},
    ],
    "expect": [
        {"check": "replied_within", "post": "d1", "minutes": 15},
        {"check": "reply_delivered", "post": "d1"},
        {"check": "replied_within", "post": "m1", "minutes": 10},
        {"check": "reply_delivered", "post": "m1"},
        {"check": "no_unapproved_reply"},
        {"check": "replied_within", "post": "d1", "minutes": 1},
        {"check": "reply_delivered", "post": "w1"},
    ],
}


def test_an_unseen_scenario_answers_people_through_the_inbox_and_a_missed_target_fails(tmp_path: Path, capsys) -> None:
    out_json = tmp_path / "result.json"
    assert main([str(_write(tmp_path, UNSEEN_REPLIES)), "--json", str(out_json)], waits=TEST_WAITS) == 1
    printed = capsys.readouterr().out
    result = json.loads(out_json.read_text(encoding="utf-8"))
    checks = {(c["check"], c.get("post"), c.get("minutes"), c.get("action")): c for c in result["checks"]}
    passed = [("replied_within", "d1", 15, None), ("reply_delivered", "d1", None, None), ("replied_within", "m1", 10, None),
              ("reply_delivered", "m1", None, None), ("no_unapproved_reply", None, None, None),
              ("expect_refused", None, None, "approve_reply"), ("expect_refused", None, None, "close")]
    assert all(checks[k]["passed"] for k in passed), [checks[k] for k in passed if not checks[k]["passed"]]
    assert len(result["checks"]) == 9, "no desk action failed and nothing was left unrun"
    # The Douyin reply was refused twice with 503 (the reply's own attempt, then the retry in the same minute),
    # then delivered at +00:06: five minutes after the comment.
    assert "replied 5.0 min after the post, at +00:06" in checks[("replied_within", "d1", 15, None)]["observed"]
    assert checks[("no_unapproved_reply", None, None, None)]["observed"] == \
        "2 replies delivered: 1 approved free text, 1 from an approved template"
    # Failing checks fail the drill, with what was observed.
    assert "FAIL  replied_within post=d1 minutes=1.0: replied 5.0 min after the post, at +00:06" in printed
    assert "FAIL  reply_delivered post=w1: 0 shown on wechat, 0 reply item(s) SENT [no reply was drafted]" in printed
    replies = {r["post"]: r for r in result["replies"]}
    assert set(replies) == {"d1", "m1"}
    assert (replies["d1"]["state"], replies["d1"]["attempts"], replies["d1"]["author"]) == ("SENT", 3, "amy")
    assert replies["d1"]["from"].startswith("template ") and replies["d1"]["text"].startswith("dy_fan 您好")
    assert (replies["m1"]["from"], replies["m1"]["approver"], replies["m1"]["sent"]) == ("free text", "ben", "+00:08")
    assert all(r["shown_on_platform"] for r in replies.values())
    assert any("author:amy close w1: 200" in line for line in result["timeline"])


def test_a_template_reply_with_values_outside_its_rules_waits_for_approve_reply(tmp_path: Path) -> None:
    """As the format says: sent at once only when the values pass the placeholder rules, else held for a second person."""
    scenario = {
        "name": "unseen-reply-values", "start": "2027-06-10T20:00:00+08:00", "duration": "+00:06",
        "topics": [{"id": "northgate", "names": ["Northgate Savings"]}],
        "posts": [{"at": "+00:01", "platform": "mastodon", "id": "m1", "to_bank": True, "author": "ann", "lang": "en",
                   "text": "@northgate is the Northgate Savings app down?"}],
        "desk": [
            {"at": "+00:00", "as": "author:amy", "do": "template", "ref": "t1", "kind": "reply",
             "text": {"en": "{handle} sorry for the trouble, we expect it fixed by {time}."},
             "placeholders": {"handle": {"pattern": "@?[A-Za-z0-9_]{1,20}", "max": 21},
                              "time": {"pattern": "[0-2][0-9]:[0-5][0-9]", "max": 5}}},
            {"at": "+00:01", "as": "approver:ben", "do": "approve", "ref": "t1"},
            {"at": "+00:02", "as": "author:amy", "do": "reply_template", "post": "m1", "template": "t1", "ref": "r1",
             "values": {"handle": "@ann", "time": "9pm"}},
            {"at": "+00:03", "as": "approver:amy", "do": "expect_refused", "action": "approve_reply", "ref": "r1", "status": 403},
            {"at": "+00:04", "as": "approver:ben", "do": "approve_reply", "ref": "r1"},
        ],
        "expect": [{"check": "reply_delivered", "post": "m1"}, {"check": "no_unapproved_reply"},
                   {"check": "replied_within", "post": "m1", "minutes": 4}],
    }
    report = run_scenario(_write(tmp_path, scenario), waits=TEST_WAITS)
    assert report.ok, [c.line() for c in report.checks]
    reply, = report.replies
    assert reply["text"] == "@ann sorry for the trouble, we expect it fixed by 9pm." and reply["approver"] == "ben"
    assert reply["sent"] == "+00:04"


def test_a_reddit_post_is_answered_under_it_once_through_a_lost_answer(tmp_path: Path) -> None:
    """The reply goes back where the person spoke, as a comment under the submission, as written (Markdown
    marks kept); the comment endpoint's lost answer is found among the account's comments, not sent twice."""
    scenario = {
        "name": "unseen-reddit-reply", "start": "2027-06-10T20:00:00+08:00", "duration": "+00:08",
        "topics": [{"id": "northgate", "names": ["Northgate Savings"]}], "accounts": {"reddit": "NorthgateHelp"},
        "posts": [{"at": "+00:01", "platform": "reddit", "id": "r1", "to_bank": True, "author": "ann", "lang": "en",
                   "text": "u/NorthgateHelp why is my Northgate Savings transfer held?"}],
        "faults": [{"at": "+00:03", "channel": "reddit", "kind": "timeout_after_send"}],
        "desk": [
            {"at": "+00:00", "as": "author:amy", "do": "template", "ref": "t1", "kind": "reply",
             "text": {"en": "Sorry for the wait: transfers held by the *upgrade* complete today (ref {ref})."},
             "placeholders": {"ref": {"pattern": "[A-Z0-9_]{4,10}", "max": 10}}},
            {"at": "+00:01", "as": "approver:ben", "do": "approve", "ref": "t1"},
            {"at": "+00:03", "as": "author:amy", "do": "reply_template", "post": "r1", "template": "t1",
             "values": {"ref": "NG_42"}},
        ],
        "expect": [{"check": "reply_delivered", "post": "r1"}, {"check": "no_unapproved_reply"},
                   {"check": "replied_within", "post": "r1", "minutes": 6}, {"check": "no_duplicates"}],
    }
    report = run_scenario(_write(tmp_path, scenario), waits=TEST_WAITS)
    assert report.ok, [c.line() for c in report.checks]
    reply, = report.replies
    assert reply["text"] == "Sorry for the wait: transfers held by the *upgrade* complete today (ref NG_42)."
    assert (reply["state"], reply["resolved_by"], reply["shown_on_platform"]) == ("SENT", "lookup", True), reply
    [post] = report.riskiest
    assert post["text"].count("u/NorthgateHelp") == 1, ("the post names the bank itself: no second mention added",
                                                        post["text"])


def test_the_channels_publish_as_the_scenarios_accounts_so_a_post_mentioning_the_x_account_is_answered(
        tmp_path: Path) -> None:
    """X accepts an API reply only to a post that mentions the bank's account: the account is the one the
    scenario names, not the sample's; the statements' links name the scenario's accounts too."""
    scenario = {
        "name": "unseen-x-account", "start": "2027-06-10T20:00:00+08:00", "duration": "+00:06",
        "topics": [{"id": "northgate", "names": ["Northgate Savings"]}],
        "accounts": {"x": "NorthgateHelp", "mastodon": "northgate@bank.example", "bluesky": "northgate.bsky.social"},
        "posts": [{"at": "+00:01", "platform": "x", "id": "p1", "author": "ann",
                   "text": "@NorthgateHelp my Northgate Savings card is blocked"}],
        "desk": [
            {"at": "+00:00", "as": "author:amy", "do": "template", "ref": "t1", "kind": "reply",
             "text": {"en": "Sorry, please DM us your case number {n}."}, "placeholders": {"n": {"pattern": "[0-9]{3,8}", "max": 8}}},
            {"at": "+00:01", "as": "approver:ben", "do": "approve", "ref": "t1"},
            {"at": "+00:02", "as": "author:amy", "do": "reply_template", "post": "p1", "template": "t1", "values": {"n": "123"}},
            {"at": "+00:03", "as": "author:amy", "do": "draft", "ref": "s1", "channels": ["x", "mastodon", "bluesky"],
             "text": {"en": {"full": "Cards work again.", "short": "Cards work again."}}},
            {"at": "+00:04", "as": "approver:ben", "do": "approve", "ref": "s1"},
            {"at": "+00:04", "as": "approver:ben", "do": "publish", "ref": "s1"},
        ],
        "expect": [{"check": "reply_delivered", "post": "p1"}, {"check": "deliveries", "ref": "s1", "state": "SENT"}],
    }
    report = run_scenario(_write(tmp_path, scenario), waits=TEST_WAITS)
    assert report.ok, [c.line() for c in report.checks]
    urls = {d["channel"]: d["url"] for d in report.statements[0]["deliveries"]}
    assert urls["x"].startswith("https://x.com/NorthgateHelp/status/"), urls
    assert "/@northgate/" in urls["mastodon"] and "/profile/northgate.bsky.social/" in urls["bluesky"], urls


def test_a_holding_statement_from_an_approved_template_is_published(tmp_path: Path) -> None:
    scenario = {
        "name": "unseen-holding", "start": "2027-06-10T20:00:00+08:00", "duration": "+00:04",
        "desk": [
            {"at": "+00:00", "as": "author:amy", "do": "template", "ref": "h1", "kind": "holding",
             "text": {"en": {"full": "We are aware of reports about {subject} and are investigating; next update by {time}.",
                             "short": "Aware of reports about {subject}; next update by {time}."}},
             "placeholders": {"subject": {"pattern": "[A-Za-z ]{1,40}", "max": 40},
                              "time": {"pattern": "[0-2][0-9]:[0-5][0-9]", "max": 5}}},
            {"at": "+00:01", "as": "approver:ben", "do": "approve", "ref": "h1"},
            {"at": "+00:02", "as": "author:amy", "do": "expect_refused", "action": "holding", "ref": "s-bad", "template": "h1",
             "values": {"subject": "card payments", "time": "9pm"}, "channels": ["newsroom", "mastodon"], "status": 422},
            {"at": "+00:02", "as": "author:amy", "do": "holding", "ref": "s1", "template": "h1",
             "values": {"subject": "card payments", "time": "21:00"}, "channels": ["newsroom", "mastodon"]},
            {"at": "+00:02", "as": "author:amy", "do": "publish", "ref": "s1"},
        ],
        "expect": [{"check": "deliveries", "ref": "s1", "state": "SENT"}, {"check": "audit_chain_valid"}],
    }
    report = run_scenario(_write(tmp_path, scenario), waits=TEST_WAITS)
    assert report.ok, [c.line() for c in report.checks]
    assert [s["ref"] for s in report.statements] == ["s1"] and report.statements[0]["state"] == "PUBLISHED"


def test_a_refused_desk_action_names_the_field_and_the_actions_it_leaves_without_their_ref(tmp_path: Path) -> None:
    """A scenario's author reads which key to change, and that what failed after it failed for want of it."""
    scenario = {
        "name": "unseen-bad-template", "start": "2027-06-10T20:00:00+08:00", "duration": "+00:03",
        "desk": [
            {"at": "+00:00", "as": "author:amy", "do": "template", "ref": "t1", "kind": "reply", "text": {"en": "Case {case}"},
             "placeholders": {"case": {"pattern": "([0-9]", "max": 8}}},
            {"at": "+00:01", "as": "approver:ben", "do": "approve", "ref": "t1"},
        ],
        "expect": [],
    }
    report = run_scenario(_write(tmp_path, scenario), waits=TEST_WAITS)
    failed = [c.line() for c in report.checks if not c.passed]
    assert not report.ok and len(failed) == 2, failed
    assert "answered 422: invalid request (placeholders.case.pattern: " in failed[0]
    assert "not a Python regular expression" in failed[0]
    assert failed[1].endswith("[ref 't1': not created or not stored before this action]"), failed[1]


def test_acknowledging_an_alert_is_refused_for_its_own_reason(tmp_path: Path) -> None:
    """An author may not even list alerts: the refusal says so; an auditor may list them but not acknowledge
    or close one, and hears that from the API even with no alert there; on-call with nothing open hears
    that instead."""
    scenario = {
        "name": "unseen-ack", "start": "2027-06-10T20:00:00+08:00", "duration": "+00:02",
        "topics": [{"id": "northgate", "names": ["Northgate Savings"]}],
        "desk": [
            {"at": "+00:00", "as": "author:amy", "do": "expect_refused", "action": "ack_alert", "topic": "northgate",
             "status": 403},
            {"at": "+00:00", "as": "auditor:ada", "do": "expect_refused", "action": "ack_alert", "topic": "northgate",
             "status": 403},
            {"at": "+00:00", "as": "auditor:ada", "do": "expect_refused", "action": "close_alert", "topic": "northgate",
             "cause": "none", "lessons": "none", "status": 403},
            {"at": "+00:01", "as": "oncall:sam", "do": "ack_alert", "topic": "northgate"},
            {"at": "+00:01", "as": "oncall:sam", "do": "close_alert", "topic": "northgate", "cause": "c", "lessons": "l"},
        ],
        "expect": [],
    }
    report = run_scenario(_write(tmp_path, scenario), waits=TEST_WAITS)
    lines = [c.line() for c in report.checks]
    assert lines == [
        "PASS  expect_refused action=ack_alert ref=northgate status=403 as=author:amy at=+00:00:"
        " amy needs one of the groups oncall, auditor",
        "PASS  expect_refused action=ack_alert ref=northgate status=403 as=auditor:ada at=+00:00:"
        " ada needs one of the groups oncall",
        "PASS  expect_refused action=close_alert ref=northgate status=403 as=auditor:ada at=+00:00:"
        " ada needs one of the groups oncall, comms-approver",
        "FAIL  desk_action at=+00:01 action=ack_alert ref=northgate: answered 404: no open alert for topic 'northgate'",
        "FAIL  desk_action at=+00:01 action=close_alert ref=northgate: answered 404:"
        " no alert of topic 'northgate' is open to close",
    ], lines


def test_a_fast_rising_reddit_post_in_a_large_subreddit_warns_before_volume(tmp_path: Path) -> None:
    """A Reddit post's audience is its subreddit's: the scenario's `followers` reaches the early warning there too.
    Acknowledged once, the alert is not acknowledged again: the API says why (409)."""
    rumour = "BREAKING: {} is insolvent. Regulators were told last night. Get your money out while you still can."
    scenario = {
        "name": "unseen-reddit-reach", "start": "2027-06-10T20:00:00+08:00", "duration": "+00:08",
        "topics": [{"id": "harbor", "names": ["Harbor Bank"]}, {"id": "northgate", "names": ["Northgate Savings"]}],
        "posts": [
            {"at": "+00:01", "platform": "reddit", "author": "a1", "followers": 2_000_000, "likes": 3000, "replies": 400,
             "text": rumour.format("Harbor Bank")},
            {"at": "+00:01", "platform": "reddit", "author": "a2", "followers": 5_000, "likes": 3000, "replies": 400,
             "text": rumour.format("Northgate Savings")},
        ],
        "desk": [{"at": "+00:06", "as": "oncall:sam", "do": "ack_alert", "topic": "harbor"},
                 {"at": "+00:07", "as": "oncall:sam", "do": "expect_refused", "action": "ack_alert", "topic": "harbor",
                  "status": 409}],
        "expect": [{"check": "alert", "topic": "harbor", "level": "WARNING", "by": "+00:06"},
                   {"check": "max_level", "topic": "northgate", "level": "WATCH"}],
    }
    report = run_scenario(_write(tmp_path, scenario), waits=TEST_WAITS)
    assert report.ok, [c.line() for c in report.checks]
    assert "is ACKNOWLEDGED; only a TRIGGERED alert is acknowledged" in report.checks[-1].line(), report.checks[-1].line()


def test_desk_requests_delivered_twice_draft_approve_and_publish_once(tmp_path: Path) -> None:
    """`"function": "api"`: the next change request reaches the API twice; the desk's Idempotency-Key makes it one."""
    text = {"en": {"full": "Northgate Savings: all accounts are available.", "short": "All accounts are available."}}
    scenario = {
        "name": "unseen-api-twice", "start": "2027-06-10T20:00:00+08:00", "duration": "+00:04",
        "faults": [{"at": "+00:00", "function": "api", "kind": "duplicate_invocation"},
                   {"at": "+00:02", "function": "api", "kind": "duplicate_invocation"}],
        "desk": [
            {"at": "+00:00", "as": "author:amy", "do": "draft", "ref": "s1", "channels": ["newsroom", "mastodon"],
             "text": text},
            {"at": "+00:01", "as": "approver:ben", "do": "approve", "ref": "s1"},
            {"at": "+00:02", "as": "approver:ben", "do": "publish", "ref": "s1"},
        ],
        "expect": [{"check": "deliveries", "ref": "s1", "state": "SENT"}, {"check": "no_duplicates"},
                   {"check": "audit_chain_valid"}],
    }
    report = run_scenario(_write(tmp_path, scenario), waits=TEST_WAITS)
    assert report.ok, [c.line() for c in report.checks]
    assert [s["ref"] for s in report.statements] == ["s1"], report.statements
    assert sum("delivered twice (injected)" in line for line in report.timeline) == 2, report.timeline


def test_a_complaint_that_does_not_address_the_bank_is_answered_where_it_was_said(tmp_path: Path) -> None:
    """Triage leaves it out of the inbox; the person who answers it (or assigns, closes it) opens its conversation."""
    scenario = {
        "name": "unseen-answer-anyone", "start": "2027-06-10T20:00:00+08:00", "duration": "+00:06",
        "topics": [{"id": "northgate", "names": ["Northgate Savings"]}],
        "posts": [{"at": "+00:01", "platform": "mastodon", "id": "m1", "author": "lee", "lang": "en",
                   "text": "Northgate Savings froze my card for no reason"},
                  {"at": "+00:01", "platform": "bluesky", "id": "b1", "author": "kim.bsky.social", "lang": "en",
                   "text": "Northgate Savings charged me a fee twice this month, so annoying"}],
        "desk": [
            {"at": "+00:03", "as": "author:amy", "do": "reply", "post": "m1", "ref": "r1",
             "text": "Sorry! Please send us a direct message so we can look into your card."},
            {"at": "+00:03", "as": "author:amy", "do": "assign", "post": "b1", "to": "amy"},
            {"at": "+00:04", "as": "approver:ben", "do": "approve_reply", "ref": "r1"},
            {"at": "+00:04", "as": "author:amy", "do": "close", "post": "b1", "reason": "refunded by phone"},
        ],
        "expect": [{"check": "reply_delivered", "post": "m1"}, {"check": "no_unapproved_reply"},
                   {"check": "replied_within", "post": "m1", "minutes": 4}, {"check": "audit_chain_valid"}],
    }
    report = run_scenario(_write(tmp_path, scenario), waits=TEST_WAITS)
    assert report.ok, [c.line() for c in report.checks]
    assert any("author:amy close b1: 200" in line for line in report.timeline), report.timeline


def test_a_report_request_delivered_twice_to_the_reporter_writes_one_report(tmp_path: Path) -> None:
    scenario = {
        "name": "unseen-reporter-twice", "start": "2027-06-10T20:00:00+08:00", "duration": "+00:05",
        "topics": [{"id": "northgate", "names": ["Northgate Savings"]}],
        "posts": [{"burst": {"from": "+00:00", "to": "+00:04", "per_minute": 5, "platform": "x",
                             "texts": ["Northgate Savings app is down again"]}}],
        "faults": [{"at": "+00:01", "function": "reporter", "kind": "duplicate_invocation"}],
        "expect": [{"check": "report", "topic": "northgate"}, {"check": "audit_chain_valid"}],
    }
    report = run_scenario(_write(tmp_path, scenario), waits=TEST_WAITS)
    assert report.ok, [c.line() for c in report.checks]
    assert "report of northgate: its queue message delivered twice to the Reporter (injected)" in report.notes
    assert [r["topic"] for r in report.post_crisis_reports] == ["northgate"]


def test_checks_name_a_topic_as_the_file_does(tmp_path: Path) -> None:
    """The drill watches 港湾银行 as `topic-…` (the watch configuration's ids are ASCII); its checks say 港湾银行."""
    scenario = {
        "name": "unseen-topic-names", "start": "2027-06-10T20:00:00+08:00", "duration": "+00:02",
        "topics": [{"id": "港湾银行", "names": ["港湾银行"]}],
        "posts": [{"at": "+00:01", "platform": "weibo", "author": "a", "text": "港湾银行的网点排队"}],
        "expect": [{"check": "topic_posts", "topic": "港湾银行", "min": 1, "max": 1},
                   {"check": "max_level", "topic": "港湾银行", "level": "WATCH"}],
    }
    report = run_scenario(_write(tmp_path, scenario), waits=TEST_WAITS)
    assert [c.line() for c in report.checks] == [
        "PASS  topic_posts topic=港湾银行 max=1 min=1: 1 posts counted for 港湾银行 in its aggregates",
        "PASS  max_level topic=港湾银行 level=WATCH: highest level NORMAL"], [c.line() for c in report.checks]


def test_a_post_by_the_banks_own_account_is_stored_and_counted_nowhere(tmp_path: Path) -> None:
    """A scenario's post whose author is the bank's account (as `accounts` names it) is the bank speaking."""
    denial = "Northgate Savings: rumours of a bank run are false. Every branch and ATM is open."
    scenario = {
        "name": "unseen-own-post", "start": "2027-06-10T20:00:00+08:00", "duration": "+00:03",
        "topics": [{"id": "northgate", "names": ["Northgate Savings"]}], "accounts": {"x": "NorthgateHelp"},
        "posts": [{"at": "+00:01", "platform": "x", "author": "NorthgateHelp", "followers": 90000, "text": denial},
                  {"at": "+00:01", "platform": "x", "author": "ann", "text": "Is Northgate Savings facing a bank run?"}],
        "expect": [{"check": "stored_posts", "min": 2, "max": 2},
                   {"check": "topic_posts", "topic": "northgate", "min": 1, "max": 1}],
    }
    report = run_scenario(_write(tmp_path, scenario), waits=TEST_WAITS)
    assert report.ok, [c.line() for c in report.checks]
    assert report.figures["own_posts"] == 1 and report.figures["unrelated_posts"] == 0, report.figures


def test_posts_dated_after_the_drills_end_are_named_as_never_read(tmp_path: Path) -> None:
    scenario = {
        "name": "unseen-after-end", "start": "2027-06-10T20:00:00+08:00", "duration": "+00:02",
        "topics": [{"id": "northgate", "names": ["Northgate Savings"]}],
        "posts": [{"at": "+00:02", "platform": "x", "author": "a", "text": "Northgate Savings at the end"},
                  {"at": "+00:02:30", "platform": "x", "author": "b", "text": "Northgate Savings just after"}],
        "news": [{"at": "+01:00", "feed": "wire", "title": "Northgate Savings in an hour"}],
        "expect": [{"check": "stored_posts", "min": 1, "max": 1}],
    }
    report = run_scenario(_write(tmp_path, scenario), waits=TEST_WAITS)
    assert report.ok, [c.line() for c in report.checks]
    assert "not read: 2 posts or articles dated after the drill's end (+00:02)" in report.notes, report.notes


def test_a_duration_of_part_minutes_hears_its_last_part_and_nothing_after_the_end(tmp_path: Path) -> None:
    """The sources run every minute: the drill runs on to the first minute at or after the end, so a post of
    the last part minute is read; one dated after the end is still not, though that last run comes after it.
    A desk action within a minute past the end is done, a later one named."""
    text = {"en": {"full": "All fine.", "short": "Fine."}}
    scenario = {
        "name": "unseen-part-minute", "start": "2027-06-10T20:00:30+08:00", "duration": "+00:02:30",
        "topics": [{"id": "northgate", "names": ["Northgate Savings"]}],
        "posts": [{"at": "+00:02:10", "platform": "mastodon", "author": "a", "text": "Northgate Savings late in the drill"},
                  {"at": "+00:02:30", "platform": "bluesky", "author": "b.bsky.social", "text": "Northgate Savings at the end"},
                  {"at": "+00:02:50", "platform": "x", "author": "c", "text": "Northgate Savings after the end"}],
        "news": [{"at": "+00:02:40", "feed": "wire", "title": "Northgate Savings after the end"}],
        "desk": [{"at": "+00:01", "as": "author:li", "do": "draft", "ref": "s1", "channels": ["newsroom"], "text": text},
                 {"at": "+00:03:20", "as": "approver:wang", "do": "approve", "ref": "s1"},
                 {"at": "+00:03:40", "as": "author:li", "do": "publish", "ref": "s1"}],
        "expect": [{"check": "stored_posts", "min": 2, "max": 2}, {"check": "topic_posts", "topic": "northgate", "min": 2}],
    }
    report = run_scenario(_write(tmp_path, scenario), waits=TEST_WAITS)
    assert report.ok, [c.line() for c in report.checks]
    assert report.ticks == 4 and report.figures["simulated_minutes"] == 2.5
    assert "not read: 2 posts or articles dated after the drill's end (+00:02:30)" in report.notes, report.notes
    assert report.statements[0]["state"] == "APPROVED"
    assert "not done: 1 desk action(s) dated after the drill's end (+00:02:30): publish s1 at +00:03:40" in report.notes


def test_desk_actions_dated_after_the_drills_end_are_named_as_never_done(tmp_path: Path) -> None:
    """The replay's last minute takes the actions of its whole minute (+00:02:30 is done); a later one is named."""
    text = {"en": {"full": "All fine.", "short": "Fine."}}
    scenario = {
        "name": "unseen-desk-after-end", "start": "2027-06-10T20:00:00+08:00", "duration": "+00:02",
        "desk": [{"at": "+00:01", "as": "author:li", "do": "draft", "ref": "s1", "channels": ["newsroom"], "text": text},
                 {"at": "+00:02:30", "as": "approver:wang", "do": "approve", "ref": "s1"},
                 {"at": "+00:04", "as": "author:li", "do": "publish", "ref": "s1"},
                 {"at": "+01:00", "as": "oncall:wu", "do": "ack_alert", "topic": "examplebank"}],
        "expect": [],
    }
    report = run_scenario(_write(tmp_path, scenario), waits=TEST_WAITS)
    assert report.statements[0]["state"] == "APPROVED"
    assert ("not done: 2 desk action(s) dated after the drill's end (+00:02): publish s1 at +00:04, ack_alert examplebank"
            " at +01:00") in report.notes, report.notes


def test_a_reply_no_approved_item_accounts_for_fails_no_unapproved_reply() -> None:
    """What the platform shows is set against the reply items: a reply sent outside the desk, or one
    whose item was never approved, fails the check by name."""
    from datetime import datetime, timezone
    from types import SimpleNamespace

    from crisiscomms_local.drill.replies import Delivered
    from crisiscomms_local.drill.runner import RepliesSeen, _judge_replies
    from crisiscomms_local.drill.scenario import Check

    when = datetime(2027, 6, 10, 12, 5, tzinfo=timezone.utc)
    world = SimpleNamespace(post_ids={"c1": "weibo#11", "c2": "weibo#12"}, scenario=None)
    text = "您好，已为您处理。"
    unapproved = {"id": "rp-00000000000000a2", "platform": "weibo", "platform_reply_id": "902", "post_key": "weibo#12",
                  "text": text, "text_hash": hashlib.sha256(text.encode()).hexdigest(), "author": "li", "state": "SENT"}
    seen = RepliesSeen(delivered=[Delivered("weibo", "weibo#11", "901", "by hand", when),
                                  Delivered("weibo", "weibo#12", "902", text, when)], items=[unapproved])
    check = Check(check="no_unapproved_reply")
    result = _judge_replies(check, check.model_dump(exclude_none=True), world, seen)  # type: ignore[arg-type]
    assert not result.passed
    assert result.observed == ("weibo reply 901 to c1: no reply item records it; "
                               "weibo reply 902 to c2 (reply rp-00000000000000a2): a free reply that nobody approved")


WECHAT_LOST_ANSWER = {
    "name": "unseen-wechat-lost-answer",
    "description": "WeChat loses the answer to the publish submit; its article is listed only once the publish task is done.",
    "start": "2026-11-28T10:00:00+00:00",
    "duration": "+00:10",
    "desk": [
        {"at": "+00:01", "as": "author:li", "do": "draft", "ref": "s1", "channels": ["wechat", "newsroom", "mastodon"],
         "text": {"zh": {"full": "港湾银行声明：所有账户正常，存款安全。", "short": "港湾银行：所有账户正常、存款安全。"},
                  "en": {"full": "Harbor Bank statement: all accounts are available and every deposit is safe.",
                         "short": "All Harbor Bank accounts are available and deposits are safe."}}},
        {"at": "+00:02", "as": "approver:wang", "do": "approve", "ref": "s1"},
        {"at": "+00:05", "as": "approver:wang", "do": "publish", "ref": "s1"},
    ],
    "faults": [{"at": "+00:05", "channel": "wechat", "kind": "timeout_after_send"}],
    "expect": [{"check": "deliveries", "ref": "s1", "state": "SENT"}, {"check": "no_duplicates"},
               {"check": "audit_chain_valid"}],
}


def test_a_lost_wechat_answer_ends_sent_once_a_later_look_finds_the_article(tmp_path: Path) -> None:
    report = run_scenario(_write(tmp_path, WECHAT_LOST_ANSWER), waits=TEST_WAITS)
    assert report.ok, [c.line() for c in report.checks]
    [statement] = report.statements
    wechat = next(d for d in statement["deliveries"] if d["channel"] == "wechat")
    assert (wechat["state"], wechat["resolved_by"]) == ("SENT", "lookup")


AUDITED = {
    "name": "unseen-audited", "start": "2027-06-10T20:00:00+08:00", "duration": "+00:12",
    "desk": [
        {"at": "+00:01", "as": "author:amy", "do": "draft", "ref": "s1", "channels": ["newsroom"],
         "text": {"en": {"full": "Card payments are working again.", "short": "Card payments work again."}}},
        {"at": "+00:03", "as": "approver:ben", "do": "approve", "ref": "s1"},
        {"at": "+00:07", "as": "author:amy", "do": "publish", "ref": "s1"},
        {"at": "+00:11", "as": "author:amy", "do": "draft", "ref": "s2", "channels": ["newsroom"],
         "text": {"en": {"full": "Next update at 22:00.", "short": "Next update 22:00."}}},
    ],
    "faults": [{"at": "+00:04", "function": "digest", "kind": "duplicate_invocation"}],
    "expect": [{"check": "deliveries", "ref": "s1", "state": "SENT"}, {"check": "audit_chain_valid"}],
}


def test_the_audit_trail_is_signed_on_the_digest_schedule_and_verified_against_it(tmp_path: Path) -> None:
    """The Digest function runs every 5 simulated minutes (its event twice once, injected); the check verifies
    every entry against the signed digests, the last action's included."""
    report = run_scenario(_write(tmp_path, AUDITED), waits=TEST_WAITS)
    assert report.ok, [c.line() for c in report.checks]
    detail = report.checks[1].observed
    assert re.fullmatch(r"\d+ entries verified against \d+ signed digest\(s\) \(3 written during the drill, every 5 min\)",
                        detail), detail
    assert any("digest event delivered twice (injected)" in line for line in report.timeline)
    assert not any("not run" in note for note in report.notes)


def test_an_audit_entry_changed_after_the_fact_fails_the_audit_check(tmp_path: Path) -> None:
    from crisiscomms_local.aws import client

    def rewrite_history(world) -> None:
        client("dynamodb").update_item(TableName=world.stack.refs["AuditTable"],
                                       Key={"chain": {"S": "audit"}, "seq": {"N": "2"}},
                                       UpdateExpression="SET actor = :who", ExpressionAttributeValues={":who": {"S": "mallory"}})

    report = run_scenario(_write(tmp_path, AUDITED), waits=TEST_WAITS, before_checks=rewrite_history)
    audit = report.checks[1]
    assert not audit.passed and "first bad entry 2" in audit.observed, audit.line()


def test_posts_addressing_the_scenarios_accounts_are_heard_on_every_platform_whatever_they_name(tmp_path: Path) -> None:
    """The listening emulators play the bank's accounts the scenario names: a burst of comments and mentions that
    name nothing a topic watches, addressed to those accounts (to_bank), is stored and counted for the topic, with
    the burst's places."""
    wave = {"from": "+00:01", "to": "+00:03", "per_minute": 2, "texts": ["my card was declined twice"], "to_bank": True}
    scenario = {
        "name": "unseen-addressed", "start": "2027-05-05T09:00:00+08:00", "duration": "+00:06",
        "topics": [{"id": "pearl", "names": ["Pearl River Bank", "珠江银行"]}],
        "accounts": {"weibo": "珠江银行", "mastodon": "pearlriver@social.example", "bluesky": "pearlriver.bank",
                     "reddit": "PearlRiverBank", "x": "PearlRiverBank"},
        "posts": [{"burst": dict(wave, platform=platform)} for platform in ("mastodon", "bluesky", "reddit", "x")]
                 + [{"burst": dict(wave, platform="weibo", texts=["刷卡失败"], location=["广东 深圳", "上海"])},
                    {"at": "+00:04", "platform": "reddit", "author": "r1", "text": "card declined again", "to_bank": True}],
        "expect": [{"check": "topic_posts", "topic": "pearl", "min": 21, "max": 21},
                   {"check": "stored_posts", "platform": "reddit", "min": 5, "max": 5}, {"check": "no_duplicates"}],
    }
    report = run_scenario(_write(tmp_path, scenario), waits=TEST_WAITS)
    assert report.ok, [c.line() for c in report.checks]
    assert report.figures["stored_by_platform"] == {"bluesky": 4, "mastodon": 4, "reddit": 5, "weibo": 4, "x": 4}


def test_a_statement_in_one_language_reaches_every_channel_it_names(tmp_path: Path) -> None:
    """The drill's bank is configured for the scenario's statements: a Chinese-only statement reaches X (English
    by default) in Chinese, where the sample configuration alone would have refused its approval."""
    scenario = {
        "name": "unseen-one-language", "start": "2027-02-01T10:00:00+08:00", "duration": "+00:04",
        "desk": [{"at": "+00:01", "as": "author:li", "do": "draft", "ref": "s1", "channels": ["weibo", "x"],
                  "text": {"zh": {"full": "我行系统运行正常，客户资金安全。", "short": "系统正常，资金安全。"}}},
                 {"at": "+00:02", "as": "approver:wang", "do": "approve", "ref": "s1"},
                 {"at": "+00:03", "as": "author:li", "do": "publish", "ref": "s1"}],
        "expect": [{"check": "deliveries", "ref": "s1", "state": "SENT"}],
    }
    report = run_scenario(_write(tmp_path, scenario), waits=TEST_WAITS)
    assert report.ok, [c.line() for c in report.checks]
    assert {(d["channel"], d["language"]) for d in report.statements[0]["deliveries"]} == {("weibo", "zh"), ("x", "zh")}


def test_a_rejected_template_is_edited_keeping_its_rules_approved_again_and_its_new_text_sent(tmp_path: Path) -> None:
    scenario = {
        "name": "unseen-template-edit", "start": "2027-02-01T10:00:00+08:00", "duration": "+00:08",
        "topics": [{"id": "harbor", "names": ["港湾银行"]}], "accounts": {"weibo": "港湾银行"},
        "posts": [{"at": "+00:01", "id": "p1", "platform": "weibo", "author": "li", "lang": "zh", "to_bank": True,
                   "text": "@港湾银行 转账失败怎么办？"}],
        "desk": [
            {"at": "+00:02", "as": "author:amy", "do": "template", "ref": "t1", "kind": "reply",
             "text": {"zh": "您好，请私信我们{ref}。"}, "placeholders": {"ref": {"pattern": "[0-9]{4}", "max": 4}}},
            {"at": "+00:03", "as": "approver:ben", "do": "reject", "ref": "t1", "reason": "say sorry first"},
            {"at": "+00:04", "as": "author:amy", "do": "edit", "ref": "t1", "text": {"zh": "抱歉给您带来不便，请私信我们编号{ref}。"}},
            {"at": "+00:05", "as": "approver:ben", "do": "approve", "ref": "t1"},
            {"at": "+00:06", "as": "author:amy", "do": "reply_template", "post": "p1", "template": "t1", "values": {"ref": "1234"}},
            {"at": "+00:07", "as": "author:amy", "do": "reply_template", "post": "p1", "template": "t1", "values": {"ref": "12345"},
             "ref": "r-long"},  # outside the kept rule: it waits for a second person
        ],
        "expect": [{"check": "reply_delivered", "post": "p1"}, {"check": "no_unapproved_reply"}],
    }
    report = run_scenario(_write(tmp_path, scenario), waits=TEST_WAITS)
    assert report.ok, [c.line() for c in report.checks]
    sent, waiting = sorted(report.replies, key=lambda r: r["state"] != "SENT")
    assert sent["from"].endswith(" v2") and sent["text"] == "抱歉给您带来不便，请私信我们编号1234。", sent
    assert waiting["state"] == "AWAITING_APPROVAL", waiting
