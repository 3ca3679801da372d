"""The watch configuration: what the desk wants to hear about and where to listen.

It lives as one JSON document in SSM Parameter Store so the desk can change topics without a
deploy. It is validated whole before anything polls: a half-read configuration never runs.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import Field, HttpUrl, ValidationError, field_validator, model_validator

from crisiscomms.errors import ConfigurationError
from crisiscomms.models.posts import CARRIED_LATENESS_MINUTES
from crisiscomms.watch.base import NonEmpty, Slug, SourceBase, Strict
from crisiscomms.watch.bluesky import BlueskySource
from crisiscomms.watch.douyin import DouyinSource
from crisiscomms.watch.inbox import InboxSettings
from crisiscomms.watch.mastodon import MastodonSource
from crisiscomms.watch.reddit import RedditSource
from crisiscomms.watch.review import EffectRules
from crisiscomms.watch.wechat import WeChatSource
from crisiscomms.watch.weibo import WeiboSource

X_QUERY_MAX_LENGTH = 512  # recent search on the Basic tier; Pro allows 1024


class Topic(Strict):
    """Something the desk watches, usually the bank itself or one of its brands."""

    id: Slug
    names: list[NonEmpty] = Field(min_length=1)
    keywords: list[NonEmpty] = Field(default_factory=list)
    hashtags: list[NonEmpty] = Field(default_factory=list)
    accounts: list[NonEmpty] = Field(default_factory=list)
    exclude: list[NonEmpty] = Field(default_factory=list)
    ambiguous: list[NonEmpty] = Field(default_factory=list, description=(
        "names or keywords that are also ordinary words or other organisations' names (平安, 招商, Chase):"
        " posts are found through them, and one found through them alone counts only when judged about"
        " the bank (crisiscomms.listening.relatedness)"))

    @field_validator("hashtags")
    @classmethod
    def _hashtags(cls, values: list[str]) -> list[str]:
        return [v.lstrip("#") for v in values]

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, values: list[str]) -> list[str]:
        return [v.lstrip("@") for v in values]


class XSource(SourceBase):
    """An X recent-search query (built from the topics unless given)."""

    platform: Literal["x"]
    query: str | None = Field(default=None, min_length=1, max_length=X_QUERY_MAX_LENGTH)


Source = Annotated[
    XSource | WeiboSource | WeChatSource | DouyinSource | MastodonSource | BlueskySource | RedditSource,
    Field(discriminator="platform"),
]
LISTENING_PLATFORMS = ("x", "weibo", "wechat", "douyin", "mastodon", "bluesky", "reddit")


class BankAccount(Strict):
    """The bank's own account on one platform: its posts are read so what is said under them is heard."""

    handle: NonEmpty = Field(description="screen name, handle or account name as the platform shows it")
    id: str | None = Field(default=None, min_length=1, max_length=128, description="the platform's numeric or opaque id")
    topics: list[Slug] | None = Field(
        default=None, description="topics a post addressing this account belongs to when it names none of them"
                                  " (a comment under the bank's video); default: the source's topics")


