"""News feeds (RSS 0.9x/1.0/2.0, Atom 0.3/1.0), fetched with a conditional GET and read by feedparser.

An ETag or Last-Modified from the previous fetch is sent back; 304 means nothing new and costs
no parsing. Items are identified by their guid/id (or link), so an item keeps its id across polls.

feedparser reads what real feeds send: any declared or HTTP-given charset (GB2312/GBK/GB18030,
Big5, EUC-KR, UTF-16...), HTML entities such as `&nbsp;` that XML does not know, unclosed tags.
When it has to read a document loosely (its `bozo` flag) the problem is logged and the items are
still used; only a document with no feed in it at all is refused.
"""
from __future__ import annotations

import html
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from pydantic import ValidationError

from crisiscomms.adapters.http import platform_error, retry_after, send
from crisiscomms.errors import PermanentPlatformError
from crisiscomms.models import Post, stable_id
from crisiscomms.observability import logger

MAX_FEED_BYTES = 5 * 1024 * 1024
DEFAULT_RATE_LIMIT_PAUSE = timedelta(minutes=5)
DEFAULT_TIMEZONE = "UTC"  # the adapter's neutral default; the watch configuration supplies the real zone
DATE_FIELDS = ("published", "updated", "created")
# Headers feedparser reads: the charset, the base for relative links, the default language.
_HEADERS_FEEDPARSER_READS = ("content-type", "content-location", "content-language")

# An entity declaration, quoted values included (a '>' may stand inside the quotes).
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY\s(?:[^>\"']|\"[^\"]*\"|'[^']*')*>")
# What a feed legitimately declares: a general entity naming one character or a short text.
_HARMLESS_ENTITY = re.compile(rb"<!ENTITY\s+[\w.:-]+\s+(?:\"(?:&#\w+;|[^&%\"<]{0,64})\"|'(?:&#\w+;|[^&%'<]{0,64})')\s*>")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_LINE_BREAKING_TAG = re.compile(
    r"</?(?:p|div|br|li|ul|ol|dl|dt|dd|h[1-6]|tr|td|th|table|blockquote|pre|hr|section|article|figure|figcaption)\b[^>]*>",
    re.IGNORECASE,
)
_TAG = re.compile(r"<[^>]*>")
# Elements whose content is no text a reader sees, dropped with it as feedparser's sanitiser drops them
# (an element left open runs to the end of the field).
_CONTENT_DROPPED = re.compile(r"<(script|style|applet)\b[^>]*>.*?(?:</\1\s*>|$)", re.IGNORECASE | re.DOTALL)


@dataclass
class FeedFetch:
    not_modified: bool
    posts: list[Post] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None


def parse_date(value: str | None, zone: tzinfo = UTC) -> datetime:
    """RFC 822 (RSS) or ISO 8601/RFC 3339 (Atom) as a UTC instant.

    A date that names no zone (or one email.utils does not know, or RFC 822's "-0000 = zone
    unknown") is wall-clock time in `zone`, the feed's configured time zone: feedparser would
    silently take it as UTC, which is off by hours for a Chinese or Hong Kong paper."""
    if not value or not value.strip():
        raise ValueError("no date")
    text = value.strip()
    if text.upper().endswith(" CST") and _is_china_standard_time(zone):
        text = f"{text[:-4]} +0800"  # email.utils reads CST as US Central; a feed in China means UTC+8
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"unreadable date {text[:40]!r}") from exc
        if when.tzinfo is None and text.endswith("-0000"):
            when = when.replace(tzinfo=UTC)  # RFC 5322: the time is UTC, the writer's own zone unknown
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return when.astimezone(UTC)


def _is_china_standard_time(zone: tzinfo) -> bool:
    offset = datetime(2026, 1, 1, tzinfo=zone).utcoffset()
    return offset is not None and offset.total_seconds() == 8 * 3600


def clean_text(value: str | None, media_type: str = "text/plain") -> str:
    """Plain text from a feed field: tags dropped (a line-breaking one leaves a space), entities
    decoded, whitespace (NBSP and the ideographic space included) collapsed to single spaces.

    Only HTML/XHTML fields lose tags; in a plain-text field `<` is a character like any other."""
    if not value:
        return ""
    if "html" in media_type:
        value = _CONTENT_DROPPED.sub(" ", _COMMENT.sub(" ", value))
        value = _TAG.sub("", _LINE_BREAKING_TAG.sub(" ", value))
        value = html.unescape(value)
    return " ".join(value.split())


