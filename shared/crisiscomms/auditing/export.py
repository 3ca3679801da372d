"""Exports: an auditor asks for record kinds over a time range; the Exporter function writes them.

    POST /audit/exports      ExportDesk.request: the job (StateTable export#<id>, REQUESTED) and its audit
                             entry in one transaction, then one message on the export queue
    Exporter function        Exporter.run: claims the job (RUNNING, audited), notes the audit chain's head
                             and the latest signed digest, streams each kind to <kind>.jsonl and <kind>.csv,
                             writes the manifest, and completes the job (DONE, audited) with the manifest's
                             SHA-256 in the audit entry, so the manifest itself is vouched for by the chain
    GET /audit/exports/{id}  ExportDesk.get: the job, and once DONE short-lived links to every file

A message delivered twice finds the job claimed or done and does nothing; a job left RUNNING longer
than `stale_after` (the function died) may be claimed again. Records are streamed through a local file
per kind, so an export never holds a whole kind in memory.

Conversations and minute and hour figures are kept per topic: the request names the topics, or the
desk fills in every watched topic as it is asked; the job and the manifest record them, so the
verification re-reads the same ones. Figures are not in the audit chain and grow as late posts are
stored; the manifest's `figures_expiry_mark` (the export's start plus the figures' retention) lets the
verification tell a figure that counted a post stored since from one that was changed.
"""
from __future__ import annotations

import hashlib
import secrets
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from crisiscomms.audit.digests import MalformedDigest, parse_envelope
from crisiscomms.errors import NotFound
from crisiscomms.handover import hand_over, request_id
from crisiscomms.identity import AUDITOR, Identity
from crisiscomms.models.audit import AuditEntry
from crisiscomms.models.export import (
    EXPORT_ID_PATTERN,
    FIGURE_KINDS,
    TOPIC_KINDS,
    ChainHead,
    DigestReference,
    ExportFile,
    ExportManifest,
    ExportRequest,
    TimeSpan,
    csv_columns,
    csv_header,
    csv_rows,
    file_key,
    jsonl_line,
    manifest_key,
    new_export_id,
    parse_jsonl,
    record_time,
    sha256_hex,
)
from crisiscomms.observability import logger

SYSTEM = "system"
LINK_SECONDS = 900
DEFAULT_STALE_AFTER = timedelta(minutes=20)  # longer than the Exporter function's timeout
CSV_CHUNK = 1000


