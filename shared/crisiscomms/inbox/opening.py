"""Opening a conversation as a post is stored: triage, and a conditional Put when it qualifies.

The Ingestor calls `ConversationOpener` once a page with the posts it stored now (never a duplicate). Most
posts do not qualify and cost nothing here. Those that do are opened together (`open_many`, wiring's
InboxRepository.open_conversations): each a conditional Put on the InboxTable (a repeat of the same post
changes nothing) and, for a source that reads its posts again, the Update keeping a small `follow_up` on the
post, so that a re-read with grown engagement can raise the conversation's priority without reading
anything else (crisiscomms.inbox.growth); a conversation and its post's Update go in the same transaction,
up to 50 of them a transaction. The first post of a topic in a minute also costs one GetItem of the topic's
level (crisiscomms.aws.inbox_store.TopicLevels, kept 60 s), so the due time reflects a WARNING or CRISIS
already declared.

A post that qualifies (`opens`) is stored with its step marked due (`inbox_due` on its item, in its own
transaction), and writing its `follow_up` clears the mark. A run stopped after the transaction and before
the step leaves the mark; the next read of the post hands it to `resume`, which runs the step again, one
post at a time: the conditional PutItem never makes a second conversation, and one found open already (the
run stopped between the PutItem and the follow-up, where they are written apart) is read once (GetItem)
for its follow-up. Either way the mark goes, with the follow-up written for a source that reads its posts
again, alone (REMOVE) for one that does not. Where nothing reads a post again (X, feeds: `reads_again`
false) the step writes no follow-up and leaves the mark, to spare a write per conversation; a page read
again after a stopped run resumes each marked post of it once (a PutItem refused, an UpdateItem).
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from crisiscomms.aws.inbox_store import iso_z
from crisiscomms.inbox.growth import follow_up_of
from crisiscomms.inbox.targets import due_at, target_minutes
from crisiscomms.identity import AUTHOR, Identity
from crisiscomms.inbox.triage import Triage, TriageInput, triage
from crisiscomms.models import Post, ScoredPost
from crisiscomms.models.audit import AuditEntry
from crisiscomms.models.inbox import OPEN_STATES, conversation_id, priority_key
from crisiscomms.observability import count, logger
from crisiscomms.watch.inbox import InboxSettings

TEXT_CHARS = 280
TRIAGED_KEPT = 1000  # `opens` answers kept for the step that follows them (a page's posts; more is a leftover)


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



def open_for_person(who: Identity, post_key: str, *, opening_for: Callable[[str], dict[str, Any] | None],
                    open_conversation: Callable[[dict[str, Any], AuditEntry], bool], clock: Callable[[], datetime]) -> None:
    """Open the conversation of a post triage left out of the inbox because a person of the desk acts on it
    (answers, assigns, closes or ignores it), audited as theirs; nothing for a post no answer can reach.
    `opening_for`: post key -> its `desk_opening`; `open_conversation`: the conditional Put with its entry
    (a conversation opened meanwhile by the Poller or another person is left as it is)."""
    opening = opening_for(post_key)
    if opening is not None:
        open_conversation(opening, AuditEntry(
            actor=who.user, role=AUTHOR, action="inbox.opened_by_person", target=f"conversation#{post_key}", at=clock(),
            after={"kind": opening["kind"], "priority": opening["priority"], "topic": opening["topic"],
                   "platform": opening["platform"]}))


def desk_opening(item: dict[str, Any], *, level: str | None, now: datetime,
                 settings: InboxSettings) -> dict[str, Any] | None:
    """The conversation a stored post opens when a person of the desk answers it although triage did not
    open one (a complaint that does not address the bank: the desk chose to answer it where it was said);
    None for a post no answer can reach there (a news article) or about no watched topic."""
    if item.get("source_type") == "news" or not item.get("topics") or item.get("related") is False:
        return None
    post = Post.model_validate({name: item[name] for name in Post.model_fields if name in item})
    scored = ScoredPost(
        post=post, topics=tuple(item["topics"]), language=str(item.get("language") or "other"),
        sentiment=float(item.get("sentiment") or 0), sentiment_label=str(item.get("sentiment_label") or "neutral"),
        crisis_terms=tuple(item.get("crisis_terms") or ()), crisis_categories=tuple(item.get("crisis_categories") or ()),
        crisis_weight=float(item.get("crisis_weight") or 0), is_crisis=bool(item.get("is_crisis")),
        risk=int(item.get("risk") or 0), ingested_at=datetime.fromisoformat(str(item["ingested_at"]).replace("Z", "+00:00")),
        tone=float(item.get("tone") or 0), tone_label=str(item.get("tone_label") or "neutral"))
    result = triage(TriageInput.of_stored(item))
    return conversation_for(scored, result, level=level, now=now, settings=settings)

class ConversationOpener:
    """`on_stored` for the Ingestor: opens a conversation for a stored post that qualifies; `opens` and
    `resume` are its `owes_step` and `on_due` (the module docstring)."""

    def __init__(self, open_conversation: Callable[[dict[str, Any]], bool], *, settings: Callable[[], InboxSettings],
                 level_of: Callable[[str], str | None], clock: Callable[[], datetime],
                 keep_follow_up: Callable[[str, dict[str, Any] | None], Any] | None = None,
                 conversation: Callable[[str], dict[str, Any] | None] | None = None,
                 reads_again: Callable[[str], bool] = lambda post_key: True,
                 open_many: Callable[[list[tuple[dict[str, Any], dict[str, Any] | None]]], list[bool]] | None = None,
                 ) -> None:
        self._open = open_conversation
        # (conversation, its post's follow-up or None) pairs -> opened each: both of a pair or neither, a page's
        # pairs in as few transactions as DynamoDB allows (wiring: InboxRepository.open_conversations);
        # without it, one conversation and then its follow-up at a time
        self._open_many = open_many or self._one_at_a_time
        self._settings = settings
        self._level_of = level_of
        self._clock = clock
        self._keep_follow_up = keep_follow_up  # PostRepository.set_follow_up
        self._conversation = conversation  # InboxRepository.get
        self._reads_again = reads_again  # whether the post's source can hand it back (else no follow-up)
        self._triaged: dict[str, Triage] = {}  # post key -> what `opens` found, so the step does not triage again

    def opens(self, scored: ScoredPost) -> bool:
        """Whether this post opens a conversation (triage alone, no request); the answer is kept for the
        step, which the Ingestor calls for the same post once its transaction commits."""
        if not scored.topics:
            return False
        if len(self._triaged) >= TRIAGED_KEPT:  # left by posts never stored (refused, raced): dropped
            self._triaged.clear()
        result = self._triaged[scored.post.key] = triage(TriageInput.of(scored))
        return result.opens

    def __call__(self, stored: list[ScoredPost]) -> int:
        """The step for the posts a page stored now: how many conversations it opened. A failure is logged
        and counted, never raised (the posts are stored and the poll goes on; their marks stay for a later
        read). With `open_many` the page's conversations and follow-ups are written together: for a page of
        WeChat or Douyin comments, which all address the bank, one request for up to 50 posts instead of two
        a post."""
        pairs: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        for scored in stored:
            key = scored.post.key
            kept = self._triaged.pop(key, None)
            result = kept if kept is not None else triage(TriageInput.of(scored))
            if not result.opens or not scored.topics:
                continue
            try:
                item = self._new_conversation(scored, result)
            except Exception as exc:  # the post is stored; its mark stays for a later read
                logger.exception("conversation not opened", extra={"post_key": key, "error": str(exc)})
                count("ConversationsNotOpened")
                continue
            pairs.append((item, follow_up_of(item) if self._reads_again(key) else None))
        if not pairs:
            return 0
        try:
            opened = self._open_many(pairs)
        except Exception as exc:
            logger.exception("conversations not opened", extra={"posts": len(pairs), "error": str(exc)})
            count("ConversationsNotOpened", len(pairs))
            return 0
        return sum(opened)

    def _new_conversation(self, scored: ScoredPost, result: Triage) -> dict[str, Any]:
        """The conversation `scored` opens, due by its first topic's level now."""
        return conversation_for(scored, result, level=self._level_of(scored.topics[0]), now=self._clock(),
                                settings=self._settings())

    def _one_at_a_time(self, pairs: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> list[bool]:
        """`open_many` for a caller without a batch writer: each conversation, then its follow-up apart."""
        opened = []
        for item, follow_up in pairs:
            done = self._open(item)
            if done and follow_up is not None:
                self._keep(item["post_key"], follow_up)
            opened.append(done)
        return opened

    def resume(self, scored: ScoredPost) -> bool:
        """The step again for a stored post whose mark says it is owed, as the post reads now; True when it
        opened the conversation. Either way the mark goes (with the follow-up of a conversation still open)."""
        key = scored.post.key
        self._triaged.pop(key, None)
        result = triage(TriageInput.of(scored))
        if not result.opens or not scored.topics:  # nothing to open as it reads now: the mark goes
            self._keep(key, None)
            return False
        try:
            item = self._new_conversation(scored, result)
            opened = self._open(item)
            current: dict[str, Any] | None = item
            if not opened:  # opened by the stopped run: its follow-up from the conversation as it is
                current = self._conversation(key) if self._conversation is not None and self._reads_again(key) else None
        except Exception as exc:  # the post is stored; losing its conversation must not lose the page
            logger.exception("conversation not opened", extra={"post_key": key, "error": str(exc)})
            count("ConversationsNotOpened")
            return False
        still_open = current is not None and (opened or current.get("state") in OPEN_STATES)
        self._keep(key, follow_up_of(current) if current is not None and still_open and self._reads_again(key) else None)
        return opened  # counted per run by the poll, not per post (a metric per post would flush mid-run)

    def _keep(self, post_key: str, follow_up: dict[str, Any] | None) -> None:
        """The post's follow-up written (None: dropped), its mark with it; a failure is logged, never raised."""
        if self._keep_follow_up is None:
            return
        try:
            self._keep_follow_up(post_key, follow_up)
        except Exception as exc:  # the conversation is open; only its later re-ranking is lost
            logger.exception("follow-up not kept", extra={"post_key": post_key, "error": str(exc)})
            count("FollowUpsNotKept")
