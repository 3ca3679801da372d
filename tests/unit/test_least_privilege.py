"""Least privilege by key on the shared StateTable, read from the SAM-transformed template
(local AWS does not enforce IAM, so it is checked here).

Each role may write only its own key prefixes (`dynamodb:LeadingKeys` under
`ForAllValues:StringLike`): the Poller its sources' cursors and leases, the Detector its state
and the audit anchor (it appends audit entries), the desk API the audit anchor, the Publisher
the audit anchor and the one item listing the statements it mass-sent on WeChat (which the
Poller's WeChat source reads), the Digest function nothing (it reads the anchor), the Reviewer the audit anchor and
its own cursor (`review#cursor`). TransactWriteItems is no IAM action:
each item of a transaction is authorised as its per-item action, so those are what is checked.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from fnmatch import fnmatchcase
from typing import Any

import pytest

from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.dynamo import from_item, to_item
from crisiscomms.aws.source_state import StateRepository
from crisiscomms.models.audit import AuditEntry
from crisiscomms_local.template import load_template, resources_of_type, sam_transform

TRANSFORMED = sam_transform(load_template())
TABLE = "StateTable"
WRITES = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
          "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete"]
READS = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:ConditionCheckItem",
         "dynamodb:PartiQLSelect"]
# What each role may write on the state table, per action: the key prefixes it owns, and no more.
WRITES_BY_ROLE: dict[str, dict[str, set[str]]] = {
    "PollerFunctionRole": {"dynamodb:UpdateItem": {"source#*"}},
    "DetectorFunctionRole": {"dynamodb:PutItem": {"detector#*"}, "dynamodb:UpdateItem": {"audit-anchor#*"}},
    "DeskApiFunctionRole": {"dynamodb:UpdateItem": {"audit-anchor#*"}, "dynamodb:PutItem": {"report#*", "export#*"}},
    "PublisherFunctionRole": {"dynamodb:UpdateItem": {"audit-anchor#*", "source#wechat#mass-sent", "pace#*"}},
    "DigestFunctionRole": {},
    "ReviewerFunctionRole": {"dynamodb:UpdateItem": {"audit-anchor#*", "review#*"}},
    "ReporterFunctionRole": {"dynamodb:UpdateItem": {"audit-anchor#*", "report#*"}},  # report#<id>: claim, finish
    "ExporterFunctionRole": {"dynamodb:UpdateItem": {"audit-anchor#*", "export#*"}},  # export#<id>: claim, finish
}
# The prefixes a role may read at all (each read is conditioned too).
READS_BY_ROLE: dict[str, set[str]] = {
    "PollerFunctionRole": {"source#*", "detector#*"},  # detector#<topic>: the level, for a conversation's target
    "DetectorFunctionRole": {"detector#*", "audit-anchor#*"},
    "DeskApiFunctionRole": {"audit-anchor#*", "detector#*", "report#*", "export#*"},  # detector#<topic>: the level, for the replies' CRISIS switch
    "PublisherFunctionRole": {"audit-anchor#*", "pace#*"},  # pace#<platform>: the replies' token buckets
    "DigestFunctionRole": {"audit-anchor#*"},
    "ReviewerFunctionRole": {"audit-anchor#*", "review#*"},  # review#cursor: how far along the chain it has read
    "ReporterFunctionRole": {"audit-anchor#*", "report#*"},
    "ExporterFunctionRole": {"audit-anchor#*", "export#*", "report#*"},  # report#<id>: exported, by key
}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _documents(policies: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for policy in policies:
        if isinstance(policy, dict) and "Fn::If" in policy:
            out += _documents([p for p in policy["Fn::If"][1:] if isinstance(p, dict)])
        elif isinstance(policy, dict) and "PolicyDocument" in policy:
            out.append(policy["PolicyDocument"])
    return out


def _role_statements() -> list[tuple[str, dict[str, Any]]]:
    """(role, Allow statement) for every statement of every role: inline policies and attached policies."""
    found: list[tuple[str, dict[str, Any]]] = []
    for name, role in resources_of_type(TRANSFORMED, "AWS::IAM::Role").items():
        for document in _documents(role["Properties"].get("Policies", [])):
            found += [(name, s) for s in _listed(document["Statement"])]
    for kind in ("AWS::IAM::Policy", "AWS::IAM::RolePolicy", "AWS::IAM::ManagedPolicy"):
        for name, policy in resources_of_type(TRANSFORMED, kind).items():
            props = policy["Properties"]
            roles = [r["Ref"] for r in props.get("Roles", [])] + ([props["RoleName"]["Ref"]] if "RoleName" in props else [])
            for role in roles:
                found += [(role, s) for s in _listed(props["PolicyDocument"]["Statement"])]
    return [(role, s) for role, s in found if s.get("Effect", "Allow") == "Allow"]


def _grants(statement: dict[str, Any], actions: list[str]) -> set[str]:
    if "NotAction" in statement:
        return set(actions)
    patterns = _listed(statement.get("Action", []))
    return {a for a in actions if any(fnmatchcase(a.lower(), p.lower()) for p in patterns)}


def _touches_table(statement: dict[str, Any]) -> bool:
    if "NotResource" in statement:
        return True
    resources = _listed(statement.get("Resource", []))
    return TABLE in json.dumps(resources) or any(
        isinstance(r, str) and (r == "*" or ":table/*" in r or r.endswith(":*")) for r in resources)


def _leading_keys(statement: dict[str, Any]) -> set[str] | None:
    """The LeadingKeys patterns a statement is limited to; None when it is not limited that way."""
    condition = statement.get("Condition") or {}
    keys = (condition.get("ForAllValues:StringLike") or {}).get("dynamodb:LeadingKeys")
    if keys is None:
        return None
    return set(_listed(keys))


STATE_STATEMENTS = [(role, s) for role, s in _role_statements() if _touches_table(s)]


def test_the_roles_this_checks_are_the_stacks_roles() -> None:
    roles = set(resources_of_type(TRANSFORMED, "AWS::IAM::Role"))
    assert set(WRITES_BY_ROLE) <= roles
    # every role that touches the state table at all is one whose keys are known here
    assert {role for role, _ in STATE_STATEMENTS} <= set(WRITES_BY_ROLE)


@pytest.mark.parametrize("role", sorted(WRITES_BY_ROLE))
def test_each_role_writes_only_its_own_key_prefixes(role: str) -> None:
    granted: dict[str, set[str]] = {}
    for who, statement in STATE_STATEMENTS:
        if who != role:
            continue
        for action in _grants(statement, WRITES):
            keys = _leading_keys(statement)
            assert keys is not None, f"{role}: {statement.get('Sid')} grants {action} on any item of the state table"
            granted.setdefault(action, set()).update(keys)
    assert granted == WRITES_BY_ROLE[role]


@pytest.mark.parametrize("role", sorted(READS_BY_ROLE))
def test_each_role_reads_only_its_own_key_prefixes(role: str) -> None:
    for who, statement in STATE_STATEMENTS:
        if who == role and _grants(statement, READS):
            keys = _leading_keys(statement)
            assert keys is not None and keys <= READS_BY_ROLE[role], (role, statement.get("Sid"), keys)


def test_the_state_table_has_no_unconditioned_write_grant() -> None:
    for role, statement in STATE_STATEMENTS:
        if _grants(statement, WRITES):
            assert _leading_keys(statement), (role, statement.get("Sid"))
            assert "ForAnyValue:StringLike" not in (statement.get("Condition") or {})


def _allowed(role: str, action: str, pk: str) -> bool:
    for who, statement in STATE_STATEMENTS:
        keys = _leading_keys(statement)
        if who == role and action in _grants(statement, [action]) and keys is not None \
                and any(fnmatchcase(pk, pattern) for pattern in keys):
            return True
    return False


class _Recorder:
    """A DynamoDB client that remembers each state-table request as (IAM action, partition key)."""

    PER_ITEM = {"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem", "Delete": "dynamodb:DeleteItem",
                "ConditionCheck": "dynamodb:ConditionCheckItem"}

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def _record(self, action: str, table: str, key: dict[str, Any]) -> None:
        if table == "state":
            self.calls.append((action, from_item(key)["pk"]))

    def get_item(self, *, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        self._record("dynamodb:GetItem", TableName, Key)
        return {}

    def put_item(self, *, TableName: str, Item: dict[str, Any], **_: Any) -> dict[str, Any]:
        self._record("dynamodb:PutItem", TableName, Item)
        return {}

    def update_item(self, *, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        self._record("dynamodb:UpdateItem", TableName, Key)
        return {"Attributes": Key}

    def transact_write_items(self, *, TransactItems: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
        for item in TransactItems:
            [(kind, body)] = item.items()
            self._record(self.PER_ITEM[kind], body["TableName"], body.get("Key") or body.get("Item") or {})
        return {}


def test_what_the_poller_does_to_its_state_is_within_its_policy() -> None:
    client = _Recorder()
    state = StateRepository("state", clients=lambda service: client)  # type: ignore[arg-type]
    now = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
    for pk in ("source#x#x-main", "source#news#wire"):
        state.acquire(pk, owner="run-1", now=now, until=now + timedelta(minutes=3))
        state.save(pk, owner="run-1", set_fields={"since_id": "1"}, release=True)
    assert client.calls and all(_allowed("PollerFunctionRole", a, pk) for a, pk in client.calls), client.calls
    assert not _allowed("PollerFunctionRole", "dynamodb:UpdateItem", "audit-anchor#audit")
    assert not _allowed("PollerFunctionRole", "dynamodb:UpdateItem", "detector#harbor")


@pytest.mark.parametrize("role", ["DetectorFunctionRole", "DeskApiFunctionRole", "PublisherFunctionRole",
                                  "ReviewerFunctionRole", "ExporterFunctionRole"])
def test_appending_an_audit_entry_is_within_the_policy_of_every_role_that_appends(role: str) -> None:
    client = _Recorder()
    log = AuditLog("audit", "state", clients=lambda service: client, sleep=lambda _: None)  # type: ignore[arg-type]
    log.append(AuditEntry(action="statement.approved", actor="approver:wu", role="approver", target="statement#s1",
                          at=datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)))
    assert ("dynamodb:UpdateItem", "audit-anchor#audit") in client.calls
    assert all(_allowed(role, a, pk) for a, pk in client.calls), client.calls


def test_only_the_anchor_may_be_moved_and_no_role_may_put_or_delete_it() -> None:
    for role in WRITES_BY_ROLE:
        assert not _allowed(role, "dynamodb:PutItem", "audit-anchor#audit")
        assert not _allowed(role, "dynamodb:DeleteItem", "audit-anchor#audit")
    assert not _allowed("DigestFunctionRole", "dynamodb:UpdateItem", "audit-anchor#audit")
    assert _allowed("DigestFunctionRole", "dynamodb:GetItem", "audit-anchor#audit")


def test_announcing_a_mass_send_is_within_the_publishers_policy_and_reaches_no_other_source_item() -> None:
    client = _Recorder()
    state = StateRepository("state", clients=lambda service: client)  # type: ignore[arg-type]
    state.announce_article("wechat", "2650000001:0:1795852800")
    assert client.calls == [("dynamodb:UpdateItem", "source#wechat#mass-sent")]
    assert all(_allowed("PublisherFunctionRole", a, pk) for a, pk in client.calls), client.calls
    for pk in ("source#wechat#comments", "source#token#wechat", "source#weibo#mass-sent", "detector#harbor"):
        assert not _allowed("PublisherFunctionRole", "dynamodb:UpdateItem", pk), pk
    assert not _allowed("PublisherFunctionRole", "dynamodb:PutItem", "source#wechat#mass-sent")
    assert not _allowed("PublisherFunctionRole", "dynamodb:DeleteItem", "source#wechat#mass-sent")


def test_reading_the_announced_mass_sends_is_within_the_pollers_policy() -> None:
    client = _Recorder()
    state = StateRepository("state", clients=lambda service: client)  # type: ignore[arg-type]
    assert state.announced_articles("wechat") == set()
    assert client.calls == [("dynamodb:GetItem", "source#wechat#mass-sent")]
    assert all(_allowed("PollerFunctionRole", a, pk) for a, pk in client.calls), client.calls


# --- the InboxTable and the desk topic: each function's part of the inbox -----------------------------

INBOX = "InboxTable"
INBOX_WRITES = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"]


def _inbox_resources(statement: dict[str, Any]) -> set[str | None]:
    """The InboxTable resources of a statement: None for the table itself, an index's name for an index."""
    found: set[str | None] = set()
    for resource in _listed(statement.get("Resource", [])):
        text = json.dumps(resource)
        if INBOX not in text:
            continue
        index = text.split("/index/", 1)[1].split('"', 1)[0] if "/index/" in text else None
        found.add(index)
    return found


