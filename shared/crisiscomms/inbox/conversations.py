"""A post's conversation for a person who acts on it: read, or first opened when triage left the post out.

Apart from `opening` (which reads the watch configuration's types and the scorer's triage) so that the
desk's routes import only this.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crisiscomms.errors import NotFound
from crisiscomms.identity import Identity
from crisiscomms.models.inbox import conversation_id


def conversation_of(who: Identity, post_key: str, read: Callable[[str], dict[str, Any] | None],
                    open_for: Callable[[Identity, str], None] | None) -> dict[str, Any]:
    """The post's conversation, read with `read`; one triage left out is opened first when this person acts
    on it (`open_for`: open_for_person, bound by the composition root). NotFound when there is none."""
    conversation = read(post_key)
    if conversation is None and open_for is not None:
        open_for(who, post_key)
        conversation = read(post_key)    # (opened now, or meanwhile by another writer)
    if conversation is None:
        raise NotFound(f"no conversation {conversation_id(post_key)!r}")
    return conversation
