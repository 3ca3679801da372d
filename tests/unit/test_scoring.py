"""Unit tests of crisiscomms.scoring: each would fail if the behaviour it names broke."""
from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
import time

import pytest

from crisiscomms.scoring import (
    CRISIS_THRESHOLD,
    CRISIS_WEIGHT_CAP,
    Score,
    TermHit,
    detect_language,
    risk_formula,
    score_text,
)
from crisiscomms.scoring.risk import compute_risk


def hits(score: Score, *, negated: bool | None = None) -> list[TermHit]:
    return [h for h in score.crisis_terms if negated is None or h.negated == negated]


def categories(score: Score, *, negated: bool = False) -> set[str]:
    return {h.category for h in hits(score, negated=negated)}


# ---------------------------------------------------------------- language
@pytest.mark.parametrize("text, expected", [
    ("Is this a bank run? Queues everywhere", "en"),
    ("银行门口排了很长的队，大家都在取钱", "zh-Hans"),
    ("銀行門口排了很長的隊，大家都在領錢", "zh-Hant"),
    ("我喺北門儲蓄嘅戶口俾人凍結咗", "zh-Hant"),
    ("没有挤兑", "zh-Hans"),
    ("並沒有擠兌", "zh-Hant"),
    ("Bonjour, je suis à la banque et il n'y a pas de problème", "other"),
    ("Банк закрыт сегодня", "other"),
    ("銀行の前に長い列ができている", "other"),
    ("", "other"),
    ("12345 !!!", "other"),
    ("ＢＡＮＫ ＲＵＮ ａｔ ｔｈｅ ｂｒａｎｃｈ", "en"),
])
def test_detect_language(text, expected):
    assert detect_language(text) == expected


def test_mixed_posts_take_the_dominant_script():
    assert detect_language("我的HSBC account被冻结了，怎么办") == "zh-Hans"
    assert detect_language("Harbor Bank app 又崩了 again, seriously how hard is it") == "en"
    assert detect_language("港灣銀行 app 又 crash 咗，今日出糧都睇唔到") == "zh-Hant"


def test_score_reports_the_language():
    assert score_text("Harbor Bank app down again").language == "en"
    assert score_text("港湾银行app又崩了").language == "zh-Hans"


# ---------------------------------------------------------------- crisis terms and negation
def test_bank_run_question_is_negative_leaning_with_a_bank_run_hit():
    s = score_text("Is this a bank run?")
    assert s.tone < 0
    assert [h.category for h in hits(s, negated=False)] == ["bank_run"]
    assert s.is_crisis


@pytest.mark.parametrize("text", [
    "not a bank run",
    "This is not a bank run, people",
    "There is no bank run at Harbor Bank",
    "Harbor Bank isn’t facing a bank run",
    "Rumours of a bank run at Harbor Bank are false",
    "Bank run? No. It's the first of the month and pensioners collect cash.",
])
def test_negated_bank_run(text):
    s = score_text(text)
    assert categories(s, negated=True) == {"bank_run"}
    assert not hits(s, negated=False)
    assert s.crisis_weight == 0 and not s.is_crisis


@pytest.mark.parametrize("text", ["没有挤兑", "並沒有擠兌", "港湾银行不存在挤兑", "示例银行挤兑？不存在的",
                                  "挤兑纯属谣言", "港湾银行辟谣：网传挤兑消息不实"])
def test_negated_chinese_bank_run(text):
    s = score_text(text)
    assert categories(s, negated=True) == {"bank_run"}
    assert s.crisis_weight == 0 and not s.is_crisis


def test_rhetorical_negation_is_not_a_denial():
    # the question mark turns "no bank run" into disbelief
    s = score_text("示例银行没有挤兑？那门口那几百号人是来干嘛的")
    assert "bank_run" in categories(s)
    s = score_text("They say there's no bank run at Northgate. Then why is the queue 3 hours long?")
    assert "bank_run" in categories(s)
    # 谁说 ("who says") is itself rhetorical: still a denial
    s = score_text("谁说示例银行要暴雷？人家刚发了年报，利润涨了")
    assert not hits(s, negated=False)