def _inbox_allowed(role: str, action: str, pk: str | None = None, index: str | None = None) -> bool:
    for who, statement in _role_statements():
        if who != role or action not in _grants(statement, [action]) or index not in _inbox_resources(statement):
            continue
        keys = _leading_keys(statement)
        if keys is None or (pk is not None and any(fnmatchcase(pk, pattern) for pattern in keys)):
            return True
    return False


class _InboxRecorder(_Recorder):
    """Also remembers InboxTable requests as (IAM action, partition key or index)."""

    def __init__(self) -> None:
        super().__init__()
        self.inbox: list[tuple[str, str | None, str | None]] = []

    def _record(self, action: str, table: str, key: dict[str, Any]) -> None:
        if table == "inbox":
            self.inbox.append((action, from_item(key)["pk"], None))
        super()._record(action, table, key)

    def query(self, *, TableName: str, IndexName: str | None = None, **_: Any) -> dict[str, Any]:
        if TableName == "inbox":
            self.inbox.append(("dynamodb:Query", None, IndexName))
        return {"Items": []}


def _conversation(post_key: str = "weibo#5031") -> dict[str, Any]:
    return {"post_key": post_key, "topic": "harbor", "state": "NEW", "version": 1, "created_at": "2026-11-28T09:00:00Z",
            "due_at": "2026-11-28T10:00:00Z", "priority": 500, "priority_key": "499#2026-11-28T09:00:00Z"}


def _inbox_repository(client: _InboxRecorder, *, audited: bool) -> Any:
    from crisiscomms.aws.inbox_store import InboxRepository

    audit = AuditLog("audit", "state", clients=lambda service: client, sleep=lambda _: None) if audited else None  # type: ignore[arg-type]
    return InboxRepository("inbox", clients=lambda service: client, audit=audit)  # type: ignore[arg-type]


