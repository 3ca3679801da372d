"""A reply too long for its platform is cut and links to the Q&A entry answering it: where it is cut, that
the rule holds on the final text, link included (X counting the link as 23), which entry is chosen (the
reply's, the template's, the situation's newest published one) and what is refused."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crisiscomms.errors import ChannelCheckFailed, Conflict, InvalidInput
from crisiscomms.inbox.replies import (
    ELLIPSIS,
    REPLY_LIMITS,
    ReplyDesk,
    ReplyRequest,
    cut_points,
    cut_with_link,
    length_problems,
    reply_text_hash,
)
from crisiscomms.inbox.templates import TemplateApproveRequest, TemplateDraftRequest, TemplateEditRequest
from crisiscomms.statements import channel_rules as rules
from crisiscomms.statements.desk import Desk
from crisiscomms.statements.qa import QaCorrectionRequest, QaDraftRequest, qa_url

from .test_reply_library import APPROVER, AUTHOR, AUTHOR2, COUNTERS, NOW, POST_KEY, World

NEWSROOM = "https://newsroom.examplebank.com"
ENTRY, OTHER = "st-00000000000000a1", "st-00000000000000b2"
LONG_ZH = ("{handle} 您好，关于您反映的转账失败问题，我们深表歉意。经核查，今日上午九点至十点半，因清算系统升级，部分跨行转账出现延迟，"
           "您的资金安全，没有任何损失，延迟的转账已于十点半全部到账。如您仍未收到款项，请致电客服热线 {hotline}，"
           "我们的专员会在二十四小时内为您逐笔核对，并视情况为您办理手续费退还。再次感谢您的理解与耐心，我们会持续改进服务。")
LONG_EN = ("{handle} we are sorry about the failed transfer. This morning between 9:00 and 10:30 a clearing system "
           "upgrade delayed some interbank transfers. Your money is safe and nothing was lost: every delayed transfer "
           "arrived by 10:30. If yours has not, please call our hotline {hotline} and a specialist will check each "
           "payment with you within 24 hours and refund any fee where one was charged. Thank you for your patience; "
           "we keep improving our service and we will publish what we changed so that this does not happen again.")
RULES = {"handle": {"pattern": r"@?[A-Za-z0-9_\u4e00-\u9fff]{1,30}", "max": 31}, "hotline": {"pattern": r"[0-9]{5}", "max": 5}}
VALUES = {"handle": "@小王", "hotline": "95555"}
URL = qa_url(NEWSROOM, ENTRY, "zh")


def _fits(platform: str) -> Callable[[str], bool]:
    return lambda text: not length_problems(platform, text, COUNTERS)


# --- cutting -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("platform", sorted(REPLY_LIMITS))
def test_the_cut_reply_ends_with_the_link_and_passes_the_platforms_rule_link_included(platform: str) -> None:
    text = LONG_ZH.format(**VALUES) * 3
    cut = cut_with_link(text, URL, _fits(platform))
    assert cut is not None and cut.endswith(f" {URL}") and not length_problems(platform, cut, COUNTERS)
    head = cut.removesuffix(f" {URL}")
    assert text.startswith(head.removesuffix(ELLIPSIS)) and len(head) < len(text)


def test_on_x_the_link_counts_23_so_the_cut_keeps_more_than_280_characters() -> None:
    long_url = qa_url("https://newsroom.examplebank.com/a/rather/long/path/for/the/questions", ENTRY, "en")
    cut = cut_with_link(LONG_EN.format(**VALUES), long_url, _fits("x"))
    assert cut is not None and cut.endswith(long_url)
    assert rules.x_weighted_length(cut) <= 280 < len(cut)
    assert rules.x_weighted_length(cut) == rules.x_weighted_length(cut.removesuffix(long_url)) + 23
    assert cut.removesuffix(f" {long_url}").endswith("by 10:30."), "cut at the last sentence end that fits"
    # Weibo counts the link in full, so the same text keeps less there.
    weibo = cut_with_link(LONG_EN.format(**VALUES), long_url, _fits("weibo"))
    assert weibo is not None and len(weibo) < len(cut) and rules.weibo_length(weibo) <= 280


def test_the_cut_is_at_a_sentence_end_when_one_is_near_and_adds_no_ellipsis_after_it() -> None:
    text = "Your money is safe. " + "Every delayed transfer arrived by ten thirty this morning " * 20
    cut = cut_with_link(text, URL, lambda t: len(t) <= 40 + len(URL))
    assert cut == f"Your money is safe. {URL}"
    zh = "您的资金安全，没有任何损失。延迟的转账已于十点半全部到账，如仍未收到请致电客服。" * 4
    cut = cut_with_link(zh, URL, lambda t: len(t) <= 20 + len(URL))
    assert cut == f"您的资金安全，没有任何损失。 {URL}"


def test_without_a_sentence_end_the_cut_is_at_a_clause_then_a_word_with_an_ellipsis() -> None:
    zh = "您的资金安全，没有任何损失，延迟的转账已于十点半全部到账并且手续费会退还"
    cut = cut_with_link(zh, URL, lambda t: len(t) <= 17 + len(URL))
    assert cut == f"您的资金安全，没有任何损失{ELLIPSIS} {URL}"
    en = "Every delayed transfer arrived by half past ten this morning and fees will be refunded"
    cut = cut_with_link(en, URL, lambda t: len(t) <= 32 + len(URL))
    assert cut == f"Every delayed transfer arrived{ELLIPSIS} {URL}"


def test_nothing_is_cut_inside_a_link_a_flag_or_an_emoji_sequence() -> None:
    text = "See https://bank.example/notice/2026/11/28/outage-report 🇨🇳👩\u200d💻 e\u0301"
    points = set(cut_points(text))
    link = text.index("https://")
    assert not points & set(range(link + 1, link + len("https://bank.example/notice/2026/11/28/outage-report")))
    flag = text.index("🇨🇳")
    assert flag + 1 not in points and flag + 2 in points
    worker = text.index("👩‍💻")
    assert not points & {worker + 1, worker + 2}
    assert len(text) - 1 not in points, "not between e and its combining accent"


@settings(max_examples=60, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=400),
       st.sampled_from(sorted(REPLY_LIMITS)))
def test_whatever_the_text_a_cut_reply_passes_its_rule_or_nothing_is_made(text: str, platform: str) -> None:
    cut = cut_with_link(text, URL, _fits(platform))
    if cut is not None:
        assert not length_problems(platform, cut, COUNTERS) and cut.endswith(URL)


def test_when_not_even_the_link_fits_nothing_is_made() -> None:
    assert cut_with_link("a" * 500, URL, lambda t: len(t) <= 20) is None


# --- replies -------------------------------------------------------------------------------------------

class Links:
    """The statements' Desk.qa_link as the reply desk sees it: published entries and situations."""

    def __init__(self, published: dict[str, tuple[str, ...]], situations: dict[str, str] | None = None) -> None:
        self.published, self.situations = published, situations or {}
        self.calls: list[tuple[str | None, str | None, str]] = []

    def __call__(self, entry: str | None, situation: str | None, language: str) -> dict[str, str] | None:
        self.calls.append((entry, situation, language))
        entry = entry or self.situations.get(situation or "")
        if entry not in self.published:
            return None
        chosen = language if language in self.published[entry] else self.published[entry][0]
        return {"entry": entry, "statement_id": entry, "language": chosen, "url": qa_url(NEWSROOM, entry, chosen)}


