"""X API v2 recent search, `GET /2/tweets/search/recent`, and posts lookup by id, `GET /2/tweets`.

The parser turns one response page into Posts and counts what it could not read; the client
maps X's error envelopes (problem JSON, or the legacy `errors[].code`) and rate-limit headers
onto the domain's errors. Cursor handling lives in crisiscomms.listening. The lookup reads known
posts again for their grown engagement (crisiscomms.listening.watchlist): up to 100 ids a request,
a post that can no longer be read (deleted, protected, suspended) named in the answer's `errors`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import httpx
from pydantic import ValidationError

from crisiscomms.adapters.http import platform_error, send
from crisiscomms.adapters.x_api import DEFAULT_RATE_LIMIT_PAUSE, error_message, reset_time
from crisiscomms.errors import InvalidCursor, TransientPlatformError
from crisiscomms.models import Post
from crisiscomms.models.paging import LookupResult

SEARCH_PATH = "/2/tweets/search/recent"
LOOKUP_PATH = "/2/tweets"
LOOKUP_MAX_IDS = 100
# what deciding early warning needs again: metrics, age, and the author's followers
LOOKUP_TWEET_FIELDS = "public_metrics,created_at"
LOOKUP_EXPANSIONS = "author_id"
LOOKUP_USER_FIELDS = "public_metrics"
TWEET_FIELDS = "created_at,public_metrics,lang,geo,author_id,in_reply_to_user_id,entities"
USER_FIELDS = "username,public_metrics"
# Places come back in includes.places with their country codes; the account a reply answers in
# includes.users, so a reply to the bank is known by its username without knowing its id.
EXPANSIONS = "author_id,geo.place_id,in_reply_to_user_id"
PLACE_FIELDS = "full_name,country_code,place_type,name"
MAX_RESULTS = 100


@dataclass
class SearchPage:
    posts: list[Post]
    malformed: list[str] = field(default_factory=list)
    newest_id: str | None = None
    next_token: str | None = None
    rate_limit_remaining: int | None = None
    rate_limit_reset: datetime | None = None


def parse_lookup(payload: dict[str, Any], *, source_id: str) -> LookupResult:
    """A posts lookup answer: `data` as Posts, and the ids of `errors` about a requested tweet (a deleted
    one is a "Not Found Error", a protected or suspended author's an "Authorization Error"); both are
    per-id problems inside HTTP 200."""
    users = {u.get("id"): u for u in payload.get("includes", {}).get("users", []) if isinstance(u, dict)}
    result = LookupResult(posts=[])
    for raw in payload.get("data") or []:
        try:
            result.posts.append(_tweet_to_post(raw, users, {}, source_id, _BankAccount(None, None)))
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            tweet_id = raw.get("id") if isinstance(raw, dict) else None
            result.malformed.append(f"tweet {tweet_id or '?'}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    for error in payload.get("errors") or []:
        if not isinstance(error, dict) or error.get("resource_type", "tweet") != "tweet":
            continue
        if error.get("parameter", "ids") not in ("ids", "id"):
            continue
        tweet_id = error.get("resource_id") or error.get("value")
        if isinstance(tweet_id, str) and tweet_id.isdigit():
            result.missing.add(tweet_id)
    return result


def _parse_time(value: Any) -> datetime:
    when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError("created_at without a timezone")
    return when


def parse_search_page(payload: dict[str, Any], *, source_id: str, bank_handle: str | None = None,
                      bank_id: str | None = None) -> SearchPage:
    """One page of results as Posts; an unreadable tweet is skipped and described, never fatal."""
    users = {u.get("id"): u for u in payload.get("includes", {}).get("users", []) if isinstance(u, dict)}
    places = {p.get("id"): p for p in payload.get("includes", {}).get("places", []) if isinstance(p, dict)}
    meta = payload.get("meta") or {}
    page = SearchPage(posts=[], newest_id=meta.get("newest_id"), next_token=meta.get("next_token"))
    for raw in payload.get("data") or []:
        try:
            page.posts.append(_tweet_to_post(raw, users, places, source_id, _BankAccount(bank_handle, bank_id)))
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            tweet_id = raw.get("id") if isinstance(raw, dict) else None
            page.malformed.append(f"tweet {tweet_id or '?'}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    return page


@dataclass(frozen=True)
class _BankAccount:
    handle: str | None
    id: str | None

    def addressed_by(self, raw: dict[str, Any], users: dict) -> bool:
        """A reply to the bank's account, or a post that mentions it."""
        if not self.handle and not self.id:
            return False
        handle = (self.handle or "").lstrip("@").casefold()
        replied = raw.get("in_reply_to_user_id")
        if replied and (str(replied) == self.id or
                        str((users.get(replied) or {}).get("username", "")).casefold() == handle):
            return True
        mentions = (raw.get("entities") or {}).get("mentions") or []
        return bool(handle) and any(isinstance(m, dict) and str(m.get("username", "")).casefold() == handle
                                    for m in mentions)


def _tweet_to_post(raw: dict[str, Any], users: dict, places: dict, source_id: str, bank: _BankAccount) -> Post:
    tweet_id = str(raw["id"])
    if not tweet_id.isdigit():
        raise ValueError(f"id {tweet_id!r} is not numeric")
    text = raw["text"]
    if not isinstance(text, str):
        raise TypeError("text is not a string")
    user = users.get(raw.get("author_id")) or {}
    username = user.get("username")
    metrics = raw.get("public_metrics") or {}
    place_id = (raw.get("geo") or {}).get("place_id")
    place = places.get(place_id) or {}
    return Post(
        platform="x",
        native_id=tweet_id,
        source_type="social",
        source_id=source_id,
        url=f"https://x.com/{username}/status/{tweet_id}" if username else f"https://x.com/i/web/status/{tweet_id}",
        author=username or str(raw.get("author_id") or "unknown"),
        author_id=str(raw["author_id"]) if raw.get("author_id") else None,
        followers=int((user.get("public_metrics") or {}).get("followers_count", 0)),
        text=text,
        lang_hint=raw.get("lang"),
        published_at=_parse_time(raw["created_at"]),
        likes=int(metrics.get("like_count", 0)),
        reposts=int(metrics.get("retweet_count", 0)),
        replies=int(metrics.get("reply_count", 0)),
        quotes=int(metrics.get("quote_count", 0)),
        location=place.get("full_name") or place_id,
        location_country=place.get("country_code") if isinstance(place.get("country_code"), str) else None,
        to_bank=bank.addressed_by(raw, users),
    )


class XSearchClient:
    """App-only (bearer token) client for recent search and posts lookup."""

    def __init__(self, http: httpx.Client, *, bearer_token: str, clock: Callable[[], datetime],
                 bank_handle: str | None = None, bank_id: str | None = None) -> None:
        self._bank_handle = bank_handle
        self._bank_id = bank_id
        self._http = http
        self._token = bearer_token
        self._clock = clock

    def search(
        self,
        query: str,
        *,
        source_id: str,
        since_id: str | None = None,
        next_token: str | None = None,
        start_time: datetime | None = None,
        max_results: int = MAX_RESULTS,
    ) -> SearchPage:
        params: dict[str, Any] = {
            "query": query,
            "max_results": max_results,
            "tweet.fields": TWEET_FIELDS,
            "expansions": EXPANSIONS,
            "user.fields": USER_FIELDS,
            "place.fields": PLACE_FIELDS,
        }
        if since_id:
            params["since_id"] = since_id
        elif start_time:
            params["start_time"] = start_time.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if next_token:
            params["next_token"] = next_token
        request = self._http.build_request(
            "GET", SEARCH_PATH, params=params, headers={"Authorization": f"Bearer {self._token}"}
        )
        response = send(self._http, request)
        now = self._clock()
        if response.status_code == 200:
            page = parse_search_page(_json_object(response), source_id=source_id,
                                     bank_handle=self._bank_handle, bank_id=self._bank_id)
            remaining = response.headers.get("x-rate-limit-remaining")
            page.rate_limit_remaining = int(remaining) if remaining and remaining.isdigit() else None
            page.rate_limit_reset = reset_time(response, now)
            return page
        message, body = error_message(response)
        status = response.status_code
        if status == 400 and next_token and _mentions_pagination(body):
            raise InvalidCursor(f"X refused the stored pagination token: {message}", status=status)
        raise platform_error(status, f"X {status}: {message}", rate_limit_message=f"X rate limit: {message}",
                             resume_at=lambda: reset_time(response, now) or now + DEFAULT_RATE_LIMIT_PAUSE)


    def lookup(self, ids: list[str], *, source_id: str) -> LookupResult:
        """Read up to 100 posts by id in one request: their public metrics, creation time and author's
        followers. Errors map as for search (a 429 is RateLimited with X's reset time)."""
        if not 1 <= len(ids) <= LOOKUP_MAX_IDS:
            raise ValueError(f"a lookup takes 1 to {LOOKUP_MAX_IDS} ids, not {len(ids)}")
        request = self._http.build_request("GET", LOOKUP_PATH, params={
            "ids": ",".join(ids), "tweet.fields": LOOKUP_TWEET_FIELDS, "expansions": LOOKUP_EXPANSIONS,
            "user.fields": LOOKUP_USER_FIELDS,
        }, headers={"Authorization": f"Bearer {self._token}"})
        response = send(self._http, request)
        now = self._clock()
        if response.status_code == 200:
            return parse_lookup(_json_object(response), source_id=source_id)
        message, _ = error_message(response)
        status = response.status_code
        raise platform_error(status, f"X {status}: {message}", rate_limit_message=f"X rate limit: {message}",
                             resume_at=lambda: reset_time(response, now) or now + DEFAULT_RATE_LIMIT_PAUSE)


def _mentions_pagination(body: dict[str, Any]) -> bool:
    for error in body.get("errors") or []:
        parameters = error.get("parameters") or {} if isinstance(error, dict) else {}
        text = f"{error.get('message', '')}" if isinstance(error, dict) else ""
        if {"next_token", "pagination_token"} & set(parameters) or "token" in text.lower():
            return True
    return "token" in str(body.get("detail", "")).lower()


def _json_object(response: Any) -> dict[str, Any]:
    """A 200's body as a JSON object ({} for any other JSON); a body that is not JSON is transient."""
    try:
        payload = response.json()
    except ValueError as exc:
        raise TransientPlatformError("X answered 200 with a body that is not JSON", status=200) from exc
    return payload if isinstance(payload, dict) else {}