def test_the_poller_may_only_open_conversations_raise_their_priority_and_read_topic_levels() -> None:
    from crisiscomms.aws.inbox_store import TopicLevels

    client = _InboxRecorder()
    repo = _inbox_repository(client, audited=False)
    assert repo.open_conversation(_conversation())
    assert repo.raise_priority("weibo#5031", engagement=900, priority=640, created_at="2026-11-28T09:00:00Z",
                               fields={"growth_per_minute": 30.0}) == "raised"
    TopicLevels("state", clients=lambda service: client).level("harbor")  # type: ignore[arg-type]
    follow_up = {"TableName": "posts", "Key": to_item({"post_key": "weibo#5032"}), "UpdateExpression": "SET f = :f"}
    assert repo.open_conversations([(_conversation("weibo#5032"), follow_up), (_conversation("weibo#5033"), None)]) == [
        True, True]  # a page's conversations, in one transaction
    assert client.inbox == [("dynamodb:PutItem", "conv#weibo#5031", None), ("dynamodb:UpdateItem", "conv#weibo#5031", None),
                            ("dynamodb:PutItem", "conv#weibo#5032", None), ("dynamodb:PutItem", "conv#weibo#5033", None)]
    assert client.calls == [("dynamodb:GetItem", "detector#harbor")]
    for action, pk, index in client.inbox:
        assert _inbox_allowed("PollerFunctionRole", action, pk, index), (action, pk, index)
    assert _allowed("PollerFunctionRole", "dynamodb:GetItem", "detector#harbor")
    for action in INBOX_WRITES[2:] + ["dynamodb:GetItem", "dynamodb:Query"]:
        assert not _inbox_allowed("PollerFunctionRole", action, "conv#weibo#5031"), action
        assert not _inbox_allowed("PollerFunctionRole", action, None, "by_time"), action
    for pk in ("tmpl#t1", "reply#r1"):
        assert not _inbox_allowed("PollerFunctionRole", "dynamodb:PutItem", pk)
        assert not _inbox_allowed("PollerFunctionRole", "dynamodb:UpdateItem", pk)
    assert not _allowed("PollerFunctionRole", "dynamodb:PutItem", "detector#harbor")
    assert not _allowed("PollerFunctionRole", "dynamodb:UpdateItem", "detector#harbor")


def test_the_detectors_overdue_check_is_within_its_policy() -> None:
    client = _InboxRecorder()
    repo = _inbox_repository(client, audited=True)
    repo.past_due("harbor", "NEW", "2026-11-28T10:00:00Z")
    repo.posted_before("harbor", "NEW", "2026-11-28T09:45:00Z")
    at = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)
    entry = AuditEntry(actor="detector", role="system", action="inbox.overdue_claimed", target="conversation#weibo#5031", at=at)
    assert repo.mark_overdue_notified("weibo#5031", at, entry=entry)
    assert repo.release_overdue_notified("weibo#5031", at, entry=entry)
    assert repo.claim_overdue_notices([("weibo#5032", entry), ("weibo#5033", entry)], at) == [True, True]
    assert repo.release_overdue_notices([("weibo#5032", entry)], at) == [True]
    assert client.inbox == [("dynamodb:Query", None, "by_due_at"), ("dynamodb:Query", None, "by_due"),
                            ("dynamodb:UpdateItem", "conv#weibo#5031", None),
                            ("dynamodb:UpdateItem", "conv#weibo#5031", None), ("dynamodb:UpdateItem", "conv#weibo#5032", None),
                            ("dynamodb:UpdateItem", "conv#weibo#5033", None), ("dynamodb:UpdateItem", "conv#weibo#5032", None)]
    for action, pk, index in client.inbox:
        assert _inbox_allowed("DetectorFunctionRole", action, pk, index), (action, pk, index)
    assert all(_allowed("DetectorFunctionRole", a, pk) for a, pk in client.calls), client.calls
    for action in ("dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:Scan"):
        assert not _inbox_allowed("DetectorFunctionRole", action, "conv#weibo#5031"), action
    assert not _inbox_allowed("DetectorFunctionRole", "dynamodb:UpdateItem", "tmpl#t1")
    assert not _inbox_allowed("DetectorFunctionRole", "dynamodb:UpdateItem", "reply#r1")


def test_the_desk_api_reads_queues_and_moves_conversations_within_its_policy() -> None:
    client = _InboxRecorder()
    repo = _inbox_repository(client, audited=True)
    at = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)
    repo.list_queue("harbor", "NEW", order="priority")
    repo.list_queue("harbor", "NEW", order="time")
    repo.get("weibo#5031")
    repo.assign(_conversation(), to="li", by="wang", version=1, at=at)
    repo.close(_conversation(), reason="answered by phone", by="li", version=1, at=at)
    repo.ignore(_conversation(), reason="spam", by="li", version=1, at=at)
    assert {(a, i) for a, _, i in client.inbox if a == "dynamodb:Query"} == {("dynamodb:Query", "by_priority"),
                                                                             ("dynamodb:Query", "by_time")}
    assert [(a, pk) for a, pk, _ in client.inbox if a != "dynamodb:Query"] == [
        ("dynamodb:GetItem", "conv#weibo#5031"), *[("dynamodb:UpdateItem", "conv#weibo#5031")] * 3]
    for action, pk, index in client.inbox:
        assert _inbox_allowed("DeskApiFunctionRole", action, pk, index), (action, pk, index)
    assert all(_allowed("DeskApiFunctionRole", a, pk) for a, pk in client.calls), client.calls
    for role in WRITES_BY_ROLE:
        assert not _inbox_allowed(role, "dynamodb:Scan", None) and not _inbox_allowed(role, "dynamodb:DeleteItem", "conv#x")


def test_only_the_detector_publishes_to_the_desk_topic_and_the_desk_topic_alone() -> None:
    def publishes_to(statement: dict[str, Any], topic: str) -> bool:
        return bool(_grants(statement, ["sns:Publish"])) and topic in json.dumps(statement.get("Resource"))

    desk = [(role, s) for role, s in _role_statements() if publishes_to(s, "DeskTopic")]
    assert [role for role, _ in desk] == ["DetectorFunctionRole"]
    [(_, statement)] = desk
    assert _listed(statement["Resource"]) == [{"Ref": "DeskTopic"}], "the desk's statement names the desk topic only"


