"""Property: the audit chain verifier detects any single edit, deletion, insertion or reorder, at
any position; and with a signed digest, even a rewrite that recomputes every hash and the anchor.

Pure: chains are built in memory with `chain_record`, digests signed with a local ECDSA key.
"""
from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crisiscomms.audit.digests import Digest, digest_key, envelope, signature_check
from crisiscomms.audit.verification import StoredDigest, verify_chain
from crisiscomms.models.audit import GENESIS, AuditEntry, canonical, chain_record, entry_hash

PROPERTY = settings(max_examples=200, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

_PRIVATE = ec.generate_private_key(ec.SECP256R1())
_PUBLIC_DER = _PRIVATE.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
CHECK = signature_check(_PUBLIC_DER)

# Text as stored: any Unicode but lone surrogates (which no JSON/UTF-8 store can hold).
text = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12)
maps = st.none() | st.dictionaries(st.text(st.characters(exclude_categories=("Cs",)), max_size=6),
                                   st.none() | st.integers(-10**6, 10**6) | text | st.booleans(), max_size=3)
hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
entries = st.builds(
    AuditEntry, actor=text, role=text.map(lambda s: s[:64]), action=text.map(lambda s: s[:64]), target=text,
    at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)),
    before=maps, after=maps, text_hash=st.none() | hex64,
)
chains = st.lists(entries, min_size=1, max_size=10)


def build(items: list[AuditEntry]) -> list[dict[str, Any]]:
    records, prev = [], GENESIS
    for seq, entry in enumerate(items, start=1):
        record = chain_record(entry, seq=seq, prev_hash=prev)
        records.append(record)
        prev = record["hash"]
    return records


