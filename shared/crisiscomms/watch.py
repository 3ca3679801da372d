"""The watch configuration: what the desk wants to hear about and where to listen.

It lives as one JSON document in SSM Parameter Store so the desk can change topics without a
deploy. It is validated whole before anything polls: a half-read configuration never runs.
"""
from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, field_validator, model_validator

from crisiscomms.detection import Thresholds
from crisiscomms.errors import ConfigurationError

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
NonEmpty = Annotated[str, Field(min_length=1, max_length=200)]

X_QUERY_MAX_LENGTH = 512  # recent search on the Basic tier; Pro allows 1024


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Topic(_Strict):
    """Something the desk watches, usually the bank itself or one of its brands."""

    id: Slug
    names: list[NonEmpty] = Field(min_length=1)
    keywords: list[NonEmpty] = Field(default_factory=list)
    hashtags: list[NonEmpty] = Field(default_factory=list)
    accounts: list[NonEmpty] = Field(default_factory=list)
    exclude: list[NonEmpty] = Field(default_factory=list)

    @field_validator("hashtags")
    @classmethod
    def _hashtags(cls, values: list[str]) -> list[str]:
        return [v.lstrip("#") for v in values]

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, values: list[str]) -> list[str]:
        return [v.lstrip("@") for v in values]


class Source(_Strict):
    """One search on a social platform, e.g. an X recent-search query."""

    id: Slug
    platform: Literal["x"]
    query: str | None = Field(default=None, min_length=1, max_length=X_QUERY_MAX_LENGTH)
    topics: list[Slug] | None = None
    every_minutes: int = Field(default=1, ge=1, le=1440)
    initial_lookback_minutes: int = Field(default=15, ge=1, le=7 * 24 * 60)
    max_pages_per_run: int = Field(default=10, ge=1, le=100)


class Feed(_Strict):
    """A traditional-media RSS or Atom feed."""

    name: Slug
    url: HttpUrl
    language: Literal["en", "zh", "other"] = "en"
    audience: int = Field(default=100_000, ge=0, description="estimated readers, used as reach")
    every_minutes: int = Field(default=5, ge=1, le=1440)


class WatchConfig(_Strict):
    version: Literal[1] = 1
    topics: list[Topic] = Field(min_length=1)
    sources: list[Source] = Field(default_factory=list)
    feeds: list[Feed] = Field(default_factory=list)
    high_reach_followers: int = Field(default=10_000, ge=1)
    detection: Thresholds = Field(default_factory=Thresholds)

    @model_validator(mode="after")
    def _consistent(self) -> "WatchConfig":
        topic_ids = {t.id for t in self.topics}
        _unique("topics", [t.id for t in self.topics])
        _unique("sources", [s.id for s in self.sources])
        _unique("feeds", [f.name for f in self.feeds])
        for i, source in enumerate(self.sources):
            unknown = set(source.topics or []) - topic_ids
            if unknown:
                raise ValueError(f"sources.{i}.topics: unknown topic id(s) {sorted(unknown)}")
            if source.query is None:
                query = build_x_query([t for t in self.topics if source.topics is None or t.id in source.topics])
                if len(query) > X_QUERY_MAX_LENGTH:
                    raise ValueError(
                        f"sources.{i}.query: the query built from the topics is {len(query)} characters,"
                        f" over X's limit of {X_QUERY_MAX_LENGTH}; give an explicit query"
                    )
        return self

    def source(self, source_id: str) -> Source:
        return next(s for s in self.sources if s.id == source_id)

    def query_for(self, source: Source) -> str:
        if source.query:
            return source.query
        return build_x_query([t for t in self.topics if source.topics is None or t.id in source.topics])


def _unique(what: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"{what}: duplicate id {item!r}")
        seen.add(item)


def _quote(term: str) -> str:
    return f'"{term}"' if re.search(r"\s", term) else term


def _both_scripts(terms: list[str]) -> list[str]:
    """Each term, followed by its Traditional spelling when that differs (X search does not fold scripts)."""
    from crisiscomms.scoring.language import to_traditional

    out: list[str] = []
    for term in terms:
        out += dict.fromkeys([term, to_traditional(term)])
    return out


def build_x_query(topics: list[Topic]) -> str:
    """An X search query that finds every post any of the topics could match; originals only."""
    terms: list[str] = []
    for topic in topics:
        terms += [_quote(n) for n in _both_scripts(topic.names)]
        terms += [_quote(k) for k in _both_scripts(topic.keywords)]
        terms += [f"#{h}" for h in _both_scripts(topic.hashtags)]
        terms += [f"@{a}" for a in topic.accounts]
    unique = list(dict.fromkeys(terms))
    return f"({' OR '.join(unique)}) -is:retweet"


def parse_watch_config(document: str | bytes | dict) -> WatchConfig:
    """Validate the whole document; the error names each bad field and why."""
    try:
        if isinstance(document, dict):
            return WatchConfig.model_validate(document)
        return WatchConfig.model_validate_json(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(document)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(f"invalid watch configuration: {problems}") from exc
