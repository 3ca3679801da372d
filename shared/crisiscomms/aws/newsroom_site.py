"""The bank's newsroom: each statement's page and an RSS feed, written to S3.

The page is the authoritative copy the short forms link to. Writing is idempotent: the page's
key is the statement and language, the object carries the delivery id, and the feed lists
each delivery once however often it is written.

When the statement is approved the page is rendered and written under `prepared/` at a key
nothing links to (`prepare`); publishing is then one server-side copy to the page's own key,
and only if the prepared object is still the one written (its ETag). Without a usable
prepared page, publishing writes the page itself. The feed (a read-modify-write of two
objects) follows in `confirm`, once the delivery is recorded: the page is the delivery. Two
deliveries (languages) adding to the feed at once both land: the index is written on condition
that it is still the one read (S3 conditional writes), and the feed is rewritten until it was
made from the newest index. A withdrawn approval overwrites the prepared page with an empty
object (`discard`).

Q&A entries (a delivery of kind "qa", crisiscomms.statements.qa) have no page of their own: each
language of an entry is a section of `qa/index.html` (zh and en sections) at the anchor its
`newsroom_url` names, and an item of `qa/feed.xml`. Both are written from one index,
`qa/index.json` (the entries and the feed's items), which is changed only by conditional writes
like the feed index, so two languages or entries landing at once both stay; the page and the feed
are rewritten until they were made from the newest index. An entry's slot keeps the highest
`revision` (a correction replaces the answer at the same anchor; a late copy of an older text
changes nothing) and the delivery ids that filled it, so repeating a delivery adds nothing and
`find` can tell it landed.

Everything written into a page or the feed is stripped of what XML 1.0 forbids (`xml_text`)
before it is escaped: one statement with a stray control character would otherwise leave the
feed unreadable for as long as it is among the last FEED_ITEMS. Only NoSuchKey means the feed
index is empty; any other failure to read it stops the write, so the feed is never reset.

S3's failures reach the Publisher as the platform errors every channel raises (`_storage_errors`):
a 5xx, throttling or no answer at all (after botocore's own bounded retries) is transient, so the
delivery is retried alone; any other refusal (access denied, no such bucket) is permanent. No answer
is transient rather than an unknown outcome because every write here is repeatable: the page's key
is the statement and language, and the feed and the Q&A page list each delivery once.
"""
from __future__ import annotations

import json
import re
import uuid
from urllib.parse import urlsplit
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from email.utils import format_datetime
from html import escape
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from crisiscomms.aws.clients import AwsClients, answered_status, aws_unavailable
from crisiscomms.errors import PermanentPlatformError, TransientPlatformError
from crisiscomms.models.delivery import CONFIRM_PENDING, DeliveryRequest, DeliveryResult, PreparedItem

FEED_KEY = "feed.xml"
FEED_INDEX_KEY = "feed-index.json"
FEED_ITEMS = 50
FEED_ATTEMPTS = 8
_LOST_RACE = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")
_ABSENT = ("NoSuchKey", "404", "NotFound")
PREPARED_PREFIX = "prepared/"
PAGE_TYPE = "text/html; charset=utf-8"
PAGE_CACHE = "max-age=60"
QA_PAGE_KEY = "qa/index.html"
QA_FEED_KEY = "qa/feed.xml"
QA_INDEX_KEY = "qa/index.json"
QA_DELIVERIES_KEPT = 20  # per entry and language: enough for `find` and for repeats to be recognised
_QA_ANCHOR = re.compile(r"[A-Za-z0-9_-]{1,80}")
_QA_SECTIONS = {"zh": "常见问题", "zh-Hant": "常見問題", "en": "Questions and answers"}
_QA_UPDATED = {"zh": "更新于", "zh-Hant": "更新於", "en": "Updated"}

# What XML 1.0 forbids in a document (and HTML pages cannot carry either): C0 controls other than
# tab, LF and CR, U+FFFE/U+FFFF, and surrogates (in a str always lone: they cannot even be encoded).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_text(value: object) -> str:
    """`value` as text with every character XML 1.0 forbids removed; escape after this."""
    return _NOT_XML.sub("", str(value))


@contextmanager
def _storage_errors(action: str) -> Iterator[None]:
    """S3's failures as the platform errors the Publisher retries or fails on (see the module's docstring)."""
    from botocore.exceptions import ClientError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, status = str(error.get("Code") or ""), answered_status(exc)
        message = f"the newsroom's storage refused to {action}: {code} {error.get('Message') or ''}".strip()
        if aws_unavailable(exc):
            raise TransientPlatformError(message, status=status, code=code) from exc
        raise PermanentPlatformError(message, status=status, code=code) from exc
    except Exception as exc:
        if not aws_unavailable(exc):  # no answer, after botocore's own retries
            raise
        raise TransientPlatformError(f"the newsroom's storage did not answer to {action}: {exc}") from exc