class ExportMessage(BaseModel):
    """What the export queue carries: the job to run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    export_id: str = Field(pattern=EXPORT_ID_PATTERN)


class RecordSource(Protocol):
    def every(self, kind: str, start: datetime, end: datetime, *,
              topics: Sequence[str] = ()) -> Iterator[dict[str, Any]]: ...


class ExportFiles(Protocol):
    def put_file(self, key: str, path: Path, content_type: str) -> None: ...

    def put_bytes(self, key: str, body: bytes, content_type: str) -> None: ...

    def link(self, key: str, seconds: int) -> str: ...


class ExportJobs(Protocol):
    def create(self, job: dict[str, Any], entry: AuditEntry) -> None: ...

    def get(self, export_id: str) -> dict[str, Any] | None: ...

    def claim(self, export_id: str, *, at: str, stale_before: str, entry: AuditEntry) -> dict[str, Any] | None: ...

    def complete(self, export_id: str, *, at: str, manifest_sha256: str, counts: dict[str, int],
                 entry: AuditEntry) -> bool: ...

    def fail(self, export_id: str, *, at: str, reason: str, entry: AuditEntry) -> bool: ...


@dataclass(frozen=True)
class DigestFound:
    key: str
    body: bytes


def export_target(export_id: str) -> str:
    return f"export#{export_id}"


def _public(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if k not in ("pk",)}


class ExportDesk:
    """The auditor's side: ask for an export, follow it, fetch its files."""

    def __init__(self, jobs: ExportJobs, files: ExportFiles, *, enqueue: Callable[[dict[str, Any]], None],
                 clock: Callable[[], datetime], watched_topics: Callable[[], list[str]] = list,
                 new_id: Callable[[], str] | None = None) -> None:
        self._jobs = jobs
        self._files = files
        self._enqueue = enqueue
        self._clock = clock
        self._watched_topics = watched_topics
        self._new_id = new_id or (lambda: new_export_id(secrets.token_hex(8)))

    def request(self, who: Identity, request: ExportRequest) -> dict[str, Any]:
        who.require(AUDITOR)
        now = self._clock().isoformat()
        asked: dict[str, Any] = {"kinds": list(request.kinds), "from": _utc(request.from_), "to": _utc(request.to)}
        if set(request.kinds) & set(TOPIC_KINDS):
            asked["topics"] = (list(request.topics) if request.topics is not None
                               else sorted(set(self._watched_topics())))
        # The same auditor asking for the same export while it is still to be written is the request sent again
        # (after a 503): the job it recorded, handed over now. A written or failed one is asked for anew.
        export_id = request_id("ex-", who.user, asked)
        earlier = self._jobs.get(export_id)
        if earlier is not None and earlier.get("state") not in ("DONE", "FAILED"):
            if earlier.get("state") == "REQUESTED":
                self._hand_over(export_id)
            return _public(earlier)
        if earlier is not None:
            export_id = self._new_id()
        job = {"export_id": export_id, "state": "REQUESTED", **asked, "requested_by": who.user, "requested_at": now,
               "updated_at": now}
        entry = AuditEntry(actor=who.user, role=AUDITOR, action="export_requested", target=export_target(export_id),
                           at=self._clock(), after=asked)
        self._jobs.create(job, entry)
        self._hand_over(export_id)
        logger.info("export requested", extra={"export_id": export_id, "kinds": job["kinds"]})
        return _public(job)

    def _hand_over(self, export_id: str) -> None:
        """Queue the recorded job for the Exporter (crisiscomms.handover; the API may create jobs, never move
        them)."""
        hand_over(lambda: self._enqueue({"export_id": export_id}), what=f"export {export_id}", to="Exporter",
                  metric="ExportsNotQueued")

    def get(self, who: Identity, export_id: str) -> dict[str, Any]:
        who.require(AUDITOR)
        job = self._jobs.get(export_id)
        if job is None:
            raise NotFound(f"no export {export_id!r}")
        out = _public(job)
        if job.get("state") == "DONE":
            keys = {"manifest": manifest_key(export_id)}
            for kind in job["kinds"]:
                for fmt in ("jsonl", "csv"):
                    keys[f"{kind}.{fmt}"] = file_key(export_id, kind, fmt)
            out["links"] = {name: self._files.link(key, LINK_SECONDS) for name, key in keys.items()}
            out["links_expire_in_seconds"] = LINK_SECONDS
        return out


