"""What every part of the watch configuration shares: strict models and the fields of a source."""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from crisiscomms.models.topics import TOPIC_ID_PATTERN

Slug = Annotated[str, Field(pattern=TOPIC_ID_PATTERN)]
NonEmpty = Annotated[str, Field(min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceBase(Strict):
    """One stream read from one platform with its own cursor (state item `source#<platform>#<id>`)."""

    id: Slug
    topics: list[Slug] | None = Field(default=None, description="topics this source serves; all when absent")
    every_minutes: int = Field(default=1, ge=1, le=1440)
    initial_lookback_minutes: int = Field(default=15, ge=1, le=7 * 24 * 60)
    max_pages_per_run: int = Field(default=10, ge=1, le=100)
    base_url: HttpUrl | None = Field(default=None, description="the platform's API host; its public host when absent")