@pytest.mark.parametrize("text, folded, category", [
    ("港湾银行发生擠兌", "挤兑", "bank_run"),
    ("我的銀行帳戶被凍結了", "帐户被冻结", "frozen_accounts"),
    ("聽說北門儲蓄要倒閉", "倒闭", "insolvency"),
    ("示例銀行數據洩露", "数据泄露", "data_breach"),
    ("示例銀行客戶資料外洩", "资料外泄", "data_breach"),
    ("港灣銀行系統大當機", "当机", "outage"),
    ("港灣銀行話冇擠提，咁門口嗰幾百人係咪排隊買餅？", "挤提", "bank_run"),
    # Hong Kong and Taiwan wording of a regulator, an arrest, a rating and a sale
    ("金管會對港灣銀行開罰1200萬", "开罚", "regulator"),
    ("金管會對北門儲蓄啟動專案檢查", "专案检查", "regulator"),
    ("廉署拘捕港灣銀行兩名高層", "廉署拘捕", "fraud"),
    ("中華信評將港灣銀行信用評等調降至BBB", "信用评等调降", "insolvency"),
    ("港灣銀行擬放售香港業務，正搵買家", "搵买家", "insolvency"),
])
def test_traditional_forms_match_the_simplified_lexicon(text, folded, category):
    s = score_text(text)
    assert any(h.category == category and folded in h.matched for h in hits(s, negated=False)), \
        s.crisis_terms


@pytest.mark.parametrize("text", ["港灣銀行網傳擠提片段屬偽造，別再傳了", "港灣銀行擠提片段係舊片",
                                  "網傳港灣銀行擠兌是假訊息"])
def test_a_traditional_debunk_negates_the_run_it_names(text):
    s = score_text(text)
    assert categories(s, negated=True) == {"bank_run"} and not hits(s, negated=False), s.crisis_terms
    assert s.crisis_weight == 0 and not s.is_crisis


def test_negated_traditional_insolvency():
    s = score_text("北門儲蓄銀行並沒有倒閉，只是分行裝修")
    assert categories(s, negated=True) == {"insolvency"}
    assert not s.is_crisis
    # without a bank in sight the ambiguous 倒闭 is still reported, negated and weightless
    s = score_text("並沒有倒閉")
    assert [(h.matched, h.negated) for h in s.crisis_terms] == [("倒闭", True)]
    assert s.crisis_weight == 0


@pytest.mark.parametrize("text", [
    "Charity run this Sunday, sponsored by Harbor Bank!",
    "Example Bank's \"Run for Hope\" raised £80,000 for the children's hospital",
    "Sitting on the river bank, my fingers are frozen",
    "Frozen yoghurt stand opened next to the Harbor Bank branch",
    "我的冻结肩又疼了",
    "冰箱冷冻室结冰太厚，抽屉冻结得打不开了",
    "Had a lovely picnic on the river bank, the lake was completely frozen",
    "今天股票又崩了，还好钱都存在港湾银行定期里",
])
def test_no_crisis_outside_banking(text):
    s = score_text(text)
    assert not hits(s, negated=False), s.crisis_terms
    assert not s.is_crisis


@pytest.mark.parametrize("text", ["Harbor Bank completes £500m bond issue", "Northgate Savings prices its debt issues",
                                  "Example Bank share issue oversubscribed"])
def test_an_issue_of_securities_is_no_event(text):
    """A bond issue is a bank's routine funding, not "an issue" (a problem) that the event words count."""
    from crisiscomms.scoring import polarity_inputs
    assert polarity_inputs(text)[2][2] == 0.0          # the event valence


def test_a_bond_issue_is_no_crisis_and_an_issue_with_the_app_still_an_event():
    """The event word made the bond issue a crisis (risk 12) where "bond sale" was none."""
    from crisiscomms.scoring import polarity_inputs
    assert not score_text("Harbor Bank completes £500m bond issue").is_crisis
    assert polarity_inputs("Harbor Bank has an issue with its app again")[2][2] < 0


def test_ambiguous_terms_fire_in_a_banking_context():
    assert "frozen_accounts" in categories(score_text("My bank account has been frozen for a week"))
    assert "frozen_accounts" in categories(score_text("港湾银行把我的卡冻结了"))
    assert "outage" in categories(score_text("Harbor Bank online banking is down again"))
    assert "insolvency" in categories(score_text("Harbor Bank is about to collapse"))


