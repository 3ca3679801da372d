"""The polarity model's package data, how it is read, and how it is trained: on the dev split
only, never on the frozen test split."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from crisiscomms.scoring import reputation, score_text
from crisiscomms_local import train_reputation as trainer

from ..conftest import ROOT

SET_DIR = ROOT / "tests" / "data" / "reputation"


def _header() -> dict:
    return json.loads(Path(reputation.HEADER_FILE).read_text(encoding="utf-8"))


# ---------------------------------------------------------------- the shipped model
def test_the_shipped_model_is_compact_and_matches_its_header() -> None:
    header = _header()
    assert header["format"] == reputation.FORMAT and header["classes"] == list(reputation.LABELS)
    assert header["heads"] == list(reputation.HEADS) and header["evidence"]["names"] == list(reputation.EVIDENCE)
    assert header["buckets"] <= 1 << 18 and header["buckets"] & (header["buckets"] - 1) == 0
    packed = Path(reputation.WEIGHTS_FILE).read_bytes()
    stories = Path(reputation.NARRATIVES_FILE).read_bytes()
    assert len(packed) + len(stories) < 256 * 1024
    weights = zlib.decompress(packed)
    n = header["buckets"]
    assert len(weights) == 3 * n
    assert sum(1 for b in range(n) if weights[b] or weights[n + b] or weights[2 * n + b]) == \
        header["training"]["nonzero_buckets"] > 0
    assert any(weights[2 * n:]), "the crisis head has no gram weights"
    narrative = header["narrative"]
    assert narrative["classes"] == list(reputation.NARRATIVES) and narrative["buckets"] > 0
    assert len(zlib.decompress(stories)) == narrative["buckets"] * (4 + len(reputation.NARRATIVES))


def test_the_shipped_model_was_trained_on_the_current_dev_split() -> None:
    """Retrain (python -m crisiscomms_local.train_reputation) whenever dev.jsonl changes."""
    dev = SET_DIR / "dev.jsonl"
    training = _header()["training"]
    assert training["data"] == "tests/data/reputation/dev.jsonl" and training["label"] == "polarity"
    assert training["data_sha256"] == hashlib.sha256(dev.read_bytes()).hexdigest()
    assert training["command"] == "python -m crisiscomms_local.train_reputation"     # the chosen settings


def test_the_recorded_cross_validation_is_the_models_and_above_the_lexicon() -> None:
    """The figures the README quotes are the shipped settings' (5-fold on dev): polarity well above the
    lexicon's tone read as polarity (0.52 en, 0.58 zh on dev), crisis above the term rule (0.71, 0.69)."""
    cv = _header()["training"]["cv5"]
    assert cv["polarity_macro_f1"]["en"] >= 0.60 and cv["polarity_macro_f1"]["zh"] >= 0.68
    assert cv["crisis_f1"]["en"] >= 0.79 and cv["crisis_f1"]["zh"] >= 0.77
    assert cv["narrative_accuracy"]["all_no_term"] >= 0.45      # "other" for all of them would be 0


