"""Build the labelled set for reputation monitoring: posts, two labelling passes, agreement, adjudication.

    python -m crisiscomms_local.labelled_set screen DIR    a new batch's drafts: shuffled, posts close to a test post left out
    python -m crisiscomms_local.labelled_set assemble      drafts + earlier set -> posts.jsonl, to_label.jsonl
    python -m crisiscomms_local.labelled_set agreement     pass_a + pass_b -> Cohen's kappa, disagreements.jsonl
    python -m crisiscomms_local.labelled_set finalise      agreed + adjudicated labels -> dev.jsonl, test.jsonl, FROZEN
                                                           (and held.jsonl)

The test split is drawn once, at assembly, from the posts written after the lexicons were tuned, before
any labels exist: by language, the posts whose SHA-256 of the text sorts first. Later batches
(`drafts/batch<N>/<lang>-<part>.jsonl`) are written after the split was frozen and go to dev only:
the frozen split never grows or changes. A batch listed in HELD_BATCHES is labelled the same way but
held out of dev (`held.jsonl`): data no shipped model was trained on, read to measure the model on
posts unlike the ones it learned from, until a round moves it to LATER_BATCHES. `finalise` records the
test file's hash and ids in FROZEN; the trainer refuses that file and those ids, and a test holds the
file to its hash. Labellers get `to_label.jsonl`, which leaves out what a post was written to
exercise (its styles), so a label comes from the text alone.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SET_DIR = ROOT / "tests" / "data" / "reputation"
EARLIER_SET = ROOT / "tests" / "data" / "labelled_posts.jsonl"
LABELS = ("related", "polarity", "crisis", "narrative")
POLARITIES = ("negative", "neutral", "positive")
NARRATIVES = ("bank_run", "withdrawals", "insolvency", "frozen_accounts", "outage", "data_breach", "fraud",
              "regulator", "executives", "layoffs_closures", "other", "none")
LANGS = ("en", "zh-Hans", "zh-Hant")
DRAFTS = {"en": "en.jsonl", "zh-Hans": "zh-Hans.jsonl", "zh-Hant": "zh-Hant.jsonl"}
LATER_BATCHES = ("batch2", "batch3", "batch4", "batch5", "batch6", "batch7", "batch8", "batch9")
HELD_BATCHES = ("batch10", "batch11", "batch12")    # labelled, not trained on (held.jsonl)
TEST_SHARE = 0.38


def later_batches() -> tuple[str, ...]:
    """Every batch after the first, in the order they were written, trained on or held: a batch moved
    between the two lists keeps its place (and its posts their ids) in posts.jsonl."""
    return tuple(sorted((*LATER_BATCHES, *HELD_BATCHES), key=lambda batch: int(batch.removeprefix("batch"))))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entity_of(text: str, entities: dict[str, Any]) -> str:
    """The entity whose name (or ambiguous name) the text contains, else `any`."""
    folded = text.casefold()
    for key, entity in entities.items():
        if key.startswith("_") or key == "any":
            continue
        if any(n.casefold().lstrip("@") in folded for n in entity["names"] + entity["ambiguous"]):
            return key
    return "any"


def assemble(set_dir: Path = SET_DIR, earlier: Path = EARLIER_SET, test_share: float = TEST_SHARE) -> dict[str, int]:
    """posts.jsonl (with split) and to_label.jsonl (without styles or split) from the drafts and the earlier set."""
    from crisiscomms.scoring import detect_language

    entities = json.loads((set_dir / "entities.json").read_text(encoding="utf-8"))
    posts: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in read_jsonl(earlier):
        lang = row["lang"] if row["lang"] == "en" else detect_language(row["text"])
        if lang not in LANGS:
            lang = "zh-Hans"
        seen.add(row["text"])
        posts.append({"id": f"e-{row['id']}", "lang": lang, "platform": "unknown",
                      "entity": entity_of(row["text"], entities), "styles": [], "text": row["text"],
                      "split": "dev"})
    for lang, name in DRAFTS.items():
        drafts = [d for d in read_jsonl(set_dir / "drafts" / name) if d["text"] not in seen]
        for d in drafts:
            seen.add(d["text"])
        ranked = sorted(drafts, key=lambda d: _text_key(d["text"]))
        n_test = math.ceil(len(ranked) * test_share)
        test_texts = {d["text"] for d in ranked[:n_test]}
        for number, d in enumerate(drafts, 1):
            if d["entity"] not in entities:
                raise ValueError(f"draft {lang} #{number}: unknown entity {d['entity']!r}")
            posts.append({"id": f"{lang}-{number:04d}", "lang": lang, "platform": d["platform"],
                          "entity": d["entity"], "styles": d.get("styles", []), "text": d["text"],
                          "split": "test" if d["text"] in test_texts else "dev"})
    for batch in later_batches():
        posts += _later_batch(set_dir / "drafts" / batch, batch, entities, seen,
                              "held" if batch in HELD_BATCHES else "dev")
    write_jsonl(set_dir / "posts.jsonl", posts)
    write_jsonl(set_dir / "to_label.jsonl",
                ({k: p[k] for k in ("id", "lang", "platform", "entity", "text")} for p in posts))
    return dict(Counter(p["split"] for p in posts))


def _later_batch(folder: Path, batch: str, entities: dict[str, Any], seen: set[str],
                 split: str = "dev") -> list[dict[str, Any]]:
    """A batch written after the test split was frozen: every post in ``split`` (dev, or held), numbered per
    language in file order."""
    posts: list[dict[str, Any]] = []
    numbers: Counter[str] = Counter()
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        for line, d in enumerate(read_jsonl(path), 1):
            if d["lang"] not in LANGS or d["entity"] not in entities or d["entity"] == "any":
                raise ValueError(f"{path.name} line {line}: lang {d['lang']!r} / entity {d['entity']!r} not allowed")
            if d["text"] in seen:
                continue
            seen.add(d["text"])
            numbers[d["lang"]] += 1
            posts.append({"id": f"{batch}-{d['lang']}-{numbers[d['lang']]:04d}", "lang": d["lang"],
                          "platform": d["platform"], "entity": d["entity"], "styles": d.get("styles", []),
                          "text": d["text"], "split": split})
    return posts


# ---------------------------------------------------------------- screening a new batch
NEAR_TEST_SHARE = 0.5   # a draft sharing this share of its character trigrams with a test post is left out


def trigrams(text: str) -> set[str]:
    folded = " ".join(text.casefold().split())
    return {folded[i:i + 3] for i in range(len(folded) - 2)} or {folded}


def screen(folder: Path, set_dir: Path = SET_DIR) -> dict[str, int]:
    """Ready a new batch's drafts for labelling, in place: posts sharing NEAR_TEST_SHARE of their character
    trigrams with a test post are left out (the frozen split stays unlike anything trained on), the rest
    shuffled with the batch's name as seed, so labellers do not meet them in the order they were written."""
    tests = [trigrams(row["text"]) for row in read_jsonl(set_dir / "test.jsonl")]
    kept = left_out = 0
    for path in sorted(folder.glob("*.jsonl")):
        rows = []
        for row in read_jsonl(path):
            grams = trigrams(row["text"])
            if any(len(grams & test) >= NEAR_TEST_SHARE * len(grams) for test in tests):
                left_out += 1
            else:
                rows.append(row)
        random.Random(f"{folder.name}/{path.name}").shuffle(rows)
        write_jsonl(path, rows)
        kept += len(rows)
    return {"kept": kept, "left_out": left_out}


