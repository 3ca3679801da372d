"""Exports for auditors: what is asked for, the manifest that describes what was written, and the
files' exact form, so that the exporter and the command verifying an export render records the same way.

    exports/<export id>/manifest.json     the manifest below (canonical JSON: sorted keys, UTF-8)
    exports/<export id>/<kind>.jsonl      one record per line, as stored, canonical JSON, ordered by identity
    exports/<export id>/<kind>.csv        the same records: one column per top-level field (sorted), nested
                                          values as canonical JSON; a text cell starting with = + - @ or a
                                          tab gets a leading ' so no spreadsheet runs it as a formula

Record kinds, what identifies a record and the time that places it in a range:

    posts            post_key                published_at    every platform
    alerts           alert_id                triggered_at    every topic
    statements       pk + sk                 created_at      every item of the statements created in the range
                                                             but the Reviewer's (effect#, effect-topic#, review#)
    audit            seq                     at
    conversations    post_key                created_at      the inbox, per topic (`topics`)
    replies          id                      created_at
    templates        pk + sk                 created_at      the reply library: every item of the templates
                                                             created in the range (head and versions)
    minute_figures   topic + minute_key      minute          per topic, every minute the range touches
    hour_figures     topic + minute_key      hour            per topic, every hour the range touches
    effects          pk + sk                 measured_at     statements' and reply waves' effect#<stage> items
    reports          id                      requested_at    post-crisis reports (StateTable report#<id>)
    lessons          alert_id                triggered_at    closed alerts' conclusions, as AlertRepository.lessons
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crisiscomms.models.topics import TOPIC_ID_PATTERN

RecordKind = Literal["posts", "alerts", "statements", "audit", "conversations", "replies", "templates",
                     "minute_figures", "hour_figures", "effects", "reports", "lessons"]
RECORD_KINDS: tuple[RecordKind, ...] = get_args(RecordKind)
TOPIC_KINDS: tuple[RecordKind, ...] = ("conversations", "minute_figures", "hour_figures")  # read per topic
FIGURE_KINDS: tuple[RecordKind, ...] = ("minute_figures", "hour_figures")
MAX_TOPICS = 100
MAX_EXPORT_SPAN = timedelta(days=366)
MANIFEST_VERSION = 1
EXPORT_ID_PATTERN = r"^ex-[0-9a-f]{16}$"
EXPORT_PREFIX = "exports/"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def export_prefix(export_id: str) -> str:
    return f"{EXPORT_PREFIX}{export_id}/"


def manifest_key(export_id: str) -> str:
    return f"{export_prefix(export_id)}manifest.json"


def file_key(export_id: str, kind: str, fmt: str) -> str:
    return f"{export_prefix(export_id)}{kind}.{fmt}"


class ExportRequest(BaseModel):
    """What an auditor asks to export: record kinds and a time range [from, to)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    kinds: list[RecordKind] = Field(min_length=1, max_length=len(RECORD_KINDS))
    from_: datetime = Field(alias="from", description="RFC 3339 with an offset")
    to: datetime = Field(description="RFC 3339 with an offset; records before it")
    topics: list[str] | None = Field(default=None, min_length=1, max_length=MAX_TOPICS,
                                     description="the topics of conversations, minute_figures and hour_figures; "
                                                 "absent: every watched topic")

    @field_validator("kinds")
    @classmethod
    def _unique(cls, kinds: list[str]) -> list[str]:
        if len(set(kinds)) != len(kinds):
            raise ValueError("each kind at most once")
        return sorted(kinds, key=RECORD_KINDS.index)

    @field_validator("topics")
    @classmethod
    def _topics(cls, topics: list[str] | None) -> list[str] | None:
        if topics is None:
            return None
        for topic in topics:
            if not re.fullmatch(TOPIC_ID_PATTERN, topic):
                raise ValueError(f"{topic[:80]!r} is not a topic id (lower-case letters, digits and hyphens)")
        if len(set(topics)) != len(topics):
            raise ValueError("each topic at most once")
        return sorted(topics)

    @field_validator("from_", "to")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("needs an offset (Z or +08:00)")
        if not 2000 <= value.year <= 2999:
            raise ValueError("out of range (2000 to 2999)")
        return value

    @model_validator(mode="after")
    def _range(self) -> "ExportRequest":
        if self.from_ >= self.to:
            raise ValueError("from must be before to")
        if self.to - self.from_ > MAX_EXPORT_SPAN:
            raise ValueError(f"at most {MAX_EXPORT_SPAN.days} days")
        if self.topics is not None and not set(self.kinds) & set(TOPIC_KINDS):
            raise ValueError(f"topics apply only to {', '.join(TOPIC_KINDS)}")
        return self


class ExportFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: RecordKind
    format: Literal["jsonl", "csv"]
    key: str
    records: int = Field(ge=0)
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ChainHead(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = Field(ge=1)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")


class DigestReference(BaseModel):
    """The latest signed digest when the export was made: where it is and what it vouches for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="of the stored object's bytes")
    last_seq: int
    last_hash: str
    digest_time: str


class TimeSpan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from")
    to: str


class ExportManifest(BaseModel):
    """What one export holds; its SHA-256 goes into the audit chain with the export's completion."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    version: Literal[1] = MANIFEST_VERSION
    export_id: str = Field(pattern=EXPORT_ID_PATTERN)
    requested_by: str
    requested_at: str
    created_at: str
    range: TimeSpan = Field(description="the requested range [from, to), UTC")
    kinds: list[RecordKind]
    counts: dict[str, int]
    records_span: dict[str, TimeSpan | None] = Field(description="per kind, the first and last record's time")
    files: list[ExportFile]
    chain: str
    chain_head: ChainHead | None = Field(description="the audit chain's head (its anchor) as the export began")
    latest_digest: DigestReference | None = Field(description="the latest signed digest then; null before the first")
    topics: list[str] | None = Field(default=None, description="the topics the per-topic kinds were read for")
    figures_expiry_mark: int | None = Field(
        default=None, description="minute and hour figures: an item whose expires_at is at or after this counts a "
                                  "post stored after the export began (its start plus the figures' retention, "
                                  "epoch seconds); null when the export holds no figures")

    def canonical(self) -> bytes:
        return canonical_json(self.model_dump(mode="json", by_alias=True))


# --- the files' exact form -----------------------------------------------------------------------

def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_IDENTITY: dict[str, tuple[str, ...]] = {
    "posts": ("post_key",), "alerts": ("alert_id",), "statements": ("pk", "sk"), "conversations": ("post_key",),
    "replies": ("id",), "templates": ("pk", "sk"), "minute_figures": ("topic", "minute_key"),
    "hour_figures": ("topic", "minute_key"), "effects": ("pk", "sk"), "reports": ("id",), "lessons": ("alert_id",),
}
_TIME_FIELD: dict[str, str] = {
    "posts": "published_at", "alerts": "triggered_at", "statements": "created_at", "audit": "at",
    "conversations": "created_at", "replies": "created_at", "templates": "created_at", "minute_figures": "minute",
    "hour_figures": "hour", "effects": "measured_at", "reports": "requested_at", "lessons": "triggered_at",
}


def record_identity(kind: str, record: dict[str, Any]) -> str:
    """What names one record of a kind (the module's table); KeyError when the record lacks it."""
    if kind == "audit":
        return f"{int(record['seq']):012d}"
    if kind not in _IDENTITY:
        raise ValueError(f"no such record kind: {kind}")
    return "|".join(str(record[field]) for field in _IDENTITY[kind])


def record_time(kind: str, record: dict[str, Any]) -> str | None:
    """The time a record is placed in a range by (the module's table), as stored."""
    value = record.get(_TIME_FIELD[kind])
    return str(value) if value is not None else None


def jsonl_line(record: dict[str, Any]) -> bytes:
    return canonical_json(record) + b"\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (dict, list)):
        text = canonical_json(value).decode("utf-8")
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_columns(records: list[dict[str, Any]]) -> list[str]:
    return sorted({key for record in records for key in record})


def csv_header(columns: list[str]) -> bytes:
    return csv_rows([], columns, header=True)


def csv_rows(records: list[dict[str, Any]], columns: list[str], *, header: bool = False) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    if header:
        writer.writerow(columns)
    for record in records:
        writer.writerow([_cell(record.get(column)) for column in columns])
    return out.getvalue().encode("utf-8")


def parse_jsonl(data: bytes) -> list[dict[str, Any]]:
    """The records of a JSON Lines file; ValueError naming the line for anything else."""
    records = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line:
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"line {number} is not JSON") from exc
        if not isinstance(record, dict):
            raise ValueError(f"line {number} is not a JSON object")
        records.append(record)
    return records


def new_export_id(random_hex: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{16}", random_hex):
        raise ValueError("16 lower-case hex digits")
    return f"ex-{random_hex}"
