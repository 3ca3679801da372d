"""The Publisher's prepare / discard messages and what a delivery does with a prepared item and a confirmation."""
from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from crisiscomms.errors import PermanentPlatformError, TransientPlatformError
from crisiscomms.models.delivery import DeliveryRequest, DeliveryResult, PreparedItem
from crisiscomms.statements.publisher import DeliveryMessage, Publisher, RetryLater
from crisiscomms.statements.render import ChannelsConfig, Renderer

from tests.unit.fakes import StatementsInMemory

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=timezone.utc)
SID = "st-0123456789abcdef"
TEXT = {"zh": {"full": "服务已于15时恢复。\n客户资金安全。", "short": "服务已于15时恢复。"},
        "en": {"full": "Service restored at 15:00.", "short": "Service restored at 15:00."}}


class _WeChat:
    """Prepares a draft, publishes on acceptance and is confirmed afterwards, as the WeChat adapter does."""

    channel = "wechat"

    def __init__(self) -> None:
        self.prepared: list[DeliveryRequest] = []
        self.discarded: list[PreparedItem] = []
        self.published: list[tuple[DeliveryRequest, PreparedItem | None]] = []
        self.confirmations: list[Any] = []  # what confirm answers next: a result, None, or an exception
        self.prepare_error: Exception | None = None
        self.discard_error: Exception | None = None
        self.during_prepare: Callable[[], None] | None = None

    def prepare(self, request: DeliveryRequest) -> PreparedItem:
        if self.prepare_error is not None:
            raise self.prepare_error
        self.prepared.append(request)
        if self.during_prepare is not None:
            self.during_prepare()
        return PreparedItem(channel="wechat", data={"media_id": f"media-{len(self.prepared)}"})

    def discard(self, prepared: PreparedItem) -> None:
        if self.discard_error is not None:
            raise self.discard_error
        self.discarded.append(prepared)

    def publish(self, request: DeliveryRequest, prepared: PreparedItem | None = None) -> DeliveryResult:
        self.published.append((request, prepared))
        return DeliveryResult(platform_id="2247483001", details={"publish_id": "2247483001", "confirm": "pending"})

    def confirm(self, request: DeliveryRequest, sent: DeliveryResult) -> DeliveryResult | None:
        answer = self.confirmations.pop(0) if self.confirmations else DeliveryResult("article-1", "https://mp.weixin.qq.com/s/a1")
        if isinstance(answer, Exception):
            raise answer
        return answer

    def find(self, request: DeliveryRequest) -> DeliveryResult | None:
        return None


class _X:
    channel = "x"

    def __init__(self, gate: threading.Barrier | None = None) -> None:
        self.gate = gate
        self.sent: list[DeliveryRequest] = []

    def publish(self, request: DeliveryRequest) -> DeliveryResult:
        if self.gate is not None:
            self.gate.wait(timeout=5)
        self.sent.append(request)
        return DeliveryResult(platform_id="1850000000000000001")

    def find(self, request: DeliveryRequest) -> DeliveryResult | None:
        return None


def _renderer() -> Renderer:
    return Renderer(ChannelsConfig.model_validate({
        "newsroom_base_url": "https://newsroom.bank.example",
        "channels": {"x": {"languages": ["en"]}, "wechat": {"languages": ["zh"]}},
    }))


def _statement(*, delivered: bool = True, prepared_state: str = "READY", with_item: bool = True) -> dict[str, Any]:
    rendered = _renderer().render_all(SID, TEXT, ["x", "wechat"], kind="statement", title=None)
    prepared = {"key": "v0001#wechat#zh", "delivery_id": "d-wechat", "statement_id": SID, "version": 1, "channel": "wechat",
                "language": "zh", "state": prepared_state, "text_hash": rendered["wechat#zh"]["sha256"], "attempts": 0}
    if with_item and prepared_state != "PENDING":
        prepared["data"] = {"media_id": "media-0"}
    deliveries = []
    for channel, language in (("x", "en"), ("wechat", "zh")):
        r = rendered[f"{channel}#{language}"]
        delivery = {"key": f"v0001#{channel}#{language}", "delivery_id": f"d-{channel}", "statement_id": SID, "version": 1,
                    "channel": channel, "language": language, "state": "PENDING", "text_hash": r["sha256"], "attempts": 0,
                    "kind": "statement", "rendering": {f: r[f] for f in ("text", "title", "digest", "newsroom_url") if r[f]}}
        if channel == "wechat" and with_item:
            delivery["prepared"] = {"data": {"media_id": "media-0"}, "text_hash": r["sha256"]}
        deliveries.append(delivery)
    return {"id": SID, "kind": "statement", "state": "PUBLISHING" if delivered else "APPROVED", "published_version": 1,
            "revision": 3, "versions": [{"version": 1, "text": TEXT}], "deliveries": deliveries if delivered else [],
            "prepared": [prepared]}