# ---------------------------------------------------------------- agreement
def batch_of(post_id: str) -> str:
    """Which batch a post came in: a later batch's name prefixes its ids."""
    return next((b for b in later_batches() if post_id.startswith(f"{b}-")), "first")


def cohen_kappa(first: Sequence[Any], second: Sequence[Any]) -> float:
    """Agreement beyond chance between two labellers over the same items."""
    if len(first) != len(second) or not first:
        raise ValueError("two equally long, non-empty label lists are needed")
    n = len(first)
    observed = sum(a == b for a, b in zip(first, second)) / n
    count_a, count_b = Counter(first), Counter(second)
    expected = sum(count_a[k] * count_b[k] for k in count_a) / (n * n)
    if expected == 1.0:
        return 1.0
    return (observed - expected) / (1.0 - expected)


def validate_pass(rows: list[dict[str, Any]], ids: set[str], name: str) -> dict[str, dict[str, Any]]:
    """The pass by id, after checking every post is labelled once with allowed values."""
    by_id: dict[str, dict[str, Any]] = {}
    for row in rows:
        rid = row.get("id")
        if rid not in ids:
            raise ValueError(f"{name}: unknown id {rid!r}")
        if rid in by_id:
            raise ValueError(f"{name}: {rid} labelled twice")
        if not isinstance(row.get("related"), bool) or not isinstance(row.get("crisis"), bool):
            raise ValueError(f"{name}: {rid}: related and crisis must be true or false")
        if row.get("polarity") not in POLARITIES:
            raise ValueError(f"{name}: {rid}: polarity {row.get('polarity')!r}")
        if row.get("narrative") not in NARRATIVES:
            raise ValueError(f"{name}: {rid}: narrative {row.get('narrative')!r}")
        by_id[rid] = row
    missing = ids - by_id.keys()
    if missing:
        raise ValueError(f"{name}: {len(missing)} posts unlabelled, e.g. {sorted(missing)[:3]}")
    return by_id


