"""The Digest function's work: check the chain still matches the last digest, then sign the new entries.

One run (every 5 minutes, one at a time):

1. read the latest digest and check its signature (a digest it cannot trust is never extended);
2. read the writers' anchor; entries are digested only up to it, so an entry put beside the
   transactional append path is never vouched for;
3. read the chain from the latest digest's last entry to the anchor: that entry must still have
   the signed hash, each newer entry must link to the one before and hash to itself, and the
   newest must be the anchored one;
4. when there are new entries, write the next digest (If-None-Match: *; a concurrent run that
   wrote it first is not a failure).

Any mismatch is a broken chain: nothing is written, the run reports `chain_broken` with the
problem, and the caller publishes the AuditChainBroken metric the alarm watches. The full
verification against every digest runs on its own schedule (see `crisiscomms.audit.verification`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from crisiscomms.audit.digests import (
    DIGEST_VERSION,
    MAX_SIGNED_BYTES,
    SIGNING_ALGORITHM,
    Digest,
    MalformedDigest,
    ParsedDigest,
    SignatureCheck,
    chain_prefix,
    digest_key,
    envelope,
    key_matches,
    parse_envelope,
)
from crisiscomms.audit.verification import CHAIN, DigestObject, anchor_problem
from crisiscomms.models.audit import GENESIS, entry_hash


class DigestStorage(Protocol):
    """What the digester needs from the digest bucket and the signing key."""

    key_id: str

    def latest(self, prefix: str) -> DigestObject | None: ...

    def put_new(self, key: str, body: bytes) -> bool: ...

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True)
class DigestRun:
    chain_broken: bool
    problem: str | None = None
    digest: str | None = None  # the key written by this run
    entries: int = 0  # entries the new digest covers
    covered_through_seq: int = 0
    already_written: bool = False  # a concurrent run wrote the same digest first

    def as_dict(self) -> dict[str, Any]:
        return {"chain_broken": self.chain_broken, "problem": self.problem, "digest": self.digest,
                "entries": self.entries, "covered_through_seq": self.covered_through_seq,
                "already_written": self.already_written}


class Digester:
    def __init__(self, *, store: DigestStorage, anchor: Callable[[], dict[str, Any] | None],
                 records_between: Callable[[int, int], Iterator[dict[str, Any]]], signature_check: SignatureCheck,
                 clock: Callable[[], datetime], chain: str = CHAIN) -> None:
        self._store = store
        self._anchor = anchor
        self._records_between = records_between
        self._check = signature_check
        self._clock = clock
        self._chain = chain

    def run(self) -> DigestRun:
        stored = self._store.latest(chain_prefix(self._chain))
        previous: ParsedDigest | None = None
        if stored is not None:
            previous_or_problem = self._trusted(stored)
            if isinstance(previous_or_problem, str):
                return DigestRun(True, previous_or_problem)
            previous = previous_or_problem
        after = previous.digest.last_seq if previous else 0

        anchor = self._anchor()
        problem = anchor_problem(anchor)
        if problem:
            return DigestRun(True, problem, covered_through_seq=after)
        head = int(anchor["seq"]) if anchor else 0
        if head < after:
            where = f"at entry {head}" if anchor else "missing"
            return DigestRun(True, f"the audit anchor is {where} but digest {stored.key if stored else ''} covers entries up to "
                                   f"{after}: entries were removed", covered_through_seq=after)

        expected, prev_hash = 1, GENESIS
        first: dict[str, Any] | None = None
        last: dict[str, Any] | None = None
        for record in self._records_between(max(after, 1), head) if head else iter(()):
            seq = record.get("seq")
            if previous is not None and expected == 1:
                if seq != after or entry_hash(record) != record.get("hash") or record.get("hash") != previous.digest.last_hash:
                    return DigestRun(True, f"entry {after} no longer matches digest {previous.key}: the chain was "
                                           "changed after it was signed", covered_through_seq=after)
                expected, prev_hash = after + 1, record["hash"]
                continue
            if seq != expected:
                return DigestRun(True, f"entry {expected} is missing", covered_through_seq=after)
            if record.get("prev_hash") != prev_hash:
                return DigestRun(True, f"entry {seq} does not link to entry {expected - 1}", covered_through_seq=after)
            if entry_hash(record) != record.get("hash"):
                return DigestRun(True, f"entry {seq} was altered (its hash does not match its content)",
                                 covered_through_seq=after)
            first = first or record
            last = record
            expected, prev_hash = seq + 1, record["hash"]
        if previous is not None and expected == 1:
            return DigestRun(True, f"entry {after}, signed by digest {previous.key}, is missing", covered_through_seq=after)
        if head and expected - 1 != head:
            return DigestRun(True, f"{_entries(expected, head)} missing (the anchor is at {head})",
                             covered_through_seq=after)
        if anchor is not None and anchor["hash"] != prev_hash:
            return DigestRun(True, f"entry {head} differs from the anchored hash", covered_through_seq=after)
        if first is None or last is None:
            return DigestRun(False, covered_through_seq=after)  # nothing new: no digest

        digest = Digest(
            version=DIGEST_VERSION, chain=self._chain, first_seq=first["seq"], last_seq=last["seq"],
            entry_count=last["seq"] - first["seq"] + 1, last_hash=last["hash"],
            start_time=str(first["at"]), end_time=str(last["at"]), digest_time=self._clock().isoformat(),
            previous_digest_key=previous.key if previous else None,
            previous_digest_hash=previous.digest.digest_hash() if previous else None,
            key_id=self._store.key_id, signing_algorithm=SIGNING_ALGORITHM)
        message = digest.canonical()
        if len(message) > MAX_SIGNED_BYTES:  # fixed-size fields; only an absurd key id could do this
            raise ValueError(f"a digest's canonical form is {len(message)} bytes, over KMS's {MAX_SIGNED_BYTES}")
        key = digest_key(self._chain, digest.last_seq)
        written = self._store.put_new(key, envelope(digest, self._store.sign(message)))
        return DigestRun(False, digest=key, entries=digest.entry_count, covered_through_seq=digest.last_seq,
                         already_written=not written)

    def _trusted(self, stored: DigestObject) -> ParsedDigest | str:
        """The latest digest when it can be trusted; otherwise why not."""
        if stored.deleted or stored.versions != 1 or stored.body is None:
            return f"the latest digest {stored.key} was deleted, rewritten or cannot be read"
        try:
            parsed = parse_envelope(stored.key, stored.body)
        except MalformedDigest as exc:
            return str(exc)
        if parsed.digest.chain != self._chain or not key_matches(stored.key, parsed.digest):
            return f"the latest digest {stored.key} is stored under the wrong key"
        if not self._check(parsed.digest.canonical(), parsed.signature):
            return f"the latest digest {stored.key} has a signature that does not verify with the audit signing key"
        return parsed


class DigestJob(BaseModel):
    """The schedule's input: `digest` every 5 minutes, `verify` (the whole chain against every digest) hourly."""

    model_config = ConfigDict(extra="forbid")

    job: Literal["digest", "verify"] = "digest"
    scheduled_time: str | None = None


def _entries(first: int, last: int) -> str:
    return f"entry {first} is" if first == last else f"entries {first}..{last} are"
