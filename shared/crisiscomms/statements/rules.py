"""Statements: drafted by one person, approved as exact text by another, published to every channel.

This module holds the rules (who may do what, in which state) as pure functions over plain
records, so the API handler, the publisher and the drill all apply the same ones.
"""
from __future__ import annotations

import hashlib
import json
import unicodedata
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from crisiscomms.errors import Conflict, Forbidden
from crisiscomms.identity import Identity
from crisiscomms.models.delivery import CHANNELS, Channel
from crisiscomms.models.languages import LanguageTexts
from crisiscomms.models.topics import TOPIC_ID_PATTERN

StatementState = Literal["DRAFT", "SUBMITTED", "APPROVED", "REJECTED", "PUBLISHING", "PUBLISHED", "PARTIAL"]
EDITABLE: frozenset[str] = frozenset({"DRAFT", "SUBMITTED", "APPROVED", "REJECTED"})
APPROVABLE: frozenset[str] = frozenset({"DRAFT", "SUBMITTED"})
TERMINAL_DELIVERY: frozenset[str] = frozenset({"SENT", "FAILED", "UNKNOWN"})

# Channels that hold something, not public, for an approved version (a WeChat draft, the newsroom
# page at a key nothing links to), so that publishing is one call. A prepared entry moves
#   PENDING -> READY (made) | FAILED (could not be made; publishing does the whole work)
#   READY -> USED (publishing took it)        PENDING -> SKIPPED (publishing did not wait for it)
#   PENDING | READY -> DISCARDING (edit or reject) ; DISCARDING | SKIPPED -> DISCARDED | DISCARD_FAILED
PREPARED_CHANNELS: frozenset[str] = frozenset({"newsroom", "wechat"})
WITHDRAWABLE_PREPARED: frozenset[str] = frozenset({"PENDING", "READY"})
TO_DISCARD: tuple[str, ...] = ("DISCARDING", "SKIPPED")
MAX_FULL_CHARS = 20_000
MAX_SHORT_CHARS = 4_096
# Every edit stores a version; a statement holds at most this many (the next edit is refused with 409).
MAX_VERSIONS = 50

# Bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069) can make the text a reader
# approves display differently from the characters that are published.
_BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
# Letters that render as nothing (Hangul fillers, braille blank) count as invisible too.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _forbidden_control(ch: str) -> bool:
    code = ord(ch)
    return (code < 0x20 and ch not in "\n\t") or 0x7F <= code <= 0x9F or ch in _BIDI_CONTROLS


def _invisible(ch: str) -> bool:
    return ch.isspace() or ch in _BLANK_LETTERS or unicodedata.category(ch) in ("Cf", "Zs", "Zl", "Zp", "Cc")


def visible_text(value: str) -> str:
    """Refuse control characters (C0 other than newline and tab, DEL, C1), bidirectional overrides
    and isolates, and text made only of whitespace, zero-width or other invisible characters."""
    bad = next((ch for ch in value if _forbidden_control(ch)), None)
    if bad is not None:
        raise ValueError(f"must not contain the control character U+{ord(bad):04X}")
    if all(_invisible(ch) for ch in value):
        raise ValueError("must not be blank or only invisible characters")
    return value


VisibleText = AfterValidator(visible_text)
# Request bodies are parsed strictly: no "1" or true for a number, no 1 for a string.
REQUEST = ConfigDict(extra="forbid", strict=True)
# The author's own reference for a statement ("s1", "2027-03-声明-1"): any script, no whitespace or control character.
AuthorRef = Annotated[str, Field(pattern=r"^[^\s\x00-\x1f\x7f-\x9f]{1,64}$", description="the author's own reference")]


