"""Emulator of news sites' RSS 2.0 and Atom 1.0 feeds.

Each named feed is served in both formats with conditional-GET support (ETag,
Last-Modified, 304), because the project's news poller relies on it to avoid re-reading
unchanged feeds. Items appear when the simulated clock reaches their publication time and
fall off the bottom once more than ``items_per_feed`` newer items exist, as real feeds do.
"""
from __future__ import annotations

import hashlib
import re
from bisect import bisect_right, insort
from dataclasses import dataclass, replace
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Literal
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape, quoteattr

from .base import Clock, EmulatorServer, Request, Response, as_utc, text_response

FeedFormat = Literal["rss", "atom"]

SITE = "https://news.example"
_FEED_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_PATH_RE = re.compile(r"^/(rss|atom)/([^/]+)\.xml$")
# Characters XML 1.0 forbids even when escaped.
_XML_INVALID_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_RSS_NAMESPACES = 'xmlns:atom="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/"'
CONTENT_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
}


def _text(value: str) -> str:
    return escape(_XML_INVALID_RE.sub("", value))


def _attr(value: str) -> str:
    return quoteattr(_XML_INVALID_RE.sub("", value))


def rfc822(when: datetime) -> str:
    """RSS pubDate / HTTP-date form: 'Mon, 02 Jan 2006 15:04:05 GMT'."""
    return format_datetime(as_utc(when), usegmt=True)


def atom_time(when: datetime) -> str:
    """RFC 3339 at second precision, the common Atom form."""
    return as_utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class _Entry:
    """A scripted item, or a raw fragment (``fragment`` set) inserted verbatim."""

    published_at: datetime
    seq: int
    title: str = ""
    summary: str = ""
    link: str = ""
    guid: str = ""
    lang: str = "en"
    fragment: str | None = None
    fmt: FeedFormat | None = None


def _order(entry: _Entry) -> tuple[datetime, int]:
    return entry.published_at, entry.seq


@dataclass
class _Feed:
    name: str
    title: str
    description: str
    language: str
    registered_at: datetime
    entries: list[_Entry]
    items_added: int = 0


class NewsEmulator(EmulatorServer):
    """Named news feeds served at ``/rss/{feed}.xml`` and ``/atom/{feed}.xml``.

    Faults target a feed by name (``Fault(..., target="reuters")``) or every feed (None).
    """

    def __init__(self, clock: Clock, *, items_per_feed: int = 50, timeout_delay: float = 2.0) -> None:
        super().__init__(clock, timeout_delay=timeout_delay)
        if items_per_feed < 1:
            raise ValueError("items_per_feed must be positive")
        self.items_per_feed = items_per_feed
        self._feeds: dict[str, _Feed] = {}
        self._seq = 0

    # -- scripting -------------------------------------------------------------------

    def add_feed(self, feed: str, *, title: str | None = None, description: str | None = None,
                 language: str = "en") -> None:
        """Declare a feed (optional: add_item creates feeds on first use with defaults).

        Declaring it lets an empty feed be served (200, no items) instead of 404.
        """
        with self._lock:
            existing = self._feeds.get(feed)
            if existing is not None:
                existing.title = title or existing.title
                existing.description = description or existing.description
                existing.language = language
                return
            self._feeds[feed] = self._new_feed(feed, title, description, language)

    def add_item(self, feed: str, *, title: str, summary: str, published_at: datetime,
                 lang: str = "en", link: str | None = None, guid: str | None = None) -> str:
        """Script an article; returns its guid (default ``tag:news.example,2010:{feed}/{n}``)."""
        published_at = as_utc(published_at, "published_at")
        with self._lock:
            state = self._feed(feed)
            state.items_added += 1
            n = state.items_added
            entry = _Entry(
                published_at=published_at,
                seq=self._next_seq(),
                title=title,
                summary=summary,
                link=link or f"{SITE}/{feed}/{n}",
                guid=guid or f"tag:news.example,2010:{feed}/{n}",
                lang=lang,
            )
            insort(state.entries, entry, key=_order)
        return entry.guid

    def add_malformed(self, feed: str, *, published_at: datetime, xml_fragment: str,
                      fmt: FeedFormat | None = None) -> None:
        """Insert a raw item (e.g. ``<item>`` without title/guid, or a bad date) verbatim.

        It is placed by ``published_at`` among the feed's items and counts towards
        ``items_per_feed``. ``fmt`` limits it to one format; by default it goes into both
        (an ``<item>`` inside Atom is an unknown element Atom readers ignore).
        """
        published_at = as_utc(published_at, "published_at")
        if fmt is not None and fmt not in CONTENT_TYPES:
            raise ValueError(f"fmt must be 'rss', 'atom' or None, got {fmt!r}")
        with self._lock:
            insort(self._feed(feed).entries,
                   _Entry(published_at=published_at, seq=self._next_seq(), fragment=xml_fragment, fmt=fmt), key=_order)

    def url_for(self, feed: str, fmt: FeedFormat = "rss") -> str:
        """Absolute URL of a feed on the running server."""
        if fmt not in CONTENT_TYPES:
            raise ValueError(f"fmt must be 'rss' or 'atom', got {fmt!r}")
        return f"{self.base_url}/{fmt}/{quote(feed)}.xml"

    def _new_feed(self, feed: str, title: str | None, description: str | None, language: str) -> _Feed:
        if not _FEED_NAME_RE.match(feed):
            raise ValueError(f"feed names must match {_FEED_NAME_RE.pattern}, got {feed!r}")
        return _Feed(
            name=feed,
            title=title or f"{feed} news",
            description=description or f"Latest headlines from {feed}",
            language=language,
            registered_at=as_utc(self.clock(), "clock()"),
            entries=[],
        )

    def _feed(self, feed: str) -> _Feed:
        state = self._feeds.get(feed)
        if state is None:
            state = self._feeds[feed] = self._new_feed(feed, None, None, "en")
        return state

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # -- HTTP ------------------------------------------------------------------------------

    def fault_target(self, request: Request) -> str | None:
        match = _PATH_RE.match(request.path)
        return unquote(match.group(2)) if match else None

    def handle(self, request: Request) -> Response:
        match = _PATH_RE.match(request.path)
        if match is None:
            return text_response(404)
        if request.method not in ("GET", "HEAD"):
            return text_response(405, headers={"Allow": "GET, HEAD"})
        fmt: FeedFormat = "rss" if match.group(1) == "rss" else "atom"
        name = unquote(match.group(2))
        now = as_utc(self.clock(), "clock()")
        with self._lock:
            state = self._feeds.get(name)
            if state is None:
                return text_response(404)
            # Entries are kept in (published_at, seq) order: the visible ones end where now is.
            end = bisect_right(state.entries, now, key=lambda e: e.published_at)
            feed = replace(state, entries=state.entries[max(0, end - self.items_per_feed):end])

        visible = feed.entries[::-1]
        updated = visible[0].published_at if visible else feed.registered_at
        entries = [e for e in visible if e.fmt in (None, fmt)]
        self_url = f"{self.base_url}{request.path}"
        xml = _rss(feed, entries, updated, self_url) if fmt == "rss" else _atom(feed, entries, updated, self_url)
        body = xml.encode("utf-8")

        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        last_modified = rfc822(updated)
        headers = {"ETag": etag, "Last-Modified": last_modified}
        if _not_modified(request, etag, updated):
            return Response(status=304, headers=headers)
        return Response(status=200, body=body, headers={"Content-Type": CONTENT_TYPES[fmt], **headers})