def test_the_reply_library_and_replies_are_within_the_desk_apis_policy() -> None:
    """Templates and replies: reads, the index lists, conditional writes with their audit entries, the
    conversation read, and the topic's level; nothing of it on other keys, and no Scan."""
    from crisiscomms.aws.alert_store import AlertRepository
    from crisiscomms.aws.reply_store import ReplyRepository

    class Recorder(_InboxRecorder):
        def query(self, *, TableName: str, IndexName: str | None = None, **kwargs: Any) -> dict[str, Any]:
            if TableName == "inbox" and IndexName is None:  # a query of one partition: its key
                self.inbox.append(("dynamodb:Query", from_item({"pk": kwargs["ExpressionAttributeValues"][":pk"]})["pk"], None))
                return {"Items": []}
            return super().query(TableName=TableName, IndexName=IndexName, **kwargs)

    client = Recorder()
    audit = AuditLog("audit", "state", clients=lambda service: client, sleep=lambda _: None)  # type: ignore[arg-type]
    repo = ReplyRepository("inbox", audit)
    at = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)
    entry = AuditEntry(actor="li", role="comms-author", action="template_draft", target="template#tp-1", at=at)
    head = {"id": "tp-1", "kind": "reply", "text": {"en": "Hi"}, "placeholders": {}, "text_hash": "a", "rules_hash": "b",
            "current_version": 1, "revision": 1, "created_at": "2026-11-28T10:00:00Z"}
    repo.create_template({k: v for k, v in head.items() if k != "revision"}, {"version": 1, "text": {"en": "Hi"}}, entry)
    repo.change_template(head, {"state": "APPROVED"}, entry, version_updates={"state": "APPROVED"},
                         expect_hashes={"text_hash": "a", "rules_hash": "b"})
    repo.change_template(head, {"state": "DRAFT"}, entry, new_version={"version": 2, "text": {"en": "Hello"}}, remove=("approval",))
    repo.template("tp-1")
    repo.template_versions("tp-1")
    repo.list_templates()
    reply = {"id": "rp-1", "post_key": "weibo#5031", "state": "AWAITING_APPROVAL", "version": 1, "created_at": "2026-11-28T10:00:00Z"}
    repo.create_reply(reply, entry)
    assert repo.move_reply(reply, expect=("AWAITING_APPROVAL",), updates={"state": "APPROVED"}, entry=entry)
    repo.reply("rp-1")
    repo.replies_for("weibo#5031")
    repo.conversation("weibo#5031")
    assert repo.open_conversation(_conversation("weibo#5031"), entry)     # a post triage left out, answered by a person
    AlertRepository("alerts", "state", audit).topic_level("harbor")
    assert {pk for _, pk, _ in client.inbox if pk} == {"tmpl#tp-1", "reply#rp-1", "conv#weibo#5031"}
    assert ("dynamodb:PutItem", "conv#weibo#5031", None) in client.inbox
    assert {i for a, _, i in client.inbox if a == "dynamodb:Query" and i} == {"by_time"}
    for action, pk, index in client.inbox:
        assert _inbox_allowed("DeskApiFunctionRole", action, pk, index), (action, pk, index)
    assert ("dynamodb:GetItem", "detector#harbor") in client.calls
    assert all(_allowed("DeskApiFunctionRole", a, pk) for a, pk in client.calls), client.calls
    assert not _allowed("DeskApiFunctionRole", "dynamodb:PutItem", "detector#harbor")
    assert not _allowed("DeskApiFunctionRole", "dynamodb:UpdateItem", "detector#harbor")
    assert not _inbox_allowed("DeskApiFunctionRole", "dynamodb:DeleteItem", "conv#weibo#5031")
    for pk in ("tmpl#tp-1", "reply#rp-1"):
        assert not _inbox_allowed("DeskApiFunctionRole", "dynamodb:DeleteItem", pk)
        for role in ("PollerFunctionRole", "DetectorFunctionRole", "DigestFunctionRole"):
            assert not _inbox_allowed(role, "dynamodb:PutItem", pk) and not _inbox_allowed(role, "dynamodb:UpdateItem", pk)


def test_delivering_a_reply_is_within_the_publishers_policy() -> None:
    """A reply's conditional moves with their audit entries, the conversation's move to REPLIED, the
    platform's token bucket: on those keys only; nothing else of the inbox, no Put, Delete or Scan."""
    from crisiscomms.aws.reply_pacing import ReplyPacer
    from crisiscomms.aws.reply_store import ReplyRepository

    from crisiscomms.aws.dynamo import to_item

    class Recorder(_InboxRecorder):
        def get_item(self, *, TableName: str, Key: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
            super().get_item(TableName=TableName, Key=Key, **kwargs)
            if TableName == "inbox" and from_item(Key)["pk"].startswith("conv#"):
                return {"Item": to_item({**_conversation(), "pk": from_item(Key)["pk"], "sk": "#"})}
            return {}

    client = Recorder()
    audit = AuditLog("audit", "state", clients=lambda service: client, sleep=lambda _: None)  # type: ignore[arg-type]
    at = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)
    entry = AuditEntry(actor="publisher", role="system", action="reply_sent", target="reply#rp-1", at=at)
    replies = ReplyRepository("inbox", audit)
    replies.reply("rp-1")
    reply = {"id": "rp-1", "state": "APPROVED", "version": 1}
    assert replies.move_reply(reply, expect=("APPROVED", "RETRYING"), updates={"state": "SENDING"}, entry=entry)
    assert _inbox_repository(client, audited=True).mark_replied("weibo#5031", "rp-1", at, entry=entry)
    ReplyPacer("state", clients=lambda service: client).take("weibo", per_minute=1, burst=5, now=at)  # type: ignore[arg-type]
    assert {pk for _, pk, _ in client.inbox} == {"reply#rp-1", "conv#weibo#5031"}
    for action, pk, index in client.inbox:
        assert _inbox_allowed("PublisherFunctionRole", action, pk, index), (action, pk, index)
    assert ("dynamodb:UpdateItem", "pace#weibo") in client.calls and ("dynamodb:GetItem", "pace#weibo") in client.calls
    assert all(_allowed("PublisherFunctionRole", a, pk) for a, pk in client.calls), client.calls
    for pk in ("tmpl#t1", "reply#rp-1", "conv#weibo#5031"):
        for action in ("dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:Scan"):
            assert not _inbox_allowed("PublisherFunctionRole", action, pk), (action, pk)
    assert not _inbox_allowed("PublisherFunctionRole", "dynamodb:UpdateItem", "tmpl#t1")
    assert not _inbox_allowed("PublisherFunctionRole", "dynamodb:GetItem", "tmpl#t1")
    assert not _allowed("PublisherFunctionRole", "dynamodb:UpdateItem", "detector#harbor")
    assert not _allowed("PublisherFunctionRole", "dynamodb:PutItem", "pace#weibo")


def test_the_publisher_defers_only_to_the_delivery_queue_and_reads_listening_tokens_without_writing_them() -> None:
    """Douyin and Reddit replies use their listening secrets' tokens: read, never written, no other source's."""
    publisher = [s for role, s in _role_statements() if role == "PublisherFunctionRole"]
    sends = [s for s in publisher if _grants(s, ["sqs:SendMessage"])]
    assert [_listed(s["Resource"]) for s in sends] == [[{"Fn::GetAtt": ["DeliveryQueue", "Arn"]}]]
    read = sorted(r for r in _grant_resources("PublisherFunctionRole", "secretsmanager:GetSecretValue")
                  if "TokensSecret" in r and "ChannelTokens" not in r)
    assert read == [json.dumps({"Ref": "DouyinTokensSecret"}), json.dumps({"Ref": "RedditTokensSecret"})], read
    for action in ("secretsmanager:PutSecretValue", "secretsmanager:UpdateSecret"):
        assert not any("TokensSecret" in r for r in _grant_resources("PublisherFunctionRole", action))


# --- post-crisis reports: the desk API asks, the Reporter writes ------------------------------------------

def _grant_resources(role: str, action: str) -> list[str]:
    """Every resource a role's statements grant `action` on, as JSON text (a Ref or GetAtt, or a Sub)."""
    return [json.dumps(r) for who, statement in _role_statements() if who == role and _grants(statement, [action])
            for r in _listed(statement.get("Resource", []))]


