"""Evaluate crisiscomms.scoring against the labelled posts, with VADER as the baseline.

    python -m crisiscomms_local.evaluate_scoring              the reputation set: dev and test side by side
    python -m crisiscomms_local.evaluate_scoring --earlier    the earlier set (author tone): dev and holdout
    python -m crisiscomms_local.evaluate_scoring --json       machine-readable (either set)
    python -m crisiscomms_local.evaluate_scoring --dev        the reputation set's dev split alone (while tuning)
    python -m crisiscomms_local.evaluate_scoring --errors     the dev posts the scorer gets wrong

The reputation set (tests/data/reputation/, labels defined in its GUIDE.md): dev.jsonl, what the
polarity model is trained on and the lexicons may be tuned on, and test.jsonl, frozen (its
SHA-256 is recorded in FROZEN, checked here) and read by this command only, to report. Rows:
id, lang (en | zh-Hans | zh-Hant), platform, entity, styles, text, related, polarity, crisis,
narrative. Figures per language group (en; zh = zh-Hans + zh-Hant; all):

    polarity   macro-F1 of the scorer's sentiment_label (polarity for reputation) over the three
               classes, on every post and on the posts about their bank (related); beside it
               the lexicon's tone read as polarity, and VADER (English) with its standard
               thresholds (compound >= 0.05 positive, <= -0.05 negative)
    crisis     precision, recall and F1 of is_crisis, crisis the positive class
    narrative  on the crisis posts the scorer also calls crisis: the share whose narrative
               (narratives.narrative_for: the terms', else the narrative head's) is the
               labelled one, and the share left as `other`

The earlier set (tests/data/labelled_posts.jsonl; id, lang en | zh, text, sentiment, crisis,
split dev | holdout) is labelled with the author's tone: it measures ``tone_label``.

Metrics are implemented here (no sklearn). VADER (vaderSentiment, a dev dependency) is imported
lazily.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

from crisiscomms.scoring import score_text
from crisiscomms.scoring.narratives import OTHER, narrative_for

LABELS = ("negative", "neutral", "positive")
ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "tests" / "data" / "labelled_posts.jsonl"
REPUTATION = ROOT / "tests" / "data" / "reputation"
SPLITS = ("dev", "test")
GROUPS = ("en", "zh", "all")


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


def group(lang: str) -> str:
    return "en" if lang == "en" else "zh" if lang.startswith("zh") else lang


# ---------------------------------------------------------------- the reputation set
def frozen_hash(set_dir: Path = REPUTATION, name: str = "test.jsonl") -> str | None:
    """The SHA-256 FROZEN records for ``name``, or None."""
    frozen = set_dir / "FROZEN"
    if not frozen.exists():
        return None
    for line in frozen.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "sha256" and parts[2] == name:
            return parts[1].lower()
    return None


def evaluate_reputation(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Polarity (all posts, related posts), the tone read as polarity, VADER (English) and crisis."""
    scored = [(row, score_text(row["text"])) for row in rows]
    result: dict[str, Any] = {"n": len(rows), "polarity": {}, "polarity_related": {}, "tone": {},
                              "crisis": {}, "narrative": {}, "vader": {}}
    for name in GROUPS:
        members = [(r, s) for r, s in scored if name == "all" or group(r["lang"]) == name]
        if not members:
            continue
        related = [(r, s) for r, s in members if r.get("related", True)]
        gold = [r["polarity"] for r, _ in members]
        result["polarity"][name] = sentiment_metrics(gold, [s.sentiment_label for _, s in members])
        result["polarity_related"][name] = sentiment_metrics(
            [r["polarity"] for r, _ in related], [s.sentiment_label for _, s in related])
        result["tone"][name] = sentiment_metrics(gold, [s.tone_label for _, s in members])
        result["crisis"][name] = crisis_metrics([bool(r["crisis"]) for r, _ in members],
                                                [s.is_crisis for _, s in members])
        found = [(r["narrative"], narrative_for(s)) for r, s in members if r["crisis"] and s.is_crisis]
        result["narrative"][name] = {
            "n": len(found), "accuracy": round(accuracy([g for g, _ in found], [p for _, p in found]), 4),
            "other_share": round(sum(p == OTHER for _, p in found) / len(found), 4) if found else 0.0}
    en = [r for r in rows if group(r["lang"]) == "en"]
    labels = vader_labels(r["text"] for r in en) if en else None
    if labels is not None:
        result["vader"]["en"] = sentiment_metrics([r["polarity"] for r in en], labels)
    return result