@pytest.mark.parametrize("text, category", [
    ("Can't withdraw my money from Harbor Bank, the ATMs are empty", "withdrawal"),
    ("Northgate Savings has paused online withdrawals", "withdrawal"),
    ("Example Bank data breach: customer records leaked", "data_breach"),
    ("Harbor Bank app down again", "outage"),
    ("Meridian Mutual laid off my entire team today", "layoffs"),
    ("Regulator opens probe into Crestview Trust", "regulator"),
    ("Crestview Trust CEO fled the country", "executives"),
    ("Example Bank embezzlement scandal grows", "fraud"),
    ("港湾银行app崩了，取不出钱", "withdrawal"),
    ("星河银行董事长失联", "executives"),
    ("港湾银行宣布裁员三千人", "layoffs"),
    ("监管部门对星河商业银行立案调查", "regulator"),
])
def test_bilingual_crisis_categories(text, category):
    assert category in categories(score_text(text))


def test_negated_hits_do_not_count():
    s = score_text("Harbor Bank account was not frozen")
    assert hits(s) and all(h.negated for h in hits(s))
    assert s.crisis_weight == 0


def test_crisis_weight_is_capped_and_is_crisis_follows_the_threshold():
    s = score_text("Bank run at Harbor Bank! Withdrawals halted, accounts frozen, data breach, "
                   "CEO fled, insolvency, fraud, layoffs")
    assert s.crisis_weight == CRISIS_WEIGHT_CAP
    assert s.is_crisis
    assert score_text("Harbor Bank app down").crisis_weight >= CRISIS_THRESHOLD
    assert not score_text("Harbor Bank opens a new branch on Elm Street").is_crisis


def test_term_hit_reports_the_matched_span():
    (h,) = hits(score_text("There's a bank run at Harbor Bank"))
    assert h == TermHit(term="bank run", category="bank_run", weight=3.0, negated=False,
                        matched="bank run")


def test_full_width_and_curly_apostrophes_are_normalised():
    s = score_text("ＢＡＮＫ ＲＵＮ at Harbor Bank")
    assert "bank_run" in categories(s)
    s = score_text("Harbor Bank can’t let me withdraw, it’s not a bank run they say")
    assert "bank_run" in categories(s, negated=True)


# ---------------------------------------------------------------- tone (the author's; polarity is reputation.py's)
@pytest.mark.parametrize("text, label", [
    ("Great service at the Harbor Bank branch today, thank you!", "positive"),
    ("Harbor Bank app down AGAIN. Can't even check my balance 😡", "negative"),
    ("Harbor Bank announces new CFO effective next month", "neutral"),
    ("港湾银行的客服态度很好，问题很快就解决了，点赞👍", "positive"),
    ("港湾银行app又崩了，气死了", "negative"),
    ("示例银行宣布任命新任行长", "neutral"),
])
def test_tone_labels(text, label):
    assert score_text(text).tone_label == label


def test_negation_flips_and_degree_scales():
    assert score_text("the Harbor Bank staff were not helpful").tone < 0
    assert score_text("港湾银行的服务不好").tone < 0
    assert score_text("港湾银行服务非常好").tone > score_text("港湾银行服务有点好").tone > 0


def test_hedges_and_questions_soften_but_do_not_flip():
    plain = score_text("My Harbor Bank account is frozen and my money is stuck").tone
    hedged = score_text("Is my Harbor Bank account frozen? I heard my money might be stuck").tone
    assert plain < hedged < 0
    assert score_text("港湾银行是不是要倒闭了？").tone < 0


def test_but_clause_shift():
    s = score_text("Harbor Bank app was down this morning but the branch staff were amazing, "
                   "sorted my transfer manually. Thank you!")
    assert s.tone_label == "positive"
    assert "outage" in categories(s)


def test_sarcasm_next_to_a_crisis():
    s = score_text("Thanks Example Bank for leaking my data. Stellar work.")
    assert s.tone_label == "negative"
    s = score_text("呵呵，港湾银行真是“稳如泰山”，取个钱都要排三小时")
    assert s.tone_label == "negative"


