"""Q&A entries: approved questions and answers (zh/en) on the newsroom's Q&A page, with its own feed.

A Q&A entry is a statement of kind "qa" whose text is {"zh": {"question", "answer"}, "en": {...}}
and whose one channel is the newsroom. It is drafted by an author (POST /qa-entries), edited as
question and answer (PUT /qa-entries/{id}/draft), approved as exact text by a second person and
published like every statement (POST /statements/{id}/approve, /publish). The newsroom adapter
puts it on `qa/index.html` (a zh and an en section) and into `qa/feed.xml` instead of giving it
a page of its own. A correction (POST /qa-entries/{id}/corrections) is a new Q&A statement that
`corrects` the published one and keeps its entry: published, it replaces the answer at the same
anchor (a higher `qa_revision`, so a late copy of the older text never overwrites it) and adds
an item to the Q&A feed.

Each entry has a stable address per language, `qa_url(newsroom_base_url, entry, language)`:
`<newsroom>/qa/index.html#<entry>-<language>`, where `entry` is the id of the entry's first
statement. A reply that a channel's limit would cut says the short thing and links there (README,
"Q&A page").
"""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crisiscomms.statements.rules import MAX_FULL_CHARS, REQUEST, VisibleText

QA_KIND = "qa"
QA_CHANNEL = "newsroom"
QA_PAGE = "qa/index.html"
QA_FEED = "qa/feed.xml"
MAX_QUESTION_CHARS = 300


def qa_anchor(entry: str, language: str) -> str:
    """The element id of one language of an entry on the Q&A page."""
    return f"{entry}-{language}"


def qa_url(newsroom_base_url: str, entry: str, language: str) -> str:
    """The stable address of one language of a Q&A entry: replies link here when a channel would cut the answer."""
    return f"{newsroom_base_url.rstrip('/')}/{QA_PAGE}#{qa_anchor(entry, language)}"


class QaLanguageText(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    question: Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS), VisibleText]
    answer: Annotated[str, Field(min_length=1, max_length=MAX_FULL_CHARS), VisibleText]


class QaText(BaseModel):
    """The question and its answer in Chinese and/or English; at least one."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    zh: QaLanguageText | None = None
    en: QaLanguageText | None = None

    @model_validator(mode="after")
    def _some_language(self) -> "QaText":
        if self.zh is None and self.en is None:
            raise ValueError("give the question and answer in zh, en or both")
        return self

    def by_language(self) -> dict[str, dict[str, str]]:
        return {lang: t.model_dump() for lang, t in (("zh", self.zh), ("en", self.en)) if t is not None}


class QaDraftRequest(BaseModel):
    model_config = REQUEST

    text: QaText
    ref: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = None


class QaEditRequest(BaseModel):
    model_config = REQUEST

    text: QaText


class QaCorrectionRequest(BaseModel):
    model_config = REQUEST

    text: QaText
    ref: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = None
