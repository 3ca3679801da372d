"""Channel length rules and statement rendering, against values published by the platforms.

X values come from twitter-text's conformance suite (conformance/tests/validate.yml, v3 config);
Mastodon's from its StatusLengthValidator; Bluesky's from the app.bsky.feed.post lexicon;
Telegram's from the Bot API; Weibo's and WeChat's from their open-platform API pages.
"""
from __future__ import annotations

import dataclasses
import unicodedata

import pytest

from crisiscomms.models.delivery import CHANNELS
from crisiscomms.statements.channel_rules import (
    LIMITS,
    ChannelSettings,
    bluesky_graphemes,
    channel_rules,
    graphemes,
    link_spans,
    mastodon_length,
    telegram_length,
    utf8_bytes,
    wechat_length,
    weibo_length,
    weibo_topic_tags,
    x_weighted_length,
)
from crisiscomms.errors import ChannelCheckFailed
from crisiscomms.statements.render import ChannelsConfig, Renderer, content_sha256, render

URL = "https://newsroom.bank.example/statements/2024-06-01-service-disruption"
FAMILY = "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466"
FLAG_CN = "\U0001F1E8\U0001F1F3"
ENGLAND = "\U0001F3F4\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F"
WAVE_MEDIUM = "\U0001F44B\U0001F3FD"
POEM = ("故人西辞黄鹤楼，烟花三月下扬州。孤帆远影碧空尽，唯见长江天际流。朱雀桥边野草花，乌衣巷口夕阳斜。"
        "旧时王谢堂前燕，飞入寻常百姓家。朝辞白帝彩云间，千里江陵一日还。两岸猿声啼不住，轻舟已过万重山。"
        "泪湿罗巾梦不成，夜深前殿按歌声。红颜未老恩先断，斜倚薰笼坐到明。独在异乡为异客，每逢佳节倍思亲。"
        "遥知兄弟登高处，遍插茱萸少一人。")

ZH = {"full": "我行注意到今日部分客户无法登录手机银行。\n技术团队已于15时恢复服务，客户资金安全不受影响。",
      "short": "我行手机银行今日短暂中断，已于15时恢复，客户资金安全不受影响。",
      "title": "关于手机银行服务中断的说明"}
EN = {"full": "Some customers could not log in to mobile banking today.\n\nService was restored at 15:00. "
              "Customer funds were not affected.",
      "short": "Mobile banking was briefly unavailable today and was restored at 15:00. Funds were not affected.",
      "title": "Mobile banking service disruption"}
HANT = {"full": "本行注意到今日部分客戶無法登入手機銀行。\n技術團隊已於15時恢復服務，客戶資金安全不受影響。",
        "short": "本行手機銀行今日短暫中斷，已於15時恢復，客戶資金安全不受影響。",
        "title": "關於手機銀行服務中斷的說明"}


# --------------------------------------------------------------------------- X (twitter-text v3)

@pytest.mark.parametrize(("text", "expected"), [
    ("This is a test.", 15),
    ("http://test.com", 23),
    ("https://test.com", 23),
    ("test.com", 23),
    ("Test https://test.com test https://test.com test.com test", 86),
    ("H\U0001F431\u263A" + FAMILY, 7),
    ("\U0001F637\U0001F47E\U0001F621\U0001F525\U0001F4A9", 10),
    ("\U0001F64B\U0001F3FD\U0001F468\u200D\U0001F3A4", 4),
    ("Unicode 10.0 emoji: \U0001F92A; \U0001F9D5; \U0001F9D5\U0001F3FE; " + ENGLAND, 34),
    ("Unicode 9.0 emoji: \U0001F920; \U0001F483; \U0001F483\U0001F3FE", 29),
    ("randomurlrandomurlrandomurlrandomurlrandomurlrandomurlrandomurls.com", 68),
    ("Long url: https://" + "somesuperlongurl" * 5 + ".com/foo https://validurl.com",
     len("Long url: https://" + "somesuperlongurl" * 5 + ".com/foo ") + 23),
    ("A\u0301B", 2),
    ("A\uFB2C", 4),
    ("This is a tweet with general punctuation characters: \u2000\u2001\u2002\u2003\u2004\u2005\u2006"
     "\u2007\u2008\u2009\u200A\u200B \u2010 \u2011 \u2012 \u2013 \u2014 \u2015 \u2016  \u2017 \u2018 \u2019 "
     "\u201A \u201B \u201C \u201D \u201E \u201F \u2032 \u2033 \u2034 \u2035 \u2036 \u2037", 110),
    (POEM, 320),
    ("the" + POEM, 323),
    ("285 chars- http://www.twitter.com/jack " + "xxxxxxxxxx-" * 24, 299),
])
def test_x_weighted_length_matches_twitter_text_conformance(text: str, expected: int) -> None:
    assert x_weighted_length(text) == expected


