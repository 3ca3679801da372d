"""Alert SMS texts: the encoding decides the limit, and every text fits one message."""
from __future__ import annotations

import itertools

import pytest

from crisiscomms.detection.levels import Level
from crisiscomms.detection.sms import (
    ACK_HINT,
    GSM7_LIMIT,
    UCS2_LIMIT,
    compose_sms,
    fits_one_sms,
    is_gsm7,
    sms_length,
    sms_segments_limit,
    sms_text,
)

ALERT_ID = "20261128-0915"


@pytest.mark.parametrize(("text", "gsm7"), [
    ("Acme Bank: 82% negative @ 09:15", True),
    ("Ça va? Øre £5 ¥3 ΔΩ ÄÖÑÜ äöñüà ¿¡ §", True),
    ("brackets [] {} ~ | \\ ^ €", True),
    ("ça va", False),  # only the capital Ç is in the basic set
    ("中国银行", False),
    ("Acme Bank …", False),
    ("emoji 🙂", False),
    ("`backtick`", False),
])
def test_gsm7_detection_follows_gsm_03_38(text: str, gsm7: bool) -> None:
    assert is_gsm7(text) is gsm7
    assert sms_segments_limit(text) == (GSM7_LIMIT if gsm7 else UCS2_LIMIT)


def test_extension_characters_count_two() -> None:
    assert sms_length("a€b") == 4 and sms_length("{}[]") == 8
    assert fits_one_sms("€" * 80) and not fits_one_sms("€" * 81)
    assert fits_one_sms("a" * 160) and not fits_one_sms("a" * 161)


def test_ucs2_counts_utf16_code_units() -> None:
    assert sms_length("中国") == 2 and sms_length("🙂") == 2
    assert fits_one_sms("中" * 70) and not fits_one_sms("中" * 71)


def test_a_short_alert_keeps_everything() -> None:
    text = sms_text(Level.CRISIS, "Acme Bank", "social volume 9.5x baseline (z 12.3)", ALERT_ID)
    assert text == f"CRISIS Acme Bank: social volume 9.5x baseline (z 12.3). Alert {ALERT_ID}.{ACK_HINT}"


def test_the_hint_goes_before_the_topic_is_cut() -> None:
    figure = "social negative share 82% >= 60%"
    bare = len(f"WARNING : {figure}. Alert {ALERT_ID}.")
    topic = "Acme Bank Retail and Commercial Banking " * 5
    topic = topic[:GSM7_LIMIT - bare - 4].strip()
    text = sms_text(Level.WARNING, topic, figure, ALERT_ID)
    assert ACK_HINT not in text and topic in text
    longer = sms_text(Level.WARNING, f"{topic} Division", figure, ALERT_ID)
    assert ACK_HINT not in longer and "Division" not in longer and "...: " in longer
    assert sms_length(longer) <= GSM7_LIMIT


def test_a_chinese_topic_is_shortened_to_fit_seventy() -> None:
    text = sms_text(Level.WARNING, "中国工商银行股份有限公司北京分行信用卡中心", "negative share 82% >= 60%", ALERT_ID)
    assert not is_gsm7(text) and sms_length(text) <= UCS2_LIMIT
    assert text.startswith("WARNING 中国") and "..." in text and ALERT_ID in text


TOPICS = [
    "Acme",
    "Acme Bank " * 30,
    "Acme {Retail} [Cards] ~ €uro | " * 10,
    "中国工商银行" * 40,
    "Acme 銀行 " * 25,
    "Acme Bank 🙂 " * 20,
    "",
]
FIGURES = [
    "social volume 9.5x baseline (z 12.3)",
    "news crisis posts 7 >= 5",
    "负面占比 82% >= 60%",
    "social negative share 82% >= 60% and a very long explanation " * 5,
]
ALERT_IDS = [ALERT_ID, "A1", "acme-20261128-0915-social"]


