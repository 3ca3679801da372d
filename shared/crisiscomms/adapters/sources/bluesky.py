"""Bluesky search: `app.bsky.feed.searchPosts` (sort=latest) read with an app-password session.

Credentials: the secret `<SOURCE_SECRET_PREFIX>bluesky` is a JSON object with
  `identifier`  the reading account's handle (or e-mail),
  `password`    an app password of that account (Settings > Privacy and security > App passwords),
  `accessJwt`, `refreshJwt`, `did`, `handle`  the current session, written back by the Poller.
Bluesky refuses anonymous search, so every call carries the session's access JWT. With no
session yet, or when the access JWT is refused (`ExpiredToken`, HTTP 400, after about two hours),
the TokenKeeper renews it under its lease with `BlueskySessions.renew`: `refreshSession` with the
refresh JWT (about 90 days, rotated on each use), else `createSession` with the app password
(rate limited to 30 per 5 minutes and 300 a day, hence the refresh first); a refused password is
ReauthorisationNeeded.

Cursor: searchPosts with sort=latest pages backwards in time, newest first, and its `cursor` only
continues one query. So the reader works in sweeps. A sweep pins its window when it starts,
`since` = the high-water mark minus `overlap_seconds` (on the very first sweep, now minus the
source's initial look-back) and `until` = now, and pages that fixed window with `cursor` until
the search has no more: posts arriving meanwhile fall above `until` and cannot shift the pages,
and they are read by the next sweep. The high-water mark is the newest sort time read so far
(the search sorts on `sortAt`, the earlier of the record's createdAt and the AppView's indexedAt,
so a post dated in the future cannot push the mark ahead). Re-reading `overlap_seconds` below it
catches posts the search indexed late; the posts already read in that window are remembered by
uri (`seen`) and skipped, so resuming stores nothing twice. Every page's cursor fields are
stored after its posts (`sweep_*`), so a crash or a page limit resumes the same sweep, from the
same page; a cursor the search refuses restarts the sweep at its top (duplicates are refused by
the store, nothing is skipped).

Followers: searchPosts does not carry follower counts, so each page's new authors are looked up
with `app.bsky.actor.getProfiles` (at most 25 `actors` per call), cached for the run; if that
fails the posts are kept with 0 followers and a warning says why.

Reading again (the early-warning watch list, crisiscomms.listening.watchlist): `lookup` reads
posts by uri with `app.bsky.feed.getPosts` (at most 25 `uris` a call), whose post views carry
likeCount, repostCount, replyCount and quoteCount as search does; a uri the AppView no longer
serves (deleted, taken down) is left out of its answer and reported missing. Its authors
(ProfileViewBasic) carry no follower count, and none is read again: a post is watched only when
its author was over the followers bar at storing, less than an hour before, so the count read then
(kept in the watch entry) decides; re-reading it would cost a getProfiles call per 25 authors
from the same budget for an answer that cannot change the outcome but by a loss of followers.

Rate limits: every answer carries `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`
(Unix seconds) and `RateLimit-Policy` (e.g. `3000;w=300`); a 429 (`RateLimitExceeded`) may add
`Retry-After` (seconds). A spent budget parks the source until the later of the two.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn

import httpx
from pydantic import ValidationError

from crisiscomms.adapters.http import epoch_header, json_object, platform_error, retry_after, send
from crisiscomms.errors import (
    PermanentPlatformError,
    PlatformError,
    RateLimited,
    ReauthorisationNeeded,
    TokenExpired,
    TransientPlatformError,
)
from crisiscomms.models import Post
from crisiscomms.models.paging import Credentials, LookupResult, SourcePage
from crisiscomms.observability import logger

SEARCH_PATH = "/xrpc/app.bsky.feed.searchPosts"
PROFILES_PATH = "/xrpc/app.bsky.actor.getProfiles"
GET_POSTS_PATH = "/xrpc/app.bsky.feed.getPosts"
CREATE_SESSION_PATH = "/xrpc/com.atproto.server.createSession"
REFRESH_SESSION_PATH = "/xrpc/com.atproto.server.refreshSession"
POST_COLLECTION = "app.bsky.feed.post"
MENTION_FEATURE = "app.bsky.richtext.facet#mention"
PROFILES_PER_CALL = 25  # getProfiles `actors` maxLength
POSTS_PER_CALL = 25  # getPosts `uris` maxLength
SEEN_KEPT = 500  # uris remembered for the overlap window; beyond it a re-read post is only a refused duplicate
DEFAULT_RATE_LIMIT_PAUSE = timedelta(minutes=5)
REFUSED_SESSION = ("ExpiredToken", "InvalidToken", "AuthMissing", "AuthenticationRequired")
ACCOUNT_UNUSABLE = ("AccountTakedown", "AuthFactorTokenRequired")
INACTIVE_STATUSES = ("takendown", "suspended", "deactivated")

_AT_URI = re.compile(r"^at://(?P<repo>[^/]+)/(?P<collection>[^/]+)/(?P<rkey>[^/?#]+)$")

# The cursor fields this reader stores (all strings or lists of strings).
HIGH_WATER, SEEN = "high_water", "seen"
SWEEP_SINCE, SWEEP_UNTIL, SWEEP_CURSOR, SWEEP_NEWEST, SWEEP_SEEN = (
    "sweep_since", "sweep_until", "sweep_cursor", "sweep_newest", "sweep_seen")


# --- the pure part: documented JSON in, Posts out -------------------------------------------------

@dataclass(frozen=True)
class BankIdentity:
    """The bank's own Bluesky account: posts mentioning it or replying under its posts address the bank."""

    did: str | None
    handle: str | None

    @classmethod
    def of(cls, handle: str | None, account_id: str | None) -> BankIdentity | None:
        did = account_id if account_id and account_id.startswith("did:") else None
        clean = (handle or "").strip().lstrip("@").lower() or None
        return cls(did=did, handle=clean) if did or clean else None

    def owns(self, identifier: str) -> bool:
        return identifier == self.did or (self.handle is not None and identifier.lower() == self.handle)

    def mentioned_in(self, text: str) -> bool:
        if not self.handle:
            return False
        return re.search(rf"(?<![\w@.]){'@' + re.escape(self.handle)}(?![\w-]|\.\w)", text, re.IGNORECASE) is not None


