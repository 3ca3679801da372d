"""Reddit listening through the real Poller handler, against the Reddit emulator and local AWS."""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from crisiscomms.adapters.http import make_client
from crisiscomms.adapters.sources.reddit import RedditTokenRefresh
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.source_secrets import SourceSecrets
from crisiscomms.aws.source_state import StateRepository
from crisiscomms.listening.tokens import TokenKeeper
from crisiscomms_local.aws import client
from crisiscomms_local.emulators import Fault
from crisiscomms_local.emulators.reddit_listen import RedditEmulator

from .conftest import Listening, source_state, stored_posts

pytestmark = pytest.mark.integration
DAY = "2026-11-28"
PK = "source#reddit#reddit-harbor"


@dataclass
class Reddit:
    listening: Listening
    emulator: RedditEmulator

    @property
    def clock(self) -> Any:
        return self.listening.clock

    def source(self, **fields: Any) -> dict[str, Any]:
        return {"id": "reddit-harbor", "platform": "reddit", "base_url": self.emulator.base_url,
                "auth_base_url": self.emulator.base_url, "initial_lookback_minutes": 60, **fields}

    def configure(self, *sources: dict[str, Any]) -> None:
        self.listening.configure(sources=list(sources) or [self.source()],
                                 accounts={"reddit": self.emulator.default_account()})

    def poll(self) -> list[dict[str, Any]]:
        return self.listening.poll("reddit")

    def add(self, count: int, *, start: datetime, text: str = "Harbor Bank queue {n}", **extra: Any) -> list[str]:
        return [self.emulator.add_post(text=text.format(n=n), author=f"user{n}", created_at=start + timedelta(seconds=n),
                                       **extra) for n in range(count)]

    def searches(self) -> list[Any]:
        return [r for r in self.emulator.requests_log if r.path.endswith("/search")]

    def secret(self) -> dict[str, Any]:
        return json.loads(client("secretsmanager").get_secret_value(SecretId=_secret_name())["SecretString"])


def _secret_name() -> str:
    return f"{os.environ['SOURCE_SECRET_PREFIX']}reddit"


def _stored() -> dict[str, dict[str, Any]]:
    return {p["native_id"]: p for p in stored_posts("reddit", DAY)}


def _state(pk: str = PK) -> dict[str, Any]:
    return source_state(pk)


@pytest.fixture
def reddit(listening: Listening) -> Iterator[Reddit]:
    emulator = RedditEmulator(listening.clock, timeout_delay=1.5)
    emulator.start()
    client("secretsmanager").put_secret_value(SecretId=_secret_name(), SecretString=json.dumps(emulator.credentials()))
    world = Reddit(listening, emulator)
    world.configure()
    yield world
    emulator.stop()


def test_first_poll_walks_the_look_back_and_stores_posts_with_their_fields(reddit: Reddit) -> None:
    ids = reddit.add(250, start=reddit.clock() - timedelta(minutes=30), likes=7, replies=3)
    [mention] = reddit.add(1, start=reddit.clock() - timedelta(minutes=1), text="Harbor Bank froze my card",
                           title="Harbor Bank help", to_bank=True, subreddit="personalfinance")
    reddit.add(1, start=reddit.clock() - timedelta(hours=2))  # older than the look-back
    reddit.add(1, start=reddit.clock() - timedelta(minutes=2), text="Northgate Savings news")  # another topic's name
    [report] = reddit.poll()
    assert (report["status"], report["stored"], report["pages"], report["duplicates"]) == ("ok", 252, 3, 0)
    posts = _stored()
    assert set(ids) | {mention} <= set(posts)
    first = posts[ids[0]]
    assert first["title"] == "Harbor Bank queue 0" and first["text"] == "" and first["followers"] == 0
    assert first["url"].startswith("https://www.reddit.com/r/news/comments/") and first["author"] == "user0"
    assert (first["likes"], first["replies"]) == (7, 3) and first["published_at"].startswith("2026-11-28T08:30:00")
    assert posts[mention]["to_bank"] is True and posts[mention]["text"] == "Harbor Bank froze my card\n\nu/examplebank"
    assert first["to_bank"] is False
    search = reddit.searches()[0]
    assert search.query == {"q": '"Harbor Bank" OR 港湾银行 OR "Northgate Savings" OR examplebank', "sort": "new", "type": "link",
                            "limit": "100", "raw_json": "1"}
    assert search.headers["user-agent"] == "server:crisiscomms-listening:0.1 (by /u/examplebank)"
    assert _state()["newest_at"] == "2026-11-28T08:59:00+00:00"


