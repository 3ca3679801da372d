"""Signed digests and verification against them, in memory: a local P-256 key stands in for KMS."""
from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from crisiscomms.audit.digester import Digester
from crisiscomms.audit.digests import Digest, chain_prefix, digest_key, envelope, parse_envelope, signature_check
from crisiscomms.audit.verification import StoredDigest, verify_chain
from crisiscomms.models.audit import GENESIS, AuditEntry, chain_record, entry_hash

START = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)


class LocalKey:
    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.key_id = "arn:aws:kms:eu-west-1:123456789012:key/local"

    def sign(self, message: bytes) -> bytes:  # what KMS does with MessageType RAW, ECDSA_SHA_256
        return self.private.sign(message, ec.ECDSA(hashes.SHA256()))

    def public_der(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.DER,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass
class MemoryStore:
    """The digest bucket and key in memory, refusing to replace an object (If-None-Match: *)."""

    key: LocalKey
    objects: dict[str, list[bytes]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)

    @property
    def key_id(self) -> str:
        return self.key.key_id

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message)

    def put_new(self, key: str, body: bytes) -> bool:
        if key in self.objects:
            return False
        self.objects[key] = [body]
        return True

    def stored(self) -> list[StoredDigest]:
        return [StoredDigest(k, v[0], len(v), k in self.deleted) for k, v in sorted(self.objects.items())]

    def latest(self, prefix: str) -> StoredDigest | None:
        items = [s for s in self.stored() if s.key.startswith(prefix)]
        return items[-1] if items else None


@dataclass
class MemoryChain:
    """The audit table and the anchor, in memory."""

    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    anchor: dict[str, Any] | None = None

    def append(self, n: int = 1) -> None:
        for _ in range(n):
            seq = len(self.records) + 1
            prev = self.records[seq - 1]["hash"] if seq > 1 else GENESIS
            entry = AuditEntry(actor="li", role="comms-author", action="edit", target=f"statement#s{seq}",
                               at=START + timedelta(minutes=seq), after={"n": seq})
            self.records[seq] = chain_record(entry, seq=seq, prev_hash=prev)
            self.anchor = {"seq": seq, "hash": self.records[seq]["hash"]}

    def ordered(self) -> list[dict[str, Any]]:
        return [self.records[s] for s in sorted(self.records)]

    def between(self, first: int, last: int) -> Iterator[dict[str, Any]]:
        return iter([r for r in self.ordered() if first <= r["seq"] <= last])

    def rehash_from(self, seq: int) -> None:
        """What a writer with PutItem can do: rewrite every entry from `seq` so the links hold again."""
        prev = self.records[seq - 1]["hash"] if seq > 1 else GENESIS
        for s in sorted(k for k in self.records if k >= seq):
            record = {**self.records[s], "seq": s, "prev_hash": prev}
            record["hash"] = entry_hash(record)
            self.records[s] = record
            prev = record["hash"]


@pytest.fixture
def key() -> LocalKey:
    return LocalKey()


@pytest.fixture
def world(key: LocalKey) -> tuple[MemoryChain, MemoryStore]:
    return MemoryChain(), MemoryStore(key)


def _digester(chain: MemoryChain, store: MemoryStore, key: LocalKey) -> Digester:
    return Digester(store=store, anchor=lambda: chain.anchor, records_between=chain.between,
                    signature_check=signature_check(key.public_der()), clock=lambda: START + timedelta(days=1))


def _verify(chain: MemoryChain, store: MemoryStore, key: LocalKey):
    return verify_chain(chain.ordered(), chain.anchor, store.stored(), signature_check=signature_check(key.public_der()))


def _covered(chain: MemoryChain, store: MemoryStore, key: LocalKey, *batches: int) -> None:
    for n in batches:
        chain.append(n)
        assert not _digester(chain, store, key).run().chain_broken


# --- digests are written, chained and verified ------------------------------------------------------

