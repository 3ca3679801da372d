"""What storing a page survives, with fakes: a post whose item is refused (counted, logged with its key and the
reason, the cursor moves), and a run stopped between a post's transaction and its inbox step (the step is
owed on the post and done at its next read, once)."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from crisiscomms.aws.post_store import FOLLOW_UP, INBOX_DUE, Refusal, StoreOutcome
from crisiscomms.inbox.opening import ConversationOpener
from crisiscomms.listening.polling import Ingestor, Listener, OpenedSource, RunReport
from crisiscomms.listening.topics import TopicMatcher
from crisiscomms.models import Post, ScoredPost
from crisiscomms.models.paging import SourcePage
from crisiscomms.scoring.engines import LexiconScorer
from crisiscomms.watch import parse_watch_config
from crisiscomms.watch.inbox import InboxSettings

from .test_listening_paged import FakeState

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
COMPLAINT = "@示例银行 港湾银行转账一直失败，你们什么时候修好？"
PLAIN = "港湾银行的新logo还挺好看"


class Killed(BaseException):
    """The Lambda stopped (timeout, memory): nothing after this point of the run happens."""


class Posts:
    """PostRepository as the inbox step relies on it: a page's posts committed together, then each settled;
    `inbox_due` kept with the post, returned by `known` with `follow_up`, dropped by `set_follow_up`."""

    def __init__(self, refuse: dict[str, Refusal] | None = None) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.refuse = refuse or {}

    def known(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        return {key: {f: v for f, v in self.items[key].items() if f in (FOLLOW_UP, INBOX_DUE)}
                for key in keys if key in self.items}

    def store_many(self, scored: list[ScoredPost], *, settled: Any = None,
                   refusals: dict[int, Refusal] | None = None) -> list[StoreOutcome]:
        outcomes = []
        for index, one in enumerate(scored):
            if one.post.key in self.refuse:
                if refusals is not None:
                    refusals[index] = self.refuse[one.post.key]
                outcomes.append(StoreOutcome.REFUSED)
            elif one.post.key in self.items:
                outcomes.append(StoreOutcome.DUPLICATE)
            else:
                self.items[one.post.key] = {INBOX_DUE: one.ingested_at.isoformat()} if one.inbox_due else {}
                outcomes.append(StoreOutcome.STORED)
        for index, outcome in enumerate(outcomes):  # the transaction committed; then each post's follow-up
            if settled is not None:
                settled(index, outcome)
        return outcomes

    def set_follow_up(self, post_key: str, follow_up: dict[str, Any] | None) -> bool:
        item = self.items.get(post_key)
        if item is None:
            return False
        item.pop(INBOX_DUE, None)
        item.pop(FOLLOW_UP, None)
        if follow_up is not None:
            item[FOLLOW_UP] = follow_up
        return True


class Inbox:
    """InboxRepository's conditional open (one conversation per post) and its read; `kill` stops the run on
    the first open, before its PutItem or after it."""

    def __init__(self, kill: str | None = None) -> None:
        self.conversations: dict[str, dict[str, Any]] = {}
        self.puts = 0
        self.kill = kill

    def open(self, item: dict[str, Any]) -> bool:
        if self.kill == "before":
            self.kill = None
            raise Killed
        self.puts += 1
        if item["post_key"] in self.conversations:
            return False
        self.conversations[item["post_key"]] = item
        if self.kill == "after":
            self.kill = None
            raise Killed
        return True

    def get(self, post_key: str) -> dict[str, Any] | None:
        return self.conversations.get(post_key)


class SamePage:
    """A source that hands back the same posts until its cursor moves past them (an offset cursor)."""

    def __init__(self, posts: list[Post]) -> None:
        self.posts = posts
        self.reads = 0

    def read(self, cursor: Mapping[str, Any]) -> SourcePage:
        self.reads += 1
        done = cursor.get("offset") == "done"
        return SourcePage(posts=[] if done else self.posts, cursor={"offset": "done"}, more=False)


def _posts(platform: str) -> list[Post]:
    texts = [COMPLAINT, COMPLAINT + " 第二次", PLAIN]
    return [Post(platform=platform, native_id=f"50{n}", source_type="social", source_id="s", url=f"u{n}", author=f"u{n}",
                 text=text, to_bank=text != PLAIN, published_at=NOW - timedelta(minutes=3)) for n, text in enumerate(texts)]


class World:
    def __init__(self, platform: str, *, kill: str | None = None, reads_again: bool = True) -> None:
        self.clock = NOW
        self.posts, self.inbox, self.state = Posts(), Inbox(kill), FakeState()
        self.opener = ConversationOpener(self.inbox.open, settings=InboxSettings, level_of=lambda topic: None,
                                         clock=lambda: self.clock, keep_follow_up=self.posts.set_follow_up,
                                         conversation=self.inbox.get, reads_again=lambda key: reads_again)
        self.reader = SamePage(_posts(platform))
        self.platform = platform

    def poll(self) -> RunReport:
        self.clock += timedelta(minutes=1)
        config = parse_watch_config({"topics": [{"id": "harbor", "names": ["港湾银行"]}],
                                     "sources": [{"id": "s", "platform": "weibo", "every_minutes": 1}]})
        ingestor = Ingestor(TopicMatcher(config.topics), LexiconScorer(), self.posts, lambda: self.clock,  # type: ignore[arg-type]
                            on_stored=self.opener, owes_step=self.opener.opens, on_due=self.opener.resume)
        listener = Listener(config, ingestor=ingestor, state=self.state, x_search=lambda: None, feeds=lambda: None,
                            open_source=lambda source: OpenedSource(self.reader), clock=lambda: self.clock,  # type: ignore[arg-type]
                            attempts=1, base_delay=0, sleep=lambda s: None, run_id="run")
        [report] = listener.poll("weibo")
        return report


@pytest.mark.parametrize("kill", ["before", "after"])
def test_a_run_stopped_before_the_inbox_step_leaves_it_owed_and_the_next_read_does_it_once(kill: str) -> None:
    world = World("weibo", kill=kill)
    with pytest.raises(Killed):
        world.poll()
    complaints = [p.key for p in world.reader.posts[:2]]
    assert all(INBOX_DUE in world.posts.items[key] for key in complaints), "owed, in the posts' own transaction"
    assert INBOX_DUE not in world.posts.items[world.reader.posts[2].key], "a post that opens nothing owes nothing"
    assert len(world.inbox.conversations) == (1 if kill == "after" else 0)
    assert world.state.items["source#weibo#s"].get("offset") is None, "the cursor did not move"

    report = world.poll()  # the same page again
    assert (report.status, report.stored, report.duplicates, report.resumed) == ("ok", 0, 3, 2)
    assert report.followed_up == (1 if kill == "after" else 2), "opened now, not before"
    assert sorted(world.inbox.conversations) == sorted(complaints), "one conversation per post"
    for key in complaints:
        assert INBOX_DUE not in world.posts.items[key] and world.posts.items[key][FOLLOW_UP]["kind"] == "question"

    puts = world.inbox.puts
    world.reader.posts = _posts("weibo")  # read once more (a source that reads its posts again)
    world.state.items["source#weibo#s"].pop("offset")
    report = world.poll()
    assert (report.resumed, world.inbox.puts) == (0, puts), "nothing owed any more: no request"


def test_without_a_stop_the_step_is_done_once_and_nothing_is_owed() -> None:
    world = World("weibo")
    report = world.poll()
    assert (report.stored, report.followed_up, report.resumed) == (3, 2, 0)
    assert not any(INBOX_DUE in item for item in world.posts.items.values())


def test_on_a_source_that_never_reads_a_post_again_the_mark_stays_until_a_read_after_a_stop_clears_it() -> None:
    world = World("x", reads_again=False)
    report = world.poll()
    assert report.followed_up == 2 and world.inbox.puts == 2
    complaints = [p.key for p in world.reader.posts[:2]]
    assert all(world.posts.items[key] == {INBOX_DUE: (NOW + timedelta(minutes=1)).isoformat()} for key in complaints), \
        "no follow-up write for a post nothing reads again"

    world.state.items["source#weibo#s"].pop("offset")  # as after a stopped run: the page comes again
    report = world.poll()
    assert (report.resumed, report.followed_up, world.inbox.puts, len(world.inbox.conversations)) == (2, 0, 4, 2)
    assert all(world.posts.items[key] == {} for key in complaints), "the mark goes; no follow-up"


def test_resuming_a_post_whose_conversation_was_closed_meanwhile_only_drops_the_mark() -> None:
    world = World("weibo", kill="after")
    with pytest.raises(Killed):
        world.poll()
    [key] = world.inbox.conversations
    world.inbox.conversations[key]["state"] = "CLOSED"
    world.poll()
    assert world.posts.items[key] == {}, "no follow-up for a conversation no longer open, and no mark"
    assert world.inbox.conversations[key]["state"] == "CLOSED"


def test_a_refused_post_is_counted_and_logged_with_its_key_and_reason_and_the_cursor_moves(caplog: Any) -> None:
    world = World("weibo")
    bad = world.reader.posts[1].key
    world.posts.refuse = {bad: Refusal("ValidationException", "Item size has exceeded the maximum allowed size")}
    with caplog.at_level("ERROR"):
        report = world.poll()
    assert (report.status, report.stored, report.refused) == ("ok", 2, 1)
    assert world.state.items["source#weibo#s"]["offset"] == "done", "the page's cursor moved"
    [record] = [r for r in caplog.records if r.getMessage() == "post not stored: its item was refused"]
    assert (record.post_key, record.error_code, record.source) == (bad, "ValidationException", "weibo:s")
    assert record.reason == "Item size has exceeded the maximum allowed size"
