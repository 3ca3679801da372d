"""The reply library and replies as use cases, over an in-memory repository with the same conditions.

Placeholder rules (full match, max length, unknown/missing names, template syntax and control
characters), the approval bound to the text and rules hashes, the two-person rule, the CRISIS
switch, and each platform's length rule applied before approval.
"""
from __future__ import annotations

import copy
from datetime import datetime, timezone
from functools import partial
from typing import Any

import pytest
from pydantic import ValidationError

from crisiscomms.errors import ChannelCheckFailed, Conflict, Forbidden, InvalidInput, NotFound, NotHandedOver
from crisiscomms.identity import Identity
from crisiscomms.inbox.opening import open_for_person
from crisiscomms.inbox.replies import REPLY_LIMITS, ReplyDesk, ReplyRequest, length_problems, reply_text_hash
from crisiscomms.inbox.templates import (
    ApprovedTemplate,
    PlaceholderRule,
    TemplateApproveRequest,
    TemplateDraftRequest,
    TemplateEditRequest,
    TemplateLibrary,
    TemplateRejectRequest,
    approved_template,
    check_values,
    rules_hash,
    template_problems,
    text_hash,
)
from crisiscomms.statements import channel_rules as rules

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=timezone.utc)
AUTHOR = Identity(user="li", groups=frozenset({"comms-author"}))
AUTHOR2 = Identity(user="zhao", groups=frozenset({"comms-author"}))
APPROVER = Identity(user="wang", groups=frozenset({"comms-approver"}))
SELF_APPROVER = Identity(user="li", groups=frozenset({"comms-approver"}))
COUNTERS = {"x_weighted": rules.x_weighted_length, "weibo": rules.weibo_length,
            "mastodon": partial(rules.mastodon_length, characters_reserved_per_url=23),
            "graphemes": rules.bluesky_graphemes, "utf8": rules.utf8_bytes, "utf16": rules.utf16_units}
RULES = {"handle": {"pattern": r"@?[A-Za-z0-9_\u4e00-\u9fff]{1,30}", "max": 31},
         "hotline": {"pattern": r"[0-9]{5}", "max": 5},
         "time": {"pattern": r"[0-2][0-9]:[0-5][0-9]", "max": 5}}
APOLOGY = {"zh": "{handle} 您好，给您带来不便深表歉意。请致电客服热线 {hotline}，我们会尽快处理。",
           "en": "{handle} we are sorry for the trouble. Please call our hotline {hotline}; we will help at once."}
POST_KEY = "weibo#4990000000000001"


