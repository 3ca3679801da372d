"""Signed audit digests on local AWS: the Digest function, Object Lock, KMS, and every tampering the review tried.

The tampering is done the way a writer role (or an operator) could: PutItem, UpdateItem and
DeleteItem straight on the tables, after a digest covered the entries. Each one must be caught
by GET /audit/verify (200 with ok false, never a 5xx), by the command line (exit 1) and by the
Digest function's hourly verification, which publishes AuditChainBroken = 1 for the alarm.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError

from crisiscomms.audit.cli import main as verify_cli
from crisiscomms.audit.digests import Digest, digest_key, envelope, parse_envelope
from crisiscomms.aws.audit_log import AuditChainUnavailable, AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.digest_store import DigestStore
from crisiscomms.aws.dynamo import to_item, to_value
from crisiscomms.errors import AuditContention
from crisiscomms.models.audit import GENESIS, AuditEntry, entry_hash
from crisiscomms_local.apigw import rest_event
from crisiscomms_local.aws import Stack, client, reset_process_caches
from crisiscomms_local.lambda_runtime import invoke

pytestmark = pytest.mark.integration
START = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)


@dataclass
class AuditWorld:
    stack: Stack
    metrics: list[tuple[str, int]] = field(default_factory=list)

    @property
    def table(self) -> str:
        return self.stack.refs["AuditTable"]

    @property
    def bucket(self) -> str:
        return self.stack.refs["AuditDigestBucket"]

    def log(self) -> AuditLog:
        return AuditLog(self.table, self.stack.refs["StateTable"], clients=AwsClients(), sleep=lambda s: None)

    def store(self) -> DigestStore:
        return DigestStore(self.bucket, self.stack.arns["AuditSigningKey"], clients=AwsClients())

    def append(self, n: int) -> None:
        log = self.log()
        start = len(self.records())
        for i in range(start + 1, start + n + 1):
            log.append(AuditEntry(actor="li", role="comms-author", action="edit", target=f"statement#s{i}",
                                  at=START + timedelta(minutes=i), after={"n": i}, text_hash="ab" * 32))

    def digest(self) -> dict[str, Any]:
        return invoke("digest", {"job": "digest", "scheduled_time": "2026-11-28T10:00:00Z"})

    def verify_job(self) -> dict[str, Any]:
        return invoke("digest", {"job": "verify", "scheduled_time": "2026-11-28T10:00:00Z"})

    def verify_api(self) -> tuple[int, dict[str, Any]]:
        answer = invoke("api", rest_event("GET", "/audit/verify", user="zhou", groups=["auditor"]))
        return answer["statusCode"], json.loads(answer["body"])

    def cli(self) -> int:
        return verify_cli(["--audit-table", self.table, "--state-table", self.stack.refs["StateTable"],
                           "--digest-bucket", self.bucket, "--signing-key", self.stack.arns["AuditSigningKey"]])

    # --- what a writer role can do to the tables ------------------------------------------------------

    def records(self) -> dict[int, dict[str, Any]]:
        return {r["seq"]: r for r in self.log().records()}

    def put(self, record: dict[str, Any]) -> None:
        client("dynamodb").put_item(TableName=self.table, Item=to_item({"chain": "audit", **record}))

    def delete(self, seq: int) -> None:
        client("dynamodb").delete_item(TableName=self.table, Key=to_item({"chain": "audit", "seq": seq}))

    def rehash_from(self, records: dict[int, dict[str, Any]], seq: int) -> dict[int, dict[str, Any]]:
        """Rewrite every entry from `seq` with PutItem so that each links to the one before again."""
        prev = records[seq - 1]["hash"] if seq > 1 else GENESIS
        for s in sorted(k for k in records if k >= seq):
            record = {**records[s], "seq": s, "prev_hash": prev}
            record["hash"] = entry_hash(record)
            records[s] = record
            self.put(record)
            prev = record["hash"]
        return records

    def set_anchor(self, values: dict[str, Any] | None) -> None:
        key = to_item({"pk": "audit-anchor#audit"})
        if values is None:
            client("dynamodb").delete_item(TableName=self.stack.refs["StateTable"], Key=key)
        else:
            client("dynamodb").put_item(TableName=self.stack.refs["StateTable"], Item=to_item({"pk": "audit-anchor#audit", **values}))

    def anchor_to(self, seq: int) -> None:
        """UpdateItem on the anchor, which the writers' roles may do."""
        record = self.records()[seq]
        client("dynamodb").update_item(TableName=self.stack.refs["StateTable"], Key=to_item({"pk": "audit-anchor#audit"}),
                                       UpdateExpression="SET seq = :s, #h = :h", ExpressionAttributeNames={"#h": "hash"},
                                       ExpressionAttributeValues={":s": to_value(seq), ":h": to_value(record["hash"])})


