"""Evaluate crisiscomms.scoring against the labelled posts, with VADER as the baseline.

    python -m crisiscomms_local.evaluate_scoring                 dev and holdout
    python -m crisiscomms_local.evaluate_scoring --split dev     one split (dev|holdout|all)
    python -m crisiscomms_local.evaluate_scoring --json          machine-readable

Dataset: tests/data/labelled_posts.jsonl, one JSON object a line with
id, lang ("en"|"zh"), text, sentiment ("negative"|"neutral"|"positive"),
crisis (bool) and split ("dev"|"holdout").  The lexicons are tuned on dev only;
holdout is the honest figure.

Metrics are implemented here (no sklearn): accuracy, per-class F1, macro-F1 over the
three sentiment classes, and accuracy / precision / recall / F1 with crisis as the
positive class.  VADER (vaderSentiment, a dev dependency imported lazily) scores the
same English rows with its standard thresholds: compound >= 0.05 positive,
<= -0.05 negative, neutral in between.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

from crisiscomms.scoring import score_text

LABELS = ("negative", "neutral", "positive")
DATASET = Path(__file__).resolve().parents[2] / "tests" / "data" / "labelled_posts.jsonl"


def load_rows(path: Path = DATASET, split: str = "all") -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            row = json.loads(line)
            if split == "all" or row.get("split") == split:
                rows.append(row)
    return rows


# ---------------------------------------------------------------- metrics
def confusion(gold: Sequence[str], pred: Sequence[str],
              labels: Sequence[str] = LABELS) -> dict[str, dict[str, int]]:
    """matrix[gold][pred] = count."""
    m = {g: {p: 0 for p in labels} for g in labels}
    for g, p in zip(gold, pred):
        m[g][p] += 1
    return m


def accuracy(gold: Sequence[Any], pred: Sequence[Any]) -> float:
    if not gold:
        return 0.0
    return sum(1 for g, p in zip(gold, pred) if g == p) / len(gold)


def f1_for(gold: Sequence[Any], pred: Sequence[Any], positive: Any) -> tuple[float, float, float]:
    """(precision, recall, F1) for one class; 0 where undefined."""
    tp = sum(1 for g, p in zip(gold, pred) if g == positive and p == positive)
    fp = sum(1 for g, p in zip(gold, pred) if g != positive and p == positive)
    fn = sum(1 for g, p in zip(gold, pred) if g == positive and p != positive)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def macro_f1(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] = LABELS) -> float:
    """Unweighted mean of the per-class F1 over the classes present in gold or pred."""
    present = [lab for lab in labels if lab in gold or lab in pred]
    if not present:
        return 0.0
    return sum(f1_for(gold, pred, lab)[2] for lab in present) / len(present)


def sentiment_metrics(gold: Sequence[str], pred: Sequence[str]) -> dict[str, Any]:
    return {
        "n": len(gold),
        "accuracy": round(accuracy(gold, pred), 4),
        "macro_f1": round(macro_f1(gold, pred), 4),
        "per_class_f1": {lab: round(f1_for(gold, pred, lab)[2], 4) for lab in LABELS},
        "confusion": confusion(gold, pred),
    }


def crisis_metrics(gold: Sequence[bool], pred: Sequence[bool]) -> dict[str, Any]:
    p, r, f = f1_for(gold, pred, True)
    return {"n": len(gold), "accuracy": round(accuracy(gold, pred), 4),
            "precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}


def vader_labels(texts: Iterable[str]) -> list[str] | None:
    """VADER's labels with its standard thresholds, or None when it is not installed."""
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:  # pragma: no cover - dev dependency
        return None
    analyzer = SentimentIntensityAnalyzer()
    out = []
    for text in texts:
        c = analyzer.polarity_scores(text)["compound"]
        out.append("positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral")
    return out


