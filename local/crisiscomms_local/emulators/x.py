"""Emulator of X API v2 recent search (GET /2/tweets/search/recent) and posts lookup (GET /2/tweets).

It follows the documented wire format - field selection, expansions, ``meta``
pagination, problem-details errors, ``x-rate-limit-*`` headers - so that the project's
X adapter can be tested against it without a network. Posts become searchable once the
simulated clock reaches their ``created_at`` and drop out after seven days, as on X.
A post's public metrics can change over simulated time (``set_metrics``) and a post can be
deleted (``delete_post``): a lookup then names it in ``errors`` ("Not Found Error") inside a 200.
Each endpoint has its own rate-limit window, as on X.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import unicodedata
from bisect import bisect_left, bisect_right, insort
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from math import ceil
from typing import Any, Callable

from .base import (
    Clock,
    EmulatorServer,
    Fault,
    Request,
    Response,
    as_utc,
    reason_phrase,
    rfc3339,
)

SEARCH_PATH = "/2/tweets/search/recent"
LOOKUP_PATH = "/2/tweets"
LOOKUP_MAX_IDS = 100
RESOURCE_NOT_FOUND_TYPE = "https://api.twitter.com/2/problems/resource-not-found"
LOOKUP_PARAMS = ("ids", "expansions", "tweet.fields", "media.fields", "poll.fields", "user.fields", "place.fields")
TWITTER_EPOCH = datetime(2010, 11, 4, 1, 42, 54, 657000, tzinfo=timezone.utc)
# The low 22 bits of a snowflake tell posts of the same millisecond apart; as X's machines do, the
# two emulators of one drill draw from separate halves, so a post someone makes and the bank's own
# post of the same millisecond never share an id (a reply to one would reach the other).
SEQUENCE_LIMIT = 1 << 21
SEARCH_WINDOW = timedelta(days=7)
# X rejects an end_time closer to the request time than this.
END_TIME_MIN_AGE = timedelta(seconds=10)

INVALID_REQUEST_TYPE = "https://api.twitter.com/2/problems/invalid-request"
OPERATORS_DOC = "https://developer.twitter.com/en/docs/twitter-api/tweets/search/integrate/build-a-query"

ALLOWED_PARAMS = (
    "query", "start_time", "end_time", "since_id", "until_id", "max_results", "next_token",
    "pagination_token", "sort_order", "expansions", "tweet.fields", "media.fields",
    "poll.fields", "user.fields", "place.fields",
)
TWEET_FIELDS = (
    "article", "attachments", "author_id", "card_uri", "community_id", "context_annotations",
    "conversation_id", "created_at", "display_text_range", "edit_controls",
    "edit_history_tweet_ids", "entities", "geo", "id", "in_reply_to_user_id", "lang",
    "media_metadata", "non_public_metrics", "note_tweet", "organic_metrics",
    "possibly_sensitive", "promoted_metrics", "public_metrics", "referenced_tweets",
    "reply_settings", "scopes", "source", "text", "withheld",
)
USER_FIELDS = (
    "affiliation", "connection_status", "created_at", "description", "entities", "id",
    "is_identity_verified", "location", "most_recent_tweet_id", "name", "parody",
    "pinned_tweet_id", "profile_banner_url", "profile_image_url", "protected",
    "public_metrics", "receives_your_dm", "subscription", "subscription_type", "url",
    "username", "verified", "verified_followers_count", "verified_type", "withheld",
)
EXPANSIONS = (
    "article.cover_media", "article.media_entities", "attachments.media_keys",
    "attachments.media_source_tweet", "attachments.poll_ids", "author_id",
    "edit_history_tweet_ids", "entities.mentions.username", "entities.note.mentions.username",
    "geo.place_id", "in_reply_to_user_id", "referenced_tweets.id",
    "referenced_tweets.id.author_id",
)
PLACE_FIELDS = (
    "contained_within", "country", "country_code", "full_name", "geo", "id", "name",
    "place_type",
)
MEDIA_FIELDS = (
    "alt_text", "duration_ms", "height", "media_key", "non_public_metrics", "organic_metrics",
    "preview_image_url", "promoted_metrics", "public_metrics", "type", "url", "variants",
    "width",
)
POLL_FIELDS = ("duration_minutes", "end_datetime", "id", "options", "voting_status")
LIST_PARAMS = {
    "tweet.fields": TWEET_FIELDS,
    "user.fields": USER_FIELDS,
    "expansions": EXPANSIONS,
    "place.fields": PLACE_FIELDS,
    "media.fields": MEDIA_FIELDS,
    "poll.fields": POLL_FIELDS,
}

# Users are not modelled beyond their posts; this is what X would report for an old account.
USER_CREATED_AT = "2012-06-01T00:00:00.000Z"


# ---------------------------------------------------------------------------------------
# Text analysis shared by the query matcher and the ``entities`` field
# ---------------------------------------------------------------------------------------

# Han, kana and Hangul: scripts written without spaces, so keywords match as substrings.
_CJK = (
    "\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff"
)
# A CJK character is a token on its own; other word characters group into words.
_TOKEN_RE = re.compile(rf"[{_CJK}]|(?:(?![{_CJK}])\w)+")
_HASHTAG_RE = re.compile(r"(?<![\w&#])#(\w+)")
_MENTION_RE = re.compile(r"(?<![\w@])@(\w+)")
_CASHTAG_RE = re.compile(r"(?<![\w$])\$([A-Za-z][A-Za-z0-9_]{0,5}(?:\.[A-Za-z]{1,2})?)(?!\w)")


def _fold(text: str) -> str:
    """Case- and width-insensitive form (NFKC turns full-width Latin into ASCII)."""
    return unicodedata.normalize("NFKC", text).casefold()


def _tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(_fold(text))


@dataclass(frozen=True)
class _Doc:
    """A post pre-analysed once for matching: tokens, entities, author, lang."""

    tokens: tuple[str, ...]
    hashtags: frozenset[str]
    mentions: frozenset[str]
    cashtags: frozenset[str]
    username: str
    user_id: str
    lang: str | None
    reply_to: str | None = None  # folded username of the account replied to (to:)

    @classmethod
    def of(cls, text: str, username: str, user_id: str, lang: str | None, reply_to: str | None = None) -> "_Doc":
        return cls(
            tokens=tuple(_tokens(text)),
            hashtags=frozenset(_fold(m) for m in _HASHTAG_RE.findall(text)),
            mentions=frozenset(_fold(m) for m in _MENTION_RE.findall(text)),
            cashtags=frozenset(_fold(m) for m in _CASHTAG_RE.findall(text)),
            username=_fold(username),
            user_id=user_id,
            lang=_fold(lang) if lang else None,
            reply_to=_fold(reply_to) if reply_to else None,
        )

    def has_sequence(self, wanted: tuple[str, ...]) -> bool:
        n = len(wanted)
        if n == 0:
            return False
        return any(self.tokens[i:i + n] == wanted for i in range(len(self.tokens) - n + 1))


def _entities(text: str) -> dict[str, list[dict[str, Any]]]:
    """The ``entities`` tweet field: hashtags, mentions and cashtags with code-point offsets."""
    found: dict[str, list[dict[str, Any]]] = {}
    for key, pattern, name in (
        ("hashtags", _HASHTAG_RE, "tag"),
        ("mentions", _MENTION_RE, "username"),
        ("cashtags", _CASHTAG_RE, "tag"),
    ):
        items = [{"start": m.start(), "end": m.end(), name: m.group(1)} for m in pattern.finditer(text)]
        if items:
            found[key] = items
    return found


# ---------------------------------------------------------------------------------------
# Query language (the subset of X's operators the project uses)
# ---------------------------------------------------------------------------------------


class QueryError(ValueError):
    """A query X would reject; ``position`` is 1-based like X's messages."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position})")
        self.position = position


