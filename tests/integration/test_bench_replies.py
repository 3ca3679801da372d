"""The reply fan-out benchmark runs end to end, and its floor is what the pace makes the minimum."""
from __future__ import annotations

import pytest

from crisiscomms_local.bench_replies import PLATFORMS, bench_replies, pacing_floor, split

pytestmark = pytest.mark.integration


def test_the_floor_is_the_slowest_platforms_last_reply_at_its_pace() -> None:
    assert split(100) == {"weibo": 17, "wechat": 17, "douyin": 17, "mastodon": 17, "bluesky": 16, "x": 16}
    assert sum(split(7).values()) == 7 and set(split(7)) == set(PLATFORMS)
    # Weibo 0.9 a minute with bursts of 5: the 17th reply goes 12 intervals of 66.7 s after the first five.
    assert pacing_floor({"weibo": 17, "x": 3}, {"weibo": (0.9, 5), "x": (5, 5)}) == {"weibo": pytest.approx(800), "x": 0}


def test_a_small_fan_out_reaches_every_platform_once_within_its_pace() -> None:
    figures = bench_replies(36)  # 6 a platform: one over each burst of 5
    assert figures["shown"] == 36 and figures["states"] == {"SENT": 36} and figures["paced"]
    assert all(p["people_answered_twice"] == 0 for p in figures["per_platform"].values())
    # The slowest is Weibo's sixth reply, one interval (60 / 0.9 = 66.7 s) after t0; SQS delays are whole seconds.
    assert figures["floor_platform"] == "weibo" and figures["floor_s"] == pytest.approx(66.67, abs=0.01)
    assert 1.0 <= figures["ratio"] < 1.1