def test_x_280_ascii_is_valid_and_281_is_not() -> None:
    limit = LIMITS["x"].measures[0].limit
    assert limit == 280
    assert x_weighted_length("a" * 280) <= limit
    assert x_weighted_length("a" * 281) > limit


def test_x_cjk_counts_two_so_141_characters_are_over() -> None:
    assert x_weighted_length("の" * 140) == 280
    assert x_weighted_length("の" * 141) == 282


def test_x_url_counts_23_whatever_its_length() -> None:
    assert x_weighted_length("see https://a.io") == 4 + 23
    assert x_weighted_length("see " + URL + "/" + "x" * 200) == 4 + 23


def test_x_emoji_sequences_count_two() -> None:
    assert x_weighted_length("\U0001F600") == 2
    assert x_weighted_length(FAMILY * 140) == 280
    assert x_weighted_length(FLAG_CN) == 2
    assert x_weighted_length("1\uFE0F\u20E3") == 2


def test_x_normalises_to_nfc_first() -> None:
    decomposed = "e\u0301" * 280
    assert len(decomposed) == 560
    assert x_weighted_length(decomposed) == 280


# --------------------------------------------------------------------------- Mastodon

def test_mastodon_counts_any_scheme_url_as_23() -> None:
    assert mastodon_length("Read " + URL + "/" + "p" * 300) == 5 + 23
    assert mastodon_length("Read https://a.io") == 5 + 23


def test_mastodon_does_not_shorten_links_without_scheme() -> None:
    assert mastodon_length("bank.example.com") == 16


def test_mastodon_counts_only_username_of_remote_mention() -> None:
    assert mastodon_length("@press@mastodon.social hello") == len("@press hello")
    assert mastodon_length("cc @press") == 9
    assert mastodon_length("mail me at a@b.example") == len("mail me at a@b.example")


def test_mastodon_url_reservation_is_an_instance_parameter() -> None:
    assert mastodon_length("https://a.io", characters_reserved_per_url=30) == 30
    rules = channel_rules(ChannelSettings(mastodon_max_characters=1000, mastodon_characters_reserved_per_url=30))
    measure = rules["mastodon"].measures[0]
    assert (measure.limit, measure.count("https://a.io")) == (1000, 30)
    assert LIMITS["mastodon"].measures[0].limit == 500


def test_mastodon_counts_grapheme_clusters() -> None:
    assert mastodon_length(FAMILY + FLAG_CN) == 2


# --------------------------------------------------------------------------- Bluesky graphemes

@pytest.mark.parametrize(("text", "expected"), [
    ("hello", 5),
    (FAMILY, 1),
    (FLAG_CN, 1),
    (FLAG_CN + "\U0001F1ED\U0001F1F0", 2),
    (WAVE_MEDIUM, 1),
    (ENGLAND, 1),
    ("\u2764\uFE0F", 1),
    ("1\uFE0F\u20E3", 1),
    ("e\u0301\u0323", 1),
    ("\u1100\u1161\u11A8", 1),
    ("a\r\nb", 3),
    ("\U0001F600\u200Da", 2),
    ("中文", 2),
])
def test_grapheme_approximation(text: str, expected: int) -> None:
    assert bluesky_graphemes(text) == expected
    assert "".join(graphemes(text)) == text


def test_bluesky_limits_are_300_graphemes_and_3000_bytes() -> None:
    measures = {m.unit: m.limit for m in LIMITS["bluesky"].measures}
    assert measures == {"graphemes": 300, "UTF-8 bytes": 3000}
    assert bluesky_graphemes(FAMILY * 300) == 300
    assert utf8_bytes(FAMILY * 300) == 7500


# --------------------------------------------------------------------------- Telegram, Weibo, WeChat

def test_telegram_counts_utf16_code_units() -> None:
    assert telegram_length("abc") == 3
    assert telegram_length("中文") == 2
    assert telegram_length("\U0001F600") == 2
    assert telegram_length(FAMILY) == 11
    assert LIMITS["telegram"].measures[0].limit == 4096


def test_weibo_ascii_counts_half() -> None:
    assert weibo_length("a" * 280) == 280
    assert weibo_length("中" * 140) == 280
    assert weibo_length("中" * 141) == 282
    assert weibo_length("ab中") == 4
    assert weibo_length("é") == 2
    assert weibo_length("\U00020000") == 4
    assert LIMITS["weibo"].measures[0].limit == 280


