"""The early-warning watch list: which posts are watched, its bounds, and the X run that reads them again."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from crisiscomms.adapters.sources.x_search import LookupResult, SearchPage
from crisiscomms.aws.post_store import StoreOutcome
from crisiscomms.errors import PermanentPlatformError, RateLimited, TransientPlatformError
from crisiscomms.listening.polling import Ingestor, Listener, RunReport
from crisiscomms.listening.topics import TopicMatcher
from crisiscomms.listening.watchlist import WATCH_FIELD, WATCH_RESUME_FIELD, Watched, kept, read_entries, watchable
from crisiscomms.models import Post, ScoredPost
from crisiscomms.scoring.engines import LexiconScorer
from crisiscomms.watch import EarlyWarning, parse_watch_config

from .test_listening_paged import FakeState

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
BARS = EarlyWarning()
RUMOUR = "BREAKING: Harbor Bank is insolvent. Get your money out while you still can."


def _scored(**changes: Any) -> ScoredPost:
    post = {"followers": 2_000_000, "published_at": NOW - timedelta(minutes=2), **changes.pop("post", {})}
    values = {"topics": ("harbor",), "language": "en", "sentiment": -0.8, "sentiment_label": "negative",
              "crisis_terms": ("insolvent",), "crisis_categories": ("solvency",), "crisis_weight": 3.0,
              "is_crisis": True, "risk": 90, "ingested_at": NOW, **changes}
    return ScoredPost(post=Post(platform="x", native_id="1", source_type="social", source_id="x", url="u", author="a",
                                text=RUMOUR, **post), **values)


def test_only_recent_high_reach_crisis_posts_about_a_topic_not_yet_marked_are_watched() -> None:
    assert watchable(_scored(), NOW, BARS)
    assert watchable(_scored(post={"followers": BARS.followers}), NOW, BARS), "at the bar counts"
    for why, scored in {
        "not crisis": _scored(is_crisis=False),
        "marked already": _scored(early_warning=True),
        "small audience": _scored(post={"followers": BARS.followers - 1}),
        "about no topic": _scored(topics=(), related=False, unrelated_topics=("harbor",)),
        "too old": _scored(post={"published_at": NOW - timedelta(minutes=BARS.watch_minutes)}),
    }.items():
        assert not watchable(scored, NOW, BARS), why
    assert not watchable(_scored(), NOW, EarlyWarning(watch_minutes=0)), "0 turns watching off"


def test_entries_round_trip_and_anything_else_in_the_field_is_dropped() -> None:
    entry = Watched("1861234567890123458", datetime(2026, 11, 28, 11, 58, 3, tzinfo=timezone.utc), ("harbor", "north-gate"))
    assert Watched.decode(entry.encode()) == entry
    assert read_entries([entry.encode(), "garbage", "1 x harbor", "", 7]) == [entry]
    assert read_entries(None) == []


def test_the_list_is_pruned_by_age_kept_to_the_newest_and_holds_each_post_once() -> None:
    bars = EarlyWarning(watch_minutes=60, watch_posts=100)
    entries = [Watched(str(n), NOW - timedelta(seconds=30 * n), ("harbor",)) for n in range(150)]
    left = kept(entries + entries[:10], NOW, bars)
    assert [e.native_id for e in left] == [str(n) for n in range(100)], "the newest 100, newest first"
    left = kept(entries, NOW + timedelta(minutes=30), bars)
    assert {e.native_id for e in left} == {str(n) for n in range(60)}, "published more than 60 minutes ago: gone"
    assert kept(entries, NOW + timedelta(hours=2), bars) == []


# --- the X run: search, then the watched posts read again ------------------------------------------------

class FakePosts:
    """Stores and marks as PostRepository does: a post once, its mark once (the condition)."""

    def __init__(self) -> None:
        self.stored: dict[str, ScoredPost] = {}
        self.marked: list[tuple[str, tuple[str, ...], datetime]] = []

    def known(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        return {key: {} for key in keys if key in self.stored}

    def store_many(self, scored: list[ScoredPost], *, settled: Any = None, refusals: Any = None) -> list[StoreOutcome]:
        outcomes = []
        for index, one in enumerate(scored):
            outcome = StoreOutcome.DUPLICATE if one.post.key in self.stored else StoreOutcome.STORED
            self.stored.setdefault(one.post.key, one)
            outcomes.append(outcome)
            if settled is not None:
                settled(index, outcome)
        return outcomes

    def escalate_early_warning(self, post_key: str, topics: Any, source_type: str, at: datetime) -> bool:
        if any(key == post_key for key, _, _ in self.marked) or self.stored[post_key].early_warning:
            return False
        self.marked.append((post_key, tuple(topics), at))
        return True


class FakeX:
    """Recent search (each post once, as since_id gives it) and lookup by id, with growth and failures."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.posts: dict[str, Post] = {}
        self.served: set[str] = set()
        self.lookups: list[list[str]] = []
        self.lookup_errors: list[Exception] = []
        self.deleted: set[str] = set()

    def add(self, native_id: str, *, reposts: int, followers: int = 2_000_000, age: timedelta = timedelta(minutes=2),
            text: str = RUMOUR) -> None:
        self.posts[native_id] = Post(platform="x", native_id=native_id, source_type="social", source_id="x-main",
                                     url="u", author="macro", followers=followers, text=text, reposts=reposts,
                                     published_at=self.clock() - age)

    def grow(self, native_id: str, reposts: int) -> None:
        self.posts[native_id] = self.posts[native_id].model_copy(update={"reposts": reposts})

    def search(self, query: str, **_: Any) -> SearchPage:
        fresh = [p for key, p in self.posts.items() if key not in self.served]
        self.served.update(p.native_id for p in fresh)
        return SearchPage(posts=fresh)

    def lookup(self, ids: list[str], *, source_id: str) -> LookupResult:
        self.lookups.append(list(ids))
        if self.lookup_errors:
            raise self.lookup_errors.pop(0)
        return LookupResult(posts=[self.posts[i] for i in ids if i in self.posts and i not in self.deleted],
                            missing={i for i in ids if i in self.deleted})


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def _world(**early: Any) -> tuple[Listener, FakeX, FakePosts, FakeState, Clock]:
    clock = Clock()
    config = parse_watch_config({"topics": [{"id": "harbor", "names": ["Harbor Bank"]}],
                                 "sources": [{"id": "x-main", "platform": "x"}],
                                 "detection": {"early_warning": early}})
    x, posts, state = FakeX(clock), FakePosts(), FakeState()
    ingestor = Ingestor(TopicMatcher(config.topics), LexiconScorer(), posts, clock,
                        early_warning=config.detection.early_warning)
    listener = Listener(config, ingestor=ingestor, state=state, x_search=lambda: x, feeds=lambda: None, clock=clock,
                        attempts=3, base_delay=0, sleep=lambda s: None, run_id="run-1")
    return listener, x, posts, state, clock