def _posts_and_passes(set_dir: Path) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The posts and both passes, each pass checked to label every post once."""
    posts = read_jsonl(set_dir / "posts.jsonl")
    ids = {p["id"] for p in posts}
    return (posts, validate_pass(read_jsonl(set_dir / "pass_a.jsonl"), ids, "pass_a"),
            validate_pass(read_jsonl(set_dir / "pass_b.jsonl"), ids, "pass_b"))


def agreement(set_dir: Path = SET_DIR) -> dict[str, Any]:
    posts, a, b = _posts_and_passes(set_dir)
    order = [p["id"] for p in posts]
    report: dict[str, Any] = {"posts": len(order), "kappa": {}, "agreement": {}}
    for label in LABELS:
        first = [a[i][label] for i in order]
        second = [b[i][label] for i in order]
        report["kappa"][label] = round(cohen_kappa(first, second), 3)
        report["agreement"][label] = round(sum(x == y for x, y in zip(first, second)) / len(order), 3)
    for lang in LANGS:
        subset = [p["id"] for p in posts if p["lang"] == lang]
        if subset:
            report["kappa"][f"polarity:{lang}"] = round(
                cohen_kappa([a[i]["polarity"] for i in subset], [b[i]["polarity"] for i in subset]), 3)
    for batch in ("first", *later_batches()):
        subset = [p["id"] for p in posts if batch_of(p["id"]) == batch]
        if subset:
            report.setdefault("kappa_by_batch", {})[batch] = {
                "posts": len(subset),
                **{label: round(cohen_kappa([a[i][label] for i in subset], [b[i][label] for i in subset]), 3)
                   for label in LABELS}}
    disagreements = [
        {"id": p["id"], "entity": p["entity"], "text": p["text"],
         "a": {k: a[p["id"]][k] for k in LABELS}, "b": {k: b[p["id"]][k] for k in LABELS},
         "differ": [k for k in LABELS if a[p["id"]][k] != b[p["id"]][k]]}
        for p in posts if any(a[p["id"]][k] != b[p["id"]][k] for k in LABELS)]
    write_jsonl(set_dir / "disagreements.jsonl", disagreements)
    report["disagreements"] = len(disagreements)
    (set_dir / "agreement.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


# ---------------------------------------------------------------- finalise
def finalise(set_dir: Path = SET_DIR) -> dict[str, int]:
    """Gold labels: agreed ones as they are, the rest from adjudication.jsonl (id, labels, rule)."""
    posts, a, b = _posts_and_passes(set_dir)
    adjudicated = {r["id"]: r for r in read_jsonl(set_dir / "adjudication.jsonl")}
    out: dict[str, list[dict[str, Any]]] = {"dev": [], "test": [], "held": []}
    for p in posts:
        pid = p["id"]
        if all(a[pid][k] == b[pid][k] for k in LABELS):
            gold = {k: a[pid][k] for k in LABELS}
        elif pid in adjudicated:
            gold = {k: adjudicated[pid][k] for k in LABELS}
        else:
            raise ValueError(f"{pid}: the passes disagree and there is no adjudication")
        if not gold["related"] and (gold["polarity"], gold["crisis"], gold["narrative"]) != ("neutral", False, "none"):
            raise ValueError(f"{pid}: an unrelated post is neutral, not crisis, narrative none (GUIDE.md 1)")
        if gold["crisis"] == (gold["narrative"] == "none"):
            raise ValueError(f"{pid}: a crisis post has a narrative and only a crisis post has one (GUIDE.md 4)")
        out[p["split"]].append({**{k: p[k] for k in ("id", "lang", "platform", "entity", "styles", "text")}, **gold})
    write_jsonl(set_dir / "dev.jsonl", out["dev"])
    write_jsonl(set_dir / "test.jsonl", out["test"])
    if out["held"]:
        write_jsonl(set_dir / "held.jsonl", out["held"])
    frozen = [f"sha256 {sha256_file(set_dir / 'test.jsonl')}  test.jsonl"]
    frozen += [f"id {row['id']}" for row in out["test"]]
    (set_dir / "FROZEN").write_text("\n".join(frozen) + "\n", encoding="utf-8")
    return {k: len(v) for k, v in out.items() if v or k != "held"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("screen", "assemble", "agreement", "finalise"))
    parser.add_argument("folder", nargs="?", type=Path, help="screen: the new batch's drafts folder")
    args = parser.parse_args(argv)
    if args.step == "screen":
        if args.folder is None or not args.folder.is_dir():
            parser.error("screen needs the new batch's drafts folder")
        result = screen(args.folder)
    else:
        result = {"assemble": assemble, "agreement": agreement, "finalise": finalise}[args.step]()
    json.dump(result, sys.stdout, indent=1, ensure_ascii=False)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
