"""The scale benchmark: its scenario has the promised shape, its verdicts follow its figures, its CPU adds up."""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from crisiscomms.listening.topics import TopicMatcher
from crisiscomms.models import Post
from crisiscomms.watch import parse_watch_config
from crisiscomms_local import bench_scale
from crisiscomms_local.drill.scenario import expand_posts, load_scenario


def _load(tmp_path: Path, size: int):
    path = tmp_path / f"{size}.json"
    path.write_text(json.dumps(bench_scale.build_scenario(size), ensure_ascii=False), encoding="utf-8")
    return load_scenario(path)


@pytest.mark.parametrize("size", [2_000, 20_000])
def test_the_scenario_holds_exactly_size_matching_posts_plus_a_few_unrelated(tmp_path: Path, size: int) -> None:
    scenario = _load(tmp_path, size)
    config = parse_watch_config({"version": 1, "topics": [t.model_dump(exclude={"ambiguous"}) for t in scenario.topics]})
    matcher = TopicMatcher(config.topics)
    posts = expand_posts(scenario)
    matching = sum(bool(matcher.match(Post(platform="x", native_id=str(i), source_type="social", source_id="x",
                                           url="", author=p["author"], text=p["text"], published_at=p["created_at"])))
                   for i, p in enumerate(posts))
    matching += sum(bool(matcher.match(Post(platform="news", native_id=str(i), source_type="news", source_id=n.feed,
                                            url="", author=n.feed, title=n.title, text=n.summary or n.title,
                                            published_at=scenario.at(n.at))))
                    for i, n in enumerate(scenario.news))
    published = len(posts) + len(scenario.news)
    assert matching == size
    assert 0.01 * size <= published - size <= 0.02 * size      # "a few hundred unrelated" at 20,000
    assert scenario.length == timedelta(hours=1)
    assert {c.check for c in scenario.expect} == {"stored_posts", "no_duplicates"}
    assert [c.min for c in scenario.expect if c.check == "stored_posts"] == [size]


def test_bursts_fit_what_one_poll_a_minute_can_read(tmp_path: Path) -> None:
    """X: at most 10 pages of 100 a run; a feed shows its newest 50 items. Nothing may be pushed out unread."""
    scenario = _load(tmp_path, 20_000)
    per_minute_x = Counter(int((p["created_at"] - scenario.start).total_seconds() // 60) for p in expand_posts(scenario))
    per_minute_feed = Counter((n.feed, int((scenario.at(n.at) - scenario.start).total_seconds() // 60))
                              for n in scenario.news)
    assert max(per_minute_x.values()) <= 800
    assert max(per_minute_feed.values()) <= 40
    assert len({n.feed for n in scenario.news}) == len(bench_scale.FEEDS)


def test_the_shape_scales_with_the_size(tmp_path: Path) -> None:
    small, large = _load(tmp_path, 2_000), _load(tmp_path, 20_000)
    assert [(b.burst.from_, b.burst.to) for b in small.posts] == [(b.burst.from_, b.burst.to) for b in large.posts]
    for s, l in zip(small.posts, large.posts):
        assert l.burst.per_minute == pytest.approx(10 * s.burst.per_minute, rel=0.05)


def _run(size: int, ms: float, *, rss: float = 500.0, stored: int | None = None, ok: bool = True) -> dict:
    stored = size if stored is None else stored
    return {"size": size, "stored": stored, "missed": 0, "checks_passed": ok, "wall_s": ms * stored / 1000,
            "ms_per_post": ms, "ms_per_post_without_setup": ms * 0.98, "cpu_ms_per_post": ms * 0.9,
            "peak_rss_mb": rss, "phases_s": {"setup": 1.0, "replay": 1.0, "report": 1.0}, "posts_matching": size,
            "posts_published": size, "checks": [], "dynamodb_requests": {}, "dynamodb_requests_per_post": 1.0,
            "load_average": [0.0, 0.0]}


@pytest.mark.parametrize("small, large, rss, stored, ok", [
    (8.0, 6.0, 800, None, True),       # cheaper per post at scale: flat enough
    (5.0, 5.9, 800, None, True),       # 1.18
    (5.0, 6.1, 800, None, False),      # 1.22: the cost per post grows
    (5.0, 5.0, 1600, None, False),     # over 1.5 GB
    (5.0, 5.0, 800, 19_999, False),    # a post missed
])
def test_the_gate_follows_the_figures(monkeypatch: pytest.MonkeyPatch, small: float, large: float, rss: float,
                                      stored: int | None, ok: bool) -> None:
    runs = {2_000: _run(2_000, small), 20_000: _run(20_000, large, rss=rss, stored=stored)}
    monkeypatch.setattr(bench_scale, "_run_child", lambda size, account: runs[size])
    result = bench_scale.bench_scale((2_000, 20_000))
    assert result["ok"] is ok
    assert result["ratio_ms_per_post"] == pytest.approx(large / small, abs=0.001)
    assert "Ratio of ms/post" in bench_scale.render(result)


def test_a_size_that_fails_fails_the_benchmark(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_scale, "_run_child", lambda size, account: {"size": size, "error": "exit 1: boom"})
    result = bench_scale.bench_scale((200, 400))
    assert result["ok"] is False and "FAILED: exit 1: boom" in bench_scale.render(result)


class _Worker:
    def outer(self, inner_seconds: float, own_seconds: float) -> None:
        _spin(own_seconds)
        self.inner(inner_seconds)

    def inner(self, seconds: float) -> None:
        _spin(seconds)


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_cpu_is_accounted_to_the_innermost_component_in_every_thread() -> None:
    accounts = bench_scale.CpuAccounts()
    accounts.wrap(_Worker, "outer", "outer")
    accounts.wrap(_Worker, "inner", lambda worker: f"inner of {type(worker).__name__}")
    try:
        threads = [threading.Thread(target=_Worker().outer, args=(0.05, 0.03)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        accounts.restore()
    assert accounts.calls == {"outer": 2, "inner of _Worker": 2}
    assert accounts.seconds["inner of _Worker"] == pytest.approx(0.10, abs=0.03)
    assert accounts.seconds["outer"] == pytest.approx(0.06, abs=0.03)
    assert not hasattr(_Worker.outer, "__wrapped__")   # restored
