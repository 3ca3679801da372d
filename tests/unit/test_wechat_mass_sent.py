"""Statements mass-sent on WeChat are watched for comments without being configured: the Publisher
announces each SENT mass send, the WeChat source reads the announced articles of the last days."""
from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from crisiscomms.adapters.http import make_client
from crisiscomms.adapters.sources.wechat import (
    COMMENT_LIST_PATH,
    WatchedArticle,
    WeChatCommentReader,
    announced_since,
    mass_sent_entry,
)
from crisiscomms.aws.source_state import StateRepository
from crisiscomms.errors import ConfigurationError
from crisiscomms.models.delivery import CONFIRM_PENDING, DeliveryRequest, DeliveryResult
from crisiscomms.statements import publisher as publisher_module
from crisiscomms.statements.publisher import DeliveryMessage, Publisher
from crisiscomms.statements.render import ChannelsConfig, Renderer, content_sha256
from crisiscomms.watch import parse_watch_config
from crisiscomms.wiring import SOURCE_READERS, SourceParts
from crisiscomms_local.emulators.channels.wechat import WeChatEmulator

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
SID = "st-0123456789abcdef"
MSG_DATA_ID = "2650000042"


# -- the watch configuration ------------------------------------------------------------------------

def _source(**fields: Any) -> Any:
    return parse_watch_config({"topics": [{"id": "harbor", "names": ["港湾银行"]}],
                               "sources": [{"id": "wc", "platform": "wechat", **fields}]}).sources[0]


def test_a_source_watches_the_mass_sent_statements_of_the_last_week_by_default_and_needs_no_articles() -> None:
    source = _source()
    assert (source.articles, source.watch_mass_sent, source.mass_sent_days) == ([], True, 7)
    assert _source(mass_sent_days=30, articles=[{"msg_data_id": 1}], watch_mass_sent=False).mass_sent_days == 30


@pytest.mark.parametrize(("fields", "where"), [
    ({"watch_mass_sent": False}, "watches nothing"),
    ({"watch_mass_sent": False, "articles": []}, "watches nothing"),
    ({"mass_sent_days": 0}, "mass_sent_days"),
    ({"mass_sent_days": 31}, "mass_sent_days"),
    ({"id": "mass-sent"}, "mass-sent"),  # its state item is the Publisher's list of mass sends
])
def test_a_source_that_watches_nothing_or_out_of_bounds_is_refused(fields: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigurationError, match=where):
        _source(**fields)


# -- the recorded entries ---------------------------------------------------------------------------

def test_entries_are_read_back_within_the_window_oldest_first_each_once() -> None:
    entries = {
        mass_sent_entry(30, 0, NOW - timedelta(days=1)),
        mass_sent_entry("10", 0, NOW - timedelta(days=3)),
        mass_sent_entry(20, 0, NOW - timedelta(days=8)),  # older than the window
        mass_sent_entry(10, 0, NOW - timedelta(hours=2)),  # the same article recorded again: counted once
        mass_sent_entry(10, 1, NOW - timedelta(days=3)),
        "not:an:entry", "42", "",
    }
    assert mass_sent_entry(10, 0, NOW) == f"10:0:{int(NOW.timestamp())}"
    watched = announced_since(entries, NOW - timedelta(days=7))
    assert [a.key for a in watched] == ["10:1", "30:0", "10:0"]
    assert all(a.url is None for a in watched)
    assert announced_since([mass_sent_entry(20, 0, NOW - timedelta(days=7))], NOW - timedelta(days=7))  # edge kept


# -- the reader against the emulator ----------------------------------------------------------------

class _Credentials:
    def __init__(self, value: dict[str, Any]) -> None:
        self.value = value

    def current(self) -> dict[str, Any]:
        return dict(self.value)


@pytest.fixture
def wechat(sim_clock: Any) -> Iterator[tuple[WeChatEmulator, httpx.Client]]:
    emulator = WeChatEmulator(sim_clock, timeout_delay=0.4)
    client = make_client(emulator.start(), timeout_seconds=2.0)
    yield emulator, client
    client.close()
    emulator.stop()


def _read_round(reader: WeChatCommentReader, cursor: dict[str, Any]) -> tuple[list[list[str]], dict[str, Any]]:
    pages = []
    while True:
        page = reader.read(cursor)
        pages.append([p.native_id for p in page.posts])
        cursor = {k: v for k, v in {**cursor, **page.cursor}.items() if v is not None}
        if not page.more:
            return pages, cursor


