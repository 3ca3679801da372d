"""Statements: drafted by one person, approved as exact text by another, published to every channel.

This module holds the rules (who may do what, in which state) as pure functions over plain
records, so the API handler, the publisher and the drill all apply the same ones.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crisiscomms.errors import Conflict, Forbidden
from crisiscomms.identity import Identity
from crisiscomms.models.delivery import CHANNELS, Channel

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


class LanguageText(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    full: Annotated[str, Field(min_length=1, max_length=MAX_FULL_CHARS)]
    short: Annotated[str, Field(min_length=1, max_length=MAX_SHORT_CHARS)]

    @field_validator("full", "short")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class StatementText(BaseModel):
    """The statement in Chinese and/or English; at least one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zh: LanguageText | None = None
    en: LanguageText | None = None

    @model_validator(mode="after")
    def _some_language(self) -> "StatementText":
        if self.zh is None and self.en is None:
            raise ValueError("give the text in zh, en or both")
        return self

    def by_language(self) -> dict[str, dict[str, str]]:
        return {lang: t.model_dump() for lang, t in (("zh", self.zh), ("en", self.en)) if t is not None}


class DraftRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channels: Annotated[list[Channel], Field(min_length=1, max_length=len(CHANNELS))]
    text: StatementText
    title: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    ref: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = None

    @field_validator("channels")
    @classmethod
    def _unique(cls, channels: list[str]) -> list[str]:
        if len(set(channels)) != len(channels):
            raise ValueError("each channel once")
        return channels


class EditRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: StatementText
    title: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    channels: Annotated[list[Channel], Field(min_length=1, max_length=len(CHANNELS))] | None = None


class ApproveRequest(BaseModel):
    """The approver names the version they read, so a later edit cannot ride on their approval."""

    model_config = ConfigDict(extra="forbid")

    version: Annotated[int, Field(ge=1)]


class RejectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class CorrectionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["correction", "update"] = "correction"
    text: StatementText
    channels: Annotated[list[Channel], Field(min_length=1, max_length=len(CHANNELS))] | None = None
    ref: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = None


def statement_state_after(deliveries: list[str]) -> StatementState:
    """PUBLISHED when every delivery is SENT, PARTIAL once all have ended otherwise, else PUBLISHING."""
    if deliveries and all(d == "SENT" for d in deliveries):
        return "PUBLISHED"
    if deliveries and all(d in TERMINAL_DELIVERY for d in deliveries):
        return "PARTIAL"
    return "PUBLISHING"


def check_can_edit(state: str) -> None:
    if state not in EDITABLE:
        raise Conflict(f"a {state} statement cannot be edited; publish a correction instead")


def check_can_approve(statement: dict, version: int, approver: Identity) -> None:
    if statement["state"] not in APPROVABLE:
        raise Conflict(f"a {statement['state']} statement cannot be approved")
    if version != statement["current_version"]:
        raise Conflict(f"version {version} is not the current version ({statement['current_version']}); read it again")
    if approver.user == statement["version_author"]:
        raise Forbidden("the approver must not be the author of the version (two-person rule)")