@pytest.fixture
def audit(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[AuditWorld]:
    saved = dict(os.environ)
    os.environ.update({**stack.function_environment("DeskApiFunction"), **stack.function_environment("DigestFunction"),
                       "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true"})
    reset_process_caches()
    world = AuditWorld(stack)
    monkeypatch.setattr("crisiscomms.observability.count", lambda name, value=1: world.metrics.append((name, value)))
    yield world
    os.environ.clear()
    os.environ.update(saved)
    reset_process_caches()


def _digested(audit: AuditWorld, *batches: int) -> None:
    for n in batches:
        audit.append(n)
        run = audit.digest()
        assert not run["chain_broken"] and run["digest"], run


# --- the Digest function ---------------------------------------------------------------------------

def test_the_digest_function_signs_new_entries_into_the_locked_bucket(audit: AuditWorld) -> None:
    status, body = audit.verify_api()
    assert status == 200 and body["ok"] and body["digests"] == 0 and body["entries"] == 0
    audit.append(4)
    status, body = audit.verify_api()  # before the first digest: ok, and all four are uncovered
    assert status == 200 and body["ok"] and body["uncovered"]["entries"] == 4 and body["covered_through_seq"] == 0
    first = audit.digest()
    assert first["digest"] == digest_key("audit", 4) and first["entries"] == 4
    assert audit.digest()["digest"] is None  # nothing new: no digest
    audit.append(3)
    assert audit.digest()["digest"] == digest_key("audit", 7)
    audit.append(2)

    status, body = audit.verify_api()
    assert status == 200 and body["ok"] and body["digests"] == 2 and body["covered_through_seq"] == 7
    assert body["uncovered"] == {"entries": 2, "first_seq": 8, "last_seq": 9,
                                 "from": (START + timedelta(minutes=8)).isoformat(),
                                 "to": (START + timedelta(minutes=9)).isoformat()}
    assert audit.cli() == 0
    assert audit.verify_job()["ok"]
    assert ("AuditChainBroken", 0) in audit.metrics and ("AuditDigestRuns", 1) in audit.metrics
    assert ("AuditChainBroken", 1) not in audit.metrics

    head = client("s3").head_object(Bucket=audit.bucket, Key=digest_key("audit", 7))
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > datetime.now(timezone.utc) + timedelta(days=2554)
    stored = parse_envelope(digest_key("audit", 7), client("s3").get_object(
        Bucket=audit.bucket, Key=digest_key("audit", 7))["Body"].read())
    assert stored.digest.previous_digest_key == digest_key("audit", 4)
    assert stored.digest.key_id == audit.stack.arns["AuditSigningKey"]
    assert stored.digest.last_hash == audit.records()[7]["hash"]


# --- every tampering from the review, and more, after a digest covered the entries -------------------

def _rewrite_5_rehash_and_append_one(audit: AuditWorld) -> None:
    """The review's attack: entry 5's actor changed, 5..N re-hashed, one linked entry appended, all with PutItem."""
    records = audit.records()
    records[5] = {**records[5], "actor": "mallory"}
    records = audit.rehash_from(records, 5)
    last = max(records)
    extra = {**records[last], "seq": last + 1, "prev_hash": records[last]["hash"], "action": "approve"}
    extra["hash"] = entry_hash(extra)
    audit.put(extra)


def _the_same_and_move_the_anchor(audit: AuditWorld) -> None:
    _rewrite_5_rehash_and_append_one(audit)
    audit.anchor_to(max(audit.records()))


def _delete_the_anchor_and_the_last_entries(audit: AuditWorld) -> None:
    for seq in (11, 12):
        audit.delete(seq)
    audit.set_anchor(None)


def _delete_the_tail_and_move_the_anchor_back(audit: AuditWorld) -> None:
    for seq in (11, 12):
        audit.delete(seq)
    audit.anchor_to(10)


def _an_anchor_without_seq(audit: AuditWorld) -> None:
    audit.set_anchor({"hash": audit.records()[12]["hash"]})


def _reorder_two_entries(audit: AuditWorld) -> None:
    records = audit.records()
    records[4], records[5] = records[5], records[4]
    audit.rehash_from(records, 4)
    audit.anchor_to(12)


def _insert_an_entry(audit: AuditWorld) -> None:
    records = audit.records()
    shifted = {(s + 1 if s >= 6 else s): r for s, r in records.items()}
    shifted[6] = {**records[6], "actor": "mallory", "action": "approve"}
    audit.rehash_from(shifted, 6)
    audit.anchor_to(13)


def _delete_a_middle_entry(audit: AuditWorld) -> None:
    audit.delete(6)


def _delete_a_middle_entry_and_close_the_gap(audit: AuditWorld) -> None:
    records = audit.records()
    closed = {(s - 1 if s > 6 else s): r for s, r in records.items() if s != 6}
    audit.rehash_from(closed, 6)
    audit.delete(12)
    audit.anchor_to(11)


def _put_over_an_existing_entry(audit: AuditWorld) -> None:
    records = audit.records()
    audit.put({**records[3], "after": {"n": "forged"}})


def _put_over_an_existing_entry_with_its_hash_fixed(audit: AuditWorld) -> None:
    records = audit.records()
    forged = {**records[3], "after": {"n": "forged"}}
    forged["hash"] = entry_hash(forged)
    audit.put(forged)


TAMPERING: list[Callable[[AuditWorld], None]] = [
    _rewrite_5_rehash_and_append_one, _the_same_and_move_the_anchor, _delete_the_anchor_and_the_last_entries,
    _delete_the_tail_and_move_the_anchor_back, _an_anchor_without_seq, _reorder_two_entries, _insert_an_entry,
    _delete_a_middle_entry, _delete_a_middle_entry_and_close_the_gap, _put_over_an_existing_entry,
    _put_over_an_existing_entry_with_its_hash_fixed,
]


@pytest.mark.parametrize("tamper", TAMPERING, ids=[t.__name__.strip("_") for t in TAMPERING])
def test_tampering_with_digested_entries_is_detected_everywhere(audit: AuditWorld, tamper) -> None:
    _digested(audit, 6, 6)
    assert audit.verify_api()[1]["ok"] and audit.cli() == 0
    tamper(audit)

    status, body = audit.verify_api()
    assert status == 200, body
    assert body["ok"] is False and body["problem"], body
    assert audit.cli() == 1
    audit.metrics.clear()
    hourly = audit.verify_job()
    assert hourly["ok"] is False and hourly["problem"] == body["problem"]
    assert ("AuditChainBroken", 1) in audit.metrics


@pytest.mark.parametrize("tamper", [_rewrite_5_rehash_and_append_one, _the_same_and_move_the_anchor,
                                    _delete_the_anchor_and_the_last_entries, _delete_the_tail_and_move_the_anchor_back,
                                    _an_anchor_without_seq, _insert_an_entry, _delete_a_middle_entry_and_close_the_gap])
def test_the_digest_function_finds_the_chain_no_longer_matches_its_last_digest(audit: AuditWorld, tamper) -> None:
    _digested(audit, 6, 6)
    tamper(audit)
    audit.metrics.clear()
    run = audit.digest()
    assert run["chain_broken"] and run["problem"] and run["digest"] is None, run
    assert ("AuditChainBroken", 1) in audit.metrics


def test_the_review_attack_now_names_the_changed_range(audit: AuditWorld) -> None:
    _digested(audit, 6, 6)
    _the_same_and_move_the_anchor(audit)
    body = audit.verify_api()[1]
    assert body["first_bad_seq"] == 1 and body["bad_digest"] == digest_key("audit", 6)
    assert "entries 1..6 were changed after digest" in body["problem"]


# --- a malformed anchor: verification fails closed, appends answer 503 ---------------------------

def test_a_malformed_anchor_fails_verification_and_stops_appends_with_audit_contention(audit: AuditWorld) -> None:
    _digested(audit, 3)
    audit.set_anchor({"hash": "ab" * 32})
    status, body = audit.verify_api()
    assert status == 200 and body["ok"] is False and "anchor is malformed" in body["problem"]
    with pytest.raises(AuditContention) as raised:
        audit.append(1)
    assert isinstance(raised.value, AuditChainUnavailable) and "malformed" in str(raised.value)
    assert len(audit.records()) == 3


def test_the_desk_answers_503_with_retry_after_when_the_anchor_is_malformed(desk) -> None:
    draft = {"channels": ["newsroom"], "text": {"en": {"full": "All accounts are available.",
                                                       "short": "All accounts are available."}}}
    status, _ = desk.call("POST", "/statements", draft)
    assert status == 201
    client("dynamodb").put_item(TableName=desk.world.stack.refs["StateTable"],
                                Item=to_item({"pk": "audit-anchor#audit", "hash": "ab" * 32}))
    answer = invoke("api", rest_event("POST", "/statements", body=draft, user="li", groups=["comms-author"]))
    assert answer["statusCode"] == 503, answer
    headers = {**(answer.get("headers") or {}), **{k: v[-1] for k, v in (answer.get("multiValueHeaders") or {}).items()}}
    assert int(headers["Retry-After"]) >= 1
    assert "nothing was changed" in json.loads(answer["body"])["error"]


# --- the digests themselves: Object Lock, If-None-Match, signatures, continuity ------------------------

def test_a_digest_cannot_be_rewritten_or_deleted_locally(audit: AuditWorld) -> None:
    _digested(audit, 3)
    key = digest_key("audit", 3)
    with pytest.raises(ClientError) as refused:
        client("s3").put_object(Bucket=audit.bucket, Key=key, Body=b"{}", IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
    assert audit.store().put_new(key, b"{}") is False
    version = client("s3").list_object_versions(Bucket=audit.bucket, Prefix=key)["Versions"][0]["VersionId"]
    with pytest.raises(ClientError) as locked:
        client("s3").delete_object(Bucket=audit.bucket, Key=key, VersionId=version)
    assert locked.value.response["Error"]["Code"] == "AccessDenied"
    assert audit.verify_api()[1]["ok"]


def test_a_digest_overwritten_without_the_condition_is_detected(audit: AuditWorld) -> None:
    _digested(audit, 3, 2)
    key = digest_key("audit", 3)
    original = client("s3").get_object(Bucket=audit.bucket, Key=key)["Body"].read()
    client("s3").put_object(Bucket=audit.bucket, Key=key, Body=original)  # a second version, even if identical
    body = audit.verify_api()[1]
    assert body["ok"] is False and "written 2 times" in body["problem"] and body["bad_digest"] == key


def test_a_digest_hidden_behind_a_delete_marker_is_detected(audit: AuditWorld) -> None:
    _digested(audit, 3, 2)
    client("s3").delete_object(Bucket=audit.bucket, Key=digest_key("audit", 3))  # a marker, the version stays
    body = audit.verify_api()[1]
    assert body["ok"] is False and "deleted" in body["problem"]
    audit.append(1)
    assert audit.digest()["chain_broken"] is False  # the latest digest is intact; the hourly check names the hole
    assert audit.verify_job()["ok"] is False


def test_a_forged_digest_signed_with_another_key_is_detected(audit: AuditWorld) -> None:
    _digested(audit, 3)
    audit.append(2)
    records = audit.records()
    previous = parse_envelope(digest_key("audit", 3), client("s3").get_object(
        Bucket=audit.bucket, Key=digest_key("audit", 3))["Body"].read()).digest
    forged = Digest(version=1, chain="audit", first_seq=4, last_seq=5, entry_count=2, last_hash=records[5]["hash"],
                    start_time=records[4]["at"], end_time=records[5]["at"], digest_time=START.isoformat(),
                    previous_digest_key=digest_key("audit", 3), previous_digest_hash=previous.digest_hash(),
                    key_id=audit.stack.arns["AuditSigningKey"], signing_algorithm="ECDSA_SHA_256")
    other_key = client("kms").create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    signature = client("kms").sign(KeyId=other_key, Message=forged.canonical(), MessageType="RAW",
                                   SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    client("s3").put_object(Bucket=audit.bucket, Key=digest_key("audit", 5), Body=envelope(forged, signature))
    body = audit.verify_api()[1]
    assert body["ok"] is False and body["bad_digest"] == digest_key("audit", 5)
    assert "signature that does not verify" in body["problem"]
    assert audit.digest()["chain_broken"]  # the Digest function never extends a digest it cannot verify


def test_a_validly_signed_digest_that_breaks_continuity_is_detected(audit: AuditWorld) -> None:
    _digested(audit, 3)
    audit.append(3)
    records = audit.records()
    skipping = Digest(version=1, chain="audit", first_seq=5, last_seq=6, entry_count=2, last_hash=records[6]["hash"],
                      start_time=records[5]["at"], end_time=records[6]["at"], digest_time=START.isoformat(),
                      previous_digest_key=digest_key("audit", 3), previous_digest_hash="0" * 64,
                      key_id=audit.stack.arns["AuditSigningKey"], signing_algorithm="ECDSA_SHA_256")
    signature = audit.store().sign(skipping.canonical())  # even with the real key
    client("s3").put_object(Bucket=audit.bucket, Key=digest_key("audit", 6), Body=envelope(skipping, signature))
    body = audit.verify_api()[1]
    assert body["ok"] is False and "does not match the hash of" in body["problem"]


def test_a_malformed_digest_fails_closed(audit: AuditWorld) -> None:
    _digested(audit, 3)
    audit.append(1)
    client("s3").put_object(Bucket=audit.bucket, Key=digest_key("audit", 4), Body=b'{"digest": {"seq": 4}}')
    status, body = audit.verify_api()
    assert status == 200 and body["ok"] is False and "is not a digest envelope" in body["problem"]
