"""Scenario files in format v2 (../shared/drill-scenario-format.md): every key understood, any other refused."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from crisiscomms_local.drill.scenario import ScenarioError, expand_posts, load_scenario

V2 = {
    "name": "v2-everything",
    "start": "2026-11-28T09:00:00+08:00",
    "duration": "+01:00",
    "topics": [{"id": "harbor", "names": ["港湾银行"], "ambiguous": ["港湾"]}],
    "accounts": {"weibo": "港湾银行", "x": "HarborBank"},
    "posts": [
        {"at": "+00:05", "platform": "weibo", "author": "li_wei", "text": "港湾银行 排队两小时", "location": "广东 深圳",
         "id": "p1", "to_bank": True},
        {"at": "+00:06", "platform": "douyin", "text": "港湾银行要倒闭了?", "id": "p2"},
        {"burst": {"from": "+00:10", "to": "+00:12", "per_minute": 3, "platform": "wechat", "texts": ["挤兑"]}},
    ],
    "desk": [
        {"at": "+00:20", "as": "author:li", "do": "template", "ref": "t1", "kind": "reply",
         "text": {"zh": "您好,{branch}", "en": "Hello {branch}"}, "placeholders": {"branch": {"pattern": "^.{1,20}$", "max": 20}}},
        {"at": "+00:21", "as": "approver:wang", "do": "approve", "ref": "t1"},
        {"at": "+00:22", "as": "author:li", "do": "reply_template", "post": "p1", "template": "t1", "values": {"branch": "深圳"}},
        {"at": "+00:23", "as": "author:li", "do": "close", "post": "p2", "reason": "rumour answered by statement"},
        {"at": "+00:50", "as": "oncall:zhao", "do": "close_alert", "topic": "harbor", "cause": "queue", "lessons": "staff"},
    ],
    "expect": [
        {"check": "stored_posts", "platform": "weibo", "min": 1},
        {"check": "topic_posts", "topic": "harbor", "min": 1, "max": 50},
        {"check": "replied_within", "post": "p1", "minutes": 15},
        {"check": "reply_delivered", "post": "p1"},
        {"check": "no_unapproved_reply"},
        {"check": "effect", "ref": "s1", "recommendation": "keep_cadence"},
        {"check": "alert_closed", "topic": "harbor"},
        {"check": "report", "topic": "harbor"},
    ],
}


def _write(tmp_path: Path, scenario: dict) -> Path:
    path = tmp_path / "s.json"
    path.write_text(json.dumps(scenario, ensure_ascii=False), encoding="utf-8")
    return path


def test_every_v2_key_is_understood(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path, V2))
    assert scenario.accounts == {"weibo": "港湾银行", "x": "HarborBank"}
    posts = expand_posts(scenario)
    first = next(p for p in posts if p.get("id") == "p1")
    assert (first["to_bank"], first["location"]) == (True, "广东 深圳")
    assert sum(p["platform"] == "wechat" for p in posts) == 6
    assert [c.check for c in scenario.expect][-1] == "report"


def test_a_burst_may_say_what_a_single_post_says_for_all_its_posts(tmp_path: Path) -> None:
    """A wave of comments under the bank's post from several cities, each liked: to_bank, location (one, or
    round-robin) and engagement apply to every post of the burst; followers stay drawn from the seed."""
    plain = {"from": "+00:10", "to": "+00:12", "per_minute": 2, "platform": "weibo", "texts": ["刷卡失败"],
             "followers": [10, 5000], "seed": 4}
    scenario = dict(V2, posts=[{"burst": dict(plain, to_bank=True, location=["广东 深圳", "上海"], likes=7, reposts=2)},
                               {"burst": dict(plain, location="香港")},
                               {"burst": plain}])
    wave, city, bare = (expand_posts(load_scenario(_write(tmp_path, dict(scenario, posts=[p])))) for p in scenario["posts"])
    assert [(p["to_bank"], p["location"], p["likes"], p["reposts"], p["replies"]) for p in wave] == [
        (True, "广东 深圳", 7, 2, 0), (True, "上海", 7, 2, 0)] * 2
    assert {p["location"] for p in city} == {"香港"} and not any(p["to_bank"] for p in city)
    assert {(p["location"], p["to_bank"], p["likes"]) for p in bare} == {(None, False, 0)}
    assert [p["followers"] for p in wave] == [p["followers"] for p in bare], "the same seed draws the same followers"


@pytest.mark.parametrize("where, bad, message", [
    (("posts", 0), {"mood": "angry"}, "posts[0].mood: unknown key"),
    (("expect", 0), {"platform": "myspace"}, "expect[0].platform"),
    (("expect", 2), {"minutes": None}, "needs minutes"),
    (("accounts",), {"friendster": "x"}, "accounts.friendster"),
    ((), {"duration": 240}, "duration: Input should be a valid string: an offset from start, +HH:MM or +HH:MM:SS"),
    (("posts", 0), {"at": "5 minutes"}, "posts[0].at: not an offset: an offset from start, +HH:MM or +HH:MM:SS"),
    (("desk", 0), {"placeholderz": {}}, "desk[0]: Value error, unknown key(s) 'placeholderz' for a 'template' action"),
    (("desk", 4), {"reason": "x"}, "unknown key(s) 'reason' for a 'close_alert' action"),
])
def test_an_unknown_or_incomplete_key_names_its_path(tmp_path: Path, where: tuple, bad: dict, message: str) -> None:
    scenario = json.loads(json.dumps(V2))
    target = scenario
    for part in where:
        target = target[part]
    for key, value in bad.items():
        if value is None:
            target.pop(key)
        else:
            target[key] = value
    with pytest.raises(ScenarioError) as caught:
        load_scenario(_write(tmp_path, scenario))
    assert message in str(caught.value) and "s.json" in str(caught.value)


def test_an_expected_refusal_takes_the_keys_of_its_action_and_a_status(tmp_path: Path) -> None:
    scenario = json.loads(json.dumps(V2))
    refusal = {"at": "+00:24", "as": "author:li", "do": "expect_refused", "action": "approve", "ref": "t1", "status": 403}
    scenario["desk"].append(refusal)
    assert load_scenario(_write(tmp_path, scenario)).desk[-1].model_extra["action"] == "approve"
    for bad, message in (({"colour": "red"}, "unknown key(s) 'colour' for a 'approve' action"),
                         ({"status": None}, "needs the status"), ({"action": "dance"}, "needs an action")):
        scenario["desk"][-1] = {**refusal, **bad}
        with pytest.raises(ScenarioError, match=message.replace("(", r"\(").replace(")", r"\)")):
            load_scenario(_write(tmp_path, scenario))


def test_topic_ids_are_read_as_the_watch_configuration_takes_them_wherever_the_file_names_them(tmp_path: Path) -> None:
    scenario = json.loads(json.dumps(V2))
    scenario["topics"] = [{"id": "Harbor_Bank", "names": ["港湾银行"]}, {"id": "港湾", "names": ["港湾"]}]
    scenario["expect"][1]["topic"] = "Harbor_Bank"
    scenario["desk"][4]["topic"] = "港湾"
    with pytest.raises(ScenarioError, match=r"s\.json: expect\[6\]\.topic: 'harbor' is not a topic of this drill "
                                            r"\(harbor-bank, topic-e0d27413\)$"):
        load_scenario(_write(tmp_path, scenario))   # a topic the file does not declare: a mistake, named
    for entry in scenario["expect"] + scenario["desk"]:
        if entry.get("topic") == "harbor":
            entry["topic"] = "Harbor_Bank"
    loaded = load_scenario(_write(tmp_path, scenario))
    assert [t.id for t in loaded.topics] == ["harbor-bank", "topic-e0d27413"]
    assert loaded.expect[1].topic == "harbor-bank" and loaded.desk[4].model_extra["topic"] == "topic-e0d27413"
    assert loaded.expect[6].topic == "harbor-bank"
    assert (loaded.shown_topic("harbor-bank"), loaded.shown_topic("topic-e0d27413")) == ("Harbor_Bank", "港湾")
    assert loaded.shown_topic("examplebank") == "examplebank"
    scenario["topics"].append({"id": "harbor-bank", "names": ["x"]})
    with pytest.raises(ScenarioError, match="same id"):
        load_scenario(_write(tmp_path, scenario))


def test_feed_names_are_read_as_the_watch_configuration_takes_source_names(tmp_path: Path) -> None:
    scenario = json.loads(json.dumps(V2))
    scenario["news"] = [{"at": "+00:07", "feed": "Reuters_World", "title": "Harbor Bank denies rumour"},
                        {"at": "+00:08", "feed": "财新", "title": "港湾银行回应"}]
    assert [n.feed for n in load_scenario(_write(tmp_path, scenario)).news] == ["reuters-world", "feed-" + __import__(
        "hashlib").sha256("财新".encode()).hexdigest()[:8]]


def test_post_ids_are_names_in_the_file_in_any_script(tmp_path: Path) -> None:
    scenario = json.loads(json.dumps(V2))
    scenario["posts"][0]["id"] = "帖-1 🐳"
    scenario["desk"][2]["post"] = "帖-1 🐳"
    assert load_scenario(_write(tmp_path, scenario)).posts[0].id == "帖-1 🐳"


def test_post_ids_are_unique(tmp_path: Path) -> None:
    scenario = json.loads(json.dumps(V2))
    scenario["posts"][1]["id"] = "p1"
    with pytest.raises(ScenarioError, match="unique"):
        load_scenario(_write(tmp_path, scenario))


def test_v1_files_stay_valid() -> None:
    root = Path(__file__).resolve().parents[2] / "events" / "drills"
    for path in sorted(root.glob("*.json")):
        assert load_scenario(path).name


@pytest.mark.parametrize(("given", "meant"), [
    ("publisher", "publisher"), ("PublisherFunction", "publisher"), ("Poller", "poller"), ("desk-api", "api"),
    ("DeskApiFunction", "api"), ("notifier", "detector"), ("reply_sender", "publisher"), ("digest", "digest"),
    ("AuditDigest", "digest"), ("exporter", None), ("TokenScopesFunction", None), ("function", None), ("", None),
])
def test_a_duplicate_invocation_names_the_function_as_the_template_or_its_job_does(given: str, meant: str | None) -> None:
    from crisiscomms_local.drill.world import function_named

    assert function_named(given) == meant


def test_a_channel_a_statement_reaches_in_another_language_is_configured_for_it_too(tmp_path: Path) -> None:
    """A Chinese-only statement to X (English by default), its English-only correction to Weibo's and WeChat's
    channels, a holding statement from an English-only template to Telegram: each of those channels also
    publishes in that language; a bilingual statement changes nothing."""
    from crisiscomms_local.desk_world import LANGUAGES
    from crisiscomms_local.drill.world import channel_languages

    zh, en = {"zh": {"full": "系统正常", "short": "正常"}}, {"en": {"full": "All normal.", "short": "Normal."}}
    desk = [
        {"at": "+00:01", "as": "author:li", "do": "draft", "ref": "s1", "channels": ["x", "weibo", "wechat"], "text": zh},
        {"at": "+00:02", "as": "author:li", "do": "correct", "ref": "s2", "corrects": "s1", "text": en},
        {"at": "+00:03", "as": "author:li", "do": "template", "ref": "h1", "kind": "holding", "text": en},
        {"at": "+00:04", "as": "author:li", "do": "holding", "ref": "s3", "template": "h1", "values": {}, "channels": ["telegram"]},
        {"at": "+00:05", "as": "author:li", "do": "draft", "ref": "s4", "channels": ["mastodon", "bluesky"], "text": {**zh, **en}},
    ]
    scenario = load_scenario(_write(tmp_path, {"name": "langs", "start": "2027-01-01T00:00:00Z", "duration": "+00:10",
                                                "desk": desk, "expect": []}))
    assert channel_languages(scenario) == {**LANGUAGES, "x": ["en", "zh"], "weibo": ["zh", "en"], "wechat": ["zh", "en"],
                                           "telegram": ["zh", "en"]}
    plain = load_scenario(_write(tmp_path, {"name": "plain", "start": "2027-01-01T00:00:00Z", "duration": "+00:10",
                                            "desk": desk[-1:], "expect": []}))
    assert channel_languages(plain) == LANGUAGES


def test_a_statement_in_traditional_chinese_is_published_where_it_is_sent_and_on_the_newsroom(tmp_path: Path) -> None:
    """Traditional Chinese is one more language: a channel it reaches with none of its own publishes in it, a channel
    whose language the statement also has does not, and the newsroom carries every language it is written in."""
    from crisiscomms_local.desk_world import LANGUAGES
    from crisiscomms_local.drill.world import channel_languages

    form = {"full": "系統正常", "short": "正常"}
    desk = [{"at": "+00:01", "as": "author:li", "do": "draft", "ref": "s1", "channels": ["newsroom", "telegram", "weibo"],
             "text": {"zh-Hant": form}},
            {"at": "+00:02", "as": "author:li", "do": "draft", "ref": "s2", "channels": ["weibo", "newsroom"],
             "text": {"zh": form, "zh-Hant": form}}]
    scenario = load_scenario(_write(tmp_path, {"name": "hant", "start": "2027-01-01T00:00:00Z", "duration": "+00:10",
                                                "desk": desk, "expect": []}))
    assert channel_languages(scenario) == {**LANGUAGES, "newsroom": ["zh", "en", "zh-Hant"], "telegram": ["zh", "zh-Hant"],
                                           "weibo": ["zh", "zh-Hant"]}


@pytest.mark.parametrize(("ref", "sent"), [("s1", {"ref": "s1"}), ("声明1", {"ref": "声明1"}), ("s 1", {}), ("x" * 65, {}),
                                           (None, {})])
def test_a_scenarios_ref_reaches_the_api_only_as_a_valid_author_reference(ref: str | None, sent: dict) -> None:
    """The drill knows statements by the scenario's refs; the API gets one only where it is a reference it takes, so
    a ref with a space does not make the draft fail."""
    from crisiscomms_local.drill.desk import _api_ref

    assert _api_ref(ref) == sent


def test_without_topics_a_check_names_a_topic_of_the_sample_configuration(tmp_path: Path) -> None:
    base = {"name": "sample", "start": "2027-01-01T00:00:00Z", "duration": "+00:05"}
    assert load_scenario(_write(tmp_path, {**base, "expect": [{"check": "max_level", "topic": "examplebank",
                                                                 "level": "WATCH"}]})).expect[0].topic == "examplebank"
    with pytest.raises(ScenarioError, match=r"desk\[0\]\.topic: 'harbor' is not a topic of this drill \(examplebank\)"):
        load_scenario(_write(tmp_path, {**base, "desk": [{"at": "+00:01", "as": "oncall:wu", "do": "ack_alert",
                                                          "topic": "harbor"}]}))
