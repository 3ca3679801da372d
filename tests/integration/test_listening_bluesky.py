"""Bluesky listening through the real Poller handler, against the PDS/AppView emulator and local AWS."""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.source_secrets import SourceSecrets
from crisiscomms.aws.source_state import StateRepository
from crisiscomms_local.aws import client
from crisiscomms_local.emulators import Fault
from crisiscomms_local.emulators.channels.bluesky import BlueskyEmulator

from .conftest import Listening, source_state, stored_posts

pytestmark = pytest.mark.integration
DAY = "2026-11-28"
PK = "source#bluesky#bsky-harbor"


@dataclass
class Bluesky:
    listening: Listening
    emulator: BlueskyEmulator

    @property
    def clock(self) -> Any:
        return self.listening.clock

    def configure(self, **source: Any) -> None:
        self.listening.configure(
            sources=[{"id": "bsky-harbor", "platform": "bluesky", "query": "Harbor Bank", "initial_lookback_minutes": 60,
                      "base_url": self.emulator.base_url, **source}],
            accounts={"bluesky": self.emulator.default_account()})

    def poll(self) -> dict[str, Any]:
        [report] = self.listening.poll("bluesky")
        return report

    def add(self, count: int, *, start: datetime, text: str = "Harbor Bank queue #{n}", **extra: Any) -> list[str]:
        return [self.emulator.add_post(text=text.format(n=n), author=f"user{n}", created_at=start + timedelta(seconds=n),
                                       followers=n * 10, **extra) for n in range(count)]

    def secret(self) -> dict[str, Any]:
        return json.loads(client("secretsmanager").get_secret_value(SecretId=_secret_name())["SecretString"])

    def searches(self) -> list[Any]:
        return self.emulator.calls("searchPosts")


def _secret_name() -> str:
    return f"{os.environ['SOURCE_SECRET_PREFIX']}bluesky"


def _stored() -> list[dict[str, Any]]:
    return stored_posts("bluesky", DAY)


def _keys() -> list[str]:
    return sorted(p["post_key"] for p in _stored())


def _state() -> dict[str, Any]:
    return source_state(PK)


def _set_state(**fields: Any) -> None:
    StateRepository(os.environ["STATE_TABLE"], clients=AwsClients()).acquire(
        PK, owner="test", now=datetime(2000, 1, 1, tzinfo=timezone.utc), until=datetime(2000, 1, 1, tzinfo=timezone.utc))
    StateRepository(os.environ["STATE_TABLE"], clients=AwsClients()).save(PK, owner="test", set_fields=fields,
                                                                           release=True)


@pytest.fixture
def bsky(listening: Listening) -> Iterator[Bluesky]:
    emulator = BlueskyEmulator(listening.clock, timeout_delay=1.5)
    emulator.start()
    client("secretsmanager").put_secret_value(SecretId=_secret_name(), SecretString=json.dumps(emulator.credentials()))
    world = Bluesky(listening, emulator)
    world.configure()
    yield world
    emulator.stop()


def test_first_poll_creates_the_session_and_stores_posts_with_their_fields(bsky: Bluesky) -> None:
    now = bsky.clock()
    [plain] = bsky.add(1, start=now - timedelta(minutes=3), text="Harbor Bank app keeps crashing", lang="en")
    [mention] = bsky.add(1, start=now - timedelta(minutes=2), text="where is my money, Harbor Bank?", to_bank=True)
    bsky.emulator.add_post(text="Harbor Bank Arena tonight", author="fan", created_at=now - timedelta(minutes=1))
    bsky.emulator.add_post(text="Harbor Bank long ago", author="old", created_at=now - timedelta(hours=3))

    report = bsky.poll()
    assert (report["status"], report["stored"], report["unmatched"], report["pages"]) == ("ok", 2, 1, 1)
    assert len(bsky.emulator.calls("createSession")) == 1
    secret = bsky.secret()
    assert secret["did"] == bsky.emulator.did and secret["accessJwt"] and secret["refreshJwt"]
    assert secret["password"] == bsky.emulator.app_password, "the app password stays for the next createSession"
    assert bsky.searches()[-1].headers["authorization"] == f"Bearer {secret['accessJwt']}"

    posts = {p["native_id"]: p for p in _stored()}
    assert set(posts) == {plain, mention}
    rkey = plain.rsplit("/", 1)[-1]
    assert posts[plain]["url"] == f"https://bsky.app/profile/user0.bsky.social/post/{rkey}"
    assert posts[plain]["author"] == "user0.bsky.social" and posts[plain]["author_id"].startswith("did:plc:")
    assert posts[plain]["published_at"].startswith("2026-11-28T08:57:00")
    assert posts[plain]["lang_hint"] == "en" and posts[plain]["post_key"] == f"bluesky#{plain}"
    assert posts[mention]["to_bank"] is True and posts[plain]["to_bank"] is False
    assert bsky.emulator.calls("getProfiles"), "followers come from getProfiles"


