"""Reading watched posts again by id on Bluesky (app.bsky.feed.getPosts) and Mastodon (GET /api/v1/statuses):
the adapters against their emulators over HTTP on 127.0.0.1."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from crisiscomms.adapters.http import make_client
from crisiscomms.adapters.sources.bluesky import BankIdentity, BlueskySearchReader
from crisiscomms.adapters.sources.mastodon import SINGLE_READS_PER_RUN, MastodonReader
from crisiscomms.clock import SimulatedClock
from crisiscomms.errors import RateLimited, TokenExpired, TransientPlatformError
from crisiscomms.watch.bluesky import BlueskySource
from crisiscomms_local.emulators import Fault
from crisiscomms_local.emulators.channels.bluesky import BlueskyEmulator
from crisiscomms_local.emulators.channels.mastodon import MastodonEmulator

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
RUMOUR = "BREAKING: Harbor Bank is insolvent. Get your money out while you still can."
CLIENT_TIMEOUT = 0.25  # the emulators stall 0.5 s on a timeout fault


class Creds:
    def __init__(self, value: dict[str, Any]) -> None:
        self.value = value

    def current(self) -> dict[str, Any]:
        return dict(self.value)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(T0)


# --- Bluesky: getPosts ---------------------------------------------------------------------------------

@pytest.fixture
def bsky(clock: SimulatedClock) -> Iterator[BlueskyEmulator]:
    with BlueskyEmulator(clock, timeout_delay=0.5, reads_per_window=5, read_window_seconds=300) as emulator:
        yield emulator
    assert emulator.errors == []


def _bsky_reader(emulator: BlueskyEmulator, clock: SimulatedClock, token: str | None = None) -> BlueskySearchReader:
    return BlueskySearchReader(make_client(emulator.base_url, timeout_seconds=CLIENT_TIMEOUT),
                               source=BlueskySource(id="bsky-harbor", platform="bluesky", query="Harbor Bank"),
                               credentials=Creds({"accessJwt": token or emulator.access_jwt}), clock=clock,
                               bank=BankIdentity.of(emulator.account_handle, emulator.did))


def test_bluesky_reads_posts_again_by_uri_with_their_counts_as_they_are_now(bsky: BlueskyEmulator,
                                                                            clock: SimulatedClock) -> None:
    uri = bsky.add_post(text=RUMOUR, author="macro", followers=2_000_000, created_at=T0 - timedelta(minutes=2),
                        reposts=5, likes=1)
    other = bsky.add_post(text="Harbor Bank opening hours", author="user1", created_at=T0 - timedelta(minutes=1))
    bsky.set_metrics(uri, at=T0 + timedelta(minutes=20), reposts=5_000, likes=900, replies=40, quotes=7)
    reader = _bsky_reader(bsky, clock)
    assert (reader.lookup_ids, reader.lookup_followers) == (25, False)

    found = reader.lookup([uri, other])
    [request] = bsky.calls("getPosts")
    assert (request.method, request.path, request.status) == ("GET", "/xrpc/app.bsky.feed.getPosts", 200)
    assert request.headers["authorization"] == f"Bearer {bsky.access_jwt}"
    assert [p.native_id for p in found.posts] == [uri, other] and found.missing == set() and found.malformed == []
    post = found.posts[0]
    assert (post.key, post.reposts, post.likes, post.source_id) == (f"bluesky#{uri}", 5, 1, "bsky-harbor")
    assert post.followers == 0, "a post view's author carries no follower count"
    assert post.published_at == T0 - timedelta(minutes=2) and post.text == RUMOUR

    clock.advance(timedelta(minutes=20))
    [post, _] = reader.lookup([uri, other]).posts
    assert (post.reposts, post.likes, post.replies, post.quotes, post.engagement) == (5_000, 900, 40, 7, 5_947)


def test_bluesky_asks_for_every_uri_in_one_call_and_refuses_more_than_25(bsky: BlueskyEmulator,
                                                                         clock: SimulatedClock) -> None:
    uris = [bsky.add_post(text=f"Harbor Bank {n}", author=f"u{n}", created_at=T0 - timedelta(seconds=n))
            for n in range(25)]
    reader = _bsky_reader(bsky, clock)
    assert len(reader.lookup(uris).posts) == 25 and len(bsky.calls("getPosts")) == 1
    with pytest.raises(ValueError):
        reader.lookup([*uris, uris[0]])
    with pytest.raises(ValueError):
        reader.lookup([])


def test_bluesky_deleted_and_unknown_posts_are_missing(bsky: BlueskyEmulator, clock: SimulatedClock) -> None:
    kept = bsky.add_post(text="Harbor Bank", author="a", created_at=T0 - timedelta(minutes=3))
    deleted = bsky.add_post(text="Harbor Bank gone", author="b", created_at=T0 - timedelta(minutes=2))
    bsky.delete_post(deleted, at=T0 + timedelta(minutes=1))
    unknown = "at://did:plc:nobody000000000000000000/app.bsky.feed.post/3l6oveex3ii2l"
    reader = _bsky_reader(bsky, clock)
    found = reader.lookup([kept, deleted, unknown])
    assert [p.native_id for p in found.posts] == [kept, deleted] and found.missing == {unknown}

    clock.advance(timedelta(minutes=1))
    found = reader.lookup([kept, deleted, unknown])
    assert [p.native_id for p in found.posts] == [kept] and found.missing == {deleted, unknown}


def test_bluesky_lookup_errors_map_as_the_searchs_do(bsky: BlueskyEmulator, clock: SimulatedClock) -> None:
    uri = bsky.add_post(text="Harbor Bank", author="a", created_at=T0 - timedelta(minutes=3))
    reader = _bsky_reader(bsky, clock)
    bsky.add_fault(Fault(start=T0, end=T0 + timedelta(seconds=30), kind="timeout", target="getPosts"))
    with pytest.raises(TransientPlatformError) as timed_out:
        reader.lookup([uri])
    assert timed_out.value.code == "timeout"
    clock.advance(timedelta(seconds=30))
    for _ in range(5):  # the window's 5 reads, opened by the first answered one
        reader.lookup([uri])
    with pytest.raises(RateLimited) as limited:
        reader.lookup([uri])
    assert limited.value.resume_at == T0 + timedelta(minutes=5, seconds=30)
    with pytest.raises(TokenExpired):
        _bsky_reader(bsky, clock, token="not-a-session").lookup([uri])


# --- Mastodon: GET /api/v1/statuses?id[]=, and one at a time before 4.3 -----------------------------------

@pytest.fixture
def masto(clock: SimulatedClock) -> Iterator[MastodonEmulator]:
    with MastodonEmulator(clock, timeout_delay=0.5) as emulator:
        yield emulator
    assert emulator.errors == []


def _masto_reader(emulator: MastodonEmulator, clock: SimulatedClock, http: httpx.Client | None = None) -> MastodonReader:
    """A reader as one run makes it; `http`: the process's client for the server, shared by every run."""
    return MastodonReader(http or make_client(emulator.base_url, timeout_seconds=CLIENT_TIMEOUT), stream="hashtag",
                          source_id="masto-tag", credentials=Creds({"access_token": emulator.access_token}),
                          clock=clock, limit=40, lookback=timedelta(minutes=60), overlap=timedelta(minutes=10),
                          hashtag="examplebank")