def test_the_reader_watches_configured_then_announced_articles_and_drops_older_ones(wechat, sim_clock) -> None:
    emulator, client = wechat
    configured, recent, older, stale = emulator.add_article(), emulator.add_article(), emulator.add_article(), \
        emulator.add_article()
    now = sim_clock()
    for article in (configured, recent, older, stale):
        emulator.add_comment(article, content=f"港湾银行 {article}", created_at=now - timedelta(minutes=1))
    announced = {mass_sent_entry(recent, 0, now - timedelta(hours=1)), mass_sent_entry(older, 0, now - timedelta(days=6)),
                 mass_sent_entry(stale, 0, now - timedelta(days=8)),
                 mass_sent_entry(configured, 0, now - timedelta(days=2))}  # configured too: read once, with its link
    reads: list[int] = []

    def announced_articles() -> set[str]:
        reads.append(1)
        return announced

    reader = WeChatCommentReader(client, credentials=_Credentials(emulator.credentials()), source_id="wc",
                                 clock=sim_clock, articles=[WatchedArticle(configured, 0, "https://mp.weixin.qq.com/s/x")],
                                 announced=announced_articles, announced_days=7)
    pages, cursor = _read_round(reader, {})
    # One comment under each article, so each page names the article it read.
    assert [[native_id.split("_")[0] for native_id in page] for page in pages] == [
        [str(configured)], [str(older)], [str(recent)]]
    assert len([r for r in emulator.requests_log if r.path == COMMENT_LIST_PATH]) == 3
    assert sorted(entry.split(":")[0] for entry in cursor["progress"]) == sorted(str(a) for a in (configured, older, recent))
    assert reads == [1], "the list is read once per run"


def test_announced_articles_keep_their_progress_across_runs_and_leave_it_when_their_window_ends(wechat, sim_clock) -> None:
    emulator, client = wechat
    article = emulator.add_article()
    sent_at = sim_clock() - timedelta(days=6, hours=23)
    first = emulator.add_comment(article, content="港湾银行 第一条", created_at=sim_clock() - timedelta(minutes=2))

    def reader() -> WeChatCommentReader:  # one reader per run, as the Poller builds them
        return WeChatCommentReader(client, credentials=_Credentials(emulator.credentials()), source_id="wc",
                                   clock=sim_clock, articles=[], announced=lambda: [mass_sent_entry(article, 0, sent_at)])

    pages, cursor = _read_round(reader(), {})
    assert pages == [[first]] and cursor["progress"] == [f"{article}:0:1:{first.rsplit('_', 1)[1]}"]
    second = emulator.add_comment(article, content="港湾银行 第二条", created_at=sim_clock())
    pages, cursor = _read_round(reader(), cursor)
    assert pages == [[first, second]], "read on from the anchor (read again, stored once)"
    assert cursor["progress"] == [f"{article}:0:2:{second.rsplit('_', 1)[1]}"]
    sim_clock.advance(timedelta(hours=2))  # the article is now older than the window
    calls = len(emulator.requests_log)
    page = reader().read(cursor)
    assert (page.posts, page.more, page.cursor) == ([], False, {"queue": None, "progress": None})
    assert len(emulator.requests_log) == calls


def test_a_reader_with_nothing_configured_and_nothing_announced_calls_nothing(wechat, sim_clock) -> None:
    emulator, client = wechat
    reader = WeChatCommentReader(client, credentials=_Credentials(emulator.credentials()), source_id="wc",
                                 clock=sim_clock, articles=[], announced=set)
    assert reader.read({}).posts == [] and emulator.requests_log == []
    with pytest.raises(ValueError, match="at least one article"):
        WeChatCommentReader(client, credentials=_Credentials({}), source_id="wc", clock=sim_clock, articles=[])


# -- the reader as wiring builds it -----------------------------------------------------------------

def _built_reader(source: Any, announced: list[str], asked: list[str]) -> Any:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"errcode": 0, "comment": []})

    http = httpx.Client(base_url="https://api.weixin.qq.com", transport=httpx.MockTransport(answer))

    def announced_articles(platform: str) -> list[str]:
        asked.append(platform)
        return announced

    parts = SourceParts(source=source, config=None, http=lambda url: http, base_url="https://api.weixin.qq.com",  # type: ignore[arg-type]
                        credentials=_Credentials({"access_token": "t"}), clock=lambda: NOW,
                        announced_articles=announced_articles)
    return SOURCE_READERS["wechat"].reader(parts), seen


