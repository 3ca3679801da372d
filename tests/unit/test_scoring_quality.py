"""Quality floors of crisiscomms.scoring on the labelled posts.

The earlier set (labelled_posts.jsonl, dev and holdout) is labelled with the author's tone,
which ``tone_label`` measures; the floors sit about 0.05 below the figures measured when the
lexicons were last tuned (on dev only; holdout is the honest figure):

    split    tone macro-F1 (en / zh / all)        crisis F1 (en / zh / all)   VADER en macro-F1
    dev      0.921 / 0.931 / 0.927                0.977 / 0.974 / 0.975       0.485
    holdout  0.578 / 0.636 / 0.609                0.825 / 0.812 / 0.818       0.438

Re-measure with ``python -m crisiscomms_local.evaluate_scoring --earlier`` and move the floors
with the figures when the lexicons or the dataset change.  The reputation set's dev split
(what the polarity model is trained on) is checked below; its frozen test split is read by
the evaluation command alone.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from crisiscomms.scoring import reputation

from crisiscomms_local.evaluate_scoring import DATASET, REPUTATION, evaluate, evaluate_reputation, load_rows

FLOORS = {
    # split: {(metric, group): floor}
    "dev": {
        ("tone", "en"): 0.87, ("tone", "zh"): 0.88, ("tone", "overall"): 0.87,
        ("crisis", "en"): 0.92, ("crisis", "zh"): 0.92, ("crisis", "overall"): 0.92,
    },
    "holdout": {
        ("tone", "en"): 0.52, ("tone", "zh"): 0.58, ("tone", "overall"): 0.55,
        ("crisis", "en"): 0.77, ("crisis", "zh"): 0.76, ("crisis", "overall"): 0.76,
    },
}


@pytest.fixture(scope="module")
def results() -> dict:
    if not DATASET.exists():
        pytest.skip(f"labelled dataset absent: {DATASET}")
    return {split: evaluate(load_rows(DATASET, split)) for split in FLOORS}


@pytest.mark.parametrize("split", sorted(FLOORS))
def test_quality_floors(results, split):
    res = results[split]
    failures = []
    for (metric, group), floor in FLOORS[split].items():
        m = res[metric][group]
        value = m["macro_f1"] if metric == "tone" else m["f1"]
        if value < floor:
            failures.append(f"{split} {metric} {group}: {value:.3f} < floor {floor}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("split", sorted(FLOORS))
def test_beats_vader_on_english(results, split):
    pytest.importorskip("vaderSentiment", reason="VADER baseline (dev dependency) not installed")
    res = results[split]
    ours = res["tone"]["en"]
    vader = res["vader"]["en"]
    assert ours["n"] == vader["n"] > 0
    assert ours["macro_f1"] > vader["macro_f1"] + 0.05, (ours["macro_f1"], vader["macro_f1"])
    assert ours["accuracy"] > vader["accuracy"]


def test_evaluate_reports_every_metric(results):
    res = results["dev"]
    for group in ("en", "zh", "overall"):
        for metric in ("tone", "polarity"):
            s = res[metric][group]
            assert set(s) >= {"n", "accuracy", "macro_f1", "per_class_f1", "confusion"}
            assert sum(sum(row.values()) for row in s["confusion"].values()) == s["n"]
        c = res["crisis"][group]
        assert set(c) >= {"n", "accuracy", "precision", "recall", "f1"}
    assert res["tone"]["overall"]["n"] == res["n"]


def test_metrics_on_a_hand_computed_case():
    from crisiscomms_local.evaluate_scoring import accuracy, confusion, f1_for, macro_f1

    gold = ["negative", "negative", "neutral", "positive", "positive", "neutral"]
    pred = ["negative", "neutral", "neutral", "positive", "negative", "neutral"]
    assert accuracy(gold, pred) == pytest.approx(4 / 6)
    # negative: tp 1, fp 1, fn 1 -> 0.5; neutral: tp 2, fp 1, fn 0 -> 0.8;
    # positive: tp 1, fp 0, fn 1 -> 0.6667
    assert f1_for(gold, pred, "neutral")[2] == pytest.approx(0.8)
    assert macro_f1(gold, pred) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert confusion(gold, pred)["positive"]["negative"] == 1
    assert f1_for([True, False], [False, False], True) == (0.0, 0.0, 0.0)


# ---------------------------------------------------------------- the reputation set's dev split
DEV = REPUTATION / "dev.jsonl"


@pytest.fixture(scope="module")
def reputation_dev() -> dict:
    return evaluate_reputation(load_rows(DEV))


@pytest.fixture(scope="module")
def reputation_learned() -> dict:
    """The dev rows of the batches the shipped model was trained on (its header records them)."""
    import json

    from crisiscomms_local.labelled_set import batch_of

    header = json.loads((Path(reputation.__file__).parent / "reputation_model.json").read_text(encoding="utf-8"))
    batches = header["training"]["batches"]
    rows = [r for r in load_rows(DEV) if "all" in batches or batch_of(r["id"]) in batches]
    return evaluate_reputation(rows)


@pytest.mark.parametrize("group", ["en", "zh"])
def test_polarity_beats_the_tone_read_as_polarity_on_the_rows_it_learned(reputation_learned, group):
    """The model is trained on these rows: far above the lexicon's tone, or it did not learn."""
    assert reputation_learned["polarity"][group]["macro_f1"] >= reputation_learned["tone"][group]["macro_f1"] + 0.15


def test_the_reputation_report_counts_every_dev_row(reputation_dev):
    assert reputation_dev["polarity"]["all"]["n"] == reputation_dev["n"] == len(load_rows(DEV))
    assert reputation_dev["polarity"]["en"]["n"] + reputation_dev["polarity"]["zh"]["n"] == reputation_dev["n"]
    assert reputation_dev["polarity_related"]["all"]["n"] == sum(1 for r in load_rows(DEV) if r["related"])


def test_the_held_batches_are_no_shipped_model_s_training_rows_and_the_evaluations_read_them(capsys) -> None:
    """held.jsonl measures the model on posts it never learned from: none of its ids or texts is a dev row, its
    batches are none the shipped model records, and both evaluation commands put it beside dev."""
    import json

    from crisiscomms_local import evaluate_relatedness, evaluate_scoring
    from crisiscomms_local.labelled_set import HELD_BATCHES, batch_of

    held, dev = load_rows(REPUTATION / "held.jsonl"), load_rows(DEV)
    assert len(held) >= 800 and {batch_of(r["id"]) for r in held} == set(HELD_BATCHES)
    assert not {r["id"] for r in held} & {r["id"] for r in dev} and not {r["text"] for r in held} & {r["text"] for r in dev}
    header = json.loads((Path(reputation.__file__).parent / "reputation_model.json").read_text(encoding="utf-8"))
    assert not set(HELD_BATCHES) & set(header["training"]["rows_by_batch"])
    assert evaluate_scoring.main(["--held"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["dev", "held"] and any(line.startswith("held.jsonl: ") for line in lines)
    assert evaluate_relatedness.main(["--held"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split() == ["dev", "held"]
