"""An audit entry and how it is hashed into the chain: the contract every writer and verifier shares.

Each entry carries the hash of the one before it, so changing or removing any entry breaks
every hash after it. Entries are canonical JSON (sorted keys, no spaces, UTF-8) hashed with
SHA-256; the first entry links to GENESIS. An anchor outside the chain records the newest
sequence number and hash, so losing entries from the end is detected too.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

GENESIS = "0" * 64
HASHED_FIELDS = ("seq", "prev_hash", "at", "actor", "role", "action", "target", "before", "after", "text_hash")


class AuditEntry(BaseModel):
    """One recorded action: who did what to which thing, when, and what changed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: str = Field(min_length=1, max_length=256)
    role: str = Field(min_length=1, max_length=64)
    action: str = Field(min_length=1, max_length=64)
    target: str = Field(min_length=1, max_length=256, description="e.g. statement#s-123 or delivery#d-9")
    at: datetime
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    text_hash: str | None = None


def _stable(value: Any) -> Any:
    """The form a value keeps through storage: no None inside maps, integral numbers as ints."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_stable(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def canonical(values: dict[str, Any]) -> bytes:
    return json.dumps(_stable(values), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def entry_hash(record: dict[str, Any]) -> str:
    """SHA-256 over the hashed fields of a stored record (seq and prev_hash included)."""
    return hashlib.sha256(canonical({k: record.get(k) for k in HASHED_FIELDS})).hexdigest()


def chain_record(entry: AuditEntry, *, seq: int, prev_hash: str) -> dict[str, Any]:
    """The stored form of an entry at position `seq` after `prev_hash`."""
    record = {
        "seq": seq,
        "prev_hash": prev_hash,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "role": entry.role,
        "action": entry.action,
        "target": entry.target,
        "before": entry.before,
        "after": entry.after,
        "text_hash": entry.text_hash,
    }
    record["hash"] = entry_hash(record)
    return record
