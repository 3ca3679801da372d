"""Exports: the job in the StateTable, the files in the ExportBucket, the message on the export queue.

    StateTable    pk = export#<export id>   REQUESTED -> RUNNING -> DONE | FAILED (`state`)
    ExportBucket  exports/<export id>/...   manifest.json, <kind>.jsonl, <kind>.csv (crisiscomms.models.export)

Every move of a job is conditional on its state and one transaction with its audit entry.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import from_item, to_item, to_value
from crisiscomms.errors import Conflict
from crisiscomms.models.audit import AuditEntry
from crisiscomms.models.export import EXPORT_PREFIX

JOB_PREFIX = "export#"


def _key(export_id: str) -> dict[str, Any]:
    return to_item({"pk": f"{JOB_PREFIX}{export_id}"})


class ExportJobRepository:
    def __init__(self, state_table: str, audit: AuditLog) -> None:
        self._table = state_table
        self._audit = audit
        self._clients = audit.clients

    def get(self, export_id: str) -> dict[str, Any] | None:
        item = self._clients("dynamodb").get_item(TableName=self._table, Key=_key(export_id),
                                                  ConsistentRead=True).get("Item")
        if not item:
            return None
        job = from_item(item)
        job.pop("pk", None)
        return job

    def create(self, job: dict[str, Any], entry: AuditEntry) -> None:
        from botocore.exceptions import ClientError

        item = to_item({**job, "pk": f"{JOB_PREFIX}{job['export_id']}"})
        try:
            self._audit.append(entry, with_items=lambda: [{"Put": {
                "TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                raise Conflict(f"export {job['export_id']} exists already") from exc
            raise

    def _move(self, export_id: str, *, condition: str, values: dict[str, Any], updates: dict[str, Any],
              entry: AuditEntry, names: dict[str, str] | None = None) -> bool:
        from botocore.exceptions import ClientError

        names = {"#state": "state", **{f"#f{i}": k for i, k in enumerate(updates)}, **(names or {})}
        update = {
            "TableName": self._table, "Key": _key(export_id),
            "UpdateExpression": "SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(updates))),
            "ConditionExpression": f"attribute_exists(pk) AND ({condition})",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {**{f":f{i}": to_value(v) for i, v in enumerate(updates.values())},
                                          **{k: to_value(v) for k, v in values.items()}},
        }
        try:
            self._audit.append(entry, with_items=lambda: [{"Update": update}])
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons") or []
            if any(r.get("Code") == "ConditionalCheckFailed" for r in reasons[2:]):
                return False
            raise
        return True

    def claim(self, export_id: str, *, at: str, stale_before: str, entry: AuditEntry) -> dict[str, Any] | None:
        """REQUESTED (or RUNNING since before `stale_before`) -> RUNNING; the job, or None when not claimable."""
        claimed = self._move(export_id, condition="#state = :requested OR (#state = :running AND #started < :stale)",
                             values={":requested": "REQUESTED", ":running": "RUNNING", ":stale": stale_before},
                             updates={"state": "RUNNING", "started_at": at, "updated_at": at}, entry=entry,
                             names={"#started": "started_at"})
        if not claimed:
            return None
        return self.get(export_id)

    def complete(self, export_id: str, *, at: str, manifest_sha256: str, counts: dict[str, int],
                 entry: AuditEntry) -> bool:
        return self._move(export_id, condition="#state = :running", values={":running": "RUNNING"},
                          updates={"state": "DONE", "completed_at": at, "updated_at": at,
                                   "manifest_sha256": manifest_sha256, "counts": counts}, entry=entry)

    def fail(self, export_id: str, *, at: str, reason: str, entry: AuditEntry) -> bool:
        return self._move(export_id, condition="#state = :running", values={":running": "RUNNING"},
                          updates={"state": "FAILED", "failed_at": at, "updated_at": at, "reason": reason}, entry=entry)


class ExportFileStore:
    """The ExportBucket: files written once per export, read back by the verifier, linked for auditors."""

    def __init__(self, bucket: str, *, clients: AwsClients) -> None:
        self._bucket = bucket
        self._clients = clients

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        with path.open("rb") as body:
            self._clients("s3").put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=content_type)

    def put_bytes(self, key: str, body: bytes, content_type: str) -> None:
        self._clients("s3").put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=content_type)

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            return bytes(self._clients("s3").get_object(Bucket=self._bucket, Key=key)["Body"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    def keys(self, prefix: str) -> list[str]:
        """Every key under the prefix (an export's own files and anything put beside them)."""
        if not prefix.startswith(EXPORT_PREFIX):
            raise ValueError("only exports are listed")
        found: list[str] = []
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix}
        while True:
            page = self._clients("s3").list_objects_v2(**kwargs)
            found += [o["Key"] for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return found
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def link(self, key: str, seconds: int) -> str:
        return str(self._clients("s3").generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=seconds))


def enqueue_export(sqs: Any, queue_url: str, message: dict[str, Any]) -> None:
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message, sort_keys=True))
