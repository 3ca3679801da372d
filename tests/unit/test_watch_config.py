from __future__ import annotations

import json

import pytest

from crisiscomms.errors import ConfigurationError
from crisiscomms.settings import PollerSettings, load_settings
from crisiscomms.watch import X_QUERY_MAX_LENGTH, build_x_query, parse_watch_config

from ..conftest import ROOT

SAMPLE = json.loads((ROOT / "events" / "watch-config.json").read_text(encoding="utf-8"))


def test_sample_configuration_is_valid() -> None:
    config = parse_watch_config(json.dumps(SAMPLE))
    assert config.topics[0].id == "examplebank"
    assert [s.id for s in config.sources] == ["x-examplebank"]
    assert {f.name for f in config.feeds} == {"financial-daily", "caixin"}


def test_query_is_built_from_topics_when_not_given() -> None:
    config = parse_watch_config(SAMPLE)
    query = config.query_for(config.sources[0])
    assert query.startswith('("Example Bank" OR ExampleBank OR 示例银行')
    assert "#ExampleBank" in query and "@ExampleBankHelp" in query
    assert query.endswith(" OR to:ExampleBank) -is:retweet")  # replies to the bank's own account


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["topics"][0].pop("names"), "topics.0.names"),
        (lambda d: d["topics"][0].update(id="Has Spaces"), "topics.0.id"),
        (lambda d: d["feeds"][0].update(url="not a url"), "feeds.0.url"),
        (lambda d: d["sources"][0].update(platform="myspace"), "sources.0.platform"),
        (lambda d: d["sources"][0].update(topics=["nobody"]), "sources.0.topics"),
        (lambda d: d["sources"][0].update(every_minutes=0), "sources.0.every_minutes"),
        (lambda d: d.update(surprise=True), "surprise"),
        (lambda d: d["feeds"].append(dict(d["feeds"][0])), "feeds: duplicate id"),
    ],
)
def test_invalid_document_names_the_field(mutate, field: str) -> None:
    document = json.loads(json.dumps(SAMPLE))
    mutate(document)
    with pytest.raises(ConfigurationError) as caught:
        parse_watch_config(json.dumps(document))
    assert field in str(caught.value)


def test_malformed_json_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="invalid watch configuration"):
        parse_watch_config('{"topics": [')


def test_query_over_the_platform_limit_must_be_given_explicitly() -> None:
    document = json.loads(json.dumps(SAMPLE))
    document["topics"][0]["keywords"] = [f"keyword number {i}" for i in range(60)]
    with pytest.raises(ConfigurationError, match=f"over X's limit of {X_QUERY_MAX_LENGTH}"):
        parse_watch_config(document)
    document["sources"][0]["query"] = '"Example Bank" -is:retweet'
    assert parse_watch_config(document).query_for(parse_watch_config(document).sources[0]) == '"Example Bank" -is:retweet'


def test_build_query_quotes_phrases_and_deduplicates() -> None:
    config = parse_watch_config(SAMPLE)
    query = build_x_query(config.topics + config.topics)
    assert query.count('"Example Bank"') == 1


def test_settings_fail_fast_naming_the_missing_variable() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(PollerSettings, {"POSTS_TABLE": "posts"})
    for name in ("TOPIC_POSTS_TABLE", "AGGREGATES_TABLE", "STATE_TABLE", "WATCH_CONFIG_PARAMETER", "X_BEARER_TOKEN_SECRET"):
        assert name in str(caught.value)


def test_settings_reject_a_bad_value() -> None:
    env = {k: "table" for k in ("POSTS_TABLE", "TOPIC_POSTS_TABLE", "AGGREGATES_TABLE", "STATE_TABLE")}
    env.update(WATCH_CONFIG_PARAMETER="/p", X_BEARER_TOKEN_SECRET="s", SOURCE_SECRET_PREFIX="/s/", INBOX_TABLE="inbox",
               HTTP_TIMEOUT_SECONDS="-1")
    with pytest.raises(ConfigurationError, match="HTTP_TIMEOUT_SECONDS"):
        load_settings(PollerSettings, env)
    env["HTTP_TIMEOUT_SECONDS"] = "2.5"
    assert load_settings(PollerSettings, env).http_timeout_seconds == 2.5


def test_query_names_chinese_terms_in_both_scripts() -> None:
    config = parse_watch_config({"topics": [{"id": "harbor", "names": ["Harbor Bank", "港湾银行"], "hashtags": ["港湾银行"]}],
                                 "sources": [{"id": "x", "platform": "x"}]})
    query = config.query_for(config.sources[0])
    assert query == '("Harbor Bank" OR 港湾银行 OR 港灣銀行 OR #港湾银行 OR #港灣銀行) -is:retweet'


def test_sample_channels_configuration_is_valid() -> None:
    from crisiscomms.statements.render import ChannelsConfig

    config = ChannelsConfig.model_validate_json((ROOT / "events" / "channels-config.json").read_text(encoding="utf-8"))
    assert set(config.channels) == {"newsroom", "x", "weibo", "wechat", "mastodon", "bluesky", "telegram", "webhook"}


def _watch_of_two_banks(**accounts: dict) -> object:
    document = json.loads(json.dumps(SAMPLE))
    document["topics"] = [
        {"id": "rival", "names": ["Citizens East"]},
        {"id": "northstar", "names": ["North Star Bank", "北星银行"]},
    ]
    document["sources"] = [{"id": "wechat-official", "platform": "wechat", "every_minutes": 5},
                           {"id": "weibo-official", "platform": "weibo", "every_minutes": 5}]
    document["accounts"] = accounts
    return parse_watch_config(json.dumps(document, ensure_ascii=False))


@pytest.mark.parametrize("handles", [
    {"weibo": {"handle": "北星银行"}},                                   # the name itself
    {"weibo": {"handle": "@NorthStarBank"}, "wechat": {"handle": "gh_0a1b"}},   # spaces and case aside
    {"weibo": {"handle": "northstar.bank.hk"}},                          # the name inside the handle
])
def test_a_comment_naming_no_topic_counts_for_the_topic_the_banks_own_handles_name(handles: dict) -> None:
    """A watch of the bank and a rival: what is said under the bank's own article is not about the rival,
    on every platform, including one whose handle names no topic."""
    config = _watch_of_two_banks(**handles)
    for source in config.sources:
        assert config.addressed_topics(source) == ("northstar",)


def test_a_comment_naming_no_topic_counts_for_every_topic_when_no_handle_names_one() -> None:
    config = _watch_of_two_banks(weibo={"handle": "NSB"}, wechat={"handle": "gh_0a1b"})
    assert config.addressed_topics(config.sources[0]) == ("rival", "northstar")


def test_an_accounts_own_topics_decide_over_the_handles() -> None:
    config = _watch_of_two_banks(weibo={"handle": "北星银行", "topics": ["rival"]})
    assert config.addressed_topics(config.source("weibo-official")) == ("rival",)
    assert config.addressed_topics(config.source("wechat-official")) == ("northstar",)
