"""Drill scenario files (format v2, see ../shared/drill-scenario-format.md; v1 files stay valid), validated strictly.

Every key the format defines is understood; any other key is an error that names the file and
the path of the key, so a typo never silently turns a check off.
"""
from __future__ import annotations

import json
import math
import random
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator, model_validator

OFFSET = re.compile(r"^\+(\d{2,3}):([0-5]\d)(?::([0-5]\d))?$")
LISTENING_PLATFORMS = ("x", "weibo", "mastodon", "bluesky", "reddit", "wechat", "douyin")
CHANNELS = ("newsroom", "x", "weibo", "wechat", "mastodon", "bluesky", "telegram", "webhook", "douyin")
DESK_ACTIONS = ("draft", "edit", "submit", "approve", "reject", "publish", "correct", "ack_alert", "expect_refused",
                "close_alert", "template", "holding", "assign", "close", "reply_template", "reply", "approve_reply")
CHECKS = ("alert", "no_alert", "max_level", "sms", "deliveries", "no_duplicates", "stored_posts", "topic_posts",
          "replied_within", "reply_delivered", "no_unapproved_reply", "effect", "alert_closed", "report",
          "audit_chain_valid")
RECOMMENDATIONS = ("revise", "more_interaction", "brief_media", "keep_cadence")
LEVELS = ("NORMAL", "WATCH", "WARNING", "CRISIS")


class ScenarioError(Exception):
    """The scenario file cannot be run; the message says where and why."""


def parse_offset(value: str) -> timedelta:
    match = OFFSET.match(value)
    if not match:
        raise ValueError(f"offset {value!r} is not +HH:MM or +HH:MM:SS")
    hours, minutes, seconds = match.groups()
    return timedelta(hours=int(hours), minutes=int(minutes), seconds=int(seconds or 0))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Offset = Annotated[str, Field(pattern=OFFSET.pattern)]


class TopicSpec(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    names: list[str] = Field(min_length=1)
    keywords: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    ambiguous: list[str] = Field(default_factory=list)


class SinglePost(_Strict):
    at: Offset
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] | None = None
    to_bank: bool = False
    platform: Literal[LISTENING_PLATFORMS]  # type: ignore[valid-type]
    author: str = "anonymous"
    followers: int = Field(default=0, ge=0)
    lang: str | None = None
    text: str = Field(min_length=1)
    likes: int = Field(default=0, ge=0)
    reposts: int = Field(default=0, ge=0)
    replies: int = Field(default=0, ge=0)
    location: str | None = None


class Burst(_Strict):
    from_: Offset = Field(alias="from")
    to: Offset
    per_minute: float = Field(gt=0, le=6000)
    platform: Literal[LISTENING_PLATFORMS]  # type: ignore[valid-type]
    lang: str | None = None
    texts: list[str] = Field(min_length=1)
    followers: tuple[int, int] = (10, 1000)
    seed: int = 0

    @model_validator(mode="after")
    def _ordered(self) -> "Burst":
        if parse_offset(self.to) <= parse_offset(self.from_):
            raise ValueError("burst 'to' must be after 'from'")
        low, high = self.followers
        if low < 0 or high < low:
            raise ValueError("burst followers must be [low, high] with 0 <= low <= high")
        return self


class BurstPost(_Strict):
    burst: Burst


class NewsItem(_Strict):
    at: Offset
    feed: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    title: str = Field(min_length=1)
    summary: str = ""
    lang: str = "en"


class _Window(_Strict):
    at: Offset | None = None
    from_: Offset | None = Field(default=None, alias="from")
    to: Offset | None = None

    @model_validator(mode="after")
    def _when(self) -> "_Window":
        if self.at is None and (self.from_ is None or self.to is None):
            raise ValueError("a fault needs either 'at' or both 'from' and 'to'")
        return self


class PlatformFault(_Window):
    platform: Literal[LISTENING_PLATFORMS + ("news",)]  # type: ignore[valid-type]
    kind: Literal["rate_limit", "http_status", "timeout"]
    status: int | None = Field(default=None, ge=400, le=599)
    retry_after: int | None = Field(default=None, ge=1)
    feed: str | None = None


class ChannelFault(_Window):
    channel: Literal[CHANNELS]  # type: ignore[valid-type]
    kind: Literal["http_status", "timeout", "timeout_after_send", "rate_limit"]
    status: int | None = Field(default=None, ge=400, le=599)
    retry_after: int | None = None


class ServiceFault(_Window):
    service: Literal["sns", "sqs", "dynamodb"]
    kind: Literal["unavailable"]


class FunctionFault(_Window):
    function: str
    kind: Literal["duplicate_invocation"]