def test_wiring_gives_the_wechat_reader_the_announced_articles_unless_the_source_turns_them_off() -> None:
    entry = mass_sent_entry(MSG_DATA_ID, 0, NOW - timedelta(days=1))
    asked: list[str] = []
    reader, seen = _built_reader(_source(), [entry], asked)
    reader.read({})
    assert asked == ["wechat"] and json.loads(seen[0].content)["msg_data_id"] == int(MSG_DATA_ID)

    asked.clear()
    reader, seen = _built_reader(_source(watch_mass_sent=False, articles=[{"msg_data_id": 7}]), [entry], asked)
    reader.read({})
    assert asked == [] and json.loads(seen[0].content)["msg_data_id"] == 7
    # Other platforms' builders never see the new field: its default answers nothing.
    assert list(SourceParts(source=None, config=None, http=lambda url: None, base_url="", credentials=None,  # type: ignore[arg-type]
                            clock=lambda: NOW).announced_articles("wechat")) == []


# -- the state item ---------------------------------------------------------------------------------

class _Dynamo:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.item: dict[str, Any] = {}

    def update_item(self, **request: Any) -> dict[str, Any]:
        self.requests.append(("update_item", request))
        return {}

    def get_item(self, **request: Any) -> dict[str, Any]:
        self.requests.append(("get_item", request))
        return {"Item": self.item} if self.item else {}


def test_announcing_is_an_idempotent_set_add_and_reading_is_consistent() -> None:
    dynamo = _Dynamo()
    state = StateRepository("state", clients=lambda service: dynamo)  # type: ignore[arg-type]
    state.announce_article("wechat", "2650000042:0:1795852800")
    [(_, update)] = dynamo.requests
    assert update["Key"] == {"pk": {"S": "source#wechat#mass-sent"}}
    assert update["UpdateExpression"] == "ADD #articles :article" and "ConditionExpression" not in update
    assert update["ExpressionAttributeValues"] == {":article": {"SS": ["2650000042:0:1795852800"]}}
    assert state.announced_articles("wechat") == set()
    dynamo.item = {"pk": {"S": "source#wechat#mass-sent"}, "articles": {"SS": ["1:0:5", "2:0:6"]}}
    assert state.announced_articles("wechat") == {"1:0:5", "2:0:6"}
    assert all(request["ConsistentRead"] for kind, request in dynamo.requests if kind == "get_item")


# -- the Publisher ----------------------------------------------------------------------------------

class _Statements:
    """An in-memory statement repository with the same conditional moves as the DynamoDB one."""

    def __init__(self, statement: dict[str, Any]) -> None:
        self.statement = statement

    def load(self, statement_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.statement)

    load_states = load

    def delivery(self, statement_id: str, key: str) -> dict[str, Any] | None:
        return next((copy.deepcopy(d) for d in self.statement["deliveries"] if d["key"] == key), None)

    def move_delivery(self, statement_id: str, key: str, *, expect: tuple[str, ...], updates: dict[str, Any],
                      entry: Any = None) -> bool:
        delivery = next(d for d in self.statement["deliveries"] if d["key"] == key)
        if delivery["state"] not in expect:
            return False
        delivery.update(updates)
        return True

    def change(self, statement: dict[str, Any], updates: dict[str, Any], entry: Any, **kwargs: Any) -> None:
        self.statement.update(updates)


class _Channel:
    """A channel adapter answering with a scripted result; what it accepted it confirms at once."""

    def __init__(self, channel: str, result: DeliveryResult | Exception) -> None:
        self.channel = channel
        self.result = result

    def publish(self, request: DeliveryRequest) -> DeliveryResult:
        if isinstance(self.result, Exception):
            raise self.result
        return self.result

    def find(self, request: DeliveryRequest) -> DeliveryResult | None:
        return None

    def confirm(self, request: DeliveryRequest, sent: DeliveryResult) -> DeliveryResult:
        return DeliveryResult(sent.platform_id, sent.url, {k: v for k, v in sent.details.items() if k != "confirm"})


def _statement(channel: str) -> dict[str, Any]:
    rendering = {"text": "<p>我行网上银行服务已全面恢复。</p>", "title": "关于网上银行服务的说明"}
    delivery = {"key": f"v0001#{channel}#zh", "delivery_id": f"d-{channel}", "statement_id": SID, "version": 1,
                "channel": channel, "language": "zh", "state": "PENDING", "attempts": 0, "rendering": rendering,
                "text_hash": content_sha256(rendering["text"], rendering["title"], None)}
    return {"id": SID, "kind": "statement", "state": "PUBLISHING", "published_version": 1, "revision": 1,
            "versions": [], "deliveries": [delivery]}


