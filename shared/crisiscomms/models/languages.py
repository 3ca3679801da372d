"""The languages the bank speaks in: statements, Q&A entries and reply templates are written in them.

`zh` is Chinese in Simplified script (the Mainland's Weibo and WeChat), `zh-Hant` Chinese in
Traditional script (Hong Kong, Taiwan, Macau), `en` English. The two scripts are separate texts,
each approved as written: one is never converted into the other, since a conversion is not a text
anybody approved (and the words differ as well as the characters: 网点 / 分行, 信息 / 資訊).
"""
from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

PublishedLanguage = Literal["zh", "zh-Hant", "en"]
PUBLISHED_LANGUAGES: tuple[PublishedLanguage, ...] = ("zh", "zh-Hant", "en")

# The order in which a reply to a person picks a template's language: the person's own, then the
# other Chinese script (the same language, read with little effort), then English.
_PREFERENCE: dict[str, tuple[PublishedLanguage, ...]] = {
    "zh": ("zh", "zh-Hant", "en"),
    "zh-Hant": ("zh-Hant", "zh", "en"),
    "en": ("en", "zh", "zh-Hant"),
}

T = TypeVar("T")


def published_language(post_language: str | None) -> PublishedLanguage | None:
    """The published language a post's language (the scoring's `en`, `zh-Hans`, `zh-Hant`, `other`, or a
    platform's tag such as `zh-TW`, `zh_CN`) is answered in; None for any other language."""
    tag = str(post_language or "").replace("_", "-").lower()
    if tag in ("zh-hant", "zh-tw", "zh-hk", "zh-mo") or tag.startswith("zh-hant-"):
        return "zh-Hant"
    if tag == "zh" or tag.startswith("zh-"):
        return "zh"
    if tag == "en" or tag.startswith("en-"):
        return "en"
    return None


def preferred_language(available: tuple[str, ...] | list[str], wanted: str | None) -> str:
    """The one of `available` (non-empty) a person speaking `wanted` reads best: theirs, the other Chinese
    script, English; else the first available."""
    for language in _PREFERENCE.get(wanted or "", ()):
        if language in available:
            return language
    return available[0]


class LanguageTexts(BaseModel, Generic[T]):
    """One text per published language; at least one. The JSON keys are the languages' tags."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    zh: T | None = Field(default=None, description="Chinese, Simplified script")
    zh_hant: T | None = Field(default=None, alias="zh-Hant", description="Chinese, Traditional script")
    en: T | None = Field(default=None, description="English")

    @model_validator(mode="after")
    def _some_language(self) -> LanguageTexts[T]:
        if self.zh is None and self.zh_hant is None and self.en is None:
            raise ValueError(f"give the text in at least one of {', '.join(PUBLISHED_LANGUAGES)}")
        return self

    def by_language(self) -> dict[str, Any]:
        """{language tag: text} of the languages given, texts as plain values (a form's fields as a dict)."""
        out: dict[str, Any] = {}
        for language, text in (("zh", self.zh), ("zh-Hant", self.zh_hant), ("en", self.en)):
            if text is not None:
                out[language] = text.model_dump() if isinstance(text, BaseModel) else text
        return out