def defuse_entity_declarations(document: bytes) -> bytes:
    """Drop every entity declaration but a short, flat one (`<!ENTITY nbsp "&#160;">`).

    External entities (SYSTEM/PUBLIC), parameter entities and entities built from other entities
    go, so nothing is ever read from a file or the network and nothing can expand exponentially.
    Long values go too: feedparser's loose parser expands declared entities without any limit,
    so a 200 kB entity referenced a thousand times would need gigabytes. A reference to a dropped
    entity is then read loosely as its literal text."""
    return _ENTITY_DECLARATION.sub(lambda m: m[0] if _HARMLESS_ENTITY.fullmatch(m[0]) else b"", document)


def read_document(body: bytes | str, response_headers: Mapping[str, str] | None = None, *,
                  markup_as_sent: bool = False) -> Any:
    """feedparser's reading of a document (its `FeedParserDict`), with entity declarations defused.

    The document is first decoded by feedparser's own rules (RFC 3023: an application/*+xml
    charset beats the XML declaration, text/* ignores the declaration, a BOM or the declaration
    decides when there is no header). Declarations are defused in that decoded text, so no
    encoding (UTF-16, EBCDIC, UTF-7...) can hide one, and the UTF-8 result is parsed.

    `markup_as_sent`: HTML fields as the feed sent them, without feedparser's sanitising and
    resolving of the links inside them. Posts keep only their text (`clean_text` drops every tag,
    and the content of scripts, styles and applets, as the sanitiser does), and these two passes
    over each HTML field were about 40 % of the parse.

    feedparser is imported here, not at module level: a cold import takes ~50 ms alone, ~14 ms on
    top of what this module already imports, and only a news poll needs it."""
    import feedparser
    from feedparser.encodings import convert_to_utf8

    headers = {k.lower(): v for k, v in (response_headers or {}).items() if k.lower() in _HEADERS_FEEDPARSER_READS}
    if isinstance(body, str):  # already decoded: whatever its XML declaration says is stale
        body, headers["content-type"] = body.encode("utf-8"), "application/xml; charset=utf-8"
    elif headers and "content-type" not in headers:
        # Without a type feedparser falls back to HTTP's ISO-8859-1; an XML document's own default is UTF-8.
        headers["content-type"] = "application/xml"
    decoding = feedparser.FeedParserDict(bozo=False)
    decoded = convert_to_utf8(dict(headers), body, decoding)
    if decoding.get("encoding"):  # now UTF-8 with an XML declaration saying so
        parse_headers = {**headers, "content-type": "application/xml"}
    else:  # no encoding fitted: let feedparser read the original bytes its loose way
        parse_headers = headers
    result = feedparser.parse(io.BytesIO(defuse_entity_declarations(decoded)), response_headers=parse_headers or None,
                              resolve_relative_uris=not markup_as_sent, sanitize_html=not markup_as_sent)
    result["headers"] = headers
    result["encoding"] = decoding.get("encoding") or result.get("encoding")
    if decoding.get("bozo") and not result.get("bozo"):
        result["bozo"], result["bozo_exception"] = True, decoding["bozo_exception"]
    return result


def parse_feed(body: bytes | str, *, feed_name: str, audience: int, language: str,
               timezone: str = DEFAULT_TIMEZONE, response_headers: Mapping[str, str] | None = None,
               fetched_at: datetime | None = None) -> tuple[list[Post], list[str]]:
    """Posts from a feed document, plus a description of each item that was skipped.

    `timezone` (an IANA name) is where dates without a zone are read; `response_headers` are the
    HTTP headers the document came with (its charset, its URL for relative links). An item with
    no date at all is dated `fetched_at`: the poller ingests an item once, so that is when it was
    first seen. Without `fetched_at` such an item is skipped as malformed."""
    size = len(body.encode("utf-8") if isinstance(body, str) else body)
    if size > MAX_FEED_BYTES:
        raise PermanentPlatformError(f"feed {feed_name!r} is larger than {MAX_FEED_BYTES} bytes")
    document = read_document(body, response_headers, markup_as_sent=True)
    problem = _problem(document)
    if not document.get("version") and not document.entries:
        reason = f": {problem}" if problem else ""
        raise PermanentPlatformError(f"feed {feed_name!r} is not an RSS or Atom document{reason}")
    if problem:
        logger.warning("feed read loosely", extra={"feed": feed_name, "problem": problem})
    zone = ZoneInfo(timezone)
    posts: list[Post] = []
    malformed: list[str] = []
    for index, entry in enumerate(document.entries):
        try:
            posts.append(_to_post(entry, feed_name=feed_name, audience=audience, language=language, zone=zone,
                                  fetched_at=fetched_at))
        except (ValueError, ValidationError) as exc:
            malformed.append(f"{feed_name} item {index}: {str(exc).splitlines()[0][:200]}")
    return posts, malformed