class _Node:
    positive_standalone = False

    def match(self, doc: _Doc) -> bool:
        raise NotImplementedError

    def has_standalone(self, negated: bool = False) -> bool:
        """Whether a non-negated standalone clause exists; X refuses queries without one."""
        return self.positive_standalone and not negated


@dataclass
class _Keyword(_Node):
    """Whole-word match on Latin text; every CJK character is its own token, so a CJK
    keyword matches as a substring of the CJK run (ignoring spaces and punctuation)."""

    word: str
    positive_standalone = True

    def __post_init__(self) -> None:
        self._seq = tuple(_tokens(self.word))

    def match(self, doc: _Doc) -> bool:
        return doc.has_sequence(self._seq)


@dataclass
class _Phrase(_Node):
    phrase: str
    positive_standalone = True

    def __post_init__(self) -> None:
        self._seq = tuple(_tokens(self.phrase))

    def match(self, doc: _Doc) -> bool:
        return doc.has_sequence(self._seq)


@dataclass
class _Entity(_Node):
    """#hashtag, @mention, $cashtag, from:user, to:user - exact, case-insensitive matches."""

    kind: str
    value: str
    positive_standalone = True

    def __post_init__(self) -> None:
        self._folded = _fold(self.value)

    def match(self, doc: _Doc) -> bool:
        if self.kind == "#":
            return self._folded in doc.hashtags
        if self.kind == "@":
            return self._folded in doc.mentions
        if self.kind == "$":
            return self._folded in doc.cashtags
        if self.kind == "to":
            return self._folded == doc.reply_to
        return self._folded in (doc.username, doc.user_id)  # from:


@dataclass
class _Lang(_Node):
    code: str

    def match(self, doc: _Doc) -> bool:
        return doc.lang == _fold(self.code)


@dataclass
class _Is(_Node):
    """is:retweet / is:reply / is:quote: the emulator only holds original posts."""

    flag: str

    def match(self, doc: _Doc) -> bool:
        return False


@dataclass
class _Not(_Node):
    child: _Node

    def match(self, doc: _Doc) -> bool:
        return not self.child.match(doc)

    def has_standalone(self, negated: bool = False) -> bool:
        return self.child.has_standalone(not negated)


@dataclass
class _All(_Node):
    children: list[_Node]

    def match(self, doc: _Doc) -> bool:
        return all(child.match(doc) for child in self.children)

    def has_standalone(self, negated: bool = False) -> bool:
        return any(child.has_standalone(negated) for child in self.children)


@dataclass
class _Any(_Node):
    children: list[_Node]

    def match(self, doc: _Doc) -> bool:
        return any(child.match(doc) for child in self.children)

    def has_standalone(self, negated: bool = False) -> bool:
        return any(child.has_standalone(negated) for child in self.children)


_IS_FLAGS = ("retweet", "reply", "quote")
_LANG_RE = re.compile(r"^[a-z]{2,3}(?:-[a-z]{2,4})?$", re.IGNORECASE)


@dataclass
class _Tok:
    kind: str  # "(", ")", "OR", "-", "atom"
    pos: int  # 1-based
    node: _Node | None = None


