"""RSS 2.0 and Atom news feeds, fetched with a conditional GET.

An ETag or Last-Modified from the previous fetch is sent back; 304 means nothing new and costs
no parsing. Items are identified by RSS `guid` (or link) and Atom `id`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from html import unescape
from typing import Any

import httpx
from defusedxml import ElementTree
from pydantic import ValidationError

from crisiscomms.adapters.http import platform_error, retry_after, send
from crisiscomms.errors import PermanentPlatformError
from crisiscomms.models import Post, stable_id

ATOM = "{http://www.w3.org/2005/Atom}"
_TAGS = re.compile(r"<[^>]+>")
MAX_FEED_BYTES = 5 * 1024 * 1024
DEFAULT_RATE_LIMIT_PAUSE = timedelta(minutes=5)


@dataclass
class FeedFetch:
    not_modified: bool
    posts: list[Post] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None


def parse_date(value: str | None) -> datetime:
    """RFC 822 (RSS) or RFC 3339 (Atom); a date without a zone is refused rather than guessed."""
    if not value or not value.strip():
        raise ValueError("no date")
    text = value.strip()
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"unreadable date {text[:40]!r}") from exc
    if when is None or when.tzinfo is None:
        raise ValueError(f"date {text[:40]!r} has no timezone")
    return when.astimezone(timezone.utc)


def _text(element: Any | None) -> str:
    if element is None:
        return ""
    raw = "".join(element.itertext())
    return " ".join(unescape(_TAGS.sub(" ", raw)).split())


def parse_feed(body: bytes | str, *, feed_name: str, audience: int, language: str) -> tuple[list[Post], list[str]]:
    """Posts from an RSS 2.0 or Atom document, plus a description of each item that was skipped."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise PermanentPlatformError(f"feed {feed_name!r} is not well-formed XML: {exc}") from exc
    if root.tag == f"{ATOM}feed":
        entries = [(e, _atom_fields(e)) for e in root.findall(f"{ATOM}entry")]
    elif root.tag == "rss" or root.find("channel") is not None:
        entries = [(i, _rss_fields(i)) for i in root.iter("item")]
    else:
        raise PermanentPlatformError(f"feed {feed_name!r} is neither RSS 2.0 nor Atom (root <{root.tag}>)")
    posts: list[Post] = []
    malformed: list[str] = []
    for index, (_, fields) in enumerate(entries):
        try:
            posts.append(_to_post(fields, feed_name=feed_name, audience=audience, language=language))
        except (ValueError, ValidationError) as exc:
            malformed.append(f"{feed_name} item {index}: {str(exc).splitlines()[0][:200]}")
    return posts, malformed


def _rss_fields(item: Any) -> dict[str, str]:
    return {
        "id": _text(item.find("guid")) or _text(item.find("link")),
        "title": _text(item.find("title")),
        "summary": _text(item.find("description")),
        "link": _text(item.find("link")),
        "published": _text(item.find("pubDate")),
    }


def _atom_fields(entry: Any) -> dict[str, str]:
    link = ""
    for candidate in entry.findall(f"{ATOM}link"):
        if candidate.get("rel", "alternate") == "alternate":
            link = candidate.get("href", "")
            break
    return {
        "id": _text(entry.find(f"{ATOM}id")),
        "title": _text(entry.find(f"{ATOM}title")),
        "summary": _text(entry.find(f"{ATOM}summary")) or _text(entry.find(f"{ATOM}content")),
        "link": link,
        "published": _text(entry.find(f"{ATOM}published")) or _text(entry.find(f"{ATOM}updated")),
    }


def _to_post(fields: dict[str, str], *, feed_name: str, audience: int, language: str) -> Post:
    if not fields["id"]:
        raise ValueError("item has neither guid/id nor link")
    if not fields["title"] and not fields["summary"]:
        raise ValueError(f"item {fields['id'][:60]!r} has no title or summary")
    return Post(
        platform="news",
        native_id=f"{feed_name}#{stable_id(fields['id'])}",
        source_type="news",
        source_id=feed_name,
        url=fields["link"] or fields["id"],
        author=feed_name,
        followers=audience,
        title=fields["title"] or None,
        text=fields["summary"] or fields["title"],
        lang_hint=language,
        published_at=parse_date(fields["published"]),
    )


class FeedClient:
    def __init__(self, http: httpx.Client, *, clock: Any) -> None:
        self._http = http
        self._clock = clock

    def fetch(self, url: str, *, feed_name: str, audience: int, language: str,
              etag: str | None = None, last_modified: str | None = None) -> FeedFetch:
        headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.1"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        response = send(self._http, self._http.build_request("GET", url, headers=headers))
        status = response.status_code
        if status == 304:
            return FeedFetch(not_modified=True, etag=etag, last_modified=last_modified)
        if status != 200:
            now = self._clock()
            raise platform_error(status, f"feed {feed_name!r}: HTTP {status}",
                                 rate_limit_message=f"feed {feed_name!r} rate limited",
                                 resume_at=lambda: retry_after(response, now) or now + DEFAULT_RATE_LIMIT_PAUSE)
        if len(response.content) > MAX_FEED_BYTES:
            raise PermanentPlatformError(f"feed {feed_name!r} is larger than {MAX_FEED_BYTES} bytes")
        posts, malformed = parse_feed(response.content, feed_name=feed_name, audience=audience, language=language)
        return FeedFetch(
            not_modified=False,
            posts=posts,
            malformed=malformed,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
        )
