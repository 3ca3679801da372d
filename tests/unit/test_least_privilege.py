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
    "PublisherFunctionRole": {"dynamodb:UpdateItem": {"audit-anchor#*", "source#wechat#mass-sent"}},
    "DigestFunctionRole": {},
}
# The prefixes a role may read at all (each read is conditioned too).
READS_BY_ROLE: dict[str, set[str]] = {
    "PollerFunctionRole": {"source#*"},
    "DetectorFunctionRole": {"detector#*", "audit-anchor#*"},
    "DeskApiFunctionRole": {"audit-anchor#*"},
    "PublisherFunctionRole": {"audit-anchor#*"},
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