def _not_modified(request: Request, etag: str, updated: datetime) -> bool:
    """RFC 9110 precedence: If-None-Match (weak comparison) wins over If-Modified-Since."""
    if_none_match = request.header("If-None-Match")
    if if_none_match is not None:
        tags = [t.strip() for t in if_none_match.split(",")]
        return "*" in tags or any(t.removeprefix("W/") == etag for t in tags)
    if_modified_since = request.header("If-Modified-Since")
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False  # an invalid date is ignored, as servers must
    if since.tzinfo is None:
        return False
    return updated.replace(microsecond=0) <= since


def _rss(feed: _Feed, entries: list[_Entry], updated: datetime, self_url: str) -> str:
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<rss version="2.0" {_RSS_NAMESPACES}>\n<channel>\n',
        f"<title>{_text(feed.title)}</title>\n",
        f"<link>{_text(f'{SITE}/{feed.name}')}</link>\n",
        f"<description>{_text(feed.description)}</description>\n",
        f"<language>{_text(feed.language)}</language>\n",
        f"<lastBuildDate>{rfc822(updated)}</lastBuildDate>\n",
        f'<atom:link href={_attr(self_url)} rel="self" type="application/rss+xml"/>\n',
    ]
    for e in entries:
        if e.fragment is not None:
            parts.append(e.fragment + "\n")
            continue
        parts.append(
            "<item>\n"
            f"<title>{_text(e.title)}</title>\n"
            f"<link>{_text(e.link)}</link>\n"
            f"<description>{_text(e.summary)}</description>\n"
            f'<guid isPermaLink="false">{_text(e.guid)}</guid>\n'
            f"<pubDate>{rfc822(e.published_at)}</pubDate>\n"
            f"<dc:language>{_text(e.lang)}</dc:language>\n"
            "</item>\n"
        )
    parts.append("</channel>\n</rss>\n")
    return "".join(parts)


def _atom(feed: _Feed, entries: list[_Entry], updated: datetime, self_url: str) -> str:
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang={_attr(feed.language)}>\n',
        f"<id>{_text(f'tag:news.example,2010:{feed.name}')}</id>\n",
        f"<title>{_text(feed.title)}</title>\n",
        f"<subtitle>{_text(feed.description)}</subtitle>\n",
        f"<updated>{atom_time(updated)}</updated>\n",
        f'<link rel="alternate" type="text/html" href={_attr(f"{SITE}/{feed.name}")}/>\n',
        f'<link rel="self" type="application/atom+xml" href={_attr(self_url)}/>\n',
        f"<author><name>{_text(feed.title)}</name></author>\n",
    ]
    for e in entries:
        if e.fragment is not None:
            parts.append(e.fragment + "\n")
            continue
        parts.append(
            f"<entry xml:lang={_attr(e.lang)}>\n"
            f"<id>{_text(e.guid)}</id>\n"
            f"<title>{_text(e.title)}</title>\n"
            f'<link rel="alternate" type="text/html" href={_attr(e.link)}/>\n'
            f"<summary>{_text(e.summary)}</summary>\n"
            f"<published>{atom_time(e.published_at)}</published>\n"
            f"<updated>{atom_time(e.published_at)}</updated>\n"
            "</entry>\n"
        )
    parts.append("</feed>\n")
    return "".join(parts)
