"""Verifying an export against the live records and the audit chain.

What is checked, and what fails the verification (`problems`) or is only reported (`notes`):

    the manifest         its SHA-256 equals the one the chain recorded with the export's completion
                         (`export_completed`, target export#<id>); otherwise the manifest cannot be trusted
    the files            exactly the manifest's files are there (a missing or an extra file fails), each with
                         its SHA-256 and record count; each CSV is what its JSON Lines file renders to
    the records          each kind re-read live over the manifest's range (and its topics) and compared
                         record by record:
                           changed  in both, different (posts: apart from `follow_up`, the inbox's note;
                                    conversations: apart from the engagement and priority the Poller
                                    raises as a post is read again, which the chain does not record)
                           missing  live, stored before the export was asked for, not in the export
                           extra    in the export, not live (a record past its expiry is only a note)
                         a record that differs, is missing or is extra while what it belongs to has audit
                         entries after the export's chain head (an alert or lesson: alert#<id>; a statement
                         item or effect: statement#<id> or wave#<id>; a conversation: conversation#<post key>
                         or conv#<post key>; a reply, template or report: reply#, template#, report#<id>)
                         was changed on the record: a note; without such an entry, a problem. A minute or
                         hour figure that differs or is missing and whose expires_at reaches the manifest's
                         `figures_expiry_mark` counts a post stored since the export began: a note. Live
                         audit entries after the chain head are not compared.
    the chain            every exported entry hashes to its stored hash and links to the one before; the
                         chain head the manifest recorded is still in the live chain; the live chain
                         verifies against its signed digests; the digest the manifest named is unchanged
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from crisiscomms.auditing.export import export_target, render_csv
from crisiscomms.models.audit import entry_hash
from crisiscomms.models.export import (
    FIGURE_KINDS,
    ExportManifest,
    canonical_json,
    export_prefix,
    manifest_key,
    parse_jsonl,
    record_identity,
    sha256_hex,
)

IGNORED_FIELDS: dict[str, frozenset[str]] = {
    "posts": frozenset({"follow_up"}),
    # crisiscomms.inbox.growth: a re-read post's grown engagement raises its conversation's priority, unchained
    "conversations": frozenset({"engagement", "priority", "priority_key", "followers", "growth_per_minute",
                                "engagement_updated_at"}),
}
# When a record was stored, by kind: one stored after the export was asked for is expected to be missing.
STORED_AT: dict[str, tuple[str, ...]] = {
    "posts": ("ingested_at",), "alerts": ("triggered_at",), "statements": ("created_at",),
    "conversations": ("opened_at",), "replies": ("created_at",), "templates": ("created_at",),
    "effects": ("measured_at",), "reports": ("requested_at",), "lessons": ("closed_at",),
}
EXAMPLES = 20  # problems listed per kind and problem; the counts hold them all


class ExportReader(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def keys(self, prefix: str) -> list[str]: ...


class LiveRecords(Protocol):
    def every(self, kind: str, start: datetime, end: datetime, *,
              topics: Sequence[str] = ()) -> Iterator[dict[str, Any]]: ...

    def target_entries(self, target: str, *, after_seq: int = 0) -> Iterator[dict[str, Any]]: ...


@dataclass
class Finding:
    problem: str
    detail: str
    kind: str | None = None
    record: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in {"kind": self.kind, "record": self.record, "problem": self.problem,
                                  "detail": self.detail}.items() if v is not None}


@dataclass
class ExportVerification:
    export_id: str
    manifest_sha256: str | None = None
    problems: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    records: dict[str, dict[str, int]] = field(default_factory=dict)
    chain: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "export_id": self.export_id, "manifest_sha256": self.manifest_sha256,
                "records": self.records, "problems": _listed(self.problems), "notes": _listed(self.notes),
                "chain": self.chain}


def _listed(findings: list[Finding]) -> list[dict[str, Any]]:
    """Findings with at most EXAMPLES of each (kind, problem); the rest counted."""
    shown: dict[tuple[str | None, str], int] = {}
    out: list[dict[str, Any]] = []
    for finding in findings:
        key = (finding.kind, finding.problem)
        shown[key] = shown.get(key, 0) + 1
        if shown[key] <= EXAMPLES:
            out.append(finding.as_dict())
    for (kind, problem), count in shown.items():
        if count > EXAMPLES:
            out.append({"kind": kind, "problem": problem, "detail": f"{count - EXAMPLES} more not listed"})
    return out


def _targets_of(kind: str, record: dict[str, Any]) -> tuple[str, ...]:
    """The audit targets whose entries explain a change of this record."""
    if kind in ("alerts", "lessons"):
        return (f"alert#{record['alert_id']}",)
    if kind in ("statements", "effects"):
        return (str(record["pk"]),)
    if kind == "conversations":  # desk moves and the overdue notice; the Publisher's REPLIED move
        return (f"conversation#{record['post_key']}", f"conv#{record['post_key']}")
    if kind == "replies":
        return (f"reply#{record['id']}",)
    if kind == "templates":
        return (f"template#{str(record['pk']).removeprefix('tmpl#')}",)
    if kind == "reports":
        return (f"report#{record['id']}",)
    return ()


def _stored_at(kind: str, record: dict[str, Any]) -> str:
    return next((str(record[f]) for f in STORED_AT.get(kind, ()) if record.get(f)), "")


def _counted_since(record: dict[str, Any], mark: int | None, before: dict[str, Any] | None = None) -> bool:
    """A minute or hour figure that counts a post stored since the export began (and, when its exported
    copy is given, counts no fewer posts than it)."""
    expires = record.get("expires_at")
    if mark is None or not isinstance(expires, (int, float)) or expires < mark:
        return False
    return before is None or int(record.get("posts") or 0) >= int(before.get("posts") or 0)


def _comparable(kind: str, record: dict[str, Any]) -> bytes:
    ignored = IGNORED_FIELDS.get(kind, frozenset())
    return canonical_json({k: v for k, v in record.items() if k not in ignored})


def verify_export(export_id: str, *, files: ExportReader, live: LiveRecords,
                  live_entry: Callable[[int], dict[str, Any] | None],
                  chain_verification: Callable[[], Any] | None = None,
                  digest_object: Callable[[str], bytes | None] | None = None,
                  now: datetime | None = None) -> ExportVerification:
    result = ExportVerification(export_id)
    body = files.get(manifest_key(export_id))
    if body is None:
        result.problems.append(Finding("manifest missing", f"no {manifest_key(export_id)}"))
        return result
    result.manifest_sha256 = sha256_hex(body)
    try:
        manifest = ExportManifest.model_validate_json(body)
    except ValidationError as exc:
        result.problems.append(Finding("manifest malformed", str(exc).splitlines()[0]))
        return result
    _check_manifest_recorded(manifest, result, live)
    exported = _check_files(manifest, result, files)
    head = manifest.chain_head.seq if manifest.chain_head else 0
    for kind in manifest.kinds:
        if kind in exported:
            _compare(kind, exported[kind], manifest, head, result, live, now)
    _check_chain(manifest, exported.get("audit"), result, live_entry, chain_verification, digest_object)
    return result


def _check_manifest_recorded(manifest: ExportManifest, result: ExportVerification, live: LiveRecords) -> None:
    completed = [e for e in live.target_entries(export_target(manifest.export_id)) if e.get("action") == "export_completed"]
    if not completed:
        result.problems.append(Finding("manifest not recorded", "the audit chain has no export_completed entry for "
                                       f"{manifest.export_id}"))
        return
    recorded = (completed[-1].get("after") or {}).get("manifest_sha256")
    if recorded != result.manifest_sha256:
        result.problems.append(Finding("manifest changed", f"its SHA-256 is {result.manifest_sha256}, the audit chain "
                                       f"recorded {recorded} (entry {completed[-1].get('seq')})"))


def _check_files(manifest: ExportManifest, result: ExportVerification,
                 files: ExportReader) -> dict[str, list[dict[str, Any]]]:
    """Every file present, unchanged and consistent; the JSON Lines records of each kind that could be read."""
    expected = {f.key for f in manifest.files} | {manifest_key(manifest.export_id)}
    present = set(files.keys(export_prefix(manifest.export_id)))
    for key in sorted(present - expected):
        result.problems.append(Finding("extra file", f"{key} is not in the manifest"))
    records: dict[str, list[dict[str, Any]]] = {}
    csv_files = []
    for listed in manifest.files:
        data = files.get(listed.key) if listed.key in present else None
        if data is None:
            result.problems.append(Finding("missing file", f"{listed.key} is in the manifest but not in the bucket",
                                           kind=listed.kind))
            continue
        if sha256_hex(data) != listed.sha256:
            result.problems.append(Finding("file changed", f"{listed.key}: SHA-256 {sha256_hex(data)}, the manifest "
                                           f"says {listed.sha256}", kind=listed.kind))
        if listed.format == "jsonl":
            try:
                records[listed.kind] = parse_jsonl(data)
            except ValueError as exc:
                result.problems.append(Finding("file malformed", f"{listed.key}: {exc}", kind=listed.kind))
                continue
            if len(records[listed.kind]) != listed.records:
                result.problems.append(Finding("count differs", f"{listed.key} holds {len(records[listed.kind])} "
                                               f"records, the manifest says {listed.records}", kind=listed.kind))
        else:
            csv_files.append((listed, data))
    for listed, data in csv_files:
        if listed.kind in records and render_csv(records[listed.kind]) != data:
            result.problems.append(Finding("csv differs", f"{listed.key} is not what the JSON Lines records render to",
                                           kind=listed.kind))
    return records


def _compare(kind: str, exported: list[dict[str, Any]], manifest: ExportManifest, head: int,
             result: ExportVerification, live: LiveRecords, now: datetime | None) -> None:
    start = datetime.fromisoformat(manifest.range.from_)
    end = datetime.fromisoformat(manifest.range.to)
    requested_at = manifest.requested_at
    mine: dict[str, dict[str, Any]] = {}
    for record in exported:
        try:
            identity = record_identity(kind, record)
        except (KeyError, TypeError, ValueError):
            result.problems.append(Finding("record malformed", "a record without its identity", kind=kind))
            continue
        if identity in mine:
            result.problems.append(Finding("duplicate", "the record is in the export twice", kind, identity))
        mine[identity] = record
    theirs: dict[str, dict[str, Any]] = {}
    later = 0
    try:
        for record in live.every(kind, start, end, topics=manifest.topics or []):
            if kind == "audit" and int(record["seq"]) > head:
                later += 1
                continue
            theirs[record_identity(kind, record)] = record
    except LookupError as exc:  # the command was not told where this kind's records live
        result.problems.append(Finding("not verified", f"the live records could not be read: {exc}", kind))
        return
    audited: dict[str, bool] = {}
    figures = kind in FIGURE_KINDS
    mark = manifest.figures_expiry_mark

    def changed_on_record(record: dict[str, Any]) -> bool:
        if not head:
            return False
        found = False
        for target in _targets_of(kind, record):
            if target not in audited:
                audited[target] = next(live.target_entries(target, after_seq=head), None) is not None
            found = found or audited[target]
        return found

    counts = {"exported": len(mine), "live": len(theirs), "changed": 0, "missing": 0, "extra": 0}
    for identity in sorted(mine.keys() | theirs.keys()):
        ours, current = mine.get(identity), theirs.get(identity)
        if ours is not None and current is not None:
            if _comparable(kind, ours) == _comparable(kind, current):
                continue
            counts["changed"] += 1
            if figures and _counted_since(current, mark, ours):
                result.notes.append(Finding("changed since the export", "counts posts stored since the export "
                                            "began", kind, identity))
            elif changed_on_record(current):
                result.notes.append(Finding("changed since the export", "with audit entries after the export's "
                                            "chain head", kind, identity))
            else:
                result.problems.append(Finding("changed", "the exported record differs from the live one", kind,
                                               identity))
        elif current is not None:
            counts["missing"] += 1
            created = _stored_at(kind, current)
            if (created and _after(created, requested_at)) or (figures and _counted_since(current, mark)) \
                    or changed_on_record(current):
                result.notes.append(Finding("added since the export", "stored after the export was asked for", kind,
                                            identity))
            else:
                result.problems.append(Finding("missing", "live in the range but not in the export", kind, identity))
        else:
            counts["extra"] += 1
            assert ours is not None
            expires = ours.get("expires_at")
            if isinstance(expires, (int, float)) and now is not None and expires <= now.timestamp():
                result.notes.append(Finding("expired", "past its retention (TTL) since the export", kind, identity))
            elif changed_on_record(ours):
                result.notes.append(Finding("removed since the export", "with audit entries after the export's "
                                            "chain head", kind, identity))
            else:
                result.problems.append(Finding("extra", "in the export but not among the live records", kind,
                                               identity))
    if later:
        result.notes.append(Finding("entries after the export", f"{later} live audit entries in the range were "
                                    "appended after the export's chain head and are not compared", kind))
    result.records[kind] = counts


def _after(value: str, reference: str) -> bool:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) >= datetime.fromisoformat(reference)
    except ValueError:
        return False


def _check_chain(manifest: ExportManifest, entries: list[dict[str, Any]] | None, result: ExportVerification,
                 live_entry: Callable[[int], dict[str, Any] | None], chain_verification: Callable[[], Any] | None,
                 digest_object: Callable[[str], bytes | None] | None) -> None:
    previous: dict[str, Any] | None = None
    for entry in sorted(entries or [], key=lambda e: int(e.get("seq", 0))):
        seq = entry.get("seq")
        if entry_hash(entry) != entry.get("hash"):
            result.problems.append(Finding("chain broken", f"exported entry {seq} does not hash to its stored hash",
                                           "audit", f"{int(seq or 0):012d}"))
        if previous is not None and int(previous["seq"]) + 1 == seq and entry.get("prev_hash") != previous.get("hash"):
            result.problems.append(Finding("chain broken", f"exported entry {seq} does not link to entry {seq - 1}",
                                           "audit", f"{seq:012d}"))
        previous = entry
    if manifest.chain_head is not None:
        found = live_entry(manifest.chain_head.seq)
        if found is None or found.get("hash") != manifest.chain_head.hash:
            result.problems.append(Finding("chain broken", f"the chain head the export recorded (entry "
                                           f"{manifest.chain_head.seq}) is not in the live chain with its hash"))
    if chain_verification is not None:
        verification = chain_verification()
        result.chain = verification.as_dict()
        if not verification.ok:
            result.problems.append(Finding("chain broken", f"the live audit chain: {verification.problem}"))
    if manifest.latest_digest is not None and digest_object is not None:
        body = digest_object(manifest.latest_digest.key)
        if body is None or sha256_hex(body) != manifest.latest_digest.sha256:
            result.problems.append(Finding("digest changed", f"{manifest.latest_digest.key} is missing or differs "
                                           "from the digest the export named"))