def _statuses_calls(emulator: MastodonEmulator) -> list[Any]:
    return [r for r in emulator.requests_log if r.path.startswith("/api/v1/statuses")]


def test_mastodon_reads_statuses_again_in_one_call_with_counts_and_followers_as_they_are_now(
        masto: MastodonEmulator, clock: SimulatedClock) -> None:
    status = masto.add_post(text=RUMOUR, author="macro@finance.example", followers=2_000_000,
                            created_at=T0 - timedelta(minutes=2), reposts=5, likes=1)
    other = masto.add_post(text="Harbor Bank opening hours", author="user1", created_at=T0 - timedelta(minutes=1))
    masto.set_metrics(status, at=T0 + timedelta(minutes=20), reposts=5_000, likes=900, replies=40)
    reader = _masto_reader(masto, clock)
    assert (reader.lookup_ids, reader.lookup_followers) == (20, True)

    found = reader.lookup([status, other])
    [request] = _statuses_calls(masto)
    assert (request.method, request.path, request.status) == ("GET", "/api/v1/statuses", 200)
    assert request.headers["authorization"] == f"Bearer {masto.access_token}"
    assert [p.native_id for p in found.posts] == [status, other] and found.missing == set()
    post = found.posts[0]
    assert (post.key, post.reposts, post.likes, post.followers) == (f"mastodon#{status}", 5, 1, 2_000_000)
    assert post.published_at == T0 - timedelta(minutes=2) and post.text.startswith(RUMOUR)

    clock.advance(timedelta(minutes=20))
    [post, _] = reader.lookup([status, other]).posts
    assert (post.reposts, post.likes, post.replies, post.engagement) == (5_000, 900, 40, 5_940)
    assert len(_statuses_calls(masto)) == 2, "one request for both, each time"


