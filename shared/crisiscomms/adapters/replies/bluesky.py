"""Replies on Bluesky: `com.atproto.repo.createRecord` of an app.bsky.feed.post with reply refs.

A reply names the post answered (`parent`) and the top of its thread (`root`), each as a strong
ref (uri and cid). The listening adapter stores them in `reply_ref` (`uri`, `cid`, `root_uri`,
`root_cid`), so no lookup is needed: the PDS holds only the bank's repo and cannot be asked for
someone else's record. The PDS does not check the parent either: a reply to a deleted post, or
one the author's thread gate hides, is still accepted, and the AppView decides what shows.

As for statements, the record key is derived from the reply's idempotency key (a TID-syntax
rkey), so a retry names the same record: the PDS refuses a second one ("Record already exists")
and `find_reply` is `getRecord` at that rkey. HTTP, facets and errors are the publishing adapter's.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from crisiscomms.adapters.channels.bluesky import POST_COLLECTION, BlueskyAdapter, rkey_for
from crisiscomms.errors import PermanentPlatformError
from crisiscomms.models.delivery import DeliveryResult
from crisiscomms.models.inbox import ReplyTarget


def reply_refs(target: ReplyTarget) -> dict[str, Any]:
    """The record's `reply`: the thread's root and the post answered (its own root when it starts one)."""
    ref = target.ref
    parent = {"uri": ref.get("uri") or target.native_id, "cid": ref.get("cid") or ""}
    if not parent["uri"].startswith("at://") or not parent["cid"]:
        raise PermanentPlatformError(f"Bluesky: {target.post_key} has no uri and cid to reply to",
                                     code="missing_reply_ref")
    root = {"uri": ref.get("root_uri") or parent["uri"], "cid": ref.get("root_cid") or parent["cid"]}
    return {"root": root, "parent": parent}


class BlueskyReplies(BlueskyAdapter):
    """Replies from the bank's repo (the publishing channel's DID and session)."""

    platform = "bluesky"

    def reply(self, target: ReplyTarget, text: str, *, idempotency_key: str,
              language: str | None = None) -> DeliveryResult:
        record = self._post_record(text, language=language, reply=reply_refs(target))
        return self._create(record, rkey_for(idempotency_key), lambda: self.find_reply(
            target, text, datetime.min.replace(tzinfo=timezone.utc), idempotency_key=idempotency_key))

    def find_reply(self, target: ReplyTarget, text: str, since: datetime, *,
                   idempotency_key: str | None = None, language: str | None = None) -> DeliveryResult | None:
        """The record at the reply's rkey; None without a key or when the repo has none."""
        if not idempotency_key:
            return None
        found = self._get_record(self._did, POST_COLLECTION, rkey_for(idempotency_key))
        return None if found is None else self._result(str(found["uri"]), str(found["cid"]))