def _problem(document: Any) -> str | None:
    if not document.get("bozo"):
        return None
    exc = document.get("bozo_exception")
    return f"{type(exc).__name__}: {exc}"[:300] if exc is not None else "ill-formed"


def _field_text(entry: Any, name: str) -> str:
    detail = entry.get(f"{name}_detail") or {}
    return clean_text(entry.get(name), detail.get("type", "text/plain"))


def _body_text(entry: Any) -> str:
    """The summary (RSS description), else the first content.

    A summary without `summary_detail` is feedparser's copy of the content: read as the content."""
    if entry.get("summary_detail"):
        summary = _field_text(entry, "summary")
        if summary:
            return summary
    for content in entry.get("content") or []:
        text = clean_text(content.get("value"), content.get("type", "text/plain"))
        if text:
            return text
    return ""


def entry_date(entry: Any, zone: tzinfo = UTC, fetched_at: datetime | None = None) -> datetime:
    """When the item was published (else updated, else created; the first date that can be read).

    The raw text is read by `parse_date`, so a zone-less date lands in the feed's zone; forms only
    feedparser's registered date handlers know (Korean, Greek, Hungarian, W3DTF with reduced
    precision...) are taken as feedparser reads them."""
    unreadable: ValueError | None = None
    for name in DATE_FIELDS:
        raw = dict.get(entry, name)  # not entry.get: feedparser would answer "updated" with "published"
        if not raw:
            continue
        try:
            return parse_date(raw, zone)
        except ValueError as exc:
            parsed = dict.get(entry, f"{name}_parsed")
            if parsed:
                return datetime(*parsed[:6], tzinfo=UTC)
            unreadable = unreadable or exc
    if unreadable:
        raise unreadable
    if fetched_at is None:
        raise ValueError("item has no date")
    return fetched_at.astimezone(UTC)


def _to_post(entry: Any, *, feed_name: str, audience: int, language: str, zone: tzinfo,
             fetched_at: datetime | None) -> Post:
    identity = (entry.get("id") or entry.get("link") or "").strip()
    if not identity:
        raise ValueError("item has neither guid/id nor link")
    title = _field_text(entry, "title")
    text = _body_text(entry)
    if not title and not text:
        raise ValueError(f"item {identity[:60]!r} has no title or summary")
    return Post(
        platform="news",
        native_id=f"{feed_name}#{stable_id(identity)}",
        source_type="news",
        source_id=feed_name,
        url=entry.get("link") or identity,
        author=feed_name,
        followers=audience,
        title=title or None,
        text=text or title,
        lang_hint=language,
        published_at=entry_date(entry, zone, fetched_at),
    )


class FeedClient:
    def __init__(self, http: httpx.Client, *, clock: Any) -> None:
        self._http = http
        self._clock = clock

    def fetch(self, url: str, *, feed_name: str, audience: int, language: str,
              etag: str | None = None, last_modified: str | None = None,
              timezone: str = DEFAULT_TIMEZONE) -> FeedFetch:
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
        # The base for relative links; its query may carry a credential and is no part of a base.
        document_headers = {"content-location": str(response.url.copy_with(query=None, fragment=None))}
        for name in ("content-type", "content-language"):
            if name in response.headers:
                document_headers[name] = response.headers[name]
        posts, malformed = parse_feed(response.content, feed_name=feed_name, audience=audience, language=language,
                                      timezone=timezone, response_headers=document_headers, fetched_at=self._clock())
        return FeedFetch(
            not_modified=False,
            posts=posts,
            malformed=malformed,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
        )
