"""Property: scoring never raises and stays in range on arbitrary Unicode."""
from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crisiscomms.scoring import CRISIS_WEIGHT_CAP, score_text

PROPERTY = settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
LANGUAGES = {"en", "zh-Hans", "zh-Hant", "other"}
LABELS = {"negative", "neutral", "positive"}

# Anything a post can hold (lone surrogates included: a platform's JSON may carry them), plus
# text biased towards what the analysers look at: words of the lexicons, CJK, emoji, marks.
any_text = st.text(max_size=300)
words = st.sampled_from(["bank", "run", "not", "never", "frozen", "account", "can't", "withdraw", "ATM", "fraud",
                         "!!!", "?", "but", "挤兑", "不", "没有", "冻结", "银行", "擠兌", "倒闭", "已恢复", "辟谣",
                         "😡", "👍", "🏦", "\u200d", "\u0301", "ＢＡＮＫ", "RUN", "\"", "“", "”", "\n", " "])
biased = st.lists(words | st.text(max_size=5), max_size=60).map("".join)
counts = st.integers(min_value=0, max_value=10**12)


def _check(score) -> None:
    assert score.language in LANGUAGES
    assert math.isfinite(score.sentiment) and -1.0 <= score.sentiment <= 1.0
    assert score.sentiment_label in LABELS
    assert math.isfinite(score.tone) and -1.0 <= score.tone <= 1.0
    assert score.tone_label in LABELS
    assert math.isfinite(score.crisis_weight) and 0.0 <= score.crisis_weight <= CRISIS_WEIGHT_CAP
    assert isinstance(score.risk, int) and 0 <= score.risk <= 100
    assert score.reach >= 0 and score.engagement >= 0


@PROPERTY
@given(text=any_text, followers=counts, likes=counts, reposts=counts, replies=counts, quotes=counts)
def test_any_unicode_scores_in_range(text: str, followers: int, likes: int, reposts: int, replies: int,
                                     quotes: int) -> None:
    _check(score_text(text, followers=followers, likes=likes, reposts=reposts, replies=replies, quotes=quotes))


@PROPERTY
@given(text=biased, followers=counts)
def test_text_made_of_what_the_analysers_look_for_scores_in_range(text: str, followers: int) -> None:
    _check(score_text(text, followers=followers))


@PROPERTY
@given(text=biased, override=st.floats(min_value=-1.0, max_value=1.0))
def test_a_tone_override_keeps_everything_in_range(text: str, override: float) -> None:
    _check(score_text(text, tone_override=override))