@dataclass
class SearchResults:
    """One searchPosts page as Posts, with what the cursor needs to know about it."""

    posts: list[Post] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    sort_at: dict[str, datetime] = field(default_factory=dict)  # uri -> the time the search sorts it by
    unreadable_uris: list[str] = field(default_factory=list)  # malformed items with a uri: reported once
    cursor: str | None = None


def parse_time(value: Any) -> datetime:
    """An atproto datetime (RFC 3339 with a timezone); a naive one is refused, not guessed."""
    if not isinstance(value, str):
        raise TypeError("datetime is not a string")
    when = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError(f"datetime {value!r} has no timezone")
    return when.astimezone(timezone.utc)


def iso(when: datetime) -> str:
    """UTC with milliseconds and a Z, as atproto writes datetimes."""
    when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def post_url(handle: str | None, did: str, rkey: str) -> str:
    """The bsky.app address of a post; by DID when the handle is missing or failed verification."""
    who = handle if handle and handle != "handle.invalid" else did
    return f"https://bsky.app/profile/{who}/post/{rkey}"


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _ref_uri(value: Any) -> str | None:
    uri = value.get("uri") if isinstance(value, dict) else None
    return uri if isinstance(uri, str) else None


def _repo_of(uri: str | None) -> str | None:
    match = _AT_URI.match(uri or "")
    return match["repo"] if match else None


def addresses_bank(record: Mapping[str, Any], author_did: str, bank: BankIdentity | None) -> bool:
    """Mentions the bank (facet or @handle), replies in a thread under its post, or quotes its post."""
    if bank is None or bank.owns(author_did):
        return False
    for facet in record.get("facets") or []:
        for feature in (facet.get("features") or []) if isinstance(facet, dict) else []:
            if isinstance(feature, dict) and feature.get("$type") == MENTION_FEATURE and bank.owns(str(feature.get("did", ""))):
                return True
    if bank.mentioned_in(str(record.get("text", ""))):
        return True
    reply = record.get("reply") if isinstance(record.get("reply"), dict) else {}
    embed = record.get("embed") if isinstance(record.get("embed"), dict) else {}
    quoted = embed.get("record") if isinstance(embed.get("record"), dict) else {}
    if isinstance(quoted.get("record"), dict):  # app.bsky.embed.recordWithMedia nests the quoted ref once more
        quoted = quoted["record"]
    refs = (_ref_uri(reply.get("parent")), _ref_uri(reply.get("root")), _ref_uri(quoted))
    return any(repo is not None and bank.owns(repo) for repo in map(_repo_of, refs))