def _run(listener: Listener, clock: Clock, minutes: int = 1) -> RunReport:
    clock.now += timedelta(minutes=minutes)
    [report] = listener.poll("x")
    return report


def _watched(state: FakeState) -> list[str]:
    return [entry.native_id for entry in read_entries(state.items["source#x#x-main"].get(WATCH_FIELD))]


def test_a_post_read_early_with_little_engagement_is_marked_once_when_it_grows_and_leaves_the_list() -> None:
    listener, x, posts, state, clock = _world()
    x.add("100", reposts=5)
    x.add("101", reposts=5, followers=5_000)  # a small account: never watched
    x.add("102", reposts=5, text="Harbor Bank opening hours on Saturday?")  # no crisis terms: never watched
    report = _run(listener, clock, 0)
    assert (report.stored, report.watched, report.escalated) == (3, 1, 0)
    assert _watched(state) == ["100"] and x.lookups == [], "nothing to read again in the run that stored it"

    report = _run(listener, clock)
    assert x.lookups == [["100"]] and report.escalated == 0 and _watched(state) == ["100"], "5 in 3 minutes: below"

    x.grow("100", reposts=5_000)
    report = _run(listener, clock)
    assert report.escalated == 1 and report.status == "ok"
    [(key, topics, at)] = posts.marked
    assert (key, topics, at) == ("x#100", ("harbor",), clock.now)
    assert WATCH_FIELD not in state.items["source#x#x-main"], "the emptied list is removed from the state item"

    _run(listener, clock)
    assert len(x.lookups) == 2 and len(posts.marked) == 1, "left the list: neither read nor counted again"


def test_a_run_that_finds_the_post_marked_already_drops_it_without_counting() -> None:
    listener, x, posts, state, clock = _world()
    x.add("100", reposts=5)
    _run(listener, clock, 0)
    x.grow("100", reposts=5_000)
    posts.marked.append(("x#100", ("harbor",), clock.now))  # an earlier run marked it, then died before saving
    report = _run(listener, clock)
    assert report.escalated == 0 and len(posts.marked) == 1 and _watched(state) == []


def test_one_lookup_per_hundred_ids_and_posts_gone_from_x_leave_the_list() -> None:
    listener, x, posts, state, clock = _world(watch_posts=250)
    for n in range(230):
        x.add(str(1000 + n), reposts=1, age=timedelta(seconds=n))
    assert _run(listener, clock, 0).watched == 230
    x.deleted = {"1000", "1229"}
    _run(listener, clock)
    assert [len(ids) for ids in x.lookups] == [100, 100, 30]
    assert len(_watched(state)) == 228 and not {"1000", "1229"} & set(_watched(state))


