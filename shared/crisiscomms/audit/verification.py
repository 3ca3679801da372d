"""Verifying the tamper-evident audit chain against its signed digests.

Trust comes from the digests (`crisiscomms.audit.digests`), which only the Digest function can
sign and write: each is checked for its signature, its place in the digest chain (it names the
previous digest's key and hash; no gaps) and its claim about the chain (the entry at its last
sequence number has its last hash). Because every entry hashes its predecessor, the latest good
digest authenticates every entry up to it; the earlier ones narrow down where a change was made.

The writers' anchor (newest seq and hash, in the state table) is only a concurrency mechanism
for appends: it is checked for consistency (present when there are entries, well-formed, at the
end of the chain with its hash), never trusted. Entries after the latest digest are reported as
the uncovered window: their count and time range, which nothing but the anchor vouches for yet.

Every problem is a failed verification with a clear message, never an exception.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from crisiscomms.audit.digests import MalformedDigest, ParsedDigest, SignatureCheck, key_matches, parse_envelope
from crisiscomms.models.audit import GENESIS, entry_hash

CHAIN = "audit"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class DigestObject(Protocol):
    """A digest object as a store found it (crisiscomms.aws.digest_store.StoredObject, or StoredDigest)."""

    @property
    def key(self) -> str: ...

    @property
    def body(self) -> bytes | None: ...

    @property
    def versions(self) -> int: ...

    @property
    def deleted(self) -> bool: ...


@dataclass(frozen=True)
class StoredDigest:
    """One digest object as the store found it."""

    key: str
    body: bytes | None  # the key's first (original) version; None when it could not be read
    versions: int = 1  # object versions under the key: more than one means it was written again
    deleted: bool = False  # a delete marker hides it from ordinary listings


@dataclass(frozen=True)
class UncoveredWindow:
    """Entries after the latest digest: vouched for by nothing but the writers' anchor yet."""

    entries: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    from_time: str | None = None
    to_time: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"entries": self.entries, "first_seq": self.first_seq, "last_seq": self.last_seq,
                "from": self.from_time, "to": self.to_time}


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str | None = None
    digests: int | None = None  # digests checked; None when verification ran without them
    covered_through_seq: int = 0  # the latest digest's last sequence number (0: none yet)
    latest_digest: str | None = None
    latest_digest_time: str | None = None
    bad_digest: str | None = None
    uncovered: UncoveredWindow = field(default_factory=UncoveredWindow)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "first_bad_seq": self.first_bad_seq, "problem": self.problem,
                "digests": self.digests, "covered_through_seq": self.covered_through_seq,
                "latest_digest": self.latest_digest, "latest_digest_time": self.latest_digest_time,
                "bad_digest": self.bad_digest, "uncovered": self.uncovered.as_dict()}


def anchor_problem(anchor: dict[str, Any] | None) -> str | None:
    """Why an anchor item is unusable (None when it is well-formed or absent)."""
    if anchor is None:
        return None
    seq, value = anchor.get("seq"), anchor.get("hash")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        return f"the audit anchor is malformed: its seq is {seq!r}"
    if not isinstance(value, str) or not _HEX64.match(value):
        return f"the audit anchor is malformed: its hash is {value!r}"
    return None


def check_digests(stored: Sequence[DigestObject], check: SignatureCheck, chain: str = CHAIN
                  ) -> tuple[list[ParsedDigest], tuple[str, str, int | None] | None]:
    """Parse and check every digest in key order: (the good ones, the first problem as (key, text, seq))."""
    parsed: list[ParsedDigest] = []
    for item in sorted(stored, key=lambda s: s.key):
        previous = parsed[-1] if parsed else None
        after = previous.digest.last_seq + 1 if previous else 1
        if item.deleted:
            return parsed, (item.key, f"digest {item.key} was deleted (a delete marker hides it)", after)
        if item.versions != 1:
            return parsed, (item.key, f"digest {item.key} was written {item.versions} times (a digest is written once)", after)
        if item.body is None:
            return parsed, (item.key, f"digest {item.key} could not be read", after)
        try:
            current = parse_envelope(item.key, item.body)
        except MalformedDigest as exc:
            return parsed, (item.key, str(exc), after)
        d = current.digest
        if d.chain != chain or not key_matches(item.key, d):
            return parsed, (item.key, f"digest {item.key} is stored under the wrong key (it covers {d.chain} "
                                      f"{d.first_seq}..{d.last_seq})", after)
        if not check(d.canonical(), current.signature):
            return parsed, (item.key, f"digest {item.key} has a signature that does not verify with the audit signing key", after)
        if previous is None:
            if d.previous_digest_key is not None or d.first_seq != 1:
                return parsed, (item.key, f"digest {item.key} follows {d.previous_digest_key}, which is missing "
                                          f"(digests before entry {d.first_seq} are gone)", 1)
        elif d.previous_digest_key != previous.key:
            return parsed, (item.key, f"digest {item.key} follows {d.previous_digest_key}, not {previous.key}: "
                                      "a digest is missing", after)
        elif d.previous_digest_hash != previous.digest.digest_hash():
            return parsed, (item.key, f"digest {item.key} does not match the hash of {previous.key}", after)
        elif d.first_seq != after:
            return parsed, (item.key, f"digest {item.key} starts at entry {d.first_seq}, not {after}: "
                                      "the digests leave a gap", after)
        parsed.append(current)
    return parsed, None


