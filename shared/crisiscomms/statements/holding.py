"""Holding statements: a statement made from an approved holding template, its approval carried over.

A holding template ("we are aware of reports about {reference} and are investigating; next update
by {time}") was approved by two people, bound to the hash of its text and of its placeholder
rules (crisiscomms.inbox.templates). Instantiating it with values that pass those rules changes
nothing an approver read but the placeholders, so the statement is created APPROVED at once and
can be published in the same minute: POST /holding-statements, then POST /statements/{id}/publish.

The approval is recorded for what it is, not as a new human approval: the statement's `approval`
has `carried_over_from_template` (the template's id, version, text and rules hashes, its author
and its approver, when it was approved), the values, who instantiated it, and the hashes of every
channel's rendering, which publishing checks as it does for any approval. Its audit entry is the
author's `holding_statement`, in the same transaction as the statement. Every channel's rules are
applied to the rendered text first, as submitting a draft does: a channel refusing it is a 422
naming the channel, and nothing is stored.

This capability never imports the inbox: wiring hands the Desk a function giving a template's
approved holding version (`HoldingTemplate`), which checks the template's state and hashes.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, Field, field_validator

from crisiscomms.models.delivery import CHANNELS, Channel
from crisiscomms.statements.rules import REQUEST, AuthorRef

TEMPLATE_ID_PATTERN = r"^tp-[0-9a-f]{16}$"  # crisiscomms.inbox.templates names templates so
MAX_VALUES = 16
MAX_VALUE_CHARS = 200


class HoldingTemplate(Protocol):
    """An approved version of a holding template, as the reply library gives it."""

    @property
    def id(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def text_hash(self) -> str: ...

    @property
    def rules_hash(self) -> str: ...

    @property
    def author(self) -> str: ...

    @property
    def approved_by(self) -> str: ...

    @property
    def approved_at(self) -> str: ...

    def fill_all(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """{lang: {"full", "short"}} with every value checked against its rule (InvalidInput otherwise)."""


class HoldingRequest(BaseModel):
    """An approved holding template, the values for its placeholders, and where to publish it."""

    model_config = REQUEST

    template: Annotated[str, Field(pattern=TEMPLATE_ID_PATTERN)]
    values: Annotated[dict[Annotated[str, Field(min_length=1, max_length=32)],
                           Annotated[str, Field(max_length=MAX_VALUE_CHARS)]],
                      Field(max_length=MAX_VALUES)] = Field(default_factory=dict)
    channels: Annotated[list[Channel], Field(min_length=1, max_length=len(CHANNELS))]
    ref: AuthorRef | None = None

    @field_validator("channels")
    @classmethod
    def _unique(cls, channels: list[str]) -> list[str]:
        if len(set(channels)) != len(channels):
            raise ValueError("each channel once")
        return channels


def template_record(template: HoldingTemplate) -> dict[str, Any]:
    """What the statement records of the template whose approval it carries over."""
    return {"id": template.id, "version": template.version, "text_hash": template.text_hash,
            "rules_hash": template.rules_hash, "author": template.author, "approved_by": template.approved_by,
            "approved_at": template.approved_at}


def carried_over_approval(template: HoldingTemplate, values: Mapping[str, str], *, by: str, at: str,
                          hashes: dict[str, str]) -> dict[str, Any]:
    """The statement's approval: the template's, carried over (no person approved this statement itself)."""
    return {"carried_over_from_template": template_record(template), "version": 1, "at": at, "hashes": hashes,
            "instantiated_by": by, "values": dict(values)}
