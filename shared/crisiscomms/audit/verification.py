"""Verifying the tamper-evident audit chain: every entry links to the one before and hashes to itself."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from crisiscomms.models.audit import GENESIS, entry_hash


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "first_bad_seq": self.first_bad_seq, "problem": self.problem}


def verify_chain(records: Iterable[dict[str, Any]], anchor: dict[str, Any] | None) -> Verification:
    """Walk the chain in sequence order and report the first altered or missing entry."""
    expected_seq, prev_hash, count = 1, GENESIS, 0
    for record in records:
        seq = int(record["seq"])
        if seq != expected_seq:
            return Verification(False, count, expected_seq, f"entry {expected_seq} is missing")
        if record.get("prev_hash") != prev_hash:
            return Verification(False, count, seq, f"entry {seq} does not link to entry {seq - 1}")
        if entry_hash(record) != record.get("hash"):
            return Verification(False, count, seq, f"entry {seq} was altered (its hash does not match its content)")
        prev_hash, expected_seq, count = record["hash"], seq + 1, count + 1
    if anchor:
        newest = int(anchor["seq"])
        if newest >= expected_seq:
            return Verification(False, count, expected_seq, f"entries {expected_seq}..{newest} are missing from the end")
        if newest == count and anchor.get("hash") != prev_hash:
            return Verification(False, count, newest, f"entry {newest} differs from the anchored hash")
    return Verification(True, count)
