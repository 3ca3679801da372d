"""What the desk does with the inbox: read the queues, assign, close and ignore conversations.

Everyone on the desk reads (AUTHOR, APPROVER, AUDITOR, ONCALL); authors handle conversations. Each
move is conditional on the conversation's version (the one the caller read, if it says so, else the
one just read) and on its being open, and is written with its audit entry in one transaction
(crisiscomms.aws.inbox_store). The API names a conversation by `models.inbox.conversation_id` and
passes the post key here.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from crisiscomms.aws.inbox_store import InboxRepository, Order
from crisiscomms.errors import Conflict, NotFound
from crisiscomms.identity import APPROVER, AUDITOR, AUTHOR, ONCALL, Identity
from crisiscomms.inbox.conversations import conversation_of
from crisiscomms.models.inbox import FOLLOW_UP_STATES, OPEN_STATES
from crisiscomms.observability import count

READERS = (AUTHOR, APPROVER, AUDITOR, ONCALL)
HANDLERS = (AUTHOR,)
MAX_REASON_CHARS = 500
_HIDDEN = frozenset({"pk", "sk", "queue", "priority_key", "due_queue"})


def _visible(value: str) -> str:
    """No control characters (other than newline and tab) and not blank or only invisible characters."""
    bad = next((ch for ch in value if (ord(ch) < 0x20 and ch not in "\n\t") or 0x7F <= ord(ch) <= 0x9F
                or unicodedata.category(ch) == "Cf" and not ch.isspace() and ch not in "\u200d"), None)
    if bad is not None:
        raise ValueError(f"must not contain the character U+{ord(bad):04X}")
    if all(ch.isspace() or unicodedata.category(ch) in ("Cf", "Zs", "Zl", "Zp", "Cc") for ch in value):
        raise ValueError("must not be blank")
    return value


Reason = Annotated[str, Field(min_length=1, max_length=MAX_REASON_CHARS), AfterValidator(_visible)]
Version = Annotated[int | None, Field(default=None, ge=1, le=1_000_000,
                                      description="the version read; the move is refused (409) if it changed since")]
REQUEST = ConfigDict(extra="forbid", strict=True)


class AssignRequest(BaseModel):
    model_config = REQUEST

    # A Cognito user name: 1-128 letters, marks, symbols, digits or punctuation in any script ("li", "李明"), no
    # whitespace or control character.
    to: Annotated[str, Field(pattern=r"^[^\s\x00-\x1f\x7f-\x9f]{1,128}$", description="the desk member's user name")]
    version: Version = None


class ReasonRequest(BaseModel):
    """Closing or ignoring a conversation needs a reason; it goes into the audit chain."""

    model_config = REQUEST

    reason: Reason
    version: Version = None


def public(conversation: dict[str, Any]) -> dict[str, Any]:
    """A conversation as the API shows it: the item without its index keys."""
    return {k: v for k, v in conversation.items() if k not in _HIDDEN}


class InboxDesk:
    def __init__(self, repo: InboxRepository, *, clock: Callable[[], datetime],
                 open_for: Callable[[Identity, str], None] | None = None) -> None:
        self._repo = repo
        self._clock = clock
        # (person, post key): open the conversation of a post triage left out, as that person takes it on
        # (crisiscomms.inbox.opening.open_for_person)
        self._open_for = open_for

    def list(self, who: Identity, *, topic: str, state: str, order: Order, limit: int,
             cursor: str | None) -> dict[str, Any]:
        who.require(*READERS)
        items, nxt = self._repo.list_queue(topic, state, order=order, limit=limit, cursor=cursor or None)
        return {"conversations": [public(i) for i in items], "next": nxt}

    def get(self, who: Identity, post_key: str) -> dict[str, Any]:
        who.require(*READERS)
        return public(self._load(post_key))

    def assign(self, who: Identity, post_key: str, request: AssignRequest) -> dict[str, Any]:
        who.require(*HANDLERS)
        current = self._open(who, post_key, request.version, FOLLOW_UP_STATES, "assigned")
        moved = self._repo.assign(current, to=request.to, by=who.user, version=int(current["version"]),
                                  at=self._clock(), role=AUTHOR)
        count("ConversationsAssigned")
        return public(moved)

    def close(self, who: Identity, post_key: str, request: ReasonRequest) -> dict[str, Any]:
        who.require(*HANDLERS)
        current = self._open(who, post_key, request.version, FOLLOW_UP_STATES, "closed")
        moved = self._repo.close(current, reason=request.reason, by=who.user, version=int(current["version"]),
                                 at=self._clock(), role=AUTHOR)
        count("ConversationsClosed")
        return public(moved)

    def ignore(self, who: Identity, post_key: str, request: ReasonRequest) -> dict[str, Any]:
        who.require(*HANDLERS)
        current = self._open(who, post_key, request.version, OPEN_STATES, "ignored")
        moved = self._repo.ignore(current, reason=request.reason, by=who.user, version=int(current["version"]),
                                  at=self._clock(), role=AUTHOR)
        count("ConversationsIgnored")
        return public(moved)

    def _load(self, post_key: str) -> dict[str, Any]:
        found = self._repo.get(post_key)
        if found is None:
            raise NotFound(f"no conversation for post {post_key!r}")
        return found

    def _open(self, who: Identity, post_key: str, version: int | None, states: tuple[str, ...],
              verb: str) -> dict[str, Any]:
        """The post's conversation in one of `states` at `version` (when given); a post triage left out of the
        inbox gets its conversation now, as this person takes it on."""
        current = conversation_of(who, post_key, self._repo.get, self._open_for)
        if current["state"] not in states:
            raise Conflict(f"the conversation is {current['state']}; only a {', '.join(states[:-1])} or {states[-1]}"
                           f" one can be {verb}")
        if version is not None and version != int(current["version"]):
            raise Conflict(f"the conversation is at version {current['version']}, not {version}; read it again")
        return current