def _publisher(repo: StatementsInMemory, adapters: dict[str, Any], max_attempts: int = 3) -> Publisher:
    return Publisher(repo, adapter_for=adapters.__getitem__, renderer=_renderer(), clock=lambda: NOW,  # type: ignore[arg-type]
                     max_attempts=max_attempts)


def _message(channel: str, kind: str = "deliver") -> DeliveryMessage:
    lang = "zh" if channel == "wechat" else "en"
    return DeliveryMessage(statement_id=SID, key=f"v0001#{channel}#{lang}", delivery_id=f"d-{channel}", kind=kind)  # type: ignore[arg-type]


def _prepared(repo: StatementsInMemory) -> dict[str, Any]:
    return repo.statement["prepared"][0]


def _delivery(repo: StatementsInMemory, channel: str) -> dict[str, Any]:
    return next(d for d in repo.statement["deliveries"] if d["channel"] == channel)


# --- prepare ---------------------------------------------------------------------------------------

def test_prepare_makes_the_item_from_the_approved_rendering_and_records_it_ready() -> None:
    repo = StatementsInMemory(_statement(delivered=False, prepared_state="PENDING"))
    wechat = _WeChat()
    assert _publisher(repo, {"wechat": wechat}).handle(_message("wechat", "prepare")) == {"state": "READY"}
    assert _prepared(repo)["state"] == "READY" and _prepared(repo)["data"] == {"media_id": "media-1"}
    [request] = wechat.prepared
    assert request.delivery_id == "d-wechat" and request.text.startswith("<p>服务已于15时恢复。</p>")
    assert [e.action for e in repo.entries] == ["prepare_ready"]
    assert repo.entries[0].after == {"prepared": "v0001#wechat#zh", "state": "READY", "attempts": 1, "data": {"media_id": "media-1"}}


@pytest.mark.parametrize("state", ["READY", "DISCARDING", "SKIPPED", "USED", "DISCARDED"])
def test_prepare_does_nothing_unless_the_entry_is_pending(state: str) -> None:
    repo = StatementsInMemory(_statement(delivered=False, prepared_state=state))
    wechat = _WeChat()
    assert _publisher(repo, {"wechat": wechat}).handle(_message("wechat", "prepare")) == {"state": state}
    assert wechat.prepared == [] and repo.entries == []


@pytest.mark.parametrize("meanwhile", ["DISCARDING", "SKIPPED"])
def test_an_item_made_while_the_entry_was_withdrawn_is_discarded_at_once(meanwhile: str) -> None:
    repo = StatementsInMemory(_statement(delivered=False, prepared_state="PENDING"))
    wechat = _WeChat()
    wechat.during_prepare = lambda: _prepared(repo).update(state=meanwhile)  # an edit, or publishing, got there first
    assert _publisher(repo, {"wechat": wechat}).handle(_message("wechat", "prepare")) == {"state": "WITHDRAWN"}
    assert wechat.discarded == [PreparedItem(channel="wechat", data={"media_id": "media-1"})]
    assert _prepared(repo)["state"] == meanwhile and "data" not in _prepared(repo)


def test_a_prepare_that_fails_for_now_comes_back_then_gives_up() -> None:
    repo = StatementsInMemory(_statement(delivered=False, prepared_state="PENDING"))
    wechat = _WeChat()
    wechat.prepare_error = TransientPlatformError("system busy")
    publisher = _publisher(repo, {"wechat": wechat}, max_attempts=2)
    with pytest.raises(RetryLater):
        publisher.handle(_message("wechat", "prepare"))
    assert _prepared(repo)["state"] == "PENDING" and _prepared(repo)["attempts"] == 1
    assert publisher.handle(_message("wechat", "prepare")) == {"state": "FAILED"}
    assert "after 2 attempts" in _prepared(repo)["error"]


def test_a_refused_prepare_fails_and_publishing_will_do_the_whole_work() -> None:
    repo = StatementsInMemory(_statement(delivered=False, prepared_state="PENDING"))
    wechat = _WeChat()
    wechat.prepare_error = PermanentPlatformError("WeChat errcode 45003: title size out of limit", code="45003")
    assert _publisher(repo, {"wechat": wechat}).handle(_message("wechat", "prepare")) == {"state": "FAILED"}
    assert "45003" in _prepared(repo)["error"] and [e.action for e in repo.entries] == ["prepare_failed"]


