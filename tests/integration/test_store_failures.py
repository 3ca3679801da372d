"""What storing a page survives on local AWS, through the real Poller: a post DynamoDB refuses (its item too
large) is set apart and the source moves on; a run stopped between a page's transaction and its posts' inbox
step leaves the step owed on each post, and the next read of the page does it, one conversation per post."""
from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import from_item, to_item
from crisiscomms.aws.inbox_store import InboxRepository
from crisiscomms.aws.post_store import FOLLOW_UP, INBOX_DUE, Refusal, StoreOutcome
from crisiscomms.models import posts as post_model
from crisiscomms_local.aws import Stack, client, put_watch_config
from crisiscomms_local.emulators.channels.weibo import WeiboEmulator

from .conftest import Listening, poller_with, source_state
from .test_post_batches import TABLES, Recorder, _items, _repository, _scored, _twin_tables

pytestmark = pytest.mark.integration
HUGE = 500_000  # characters of one feed entry's body: an item over DynamoDB's 400 KB


class Killed(BaseException):
    """The Lambda stopped (timeout, memory): nothing after this point of the run happens."""


def _post_item(key: str) -> dict[str, Any]:
    item = client("dynamodb").get_item(TableName=os.environ["POSTS_TABLE"], Key=to_item({"post_key": key}),
                                       ConsistentRead=True)
    return from_item(item["Item"]) if "Item" in item else {}


def _calls() -> Counter[str]:
    """The Poller's DynamoDB requests by operation, from now on."""
    from crisiscomms.wiring import container

    seen: Counter[str] = Counter()
    container().clients("dynamodb").meta.events.register("before-call.dynamodb",
                                                         lambda model, **_: seen.update([model.name]))
    return seen