def verify_chain(records: Iterable[dict[str, Any]], anchor: dict[str, Any] | None,
                 digests: Sequence[DigestObject] | None = None, *, signature_check: SignatureCheck | None = None,
                 chain: str = CHAIN, latest_anchor: Callable[[], dict[str, Any] | None] | None = None) -> Verification:
    """Walk the chain in sequence order against every digest and the anchor; report the first problem.

    `digests` None checks the chain and the anchor only (every entry is then uncovered);
    `latest_anchor` re-reads the anchor when entries were appended while the chain was read.
    """
    good: list[ParsedDigest] = []
    digest_failure: tuple[str, str, int | None] | None = None
    if digests is not None:
        if signature_check is None:
            raise ValueError("verifying against digests needs the signing key's public half")
        good, digest_failure = check_digests(digests, signature_check, chain)
    latest = good[-1] if good and digest_failure is None else None
    covered = latest.digest.last_seq if latest else 0

    def result(ok: bool, count: int, bad: int | None = None, problem: str | None = None, *,
               bad_digest: str | None = None, window: UncoveredWindow | None = None) -> Verification:
        return Verification(ok, count, bad, problem, digests=None if digests is None else len(digests),
                            covered_through_seq=covered, latest_digest=latest.key if latest else None,
                            latest_digest_time=latest.digest.digest_time if latest else None,
                            bad_digest=bad_digest, uncovered=window or UncoveredWindow())

    if digest_failure is not None:
        key, problem, seq = digest_failure
        return result(False, 0, seq, problem, bad_digest=key)

    pending = list(good)
    expected_seq, prev_hash, count = 1, GENESIS, 0
    first_uncovered: dict[str, Any] | None = None
    last_record: dict[str, Any] | None = None
    for record in records:
        seq = record.get("seq")
        if isinstance(seq, bool) or not isinstance(seq, int):
            return result(False, count, expected_seq, f"entry {expected_seq} is malformed (its seq is {seq!r})")
        if seq != expected_seq:
            return result(False, count, expected_seq, f"entry {expected_seq} is missing")
        if record.get("prev_hash") != prev_hash:
            return result(False, count, seq, f"entry {seq} does not link to entry {seq - 1}")
        if entry_hash(record) != record.get("hash"):
            return result(False, count, seq, f"entry {seq} was altered (its hash does not match its content)")
        if pending and seq == pending[0].digest.last_seq:
            d = pending.pop(0)
            if record["hash"] != d.digest.last_hash:
                return result(False, count, d.digest.first_seq,
                              f"entries {d.digest.first_seq}..{seq} were changed after digest {d.key} signed them "
                              f"(entry {seq}'s hash differs from the signed hash)", bad_digest=d.key)
        if seq > covered and first_uncovered is None:
            first_uncovered = record
        prev_hash, expected_seq, count, last_record = record["hash"], seq + 1, count + 1, record
    window = UncoveredWindow()
    if first_uncovered is not None and last_record is not None:
        window = UncoveredWindow(count - covered, first_uncovered["seq"], last_record["seq"],
                                 str(first_uncovered.get("at")), str(last_record.get("at")))
    if pending:
        d = pending[0]
        return result(False, count, count + 1, f"{_entries(count + 1, good[-1].digest.last_seq)} missing "
                      f"(digest {d.key} covers {'it' if count + 1 == good[-1].digest.last_seq else 'them'})",
                      bad_digest=d.key, window=window)

    problem = anchor_problem(anchor)
    if problem:
        return result(False, count, None, problem, window=window)
    if anchor is None:
        if count:
            return result(False, count, None, f"the audit anchor is missing although the chain has {count} entries",
                          window=window)
        return result(True, count, window=window)
    newest = int(anchor["seq"])
    if newest > count:
        return result(False, count, count + 1, f"{_entries(count + 1, newest)} missing from the end", window=window)
    if newest < count and latest_anchor is not None:
        # Appends commit the entry and the anchor together: one that landed while the chain was
        # read shows as entries beyond the anchor read before; the anchor read now must cover them.
        fresh = latest_anchor()
        if fresh is not None and anchor_problem(fresh) is None and int(fresh["seq"]) >= count:
            if int(fresh["seq"]) > count:  # still more appended since: what was read is a verified prefix
                return result(True, count, window=window)
            anchor, newest = fresh, count
    if newest < count:
        return result(False, count, newest + 1, f"{_entries(newest + 1, count)} beyond the anchor "
                      "(not appended through it)", window=window)
    if anchor.get("hash") != prev_hash:
        return result(False, count, newest, f"entry {newest} differs from the anchored hash", window=window)
    return result(True, count, window=window)


def _entries(first: int, last: int) -> str:
    return f"entry {first} is" if first == last else f"entries {first}..{last} are"