def iana_timezone(name: str) -> str:
    """The name back when zoneinfo knows it (e.g. "Asia/Hong_Kong"); feed dates without a zone are read in it."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {name!r}") from exc
    return name


class Feed(Strict):
    """A traditional-media RSS or Atom feed."""

    name: Slug
    url: HttpUrl
    language: Literal["en", "zh", "other"] = "en"
    audience: int = Field(default=100_000, ge=0, description="estimated readers, used as reach")
    every_minutes: int = Field(default=5, ge=1, le=1440)
    timezone: str | None = Field(default=None, description="IANA zone of the feed's dates that carry none;"
                                                           " None: the watch's default_timezone")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        return None if value is None else iana_timezone(value)

    region: str | None = Field(default=None, description="where the feed's readers are, for its posts' place:"
                                                         " a code of crisiscomms.places (CN-GD, HK, US)")

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str | None) -> str | None:
        from crisiscomms.places import place_for_code

        if value is not None and place_for_code(value) is None:
            raise ValueError(f"unknown region {value!r}: use an ISO 3166-2:CN province code (CN-GD, CN-BJ ...)"
                             " or an ISO 3166-1 country code (CN, HK, TW, US ...)")
        return value


# --- detection thresholds (the Detector reads them from this document) --------------------------------------------------------------------------------

class Tier(Strict):
    """The bars one level has to clear: a surge part and a negativity part."""

    z: float = Field(description="volume z-score against the baseline")
    ratio: float = Field(description="volume as a multiple of the baseline centre")
    growth: float = Field(description="last V minutes against the V before, smoothed")
    negative_share: float = Field(ge=0, le=1)
    crisis_posts: int = Field(ge=1)
    high_reach_negative: int = Field(ge=1)
    early_warning: int | None = Field(
        default=None, ge=1, description="early-warning posts in the recent window that give this level on their own,"
                                        " whatever the volume (min_posts does not apply); None: not at this level."
                                        " Must be None for crisis: CRISIS needs volume")


class SlowBurn(Strict):
    """A negative stream that grows over hours: judged over the slow window against the baseline's own share,
    so a volume baseline that rises with it cannot hide it."""

    min_negative: int = Field(ge=1, description="negative posts in the slow window")
    negative_share: float = Field(ge=0, le=1, description="negative share of the slow window's posts")
    above_baseline: float = Field(ge=0, le=1, description="how far that share must exceed the negative share of"
                                                          " the baseline minutes before the slow window")
    held: float = Field(0.75, ge=0, description="negative posts of the slow window's newer half, at least this times"
                                                " those of its older half: still growing or holding, not a wave that"
                                                " has passed")


class SourceThresholds(Strict):
    """One source type's bars; news has its own because its volumes are far lower."""

    min_posts: int = Field(ge=1, description="posts in the recent window below which nothing is judged")
    watch: Tier
    warning: Tier
    crisis: Tier
    slow_burn: SlowBurn | None = Field(default=None, description="WARNING on a slow negative rise; None: off")

    @model_validator(mode="after")
    def _crisis_needs_volume(self) -> SourceThresholds:
        if self.crisis.early_warning is not None:
            raise ValueError("crisis.early_warning must be null: CRISIS is reached by volume only")
        return self


SOCIAL_DEFAULTS = SourceThresholds(
    min_posts=20,
    watch=Tier(z=3, ratio=1.5, growth=2.0, negative_share=0.5, crisis_posts=3, high_reach_negative=2, early_warning=1),
    warning=Tier(z=4, ratio=2.0, growth=2.5, negative_share=0.4, crisis_posts=5, high_reach_negative=3, early_warning=1),
    crisis=Tier(z=6, ratio=3.0, growth=4.0, negative_share=0.6, crisis_posts=15, high_reach_negative=10),
    slow_burn=SlowBurn(min_negative=30, negative_share=0.4, above_baseline=0.15),
)
NEWS_DEFAULTS = SourceThresholds(
    min_posts=5,
    watch=Tier(z=3, ratio=1.5, growth=3.0, negative_share=0.5, crisis_posts=2, high_reach_negative=2, early_warning=1),
    warning=Tier(z=4, ratio=2.0, growth=4.0, negative_share=0.4, crisis_posts=3, high_reach_negative=3, early_warning=1),
    crisis=Tier(z=6, ratio=3.0, growth=6.0, negative_share=0.6, crisis_posts=5, high_reach_negative=5),
)


class EarlyWarning(Strict):
    """What marks a post `early_warning` when it is stored: crisis terms from an account with a large audience
    whose engagement comes fast. One such post can matter before any volume moves."""

    followers: int = Field(100_000, ge=1, description="the author's followers, at least")
    engagement_per_minute: float = Field(10.0, gt=0, description="likes, reposts, replies and quotes per minute since"
                                                                 " publication when read (the age counted as at"
                                                                 " least one minute)")
    watch_minutes: int = Field(60, ge=0, le=1440, description="a crisis post over the followers bar but not yet"
                                                              " fast enough is read again (X, Bluesky, Mastodon) until"
                                                              " this long after publication, and marked when it"
                                                              " meets the bar; 0: never read again")
    watch_posts: int = Field(100, ge=1, le=500, description="the most posts a source watches at once (the newest"
                                                            " kept); each 100 (X), 25 (Bluesky) or 20 (Mastodon)"
                                                            " cost one request a run")