def _feed(listening: Listening) -> list[str]:
    now = listening.clock()
    body = "Harbor Bank branches report long queues. " * (HUGE // 40)
    return [listening.news.add_item("daily", title="Harbor Bank opens late", summary="Queues outside.",
                                    published_at=now - timedelta(minutes=3)),
            listening.news.add_item("daily", title="Harbor Bank: the full transcript", summary=body,
                                    published_at=now - timedelta(minutes=2)),
            listening.news.add_item("daily", title="Harbor Bank says cash is available", summary="All branches open.",
                                    published_at=now - timedelta(minutes=1))]


def _news_key(guid: str) -> str:
    from crisiscomms.models import stable_id

    return f"news#daily#{stable_id(guid)}"


# --- a post DynamoDB refuses ---------------------------------------------------------------------------------

def test_a_feed_entry_with_a_huge_body_is_stored_cut_with_its_length_and_the_feed_moves_on(listening: Listening) -> None:
    guids = _feed(listening)
    daily, _ = listening.poll("news")
    assert (daily["status"], daily["stored"], daily["refused"]) == ("ok", 3, 0), daily
    huge = _post_item(_news_key(guids[1]))
    assert len(huge["text"]) == post_model.CUT_CHARS["text"] and huge["truncated"]["text"] > HUGE
    assert sorted(source_state("source#news#daily")["seen"]) == sorted(_news_key(g).split("#", 1)[1] for g in guids)


def test_a_post_dynamodb_refuses_is_set_apart_the_others_stored_and_the_feed_moves_on(
        listening: Listening, monkeypatch: Any, caplog: Any) -> None:
    """What no bound foresees, here a body over 400 KB with the model's bound lifted: local AWS refuses the
    whole transaction (ValidationException, as moto and its transaction patch answer an item too large)."""
    monkeypatch.setitem(post_model.CUT_CHARS, "text", 10 * HUGE)
    guids = _feed(listening)
    calls = _calls()
    with caplog.at_level("ERROR"):
        daily, _ = listening.poll("news")
    assert (daily["status"], daily["stored"], daily["refused"]) == ("ok", 2, 1), daily
    assert calls["TransactWriteItems"] <= 1 + 2 * math.ceil(math.log2(3)), "bounded: halves, never retries"
    assert _post_item(_news_key(guids[0])) and _post_item(_news_key(guids[2])) and not _post_item(_news_key(guids[1]))
    [record] = [r for r in caplog.records if r.getMessage() == "post not stored: its item was refused"]
    assert (record.post_key, record.error_code) == (_news_key(guids[1]), "ValidationException")
    assert "maximum allowed size" in record.reason
    assert len(source_state("source#news#daily")["seen"]) == 3, "the feed's cursor moved past all three"
    listening.tick()
    daily, _ = listening.poll("news")
    assert daily["status"] in ("ok", "not_modified") and daily["stored"] == daily["refused"] == 0, daily


def test_local_aws_names_a_post_whose_value_it_cannot_store_and_only_that_one_is_set_apart(stack: Stack) -> None:
    """moto cancels a transaction holding a string that is no UTF-8 (a lone surrogate, which the model's
    edge replaces) with a reason on that action: the post it names is dropped at once."""
    page = [_scored(n, topics=("harbor", "northgate")) for n in range(12)]
    page[4] = page[4].model_copy(update={"post": page[4].post.model_copy(update={"url": "https://x.com/\ud83d"})})
    expected, tables = _twin_tables(stack), _twin_tables(stack)
    for n, scored in enumerate(page):
        if n != 4:
            _repository(expected).store(scored)
    recorder = Recorder()
    refusals: dict[int, Refusal] = {}
    outcomes = _repository(tables, recorder).store_many(page, refusals=refusals)
    assert [n for n, o in enumerate(outcomes) if o is StoreOutcome.REFUSED] == [4] and len(recorder.sent) == 2
    assert refusals[4].code == "UnicodeEncodeError"
    for logical in TABLES:
        assert _items(tables[logical]) == _items(expected[logical]), "the others stored as alone, counted once"


# --- a run stopped between the transaction and the inbox step -----------------------------------------------

@pytest.fixture
def weibo(stack: Stack, sim_clock: Any) -> Iterator[tuple[WeiboEmulator, Any]]:
    with poller_with(stack, WeiboEmulator(sim_clock, access_token="2.00weibo-store-token")) as emulator:
        source = {"id": "mentions", "platform": "weibo", "stream": "mentions", "every_minutes": 1,
                  "initial_lookback_minutes": 60, "base_url": emulator.base_url}
        put_watch_config(stack, json_document({"version": 1, "sources": [source],
                                               "topics": [{"id": "harbor", "names": ["港湾银行"]}],
                                               "accounts": {"weibo": {"handle": emulator.screen_name,
                                                                      "id": emulator.uid}}}))
        yield emulator, sim_clock


def json_document(document: dict[str, Any]) -> str:
    import json

    return json.dumps(document, ensure_ascii=False)


def _stopping(monkeypatch: Any, when: str) -> None:
    """The Poller stops at its page's conversations: before they are written, or after and before the cursor moves."""
    real = InboxRepository.open_conversations

    def open_conversations(self: InboxRepository, openings: list[Any]) -> list[bool]:
        if when == "before":
            raise Killed
        real(self, openings)
        raise Killed

    monkeypatch.setattr(InboxRepository, "open_conversations", open_conversations)


def _poll(kind: str, clock: Any) -> dict[str, Any]:
    from crisiscomms_local.lambda_runtime import invoke

    clock.advance(timedelta(minutes=1))
    [report] = invoke("poller", {"source": kind, "scheduled_time": clock().strftime("%Y-%m-%dT%H:%M:%SZ")})["reports"]
    return report  # type: ignore[no-any-return]


def _conversations(topic: str = "harbor") -> list[dict[str, Any]]:
    return InboxRepository(os.environ["INBOX_TABLE"], clients=AwsClients()).list_queue(topic, "NEW")[0]


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_poll_stopped_before_its_inbox_steps_has_them_done_at_the_next_read_once_each(
        weibo: tuple[WeiboEmulator, Any], monkeypatch: Any, when: str) -> None:
    emulator, clock = weibo
    posted = clock() - timedelta(minutes=5)
    mentions = [emulator.add_post(text=text, author=f"user{n}", created_at=posted + timedelta(seconds=n), to_bank=True)
                for n, text in enumerate(["@ExampleBank 港湾银行转账一直失败，你们什么时候修好？",
                                          "@ExampleBank 港湾银行的APP又登不上了，怎么回事？",
                                          "@ExampleBank 港湾银行柜员态度太差了，排队两小时"])]
    keys = [f"weibo#{m}" for m in mentions]
    _stopping(monkeypatch, when)
    with pytest.raises(Killed):
        _poll("weibo", clock)
    if when == "before":
        assert all(INBOX_DUE in _post_item(key) for key in keys), "stored, each with its step owed"
        assert _conversations() == []
    else:  # a conversation and its post's follow-up are written together: nothing is left owed
        assert all(INBOX_DUE not in _post_item(key) for key in keys) and len(_conversations()) == 3
    monkeypatch.undo()

    calls = _calls()
    report = _poll("weibo", clock)  # the cursor did not move: the same posts again
    assert (report["status"], report["stored"], report["resumed"]) == ("ok", 0, 3 if when == "before" else 0), report
    conversations = _conversations()
    assert sorted(c["post_key"] for c in conversations) == sorted(keys), "one conversation per post, never two"
    for conversation in conversations:
        item = _post_item(conversation["post_key"])
        assert INBOX_DUE not in item and item[FOLLOW_UP]["kind"] == conversation["kind"], "followed up, owed no more"
    if when == "before":  # resumed one at a time
        assert calls["PutItem"] == 3 and calls["GetItem"] <= 1, calls  # + the topic's level
    else:
        assert calls["PutItem"] == calls["TransactWriteItems"] == calls["GetItem"] == 0, calls

    calls.clear()
    report = _poll("weibo", clock)
    assert report["resumed"] == 0 and calls["PutItem"] == 0, (report, calls)


def test_on_x_a_page_read_again_after_a_stop_opens_what_was_owed_and_writes_no_follow_up(
        listening: Listening, monkeypatch: Any) -> None:
    ids = [listening.x.add_post(text=f"Is Harbor Bank about to collapse? I heard there is a bank run #{n}",
                                author=f"worried{n}", created_at=listening.clock() - timedelta(minutes=5 - n))
           for n in range(3)]
    keys = [f"x#{i}" for i in ids]
    _stopping(monkeypatch, "after")
    with pytest.raises(Killed):
        listening.poll("x")
    assert len(_conversations()) == 3 and all(INBOX_DUE in _post_item(key) for key in keys), \
        "opened, and the marks kept: nothing writes a follow-up on X"
    monkeypatch.undo()
    listening.tick()
    calls = _calls()
    [report] = listening.poll("x")  # since_id did not move: the same page
    assert (report["status"], report["stored"], report["resumed"], report["followed_up"]) == ("ok", 0, 3, 0), report
    assert sorted(c["post_key"] for c in _conversations()) == sorted(keys)
    assert all(FOLLOW_UP not in _post_item(key) and INBOX_DUE not in _post_item(key) for key in keys)
    assert calls["PutItem"] == 3 and calls["GetItem"] <= 1, calls  # no read of the conversation on X
