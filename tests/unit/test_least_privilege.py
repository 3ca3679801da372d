"""Least privilege by key on the shared StateTable, read from the SAM-transformed template
(local AWS does not enforce IAM, so it is checked here).

Each role may write only its own key prefixes (`dynamodb:LeadingKeys` under
`ForAllValues:StringLike`): the Poller its sources' cursors and leases, the Detector its state
and the audit anchor (it appends audit entries), the desk API the audit anchor, the Publisher
the audit anchor and the one item listing the statements it mass-sent on WeChat (which the
Poller's WeChat source reads), the Digest function nothing (it reads the anchor). TransactWriteItems is no IAM action:
each item of a transaction is authorised as its per-item action, so those are what is checked.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from fnmatch import fnmatchcase
from typing import Any

import pytest

from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.dynamo import from_item
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
    "DeskApiFunctionRole": {"dynamodb:UpdateItem": {"audit-anchor#*"}},
    "PublisherFunctionRole": {"dynamodb:UpdateItem": {"audit-anchor#*", "source#wechat#mass-sent", "pace#*"}},
    "DigestFunctionRole": {},
}
# The prefixes a role may read at all (each read is conditioned too).
READS_BY_ROLE: dict[str, set[str]] = {
    "PollerFunctionRole": {"source#*", "detector#*"},  # detector#<topic>: the level, for a conversation's target
    "DetectorFunctionRole": {"detector#*", "audit-anchor#*"},
    "DeskApiFunctionRole": {"audit-anchor#*", "detector#*"},  # detector#<topic>: the level, for the replies' CRISIS switch
    "PublisherFunctionRole": {"audit-anchor#*", "pace#*"},  # pace#<platform>: the replies' token buckets
    "DigestFunctionRole": {"audit-anchor#*"},
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


@pytest.mark.parametrize("role", ["DetectorFunctionRole", "DeskApiFunctionRole", "PublisherFunctionRole"])
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


def test_the_poller_may_only_open_conversations_and_read_topic_levels() -> None:
    from crisiscomms.aws.inbox_store import TopicLevels

    client = _InboxRecorder()
    assert _inbox_repository(client, audited=False).open_conversation(_conversation())
    TopicLevels("state", clients=lambda service: client).level("harbor")  # type: ignore[arg-type]
    assert client.inbox == [("dynamodb:PutItem", "conv#weibo#5031", None)]
    assert client.calls == [("dynamodb:GetItem", "detector#harbor")]
    assert _inbox_allowed("PollerFunctionRole", "dynamodb:PutItem", "conv#weibo#5031")
    assert _allowed("PollerFunctionRole", "dynamodb:GetItem", "detector#harbor")
    for action in INBOX_WRITES[1:] + ["dynamodb:GetItem", "dynamodb:Query"]:
        assert not _inbox_allowed("PollerFunctionRole", action, "conv#weibo#5031"), action
        assert not _inbox_allowed("PollerFunctionRole", action, None, "by_time"), action
    for pk in ("tmpl#t1", "reply#r1"):
        assert not _inbox_allowed("PollerFunctionRole", "dynamodb:PutItem", pk)
    assert not _allowed("PollerFunctionRole", "dynamodb:PutItem", "detector#harbor")
    assert not _allowed("PollerFunctionRole", "dynamodb:UpdateItem", "detector#harbor")


def test_the_detectors_overdue_check_is_within_its_policy() -> None:
    client = _InboxRecorder()
    repo = _inbox_repository(client, audited=True)
    repo.overdue("harbor", "NEW", "2026-11-28T09:30:00Z", due_by="2026-11-28T10:00:00Z")
    at = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)
    entry = AuditEntry(actor="detector", role="system", action="inbox.overdue_claimed", target="conversation#weibo#5031", at=at)
    assert repo.mark_overdue_notified("weibo#5031", at, entry=entry)
    assert repo.release_overdue_notified("weibo#5031", at, entry=entry)
    assert client.inbox == [("dynamodb:Query", None, "by_time"), ("dynamodb:UpdateItem", "conv#weibo#5031", None),
                            ("dynamodb:UpdateItem", "conv#weibo#5031", None)]
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
    AlertRepository("alerts", "state", audit).topic_level("harbor")
    assert {pk for _, pk, _ in client.inbox if pk} == {"tmpl#tp-1", "reply#rp-1", "conv#weibo#5031"}
    assert {i for a, _, i in client.inbox if a == "dynamodb:Query" and i} == {"by_time"}
    for action, pk, index in client.inbox:
        assert _inbox_allowed("DeskApiFunctionRole", action, pk, index), (action, pk, index)
    assert ("dynamodb:GetItem", "detector#harbor") in client.calls
    assert all(_allowed("DeskApiFunctionRole", a, pk) for a, pk in client.calls), client.calls
    assert not _allowed("DeskApiFunctionRole", "dynamodb:PutItem", "detector#harbor")
    assert not _allowed("DeskApiFunctionRole", "dynamodb:UpdateItem", "detector#harbor")
    assert not _inbox_allowed("DeskApiFunctionRole", "dynamodb:PutItem", "conv#weibo#5031")
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


def test_the_publisher_defers_only_to_the_delivery_queue_and_reads_douyins_token_without_writing_it() -> None:
    publisher = [s for role, s in _role_statements() if role == "PublisherFunctionRole"]
    sends = [s for s in publisher if _grants(s, ["sqs:SendMessage"])]
    assert [_listed(s["Resource"]) for s in sends] == [[{"Fn::GetAtt": ["DeliveryQueue", "Arn"]}]]
    douyin = [s for s in publisher if "DouyinTokensSecret" in json.dumps(s.get("Resource"))]
    assert douyin and all(_grants(s, ["secretsmanager:GetSecretValue"]) for s in douyin)
    assert not any(_grants(s, ["secretsmanager:PutSecretValue", "secretsmanager:UpdateSecret"]) for s in douyin)
