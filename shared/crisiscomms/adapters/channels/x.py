"""X publishing: `POST /2/tweets` with an OAuth 2.0 user-context token.

X has no idempotency key. A lost answer is resolved by `find`, which reads the account's own
timeline (`GET /2/users/:id/tweets`) for a post with the statement's text; X also refuses an
identical second post ("duplicate content"), which `publish` resolves the same way.
"""
from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn

import httpx

from crisiscomms.adapters.http import epoch_header, platform_error, send, send_write, with_retries
from crisiscomms.adapters.x_api import DEFAULT_RATE_LIMIT_PAUSE, error_message, reset_time
from crisiscomms.models.delivery import Channel, DeliveryRequest, DeliveryResult
from crisiscomms.models.effect import Engagement
from crisiscomms.errors import PermanentPlatformError, TransientPlatformError

TWEETS_PATH = "/2/tweets"
TIMELINE_PAGE_SIZE = 100
TIMELINE_MAX_PAGES = 5
LOOKUP_IDS = 100  # GET /2/tweets takes at most 100 ids
# X answers a second identical post with 403 and this phrase in `detail`.
_DUPLICATE_MARKER = "duplicate content"
_URL_RE = re.compile(r"https?://\S+")


def comparable_text(text: str) -> str:
    """Text as X stores it, reduced to what survives posting: links become t.co, `&<>` come
    back HTML-escaped, whitespace may be normalised."""
    text = unicodedata.normalize("NFC", html.unescape(text))
    return " ".join(_URL_RE.sub("<link>", text).split())


def _limit_reset(response: httpx.Response, now: datetime) -> datetime:
    """When posting may resume: the 15-minute window, or a spent 24-hour quota if later."""
    candidates = [reset_time(response, now) or now + DEFAULT_RATE_LIMIT_PAUSE]
    for scope in ("user", "app"):
        reset = epoch_header(response, f"x-{scope}-limit-24hour-reset")
        if response.headers.get(f"x-{scope}-limit-24hour-remaining") == "0" and reset:
            candidates.append(reset)
    return max(candidates)


def _message(response: httpx.Response) -> tuple[str, dict[str, Any]]:
    """X's problem title/detail, plus the first parameter error when the problem lists them."""
    message, body = error_message(response)
    errors = body.get("errors") if isinstance(body, dict) else None
    if ("title" in body or "detail" in body) and errors and isinstance(errors[0], dict) and errors[0].get("message"):
        message = f"{message} ({errors[0]['message']})"
    return message, body


def _raise_for(response: httpx.Response, now: datetime) -> NoReturn:
    message, _ = _message(response)
    status = response.status_code
    duplicate = status < 500 and _DUPLICATE_MARKER in message.lower()
    raise platform_error(status, f"X {status}: {message}", rate_limit_message=f"X rate limit: {message}",
                         resume_at=lambda: _limit_reset(response, now), code="duplicate" if duplicate else None)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise TransientPlatformError(f"X answered {response.status_code} with a body that is not JSON",
                                     status=response.status_code) from exc
    return body if isinstance(body, dict) else {}