def test_resume_misses_nothing_stores_nothing_twice_and_reuses_the_session(bsky: Bluesky) -> None:
    first = bsky.add(250, start=bsky.clock() - timedelta(minutes=30))
    report = bsky.poll()
    assert (report["stored"], report["pages"], report["duplicates"]) == (250, 3, 0)
    profiles = bsky.emulator.calls("getProfiles")
    assert all(len(r.query) and r.status == 200 for r in profiles) and len(profiles) == 10  # 250 authors, 25 a call
    state = _state()
    assert state["high_water"] == "2026-11-28T08:34:09.000Z" and "sweep_cursor" not in state

    bsky.listening.tick()
    second = bsky.add(40, start=bsky.clock() - timedelta(seconds=50), text="港湾银行 Harbor Bank new {n}")
    report = bsky.poll()
    assert (report["stored"], report["duplicates"], report["fetched"]) == (40, 0, 40)
    assert bsky.searches()[-1].query["since"] == "2026-11-28T08:32:09.000Z", "high-water mark minus the overlap"

    bsky.listening.tick()
    report = bsky.poll()
    assert (report["fetched"], report["stored"]) == (0, 0)
    assert _keys() == sorted(f"bluesky#{u}" for u in first + second)
    assert len(bsky.emulator.calls("createSession")) == 1 and not bsky.emulator.calls("refreshSession")


def test_a_page_limit_leaves_the_sweep_to_the_next_run_and_a_refused_cursor_restarts_it(bsky: Bluesky) -> None:
    bsky.configure(page_size=10, max_pages_per_run=2)
    ids = bsky.add(35, start=bsky.clock() - timedelta(minutes=10))
    report = bsky.poll()
    assert (report["stored"], report["pages"]) == (20, 2)
    state = _state()
    assert state["sweep_cursor"] == "20" and state["sweep_until"] == "2026-11-28T09:00:00.000Z"

    bsky.listening.tick()
    _set_state(sweep_cursor="not-a-cursor")
    report = bsky.poll()
    assert (report["status"], report["stored"], report["duplicates"]) == ("ok", 0, 10)
    bsky.listening.tick()
    report = bsky.poll()
    assert (report["stored"], report["duplicates"]) == (10, 10), "the restarted sweep re-reads pages: refused, not stored"
    bsky.listening.tick()
    report = bsky.poll()
    assert report["stored"] == 5 and "sweep_cursor" not in _state()
    assert [r.query.get("cursor") for r in bsky.searches()] == [None, "10", "not-a-cursor", None, "10", "20", "30"]
    assert [r.status for r in bsky.searches()].count(400) == 1
    assert len({(r.query["since"], r.query["until"]) for r in bsky.searches()}) == 1, "one sweep, one window"
    assert _keys() == sorted(f"bluesky#{u}" for u in ids)


def test_a_429_parks_the_source_keeps_the_cursor_and_resumes_at_the_reset(bsky: Bluesky) -> None:
    bsky.add(5, start=bsky.clock() - timedelta(minutes=5))
    bsky.poll()
    mark = _state()["high_water"]
    now = bsky.clock()
    bsky.emulator.add_fault(Fault(start=now + timedelta(minutes=1), end=now + timedelta(minutes=4), kind="rate_limit",
                                  retry_after=180, target="searchPosts"))
    bsky.listening.tick()
    later = bsky.add(7, start=bsky.clock() - timedelta(seconds=40))
    report = bsky.poll()
    assert report["status"] == "rate_limited"
    state = _state()
    assert state["high_water"] == mark
    assert datetime.fromisoformat(state["resume_at"]) == bsky.clock() + timedelta(seconds=180)

    before = len(bsky.searches())
    bsky.listening.tick()
    assert bsky.poll()["status"] == "paused" and len(bsky.searches()) == before, "no request while parked"
    bsky.listening.tick(2)
    report = bsky.poll()
    assert (report["status"], report["stored"]) == ("ok", 7)
    assert {f"bluesky#{u}" for u in later} <= set(_keys())