def _view_to_post(raw: Any, source_id: str, bank: BankIdentity | None,
                  followers: Mapping[str, int]) -> tuple[Post, datetime]:
    if not isinstance(raw, dict):
        raise TypeError("post view is not an object")
    uri = raw["uri"]
    match = _AT_URI.match(uri) if isinstance(uri, str) else None
    if match is None or match["collection"] != POST_COLLECTION:
        raise ValueError(f"uri {uri!r} is not an at:// uri of a {POST_COLLECTION} record")
    author, record = raw["author"], raw["record"]
    if not isinstance(author, dict) or not isinstance(record, dict):
        raise TypeError("author or record is not an object")
    did = author["did"]
    if not isinstance(did, str) or not did.startswith("did:"):
        raise ValueError(f"author did {did!r} is not a DID")
    handle = author.get("handle") if isinstance(author.get("handle"), str) else None
    text = record["text"]
    if not isinstance(text, str):
        raise TypeError("record text is not a string")
    created, indexed = parse_time(record["createdAt"]), parse_time(raw["indexedAt"])
    langs = record.get("langs")
    lang = langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else None
    post = Post(
        platform="bluesky",
        native_id=uri,
        source_type="social",
        source_id=source_id,
        url=post_url(handle, did, match["rkey"]),
        author=handle or did,
        author_id=did,
        followers=followers.get(did, 0),
        text=text,
        lang_hint=lang,
        published_at=created,
        likes=_count(raw.get("likeCount")),
        reposts=_count(raw.get("repostCount")),
        replies=_count(raw.get("replyCount")),
        quotes=_count(raw.get("quoteCount")),
        to_bank=addresses_bank(record, did, bank),
        reply_ref=reply_ref(uri, raw.get("cid"), record),
    )
    return post, min(created, indexed)


def reply_ref(uri: str, cid: Any, record: Mapping[str, Any]) -> dict[str, str] | None:
    """What a reply to this post names: the post (parent) and its thread's root, as uri and cid
    strong refs; a post that starts a thread is its own root. None without the post's cid."""
    if not isinstance(cid, str) or not cid:
        return None
    reply = record.get("reply") if isinstance(record.get("reply"), dict) else {}
    root = reply.get("root") if isinstance(reply.get("root"), dict) else {}
    root_uri, root_cid = root.get("uri"), root.get("cid")
    if not (isinstance(root_uri, str) and root_uri.startswith("at://") and isinstance(root_cid, str) and root_cid):
        root_uri, root_cid = uri, cid
    return {"uri": uri, "cid": cid, "root_uri": root_uri, "root_cid": root_cid}


