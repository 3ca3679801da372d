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

from crisiscomms.adapters.channels.bluesky import (
    CREATE_PATH,
    POST_COLLECTION,
    BlueskyAdapter,
    response_body,
    raise_for,
    link_facets,
    rkey_for,
)
from crisiscomms.adapters.http import send_write
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
        record: dict[str, Any] = {
            "$type": POST_COLLECTION,
            "text": text,
            "createdAt": self._clock().astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "reply": reply_refs(target),
        }
        if language:
            record["langs"] = [language]
        if facets := link_facets(text):
            record["facets"] = facets
        body = {"repo": self._did, "collection": POST_COLLECTION, "rkey": rkey_for(idempotency_key), "record": record}
        response = send_write(self._http, self._http.build_request(
            "POST", CREATE_PATH, json=body, headers={"Authorization": f"Bearer {self._jwt}"}))
        if response.status_code == 200:
            created = response_body(response)
            if not created.get("uri") or not created.get("cid"):
                raise PermanentPlatformError("Bluesky answered success without uri and cid", status=200)
            return self._result(str(created["uri"]), str(created["cid"]))
        try:
            raise_for(response, self._clock())
        except PermanentPlatformError as exc:
            if "already exists" in str(exc).lower():
                found = self.find_reply(target, text, datetime.min.replace(tzinfo=timezone.utc),
                                        idempotency_key=idempotency_key)
                if found is not None:
                    return DeliveryResult(found.platform_id, found.url, {**found.details, "resolved_by": "rkey_exists"})
            raise

    def find_reply(self, target: ReplyTarget, text: str, since: datetime, *,
                   idempotency_key: str | None = None, language: str | None = None) -> DeliveryResult | None:
        """The record at the reply's rkey; None without a key or when the repo has none."""
        if not idempotency_key:
            return None
        found = self._get_record(self._did, POST_COLLECTION, rkey_for(idempotency_key))
        return None if found is None else self._result(str(found["uri"]), str(found["cid"]))