def test_digests_chain_to_each_other_and_cover_the_chain(world, key) -> None:
    chain, store = world
    _covered(chain, store, key, 4, 3)
    assert sorted(store.objects) == [digest_key("audit", 4), digest_key("audit", 7)]
    first = parse_envelope(digest_key("audit", 4), store.objects[digest_key("audit", 4)][0]).digest
    second = parse_envelope(digest_key("audit", 7), store.objects[digest_key("audit", 7)][0]).digest
    assert (first.first_seq, first.last_seq, first.entry_count, first.previous_digest_key) == (1, 4, 4, None)
    assert (second.first_seq, second.last_seq, second.previous_digest_key) == (5, 7, digest_key("audit", 4))
    assert second.previous_digest_hash == first.digest_hash()
    assert second.last_hash == chain.records[7]["hash"]
    assert second.start_time == chain.records[5]["at"] and second.end_time == chain.records[7]["at"]
    result = _verify(chain, store, key)
    assert result.ok and result.digests == 2 and result.covered_through_seq == 7 and result.uncovered.entries == 0


def test_no_new_entries_no_new_digest(world, key) -> None:
    chain, store = world
    _covered(chain, store, key, 3)
    run = _digester(chain, store, key).run()
    assert not run.chain_broken and run.digest is None and len(store.objects) == 1


def test_before_any_digest_every_entry_is_uncovered_and_reported(world, key) -> None:
    chain, store = world
    chain.append(3)
    result = _verify(chain, store, key)
    assert result.ok and result.digests == 0 and result.covered_through_seq == 0
    assert result.uncovered.as_dict() == {"entries": 3, "first_seq": 1, "last_seq": 3,
                                          "from": chain.records[1]["at"], "to": chain.records[3]["at"]}


def test_entries_after_the_latest_digest_are_the_uncovered_window(world, key) -> None:
    chain, store = world
    _covered(chain, store, key, 5)
    chain.append(2)
    result = _verify(chain, store, key)
    assert result.ok and result.covered_through_seq == 5
    assert (result.uncovered.entries, result.uncovered.first_seq, result.uncovered.last_seq) == (2, 6, 7)


def test_the_signed_message_fits_kms_raw_signing() -> None:
    digest = Digest(version=1, chain="audit", first_seq=1, last_seq=10 ** 11, entry_count=10 ** 11, last_hash="a" * 64,
                    start_time=START.isoformat(), end_time=START.isoformat(), digest_time=START.isoformat(),
                    previous_digest_key=digest_key("audit", 1), previous_digest_hash="b" * 64,
                    key_id="arn:aws:kms:eu-west-1:123456789012:key/" + "0" * 36, signing_algorithm="ECDSA_SHA_256")
    assert len(digest.canonical()) < 1024


# --- tampering with the chain after a digest covered it ------------------------------------------------

def _rewrite_5_rehash_and_append(chain: MemoryChain) -> None:
    chain.records[5] = {**chain.records[5], "actor": "mallory"}
    chain.rehash_from(5)
    chain.append(1)  # a linked entry, and the anchor moved to it


def _delete_anchor_and_tail(chain: MemoryChain) -> None:
    for seq in (9, 10):
        del chain.records[seq]
    chain.anchor = None


def _delete_tail_and_move_anchor_back(chain: MemoryChain) -> None:
    for seq in (9, 10):
        del chain.records[seq]
    chain.anchor = {"seq": 8, "hash": chain.records[8]["hash"]}


def _reorder(chain: MemoryChain) -> None:
    chain.records[4], chain.records[5] = chain.records[5], chain.records[4]
    chain.rehash_from(4)
    chain.anchor = {"seq": 10, "hash": chain.records[10]["hash"]}


def _insert(chain: MemoryChain) -> None:
    shifted = {s + 1 if s >= 6 else s: r for s, r in chain.records.items()}
    shifted[6] = {**chain.records[6], "actor": "mallory", "action": "approve"}
    chain.records = shifted
    chain.rehash_from(6)
    chain.anchor = {"seq": 11, "hash": chain.records[11]["hash"]}