def evaluate(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Metrics of the project scorer (and the VADER baseline on English rows)."""
    scored = [(row, score_text(row["text"])) for row in rows]
    result: dict[str, Any] = {"n": len(rows), "sentiment": {}, "crisis": {}, "vader": None}
    groups = {"overall": scored,
              "en": [x for x in scored if x[0]["lang"] == "en"],
              "zh": [x for x in scored if x[0]["lang"] == "zh"]}
    for name, group in groups.items():
        if not group:
            continue
        result["sentiment"][name] = sentiment_metrics(
            [r["sentiment"] for r, _ in group], [s.sentiment_label for _, s in group])
        result["crisis"][name] = crisis_metrics(
            [bool(r["crisis"]) for r, _ in group], [s.is_crisis for _, s in group])
    en_rows = [r for r in rows if r["lang"] == "en"]
    if en_rows:
        labels = vader_labels(r["text"] for r in en_rows)
        if labels is not None:
            gold = [r["sentiment"] for r in en_rows]
            result["vader"] = {"en": sentiment_metrics(gold, labels)}
    return result


# ---------------------------------------------------------------- report
def _fmt_confusion(m: dict[str, dict[str, int]]) -> str:
    head = "gold \\ pred".ljust(12) + "".join(lab[:8].rjust(10) for lab in LABELS)
    lines = [head]
    for g in LABELS:
        lines.append(g.ljust(12) + "".join(str(m[g][p]).rjust(10) for p in LABELS))
    return "\n".join(lines)


def report(name: str, res: dict[str, Any]) -> str:
    out = [f"== split: {name} ({res['n']} posts)"]
    out.append("sentiment (3 classes)      n    accuracy  macro-F1")
    for grp in ("en", "zh", "overall"):
        m = res["sentiment"].get(grp)
        if m:
            out.append(f"  crisiscomms {grp:<9} {m['n']:>5}    {m['accuracy']:.3f}     {m['macro_f1']:.3f}")
    vader = (res.get("vader") or {}).get("en")
    if vader:
        out.append(f"  VADER       {'en':<9} {vader['n']:>5}    {vader['accuracy']:.3f}     "
                   f"{vader['macro_f1']:.3f}   (baseline, same English rows)")
    else:
        out.append("  VADER baseline: vaderSentiment not installed")
    out.append("crisis (positive = crisis) n    accuracy  precision  recall  F1")
    for grp in ("en", "zh", "overall"):
        m = res["crisis"].get(grp)
        if m:
            out.append(f"  crisiscomms {grp:<9} {m['n']:>5}    {m['accuracy']:.3f}     "
                       f"{m['precision']:.3f}      {m['recall']:.3f}   {m['f1']:.3f}")
    out.append("confusion matrix, crisiscomms sentiment (all languages):")
    out.append(_fmt_confusion(res["sentiment"]["overall"]["confusion"]))
    return "\n".join(out)


def _errors(rows: Sequence[dict[str, Any]]) -> str:
    lines = []
    for row in rows:
        s = score_text(row["text"])
        bad_s = s.sentiment_label != row["sentiment"]
        bad_c = s.is_crisis != bool(row["crisis"])
        if bad_s or bad_c:
            terms = ", ".join(f"{h.matched}{'(neg)' if h.negated else ''}" for h in s.crisis_terms)
            lines.append(
                f"{row['id']}: gold {row['sentiment']}/{'crisis' if row['crisis'] else '-'}"
                f" pred {s.sentiment_label}({s.sentiment:+.2f})/"
                f"{'crisis' if s.is_crisis else '-'}({s.crisis_weight}) [{terms}]\n    {row['text']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=("dev", "holdout", "all"), default=None,
                    help="evaluate one split (default: dev and holdout)")
    ap.add_argument("--data", type=Path, default=DATASET)
    ap.add_argument("--json", action="store_true", help="print the metrics as JSON")
    ap.add_argument("--errors", action="store_true",
                    help="list the posts the scorer gets wrong (use on dev only)")
    args = ap.parse_args(argv)
    if not args.data.exists():
        print(f"dataset not found: {args.data}", file=sys.stderr)
        return 2
    splits = [args.split] if args.split else ["dev", "holdout"]
    results = {}
    for split in splits:
        rows = load_rows(args.data, split)
        results[split] = evaluate(rows)
        if args.errors:
            print(_errors(rows))
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        print("\n\n".join(report(name, res) for name, res in results.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
