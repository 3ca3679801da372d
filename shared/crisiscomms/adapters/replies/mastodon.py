"""Replies on Mastodon: `POST /api/v1/statuses` with `in_reply_to_id` and `Idempotency-Key`.

The status id must be the one the bank's own server knows. A status heard through the bank's
server (its notifications, tag timeline or search) already has it. One heard through another
server has that server's id; its `reply_ref` carries the server and the status URI, and the
bank's server is asked for its copy (`GET /api/v2/search?q=<uri>&resolve=true&type=statuses`),
which fetches the status over ActivityPub when it does not hold it yet.

The reply's idempotency key (reply id and generation) is sent as `Idempotency-Key`, which
Mastodon remembers for an hour: a retry within it answers the status already created. After
that, a lost answer is found among the account's own statuses by text, `in_reply_to_id` and
language (the publishing adapter's `find`, which never writes). Mastodon adds no mention to a
reply, so the approved text should begin with the person's @handle for them to be notified.
"""
from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from crisiscomms.adapters.channels.mastodon import MastodonAdapter, raise_for, status_json
from crisiscomms.adapters.http import send
from crisiscomms.errors import PermanentPlatformError
from crisiscomms.models.delivery import DeliveryRequest, DeliveryResult
from crisiscomms.models.inbox import ReplyTarget

SEARCH_PATH = "/api/v2/search"


def _origin(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    return (parts.hostname or "").lower(), parts.port


class MastodonReplies(MastodonAdapter):
    """Replies as the bank's account on its own server (the publishing channel's account and token)."""

    platform = "mastodon"

    def reply(self, target: ReplyTarget, text: str, *, idempotency_key: str,
              language: str | None = None) -> DeliveryResult:
        return self.publish(self._request(target, text, idempotency_key, language))

    def find_reply(self, target: ReplyTarget, text: str, since: datetime, *,
                   idempotency_key: str | None = None, language: str | None = None) -> DeliveryResult | None:
        return self.find(self._request(target, text, idempotency_key or "", language))

    def _request(self, target: ReplyTarget, text: str, key: str, language: str | None) -> DeliveryRequest:
        return DeliveryRequest(delivery_id=key, statement_id="", version=0, channel="mastodon",
                               language=language or "en", text=text, reply_to=self.local_id(target))

    def local_id(self, target: ReplyTarget) -> str:
        """The bank's server's id of the status to answer."""
        server = target.ref.get("server")
        if not server or _origin(server) == _origin(str(self._http.base_url)):
            return target.native_id
        uri = target.ref.get("uri") or target.ref.get("url")
        if not uri:
            raise PermanentPlatformError(f"Mastodon: {target.post_key} was heard on {server} and has no URI to look "
                                         "up on the bank's server", code="missing_reply_ref")
        response = send(self._http, self._http.build_request(
            "GET", SEARCH_PATH, params={"q": uri, "type": "statuses", "resolve": "true", "limit": 1},
            headers=self._headers()))
        if response.status_code != 200:
            raise_for(response, self._clock())
        body = status_json(response)
        statuses = body.get("statuses") if isinstance(body, dict) else None
        if not statuses or not isinstance(statuses[0], dict) or not statuses[0].get("id"):
            raise PermanentPlatformError(f"Mastodon: the bank's server cannot find the status {uri} to reply to",
                                         status=404, code="not_found")
        return str(statuses[0]["id"])
