"""The early-warning watch list on the paged sources that read by id (Bluesky, Mastodon): the same code path as
X's, fed by each reader's `lookup`, with fakes."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest

from crisiscomms.errors import RateLimited, TokenExpired, TransientPlatformError
from crisiscomms.listening.polling import Ingestor, Listener, OpenedSource, RunReport
from crisiscomms.listening.topics import TopicMatcher
from crisiscomms.listening.watchlist import WATCH_FIELD, WATCH_RESUME_FIELD, Watched, read_entries
from crisiscomms.models import Post
from crisiscomms.models.paging import LookupResult, SourcePage
from crisiscomms.scoring.engines import LexiconScorer
from crisiscomms.watch import parse_watch_config

from .test_listening_paged import FakeState
from .test_watchlist import NOW, RUMOUR, Clock, FakePosts

SOURCES = {
    "bluesky": {"id": "bsky-harbor", "platform": "bluesky", "query": "Harbor Bank"},
    "mastodon": {"id": "masto-tag", "platform": "mastodon", "base_url": "https://social.example", "hashtag": "harbor"},
    "weibo": {"id": "weibo-mentions", "platform": "weibo"},
}


class FakeReader:
    """A platform's search (each post once, as the readers' `seen` lists give it) and, unless `by_id` is off,
    its read by id: `followers` says whether that read carries follower counts (Bluesky's does not)."""

    def __init__(self, platform: str, clock: Clock, *, per_call: int, followers: bool) -> None:
        self.platform, self.clock = platform, clock
        self.lookup_ids, self.lookup_followers = per_call, followers
        self.posts: dict[str, Post] = {}
        self.served: set[str] = set()
        self.cursors: list[dict[str, Any]] = []
        self.lookups: list[list[str]] = []
        self.errors: list[Exception] = []
        self.deleted: set[str] = set()
        self.unread: set[str] = set()
        self.spent_until: datetime | None = None

    def add(self, native_id: str, *, reposts: int, followers: int = 2_000_000, text: str = RUMOUR,
            age: timedelta = timedelta(minutes=2)) -> None:
        self.posts[native_id] = Post(platform=self.platform, native_id=native_id, source_type="social",
                                     source_id=SOURCES[self.platform]["id"], url="u", author="macro",
                                     followers=followers, text=text, reposts=reposts, published_at=self.clock() - age)

    def grow(self, native_id: str, reposts: int) -> None:
        self.posts[native_id] = self.posts[native_id].model_copy(update={"reposts": reposts})

    def read(self, cursor: Mapping[str, Any]) -> SourcePage:
        self.cursors.append(dict(cursor))
        fresh = [p for key, p in self.posts.items() if key not in self.served]
        self.served.update(p.native_id for p in fresh)
        return SourcePage(posts=fresh, cursor={"mark": str(len(self.served))}, resume_at=self.spent_until)

    def lookup(self, ids: list[str]) -> LookupResult:
        assert 1 <= len(ids) <= self.lookup_ids
        self.lookups.append(list(ids))
        if self.errors:
            raise self.errors.pop(0)
        posts = [self.posts[i] for i in ids if i in self.posts and i not in self.deleted | self.unread]
        if not self.lookup_followers:
            posts = [p.model_copy(update={"followers": 0}) for p in posts]
        return LookupResult(posts=posts, missing={i for i in ids if i in self.deleted},
                            unread={i for i in ids if i in self.unread})


class SearchOnly:
    """A platform without a read by id (Weibo's comment and mention streams here)."""

    def __init__(self, reader: FakeReader) -> None:
        self.inner = reader

    def read(self, cursor: Mapping[str, Any]) -> SourcePage:
        return self.inner.read(cursor)


class Renewer:
    def __init__(self) -> None:
        self.renewals = 0

    def renew(self) -> dict[str, Any]:
        self.renewals += 1
        return {}


def _world(platform: str, *, per_call: int = 25, followers: bool = False, by_id: bool = True, tokens: Any = None,
           **early: Any) -> tuple[Listener, FakeReader, FakePosts, FakeState, Clock]:
    clock = Clock()
    config = parse_watch_config({"topics": [{"id": "harbor", "names": ["Harbor Bank"]}], "sources": [SOURCES[platform]],
                                 "detection": {"early_warning": early}})
    reader, posts, state = FakeReader(platform, clock, per_call=per_call, followers=followers), FakePosts(), FakeState()
    ingestor = Ingestor(TopicMatcher(config.topics), LexiconScorer(), posts, clock,
                        early_warning=config.detection.early_warning)
    opened = OpenedSource(reader if by_id else SearchOnly(reader), tokens)  # type: ignore[arg-type]
    listener = Listener(config, ingestor=ingestor, state=state, x_search=lambda: None, feeds=lambda: None,
                        open_source=lambda source: opened, clock=clock, attempts=3, base_delay=0,
                        sleep=lambda s: None, run_id="run-1")
    return listener, reader, posts, state, clock


def _run(listener: Listener, reader: FakeReader, clock: Clock, minutes: int = 1) -> RunReport:
    clock.now += timedelta(minutes=minutes)
    [report] = listener.poll(reader.platform)
    return report


def _pk(reader: FakeReader) -> str:
    return f"source#{reader.platform}#{SOURCES[reader.platform]['id']}"


def _entries(state: FakeState, reader: FakeReader) -> list[str]:
    return list(state.items[_pk(reader)].get(WATCH_FIELD) or [])


@pytest.mark.parametrize("platform, per_call, followers", [("bluesky", 25, False), ("mastodon", 20, True)])
def test_a_post_that_grows_after_storing_is_marked_once_and_one_that_does_not_stays_watched(
        platform: str, per_call: int, followers: bool) -> None:
    listener, reader, posts, state, clock = _world(platform, per_call=per_call, followers=followers)
    reader.add("p-viral", reposts=5)
    reader.add("p-quiet", reposts=5, text=RUMOUR.replace("insolvent", "insolvent, they say"))
    reader.add("p-small", reposts=5, followers=5_000)  # a small account: never watched
    report = _run(listener, reader, clock, 0)
    assert (report.stored, report.watched, report.escalated) == (3, 2, 0) and reader.lookups == []

    report = _run(listener, reader, clock)
    assert sorted(reader.lookups[0]) == ["p-quiet", "p-viral"] and report.escalated == 0
    reader.grow("p-viral", 5_000)
    report = _run(listener, reader, clock)
    assert (report.status, report.escalated, report.watch_failed) == ("ok", 1, 0)
    assert posts.marked == [(f"{platform}#p-viral", ("harbor",), clock.now)]
    assert [e.split(" ")[0] for e in _entries(state, reader)] == ["p-quiet"]
    for _ in range(3):
        _run(listener, reader, clock)
    assert len(posts.marked) == 1 and reader.lookups[-1] == ["p-quiet"], "marked once; the quiet one read every run"


def test_bluesky_entries_keep_the_followers_read_at_storing_and_the_mark_uses_them() -> None:
    listener, reader, posts, state, clock = _world("bluesky")
    reader.add("at://did:plc:macro/app.bsky.feed.post/3l6oveex3ii2l", reposts=5)
    _run(listener, reader, clock, 0)
    [entry] = _entries(state, reader)
    assert entry.endswith(" 2000000") and Watched.decode(entry).followers == 2_000_000  # type: ignore[union-attr]
    reader.grow("at://did:plc:macro/app.bsky.feed.post/3l6oveex3ii2l", 5_000)
    assert _run(listener, reader, clock).escalated == 1, "getPosts gives no followers: the stored count decides"


def test_bluesky_entries_without_a_followers_count_are_read_but_never_marked() -> None:
    listener, reader, posts, state, clock = _world("bluesky")
    reader.add("p1", reposts=5_000)
    state.items[_pk(reader)] = {WATCH_FIELD: [Watched("p1", clock.now - timedelta(minutes=2), ("harbor",)).encode()],
                                "last_polled_at": (clock.now - timedelta(minutes=5)).isoformat()}
    reader.served.add("p1")
    report = _run(listener, reader, clock)
    assert reader.lookups == [["p1"]] and report.escalated == 0


def test_mastodon_entries_carry_no_followers_count_its_answer_gives_them() -> None:
    listener, reader, posts, state, clock = _world("mastodon", per_call=20, followers=True)
    reader.add("111", reposts=5)
    _run(listener, reader, clock, 0)
    [entry] = _entries(state, reader)
    assert len(entry.split(" ")) == 3
    reader.posts["111"] = reader.posts["111"].model_copy(update={"followers": 50_000, "reposts": 5_000})
    assert _run(listener, reader, clock).escalated == 0, "followers read again, now under the bar"


def test_one_lookup_per_per_call_ids_gone_posts_leave_and_unread_ones_stay() -> None:
    listener, reader, posts, state, clock = _world("mastodon", per_call=20, followers=True, watch_posts=100)
    for n in range(45):
        reader.add(str(1000 + n), reposts=1, age=timedelta(seconds=n))
    assert _run(listener, reader, clock, 0).watched == 45
    reader.deleted = {"1000", "1044"}
    reader.unread = {"1043"}
    _run(listener, reader, clock)
    assert [len(ids) for ids in reader.lookups] == [20, 20, 5]
    left = {e.split(" ")[0] for e in _entries(state, reader)}
    assert len(left) == 43 and not {"1000", "1044"} & left and "1043" in left


def test_the_cursor_the_adapter_gets_holds_none_of_the_watch_list() -> None:
    listener, reader, posts, state, clock = _world("bluesky")
    reader.add("p1", reposts=5)
    _run(listener, reader, clock, 0)
    state.items[_pk(reader)][WATCH_RESUME_FIELD] = (clock.now - timedelta(minutes=1)).isoformat()
    _run(listener, reader, clock)
    assert reader.cursors[-1] == {"mark": "1"}


def test_a_source_without_a_read_by_id_watches_nothing() -> None:
    listener, reader, posts, state, clock = _world("weibo", by_id=False)
    reader.add("1", reposts=5, text="港湾银行 Harbor Bank is insolvent, get your money out")
    report = _run(listener, reader, clock, 0)
    assert (report.stored, report.watched) == (1, 0) and WATCH_FIELD not in state.items[_pk(reader)]
    _run(listener, reader, clock)
    assert reader.lookups == []


def test_a_failing_lookup_never_stops_the_poll_and_a_rate_limit_waits_for_the_reset() -> None:
    listener, reader, posts, state, clock = _world("bluesky")
    reader.add("p1", reposts=5)
    _run(listener, reader, clock, 0)
    reader.errors = [TransientPlatformError("timed out", code="timeout")] * 3
    reader.add("p2", reposts=1, text="Harbor Bank queue at the branch")
    report = _run(listener, reader, clock)
    assert (report.status, report.stored, report.watch_failed, report.retries) == ("ok", 1, 1, 2)
    assert len(reader.lookups) == 3 and [e.split(" ")[0] for e in _entries(state, reader)] == ["p1"]

    reader.errors = [RateLimited("Bluesky getPosts 429", resume_at=clock.now + timedelta(minutes=4, seconds=30))]
    report = _run(listener, reader, clock)  # 12:02; the reset is at 12:05:30
    assert report.status == "ok" and report.watch_failed == 1 and "resume_at" not in state.items[_pk(reader)]
    asked = len(reader.lookups)
    for _ in range(3):  # 12:03 to 12:05
        _run(listener, reader, clock)
    assert len(reader.lookups) == asked, "no lookup before the reset"
    _run(listener, reader, clock)
    assert len(reader.lookups) == asked + 1 and WATCH_RESUME_FIELD not in state.items[_pk(reader)]


def test_a_refused_token_is_renewed_once_and_the_lookup_made_again() -> None:
    tokens = Renewer()
    listener, reader, posts, state, clock = _world("bluesky", tokens=tokens)
    reader.add("p1", reposts=5)
    _run(listener, reader, clock, 0)
    reader.errors = [TokenExpired("Bluesky getPosts 400 ExpiredToken", code="ExpiredToken")]
    reader.grow("p1", 5_000)
    report = _run(listener, reader, clock)
    assert (tokens.renewals, len(reader.lookups), report.escalated, report.watch_failed) == (1, 2, 1, 0)


def test_a_search_that_spends_the_budget_parks_the_source_and_its_list_waits() -> None:
    listener, reader, posts, state, clock = _world("mastodon", per_call=20, followers=True)
    reader.add("111", reposts=5)
    _run(listener, reader, clock, 0)
    reader.spent_until = clock.now + timedelta(minutes=5)
    reader.add("112", reposts=5, text=RUMOUR + " Again.")
    report = _run(listener, reader, clock)
    assert report.status == "rate_limited" and reader.lookups == []
    watched = read_entries(state.items[_pk(reader)][WATCH_FIELD])
    assert sorted(e.native_id for e in watched) == ["111", "112"], "the new post joined the list, nothing was read"


def test_a_post_two_sources_read_is_watched_once_by_the_source_that_stored_it() -> None:
    """Two Mastodon sources on one server hand back the same status (one post key): the second finds it
    stored, so only the first watches it and it is read again, and marked, once."""
    clock = Clock()
    tag, mentions = SOURCES["mastodon"], {**SOURCES["mastodon"], "id": "masto-mentions", "hashtag": "harborbank"}
    config = parse_watch_config({"topics": [{"id": "harbor", "names": ["Harbor Bank"]}], "sources": [tag, mentions]})
    readers = {source["id"]: FakeReader("mastodon", clock, per_call=20, followers=True) for source in (tag, mentions)}
    for reader in readers.values():
        reader.add("111", reposts=5)
    posts, state = FakePosts(), FakeState()
    listener = Listener(config, ingestor=Ingestor(TopicMatcher(config.topics), LexiconScorer(), posts, clock,
                                                  early_warning=config.detection.early_warning),
                        state=state, x_search=lambda: None, feeds=lambda: None,
                        open_source=lambda source: OpenedSource(readers[source.id]), clock=clock, attempts=3,  # type: ignore[arg-type]
                        base_delay=0, sleep=lambda s: None, run_id="run-1")
    reports = listener.poll("mastodon")
    assert [(r.stored, r.duplicates, r.watched) for r in reports] == [(1, 0, 1), (0, 1, 0)]
    watched = [entry for pk, item in state.items.items() for entry in read_entries(item.get(WATCH_FIELD))]
    assert [entry.native_id for entry in watched] == ["111"]
    clock.now += timedelta(minutes=1)
    for reader in readers.values():
        reader.grow("111", 5_000)
    reports = listener.poll("mastodon")
    assert [r.escalated for r in reports] == [1, 0] and len(posts.marked) == 1
    assert sum(len(reader.lookups) for reader in readers.values()) == 1