def _lex(query: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            tokens.append(_Tok(ch, i + 1))
            i += 1
        elif ch == "-":
            if i + 1 >= n or query[i + 1].isspace() or query[i + 1] == ")":
                raise QueryError("Ambiguous use of - as a keyword. Use quotes to search for the literal -", i + 1)
            tokens.append(_Tok("-", i + 1))
            i += 1
        elif ch == '"':
            close = query.find('"', i + 1)
            if close < 0:
                raise QueryError("Unterminated quoted phrase", i + 1)
            phrase = query[i + 1:close]
            if not _tokens(phrase):
                raise QueryError("Empty quoted phrase", i + 1)
            tokens.append(_Tok("atom", i + 1, _Phrase(phrase)))
            i = close + 1
        else:
            start = i
            while i < n and not query[i].isspace() and query[i] not in '()"':
                i += 1
            word = query[start:i]
            if word == "OR":
                tokens.append(_Tok("OR", start + 1))
            else:
                tokens.append(_Tok("atom", start + 1, _atom(word, start + 1)))
    return tokens


def _atom(word: str, pos: int) -> _Node:
    """Classify one bare word: operator, entity or keyword."""
    if word[0] in "#@$" and len(word) > 1 and ":" not in word:
        if word[0] == "$" and not word[1].isalpha():
            return _Keyword(word)  # "$5" is an amount, not a cashtag
        return _Entity(word[0], word[1:])
    if ":" in word:
        name, _, value = word.partition(":")
        if name in ("from", "to") and value:
            return _Entity(name, value.lstrip("@"))
        if name == "lang" and _LANG_RE.match(value):
            return _Lang(value)
        if name == "is" and value in _IS_FLAGS:
            return _Is(value)
        operator = f"{name}:{value}" if name == "is" else name
        raise QueryError(
            f"Reference to invalid operator '{operator}'. Operator is not available in current "
            f"product or product packaging. Please refer to complete available operator list "
            f"at {OPERATORS_DOC}.",
            pos,
        )
    if not _tokens(word):
        raise QueryError(f"Keyword '{word}' contains no searchable characters", pos)
    return _Keyword(word)


class _Parser:
    """Recursive descent: OR binds looser than the implicit AND, as X documents."""

    def __init__(self, query: str) -> None:
        self.tokens = _lex(query)
        self.i = 0
        self.end = len(query) + 1

    def _peek(self) -> _Tok | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def parse(self) -> _Node:
        if not self.tokens:
            raise QueryError("The query is empty", 1)
        node = self._or()
        extra = self._peek()
        if extra is not None:
            raise QueryError(f"Unbalanced parenthesis: unexpected '{extra.kind}'", extra.pos)
        if not node.has_standalone():
            raise QueryError(
                "Rules must contain a non-negation term that is not lang: or is: alone", 1
            )
        return node

    def _or(self) -> _Node:
        children = [self._and()]
        while (tok := self._peek()) is not None and tok.kind == "OR":
            self.i += 1
            children.append(self._and())
        return children[0] if len(children) == 1 else _Any(children)

    def _and(self) -> _Node:
        children: list[_Node] = []
        while (tok := self._peek()) is not None and tok.kind not in (")", "OR"):
            children.append(self._unary())
        if not children:
            tok = self._peek()
            raise QueryError(
                "Expected a term" + (f" before '{tok.kind}'" if tok else " at end of query"),
                tok.pos if tok else self.end,
            )
        return children[0] if len(children) == 1 else _All(children)

    def _unary(self) -> _Node:
        tok = self._peek()
        assert tok is not None
        if tok.kind == "-":
            self.i += 1
            return _Not(self._primary())
        return self._primary()

    def _primary(self) -> _Node:
        tok = self._peek()
        if tok is None:
            raise QueryError("Expected a term at end of query", self.end)
        self.i += 1
        if tok.kind == "atom":
            assert tok.node is not None
            return tok.node
        if tok.kind == "(":
            node = self._or()
            close = self._peek()
            if close is None or close.kind != ")":
                raise QueryError("Unbalanced parenthesis: missing ')'", tok.pos)
            self.i += 1
            return node
        raise QueryError(f"Unexpected '{tok.kind}'", tok.pos)


def parse_query(query: str) -> Callable[[_Doc], bool]:
    """Compile an X search query to a predicate; raises QueryError like X's 400s."""
    return _Parser(query).parse().match


# ---------------------------------------------------------------------------------------
# The emulator
# ---------------------------------------------------------------------------------------


@dataclass
class _User:
    id: str
    username: str
    followers: int = 0


@dataclass(frozen=True)
class _Post:
    id: int
    created_at: datetime
    user_key: str | None = None
    text: str = ""
    metrics: dict[str, int] = field(default_factory=dict)
    lang: str | None = None
    location: str | None = None
    country_code: str | None = None  # of the post's place, as X gives it with place.fields=country_code
    place_type: str | None = None
    in_reply_to: str | None = None  # the username replied to
    doc: _Doc | None = None
    raw: dict[str, Any] | None = None  # malformed posts are served verbatim

    def __lt__(self, other: "_Post") -> bool:
        return self.id < other.id


@dataclass(frozen=True)
class XStats:
    """Counters for assertions: search calls received and how many got 429 / 401."""

    search_requests: int
    rate_limited: int
    unauthorized: int
    lookup_requests: int = 0


class _InvalidRequest(Exception):
    """Collected parameter errors, answered as one 400 problem document."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors


def _unknown_params(request: Request, allowed: Sequence[str]) -> list[dict[str, Any]]:
    """X's error for each query parameter the endpoint does not take (the rest of its validation adds to it)."""
    return [_param_error(name, request.param(name), f"The query parameter [{name}] is not one of [{','.join(allowed)}]")
            for name in request.query if name not in allowed]


def _param_error(name: str, value: str | None, message: str) -> dict[str, Any]:
    return {"parameters": {name: [value] if value is not None else []}, "message": message}


def place_id_for(location: str) -> str:
    """A stable 16-hex place id, the shape X uses for places."""
    return hashlib.sha1(location.strip().encode("utf-8")).hexdigest()[:16]


def user_id_for(username: str) -> str:
    """A stable 18-digit user id derived from the (case-insensitive) username."""
    digest = int(hashlib.sha256(_fold(username).encode("utf-8")).hexdigest(), 16)
    return str(10**17 + digest % (9 * 10**17))


def _first_id_of(when: datetime) -> int:
    """The smallest id a post created in ``when``'s millisecond can have (ids before it are older)."""
    return max(0, (as_utc(when) - TWITTER_EPOCH) // timedelta(milliseconds=1)) << 22


def _first_id_after(when: datetime) -> int:
    """The smallest id a post created after ``when``'s millisecond can have (ids from it are newer)."""
    return max(0, (as_utc(when) - TWITTER_EPOCH) // timedelta(milliseconds=1) + 1) << 22


def snowflake_time(tweet_id: int) -> datetime:
    """The creation time encoded in a snowflake id."""
    return TWITTER_EPOCH + timedelta(milliseconds=tweet_id >> 22)


class XEmulator(EmulatorServer):
    """X API v2 recent search and posts lookup over posts scripted with ``add_post``.

    Rate limiting counts every authenticated request of an endpoint in fixed windows of
    ``window_seconds`` of simulated time, each opened by the first request after the
    previous one closed (X's per-app 15-minute windows, one per endpoint).
    """

    def __init__(
        self,
        clock: Clock,
        *,
        bearer_token: str = "local-x-token",
        requests_per_window: int = 450,
        window_seconds: int = 900,
        timeout_delay: float = 2.0,
        max_query_length: int = 512,
    ) -> None:
        super().__init__(clock, timeout_delay=timeout_delay)
        if requests_per_window < 1 or window_seconds < 1:
            raise ValueError("requests_per_window and window_seconds must be positive")
        self.bearer_token = bearer_token
        self.requests_per_window = requests_per_window
        self.window_seconds = window_seconds
        self.max_query_length = max_query_length
        self.bank_handle: str | None = None  # the bank's own account: posts made with to_bank reply to it
        self._posts: list[_Post] = []  # sorted by id
        self._ids: list[int] = []  # the same ids, for bisecting: a search costs its page, not the archive
        self._users: dict[str, _User] = {}
        self._user_times: dict[str, list[datetime]] = {}  # per user, created_at of their posts, sorted
        self._seq: dict[int, int] = {}
        self._windows: dict[str, tuple[datetime, int]] = {}  # per endpoint path: (reset, requests used)
        self._metric_steps: dict[int, list[tuple[datetime, dict[str, int]]]] = {}  # per post id, by time
        self._deleted: dict[int, datetime] = {}  # per post id: when it was deleted

    # -- scripting -------------------------------------------------------------------

    def add_post(
        self,
        *,
        text: str,
        author: str,
        created_at: datetime,
        followers: int = 0,
        likes: int = 0,
        reposts: int = 0,
        replies: int = 0,
        quotes: int = 0,
        lang: str | None = None,
        location: str | None = None,
        country_code: str | None = None,
        place_type: str | None = None,
        to_bank: bool = False,
        in_reply_to: str | None = None,
    ) -> str:
        """Script a post; it becomes searchable when the clock reaches ``created_at``.

        The author's follower count is the one given with their latest ``add_post`` call.
        ``location`` is the tagged place's ``full_name`` ("Shenzhen, People's Republic of China");
        ``country_code`` and ``place_type`` are what X reports with it (shown when requested).
        ``in_reply_to`` makes it a reply to that username; ``to_bank`` a reply to ``bank_handle``.
        Returns the snowflake id (ids grow with ``created_at``, so since_id works).
        """
        if not author or not author.strip():
            raise ValueError("author must be a non-empty username")
        if to_bank:
            if not self.bank_handle:
                raise ValueError("to_bank needs the emulator's bank_handle")
            in_reply_to = in_reply_to or self.bank_handle
        created_at = as_utc(created_at, "created_at")
        key = _fold(author)
        with self._lock:
            user = self._users.get(key)
            if user is None:
                user = self._users[key] = _User(id=user_id_for(author), username=author)
            user.followers = followers
            post_id = self._next_id(created_at)
            post = _Post(
                id=post_id,
                created_at=created_at,
                user_key=key,
                text=text,
                metrics={
                    "retweet_count": reposts,
                    "reply_count": replies,
                    "like_count": likes,
                    "quote_count": quotes,
                    "bookmark_count": 0,
                    "impression_count": 0,
                },
                lang=lang,
                location=location.strip() if location and location.strip() else None,
                country_code=country_code,
                place_type=place_type,
                in_reply_to=in_reply_to,
                doc=_Doc.of(text, user.username, user.id, lang, in_reply_to),
            )
            self._insert(post)
            insort(self._user_times.setdefault(key, []), created_at)
        return str(post_id)

    def add_malformed(self, *, created_at: datetime, raw: dict[str, Any]) -> str:
        """Script a broken tweet object served verbatim in ``data`` for every query.

        It is positioned (since_id, pagination, visibility) by an id generated from
        ``created_at``, which is returned; ``raw`` itself is not altered.
        """
        created_at = as_utc(created_at, "created_at")
        with self._lock:
            post_id = self._next_id(created_at)
            self._insert(_Post(id=post_id, created_at=created_at, raw=dict(raw)))
        return str(post_id)

    def set_metrics(self, post_id: str, *, at: datetime, likes: int | None = None, reposts: int | None = None,
                    replies: int | None = None, quotes: int | None = None) -> None:
        """From simulated time ``at`` on, the post's public metrics are these (those not given keep their
        value): engagement that grows after a post was first read. Calls add steps to a schedule."""
        changed = {name: value for name, value in (("like_count", likes), ("retweet_count", reposts),
                                                   ("reply_count", replies), ("quote_count", quotes))
                   if value is not None}
        if any(value < 0 for value in changed.values()):
            raise ValueError("metrics must not be negative")
        at = as_utc(at, "at")
        with self._lock:
            self._post(int(post_id))
            insort(self._metric_steps.setdefault(int(post_id), []), (at, changed), key=lambda step: step[0])

    def delete_post(self, post_id: str, *, at: datetime) -> None:
        """From simulated time ``at`` on the post is gone: searches skip it, a lookup names it in ``errors``."""
        with self._lock:
            self._post(int(post_id))
            self._deleted[int(post_id)] = as_utc(at, "at")

    def _post(self, post_id: int) -> _Post:
        """The scripted post with this id (callers hold the lock); KeyError when there is none."""
        at = bisect_left(self._ids, post_id)
        if at == len(self._ids) or self._ids[at] != post_id:
            raise KeyError(f"no post {post_id}")
        return self._posts[at]

    def _metrics(self, post: _Post, now: datetime) -> dict[str, int]:
        """The post's public metrics at ``now``: as scripted, then every step of its schedule up to ``now``."""
        metrics = dict(post.metrics)
        with self._lock:
            for at, changed in self._metric_steps.get(post.id, ()):
                if at > now:
                    break
                metrics.update(changed)
        return metrics

    def _gone(self, post: _Post, now: datetime) -> bool:
        deleted = self._deleted.get(post.id)
        return deleted is not None and deleted <= now

    def _insert(self, post: _Post) -> None:
        """Keep posts and their ids sorted by id (callers hold the lock)."""
        at = bisect_right(self._ids, post.id)
        self._ids.insert(at, post.id)
        self._posts.insert(at, post)

    def _next_id(self, created_at: datetime) -> int:
        """Snowflake: milliseconds since X's epoch << 22, plus a per-millisecond sequence below
        SEQUENCE_LIMIT (the bank's own posts, made by the posting emulator, take the ids above it)."""
        ms = (created_at - TWITTER_EPOCH) // timedelta(milliseconds=1)
        if ms < 0:
            raise ValueError("created_at must be after 2010-11-04T01:42:54.657Z (X's epoch)")
        seq = self._seq.get(ms, 0)
        if seq >= SEQUENCE_LIMIT:
            raise ValueError("too many posts in the same millisecond")
        self._seq[ms] = seq + 1
        return (ms << 22) | seq

    # -- inspection --------------------------------------------------------------------

    def stats(self) -> XStats:
        """Search requests received, 429s served and 401s served so far."""
        log = self.requests_log
        return XStats(
            search_requests=sum(1 for r in log if r.path == SEARCH_PATH),
            rate_limited=sum(1 for r in log if r.status == 429),
            unauthorized=sum(1 for r in log if r.status == 401),
            lookup_requests=sum(1 for r in log if r.path == LOOKUP_PATH),
        )

    # -- rate limiting -------------------------------------------------------------------

    def _consume(self, now: datetime, endpoint: str = SEARCH_PATH) -> bool:
        """Take one request from the endpoint's current window; False once it is exhausted."""
        with self._lock:
            reset, used = self._windows.get(endpoint, (None, 0))
            if reset is None or now >= reset:
                reset, used = now + timedelta(seconds=self.window_seconds), 0
            if used >= self.requests_per_window:
                self._windows[endpoint] = (reset, used)
                return False
            self._windows[endpoint] = (reset, used + 1)
            return True

    def _rate_headers(self, now: datetime, *, reset: datetime | None = None, exhausted: bool = False,
                      endpoint: str = SEARCH_PATH) -> dict[str, str]:
        with self._lock:
            window_reset, used = self._windows.get(endpoint, (None, 0))
            window_open = window_reset is not None and now < window_reset
            remaining = self.requests_per_window - used if window_open else self.requests_per_window
            if reset is None:
                reset = window_reset if window_open else now + timedelta(seconds=self.window_seconds)
        assert reset is not None
        return {
            "x-rate-limit-limit": str(self.requests_per_window),
            "x-rate-limit-remaining": "0" if exhausted else str(remaining),
            "x-rate-limit-reset": str(ceil(reset.timestamp())),
        }

    # -- HTTP ------------------------------------------------------------------------------

    def _json(self, status: int, body: dict[str, Any], now: datetime, **rate: Any) -> Response:
        return Response(
            status=status,
            body=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8", **self._rate_headers(now, **rate)},
        )

    def _problem(self, status: int, now: datetime, *, title: str | None = None,
                 detail: str | None = None, **rate: Any) -> Response:
        title = title or reason_phrase(status)
        body = {"title": title, "detail": detail or title, "type": "about:blank", "status": status}
        return self._json(status, body, now, **rate)

    def fault_response(self, fault: Fault, request: Request, now: datetime) -> Response:
        """429 with x-rate-limit headers, or the fault's status as a problem document."""
        if fault.kind == "rate_limit":
            wait = fault.retry_after if fault.retry_after is not None else fault.seconds_left(now)
            return self._problem(429, now, reset=now + timedelta(seconds=wait), exhausted=True, endpoint=request.path)
        assert fault.status is not None
        return self._problem(fault.status, now)

    def fault_target(self, request: Request) -> str | None:
        """``search`` or ``lookup``: a fault with one of them as target hits that endpoint only."""
        return {SEARCH_PATH: "search", LOOKUP_PATH: "lookup"}.get(request.path)

    def handle(self, request: Request) -> Response:
        now = as_utc(self.clock(), "clock()")
        if request.path not in (SEARCH_PATH, LOOKUP_PATH):
            return self._problem(404, now, title="Not Found Error",
                                 detail=f"Could not find the requested resource: {request.path}")
        if request.method not in ("GET", "HEAD"):
            return self._problem(405, now)
        if not self._authorized(request.header("Authorization")):
            return self._problem(401, now, title="Unauthorized", detail="Unauthorized")
        endpoint = request.path
        if not self._consume(now, endpoint):
            return self._problem(429, now, exhausted=True, endpoint=endpoint)
        try:
            body = self._search(request, now) if endpoint == SEARCH_PATH else self._lookup(request, now)
            return self._json(200, body, now, endpoint=endpoint)
        except _InvalidRequest as invalid:
            body = {
                "errors": invalid.errors,
                "title": "Invalid Request",
                "detail": "One or more parameters to your request was invalid.",
                "type": INVALID_REQUEST_TYPE,
                "status": 400,
            }
            return self._json(400, body, now, endpoint=endpoint)

    def _authorized(self, header: str | None) -> bool:
        scheme, _, token = (header or "").partition(" ")
        return scheme.lower() == "bearer" and token.strip() == self.bearer_token

    # -- search ------------------------------------------------------------------------------

    def _search(self, request: Request, now: datetime) -> dict[str, Any]:
        """Validate like X (collecting every error), then filter, page and render."""
        errors = _unknown_params(request, ALLOWED_PARAMS)

        fields = {name: self._list_param(request, name, allowed, errors) for name, allowed in LIST_PARAMS.items()}

        query = request.param("query")
        matcher: Callable[[_Doc], bool] | None = None
        if not query:
            errors.append(_param_error("query", query, "The `query` query parameter can not be empty"))
        elif len(query) > self.max_query_length:
            errors.append(_param_error("query", query,
                          f"The `query` query parameter can not be longer than {self.max_query_length} characters"))
        else:
            try:
                matcher = parse_query(query)
            except QueryError as exc:
                errors.append(_param_error("query", query, f"There were errors processing your request: {exc}"))

        max_results = 10
        raw_max = request.param("max_results")
        if raw_max is not None:
            if raw_max.isdigit() and 10 <= int(raw_max) <= 100:
                max_results = int(raw_max)
            else:
                errors.append(_param_error("max_results", raw_max,
                              f"The `max_results` query parameter value [{raw_max}] is not between 10 and 100"))

        sort_order = request.param("sort_order")
        if sort_order is not None and sort_order not in ("recency", "relevancy"):
            errors.append(_param_error("sort_order", sort_order,
                          f"The `sort_order` query parameter value [{sort_order}] is not one of [recency,relevancy]"))

        since_id = self._id_param(request, "since_id", errors)
        until_id = self._id_param(request, "until_id", errors)
        oldest = now - SEARCH_WINDOW
        if since_id is not None and snowflake_time(since_id) < oldest:
            errors.append(_param_error("since_id", str(since_id),
                          f"Invalid 'since_id':'{since_id}'. 'since_id' must be a tweet id created after {rfc3339(oldest)}"))
        start_time = self._time_param(request, "start_time", errors)
        end_time = self._time_param(request, "end_time", errors)
        if start_time is not None and start_time < oldest:
            errors.append(_param_error("start_time", request.param("start_time"),
                          f"Invalid 'start_time':'{request.param('start_time')}'. 'start_time' must be on or after {rfc3339(oldest)}"))
        if end_time is not None and end_time > now - END_TIME_MIN_AGE:
            errors.append(_param_error("end_time", request.param("end_time"),
                          f"Invalid 'end_time':'{request.param('end_time')}'. 'end_time' must be a minimum of 10 seconds prior to the request time."))
        if start_time is not None and end_time is not None and start_time >= end_time:
            errors.append(_param_error("start_time", request.param("start_time"),
                          f"Invalid 'start_time':'{request.param('start_time')}'. 'start_time' must be before 'end_time':'{request.param('end_time')}'"))

        cursor: int | None = None
        token_name = "next_token" if request.param("next_token") is not None else "pagination_token"
        token = request.param(token_name)
        if token is not None and query:
            cursor = self._decode_token(token, query)
            if cursor is None:
                errors.append(_param_error(token_name, token,
                              f"The `{token_name}` query parameter value [{token}] is not valid"))

        if errors or matcher is None:
            raise _InvalidRequest(errors)

        matches: list[_Post] = []
        with self._lock:
            # Ids grow with created_at at millisecond precision, so the id range bounds the scan;
            # every post inside it still gets the exact checks below.
            ids = self._ids
            high = bisect_left(ids, _first_id_after(now))
            if end_time is not None:
                high = min(high, bisect_left(ids, _first_id_after(end_time)))
            for bound in (until_id, cursor):
                if bound is not None:
                    high = min(high, bisect_left(ids, bound))
            low = bisect_left(ids, _first_id_of(oldest))
            if start_time is not None:
                low = max(low, bisect_left(ids, _first_id_of(start_time)))
            if since_id is not None:
                low = max(low, bisect_right(ids, since_id))
            for index in range(high - 1, low - 1, -1):  # newest first
                post = self._posts[index]
                if post.created_at > now or post.created_at < oldest or self._gone(post, now):
                    continue
                if (since_id is not None and post.id <= since_id) or (until_id is not None and post.id >= until_id):
                    continue
                if cursor is not None and post.id >= cursor:
                    continue
                if (start_time is not None and post.created_at < start_time) or (end_time is not None and post.created_at >= end_time):
                    continue
                if post.doc is None or matcher(post.doc):
                    matches.append(post)
                    if len(matches) > max_results:
                        break
            authors = {p.user_key for p in matches[:max_results] if p.user_key is not None}
            users = {key: self._users[key] for key in authors}
            posts_of = {key: bisect_right(self._user_times.get(key, []), now) for key in authors}

        page = matches[:max_results]
        if not page:
            return {"meta": {"result_count": 0}}
        meta: dict[str, Any] = {
            "newest_id": str(page[0].id),
            "oldest_id": str(page[-1].id),
            "result_count": len(page),
        }
        if len(matches) > max_results:
            meta["next_token"] = self._encode_token(page[-1].id, query)
        return self._render(page, users, posts_of, fields, meta, now)

    def _lookup(self, request: Request, now: datetime) -> dict[str, Any]:
        """Posts by id, in the order asked: ``data`` for those readable now (a malformed one verbatim, as
        search serves it), an ``errors`` entry for each other id (never created, not yet created, or
        deleted), no ``meta``; a 400 for bad parameters."""
        errors = _unknown_params(request, LOOKUP_PARAMS)
        fields = {name: self._list_param(request, name, allowed, errors) for name, allowed in LIST_PARAMS.items()}
        raw_ids = request.param("ids")
        ids: list[str] = []
        if not raw_ids:
            errors.append(_param_error("ids", raw_ids, "The `ids` query parameter can not be empty"))
        else:
            ids = raw_ids.split(",")
            if not 1 <= len(ids) <= LOOKUP_MAX_IDS:
                errors.append(_param_error("ids", raw_ids, f"The number of values in the `ids` query parameter list"
                                                           f" [{len(ids)}] is not between 1 and {LOOKUP_MAX_IDS}"))
            for value in ids:
                if not re.fullmatch(r"[0-9]{1,19}", value):
                    errors.append(_param_error("ids", value,
                                               f"The `ids` query parameter value [{value}] does not match ^[0-9]{{1,19}}$"))
        if errors:
            raise _InvalidRequest(errors)

        found: list[_Post] = []
        missing: list[str] = []
        with self._lock:
            for value in dict.fromkeys(ids):
                at = bisect_left(self._ids, int(value))
                post = self._posts[at] if at < len(self._ids) and self._ids[at] == int(value) else None
                if post is None or post.created_at > now or self._gone(post, now):
                    missing.append(value)
                else:
                    found.append(post)
            authors = {p.user_key for p in found if p.user_key is not None}
            users = {key: self._users[key] for key in authors}
            posts_of = {key: bisect_right(self._user_times.get(key, []), now) for key in authors}
        body = self._render(found, users, posts_of, fields, {}, now) if found else {}
        body.pop("meta", None)
        if missing:
            body["errors"] = [{
                "value": value, "detail": f"Could not find tweet with ids: [{value}].", "title": "Not Found Error",
                "resource_type": "tweet", "parameter": "ids", "resource_id": value, "type": RESOURCE_NOT_FOUND_TYPE,
            } for value in missing]
        return body

    def _render(self, page: list[_Post], users: dict[str, _User], posts_of: dict[str, int],
                fields: dict[str, set[str]], meta: dict[str, Any], now: datetime) -> dict[str, Any]:
        """Build ``data``/``includes``/``meta`` holding only what was asked for."""
        tweet_fields = fields["tweet.fields"]
        expansions = fields["expansions"]
        if "author_id" in expansions:
            tweet_fields = tweet_fields | {"author_id"}
        if "geo.place_id" in expansions:
            tweet_fields = tweet_fields | {"geo"}
        if "in_reply_to_user_id" in expansions:
            tweet_fields = tweet_fields | {"in_reply_to_user_id"}

        data: list[dict[str, Any]] = []
        by_key: dict[str, _User] = {}  # in order of first appearance
        places: dict[str, _Post] = {}  # full_name -> the first post tagged with it
        for post in page:
            if post.raw is not None:
                data.append(post.raw)
                continue
            user = users[post.user_key or ""]
            data.append(self._tweet(post, user, tweet_fields, self._metrics(post, now)))
            by_key.setdefault(post.user_key or "", user)
            if "in_reply_to_user_id" in expansions and post.in_reply_to:
                replied = users.get(_fold(post.in_reply_to)) or _User(id=user_id_for(post.in_reply_to),
                                                                       username=post.in_reply_to)
                by_key.setdefault(_fold(post.in_reply_to), replied)
            if post.location and post.location not in places:
                places[post.location] = post

        body: dict[str, Any] = {"data": data}
        includes: dict[str, Any] = {}
        if ("author_id" in expansions or "in_reply_to_user_id" in expansions) and by_key:
            includes["users"] = [self._user(u, fields["user.fields"], posts_of.get(k, 0)) for k, u in by_key.items()]
        if "geo.place_id" in expansions and places:
            includes["places"] = [self._place(p, fields["place.fields"]) for p in places.values()]
        if includes:
            body["includes"] = includes
        body["meta"] = meta
        return body

    @staticmethod
    def _tweet(post: _Post, user: _User, wanted: set[str], metrics: dict[str, int]) -> dict[str, Any]:
        tweet: dict[str, Any] = {
            "id": str(post.id),
            "text": post.text,
            "edit_history_tweet_ids": [str(post.id)],
        }
        if "created_at" in wanted:
            tweet["created_at"] = rfc3339(post.created_at)
        if "author_id" in wanted:
            tweet["author_id"] = user.id
        if "conversation_id" in wanted:
            tweet["conversation_id"] = str(post.id)
        if "lang" in wanted:
            tweet["lang"] = post.lang or "und"
        if "public_metrics" in wanted:
            tweet["public_metrics"] = dict(metrics)
        if "geo" in wanted and post.location:
            tweet["geo"] = {"place_id": place_id_for(post.location)}
        if "in_reply_to_user_id" in wanted and post.in_reply_to:
            tweet["in_reply_to_user_id"] = user_id_for(post.in_reply_to)
        if "entities" in wanted and (entities := _entities(post.text)):
            tweet["entities"] = entities
        if "possibly_sensitive" in wanted:
            tweet["possibly_sensitive"] = False
        if "reply_settings" in wanted:
            tweet["reply_settings"] = "everyone"
        return tweet

    @staticmethod
    def _user(user: _User, wanted: set[str], tweet_count: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": user.id,
            "name": user.username.title(),
            "username": user.username,
        }
        if "created_at" in wanted:
            out["created_at"] = USER_CREATED_AT
        if "description" in wanted:
            out["description"] = ""
        if "protected" in wanted:
            out["protected"] = False
        if "verified" in wanted:
            out["verified"] = False
        if "public_metrics" in wanted:
            out["public_metrics"] = {
                "followers_count": user.followers,
                "following_count": 0,
                "tweet_count": tweet_count,
                "listed_count": 0,
            }
        return out

    @staticmethod
    def _place(post: _Post, wanted: set[str]) -> dict[str, Any]:
        """A place object: id and full_name always (X's defaults), the rest when asked for and known.
        X's `name` is the place itself, before the comma of `full_name` ("Manhattan" of "Manhattan, NY")."""
        location = post.location or ""
        place: dict[str, Any] = {"full_name": location, "id": place_id_for(location)}
        if "name" in wanted:
            place["name"] = location.split(",")[0].strip()
        if "country_code" in wanted and post.country_code:
            place["country_code"] = post.country_code
        if "place_type" in wanted:
            place["place_type"] = post.place_type or ("city" if "," in location else "admin")
        return place

    # -- parameter parsing -----------------------------------------------------------------

    @staticmethod
    def _list_param(request: Request, name: str, allowed: tuple[str, ...],
                    errors: list[dict[str, Any]]) -> set[str]:
        raw = request.param(name)
        if raw is None:
            return set()
        values = raw.split(",")
        bad = [v for v in values if v not in allowed]
        for value in bad:
            errors.append(_param_error(name, value,
                          f"The `{name}` query parameter value [{value}] is not one of [{','.join(allowed)}]"))
        return set(values) - set(bad)

    @staticmethod
    def _id_param(request: Request, name: str, errors: list[dict[str, Any]]) -> int | None:
        raw = request.param(name)
        if raw is None:
            return None
        if re.fullmatch(r"[0-9]{1,19}", raw):
            return int(raw)
        errors.append(_param_error(name, raw, f"The `{name}` query parameter value [{raw}] does not match ^[0-9]{{1,19}}$"))
        return None

    @staticmethod
    def _time_param(request: Request, name: str, errors: list[dict[str, Any]]) -> datetime | None:
        raw = request.param(name)
        if raw is None:
            return None
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None or "T" not in raw:
            errors.append(_param_error(name, raw,
                          f"Invalid '{name}':'{raw}'. '{name}' must be a valid RFC 3339 timestamp (YYYY-MM-DDTHH:mm:ssZ)"))
            return None
        return parsed.astimezone(timezone.utc)

    # -- pagination tokens -----------------------------------------------------------------

    @staticmethod
    def _token_sig(last_id: int, query: str) -> str:
        return hashlib.sha256(f"x-emulator|{query}|{last_id}".encode("utf-8")).hexdigest()[:12]

    @classmethod
    def _encode_token(cls, last_id: int, query: str) -> str:
        """Opaque cursor: the last id served plus a signature binding it to the query."""
        payload = f"{last_id}.{cls._token_sig(last_id, query)}".encode("ascii")
        return base64.b32encode(payload).decode("ascii").rstrip("=").lower()

    @classmethod
    def _decode_token(cls, token: str, query: str) -> int | None:
        try:
            padded = token.upper() + "=" * (-len(token) % 8)
            last, _, sig = base64.b32decode(padded).decode("ascii").partition(".")
            last_id = int(last)
        except (ValueError, UnicodeDecodeError):
            return None
        return last_id if sig == cls._token_sig(last_id, query) else None