def _html(value: object) -> str:
    return escape(xml_text(value))


def _xml(value: object) -> str:
    return xml_escape(xml_text(value))


class NewsroomAdapter:
    channel = "newsroom"

    def __init__(self, bucket: str, *, clients: AwsClients, base_url: str, site_title: str,
                 clock: Callable[[], datetime]) -> None:
        self._clients = clients
        self._bucket = bucket
        self._base = base_url.rstrip("/")
        self._title = site_title
        self._clock = clock

    def _page_key(self, request: DeliveryRequest) -> str:
        return f"statements/{request.statement_id}.{request.language}.html"

    def _page(self, request: DeliveryRequest) -> bytes:
        title = _html(request.title or self._title)
        page = (f'<!doctype html><html lang="{_html(request.language)}"><head><meta charset="utf-8">'
                f"<title>{title}</title></head><body><article><h1>{title}</h1>"
                + "".join(f"<p>{escape(p)}</p>" for p in xml_text(request.text).split("\n") if p.strip())
                + f"<footer>{_html(self._clock().isoformat())}</footer></article></body></html>")
        return page.encode("utf-8")

    @staticmethod
    def _metadata(request: DeliveryRequest) -> dict[str, str]:
        return {"delivery-id": request.delivery_id, "version": str(request.version)}

    def _result(self, key: str) -> DeliveryResult:
        return DeliveryResult(platform_id=key, url=f"{self._base}/{key}", details={"confirm": CONFIRM_PENDING})

    def prepare(self, request: DeliveryRequest) -> PreparedItem:
        """The page, rendered and written at an unguessable key under `prepared/` that nothing links to."""
        key = f"{PREPARED_PREFIX}{request.statement_id}.{request.language}.{uuid.uuid4().hex}.html"
        with _storage_errors("prepare the page"):
            written = self._clients("s3").put_object(Bucket=self._bucket, Key=key, Body=self._page(request),
                                                     ContentType=PAGE_TYPE, Metadata=self._metadata(request))
        return PreparedItem(channel="newsroom", data={"key": key, "etag": str(written.get("ETag", ""))})

    def discard(self, prepared: PreparedItem) -> None:
        """Overwrite the prepared page with an empty object (the Publisher may write, not delete)."""
        key = prepared.data.get("key", "")
        if not key.startswith(PREPARED_PREFIX):
            return
        with _storage_errors("discard the prepared page"):
            self._clients("s3").put_object(Bucket=self._bucket, Key=key, Body=b"", ContentType=PAGE_TYPE,
                                           Metadata={"discarded": "true"})

    def publish(self, request: DeliveryRequest, prepared: PreparedItem | None = None) -> DeliveryResult:
        """Put the page at its public key: one copy of the prepared page, or one write of a fresh one.
        A Q&A entry goes onto the Q&A page and into its feed instead."""
        with _storage_errors("publish the page"):
            return self._publish(request, prepared)

    def _publish(self, request: DeliveryRequest, prepared: PreparedItem | None) -> DeliveryResult:
        from botocore.exceptions import ClientError

        if request.kind == "qa":
            return self._publish_qa(request)
        key = self._page_key(request)
        source = (prepared.data.get("key") if prepared else None) or ""
        if source.startswith(PREPARED_PREFIX):
            copy: dict[str, Any] = {"Bucket": self._bucket, "Key": key, "CopySource": {"Bucket": self._bucket, "Key": source},
                                    "MetadataDirective": "REPLACE", "Metadata": self._metadata(request),
                                    "ContentType": PAGE_TYPE, "CacheControl": PAGE_CACHE}
            if prepared and prepared.data.get("etag"):
                copy["CopySourceIfMatch"] = prepared.data["etag"]  # exactly the page prepared, or nothing
            try:
                self._clients("s3").copy_object(**copy)
                return self._result(key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404", "PreconditionFailed", "412"):
                    raise
                # The prepared page is gone or changed: nothing was copied; write the page itself.
        self._clients("s3").put_object(Bucket=self._bucket, Key=key, Body=self._page(request), ContentType=PAGE_TYPE,
                                       CacheControl=PAGE_CACHE, Metadata=self._metadata(request))
        return self._result(key)

    def confirm(self, request: DeliveryRequest, sent: DeliveryResult) -> DeliveryResult:
        """The page is out; list it in the feed (once, however often this runs)."""
        with _storage_errors("list the page in the feed"):
            self._add_to_feed(request, sent.url or f"{self._base}/{sent.platform_id}")
        return DeliveryResult(platform_id=sent.platform_id, url=sent.url)

    def find(self, request: DeliveryRequest) -> DeliveryResult | None:
        """The delivery's page (or Q&A slot) if it landed; None only when S3 says it is not there."""
        with _storage_errors("look the page up"):
            return self._find(request)

    def _find(self, request: DeliveryRequest) -> DeliveryResult | None:
        from botocore.exceptions import ClientError

        if request.kind == "qa":
            anchor = self._qa_anchor(request)
            slot = self._read_json(QA_INDEX_KEY, {})[0].get("entries", {}).get(anchor)
            return self._qa_result(anchor) if slot and request.delivery_id in slot.get("deliveries", []) else None
        key = self._page_key(request)
        try:
            head = self._clients("s3").head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _ABSENT:
                return None
            raise
        if head.get("Metadata", {}).get("delivery-id") != request.delivery_id:
            return None
        return self._result(key)  # the feed may not have been written yet: confirm makes sure

    def _read_index(self) -> tuple[list[dict[str, Any]], str | None]:
        return self._read_json(FEED_INDEX_KEY, [])

    def _read_json(self, key: str, empty: Any) -> tuple[Any, str | None]:
        """An index and its ETag; `empty` and None only when it does not exist (any other failure raises)."""
        from botocore.exceptions import ClientError

        try:
            obj = self._clients("s3").get_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _ABSENT:
                return empty, None
            raise
        return json.loads(obj["Body"].read()), str(obj["ETag"])

    def _add_to_feed(self, request: DeliveryRequest, url: str) -> None:
        """Add the delivery to the index (a conditional write, so two deliveries adding at once both
        land), then write the feed from it until the feed was written from the newest index."""
        from botocore.exceptions import ClientError

        for _ in range(FEED_ATTEMPTS):
            items, etag = self._read_index()
            if not any(i["guid"] == request.delivery_id for i in items):
                items.insert(0, {"guid": request.delivery_id, "title": xml_text(request.title or self._title),
                                 "link": xml_text(url), "summary": xml_text(request.text)[:500],
                                 "published": format_datetime(self._clock()), "language": request.language})
                items = items[:FEED_ITEMS]
                condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
                try:
                    etag = str(self._clients("s3").put_object(
                        Bucket=self._bucket, Key=FEED_INDEX_KEY, Body=json.dumps(items, ensure_ascii=False).encode(),
                        ContentType="application/json", **condition)["ETag"])
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") in _LOST_RACE:
                        continue  # another delivery changed the index first: read it again
                    raise
            self._write_feed(items)
            # Whoever changes the index after this also writes the feed after it; if nobody has yet,
            # this feed is the newest and stays.
            if self._clients("s3").head_object(Bucket=self._bucket, Key=FEED_INDEX_KEY)["ETag"] == etag:
                return
        raise TransientPlatformError("the newsroom feed kept changing while it was written; try again")

    def _write_feed(self, items: list[dict[str, Any]]) -> None:
        entries = "".join(
            # every field cleaned here too: items indexed before the cleaning existed are still listed
            f"<item><title>{_xml(i['title'])}</title><link>{_xml(i['link'])}</link>"
            f"<description>{_xml(i['summary'])}</description><guid isPermaLink=\"false\">{_xml(i['guid'])}</guid>"
            f"<pubDate>{_xml(i['published'])}</pubDate></item>"
            for i in items)
        feed = (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{_xml(self._title)}</title>'
                f"<link>{_xml(self._base)}</link><description>Official statements</description>{entries}</channel></rss>")
        self._clients("s3").put_object(Bucket=self._bucket, Key=FEED_KEY, Body=feed.encode("utf-8"),
                                ContentType="application/rss+xml; charset=utf-8", CacheControl="max-age=60")

    # --- the Q&A page (crisiscomms.statements.qa) ---------------------------------------------------

    @staticmethod
    def _qa_anchor(request: DeliveryRequest) -> str:
        """The entry's anchor: the fragment of the address the desk gave it (`<entry>-<language>`)."""
        anchor = urlsplit(request.newsroom_url or "").fragment
        if not _QA_ANCHOR.fullmatch(anchor):
            raise PermanentPlatformError(f"a Q&A delivery needs its entry's address; got {request.newsroom_url!r}")
        return anchor

    def _qa_result(self, anchor: str, **details: str) -> DeliveryResult:
        return DeliveryResult(platform_id=f"{QA_PAGE_KEY}#{anchor}", url=f"{self._base}/{QA_PAGE_KEY}#{anchor}",
                              details=details)

    def _publish_qa(self, request: DeliveryRequest) -> DeliveryResult:
        """Put one language of an entry into the index (conditionally), then write the page and the feed from it."""
        from botocore.exceptions import ClientError

        anchor = self._qa_anchor(request)
        superseded = False
        for _ in range(FEED_ATTEMPTS):
            index, etag = self._read_json(QA_INDEX_KEY, {})
            entries: dict[str, Any] = index.setdefault("entries", {})
            slot = entries.get(anchor)
            landed = slot is not None and request.delivery_id in slot.get("deliveries", [])
            superseded = not landed and slot is not None and int(slot.get("revision", 0)) > request.revision
            if not landed and not superseded:
                now = self._clock()
                entries[anchor] = {
                    "anchor": anchor, "language": request.language, "question": xml_text(request.title or ""),
                    "answer": xml_text(request.text), "revision": request.revision, "statement_id": request.statement_id,
                    "version": request.version, "delivery_id": request.delivery_id,
                    "deliveries": ([*slot.get("deliveries", [])] if slot else [])[-(QA_DELIVERIES_KEPT - 1):]
                    + [request.delivery_id],
                    "first_published": slot["first_published"] if slot else now.isoformat(), "updated": now.isoformat()}
                feed = [{"guid": request.delivery_id, "title": xml_text(request.title or ""),
                         "link": f"{self._base}/{QA_PAGE_KEY}#{anchor}", "summary": xml_text(request.text)[:500],
                         "published": format_datetime(now), "language": request.language,
                         "revision": request.revision}, *index.get("feed", [])]
                index["feed"] = feed[:FEED_ITEMS]
                condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
                try:
                    etag = str(self._clients("s3").put_object(
                        Bucket=self._bucket, Key=QA_INDEX_KEY, Body=json.dumps(index, ensure_ascii=False).encode(),
                        ContentType="application/json", **condition)["ETag"])
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") in _LOST_RACE:
                        continue  # another entry or language changed the index first: read it again
                    raise
            self._write_qa(index)
            if self._clients("s3").head_object(Bucket=self._bucket, Key=QA_INDEX_KEY)["ETag"] == etag:
                # A text older than the entry's current one: the page keeps the newer answer.
                return self._qa_result(anchor, **({"superseded": "true"} if superseded else {}))
        raise TransientPlatformError("the newsroom's Q&A index kept changing while it was written; try again")

    def _write_qa(self, index: dict[str, Any]) -> None:
        entries = sorted(index.get("entries", {}).values(), key=lambda e: (e["first_published"], e["anchor"]), reverse=True)
        languages = [*_QA_SECTIONS, *sorted({e["language"] for e in entries} - set(_QA_SECTIONS))]
        sections = []
        for language in languages:
            articles = "".join(
                f'<article id="{_html(e["anchor"])}"><h3>{_html(e["question"])}</h3>'
                + "".join(f"<p>{_html(p.strip())}</p>" for p in e["answer"].split("\n") if p.strip())
                + f'<footer>{_html(_QA_UPDATED.get(language, "Updated"))} <time datetime="{_html(e["updated"])}">'
                  f'{_html(e["updated"])}</time></footer></article>'
                for e in entries if e["language"] == language)
            sections.append(f'<section id="{_html(language)}" lang="{_html(language)}">'
                            f'<h2>{_html(_QA_SECTIONS.get(language, language))}</h2>{articles}</section>')
        title = _html(f"{self._title} · 问答 Q&A")
        page = (f'<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>{title}</title>'
                f'<link rel="alternate" type="application/rss+xml" href="{_html(self._base)}/{QA_FEED_KEY}"></head>'
                f"<body><h1>{title}</h1>{''.join(sections)}</body></html>")
        self._clients("s3").put_object(Bucket=self._bucket, Key=QA_PAGE_KEY, Body=page.encode("utf-8"),
                                       ContentType=PAGE_TYPE, CacheControl=PAGE_CACHE)
        items = "".join(
            f"<item><title>{_xml(i['title'])}</title><link>{_xml(i['link'])}</link>"
            f"<description>{_xml(i['summary'])}</description><guid isPermaLink=\"false\">{_xml(i['guid'])}</guid>"
            f"<pubDate>{_xml(i['published'])}</pubDate>"
            + ("<category>correction</category>" if int(i.get("revision", 0)) else "") + "</item>"
            for i in index.get("feed", []))
        feed = (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{_xml(self._title)} Q&amp;A'
                f"</title><link>{_xml(self._base)}/{QA_PAGE_KEY}</link><description>Questions and answers</description>"
                f"{items}</channel></rss>")
        self._clients("s3").put_object(Bucket=self._bucket, Key=QA_FEED_KEY, Body=feed.encode("utf-8"),
                                       ContentType="application/rss+xml; charset=utf-8", CacheControl="max-age=60")