def _delete_middle_and_close_the_gap(chain: MemoryChain) -> None:
    chain.records = {(s - 1 if s > 6 else s): r for s, r in chain.records.items() if s != 6}
    chain.rehash_from(6)
    chain.anchor = {"seq": 9, "hash": chain.records[9]["hash"]}


def _put_over_an_existing_entry(chain: MemoryChain) -> None:
    chain.records[3] = {**chain.records[3], "after": {"n": "forged"}}
    chain.rehash_from(3)
    chain.anchor = {"seq": 10, "hash": chain.records[10]["hash"]}


@pytest.mark.parametrize("tamper", [_rewrite_5_rehash_and_append, _delete_anchor_and_tail, _delete_tail_and_move_anchor_back,
                                    _reorder, _insert, _delete_middle_and_close_the_gap, _put_over_an_existing_entry])
def test_every_tampering_of_digested_entries_is_detected(world, key, tamper) -> None:
    chain, store = world
    _covered(chain, store, key, 4, 6)
    assert _verify(chain, store, key).ok
    tamper(chain)
    result = _verify(chain, store, key)
    assert not result.ok and result.problem, tamper.__name__
    assert result.first_bad_seq is not None and result.first_bad_seq <= 10
    run = _digester(chain, store, key).run()  # the Digest function notices too, and signs nothing more
    assert run.chain_broken and run.digest is None, (tamper.__name__, run)


def test_a_rewritten_chain_is_pinned_to_the_digest_range_it_breaks(world, key) -> None:
    chain, store = world
    _covered(chain, store, key, 4, 6)
    _rewrite_5_rehash_and_append(chain)
    result = _verify(chain, store, key)
    assert result.first_bad_seq == 5 and result.bad_digest == digest_key("audit", 10)
    assert "5..10 were changed after digest" in result.problem


@pytest.mark.parametrize(("anchor", "words"), [
    ({"hash": "ab" * 32}, "its seq is None"),
    ({"seq": "7", "hash": "ab" * 32}, "its seq is '7'"),
    ({"seq": 3}, "its hash is None"),
    ({"seq": 3, "hash": "nothex"}, "its hash is 'nothex'"),
])
def test_a_malformed_anchor_is_a_verification_failure_never_an_exception(world, key, anchor, words) -> None:
    chain, store = world
    _covered(chain, store, key, 3)
    chain.anchor = anchor
    result = _verify(chain, store, key)
    assert not result.ok and "anchor is malformed" in result.problem and words in result.problem
    run = _digester(chain, store, key).run()
    assert run.chain_broken and "anchor is malformed" in run.problem


def test_entries_put_beside_the_anchor_are_refused(world, key) -> None:
    chain, store = world
    chain.append(3)
    anchor = dict(chain.anchor)
    chain.append(1)  # linked, but the anchor was not moved with it
    chain.anchor = anchor
    result = _verify(chain, store, key)
    assert not result.ok and "beyond the anchor" in result.problem and result.first_bad_seq == 4
    run = _digester(chain, store, key).run()
    assert not run.chain_broken and run.covered_through_seq == 3  # digests stop at the anchor


# --- tampering with the digests ----------------------------------------------------------------------

def _digests_of(world, key) -> tuple[MemoryChain, MemoryStore]:
    chain, store = world
    _covered(chain, store, key, 2, 2, 2)
    return chain, store


def test_a_digest_signed_by_another_key_is_detected(world, key) -> None:
    chain, store = _digests_of(world, key)
    chain.append(2)
    forger = MemoryStore(LocalKey(), objects=store.objects)
    Digester(store=forger, anchor=lambda: chain.anchor, records_between=chain.between,
             signature_check=lambda m, s: True, clock=lambda: START).run()
    assert digest_key("audit", 8) in store.objects
    result = _verify(chain, store, key)
    assert not result.ok and result.bad_digest == digest_key("audit", 8) and "signature" in result.problem


