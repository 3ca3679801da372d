"""Bluesky publishing: `com.atproto.repo.createRecord` with a record key derived from the delivery.

A record key names exactly one record in the repo, so the delivery id, turned into a
deterministic TID-syntax rkey, is the idempotency key: a retry cannot create a second post,
the PDS refuses it ("Record already exists") and `publish` then returns the existing record.
`find` is `com.atproto.repo.getRecord` on that rkey.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn

import httpx

from crisiscomms.adapters.http import epoch_header, json_object, platform_error, send, send_write, with_retries
from crisiscomms.models.delivery import Channel, DeliveryRequest, DeliveryResult
from crisiscomms.models.effect import Engagement
from crisiscomms.errors import PermanentPlatformError

CREATE_PATH = "/xrpc/com.atproto.repo.createRecord"
GET_PATH = "/xrpc/com.atproto.repo.getRecord"
GET_POSTS_PATH = "/xrpc/app.bsky.feed.getPosts"
GET_POSTS_URIS = 25  # the lexicon's maxLength of `uris`
POST_COLLECTION = "app.bsky.feed.post"
DEFAULT_RATE_LIMIT_PAUSE = timedelta(minutes=5)
_B32_SORTABLE = "234567abcdefghijklmnopqrstuvwxyz"
_URL_RE = re.compile(r"https?://[^\s<>\"']+")
_AT_URI_RE = re.compile(r"^at://(?P<repo>[^/]+)/(?P<collection>[^/]+)/(?P<rkey>[^/]+)$")


def rkey_for(delivery_id: str) -> str:
    """A valid TID (13 base32-sortable characters, top bit clear) that only this delivery maps to.

    It is derived from a hash rather than the clock so that every retry names the same record.
    """
    value = int.from_bytes(hashlib.sha256(delivery_id.encode("utf-8")).digest()[:8], "big") >> 1
    return "".join(_B32_SORTABLE[(value >> (5 * i)) & 31] for i in reversed(range(13)))


def link_facets(text: str) -> list[dict[str, Any]]:
    """Rich-text link facets (UTF-8 byte offsets): Bluesky does not linkify plain text itself."""
    facets = []
    for match in _URL_RE.finditer(text):
        url = match.group(0).rstrip(".,;:!?)")
        start = len(text[:match.start()].encode("utf-8"))
        facets.append({
            "index": {"byteStart": start, "byteEnd": start + len(url.encode("utf-8"))},
            "features": [{"$type": "app.bsky.richtext.facet#link", "uri": url}],
        })
    return facets


def response_body(response: httpx.Response) -> dict[str, Any]:
    return json_object(response) or {}


def raise_for(response: httpx.Response, now: datetime) -> NoReturn:
    status = response.status_code
    body = response_body(response)
    error = str(body.get("error") or f"HTTP {status}")
    message = f"Bluesky {status} {error}: {body.get('message') or ''}".rstrip(": ")
    raise platform_error(status, message, code=error, rate_limited=status == 429 or error == "RateLimitExceeded",
                         resume_at=lambda: epoch_header(response, "ratelimit-reset") or now + DEFAULT_RATE_LIMIT_PAUSE)


class BlueskyAdapter:
    """Posts into the repo `did` (shown as `handle`) with a session access JWT."""

    channel: Channel = "bluesky"

    def __init__(
        self,
        http: httpx.Client,
        *,
        did: str,
        handle: str,
        access_jwt: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._http = http
        self._did = did
        self._handle = handle
        self._jwt = access_jwt
        self._clock = clock

    def _result(self, uri: str, cid: str, **details: str) -> DeliveryResult:
        rkey = uri.rsplit("/", 1)[-1]
        return DeliveryResult(
            platform_id=uri,
            url=f"https://bsky.app/profile/{self._handle}/post/{rkey}",
            details={"cid": cid, "rkey": rkey, **details},
        )

    def _post_record(self, text: str, *, language: str | None, reply: dict[str, Any] | None = None) -> dict[str, Any]:
        record: dict[str, Any] = {
            "$type": POST_COLLECTION,
            "text": text,
            "createdAt": self._clock().astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        }
        if language:
            record["langs"] = [language]
        if facets := link_facets(text):
            record["facets"] = facets
        if reply:
            record["reply"] = reply
        return record

    def _create(self, record: dict[str, Any], rkey: str, find_existing: Callable[[], DeliveryResult | None]) -> DeliveryResult:
        """Create the record at `rkey`; when the rkey exists already, that record is this post (`find_existing`)."""
        body = {"repo": self._did, "collection": POST_COLLECTION, "rkey": rkey, "record": record}
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
            if "already exists" in str(exc).lower() and (found := find_existing()) is not None:
                return DeliveryResult(found.platform_id, found.url, {**found.details, "resolved_by": "rkey_exists"})
            raise
        raise AssertionError("raise_for returned for a failed answer")

    def publish(self, request: DeliveryRequest) -> DeliveryResult:
        """Create the record under the delivery's rkey; an existing one is this delivery's post."""
        record = self._post_record(request.text, language=request.language,
                                   reply=self._reply_refs(request.reply_to) if request.reply_to else None)
        return self._create(record, rkey_for(request.delivery_id), lambda: self.find(request))

    def find(self, request: DeliveryRequest) -> DeliveryResult | None:
        """The record at this delivery's rkey, or None when the repo has none."""
        found = self._get_record(self._did, POST_COLLECTION, rkey_for(request.delivery_id))
        return None if found is None else self._result(str(found["uri"]), str(found["cid"]))

    def engagement(self, uris: list[str], *, attempts: int = 2, base_delay: float = 0.2) -> dict[str, Engagement]:
        """Likes, reposts (and quotes) and replies of the account's posts: `app.bsky.feed.getPosts` (post
        views with `likeCount`, `repostCount`, `quoteCount`, `replyCount`), 25 uris a call through the
        PDS, which proxies it to the AppView; each call retried at most `attempts` times. Posts the
        AppView does not return are left out."""
        out: dict[str, Engagement] = {}
        for start in range(0, len(uris), GET_POSTS_URIS):
            params = [("uris", uri) for uri in uris[start:start + GET_POSTS_URIS]]

            def call(params: list[tuple[str, str]] = params) -> httpx.Response:
                response = send(self._http, self._http.build_request(
                    "GET", GET_POSTS_PATH, params=params, headers={"Authorization": f"Bearer {self._jwt}"}))
                if response.status_code != 200:
                    raise_for(response, self._clock())
                return response

            for view in response_body(with_retries(call, attempts=attempts, base_delay=base_delay)).get("posts") or []:
                if isinstance(view, dict) and view.get("uri"):
                    out[str(view["uri"])] = Engagement(
                        state="available", posts=1, likes=int(view.get("likeCount") or 0),
                        reposts=int(view.get("repostCount") or 0) + int(view.get("quoteCount") or 0),
                        replies=int(view.get("replyCount") or 0))
        return out

    def _get_record(self, repo: str, collection: str, rkey: str) -> dict[str, Any] | None:
        response = send(self._http, self._http.build_request(
            "GET", GET_PATH, params={"repo": repo, "collection": collection, "rkey": rkey}))
        if response.status_code == 200:
            return response_body(response)
        if response.status_code == 400 and response_body(response).get("error") == "RecordNotFound":
            return None
        raise_for(response, self._clock())

    def _reply_refs(self, reply_to: str) -> dict[str, Any]:
        """Root and parent strong refs: a reply to a reply keeps the thread's root."""
        match = _AT_URI_RE.match(reply_to)
        repo, collection, rkey = (match["repo"], match["collection"], match["rkey"]) if match else (
            self._did, POST_COLLECTION, reply_to)
        parent = self._get_record(repo, collection, rkey)
        if parent is None or not parent.get("uri") or not parent.get("cid"):
            raise PermanentPlatformError(f"Bluesky: the post to reply to does not exist: {reply_to}", status=400,
                                         code="RecordNotFound")
        parent_ref = {"uri": parent["uri"], "cid": parent["cid"]}
        root = ((parent.get("value") or {}).get("reply") or {}).get("root") or parent_ref
        return {"root": root, "parent": parent_ref}