class Thresholds(Strict):
    """Every tunable of the detector, with the defaults the README documents."""

    recent_minutes: int = Field(15, ge=2, le=CARRIED_LATENESS_MINUTES,
                                description="length W of the judged window; at most the lateness the store carries"
                                            " to the Detector (crisiscomms.models.posts)")
    baseline_hours: int = Field(24, ge=1, description="history B compared against, in windows of W")
    velocity_minutes: int = Field(5, ge=1, description="growth compares the last V minutes with the V before")
    velocity_smoothing: float = Field(5.0, gt=0, description="pseudo-count s added to both sides of growth")
    social: SourceThresholds = SOCIAL_DEFAULTS
    news: SourceThresholds = NEWS_DEFAULTS
    raise_after: int = Field(2, ge=1, description="N consecutive evaluations before a level is raised")
    lower_after: int = Field(15, ge=1, description="M consecutive quieter evaluations before it is lowered")
    cooldown_minutes: int = Field(30, ge=0, description="after a resolution only CRISIS opens a new alert")
    escalate_after_minutes: int = Field(10, ge=1, description="K: an unacknowledged alert escalates after this")
    slow_minutes: int = Field(120, ge=1, description="length L of the slow-burn window ending now (at most W plus half"
                                                    " the baseline: the rest is what its share is compared with)")
    early_warning: EarlyWarning = Field(default_factory=EarlyWarning)

    @model_validator(mode="after")
    def _windows_fit(self) -> Thresholds:
        if 2 * self.velocity_minutes > self.recent_minutes:
            raise ValueError("velocity_minutes * 2 must fit in recent_minutes")
        if self.slow_minutes < self.recent_minutes:
            raise ValueError("slow_minutes must be at least recent_minutes")
        if (self.baseline_hours * 60) % self.recent_minutes:
            raise ValueError("baseline_hours must be a whole number of recent windows")
        return self

    @property
    def baseline_windows(self) -> int:
        return self.baseline_hours * 60 // self.recent_minutes

    def for_source(self, source_type: str) -> SourceThresholds:
        return self.news if source_type == "news" else self.social

    @property
    def slow_baseline_minutes(self) -> int:
        """Baseline minutes inside the slow window: L - W, at most half the baseline."""
        return min(self.slow_minutes - self.recent_minutes, self.baseline_hours * 60 // 2)



class WatchConfig(Strict):
    version: Literal[1] = 1
    topics: list[Topic] = Field(min_length=1)
    sources: list[Source] = Field(default_factory=list)
    feeds: list[Feed] = Field(default_factory=list)
    accounts: dict[Literal[LISTENING_PLATFORMS], BankAccount] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="the bank's own account per platform")
    high_reach_followers: int = Field(default=10_000, ge=1)
    detection: Thresholds = Field(default_factory=Thresholds)
    inbox: InboxSettings = Field(default_factory=InboxSettings)
    review: EffectRules = Field(default_factory=EffectRules)
    default_timezone: str = Field(default="Asia/Shanghai", description="IANA zone of feed dates that carry"
                                                                       " none, unless the feed names its own")

    @field_validator("default_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return iana_timezone(value)

    @model_validator(mode="after")
    def _consistent(self) -> "WatchConfig":
        topic_ids = {t.id for t in self.topics}
        _unique("topics", [t.id for t in self.topics])
        _unique("sources", [s.id for s in self.sources])
        _unique("feeds", [f.name for f in self.feeds])
        for platform, account in self.accounts.items():
            unknown = set(account.topics or []) - topic_ids
            if unknown:
                raise ValueError(f"accounts.{platform}.topics: unknown topic id(s) {sorted(unknown)}")
        for i, source in enumerate(self.sources):
            unknown = set(source.topics or []) - topic_ids
            if unknown:
                raise ValueError(f"sources.{i}.topics: unknown topic id(s) {sorted(unknown)}")
            if source.platform == "x" and source.query is None and _x_query_bound(
                    self.topics_for(source), self._x_handle()) > X_QUERY_MAX_LENGTH:
                query = self.query_for(source)
                if len(query) > X_QUERY_MAX_LENGTH:
                    raise ValueError(
                        f"sources.{i}.query: the query built from the topics is {len(query)} characters,"
                        f" over X's limit of {X_QUERY_MAX_LENGTH}; give an explicit query"
                    )
        return self

    def source(self, source_id: str) -> Source:
        return next(s for s in self.sources if s.id == source_id)

    def sources_on(self, platform: str) -> list[Source]:
        return [s for s in self.sources if s.platform == platform]

    def topics_for(self, source: SourceBase) -> list[Topic]:
        return [t for t in self.topics if source.topics is None or t.id in source.topics]

    def addressed_topics(self, source: SourceBase) -> tuple[str, ...]:
        """Where a post that addresses the bank on this source's platform is counted when it names no topic:
        the account's `topics`, else the source's topics that the bank's own handles name (a watch of the
        bank and its rivals: a comment under the bank's video is not about a rival), else all the source's."""
        account = self.accounts.get(source.platform)  # type: ignore[call-overload]
        if account is not None and account.topics:
            return tuple(account.topics)
        topics = self.topics_for(source)
        handles = [_identity(a.handle) for a in self.accounts.values()]
        own = tuple(t.id for t in topics if any(_names_account(_identity(name), handles) for name in t.names))
        return own or tuple(t.id for t in topics)

    def query_for(self, source: XSource) -> str:
        if source.query:
            return source.query
        return build_x_query(self.topics_for(source), bank_handle=self._x_handle())

    def _x_handle(self) -> str | None:
        bank = self.accounts.get("x")
        return bank.handle if bank else None


def _identity(name: str) -> str:
    """A name or handle as an identity: NFKC, case-folded, letters and digits only ("Example Bank",
    "ExampleBank" and "example.bank" are one)."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", name).casefold() if ch.isalnum())


def _names_account(name: str, handles: list[str]) -> bool:
    """Whether a topic's name is one of the bank's handles or a part of one ("HarborBankHK"); a part of
    fewer than four characters is too likely a chance match."""
    return any(name == handle or (len(name) >= 4 and name in handle) for handle in handles if name)


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
    from crisiscomms.scoring import to_traditional

    out: list[str] = []
    for term in terms:
        out += dict.fromkeys([term, to_traditional(term)])
    return out


def _x_terms(topics: list[Topic], bank_handle: str | None, spellings: Callable[[list[str]], list[str]]) -> list[str]:
    terms: list[str] = []
    for topic in topics:
        terms += [_quote(n) for n in spellings(topic.names)]
        terms += [_quote(k) for k in spellings(topic.keywords)]
        terms += [_quote(a) for a in spellings(topic.ambiguous)]
        terms += [f"#{h}" for h in spellings(topic.hashtags)]
        terms += [f"@{a}" for a in topic.accounts]
    if bank_handle:
        handle = bank_handle.lstrip("@")
        terms += [f"@{handle}", f"to:{handle}"]
    return list(dict.fromkeys(terms))


def _any_of(terms: list[str]) -> str:
    return f"({' OR '.join(terms)}) -is:retweet"


def build_x_query(topics: list[Topic], *, bank_handle: str | None = None) -> str:
    """An X search query that finds every post any of the topics could match, and every mention
    of and reply to the bank's own account; originals only."""
    return _any_of(_x_terms(topics, bank_handle, _both_scripts))


def _has_han(term: str) -> bool:
    """Whether the term has a character in U+3400..U+9FFF, where every character the scorer respells
    lies (tests/unit/test_cold_start_lazy.py); a loop, as compiling that range takes 2 ms."""
    return any("\u3400" <= ch <= "\u9fff" for ch in term)


def _x_query_bound(topics: list[Topic], bank_handle: str | None) -> int:
    """At least the length of `build_x_query`, without the Traditional spellings (the scorer's table).

    A Traditional spelling is as long as its term and only a term with a Han character has one, so
    the query is at most the Simplified one plus each such term once more. Validation builds the
    real query only when this bound is over the limit, and a Detector, which never searches X, does
    not import the scorer to read its configuration."""
    terms = _x_terms(topics, bank_handle, lambda spelled: spelled)
    return len(_any_of(terms)) + sum(len(t) + len(" OR ") for t in terms if _has_han(t))


def parse_watch_config(document: str | bytes | dict) -> WatchConfig:
    """Validate the whole document; the error names each bad field and why."""
    try:
        if isinstance(document, dict):
            return WatchConfig.model_validate(document)
        return WatchConfig.model_validate_json(document)
    except ValidationError as exc:
        problems = "; ".join(f"{_where(err) or '(document)'}: {err['msg']}" for err in exc.errors())
        raise ConfigurationError(f"invalid watch configuration: {problems}") from exc


def _where(err: dict) -> str:
    """The dotted path of a problem; a source's unknown platform is reported on `platform` itself."""
    loc = [str(p) for i, p in enumerate(err["loc"])
           if not (i >= 2 and err["loc"][i - 2] == "sources" and p in LISTENING_PLATFORMS)]  # the union's tag
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc.append(str(err.get("ctx", {}).get("discriminator", "")).strip("'"))
    return ".".join(loc)
