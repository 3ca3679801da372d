"""Drill scenario files (format v2, see ../shared/drill-scenario-format.md; v1 files stay valid), validated strictly.

Every key the format defines is understood; any other key is an error that names the file and
the path of the key, so a typo never silently turns a check off.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel, ConfigDict, Discriminator, Field, PrivateAttr, Tag, ValidationError, field_validator, model_validator,
)
from pydantic_core import PydanticCustomError

from crisiscomms.models.topics import TOPIC_ID_PATTERN

OFFSET = re.compile(r"^\+(\d{2,3}):([0-5]\d)(?::([0-5]\d))?$")
LISTENING_PLATFORMS = ("x", "weibo", "mastodon", "bluesky", "reddit", "wechat", "douyin")
CHANNELS = ("newsroom", "x", "weibo", "wechat", "mastodon", "bluesky", "telegram", "webhook", "douyin", "reddit")
# The keys each desk action takes beyond at/as/do (the format's, and the API's optional ones the desk passes on)
ACTION_KEYS: dict[str, frozenset[str]] = {action: frozenset(keys) for action, keys in {
    "draft": ("ref", "channels", "text"), "edit": ("ref", "text", "channels", "title", "placeholders"), "approve": ("ref", "version"),
    "reject": ("ref", "reason"), "publish": ("ref",), "submit": ("ref",), "correct": ("ref", "corrects", "text", "channels", "kind"),
    "ack_alert": ("topic",), "close_alert": ("topic", "cause", "lessons", "worked", "change"),
    "template": ("ref", "kind", "text", "placeholders", "situation", "title"), "holding": ("ref", "template", "values", "channels"),
    "assign": ("post", "to"), "close": ("post", "reason"), "reply_template": ("post", "template", "values", "ref", "language"),
    "reply": ("post", "ref", "text", "language"), "approve_reply": ("ref",),
}.items()}
DESK_ACTIONS = (*ACTION_KEYS, "expect_refused")     # which names one of the others and the status it expects
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


TOPIC_ID = re.compile(TOPIC_ID_PATTERN)     # the watch configuration's ids (topics, sources)


def config_id(given: str, kind: str = "topic") -> str:
    """A scenario's topic id or feed name as the watch configuration takes one: lower-cased, each run of
    other characters a hyphen ("Harbor_Bank" -> "harbor-bank"); one with characters beyond ASCII keeps a
    short hash of itself so that two such stay apart ("港湾" -> "topic-" + 8 hex digits, ``kind`` first)."""
    if TOPIC_ID.match(given):
        return given
    plain = re.sub(r"[^a-z0-9]+", "-", given.lower()).strip("-")
    if given.isascii() and plain:
        return plain[:63].rstrip("-")
    digest = hashlib.sha256(given.encode("utf-8")).hexdigest()[:8]
    return f"{plain[:54].rstrip('-') or kind}-{digest}"


class TopicSpec(_Strict):
    id: Annotated[str, Field(pattern=TOPIC_ID.pattern)]
    names: list[str] = Field(min_length=1)
    keywords: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    ambiguous: list[str] = Field(default_factory=list)


class SinglePost(_Strict):
    at: Offset
    id: Annotated[str, Field(min_length=1, max_length=64)] | None = None      # a name in the file only
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
    # What a single post may say, for every post of the burst (a wave of comments under the bank's post, a
    # city's queue): `location` one place, or places taken round-robin as the texts are.
    to_bank: bool = False
    location: str | Annotated[list[str], Field(min_length=1)] | None = None
    likes: int = Field(default=0, ge=0)
    reposts: int = Field(default=0, ge=0)
    replies: int = Field(default=0, ge=0)

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
    feed: Annotated[str, Field(pattern=TOPIC_ID.pattern)]    # a source name of the watch configuration
    title: str = Field(min_length=1)
    summary: str = ""
    lang: str = "en"

    @field_validator("feed", mode="before")
    @classmethod
    def _feed_name(cls, value: Any) -> Any:
        """A feed's name as the watch configuration takes a source's ("Reuters_World" -> "reuters-world")."""
        return config_id(value, "feed") if isinstance(value, str) and value else value


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
    """A person's action through the API; keys beyond the common ones depend on the action (ACTION_KEYS),
    and any other is an error, as everywhere in the file."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    at: Offset
    as_: Annotated[str, Field(alias="as", pattern=r"^(author|approver|auditor|oncall):[^:\s]+$")]
    do: Literal[DESK_ACTIONS]  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _known_keys(self) -> "DeskAction":
        extra = dict(self.model_extra or {})
        action = self.do
        if action == "expect_refused":
            action = extra.pop("action", None)
            if action not in ACTION_KEYS:
                raise ValueError(f"expect_refused needs an action, one of {', '.join(ACTION_KEYS)}")
            if type(extra.pop("status", None)) is not int:
                raise ValueError("expect_refused needs the status the refusal answers with (an integer)")
        unknown = sorted(set(extra) - ACTION_KEYS[action])
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(map(repr, unknown))} for a {action!r} action; it takes "
                             + ", ".join(sorted(ACTION_KEYS[action])))
        return self


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

    @model_validator(mode="before")
    @classmethod
    def _topic_ids(cls, raw: Any) -> Any:
        """Topic ids as the watch configuration takes them (TOPIC_ID), the same id wherever the file names it."""
        if not isinstance(raw, dict) or not isinstance(raw.get("topics"), list):
            return raw
        ids = {t["id"]: config_id(t["id"]) for t in raw["topics"] if isinstance(t, dict) and isinstance(t.get("id"), str)}
        if all(given == made for given, made in ids.items()):
            return raw
        made = [ids[given] for given in ids]
        clashes = sorted(given for given in ids if made.count(ids[given]) > 1)
        if clashes:
            raise ValueError(f"topic ids {clashes} are the same id once read as lower-case letters, digits and hyphens")
        raw = {**raw, "topics": [{**t, "id": ids[t["id"]]} if isinstance(t, dict) and t.get("id") in ids else t
                                 for t in raw["topics"]]}
        for key in ("expect", "desk"):
            if isinstance(raw.get(key), list):
                raw[key] = [{**x, "topic": ids[x["topic"]]} if isinstance(x, dict) and x.get("topic") in ids else x
                            for x in raw[key]]
        return raw

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("start must be an RFC 3339 time with a timezone")
        # the stored keys, the functions' event times and the queries are UTC: one clock for them all
        return value.astimezone(timezone.utc)

    # the file's own topic ids, by the ids the watch configuration takes (config_id): how the report names them
    _given_topic_ids: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def length(self) -> timedelta:
        return parse_offset(self.duration)

    def shown_topic(self, topic: str) -> str:
        """A topic as the file names it ("港湾银行"), for the report, where the drill watches it as `topic-…`."""
        return self._given_topic_ids.get(topic, topic)

    def at(self, offset: str) -> datetime:
        return self.start + parse_offset(offset)

    @model_validator(mode="after")
    def _topics_known(self) -> "Scenario":
        """A check or desk action naming a topic the drill does not watch is a mistake in the file (it would pass
        `max_level` or `topic_posts` on nothing), named with its path."""
        watched = [t.id for t in self.topics] if self.topics else _sample_topic_ids()
        for key, entries in (("expect", self.expect), ("desk", self.desk)):
            for i, entry in enumerate(entries):
                topic = getattr(entry, "topic", None) or (entry.model_extra or {}).get("topic")
                if isinstance(topic, str) and topic not in watched:
                    raise PydanticCustomError(UNKNOWN_TOPIC, "{where}.topic: '{topic}' is not a topic of this drill"
                                              " ({watched})", {"where": f"{key}[{i}]", "topic": topic,
                                                               "watched": ", ".join(watched)})
        return self

    @model_validator(mode="after")
    def _post_ids_unique(self) -> "Scenario":
        ids = [p.id for p in self.posts if isinstance(p, SinglePost) and p.id]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"post ids must be unique: {repeated}")
        return self