def test_mastodon_deleted_and_unknown_statuses_are_missing_and_more_than_20_ids_are_refused(
        masto: MastodonEmulator, clock: SimulatedClock) -> None:
    kept = masto.add_post(text="Harbor Bank", author="a", created_at=T0 - timedelta(minutes=3))
    deleted = masto.add_post(text="Harbor Bank gone", author="b", created_at=T0 - timedelta(minutes=2))
    masto.delete_post(deleted, at=T0 + timedelta(minutes=1))
    unknown = str(int(kept) + 12345)
    reader = _masto_reader(masto, clock)
    found = reader.lookup([kept, deleted, unknown])
    assert [p.native_id for p in found.posts] == [kept, deleted] and found.missing == {unknown}
    clock.advance(timedelta(minutes=1))
    found = reader.lookup([kept, deleted, unknown])
    assert [p.native_id for p in found.posts] == [kept] and found.missing == {deleted, unknown}

    with pytest.raises(ValueError):
        reader.lookup([kept] * 21)
    too_many = httpx.get(masto.base_url + "/api/v1/statuses", params=[("id[]", str(n)) for n in range(21)],
                         headers={"Authorization": f"Bearer {masto.access_token}"})
    assert too_many.status_code == 422, "the server refuses more than 20, as Mastodon does"


def test_a_server_before_4_3_is_read_one_status_at_a_time_within_a_budget_and_remembered(clock: SimulatedClock) -> None:
    with MastodonEmulator(clock, timeout_delay=0.5, batch_statuses=False) as masto:
        ids = [masto.add_post(text=f"Harbor Bank {n}", author=f"u{n}", followers=200_000,
                              created_at=T0 - timedelta(seconds=n)) for n in range(14)]
        masto.delete_post(ids[1], at=T0)
        http = make_client(masto.base_url, timeout_seconds=CLIENT_TIMEOUT)
        found = _masto_reader(masto, clock, http).lookup(ids)
        calls = _statuses_calls(masto)
        assert [(c.path, c.status) for c in calls[:2]] == [("/api/v1/statuses", 404), (f"/api/v1/statuses/{ids[0]}", 200)]
        assert len(calls) == 1 + SINGLE_READS_PER_RUN, "one batch try, then the run's budget of single reads"
        assert [p.native_id for p in found.posts] == [ids[0], *ids[2:SINGLE_READS_PER_RUN]]
        assert found.missing == {ids[1]} and found.unread == set(ids[SINGLE_READS_PER_RUN:])
        assert found.posts[0].followers == 200_000

        masto.clear_log()
        found = _masto_reader(masto, clock, http).lookup(ids[12:])  # the next run: a new reader, the same process
        assert [c.path for c in _statuses_calls(masto)] == [f"/api/v1/statuses/{i}" for i in ids[12:]], \
            "the 404 is remembered: no batch try"
        assert [p.native_id for p in found.posts] == ids[12:]

        masto.clear_log()
        _masto_reader(masto, clock).lookup(ids[12:])  # another process: its own client, its own memory
        assert [c.path for c in _statuses_calls(masto)][0] == "/api/v1/statuses"

        masto.clear_log()
        clock.advance(timedelta(days=1))
        masto.batch_statuses = True  # upgraded meanwhile
        found = _masto_reader(masto, clock, http).lookup(ids[12:])
        assert [c.path for c in _statuses_calls(masto)] == ["/api/v1/statuses"], "a day later it tries the batch again"
        assert [p.native_id for p in found.posts] == ids[12:]


def test_mastodon_lookup_errors_map_as_the_streams_do(masto: MastodonEmulator, clock: SimulatedClock) -> None:
    status = masto.add_post(text="Harbor Bank", author="a", created_at=T0 - timedelta(minutes=3))
    reader = _masto_reader(masto, clock)
    masto.add_fault(Fault(start=T0, end=T0 + timedelta(seconds=30), kind="timeout"))
    with pytest.raises(TransientPlatformError) as timed_out:
        reader.lookup([status])
    assert timed_out.value.code == "timeout"
    clock.advance(timedelta(seconds=30))
    masto.add_fault(Fault(start=clock(), end=clock() + timedelta(minutes=2), kind="rate_limit"))
    with pytest.raises(RateLimited) as limited:
        reader.lookup([status])
    assert limited.value.resume_at == clock() + timedelta(minutes=2)
    clock.advance(timedelta(minutes=2))
    masto.revoke_token()
    with pytest.raises(TokenExpired):
        reader.lookup([status])
