"""The early-warning watch list: crisis posts from large accounts whose engagement may grow after the first read.

A post is judged for early warning when it is stored (`polling._early_warning`). X's recent search
moves on by since_id and never returns a post again; Bluesky's and Mastodon's readers skip the
posts they already read. So one first read two minutes after publication with five reposts, which
then goes viral, would never be marked. Such a post (about a topic, crisis terms, author over the
followers bar, not marked, published less than `watch_minutes` ago) is kept on its source's watch
list, in the source's state item, and read again by id on each run until it meets the bar (then
marked once) or ages out.

Entries are short strings, `"<native id> <published epoch seconds> <topic>,<topic>"`, followed by
` <followers>` where the platform's by-id read gives no follower counts (Bluesky): the count read at
storing is used then. The state item is read and written by every run, so its size is what each
run pays for. The list is bounded (`watch_posts`, the newest kept) and pruned by age on every run.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from crisiscomms.models import ScoredPost
from crisiscomms.watch import EarlyWarning

WATCH_FIELD = "watch"  # on the source's state item: the encoded entries
WATCH_RESUME_FIELD = "watch_resume_at"  # after a rate-limited lookup: no lookup before this time
LOOKUP_IDS = 100  # X's most ids per posts lookup (other platforms' readers say their own: ByIdReader)


@dataclass(frozen=True)
class Watched:
    """What following one post needs: its id for the lookup, its age for pruning, its topics for the counters,
    and where the platform's by-id read lacks them, its author's followers."""

    native_id: str
    published_at: datetime
    topics: tuple[str, ...]
    followers: int | None = None  # as read at storing; kept only where the by-id read does not give it

    @classmethod
    def of(cls, scored: ScoredPost) -> Watched:
        return cls(scored.post.native_id, scored.post.published_at, tuple(scored.topics), scored.post.followers)

    def encode(self, *, followers: bool = False) -> str:
        """`followers`: also write the count read at storing (for a platform whose by-id read lacks it)."""
        text = f"{self.native_id} {int(self.published_at.timestamp())} {','.join(self.topics)}"
        return f"{text} {self.followers}" if followers and self.followers is not None else text

    @classmethod
    def decode(cls, text: Any) -> Watched | None:
        """None for anything that is not an entry this module wrote (it is dropped, not followed)."""
        parts = str(text).split(" ")
        if len(parts) not in (3, 4) or not parts[0] or not parts[1].isdigit() or not parts[2]:
            return None
        if len(parts) == 4 and not parts[3].isdigit():
            return None
        return cls(parts[0], datetime.fromtimestamp(int(parts[1]), tz=timezone.utc), tuple(parts[2].split(",")),
                   int(parts[3]) if len(parts) == 4 else None)


def watchable(scored: ScoredPost, now: datetime, bars: EarlyWarning) -> bool:
    """Whether a post just stored should be followed: one that may yet become an early warning."""
    return (bars.watch_minutes > 0 and scored.related and bool(scored.topics) and scored.is_crisis
            and not scored.early_warning and scored.post.followers >= bars.followers
            and now - scored.post.published_at < timedelta(minutes=bars.watch_minutes))


def kept(entries: Iterable[Watched], now: datetime, bars: EarlyWarning) -> list[Watched]:
    """The entries still worth following at `now`: one per post, younger than `watch_minutes`, the newest
    `watch_posts` of them (newest first)."""
    horizon = now - timedelta(minutes=bars.watch_minutes)
    unique = {entry.native_id: entry for entry in entries if entry.published_at > horizon}
    return sorted(unique.values(), key=lambda e: e.published_at, reverse=True)[:bars.watch_posts]


def read_entries(stored: Any) -> list[Watched]:
    """The entries of a state item's `watch` field (absent: none); unreadable ones are left out."""
    return [entry for entry in map(Watched.decode, stored or ()) if entry is not None]
