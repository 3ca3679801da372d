"""The inbox's records: conversations with the people to answer, reply templates, replies.

Shared by the inbox capability (use cases), its repository and the Publisher (which delivers
replies); one InboxTable holds them, keyed `conv#<post key>`, `tmpl#<id>`, `reply#<id>`.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ConversationKind = Literal["complaint", "question", "rumour", "praise", "other"]
ConversationState = Literal["NEW", "ASSIGNED", "REPLIED", "CLOSED", "IGNORED"]
OPEN_STATES: tuple[ConversationState, ...] = ("NEW", "ASSIGNED")
TemplateKind = Literal["reply", "holding"]
ReplyState = Literal["AWAITING_APPROVAL", "APPROVED", "SENDING", "RETRYING", "SENT", "FAILED", "UNKNOWN", "WITHDRAWN"]

CONVERSATION_PREFIX = "conv#"
TEMPLATE_PREFIX = "tmpl#"
REPLY_PREFIX = "reply#"


def conversation_pk(post_key: str) -> str:
    """A conversation is identified by the post that opened it: one post, one conversation."""
    return f"{CONVERSATION_PREFIX}{post_key}"


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