def test_weibo_topic_tags_are_found_outside_links_only() -> None:
    assert weibo_topic_tags("我行 #服务公告# 说明") == 1
    assert weibo_topic_tags("详见 https://bank.example/a#b 与 https://bank.example/c#d") == 0


def test_wechat_title_and_digest_limits() -> None:
    limits = {m.field: m.limit for m in LIMITS["wechat"].measures if m.field != "text"}
    assert limits == {"title": 32, "digest": 120}
    assert wechat_length("标" * 32) == 32
    assert wechat_length("\U0001F600") == 2
    content = {m.unit: m.limit for m in LIMITS["wechat"].measures if m.field == "text"}
    assert content == {"characters": 19_999, "UTF-8 bytes": 999_999}


def test_link_spans_stop_at_cjk_and_trailing_punctuation() -> None:
    text = "详见" + URL + "。谢谢"
    assert link_spans(text) == [(2, 2 + len(URL))]
    assert link_spans("(see " + URL + ").") == [(5, 5 + len(URL))]
    assert link_spans("https://") == []


# --------------------------------------------------------------------------- the table

def test_limits_cover_every_channel_with_the_right_form() -> None:
    assert set(LIMITS) == set(CHANNELS)
    assert {c for c, r in LIMITS.items() if r.form == "full"} == {"newsroom", "webhook", "wechat"}
    assert {c for c, r in LIMITS.items() if r.links_newsroom} == {"x", "weibo", "mastodon", "bluesky", "telegram"}


# --------------------------------------------------------------------------- render()

@pytest.mark.parametrize("channel", ["x", "weibo", "mastodon", "bluesky", "telegram"])
def test_social_channels_carry_short_form_and_link(channel: str) -> None:
    r = render(ZH, channel, language="zh", newsroom_url=URL)
    assert r.text == ZH["short"] + "\n" + URL
    assert (r.channel, r.language, r.kind, r.title, r.digest, r.ok) == (channel, "zh", "statement", None, None, True)
    assert r.limit == LIMITS[channel].measures[0].limit
    assert r.unit == LIMITS[channel].measures[0].unit
    assert r.sha256 == content_sha256(r.text)


def test_x_rendering_length_counts_link_as_23() -> None:
    r = render(EN, "x", language="en", newsroom_url=URL)
    assert r.length == len(EN["short"]) + 1 + 23


@pytest.mark.parametrize(("language", "texts", "marker"), [("zh", ZH, "更正："), ("zh-Hant", HANT, "更正："),
                                                           ("en", EN, "Correction: ")])
def test_correction_is_marked_in_the_statement_language(language: str, texts: dict, marker: str) -> None:
    social = render(texts, "weibo", language=language, newsroom_url=URL, kind="correction")
    assert social.text.startswith(marker + texts["short"])
    newsroom = render(texts, "newsroom", language=language, newsroom_url=URL, kind="correction")
    assert newsroom.title == marker + texts["title"]
    assert newsroom.text == texts["full"]


def test_update_is_marked_and_an_existing_marker_is_not_doubled() -> None:
    assert render(EN, "x", language="en", newsroom_url=URL, kind="update").text.startswith("Update: Mobile")
    already = {**ZH, "short": "更正：" + ZH["short"]}
    assert render(already, "x", language="zh", newsroom_url=URL, kind="correction").text.startswith("更正：我行")


def test_full_text_channels() -> None:
    for channel in ("newsroom", "webhook"):
        r = render(EN, channel, language="en", newsroom_url=URL)
        assert (r.text, r.title, r.limit, r.ok) == (EN["full"], EN["title"], None, True)
        assert URL not in r.text
        assert r.sha256 == content_sha256(EN["full"], EN["title"])


def test_default_title_when_desk_gave_none() -> None:
    texts = {"full": ZH["full"], "short": ZH["short"]}
    assert render(texts, "newsroom", language="zh", newsroom_url=URL, kind="correction").title == "更正声明"
    assert render(texts, "newsroom", language="en", newsroom_url=URL).title == "Statement"


@pytest.mark.parametrize(("language", "titles"), [("zh", ("声明", "更正声明", "最新情况")),
                                                  ("zh-Hant", ("聲明", "更正聲明", "最新情況")),
                                                  ("en-GB", ("Statement", "Correction", "Update"))])