def _sample_topic_ids() -> list[str]:
    """The topics of the sample configuration, which a drill without `topics` watches."""
    sample = Path(__file__).resolve().parents[3] / "events" / "watch-config.json"
    return [t["id"] for t in json.loads(sample.read_text(encoding="utf-8"))["topics"]]


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
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(_describe(path, exc)) from exc
    given = [t["id"] for t in raw.get("topics") or [] if isinstance(t, dict) and isinstance(t.get("id"), str)]
    scenario._given_topic_ids = {config_id(t): t for t in given if config_id(t) != t}
    return scenario


_TAGS = {"platform", "channel", "service", "function", "single", "burst"}
UNKNOWN_TOPIC = "unknown_topic"     # the error names its own path


_OFFSET_KEYS = frozenset({"duration", "at", "from", "to", "by", "until"})


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
        if err["type"] == UNKNOWN_TOPIC:
            lines.append(f"{path}: {err['msg']}")
            continue
        where = ".".join(parts) or "(top level)"
        message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        if parts and parts[-1] in _OFFSET_KEYS and err["type"] in ("string_type", "string_pattern_mismatch"):
            message = f"{err['msg'] if err['type'] == 'string_type' else 'not an offset'}: an offset from start, +HH:MM or +HH:MM:SS"
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
        places = [burst.location] if isinstance(burst.location, str) or burst.location is None else burst.location
        for n in range(total):
            followers = int(round(math.exp(rng.uniform(math.log(low + 1), math.log(high + 1))) - 1))
            out.append({
                "platform": burst.platform,
                "author": f"user{index}_{n}",
                "followers": followers,
                "lang": burst.lang,
                "text": burst.texts[n % len(burst.texts)],
                "likes": burst.likes, "reposts": burst.reposts, "replies": burst.replies,
                "location": places[n % len(places)], "id": None, "to_bank": burst.to_bank,
                "created_at": start + step * n,
            })
    out.sort(key=lambda p: p["created_at"])
    return out