def _deliver(channel: str, result: DeliveryResult | Exception,
             announce: Any) -> tuple[dict[str, Any], _Statements]:
    repo = _Statements(_statement(channel))
    publisher = Publisher(repo, adapter_for=lambda name: _Channel(name, result),  # type: ignore[arg-type,return-value]
                          renderer=Renderer(ChannelsConfig.model_validate({"newsroom_base_url": "https://n.example",
                                                                          "channels": {}})),
                          clock=lambda: NOW, max_attempts=3, announce_mass_sent=announce)
    outcome = publisher.deliver(DeliveryMessage(statement_id=SID, key=f"v0001#{channel}#zh", delivery_id=f"d-{channel}"))
    return outcome, repo


def _mass_sent(msg_data_id: str = MSG_DATA_ID, **details: str) -> DeliveryResult:
    base = {"publish_mode": "mass_send", "media_id": "m-1", "msg_id": "1000000001", "msg_data_id": msg_data_id,
            "confirm": CONFIRM_PENDING}
    return DeliveryResult(msg_data_id, None, {**base, **details})


def test_a_sent_mass_send_is_announced_once_with_its_msg_data_id_and_send_time() -> None:
    announced: list[tuple[str, datetime]] = []
    outcome, repo = _deliver("wechat", _mass_sent(), lambda *args: announced.append(args))
    assert outcome["state"] == "SENT" and outcome["confirmed"] is True
    assert announced == [(MSG_DATA_ID, NOW)]
    assert repo.statement["deliveries"][0]["platform_id"] == MSG_DATA_ID


@pytest.mark.parametrize(("channel", "result"), [
    # WeChat refused the mass send (quota, permission) and the statement was free-published instead.
    ("wechat", DeliveryResult("2247483001", None, {"publish_id": "2247483001", "media_id": "m-1",
                                                   "mass_send_refused": "errcode 45028: no quota"})),
    # A repeat WeChat recognised by its clientmsgid: only the msg_id is known.
    ("wechat", DeliveryResult("msg_id:1000000001", None, {"publish_mode": "mass_send", "msg_id": "1000000001",
                                                           "msg_data_id": "", "sent_before": "true"})),
    # Free publishing, the default mode.
    ("wechat", DeliveryResult("2247483001", None, {"publish_id": "2247483001", "media_id": "m-1"})),
    # Another channel that happens to answer with the same details.
    ("weibo", _mass_sent()),
])
def test_only_a_wechat_mass_send_with_a_msg_data_id_is_announced(channel: str, result: DeliveryResult) -> None:
    announced: list[Any] = []
    outcome, _ = _deliver(channel, result, lambda *args: announced.append(args))
    assert outcome["state"] == "SENT" and announced == []


def test_a_delivery_that_fails_announces_nothing() -> None:
    from crisiscomms.errors import PermanentPlatformError

    announced: list[Any] = []
    outcome, _ = _deliver("wechat", PermanentPlatformError("refused", code="40007"), lambda *args: announced.append(args))
    assert outcome["state"] == "FAILED" and announced == []


def test_a_failing_announcement_neither_fails_nor_repeats_the_delivery(monkeypatch: pytest.MonkeyPatch,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    from crisiscomms.observability import logger

    counted: list[str] = []
    monkeypatch.setattr(publisher_module, "count", lambda name, value=1: counted.append(name))
    calls: list[Any] = []

    def broken(*args: Any) -> None:
        calls.append(args)
        raise RuntimeError("AccessDeniedException: not authorized to perform dynamodb:UpdateItem")

    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING):
            outcome, repo = _deliver("wechat", _mass_sent(), broken)
    finally:
        logger.removeHandler(caplog.handler)
    assert outcome["state"] == "SENT" and outcome["statement"] == "PUBLISHED"
    delivery = repo.statement["deliveries"][0]
    assert (delivery["state"], delivery["attempts"], delivery["confirm_pending"]) == ("SENT", 1, False)
    assert len(calls) == 1 and "MassSendsNotAnnounced" in counted
    record = next(r for r in caplog.records if "could not be announced" in r.getMessage())
    assert record.levelno == logging.WARNING
    assert (record.msg_data_id, record.statement_id, record.key) == (MSG_DATA_ID, SID, "v0001#wechat#zh")  # type: ignore[attr-defined]
    assert "AccessDenied" in record.error  # type: ignore[attr-defined]


def test_without_an_announcer_a_mass_send_is_delivered_as_before() -> None:
    outcome, _ = _deliver("wechat", _mass_sent(), None)
    assert outcome["state"] == "SENT"
