"""A conversation's priority follows its post's engagement growth: the growth part of the formula, when a
re-read is material, one conditional update per conversation per poll, nothing for posts without a
conversation, and the Ingestor handing re-read posts over from the one lookup it makes anyway."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crisiscomms.aws.post_store import StoreOutcome
from crisiscomms.errors import ConfigurationError
from crisiscomms.inbox.growth import EngagementFollowUp, follow_up_of, grew_materially, regrowth
from crisiscomms.inbox.opening import ConversationOpener
from crisiscomms.inbox.triage import KINDS, MAX_PRIORITY, growth_per_minute, priority
from crisiscomms.listening.polling import Ingestor, RunReport
from crisiscomms.listening.topics import TopicMatcher
from crisiscomms.models import Post, ScoredPost
from crisiscomms.scoring.engines import LexiconScorer
from crisiscomms.watch import parse_watch_config
from crisiscomms.watch.inbox import EngagementGrowth, InboxSettings
from tests.unit.fakes import StoresEach

POSTED = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
OPENED = POSTED + timedelta(minutes=1)
DEFAULTS = InboxSettings()


def _post(native_id: str = "5031", *, likes: int = 0, reposts: int = 0, replies: int = 0, followers: int = 800,
          text: str = "@HarborBank 港湾银行转账一直失败，太差了") -> Post:
    return Post(platform="weibo", native_id=native_id, source_type="social", source_id="s",
                url=f"https://weibo.com/1/{native_id}", author="li_wei", followers=followers, likes=likes,
                reposts=reposts, replies=replies, text=text, published_at=POSTED, to_bank=True)


def _follow_up(engagement: int = 4, *, priority_: int | None = None, kind: str = "complaint", risk: int = 30,
               followers: int = 800) -> dict[str, Any]:
    p = priority_ if priority_ is not None else priority(risk=risk, followers=followers, engagement=engagement, kind=kind)
    return {"kind": kind, "risk": risk, "followers": followers, "created_at": "2026-11-28T09:00:00Z",
            "opened_at": "2026-11-28T09:01:00Z", "opened_engagement": engagement, "engagement": engagement,
            "priority": p}


# --- the formula ---------------------------------------------------------------------------------------

@given(st.integers(0, 100), st.integers(0, 10**9), st.integers(0, 10**8), st.sampled_from(KINDS),
       st.floats(0, 10**6), st.floats(0, 10**6))
def test_priority_never_falls_when_growth_rises_and_stays_within_bounds(risk: int, followers: int, engagement: int,
                                                                         kind: str, g1: float, g2: float) -> None:
    low = priority(risk=risk, followers=followers, engagement=engagement, kind=kind, growth_per_minute=min(g1, g2))
    high = priority(risk=risk, followers=followers, engagement=engagement, kind=kind, growth_per_minute=max(g1, g2))
    assert 0 <= low <= high <= MAX_PRIORITY


def test_the_growth_part_is_50_log10_of_one_plus_the_rate_capped_at_100() -> None:
    base = priority(risk=10, followers=9, engagement=9, kind="complaint")
    assert base == priority(risk=10, followers=9, engagement=9, kind="complaint", growth_per_minute=0)
    assert priority(risk=10, followers=9, engagement=9, kind="complaint", growth_per_minute=9) == base + 50
    assert priority(risk=10, followers=9, engagement=9, kind="complaint", growth_per_minute=99) == base + 100
    assert priority(risk=10, followers=9, engagement=9, kind="complaint", growth_per_minute=10**6) == base + 100


def test_growth_is_engagement_gained_per_minute_since_the_conversation_opened() -> None:
    assert growth_per_minute(10, 310, OPENED, OPENED + timedelta(minutes=10)) == 30.0
    assert growth_per_minute(10, 70, OPENED, OPENED + timedelta(seconds=5)) == 60.0, "the first minute counts whole"
    assert growth_per_minute(10, 4, OPENED, OPENED + timedelta(minutes=10)) == 0.0, "a fall is no growth"


# --- materiality ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("last", "now", "material"), [
    (10, 14, False), (10, 15, True), (0, 1, True), (10, 10, False), (10, 9, False),
    (2000, 2499, False), (2000, 2500, True), (1000, 1500, True),
])
def test_growth_is_material_at_the_ratio_or_the_absolute_step(last: int, now: int, material: bool) -> None:
    assert grew_materially(last, now, EngagementGrowth(ratio=1.5, absolute=500)) is material


def test_the_thresholds_come_from_the_watch_configuration_and_bad_ones_are_refused() -> None:
    topics = [{"id": "harbor", "names": ["Harbor Bank"]}]
    config = parse_watch_config({"topics": topics, "inbox": {"growth": {"ratio": 2, "absolute": 50}}})
    assert config.inbox.growth == EngagementGrowth(ratio=2.0, absolute=50)
    assert DEFAULTS.growth == EngagementGrowth(ratio=1.5, absolute=500)
    for bad, field in (({"ratio": 1.0}, "inbox.growth.ratio"), ({"absolute": 0}, "inbox.growth.absolute"),
                       ({"every": 3}, "inbox.growth.every")):
        with pytest.raises(ConfigurationError, match=field.replace(".", r"\.")):
            parse_watch_config({"topics": topics, "inbox": {"growth": bad}})


def test_a_material_regrowth_raises_the_priority_with_engagement_reach_and_growth() -> None:
    follow_up = _follow_up(4)
    now = OPENED + timedelta(minutes=10)
    change = regrowth(follow_up, _post(likes=200, reposts=100, replies=4, followers=5000), now, DEFAULTS.growth)
    assert change is not None
    assert (change.engagement, change.followers, change.growth_per_minute) == (304, 5000, 30.0)
    assert change.priority == priority(risk=30, followers=5000, engagement=304, kind="complaint", growth_per_minute=30.0)
    assert change.priority > follow_up["priority"]
    assert change.follow_up == {**follow_up, "engagement": 304, "followers": 5000, "priority": change.priority}
    assert change.follow_up["opened_engagement"] == 4, "growth is counted from the opening"
    assert regrowth(follow_up, _post(likes=5), now, DEFAULTS.growth) is None, "4 -> 5 is not material"


def test_a_regrowth_never_lowers_the_priority_last_written() -> None:
    follow_up = _follow_up(100, priority_=990)
    change = regrowth(follow_up, _post(likes=160), OPENED + timedelta(hours=5), DEFAULTS.growth)
    assert change is not None and change.priority == 990
    assert priority(risk=30, followers=800, engagement=160, kind="complaint", growth_per_minute=0.2) < 990


# --- one poll's follow-up -----------------------------------------------------------------------------

class Recorder:
    def __init__(self, outcome: str = "raised", fail: bool = False) -> None:
        self.raised: list[tuple[str, dict[str, Any]]] = []
        self.kept: list[tuple[str, dict[str, Any] | None]] = []
        self.outcome, self.fail = outcome, fail

    def raise_priority(self, post_key: str, **kwargs: Any) -> str:
        if self.fail:
            raise ConnectionError("lost the connection to DynamoDB")
        self.raised.append((post_key, kwargs))
        return self.outcome

    def set_follow_up(self, post_key: str, follow_up: dict[str, Any] | None) -> bool:
        self.kept.append((post_key, follow_up))
        return True


def _follower(recorder: Recorder, now: datetime = OPENED + timedelta(minutes=10)) -> EngagementFollowUp:
    return EngagementFollowUp(recorder.raise_priority, recorder.set_follow_up, settings=lambda: DEFAULTS, clock=lambda: now)


def test_a_grown_post_raises_its_conversation_once_per_poll_and_moves_its_follow_up() -> None:
    recorder = Recorder()
    follow = _follower(recorder)
    stored = {"follow_up": _follow_up(4)}
    grown = _post(likes=300)
    assert follow([(grown, stored)]) == 1
    assert follow([(_post(likes=3000), stored)]) == 0, "a second page of the same poll writes it no more"
    [(key, written)] = recorder.raised
    assert key == "weibo#5031" and written["engagement"] == 300 and written["created_at"] == "2026-11-28T09:00:00Z"
    assert written["fields"] == {"followers": 800, "growth_per_minute": 29.6, "engagement_updated_at": "2026-11-28T09:11:00Z"}
    assert recorder.kept == [("weibo#5031", {**stored["follow_up"], "engagement": 300, "priority": written["priority"]})]
    next_poll = _follower(recorder)
    assert next_poll([(_post(likes=3000), {"follow_up": recorder.kept[-1][1]})]) == 1, "the next poll may write again"


def test_posts_without_a_follow_up_or_without_material_growth_cost_no_write() -> None:
    recorder = Recorder()
    follow = _follower(recorder)
    assert follow([(_post("1", likes=900), {}), (_post("2", likes=5), {"follow_up": _follow_up(4)}),
                   (_post("3", likes=4), {"follow_up": _follow_up(4)})]) == 0
    assert recorder.raised == [] and recorder.kept == []


def test_a_conversation_no_longer_open_drops_the_follow_up_and_one_already_higher_keeps_the_new_one() -> None:
    closed = Recorder(outcome="not_open")
    assert _follower(closed)([(_post(likes=300), {"follow_up": _follow_up(4)})]) == 0
    assert closed.kept == [("weibo#5031", None)], "no later re-read of it writes anything"
    raced = Recorder(outcome="not_higher")
    assert _follower(raced)([(_post(likes=300), {"follow_up": _follow_up(4)})]) == 0
    assert raced.kept[0][1]["engagement"] == 300


def test_a_failure_is_counted_never_raised_and_the_other_posts_go_on() -> None:
    recorder = Recorder(fail=True)
    follow = _follower(recorder)
    assert follow([(_post("1", likes=300), {"follow_up": _follow_up(4)}),
                   (_post("2", likes=300), {"follow_up": _follow_up(4)})]) == 0
    assert recorder.kept == []


def test_the_opener_keeps_the_follow_up_of_a_conversation_it_opened_only() -> None:
    kept: list[tuple[str, dict[str, Any]]] = []
    opened: list[dict[str, Any]] = []
    post = _post(likes=3, replies=1)
    score = LexiconScorer().score([post])[0]
    scored = ScoredPost(post=post, topics=("harbor",), language=score.language, sentiment=score.sentiment,
                        sentiment_label=score.sentiment_label, crisis_terms=(), crisis_categories=(), crisis_weight=0.0,
                        is_crisis=False, risk=score.risk, ingested_at=OPENED)
    opener = ConversationOpener(lambda item: opened.append(item) or True, settings=lambda: DEFAULTS,
                                level_of=lambda topic: None, clock=lambda: OPENED,
                                keep_follow_up=lambda key, follow_up: kept.append((key, follow_up)))
    assert opener([scored]) == 1
    [item] = opened
    assert kept == [("weibo#5031", follow_up_of(item))]
    assert kept[0][1] == {"kind": item["kind"], "risk": item["risk"], "followers": 800, "created_at": item["created_at"],
                          "opened_at": "2026-11-28T09:01:00Z", "opened_engagement": 4, "engagement": 4,
                          "priority": item["priority"]}
    refused = ConversationOpener(lambda item: False, settings=lambda: DEFAULTS, level_of=lambda topic: None,
                                 clock=lambda: OPENED, keep_follow_up=lambda key, follow_up: kept.append((key, follow_up)))
    assert refused([scored]) == 0 and len(kept) == 1, "an already open conversation keeps the follow-up it has"


# --- the Ingestor hands re-read posts over from the lookup it makes anyway --------------------------------

class Posts(StoresEach):
    """Stored posts with their `follow_up`, as PostRepository.known returns them."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.lookups = 0

    def known(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        self.lookups += 1
        return {k: dict(self.items[k]) for k in keys if k in self.items}

    def store(self, scored: ScoredPost) -> StoreOutcome:
        if scored.post.key in self.items:
            return StoreOutcome.DUPLICATE
        self.items[scored.post.key] = {}
        return StoreOutcome.STORED



def test_the_ingestor_passes_only_re_read_posts_with_a_follow_up_and_counts_what_was_raised() -> None:
    posts = Posts()
    seen: list[list[tuple[Post, Mapping[str, Any]]]] = []

    def on_seen_again(pairs: list[tuple[Post, Mapping[str, Any]]]) -> int:
        seen.append(pairs)
        return len(pairs)

    ingestor = Ingestor(TopicMatcher(parse_watch_config({"topics": [{"id": "harbor", "names": ["港湾银行"]}]}).topics),
                        LexiconScorer(), posts, lambda: OPENED, on_seen_again=on_seen_again)  # type: ignore[arg-type]
    first = RunReport(source="weibo:s")
    ingestor.ingest([_post("1"), _post("2"), _post("3")], first)
    assert (first.stored, first.regrown, seen) == (3, 0, []), "new posts are stored, never followed up"
    posts.items["weibo#2"] = {"follow_up": _follow_up(4)}
    again = RunReport(source="weibo:s")
    ingestor.ingest([_post("1", likes=50), _post("2", likes=50), _post("3", likes=50), _post("4")], again)
    assert (again.stored, again.duplicates, again.regrown) == (1, 3, 1)
    [[(post, stored)]] = seen
    assert post.key == "weibo#2" and post.likes == 50 and stored == {"follow_up": _follow_up(4)}
    assert posts.lookups == 2, "one lookup a page, as before: the follow-up rides on it"
