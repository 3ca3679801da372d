"""Effect windows and figures: equal windows around publication, figures from stored minute aggregates,
engagement per channel or 'unavailable' with the reason."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from crisiscomms.errors import RateLimited, TransientPlatformError
from crisiscomms.models.effect import Engagement
from crisiscomms.review.effect import (
    NO_ENGAGEMENT,
    SETTLE_MINUTES,
    due_at,
    engagement_total,
    figures,
    read_engagement,
    windows,
)

PUBLISHED = datetime(2026, 11, 28, 9, 30, 41, tzinfo=timezone.utc)


def test_windows_are_equal_and_meet_at_the_publication_minute() -> None:
    before, after = windows(PUBLISHED, "after", 30, 120)
    assert before.start == datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
    assert before.end == after.start == datetime(2026, 11, 28, 9, 30, tzinfo=timezone.utc)
    assert after.end == datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)
    assert before.end - before.start == after.end - after.start == timedelta(minutes=30)
    assert due_at(PUBLISHED, "after", 30, 120) == after.end + timedelta(minutes=SETTLE_MINUTES)


def test_the_second_look_compares_the_same_before_window_with_the_latest_equal_window() -> None:
    before, after = windows(PUBLISHED, "plus2h", 30, 120)
    assert before == windows(PUBLISHED, "after", 30, 120)[0]
    assert (after.start, after.end) == (datetime(2026, 11, 28, 11, 0, tzinfo=timezone.utc),
                                        datetime(2026, 11, 28, 11, 30, tzinfo=timezone.utc))
    assert after.end - after.start == before.end - before.start
    narrow_before, narrow_after = windows(PUBLISHED, "after", 10, 60)
    assert narrow_after.end - narrow_after.start == narrow_before.end - narrow_before.start == timedelta(minutes=10)


def _row(minute: str, source_type: str, posts: int, negative: int, sentiment_sum: float, crisis: int) -> dict:
    return {"minute": minute, "source_type": source_type, "posts": posts, "negative": negative,
            "sentiment_sum": sentiment_sum, "crisis_posts": crisis}


def test_figures_are_summed_from_the_windows_minute_aggregates_social_and_news_apart() -> None:
    before, after = windows(PUBLISHED, "after", 30, 120)
    rows = [
        _row("2026-11-28T08:59", "social", 50, 50, -40.0, 9),  # before the before-window: left out
        _row("2026-11-28T09:00", "social", 10, 6, -3.0, 2),
        _row("2026-11-28T09:29", "social", 10, 4, -1.0, 1),
        _row("2026-11-28T09:29", "news", 2, 1, -0.5, 0),
        _row("2026-11-28T09:30", "social", 30, 27, -20.0, 12),  # the publication minute is after
        _row("2026-11-28T09:59", "news", 4, 4, -2.0, 1),
        _row("2026-11-28T10:00", "social", 99, 99, -99.0, 99),  # the after-window's end: left out
    ]
    social, tone = figures(rows, before)
    assert (social.volume, social.negative, social.negative_share, social.crisis_hits) == (20, 10, 0.5, 3)
    assert social.net_polarity == pytest.approx(-0.2)
    assert (tone.items, tone.negative, tone.negative_share, tone.net_polarity) == (2, 1, 0.5, -0.25)
    social, tone = figures(rows, after)
    assert (social.volume, social.negative, social.negative_share, social.crisis_hits) == (30, 27, 0.9, 12)
    assert (tone.items, tone.negative_share) == (4, 1.0)
    empty, no_news = figures([], after)
    assert (empty.volume, empty.negative_share, empty.net_polarity, no_news.items, no_news.negative_share) == (0, None, None, 0, None)


def _counts(values: dict[str, tuple[int, int, int]]):
    def read(channel: str, ids: list[str]) -> dict[str, Engagement]:
        return {i: Engagement(state="available", posts=1, likes=l, reposts=r, replies=c)
                for i, (l, r, c) in values.items() if i in ids}
    return read


def test_engagement_is_summed_over_the_delivered_ids() -> None:
    found = read_engagement("x", ["1", "2"], _counts({"1": (10, 2, 3), "2": (5, 0, 1)}))
    assert (found.state, found.likes, found.reposts, found.replies, found.posts, found.total) == ("available", 15, 2, 4, 2, 21)
    partial = read_engagement("x", ["1", "9"], _counts({"1": (1, 1, 1)}))
    assert partial.state == "available" and partial.posts == 1 and "1 of 2" in (partial.reason or "")


@pytest.mark.parametrize("channel", sorted(NO_ENGAGEMENT))
def test_channels_that_give_no_engagement_in_time_are_unavailable_with_the_reason(channel: str) -> None:
    def never(channel: str, ids: list[str]) -> dict[str, Engagement]:
        raise AssertionError("a channel without engagement must not be asked")

    found = read_engagement(channel, ["id-1"], never)
    assert found.state == "unavailable" and found.reason == NO_ENGAGEMENT[channel] and found.likes is None


@pytest.mark.parametrize(("read", "reason"), [
    (lambda c, ids: (_ for _ in ()).throw(TransientPlatformError("X 503: Service Unavailable", status=503)),
     "x could not be read: X 503"),
    (lambda c, ids: (_ for _ in ()).throw(RateLimited("X rate limit", resume_at=datetime.now(timezone.utc))),
     "x could not be read: X rate limit"),
    (lambda c, ids: {}, "returned no counts"),
    (lambda c, ids: None, "gives no engagement through its API"),
])
def test_a_channel_that_fails_or_knows_nothing_is_unavailable(read, reason: str) -> None:
    found = read_engagement("x", ["1"], read)
    assert found.state == "unavailable" and reason in (found.reason or "")


def test_nothing_delivered_is_unavailable_and_the_total_counts_only_available_channels() -> None:
    assert read_engagement("x", [], _counts({}), why_none="no delivery on x was sent").reason == "no delivery on x was sent"
    channels = {"x": Engagement(state="available", likes=3, reposts=1, replies=1, posts=1),
                "newsroom": Engagement(state="unavailable", reason=NO_ENGAGEMENT["newsroom"])}
    assert engagement_total(channels) == 5
    assert engagement_total({"newsroom": channels["newsroom"]}) is None
