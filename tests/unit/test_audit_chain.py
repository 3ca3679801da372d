from __future__ import annotations

from datetime import datetime, timezone

from crisiscomms.models.audit import GENESIS, AuditEntry, chain_record
from crisiscomms.audit.verification import verify_chain


def _chain(n: int) -> list[dict]:
    records, prev = [], GENESIS
    for seq in range(1, n + 1):
        entry = AuditEntry(actor=f"user{seq}", role="comms-author", action="draft", target=f"statement#s{seq}",
                           at=datetime(2026, 11, 28, 9, seq, tzinfo=timezone.utc), after={"text": f"版本 {seq}"})
        record = chain_record(entry, seq=seq, prev_hash=prev)
        records.append(record)
        prev = record["hash"]
    return records


def test_an_intact_chain_verifies() -> None:
    records = _chain(5)
    result = verify_chain(records, {"seq": 5, "hash": records[-1]["hash"]})
    assert result.ok and result.entries == 5


def test_an_altered_entry_is_reported_by_sequence_number() -> None:
    records = _chain(5)
    records[2] = {**records[2], "actor": "mallory"}
    result = verify_chain(records, {"seq": 5, "hash": records[-1]["hash"]})
    assert not result.ok and result.first_bad_seq == 3 and "altered" in result.problem


def test_an_altered_entry_with_a_recomputed_hash_breaks_the_next_link() -> None:
    from crisiscomms.models.audit import entry_hash

    records = _chain(5)
    forged = {**records[1], "after": {"text": "forged"}}
    forged["hash"] = entry_hash(forged)
    records[1] = forged
    result = verify_chain(records, {"seq": 5, "hash": records[-1]["hash"]})
    assert not result.ok and result.first_bad_seq == 3 and "does not link" in result.problem


def test_a_missing_entry_is_reported() -> None:
    records = _chain(5)
    del records[3]
    result = verify_chain(records, {"seq": 5, "hash": records[-1]["hash"]})
    assert not result.ok and result.first_bad_seq == 4 and "missing" in result.problem


def test_entries_missing_from_the_end_are_caught_by_the_anchor() -> None:
    records = _chain(5)
    result = verify_chain(records[:3], {"seq": 5, "hash": records[-1]["hash"]})
    assert not result.ok and result.first_bad_seq == 4 and "4..5" in result.problem


def test_the_hash_covers_every_recorded_field() -> None:
    base = _chain(1)[0]
    for field in ("actor", "role", "action", "target", "at", "before", "after", "text_hash", "prev_hash", "seq"):
        changed = {**base, field: "x" if field != "seq" else 2}
        assert verify_chain([changed], None).ok is False, field


def test_entries_beyond_the_anchor_are_not_accepted() -> None:
    records = _chain(6)
    result = verify_chain(records, {"seq": 5, "hash": records[4]["hash"]})
    assert not result.ok and result.first_bad_seq == 6 and "beyond the anchor" in result.problem


def test_entries_beyond_the_anchor_are_accepted_when_the_anchor_read_again_covers_them() -> None:
    records = _chain(6)  # an append landed while the chain was read
    result = verify_chain(records, {"seq": 5, "hash": records[4]["hash"]},
                          latest_anchor=lambda: {"seq": 6, "hash": records[5]["hash"]})
    assert result.ok and result.entries == 6


def test_a_missing_anchor_is_a_failure_when_there_are_entries() -> None:
    assert verify_chain([], None).ok
    result = verify_chain(_chain(2), None)
    assert not result.ok and "anchor is missing" in result.problem


def test_an_anchor_without_seq_is_a_failure_not_a_key_error() -> None:
    records = _chain(3)
    result = verify_chain(records, {"hash": records[-1]["hash"]})
    assert not result.ok and "anchor is malformed" in result.problem


def test_a_record_with_a_malformed_seq_is_reported() -> None:
    records = _chain(3)
    records[1] = {**records[1], "seq": "2"}
    result = verify_chain(records, {"seq": 3, "hash": records[-1]["hash"]})
    assert not result.ok and result.first_bad_seq == 2 and "malformed" in result.problem


def test_without_digests_every_entry_is_reported_uncovered() -> None:
    records = _chain(3)
    result = verify_chain(records, {"seq": 3, "hash": records[-1]["hash"]})
    assert result.ok and result.digests is None and result.uncovered.entries == 3
    assert result.as_dict()["uncovered"]["from"] == records[0]["at"]
