"""The per-source benchmark's replay: what it times must be the adapter reading what the platform served."""
from __future__ import annotations

import httpx
import pytest

from crisiscomms_local import bench_sources
from crisiscomms_local.bench_sources import Exchange, Replay, ReplayMismatch

pytestmark = pytest.mark.integration  # the answers are captured from the emulators on 127.0.0.1


@pytest.mark.parametrize("kind", ["x", "news", "bluesky"])
def test_the_captured_answers_replay_into_the_posts_the_emulator_served(kind: str) -> None:
    world = bench_sources.start_world(120, [kind])
    try:
        captured = bench_sources.capture(kind, world)
        posts, seconds = bench_sources.replay_once(captured, world)
    finally:
        world.close()
    assert len(captured.posts) == 120
    assert len({p.key for p in captured.posts}) == 120
    assert [p.model_dump() for p in posts] == [p.model_dump() for p in captured.posts]
    assert seconds > 0
    assert len(captured.exchanges) >= 2  # more than one page (or feed): the cursor is followed in the replay
    if kind == "bluesky":  # the session is created before the capture, so only reading is replayed
        assert "accessJwt" in captured.credentials.value
        assert not any("createSession" in e.url for e in captured.exchanges)


def test_parse_throughput_counts_every_post_of_the_replayed_pages() -> None:
    world = bench_sources.start_world(150, ["reddit"])
    try:
        figures = bench_sources.parse_throughput("reddit", world, repeats=2)
    finally:
        world.close()
    assert figures["items"] == 150
    assert figures["requests"] == 2  # Reddit pages hold 100
    assert figures["items_per_s"] == pytest.approx(150 / figures["best_s"])
    assert figures["ms_per_100_items"] == pytest.approx(figures["best_s"] / 150 * 100_000)


def test_a_replay_refuses_a_request_that_was_never_captured() -> None:
    replay = Replay([Exchange("GET", "http://127.0.0.1:1/search?q=a", 200, (), b"{}")])
    client = httpx.Client(transport=httpx.MockTransport(replay))
    assert client.get("http://127.0.0.1:1/search?q=a").json() == {}
    replay.rewind()
    with pytest.raises(ReplayMismatch):
        client.get("http://127.0.0.1:1/search?q=b")


def test_the_table_has_a_row_per_source_kind() -> None:
    parse = {"items_per_s": 50_000.0, "ms_per_100_items": 2.0, "items_per_request": 100.0}
    dynamodb = {"stored": 300, "requests": 308, "requests_per_stored_post": 308 / 300,
                "by_operation": {"UpdateItem": 5}, "quiet_poll_by_operation": {}, "runs": 1, "sources": 1, "pages": 3, "fetched": 300, "duplicates": 0,
                "problems": []}
    table = bench_sources.render({"sources": {"x": {"parse": parse, "dynamodb": dynamodb}, "news": {"parse": parse}}})
    assert "| x | 50,000 | 2.00 | 100 | 300 | 308 | 1.027 |" in table
    assert "| news | 50,000 | 2.00 | 100 | - | - | - |" in table
