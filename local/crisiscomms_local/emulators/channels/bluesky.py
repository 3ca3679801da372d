"""Emulator of a Bluesky PDS repo API for one account: createRecord and getRecord.

A record key names one record in a collection, so a second createRecord with the same rkey
cannot create a second post: it is refused with `InvalidRequest` "Record already exists".
Posts are validated as the app.bsky.feed.post lexicon says (text at most 300 graphemes and
3000 bytes, TID record keys, createdAt datetime, at most 3 langs, strong refs in reply).
Errors are `{"error", "message"}`; rate limits carry `ratelimit-*` headers (reset in epoch s).
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from math import ceil
from typing import Any

from ..base import Clock, EmulatorServer, Fault, Request, Response, as_utc
from ._common import BadBody, bearer_token, grapheme_count, json_body, json_response

CREATE_PATH = "/xrpc/com.atproto.repo.createRecord"
GET_PATH = "/xrpc/com.atproto.repo.getRecord"
POST_COLLECTION = "app.bsky.feed.post"
MAX_GRAPHEMES = 300
MAX_BYTES = 3000
TID_RE = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
_B32_SORTABLE = "234567abcdefghijklmnopqrstuvwxyz"
_STATUS_ERRORS = {500: "InternalServerError", 502: "UpstreamFailure", 503: "NotEnoughResources",
                  504: "UpstreamTimeout", 401: "AuthenticationRequired", 403: "Forbidden"}


@dataclass(frozen=True)
class BlueskyRecord:
    """One post record in the repo."""

    rkey: str
    uri: str
    cid: str
    value: dict[str, Any]
    created_at: datetime


def cid_for(value: dict[str, Any]) -> str:
    """A CIDv1-looking content hash (base32 'bafyrei...'), stable for the same record."""
    digest = hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8")).digest()
    return "bafyrei" + base64.b32encode(digest).decode("ascii").rstrip("=").lower()[:52]


class BlueskyEmulator(EmulatorServer):
    """The repo of `did` (handle `account_handle`), written with the session token `access_jwt`."""

    def __init__(
        self,
        clock: Clock,
        *,
        did: str = "did:plc:examplebank0000000000000",
        handle: str = "examplebank.bsky.social",
        access_jwt: str = "local-bsky-access-jwt",
        writes_per_window: int = 5000,
        window_seconds: int = 3600,
        timeout_delay: float = 2.0,
    ) -> None:
        super().__init__(clock, timeout_delay=timeout_delay)
        self.did = did
        self.account_handle = handle
        self.access_jwt = access_jwt
        self.writes_per_window = writes_per_window
        self.window_seconds = window_seconds
        self._records: dict[str, BlueskyRecord] = {}
        self._window_reset: datetime | None = None
        self._window_used = 0

    @property
    def posts(self) -> list[BlueskyRecord]:
        """Post records created so far, oldest first."""
        with self._lock:
            return sorted(self._records.values(), key=lambda r: r.created_at)

    def uri_for(self, rkey: str) -> str:
        return f"at://{self.did}/{POST_COLLECTION}/{rkey}"

    # -- HTTP ------------------------------------------------------------------------------

    def _error(self, status: int, error: str, message: str, headers: dict[str, str] | None = None) -> Response:
        return json_response(status, {"error": error, "message": message}, headers)

    def _rate_headers(self, reset: datetime, remaining: int) -> dict[str, str]:
        return {
            "ratelimit-limit": str(self.writes_per_window),
            "ratelimit-remaining": str(remaining),
            "ratelimit-reset": str(ceil(reset.timestamp())),
            "ratelimit-policy": f"{self.writes_per_window};w={self.window_seconds}",
        }

    def fault_response(self, fault: Fault, request: Request, now: datetime) -> Response:
        if fault.kind == "rate_limit":
            wait = fault.retry_after if fault.retry_after is not None else fault.seconds_left(now)
            return self._error(429, "RateLimitExceeded", "Rate Limit Exceeded",
                               self._rate_headers(now + timedelta(seconds=wait), 0))
        assert fault.status is not None
        name = _STATUS_ERRORS.get(fault.status, "InvalidRequest" if fault.status < 500 else "InternalServerError")
        return self._error(fault.status, name, name)

    def handle(self, request: Request) -> Response:
        now = as_utc(self.clock(), "clock()")
        if request.path == GET_PATH and request.method in ("GET", "HEAD"):
            return self._get(request)
        if request.path == CREATE_PATH and request.method == "POST":
            token = bearer_token(request)
            if token is None:
                return self._error(401, "AuthMissing", "Authentication Required")
            if token != self.access_jwt:
                return self._error(401, "InvalidToken", "Bad token scope")
            return self._create(request, now)
        return self._error(404, "MethodNotImplemented", "Method Not Implemented")

    def _get(self, request: Request) -> Response:
        repo, collection, rkey = request.param("repo"), request.param("collection"), request.param("rkey")
        if not repo or not collection or not rkey:
            return self._error(400, "InvalidRequest", "Error: Params must have the properties \"repo\", "
                               "\"collection\" and \"rkey\"")
        uri = f"at://{repo}/{collection}/{rkey}"
        with self._lock:
            ours = repo in (self.did, self.account_handle) and collection == POST_COLLECTION
            record = self._records.get(rkey) if ours else None
        if record is None:
            return self._error(400, "RecordNotFound", f"Could not locate record: {uri}")
        return json_response(200, {"uri": record.uri, "cid": record.cid, "value": record.value})

    def _consume(self, now: datetime) -> tuple[bool, datetime, int]:
        with self._lock:
            if self._window_reset is None or now >= self._window_reset:
                self._window_reset = now + timedelta(seconds=self.window_seconds)
                self._window_used = 0
            allowed = self._window_used < self.writes_per_window
            self._window_used += allowed
            return allowed, self._window_reset, self.writes_per_window - self._window_used

    def _create(self, request: Request, now: datetime) -> Response:
        try:
            body = json_body(request)
        except BadBody as exc:
            return self._error(400, "InvalidRequest", str(exc))
        if body.get("repo") not in (self.did, self.account_handle):
            return self._error(400, "InvalidRequest", "Input/repo must be the authenticated account's DID or handle")
        if body.get("collection") != POST_COLLECTION:
            return self._error(400, "InvalidRequest", f"Unsupported collection: {body.get('collection')}")
        rkey = body.get("rkey") or self._new_tid()
        if not isinstance(rkey, str) or not TID_RE.match(rkey):
            return self._error(400, "InvalidRequest", f"Invalid {POST_COLLECTION} record key: {rkey!r} is not a TID")
        record = body.get("record")
        problem = self._validate(record)
        if problem:
            return self._error(400, "InvalidRequest", f"Invalid {POST_COLLECTION} record: {problem}")
        allowed, reset, remaining = self._consume(now)
        if not allowed:
            return self._error(429, "RateLimitExceeded", "Rate Limit Exceeded", self._rate_headers(reset, 0))
        assert isinstance(record, dict)
        with self._lock:
            if rkey in self._records:
                return self._error(400, "InvalidRequest", f"Record already exists: {self.uri_for(rkey)}",
                                   self._rate_headers(reset, remaining))
            stored = BlueskyRecord(rkey=rkey, uri=self.uri_for(rkey), cid=cid_for(record), value=record, created_at=now)
            self._records[rkey] = stored
        body_out = {"uri": stored.uri, "cid": stored.cid,
                    "commit": {"cid": cid_for({"commit": stored.cid}), "rev": self._new_tid()},
                    "validationStatus": "valid"}
        return json_response(200, body_out, self._rate_headers(reset, remaining))

    @staticmethod
    def _new_tid() -> str:
        value = secrets.randbits(63)
        return "".join(_B32_SORTABLE[(value >> (5 * i)) & 31] for i in reversed(range(13)))

    @staticmethod
    def _validate(record: Any) -> str | None:
        """What the lexicon would reject, as the PDS words it; None when the record is valid."""
        if not isinstance(record, dict):
            return "Record must be an object"
        if record.get("$type") != POST_COLLECTION:
            return f"Record/$type must be {POST_COLLECTION}"
        text = record.get("text")
        if not isinstance(text, str):
            return "Record must have the property \"text\""
        if grapheme_count(text) > MAX_GRAPHEMES:
            return f"Record/text must not be longer than {MAX_GRAPHEMES} graphemes"
        if len(text.encode("utf-8")) > MAX_BYTES:
            return f"Record/text must not be longer than {MAX_BYTES} characters"
        created = record.get("createdAt")
        try:
            parsed = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            return "Record/createdAt must be an valid atproto datetime (both RFC-3339 and ISO-8601)"
        langs = record.get("langs", [])
        if not isinstance(langs, list) or len(langs) > 3:
            return "Record/langs must not have more than 3 elements"
        reply = record.get("reply")
        if reply is not None:
            for part in ("root", "parent"):
                ref = reply.get(part) if isinstance(reply, dict) else None
                if not isinstance(ref, dict) or not str(ref.get("uri", "")).startswith("at://") or not ref.get("cid"):
                    return f"Record/reply/{part} must be a strong ref with uri and cid"
        return None