def _fault_kind(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    return next((key for key in ("platform", "channel", "service", "function") if key in value), "platform")


Fault = Annotated[
    Union[
        Annotated[PlatformFault, Tag("platform")],
        Annotated[ChannelFault, Tag("channel")],
        Annotated[ServiceFault, Tag("service")],
        Annotated[FunctionFault, Tag("function")],
    ],
    Discriminator(_fault_kind),
]


class DeskAction(BaseModel):
    """A person's action through the API; keys beyond the common ones depend on the action."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    at: Offset
    as_: Annotated[str, Field(alias="as", pattern=r"^(author|approver|auditor|oncall):[^:\s]+$")]
    do: Literal[DESK_ACTIONS]  # type: ignore[valid-type]


class Check(_Strict):
    check: Literal[CHECKS]  # type: ignore[valid-type]
    topic: str | None = None
    level: Literal[LEVELS] | None = None  # type: ignore[valid-type]
    by: Offset | None = None
    until: Offset | None = None
    max: int | None = Field(default=None, ge=0)
    min: int | None = Field(default=None, ge=0)
    ref: str | None = None
    state: str | None = None
    platform: Literal[LISTENING_PLATFORMS + ("news",)] | None = None  # type: ignore[valid-type]
    post: str | None = None
    minutes: float | None = Field(default=None, gt=0)
    recommendation: Literal[RECOMMENDATIONS] | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _arguments(self) -> "Check":
        needs = {
            "alert": ("topic", "level", "by"), "no_alert": ("topic", "until"), "max_level": ("topic", "level"),
            "deliveries": ("ref", "state"), "topic_posts": ("topic",), "replied_within": ("post", "minutes"),
            "reply_delivered": ("post",), "effect": ("ref", "recommendation"), "alert_closed": ("topic",),
            "report": ("topic",),
        }.get(self.check, ())
        missing = [k for k in needs if getattr(self, k) is None]
        if missing:
            raise ValueError(f"check {self.check!r} needs {', '.join(missing)}")
        if self.check in ("sms", "stored_posts", "topic_posts") and self.min is None and self.max is None:
            raise ValueError(f"check {self.check!r} needs min or max")
        return self


def _post_kind(value: Any) -> str:
    return "burst" if isinstance(value, dict) and "burst" in value else "single"


PostEntry = Annotated[
    Union[Annotated[SinglePost, Tag("single")], Annotated[BurstPost, Tag("burst")]],
    Discriminator(_post_kind),
]


class Scenario(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    start: datetime
    duration: Offset
    topics: list[TopicSpec] | None = None
    accounts: dict[Literal[LISTENING_PLATFORMS], Annotated[str, Field(min_length=1, max_length=100)]] | None = None  # type: ignore[valid-type]
    posts: list[PostEntry] = Field(default_factory=list)
    news: list[NewsItem] = Field(default_factory=list)
    faults: list[Fault] = Field(default_factory=list)
    desk: list[DeskAction] = Field(default_factory=list)
    expect: list[Check] = Field(default_factory=list)

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("start must be an RFC 3339 time with a timezone")
        # the stored keys, the functions' event times and the queries are UTC: one clock for them all
        return value.astimezone(timezone.utc)

    @property
    def length(self) -> timedelta:
        return parse_offset(self.duration)

    def at(self, offset: str) -> datetime:
        return self.start + parse_offset(offset)

    @model_validator(mode="after")
    def _post_ids_unique(self) -> "Scenario":
        ids = [p.id for p in self.posts if isinstance(p, SinglePost) and p.id]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"post ids must be unique: {repeated}")
        return self


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ScenarioError(f"{path}: no such file") from exc
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: the top level must be a JSON object")
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(_describe(path, exc)) from exc


_TAGS = {"platform", "channel", "service", "function", "single", "burst"}


def _describe(path: Path, exc: ValidationError) -> str:
    """One line per problem: file, JSON path of the key, reason."""
    lines = []
    for err in exc.errors():
        parts: list[str] = []
        loc = list(err["loc"])
        for position, part in enumerate(loc):
            if isinstance(part, int):
                parts[-1:] = [f"{parts[-1]}[{part}]"] if parts else [f"[{part}]"]
            elif part in _TAGS and 0 < position < len(loc) - 1 and isinstance(loc[position - 1], int):
                continue  # the union member's tag, not a key of the file
            else:
                parts.append(str(part))
        where = ".".join(parts) or "(top level)"
        message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"{path}: {where}: {message}")
    return "\n".join(dict.fromkeys(lines))


def expand_posts(scenario: Scenario) -> list[dict[str, Any]]:
    """Every post with its absolute time; bursts spread evenly, followers log-uniform from the seed."""
    out: list[dict[str, Any]] = []
    for index, entry in enumerate(scenario.posts):
        if isinstance(entry, SinglePost):
            out.append({**entry.model_dump(exclude={"at"}), "created_at": scenario.at(entry.at)})
            continue
        burst = entry.burst
        start, end = scenario.at(burst.from_), scenario.at(burst.to)
        total = int(round((end - start).total_seconds() / 60 * burst.per_minute))
        step = (end - start) / max(total, 1)
        rng = random.Random(burst.seed)
        low, high = burst.followers
        for n in range(total):
            followers = int(round(math.exp(rng.uniform(math.log(low + 1), math.log(high + 1))) - 1))
            out.append({
                "platform": burst.platform,
                "author": f"user{index}_{n}",
                "followers": followers,
                "lang": burst.lang,
                "text": burst.texts[n % len(burst.texts)],
                "likes": 0, "reposts": 0, "replies": 0, "location": None, "id": None, "to_bank": False,
                "created_at": start + step * n,
            })
    out.sort(key=lambda p: p["created_at"])
    return out
