"""The published languages: Simplified and Traditional Chinese as two texts, English, and which one a person reads."""
from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from crisiscomms.inbox.templates import HoldingTemplateText, ReplyTemplateText
from crisiscomms.models.languages import PUBLISHED_LANGUAGES, preferred_language, published_language
from crisiscomms.statements.qa import QaText
from crisiscomms.statements.rules import StatementText

FORM = {"full": "全文", "short": "短文"}
# (model, one language's text) for every model written per language
MODELS: list[tuple[Any, Any]] = [(StatementText, FORM), (HoldingTemplateText, FORM), (ReplyTemplateText, "您好"),
                                 (QaText, {"question": "存款安全嗎?", "answer": "安全。"})]


@pytest.mark.parametrize(("post_language", "expected"), [
    ("zh-Hant", "zh-Hant"), ("zh-TW", "zh-Hant"), ("zh_HK", "zh-Hant"), ("zh-MO", "zh-Hant"), ("zh-Hant-TW", "zh-Hant"),
    ("zh-Hans", "zh"), ("zh", "zh"), ("zh-CN", "zh"), ("zh_SG", "zh"), ("en", "en"), ("en-GB", "en"),
    ("other", None), ("ja", None), ("", None), (None, None)])
def test_a_posts_language_is_answered_in_its_own_script(post_language: str | None, expected: str | None) -> None:
    assert published_language(post_language) == expected


@pytest.mark.parametrize(("available", "wanted", "chosen"), [
    (("zh", "zh-Hant", "en"), "zh-Hant", "zh-Hant"),
    (("zh", "en"), "zh-Hant", "zh"),            # the other script before English
    (("en", "zh-Hant"), "zh", "zh-Hant"),
    (("zh", "zh-Hant"), "en", "zh"),
    (("en",), "zh-Hant", "en"),
    (("zh-Hant", "en"), None, "zh-Hant"),       # nothing known: the template's first
])
def test_a_reply_takes_the_persons_language_then_the_other_script_then_english(
        available: tuple[str, ...], wanted: str | None, chosen: str) -> None:
    assert preferred_language(available, wanted) == chosen


@pytest.mark.parametrize(("model", "text"), MODELS)
def test_every_text_model_takes_traditional_chinese_under_its_tag(model: Any, text: Any) -> None:
    parsed = model.model_validate({"zh-Hant": text, "en": text})
    assert parsed.by_language() == {"zh-Hant": text, "en": text}
    assert list(model.model_validate({"en": text, "zh-Hant": text, "zh": text}).by_language()) == list(PUBLISHED_LANGUAGES)


@pytest.mark.parametrize(("model", "text"), MODELS)
@pytest.mark.parametrize("key", ["zh_hant", "zh-hant", "zh-TW", "fr"])
def test_a_language_outside_the_three_is_refused_by_its_key(model: Any, text: Any, key: str) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate({"zh": text, key: text})
    [error] = refused.value.errors()
    assert (error["loc"], error["type"]) == ((key,), "extra_forbidden")


@pytest.mark.parametrize(("model", "text"), MODELS)
def test_no_language_at_all_is_refused_naming_the_three(model: Any, text: Any) -> None:
    with pytest.raises(ValidationError, match="at least one of zh, zh-Hant, en"):
        model.model_validate({})
