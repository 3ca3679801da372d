"""Exports on local AWS: asked for through the real API handler, written by the real Exporter handler from the
export queue, followed and fetched through presigned links, and checked by the verify-export command, which
must catch a changed, missing or extra record, an extra file, a changed manifest and a broken chain."""
from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from crisiscomms.auditing.cli import main as export_cli
from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import from_item, to_item
from crisiscomms.models.audit import AuditEntry
from crisiscomms.models.export import jsonl_line, parse_jsonl
from crisiscomms_local.aws import client
from crisiscomms_local.lambda_runtime import invoke

from .test_auditor_api import TEXT, AuditorWorld, world  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration
EVERYTHING = {"kinds": ["posts", "alerts", "statements", "audit"], "from": "2026-11-27T00:00:00Z",
              "to": "2026-11-28T12:00:00Z"}


def sqs_event(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    return {"Records": [{"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
                         "body": message["Body"], "attributes": {"ApproximateReceiveCount": "1"},
                         "messageAttributes": {}, "md5OfBody": hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
                         "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": "eu-west-1"}]}


def pump_exports(world: AuditorWorld) -> list[dict[str, Any]]:
    """Hand the export queue's messages to the real Exporter handler, as the SQS integration would."""
    url = world.stack.refs["ExportQueue"]
    handled = []
    while True:
        batch = client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=0,
                                              AttributeNames=["All"]).get("Messages", [])
        if not batch:
            return handled
        result = invoke("exporter", sqs_event(batch[0], world.stack.arns["ExportQueue"]), timeout_seconds=900)
        assert result == {"batchItemFailures": []}, result
        client("sqs").delete_message(QueueUrl=url, ReceiptHandle=batch[0]["ReceiptHandle"])
        handled += batch


def export(world: AuditorWorld, request: dict[str, Any] = EVERYTHING) -> dict[str, Any]:
    status, job = world.call("POST", "/audit/exports", body=request)
    assert status == 202 and job["state"] == "REQUESTED", job
    assert len(pump_exports(world)) == 1
    status, done = world.call("GET", f"/audit/exports/{job['export_id']}")
    assert status == 200 and done["state"] == "DONE", done
    return done


def s3_object(world: AuditorWorld, key: str) -> bytes:
    return bytes(client("s3").get_object(Bucket=world.stack.refs["ExportBucket"], Key=key)["Body"].read())


def put_object(world: AuditorWorld, key: str, body: bytes) -> None:
    client("s3").put_object(Bucket=world.stack.refs["ExportBucket"], Key=key, Body=body)


def verify(world: AuditorWorld, export_id: str, capsys: Any, *, digests: bool = True,
           every_table: bool = True) -> tuple[int, dict[str, Any]]:
    refs = world.stack.refs
    args = ["verify-export", "--export-id", export_id, "--export-bucket", refs["ExportBucket"],
            "--posts-table", refs["PostsTable"], "--alerts-table", refs["AlertsTable"],
            "--statements-table", refs["StatementsTable"], "--audit-table", refs["AuditTable"],
            "--state-table", refs["StateTable"]]
    if every_table:
        args += ["--inbox-table", refs["InboxTable"], "--aggregates-table", refs["AggregatesTable"]]
    if digests:
        args += ["--digest-bucket", refs["AuditDigestBucket"], "--signing-key", world.stack.arns["AuditSigningKey"]]
    capsys.readouterr()
    code = export_cli(args)
    return code, json.loads(capsys.readouterr().out)


def _statements(world: AuditorWorld) -> list[str]:
    ids = []
    for _ in range(2):
        status, body = world.call("POST", "/statements", body={"channels": ["newsroom"], "text": TEXT},
                                  groups=["comms-author"], user="li")
        assert status == 201, body
        ids.append(body["id"])
        status, body = world.call("POST", f"/statements/{body['id']}/approve", body={"version": 1},
                                  groups=["comms-approver"], user="wang")
        assert status == 200, body
    return ids


