"""Mastodon listening through the real Poller handler, against the Mastodon server emulator and local AWS."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from crisiscomms.adapters.sources.mastodon import snowflake_at, snowflake_time
from crisiscomms_local.aws import client, reset_process_caches
from crisiscomms_local.emulators import Fault
from crisiscomms_local.emulators.channels.mastodon import MastodonEmulator

from .conftest import Listening, source_state, stored_posts

pytestmark = pytest.mark.integration
DAY = "2026-11-28"
TAG_PK = "source#mastodon#masto-tag"


@dataclass
class Mastodon:
    listening: Listening
    emulator: MastodonEmulator

    @property
    def clock(self) -> Any:
        return self.listening.clock

    def tag_source(self, **fields: Any) -> dict[str, Any]:
        return {"id": "masto-tag", "platform": "mastodon", "base_url": self.emulator.base_url, "stream": "hashtag",
                "hashtag": "harborbank", "initial_lookback_minutes": 60, **fields}

    def configure(self, *sources: dict[str, Any]) -> None:
        self.listening.configure(sources=list(sources) or [self.tag_source()],
                                 accounts={"mastodon": self.emulator.default_account()})

    def poll(self) -> list[dict[str, Any]]:
        return self.listening.poll("mastodon")

    def add(self, count: int, *, start: datetime, text: str = "Harbor Bank queue {n} #HarborBank",
            **extra: Any) -> list[str]:
        return [self.emulator.add_post(text=text.format(n=n), author=f"user{n}@remote.example", followers=n * 10,
                                       created_at=start + timedelta(seconds=n), **extra) for n in range(count)]

    def reads(self, path: str = "/api/v1/timelines/tag/harborbank") -> list[Any]:
        return [r for r in self.emulator.requests_log if r.path == path]


def _secret_name() -> str:
    return f"{os.environ['SOURCE_SECRET_PREFIX']}mastodon"


def _stored() -> dict[str, dict[str, Any]]:
    return {p["native_id"]: p for p in stored_posts("mastodon", DAY)}


def _state(pk: str = TAG_PK) -> dict[str, Any]:
    return source_state(pk)


@pytest.fixture
def masto(listening: Listening) -> Iterator[Mastodon]:
    emulator = MastodonEmulator(listening.clock, timeout_delay=1.5, listening_hashtag="harborbank")
    emulator.start()
    client("secretsmanager").put_secret_value(SecretId=_secret_name(), SecretString=json.dumps(emulator.credentials()))
    world = Mastodon(listening, emulator)
    world.configure()
    yield world
    emulator.stop()


def test_first_poll_pages_forward_through_the_look_back_and_stores_clean_posts(masto: Mastodon) -> None:
    ids = masto.add(95, start=masto.clock() - timedelta(minutes=30))
    [mention] = masto.add(1, start=masto.clock() - timedelta(minutes=1), text="Harbor Bank, where is my money?"
                          " #HarborBank <script>x</script>", to_bank=True)
    masto.add(1, start=masto.clock() - timedelta(hours=2))  # before the look-back
    [report] = masto.poll()
    assert (report["status"], report["stored"], report["pages"], report["duplicates"]) == ("ok", 96, 3, 0)
    posts = _stored()
    assert set(posts) == {*ids, mention}
    first = posts[ids[0]]
    assert first["text"] == "Harbor Bank queue 0 #HarborBank"
    assert first["author"] == "user0@remote.example" and first["url"].startswith("https://remote.example/@user0/")
    assert first["published_at"].startswith("2026-11-28T08:30:00") and first["post_key"] == f"mastodon#{ids[0]}"
    assert posts[ids[50]]["followers"] == 500
    assert posts[mention]["to_bank"] is True and first["to_bank"] is False
    # the author typed markup as text: it is kept as the words they wrote, never run as markup
    assert posts[mention]["text"] == "@examplebank Harbor Bank, where is my money? #HarborBank <script>x</script>"
    reads = masto.reads()
    assert reads[0].query["min_id"] == str(snowflake_at(masto.clock() - timedelta(minutes=60)))
    assert reads[0].headers["authorization"] == f"Bearer {masto.emulator.access_token}"
    assert _state()["min_id"] == mention


def test_resume_reads_every_page_that_arrived_between_polls_and_stores_nothing_twice(masto: Mastodon) -> None:
    first = masto.add(30, start=masto.clock() - timedelta(minutes=20))
    [report] = masto.poll()
    assert report["stored"] == 30
    high = _state()["min_id"]

    masto.listening.tick()
    second = masto.add(90, start=masto.clock() - timedelta(seconds=95), text="港湾银行 Harbor Bank new {n} #harborbank")
    [report] = masto.poll()
    assert (report["stored"], report["duplicates"], report["fetched"]) == (90, 0, 90)
    pass_start = masto.reads()[-report["pages"]].query["min_id"]
    assert int(pass_start) == snowflake_at(snowflake_time(high) - timedelta(minutes=10)), "the overlap below the newest"

    masto.listening.tick()
    [report] = masto.poll()
    assert (report["fetched"], report["stored"], report["status"]) == (0, 0, "ok")
    assert set(_stored()) == {*first, *second}


def test_a_remote_post_that_federates_late_is_still_heard(masto: Mastodon) -> None:
    masto.configure(masto.tag_source(), masto.tag_source(id="masto-no-overlap", overlap_minutes=0))
    masto.add(5, start=masto.clock() - timedelta(minutes=1))
    assert [(r["stored"], r["duplicates"]) for r in masto.poll()] == [(5, 0), (0, 5)]

    masto.listening.tick(2)
    # published four minutes ago on its own server, delivered now: its id is dated four minutes back
    [late] = masto.add(1, start=masto.clock() - timedelta(minutes=4), text="Harbor Bank froze my account #harborbank",
                       arrives_at=masto.clock())
    assert int(late) < int(_state()["min_id"])
    with_overlap, without = masto.poll()
    assert (with_overlap["stored"], with_overlap["fetched"]) == (1, 1)
    assert without["fetched"] == 0, "reading forward from the newest id alone misses it"
    assert late in _stored()


def test_mentions_stream_and_hashtag_overlap_store_the_post_once(masto: Mastodon) -> None:
    masto.configure(masto.tag_source(), {"id": "masto-mentions", "platform": "mastodon",
                                         "base_url": masto.emulator.base_url, "stream": "mentions"})
    [mention] = masto.add(1, start=masto.clock() - timedelta(minutes=2), text="@examplebank Harbor Bank card refused",
                          to_bank=True)
    masto.add(3, start=masto.clock() - timedelta(minutes=1))
    tag, mentions = masto.poll()
    assert (tag["stored"], mentions["fetched"], mentions["stored"], mentions["duplicates"]) == (4, 1, 0, 1)
    [notifications] = masto.reads("/api/v1/notifications")
    assert notifications.query["types[]"] == "mention" and notifications.query["limit"] == "80"
    assert _stored()[mention]["to_bank"] is True
    assert _state("source#mastodon#masto-mentions")["min_id"]


def test_search_finds_only_authors_who_opted_in_walking_down_its_pages(masto: Mastodon) -> None:
    masto.configure({"id": "masto-search", "platform": "mastodon", "base_url": masto.emulator.base_url,
                     "stream": "search", "query": "harbor bank", "initial_lookback_minutes": 60})
    opted_in = masto.add(45, start=masto.clock() - timedelta(minutes=10), text="Harbor Bank line {n}")
    masto.add(3, start=masto.clock() - timedelta(minutes=5), text="Harbor Bank private {n}", indexable=False)
    [report] = masto.poll()
    assert (report["stored"], report["pages"]) == (45, 2)
    assert set(_stored()) == set(opted_in)
    searches = masto.reads("/api/v2/search")
    assert searches[0].query["type"] == "statuses" and "max_id" in searches[1].query
    state = _state("source#mastodon#masto-search")
    assert state["newest_at"] == "2026-11-28T08:50:44+00:00" and "walk_from" not in state

    masto.listening.tick()
    later = masto.add(2, start=masto.clock() - timedelta(seconds=20), text="Harbor Bank again {n}")
    [report] = masto.poll()
    assert (report["stored"], report["duplicates"], report["fetched"]) == (2, 0, 2)
    assert set(later) <= set(_stored())


def test_rate_limit_parks_the_source_until_the_iso_reset_and_resumes(masto: Mastodon) -> None:
    masto.add(10, start=masto.clock() - timedelta(minutes=10))
    masto.poll()
    high = _state()["min_id"]
    now = masto.clock()
    masto.emulator.add_fault(Fault(start=now + timedelta(minutes=1), end=now + timedelta(minutes=4), kind="rate_limit",
                                   retry_after=150))
    masto.listening.tick()
    later = masto.add(5, start=masto.clock() - timedelta(seconds=30))
    [report] = masto.poll()
    assert report["status"] == "rate_limited"
    state = _state()
    assert state["min_id"] == high
    assert datetime.fromisoformat(state["resume_at"]) == masto.clock() + timedelta(seconds=150)

    before = len(masto.reads())
    masto.listening.tick()
    [report] = masto.poll()
    assert report["status"] == "paused" and len(masto.reads()) == before

    masto.listening.tick(2)
    [report] = masto.poll()
    assert (report["status"], report["stored"]) == ("ok", 5)
    assert set(later) <= set(_stored())


def test_the_windows_last_call_stores_its_page_then_waits_for_the_reset(masto: Mastodon) -> None:
    masto.emulator.reads_per_window = 1
    ids = masto.add(60, start=masto.clock() - timedelta(minutes=20))
    [report] = masto.poll()
    assert (report["status"], report["stored"]) == ("rate_limited", 40)
    state = _state()
    assert datetime.fromisoformat(state["resume_at"]) == masto.clock() + timedelta(minutes=5)
    assert state["pass_from"], "the pass resumes where it stopped"
    masto.listening.tick(5)
    [report] = masto.poll()
    assert report["stored"] == 20 and set(_stored()) == set(ids)


def test_5xx_is_retried_a_bounded_number_of_times_then_the_next_run_catches_up(masto: Mastodon) -> None:
    ids = masto.add(8, start=masto.clock() - timedelta(minutes=5))
    now = masto.clock()
    masto.emulator.add_fault(Fault(start=now, end=now + timedelta(minutes=1), kind="http_status", status=503))
    [report] = masto.poll()
    assert report["status"] == "failed" and "503" in report["detail"]
    assert report["retries"] == 2 and len(masto.reads()) == 3
    assert "min_id" not in _state()
    masto.listening.tick()
    [report] = masto.poll()
    assert report["stored"] == 8 and set(_stored()) == set(ids)


def test_malformed_items_are_skipped_counted_and_never_fail_the_page(masto: Mastodon) -> None:
    start = masto.clock() - timedelta(minutes=5)
    good = masto.add(4, start=start)
    masto.emulator.add_malformed(raw={"created_at": "yesterday", "content": "<p>x</p>", "account": {"id": "1"}},
                                 created_at=start + timedelta(seconds=30), tags=("harborbank",))
    masto.emulator.add_malformed(raw={"created_at": "2026-11-28T08:56:00Z"}, created_at=start + timedelta(seconds=31),
                                 tags=("harborbank",))
    [report] = masto.poll()
    assert (report["status"], report["stored"], report["malformed"]) == ("ok", 4, 2)
    assert set(_stored()) == set(good)


def test_a_refused_token_needs_a_person_then_polling_resumes(masto: Mastodon) -> None:
    masto.add(3, start=masto.clock() - timedelta(minutes=5))
    masto.emulator.revoke_token()
    [report] = masto.poll()
    assert report["status"] == "failed"
    assert report["detail"].startswith("ReauthorisationNeeded") and "authorise the app again" in report["detail"]
    assert _state()["last_error"].startswith("ReauthorisationNeeded")

    masto.emulator.authorise("new-token-after-consent")
    client("secretsmanager").put_secret_value(SecretId=_secret_name(), SecretString=json.dumps(masto.emulator.credentials()))
    reset_process_caches()
    masto.listening.tick()
    [report] = masto.poll()
    assert (report["status"], report["stored"]) == ("ok", 3)
    assert masto.reads()[-1].headers["authorization"] == "Bearer new-token-after-consent"


def test_one_status_read_from_two_servers_is_stored_counted_and_followed_up_once(masto: Mastodon) -> None:
    """A federated status has another local id on each server and the same URI: the second server's copy is a
    duplicate (one post, counted once, one conversation), the first keeps its own server's key."""
    from crisiscomms.aws.clients import AwsClients
    from crisiscomms.aws.inbox_store import InboxRepository
    from crisiscomms.aws.post_store import PostRepository, PostTables

    other = MastodonEmulator(masto.clock, domain="other.example", timeout_delay=1.5, listening_hashtag="harborbank")
    other.start()
    try:
        masto.configure(masto.tag_source(), masto.tag_source(id="masto-other", base_url=other.base_url))
        posted = masto.clock() - timedelta(minutes=2)
        other.add_post(text="unrelated", author="someone", created_at=posted, tags=())  # the servers' ids differ
        status = {"text": "@examplebank Harbor Bank my transfer failed again, when will you fix it? #HarborBank",
                  "author": "li@remote.example", "created_at": posted, "followers": 1200, "to_bank": True,
                  "uri": "https://remote.example/users/li/statuses/113456"}
        here, there = masto.emulator.add_post(**status), other.add_post(**status)
        assert here != there
        first, second = masto.poll()
    finally:
        other.stop()
    assert (first["stored"], first["followed_up"], second["fetched"], second["stored"], second["duplicates"],
            second["followed_up"]) == (1, 1, 1, 0, 1, 0), (first, second)
    assert set(_stored()) == {here}
    env = masto.listening.env
    posts = PostRepository(PostTables(env("POSTS_TABLE"), env("TOPIC_POSTS_TABLE"), env("AGGREGATES_TABLE")),
                           clients=AwsClients(), retention_days=30)
    minute = posted.strftime("%Y-%m-%dT%H:%M")
    assert [(m["posts"], m["negative"]) for m in posts.minute_aggregates("harbor", minute, minute + "~")] == [(1, 1)]
    assert [(h["posts"], h["p_mastodon"]) for h in posts.topic_hours("harbor", minute[:13], minute[:13] + "~")] == [(1, 1)]
    assert [link["post_key"] for link in posts.topic_posts("harbor", DAY)] == [f"mastodon#{here}"]
    queue, _ = InboxRepository(env("INBOX_TABLE"), clients=AwsClients()).list_queue("harbor", "NEW")
    assert [c["post_key"] for c in queue] == [f"mastodon#{here}"], "one conversation, one reply to one person"
