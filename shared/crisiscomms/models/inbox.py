"""The inbox's records: conversations with the people to answer, reply templates, replies.

Shared by the inbox capability (use cases), its repository and the Publisher (which delivers
replies); one InboxTable holds them, keyed `conv#<post key>`, `tmpl#<id>`, `reply#<id>`.
"""
from __future__ import annotations

import base64
import binascii
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ConversationKind = Literal["complaint", "question", "rumour", "praise", "other"]
ConversationState = Literal["NEW", "ASSIGNED", "REPLIED", "CLOSED", "IGNORED"]
OPEN_STATES: tuple[ConversationState, ...] = ("NEW", "ASSIGNED")
# An answered conversation may still be taken up again (assigned for a follow-up: "please DM us", a callback)
# or closed when the case is done; it is not due again (its reply target was met or missed once).
FOLLOW_UP_STATES: tuple[ConversationState, ...] = (*OPEN_STATES, "REPLIED")
TemplateKind = Literal["reply", "holding"]
# What a reply template answers; a Q&A entry may name one too, so a reply cut by a channel's limit
# links to the entry answering its situation (crisiscomms.inbox.replies, crisiscomms.statements.qa).
Situation = Literal["service_failure_apology", "rumour_denial", "outage_update", "deposit_safety", "looking_into_it"]
QA_ENTRY_PATTERN = r"^st-[0-9a-f]{16}$"  # a Q&A entry's id: the id of its first statement
ReplyState = Literal["AWAITING_APPROVAL", "APPROVED", "SENDING", "RETRYING", "SENT", "FAILED", "UNKNOWN", "WITHDRAWN"]

CONVERSATION_PREFIX = "conv#"
TEMPLATE_PREFIX = "tmpl#"
REPLY_PREFIX = "reply#"


def conversation_pk(post_key: str) -> str:
    """A conversation is identified by the post that opened it: one post, one conversation."""
    return f"{CONVERSATION_PREFIX}{post_key}"


# A post key in a URL path (`/inbox/<id>`): "#" would start the fragment and a Bluesky at:// URI
# holds "/" and ":", so the path form is "<platform>:<native id>" when the native id is made of
# [A-Za-z0-9_.-] only (X, Weibo, WeChat, Douyin, Mastodon and Reddit ids), else
# "<platform>:~<native id in unpadded base64url>". Reversible, and never percent-encoded.
_PLAIN_ID = re.compile(r"[A-Za-z0-9_.-]{1,256}")
CONVERSATION_ID_PATTERN = r"^[a-z]{1,16}:(?:[A-Za-z0-9_.-]{1,256}|~[A-Za-z0-9_-]{1,700})$"


def conversation_id(post_key: str) -> str:
    """The URL-path form of a post key (see above)."""
    platform, _, native_id = post_key.partition("#")
    if _PLAIN_ID.fullmatch(native_id):
        return f"{platform}:{native_id}"
    return f"{platform}:~" + base64.urlsafe_b64encode(native_id.encode("utf-8")).decode("ascii").rstrip("=")


def post_key_of(conversation_id_: str) -> str | None:
    """The post key a path id names, or None when it is not one `conversation_id` makes."""
    if not re.fullmatch(CONVERSATION_ID_PATTERN, conversation_id_):
        return None
    platform, _, rest = conversation_id_.partition(":")
    if not rest.startswith("~"):
        return f"{platform}#{rest}"
    try:
        native_id = base64.urlsafe_b64decode(rest[1:] + "=" * (-len(rest[1:]) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    if not native_id or conversation_id(f"{platform}#{native_id}") != conversation_id_:
        return None  # a plain id spelt in base64, or padding bits set: one post, one path
    return f"{platform}#{native_id}"


def queue_key(topic: str, state: str) -> str:
    """The index partition of a topic's conversations in one state (by_priority, by_time)."""
    return f"{topic}#{state}"


def priority_key(priority: int, created_at: str) -> str:
    """Sorts highest priority first, then oldest first, in an ascending index query."""
    return f"{999 - max(0, min(999, priority)):03d}#{created_at}"


class ReplyTarget(BaseModel):
    """Where a reply goes: the post or comment spoken in, with the ids its platform's reply API
    needs (`Post.reply_ref`: e.g. Weibo's status id and comment id, WeChat's msg_data_id, index
    and user_comment_id, Bluesky's root and parent uri/cid)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    platform: str
    post_key: str
    native_id: str
    author: str
    ref: dict[str, str] = Field(default_factory=dict)