class _ReportRecorder(_Recorder):
    """Also remembers every Query as (table, index) and every S3 write as its key."""

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[tuple[str, str | None]] = []
        self.objects: list[str] = []
        self.batch_gets: list[tuple[str, str]] = []

    def query(self, *, TableName: str, IndexName: str | None = None, **_: Any) -> dict[str, Any]:
        self.queries.append((TableName, IndexName))
        if TableName == "inbox":  # a conversation a reply reached, listing its reply
            from crisiscomms.aws.dynamo import to_item

            return {"Items": [to_item({"post_key": "weibo#1", "reply_ids": ["rp-1"]})]}
        return {"Items": []}

    def put_object(self, *, Key: str, **_: Any) -> dict[str, Any]:
        self.objects.append(Key)
        return {}

    def batch_get_item(self, *, RequestItems: dict[str, Any], **_: Any) -> dict[str, Any]:
        for table, request in RequestItems.items():
            self.batch_gets += [(table, from_item(key)["pk"]) for key in request["Keys"]]
        return {"Responses": {}}

    def get_item(self, *, TableName: str, Key: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        super().get_item(TableName=TableName, Key=Key, **kwargs)
        return {}


def test_asking_for_and_writing_a_report_is_within_the_api_and_reporter_policies() -> None:
    from crisiscomms.aws.report_store import ReportReads, ReportRepository

    client = _ReportRecorder()
    audit = AuditLog("audit", "state", clients=lambda service: client, sleep=lambda _: None)  # type: ignore[arg-type]
    repo = ReportRepository("state", "reports-bucket", audit)
    at = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)
    entry = AuditEntry(actor="wang", role="comms-approver", action="report_requested", target="report#rpt-1", at=at)
    repo.create({"id": "rpt-1", "topic": "harbor", "state": "REQUESTED"}, entry)
    repo.get("rpt-1")
    api_calls, client.calls = client.calls, []
    assert ("dynamodb:PutItem", "report#rpt-1") in api_calls
    assert all(_allowed("DeskApiFunctionRole", a, pk) for a, pk in api_calls), api_calls

    repo.get("rpt-1")
    assert repo.move({"id": "rpt-1", "revision": 1}, expect=("REQUESTED",), updates={"state": "RUNNING"}, entry=entry)
    repo.put_file("reports/harbor/rpt-1/report.html", b"<html/>", "text/html")
    assert ("dynamodb:UpdateItem", "report#rpt-1") in client.calls
    assert all(_allowed("ReporterFunctionRole", a, pk) for a, pk in client.calls), client.calls
    assert not _allowed("ReporterFunctionRole", "dynamodb:PutItem", "report#rpt-1")
    assert not _allowed("DeskApiFunctionRole", "dynamodb:UpdateItem", "report#rpt-1")
    for role in ("PollerFunctionRole", "DetectorFunctionRole", "PublisherFunctionRole", "DigestFunctionRole"):
        assert not _allowed(role, "dynamodb:GetItem", "report#rpt-1") and not _allowed(role, "dynamodb:UpdateItem", "report#rpt-1")
    assert client.objects == ["reports/harbor/rpt-1/report.html"]
    assert _grant_resources("ReporterFunctionRole", "s3:PutObject") == [json.dumps({"Fn::Sub": "${ReportBucket.Arn}/reports/*"})]
    assert _grant_resources("DeskApiFunctionRole", "sqs:SendMessage").count(json.dumps({"Fn::GetAtt": ["ReportQueue", "Arn"]})) == 1
    assert json.dumps({"Fn::Sub": "${ReportBucket.Arn}/reports/*"}) in _grant_resources("DeskApiFunctionRole", "s3:GetObject")
    assert not any("ReportBucket" in r for r in _grant_resources("DeskApiFunctionRole", "s3:PutObject"))

    reads = ReportReads(audit_table="audit", alerts_table="alerts", statements_table="statements", inbox_table="inbox",
                        clients=lambda service: client)  # type: ignore[arg-type]
    reads.level_changes("harbor", at)
    reads.alerts("harbor", at, at)
    reads.statements(at, at)
    reads.replies("harbor", at, at)
    logical = {"audit": "AuditTable", "alerts": "AlertsTable", "statements": "StatementsTable", "inbox": "InboxTable"}
    granted = _grant_resources("ReporterFunctionRole", "dynamodb:Query")
    for table, index in set(client.queries):
        wanted = (json.dumps({"Fn::Sub": f"${{{logical[table]}.Arn}}/index/{index}"}) if index
                  else json.dumps({"Fn::GetAtt": [logical[table], "Arn"]}))
        assert wanted in granted, (table, index)
    assert not any(_grants(s, ["dynamodb:Scan"]) for who, s in _role_statements() if who == "ReporterFunctionRole")
    assert client.batch_gets and all(table == "inbox" for table, _ in client.batch_gets)
    for _, pk in client.batch_gets:
        assert _inbox_allowed("ReporterFunctionRole", "dynamodb:BatchGetItem", pk), pk
    assert not _inbox_allowed("ReporterFunctionRole", "dynamodb:BatchGetItem", "conv#weibo#1")
    assert not _inbox_allowed("ReporterFunctionRole", "dynamodb:BatchGetItem", "tmpl#t1")


# --- closing alerts and reading lessons: the desk API's part of the AlertsTable ---------------------------

def _alerts_allowed(role: str, action: str, index: str | None = None) -> bool:
    """Whether a role may do `action` on the AlertsTable (index None) or one of its indexes."""
    wanted = (json.dumps({"Fn::Sub": f"${{AlertsTable.Arn}}/index/{index}"}) if index
              else json.dumps({"Fn::GetAtt": ["AlertsTable", "Arn"]}))
    return any(who == role and _grants(statement, [action]) and wanted in map(json.dumps, _listed(statement.get("Resource", [])))
               for who, statement in _role_statements())


