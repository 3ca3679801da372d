"""Holding statements end to end: an approved holding template instantiated through the real API handler,
APPROVED at once with the template's approval carried over (and recorded as such), then published by
the real Publisher to every channel emulator on local AWS."""
from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.statements.render import render

from .conftest import DeskClient

pytestmark = pytest.mark.integration
ALL = ["newsroom", "x", "weibo", "wechat", "mastodon", "bluesky", "telegram", "webhook"]
HOLDING = {
    "zh": {"full": "港湾银行已注意到有关{reference}的报道，正在调查。我们将于{time}前发布最新情况。",
           "short": "港湾银行已注意到有关{reference}的报道，正在调查，{time}前更新。"},
    "en": {"full": "Harbor Bank is aware of reports about {reference} and is investigating. "
                   "We will post the next update by {time}.",
           "short": "We are aware of reports about {reference} and are investigating; next update by {time}."},
}
RULES = {"reference": {"pattern": r"[\w\u4e00-\u9fff ,.-]{1,40}", "max": 40},
         "time": {"pattern": r"[0-2][0-9]:[0-5][0-9]( UTC)?", "max": 9}}
VALUES = {"reference": "ATM withdrawals", "time": "10:30 UTC"}


def _template(desk: DeskClient, *, text: dict = HOLDING, rules: dict = RULES, kind: str = "holding",
              approve: bool = True) -> dict[str, Any]:
    status, template = desk.call("POST", "/templates", {"kind": kind, "situation": "looking_into_it",
                                                        "title": "我们正在调查", "text": text, "placeholders": rules},
                                 as_="author:li")
    assert status == 201, template
    if approve:
        status, template = desk.call("POST", f"/templates/{template['id']}/approve", {"version": 1}, as_="approver:wang")
        assert status == 200 and template["state"] == "APPROVED", template
    return template


def _holding(desk: DeskClient, template_id: str, channels: list[str] = ALL, values: dict = VALUES,
             as_: str = "author:zhao", **extra: Any) -> tuple[int, Any]:
    return desk.call("POST", "/holding-statements", {"template": template_id, "values": values, "channels": channels,
                                                     **extra}, as_=as_)


def _audit(desk: DeskClient, target: str) -> list[dict[str, Any]]:
    refs = desk.world.stack.refs
    return [r for r in AuditLog(refs["AuditTable"], refs["StateTable"], clients=AwsClients()).records()
            if r["target"] == target]


def _statement_ids(desk: DeskClient) -> list[str]:
    return [s["id"] for s in desk.call("GET", "/statements", as_="auditor:zhou")[1]["statements"]]


def test_a_holding_statement_is_approved_by_carrying_the_template_over_and_published_within_a_minute(
        desk: DeskClient, record_property: Any) -> None:
    template = _template(desk)
    wall, sim = time.perf_counter(), desk.clock()

    status, statement = _holding(desk, template["id"], ref="atm-holding")
    assert status == 201, statement
    sid = statement["id"]
    status, published = desk.call("POST", f"/statements/{sid}/publish", as_="author:zhao")
    assert status == 202 and published["state"] == "PUBLISHING", published
    desk.world.pump()
    statement = desk.get(sid)
    wall_seconds = time.perf_counter() - wall

    assert statement["state"] == "PUBLISHED"
    assert {(d["channel"], d["state"]) for d in statement["deliveries"]} == {(c, "SENT") for c in ALL}
    last_sent = max(datetime.fromisoformat(d["sent_at"]) for d in statement["deliveries"])
    sim_seconds = (last_sent - sim).total_seconds()
    record_property("holding_wall_seconds", round(wall_seconds, 3))
    record_property("holding_simulated_seconds", sim_seconds)
    print(f"\nholding statement: instantiate -> last delivery SENT: {wall_seconds:.3f} s wall, {sim_seconds:.0f} s simulated")
    assert wall_seconds < 60 and sim_seconds < 60

    # The text is the template's, filled; the approval is the template's, carried over, not a person's.
    en = {f: HOLDING["en"][f].replace("{reference}", VALUES["reference"]).replace("{time}", VALUES["time"])
          for f in ("full", "short")}
    assert statement["versions"][0]["text"]["en"] == en
    assert statement["versions"][0]["from_template"] == {"id": template["id"], "version": 1}
    approval = statement["approval"]
    assert approval["carried_over_from_template"] == {
        "id": template["id"], "version": 1, "text_hash": template["text_hash"], "rules_hash": template["rules_hash"],
        "author": "li", "approved_by": "wang", "approved_at": template["approved_at"]}
    assert (approval["instantiated_by"], approval["values"], approval["version"]) == ("zhao", VALUES, 1)
    assert "approver" not in approval, "nobody approved this statement itself"
    x = render(en, "x", language="en", newsroom_url=f"https://newsroom.examplebank.com/statements/{sid}.en.html")
    assert approval["hashes"]["x#en"] == x.sha256
    assert desk.world.channel_posts("x")[-1].submitted_text == x.text
    assert statement["prepared"] == [], "published at once: nothing is prepared only to be passed over"

    entries = _audit(desk, f"statement#{sid}")
    first = entries[0]
    assert (first["action"], first["actor"], first["role"]) == ("holding_statement", "zhao", "comms-author")
    assert first["after"]["approval"] == "carried_over_from_template"
    assert first["after"]["carried_over_from_template"]["approved_by"] == "wang"
    assert first["after"]["carried_over_from_template"]["text_hash"] == template["text_hash"]
    assert first["after"]["values"] == VALUES and first["after"]["state"] == "APPROVED"
    assert "approve" not in [e["action"] for e in entries], "no human approval is recorded for the statement"
    assert entries[1]["action"] == "publish"
    status, verify = desk.call("GET", "/audit/verify", as_="auditor:zhou")
    assert status == 200 and verify["ok"], verify