def report_reputation(results: dict[str, dict[str, Any]], notes: Sequence[str]) -> str:
    """dev and test side by side."""
    splits = list(results)
    width = 15

    def row(title: str, cell) -> str:
        return f"  {title:<34}" + "".join(f"{cell(results[s]):>{width}}" for s in splits)

    def f1(metric: str, name: str, key: str = "macro_f1"):
        def cell(res: dict[str, Any]) -> str:
            m = res[metric].get(name)
            return f"{m[key]:.3f} ({m['n']})" if m else "-"
        return cell

    out = [f"{'':<36}" + "".join(f"{s:>{width}}" for s in splits)]
    out.append("polarity for reputation, macro-F1 (n)")
    for name in GROUPS:
        out.append(row(f"crisiscomms {name}", f1("polarity", name)))
    for name in GROUPS:
        out.append(row(f"crisiscomms {name}, related posts", f1("polarity_related", name)))
    for name in GROUPS:
        out.append(row(f"lexicon tone as polarity {name}", f1("tone", name)))
    out.append(row("VADER en", f1("vader", "en")))
    out.append("crisis F1 (n)")
    for name in GROUPS:
        out.append(row(f"crisiscomms {name}", f1("crisis", name, "f1")))
    out.append("narrative of the crisis posts found: accuracy (n), share left `other`")
    for name in GROUPS:
        out.append(row(f"crisiscomms {name}", lambda res, name=name: (
            f"{res['narrative'][name]['accuracy']:.3f} ({res['narrative'][name]['n']})"
            if name in res["narrative"] else "-")))
    out.append(row("left `other`, all", lambda res: f"{res['narrative']['all']['other_share']:.3f}"
                   if "all" in res["narrative"] else "-"))
    out.append("confusion of polarity, all posts (rows gold, columns predicted: neg neu pos)")
    for s in splits:
        m = results[s]["polarity"]["all"]["confusion"]
        out.append(f"  {s:<6}" + "   ".join(" ".join(f"{m[g][p]:>4}" for p in LABELS) for g in LABELS))
    out += list(notes)
    return "\n".join(out)


def run_reputation(set_dir: Path, as_json: bool, errors: bool, splits: Sequence[str] = SPLITS) -> int:
    results: dict[str, dict[str, Any]] = {}
    notes: list[str] = [_cross_validated()]
    for split in splits:
        path = set_dir / f"{split}.jsonl"
        if not path.exists():
            notes.append(f"{path.name}: not there yet")
            continue
        if split == "test":
            recorded = frozen_hash(set_dir)
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
            notes.append("test.jsonl: " + ("its SHA-256 is the one FROZEN records" if recorded == actual
                                           else "NOT the frozen file (SHA-256 differs from FROZEN)"
                                           if recorded else "no SHA-256 recorded in FROZEN"))
        if split == "held":
            notes.append("held.jsonl: batches labelled like dev and not trained on (labelled_set.HELD_BATCHES)")
        rows = load_rows(path)
        results[split] = evaluate_reputation(rows)
        if errors and split == "dev":
            print(_errors(rows, "polarity"))
    if not results:
        print(f"no reputation set in {set_dir}", file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps({**results, "notes": notes}, indent=2, ensure_ascii=False))
    else:
        print(report_reputation(results, notes))
    return 0


def _cross_validated() -> str:
    """The shipped model's k-fold figures on the rows it was trained on (its header records them):
    the honest dev figures, the dev column above being the model's fit."""
    from crisiscomms.scoring import reputation

    training = reputation.model().header.get("training", {})
    for key, cv in training.items():
        if key.startswith("cv") and isinstance(cv, dict):
            p, c = cv.get("polarity_macro_f1", {}), cv.get("crisis_f1", {})
            return (f"dev, {key[2:]}-fold cross-validation (the model's fit is the dev column): polarity en "
                    f"{p.get('en', 0):.3f} zh {p.get('zh', 0):.3f}, crisis en {c.get('en', 0):.3f} "
                    f"zh {c.get('zh', 0):.3f}")
    return "dev: no cross-validated figures recorded (python -m crisiscomms_local.train_reputation --cv 5)"