def test_the_model_is_read_at_the_first_post_scored_not_at_import() -> None:
    code = ("import sys\n"
            "from crisiscomms.scoring import reputation, score_text\n"
            "print(reputation._MODEL is None)\n"
            "score_text('Harbor Bank app down again')\n"
            "print(reputation._MODEL is not None, reputation._MODEL._narrative_weights is None, "
            "'numpy' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "shared")}, timeout=60)
    assert out.stdout.split() == ["True", "True", "True", "False"]


def test_a_model_that_does_not_fit_this_package_is_refused() -> None:
    header = _header()
    weights = reputation.model()._q
    for change in ({"format": 1}, {"buckets": 1 << 17}, {"han": [1, 5]}, {"heads": ["negative", "positive"]},
                   {"evidence": {**header["evidence"], "names": ["tone"]}}, {"bias": [0.0, 0.0]},
                   {"crisis_no_term": -0.5}):
        with pytest.raises(ValueError):
            reputation.Model({**header, **change}, weights)
    with pytest.raises(ValueError, match="narrative"):
        reputation.Model({**header, "narrative": None}, weights).narrative({"run"}, None, "")


def test_the_headers_no_term_margin_is_the_difference_of_the_thresholds_it_was_trained_with() -> None:
    header = _header()
    training = header["training"]
    assert training["crisis_threshold_no_term"] >= training["crisis_threshold"]
    assert header.get("crisis_no_term", 0.0) == pytest.approx(
        training["crisis_threshold_no_term"] - training["crisis_threshold"])


def test_a_post_without_a_crisis_term_needs_the_larger_margin() -> None:
    """The header's crisis_no_term is taken off the crisis margin of a post without a non-negated term
    of the lexicon only."""
    def terms(text: str) -> bool:
        return any(not h.negated for h in score_text(text).crisis_terms)

    texts = [json.loads(line)["text"] for line in (SET_DIR / "dev.jsonl").read_text(encoding="utf-8").splitlines()]
    no_term = next(t for t in texts if score_text(t).is_crisis and not terms(t))
    with_term = next(t for t in texts if score_text(t).is_crisis and terms(t))
    shipped = reputation.model()

    def crisis(text: str, margin: float) -> bool:
        reputation.use(reputation.Model({**shipped.header, "crisis_no_term": margin}, shipped._q))
        try:
            return score_text(text).is_crisis
        finally:
            reputation.use(None)

    assert crisis(no_term, 0.0) and not crisis(no_term, 100.0)
    assert crisis(with_term, 0.0) and crisis(with_term, 100.0)


# ---------------------------------------------------------------- what the heads decide
# Posts none of which is in the labelled set, each clear under GUIDE.md
CLEAR = [
    ("Harbor Bank's mobile app crashed again during my lunch break, still cannot log in", "negative", True),
    ("Long line of customers outside Harbor Bank since 6am, all trying to take their cash out", "negative", True),
    ("Harbor Bank staff at the Elm St branch were so kind helping my grandma, thank you!", "positive", False),
    ("Harbor Bank branch on Elm St opens at 9 on Saturdays", "neutral", False),
    ("港湾银行的手机银行又登不上了，转账一直失败", "negative", True),
    ("港湾银行门口排起长队，大家都在取钱", "negative", True),
    ("港湾银行的柜员服务特别耐心，给个好评", "positive", False),
    ("港湾银行周六营业时间为上午九点至下午五点", "neutral", False),
]


@pytest.mark.parametrize(("text", "polarity", "crisis"), CLEAR)
def test_the_shipped_heads_read_clear_posts_they_were_not_trained_on(text: str, polarity: str, crisis: bool) -> None:
    score = score_text(text)
    assert (score.sentiment_label, score.is_crisis) == (polarity, crisis)


def test_a_crisis_post_no_term_explains_gets_a_catalogue_narrative_and_a_weight_for_risk() -> None:
    from crisiscomms.scoring import CRISIS_THRESHOLD, LEARNED_CRISIS_WEIGHT
    from crisiscomms.scoring.narratives import CATALOGUE, narrative_for, narrative_group

    found = 0
    for text in [json.loads(line)["text"] for line in (SET_DIR / "dev.jsonl").read_text(encoding="utf-8").splitlines()]:
        score = score_text(text, followers=10_000)
        if score.is_crisis and not any(not h.negated for h in score.crisis_terms):
            found += 1
            assert score.learned_narrative in CATALOGUE and score.learned_narrative != "other"
            assert narrative_for(score) == narrative_group(score) == score.learned_narrative
            assert score.crisis_weight >= CRISIS_THRESHOLD and score.crisis_weight == LEARNED_CRISIS_WEIGHT
            assert score.risk > 0
        elif score.is_crisis:
            assert score.learned_narrative is None and score.crisis_weight >= CRISIS_THRESHOLD
        else:
            assert score.learned_narrative is None and score.crisis_weight < CRISIS_THRESHOLD
    assert found > 50


# ---------------------------------------------------------------- the trainer
def _rows(*ids: str, split: str | None = None) -> str:
    texts = ["Harbor Bank app down again, furious", "Thanks Harbor Bank, quick and kind", "港湾银行营业时间调整",
             "港湾银行的钱还取得出来吗？", "Harbor Bank opens a branch on Elm St", "Great service at Harbor Bank!"]
    labels = ["negative", "positive", "neutral", "negative", "neutral", "positive"]
    rows = []
    for k, pid in enumerate(ids):
        row = {"id": pid, "lang": "en" if k % 3 != 2 else "zh-Hans", "text": texts[k % 6],
               "polarity": labels[k % 6], "related": True, "crisis": k % 6 == 3,
               "narrative": "withdrawals" if k % 6 == 3 else "none"}
        if split:
            row["split"] = split
        rows.append(json.dumps(row, ensure_ascii=False))
    return "\n".join(rows) + "\n"


@pytest.fixture
def frozen(tmp_path: Path) -> Path:
    """A set directory whose test.jsonl is frozen: its hash and ids in FROZEN."""
    test = tmp_path / "test.jsonl"
    test.write_text(_rows("t-1", "t-2"), encoding="utf-8")
    digest = hashlib.sha256(test.read_bytes()).hexdigest()
    (tmp_path / "FROZEN").write_text(f"sha256 {digest}  test.jsonl\nid t-1\nid t-2\n", encoding="utf-8")
    return tmp_path / "FROZEN"


def test_the_frozen_file_is_refused_without_being_read(frozen: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_reading(self: Path) -> bytes:
        raise AssertionError(f"{self} was read")

    monkeypatch.setattr(Path, "read_bytes", no_reading)
    with pytest.raises(trainer.FrozenData, match="not read"):
        trainer.load_rows(frozen.parent / "test.jsonl", frozen)


def test_a_copy_of_the_frozen_file_is_refused_by_its_hash(frozen: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy" / "anything.jsonl"
    copy.parent.mkdir()
    copy.write_bytes((frozen.parent / "test.jsonl").read_bytes())
    with pytest.raises(trainer.FrozenData, match="SHA-256"):
        trainer.load_rows(copy, frozen)


def test_a_file_holding_a_frozen_post_is_refused(frozen: Path, tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(_rows("d-1", "d-2", "t-2", "d-3"), encoding="utf-8")
    with pytest.raises(trainer.FrozenData, match="t-2"):
        trainer.load_rows(mixed, frozen)


def test_rows_of_the_test_split_are_refused(frozen: Path, tmp_path: Path) -> None:
    split = tmp_path / "posts.jsonl"
    split.write_text(_rows("d-1", "d-2", split="test"), encoding="utf-8")
    with pytest.raises(trainer.FrozenData, match="split 'test'"):
        trainer.load_rows(split, frozen)


def test_the_command_refuses_and_writes_nothing(frozen: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(trainer, "FROZEN", frozen)
    monkeypatch.setattr(trainer, "write", lambda *a, **k: pytest.fail("package data written"))
    assert trainer.main(["--data", str(frozen.parent / "test.jsonl")]) == 2
    assert "refused" in capsys.readouterr().err


def test_dev_rows_are_read_and_the_same_rows_train_the_same_bytes(frozen: Path, tmp_path: Path) -> None:
    dev = tmp_path / "dev.jsonl"
    dev.write_text(_rows(*(f"d-{k}" for k in range(12))), encoding="utf-8")
    rows, label, digest = trainer.load_rows(dev, frozen)
    assert len(rows) == 12 and label == "polarity" and digest == hashlib.sha256(dev.read_bytes()).hexdigest()
    settings = trainer.Settings(bits=12, epochs=4, threshold=0.0)
    shipped = []
    for _ in range(2):
        heads = trainer.train_heads(trainer.featurise(rows, label, bits=12), settings)
        header, q, stories = trainer.quantise(heads, settings, {"data_sha256": digest})
        shipped.append((json.dumps(header, sort_keys=True), q.tobytes(), stories))
    assert shipped[0] == shipped[1]
    narratives = tmp_path / "narratives.bin"
    narratives.write_bytes(stories)
    model = reputation.Model(json.loads(shipped[0][0]), q, str(narratives))
    reputation.use(model)
    try:
        learned = [score_text(r["text"]) for r in rows]
    finally:
        reputation.use(None)
    assert sum(s.sentiment_label == r["polarity"] for s, r in zip(learned, rows)) >= 10     # it learned its rows
    assert sum(s.is_crisis == r["crisis"] for s, r in zip(learned, rows)) >= 10
    assert any(s.learned_narrative == "withdrawals" for s in learned)     # the rows' only narrative


def test_the_earlier_set_is_its_dev_split_only(frozen: Path) -> None:
    rows, label, _ = trainer.load_rows(trainer.EARLIER, frozen)
    assert label == "sentiment" and rows and all(r["split"] == "dev" for r in rows)


def test_the_default_batches_are_every_dev_post_a_later_batch_included_and_first_keeps_the_first_batchs(
        frozen: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from crisiscomms_local import labelled_set

    monkeypatch.setattr(labelled_set, "LATER_BATCHES", (*labelled_set.LATER_BATCHES, "batch9"))
    dev = tmp_path / "dev.jsonl"
    dev.write_text(_rows("d-1", "d-2", "batch2-en-1", "batch3-zh-1", "batch9-en-2"), encoding="utf-8")
    rows, _, _ = trainer.load_rows(dev, frozen, batches=trainer.BATCHES)
    assert [r["id"] for r in rows] == ["d-1", "d-2", "batch2-en-1", "batch3-zh-1", "batch9-en-2"]
    rows, _, _ = trainer.load_rows(dev, frozen, batches=("first", "batch2"))
    assert [r["id"] for r in rows] == ["d-1", "d-2", "batch2-en-1"]
    rows, _, _ = trainer.load_rows(dev, frozen, batches=("first",))
    assert [r["id"] for r in rows] == ["d-1", "d-2"]


def test_the_scorer_applies_the_no_term_threshold_the_trainer_measured(frozen: Path, tmp_path: Path) -> None:
    """Shipped (what the folds measure) and score_text agree on every row's crisis decision when a post
    without a crisis term needs a larger margin than one with a term."""
    dev = tmp_path / "dev.jsonl"
    dev.write_text(_rows(*(f"d-{k}" for k in range(12))), encoding="utf-8")
    rows, label, _ = trainer.load_rows(dev, frozen)
    examples = trainer.featurise(rows, label, bits=12)
    decisions = set()
    for no_term in (-0.5, 0.5, 1.5, 3.0):
        settings = trainer.Settings(bits=12, epochs=4, threshold=-0.5, threshold_no_term=no_term)
        header, q, stories = trainer.quantise(trainer.train_heads(examples, settings), settings, {})
        assert header.get("crisis_no_term", 0.0) == max(0.0, no_term + 0.5)
        shipped = trainer.Shipped(header, q, stories)
        narratives = tmp_path / f"narratives{no_term}.bin"
        narratives.write_bytes(stories)
        reputation.use(reputation.Model(header, q, str(narratives)))
        try:
            for row, example in zip(rows, examples):
                margin = shipped.margins(example)[2]
                if abs(margin) > 1e-9:
                    assert score_text(row["text"]).is_crisis == (margin > 0), (row["text"], no_term)
                decisions.add((row["text"], margin > 0))
        finally:
            reputation.use(None)
    assert len(decisions) > len({t for t, _ in decisions}), "no threshold changed a decision"


def _folds(rows: list[tuple[bool, bool, float]]) -> trainer.Folds:
    """Folds of (has a crisis term, crisis, crisis margin) rows, without training."""
    folds = object.__new__(trainer.Folds)
    no_evidence = [0.0] * len(reputation.EVIDENCE)
    folds.examples = [trainer.Example([], tuple(no_evidence[:1] + [0.5 if term else 0.0] + no_evidence[2:]), 1,
                                      int(crisis), None, None, "en" if k % 2 else "zh")
                      for k, (term, crisis, _) in enumerate(rows)]
    folds.margins = [(-1.0, -1.0, margin) for _, _, margin in rows]
    folds.narratives = [None] * len(rows)
    return folds


def test_the_no_term_threshold_is_the_smallest_whose_calls_are_right_often_enough() -> None:
    rows = ([(True, True, 0.0)] * 8 + [(True, False, -2.0)] * 8       # with a term: any threshold below 0
            # without, the calls above: 0.7 right 4 of 4, 0.3 .. 0.7 4 of 5, -0.3 .. 0.3 4 of 7, -3 .. -0.3 4 of 9
            + [(False, True, 1.0)] * 4 + [(False, False, 0.7)] + [(False, False, 0.3)] * 2
            + [(False, False, -0.3)] * 2 + [(False, False, -3.0)] * 6)
    folds = _folds(rows)
    assert [folds.no_term_precision(t) for t in (-0.5, -0.25, 0.25, 0.5, 0.75)] == pytest.approx(
        [4 / 9, 4 / 7, 4 / 7, 4 / 5, 1.0])
    threshold, no_term = folds.best_thresholds(0.7)
    assert no_term == 0.5 and threshold <= no_term
    assert folds.best_thresholds(0.5)[1] == -0.25      # 4 of 7 is enough
    assert folds.figures(threshold, no_term)["crisis"]["all"] > folds.figures(threshold)["crisis"]["all"]


# ---------------------------------------------------------------- the Naive Bayes scale of the grams
def _nb_rows() -> list[tuple[list[tuple[int, float]], tuple[float, ...], int]]:
    """Bucket 1 only in class 1's rows, bucket 2 in every row of both, bucket 3 twice in class 0's."""
    rows = [([(1, 1.0), (2, 1.0)], (), 1) for _ in range(6)] + [([(2, 1.0)], (), 0) for _ in range(6)]
    return rows + [([(2, 1.0), (3, 1.0)], (), 0) for _ in range(2)]


def test_the_nb_scale_weighs_a_bucket_by_how_well_it_tells_the_classes_apart() -> None:
    rows = _nb_rows()
    scales = trainer.nb_scales(rows, 2, 1.0, alpha=1.0)
    assert set(scales) == {1, 2, 3}
    assert abs(sum(scales.values()) / len(scales) - 1.0) < 1e-9     # the L2's strength keeps its meaning
    assert scales[1] > scales[3] > scales[2]     # one class only, six rows; one class, two rows; both
    softer = trainer.nb_scales(rows, 2, 0.5, alpha=1.0)
    assert max(softer.values()) / min(softer.values()) < max(scales.values()) / min(scales.values())
    smoothed = trainer.nb_scales(rows, 2, 1.0, alpha=5.0)     # a rare bucket's ratio shrinks the most
    assert smoothed[3] / smoothed[1] < scales[3] / scales[1]
    assert set(trainer.nb_scales(rows, 2, 0.0).values()) == {1.0}


def test_the_nb_scaled_head_reads_unscaled_grams_as_it_was_trained_on_scaled_ones() -> None:
    rows = _nb_rows()
    plain = trainer.train(rows, 2, 1e-3, epochs=3)
    unscaled = trainer.train_scaled(rows, 2, 1e-3, 0.0, epochs=3)
    assert (unscaled.grams, unscaled.evidence, unscaled.bias) == (plain.grams, plain.evidence, plain.bias)
    scales = trainer.nb_scales(rows, 2, 1.0)
    inner = trainer.train([([(b, x * scales[b]) for b, x in f], ev, y) for f, ev, y in rows], 2, 1e-3, epochs=3)
    folded = trainer.train_scaled(rows, 2, 1e-3, 1.0, epochs=3)
    assert folded.bias == inner.bias
    for feats, _, _ in rows:
        for c in range(2):
            read = sum(folded.grams[b][c] * x for b, x in feats)
            trained = sum(inner.grams[b][c] * x * scales[b] for b, x in feats)
            assert abs(read - trained) < 1e-12
    assert folded.grams[1] != plain.grams[1]