def test_resume_reads_all_that_arrived_between_polls_and_stores_nothing_twice(reddit: Reddit) -> None:
    first = reddit.add(40, start=reddit.clock() - timedelta(minutes=20))
    [report] = reddit.poll()
    assert report["stored"] == 40

    reddit.listening.tick()
    second = reddit.add(150, start=reddit.clock() - timedelta(seconds=160), text="港湾银行 Harbor Bank new {n}")
    [report] = reddit.poll()
    assert (report["stored"], report["duplicates"], report["fetched"], report["pages"]) == (150, 0, 150, 2)
    assert "after" in reddit.searches()[-1].query

    reddit.listening.tick()
    [report] = reddit.poll()
    assert (report["fetched"], report["stored"]) == (0, 0)
    assert set(_stored()) == {*first, *second}


def test_a_post_the_search_indexes_late_is_still_found(reddit: Reddit) -> None:
    reddit.configure(reddit.source(), reddit.source(id="reddit-no-overlap", overlap_minutes=0))
    reddit.add(5, start=reddit.clock() - timedelta(minutes=1))
    assert [(r["stored"], r["duplicates"]) for r in reddit.poll()] == [(5, 0), (0, 5)]
    reddit.listening.tick(2)
    [late] = reddit.add(1, start=reddit.clock() - timedelta(minutes=3), text="Harbor Bank took my savings",
                        indexed_at=reddit.clock())
    with_overlap, without = reddit.poll()
    assert (with_overlap["stored"], with_overlap["fetched"]) == (1, 1)
    assert without["fetched"] == 0, "a floor at the newest post read would miss it"
    assert late in _stored()


def test_a_deleted_anchor_mid_walk_restarts_from_the_top_and_misses_nothing(reddit: Reddit) -> None:
    reddit.configure(reddit.source(max_pages_per_run=1, page_size=50))
    ids = reddit.add(120, start=reddit.clock() - timedelta(minutes=30))
    [report] = reddit.poll()
    assert (report["stored"], report["pages"]) == (50, 1)
    anchor = _state()["walk_from"]
    reddit.emulator.delete_post(anchor)
    reddit.listening.tick()
    [report] = reddit.poll()
    assert (report["fetched"], _state()["walk_restarted"]) == (0, True), "an empty page below a vanished anchor"
    for _ in range(4):  # one page a run: the top again (all seen), then down to the floor
        reddit.listening.tick()
        [report] = reddit.poll()
        if "walk_from" not in _state():
            break
    assert set(ids) == set(_stored()), "nothing below the vanished anchor is missed (it was stored before it went)"
    assert "walk_restarted" not in _state() and report["duplicates"] == 0


def test_two_sources_hearing_one_post_store_it_once(reddit: Reddit) -> None:
    reddit.configure(reddit.source(), reddit.source(id="reddit-bank-sub", subreddit="ExampleBankHelp",
                                                    bank_subreddit="ExampleBankHelp"))
    [post] = reddit.add(1, start=reddit.clock() - timedelta(minutes=2), subreddit="ExampleBankHelp",
                        text="Harbor Bank branch closed?")
    site, own = reddit.poll()
    assert (site["stored"], own["fetched"], own["stored"], own["duplicates"]) == (1, 1, 0, 1)
    assert reddit.searches()[-1].path == "/r/ExampleBankHelp/search"
    assert reddit.searches()[-1].query["restrict_sr"] == "true"
    assert post in _stored()


def test_rate_limit_parks_the_source_for_the_reset_seconds_and_resumes(reddit: Reddit) -> None:
    reddit.add(10, start=reddit.clock() - timedelta(minutes=10))
    reddit.poll()
    newest = _state()["newest_at"]
    now = reddit.clock()
    reddit.emulator.add_fault(Fault(start=now + timedelta(minutes=1), end=now + timedelta(minutes=4), kind="rate_limit",
                                    retry_after=170))
    reddit.listening.tick()
    later = reddit.add(5, start=reddit.clock() - timedelta(seconds=30))
    [report] = reddit.poll()
    assert report["status"] == "rate_limited"
    state = _state()
    assert state["newest_at"] == newest
    assert datetime.fromisoformat(state["resume_at"]) == reddit.clock() + timedelta(seconds=170)

    before = len(reddit.searches())
    reddit.listening.tick()
    [report] = reddit.poll()
    assert report["status"] == "paused" and len(reddit.searches()) == before
    reddit.listening.tick(2)
    [report] = reddit.poll()
    assert (report["status"], report["stored"]) == ("ok", 5) and set(later) <= set(_stored())


