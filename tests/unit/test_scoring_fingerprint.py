"""Every Score of the dev split's texts (and the bench's, and a few edge cases) is what the
committed fingerprint recorded, field by field, so code changed for speed changes no result.

The fingerprint (tests/data/scoring_fingerprint.json) holds the SHA-256 of the model's weight
files; after a retrain this test fails saying so, and the fingerprint is regenerated with

    python -m crisiscomms_local.scoring_fingerprint --write-fingerprint

from the code the new weights ship with (a code change alone must never need it).
"""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from crisiscomms import scoring
from crisiscomms.scoring import reputation
from crisiscomms_local import scoring_fingerprint as fp


@pytest.fixture()
def fresh_model() -> Iterator[None]:
    """The shipped model read again, its memos empty; the one in use put back after."""
    before = reputation._MODEL
    reputation.use(None)
    yield
    reputation.use(before)


def _recorded() -> dict:
    return json.loads(fp.FINGERPRINT.read_text(encoding="utf-8"))


def test_every_score_is_the_recorded_one_with_empty_and_with_warm_memos(fresh_model: None) -> None:
    recorded = _recorded()
    cold = fp.fingerprint()
    assert fp.differences(recorded, cold) == []
    warm = fp.fingerprint()
    assert warm == cold
    assert len(recorded["scores"].keys() & cold["scores"].keys()) >= 1000


def test_a_changed_result_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison notices a change in the scorer, not only in the record."""
    monkeypatch.setattr(scoring, "NEGATED_CRISIS_VALENCE", scoring.NEGATED_CRISIS_VALENCE + 0.05)
    problems = fp.differences(_recorded(), fp.fingerprint())
    assert problems and "scores differ from the fingerprint" in problems[0]


def test_retrained_weights_ask_for_a_new_fingerprint() -> None:
    recorded = _recorded()
    retrained = dict(recorded, model_files=dict(recorded["model_files"], **{"reputation_model.bin": "0" * 64}))
    assert fp.differences(retrained, recorded) == [
        "the model's weight files are not those the fingerprint was written with (retrained?): "
        f"regenerate it with `{fp.WRITE_COMMAND}`"]


def test_texts_added_or_removed_leave_the_rest_compared() -> None:
    recorded = _recorded()
    keys = sorted(recorded["scores"])
    fewer = dict(recorded, scores={k: recorded["scores"][k] for k in keys[: len(keys) * 3 // 4]})
    assert fp.differences(recorded, fewer) == []
    one_off = dict(fewer, scores=dict(fewer["scores"], **{keys[0]: "0" * 12}))
    assert fp.differences(recorded, one_off) == [
        f"1 of {len(fewer['scores'])} scores differ from the fingerprint, e.g. cases {keys[0]}"]
    most_gone = dict(recorded, scores={k: recorded["scores"][k] for k in keys[: len(keys) // 3]})
    assert "regenerate" in fp.differences(recorded, most_gone)[0]