class _AlertsRecorder(_Recorder):
    """Also remembers AlertsTable requests as (IAM action, index)."""

    def __init__(self) -> None:
        super().__init__()
        self.alerts: list[tuple[str, str | None]] = []

    def _record(self, action: str, table: str, key: dict[str, Any]) -> None:
        if table == "alerts":
            self.alerts.append((action, None))
        super()._record(action, table, key)

    def get_item(self, *, TableName: str, Key: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        super().get_item(TableName=TableName, Key=Key, **kwargs)
        if TableName == "alerts":
            return {"Item": {"alert_id": {"S": "harbor-20261128-0922"}, "topic": {"S": "harbor"},
                             "status": {"S": "TRIGGERED"}, "triggered_at": {"S": "2026-11-28T09:22:00+00:00"}}}
        return {}

    def query(self, *, TableName: str, IndexName: str | None = None, **_: Any) -> dict[str, Any]:
        if TableName == "alerts":
            self.alerts.append(("dynamodb:Query", IndexName))
        return {"Items": []}


def test_closing_an_alert_and_reading_lessons_are_within_the_desk_apis_policy() -> None:
    from crisiscomms.aws.alert_store import AlertRepository
    from crisiscomms.identity import Identity
    from crisiscomms.models.alerts import Conclusion
    from crisiscomms.review.lessons import LessonBook

    client = _AlertsRecorder()
    log = AuditLog("audit", "state", clients=lambda service: client, sleep=lambda _: None)  # type: ignore[arg-type]
    at = datetime(2026, 11, 28, 11, 0, tzinfo=timezone.utc)
    book = LessonBook(AlertRepository("alerts", "state", log), clock=lambda: at)
    book.close(Identity(user="chen", groups=frozenset({"oncall"})), "harbor-20261128-0922",
               Conclusion(cause="a rumour", lessons="answer sooner"))
    book.lessons(Identity(user="zhou", groups=frozenset({"auditor"})), "harbor", None, None)
    assert ("dynamodb:UpdateItem", None) in client.alerts and ("dynamodb:Query", "by_topic") in client.alerts
    for action, index in client.alerts:
        assert _alerts_allowed("DeskApiFunctionRole", action, index), (action, index)
    assert all(_allowed("DeskApiFunctionRole", a, pk) for a, pk in client.calls), client.calls
    for action in ("dynamodb:DeleteItem", "dynamodb:Scan", "dynamodb:BatchWriteItem"):
        assert not _alerts_allowed("DeskApiFunctionRole", action) and not _alerts_allowed("DeskApiFunctionRole", action, "by_topic")


# --- the auditor's reads and exports: the desk API reads and asks, the Exporter writes ----------------------

class _AuditorRecorder(_Recorder):
    """Also remembers every read as (IAM action, table, index), every S3 write and every message's queue;
    a Query answers one item of the table it was asked, so each read leads to the next."""

    ITEMS = {
        "topic_posts": {"topic_day": "harbor#2026-11-28", "published_key": "2026-11-28T09:00:00Z#x#1", "post_key": "x#1",
                        "platform": "x", "sentiment": -0.5, "is_crisis": False},
        "statements": {"pk": "statement#st-0123456789abcdef", "sk": "meta", "list_pk": "statement",
                       "created_at": "2026-11-28T09:00:00+00:00"},
    }

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[str, str, str | None]] = []
        self.objects: list[str] = []

    def query(self, *, TableName: str, IndexName: str | None = None, **_: Any) -> dict[str, Any]:
        from crisiscomms.aws.dynamo import to_item

        self.reads.append(("dynamodb:Query", TableName, IndexName))
        item = self.ITEMS.get(TableName)
        return {"Items": [to_item(item)] if item else []}

    def batch_get_item(self, *, RequestItems: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.reads += [("dynamodb:BatchGetItem", table, None) for table in RequestItems]
        return {"Responses": {}}

    def get_item(self, *, TableName: str, Key: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        super().get_item(TableName=TableName, Key=Key, **kwargs)
        return {}

    def put_object(self, *, Key: str, **_: Any) -> dict[str, Any]:
        self.objects.append(Key)
        return {}


LOGICAL = {"posts": "PostsTable", "topic_posts": "TopicPostsTable", "alerts": "AlertsTable",
           "statements": "StatementsTable", "audit": "AuditTable", "aggregates": "AggregatesTable"}


def _table_granted(role: str, action: str, table: str, index: str | None) -> bool:
    wanted = (json.dumps({"Fn::Sub": f"${{{LOGICAL[table]}.Arn}}/index/{index}"}) if index
              else json.dumps({"Fn::GetAtt": [LOGICAL[table], "Arn"]}))
    return wanted in _grant_resources(role, action)


def test_every_auditor_read_is_within_the_desk_apis_policy_and_no_role_may_scan() -> None:
    from crisiscomms.aws.record_reader import RecordReader, RecordTables
    from crisiscomms.aws.series_store import SeriesTables, TopicSeriesReader

    client = _AuditorRecorder()
    reader = RecordReader(RecordTables(posts="posts", topic_posts="topic_posts", alerts="alerts", statements="statements",
                                       audit="audit"), clients=lambda service: client)  # type: ignore[arg-type]
    start, end = datetime(2026, 11, 28, 0, 0, tzinfo=timezone.utc), datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
    reader.topic_posts("harbor", start, end, limit=10, cursor=None)
    reader.topic_posts("harbor", start, end, limit=10, cursor=None, min_risk=40)
    reader.platform_posts("x", start, end, limit=10, cursor=None)
    reader.alerts(start, end, limit=10, cursor=None)
    reader.alerts(start, end, limit=10, cursor=None, topic="harbor")
    reader.statements(start, end, limit=10, cursor=None)
    reader.audit_entries(start, end, limit=10, cursor=None, actor="wang")
    reader.entries_for_target("alert#harbor-20261128-0922", limit=10, cursor=None)
    series = TopicSeriesReader(SeriesTables("topic_posts", "aggregates"), clients=lambda service: client,  # type: ignore[arg-type]
                               negative_threshold=-0.25)
    series.series("harbor", start, end, "hour")
    assert {(a, t, i) for a, t, i in client.reads} >= {
        ("dynamodb:Query", "topic_posts", None), ("dynamodb:BatchGetItem", "posts", None),
        ("dynamodb:Query", "topic_posts", "by_risk"), ("dynamodb:Query", "posts", "by_platform_time"),
        ("dynamodb:Query", "alerts", "by_triggered"), ("dynamodb:Query", "alerts", "by_topic"),
        ("dynamodb:Query", "statements", "by_created"), ("dynamodb:Query", "statements", None),
        ("dynamodb:Query", "audit", "by_time"), ("dynamodb:Query", "audit", "by_target"),
        ("dynamodb:Query", "aggregates", None)}
    for action, table, index in set(client.reads):
        assert _table_granted("DeskApiFunctionRole", action, table, index), (action, table, index)
    for role, statement in _role_statements():
        assert not _grants(statement, ["dynamodb:Scan", "dynamodb:PartiQLSelect"]), (role, statement.get("Sid"))


def test_asking_for_and_writing_an_export_is_within_the_api_and_exporter_policies() -> None:
    from crisiscomms.aws.export_store import ExportFileStore, ExportJobRepository
    from crisiscomms.aws.record_reader import RecordReader, RecordTables

    client = _AuditorRecorder()
    audit = AuditLog("audit", "state", clients=lambda service: client, sleep=lambda _: None)  # type: ignore[arg-type]
    jobs = ExportJobRepository("state", audit)
    at = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)
    entry = AuditEntry(actor="zhou", role="auditor", action="export_requested", target="export#ex-1", at=at)
    jobs.create({"export_id": "ex-1", "state": "REQUESTED"}, entry)
    jobs.get("ex-1")
    api_calls, client.calls = client.calls, []
    assert ("dynamodb:PutItem", "export#ex-1") in api_calls
    assert all(_allowed("DeskApiFunctionRole", a, pk) for a, pk in api_calls), api_calls
    assert not _allowed("DeskApiFunctionRole", "dynamodb:UpdateItem", "export#ex-1"), "the API never moves a job"

    jobs.claim("ex-1", at=at.isoformat(), stale_before=at.isoformat(), entry=entry)
    jobs.complete("ex-1", at=at.isoformat(), manifest_sha256="0" * 64, counts={}, entry=entry)
    jobs.fail("ex-1", at=at.isoformat(), reason="x", entry=entry)
    assert ("dynamodb:UpdateItem", "export#ex-1") in client.calls
    assert all(_allowed("ExporterFunctionRole", a, pk) for a, pk in client.calls), client.calls
    assert not _allowed("ExporterFunctionRole", "dynamodb:PutItem", "export#ex-1")
    for role in ("PollerFunctionRole", "DetectorFunctionRole", "PublisherFunctionRole", "DigestFunctionRole"):
        assert not _allowed(role, "dynamodb:GetItem", "export#ex-1") and not _allowed(role, "dynamodb:UpdateItem", "export#ex-1")

    ExportFileStore("exports-bucket", clients=lambda service: client).put_bytes(  # type: ignore[arg-type]
        "exports/ex-1/manifest.json", b"{}", "application/json")
    assert client.objects == ["exports/ex-1/manifest.json"]
    assert _grant_resources("ExporterFunctionRole", "s3:PutObject") == [json.dumps({"Fn::Sub": "${ExportBucket.Arn}/exports/*"})]
    assert _grant_resources("DeskApiFunctionRole", "s3:GetObject").count(
        json.dumps({"Fn::Sub": "${ExportBucket.Arn}/exports/*"})) == 1
    assert not any("ExportBucket" in r for r in _grant_resources("DeskApiFunctionRole", "s3:PutObject"))
    assert not any("AuditDigestBucket" in r for r in _grant_resources("ExporterFunctionRole", "s3:PutObject"))
    assert _grant_resources("DeskApiFunctionRole", "sqs:SendMessage").count(json.dumps({"Fn::GetAtt": ["ExportQueue", "Arn"]})) == 1

    reader = RecordReader(RecordTables(posts="posts", alerts="alerts", statements="statements", audit="audit"),
                          clients=lambda service: client)  # type: ignore[arg-type]
    for kind in ("posts", "alerts", "statements", "audit"):
        list(reader.every(kind, at, at + timedelta(hours=1)))
    assert {t for _, t, _ in client.reads} == {"posts", "alerts", "statements", "audit"}
    for action, table, index in set(client.reads):
        assert _table_granted("ExporterFunctionRole", action, table, index), (action, table, index)
    writes = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"]
    for table in ("PostsTable", "TopicPostsTable", "AlertsTable", "StatementsTable", "AggregatesTable", "InboxTable"):
        for action in writes:
            assert not any(table in r for r in _grant_resources("ExporterFunctionRole", action)), (table, action)


class _ExportReadRecorder:
    """Every read of an export of the inbox, figures, effects, reports and lessons as (IAM action, logical
    table, partition key or None, index or None); each Query answers what leads to the next read."""

    TABLES = {"posts": "PostsTable", "alerts": "AlertsTable", "statements": "StatementsTable", "audit": "AuditTable",
              "inbox": "InboxTable", "aggregates": "AggregatesTable", "state": "StateTable"}

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str | None, str | None]] = []

    def query(self, *, TableName: str, ExpressionAttributeValues: dict[str, Any], IndexName: str | None = None,
              **_: Any) -> dict[str, Any]:
        from crisiscomms.aws.dynamo import to_item

        values = from_item(ExpressionAttributeValues)
        partition = str(values[":p"]) if ":p" in values else str(values.get(":pk"))
        self.calls.append(("dynamodb:Query", self.TABLES[TableName], None if IndexName else partition, IndexName))
        found: list[dict[str, Any]] = []
        if TableName == "audit":  # the entries that name what was created
            target = {"reply#": "reply#rp-1", "report#": "report#rpt-1", "effect_measured": "statement#st-1"}[values[":v"]]
            found = [{"target": target}]
        elif TableName == "inbox" and IndexName == "by_time":
            found = [{"pk": "tmpl#tp-1", "sk": "#"} if partition.startswith("templates#")
                     else {"pk": "conv#weibo#1", "sk": "#", "post_key": "weibo#1"}]
        return {"Items": [to_item(i) for i in found]}

    def batch_get_item(self, *, RequestItems: dict[str, Any], **_: Any) -> dict[str, Any]:
        for table, request in RequestItems.items():
            self.calls += [("dynamodb:BatchGetItem", self.TABLES[table], from_item(k)["pk"], None) for k in request["Keys"]]
        return {"Responses": {}}