@pytest.fixture
def exported(world: AuditorWorld) -> Iterator[tuple[AuditorWorld, dict[str, Any], dict[str, Any]]]:
    """Statements, a signed digest, then an export of every kind: (world, the job, its manifest)."""
    _statements(world)
    assert invoke("digest", {"job": "digest", "scheduled_time": "2026-11-28T09:05:00Z"})["job"] == "digest"
    world.clock.advance(timedelta(minutes=10))
    done = export(world)
    manifest = json.loads(s3_object(world, f"exports/{done['export_id']}/manifest.json"))
    yield world, done, manifest


def test_an_export_writes_every_kind_with_a_manifest_the_chain_vouches_for(exported: Any, capsys: Any) -> None:
    world, done, manifest = exported
    export_id = done["export_id"]
    assert manifest["counts"] == {"posts": 10, "alerts": 3, "statements": 2 * 4, "audit": 3 + 4 + 2}, \
        "every topic's posts; each statement's meta, version and two prepared pages; the alerts', statements' " \
        "and the export's own entries"
    statements = parse_jsonl(s3_object(world, f"exports/{export_id}/statements.jsonl"))
    assert sorted(r["sk"].partition("#")[0] for r in statements) == ["meta"] * 2 + ["prepared"] * 4 + ["version"] * 2
    assert manifest["range"] == {"from": "2026-11-27T00:00:00+00:00", "to": "2026-11-28T12:00:00+00:00"}
    assert manifest["records_span"]["alerts"] == {"from": "2026-11-27T22:10:00+00:00", "to": "2026-11-28T05:00:00+00:00"}
    assert manifest["requested_by"] == "zhou" and manifest["kinds"] == EVERYTHING["kinds"]
    for listed in manifest["files"]:
        body = s3_object(world, listed["key"])
        assert hashlib.sha256(body).hexdigest() == listed["sha256"] and len(body) == listed["bytes"], listed["key"]
        if listed["format"] == "jsonl":
            assert len(parse_jsonl(body)) == listed["records"] == manifest["counts"][listed["kind"]]
        else:
            assert body.count(b"\n") == listed["records"] + 1, "a header, then one line per record"
    assert {(f["kind"], f["format"]) for f in manifest["files"]} == {
        (k, f) for k in EVERYTHING["kinds"] for f in ("jsonl", "csv")}

    log = AuditLog(world.stack.refs["AuditTable"], world.stack.refs["StateTable"], clients=AwsClients())
    actions = [(r["seq"], r["action"]) for r in log.records() if r["target"] == f"export#{export_id}"]
    assert [a for _, a in actions] == ["export_requested", "export_started", "export_completed"]
    started_seq = actions[1][0]
    assert manifest["chain_head"]["seq"] == started_seq, "the head as the export began, after its claim"
    completed = next(r for r in log.records() if r["seq"] == actions[2][0])
    manifest_body = s3_object(world, f"exports/{export_id}/manifest.json")
    assert completed["after"]["manifest_sha256"] == hashlib.sha256(manifest_body).hexdigest() == done["manifest_sha256"]
    digest = manifest["latest_digest"]
    assert digest["key"] == "digests/audit/000000000008.json" and digest["last_seq"] == 8, "four alerts, two drafts, two approvals"
    stored = client("s3").get_object(Bucket=world.stack.refs["AuditDigestBucket"], Key=digest["key"])["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == digest["sha256"]

    with urllib.request.urlopen(done["links"]["manifest"], timeout=5) as answer:  # noqa: S310 - local AWS
        assert answer.read() == manifest_body, "the presigned link serves the manifest"
    assert set(done["links"]) == {"manifest"} | {f"{k}.{f}" for k in EVERYTHING["kinds"] for f in ("jsonl", "csv")}

    code, result = verify(world, export_id, capsys)
    assert code == 0 and result["ok"] is True, result
    assert result["records"]["posts"] == {"exported": 10, "live": 10, "changed": 0, "missing": 0, "extra": 0}
    assert result["chain"]["ok"] is True and result["chain"]["covered_through_seq"] == 8


def test_a_second_delivery_of_the_message_changes_nothing(exported: Any) -> None:
    world, done, _ = exported
    before = {f["key"]: f["sha256"] for f in json.loads(s3_object(world, f"exports/{done['export_id']}/manifest.json"))["files"]}
    client("sqs").send_message(QueueUrl=world.stack.refs["ExportQueue"], MessageBody=json.dumps({"export_id": done["export_id"]}))
    pump_exports(world)
    status, again = world.call("GET", f"/audit/exports/{done['export_id']}")
    assert status == 200 and again["completed_at"] == done["completed_at"]
    after = {f["key"]: f["sha256"] for f in json.loads(s3_object(world, f"exports/{done['export_id']}/manifest.json"))["files"]}
    assert after == before


def test_before_any_digest_the_manifest_says_so_and_the_chain_is_still_checked(world: AuditorWorld, capsys: Any) -> None:
    done = export(world, {"kinds": ["alerts", "audit"], "from": "2026-11-27T00:00:00Z", "to": "2026-11-28T12:00:00Z"})
    manifest = json.loads(s3_object(world, f"exports/{done['export_id']}/manifest.json"))
    assert manifest["latest_digest"] is None and manifest["chain_head"]["seq"] == 4 + 2, "four alerts, the request and the claim"
    code, result = verify(world, done["export_id"], capsys, digests=False)
    assert code == 0 and result["ok"] is True and result["chain"]["digests"] is None, result


# --- what the verification catches --------------------------------------------------------------------

def _rewrite_lines(world: AuditorWorld, key: str, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    records = change(parse_jsonl(s3_object(world, key)))
    put_object(world, key, b"".join(jsonl_line(r) for r in records))


def _edit_post(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    records[0]["text"] = "edited after the export"
    return records


def _tamper_exported_post(world: AuditorWorld, export_id: str) -> None:
    _rewrite_lines(world, f"exports/{export_id}/posts.jsonl", _edit_post)


def _drop_exported_alert(world: AuditorWorld, export_id: str) -> None:
    _rewrite_lines(world, f"exports/{export_id}/alerts.jsonl", lambda records: records[1:])


def _add_exported_alert(world: AuditorWorld, export_id: str) -> None:
    def add(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return records + [{**records[0], "alert_id": "harbor-20261128-0600", "triggered_at": "2026-11-28T06:00:00+00:00"}]

    _rewrite_lines(world, f"exports/{export_id}/alerts.jsonl", add)


def _extra_file(world: AuditorWorld, export_id: str) -> None:
    put_object(world, f"exports/{export_id}/more.csv", b"a,b\n1,2\n")


def _missing_file(world: AuditorWorld, export_id: str) -> None:
    client("s3").delete_object(Bucket=world.stack.refs["ExportBucket"], Key=f"exports/{export_id}/statements.csv")


def _rewrite_manifest_to_match(world: AuditorWorld, export_id: str) -> None:
    """Edit a file and its manifest entry together: only the chain's record of the manifest catches it."""
    _tamper_exported_post(world, export_id)
    key = f"exports/{export_id}/manifest.json"
    manifest = json.loads(s3_object(world, key))
    body = s3_object(world, f"exports/{export_id}/posts.jsonl")
    for listed in manifest["files"]:
        if listed["key"].endswith("posts.jsonl"):
            listed["sha256"], listed["bytes"] = hashlib.sha256(body).hexdigest(), len(body)
    put_object(world, key, json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode())


def _change_live_post(world: AuditorWorld, export_id: str) -> None:
    client("dynamodb").update_item(TableName=world.stack.refs["PostsTable"], Key=to_item({"post_key": "x#p0"}),
                                   UpdateExpression="SET #t = :t", ExpressionAttributeNames={"#t": "text"},
                                   ExpressionAttributeValues={":t": {"S": "rewritten in the table"}})


def _delete_live_alert(world: AuditorWorld, export_id: str) -> None:
    client("dynamodb").delete_item(TableName=world.stack.refs["AlertsTable"],
                                   Key=to_item({"alert_id": "northgate-20261128-0103"}))


def _break_live_chain(world: AuditorWorld, export_id: str) -> None:
    table = world.stack.refs["AuditTable"]
    item = from_item(client("dynamodb").get_item(TableName=table, Key=to_item({"chain": "audit", "seq": 2}))["Item"])
    client("dynamodb").put_item(TableName=table, Item=to_item({**item, "actor": "mallory"}))


def _break_exported_chain(world: AuditorWorld, export_id: str) -> None:
    def alter(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        records[1]["actor"] = "mallory"
        return records

    _rewrite_lines(world, f"exports/{export_id}/audit.jsonl", alter)


@pytest.mark.parametrize(("tamper", "expected"), [
    (_tamper_exported_post, {("posts", "file changed"), ("posts", "changed"), ("posts", "csv differs")}),
    (_drop_exported_alert, {("alerts", "file changed"), ("alerts", "count differs"), ("alerts", "missing"),
                            ("alerts", "csv differs")}),
    (_add_exported_alert, {("alerts", "file changed"), ("alerts", "count differs"), ("alerts", "extra"),
                           ("alerts", "csv differs")}),
    (_extra_file, {(None, "extra file")}),
    (_missing_file, {("statements", "missing file")}),
    (_rewrite_manifest_to_match, {(None, "manifest changed"), ("posts", "changed"), ("posts", "csv differs")}),
    (_change_live_post, {("posts", "changed")}),
    (_delete_live_alert, {("alerts", "extra")}),
    (_break_live_chain, {("audit", "changed"), (None, "chain broken")}),
    (_break_exported_chain, {("audit", "file changed"), ("audit", "changed"), ("audit", "chain broken"),
                             ("audit", "csv differs")}),
], ids=lambda v: v.__name__.strip("_") if callable(v) else None)
def test_the_verification_catches_each_kind_of_tampering(exported: Any, capsys: Any, tamper: Any,
                                                         expected: set[tuple[str | None, str]]) -> None:
    world, done, _ = exported
    tamper(world, done["export_id"])
    code, result = verify(world, done["export_id"], capsys)
    found = {(p.get("kind"), p["problem"]) for p in result["problems"]}
    assert code == 1 and result["ok"] is False
    assert found == expected, result["problems"]


def test_changes_the_chain_explains_are_notes_not_problems(exported: Any, capsys: Any) -> None:
    """An alert acknowledged after the export differs from its exported copy, with an audit entry that says why;
    entries appended after the export are not expected in it."""
    world, done, _ = exported
    status, body = world.call("POST", "/alerts/harbor-20261127-2210/ack", groups=["oncall"], user="chen")
    assert status == 200, body
    code, result = verify(world, done["export_id"], capsys)
    assert code == 0 and result["ok"] is True, result["problems"]
    notes = {(n.get("kind"), n["problem"], n.get("record")) for n in result["notes"]}
    assert ("alerts", "changed since the export", "harbor-20261127-2210") in notes
    assert ("audit", "entries after the export", None) in notes
    assert result["records"]["alerts"]["changed"] == 1


def test_a_bad_request_is_refused_naming_the_field(world: AuditorWorld) -> None:
    for body, field in (({"kinds": [], "from": "2026-11-27T00:00:00Z", "to": "2026-11-28T00:00:00Z"}, "kinds"),
                        ({"kinds": ["posts", "posts"], "from": "2026-11-27T00:00:00Z", "to": "2026-11-28T00:00:00Z"}, "kinds"),
                        ({"kinds": ["inbox"], "from": "2026-11-27T00:00:00Z", "to": "2026-11-28T00:00:00Z"}, "kinds.0"),
                        ({"kinds": ["posts"], "from": "2026-11-27T00:00:00", "to": "2026-11-28T00:00:00Z"}, "from"),
                        ({"kinds": ["posts"], "from": "2025-11-01T00:00:00Z", "to": "2026-11-28T00:00:00Z"}, "body")):
        status, answer = world.call("POST", "/audit/exports", body=body)
        assert status == 422 and answer["details"][0]["field"] == field, (body, answer)
    assert client("sqs").receive_message(QueueUrl=world.stack.refs["ExportQueue"]).get("Messages") is None
    status, answer = world.call("GET", "/audit/exports/ex-0123456789abcdef")
    assert status == 404


def test_a_failed_export_is_recorded_and_audited(world: AuditorWorld, monkeypatch: Any) -> None:
    from crisiscomms.aws.record_reader import RecordReader

    def broken(self: Any, kind: str, start: datetime, end: datetime, **_: Any) -> Any:
        raise RuntimeError("the table went away")

    monkeypatch.setattr(RecordReader, "every", broken)
    status, job = world.call("POST", "/audit/exports", body={"kinds": ["alerts"], "from": "2026-11-27T00:00:00Z",
                                                             "to": "2026-11-28T00:00:00Z"})
    assert status == 202
    pump_exports(world)
    status, failed = world.call("GET", f"/audit/exports/{job['export_id']}")
    assert failed["state"] == "FAILED" and "the table went away" in failed["reason"] and "links" not in failed
    log = AuditLog(world.stack.refs["AuditTable"], world.stack.refs["StateTable"], clients=AwsClients())
    assert [r["action"] for r in log.records() if r["target"] == f"export#{job['export_id']}"] == [
        "export_requested", "export_started", "export_failed"]


def test_an_export_the_queue_did_not_take_is_a_503_and_the_same_request_again_hands_the_same_job_over(
        world: AuditorWorld, monkeypatch: Any) -> None:
    """SQS down when an export is asked for: 503 with Retry-After, the job recorded; asking the same again once SQS
    answers queues that job, never a second one. A written export is asked for anew."""
    from crisiscomms_local.aws import reset_process_caches

    body = {"kinds": ["alerts"], "from": "2026-11-27T00:00:00Z", "to": "2026-11-28T00:00:00Z"}
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9")  # a closed port: no answer
    reset_process_caches()
    status, answer = world.call("POST", "/audit/exports", body=body)
    assert status == 503 and "send the same request again" in answer["error"], answer
    monkeypatch.delenv("AWS_ENDPOINT_URL_SQS")
    reset_process_caches()
    done = export(world, body)
    assert answer["error"].startswith(f"export {done['export_id']} is recorded"), (answer, done)
    log = AuditLog(world.stack.refs["AuditTable"], world.stack.refs["StateTable"], clients=AwsClients())
    assert [r["action"] for r in log.records() if r["target"] == f"export#{done['export_id']}"] == [
        "export_requested", "export_started", "export_completed"]
    assert export(world, body)["export_id"] != done["export_id"], "a written export is asked for anew"


def test_a_job_left_running_is_claimed_again_only_once_it_is_stale(world: AuditorWorld) -> None:
    status, job = world.call("POST", "/audit/exports", body={"kinds": ["alerts"], "from": "2026-11-27T00:00:00Z",
                                                             "to": "2026-11-28T00:00:00Z"})
    from crisiscomms.aws.export_store import ExportJobRepository
    from crisiscomms.wiring import container

    jobs = ExportJobRepository(world.stack.refs["StateTable"], AuditLog(
        world.stack.refs["AuditTable"], world.stack.refs["StateTable"], clients=AwsClients(), sleep=lambda _: None))
    entry = AuditEntry(actor="system", role="system", action="export_started", target=f"export#{job['export_id']}",
                       at=world.clock())
    assert jobs.claim(job["export_id"], at=world.clock().isoformat(), stale_before="2026-11-28T08:00:00+00:00",
                      entry=entry) is not None, "a worker took it and died"
    assert container().exporter().run(job["export_id"])["claimed"] is False, "still running, not stale"
    world.clock.advance(timedelta(minutes=30))
    assert container().exporter().run(job["export_id"])["state"] == "DONE"


def test_the_exported_csv_cannot_smuggle_a_formula(world: AuditorWorld) -> None:
    from crisiscomms.aws.post_store import PostRepository, PostTables

    from .test_series import scored

    repo = PostRepository(PostTables(world.stack.refs["PostsTable"], world.stack.refs["TopicPostsTable"],
                                     world.stack.refs["AggregatesTable"]), clients=AwsClients(), retention_days=30)
    post = scored(77, platform="x", at=datetime(2026, 11, 27, 12, tzinfo=timezone.utc), sentiment=-0.5)
    repo.store(post.model_copy(update={"post": post.post.model_copy(update={"text": '=HYPERLINK("http://evil")'})}))
    done = export(world, {"kinds": ["posts"], "from": "2026-11-27T00:00:00Z", "to": "2026-11-27T13:00:00Z"})
    body = s3_object(world, f"exports/{done['export_id']}/posts.csv").decode()
    assert "'=HYPERLINK" in body and ',=HYPERLINK' not in body
    assert json.loads(s3_object(world, f"exports/{done['export_id']}/posts.jsonl"))["text"] == '=HYPERLINK("http://evil")'
