"""Opening a conversation as a post is stored: triage, and one conditional PutItem when it qualifies.

The Ingestor calls `ConversationOpener` for every post it stored (never for a duplicate). Most posts do
not qualify and cost nothing here; one that does costs one conditional PutItem on the InboxTable (a
repeat of the same post changes nothing), and the first one of a topic in a minute also one GetItem of
the topic's level (crisiscomms.aws.inbox_store.TopicLevels, kept 60 s), so the due time reflects a
WARNING or CRISIS already declared. Once opened, the post keeps a small `follow_up` (one UpdateItem on
the post) so that a re-read with grown engagement can raise the conversation's priority without
reading anything else (crisiscomms.inbox.growth).
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from crisiscomms.aws.inbox_store import iso_z
from crisiscomms.inbox.growth import follow_up_of
from crisiscomms.inbox.targets import due_at, target_minutes
from crisiscomms.inbox.triage import Triage, TriageInput, triage
from crisiscomms.models import ScoredPost
from crisiscomms.models.inbox import conversation_id, priority_key
from crisiscomms.observability import count, logger
from crisiscomms.watch.inbox import InboxSettings

TEXT_CHARS = 280


def conversation_for(scored: ScoredPost, result: Triage, *, level: str | None, now: datetime,
                     settings: InboxSettings) -> dict[str, Any]:
    """The new conversation's item (state NEW, version 1) for a post that opens one."""
    post = scored.post
    created = iso_z(post.published_at)
    return {
        "post_key": post.key, "id": conversation_id(post.key), "topic": scored.topics[0] if scored.topics else "",
        "topics": list(scored.topics), "platform": post.platform, "native_id": post.native_id,
        "source_id": post.source_id, "author": post.author, "author_id": post.author_id, "followers": post.followers,
        "url": post.url, "text": post.full_text[:TEXT_CHARS], "language": scored.language,
        "reply_ref": dict(post.reply_ref) if post.reply_ref else None, "to_bank": post.to_bank,
        "kind": result.kind, "priority": result.priority, "risk": scored.risk, "engagement": post.engagement,
        "sentiment_label": scored.sentiment_label, "crisis_terms": list(scored.crisis_terms),
        "state": "NEW", "priority_key": priority_key(result.priority, created), "created_at": created,
        "opened_at": iso_z(now), "due_at": iso_z(due_at(post.published_at, result.kind, level, settings)),
        "target_minutes": target_minutes(result.kind, level, settings), "level_at_open": (level or "NORMAL").upper(),
        "version": 1,
    }


class ConversationOpener:
    """`on_stored` for the Ingestor: opens a conversation for a stored post that qualifies."""

    def __init__(self, open_conversation: Callable[[dict[str, Any]], bool], *, settings: Callable[[], InboxSettings],
                 level_of: Callable[[str], str | None], clock: Callable[[], datetime],
                 keep_follow_up: Callable[[str, dict[str, Any]], Any] | None = None) -> None:
        self._open = open_conversation
        self._settings = settings
        self._level_of = level_of
        self._clock = clock
        self._keep_follow_up = keep_follow_up  # PostRepository.set_follow_up

    def __call__(self, scored: ScoredPost) -> bool:
        """True when a conversation was opened; a failure is logged and counted, never raised (the post
        is stored and the poll goes on)."""
        result = triage(TriageInput.of(scored))
        if not result.opens or not scored.topics:
            return False
        try:
            topic = scored.topics[0]
            item = conversation_for(scored, result, level=self._level_of(topic), now=self._clock(),
                                    settings=self._settings())
            opened = self._open(item)
        except Exception as exc:  # the post is stored; losing its conversation must not lose the page
            logger.exception("conversation not opened", extra={"post_key": scored.post.key, "error": str(exc)})
            count("ConversationsNotOpened")
            return False
        if opened and self._keep_follow_up is not None:
            try:
                self._keep_follow_up(scored.post.key, follow_up_of(item))
            except Exception as exc:  # the conversation is open; only its later re-ranking is lost
                logger.exception("follow-up not kept", extra={"post_key": scored.post.key, "error": str(exc)})
                count("FollowUpsNotKept")
        return opened  # counted per run by the poll, not per post (a metric per post would flush mid-run)