def test_exporting_the_inbox_figures_effects_reports_and_lessons_is_within_the_exporters_policy() -> None:
    from crisiscomms.aws.record_reader import RecordReader, RecordTables

    client = _ExportReadRecorder()
    reader = RecordReader(RecordTables(posts="posts", alerts="alerts", statements="statements", audit="audit",
                                       inbox="inbox", aggregates="aggregates", state="state"),
                          clients=lambda service: client)  # type: ignore[arg-type]
    at = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)
    for kind in ("conversations", "replies", "templates", "minute_figures", "hour_figures", "effects", "reports", "lessons"):
        list(reader.every(kind, at, at + timedelta(hours=1), topics=["harbor"]))
    assert {(a, t, i) for a, t, _, i in client.calls} == {
        ("dynamodb:Query", "InboxTable", "by_time"), ("dynamodb:Query", "AuditTable", "by_time"),
        ("dynamodb:BatchGetItem", "InboxTable", None), ("dynamodb:Query", "InboxTable", None),
        ("dynamodb:Query", "AggregatesTable", None), ("dynamodb:Query", "StatementsTable", None),
        ("dynamodb:BatchGetItem", "StateTable", None), ("dynamodb:Query", "AlertsTable", "by_triggered")}
    for action, table, pk, index in client.calls:
        assert _role_allows("ExporterFunctionRole", action, table, pk, index), (action, table, pk, index)
    # by key only what it exports: no conversation, template or other state item through the key grants
    assert not _role_allows("ExporterFunctionRole", "dynamodb:BatchGetItem", "InboxTable", "conv#weibo#1")
    assert not _role_allows("ExporterFunctionRole", "dynamodb:Query", "InboxTable", "reply#rp-1")
    assert not _role_allows("ExporterFunctionRole", "dynamodb:GetItem", "InboxTable", "tmpl#tp-1")
    for pk in ("detector#harbor", "source#x#main", "review#cursor", "pace#x"):
        assert not _allowed("ExporterFunctionRole", "dynamodb:BatchGetItem", pk), pk
    assert not _allowed("ExporterFunctionRole", "dynamodb:UpdateItem", "report#rpt-1")
    for action in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
                   "dynamodb:Scan"):
        for table in ("InboxTable", "AggregatesTable"):
            assert not _role_allows("ExporterFunctionRole", action, table, "x"), (action, table)


# --- the Reviewer: what it reads and the items it writes ---------------------------------------------------

def _resource_matches(resource: Any, table: str, index: str | None) -> bool:
    text = json.dumps(resource)
    if f'"{table}"' not in text and f"${{{table}.Arn}}" not in text:
        return False
    return f"/index/{index}" in text if index else "/index/" not in text


def _role_allows(role: str, action: str, table: str, pk: str | None = None, index: str | None = None) -> bool:
    for who, statement in _role_statements():
        if who != role or action not in _grants(statement, [action]):
            continue
        if not any(_resource_matches(r, table, index) for r in _listed(statement.get("Resource", []))):
            continue
        keys = _leading_keys(statement)
        if keys is None or (pk is not None and any(fnmatchcase(pk, pattern) for pattern in keys)):
            return True
    return False


