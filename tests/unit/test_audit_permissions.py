"""Who may sign and write audit digests, read from the SAM-transformed template (local AWS does not enforce IAM).

Only the Digest function's role may write the digest bucket or sign with the audit key; the
desk API (the verifier) may only read digests and fetch the key's public half; the key and
bucket policies deny everyone else even if an IAM policy were to grant it; the bucket keeps
digests under Object Lock in COMPLIANCE mode; a broken chain raises an alarm.
"""
from __future__ import annotations

import json
import re
from fnmatch import fnmatchcase
from typing import Any

import pytest

from crisiscomms_local.template import load_template, resources_of_type, sam_transform

TEMPLATE = load_template()
TRANSFORMED = sam_transform(TEMPLATE)
DIGEST_ROLE = "DigestFunctionRole"
VERIFIER_ROLE = "DeskApiFunctionRole"

DIGEST_WRITES = ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectRetention",
                 "s3:PutObjectLegalHold", "s3:BypassGovernanceRetention", "s3:PutObjectAcl", "s3:RestoreObject",
                 "s3:PutBucketPolicy", "s3:PutBucketObjectLockConfiguration", "s3:PutLifecycleConfiguration",
                 "s3:PutBucketVersioning", "s3:DeleteBucket", "s3:DeleteBucketPolicy"]
KEY_USE = ["kms:Sign", "kms:PutKeyPolicy", "kms:CreateGrant", "kms:ScheduleKeyDeletion", "kms:DisableKey"]
# AWS managed policies a function role may carry: none grants S3 or KMS.
SAFE_MANAGED = {"service-role/AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess",
                "service-role/AWSLambdaSQSQueueExecutionRole"}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _branches(policies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for policy in policies:
        if "Fn::If" in policy:
            out += [p for p in policy["Fn::If"][1:] if isinstance(p, dict) and "PolicyDocument" in p]
        else:
            out.append(policy)
    return out


def _role_statements() -> list[tuple[str, dict[str, Any]]]:
    """(role, Allow statement) for every IAM statement in the stack: inline, and policies attached to roles."""
    found: list[tuple[str, dict[str, Any]]] = []
    for name, role in resources_of_type(TRANSFORMED, "AWS::IAM::Role").items():
        for policy in _branches(role["Properties"].get("Policies", [])):
            found += [(name, s) for s in _listed(policy["PolicyDocument"]["Statement"])]
    for kind in ("AWS::IAM::Policy", "AWS::IAM::RolePolicy", "AWS::IAM::ManagedPolicy"):
        for name, policy in resources_of_type(TRANSFORMED, kind).items():
            props = policy["Properties"]
            roles = [r["Ref"] for r in props.get("Roles", [])] + ([props["RoleName"]["Ref"]] if "RoleName" in props else [])
            assert roles, f"{name} is attached to no role of this stack"
            for role in roles:
                found += [(role, s) for s in _listed(props["PolicyDocument"]["Statement"])]
    return [(role, s) for role, s in found if s.get("Effect", "Allow") == "Allow"]


def _grants(statement: dict[str, Any], actions: list[str]) -> set[str]:
    """Which of `actions` the statement's (possibly wildcard) actions allow."""
    patterns = _listed(statement.get("Action", []))
    if "NotAction" in statement:
        return set(actions)  # a NotAction allow is as wide as it gets: count it as granting everything
    return {a for a in actions if any(fnmatchcase(a.lower(), p.lower()) for p in patterns)}


def _touches(statement: dict[str, Any], logical: str) -> bool:
    resources = _listed(statement.get("Resource", []))
    text = json.dumps(resources)
    return logical in text or any(r in ("*", "arn:aws:s3:::*") or (isinstance(r, str) and r.endswith(":*")) for r in resources)


def test_only_the_digest_role_may_write_the_digest_bucket() -> None:
    writers = {(role, a) for role, s in _role_statements() if _touches(s, "AuditDigestBucket") for a in _grants(s, DIGEST_WRITES)}
    assert writers == {(DIGEST_ROLE, "s3:PutObject")}, writers


def test_only_the_digest_role_may_sign_with_the_audit_key() -> None:
    users = {(role, a) for role, s in _role_statements() if _touches(s, "AuditSigningKey") for a in _grants(s, KEY_USE)}
    assert users == {(DIGEST_ROLE, "kms:Sign")}, users


def test_the_verifier_may_only_read_digests_and_the_public_key() -> None:
    bucket, key = set(), set()
    for role, statement in _role_statements():
        if role != VERIFIER_ROLE:
            continue
        actions = {a.lower() for a in _listed(statement.get("Action", []))}
        if _touches(statement, "AuditDigestBucket") and any(a.startswith("s3:") for a in actions):
            bucket |= actions
        if _touches(statement, "AuditSigningKey") and any(a.startswith("kms:") for a in actions):
            key |= actions
    assert bucket and bucket <= {"s3:getobject", "s3:getobjectversion", "s3:listbucketversions", "s3:listbucket"}, bucket
    assert key == {"kms:getpublickey"}, key
    variables = TEMPLATE["Resources"]["DeskApiFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["AUDIT_DIGEST_BUCKET"] == {"Ref": "AuditDigestBucket"}
    assert variables["AUDIT_SIGNING_KEY"] == {"Fn::GetAtt": ["AuditSigningKey", "Arn"]}


def test_the_digest_role_is_the_digest_functions_own() -> None:
    functions = resources_of_type(TRANSFORMED, "AWS::Lambda::Function")
    users = [name for name, f in functions.items() if DIGEST_ROLE in json.dumps(f["Properties"].get("Role"))]
    assert users == ["DigestFunction"]
    role = TRANSFORMED["Resources"][DIGEST_ROLE]["Properties"]
    assert [s["Principal"] for s in role["AssumeRolePolicyDocument"]["Statement"]] == [{"Service": "lambda.amazonaws.com"}]


def test_function_roles_carry_no_managed_policy_that_could_reach_digests() -> None:
    for name, role in resources_of_type(TRANSFORMED, "AWS::IAM::Role").items():
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            text = arn["Fn::Sub"].replace("${AWS::Partition}", "aws") if isinstance(arn, dict) else arn
            assert re.sub(r"^arn:aws:iam::aws:policy/", "", text) in SAFE_MANAGED, (name, text)


def test_the_key_policy_lets_only_the_digest_role_sign() -> None:
    key = TEMPLATE["Resources"]["AuditSigningKey"]
    assert key["Properties"]["KeySpec"] == "ECC_NIST_P256" and key["Properties"]["KeyUsage"] == "SIGN_VERIFY"
    assert key["DeletionPolicy"] == "Retain"
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    signers = [s["Principal"] for s in statements if s["Effect"] == "Allow" and _grants(s, ["kms:Sign"])]
    assert signers == [{"AWS": {"Fn::GetAtt": ["DigestFunctionRole", "Arn"]}}]
    deny = [s for s in statements if s["Effect"] == "Deny" and _grants(s, ["kms:Sign"])]
    assert deny and deny[0]["Principal"] == {"AWS": "*"}
    assert deny[0]["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": ["DigestFunctionRole", "Arn"]}}}