def test_a_text_that_no_longer_renders_to_the_approved_hash_is_not_prepared() -> None:
    statement = _statement(delivered=False, prepared_state="PENDING")
    statement["versions"][0]["text"] = {**TEXT, "zh": {**TEXT["zh"], "full": "篡改的文本"}}
    repo = StatementsInMemory(statement)
    wechat = _WeChat()
    assert _publisher(repo, {"wechat": wechat}).handle(_message("wechat", "prepare")) == {"state": "FAILED"}
    assert wechat.prepared == [] and "differs from the approved text" in _prepared(repo)["error"]


def test_a_message_for_another_entry_is_ignored() -> None:
    repo = StatementsInMemory(_statement(delivered=False, prepared_state="PENDING"))
    stale = DeliveryMessage(statement_id=SID, key="v0001#wechat#zh", delivery_id="d-other", kind="prepare")
    assert _publisher(repo, {"wechat": _WeChat()}).handle(stale) == {"state": "MISSING"}


# --- discard ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("state", ["DISCARDING", "SKIPPED"])
def test_discard_removes_the_item_and_records_it(state: str) -> None:
    repo = StatementsInMemory(_statement(delivered=False, prepared_state=state))
    wechat = _WeChat()
    assert _publisher(repo, {"wechat": wechat}).handle(_message("wechat", "discard")) == {"state": "DISCARDED"}
    assert wechat.discarded == [PreparedItem(channel="wechat", data={"media_id": "media-0"})]
    assert [e.action for e in repo.entries] == ["prepare_discarded"] and repo.entries[0].before["state"] == state


def test_discarding_an_entry_that_holds_nothing_calls_no_platform() -> None:
    repo = StatementsInMemory(_statement(delivered=False, prepared_state="DISCARDING", with_item=False))
    wechat = _WeChat()
    assert _publisher(repo, {"wechat": wechat}).handle(_message("wechat", "discard")) == {"state": "DISCARDED"}
    assert wechat.discarded == []


@pytest.mark.parametrize("state", ["READY", "USED", "PENDING", "DISCARDED"])
def test_discard_leaves_entries_that_are_not_withdrawn(state: str) -> None:
    repo = StatementsInMemory(_statement(delivered=False, prepared_state=state))
    wechat = _WeChat()
    assert _publisher(repo, {"wechat": wechat}).handle(_message("wechat", "discard")) == {"state": state}
    assert wechat.discarded == []


def test_a_discard_that_keeps_failing_is_recorded_for_a_person() -> None:
    repo = StatementsInMemory(_statement(delivered=False, prepared_state="DISCARDING"))
    wechat = _WeChat()
    wechat.discard_error = TransientPlatformError("system busy")
    publisher = _publisher(repo, {"wechat": wechat}, max_attempts=2)
    with pytest.raises(RetryLater):
        publisher.handle(_message("wechat", "discard"))
    assert publisher.handle(_message("wechat", "discard")) == {"state": "DISCARD_FAILED"}
    assert "not public" in _prepared(repo)["error"]


# --- deliver with a prepared item, and the confirmation ---------------------------------------------

def test_a_delivery_publishes_with_its_prepared_item_and_is_sent_on_acceptance_then_confirmed() -> None:
    repo = StatementsInMemory(_statement())
    wechat = _WeChat()
    result = _publisher(repo, {"wechat": wechat, "x": _X()}).deliver(_message("wechat"))
    [(request, prepared)] = wechat.published
    assert prepared == PreparedItem(channel="wechat", data={"media_id": "media-0"})
    assert request.text.startswith("<p>服务已于15时恢复。</p>") and request.digest == "服务已于15时恢复。"
    assert repo.loads == ["states"]  # the rendering came with the delivery: nothing else read back
    delivery = _delivery(repo, "wechat")
    assert result == {"state": "SENT", "confirmed": True, "statement": "PUBLISHING"}
    assert (delivery["state"], delivery["platform_id"], delivery["url"]) == ("SENT", "article-1", "https://mp.weixin.qq.com/s/a1")
    assert delivery["prepared_used"] is True and delivery["confirm_pending"] is False
    assert [e.action for e in repo.entries] == ["delivery_sending", "delivery_sent", "delivery_confirmed"]
    assert repo.entries[1].after["platform_id"] == "2247483001"  # SENT on acceptance, with the publish task


def test_a_prepared_item_for_another_text_is_not_used() -> None:
    statement = _statement()
    next(d for d in statement["deliveries"] if d["channel"] == "wechat")["prepared"]["text_hash"] = "0" * 64
    repo = StatementsInMemory(statement)
    wechat = _WeChat()
    _publisher(repo, {"wechat": wechat, "x": _X()}).deliver(_message("wechat"))
    assert wechat.published[0][1] is None and "prepared_used" not in _delivery(repo, "wechat")