def test_the_windows_last_query_stores_its_page_then_waits_for_the_reset(reddit: Reddit) -> None:
    reddit.emulator.queries_per_window = 1
    ids = reddit.add(130, start=reddit.clock() - timedelta(minutes=20))
    [report] = reddit.poll()
    assert (report["status"], report["stored"]) == ("rate_limited", 100)
    state = _state()
    assert datetime.fromisoformat(state["resume_at"]) == reddit.clock() + timedelta(minutes=10)
    assert state["walk_from"], "the walk resumes where it stopped"
    reddit.listening.tick(10)
    [report] = reddit.poll()
    assert report["stored"] == 30 and set(_stored()) == set(ids)


def test_5xx_is_retried_a_bounded_number_of_times_then_the_next_run_catches_up(reddit: Reddit) -> None:
    ids = reddit.add(8, start=reddit.clock() - timedelta(minutes=5))
    now = reddit.clock()
    reddit.emulator.add_fault(Fault(start=now, end=now + timedelta(minutes=1), kind="http_status", status=502))
    [report] = reddit.poll()
    assert report["status"] == "failed" and "502" in report["detail"]
    assert report["retries"] == 2 and len(reddit.searches()) == 3
    assert "newest_at" not in _state()
    reddit.listening.tick()
    [report] = reddit.poll()
    assert report["stored"] == 8 and set(_stored()) == set(ids)


def test_malformed_items_are_skipped_counted_and_never_fail_the_page(reddit: Reddit) -> None:
    start = reddit.clock() - timedelta(minutes=5)
    good = reddit.add(4, start=start)
    reddit.emulator.add_malformed(raw={"kind": "t3", "data": {"name": "t3_zzz", "title": "Harbor Bank",
                                                              "created_utc": "yesterday"}},
                                  created_at=start + timedelta(seconds=30))
    reddit.emulator.add_malformed(raw={"kind": "t1", "data": {"name": "t1_abc"}}, created_at=start + timedelta(seconds=31))
    [report] = reddit.poll()
    assert (report["status"], report["stored"], report["malformed"]) == ("ok", 4, 2)
    assert set(_stored()) == set(good)


def test_an_expired_token_is_refreshed_written_back_and_used(reddit: Reddit) -> None:
    ids = reddit.add(3, start=reddit.clock() - timedelta(minutes=5))
    old = reddit.secret()["access_token"]
    reddit.emulator.expire_tokens()
    [report] = reddit.poll()
    assert (report["status"], report["stored"]) == ("ok", 3)
    secret = reddit.secret()
    assert secret["access_token"] != old and secret["refresh_token"] == reddit.emulator.refresh_token
    assert secret["client_id"] == reddit.emulator.client_id, "the refresh keeps the rest of the secret"
    assert datetime.fromisoformat(secret["expires_at"]) == reddit.clock() + timedelta(hours=24)
    assert reddit.emulator.grants == ["refresh_token"]
    first, second = reddit.searches()
    assert (first.status, second.status) == (401, 200)
    assert second.headers["authorization"] == f"Bearer {secret['access_token']}"
    assert set(_stored()) == set(ids)


def test_a_withdrawn_authorisation_is_reported_as_needing_a_person(reddit: Reddit) -> None:
    reddit.add(2, start=reddit.clock() - timedelta(minutes=5))
    reddit.emulator.expire_tokens()
    reddit.emulator.revoke_refresh_token()
    [report] = reddit.poll()
    assert report["status"] == "failed"
    assert report["detail"].startswith("ReauthorisationNeeded") and "invalid_grant" in report["detail"]


