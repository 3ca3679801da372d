"""The listening loop every non-X platform shares, and token renewal under a lease, with fakes."""
from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from crisiscomms.aws.post_store import StoreOutcome
from crisiscomms.aws.source_state import LeaseHeld
from crisiscomms.errors import ReauthorisationNeeded, TokenExpired, TransientPlatformError
from crisiscomms.listening.polling import Ingestor, Listener, OpenedSource
from crisiscomms.listening.tokens import TokenKeeper, token_lease_key
from crisiscomms.listening.topics import TopicMatcher
from crisiscomms.models import Post
from crisiscomms.models.paging import SourcePage
from crisiscomms.scoring.engines import LexiconScorer
from crisiscomms.watch import parse_watch_config
from tests.unit.fakes import StoresEach

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


class FakeState:
    """The state table's lease and fields, with the same conditional semantics."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.saves: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def acquire(self, pk: str, *, owner: str, now: datetime, until: datetime) -> dict[str, Any]:
        with self._lock:
            item = self.items.setdefault(pk, {})
            held_until = item.get("lease_until")
            if held_until and held_until >= now.isoformat() and item.get("lease_owner") != owner:
                raise LeaseHeld(pk)
            item.update(lease_owner=owner, lease_until=until.isoformat())
            return {k: v for k, v in item.items() if k not in ("lease_owner", "lease_until")}

    def save(self, pk: str, *, owner: str, set_fields: dict[str, Any], remove: tuple[str, ...] = (),
             release: bool = False) -> None:
        with self._lock:
            item = self.items.setdefault(pk, {})
            assert item.get("lease_owner") == owner, "saved without holding the lease"
            self.saves.append((pk, dict(set_fields)))
            for key, value in set_fields.items():
                if value is None:
                    item.pop(key, None)
                else:
                    item[key] = value
            if release:
                item.pop("lease_owner", None)
                item.pop("lease_until", None)


class FakePosts(StoresEach):
    def __init__(self, fail_after: int | None = None) -> None:
        self.keys: list[str] = []
        self.lookups = 0
        self._fail_after = fail_after

    def known(self, keys: list[str]) -> set[str]:
        self.lookups += 1
        return set(keys) & set(self.keys)

    def store(self, scored: Any) -> StoreOutcome:
        if self._fail_after is not None and len(self.keys) >= self._fail_after:
            raise RuntimeError("crash while storing")
        if scored.post.key in self.keys:
            return StoreOutcome.DUPLICATE
        self.keys.append(scored.post.key)
        return StoreOutcome.STORED



def _post(n: int) -> Post:
    return Post(platform="weibo", native_id=str(n), source_type="social", source_id="w", url=f"https://weibo.com/{n}",
                author=f"u{n}", text=f"港湾银行 排队 {n}", published_at=NOW - timedelta(minutes=1))


class PagedFake:
    """A platform of `total` items read `size` at a time from an offset cursor."""

    def __init__(self, total: int, size: int, *, errors: list[Exception] | None = None, repeat_last: bool = False) -> None:
        self.total, self.size = total, size
        self.errors = list(errors or [])
        self.cursors: list[dict[str, Any]] = []
        self.repeat_last = repeat_last

    def read(self, cursor: Mapping[str, Any]) -> SourcePage:
        self.cursors.append(dict(cursor))
        if self.errors:
            raise self.errors.pop(0)
        start = int(cursor.get("offset", 0))
        if self.repeat_last and start:
            start -= 1  # the platform repeats the last item of the page before: a duplicate across pages
        end = min(start + self.size, self.total)
        return SourcePage(posts=[_post(n) for n in range(start, end)], cursor={"offset": str(end)},
                          more=end < self.total)


def _listener(reader: Any, posts: FakePosts, state: FakeState, *, tokens: Any = None, max_pages: int = 10) -> Listener:
    config = parse_watch_config({
        "topics": [{"id": "harbor", "names": ["港湾银行"]}],
        "sources": [{"id": "w", "platform": "weibo", "max_pages_per_run": max_pages}],
    })
    return Listener(
        config, ingestor=Ingestor(TopicMatcher(config.topics), LexiconScorer(), posts, lambda: NOW), state=state,
        x_search=lambda: None, feeds=lambda: None, open_source=lambda source: OpenedSource(reader, tokens),
        clock=lambda: NOW, attempts=3, base_delay=0, sleep=lambda s: None, run_id="run-1")


def test_pages_until_the_platform_has_no_more_and_commits_each_cursor_after_storing() -> None:
    posts, state, reader = FakePosts(), FakeState(), PagedFake(total=45, size=20)
    [report] = _listener(reader, posts, state).poll("weibo")
    assert (report.status, report.pages, report.stored) == ("ok", 3, 45)
    cursor_saves = [fields["offset"] for pk, fields in state.saves if "offset" in fields]
    assert cursor_saves == ["20", "40", "45"]
    assert state.items["source#weibo#w"]["offset"] == "45"
    assert "lease_owner" not in state.items["source#weibo#w"]


def test_resumes_from_the_stored_cursor_and_a_crash_mid_page_loses_nothing() -> None:
    state, reader = FakeState(), PagedFake(total=45, size=20)
    crashing = FakePosts(fail_after=30)
    [report] = _listener(reader, crashing, state).poll("weibo")
    assert report.status == "failed"
    assert state.items["source#weibo#w"]["offset"] == "20"  # the page that crashed was not committed
    posts = FakePosts()
    posts.keys = list(crashing.keys)
    state.items["source#weibo#w"]["last_polled_at"] = (NOW - timedelta(minutes=5)).isoformat()
    [report] = _listener(reader, posts, state).poll("weibo")
    assert reader.cursors[-2] == {"offset": "20"}  # bookkeeping fields are not the adapter's cursor
    assert sorted(posts.keys, key=lambda k: int(k.split("#")[1])) == [f"weibo#{n}" for n in range(45)]
    assert report.duplicates == 10  # the crashed page's stored half is refused, not counted twice


def test_duplicates_across_pages_are_counted_not_stored_twice() -> None:
    posts, state = FakePosts(), FakeState()
    [report] = _listener(PagedFake(total=30, size=10, repeat_last=True), posts, state).poll("weibo")
    assert len(posts.keys) == len(set(posts.keys)) == 30
    assert report.duplicates == report.pages - 1


def test_page_limit_per_run_is_respected_and_the_rest_waits_for_the_next_run() -> None:
    posts, state, reader = FakePosts(), FakeState(), PagedFake(total=100, size=10)
    [report] = _listener(reader, posts, state, max_pages=3).poll("weibo")
    assert (report.pages, report.stored) == (3, 30)
    state.items["source#weibo#w"]["last_polled_at"] = (NOW - timedelta(minutes=5)).isoformat()
    [report] = _listener(reader, posts, state, max_pages=3).poll("weibo")
    assert reader.cursors[3]["offset"] == "30"


def test_transient_errors_are_retried_a_bounded_number_of_times() -> None:
    reader = PagedFake(total=5, size=10, errors=[TransientPlatformError("503")] * 2)
    [report] = _listener(reader, FakePosts(), FakeState()).poll("weibo")
    assert (report.status, report.retries, report.stored) == ("ok", 2, 5)
    reader = PagedFake(total=5, size=10, errors=[TransientPlatformError("503")] * 3)
    [report] = _listener(reader, FakePosts(), FakeState()).poll("weibo")
    assert report.status == "failed" and "503" in report.detail


def test_a_budget_spent_pauses_the_source_until_the_platform_reset() -> None:
    class Spent(PagedFake):
        def read(self, cursor: Mapping[str, Any]) -> SourcePage:
            page = super().read(cursor)
            page.resume_at = NOW + timedelta(minutes=7)
            return page

    state = FakeState()
    [report] = _listener(Spent(total=50, size=10), FakePosts(), state).poll("weibo")
    assert (report.status, report.stored) == ("rate_limited", 10)
    assert state.items["source#weibo#w"]["resume_at"] == (NOW + timedelta(minutes=7)).isoformat()
    [report] = _listener(Spent(total=50, size=10), FakePosts(), state).poll("weibo")
    assert report.status == "paused"


# --- tokens ----------------------------------------------------------------------------------------

class FakeSecrets:
    def __init__(self, value: dict[str, Any]) -> None:
        self.value = dict(value)
        self.writes = 0
        self._lock = threading.Lock()

    def read(self, platform: str, *, fresh: bool = False) -> dict[str, Any]:
        with self._lock:
            return dict(self.value)

    def write(self, platform: str, value: dict[str, Any]) -> None:
        with self._lock:
            self.writes += 1
            self.value = dict(value)


def test_an_expired_token_is_renewed_once_and_the_page_read_again_with_the_new_one() -> None:
    secrets, state = FakeSecrets({"access_token": "old", "refresh_token": "r1"}), FakeState()
    keeper = TokenKeeper("douyin", secrets=secrets, state=state, clock=lambda: NOW, owner="run-1",
                         refresh=lambda creds: {"access_token": "new", "refresh_token": "r2"})
    seen: list[str] = []

    class Expiring(PagedFake):
        def read(self, cursor: Mapping[str, Any]) -> SourcePage:
            token = keeper.current()["access_token"]
            seen.append(token)
            if token == "old":
                raise TokenExpired("access_token expired", status=200)
            return super().read(cursor)

    [report] = _listener(Expiring(total=5, size=10), FakePosts(), state, tokens=keeper).poll("weibo")
    assert (report.status, report.stored) == ("ok", 5)
    assert seen == ["old", "new"]
    assert secrets.value == {"access_token": "new", "refresh_token": "r2"} and secrets.writes == 1
    assert "lease_owner" not in state.items[token_lease_key("douyin")]


def test_concurrent_renewals_refresh_only_once() -> None:
    secrets, state = FakeSecrets({"access_token": "old"}), FakeState()
    refreshes: list[str] = []
    gate = threading.Event()

    def refresh(creds: dict[str, Any]) -> dict[str, Any]:
        refreshes.append(creds["access_token"])
        gate.wait(2)
        return {"access_token": "new"}

    keepers = [TokenKeeper("douyin", secrets=secrets, state=state, refresh=refresh, clock=lambda: NOW,
                           owner=f"run-{i}", sleep=lambda s: (gate.set(), time.sleep(0.05))) for i in range(4)]
    for keeper in keepers:
        keeper.current()
    results: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda k=k: results.append(k.renew())) for k in keepers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert refreshes == ["old"] and secrets.writes == 1
    assert [r["access_token"] for r in results] == ["new"] * 4


def test_a_platform_without_refresh_reports_reauthorisation() -> None:
    keeper = TokenKeeper("weibo", secrets=FakeSecrets({"access_token": "t"}), state=FakeState(), refresh=None,
                         clock=lambda: NOW, owner="run-1")

    class Refused(PagedFake):
        def read(self, cursor: Mapping[str, Any]) -> SourcePage:
            keeper.current()
            raise TokenExpired("21327 expired_token")

    [report] = _listener(Refused(total=1, size=1), FakePosts(), FakeState(), tokens=keeper).poll("weibo")
    assert report.status == "failed"
    assert "ReauthorisationNeeded" in report.detail and "authorise the app again" in report.detail
    with pytest.raises(ReauthorisationNeeded):
        keeper.renew()


def test_a_renewal_that_another_run_holds_too_long_is_a_transient_failure() -> None:
    state = FakeState()
    state.acquire(token_lease_key("douyin"), owner="other", now=NOW, until=NOW + timedelta(minutes=1))
    keeper = TokenKeeper("douyin", secrets=FakeSecrets({"access_token": "old"}), state=state,
                         refresh=lambda c: {"access_token": "new"}, clock=lambda: NOW, owner="run-1",
                         sleep=lambda s: None)
    keeper.current()
    with pytest.raises(TransientPlatformError):
        keeper.renew()


def test_the_banks_own_reply_under_its_post_is_its_own_even_naming_no_topic() -> None:
    """A comment under the bank's post names no topic and counts for the addressed topics, unless the bank's own
    account wrote it (its reply in the thread): then it is kept as its own, counted nowhere."""
    from crisiscomms.listening.polling import Ingestor, RunReport

    config = parse_watch_config({"topics": [{"id": "harbor", "names": ["港湾银行"]}],
                                 "accounts": {"weibo": {"handle": "港湾银行官方", "id": "5566"}},
                                 "sources": [{"id": "w", "platform": "weibo"}]})
    stored: list[Any] = []

    class Keep(FakePosts):
        def store(self, scored: Any) -> StoreOutcome:
            stored.append(scored)
            return super().store(scored)

    ingestor = Ingestor(TopicMatcher.for_watch(config), LexiconScorer(), Keep(), lambda: NOW)
    person = _post(1).model_copy(update={"text": "什么时候能取钱？", "to_bank": True})
    reply = _post(2).model_copy(update={"text": "您好，明天上午恢复。", "to_bank": True, "author": "港湾银行官方",
                                        "author_id": "5566"})
    report = RunReport(source="w")
    ingestor.ingest([person, reply], report, addressed=("harbor",))
    by_key = {s.post.key: s for s in stored}
    assert by_key[person.key].topics == ("harbor",) and by_key[person.key].related
    assert (by_key[reply.key].topics, by_key[reply.key].own_topics, by_key[reply.key].related) == ((), ("harbor",), False)
    assert (report.stored, report.own) == (2, 1)