def _world(links: Links, platform: str = "weibo") -> World:
    """test_reply_library's world, its reply desk given the statements' Q&A links as wiring gives them."""
    world = World(platform=platform)
    world.desk = ReplyDesk(world.repo, world.library, clock=lambda: NOW, enqueue=world._enqueue,  # type: ignore[arg-type]
                           topic_level=world._level, approve_every_reply_at_crisis=lambda: world.switch,
                           counters=COUNTERS, qa_link=links)
    return world


def _template(world: World, *, qa_entry: str | None = None, situation: str = "service_failure_apology") -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "reply", "situation": situation, "title": "转账失败", "text": {"zh": LONG_ZH, "en": LONG_EN},
                            "placeholders": RULES}
    if qa_entry:
        body["qa_entry"] = qa_entry
    drafted = world.library.draft(AUTHOR, TemplateDraftRequest.model_validate(body))
    return world.library.approve(APPROVER, drafted["id"], TemplateApproveRequest(version=1))


def _reply(world: World, body: dict[str, Any]) -> dict[str, Any]:
    return world.desk.create(AUTHOR, POST_KEY, ReplyRequest.model_validate(body))


def test_a_template_reply_too_long_for_weibo_is_cut_linked_to_its_situations_entry_and_sent_by_one_author() -> None:
    links = Links({ENTRY: ("zh", "en")}, situations={"service_failure_apology": ENTRY})
    world = _world(links)
    template = _template(world)
    reply = _reply(world, {"template": template["id"], "values": VALUES})
    url = qa_url(NEWSROOM, ENTRY, "zh")
    assert reply["state"] == "APPROVED" and reply["text"].endswith(f"。 {url}"), "cut at a sentence end"
    assert reply["text"].startswith("@小王 您好，关于您反映的转账失败问题，我们深表歉意。")
    assert rules.weibo_length(reply["text"]) <= 280 < rules.weibo_length(LONG_ZH.format(**VALUES))
    assert reply["text_hash"] == reply_text_hash(reply["text"])
    assert reply["qa_link"] == {"entry": ENTRY, "statement_id": ENTRY, "language": "zh", "url": url,
                                "uncut_text_hash": reply_text_hash(LONG_ZH.format(**VALUES))}
    assert links.calls == [(None, "service_failure_apology", "zh")]
    assert world.queued == [{"kind": "reply", "reply_id": reply["id"], "generation": 0}]
    assert world.repo.entries[-1].after["qa_entry"] == ENTRY