def test_a_default_title_is_in_the_statements_own_script(language: str, titles: tuple[str, str, str]) -> None:
    """Traditional Chinese has its own wording; a regional tag without its own reads its language's."""
    texts = {"full": HANT["full"], "short": HANT["short"]}
    assert tuple(render(texts, "newsroom", language=language, newsroom_url=URL, kind=kind).title
                 for kind in ("statement", "correction", "update")) == titles


def test_wechat_article_is_title_digest_and_escaped_paragraphs() -> None:
    texts = {**ZH, "full": "第一段 <b>A&B</b>\n\n　　第二段\n"}
    r = render(texts, "wechat", language="zh", newsroom_url=URL)
    assert r.title == ZH["title"]
    assert r.digest == ZH["short"]
    assert r.text == "<p>第一段 &lt;b&gt;A&amp;B&lt;/b&gt;</p><p>　　第二段</p>"
    assert r.sha256 == content_sha256(r.text, r.title, r.digest)
    assert r.sha256 != content_sha256(r.text)


def test_wechat_long_title_is_flagged_not_cut() -> None:
    title = "关" * 33
    r = render({**ZH, "title": title}, "wechat", language="zh", newsroom_url=URL)
    assert (r.ok, r.title, r.length, r.limit) == (False, title, 33, 32)


def test_text_is_nfc_normalised() -> None:
    texts = {"full": "Cafe\u0301", "short": "Cafe\u0301 open"}
    r = render(texts, "telegram", language="en", newsroom_url=URL)
    assert r.text == unicodedata.normalize("NFC", "Cafe\u0301 open") + "\n" + URL
    assert "\u0301" not in r.text


def test_nothing_is_truncated() -> None:
    long = {"full": "中" * 25_000, "short": "文" * 5_000, "title": "标" * 40}
    for channel in CHANNELS:
        r = render(long, channel, language="zh", newsroom_url=URL)
        if channel == "wechat":
            assert (r.text.count("中"), r.digest, r.title) == (25_000, long["short"], long["title"])
        else:
            source = long["full"] if LIMITS[channel].form == "full" else long["short"]
            assert source in r.text
        if channel not in ("newsroom", "webhook"):
            assert r.ok is False, channel
            assert r.length > r.limit


def test_hash_is_stable_and_changes_with_one_character() -> None:
    a = render(EN, "x", language="en", newsroom_url=URL)
    b = render(dict(EN), "x", language="en", newsroom_url=URL)
    c = render({**EN, "short": EN["short"][:-1] + "!"}, "x", language="en", newsroom_url=URL)
    assert a.sha256 == b.sha256
    assert len(a.sha256) == 64
    assert a.sha256 != c.sha256
    w1 = render(ZH, "wechat", language="zh", newsroom_url=URL)
    w2 = render({**ZH, "title": ZH["title"] + "。"}, "wechat", language="zh", newsroom_url=URL)
    assert w1.text == w2.text and w1.sha256 != w2.sha256


def test_render_refuses_what_cannot_be_published() -> None:
    with pytest.raises(ValueError, match="short text is empty"):
        render({**EN, "short": "  "}, "x", language="en", newsroom_url=URL)
    with pytest.raises(ValueError, match="newsroom_url"):
        render(EN, "weibo", language="en", newsroom_url="")
    with pytest.raises(ValueError, match="newsroom_url"):
        render(EN, "x", language="en", newsroom_url="newsroom.bank.example")
    with pytest.raises(ValueError, match="marker"):
        render(EN, "x", language="fr", newsroom_url=URL, kind="correction")


