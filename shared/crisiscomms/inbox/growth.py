"""Following a conversation's post up: when a source reads the post again with more engagement, the
conversation's engagement, growth and priority are updated.

The Ingestor skips a post already stored (crisiscomms.listening.polling). What it reads to know that,
`PostRepository.known` (the keys and one attribute), also gives the post's `follow_up`, which the
opener wrote on the post when it opened a conversation (`follow_up_of`):

    {"kind", "risk", "followers", "created_at", "opened_at", "opened_engagement", "engagement", "priority"}

so nothing else is read. For each re-read post that carries one, `EngagementFollowUp`:
  1. goes on only when the post's engagement (likes + reposts + replies + quotes, as its source gives
     them) grew materially since `engagement`, the last value written to the conversation: to at least
     `inbox.growth.ratio` times it, or by at least `inbox.growth.absolute` (watch configuration);
  2. computes the priority from the new engagement, the growth per minute since the conversation
     opened and the larger follower count (crisiscomms.inbox.triage.priority), never below the last
     priority written;
  3. writes them to the conversation: one UpdateItem, conditional on the conversation being open and
     its priority not falling (InboxRepository.raise_priority); at most once per conversation per
     poll (one EngagementFollowUp serves one poll);
  4. moves the post's `follow_up` to the values written (one UpdateItem), or drops it when the
     conversation is no longer open, so later re-reads of it cost nothing.
A re-read post without `follow_up` (it opened no conversation) costs nothing beyond the keys read,
and one whose engagement did not grow materially costs no write. A failure is logged and counted,
never raised: the poll goes on.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crisiscomms.aws.inbox_store import iso_z
from crisiscomms.aws.post_store import FOLLOW_UP
from crisiscomms.inbox.triage import growth_per_minute, priority
from crisiscomms.models import Post
from crisiscomms.observability import count, logger
from crisiscomms.watch.inbox import EngagementGrowth, InboxSettings


def follow_up_of(conversation: Mapping[str, Any]) -> dict[str, Any]:
    """What a post that opened `conversation` keeps for its re-reads (see the module's docstring)."""
    engagement = int(conversation.get("engagement") or 0)
    return {"kind": conversation["kind"], "risk": int(conversation.get("risk") or 0),
            "followers": int(conversation.get("followers") or 0), "created_at": conversation["created_at"],
            "opened_at": conversation["opened_at"], "opened_engagement": engagement, "engagement": engagement,
            "priority": int(conversation["priority"])}


def grew_materially(last: int, now: int, growth: EngagementGrowth) -> bool:
    """Whether engagement `now` is worth writing over `last`: more, and by the ratio or the absolute step."""
    return now > last and (now >= last * growth.ratio or now - last >= growth.absolute)


@dataclass(frozen=True)
class Regrowth:
    """What a material growth writes: to the conversation, and the post's next `follow_up`."""

    engagement: int
    followers: int
    growth_per_minute: float
    priority: int
    follow_up: dict[str, Any]


def regrowth(follow_up: Mapping[str, Any], post: Post, now: datetime, growth: EngagementGrowth) -> Regrowth | None:
    """The update a re-read post calls for, or None when its engagement did not grow materially."""
    last = int(follow_up.get("engagement") or 0)
    engagement = post.engagement
    if not grew_materially(last, engagement, growth):
        return None
    followers = max(int(follow_up.get("followers") or 0), post.followers)
    rate = round(growth_per_minute(int(follow_up.get("opened_engagement") or 0), engagement,
                                   datetime.fromisoformat(str(follow_up["opened_at"])), now), 3)
    computed = priority(risk=int(follow_up.get("risk") or 0), followers=followers, engagement=engagement,
                        kind=str(follow_up["kind"]), growth_per_minute=rate)
    raised = max(computed, int(follow_up.get("priority") or 0))
    return Regrowth(engagement=engagement, followers=followers, growth_per_minute=rate, priority=raised,
                    follow_up={**follow_up, "engagement": engagement, "followers": followers, "priority": raised})


class EngagementFollowUp:
    """`on_seen_again` for the Ingestor, for one poll: `raise_priority` is
    InboxRepository.raise_priority, `set_follow_up` PostRepository.set_follow_up."""

    def __init__(self, raise_priority: Callable[..., str], set_follow_up: Callable[[str, dict[str, Any] | None], Any], *,
                 settings: Callable[[], InboxSettings], clock: Callable[[], datetime]) -> None:
        self._raise = raise_priority
        self._set_follow_up = set_follow_up
        self._settings = settings
        self._clock = clock
        self._written: set[str] = set()  # conversations updated in this poll

    def __call__(self, seen: Iterable[tuple[Post, Mapping[str, Any]]]) -> int:
        """How many conversations got a higher priority from these re-read posts."""
        raised = 0
        growth: EngagementGrowth | None = None
        for post, stored in seen:
            follow_up = stored.get(FOLLOW_UP)
            if not follow_up or post.key in self._written:
                continue
            try:
                growth = growth or self._settings().growth
                now = self._clock()
                change = regrowth(follow_up, post, now, growth)
                if change is None:
                    continue
                self._written.add(post.key)
                outcome = self._raise(post.key, engagement=change.engagement, priority=change.priority,
                                      created_at=str(follow_up["created_at"]),
                                      fields={"followers": change.followers,
                                              "growth_per_minute": change.growth_per_minute,
                                              "engagement_updated_at": iso_z(now)})
                self._set_follow_up(post.key, None if outcome == "not_open" else change.follow_up)
            except Exception as exc:  # the post is stored; a missed update must not lose the page
                logger.exception("conversation not followed up", extra={"post_key": post.key, "error": str(exc)})
                count("ConversationsNotFollowedUp")
                continue
            raised += outcome == "raised"
        return raised