def test_headline_about_a_crisis_is_a_neutral_tone_but_a_complaint_is_negative():
    news = score_text("Breaking: regulator opens probe into Crestview Trust over missing deposits")
    rant = score_text("My Crestview Trust account is frozen and nobody will tell me why!!")
    assert news.is_crisis and news.tone_label == "neutral"
    assert rant.is_crisis and rant.tone_label == "negative"


def test_emoji_carry_valence():
    assert score_text("Harbor Bank 🎉🎉").tone > 0
    assert score_text("Harbor Bank 😡😡").tone < 0
    assert score_text("Harbor Bank 🤬").tone < 0   # not in the table: from its Unicode name


@pytest.mark.parametrize("text", [
    "", " ", "!!!!!!!!!!!!!!!!!!!!!!", "GREAT GREAT GREAT AMAZING AMAZING LOVE LOVE BEST!!!!",
    "terrible awful worst disgusting scam fraud bank run " * 20,
    "😡" * 50, "好" * 300, "不" * 100 + "好", "挤兑" * 100, "a'b'c'd'''", "#BankRun @HarborBank",
    "\u200b\u200d\ufeff", "𠀀𠀁 ok",
])
def test_polarity_and_tone_within_bounds(text):
    s = score_text(text)
    assert -1.0 <= s.sentiment <= 1.0 and -1.0 <= s.tone <= 1.0
    assert s.tone_label in ("negative", "neutral", "positive")
    assert 0 <= s.risk <= 100
    assert s.sentiment_label in ("negative", "neutral", "positive")


def test_a_tone_override_replaces_the_tone_and_polarity_still_reads_it():
    text = "My Harbor Bank account is frozen, can't withdraw anything"
    own = score_text(text, followers=50_000)
    pos = score_text(text, followers=50_000, tone_override=0.9)
    neg = score_text(text, followers=50_000, tone_override=-0.9)
    assert pos.tone == 0.9 and pos.tone_label == "positive"
    assert neg.tone == -0.9 and neg.tone_label == "negative"
    assert pos.crisis_terms == own.crisis_terms and pos.crisis_weight == own.crisis_weight
    # polarity is the model's, the tone one of its inputs: a kinder tone never makes it worse
    assert neg.sentiment < pos.sentiment and neg.risk >= pos.risk
    assert score_text(text, tone_override=5).tone == 1.0
    assert score_text(text, tone_override=-5).tone == -1.0
    assert score_text(text, tone_override=float("nan")).tone == 0.0


def test_reach_and_engagement_are_reported():
    s = score_text("hello", followers=1234, likes=1, reposts=2, replies=3, quotes=4)
    assert s.reach == 1234 and s.engagement == 10
    s = score_text("hello", followers=-5, likes=-1)
    assert s.reach == 0 and s.engagement == 0


# ---------------------------------------------------------------- risk
CRISIS_POST = "Can't withdraw my money from Harbor Bank!! Is this a bank run? 😱"


def test_big_account_crisis_post_outranks_small_account():
    big = score_text(CRISIS_POST, followers=2_000_000, likes=20_000, reposts=8_000)
    small = score_text(CRISIS_POST, followers=40, likes=1)
    assert big.risk >= 1.5 * small.risk
    assert big.risk >= 75
    assert 15 <= small.risk <= 55        # a lone crisis post from a tiny account: moderate
    lone = score_text("Harbor Bank app down again 😡", followers=40, likes=1)
    assert 15 <= lone.risk <= 45


def test_positive_or_neutral_viral_post_scores_low():
    viral = dict(followers=5_000_000, likes=200_000, reposts=50_000, replies=9_000, quotes=1_000)
    assert score_text("Harbor Bank's new app is brilliant, thank you! 🎉", **viral).risk <= 5
    assert score_text("Harbor Bank announces new branch opening hours", **viral).risk <= 5


def test_risk_is_monotonic_in_each_input():
    weights = [0, 0.5, 1, 2, 3, 4.5, 6]
    sentiments = [1, 0.5, 0, -0.25, -0.5, -0.75, -1]          # more negative -> riskier
    followers = [0, 1, 10, 1_000, 100_000, 1_000_000, 50_000_000]
    engagement = [0, 1, 10, 100, 10_000, 1_000_000]
    for w in weights:
        for s in sentiments:
            for f in followers:
                series = [compute_risk(w, s, f, e) for e in engagement]
                assert series == sorted(series)
            series = [compute_risk(w, s, f, 100) for f in followers]
            assert series == sorted(series)
        series = [compute_risk(w, s, 1000, 100) for s in sentiments]
        assert series == sorted(series)
    for s in sentiments:
        series = [compute_risk(w, s, 1000, 100) for w in weights]
        assert series == sorted(series)
    assert all(0 <= compute_risk(w, s, 10**9, 10**9) <= 100 for w in weights for s in sentiments)


