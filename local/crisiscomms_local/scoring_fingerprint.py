"""A fingerprint of every Score the scorer gives a fixed set of texts, so that a change made for
speed can be shown to change no result.

    python -m crisiscomms_local.scoring_fingerprint                      check (exit 1 on a difference)
    python -m crisiscomms_local.scoring_fingerprint --write-fingerprint  regenerate (after a retrain)

Texts: the reputation set's dev split (tests/data/reputation/dev.jsonl, its texts only), the
earlier set's (tests/data/labelled_posts.jsonl, what `tasks.py bench` scores) and a few edge
cases (empty, past reputation.LONG_POST, other scripts).  Each is scored with reach and
interactions drawn from its own CRC-32, and one in seven also with a Comprehend tone, so a case
depends on its text alone: relabelling or adding rows leaves the other cases comparable.  A
Score's repr holds every field (floats to the bit, an int 0 apart from 0.0); each case keeps the
first 12 hex digits of the SHA-256 of it, keyed by the SHA-256 of the text.

The fingerprint (tests/data/scoring_fingerprint.json) records the SHA-256 of the model's weight
files: a retrain changes scores legitimately, is told apart from a code change by those, and
calls for the second command above, run with the code the new weights ship with.
tests/unit/test_scoring_fingerprint.py checks it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FINGERPRINT = ROOT / "tests" / "data" / "scoring_fingerprint.json"
SOURCES = (ROOT / "tests" / "data" / "reputation" / "dev.jsonl", ROOT / "tests" / "data" / "labelled_posts.jsonl")
WRITE_COMMAND = "python -m crisiscomms_local.scoring_fingerprint --write-fingerprint"
MIN_SHARED = 0.5            # below this share of the recorded cases still present, the texts changed too much
_EDGE = (
    "", " ", "!!!", "ok", "BANK RUN AT HARBOR BANK!!! CAN'T WITHDRAW", "Ｈａｒｂｏｒ　Ｂａｎｋ　ＡＴＭ　ｄｏｗｎ？",
    "港湾银行挤兑" * 1400,                       # past reputation.LONG_POST: the plain sums
    "Harbor Bank can't withdraw " * 400,
    "💸💸💸 🙃 🏦", "Банк закрыт, деньги не выдают", "\u00e9t\u00e9 \u212a\u017f bank's run", "a\ud800b",
)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def model_files() -> dict[str, str]:
    """File name -> SHA-256 of each of the shipped model's weight files."""
    from crisiscomms.scoring import reputation

    return {Path(p).name: hashlib.sha256(Path(p).read_bytes()).hexdigest()
            for p in (reputation.HEADER_FILE, reputation.WEIGHTS_FILE, reputation.NARRATIVES_FILE)}


def texts() -> list[str]:
    """The texts, in a fixed order, each once."""
    out = [json.loads(line)["text"] for source in SOURCES
           for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    return list(dict.fromkeys(out + list(_EDGE)))


def cases() -> list[tuple[str, str, dict[str, Any]]]:
    """(case key, text, score_text's keyword arguments): each text's, from the text alone."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for text in texts():
        key = hashlib.sha256(_utf8(text)).hexdigest()[:16]
        h = zlib.crc32(_utf8(text))
        counts = {"followers": h % 2_000_000, "likes": (h >> 3) % 5000, "reposts": (h >> 7) % 97,
                  "replies": (h >> 11) % 13, "quotes": (h >> 13) % 5}
        out.append((key, text, counts))
        if h % 7 == 3:
            out.append((key + ":tone", text, dict(counts, tone_override=(h % 21 - 10) / 10.0)))
    return out


def digests() -> dict[str, str]:
    """Case key -> the first 12 hex digits of the SHA-256 of the repr of its Score."""
    from crisiscomms.scoring import score_text

    return {key: hashlib.sha256(_utf8(repr(score_text(text, **kw)))).hexdigest()[:12] for key, text, kw in cases()}


def fingerprint() -> dict[str, Any]:
    scores = digests()
    return {"regenerate": WRITE_COMMAND, "model_files": model_files(), "cases": len(scores), "scores": scores}


def differences(expected: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """What differs between the recorded fingerprint and the one found, in words ([] when nothing);
    cases whose text is in only one of them are not compared."""
    if expected["model_files"] != found["model_files"]:
        return [f"the model's weight files are not those the fingerprint was written with (retrained?): "
                f"regenerate it with `{WRITE_COMMAND}`"]
    old, new = expected["scores"], found["scores"]
    shared = old.keys() & new.keys()
    if len(shared) < MIN_SHARED * len(old):
        return [f"only {len(shared)} of the {len(old)} recorded texts are still in the sources: "
                f"regenerate the fingerprint with `{WRITE_COMMAND}`"]
    changed = sorted(key for key in shared if old[key] != new[key])
    if changed:
        return [f"{len(changed)} of {len(shared)} scores differ from the fingerprint, e.g. cases {', '.join(changed[:6])}"]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write-fingerprint", action="store_true", help=f"write {FINGERPRINT.name}")
    args = parser.parse_args(argv)
    found = fingerprint()
    if args.write_fingerprint:
        FINGERPRINT.write_text(json.dumps(found, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {FINGERPRINT.relative_to(ROOT)}: {found['cases']} scores")
        return 0
    expected = json.loads(FINGERPRINT.read_text(encoding="utf-8"))
    problems = differences(expected, found)
    shared = len(expected["scores"].keys() & found["scores"].keys())
    print("\n".join(problems) or f"{shared} scores match the fingerprint ({found['cases'] - shared} new cases not compared)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