def parse_search_page(payload: Mapping[str, Any], *, source_id: str, bank: BankIdentity | None = None,
                      followers: Mapping[str, int] | None = None) -> SearchResults:
    """A searchPosts answer as Posts; an unreadable post view is described and skipped, never fatal."""
    cursor = payload.get("cursor")
    results = SearchResults(cursor=cursor if isinstance(cursor, str) and cursor else None)
    for raw in payload.get("posts") or []:
        try:
            post, sort_at = _view_to_post(raw, source_id, bank, followers or {})
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            uri = raw.get("uri") if isinstance(raw, dict) and isinstance(raw.get("uri"), str) else None
            results.malformed.append(f"post {uri or '?'}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            if uri:
                results.unreadable_uris.append(uri)
            continue
        results.posts.append(post)
        results.sort_at[post.native_id] = sort_at
    return results


def author_dids(posts: Iterable[Any]) -> list[str]:
    """The distinct author DIDs of raw post views, in order of appearance."""
    dids = (p.get("author", {}).get("did") if isinstance(p, dict) and isinstance(p.get("author"), dict) else None
            for p in posts)
    return list(dict.fromkeys(d for d in dids if isinstance(d, str) and d.startswith("did:")))


def parse_profiles(payload: Mapping[str, Any]) -> dict[str, int]:
    """followersCount by DID from a getProfiles answer (profiles it cannot read are left out)."""
    counts: dict[str, int] = {}
    for profile in payload.get("profiles") or []:
        if isinstance(profile, dict) and isinstance(profile.get("did"), str):
            counts[profile["did"]] = _count(profile.get("followersCount"))
    return counts


# --- errors and rate limits ----------------------------------------------------------------------

def resume_time(response: httpx.Response, now: datetime) -> datetime:
    """When the budget is back: the later of Retry-After and RateLimit-Reset, else a default pause."""
    known = [t for t in (retry_after(response, now), epoch_header(response, "ratelimit-reset")) if t is not None]
    return max(known) if known else now + DEFAULT_RATE_LIMIT_PAUSE


def _envelope(response: httpx.Response) -> tuple[str, str]:
    body = json_object(response) or {}
    return str(body.get("error") or f"HTTP {response.status_code}"), str(body.get("message") or "")


def _raise_for(response: httpx.Response, now: datetime, call: str) -> NoReturn:
    """The XRPC error envelope `{"error", "message"}` as the domain's error."""
    status = response.status_code
    error, message = _envelope(response)
    text = f"Bluesky {call} {status} {error}: {message}".rstrip(": ")
    if error in REFUSED_SESSION or status == 401:
        raise TokenExpired(text, status=status, code=error)
    raise platform_error(status, text, code=error, rate_limited=status == 429 or error == "RateLimitExceeded",
                         resume_at=lambda: resume_time(response, now))


def _json_payload(response: httpx.Response, now: datetime, call: str) -> dict[str, Any]:
    """The body of a 200; an error envelope or something else than JSON is mapped, not parsed."""
    body = json_object(response)
    if body is None:
        raise TransientPlatformError(f"Bluesky {call} answered 200 with a body that is not a JSON object", status=200)
    if "error" in body and not any(key in body for key in ("posts", "profiles", "accessJwt")):
        _raise_for(response, now, call)
    return body


# --- the session ---------------------------------------------------------------------------------

def _session_fields(body: Mapping[str, Any], call: str) -> dict[str, Any]:
    fields = {key: body.get(key) for key in ("accessJwt", "refreshJwt", "did", "handle")}
    if not all(isinstance(v, str) and v for v in fields.values()):
        raise PermanentPlatformError(f"Bluesky {call} answered 200 without accessJwt, refreshJwt, did and handle",
                                     status=200)
    status = body.get("status")
    if status in INACTIVE_STATUSES:
        raise ReauthorisationNeeded(f"the Bluesky account {fields['handle']} is {status}: it cannot read search")
    return fields


class BlueskySessions:
    """Renews the secret's session: refreshSession with the refresh JWT, else createSession with the app password."""

    def __init__(self, http: httpx.Client, *, clock: Callable[[], datetime]) -> None:
        self._http = http
        self._clock = clock

    def renew(self, credentials: dict[str, Any]) -> dict[str, Any]:
        """The new session's fields, to merge into the secret (TokenKeeper calls this under its lease)."""
        refresh_jwt = credentials.get("refreshJwt")
        if isinstance(refresh_jwt, str) and refresh_jwt:
            refreshed = self._refresh(refresh_jwt)
            if refreshed is not None:
                return refreshed
        return self._create(credentials.get("identifier"), credentials.get("password"))

    def _refresh(self, refresh_jwt: str) -> dict[str, Any] | None:
        """A rotated session, or None when the refresh JWT itself is expired or revoked."""
        response = send(self._http, self._http.build_request(
            "POST", REFRESH_SESSION_PATH, headers={"Authorization": f"Bearer {refresh_jwt}"}))
        now = self._clock()
        if response.status_code == 200:
            return _session_fields(_json_payload(response, now, "refreshSession"), "refreshSession")
        error, message = _envelope(response)
        if error in ACCOUNT_UNUSABLE:
            raise ReauthorisationNeeded(f"Bluesky refreshSession {response.status_code} {error}: {message}")
        if error in REFUSED_SESSION or response.status_code == 401:
            logger.info("Bluesky refresh token refused, creating a new session",
                        extra={"error": error, "status": response.status_code})
            return None
        _raise_for(response, now, "refreshSession")

    def _create(self, identifier: Any, password: Any) -> dict[str, Any]:
        if not isinstance(identifier, str) or not identifier or not isinstance(password, str) or not password:
            raise ReauthorisationNeeded("the Bluesky secret has no usable session and no identifier and app password "
                                        "to create one: add them to the secret")
        response = send(self._http, self._http.build_request(
            "POST", CREATE_SESSION_PATH, json={"identifier": identifier, "password": password}))
        now = self._clock()
        if response.status_code == 200:
            return _session_fields(_json_payload(response, now, "createSession"), "createSession")
        error, message = _envelope(response)
        if error in ACCOUNT_UNUSABLE or error in REFUSED_SESSION or response.status_code == 401:
            raise ReauthorisationNeeded(f"Bluesky refused the app password of {identifier} "
                                        f"({response.status_code} {error}: {message}): create a new app password "
                                        "and put it in the secret")
        raise platform_error(response.status_code, f"Bluesky createSession {response.status_code} {error}: {message}",
                             code=error, rate_limited=response.status_code == 429 or error == "RateLimitExceeded",
                             resume_at=lambda: resume_time(response, now))


# --- the reader ----------------------------------------------------------------------------------

def _time_field(cursor: Mapping[str, Any], name: str) -> datetime | None:
    value = cursor.get(name)
    return parse_time(value) if isinstance(value, str) and value else None


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


class BlueskySearchReader:
    """Reads one configured search in sweeps (see the module docstring for the cursor), and posts again by uri."""

    lookup_ids = POSTS_PER_CALL
    lookup_followers = False  # ProfileViewBasic has no followersCount: the count read at storing is kept

    def __init__(self, http: httpx.Client, *, source: Any, credentials: Credentials,
                 clock: Callable[[], datetime], bank: BankIdentity | None) -> None:
        self._http = http
        self._source = source
        self._credentials = credentials
        self._clock = clock
        self._bank = bank
        self._followers: dict[str, int] = {}  # for this run: an author appears on many pages

    def read(self, cursor: Mapping[str, Any]) -> SourcePage:
        now = self._clock()
        overlap = timedelta(seconds=self._source.overlap_seconds)
        high_water = _time_field(cursor, HIGH_WATER)
        in_sweep = _time_field(cursor, SWEEP_UNTIL) is not None
        if in_sweep:
            since, until = _time_field(cursor, SWEEP_SINCE), _time_field(cursor, SWEEP_UNTIL)
            page_cursor = cursor.get(SWEEP_CURSOR) if isinstance(cursor.get(SWEEP_CURSOR), str) else None
        else:
            since = high_water - overlap if high_water else now - timedelta(minutes=self._source.initial_lookback_minutes)
            until, page_cursor = max(now, since + timedelta(seconds=1)), None
        assert since is not None and until is not None
        token = self._access_token()

        params: list[tuple[str, str | int]] = [("q", self._source.query), ("sort", "latest"), ("since", iso(since)),
                                               ("until", iso(until)), ("limit", self._source.page_size)]
        if self._source.lang:
            params.append(("lang", self._source.lang))
        if page_cursor:
            params.append(("cursor", page_cursor))
        response = send(self._http, self._http.build_request(
            "GET", SEARCH_PATH, params=params, headers={"Authorization": f"Bearer {token}"}))
        now = self._clock()
        if response.status_code != 200 and page_cursor and self._refuses_cursor(response):
            logger.warning("Bluesky refused the stored search cursor: the sweep restarts from its newest page",
                           extra={"source": self._source.id, "error": _envelope(response)[1][:200]})
            return SourcePage(posts=[], cursor={SWEEP_CURSOR: None}, more=True)
        if response.status_code != 200:
            _raise_for(response, now, "searchPosts")
        payload = _json_payload(response, now, "searchPosts")
        raw_posts = payload.get("posts")
        if not isinstance(raw_posts, list):
            raise TransientPlatformError("Bluesky searchPosts answered 200 without a posts array", status=200)

        seen = set(_strings(cursor.get(SEEN)))
        fresh = [p for p in raw_posts if not (isinstance(p, dict) and p.get("uri") in seen)]
        followers, resume_at = self._author_followers(author_dids(fresh), token, self._spent_until(response, now))
        results = parse_search_page({"posts": fresh, "cursor": payload.get("cursor")}, source_id=self._source.id,
                                    bank=self._bank, followers=followers)

        sweep_base = high_water or since  # the first sweep starts its mark at its look-back
        page_newest = max(results.sort_at.values(), default=None)
        earlier_pages = _time_field(cursor, SWEEP_NEWEST) if in_sweep else None
        newest = max((t for t in (earlier_pages, page_newest) if t is not None), default=None)
        mark = max(sweep_base, newest) if newest else sweep_base
        in_window = [uri for uri, at in results.sort_at.items() if at >= mark - overlap]
        sweep_seen = list(dict.fromkeys((_strings(cursor.get(SWEEP_SEEN)) if in_sweep else [])
                                        + in_window + results.unreadable_uris))[:SEEN_KEPT]
        oldest = min(results.sort_at.values(), default=None)
        finished = not results.cursor or not raw_posts or (oldest is not None and oldest < since)

        if finished:
            fields: dict[str, Any] = {
                HIGH_WATER: iso(mark), SEEN: list(dict.fromkeys(sweep_seen + _strings(cursor.get(SEEN))))[:SEEN_KEPT],
                SWEEP_SINCE: None, SWEEP_UNTIL: None, SWEEP_CURSOR: None, SWEEP_NEWEST: None, SWEEP_SEEN: None,
            }
        else:
            fields = {SWEEP_SINCE: iso(since), SWEEP_UNTIL: iso(until), SWEEP_CURSOR: results.cursor,
                      SWEEP_NEWEST: iso(newest) if newest else None, SWEEP_SEEN: sweep_seen}
        return SourcePage(posts=results.posts, malformed=results.malformed, cursor=fields, more=not finished,
                          resume_at=resume_at)

    def lookup(self, ids: list[str]) -> LookupResult:
        """Posts again by uri, up to 25 in one getPosts call: their counts now (followers 0: see the module
        docstring). A uri left out of the answer is missing; errors map as for search."""
        if not 1 <= len(ids) <= POSTS_PER_CALL:
            raise ValueError(f"getPosts takes 1 to {POSTS_PER_CALL} uris, not {len(ids)}")
        token = self._access_token()
        response = send(self._http, self._http.build_request(
            "GET", GET_POSTS_PATH, params=[("uris", uri) for uri in ids], headers={"Authorization": f"Bearer {token}"}))
        now = self._clock()
        if response.status_code != 200:
            _raise_for(response, now, "getPosts")
        views = _json_payload(response, now, "getPosts").get("posts")
        if not isinstance(views, list):
            raise TransientPlatformError("Bluesky getPosts answered 200 without a posts array", status=200)
        results = parse_search_page({"posts": views}, source_id=self._source.id, bank=self._bank)
        answered = {post.native_id for post in results.posts} | set(results.unreadable_uris)
        return LookupResult(posts=results.posts, malformed=results.malformed,
                            missing={uri for uri in ids if uri not in answered})

    def _access_token(self) -> str:
        token = self._credentials.current().get("accessJwt")
        if not isinstance(token, str) or not token:
            raise TokenExpired("no Bluesky session yet: one is created from the app password", code="no_session")
        return token

    @staticmethod
    def _refuses_cursor(response: httpx.Response) -> bool:
        error, message = _envelope(response)
        return response.status_code == 400 and error in ("InvalidRequest", "BadQueryString") and "cursor" in message.lower()

    @staticmethod
    def _spent_until(response: httpx.Response, now: datetime) -> datetime | None:
        remaining = (response.headers.get("ratelimit-remaining") or "").strip()
        if remaining == "0":
            return resume_time(response, now)
        return None

    def _author_followers(self, dids: list[str], token: str,
                          spent_until: datetime | None) -> tuple[dict[str, int], datetime | None]:
        """Follower counts of the page's authors, 25 per getProfiles call; a failure costs counts, never posts.

        Also when the shared budget is spent (a 429, or `RateLimit-Remaining: 0`): the page is
        still returned, with the reset time so the source waits for it.
        """
        missing = [d for d in dids if d not in self._followers]
        resume_at = spent_until  # searchPosts may already have spent the budget
        problem = "the rate-limit budget is spent"
        for start in range(0, len(missing), PROFILES_PER_CALL):
            if resume_at is not None:
                break
            batch = missing[start:start + PROFILES_PER_CALL]
            try:
                counts, resume_at = self._profiles(batch, token)
            except PlatformError as exc:
                problem = str(exc)
                resume_at = exc.resume_at if isinstance(exc, RateLimited) else None
                break
            self._followers.update({did: counts.get(did, 0) for did in batch})
        unknown = [d for d in dids if d not in self._followers]
        if unknown:
            logger.warning("Bluesky follower counts unavailable; those posts are kept with 0 followers",
                           extra={"source": self._source.id, "authors": len(unknown), "error": problem})
        return {d: self._followers[d] for d in dids if d in self._followers}, resume_at

    def _profiles(self, dids: list[str], token: str) -> tuple[dict[str, int], datetime | None]:
        response = send(self._http, self._http.build_request(
            "GET", PROFILES_PATH, params=[("actors", d) for d in dids], headers={"Authorization": f"Bearer {token}"}))
        now = self._clock()
        if response.status_code != 200:
            _raise_for(response, now, "getProfiles")
        return parse_profiles(_json_payload(response, now, "getProfiles")), self._spent_until(response, now)