def _utc(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat()


class Exporter:
    """The Exporter function's work for one job."""

    def __init__(self, jobs: ExportJobs, files: ExportFiles, records: RecordSource, *,
                 chain: str, chain_head: Callable[[], dict[str, Any] | None],
                 latest_digest: Callable[[], DigestFound | None], clock: Callable[[], datetime],
                 figures_retention: timedelta, stale_after: timedelta = DEFAULT_STALE_AFTER,
                 work_dir: str | None = None) -> None:
        """`figures_retention`: how long minute and hour figures are kept after the last post they count
        (the Poller's AGGREGATE_RETENTION_DAYS), for the manifest's `figures_expiry_mark`."""
        self._jobs = jobs
        self._files = files
        self._records = records
        self._chain = chain
        self._chain_head = chain_head
        self._latest_digest = latest_digest
        self._clock = clock
        self._figures_retention = figures_retention
        self._stale_after = stale_after
        self._work_dir = work_dir

    def _entry(self, action: str, export_id: str, **fields: Any) -> AuditEntry:
        return AuditEntry(actor=SYSTEM, role=SYSTEM, action=action, target=export_target(export_id), at=self._clock(),
                          **fields)

    def run(self, export_id: str) -> dict[str, Any]:
        now = self._clock()
        job = self._jobs.claim(export_id, at=now.isoformat(), stale_before=(now - self._stale_after).isoformat(),
                               entry=self._entry("export_started", export_id))
        if job is None:
            found = self._jobs.get(export_id)
            logger.info("export not claimed", extra={"export_id": export_id, "state": (found or {}).get("state")})
            return {"export_id": export_id, "claimed": False, "state": (found or {}).get("state")}
        try:
            manifest = self._write(job, began=now)
        except Exception as exc:
            logger.exception("export failed", extra={"export_id": export_id})
            reason = f"{type(exc).__name__}: {exc}"[:500]
            self._jobs.fail(export_id, at=self._clock().isoformat(), reason=reason,
                            entry=self._entry("export_failed", export_id, after={"reason": reason}))
            return {"export_id": export_id, "claimed": True, "state": "FAILED", "reason": reason}
        body = manifest.canonical()
        digest = sha256_hex(body)
        self._files.put_bytes(manifest_key(export_id), body, "application/json")
        self._jobs.complete(export_id, at=self._clock().isoformat(), manifest_sha256=digest, counts=manifest.counts,
                            entry=self._entry("export_completed", export_id,
                                              after={"manifest_sha256": digest, "counts": manifest.counts}))
        logger.info("export written", extra={"export_id": export_id, "counts": manifest.counts})
        return {"export_id": export_id, "claimed": True, "state": "DONE", "counts": manifest.counts,
                "manifest_sha256": digest}

    def _write(self, job: dict[str, Any], *, began: datetime) -> ExportManifest:
        export_id = job["export_id"]
        start, end = datetime.fromisoformat(job["from"]), datetime.fromisoformat(job["to"])
        topics = job.get("topics")
        head = self._chain_head()  # before any entry is read: the export holds at most the chain up to here
        digest = self._digest_reference()
        mark = (int((began + self._figures_retention).timestamp())
                if set(job["kinds"]) & set(FIGURE_KINDS) else None)
        files: list[ExportFile] = []
        counts: dict[str, int] = {}
        spans: dict[str, TimeSpan | None] = {}
        with tempfile.TemporaryDirectory(dir=self._work_dir) as work:
            for kind in job["kinds"]:
                written, count, span = self._write_kind(export_id, kind, start, end, Path(work), topics or [])
                files += written
                counts[kind], spans[kind] = count, span
        return ExportManifest(
            export_id=export_id, requested_by=job["requested_by"], requested_at=job["requested_at"],
            created_at=self._clock().isoformat(), range=TimeSpan(from_=job["from"], to=job["to"]),
            kinds=job["kinds"], counts=counts, records_span=spans, files=files, chain=self._chain,
            chain_head=ChainHead(seq=int(head["seq"]), hash=str(head["hash"])) if head else None,
            latest_digest=digest, topics=topics, figures_expiry_mark=mark)

    def _digest_reference(self) -> DigestReference | None:
        found = self._latest_digest()
        if found is None:
            return None
        try:
            parsed = parse_envelope(found.key, found.body)
        except MalformedDigest:
            logger.warning("the latest digest is malformed; the manifest names it without its claims",
                           extra={"key": found.key})
            return DigestReference(key=found.key, sha256=sha256_hex(found.body), last_seq=0, last_hash="",
                                   digest_time="")
        return DigestReference(key=found.key, sha256=sha256_hex(found.body), last_seq=parsed.digest.last_seq,
                               last_hash=parsed.digest.last_hash, digest_time=parsed.digest.digest_time)

    def _write_kind(self, export_id: str, kind: str, start: datetime, end: datetime, work: Path,
                    topics: list[str]) -> tuple[list[ExportFile], int, TimeSpan | None]:
        """<kind>.jsonl streamed as read, then <kind>.csv from it (its columns are known only at the end)."""
        jsonl_path, csv_path = work / f"{kind}.jsonl", work / f"{kind}.csv"
        columns: set[str] = set()
        count = 0
        first = last = None
        with jsonl_path.open("wb") as out:
            for record in self._records.every(kind, start, end, topics=topics):
                out.write(jsonl_line(record))
                columns.update(record)
                count += 1
                when = record_time(kind, record)
                if when is not None:
                    first = when if first is None or when < first else first
                    last = when if last is None or when > last else last
        ordered = sorted(columns)
        with jsonl_path.open("rb") as source, csv_path.open("wb") as out:
            out.write(csv_header(ordered))
            chunk: list[bytes] = []
            for line in source:
                chunk.append(line)
                if len(chunk) == CSV_CHUNK:
                    out.write(csv_rows(parse_jsonl(b"".join(chunk)), ordered))
                    chunk = []
            if chunk:
                out.write(csv_rows(parse_jsonl(b"".join(chunk)), ordered))
        written = []
        for fmt, path, content_type in (("jsonl", jsonl_path, "application/x-ndjson"),
                                        ("csv", csv_path, "text/csv; charset=utf-8")):
            key = file_key(export_id, kind, fmt)
            self._files.put_file(key, path, content_type)
            written.append(ExportFile(kind=kind, format=fmt, key=key, records=count, bytes=path.stat().st_size,
                                      sha256=_file_sha256(path)))
        span = TimeSpan(from_=first, to=last) if first is not None and last is not None else None
        return written, count, span


def render_csv(records: list[dict[str, Any]]) -> bytes:
    """The CSV file of these records, exactly as the Exporter writes it."""
    columns = csv_columns(records)
    out = csv_header(columns)
    for start in range(0, len(records), CSV_CHUNK):
        out += csv_rows(records[start:start + CSV_CHUNK], columns)
    return out


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
