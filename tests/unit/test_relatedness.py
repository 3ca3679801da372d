"""Entity filtering: a post found only through a topic's ambiguous names counts only when it is about the bank."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from crisiscomms.listening.relatedness import RELATED_AT, _Words, fold, judge
from crisiscomms.listening.topics import Relation, TopicMatcher
from crisiscomms.models import Post
from crisiscomms.watch import Topic, build_x_query, parse_watch_config


@pytest.mark.parametrize(("text", "ambiguous", "related"), [
    # ordinary words and other organisations: every occurrence in another sense
    ("祝大家平安夜快乐，一路平安！", ["平安"], False),
    ("平平安安过大年", ["平安"], False),
    ("平安好医生的问诊体验还不错", ["平安"], False),
    ("中国平安发布一季度业绩", ["平安"], False),
    ("招商局集团发布年度社会责任报告", ["招商"], False),
    ("我市招商引资再签约五个项目", ["招商"], False),
    ("把传统文化发扬光大", ["光大"], False),
    ("两会代表关注民生问题", ["民生"], False),
    ("恒生指數今日收跌三百點", ["恒生"], False),
    ("國泰航空航班延誤了三個小時", ["國泰", "Cathay"], False),
    ("週末去爬玉山看日出", ["玉山"], False),
    ("世界和平，从我做起", ["和平"], False),
    # the other sense by its world, not its collocation
    ("买了平安的车险，理赔太慢了", ["平安"], False),
    ("Cathay 成班機cancel咗，機場櫃位改票條隊好似擠提咁", ["國泰", "Cathay"], False),    # a counter, but an airline's
    ("歷史科溫書：巴黎和平會議同六十年代銀行擠提潮點樣寫essay", ["和平"], False),
    ("太子嗰間Pinecone咖啡話下個月執笠，佢哋嘅拿鐵真係好飲", ["Pinecone"], False),
    ("Lakeshore 5k fun run descended into chaos when the timing chips froze", ["Lakeshore"], False),
    ("今晚的星河真美，满天星星", ["星河"], False),
    # banking after the name, or in the post
    ("平安APP又崩了，转账转不出去", ["平安"], True),
    ("平安的信用卡额度太低了", ["平安"], True),
    ("去平安办了张卡，柜员很耐心", ["平安"], True),
    ("招商的客服态度真差，等了四十分钟", ["招商"], True),
    ("光大理财产品是不是暴雷了？", ["光大"], True),
    ("民生信用卡还款日能延期吗", ["民生"], True),
    ("恒生櫃員機吞咗我張卡", ["恒生"], True),
    ("國泰的信用卡年費好貴", ["國泰", "Cathay"], True),
    ("玉山網銀今天登不進去", ["玉山"], True),
    # English: the verb, the common noun, places and other names
    ("Chase the dream, not the money", ["Chase"], False),
    ("Police chase ends in crash on the interstate", ["Chase"], False),
    ("Great game at Chase Center tonight!", ["Chase"], False),
    ("cut to the chase, the Fed is not cutting rates", ["Chase"], False),
    ("Discover new ways to travel this summer", ["Discover"], False),
    ("Our fellow citizens deserve better roads", ["Citizens"], False),
    ("The US remains a close ally of Japan", ["Ally"], False),
    ("Cathay Pacific cancelled my flight", ["Cathay"], False),
    ("I love Chase", ["Chase"], False),                                  # a capital alone says too little
    ("Chase app is down again, cannot log in", ["Chase"], True),
    ("Is Discover a good bank for savings?", ["Discover"], True),        # "a" after a mid-sentence capital
    ("Citizens froze my account without any notice", ["Citizens"], True),
    ("Ally savings rate dropped again", ["Ally"], True),
    ("chase app down for everyone lol", ["Chase"], True),              # an all-lower-case writer
    ("Waited an hour on hold with Chase, customer service is a joke", ["Chase"], True),
    # a person, an owner, a product, a collapse, an amount
    ("王和平说他明天不来了", ["和平"], False),
    ("Northgate's mobile app finally has dark mode", ["Northgate"], True),
    ("星河是不是要倒闭了？我的钱还在里面", ["星河"], True),
    ("玉山的Pi卡回饋又縮水了", ["玉山"], True),
    ("heard Meridian only lets you take $500 out a day now", ["Meridian"], True),
    ("Crestview Elementary raised $2,000 at the bake sale", ["Crestview"], False),
    # an institution acting on the writer, or its staff; a city acts on no one's account
    ("Discover raised my limit without asking", ["Discover"], True),
    ("Chase logged me out again.", ["Chase"], True),
    ("Chase staff were lovely today", ["Chase"], True),
    ("Meridian approves new high school plans", ["Meridian"], False),
    ("Chase logged four hours of overtime", ["Chase"], False),
    # Hong Kong and Taiwan banking words, banks' apps; the same frame without them
    ("玉山金融卡今天刷不過", ["玉山"], True),
    ("去年在玉山開了薪轉戶", ["玉山"], True),
    ("安信碌卡簽賬有冇積分", ["安信"], True),
    ("招商的掌上生活又要重新绑卡", ["招商"], True),
    ("去年在玉山看了日出", ["玉山"], False),
    # promotions: two speak for a card or an app, one is not enough (招商 as investment promotion)
    ("民生这周的立减又秒没了", ["民生"], True),
    ("招商优惠政策吸引企业落户", ["招商"], False),
    # Traditional forms the scorer's table does not fold: 回饋 is 回馈
    ("玉山這期回饋又縮水了", ["玉山"], True),
])
def test_relatedness(text: str, ambiguous: list[str], related: bool) -> None:
    decision = judge(text, ambiguous)
    assert decision.related is related, decision
    assert (decision.score >= RELATED_AT) is related


def test_one_bank_sense_outweighs_other_senses_in_the_same_post() -> None:
    assert judge("平安夜还在加班，平安信用卡又被盜刷了", ["平安"]).related
    assert not judge("平安夜快乐！", ["平安"]).related


def test_the_judgement_says_why() -> None:
    signs = judge("平安夜快乐，一路平安", ["平安"]).signs
    assert signs == ("other sense: 平安夜", "other sense: 一路平安")
    assert "bank: Chase app" in judge("Chase app is down", ["Chase"]).signs


def test_traditional_and_simplified_are_one_name() -> None:
    assert judge("國泰的信用卡年費好貴", ["国泰"]).related
    assert judge("国泰的信用卡年费好贵", ["國泰"]).related


def test_the_lists_traditional_forms_fold_where_the_scorers_table_does_not() -> None:
    assert fold("回饋 聖誕 養老 滙豐 節日") == "回馈 圣诞 养老 汇丰 节日"


def test_the_organisation_sign_names_the_act() -> None:
    assert judge("Discover raised my limit", ["Discover"]).signs == ("organisation: Discover raised my",)
    assert judge("Ally's CEO spoke today", ["Ally"]).signs[0] == "organisation: Ally's CEO"


def test_a_list_term_that_is_ascii_must_be_an_english_word_or_phrase() -> None:
    # ASCII texts skip the Chinese terms, so an ASCII term filed among them would never be found
    with pytest.raises(ValueError):
        _Words(("a+b",))


def _post(text: str, *, author: str = "someone", to_bank: bool = False) -> Post:
    return Post(platform="x", native_id="1", source_type="social", source_id="s", url="u", author=author,
                text=text, to_bank=to_bank, published_at=datetime(2026, 11, 28, tzinfo=timezone.utc))


MATCHER = TopicMatcher([
    Topic(id="pingan", names=["平安银行", "Ping An Bank"], ambiguous=["平安"]),
    Topic(id="chase", names=["Chase Bank", "JPMorgan Chase"], accounts=["@Chase"], ambiguous=["Chase"],
          exclude=["Chase Elliott"]),
], bank_accounts=["平安银行"])


@pytest.mark.parametrize(("text", "relation"), [
    ("平安银行的网点排长队", Relation(("pingan",))),                     # an unambiguous name: no judgement
    ("平安银行平安夜不营业", Relation(("pingan",))),                      # ... even beside another sense
    ("平安APP转账失败", Relation(("pingan",))),
    ("平安夜快乐", Relation((), ("pingan",))),
    ("Chase app froze my card, what a 平安夜", Relation(("chase",), ("pingan",))),  # one topic, not the other
    ("Chase Elliott wins again", Relation(())),                          # an exclusion still vetoes
    ("chasing rainbows", Relation(())),                                  # whole words
    ("JPMorgan Chase the dream", Relation(("chase",))),
    ("Chase的app又崩了", Relation(("chase",))),                           # a Latin name ends at Chinese text
    ("Chasers的聚会", Relation(())),                                     # ... but not inside a Latin word
])
def test_the_matcher_relates_each_topic_found(text: str, relation: Relation) -> None:
    assert MATCHER.relate(_post(text)) == relation
    assert set(MATCHER.match(_post(text))) == set(relation.related) | set(relation.unrelated)


def test_the_banks_own_posts_and_posts_addressing_it_are_related() -> None:
    assert MATCHER.relate(_post("平安夜快乐")) == Relation((), ("pingan",))
    assert MATCHER.relate(_post("平安夜快乐", author="平安银行")) == Relation(("pingan",))
    assert MATCHER.relate(_post("平安夜快乐", to_bank=True)) == Relation(("pingan",))


def test_a_name_listed_among_the_names_and_as_ambiguous_is_judged() -> None:
    matcher = TopicMatcher([Topic(id="harbor", names=["Harbor Bank", "Harbor", "港湾"], ambiguous=["harbor", "港湾"])])
    assert matcher.relate(_post("Foggy morning at the harbor")) == Relation((), ("harbor",))
    assert matcher.relate(_post("周末去港湾公园看海")) == Relation((), ("harbor",))
    assert matcher.relate(_post("Harbor Bank froze my account")) == Relation(("harbor",))     # the full name is certain
    assert matcher.relate(_post("港湾的ATM取不出钱")) == Relation(("harbor",))                # judged: banking words


def test_ambiguous_names_are_searched_for_and_configured_with_the_topic() -> None:
    config = parse_watch_config({"topics": [{"id": "pingan", "names": ["平安银行"], "ambiguous": ["平安"]}],
                                 "accounts": {"weibo": {"handle": "平安银行"}}})
    assert config.topics[0].ambiguous == ["平安"]
    assert build_x_query(config.topics) == "(平安银行 OR 平安銀行 OR 平安) -is:retweet"
    matcher = TopicMatcher.for_watch(config)
    assert matcher.relate(_post("平安夜快乐", author="平安银行")) == Relation(("pingan",))


def test_the_evaluation_scores_the_ambiguous_name_posts_of_each_split_and_lists_only_devs(tmp_path) -> None:
    import json

    from crisiscomms_local.evaluate_relatedness import evaluate, render
    from crisiscomms_local.labelled_set import sha256_file, write_jsonl

    (tmp_path / "entities.json").write_text(json.dumps({
        "_about": "", "pingan": {"names": ["平安银行"], "ambiguous": ["平安"]}, "any": {"names": [], "ambiguous": []},
    }), encoding="utf-8")

    def row(pid: str, text: str, related: bool, styles: tuple[str, ...] = ("ambiguous_name",)) -> dict:
        return {"id": pid, "lang": "zh-Hans", "platform": "weibo", "entity": "pingan", "styles": list(styles),
                "text": text, "related": related, "polarity": "neutral", "crisis": False, "narrative": "none"}

    write_jsonl(tmp_path / "dev.jsonl", [
        row("d1", "平安夜快乐", False), row("d2", "平安APP转账失败", True),
        row("d3", "平安也挺好", True),                                       # wrong: nothing speaks for the bank
        row("d4", "平安银行网点排队", True, styles=("routine",)),              # not an ambiguous-name post
    ])
    write_jsonl(tmp_path / "test.jsonl", [row("t1", "一路平安", False), row("t2", "他说了句话", True)])
    (tmp_path / "FROZEN").write_text(f"sha256 {sha256_file(tmp_path / 'test.jsonl')}  test.jsonl\n", encoding="utf-8")
    result = evaluate(tmp_path)
    assert result["splits"]["dev"]["posts"] == 3 and result["splits"]["dev"]["accuracy"] == 0.667
    assert result["splits"]["test"]["accuracy"] == 0.5
    assert result["splits"]["test"]["how"] == {"judged:right": 1, "not found:wrong": 1}
    assert [e["id"] for e in result["dev_errors"]] == ["d3"], "test posts are never listed"
    assert result["test_hash"] == "matches FROZEN"
    assert "0.667" in render(result) and "他说了句话" not in render(result, errors=True)
    (tmp_path / "test.jsonl").write_text("", encoding="utf-8")
    assert evaluate(tmp_path)["test_hash"] == "DIFFERS from FROZEN"