def test_rendering_is_frozen() -> None:
    r = render(EN, "x", language="en", newsroom_url=URL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.text = "changed"  # type: ignore[misc]


# --------------------------------------------------------------------------- Renderer (the Desk's and the Publisher's)

BILINGUAL = {"newsroom": ["zh", "en"], "x": ["zh", "en"], "weibo": ["zh"], "wechat": ["zh"], "mastodon": ["zh", "en"],
             "bluesky": ["zh", "en"], "telegram": ["zh", "en"], "webhook": ["zh", "en"]}


def _renderer(languages: dict[str, list[str]] | None = None) -> Renderer:
    config = ChannelsConfig.model_validate({
        "newsroom_base_url": "https://newsroom.bank.example",
        "channels": {c: {"languages": langs} for c, langs in (languages or BILINGUAL).items()},
    })
    return Renderer(config)


def _problems(text: dict, channels: list[str], *, kind: str = "statement", languages=None) -> list[dict]:
    with pytest.raises(ChannelCheckFailed) as refused:
        _renderer(languages).render_all("st-0123456789abcdef", text, channels, kind=kind, title=None)
    assert refused.value.status == 422
    return refused.value.details


def test_render_all_passes_a_good_bilingual_statement() -> None:
    out = _renderer().render_all("st-0123456789abcdef", {"zh": ZH, "en": EN}, list(CHANNELS), kind="statement", title=None)
    assert set(out) == {f"{c}#{lang}" for c, langs in BILINGUAL.items() for lang in langs}
    x = out["x#en"]
    assert x["text"].endswith("\nhttps://newsroom.bank.example/statements/st-0123456789abcdef.en.html")
    assert x["sha256"] == content_sha256(x["text"])


def test_render_all_reports_each_over_long_combination() -> None:
    zh = {**ZH, "short": "中" * 150}
    problems = _problems({"zh": zh, "en": EN}, ["x", "weibo", "bluesky"])
    url = "https://newsroom.bank.example/statements/st-0123456789abcdef.zh.html"
    x = render(zh, "x", language="zh", newsroom_url=url)
    assert [(p["channel"], p["language"], p["unit"]) for p in problems] == [("x", "zh", "weighted characters"),
                                                                         ("weibo", "zh", "half-width units")]
    assert problems[0]["message"] == f"x (zh): {x.length} weighted characters, limit 280"
    assert (problems[0]["length"], problems[0]["limit"]) == (x.length, 280)


def test_render_all_reports_a_channel_without_any_of_its_languages() -> None:
    problems = _problems({"en": EN}, ["weibo", "x", "newsroom"])
    assert [p["message"] for p in problems] == ["weibo publishes in zh, which the statement does not have"]


def test_render_all_publishes_each_channel_in_the_scripts_it_speaks() -> None:
    """A Hong Kong account speaks Traditional Chinese and English; the Mainland ones Simplified; the newsroom all three."""
    languages = {"newsroom": ["zh", "zh-Hant", "en"], "x": ["zh-Hant", "en"], "weibo": ["zh"], "telegram": ["zh-Hant"]}
    out = _renderer(languages).render_all("st-0123456789abcdef", {"zh": ZH, "zh-Hant": HANT, "en": EN},
                                          list(languages), kind="statement", title=None)
    assert sorted(out) == ["newsroom#en", "newsroom#zh", "newsroom#zh-Hant", "telegram#zh-Hant", "weibo#zh", "x#en",
                           "x#zh-Hant"]
    assert out["telegram#zh-Hant"]["text"] == (f"{HANT['short']}\n"
                                               "https://newsroom.bank.example/statements/st-0123456789abcdef.zh-Hant.html")
    assert out["newsroom#zh-Hant"]["title"] == HANT["title"] and out["newsroom#zh"]["title"] == ZH["title"]
    problems = _problems({"zh": ZH, "en": EN}, ["telegram"], languages=languages)
    assert [p["message"] for p in problems] == ["telegram publishes in zh-Hant, which the statement does not have"]


def test_a_channel_configured_in_an_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="zh-TW"):
        _renderer({"x": ["zh-TW"]})


def test_render_all_reports_an_unconfigured_channel() -> None:
    problems = _problems({"en": EN}, ["telegram"], languages={"x": ["en"]})
    assert [p["message"] for p in problems] == ["telegram is not configured for this deployment"]


def test_render_all_names_the_wechat_field_that_is_too_long() -> None:
    problems = _problems({"zh": {**ZH, "title": "標" * 40}}, ["wechat"], kind="correction")
    assert [p["message"] for p in problems] == ["wechat (zh): title 43 characters, limit 32"]
    assert problems[0]["field"] == "title"


def test_render_all_turns_render_errors_into_problems() -> None:
    problems = _problems({"zh": {**ZH, "short": ""}, "en": EN}, ["telegram"])
    assert [p["message"] for p in problems] == ["telegram (zh): the short text is empty"]


def test_render_delivery_renders_one_channel_and_fails_alone() -> None:
    statement = {"id": "st-0123456789abcdef", "kind": "statement",
                 "versions": [{"version": 1, "text": {"zh": {**ZH, "short": "中" * 150}, "en": EN}}]}
    renderer = _renderer()
    en = renderer.render_delivery(statement, {"version": 1, "channel": "x", "language": "en"})
    assert en == renderer.render_all(statement["id"], {"en": EN}, ["x"], kind="statement", title=None)["x#en"]
    with pytest.raises(ChannelCheckFailed, match="x \\(zh\\)"):
        renderer.render_delivery(statement, {"version": 1, "channel": "x", "language": "zh"})
