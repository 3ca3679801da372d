"""Which watched topics a post belongs to.

Names, keywords, hashtags and accounts identify a topic; any exclusion vetoes it. Latin terms
match whole words, case-insensitively; Chinese terms match as substrings, with Traditional
characters folded to Simplified so one keyword list serves both scripts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from crisiscomms.models import Post
from crisiscomms.scoring import normalise as fold_text
from crisiscomms.scoring import to_simplified
from crisiscomms.watch import Topic

_LATIN = re.compile(r"[a-z0-9]")


def normalise(text: str) -> str:
    """The scorer's folding (width, case, quotes) plus Traditional to Simplified."""
    return to_simplified(fold_text(text))


def _pattern(terms: list[str], prefix: str = "") -> re.Pattern[str] | None:
    parts = []
    for term in terms:
        norm = re.escape(prefix + normalise(term))
        # Whole words for Latin-edged terms; CJK has no spaces, so a substring is the word.
        left = r"(?<![\w])" if _LATIN.match(normalise(term)[:1]) or prefix else ""
        right = r"(?![\w])" if _LATIN.match(normalise(term)[-1:]) else ""
        parts.append(f"{left}{norm}{right}")
    return re.compile("|".join(parts)) if parts else None


@dataclass(frozen=True)
class _CompiledTopic:
    id: str
    include: re.Pattern[str] | None
    hashtags: re.Pattern[str] | None
    mentions: re.Pattern[str] | None
    accounts: frozenset[str]
    exclude: re.Pattern[str] | None


class TopicMatcher:
    def __init__(self, topics: list[Topic]) -> None:
        self._topics = [
            _CompiledTopic(
                id=t.id,
                include=_pattern(t.names + t.keywords),
                hashtags=_pattern(t.hashtags, "#"),
                mentions=_pattern(t.accounts, "@"),
                accounts=frozenset(normalise(a) for a in t.accounts),
                exclude=_pattern(t.exclude),
            )
            for t in topics
        ]

    def match(self, post: Post) -> tuple[str, ...]:
        """Topic ids in configuration order; empty when none matches or every match is excluded."""
        text = normalise(post.full_text)
        author = normalise(post.author)
        found = []
        for topic in self._topics:
            hit = (
                (topic.include and topic.include.search(text))
                or (topic.hashtags and topic.hashtags.search(text))
                or (topic.mentions and topic.mentions.search(text))
                or author in topic.accounts
            )
            if hit and not (topic.exclude and topic.exclude.search(text)):
                found.append(topic.id)
        return tuple(found)