def test_a_channel_refusing_the_rendering_is_a_422_naming_it_and_nothing_is_stored(desk: DeskClient) -> None:
    long = {"zh": HOLDING["zh"], "en": {"full": HOLDING["en"]["full"],
                                        "short": HOLDING["en"]["short"] + " Harbor Bank customer service" * 9}}
    template = _template(desk, text=long)
    before = _statement_ids(desk)
    status, body = _holding(desk, template["id"], channels=["x", "weibo", "newsroom"])
    assert status == 422, body
    assert {p["channel"] for p in body["details"]} == {"x"} and "x (en):" in body["error"]
    assert body["details"][0]["limit"] == 280
    assert _statement_ids(desk) == before


def test_values_are_checked_against_the_template_rules(desk: DeskClient) -> None:
    template = _template(desk)
    before = _statement_ids(desk)
    status, body = _holding(desk, template["id"], values={"reference": "ATM", "time": "half past ten"})
    assert status == 422 and {d["field"] for d in body["details"]} == {"values.time"}, body
    status, body = _holding(desk, template["id"], values={"reference": "ATM"})
    assert status == 422 and {d["field"] for d in body["details"]} == {"values.time"}, body
    status, body = _holding(desk, template["id"], values={**VALUES, "branch": "Central"})
    assert status == 422 and "values.branch" in {d["field"] for d in body["details"]}, body
    status, body = _holding(desk, template["id"], values={**VALUES, "reference": "{time}"})
    assert status == 422 and "values.reference" in {d["field"] for d in body["details"]}, body
    assert _statement_ids(desk) == before


def test_only_an_approved_holding_template_can_be_instantiated(desk: DeskClient) -> None:
    draft = _template(desk, approve=False)
    status, body = _holding(desk, draft["id"])
    assert status == 409 and "DRAFT" in body["error"], body
    reply = _template(desk, kind="reply", text={"en": "We are looking into {reference}."}, rules={"reference": RULES["reference"]})
    status, body = _holding(desk, reply["id"], values={"reference": "ATM"})
    assert status == 409 and "not a holding template" in body["error"], body
    status, body = _holding(desk, "tp-0000000000000000")
    assert status == 404, body
    template = _template(desk)
    edited = {"en": HOLDING["en"]}
    assert desk.call("PUT", f"/templates/{template['id']}/draft", {"text": edited, "placeholders": RULES},
                     as_="author:li")[0] == 200
    status, body = _holding(desk, template["id"])
    assert status == 409, "an edited template does not carry its old approval"


def test_an_edited_holding_statement_needs_a_person_to_approve_it(desk: DeskClient) -> None:
    template = _template(desk)
    status, statement = _holding(desk, template["id"], channels=["newsroom", "x"])
    assert status == 201
    sid = statement["id"]
    text = {"en": {"full": "Harbor Bank is investigating reports about ATM withdrawals.",
                   "short": "We are investigating reports about ATM withdrawals."}}
    status, edited = desk.call("PUT", f"/statements/{sid}/draft", {"text": text}, as_="author:zhao")
    assert status == 200 and edited["state"] == "DRAFT" and "approval" not in edited and "from_template" not in edited
    assert desk.call("POST", f"/statements/{sid}/publish", as_="author:zhao")[0] == 409
    assert desk.call("POST", f"/statements/{sid}/approve", {"version": 2}, as_="approver:zhao")[0] == 403
    assert desk.call("POST", f"/statements/{sid}/approve", {"version": 2}, as_="approver:wang")[0] == 200


@pytest.mark.parametrize("who", ["approver:wang", "auditor:zhou", "oncall:chen", "nobody:eve"])
def test_only_an_author_instantiates_and_a_wrong_role_is_refused_before_the_body_is_read(desk: DeskClient, who: str) -> None:
    status, body = desk.call("POST", "/holding-statements", raw='{"template": ', as_=who)
    assert status == 403, body
    status, body = desk.call("POST", "/holding-statements", raw='{"template": ', as_="author:zhao")
    assert status == 422, body