class Repo:
    """In memory, with the DynamoDB repository's conditions: the head's revision and hashes, a reply's state
    and version. Every write records its audit entry."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.entries: list[Any] = []

    def conversation(self, post_key: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.items.get((f"conv#{post_key}", "#")))

    def template(self, template_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.items.get((f"tmpl#{template_id}", "#")))

    def template_versions(self, template_id: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(v) for (pk, sk), v in sorted(self.items.items()) if pk == f"tmpl#{template_id}" and sk != "#"]

    def list_templates(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [copy.deepcopy(v) for (pk, sk), v in self.items.items()
                if pk.startswith("tmpl#") and sk == "#" and kind in (None, v["kind"])]

    def create_template(self, head: dict[str, Any], version: dict[str, Any], entry: Any) -> None:
        pk = f"tmpl#{head['id']}"
        self.items[(pk, "#")] = {**copy.deepcopy(head), "revision": 1}
        self.items[(pk, f"v#{version['version']:04d}")] = copy.deepcopy(version)
        self.entries.append(entry)

    def change_template(self, head: dict[str, Any], updates: dict[str, Any], entry: Any, *, new_version=None,
                        version_updates=None, expect_hashes=None, remove=()) -> None:
        pk = f"tmpl#{head['id']}"
        stored = self.items[(pk, "#")]
        if stored["revision"] != head["revision"]:
            raise Conflict("changed")
        if expect_hashes and (stored["text_hash"], stored["rules_hash"]) != (expect_hashes["text_hash"], expect_hashes["rules_hash"]):
            raise Conflict("hashes changed")
        stored.update(copy.deepcopy(updates))
        stored["revision"] += 1
        for name in remove:
            stored.pop(name, None)
        if new_version:
            self.items[(pk, f"v#{new_version['version']:04d}")] = copy.deepcopy(new_version)
        if version_updates:
            self.items[(pk, f"v#{head['current_version']:04d}")].update(version_updates)
        self.entries.append(entry)

    def reply(self, reply_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.items.get((f"reply#{reply_id}", "#")))

    def open_conversation(self, conversation: dict[str, Any], entry: Any) -> bool:
        key = (f"conv#{conversation['post_key']}", "#")
        if key in self.items:
            return False
        self.items[key] = {**copy.deepcopy(conversation), "pk": key[0], "sk": "#"}
        self.entries.append(entry)
        return True

    def replies_for(self, post_key: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(v) for (pk, _), v in self.items.items() if pk.startswith("reply#") and v["post_key"] == post_key]

    def create_reply(self, reply: dict[str, Any], entry: Any) -> None:
        self.items[(f"reply#{reply['id']}", "#")] = copy.deepcopy(reply)
        self.entries.append(entry)

    def move_reply(self, reply: dict[str, Any], *, expect, updates, entry=None, remove=()) -> bool:
        stored = self.items[(f"reply#{reply['id']}", "#")]
        if stored["state"] not in expect or stored["version"] != reply["version"]:
            return False
        stored.update(updates)
        stored["version"] += 1
        self.entries.append(entry)
        return True


class World:
    def __init__(self, *, level: str | None = "NORMAL", switch: bool = True, platform: str = "weibo") -> None:
        self.repo = Repo()
        self.level: Any = level
        self.switch = switch
        self.queued: list[dict[str, Any]] = []
        self.library = TemplateLibrary(self.repo, clock=lambda: NOW)  # type: ignore[arg-type]
        self.desk = ReplyDesk(self.repo, self.library, clock=lambda: NOW, enqueue=self._enqueue,  # type: ignore[arg-type]
                              topic_level=self._level, approve_every_reply_at_crisis=lambda: self.switch,
                              counters=COUNTERS)
        self.conversation(POST_KEY, platform=platform)

    refusing = False    # the queue answers but refuses every message (SQS's partial failure)

    def _enqueue(self, messages: list[dict[str, Any]]) -> list[str]:
        if self.refusing:
            return [m["reply_id"] for m in messages]
        self.queued += messages
        return []

    def _level(self, topic: str) -> str | None:
        if isinstance(self.level, Exception):
            raise self.level
        return self.level

    def conversation(self, post_key: str, *, platform: str = "weibo", state: str = "NEW", language: str = "zh") -> None:
        self.repo.items[(f"conv#{post_key}", "#")] = {
            "pk": f"conv#{post_key}", "sk": "#", "post_key": post_key, "platform": platform,
            "native_id": post_key.split("#", 1)[1], "author": "小王", "reply_ref": {"status_id": "4990000000000000"},
            "topic": "harbor", "topics": ["harbor"], "state": state, "language": language, "version": 1}

    def approved_template(self, text: dict[str, Any] = APOLOGY, placeholders: dict[str, Any] = RULES,
                          kind: str = "reply") -> dict[str, Any]:
        used = {n: r for n, r in placeholders.items() if any("{" + n + "}" in s for s in _strings(text))}
        drafted = self.library.draft(AUTHOR, TemplateDraftRequest.model_validate(
            {"kind": kind, "situation": "service_failure_apology", "title": "Apology", "text": text, "placeholders": used}))
        return self.library.approve(APPROVER, drafted["id"], TemplateApproveRequest(version=1))


def _strings(text: dict[str, Any]) -> list[str]:
    return [s for v in text.values() for s in (v.values() if isinstance(v, dict) else [v])]


def _reply(world: World, body: dict[str, Any], post_key: str = POST_KEY, who: Identity = AUTHOR) -> dict[str, Any]:
    return world.desk.create(who, post_key, ReplyRequest.model_validate(body))


# --- placeholder rules -------------------------------------------------------------------------------

def test_a_value_must_match_its_pattern_in_full() -> None:
    assert check_values(RULES, ["hotline"], {"hotline": "95555"}) == {"hotline": "95555"}
    for bad in ("9555", "95555x", "x95555", "9555a"):
        with pytest.raises(InvalidInput) as caught:
            check_values(RULES, ["hotline"], {"hotline": bad})
        assert caught.value.details[0]["field"] == "values.hotline"


def test_a_value_over_its_max_is_refused_before_the_pattern_is_tried() -> None:
    rule = {"reference": {"pattern": r"[A-Z0-9]+", "max": 8}}
    with pytest.raises(InvalidInput) as caught:
        check_values(rule, ["reference"], {"reference": "A" * 9})
    assert caught.value.details == [{"field": "values.reference", "reason": "9 characters, over this placeholder's max 8"}]


def test_values_outside_the_rules_can_be_kept_and_listed_instead_of_refused() -> None:
    outside: list[dict[str, str]] = []
    rules = {**RULES, "reference": {"pattern": r"[A-Z0-9]+", "max": 8}}
    assert check_values(rules, ["hotline", "reference"], {"hotline": "call", "reference": "A" * 9},
                        outside) == {"hotline": "call", "reference": "A" * 9}
    assert outside == [{"field": "values.hotline", "reason": f"does not match the pattern {RULES['hotline']['pattern']!r}"},
                       {"field": "values.reference", "reason": "9 characters, over this placeholder's max 8"}]
    with pytest.raises(InvalidInput):       # syntax and control characters are never kept
        check_values(rules, ["hotline"], {"hotline": "{x}"}, [])


def test_unknown_and_missing_placeholders_are_refused_naming_each() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_values(RULES, ["handle", "hotline"], {"handle": "@li", "branch": "Central"})
    fields = {p["field"]: p["reason"] for p in caught.value.details}
    assert set(fields) == {"values.branch", "values.hotline"}
    assert "unknown placeholder" in fields["values.branch"] and "missing" in fields["values.hotline"]


@pytest.mark.parametrize("value", ["{hotline}", "a}b", "@li\n", "@li\t", "@l\u202ei", "@l\u200bi", "@l\x00i", "@l\x85i"])
def test_values_with_template_syntax_or_control_characters_are_refused(value: str) -> None:
    permissive = {"handle": {"pattern": r"(?s).*", "max": 30}}
    with pytest.raises(InvalidInput) as caught:
        check_values(permissive, ["handle"], {"handle": value})
    assert caught.value.details[0]["field"] == "values.handle"


def test_a_value_is_substituted_once_and_never_read_as_syntax() -> None:
    template = ApprovedTemplate(id="tp-0", version=1, kind="reply", situation="rumour_denial", title="t",
                                text={"en": "Hi {handle}, call {hotline}"},
                                placeholders={"handle": {"pattern": r"[^{}]*", "max": 20},
                                              "hotline": {"pattern": "[0-9]{5}", "max": 5}},
                                text_hash="", rules_hash="", author="li", approved_by="wang", approved_at="")
    assert template.fill({"handle": "$1 \\g<0>", "hotline": "95555"}, "en") == "Hi $1 \\g<0>, call 95555"


def test_a_template_text_must_declare_exactly_the_placeholders_it_uses() -> None:
    assert template_problems("reply", APOLOGY, {"handle": RULES["handle"], "hotline": RULES["hotline"]}) == []
    problems = template_problems("reply", {"zh": "{handle} {branch} {{x}} {nope}"},
                                 {"handle": RULES["handle"], "time": RULES["time"]})
    by_field = [(p["field"], p["reason"]) for p in problems]
    assert ("text.zh", "unknown placeholder {branch}; declare it in placeholders") in by_field
    assert any(f == "text.zh" and "{nope}" in r for f, r in by_field)
    assert any(f == "text.zh" and "brace" in r for f, r in by_field)
    assert any(f == "placeholders.time" and "used in no text" in r for f, r in by_field)
    assert template_problems("holding", APOLOGY, {})[0]["field"] == "text"


def test_a_placeholder_rule_must_compile_and_bound_the_length() -> None:
    with pytest.raises(ValidationError, match="regular expression"):
        PlaceholderRule.model_validate({"pattern": "([0-9]", "max": 5})
    with pytest.raises(ValidationError):
        PlaceholderRule.model_validate({"pattern": "[0-9]+", "max": 0})
    with pytest.raises(ValidationError):
        PlaceholderRule.model_validate({"pattern": "[0-9]+", "max": "5"})  # strict: no strings for numbers


def _draft_request(text: str, placeholders: dict[str, Any]) -> TemplateDraftRequest:
    return TemplateDraftRequest.model_validate({"kind": "reply", "situation": "rumour_denial", "title": "t",
                                                "text": {"en": text}, "placeholders": placeholders})


def test_a_desk_names_its_own_placeholders_and_their_rules_type_them() -> None:
    world = World()
    rules = {"case": {"pattern": "[0-9]{4,8}", "max": 8}, "product_2": {"pattern": "[A-Za-z ]+", "max": 20}}
    drafted = world.library.draft(AUTHOR, _draft_request("About {product_2}: DM us case {case}.", rules))
    world.library.approve(APPROVER, drafted["id"], TemplateApproveRequest(version=1))
    template = world.library.approved(drafted["id"], kind="reply")
    assert template.fill({"case": "12345", "product_2": "Savings"}, "en") == "About Savings: DM us case 12345."
    with pytest.raises(InvalidInput) as caught:
        check_values(rules, ["case"], {"case": "12a45"})
    assert caught.value.details[0]["field"] == "values.case"


@pytest.mark.parametrize("name", ["1case", "case-no", "case no", "案件", "c" * 33, ""])
def test_a_placeholder_name_a_text_cannot_hold_is_refused_naming_it(name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _draft_request("{case}", {name: {"pattern": ".", "max": 1}})
    assert any(e["loc"][:2] == ("placeholders", name) for e in caught.value.errors())


def test_a_template_declares_at_most_ten_placeholders() -> None:
    names = [f"p{i}" for i in range(11)]
    text = " ".join("{" + n + "}" for n in names)
    with pytest.raises(ValidationError, match="at most 10"):
        _draft_request(text, {n: {"pattern": ".", "max": 1} for n in names})
    assert _draft_request(text, {n: {"pattern": ".", "max": 1} for n in names[:10]}) is not None


def test_a_draft_whose_text_and_placeholders_disagree_is_refused_naming_the_field() -> None:
    world = World()
    with pytest.raises(InvalidInput) as caught:
        world.library.draft(AUTHOR, TemplateDraftRequest.model_validate(
            {"kind": "reply", "situation": "rumour_denial", "title": "t", "text": {"en": "Hello {branch}"}}))
    assert caught.value.details[0]["field"] == "text.en" and "{branch}" in caught.value.details[0]["reason"]
    assert world.repo.entries == []


# --- the approval is bound to the text and the rules ---------------------------------------------------

def test_an_approved_template_is_usable_and_its_approval_names_both_hashes() -> None:
    world = World()
    head = world.approved_template()
    assert head["state"] == "APPROVED" and head["approval"]["by"] == "wang"
    assert head["approval"]["text_hash"] == text_hash(APOLOGY)
    assert head["approval"]["rules_hash"] == rules_hash({n: RULES[n] for n in ("handle", "hotline")})
    template = world.library.approved(head["id"], kind="reply")
    assert template.version == 1 and template.fill({"handle": "@li", "hotline": "95555"}, "en").startswith("@li we are")
    assert [e.action for e in world.repo.entries] == ["template_draft", "template_approve"]
    assert world.repo.entries[-1].text_hash == text_hash(APOLOGY)


@pytest.mark.parametrize("change", ["text", "rules"])
def test_a_text_or_rule_changed_after_approval_invalidates_it(change: str) -> None:
    world = World()
    tid = world.approved_template()["id"]
    stored = world.repo.items[(f"tmpl#{tid}", "#")]
    if change == "text":
        stored["text"] = {**stored["text"], "en": stored["text"]["en"] + " Also send your PIN."}
    else:
        stored["placeholders"]["hotline"] = {"pattern": ".*", "max": 200}
    with pytest.raises(Conflict, match="approve it again"):
        world.library.approved(tid)
    with pytest.raises(Conflict):
        approved_template(stored)


def test_an_edit_makes_a_new_version_that_needs_approval_again() -> None:
    world = World()
    tid = world.approved_template()["id"]
    edited = world.library.edit(AUTHOR2, tid, TemplateEditRequest.model_validate(
        {"text": {"en": "{handle} sorry; call {hotline}."},
         "placeholders": {"handle": RULES["handle"], "hotline": {"pattern": "[0-9]{5,8}", "max": 8}}}))
    assert edited["state"] == "DRAFT" and edited["current_version"] == 2 and "approval" not in edited
    assert [v["state"] for v in edited["versions"]] == ["APPROVED", "DRAFT"]
    with pytest.raises(Conflict, match="only an APPROVED template"):
        world.library.approved(tid)
    with pytest.raises(Conflict, match="not the current version"):
        world.library.approve(APPROVER, tid, TemplateApproveRequest(version=1))
    with pytest.raises(Forbidden, match="two-person"):  # zhao wrote version 2
        world.library.approve(Identity(user="zhao", groups=frozenset({"comms-approver"})), tid, TemplateApproveRequest(version=2))
    again = world.library.approve(Identity(user="li", groups=frozenset({"comms-approver"})), tid, TemplateApproveRequest(version=2))
    assert again["state"] == "APPROVED" and again["approval"]["version"] == 2  # li wrote version 1, not 2


def test_the_author_of_a_version_cannot_approve_it() -> None:
    world = World()
    drafted = world.library.draft(AUTHOR, TemplateDraftRequest.model_validate(
        {"kind": "reply", "situation": "looking_into_it", "title": "t", "text": {"en": "We are looking into it."}}))
    with pytest.raises(Forbidden, match="two-person"):
        world.library.approve(SELF_APPROVER, drafted["id"], TemplateApproveRequest(version=1))
    assert world.library.get(APPROVER, drafted["id"])["state"] == "DRAFT"


def test_a_rejected_template_cannot_be_used_and_the_rejection_is_audited() -> None:
    world = World()
    tid = world.approved_template()["id"]
    rejected = world.library.reject(APPROVER, tid, TemplateRejectRequest(reason="tone"))
    assert rejected["state"] == "REJECTED" and "approval" not in rejected
    with pytest.raises(Conflict):
        world.library.approved(tid)
    assert world.repo.entries[-1].action == "template_reject"


def test_a_holding_template_gives_full_and_short_per_language_with_its_hashes() -> None:
    world = World()
    text = {"zh": {"full": "我们已注意到有关情况，正在调查，将于 {time} 前发布进一步消息。", "short": "正在调查，{time} 前更新。"},
            "en": {"full": "We are aware of reports and are investigating; next update by {time}.", "short": "Investigating; update by {time}."}}
    head = world.approved_template(text, kind="holding")
    template = world.library.approved(head["id"], kind="holding")
    filled = template.fill_all({"time": "10:30"})
    assert filled["en"] == {"full": "We are aware of reports and are investigating; next update by 10:30.",
                            "short": "Investigating; update by 10:30."}
    assert template.text_hash == text_hash(text) and template.rules_hash == head["rules_hash"]
    with pytest.raises(InvalidInput):
        template.fill_all({"time": "soon"})
    with pytest.raises(Conflict, match="not a reply template"):
        world.library.approved(head["id"], kind="reply")


# --- replies -------------------------------------------------------------------------------------------

def test_a_template_reply_by_one_author_is_approved_at_once_and_queued_once() -> None:
    world = World()
    tid = world.approved_template()["id"]
    reply = _reply(world, {"template": tid, "values": {"handle": "@小王", "hotline": "95555"}})
    assert reply["state"] == "APPROVED" and reply["language"] == "zh"
    assert reply["text"] == "@小王 您好，给您带来不便深表歉意。请致电客服热线 95555，我们会尽快处理。"
    assert reply["text_hash"] == reply_text_hash(reply["text"])
    assert reply["template_id"] == tid and reply["template_version"] == 1
    assert reply["values"] == {"handle": "@小王", "hotline": "95555"}
    assert reply["target"] == {"platform": "weibo", "post_key": POST_KEY, "native_id": "4990000000000001",
                               "author": "小王", "ref": {"status_id": "4990000000000000"}}
    assert world.queued == [{"kind": "reply", "reply_id": reply["id"], "generation": 0}]
    assert world.repo.entries[-1].action == "reply_from_template" and world.repo.entries[-1].target == f"reply#{reply['id']}"


def test_values_outside_the_rules_wait_for_a_second_person_who_reads_the_exact_text() -> None:
    world = World()
    tid = world.approved_template()["id"]
    reply = _reply(world, {"template": tid, "values": {"handle": "@小王", "hotline": "call"}})
    assert reply["state"] == "AWAITING_APPROVAL" and reply["approval_required"] == "values_outside_rules"
    assert reply["values_outside_rules"] == [
        {"field": "values.hotline", "reason": "does not match the pattern '[0-9]{5}'"}]
    assert "热线 call，" in reply["text"] and world.queued == []
    assert world.repo.entries[-1].action == "reply_draft"
    with pytest.raises(Forbidden, match="two-person"):
        world.desk.approve(SELF_APPROVER, reply["id"])
    assert world.desk.approve(APPROVER, reply["id"])["state"] == "APPROVED"
    assert world.queued == [{"kind": "reply", "reply_id": reply["id"], "generation": 0}]
    too_long = _reply(world, {"template": tid, "values": {"handle": "@" + "小" * 31, "hotline": "95555"}})
    assert too_long["state"] == "AWAITING_APPROVAL"
    assert [p["field"] for p in too_long["values_outside_rules"]] == ["values.handle"]


def test_values_no_approval_can_mend_are_refused_naming_the_field_and_nothing_is_stored() -> None:
    world = World()
    tid = world.approved_template()["id"]
    for values, field in (({"handle": "@小王", "hotline": "{handle}"}, "values.hotline"),
                          ({"handle": "@小王"}, "values.hotline"),
                          ({"handle": "@小王", "hotline": "95555", "branch": "x"}, "values.branch")):
        with pytest.raises(InvalidInput) as caught:
            _reply(world, {"template": tid, "values": values})
        assert caught.value.details[0]["field"] == field
    with pytest.raises(InvalidInput) as caught:
        _reply(world, {"template": "tp-0000000000000000", "values": {}})
    assert caught.value.details[0]["field"] == "template"
    assert world.repo.replies_for(POST_KEY) == [] and world.queued == []


def test_a_free_reply_waits_for_another_person_to_approve_that_text() -> None:
    world = World()
    reply = _reply(world, {"text": "您好，我们已收到您的反馈，客服会尽快联系您。"})
    assert reply["state"] == "AWAITING_APPROVAL" and reply["approval_required"] == "free_text" and world.queued == []
    with pytest.raises(Forbidden, match="two-person"):
        world.desk.approve(SELF_APPROVER, reply["id"])
    with pytest.raises(Forbidden):
        world.desk.approve(AUTHOR2, reply["id"])  # an author is not an approver
    approved = world.desk.approve(APPROVER, reply["id"])
    assert approved["state"] == "APPROVED" and approved["approver"] == "wang"
    assert world.queued == [{"kind": "reply", "reply_id": reply["id"], "generation": 0}]
    assert [e.action for e in world.repo.entries] == ["reply_draft", "reply_approve"]
    assert world.repo.entries[-1].text_hash == reply["text_hash"]
    with pytest.raises(Conflict):  # a reply the Publisher has taken cannot be approved again
        world.repo.items[(f"reply#{reply['id']}", "#")]["state"] = "SENT"
        world.desk.approve(APPROVER, reply["id"])


def test_a_reply_the_queue_refused_is_handed_over_by_the_same_request_again_never_made_twice() -> None:
    world = World()
    body = {"template": world.approved_template()["id"], "values": {"handle": "@小王", "hotline": "95555"}}
    world.refusing = True
    with pytest.raises(NotHandedOver, match="send the same request again"):
        _reply(world, body)
    [stored] = world.repo.replies_for(POST_KEY)
    assert stored["state"] == "APPROVED" and world.queued == []
    world.refusing = False
    again = _reply(world, body)
    assert again["id"] == stored["id"] and world.queued == [{"kind": "reply", "reply_id": stored["id"], "generation": 0}]
    assert len(world.repo.replies_for(POST_KEY)) == 1 and [e.action for e in world.repo.entries][-1] == "reply_from_template"
    other = _reply(world, {**body, "values": {"handle": "@小王", "hotline": "95556"}})
    assert other["id"] != stored["id"], "another text is another reply"
    world.repo.items[(f"reply#{stored['id']}", "#")]["state"] = "FAILED"
    assert _reply(world, body)["id"] not in (stored["id"], other["id"]), "after a final one, the same text is a new reply"


def test_a_reply_whose_stored_text_changed_cannot_be_approved() -> None:
    world = World()
    reply = _reply(world, {"text": "We are looking into it."})
    world.repo.items[(f"reply#{reply['id']}", "#")]["text"] = "Send us your password."
    with pytest.raises(Conflict, match="hash"):
        world.desk.approve(APPROVER, reply["id"])


@pytest.mark.parametrize(("level", "switch", "state", "why"), [
    ("CRISIS", True, "AWAITING_APPROVAL", "crisis"),
    ("CRISIS", False, "APPROVED", None),
    ("WARNING", True, "APPROVED", None),
    (None, True, "APPROVED", None),
    (RuntimeError("state table unreachable"), True, "AWAITING_APPROVAL", "level_unknown"),
])
def test_the_crisis_switch_makes_a_template_reply_wait(level: Any, switch: bool, state: str, why: str | None) -> None:
    world = World(level="NORMAL")
    tid = world.approved_template()["id"]
    world.level, world.switch = level, switch
    reply = _reply(world, {"template": tid, "values": {"handle": "@小王", "hotline": "95555"}})
    assert reply["state"] == state and reply.get("approval_required") == why
    assert len(world.queued) == (1 if state == "APPROVED" else 0)
    if state == "AWAITING_APPROVAL":
        assert world.desk.approve(APPROVER, reply["id"])["state"] == "APPROVED" and len(world.queued) == 1


def test_a_reply_to_a_closed_conversation_or_unknown_post_is_refused() -> None:
    world = World()
    world.conversation("weibo#1", state="CLOSED")
    with pytest.raises(Conflict, match="CLOSED"):
        _reply(world, {"text": "Hello"}, post_key="weibo#1")
    with pytest.raises(NotFound):
        _reply(world, {"text": "Hello"}, post_key="weibo#2")


def test_a_post_triage_left_out_is_opened_by_the_person_answering_it_and_audited_as_theirs() -> None:
    world = World()
    asked: list[str] = []

    def opening_for(post_key: str) -> dict[str, Any] | None:
        asked.append(post_key)
        if post_key == "news#wire#1":
            return None         # a news article: no answer reaches it there
        return {"post_key": post_key, "platform": "mastodon", "native_id": "1101", "author": "lee", "topic": "harbor",
                "topics": ["harbor"], "state": "NEW", "kind": "complaint", "priority": 340, "language": "en",
                "reply_ref": None, "version": 1}

    world.desk._open_for = lambda who, post_key: open_for_person(
        who, post_key, opening_for=opening_for, open_conversation=world.repo.open_conversation, clock=lambda: NOW)
    reply = _reply(world, {"text": "Sorry! Please DM us so we can look into your card."}, post_key="mastodon#1101")
    assert reply["state"] == "AWAITING_APPROVAL" and reply["platform"] == "mastodon"
    opened, drafted = world.repo.entries
    assert (opened.action, opened.actor, opened.target) == ("inbox.opened_by_person", "li", "conversation#mastodon#1101")
    assert opened.after == {"kind": "complaint", "priority": 340, "topic": "harbor", "platform": "mastodon"}
    assert drafted.action == "reply_draft"
    _reply(world, {"text": "And one more thing."}, post_key="mastodon#1101")     # it has a conversation now
    _reply(world, {"text": "Hello"})                                              # one the Poller opened
    assert asked == ["mastodon#1101"] and [e.action for e in world.repo.entries].count("inbox.opened_by_person") == 1
    with pytest.raises(NotFound):
        _reply(world, {"text": "Hello"}, post_key="news#wire#1")
    assert len(world.repo.entries) == 4, "nothing written for a post no answer reaches"


@pytest.mark.parametrize("body", [
    {"text": "Hi", "template": "tp-0000000000000000"},
    {"values": {"handle": "x"}},
    {},
    {"text": "Hi\u202e"},
    {"text": "Hi", "language": "fr"},
])
def test_a_reply_request_is_either_a_template_with_values_or_text(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ReplyRequest.model_validate(body)


# --- each platform's length rule, before approval --------------------------------------------------------

@pytest.mark.parametrize(("platform", "fits", "too_long"), [
    ("weibo", "港" * 140, "港" * 141),
    ("x", "a" * 280, "a" * 281),
    ("x", "港" * 140, "港" * 141),
    ("mastodon", "a" * 500, "a" * 501),
    ("bluesky", "a" * 300, "a" * 301),
    ("bluesky", "👍🏽" * 300, "👍🏽" * 301),
    ("wechat", "港" * 600, "港" * 601),
    ("douyin", "港" * 100, "港" * 101),
])
def test_each_platforms_length_rule_is_applied_before_approval(platform: str, fits: str, too_long: str) -> None:
    assert length_problems(platform, fits, COUNTERS) == []
    [problem] = length_problems(platform, too_long, COUNTERS)
    assert problem["platform"] == platform and problem["length"] > problem["limit"]
    world = World(platform=platform)
    assert _reply(world, {"text": fits})["state"] == "AWAITING_APPROVAL"
    with pytest.raises(ChannelCheckFailed) as caught:
        _reply(world, {"text": too_long})
    assert caught.value.status == 422 and caught.value.details[0]["limit"] == problem["limit"]


def test_a_template_reply_that_fills_to_over_the_limit_is_refused() -> None:
    world = World(platform="douyin")
    text = {"zh": "{handle} " + "您好" * 45}
    tid = world.approved_template(text)["id"]
    assert _reply(world, {"template": tid, "values": {"handle": "@a"}})["state"] == "APPROVED"
    with pytest.raises(ChannelCheckFailed):
        _reply(world, {"template": tid, "values": {"handle": "@" + "a" * 20}})


def test_every_reply_platform_names_counters_the_wiring_gives() -> None:
    assert {rule.counter for limits in REPLY_LIMITS.values() for rule in limits} <= set(COUNTERS)
    assert set(REPLY_LIMITS) == {"x", "weibo", "wechat", "douyin", "mastodon", "bluesky", "reddit"}
    # Reddit's 10,000 is past any reply request's 2,000 characters: its rule is checked here alone
    assert length_problems("reddit", "港" * 10_000, COUNTERS) == [] and length_problems("reddit", "👍" * 5_001, COUNTERS)
