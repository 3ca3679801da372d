"""What one post may carry (crisiscomms.models.posts): free text cut to its bound with the length as read kept,
identifiers, links and counts past theirs refused as malformed, and the largest post that passes still fits
DynamoDB's 400 KB an item."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from crisiscomms.adapters.sources.feeds import parse_feed
from crisiscomms.aws.post_store import PostRepository, PostTables
from crisiscomms.inbox.opening import conversation_for
from crisiscomms.inbox.triage import Triage
from crisiscomms.models import Post, ScoredPost
from crisiscomms.models.posts import CUT_CHARS, ID_CHARS, MAX_COUNT, URL_CHARS
from crisiscomms.watch.inbox import InboxSettings

AT = datetime(2026, 11, 28, 9, 40, tzinfo=timezone.utc)
ITEM_BYTES = 400 * 1024  # DynamoDB's largest item
WIDE = "\U0001d306"  # four bytes in UTF-8: the widest a character gets


def _post(**fields: Any) -> Post:
    base: dict[str, Any] = {"platform": "weibo", "native_id": "1", "source_type": "social", "source_id": "w",
                            "url": "https://weibo.com/1", "author": "li", "text": "港湾银行 排队", "published_at": AT}
    return Post(**{**base, **fields})


def _size(value: dict[str, Any]) -> int:
    """An attribute value's size as DynamoDB counts it, rounded up: strings by their UTF-8 bytes, a number at
    most 21 bytes, a map or list 3 bytes plus 1 per element plus what it holds."""
    (kind, raw), = value.items()
    if kind == "S":
        return len(raw.encode("utf-8"))
    if kind == "N":
        return 21
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + _size(v) for k, v in raw.items())
    raise AssertionError(kind)


def _item_bytes(item: dict[str, Any]) -> int:
    return sum(len(name.encode("utf-8")) + _size(value) for name, value in item.items())


def test_free_text_past_its_bound_is_cut_and_its_length_as_read_kept() -> None:
    post = _post(text="排" * (CUT_CHARS["text"] + 5), title="t" * 3_000, author="a" * 501, location="广东" * 300)
    assert len(post.text) == CUT_CHARS["text"] and post.text == "排" * CUT_CHARS["text"]
    assert (len(post.title or ""), len(post.author), len(post.location or "")) == (2_000, 500, 500)
    assert post.truncated == {"text": CUT_CHARS["text"] + 5, "title": 3_000, "author": 501, "location": 600}
    assert "truncated" in post.model_dump(mode="json", exclude_none=True), "stored with the post"


def test_text_within_its_bounds_is_left_as_it_is_and_records_nothing() -> None:
    text = "排" * CUT_CHARS["text"]
    post = _post(text=text, title="Harbor Bank 🏦")
    assert post.text is text and post.title == "Harbor Bank 🏦" and post.truncated is None
    assert "truncated" not in post.model_dump(mode="json", exclude_none=True)


def test_a_lone_surrogate_becomes_the_replacement_character_and_a_pair_is_kept() -> None:
    post = _post(text="港湾银行 \ud83d", title="half \udc00 an emoji", author="li\ud83d", location="深圳 😀")
    assert post.text == "港湾银行 \ufffd" and post.title == "half \ufffd an emoji" and post.author == "li\ufffd"
    assert post.location == "深圳 😀" and post.truncated is None
    post.text.encode("utf-8")  # what botocore and DynamoDB need


@pytest.mark.parametrize("fields", [
    {"url": "https://example.com/" + "a" * URL_CHARS},
    {"author_id": "1" * (ID_CHARS + 1)},
    {"source_id": "s" * (ID_CHARS + 1)},
    {"reply_ref": {"id": "9" * (ID_CHARS + 1)}},
    {"reply_ref": {str(n): "1" for n in range(17)}},
    {"reply_ref": {"": "1"}},
    {"followers": MAX_COUNT + 1},
    {"likes": 10**40},
])
def test_an_identifier_link_or_count_past_its_bound_is_malformed(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _post(**fields)


def test_the_largest_post_that_passes_fits_one_item_with_its_links_and_conversation() -> None:
    wide = {name: WIDE * (limit + 1) for name, limit in CUT_CHARS.items()}
    post = _post(native_id=WIDE * 256, url=WIDE * URL_CHARS, author_id=WIDE * ID_CHARS, source_id=WIDE * ID_CHARS,
                 lang_hint=WIDE * ID_CHARS, location_country=WIDE * ID_CHARS, followers=MAX_COUNT, likes=MAX_COUNT,
                 reposts=MAX_COUNT, replies=MAX_COUNT, quotes=MAX_COUNT, to_bank=True,
                 reply_ref={WIDE * 62 + f"{n:02d}": WIDE * ID_CHARS for n in range(16)}, **wide)
    topics = tuple(f"topic-{n:02d}-" + "t" * 50 for n in range(24))
    scored = ScoredPost(post=post, topics=topics, unrelated_topics=topics, language="zh", sentiment=-0.5,
                        sentiment_label="negative", crisis_terms=tuple(f"term{n}" for n in range(200)),
                        crisis_categories=("bank_run",) * 20, crisis_weight=9.5, is_crisis=True, risk=99,
                        ingested_at=AT, narrative="other:" + "x" * 60, inbox_due=True)
    actions = PostRepository(PostTables("posts", "links", "aggregates"), clients=None,  # type: ignore[arg-type]
                             retention_days=1)._transaction(scored)
    items = [action["Put"]["Item"] for action in actions if "Put" in action]
    assert len(items) == 1 + len(topics)
    assert max(_item_bytes(item) for item in items) < ITEM_BYTES, "the post's item and each link"
    conversation = conversation_for(scored, Triage(kind="rumour", priority=999, opens=True), level=None, now=AT,
                                    settings=InboxSettings())
    from crisiscomms.aws.dynamo import to_item

    assert _item_bytes(to_item(conversation)) < ITEM_BYTES


def test_a_feed_entry_with_a_huge_body_is_read_cut_not_refused() -> None:
    body = "Harbor Bank " + "queue " * 200_000  # 1.2 MB of summary in one item
    rss = (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title><link>https://n.example/</link>'
           f'<description>d</description><item><title>Harbor Bank</title><link>https://n.example/1</link>'
           f'<guid>https://n.example/1</guid><pubDate>Sat, 28 Nov 2026 09:00:00 GMT</pubDate>'
           f'<description>{body}</description></item></channel></rss>')
    [post], malformed = parse_feed(rss, feed_name="daily", audience=1000, language="en")
    assert malformed == [] and len(post.text) == CUT_CHARS["text"]
    assert post.truncated == {"text": len(body.strip())} and post.text == body.strip()[:CUT_CHARS["text"]]
