"""Evaluate entity filtering on the labelled set's ambiguous-name posts, dev and test side by side.

    python -m crisiscomms_local.evaluate_relatedness                 accuracy per split and language
    python -m crisiscomms_local.evaluate_relatedness --json          machine-readable
    python -m crisiscomms_local.evaluate_relatedness --errors        also list the dev posts decided wrongly

Each bank of tests/data/reputation/entities.json becomes a topic (its `names` and `ambiguous`), as a
watch configuration would declare it. A post of style `ambiguous_name` is run through the topic
matcher for its entity: predicted related when the matcher counts it for that topic, unrelated when
it is found only through ambiguous names and judged unrelated, or not found at all. Accuracy is
against the labelled `related`. Only dev posts are ever listed (--errors): rules are tuned on dev,
the test split gives the honest figure and is checked against the hash recorded in FROZEN.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from crisiscomms.listening.topics import TopicMatcher
from crisiscomms.models import Post
from crisiscomms.watch import Topic
from crisiscomms_local.labelled_set import SET_DIR, read_jsonl, sha256_file

STYLE = "ambiguous_name"
SPLITS = ("dev", "test")
TARGET = 0.90  # issue 13: relatedness accuracy on the test split's ambiguous-name posts


def topics(set_dir: Path = SET_DIR) -> dict[str, Topic]:
    """The labelled set's banks as watch topics (the catch-all `any` has no names and is left out)."""
    entities = json.loads((set_dir / "entities.json").read_text(encoding="utf-8"))
    return {key: Topic(id=key, names=entity["names"], ambiguous=entity["ambiguous"])
            for key, entity in entities.items() if not key.startswith("_") and entity.get("names")}


class Predictor:
    """The topic matcher over every bank, and per bank one without its ambiguous names (to tell how)."""

    def __init__(self, known: dict[str, Topic]) -> None:
        self._matcher = TopicMatcher(list(known.values()))
        self._names_only = {key: TopicMatcher([t.model_copy(update={"ambiguous": []})]) for key, t in known.items()}

    def __call__(self, entity: str, text: str) -> tuple[bool, str]:
        """(related, how): how is `name` (found through an unambiguous name), `judged` or `not found`."""
        post = Post(platform="x", native_id="eval", source_type="social", source_id="eval", url="",
                    author="someone", text=text, published_at=datetime(2026, 1, 1, tzinfo=timezone.utc))
        relation = self._matcher.relate(post)
        if entity in relation.related:
            return True, "name" if self._names_only[entity].match(post) else "judged"
        return False, "judged" if entity in relation.unrelated else "not found"


def evaluate(set_dir: Path = SET_DIR, splits: tuple[str, ...] = SPLITS) -> dict[str, Any]:
    """Accuracy per split (`splits`: while tuning, dev alone keeps the test figure out of sight)."""
    known = topics(set_dir)
    predict = Predictor(known)
    result: dict[str, Any] = {"style": STYLE, "target_test": TARGET, "splits": {}, "dev_errors": []}
    for split in splits:
        path = set_dir / f"{split}.jsonl"
        if not path.exists():
            result["splits"][split] = None
            continue
        rows = [r for r in read_jsonl(path) if STYLE in (r.get("styles") or []) and r.get("entity") in known]
        outcome: Counter[str] = Counter()
        by_lang: dict[str, Counter[str]] = {}
        for row in rows:
            related, how = predict(row["entity"], row["text"])
            right = related == bool(row["related"])
            key = "right" if right else "wrong"
            outcome[key] += 1
            outcome[f"{how}:{key}"] += 1
            by_lang.setdefault(row["lang"], Counter())[key] += 1
            if not right and split == "dev":
                result["dev_errors"].append({"id": row["id"], "entity": row["entity"], "labelled": row["related"],
                                             "how": how, "text": row["text"],
                                             "signs": list(_signs(known[row["entity"]], row["text"]))})
        result["splits"][split] = {
            "posts": len(rows),
            "accuracy": round(outcome["right"] / len(rows), 3) if rows else None,
            "labelled_related": sum(bool(r["related"]) for r in rows),
            "by_language": {lang: {"posts": sum(c.values()), "accuracy": round(c["right"] / sum(c.values()), 3)}
                            for lang, c in sorted(by_lang.items())},
            "how": {k: v for k, v in sorted(outcome.items()) if ":" in k},
        }
    result["test_hash"] = _frozen_check(set_dir)
    return result