# ---------------------------------------------------------------- the earlier set (author tone)
def evaluate(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Metrics of the scorer's tone (what the earlier set is labelled with), its polarity for
    reference, crisis, and the VADER baseline on English rows."""
    scored = [(row, score_text(row["text"])) for row in rows]
    result: dict[str, Any] = {"n": len(rows), "tone": {}, "polarity": {}, "crisis": {}, "vader": None}
    groups = {"overall": scored,
              "en": [x for x in scored if x[0]["lang"] == "en"],
              "zh": [x for x in scored if x[0]["lang"] == "zh"]}
    for name, members in groups.items():
        if not members:
            continue
        gold = [r["sentiment"] for r, _ in members]
        result["tone"][name] = sentiment_metrics(gold, [s.tone_label for _, s in members])
        result["polarity"][name] = sentiment_metrics(gold, [s.sentiment_label for _, s in members])
        result["crisis"][name] = crisis_metrics(
            [bool(r["crisis"]) for r, _ in members], [s.is_crisis for _, s in members])
    en_rows = [r for r in rows if r["lang"] == "en"]
    if en_rows:
        labels = vader_labels(r["text"] for r in en_rows)
        if labels is not None:
            gold = [r["sentiment"] for r in en_rows]
            result["vader"] = {"en": sentiment_metrics(gold, labels)}
    return result


def _fmt_confusion(m: dict[str, dict[str, int]]) -> str:
    head = "gold \\ pred".ljust(12) + "".join(lab[:8].rjust(10) for lab in LABELS)
    lines = [head]
    for g in LABELS:
        lines.append(g.ljust(12) + "".join(str(m[g][p]).rjust(10) for p in LABELS))
    return "\n".join(lines)


def report(name: str, res: dict[str, Any]) -> str:
    out = [f"== split: {name} ({res['n']} posts)"]
    out.append("author's tone (3 classes)  n    accuracy  macro-F1")
    for grp in ("en", "zh", "overall"):
        m = res["tone"].get(grp)
        if m:
            out.append(f"  crisiscomms {grp:<9} {m['n']:>5}    {m['accuracy']:.3f}     {m['macro_f1']:.3f}")
    vader = (res.get("vader") or {}).get("en")
    if vader:
        out.append(f"  VADER       {'en':<9} {vader['n']:>5}    {vader['accuracy']:.3f}     "
                   f"{vader['macro_f1']:.3f}   (baseline, same English rows)")
    else:
        out.append("  VADER baseline: vaderSentiment not installed")
    m = res["polarity"].get("overall")
    if m:
        out.append(f"  polarity for reputation against these tone labels: macro-F1 {m['macro_f1']:.3f} "
                   "(a different question: for reference)")
    out.append("crisis (positive = crisis) n    accuracy  precision  recall  F1")
    for grp in ("en", "zh", "overall"):
        m = res["crisis"].get(grp)
        if m:
            out.append(f"  crisiscomms {grp:<9} {m['n']:>5}    {m['accuracy']:.3f}     "
                       f"{m['precision']:.3f}      {m['recall']:.3f}   {m['f1']:.3f}")
    out.append("confusion matrix, crisiscomms tone (all languages):")
    out.append(_fmt_confusion(res["tone"]["overall"]["confusion"]))
    return "\n".join(out)


def _errors(rows: Sequence[dict[str, Any]], label: str = "sentiment") -> str:
    """The posts whose label (``polarity``: the sentiment; ``sentiment``: the earlier set's,
    the tone) or crisis flag the scorer gets wrong."""
    lines = []
    for row in rows:
        s = score_text(row["text"])
        predicted = s.sentiment_label if label == "polarity" else s.tone_label
        value = s.sentiment if label == "polarity" else s.tone
        bad_s = predicted != row[label]
        bad_c = s.is_crisis != bool(row["crisis"])
        if bad_s or bad_c:
            terms = ", ".join(f"{h.matched}{'(neg)' if h.negated else ''}" for h in s.crisis_terms)
            lines.append(
                f"{row['id']}: gold {row[label]}/{'crisis' if row['crisis'] else '-'}"
                f" pred {predicted}({value:+.2f}, tone {s.tone:+.2f})/"
                f"{'crisis' if s.is_crisis else '-'}({s.crisis_weight}) [{terms}]\n    {row['text']}")
    return "\n".join(lines)


def run_earlier(path: Path, split: str | None, as_json: bool, errors: bool) -> int:
    if not path.exists():
        print(f"dataset not found: {path}", file=sys.stderr)
        return 2
    splits = [split] if split else ["dev", "holdout"]
    results = {}
    for name in splits:
        rows = load_rows(path, name)
        results[name] = evaluate(rows)
        if errors:
            print(_errors(rows))
    if as_json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        print("\n\n".join(report(name, res) for name, res in results.items()))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--earlier", action="store_true",
                    help="the earlier set (labelled_posts.jsonl, author tone) instead of the reputation set")
    ap.add_argument("--split", choices=("dev", "holdout", "all"), default=None,
                    help="the earlier set: one split (default: dev and holdout)")
    ap.add_argument("--data", type=Path, default=None,
                    help="the earlier set's file, or the reputation set's directory")
    ap.add_argument("--json", action="store_true", help="print the metrics as JSON")
    ap.add_argument("--dev", action="store_true", help="the reputation set's dev split alone")
    ap.add_argument("--held", action="store_true",
                    help="the reputation set's dev split and its held batches (held.jsonl: labelled, not trained on)")
    ap.add_argument("--errors", action="store_true", help="list the dev posts the scorer gets wrong")
    args = ap.parse_args(argv)
    set_dir = args.data or REPUTATION
    if args.earlier or args.split or not (set_dir / "dev.jsonl").exists():
        return run_earlier(args.data if args.earlier and args.data else DATASET, args.split, args.json, args.errors)
    return run_reputation(set_dir, args.json, args.errors,
                          ("dev",) if args.dev else ("dev", "held") if args.held else SPLITS)


if __name__ == "__main__":
    sys.exit(main())