def test_the_reply_s_entry_wins_over_the_template_s_and_the_template_s_over_the_situation() -> None:
    links = Links({ENTRY: ("zh",), OTHER: ("en",)}, situations={"service_failure_apology": OTHER})
    world = _world(links)
    named = _template(world, qa_entry=ENTRY)
    assert _reply(world, {"template": named["id"], "values": VALUES})["qa_link"]["entry"] == ENTRY
    reply = _reply(world, {"template": named["id"], "values": VALUES, "qa_entry": OTHER})
    assert reply["qa_link"]["entry"] == OTHER
    assert reply["qa_link"]["language"] == "en", "the entry has no zh: its en anchor, the reply stays zh"
    assert links.calls == [(ENTRY, None, "zh"), (OTHER, None, "zh")]


def test_a_reply_that_fits_is_never_cut_nor_linked() -> None:
    links = Links({ENTRY: ("zh",)})
    world = _world(links)
    reply = _reply(world, {"text": "您好，已为您处理。", "qa_entry": ENTRY})
    assert reply["text"] == "您好，已为您处理。" and "qa_link" not in reply and links.calls == []


def test_a_free_reply_too_long_is_cut_and_its_two_people_approve_the_cut_text_link_included() -> None:
    links = Links({ENTRY: ("zh",)})
    world = _world(links, platform="x")
    text = LONG_EN.format(**VALUES)
    with pytest.raises(ChannelCheckFailed, match="qa_entry"):
        _reply(world, {"text": text})
    reply = _reply(world, {"text": text, "qa_entry": ENTRY})
    assert reply["state"] == "AWAITING_APPROVAL" and reply["text"].endswith(qa_url(NEWSROOM, ENTRY, "zh"))
    assert rules.x_weighted_length(reply["text"]) <= 280
    approved = world.desk.approve(APPROVER, reply["id"])
    assert approved["state"] == "APPROVED" and approved["text"] == reply["text"]


def test_an_entry_that_is_not_published_is_refused_naming_where_it_came_from() -> None:
    world = _world(Links({}))
    template = _template(world, qa_entry=ENTRY)
    with pytest.raises(InvalidInput) as caught:
        _reply(world, {"template": template["id"], "values": VALUES})
    assert caught.value.details == [{"field": "template", "reason": f"{ENTRY} is not a published Q&A entry"}]
    with pytest.raises(InvalidInput) as caught:
        _reply(world, {"text": LONG_ZH.format(**VALUES), "qa_entry": OTHER})
    assert caught.value.details[0]["field"] == "qa_entry"


def test_with_no_published_entry_for_the_situation_the_length_rule_refuses_as_before() -> None:
    world = _world(Links({}))
    template = _template(world)
    with pytest.raises(ChannelCheckFailed, match="no published Q&A entry answers service_failure_apology"):
        _reply(world, {"template": template["id"], "values": VALUES})


def test_the_template_s_entry_is_part_of_what_was_approved() -> None:
    world = _world(Links({ENTRY: ("zh",)}))
    template = _template(world, qa_entry=ENTRY)
    assert world.library.approved(template["id"]).qa_entry == ENTRY
    head = world.repo.items[(f"tmpl#{template['id']}", "#")]
    head["qa_entry"] = OTHER  # changed behind the API's back
    with pytest.raises(Conflict, match="Q&A entry"):
        world.library.approved(template["id"])
    head["qa_entry"] = ENTRY
    kept = world.library.edit(AUTHOR2, template["id"], TemplateEditRequest.model_validate(
        {"text": {"zh": LONG_ZH}, "placeholders": RULES}))
    assert kept["qa_entry"] == ENTRY and kept["state"] == "DRAFT"
    cleared = world.library.edit(AUTHOR2, template["id"], TemplateEditRequest.model_validate(
        {"text": {"zh": LONG_ZH}, "placeholders": RULES, "qa_entry": None}))
    assert "qa_entry" not in cleared