def test_a_rendering_that_does_not_hash_to_the_approved_text_is_refused() -> None:
    statement = _statement()
    next(d for d in statement["deliveries"] if d["channel"] == "x")["rendering"]["text"] = "Something else entirely"
    repo = StatementsInMemory(statement)
    x = _X()
    assert _publisher(repo, {"wechat": _WeChat(), "x": x}).deliver(_message("x"))["state"] == "FAILED"
    assert x.sent == [] and "differs from the approved text" in _delivery(repo, "x")["error"]


def test_not_confirmed_yet_comes_back_later_and_is_confirmed_then() -> None:
    repo = StatementsInMemory(_statement())
    wechat = _WeChat()
    wechat.confirmations = [None]
    publisher = _publisher(repo, {"wechat": wechat, "x": _X()})
    with pytest.raises(RetryLater, match="not confirmed"):
        publisher.deliver(_message("wechat"))
    delivery = _delivery(repo, "wechat")
    assert (delivery["state"], delivery["confirm_pending"], delivery["confirm_checks"]) == ("SENT", True, 1)
    assert publisher.deliver(_message("wechat")) == {"state": "SENT", "confirmed": True}  # the message came back
    assert len(wechat.published) == 1 and _delivery(repo, "wechat")["platform_id"] == "article-1"


def test_never_confirmed_and_not_found_goes_to_a_person() -> None:
    repo = StatementsInMemory(_statement())
    wechat = _WeChat()
    wechat.confirmations = [None, TransientPlatformError("status unknown")]
    publisher = _publisher(repo, {"wechat": wechat, "x": _X()}, max_attempts=2)
    with pytest.raises(RetryLater):
        publisher.deliver(_message("wechat"))
    assert publisher.deliver(_message("wechat"))["state"] == "UNKNOWN"
    delivery = _delivery(repo, "wechat")
    assert delivery["needs_person"] is True and "not confirmed after 2 checks" in delivery["error"]
    assert len(wechat.published) == 1


def test_a_post_that_failed_after_acceptance_fails_the_delivery() -> None:
    repo = StatementsInMemory(_statement())
    x, wechat = _X(), _WeChat()
    wechat.confirmations = [PermanentPlatformError("publish_status 4 (rejected by platform review)", code="publish_status_4")]
    publisher = _publisher(repo, {"wechat": wechat, "x": x})
    publisher.deliver(_message("x"))
    assert publisher.deliver(_message("wechat"))["state"] == "FAILED"
    assert "accepted by wechat, then: publish_status 4" in _delivery(repo, "wechat")["error"]
    assert repo.statement["state"] == "PARTIAL"


# --- settling once per batch -------------------------------------------------------------------------

def test_deliveries_of_one_statement_in_one_batch_settle_it_once() -> None:
    statement = _statement(with_item=False)
    repo = StatementsInMemory(statement)
    gate = threading.Barrier(2)
    wechat = _WeChat()
    wechat.publish = lambda request, prepared=None: (gate.wait(timeout=5), _WeChat.publish(wechat, request, prepared))[1]  # type: ignore[method-assign]
    publisher = _publisher(repo, {"wechat": wechat, "x": _X(gate)})
    results: dict[str, Any] = {}
    threads = [threading.Thread(target=lambda c=c: results.__setitem__(c, publisher.deliver(_message(c)))) for c in ("x", "wechat")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert repo.statement["state"] == "PUBLISHED"
    assert repo.loads == ["states"]  # the last one to record its outcome read them back, once
    assert [e.action for e in repo.entries].count("statement_published") == 1


def test_a_delivery_that_ends_without_an_outcome_still_settles_for_the_others() -> None:
    statement = _statement(with_item=False)
    repo = StatementsInMemory(statement)
    gate = threading.Barrier(2)
    wechat = _WeChat()

    def busy(request: DeliveryRequest, prepared: PreparedItem | None = None) -> DeliveryResult:
        gate.wait(timeout=5)
        gate_done.wait(timeout=5)  # x records SENT and defers settling to this one
        raise TransientPlatformError("system busy")

    gate_done = threading.Event()
    wechat.publish = busy  # type: ignore[method-assign]
    x = _X(gate)
    publisher = _publisher(repo, {"wechat": wechat, "x": x})
    errors: list[Exception] = []

    def run_wechat() -> None:
        try:
            publisher.deliver(_message("wechat"))
        except RetryLater as exc:
            errors.append(exc)

    t = threading.Thread(target=run_wechat)
    t.start()
    assert publisher.deliver(_message("x"))["statement"] == "SETTLED_BY_BATCH"
    gate_done.set()
    t.join(timeout=10)
    assert errors and _delivery(repo, "wechat")["state"] == "RETRYING"
    assert repo.loads == ["states"] and repo.statement["state"] == "PUBLISHING"