def test_a_digest_whose_content_changed_after_signing_is_detected(world, key) -> None:
    chain, store = _digests_of(world, key)
    name = digest_key("audit", 4)
    document = json.loads(store.objects[name][0])
    document["digest"]["end_time"] = "2030-01-01T00:00:00+00:00"
    store.objects[name] = [json.dumps(document).encode()]
    result = _verify(chain, store, key)
    assert not result.ok and result.bad_digest == name and "does not verify" in result.problem


@pytest.mark.parametrize(("body", "words"), [
    (b"not json", "not JSON"),
    (b"[]", "not a digest envelope"),
    (json.dumps({"digest": {}, "signature": "AAAA"}).encode(), "malformed"),
    (json.dumps({"digest": {"version": 1}, "signature": "!!"}).encode(), "not base64"),
])
def test_a_malformed_digest_fails_closed(world, key, body, words) -> None:
    chain, store = _digests_of(world, key)
    store.objects[digest_key("audit", 4)] = [body]
    result = _verify(chain, store, key)
    assert not result.ok and words in result.problem and result.bad_digest == digest_key("audit", 4)


def test_a_missing_digest_is_a_gap(world, key) -> None:
    chain, store = _digests_of(world, key)
    del store.objects[digest_key("audit", 4)]
    result = _verify(chain, store, key)
    assert not result.ok and "a digest is missing" in result.problem


def test_a_missing_first_digest_is_detected(world, key) -> None:
    chain, store = _digests_of(world, key)
    del store.objects[digest_key("audit", 2)]
    result = _verify(chain, store, key)
    assert not result.ok and "is missing" in result.problem


def test_a_validly_signed_digest_that_skips_entries_is_a_gap(world, key) -> None:
    chain, store = _digests_of(world, key)
    chain.append(3)
    previous = parse_envelope(digest_key("audit", 6), store.objects[digest_key("audit", 6)][0]).digest
    skipping = Digest(version=1, chain="audit", first_seq=8, last_seq=9, entry_count=2, last_hash=chain.records[9]["hash"],
                      start_time="x", end_time="y", digest_time="z", previous_digest_key=digest_key("audit", 6),
                      previous_digest_hash=previous.digest_hash(), key_id=key.key_id, signing_algorithm="ECDSA_SHA_256")
    store.objects[digest_key("audit", 9)] = [envelope(skipping, key.sign(skipping.canonical()))]
    result = _verify(chain, store, key)
    assert not result.ok and "gap" in result.problem


def test_a_digest_written_twice_or_hidden_by_a_delete_marker_is_detected(world, key) -> None:
    chain, store = _digests_of(world, key)
    store.objects[digest_key("audit", 4)].append(store.objects[digest_key("audit", 4)][0])
    result = _verify(chain, store, key)
    assert not result.ok and "written 2 times" in result.problem
    store.objects[digest_key("audit", 4)].pop()
    store.deleted.add(digest_key("audit", 6))
    result = _verify(chain, store, key)
    assert not result.ok and "deleted" in result.problem
    assert _digester(chain, store, key).run().chain_broken  # the latest one is the hidden one


def test_a_digest_under_another_key_name_is_detected(world, key) -> None:
    chain, store = _digests_of(world, key)
    store.objects[digest_key("audit", 5)] = store.objects.pop(digest_key("audit", 6))
    result = _verify(chain, store, key)
    assert not result.ok and "wrong key" in result.problem


def test_the_digester_never_extends_an_untrusted_digest(world, key) -> None:
    chain, store = _digests_of(world, key)
    document = json.loads(store.objects[digest_key("audit", 6)][0])
    document["signature"] = base64.b64encode(b"\x30\x06\x02\x01\x01\x02\x01\x01").decode()
    store.objects[digest_key("audit", 6)] = [json.dumps(document).encode()]
    chain.append(1)
    run = _digester(chain, store, key).run()
    assert run.chain_broken and "signature" in run.problem and digest_key("audit", 7) not in store.objects


def test_verification_needs_the_public_key_when_digests_are_given(world) -> None:
    chain, store = world
    with pytest.raises(ValueError):
        verify_chain([], None, [], signature_check=None)
    assert chain_prefix("audit") == "digests/audit/"
