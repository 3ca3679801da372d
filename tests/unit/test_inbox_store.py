"""The inbox repository's cursors and the desk's overdue message, without AWS."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest

from crisiscomms.aws.dynamo import from_item, to_item
from crisiscomms.aws.inbox_store import decode_cursor, encode_cursor, iso_z
from crisiscomms.errors import InvalidParameter
from crisiscomms.inbox.overdue import overdue_message
from crisiscomms.watch.inbox import InboxSettings

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)


def _key(order: str, post_key: str = "bluesky#at://did:plc:abc/app.bsky.feed.post/3k") -> dict:
    sort = {"priority": ("priority_key", "299#2026-11-28T09:00:00Z"), "time": ("created_at", "2026-11-28T09:00:00Z")}[order]
    return to_item({"pk": f"conv#{post_key}", "sk": "#", "queue": "harbor#NEW", sort[0]: sort[1]})


@pytest.mark.parametrize("order", ["priority", "time"])
def test_a_cursor_leads_back_to_the_key_it_was_made_from_for_its_order_and_queue_only(order: str) -> None:
    cursor = encode_cursor(order, _key(order))  # type: ignore[arg-type]
    assert "#" not in cursor and "conv" not in cursor
    assert from_item(decode_cursor(cursor, order, "harbor#NEW")) == from_item(_key(order))  # type: ignore[arg-type]
    other = "time" if order == "priority" else "priority"
    with pytest.raises(InvalidParameter):
        decode_cursor(cursor, other, "harbor#NEW")  # type: ignore[arg-type]


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "not a cursor", "x" * 2000, _b64({"pk": "conv#weibo#1"}), _b64(["p", "299#2026-11-28T09:00:00Z"]),
    _b64(["p", "2026-11-28T09:00:00Z", "weibo#1"]), _b64(["p", "299#2026-11-28T09:00:00Z", "no-platform"]),
    _b64(["p", "299#2026-11-28T09:00:00Z", 5]), base64.urlsafe_b64encode(b"\xff\xfe").decode().rstrip("="),
])
def test_anything_else_is_refused_naming_the_cursor(cursor: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        decode_cursor(cursor, "priority", "harbor#NEW")
    assert refused.value.details == [{"field": "cursor", "reason": "not a cursor this API issued for this order"}]


def test_times_are_utc_to_the_second_with_a_z() -> None:
    assert iso_z(datetime(2026, 11, 28, 17, 0, 5, 123, tzinfo=timezone(timedelta(hours=8)))) == "2026-11-28T09:00:05Z"
    assert iso_z(datetime(2026, 11, 28, 9, 0, 5)) == "2026-11-28T09:00:05Z"


def test_the_desk_message_says_kind_platform_author_link_and_how_late() -> None:
    conversation = {"post_key": "bluesky#at://did:plc:abc/app.bsky.feed.post/3k", "kind": "rumour", "platform": "bluesky",
                    "author": "saver.bsky.social", "followers": 12_345, "url": "https://bsky.app/profile/saver/post/3k",
                    "text": "Harbor Bank " + "is collapsing " * 30, "priority": 640, "state": "ASSIGNED", "assignee": "li"}
    subject, text = overdue_message("harbor", "CRISIS", [(conversation, NOW - timedelta(minutes=17))], NOW, InboxSettings())
    assert subject == "Inbox harbor: 1 conversation past the reply target" and subject.isascii() and len(subject) < 100
    assert "[rumour] bluesky · saver.bsky.social (12,345 followers) · 17 min late" in text
    assert "due 2026-11-28T09:43:00Z" in text and "assigned to li" in text and "at CRISIS" in text
    assert "https://bsky.app/profile/saver/post/3k" in text and "/inbox/bluesky:~" in text
    assert "…" in text and len(max(text.splitlines(), key=len)) < 200