def test_a_failing_lookup_never_stops_the_poll_and_the_list_waits_for_the_next_run() -> None:
    listener, x, posts, state, clock = _world()
    x.add("100", reposts=5)
    _run(listener, clock, 0)
    x.lookup_errors = [TransientPlatformError("timed out", code="timeout")] * 3
    x.add("200", reposts=1, text="Harbor Bank queue at the branch")
    report = _run(listener, clock)
    assert (report.status, report.stored, report.watch_failed, report.retries) == ("ok", 1, 1, 2)
    assert len(x.lookups) == 3, "bounded retries, as the other X calls"
    assert _watched(state) == ["100"] and state.items["source#x#x-main"]["since_id"] == "200"

    x.lookup_errors = [PermanentPlatformError("X 403: forbidden", status=403)]
    assert _run(listener, clock).status == "ok" and _watched(state) == ["100"]


def test_a_rate_limited_lookup_waits_for_the_reset_without_parking_the_search() -> None:
    listener, x, posts, state, clock = _world()
    x.add("100", reposts=5)
    _run(listener, clock, 0)
    x.lookup_errors = [RateLimited("X rate limit", resume_at=clock.now + timedelta(minutes=5, seconds=30))]
    report = _run(listener, clock)  # 12:01, X resets at 12:05:30
    assert report.status == "ok" and report.watch_failed == 1
    assert "resume_at" not in state.items["source#x#x-main"], "the search is not parked"
    asked = len(x.lookups)
    for _ in range(4):  # 12:02 to 12:05
        assert _run(listener, clock).status == "ok"
    assert len(x.lookups) == asked, "no lookup before X's reset"
    _run(listener, clock)
    assert len(x.lookups) == asked + 1 and WATCH_RESUME_FIELD not in state.items["source#x#x-main"]


def test_posts_stored_before_a_failing_search_page_stay_watched() -> None:
    listener, x, posts, state, clock = _world()
    x.add("100", reposts=5)
    real = x.search

    def fails_after_storing(query: str, **kwargs: Any) -> SearchPage:
        page = real(query, **kwargs)
        page.next_token = "more"  # a second page follows, and fails
        x.search = lambda *a, **k: (_ for _ in ()).throw(PermanentPlatformError("X 400", status=400))
        return page

    x.search = fails_after_storing
    report = _run(listener, clock, 0)
    assert report.status == "failed" and report.stored == 1
    assert _watched(state) == ["100"]


@pytest.mark.parametrize("reposts, marked", [(29, False), (30, True)])
def test_the_mark_uses_the_bar_of_storing_engagement_per_minute_since_publication(reposts: int, marked: bool) -> None:
    clock = Clock()
    posts = FakePosts()
    ingestor = Ingestor(TopicMatcher(parse_watch_config({"topics": [{"id": "harbor", "names": ["Harbor Bank"]}]}).topics),
                        LexiconScorer(), posts, clock, early_warning=BARS)
    post = Post(platform="x", native_id="1", source_type="social", source_id="x", url="u", author="a", text=RUMOUR,
                followers=2_000_000, reposts=reposts, published_at=NOW - timedelta(minutes=3))
    posts.stored[post.key] = _scored()
    report = RunReport()
    assert ingestor.escalate(post, ("harbor",), report) is marked
    assert report.escalated == int(marked) and len(posts.marked) == int(marked)


# --- what the Detector makes of a mark ----------------------------------------------------------------------

def test_a_mark_counts_in_the_recent_window_from_the_next_run_and_raises_warning_without_volume() -> None:
    """The mark's arrivals record (lag 0, early_warning 1, no post) rolled into a quiet day's state, as the
    Detector rolls what it reads: WARNING from the run after the mark's minute, while its minute is in the
    window, with posts and the baseline untouched."""
    from crisiscomms.detection.levels import Level, Thresholds, minute_key, open_from, raw_level, rebuilt, roll, \
        rolling_signals, with_open

    from .test_detection import DAY1, background

    th = Thresholds()
    marked = DAY1 + timedelta(hours=9, minutes=3, seconds=20)
    history = background(24 * 60 + 9 * 60)
    state = rebuilt(history, {}, marked.replace(second=0), th)
    record = {"arrived": minute_key(marked), "minute": minute_key(marked), "source_type": "social",
              **dict.fromkeys(("posts", "negative", "sentiment_sum", "engagement", "reach", "crisis_posts",
                               "crisis_weight_sum", "high_reach_negative"), 0), "early_warning": 1}
    seen = []
    for after in range(0, th.recent_minutes + 2):
        now = marked.replace(second=5) + timedelta(minutes=after)
        read = [r for r in [record] if r["arrived"] >= open_from(state.minute)]  # what the Detector's Query returns
        state = roll(state, read, now)
        current = with_open(state, read)
        social = rolling_signals(current, now, th, "social")
        level, _ = raw_level(social, rolling_signals(current, now, th, "news"), th)
        seen.append((after, social.early_warning, level))
        without = rolling_signals(roll(rebuilt(history, {}, now, th), [], now), now, th, "social")
        assert social.posts == without.posts and social.baseline_centre == without.baseline_centre
    assert seen[0][1:] == (0, Level.NORMAL), "its own minute is not judged yet"
    assert all(ew == 1 and level is Level.WARNING for _, ew, level in seen[1:th.recent_minutes + 1])
    assert seen[-1][1] == 0, "out of the window W minutes later"
