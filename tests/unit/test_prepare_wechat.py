"""WeChat: the draft made at approval (prepare), deleted when withdrawn (discard), submitted in one call."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from crisiscomms.adapters.channels.wechat import WeChatAdapter
from crisiscomms.adapters.http import make_client
from crisiscomms.errors import PermanentPlatformError
from crisiscomms.models.delivery import DeliveryRequest, PreparedItem, PreparingAdapter
from crisiscomms_local.emulators.channels.wechat import DRAFT_ADD_PATH, DRAFT_DELETE_PATH, GET_PATH, SUBMIT_PATH, WeChatEmulator

TOKEN = "wechat-secret-access-token"
TEXT = "<p>尊敬的客户：</p><p>我行网上银行服务已全面恢复，资金安全不受影响。</p>"


def _request(**changes: Any) -> DeliveryRequest:
    fields: dict[str, Any] = dict(delivery_id="d-wechat-1", statement_id="st-0123456789abcdef", version=1, channel="wechat",
                                  language="zh", text=TEXT, title="关于网上银行服务中断的说明", digest="网上银行服务已全面恢复",
                                  newsroom_url="https://newsroom.examplebank.com/statements/st-0123456789abcdef.zh.html")
    fields.update(changes)
    return DeliveryRequest(**fields)


@pytest.fixture
def wechat(sim_clock: Any) -> Iterator[tuple[WeChatEmulator, WeChatAdapter]]:
    emulator = WeChatEmulator(sim_clock, access_token=TOKEN, thumb_media_ids=("THUMB-1",), publishing_polls=1)
    base_url = emulator.start()
    client = make_client(base_url, timeout_seconds=2.0)
    adapter = WeChatAdapter(client, access_token=TOKEN, thumb_media_id="THUMB-1", author="新闻中心", clock=sim_clock,
                            sleep=lambda _: None, poll_interval=0)
    yield emulator, adapter
    client.close()
    emulator.stop()


def _paths(emulator: WeChatEmulator) -> list[str]:
    return [entry.path for entry in emulator.requests_log]


def test_the_adapter_declares_it_prepares(wechat) -> None:
    _, adapter = wechat
    assert isinstance(adapter, PreparingAdapter)


def test_prepare_makes_a_draft_and_nothing_public(wechat) -> None:
    emulator, adapter = wechat
    item = adapter.prepare(_request())
    assert item.channel == "wechat" and list(item.data) == ["media_id"]
    assert list(emulator.drafts) == [item.data["media_id"]]
    assert emulator.drafts[item.data["media_id"]][0]["digest"] == "网上银行服务已全面恢复"
    assert emulator.tasks == {} and emulator.articles == []
    assert _paths(emulator) == [DRAFT_ADD_PATH]


def test_publishing_a_prepared_draft_is_one_call_and_confirm_finds_the_article(wechat) -> None:
    emulator, adapter = wechat
    request = _request()
    item = adapter.prepare(request)
    emulator.clear_log()
    sent = adapter.publish(request, prepared=item)
    assert _paths(emulator) == [SUBMIT_PATH]
    assert sent.details == {"publish_id": sent.platform_id, "media_id": item.data["media_id"], "confirm": "pending",
                            "draft": "prepared"}
    confirmed = adapter.confirm(request, sent)
    assert confirmed is not None and len(emulator.articles) == 1
    article = emulator.articles[0]
    assert (confirmed.platform_id, confirmed.url) == (article.article_id, article.url)
    assert article.news_item["content"] == TEXT and article.news_item["title"] == request.title
    assert _paths(emulator) == [SUBMIT_PATH, GET_PATH, GET_PATH]  # one "publishing" answer, then done


def test_without_a_prepared_draft_publish_adds_it_first(wechat) -> None:
    emulator, adapter = wechat
    sent = adapter.publish(_request())
    assert _paths(emulator) == [DRAFT_ADD_PATH, SUBMIT_PATH] and sent.details["draft"] == "added"


def test_a_prepared_draft_that_is_gone_falls_back_to_the_whole_work(wechat) -> None:
    emulator, adapter = wechat
    request = _request()
    item = adapter.prepare(request)
    emulator.drafts.clear()  # deleted in the back office, say
    emulator.clear_log()
    sent = adapter.publish(request, prepared=item)
    assert _paths(emulator) == [SUBMIT_PATH, DRAFT_ADD_PATH, SUBMIT_PATH]  # the refused submit published nothing
    assert sent.details["draft"] == "added" and len(emulator.tasks) == 1
    assert adapter.confirm(request, sent) is not None and len(emulator.articles) == 1


def test_discard_deletes_the_draft_and_a_second_discard_is_harmless(wechat) -> None:
    emulator, adapter = wechat
    item = adapter.prepare(_request())
    adapter.discard(item)
    assert emulator.drafts == {} and list(emulator.deleted_drafts) == [item.data["media_id"]]
    adapter.discard(item)  # already gone: errcode 40007, not an error
    assert _paths(emulator) == [DRAFT_ADD_PATH, DRAFT_DELETE_PATH, DRAFT_DELETE_PATH]
    assert emulator.articles == [] and emulator.tasks == {}


def test_discard_reports_other_refusals(wechat) -> None:
    emulator, adapter = wechat
    item = adapter.prepare(_request())
    emulator.expired_tokens.add(TOKEN)
    with pytest.raises(PermanentPlatformError) as caught:
        adapter.discard(item)
    assert caught.value.code == "42001" and TOKEN not in str(caught.value)
    assert list(emulator.drafts) == [item.data["media_id"]]


def test_a_prepared_item_without_a_media_id_is_ignored(wechat) -> None:
    emulator, adapter = wechat
    adapter.discard(PreparedItem(channel="wechat", data={}))
    sent = adapter.publish(_request(), prepared=PreparedItem(channel="wechat", data={}))
    assert _paths(emulator) == [DRAFT_ADD_PATH, SUBMIT_PATH] and sent.details["draft"] == "added"