def test_two_concurrent_renewals_refresh_the_token_once(reddit: Reddit) -> None:
    """Two runs hit the same expired token: the lease lets one refresh while the other waits and reuses it."""
    secrets = SourceSecrets(os.environ["SOURCE_SECRET_PREFIX"], clients=AwsClients(), max_age=0)
    state = StateRepository(os.environ["STATE_TABLE"], clients=AwsClients())
    http = make_client(reddit.emulator.base_url, timeout_seconds=2)
    real = RedditTokenRefresh(http, user_agent="server:crisiscomms-listening:0.1 (by /u/examplebank)", clock=reddit.clock)
    holding, waited, done = threading.Event(), threading.Event(), threading.Event()

    def refresh_while_the_other_waits(credentials: dict[str, Any]) -> dict[str, Any]:
        holding.set()
        assert waited.wait(10), "the second run never found the lease taken"
        return real(credentials)

    def wait_for_the_first(_seconds: float) -> None:
        waited.set()
        assert done.wait(10)

    first = TokenKeeper("reddit", secrets=secrets, state=state, refresh=refresh_while_the_other_waits,
                        clock=reddit.clock, owner="run-a", sleep=lambda s: None)
    second = TokenKeeper("reddit", secrets=secrets, state=state, refresh=real, clock=reddit.clock, owner="run-b",
                         sleep=wait_for_the_first)
    stale = first.current()
    assert second.current() == stale
    reddit.emulator.expire_tokens()
    results: dict[str, dict[str, Any]] = {}

    def run_first() -> None:
        results["a"] = first.renew()
        done.set()

    def run_second() -> None:
        assert holding.wait(10)
        results["b"] = second.renew()

    threads = [threading.Thread(target=run_first), threading.Thread(target=run_second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert reddit.emulator.grants == ["refresh_token"], "one refresh for both runs"
    assert results["a"]["access_token"] == results["b"]["access_token"] == reddit.secret()["access_token"]
    assert results["a"]["access_token"] != stale["access_token"]
    http.close()


def test_comments_under_the_banks_own_posts_are_heard_addressed_to_it_and_read_once(reddit: Reddit) -> None:
    """Reddit's search finds submissions only: a comments stream of the bank's subreddit hears what people
    write under its posts, naming the bank or not, and resumes without reading a comment twice."""
    em, clock = reddit.emulator, reddit.clock
    bank_post = em.add_post(text="Update on transfers", title="Harbor Bank: transfers delayed today",
                            author="examplebank", created_at=clock() - timedelta(minutes=30), subreddit="HarborBank")
    other = em.add_post(text="Rates thread", title="Savings rates", author="someone",
                        created_at=clock() - timedelta(minutes=30), subreddit="HarborBank")
    asked = em.add_comment(bank_post, text="When will my transfer arrive?", author="ann",
                           created_at=clock() - timedelta(minutes=10))
    chat = em.add_comment(other, text="Northgate pays more", author="bob", created_at=clock() - timedelta(minutes=9))
    em.add_comment(bank_post, text="too old to read", author="cy", created_at=clock() - timedelta(hours=3))
    reddit.configure(reddit.source(id="reddit-comments", stream="comments", subreddit="HarborBank",
                                   bank_subreddit="HarborBank", topics=["harbor"]))
    [report] = reddit.poll()
    assert (report["status"], report["stored"]) == ("ok", 2), report
    posts = _stored()
    assert posts[asked]["to_bank"] is True and posts[asked]["text"] == "When will my transfer arrive?"
    assert posts[asked]["url"] == f"https://www.reddit.com/r/HarborBank/comments/{bank_post[3:]}/harbor_bank_transfers_delayed_today/{asked[3:]}/"
    assert posts[chat]["to_bank"] is True, "in the bank's own subreddit"
    assert [r.path for r in em.requests_log if "/comments" in r.path] == ["/r/HarborBank/comments"]

    reddit.listening.tick()
    later = em.add_comment(bank_post, text="Still nothing", author="dee", created_at=clock() - timedelta(seconds=20),
                           parent=asked)
    [report] = reddit.poll()
    assert (report["stored"], report["duplicates"]) == (1, 0), report
    assert set(_stored()) == {asked, chat, later}


def test_a_comments_stream_names_its_subreddit_and_takes_no_query() -> None:
    from pydantic import ValidationError

    from crisiscomms.watch.reddit import RedditSource

    with pytest.raises(ValidationError, match="give `subreddit`"):
        RedditSource.model_validate({"id": "c", "platform": "reddit", "stream": "comments"})
    with pytest.raises(ValidationError, match="takes no query"):
        RedditSource.model_validate({"id": "c", "platform": "reddit", "stream": "comments", "subreddit": "HarborBank",
                                     "query": "Harbor"})