class LanguageText(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    full: Annotated[str, Field(min_length=1, max_length=MAX_FULL_CHARS), VisibleText]
    short: Annotated[str, Field(min_length=1, max_length=MAX_SHORT_CHARS), VisibleText]


class StatementText(LanguageTexts[LanguageText]):
    """The statement in each language it is published in (zh Simplified Chinese, zh-Hant Traditional Chinese, en English); at least one."""


TopicIds = Annotated[list[Annotated[str, Field(pattern=TOPIC_ID_PATTERN)]], Field(min_length=1, max_length=20)]


def _each_once(values: list[str] | None, what: str) -> list[str] | None:
    if values is not None and len(set(values)) != len(values):
        raise ValueError(f"each {what} once")
    return values


class DraftRequest(BaseModel):
    model_config = REQUEST

    channels: Annotated[list[Channel], Field(min_length=1, max_length=len(CHANNELS))]
    text: StatementText
    title: Annotated[str, Field(min_length=1, max_length=64), VisibleText] | None = None
    ref: AuthorRef | None = None
    topics: TopicIds | None = Field(default=None, description=(
        "the watched topics whose effect is measured once it is published; default: the topics above NORMAL "
        "when it is published, else every watched topic"))

    @field_validator("channels")
    @classmethod
    def _unique(cls, channels: list[str]) -> list[str]:
        return _each_once(channels, "channel") or channels

    @field_validator("topics")
    @classmethod
    def _unique_topics(cls, topics: list[str] | None) -> list[str] | None:
        return _each_once(topics, "topic")


class EditRequest(BaseModel):
    model_config = REQUEST

    text: StatementText
    title: Annotated[str, Field(min_length=1, max_length=64), VisibleText] | None = None
    channels: Annotated[list[Channel], Field(min_length=1, max_length=len(CHANNELS))] | None = None


class ApproveRequest(BaseModel):
    """The approver names the version they read, so a later edit cannot ride on their approval."""

    model_config = REQUEST

    version: Annotated[int, Field(ge=1)]


class RejectRequest(BaseModel):
    model_config = REQUEST

    reason: Annotated[str, Field(min_length=1, max_length=2000), VisibleText]


class CorrectionRequest(BaseModel):
    model_config = REQUEST

    kind: Literal["correction", "update"] = "correction"
    text: StatementText
    channels: Annotated[list[Channel], Field(min_length=1, max_length=len(CHANNELS))] | None = None
    ref: AuthorRef | None = None
    topics: TopicIds | None = Field(default=None, description="default: the corrected statement's topics")

    @field_validator("topics")
    @classmethod
    def _unique_topics(cls, topics: list[str] | None) -> list[str] | None:
        return _each_once(topics, "topic")


def statement_state_after(deliveries: list[str]) -> StatementState:
    """PUBLISHED when every delivery is SENT, PARTIAL once all have ended otherwise, else PUBLISHING."""
    if deliveries and all(d == "SENT" for d in deliveries):
        return "PUBLISHED"
    if deliveries and all(d in TERMINAL_DELIVERY for d in deliveries):
        return "PARTIAL"
    return "PUBLISHING"


def check_can_edit(state: str, versions: int = 1) -> None:
    if state not in EDITABLE:
        raise Conflict(f"a {state} statement cannot be edited; publish a correction instead")
    if versions >= MAX_VERSIONS:
        raise Conflict(f"a statement holds at most {MAX_VERSIONS} versions (MAX_VERSIONS); "
                       f"this one has {versions}: draft a new statement instead")


def check_can_approve(statement: dict, version: int, approver: Identity) -> None:
    if statement["state"] not in APPROVABLE:
        raise Conflict(f"a {statement['state']} statement cannot be approved")
    if version != statement["current_version"]:
        raise Conflict(f"version {version} is not the current version ({statement['current_version']}); read it again")
    if approver.user == statement["version_author"]:
        raise Forbidden("the approver must not be the author of the version (two-person rule)")


# A PENDING delivery's message carries the delivery as the Desk wrote it, so that its first attempt
# moves it to SENDING without reading it first; the record keeps the digest of what was queued and
# the move is conditional on it (and on PENDING), so the Publisher sends the record's contents or,
# when anything differs, reads the record as before. Larger renderings are not carried: ten
# messages of a batch stay within SQS's 256 KiB.
QUEUED_FIELDS = ("statement_id", "key", "delivery_id", "version", "channel", "language", "text_hash", "reply_to",
                 "kind", "revision", "rendering", "prepared")
MAX_QUEUED_CHARS = 16_000


def queued_delivery(delivery: dict) -> dict:
    """What a message carries of a PENDING delivery (absent fields are not stored, so not carried)."""
    return {f: delivery[f] for f in QUEUED_FIELDS if delivery.get(f) is not None}


def queued_sha256(queued: dict) -> str:
    """The digest the delivery record keeps of `queued_delivery(record)`, as it stood when queued."""
    canonical = json.dumps(queued, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