def _signs(topic: Topic, text: str) -> tuple[str, ...]:
    from crisiscomms.listening.relatedness import judge

    return judge(text, topic.ambiguous).signs if topic.ambiguous else ()


def _frozen_check(set_dir: Path) -> str:
    """Whether test.jsonl is the file FROZEN recorded (a changed test split is no honest figure)."""
    frozen, test = set_dir / "FROZEN", set_dir / "test.jsonl"
    if not test.exists():
        return "no test split yet"
    if not frozen.exists():
        return "no FROZEN record"
    recorded = next((line.split()[1] for line in frozen.read_text(encoding="utf-8").splitlines()
                     if line.startswith("sha256 ")), None)
    return "matches FROZEN" if recorded == sha256_file(test) else "DIFFERS from FROZEN"


def render(result: dict[str, Any], *, errors: bool = False) -> str:
    splits = result["splits"]
    columns = ("dev", "held") if "held" in splits else ("dev", "test")
    out = [f"Relatedness accuracy on posts of style {result['style']!r} (target on test >= {result['target_test']:.2f})",
           f"{'':<12}" + "".join(f"{c:>16}" for c in columns)]

    def cell(split: str, pick: Any) -> str:
        if split not in splits:
            return "left out"
        figures = splits[split]
        if figures is None:
            return "not yet"
        value = pick(figures)
        return "-" if value is None else value

    out.append(f"{'posts':<12}" + "".join(f"{cell(c, lambda f: str(f['posts'])):>16}" for c in columns))
    out.append(f"{'accuracy':<12}" + "".join(f"{cell(c, lambda f: _pct(f['accuracy'])):>16}" for c in columns))
    langs = sorted({lang for f in splits.values() if f for lang in f["by_language"]})
    for lang in langs:
        def of(f: dict[str, Any], lang: str = lang) -> str | None:
            figures = f["by_language"].get(lang)
            return f"{_pct(figures['accuracy'])} ({figures['posts']})" if figures else None
        out.append(f"{'  ' + lang:<12}" + "".join(f"{cell(c, of):>16}" for c in columns))
    out.append(f"test split: {result['test_hash']}")
    if errors:
        out.append("")
        out.append(f"dev posts decided wrongly ({len(result['dev_errors'])}):")
        for e in result["dev_errors"]:
            out.append(f"  {e['id']} {e['entity']} labelled {'related' if e['labelled'] else 'unrelated'}"
                       f" ({e['how']}): {e['text']}")
            if e["signs"]:
                out.append(f"      {'; '.join(e['signs'])}")
    return "\n".join(out)


def _pct(value: float | None) -> str | None:
    return None if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--errors", action="store_true", help="list the dev posts decided wrongly")
    parser.add_argument("--dev-only", action="store_true", help="leave the test split out (while tuning)")
    parser.add_argument("--held", action="store_true",
                        help="dev and the held batches (held.jsonl: labelled, not trained on) instead of dev and test")
    args = parser.parse_args(argv)
    result = evaluate(splits=("dev",) if args.dev_only else ("dev", "held") if args.held else SPLITS)
    if args.json:
        json.dump(result if args.errors else {**result, "dev_errors": len(result["dev_errors"])}, sys.stdout,
                  indent=1, ensure_ascii=False)
        print()
    else:
        print(render(result, errors=args.errors))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