@pytest.mark.parametrize("level", [*Level, "crisis"])
def test_every_message_fits_one_sms_and_keeps_level_and_alert_id(level: Level | str) -> None:
    name = level.name if isinstance(level, Level) else level.upper()
    for topic, figure, alert_id in itertools.product(TOPICS, FIGURES, ALERT_IDS):
        for cut in range(0, len(topic) + 1, 7):
            text = sms_text(level, topic[:cut], figure, alert_id)
            assert sms_length(text) <= sms_segments_limit(text), text
            assert text.startswith(name) and f"Alert {alert_id}." in text, text


def test_an_alert_id_that_cannot_fit_is_refused() -> None:
    with pytest.raises(ValueError):
        sms_text(Level.CRISIS, "Acme", "z 12", "中" * 80)


BANK_RUN = {"en": "Bank run rumour", "zh": "挤兑传言"}


def test_a_chinese_named_topic_is_named_by_its_gsm7_name_before_anything_is_cut() -> None:
    """Named in Chinese, the on-call SMS is UCS-2 (70 units) and its figure alone leaves no room for the name;
    the topic's English name keeps the bank, the figure, the narrative and the hint in one GSM-7 SMS."""
    figure = "social volume 120.0x baseline (z 120.0)"
    alone = sms_text(Level.CRISIS, "港湾银行", figure, "harbor-20270701-0207", narrative=BANK_RUN)
    assert alone == "CRISIS: social volume 120.0x baseline (z 120.0). Alert harbor-20270701-0207.", "the name cut away"
    named = sms_text(Level.CRISIS, "港湾银行", figure, "harbor-20270701-0207", narrative=BANK_RUN,
                     other_names=["港湾银行", "港灣銀行", "Harbor Bank"])
    assert named == (f"CRISIS Harbor Bank: {figure}. Narrative: Bank run rumour. Alert harbor-20270701-0207."
                     f"{ACK_HINT}") and fits_one_sms(named)
    # the configured name is kept whenever it fits uncut, if only without the hint
    assert sms_text(Level.CRISIS, "港湾银行", "not acknowledged", "harbor-20270701-0207",
                    other_names=["Harbor Bank"]) == "CRISIS 港湾银行: not acknowledged. Alert harbor-20270701-0207."
    # no GSM-7 name among the others: as before
    assert sms_text(Level.CRISIS, "港湾银行", figure, "harbor-20270701-0207", narrative=BANK_RUN,
                    other_names=["港灣銀行"]) == alone


def test_a_gsm7_name_too_long_for_everything_is_the_one_cut() -> None:
    long_name = "Harbor Bank Retail and Commercial Banking Division of the Greater Harbor Region " * 2
    text = sms_text(Level.WARNING, "港湾银行", "social volume 120.0x baseline (z 120.0)", "harbor-20270701-0207",
                    other_names=[long_name])
    assert is_gsm7(text) and fits_one_sms(text) and text.startswith("WARNING Harbor Bank Retail") and "...: " in text


def test_the_composer_tells_which_name_it_chose_before_any_cut() -> None:
    """The Detector keeps that name on the alert, so the alert's later SMS name the bank the same way."""
    figure = "social volume 120.0x baseline (z 120.0)"
    assert compose_sms(Level.CRISIS, "港湾银行", figure, "harbor-20270701-0207",
                       other_names=["Harbor Bank"])[1] == "Harbor Bank"
    assert compose_sms(Level.CRISIS, "港湾银行", "not acknowledged", "harbor-20270701-0207",
                       other_names=["Harbor Bank"])[1] == "港湾银行"
    long_name = "Harbor Bank Retail and Commercial Banking Division of the Greater Harbor Region " * 2
    text, named = compose_sms(Level.WARNING, "港湾银行", figure, "harbor-20270701-0207", other_names=[long_name])
    assert named == " ".join(long_name.split()) and named not in text      # the uncut name, though the text cuts it