def test_a_spent_budget_stores_the_page_then_waits_for_the_epoch_reset(bsky: Bluesky) -> None:
    bsky.emulator.stop()
    tight = BlueskyEmulator(bsky.clock, timeout_delay=1.5, reads_per_window=3, read_window_seconds=300)
    tight.start()
    try:
        bsky.emulator = tight
        bsky.configure(page_size=50)
        client("secretsmanager").put_secret_value(SecretId=_secret_name(), SecretString=json.dumps(tight.credentials()))
        bsky.add(120, start=bsky.clock() - timedelta(minutes=20))  # 3 pages, each with up to 2 getProfiles calls
        report = bsky.poll()
        assert report["status"] == "rate_limited" and report["stored"] == 50
        state = _state()
        assert state["sweep_cursor"] == "50"
        assert datetime.fromisoformat(state["resume_at"]) == bsky.clock() + timedelta(seconds=300)
        bsky.listening.tick(5)
        report = bsky.poll()
        assert report["status"] == "rate_limited" and report["stored"] == 50
        bsky.listening.tick(5)
        report = bsky.poll()
        assert (report["status"], report["stored"]) == ("ok", 20)
        assert len(_keys()) == 120
    finally:
        tight.stop()


def test_5xx_is_retried_a_bounded_number_of_times_then_the_next_run_catches_up(bsky: Bluesky) -> None:
    bsky.poll()  # the session exists; its calls are not what this test counts
    ids = bsky.add(6, start=bsky.clock() - timedelta(seconds=50))
    bsky.listening.tick()
    before = len(bsky.searches())
    now = bsky.clock()
    bsky.emulator.add_fault(Fault(start=now, end=now + timedelta(minutes=1), kind="http_status", status=502,
                                  target="searchPosts"))
    report = bsky.poll()
    assert report["status"] == "failed" and "502 UpstreamFailure" in report["detail"]
    assert report["retries"] == 2 and len(bsky.searches()) - before == 3
    bsky.listening.tick()
    report = bsky.poll()
    assert report["stored"] == 6 and _keys() == sorted(f"bluesky#{u}" for u in ids)


def test_malformed_views_and_a_getprofiles_outage_never_fail_the_page(bsky: Bluesky) -> None:
    now = bsky.clock()
    good = bsky.add(4, start=now - timedelta(minutes=4))
    bsky.emulator.add_malformed({"uri": "at://did:plc:broken/app.bsky.feed.post/3lbroken00000",
                                 "record": {"text": "Harbor Bank"}}, indexed_at=now - timedelta(minutes=3))
    bsky.emulator.add_malformed({"cid": "bafy"}, indexed_at=now - timedelta(minutes=2))
    bsky.emulator.add_fault(Fault(start=now, end=now + timedelta(minutes=1), kind="http_status", status=503,
                                  target="getProfiles"))
    report = bsky.poll()
    assert (report["status"], report["stored"], report["malformed"]) == ("ok", 4, 2)
    assert {p["native_id"]: p["followers"] for p in _stored()} == {u: 0 for u in good}
    bsky.listening.tick()
    assert bsky.poll()["malformed"] == 1, "a malformed view with a uri is remembered; one without cannot be"


def test_an_expired_access_token_is_refreshed_written_to_the_secret_and_used(bsky: Bluesky) -> None:
    bsky.add(2, start=bsky.clock() - timedelta(minutes=2))
    bsky.poll()
    old = bsky.secret()
    bsky.emulator.expire_access_tokens()
    bsky.listening.tick()
    ids = bsky.add(3, start=bsky.clock() - timedelta(seconds=30))
    report = bsky.poll()
    assert (report["status"], report["stored"]) == ("ok", 3)
    [refresh] = bsky.emulator.calls("refreshSession")
    assert refresh.headers["authorization"] == f"Bearer {old['refreshJwt']}"
    new = bsky.secret()
    assert new["accessJwt"] != old["accessJwt"] and new["refreshJwt"] != old["refreshJwt"]
    assert new["password"] == old["password"]
    refused, retried = bsky.searches()[-2:]
    assert (refused.status, retried.status) == (400, 200)
    assert retried.headers["authorization"] == f"Bearer {new['accessJwt']}"
    assert len(bsky.emulator.calls("createSession")) == 1
    assert {f"bluesky#{u}" for u in ids} <= set(_keys())