class _TableRecorder:
    """Every DynamoDB request as (IAM action, logical table, partition key or None, index or None)."""

    TABLES = {"statements": "StatementsTable", "state": "StateTable", "audit": "AuditTable", "inbox": "InboxTable",
              "aggregates": "AggregatesTable"}
    PER_ITEM = {"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem", "ConditionCheck": "dynamodb:ConditionCheckItem"}
    PK = {"statements": "pk", "state": "pk", "audit": "chain", "inbox": "pk", "aggregates": "topic"}

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str | None, str | None]] = []

    def _key(self, table: str, key: dict[str, Any]) -> str | None:
        value = from_item(key).get(self.PK[table])
        return str(value) if value is not None else None

    def get_item(self, *, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.calls.append(("dynamodb:GetItem", self.TABLES[TableName], self._key(TableName, Key), None))
        return {}

    def put_item(self, *, TableName: str, Item: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.calls.append(("dynamodb:PutItem", self.TABLES[TableName], self._key(TableName, Item), None))
        return {}

    def update_item(self, *, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.calls.append(("dynamodb:UpdateItem", self.TABLES[TableName], self._key(TableName, Key), None))
        return {}

    def query(self, *, TableName: str, IndexName: str | None = None, ExpressionAttributeValues: dict[str, Any],
              **_: Any) -> dict[str, Any]:
        partition = next(iter(from_item(ExpressionAttributeValues).values())) if IndexName is None else None
        self.calls.append(("dynamodb:Query", self.TABLES[TableName], partition, IndexName))
        return {"Items": [], "Count": 0}

    def transact_write_items(self, *, TransactItems: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
        for item in TransactItems:
            [(kind, body)] = item.items()
            table = body["TableName"]
            self.calls.append((self.PER_ITEM[kind], self.TABLES[table], self._key(table, body.get("Key") or body["Item"]), None))
        return {}


def test_what_the_reviewer_reads_and_writes_is_within_its_policy_and_touches_no_statement_item() -> None:
    from crisiscomms.aws.effect_store import EffectRepository, ReviewReads
    from crisiscomms.aws.post_store import PostRepository, PostTables
    from crisiscomms.aws.reply_store import ReplyRepository
    from crisiscomms.aws.statement_store import StatementRepository
    from crisiscomms.models.effect import EffectRecord, Recommendation, Window

    client = _TableRecorder()
    clients = lambda service: client  # noqa: E731
    audit = AuditLog("audit", "state", clients=clients, sleep=lambda _: None)  # type: ignore[arg-type]
    effects = EffectRepository("statements", clients=clients, audit=audit)  # type: ignore[arg-type]
    reads = ReviewReads(audit_table="audit", state_table="state", inbox_table="inbox", clients=clients)  # type: ignore[arg-type]
    at = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)
    due = {"subject": "statement", "subject_id": "st-1", "stage": "after", "published_at": "2026-11-28T09:30:00Z"}
    effects.schedule(due, due_at=at)
    effects.due(at)
    window = Window(start=at, end=at)
    record = EffectRecord(subject="statement", subject_id="st-1", stage="after", published_at=at, measured_at=at,
                          window_minutes=30, before=window, after=window, topics_basis="given", topics=[],
                          recommendation=Recommendation(code="none", reason="-"))
    effects.record(record, due, next_due=at, entry=AuditEntry(actor="reviewer", role="system", action="effect_measured",
                                                              target="statement#st-1", at=at))
    wave = {"id": "rw-1", "topic": "harbor", "basis": "template:tp-1", "closes_at": "2026-11-28T10:30:00Z"}
    effects.start_wave(wave, {**due, "subject": "reply_wave", "subject_id": "rw-1"}, due_at=at)
    effects.join_wave("rw-1", {"id": "rp-2"})
    effects.open_wave("harbor", "template:tp-1")
    effects.wave("rw-1")
    effects.for_statement("st-1")
    effects.for_topic("harbor", at, at + timedelta(hours=1))
    reads.advance(reads.cursor(), 10)
    reads.entries_after(0)
    reads.level_before("harbor", 10)
    reads.conversations("harbor", "rumour", ("NEW", "CLOSED"), start=at, end=at + timedelta(minutes=30))
    StatementRepository("statements", audit).load("st-1")
    ReplyRepository("inbox", audit).reply("rp-1")
    PostRepository(PostTables(None, None, "aggregates"), clients=clients, retention_days=1).minute_aggregates(  # type: ignore[arg-type]
        "harbor", "2026-11-28T09:00", "2026-11-28T09:30")
    assert {c[1] for c in client.calls} == {"StatementsTable", "StateTable", "AuditTable", "InboxTable", "AggregatesTable"}
    for action, table, pk, index in client.calls:
        assert _role_allows("ReviewerFunctionRole", action, table, pk, index), (action, table, pk, index)
    # nothing of a statement itself: its meta, versions and deliveries share the partition but not the writes
    writes = {(a, t, pk) for a, t, pk, _ in client.calls if a in ("dynamodb:PutItem", "dynamodb:UpdateItem")}
    assert {pk for _, t, pk in writes if t == "StatementsTable"} <= {"statement#st-1", "wave#rw-1", "wave-open#harbor#template:tp-1"}
    for action in ("dynamodb:DeleteItem", "dynamodb:Scan", "dynamodb:BatchWriteItem"):
        assert not _role_allows("ReviewerFunctionRole", action, "StatementsTable", "statement#st-1")
    assert not _role_allows("ReviewerFunctionRole", "dynamodb:PutItem", "InboxTable", "reply#rp-1")
    assert not _role_allows("ReviewerFunctionRole", "dynamodb:UpdateItem", "InboxTable", "conv#x#1")
    assert not _role_allows("ReviewerFunctionRole", "dynamodb:GetItem", "InboxTable", "conv#x#1")
    assert not _role_allows("ReviewerFunctionRole", "dynamodb:UpdateItem", "AggregatesTable", "harbor")
    assert not _allowed("ReviewerFunctionRole", "dynamodb:UpdateItem", "detector#harbor")
    assert not _allowed("ReviewerFunctionRole", "dynamodb:PutItem", "review#cursor")


# --- the Detector's arrivals items ------------------------------------------------------------------------

def test_arrivals_items_are_written_only_in_the_pollers_transaction_and_only_read_by_the_detector() -> None:
    """A stored post adds itself to its topics' arrivals items inside its transaction (per item an
    UpdateItem on the aggregates table, the Poller's); the Detector reads them and its full read with
    Query and writes nothing to the aggregates table."""
    from crisiscomms.aws.post_store import PostRepository, PostTables
    from crisiscomms.models import Post, ScoredPost

    at = datetime(2026, 11, 28, 9, 20, 5, tzinfo=timezone.utc)
    post = Post(platform="x", native_id="42", source_type="social", source_id="x", url="u", author="a", followers=1,
                text="Harbor Bank", published_at=at - timedelta(minutes=4))
    scored = ScoredPost(post=post, topics=("harbor", "northgate"), language="en", sentiment=-0.5,
                        sentiment_label="negative", crisis_terms=(), crisis_categories=(), crisis_weight=0.0,
                        is_crisis=False, risk=10, ingested_at=at)
    writer = PostRepository(PostTables("posts", "links", "aggregates"), clients=lambda service: None,  # type: ignore[arg-type]
                            retention_days=1)
    arrivals = [a["Update"] for a in writer._transaction(scored)
                if "Update" in a and a["Update"]["Key"]["minute_key"]["S"].startswith("arrivals#")]
    assert [from_item(u["Key"])["topic"] for u in arrivals] == ["harbor", "northgate"]
    assert _role_allows("PollerFunctionRole", "dynamodb:UpdateItem", "AggregatesTable")

    client = _TableRecorder()
    reader = PostRepository(PostTables(None, "topic_posts", "aggregates"), clients=lambda service: client,  # type: ignore[arg-type]
                            retention_days=1)
    reader.arrivals("harbor", "2026-11-28T09:19")
    reader.minute_aggregates("harbor", "2026-11-27T09:05", "9999-12-31T23:59", exact=True, consistent=True)
    assert client.calls == [("dynamodb:Query", "AggregatesTable", "harbor", None)] * 2
    assert all(_role_allows("DetectorFunctionRole", *call) for call in client.calls)
    for action in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"):
        assert not _role_allows("DetectorFunctionRole", action, "AggregatesTable", "harbor"), action


def test_the_desk_api_keeps_its_idempotent_answers_under_its_own_prefix_and_nothing_else() -> None:
    """The idempotency table is shared with the Publisher, whose records stop a delivery going out twice:
    the desk API reads and writes only `api#` items there (the prefix its requests are kept under)."""
    api = [s for role, s in _role_statements() if role == "DeskApiFunctionRole" and "IdempotencyTable" in json.dumps(s)]
    assert api, "the desk API keeps first answers in the idempotency table"
    for statement in api:
        assert _leading_keys(statement) == {"api#*"}, statement
        assert set(_listed(statement["Action"])) <= {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                                                     "dynamodb:DeleteItem"}
