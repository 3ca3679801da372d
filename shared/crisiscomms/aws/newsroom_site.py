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

Everything written into a page or the feed is stripped of what XML 1.0 forbids (`xml_text`)
before it is escaped: one statement with a stray control character would otherwise leave the
feed unreadable for as long as it is among the last FEED_ITEMS. Only NoSuchKey means the feed
index is empty; any other failure to read it stops the write, so the feed is never reset.
"""
from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from email.utils import format_datetime
from html import escape
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from crisiscomms.aws.clients import AwsClients
from crisiscomms.errors import TransientPlatformError
from crisiscomms.models.delivery import CONFIRM_PENDING, DeliveryRequest, DeliveryResult, PreparedItem

FEED_KEY = "feed.xml"
FEED_INDEX_KEY = "feed-index.json"
FEED_ITEMS = 50
FEED_ATTEMPTS = 8
_LOST_RACE = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")
PREPARED_PREFIX = "prepared/"
PAGE_TYPE = "text/html; charset=utf-8"
PAGE_CACHE = "max-age=60"

# What XML 1.0 forbids in a document (and HTML pages cannot carry either): C0 controls other than
# tab, LF and CR, U+FFFE/U+FFFF, and surrogates (in a str always lone: they cannot even be encoded).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_text(value: object) -> str:
    """`value` as text with every character XML 1.0 forbids removed; escape after this."""
    return _NOT_XML.sub("", str(value))


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
        written = self._clients("s3").put_object(Bucket=self._bucket, Key=key, Body=self._page(request),
                                                 ContentType=PAGE_TYPE, Metadata=self._metadata(request))
        return PreparedItem(channel="newsroom", data={"key": key, "etag": str(written.get("ETag", ""))})

    def discard(self, prepared: PreparedItem) -> None:
        """Overwrite the prepared page with an empty object (the Publisher may write, not delete)."""
        key = prepared.data.get("key", "")
        if not key.startswith(PREPARED_PREFIX):
            return
        self._clients("s3").put_object(Bucket=self._bucket, Key=key, Body=b"", ContentType=PAGE_TYPE,
                                       Metadata={"discarded": "true"})

    def publish(self, request: DeliveryRequest, prepared: PreparedItem | None = None) -> DeliveryResult:
        """Put the page at its public key: one copy of the prepared page, or one write of a fresh one."""
        from botocore.exceptions import ClientError

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
        self._add_to_feed(request, sent.url or f"{self._base}/{sent.platform_id}")
        return DeliveryResult(platform_id=sent.platform_id, url=sent.url)

    def find(self, request: DeliveryRequest) -> DeliveryResult | None:
        from botocore.exceptions import ClientError

        key = self._page_key(request)
        try:
            head = self._clients("s3").head_object(Bucket=self._bucket, Key=key)
        except ClientError:
            return None
        if head.get("Metadata", {}).get("delivery-id") != request.delivery_id:
            return None
        return self._result(key)  # the feed may not have been written yet: confirm makes sure

    def _read_index(self) -> tuple[list[dict[str, Any]], str | None]:
        from botocore.exceptions import ClientError

        try:
            obj = self._clients("s3").get_object(Bucket=self._bucket, Key=FEED_INDEX_KEY)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return [], None
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