def rehash(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What an attacker with write access does after a change: renumber, relink and rehash everything."""
    out, prev = [], GENESIS
    for seq, record in enumerate(records, start=1):
        record = {**record, "seq": seq, "prev_hash": prev}
        record["hash"] = entry_hash(record)
        out.append(record)
        prev = record["hash"]
    return out


def anchor_of(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    return {"seq": records[-1]["seq"], "hash": records[-1]["hash"]} if records else None


def signed_digest(records: list[dict[str, Any]], last: int) -> StoredDigest:
    """One digest covering entries 1..last of the genuine chain, signed like KMS would."""
    digest = Digest(version=1, chain="audit", first_seq=1, last_seq=last, entry_count=last,
                    last_hash=records[last - 1]["hash"], start_time=str(records[0]["at"]),
                    end_time=str(records[last - 1]["at"]), digest_time="2100-01-01T00:00:00+00:00",
                    previous_digest_key=None, previous_digest_hash=None, key_id="local-key",
                    signing_algorithm="ECDSA_SHA_256")
    signature = _PRIVATE.sign(digest.canonical(), ec.ECDSA(hashes.SHA256()))
    return StoredDigest(key=digest_key("audit", last), body=envelope(digest, signature))


FIELDS = ["seq", "prev_hash", "hash", "at", "actor", "role", "action", "target", "before", "after", "text_hash"]


def new_value(field: str) -> st.SearchStrategy[Any]:
    if field == "seq":
        return st.integers(-5, 20)
    if field in ("prev_hash", "hash", "text_hash"):
        return hex64 | st.none() if field == "text_hash" else hex64
    if field in ("before", "after"):
        return maps
    return text


@PROPERTY
@given(chain=chains)
def test_an_untouched_chain_verifies(chain: list[AuditEntry]) -> None:
    records = build(chain)
    assert verify_chain(records, anchor_of(records)).ok
    last = len(records)
    assert verify_chain(records, anchor_of(records), [signed_digest(records, last)], signature_check=CHECK).ok


@PROPERTY
@given(chain=chains, data=st.data())
def test_any_single_edit_is_detected(chain: list[AuditEntry], data: st.DataObject) -> None:
    records = build(chain)
    anchor = anchor_of(records)
    position = data.draw(st.integers(0, len(records) - 1), label="position")
    field = data.draw(st.sampled_from(FIELDS), label="field")
    value = data.draw(new_value(field), label="value")
    # an edit is a change to what is stored (a None inside a map is not stored, so it is no change)
    assume(canonical({field: value}) != canonical({field: records[position].get(field)}))
    tampered = copy.deepcopy(records)
    tampered[position][field] = value
    result = verify_chain(tampered, anchor)
    assert not result.ok
    assert result.first_bad_seq is not None and result.first_bad_seq <= position + 1


@PROPERTY
@given(chain=chains, data=st.data())
def test_any_single_deletion_is_detected(chain: list[AuditEntry], data: st.DataObject) -> None:
    records = build(chain)
    position = data.draw(st.integers(0, len(records) - 1), label="position")
    tampered = records[:position] + records[position + 1:]
    assert not verify_chain(tampered, anchor_of(records)).ok


@PROPERTY
@given(chain=chains, forged=entries, data=st.data())
def test_any_single_insertion_is_detected(chain: list[AuditEntry], forged: AuditEntry, data: st.DataObject) -> None:
    records = build(chain)
    position = data.draw(st.integers(0, len(records)), label="position")
    seq = data.draw(st.sampled_from([position + 1, position, position + 2, len(records) + 1]), label="seq")
    prev = data.draw(st.sampled_from([records[position - 1]["hash"] if position else GENESIS, GENESIS])
                     | hex64, label="prev_hash")
    inserted = chain_record(forged, seq=seq, prev_hash=prev)  # well-formed and correctly hashed
    tampered = records[:position] + [inserted] + records[position:]
    assert not verify_chain(tampered, anchor_of(records)).ok


@PROPERTY
@given(chain=st.lists(entries, min_size=2, max_size=10), data=st.data())
def test_any_reorder_is_detected(chain: list[AuditEntry], data: st.DataObject) -> None:
    records = build(chain)
    order = data.draw(st.permutations(range(len(records))), label="order")
    assume(order != list(range(len(records))))
    assert not verify_chain([records[i] for i in order], anchor_of(records)).ok


@PROPERTY
@given(chain=chains, data=st.data())
def test_a_rewrite_with_every_hash_and_the_anchor_recomputed_is_caught_by_the_digest(
        chain: list[AuditEntry], data: st.DataObject) -> None:
    """The writers' anchor can be rewritten along with the chain; the signed digest cannot."""
    records = build(chain)
    covered = data.draw(st.integers(1, len(records)), label="digest covers 1..")
    digest = signed_digest(records, covered)
    position = data.draw(st.integers(0, covered - 1), label="position")  # inside what the digest signed
    kind = data.draw(st.sampled_from(["edit", "delete", "insert", "swap"]), label="kind")
    tampered = copy.deepcopy(records)
    if kind == "edit":
        field = data.draw(st.sampled_from(["at", "actor", "role", "action", "target", "before", "after", "text_hash"]))
        value = data.draw(new_value(field), label="value")
        assume(canonical({field: value}) != canonical({field: records[position].get(field)}))
        tampered[position][field] = value
    elif kind == "delete":
        del tampered[position]
    elif kind == "insert":
        tampered.insert(position, chain_record(data.draw(entries, label="forged"), seq=0, prev_hash=GENESIS))
    else:
        other = data.draw(st.integers(0, len(records) - 1).filter(lambda i: i != position), label="other")
        tampered[position], tampered[other] = tampered[other], tampered[position]
    rewritten = rehash(tampered)
    # A change to what the digest signed: deleting one of two equal neighbours, or swapping
    # equal entries, leaves the signed prefix as it was and is no change to it.
    assume([canonical(r) for r in rewritten[:covered]] != [canonical(r) for r in records[:covered]])
    assert verify_chain(rewritten, anchor_of(rewritten)).ok  # without digests the rewrite goes unnoticed...
    result = verify_chain(rewritten, anchor_of(rewritten), [digest], signature_check=CHECK)
    assert not result.ok  # ...the signed digest catches it