def test_a_dead_refresh_token_falls_back_to_the_app_password_and_a_refused_one_needs_reauthorisation(
        bsky: Bluesky) -> None:
    bsky.poll()
    bsky.emulator.expire_access_tokens()
    bsky.emulator.expire_refresh_tokens()
    bsky.listening.tick()
    assert bsky.poll()["status"] == "ok"
    assert len(bsky.emulator.calls("createSession")) == 2 and bsky.emulator.calls("refreshSession")[-1].status == 400

    bsky.emulator.app_password = "revoked-by-the-bank"
    bsky.emulator.expire_access_tokens()
    bsky.emulator.expire_refresh_tokens()
    bsky.listening.tick()
    report = bsky.poll()
    assert report["status"] == "failed"
    assert "ReauthorisationNeeded" in report["detail"] and "new app password" in report["detail"]
    assert bsky.emulator.app_password not in report["detail"] and "abcd-efgh" not in report["detail"]


def test_two_concurrent_renewals_refresh_only_once(bsky: Bluesky) -> None:
    from crisiscomms.adapters.http import make_client
    from crisiscomms.adapters.sources.bluesky import BlueskySessions
    from crisiscomms.listening.tokens import TokenKeeper

    bsky.poll()
    bsky.emulator.expire_access_tokens()
    http = make_client(bsky.emulator.base_url, timeout_seconds=2)
    sessions = BlueskySessions(http, clock=bsky.clock)
    state = StateRepository(os.environ["STATE_TABLE"], clients=AwsClients())
    contended, done = threading.Event(), threading.Event()

    def refresh(credentials: dict[str, Any]) -> dict[str, Any]:
        contended.wait(5)  # hold the lease until the other run has found it taken
        return sessions.renew(credentials)

    def run(keeper: TokenKeeper) -> None:
        try:
            results.append(keeper.renew())
        finally:
            done.set()  # the refresh is written and the lease released: the waiting run may look again

    keepers = [TokenKeeper("bluesky", secrets=SourceSecrets(os.environ["SOURCE_SECRET_PREFIX"], clients=AwsClients(),
                                                            max_age=0),
                           state=state, refresh=refresh, clock=bsky.clock, owner=f"run-{i}",
                           sleep=lambda s: (contended.set(), done.wait(5))) for i in range(2)]
    stale = [keeper.current()["accessJwt"] for keeper in keepers]
    results: list[dict[str, Any]] = []
    threads = [threading.Thread(target=run, args=(keeper,)) for keeper in keepers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    http.close()
    assert len(bsky.emulator.calls("refreshSession")) == 1
    assert len(results) == 2 and results[0]["accessJwt"] == results[1]["accessJwt"] != stale[0]
    assert bsky.secret()["accessJwt"] == results[0]["accessJwt"]

    bsky.listening.tick()
    assert bsky.poll()["status"] == "ok"
    assert bsky.searches()[-1].headers["authorization"] == f"Bearer {results[0]['accessJwt']}"


def test_replies_under_the_banks_own_post_are_heard_from_the_same_pds_it_publishes_to(bsky: Bluesky) -> None:
    from crisiscomms.adapters.channels.bluesky import BlueskyAdapter
    from crisiscomms.adapters.http import make_client
    from crisiscomms.models.delivery import DeliveryRequest

    emulator = bsky.emulator
    with make_client(emulator.base_url, timeout_seconds=2) as http:
        statement = BlueskyAdapter(http, did=emulator.did, handle=emulator.account_handle,
                                   access_jwt=emulator.access_jwt, clock=bsky.clock).publish(DeliveryRequest(
            delivery_id="bluesky-d-1", statement_id="s-1", version=1, channel="bluesky", language="en",
            text="Harbor Bank: card payments are restored.", newsroom_url="https://news.example/s-1",
            reply_to=None, kind="statement"))
    bsky.listening.tick()
    reply = emulator.add_post(text="Harbor Bank, my payment is still missing", author="angry",
                              created_at=bsky.clock() - timedelta(seconds=10), reply_to=statement.platform_id)
    report = bsky.poll()
    assert report["stored"] == 2
    posts = {p["native_id"]: p for p in _stored()}
    assert posts[reply]["to_bank"] is True
    assert posts[statement.platform_id]["to_bank"] is False and posts[statement.platform_id]["author_id"] == emulator.did