def test_the_bucket_keeps_digests_locked_and_denies_other_writers() -> None:
    bucket = TEMPLATE["Resources"]["AuditDigestBucket"]
    props = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain" and props["ObjectLockEnabled"] is True
    assert props["ObjectLockConfiguration"] == {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {
        "Mode": "COMPLIANCE", "Days": {"Ref": "AuditDigestRetentionDays"}}}}
    assert TEMPLATE["Parameters"]["AuditDigestRetentionDays"]["Default"] == 2555
    assert all(props["PublicAccessBlockConfiguration"].values())
    statements = TEMPLATE["Resources"]["AuditDigestBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    put = [s for s in statements if s["Effect"] == "Deny" and _grants(s, ["s3:PutObject"])]
    assert any(s.get("Condition") == {"ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": ["DigestFunctionRole", "Arn"]}}}
               for s in put)
    unconditional = [s for s in statements if s["Effect"] == "Deny" and "Condition" not in s]
    for action in ("s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectRetention", "s3:BypassGovernanceRetention"):
        assert any(_grants(s, [action]) for s in unconditional), action
    assert not [s for s in statements if s["Effect"] == "Allow"]


def test_digests_are_written_at_least_every_five_minutes_and_verified_hourly() -> None:
    schedules = {s["Properties"]["Target"]["Input"]: s["Properties"]["ScheduleExpression"]
                 for s in resources_of_type(TRANSFORMED, "AWS::Scheduler::Schedule").values()
                 if s["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": ["DigestFunction", "Arn"]}}
    by_job = {json.loads(i)["job"]: e for i, e in schedules.items()}
    assert by_job == {"digest": "rate(5 minutes)", "verify": "rate(1 hour)"}
    assert TEMPLATE["Resources"]["DigestFunction"]["Properties"]["ReservedConcurrentExecutions"] == 1


@pytest.mark.parametrize(("metric", "missing"), [("AuditChainBroken", "notBreaching"), ("AuditDigestRuns", "breaching")])
def test_a_broken_or_silent_chain_raises_an_alarm(metric: str, missing: str) -> None:
    alarms = [a["Properties"] for a in resources_of_type(TEMPLATE, "AWS::CloudWatch::Alarm").values()
              if a["Properties"].get("MetricName") == metric]
    assert len(alarms) == 1
    alarm = alarms[0]
    globals_env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert alarm["Namespace"] == globals_env["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarm["Dimensions"] == [{"Name": "service", "Value": globals_env["POWERTOOLS_SERVICE_NAME"]}]
    assert alarm["TreatMissingData"] == missing and alarm["AlarmActions"] == [{"Ref": "EscalationTopic"}]
