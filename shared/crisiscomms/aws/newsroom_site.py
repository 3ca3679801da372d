"""The bank's newsroom: each statement's page and an RSS feed, written to S3.

The page is the authoritative copy the short forms link to. Writing is idempotent: the page's
key is the statement and language, the object carries the delivery id, and the feed lists
each delivery once however often it is written.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from email.utils import format_datetime
from html import escape
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from crisiscomms.aws.clients import AwsClients
from crisiscomms.models.delivery import DeliveryRequest, DeliveryResult

FEED_KEY = "feed.xml"
FEED_INDEX_KEY = "feed-index.json"
FEED_ITEMS = 50


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

    def publish(self, request: DeliveryRequest) -> DeliveryResult:
        key = self._page_key(request)
        url = f"{self._base}/{key}"
        page = (f'<!doctype html><html lang="{request.language}"><head><meta charset="utf-8">'
                f"<title>{escape(request.title or self._title)}</title></head><body><article>"
                f"<h1>{escape(request.title or self._title)}</h1>"
                + "".join(f"<p>{escape(p)}</p>" for p in request.text.split("\n") if p.strip())
                + f"<footer>{escape(self._clock().isoformat())}</footer></article></body></html>")
        self._clients("s3").put_object(Bucket=self._bucket, Key=key, Body=page.encode("utf-8"),
                                ContentType="text/html; charset=utf-8", CacheControl="max-age=60",
                                Metadata={"delivery-id": request.delivery_id, "version": str(request.version)})
        self._add_to_feed(request, url)
        return DeliveryResult(platform_id=key, url=url)

    def find(self, request: DeliveryRequest) -> DeliveryResult | None:
        from botocore.exceptions import ClientError

        key = self._page_key(request)
        try:
            head = self._clients("s3").head_object(Bucket=self._bucket, Key=key)
        except ClientError:
            return None
        if head.get("Metadata", {}).get("delivery-id") != request.delivery_id:
            return None
        return DeliveryResult(platform_id=key, url=f"{self._base}/{key}")

    def _add_to_feed(self, request: DeliveryRequest, url: str) -> None:
        from botocore.exceptions import ClientError

        try:
            items: list[dict[str, Any]] = json.loads(self._clients("s3").get_object(Bucket=self._bucket, Key=FEED_INDEX_KEY)["Body"].read())
        except ClientError:
            items = []
        if any(i["guid"] == request.delivery_id for i in items):
            return
        items.insert(0, {"guid": request.delivery_id, "title": request.title or self._title, "link": url,
                         "summary": request.text[:500], "published": format_datetime(self._clock()),
                         "language": request.language})
        items = items[:FEED_ITEMS]
        self._clients("s3").put_object(Bucket=self._bucket, Key=FEED_INDEX_KEY, Body=json.dumps(items, ensure_ascii=False).encode(),
                                ContentType="application/json")
        entries = "".join(
            f"<item><title>{xml_escape(i['title'])}</title><link>{xml_escape(i['link'])}</link>"
            f"<description>{xml_escape(i['summary'])}</description><guid isPermaLink=\"false\">{i['guid']}</guid>"
            f"<pubDate>{i['published']}</pubDate></item>"
            for i in items)
        feed = (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{xml_escape(self._title)}</title>'
                f"<link>{xml_escape(self._base)}</link><description>Official statements</description>{entries}</channel></rss>")
        self._clients("s3").put_object(Bucket=self._bucket, Key=FEED_KEY, Body=feed.encode("utf-8"),
                                ContentType="application/rss+xml; charset=utf-8", CacheControl="max-age=60")
