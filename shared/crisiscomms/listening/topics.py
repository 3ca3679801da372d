"""Which watched topics a post belongs to.

Names, keywords, hashtags and accounts identify a topic; any exclusion vetoes it. Latin terms
match whole words, case- and accent-insensitively ("Societe Generale" is "Société Générale", as
people often type it); Chinese terms match as substrings, with Traditional characters folded to
Simplified so one keyword list serves both scripts. Invisible characters (zero-width spaces and
joiners, soft hyphens), which split a name without showing, are dropped.

A topic's ambiguous names (平安, "Chase") find posts too, but a post found through them alone
belongs to the topic only when it is judged about the bank (crisiscomms.listening.relatedness),
or when the bank's own account wrote it or it addresses the bank; otherwise the post is
unrelated to that topic (`relate`).
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from crisiscomms.listening.relatedness import AmbiguousNames
from crisiscomms.models import Post
from crisiscomms.scoring import normalise as fold_text
from crisiscomms.scoring import WORD_CLASS, to_simplified
from crisiscomms.watch import Topic, WatchConfig

_LATIN = re.compile(r"[a-z0-9]")
# Latin letters with marks (Latin-1 Supplement to Extended-B, Extended Additional), and the invisible
# characters that split a word without showing: a text holding neither skips both passes.
_MARKED_LATIN_RANGES = "\u00c0-\u024f\u1e00-\u1eff"
_INVISIBLE_CHARACTERS = "\u00ad\u200b-\u200d\u2060\ufeff"
_MARKED_LATIN = re.compile(f"[{_MARKED_LATIN_RANGES}]")
_INVISIBLE = re.compile(f"[{_INVISIBLE_CHARACTERS}]")
_MARKED_OR_INVISIBLE = re.compile(f"[{_MARKED_LATIN_RANGES}{_INVISIBLE_CHARACTERS}]")
# The characters of English words (the tokenizer's): a Latin name ends at Chinese text ("Lakeshore的柜员") as at a space.
_LATIN_EDGE = f"[{WORD_CLASS}_]"


def normalise(text: str) -> str:
    """The scorer's folding (width, case, quotes) plus Traditional to Simplified, Latin letters without
    their marks, and no invisible characters. ASCII text only changes case (NFKC, the quotes, the marks
    and the Traditional table leave it alone; ASCII's case-fold is lower()): the English half of a page
    is folded in a fifth of the time."""
    if text.isascii():
        return text.lower()
    folded = to_simplified(fold_text(text))
    if _MARKED_OR_INVISIBLE.search(folded) is None:
        return folded
    folded = _INVISIBLE.sub("", folded)
    return _unmarked(folded) if _MARKED_LATIN.search(folded) else folded


def _unmarked(text: str) -> str:
    """Latin letters without their combining marks (é -> e, ø stays: it has none to drop); other scripts
    as they were (their marks are kept: the text is composed again)."""
    kept = []
    latin = False  # the last base character was a Latin letter
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch):
            if latin:
                continue
        else:
            latin = ch < "\u0250" and ch.isalpha()
        kept.append(ch)
    return unicodedata.normalize("NFC", "".join(kept))


class _Terms:
    """Terms found in a normalised text, Latin-edged ones as whole words (`regex`).

    Why: a post is checked against every watched topic's names, hashtags, accounts, ambiguous names and
    exclusions, about 40 regular-expression searches a post for 21 topics, most finding nothing. A term is
    only found where its text is, so each search runs only when one of its terms is a substring of the
    text (a C substring test), with the same answer."""

    __slots__ = ("literals", "regex")

    def __init__(self, literals: tuple[str, ...], regex: re.Pattern[str]) -> None:
        self.literals = literals
        self.regex = regex

    def search(self, text: str) -> bool:
        for literal in self.literals:
            if literal in text:
                return self.regex.search(text) is not None
        return False


def _pattern(terms: list[str], prefix: str = "") -> _Terms | None:
    parts = []
    literals = []
    for term in terms:
        folded = normalise(term)
        literals.append(prefix + folded)
        # Whole words for Latin-edged terms; CJK has no spaces, so a substring is the word.
        left = f"(?<!{_LATIN_EDGE})" if _LATIN.match(folded[:1]) or prefix else ""
        right = f"(?!{_LATIN_EDGE})" if _LATIN.match(folded[-1:]) else ""
        parts.append(f"{left}{re.escape(prefix + folded)}{right}")
    return _Terms(tuple(dict.fromkeys(literals)), re.compile("|".join(parts))) if parts else None


class _Presence:
    """Which watched topics a normalised text may be about: those with one of their terms' texts in it.

    Why: most posts name one bank of the twenty watched, yet each topic's five term lists were asked in
    turn. Every term's text is tested once here, a longer one only when the shorter term inside it is
    there ("平安银行" only in a text holding "平安"), and Chinese terms not at all in an ASCII text. A topic
    none of whose texts is present cannot be found (each of its searches needs one), so skipping it gives
    the same answer."""

    __slots__ = ("_roots", "_ascii_roots", "_inside", "_topics_of")

    def __init__(self, topics_of: dict[str, frozenset[int]]) -> None:
        literals = sorted(topics_of, key=len)
        # each literal under the longest shorter literal it holds (absent that one, absent it)
        parent = {lit: _longest_inside(lit, topics_of) for lit in literals}
        inside: dict[str, list[str]] = {}
        for lit in literals:
            if parent[lit] is not None:
                inside.setdefault(parent[lit], []).append(lit)
        self._inside = {lit: tuple(under) for lit, under in inside.items()}
        self._roots = tuple(lit for lit in literals if parent[lit] is None)
        self._ascii_roots = tuple(lit for lit in self._roots if lit.isascii())
        self._topics_of = topics_of

    def topics(self, text: str) -> set[int]:
        """The indexes of the topics with a term's text in `text`."""
        found: set[int] = set()
        inside = self._inside
        pending = [lit for lit in (self._ascii_roots if text.isascii() else self._roots) if lit in text]
        while pending:
            lit = pending.pop()
            found.update(self._topics_of[lit])
            under = inside.get(lit)
            if under:
                pending += [longer for longer in under if longer in text]
        return found


def _longest_inside(text: str, known: Mapping[str, object]) -> str | None:
    """The longest of `known` that is a shorter part of `text` (its parts looked up, longest first: a
    watch of many banks is compiled in time linear in its terms)."""
    for length in range(len(text) - 1, 0, -1):
        for start in range(len(text) - length + 1):
            if text[start:start + length] in known:
                return text[start:start + length]
    return None


@dataclass(frozen=True)
class _CompiledTopic:
    id: str
    include: _Terms | None
    hashtags: _Terms | None
    mentions: _Terms | None
    accounts: frozenset[str]
    exclude: _Terms | None
    ambiguous: _Terms | None
    judge: AmbiguousNames | None


@dataclass(frozen=True)
class Relation:
    """Topic ids a post is about (`related`) and those it was found for only through ambiguous names
    and judged not about (`unrelated`), each in configuration order; for a post the bank's own account
    wrote, every topic found is `own` instead: the bank speaking is not the public reacting."""

    related: tuple[str, ...]
    unrelated: tuple[str, ...] = ()
    own: tuple[str, ...] = ()


def _handle(handle: str) -> str:
    """A handle as compared: folded, without a leading @ or u/."""
    return normalise(handle.strip().lstrip("@").removeprefix("u/"))


def _unambiguous(terms: list[str], ambiguous: list[str]) -> list[str]:
    """The terms that decide a match alone: a name also listed as ambiguous is judged, as listed."""
    doubtful = {normalise(a) for a in ambiguous}
    return [t for t in terms if normalise(t) not in doubtful]


class TopicMatcher:
    def __init__(self, topics: list[Topic], *, bank_accounts: list[str] | tuple[str, ...] = (),
                 banks_own: Mapping[str, tuple[str, str | None]] | None = None) -> None:
        """`bank_accounts`: the bank's own handles (watch `accounts`); what they write is about the bank.
        `banks_own`: per platform, the bank's own account (handle, id): what it writes is the bank's own."""
        self._bank_accounts = frozenset(normalise(a.lstrip("@")) for a in bank_accounts)
        self._banks_own = {platform: (_handle(handle), account_id) for platform, (handle, account_id)
                           in (banks_own or {}).items()}
        self._topics = [
            _CompiledTopic(
                id=t.id,
                include=_pattern(_unambiguous(t.names + t.keywords, t.ambiguous)),
                hashtags=_pattern(t.hashtags, "#"),
                mentions=_pattern(t.accounts, "@"),
                accounts=frozenset(normalise(a) for a in t.accounts),
                exclude=_pattern(t.exclude),
                ambiguous=_pattern(t.ambiguous),
                judge=AmbiguousNames(t.ambiguous) if t.ambiguous else None,
            )
            for t in topics
        ]
        topics_of: dict[str, set[int]] = {}
        by_account: dict[str, set[int]] = {}
        for index, topic in enumerate(self._topics):
            for terms in (topic.include, topic.hashtags, topic.mentions, topic.ambiguous):
                for literal in terms.literals if terms else ():
                    topics_of.setdefault(literal, set()).add(index)
            for account in topic.accounts:
                by_account.setdefault(account, set()).add(index)
        self._presence = _Presence({literal: frozenset(found) for literal, found in topics_of.items()})
        self._by_account = {account: frozenset(found) for account, found in by_account.items()}

    @classmethod
    def for_watch(cls, config: WatchConfig) -> TopicMatcher:
        """The watch's topics, with the bank's own accounts on every platform."""
        return cls(config.topics, bank_accounts=[account.handle for account in config.accounts.values()],
                   banks_own={platform: (account.handle, account.id) for platform, account in config.accounts.items()})

    def written_by_bank(self, post: Post) -> bool:
        """Whether the bank's own account on the post's platform wrote it (by id when both are known, else by
        handle: on Mastodon a local account's handle is its name alone)."""
        own = self._banks_own.get(post.platform)
        if own is None:
            return False
        handle, account_id = own
        if account_id and post.author_id:   # (Reddit's fullname is its id behind "t2_")
            return post.author_id.removeprefix("t2_") == account_id.removeprefix("t2_")
        author = _handle(post.author)
        return author == handle or (post.platform == "mastodon" and "@" not in author and handle.split("@")[0] == author)

    def match(self, post: Post) -> tuple[str, ...]:
        """Topic ids in configuration order, found through any term, ambiguous names included; empty
        when none matches or every match is excluded."""
        return tuple(topic.id for topic, _ in self._found(post))

    def relate(self, post: Post, addressed: tuple[str, ...] = ()) -> Relation:
        """The topics found, split into those the post is about and those it is not (found only
        through ambiguous names, judged unrelated); all of them the bank's `own` when its own account
        wrote the post. A post addressing the bank that names no topic is about `addressed` (a comment
        under the bank's own video rarely names the bank)."""
        related: list[str] = []
        unrelated: list[str] = []
        found = self._found(post)
        ids = tuple(topic.id for topic, _ in found) or (addressed if post.to_bank else ())
        if ids and self._banks_own and self.written_by_bank(post):
            return Relation((), (), ids)
        if not found:
            return Relation(ids)
        banks_own = None  # the bank wrote it or it addresses the bank: asked once, when needed
        for topic, certain in found:
            if banks_own is None and not certain:
                banks_own = post.to_bank or normalise(post.author) in self._bank_accounts
            if certain or banks_own or topic.judge is None or topic.judge.judge(post.full_text).related:
                related.append(topic.id)
            else:
                unrelated.append(topic.id)
        return Relation(tuple(related), tuple(unrelated))

    def _found(self, post: Post) -> list[tuple[_CompiledTopic, bool]]:
        """(topic, found through an unambiguous term) for each topic found and not excluded."""
        text = normalise(post.full_text)
        author = normalise(post.author)
        candidates = self._presence.topics(text)
        by_author = self._by_account.get(author)
        if by_author:
            candidates |= by_author
        found = []
        for topic in map(self._topics.__getitem__, sorted(candidates)):
            certain = bool(
                (topic.include and topic.include.search(text))
                or (topic.hashtags and topic.hashtags.search(text))
                or (topic.mentions and topic.mentions.search(text))
                or author in topic.accounts
            )
            hit = certain or bool(topic.ambiguous and topic.ambiguous.search(text))
            if hit and not (topic.exclude and topic.exclude.search(text)):
                found.append((topic, certain))
        return found