class XAdapter:
    """Posts as the bank's account `username` (numeric id `user_id`)."""

    channel: Channel = "x"

    def __init__(
        self,
        http: httpx.Client,
        *,
        access_token: str,
        user_id: str,
        username: str,
        clock: Callable[[], datetime],
        lookback: timedelta = timedelta(days=2),
    ) -> None:
        self._http = http
        self._token = access_token
        self._user_id = user_id
        self._username = username
        self._clock = clock
        self._lookback = lookback

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def _result(self, post_id: str, text: str, **details: str) -> DeliveryResult:
        return DeliveryResult(
            platform_id=post_id,
            url=f"https://x.com/{self._username}/status/{post_id}",
            details={"text": text, **details},
        )

    def publish(self, request: DeliveryRequest) -> DeliveryResult:
        """Post once; a duplicate-content refusal means an earlier attempt landed, so find it."""
        body: dict[str, Any] = {"text": request.text}
        if request.reply_to:
            body["reply"] = {"in_reply_to_tweet_id": request.reply_to}
        http_request = self._http.build_request("POST", TWEETS_PATH, json=body, headers=self._headers())
        response = send_write(self._http, http_request)
        if response.status_code in (200, 201):
            data = _json(response).get("data") or {}
            if not isinstance(data, dict) or not str(data.get("id", "")).isdigit():
                raise PermanentPlatformError("X answered success without a post id", status=response.status_code)
            return self._result(str(data["id"]), str(data.get("text", "")))
        try:
            _raise_for(response, self._clock())
        except PermanentPlatformError as exc:
            if exc.code == "duplicate" and (found := self.find(request)) is not None:
                return DeliveryResult(found.platform_id, found.url, {**found.details, "resolved_by": "duplicate"})
            raise

    def find(self, request: DeliveryRequest) -> DeliveryResult | None:
        """The oldest post on the account's recent timeline with this text (and reply target)."""
        wanted = comparable_text(request.text)
        since = (self._clock() - self._lookback).astimezone(timezone.utc)
        params: dict[str, Any] = {
            "max_results": TIMELINE_PAGE_SIZE,
            "tweet.fields": "created_at,referenced_tweets",
            "exclude": "retweets",
            "start_time": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        matches: list[dict[str, Any]] = []
        for _ in range(TIMELINE_MAX_PAGES):
            response = send(self._http, self._http.build_request(
                "GET", f"/2/users/{self._user_id}/tweets", params=params, headers=self._headers()))
            if response.status_code != 200:
                _raise_for(response, self._clock())
            page = _json(response)
            for tweet in page.get("data") or []:
                if isinstance(tweet, dict) and self._matches(tweet, wanted, request.reply_to):
                    matches.append(tweet)
            next_token = (page.get("meta") or {}).get("next_token")
            if not next_token:
                break
            params["pagination_token"] = next_token
        if not matches:
            return None
        oldest = min(matches, key=lambda t: int(t["id"]))
        return self._result(str(oldest["id"]), str(oldest.get("text", "")), matches=str(len(matches)))

    @staticmethod
    def _matches(tweet: dict[str, Any], wanted: str, reply_to: str | None) -> bool:
        if not str(tweet.get("id", "")).isdigit() or comparable_text(str(tweet.get("text", ""))) != wanted:
            return False
        if reply_to is None:
            return True
        refs = tweet.get("referenced_tweets") or []
        return any(isinstance(r, dict) and r.get("type") == "replied_to" and r.get("id") == reply_to for r in refs)

    def engagement(self, post_ids: list[str], *, attempts: int = 2, base_delay: float = 0.2) -> dict[str, Engagement]:
        """Likes, reposts (retweets and quotes) and replies of the account's posts: `GET /2/tweets?ids=...`
        with `tweet.fields=public_metrics`, 100 ids a call, each call retried at most `attempts` times.
        Ids X does not return (deleted, or listed under `errors`) are left out."""
        out: dict[str, Engagement] = {}
        for start in range(0, len(post_ids), LOOKUP_IDS):
            params = {"ids": ",".join(post_ids[start:start + LOOKUP_IDS]), "tweet.fields": "public_metrics"}

            def call(params: dict[str, Any] = params) -> httpx.Response:
                response = send(self._http, self._http.build_request("GET", TWEETS_PATH, params=params,
                                                                     headers=self._headers()))
                if response.status_code != 200:
                    _raise_for(response, self._clock())
                return response

            for tweet in _json(with_retries(call, attempts=attempts, base_delay=base_delay)).get("data") or []:
                metrics = tweet.get("public_metrics") if isinstance(tweet, dict) else None
                if isinstance(metrics, dict) and tweet.get("id"):
                    out[str(tweet["id"])] = Engagement(
                        state="available", posts=1, likes=int(metrics.get("like_count") or 0),
                        reposts=int(metrics.get("retweet_count") or 0) + int(metrics.get("quote_count") or 0),
                        replies=int(metrics.get("reply_count") or 0))
        return out