# --- the statements' side: which entry, which anchor ---------------------------------------------------

class Statements:
    def __init__(self, statements: list[dict[str, Any]]) -> None:
        self.statements = {s["id"]: s for s in statements}
        self.asked: list[tuple[str, tuple[str, ...]]] = []

    def load(self, statement_id: str) -> dict[str, Any] | None:
        return self.statements.get(statement_id)

    def qa_statements_for(self, situation: str, *, states: tuple[str, ...], limit: int = 20) -> list[dict[str, Any]]:
        self.asked.append((situation, states))
        found = [s for s in self.statements.values() if s.get("qa_situation") == situation and s["state"] in states]
        return sorted(found, key=lambda s: s["created_at"], reverse=True)[:limit]


class Renderer:
    def qa_url(self, entry: str, language: str) -> str:
        return qa_url(NEWSROOM, entry, language)


def _qa(sid: str, *, state: str = "PUBLISHED", languages: tuple[str, ...] = ("zh", "en"), entry: str | None = None,
        situation: str | None = None, created_at: str = "2026-11-28T09:00:00+00:00", kind: str = "qa") -> dict[str, Any]:
    return {"id": sid, "kind": kind, "state": state, "qa_entry": entry or sid, "qa_situation": situation,
            "created_at": created_at, "deliveries": [{"channel": "newsroom", "language": lang, "state": "SENT"}
                                                     for lang in languages]}


def _desk(statements: list[dict[str, Any]]) -> Desk:
    return Desk(Statements(statements), Renderer(), clock=lambda: datetime(2026, 11, 28, tzinfo=timezone.utc),  # type: ignore[arg-type]
                enqueue=lambda messages: [])


def test_the_desk_links_a_published_entry_in_the_reply_s_language_or_one_it_was_published_in() -> None:
    desk = _desk([_qa(ENTRY, languages=("zh", "en")), _qa(OTHER, languages=("en",)),
                  _qa("st-00000000000000c3", state="APPROVED"), _qa("st-00000000000000d4", kind="statement")])
    assert desk.qa_link(ENTRY, None, "zh") == {"entry": ENTRY, "statement_id": ENTRY, "language": "zh",
                                               "url": f"{NEWSROOM}/qa/index.html#{ENTRY}-zh"}
    assert desk.qa_link(OTHER, None, "zh")["url"] == f"{NEWSROOM}/qa/index.html#{OTHER}-en"
    assert desk.qa_link("st-00000000000000c3", None, "zh") is None, "not published yet"
    assert desk.qa_link("st-00000000000000d4", None, "zh") is None, "no Q&A entry"
    assert desk.qa_link("st-00000000000000e5", None, "zh") is None
    assert desk.qa_link(None, None, "zh") is None


def test_by_situation_the_newest_published_statement_of_an_entry_gives_the_entry_s_anchor() -> None:
    correction = _qa("st-00000000000000f6", entry=ENTRY, situation="deposit_safety", created_at="2026-11-28T11:00:00+00:00")
    desk = _desk([_qa(ENTRY, situation="deposit_safety"), correction,
                  _qa(OTHER, situation="deposit_safety", state="DRAFT", created_at="2026-11-28T12:00:00+00:00")])
    link = desk.qa_link(None, "deposit_safety", "en")
    assert link == {"entry": ENTRY, "statement_id": "st-00000000000000f6", "language": "en",
                    "url": f"{NEWSROOM}/qa/index.html#{ENTRY}-en"}
    assert desk._repo.asked == [("deposit_safety", ("PUBLISHED", "PARTIAL"))]  # type: ignore[attr-defined]
    assert desk.qa_link(None, "rumour_denial", "en") is None


def test_a_q_and_a_entry_names_its_situation_and_a_correction_keeps_it() -> None:
    text = {"zh": {"question": "存款安全吗？", "answer": "安全。"}}
    assert QaDraftRequest.model_validate({"text": text, "situation": "deposit_safety"}).situation == "deposit_safety"
    assert QaCorrectionRequest.model_validate({"text": text}).situation is None
    with pytest.raises(ValueError):
        QaDraftRequest.model_validate({"text": text, "situation": "bank_run"})