def test_risk_monotonic_through_score_text():
    prev = -1
    for f in (0, 10, 1_000, 100_000, 10_000_000):
        r = score_text(CRISIS_POST, followers=f).risk
        assert r >= prev
        prev = r
    prev = -1
    for likes in (0, 10, 1_000, 100_000):
        r = score_text(CRISIS_POST, followers=1000, likes=likes).risk
        assert r >= prev
        prev = r


def test_risk_formula_is_documented():
    formula = risk_formula()
    for part in ("crisis_weight", "sentiment", "followers", "engagement", "log10", "100"):
        assert part in formula
    import crisiscomms.scoring.risk as risk_module
    assert "log10" in risk_module.__doc__


# ---------------------------------------------------------------- types, determinism, speed
def test_result_types_are_frozen_slotted_dataclasses():
    s = score_text("Is this a bank run?")
    for obj, field in ((s, "risk"), (s.crisis_terms[0], "weight")):
        assert dataclasses.is_dataclass(obj)
        assert not hasattr(obj, "__dict__")
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, field, 0)
    assert isinstance(s.crisis_terms, tuple)
    assert isinstance(s.risk, int) and isinstance(s.reach, int)


SAMPLES = [
    "Is this a bank run?", "港湾银行app崩了，取不出钱，气死了😡", "並沒有擠兌",
    "Great service today, thanks Harbor Bank!", "Harbor Bank data breach: records leaked",
    "示例銀行客戶資料外洩", "Not a bank run, the queue outside is for the coffee promo ☕",
]


def test_deterministic_within_a_process():
    first = [score_text(t, followers=123, likes=4) for t in SAMPLES]
    second = [score_text(t, followers=123, likes=4) for t in SAMPLES]
    assert first == second


def test_deterministic_across_processes_and_hash_seeds():
    code = ("from crisiscomms.scoring import score_text\n"
            f"for t in {SAMPLES!r}:\n"
            "    print(repr(score_text(t, followers=123, likes=4)))\n")
    outputs = set()
    for seed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True).stdout
        outputs.add(out)
    assert len(outputs) == 1
    assert outputs.pop().count("Score(") == len(SAMPLES)


def test_throughput_floor():
    # a generous floor: the measured figure is many times higher (see the README)
    post_en = ("Harbor Bank app has been down all morning and I can't withdraw cash, "
               "is this a bank run? 😡")
    post_zh = "港湾银行app又崩了，钱取不出来，门口排了好长的队，是不是要挤兑了？大家赶紧去取钱吧"
    posts = [post_en, post_zh] * 500
    start = time.perf_counter()
    for p in posts:
        score_text(p, followers=100, likes=5)
    rate = len(posts) / (time.perf_counter() - start)
    assert rate > 1000, f"{rate:.0f} posts/s"


def test_sentiment_is_finite_and_rounded():
    s = score_text("Harbor Bank!!! 😡😡😡 SCAM SCAM SCAM")
    assert math.isfinite(s.sentiment)
    assert s.sentiment == round(s.sentiment, 4)


def test_a_reported_fix_weighs_less_in_risk_but_an_angry_one_does_not() -> None:
    from crisiscomms.scoring import score_text

    reach = {"followers": 250_000, "likes": 3000, "reposts": 2500}
    outage = score_text("Harbor Bank app is down, I cannot log in", **reach)
    fixed = score_text("The Harbor Bank app outage has been fixed and service is restored. Thank you for your patience.", **reach)
    fixed_zh = score_text("港湾银行部分ATM因线路故障取款延迟，现已恢复。", **reach)
    angry = score_text("Harbor Bank app was down for hours, restored now but I am furious and moving my money!", **reach)
    assert fixed.is_crisis and fixed.risk < outage.risk / 2
    assert fixed_zh.risk < 25
    assert angry.risk > fixed.risk
