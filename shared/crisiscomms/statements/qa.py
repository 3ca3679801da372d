"""Q&A entries: approved questions and answers (zh, zh-Hant, en) on the newsroom's Q&A page, with its own feed.

A Q&A entry is a statement of kind "qa" whose text is {"zh": {"question", "answer"}, "en": {...}}
(keyed by any of the published languages) and whose one channel is the newsroom. It is drafted by an
author (POST /qa-entries), edited as question and answer (PUT /qa-entries/{id}/draft), approved as
exact text by a second person and published like every statement (POST /statements/{id}/approve,
/publish). The newsroom adapter puts it on `qa/index.html` (a section per language) and into `qa/feed.xml` instead of giving it
a page of its own. A correction (POST /qa-entries/{id}/corrections) is a new Q&A statement that
`corrects` the published one and keeps its entry: published, it replaces the answer at the same
anchor (a higher `qa_revision`, so a late copy of the older text never overwrites it) and adds
an item to the Q&A feed.

Each entry has a stable address per language, `qa_url(newsroom_base_url, entry, language)`:
`<newsroom>/qa/index.html#<entry>-<language>`, where `entry` is the id of the entry's first
statement. An entry may name the `situation` it answers (a reply template's situation, e.g.
`deposit_safety`; a correction keeps it unless it names another), kept as `qa_situation` for the
statements table's `by_qa_situation` index.

A reply that a channel's limit would cut is cut and links to the entry answering it (`Desk.qa_link`,
used by crisiscomms.inbox.replies): the entry the reply or its template names (`qa_entry`), else the
newest published entry for the template's situation; the address is of the reply's language when the
entry was published in it, else of a language it was.
"""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from crisiscomms.models.inbox import Situation
from crisiscomms.models.languages import LanguageTexts
from crisiscomms.statements.rules import MAX_FULL_CHARS, REQUEST, AuthorRef, VisibleText

QA_KIND = "qa"
QA_CHANNEL = "newsroom"
QA_PAGE = "qa/index.html"
QA_FEED = "qa/feed.xml"
QA_SITUATION = "qa_situation"  # the meta item's attribute, the key of the by_qa_situation index
QA_LINKABLE = ("PUBLISHED", "PARTIAL")  # states in which a language's anchor can be on the page
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


class QaText(LanguageTexts[QaLanguageText]):
    """The question and its answer in each language it is published in; at least one."""


class QaDraftRequest(BaseModel):
    model_config = REQUEST

    text: QaText
    ref: AuthorRef | None = None
    situation: Situation | None = Field(default=None, description="the reply situation this entry answers: a reply "
                                                                  "from a template of it that is too long links here")


class QaEditRequest(BaseModel):
    model_config = REQUEST

    text: QaText


class QaCorrectionRequest(BaseModel):
    model_config = REQUEST

    text: QaText
    ref: AuthorRef | None = None
    situation: Situation | None = Field(default=None, description="omitted: the corrected entry's")
