"""Train the reputation models (polarity, crisis, narrative) on the dev split and write them as package data.

    python -m crisiscomms_local.train_reputation                 train on the dev split, record 5-fold figures, write
    python -m crisiscomms_local.train_reputation --search        the 5-fold table of settings and the ones it picks
    python -m crisiscomms_local.train_reputation --dry-run       train and cross-validate, write nothing
    python -m crisiscomms_local.train_reputation --data FILE --l2 3e-3 --threshold -0.25

Data: tests/data/reputation/dev.jsonl (labels ``polarity``, ``crisis``, ``narrative``) when it
exists, else the dev split of tests/data/labelled_posts.jsonl (label ``sentiment``, the author's
tone: for plumbing only). A row whose ``split`` is given must be ``dev``; rows of any other split
are left out. The batches in ``BATCHES`` are trained on (every dev post, a later batch of
``labelled_set.LATER_BATCHES`` included; ``--batches first``: the first batch's alone).

The frozen test split is never read. tests/data/reputation/FROZEN lists the SHA-256 of its file
(``sha256 <hex>  test.jsonl``) and its ids (``id <id>``): an input that is that file, has that
hash, holds one of those ids or a row of split ``test`` is refused before anything is trained.

Models (``crisiscomms.scoring.reputation``): three heads over the same features (hashed n-grams
and the lexicon's evidence), read once per row: polarity (3 classes), crisis (2, on every row;
two decision thresholds on its margin, one for a post with a crisis term of the lexicon and a larger
one for a post without, chosen on the cross-validation folds (``Folds.best_thresholds``), the first
folded into its bias, the difference into the header's ``crisis_no_term``) and narrative (the ten
catalogue narratives, on the crisis rows, grams only). Each is trained by SGD on the log-loss with
L2 (``--l2``, ``--l2-crisis``, ``--l2-narrative`` on the n-gram weights, ``--l2-evidence`` on the
evidence's), classes weighted to balance them, rows in a seeded order: the same data and settings
give the same bytes. A head's grams may be scaled by their Naive Bayes log-count ratio while it is
trained (``--nb-polarity``, ``--nb-crisis``, ``--nb-narrative``: the power; see nb_scales), the scale
folded back into the weights. The labelled set's bank names are masked in training (``--no-mask-names``:
not); the scorer masks their English tokens too (the header's ``masked_tokens``). The n-gram
weights are written as int8 (one step per head); biases and evidence weights as floats. The defaults
are the settings ``--search`` chose by 5-fold cross-validation on dev (mean of the en and zh figures;
see ``search`` and L2_CRISIS).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
import time
import zlib
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import accumulate
from pathlib import Path
from typing import Any

from crisiscomms.scoring import english, normalise, polarity_inputs, reputation, score_text
from crisiscomms.scoring.language import fold_chinese
from crisiscomms.scoring.narratives import OTHER, narrative_for
from crisiscomms_local.labelled_set import batch_of

ROOT = Path(__file__).resolve().parents[2]
SET_DIR = ROOT / "tests" / "data" / "reputation"
DEV = SET_DIR / "dev.jsonl"
FROZEN = SET_DIR / "FROZEN"
ENTITIES = SET_DIR / "entities.json"
# words of bank names that are ordinary words, not names (kept as grams)
GENERIC_NAME_WORDS = frozenset({"savings", "trust", "federal", "mutual", "credit", "union", "financial", "card",
                                "china", "united", "merchant", "hang", "sun"})
EARLIER = ROOT / "tests" / "data" / "labelled_posts.jsonl"
LABELS = reputation.LABELS

# chosen by --search (5-fold cross-validation on dev); see the README's "Scoring" section
BUCKET_BITS = 18
LATIN = (3, 5)
HAN = (1, 1)
# 1e-4 on both once the set held five batches (5,816 posts): 3e-4 and 1e-3 chosen on two batches' 2,283
# underfitted the crisis head (crisis F1 on its own training rows 0.90 / 0.80); README, "The models"
L2 = 1e-4
L2_CRISIS = 1e-4
L2_NARRATIVE = 1e-4
# a narrative bucket is shipped only with a weight beyond this many steps: the head is read only for crisis
# posts no term explains, and its smallest weights cost more bytes than they earn (see the README)
NARRATIVE_MIN = 2
L2_EVIDENCE = 1e-5
# Each head's grams are scaled by the Naive Bayes log-count ratio of their bucket to this power before the
# head is trained (0: not scaled), and the scale folded back into the weights (NB_SCALE_ALPHA: its
# smoothing): a bucket that tells the classes apart is penalised less by the L2, one that does not is
# nearly left out.  The scorer reads the weights as before, at the same cost.  Chosen on the 5-fold
# figures of the nine batches (README, "The models"); the narrative head lost accuracy at 0.5 and 1.
NB_POLARITY = 0.5
NB_CRISIS = 0.5
NB_NARRATIVE = 0.0
NB_SCALE_ALPHA = 2.0
# The crisis thresholds on the margin, with and without a crisis term of the lexicon: chosen on the folds
# at each training (Folds.best_thresholds); these (the last chosen) only with --cv 0
CRISIS_THRESHOLD = -0.75
CRISIS_THRESHOLD_NO_TERM: float | None = 0.25
# A crisis call on a post without a crisis term of the lexicon has no term to show the analyst: its
# threshold is the smallest at which such calls were right this often in cross-validation (see
# Folds.best_thresholds); the dev set holds far more crisis posts than a bank's ordinary day does.
NO_TERM_PRECISION = 0.7
CLASS_WEIGHTS = "balanced"  # or "none"; "balanced": each class weighted by the inverse of its share
# The labelled set's batches trained on (crisiscomms_local.labelled_set.batch_of): None, every dev post,
# a batch added later (labelled_set.LATER_BATCHES) included; ("first",) is the first batch's alone.
# A denial's negators and terms give no grams and the scorer masks the names' English tokens as training
# does: without these the model trained on the third batch read a debunk ("This is not a bank run, people")
# as crisis and a withdrawal complaint naming two banks as neutral (README, "The models").
BATCHES: tuple[str, ...] | None = None
# The labelled set's bank names give no grams in training (see bank_names): the set's fictional banks
# are in crisis more often than not, and a name must not teach the models a prior about the next post.
MASK_NAMES = True
EPOCHS = 12
ETA = 0.2
SEED = 13
CV = 5


class FrozenData(Exception):
    """The input is (or holds part of) the frozen test split."""


# ---------------------------------------------------------------- the frozen split
def frozen_record(frozen: Path | None = None) -> tuple[set[str], set[str], set[str]]:
    """(hashes, file names, ids) FROZEN lists; empty when there is no FROZEN yet."""
    frozen = frozen or FROZEN
    hashes: set[str] = set()
    names: set[str] = set()
    ids: set[str] = set()
    if not frozen.exists():
        return hashes, names, ids
    for line in frozen.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "sha256":
            hashes.add(parts[1].lower())
            names.update(parts[2:])
        elif len(parts) >= 2 and parts[0] == "id":
            ids.update(p for part in parts[1:] for p in part.split(",") if p)
    return hashes, names, ids


def read_unfrozen(path: Path, frozen: Path | None = None) -> bytes:
    """The bytes of ``path``, unless it is part of the frozen split (FrozenData)."""
    frozen = frozen or FROZEN
    hashes, names, _ = frozen_record(frozen)
    resolved = path.resolve()
    if resolved.parent == frozen.resolve().parent and resolved.name in names:
        raise FrozenData(f"{path} is the frozen test split: it is not read")     # not even opened
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() in hashes:
        raise FrozenData(f"{path} has the frozen test split's SHA-256")
    return data


def load_rows(path: Path, frozen: Path | None = None,
              batches: tuple[str, ...] | None = None) -> tuple[list[dict[str, Any]], str, str]:
    """(dev rows, label field, SHA-256 of the file) of ``path``; refuses the frozen split. With
    ``batches``, only the rows of those batches of the labelled set."""
    frozen = frozen or FROZEN
    data = read_unfrozen(path, frozen)
    _, _, frozen_ids = frozen_record(frozen)
    rows = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
    leaked = sorted({str(r.get("id")) for r in rows} & frozen_ids)
    if leaked:
        raise FrozenData(f"{path} holds {len(leaked)} post(s) of the frozen test split, e.g. {leaked[0]}")
    if any(r.get("split") == "test" for r in rows):
        raise FrozenData(f"{path} holds rows of split 'test'")
    label = "polarity" if rows and all("polarity" in r for r in rows) else "sentiment"
    dev = [r for r in rows if r.get("split", "dev") == "dev"]
    if batches is not None:
        dev = [r for r in dev if batch_of(str(r.get("id", ""))) in batches]
    bad = [r.get("id") for r in dev if r.get(label) not in LABELS]
    if bad:
        raise ValueError(f"{path}: rows without a {label} label, e.g. {bad[0]}")
    return dev, label, hashlib.sha256(data).hexdigest()


def default_data() -> Path:
    return DEV if DEV.exists() else EARLIER


def group(lang: str) -> str:
    return "en" if lang == "en" else "zh" if lang.startswith("zh") else lang


# ---------------------------------------------------------------- features
class Example:
    """One labelled row as the heads read it: sparse grams as (bucket, count / sqrt(units)), the
    evidence vector, and its labels (crisis and narrative None when the row has none)."""

    __slots__ = ("grams", "evidence", "polarity", "crisis", "narrative", "lexicon_narrative", "group")

    def __init__(self, grams: list[tuple[int, float]], evidence: tuple[float, ...], polarity: int,
                 crisis: int | None, narrative: int | None, lexicon_narrative: str | None, group: str) -> None:
        self.grams = grams
        self.evidence = evidence
        self.polarity = polarity
        self.crisis = crisis
        self.narrative = narrative
        self.lexicon_narrative = lexicon_narrative
        self.group = group


def blank_model(bits: int = BUCKET_BITS, latin: tuple[int, int] = LATIN,
                han: tuple[int, int] = HAN) -> reputation.Model:
    """A model of zero weights: what the features are read with."""
    zero = [(0.0, 0.0, 0.0)] * len(reputation.EVIDENCE)
    return reputation.Model(_header(bits, latin, han, (1.0, 1.0), (0.0, 0.0, 0.0), zero, None, {}),
                            array("b", bytes(3 << bits)), None)


def bank_names(entities: Path | None = None) -> tuple[frozenset[str], tuple[str, ...]]:
    """The labelled set's bank names (entities.json: names and ambiguous names) as the scorer reads
    them: their English tokens but the generic ones (bank, savings, trust ...: the lexicon's banking
    words) and their Chinese spellings, folded.  Training masks them (MASK_NAMES; see
    polarity_inputs), so a bank's name teaches no prior about the next post on it: the set's
    fictional banks are in crisis in most of their posts.  The header lists them and the scorer masks
    them too (``masked_tokens``, ``masked_names``), so training and scoring read a post alike."""
    path = entities or ENTITIES
    if not path.exists():
        return frozenset(), ()
    spelt = [n for key, e in json.loads(path.read_text(encoding="utf-8")).items() if not key.startswith("_")
             for n in (*e.get("names", ()), *e.get("ambiguous", ()))]
    tokens = {t for n in spelt for t in english.tokenize(normalise(n))[0] if t.isalnum() and len(t) > 2}
    generic = {t for t in tokens if english.has_context([t])} | GENERIC_NAME_WORDS
    chinese = set()
    for n in spelt:
        if any(map(reputation.is_han, n)):
            n = fold_chinese(normalise(n), True)
            for suffix in ("商业银行", "银行", "储蓄"):
                n = n.removesuffix(suffix)
            chinese.add(n)
    return frozenset(tokens - generic), tuple(sorted(chinese, key=lambda n: (-len(n), n)))


def featurise(rows: Sequence[dict[str, Any]], label: str, bits: int = BUCKET_BITS,
              latin: tuple[int, int] = LATIN, han: tuple[int, int] = HAN,
              masked: tuple[frozenset[str], tuple[str, ...]] | None = None) -> list[Example]:
    """Every row's features, read once for all three heads (``masked``: see bank_names)."""
    mask = (1 << bits) - 1
    masked = (frozenset(), ()) if masked is None else masked
    reputation.use(blank_model(bits, latin, han))
    try:
        out = []
        for row in rows:
            grams, units, ev = polarity_inputs(row["text"], masked=masked)
            counts = Counter(reputation.bucket(g, mask) for g in grams)
            scale = 1.0 / math.sqrt(units) if units else 0.0
            crisis = None if row.get("crisis") is None else int(bool(row["crisis"]))
            narrative = row.get("narrative")
            terms = score_text(row["text"]).crisis_terms
            by_terms = narrative_for(_Crisis(terms))
            out.append(Example(sorted((b, c * scale) for b, c in counts.items()), reputation.evidence_vector(ev),
                               LABELS.index(row[label]), crisis,
                               reputation.NARRATIVES.index(narrative) if crisis and narrative in reputation.NARRATIVES
                               else None, None if by_terms == OTHER else by_terms, group(row["lang"])))
        return out
    finally:
        reputation.use(None)


class _Crisis:
    """A crisis post with these terms, for narratives.narrative_for."""

    def __init__(self, terms: tuple) -> None:
        self.is_crisis = True
        self.crisis_terms = terms
        self.learned_narrative = None


# ---------------------------------------------------------------- training
class Weights:
    """K-class weights: per bucket, per evidence input, and the biases."""

    def __init__(self, grams: dict[int, list[float]], evidence: list[list[float]], bias: list[float]):
        self.grams = grams
        self.evidence = evidence
        self.bias = bias


def _softmax(z: Sequence[float]) -> list[float]:
    top = max(z)
    e = [math.exp(v - top) for v in z]
    s = sum(e)
    return [v / s for v in e]


def train(data: Sequence[tuple[list[tuple[int, float]], tuple[float, ...], int]], classes: int, l2: float,
          l2_evidence: float = L2_EVIDENCE, epochs: int = EPOCHS, eta: float = ETA, seed: int = SEED,
          balanced: bool = True, ordered: tuple[int, ...] = ()) -> Weights:
    """SGD on the (class-weighted) log-loss of a ``classes``-way softmax with L2; weight decay kept
    as one scale per group so an update costs what the row has, not the model's size.  ``data``:
    (grams, evidence, class) per row.  ``ordered``: evidence (by index) whose class weights are kept in
    class order after every update (projected SGD), so more of it never favours an earlier class."""
    k_range = range(classes)
    n_ev = len(data[0][1]) if data else 0
    grams: dict[int, list[float]] = {}
    for feats, _, _ in data:
        for b, _ in feats:
            grams.setdefault(b, [0.0] * classes)
    evidence = [[0.0] * classes for _ in range(n_ev)]
    bias = [0.0] * classes
    counts = Counter(y for _, _, y in data)
    weight = {y: (len(data) / (len(counts) * c) if balanced else 1.0) for y, c in counts.items()}
    s_g = s_e = 1.0
    order = list(range(len(data)))
    rng = random.Random(seed)
    steps = max(1, epochs * len(data))
    t = 0
    for _ in range(epochs):
        rng.shuffle(order)
        for i in order:
            feats, ev, y = data[i]
            rate = eta / (1.0 + 4.0 * t / steps)
            t += 1
            z = list(bias)
            for b, x in feats:
                sx = s_g * x
                for c, w in zip(k_range, grams[b]):
                    z[c] += w * sx
            for k in range(n_ev):
                x = ev[k]
                if x:
                    sx = s_e * x
                    for c, w in zip(k_range, evidence[k]):
                        z[c] += w * sx
            p = _softmax(z)
            p[y] -= 1.0
            g = [v * weight[y] * rate for v in p]
            s_g *= 1.0 - rate * l2
            s_e *= 1.0 - rate * l2_evidence
            for c in k_range:
                bias[c] -= g[c]
            gg = [v / s_g for v in g]
            for b, x in feats:
                w = grams[b]
                for c in k_range:
                    w[c] -= gg[c] * x
            ge = [v / s_e for v in g]
            for k in range(n_ev):
                x = ev[k]
                if x:
                    w = evidence[k]
                    for c in k_range:
                        w[c] -= ge[c] * x
                    if k in ordered:
                        w[:] = in_order(w)
            if s_g < 1e-3:
                for w in grams.values():
                    w[:] = [v * s_g for v in w]
                s_g = 1.0
            if s_e < 1e-3:
                for w in evidence:
                    w[:] = [v * s_e for v in w]
                s_e = 1.0
    return Weights({b: [v * s_g for v in w] for b, w in grams.items()},
                   [[v * s_e for v in w] for w in evidence], bias)


def nb_scales(data: Sequence[tuple[list[tuple[int, float]], tuple[float, ...], int]], classes: int, power: float,
              alpha: float = NB_SCALE_ALPHA) -> dict[int, float]:
    """Per bucket, the largest |log-count ratio| of a class against the others (the rows holding the
    bucket, smoothed by ``alpha``) to ``power``, divided by its mean over the buckets so the L2's
    strength keeps its meaning (Wang and Manning's NBSVM, one-vs-rest for more than two classes)."""
    held = [Counter() for _ in range(classes)]
    for feats, _, y in data:
        held[y].update(b for b, _ in feats)
    totals = [sum(c.values()) for c in held]
    every = sum(held, Counter())
    total, width = sum(totals), alpha * len(every)
    scales = {}
    for b, n in every.items():
        ratio = max(abs(math.log((held[k][b] + alpha) / (totals[k] + width))
                        - math.log((n - held[k][b] + alpha) / (total - totals[k] + width))) for k in range(classes))
        scales[b] = ratio ** power
    mean = sum(scales.values()) / len(scales) if scales else 1.0
    return {b: v / mean for b, v in scales.items()}


def train_scaled(data: Sequence[tuple[list[tuple[int, float]], tuple[float, ...], int]], classes: int, l2: float,
                 power: float, l2_evidence: float = L2_EVIDENCE, epochs: int = EPOCHS, balanced: bool = True,
                 ordered: tuple[int, ...] = ()) -> Weights:
    """``train`` on the grams scaled by ``nb_scales`` (power 0: unscaled), the scales folded back into the
    gram weights so the model reads unscaled grams."""
    if not power:
        return train(data, classes, l2, l2_evidence, epochs, ETA, SEED, balanced, ordered)
    scales = nb_scales(data, classes, power)
    fitted = train([([(b, x * scales[b]) for b, x in feats], ev, y) for feats, ev, y in data], classes, l2,
                   l2_evidence, epochs, ETA, SEED, balanced, ordered)
    return Weights({b: [v * scales[b] for v in w] for b, w in fitted.grams.items()}, fitted.evidence, fitted.bias)


def in_order(values: Sequence[float]) -> list[float]:
    """The nearest non-decreasing sequence (least squares: adjacent violators pooled into their mean)."""
    blocks: list[list[float]] = []      # [sum, count]
    for v in values:
        blocks.append([v, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    return [total / count for total, count in blocks for _ in range(int(count))]


class Settings:
    """What a model is trained with (the defaults are the ones --search chose)."""

    def __init__(self, bits: int = BUCKET_BITS, latin: tuple[int, int] = LATIN, han: tuple[int, int] = HAN,
                 l2: float = L2, l2_crisis: float = L2_CRISIS, l2_narrative: float = L2_NARRATIVE,
                 l2_evidence: float = L2_EVIDENCE, balanced: bool = CLASS_WEIGHTS == "balanced", evidence: bool = True,
                 threshold: float = CRISIS_THRESHOLD, epochs: int = EPOCHS,
                 threshold_no_term: float | None = CRISIS_THRESHOLD_NO_TERM, mask_names: bool = MASK_NAMES,
                 nb_polarity: float = NB_POLARITY, nb_crisis: float = NB_CRISIS,
                 nb_narrative: float = NB_NARRATIVE) -> None:
        self.bits, self.latin, self.han = bits, latin, han
        self.l2, self.l2_crisis, self.l2_narrative, self.l2_evidence = l2, l2_crisis, l2_narrative, l2_evidence
        self.balanced, self.evidence, self.threshold, self.epochs = balanced, evidence, threshold, epochs
        # the threshold of a post without a crisis term (None: the same as the others')
        self.threshold_no_term = threshold if threshold_no_term is None else max(threshold, threshold_no_term)
        self.mask_names = mask_names
        self.nb_polarity, self.nb_crisis, self.nb_narrative = nb_polarity, nb_crisis, nb_narrative

    def record(self) -> dict[str, Any]:
        return {"latin": list(self.latin), "han": list(self.han), "l2": self.l2, "l2_crisis": self.l2_crisis,
                "l2_narrative": self.l2_narrative, "l2_evidence": self.l2_evidence,
                "class_weights": "balanced" if self.balanced else "none", "lexicon_evidence": self.evidence,
                "crisis_threshold": self.threshold, "crisis_threshold_no_term": self.threshold_no_term,
                "mask_names": self.mask_names, "epochs": self.epochs, "eta": ETA, "seed": SEED,
                "nb_scale_power": {"polarity": self.nb_polarity, "crisis": self.nb_crisis,
                                   "narrative": self.nb_narrative}, "nb_scale_alpha": NB_SCALE_ALPHA}


class Heads:
    """The three heads' weights (narrative None when no row has a narrative)."""

    def __init__(self, polarity: Weights, crisis: Weights, narrative: Weights | None) -> None:
        self.polarity = polarity
        self.crisis = crisis
        self.narrative = narrative


def train_heads(examples: Sequence[Example], settings: Settings, cache: dict | None = None, key: Any = None) -> Heads:
    """Polarity (3 classes), crisis (2) on every row with the label, narrative (10) on the crisis rows.
    ``cache`` (with ``key``, what identifies the rows and their features) keeps each head trained
    once per setting that concerns it."""
    def ev(e: Example) -> tuple[float, ...]:
        return e.evidence if settings.evidence else ()

    def cached(head: str, concerns: tuple, fit: Any) -> Any:
        if cache is None:
            return fit()
        k = (key, head, settings.balanced, settings.evidence, settings.epochs, settings.l2_evidence) + concerns
        if k not in cache:
            cache[k] = fit()
        return cache[k]

    # a kinder tone never reads worse: the tone's weights rise from negative to neutral to positive (LABELS)
    order = (reputation.EVIDENCE.index("tone"),) if settings.evidence else ()
    polarity = cached("polarity", (settings.l2, settings.nb_polarity), lambda: train_scaled(
        [(e.grams, ev(e), e.polarity) for e in examples], 3, settings.l2, settings.nb_polarity,
        settings.l2_evidence, settings.epochs, settings.balanced, ordered=order))
    crisis = cached("crisis", (settings.l2_crisis, settings.nb_crisis), lambda: train_scaled(
        [(e.grams, ev(e), e.crisis) for e in examples if e.crisis is not None], 2, settings.l2_crisis,
        settings.nb_crisis, settings.l2_evidence, settings.epochs, settings.balanced))
    stories = [(e.grams, (), e.narrative) for e in examples if e.narrative is not None]
    narrative = cached("narrative", (settings.l2_narrative, settings.nb_narrative), lambda: train_scaled(
        stories, len(reputation.NARRATIVES), settings.l2_narrative, settings.nb_narrative, settings.l2_evidence,
        settings.epochs, settings.balanced) if stories else None)
    return Heads(polarity, crisis, narrative)


# ---------------------------------------------------------------- the shipped form
def _header(bits: int, latin: tuple[int, int], han: tuple[int, int], steps: tuple[float, float],
            bias: tuple[float, float, float], evidence: list[tuple[float, float, float]],
            narrative: dict[str, Any] | None, training: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": reputation.FORMAT,
        "classes": list(LABELS),
        "heads": list(reputation.HEADS),
        "hash": "crc32 of the gram's UTF-8, low bits",
        "buckets": 1 << bits,
        "latin": list(latin),
        "han": list(han),
        "step": {"polarity": steps[0], "crisis": steps[1]},
        "bias": list(bias),
        "evidence": {"names": list(reputation.EVIDENCE), "weights": [list(w) for w in evidence]},
        "narrative": narrative,
        "training": training,
    }


def _margins(polarity: Sequence[float], crisis: Sequence[float]) -> tuple[float, float, float]:
    """(negative, positive) against neutral, crisis against not."""
    return polarity[0] - polarity[1], polarity[2] - polarity[1], crisis[1] - crisis[0]


def _step(values: Iterable[float]) -> float:
    top = max((abs(v) for v in values), default=0.0)
    return float(f"{top / 127.0:.9g}") if top else 1.0


def quantise(heads: Heads, settings: Settings, training: dict[str, Any],
             evidence_off: bool = False) -> tuple[dict[str, Any], array, bytes]:
    """The header, the int8 margins of every bucket (the negative margin's block, the positive's, the
    crisis head's) and the narrative head's packed buckets."""
    bits = settings.bits
    n_ev = len(reputation.EVIDENCE)
    zero = [0.0, 0.0, 0.0]
    buckets = set(heads.polarity.grams) | set(heads.crisis.grams)
    margins = {b: _margins(heads.polarity.grams.get(b, zero), heads.crisis.grams.get(b, [0.0, 0.0]))
               for b in buckets}
    step_p = _step(v for m in margins.values() for v in m[:2])
    step_c = _step(m[2] for m in margins.values())
    n = 1 << bits
    q = array("b", bytes(3 * n))
    for b, (neg, pos, cri) in margins.items():
        q[b] = int(round(neg / step_p))
        q[n + b] = int(round(pos / step_p))
        q[2 * n + b] = int(round(cri / step_c))
    nonzero = sum(1 for b in range(n) if q[b] or q[n + b] or q[2 * n + b])
    bias = tuple(round(v, 6) for v in _margins(heads.polarity.bias, heads.crisis.bias))
    bias = (bias[0], bias[1], round(bias[2] - settings.threshold, 6))     # the threshold folded in
    if settings.evidence:
        evidence = [tuple(round(v, 6) for v in _margins(p, c))
                    for p, c in zip(heads.polarity.evidence, heads.crisis.evidence)]
    else:
        evidence = [(0.0, 0.0, 0.0)] * n_ev
    narrative, packed = _quantise_narrative(heads.narrative)
    header = _header(bits, settings.latin, settings.han, (step_p, step_c), bias, evidence,  # type: ignore[arg-type]
                     narrative, {**training, "nonzero_buckets": nonzero})
    no_term = round(settings.threshold_no_term - settings.threshold, 6)
    if no_term:         # a post without a crisis term needs this much more margin
        header["crisis_no_term"] = no_term
    return header, q, packed


def _quantise_narrative(weights: Weights | None) -> tuple[dict[str, Any] | None, bytes]:
    """Each bucket's ten weights less their mean (the argmax is the same), as int8 with one step;
    only buckets with a weight beyond NARRATIVE_MIN steps, sorted, their ids stored as the gaps between
    them (which compress far better than the ids)."""
    k = len(reputation.NARRATIVES)
    if weights is None:
        return {"classes": list(reputation.NARRATIVES), "step": 1.0, "bias": [0.0] * k, "buckets": 0,
                "ids": "gaps"}, b""
    centred = {b: [v - sum(w) / k for v in w] for b, w in weights.grams.items()}
    step = _step(v for w in centred.values() for v in w)
    rows = []
    for b in sorted(centred):
        row = [int(round(v / step)) for v in centred[b]]
        if max(map(abs, row)) > NARRATIVE_MIN:
            rows.append((b, row))
    kept = [b for b, _ in rows]
    ids = array("I", [b - a for a, b in zip([0, *kept], kept)])      # each id as the gap from the one before
    if ids.itemsize != 4:           # pragma: no cover
        raise RuntimeError("array('I') is not 32-bit here")
    if sys.byteorder != "little":   # pragma: no cover
        ids.byteswap()
    mean = sum(weights.bias) / k
    header = {"classes": list(reputation.NARRATIVES), "step": step,
              "bias": [round(v - mean, 6) for v in weights.bias], "buckets": len(rows), "ids": "gaps"}
    return header, zlib.compress(ids.tobytes() + array("b", [v for _, row in rows for v in row]).tobytes(), 9)


def write(header: dict[str, Any], q: array, narratives: bytes, header_file: str = reputation.HEADER_FILE,
          weights_file: str = reputation.WEIGHTS_FILE, narratives_file: str = reputation.NARRATIVES_FILE) -> None:
    Path(weights_file).write_bytes(zlib.compress(q.tobytes(), 9))
    Path(narratives_file).write_bytes(narratives)
    Path(header_file).write_text(json.dumps(header, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- measuring
def macro_f1(gold: Sequence[int], pred: Sequence[int]) -> float:
    present = [c for c in range(3) if c in gold or c in pred]
    total = 0.0
    for c in present:
        tp = sum(1 for g, p in zip(gold, pred) if g == c and p == c)
        fp = sum(1 for g, p in zip(gold, pred) if g != c and p == c)
        fn = sum(1 for g, p in zip(gold, pred) if g == c and p != c)
        total += 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return total / len(present) if present else 0.0


def f1(gold: Sequence[bool], pred: Sequence[bool]) -> float:
    tp = sum(1 for g, p in zip(gold, pred) if g and p)
    wrong = sum(1 for g, p in zip(gold, pred) if g != p)
    return 2 * tp / (2 * tp + wrong) if tp else 0.0


class Shipped:
    """Margins of the quantised weights from an Example's features: what score_text computes
    (tests/unit/test_scoring_fastpaths.py holds the two together)."""

    def __init__(self, header: dict[str, Any], q: array, narratives: bytes) -> None:
        self.step = header["step"]
        self.bias = header["bias"]
        self.no_term = float(header.get("crisis_no_term", 0.0))
        self.evidence = header["evidence"]["weights"]
        self.q = q
        self.n = int(header["buckets"])
        nh = header["narrative"] or {}
        k = len(reputation.NARRATIVES)
        self.n_step = float(nh.get("step", 1.0))
        self.n_bias = nh.get("bias", [0.0] * k)
        self.n_rows: dict[int, list[int]] = {}
        if narratives:
            raw = zlib.decompress(narratives)
            n = int(nh["buckets"])
            ids = array("I")
            ids.frombytes(raw[:4 * n])
            weights = array("b")
            weights.frombytes(raw[4 * n:])
            self.n_rows = {b: list(weights[k * i:k * i + k]) for i, b in enumerate(accumulate(ids))}   # gaps

    def margins(self, e: Example) -> tuple[float, float, float]:
        q, n = self.q, self.n
        qn = qp = qc = 0.0
        for b, x in e.grams:
            qn += q[b] * x
            qp += q[n + b] * x
            qc += q[2 * n + b] * x
        neg = self.bias[0] + qn * self.step["polarity"]
        pos = self.bias[1] + qp * self.step["polarity"]
        cri = self.bias[2] + qc * self.step["crisis"]
        for (wn, wp, wc), x in zip(self.evidence, e.evidence):
            if x:
                neg, pos, cri = neg + wn * x, pos + wp * x, cri + wc * x
        if not e.evidence[1]:       # no crisis term (evidence[1]: the crisis weight)
            cri -= self.no_term
        return neg, pos, cri

    def narrative(self, e: Example) -> int:
        k = len(reputation.NARRATIVES)
        totals = [0.0] * k
        for b, x in e.grams:
            row = self.n_rows.get(b)
            if row:
                for c in range(k):
                    totals[c] += row[c] * x
        margins = [b + t * self.n_step for b, t in zip(self.n_bias, totals)]
        return max(range(k), key=lambda c: (margins[c], -c))


def label_index(neg: float, pos: float) -> int:
    return LABELS.index(reputation.label_of(neg, pos))


class Folds:
    """Out-of-fold margins of every row, k-fold by a seeded shuffle (each held-out row read as the scorer
    reads it, which is as training reads it).  ``trained``: which rows a fold may train on (None: all; the
    others are only scored, for a reference on the same folds)."""

    def __init__(self, examples: Sequence[Example], k: int, settings: Settings, cache: dict | None = None,
                 trained: Sequence[bool] | None = None) -> None:
        order = list(range(len(examples)))
        random.Random(SEED + 1).shuffle(order)
        self.margins: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)] * len(examples)
        self.narratives: list[int | None] = [None] * len(examples)
        features = (settings.bits, settings.latin, settings.han, settings.mask_names, k,
                    None if trained is None else tuple(trained))
        at_zero = Settings(**{**settings.__dict__, "threshold": 0.0, "threshold_no_term": 0.0})
        for fold in range(k):
            held = set(order[fold::k])
            heads = train_heads([examples[i] for i in order if i not in held and (trained is None or trained[i])],
                                settings, cache, features + (fold,))
            shipped = Shipped(*quantise(heads, at_zero, {}))
            for i in held:
                self.margins[i] = shipped.margins(examples[i])
                if examples[i].narrative is not None and heads.narrative is not None:
                    self.narratives[i] = shipped.narrative(examples[i])
        self.examples = examples

    def crisis_calls(self, threshold: float, threshold_no_term: float | None = None) -> list[bool]:
        """Each row's crisis decision: margin > threshold, > threshold_no_term without a crisis term."""
        no_term = threshold if threshold_no_term is None else threshold_no_term
        return [m[2] > (threshold if e.evidence[1] else no_term) for e, m in zip(self.examples, self.margins)]

    def figures(self, threshold: float, threshold_no_term: float | None = None) -> dict[str, dict[str, float]]:
        """Polarity macro-F1, crisis F1 (see crisis_calls) per language group and all, and the narrative
        head's accuracy on the crisis rows no term explains."""
        out: dict[str, dict[str, float]] = {"polarity": {}, "crisis": {}, "narrative": {}}
        calls = self.crisis_calls(threshold, threshold_no_term)
        groups = ("en", "zh", "all")
        for name in groups:
            idx = [i for i, e in enumerate(self.examples) if name == "all" or e.group == name]
            if not idx:
                continue
            out["polarity"][name] = round(macro_f1([self.examples[i].polarity for i in idx],
                                                   [label_index(*self.margins[i][:2]) for i in idx]), 4)
            labelled = [i for i in idx if self.examples[i].crisis is not None]
            if labelled:
                out["crisis"][name] = round(f1([bool(self.examples[i].crisis) for i in labelled],
                                               [calls[i] for i in labelled]), 4)
            stories = [i for i in idx if self.narratives[i] is not None]
            if stories:
                no_term = [i for i in stories if self.examples[i].lexicon_narrative is None]
                if no_term:
                    out["narrative"][f"{name}_no_term"] = round(sum(
                        self.narratives[i] == self.examples[i].narrative for i in no_term) / len(no_term), 4)
                out["narrative"][name] = round(sum(
                    (self.examples[i].lexicon_narrative or reputation.NARRATIVES[self.narratives[i]])  # type: ignore[index]
                    == reputation.NARRATIVES[self.examples[i].narrative]  # type: ignore[index]
                    for i in stories) / len(stories), 4)
        return out

    def no_term_precision(self, threshold: float) -> float:
        """The share of right calls among the crisis calls of the rows without a crisis term (margin >
        threshold); 1 when there are none."""
        called = [e.crisis for e, m in zip(self.examples, self.margins)
                  if e.crisis is not None and not e.evidence[1] and m[2] > threshold]
        return sum(map(bool, called)) / len(called) if called else 1.0

    def _mean_f1(self, threshold: float, threshold_no_term: float | None = None) -> float:
        f = self.figures(threshold, threshold_no_term)["crisis"]
        return round(sum(f[g] for g in ("en", "zh") if g in f) / max(1, sum(1 for g in ("en", "zh") if g in f)), 4)

    def best_threshold(self) -> float:
        """The crisis threshold of the best mean F1 of the language groups (the smallest of equals)."""
        return max(THRESHOLDS, key=lambda t: (self._mean_f1(t), -t))

    def best_thresholds(self, precision: float = NO_TERM_PRECISION) -> tuple[float, float]:
        """(threshold, threshold without a crisis term): the second the smallest of NO_TERM_THRESHOLDS at
        which the calls on rows without a term are right at least ``precision`` of the time (the most
        precise one when none is), the first the one of the best mean F1 of the language groups given
        the second (the smallest of equals, at most the second)."""
        precise = [t for t in NO_TERM_THRESHOLDS if self.no_term_precision(t) >= precision]
        no_term = min(precise) if precise else max(NO_TERM_THRESHOLDS, key=lambda t: (self.no_term_precision(t), -t))
        return max((t for t in THRESHOLDS if t <= no_term), key=lambda t: (self._mean_f1(t, no_term), -t)), no_term


THRESHOLDS = tuple(x / 4 for x in range(-8, 5))     # -2.0 .. 1.0
NO_TERM_THRESHOLDS = tuple(x / 4 for x in range(-8, 13))     # -2.0 .. 3.0
NB_POWERS = (0.0, 0.5, 1.0)     # the NB scale's powers the search tries (0: unscaled, the simplest)
TOLERANCE = 0.005       # a step of the search keeps the simplest setting within this of its best
# The longest Han n-gram the search may choose: Han pairs cost about 4% more instructions a post, and the
# eight batches' pair model read an ordinary quiet branch as crisis in the narratives drill (README, "The
# models"); longer ones are listed for reference
HAN_MAX = 1


def _mean(f: dict[str, float]) -> float:
    return round((f.get("en", 0.0) + f.get("zh", 0.0)) / 2, 4)


# ---------------------------------------------------------------- choosing the settings
def search(rows: list[dict[str, Any]], label: str, k: int, base: Settings) -> tuple[Settings, list[str]]:
    """k-fold figures of settings tried in turn, each step keeping the best so far: the n-gram lengths,
    then the polarity head's L2, class weights, the lexicon's evidence and the NB scale's power (by the
    mean macro-F1 of en and zh), then the crisis head's L2 and NB power (by the mean crisis F1 of en and
    zh at the thresholds of Folds.best_thresholds), then the narrative head's L2 and NB power (by its
    accuracy on the crisis rows no term explains).  Within a step the candidates are listed simplest
    first (fewer grams a character, stronger L2, no NB scale) and the first within TOLERANCE of the
    step's best is kept: differences that small are
    the folds' noise, not the setting's.  Masking the bank names is not searched (``base`` says it): a
    name must teach no prior, whatever it is worth on a set whose fictional banks are in crisis more
    often than not.  Every fold trains as ``base`` says and is scored as the scorer reads a post (the
    names masked as in training).  Three rows for reference, not candidates: the chosen settings trained on the first
    batch's rows of each fold only, with the names not masked, and with one crisis threshold.
    Returns the chosen settings and the table's lines."""
    features: dict[tuple, list[Example]] = {}
    heads: dict = {}
    lines = [f"{k}-fold cross-validation on {len(rows)} dev rows. polarity: macro-F1; crisis: F1 at the thresholds "
             "on its margin (thr; without a crisis term: no-term, the smallest whose calls were right "
             f"{NO_TERM_PRECISION:.0%} of the time); narrative: accuracy on the crisis rows no term explains",
             f"  {'setting (the rest as chosen so far)':<44}{'pol en':>7}{'pol zh':>7}{'mean':>7}"
             f"{'cri en':>8}{'cri zh':>7}{'mean':>7}{'thr':>6}{'no-term':>8}{'narr':>6}"]
    print("\n".join(lines), flush=True)

    def examples(s: Settings, masked: bool) -> list[Example]:
        key = (s.bits, s.latin, s.han, masked)
        if key not in features:
            features[key] = featurise(rows, label, s.bits, s.latin, s.han, bank_names() if masked else None)
        return features[key]

    def row(name: str, s: Settings, trained: list[bool] | None = None,
            one_threshold: bool = False) -> tuple[float, float, float, float, float]:
        folds = Folds(examples(s, s.mask_names), k, s, heads, trained)
        if one_threshold:
            t = t_none = folds.best_threshold()
        else:
            t, t_none = folds.best_thresholds()
        f = folds.figures(t, t_none)
        p, c, n = f["polarity"], f["crisis"], f["narrative"].get("all_no_term", 0.0)
        lines.append(f"  {name:<44}{p['en']:>7.3f}{p['zh']:>7.3f}{_mean(p):>7.3f}{c.get('en', 0):>8.3f}"
                     f"{c.get('zh', 0):>7.3f}{_mean(c):>7.3f}{t:>6.2f}{t_none:>8.2f}{n:>6.3f}")
        print(lines[-1], flush=True)
        return _mean(p), _mean(c), t, t_none, n

    def step(candidates: list[tuple[str, dict[str, Any]]], measure: int, chosen: Settings,
             shown: list[tuple[str, dict[str, Any]]] = ()) -> Settings:     # type: ignore[assignment]
        results = []
        for name, change in candidates:
            s = Settings(**{**chosen.__dict__, **change})
            figures = row(name, s)
            results.append((figures[measure], s, figures))
        for name, change in shown:
            row(name + " (not a candidate)", Settings(**{**chosen.__dict__, **change}))
        best = max(r[0] for r in results)
        _, s, figures = next(r for r in results if r[0] >= best - TOLERANCE)
        return Settings(**{**s.__dict__, "threshold": figures[2], "threshold_no_term": figures[3]})

    ngrams = [(f"latin {lat[0]}-{lat[1]}, han 1-{h}", {"latin": lat, "han": (1, h)})
              for h in (1, 2, 3) for lat in ((3, 5), (2, 4), (3, 6))]
    chosen = step([c for c in ngrams if c[1]["han"][1] <= HAN_MAX], 0, base,
                  [c for c in ngrams if c[1]["han"][1] > HAN_MAX])
    chosen = step([(f"polarity l2 {l2:g}", {"l2": l2}) for l2 in (1e-2, 3e-3, 1e-3, 3e-4, 1e-4)], 0, chosen)
    chosen = step([("class weights balanced", {"balanced": True}), ("class weights none", {"balanced": False}),
                   ("no lexicon evidence (grams only)", {"evidence": False})], 0, chosen)
    chosen = step([(f"polarity NB scale power {p:g}", {"nb_polarity": p}) for p in NB_POWERS], 0, chosen)
    chosen = step([(f"crisis l2 {l2:g}", {"l2_crisis": l2}) for l2 in (3e-3, 1e-3, 3e-4, 1e-4)], 1, chosen)
    chosen = step([(f"crisis NB scale power {p:g}", {"nb_crisis": p}) for p in NB_POWERS], 1, chosen)
    chosen = step([(f"narrative l2 {l2:g}", {"l2_narrative": l2}) for l2 in (1e-2, 1e-3, 1e-4)], 4, chosen)
    chosen = step([(f"narrative NB scale power {p:g}", {"nb_narrative": p}) for p in NB_POWERS], 4, chosen)
    lines.append("for reference (not candidates):")
    print(lines[-1], flush=True)
    row("the chosen, trained on the first batch only", chosen,
        trained=[batch_of(str(r.get("id", ""))) == "first" for r in rows])
    row(f"the chosen, names {'not ' if chosen.mask_names else ''}masked", Settings(**{
        **chosen.__dict__, "mask_names": not chosen.mask_names}))
    row("the chosen, one crisis threshold", chosen, one_threshold=True)
    lines.append("chosen: " + ", ".join(f"{name} {value}" for name, value in chosen.record().items()))
    return chosen, lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--data", type=Path, default=None, help="JSONL of labelled posts (default: the dev split)")
    ap.add_argument("--l2", type=float, default=L2, help=f"L2 on the polarity head's n-gram weights (default {L2})")
    ap.add_argument("--l2-crisis", type=float, default=L2_CRISIS,
                    help=f"L2 on the crisis head's n-gram weights (default {L2_CRISIS})")
    ap.add_argument("--l2-narrative", type=float, default=L2_NARRATIVE,
                    help=f"L2 on the narrative head's n-gram weights (default {L2_NARRATIVE})")
    ap.add_argument("--l2-evidence", type=float, default=L2_EVIDENCE,
                    help=f"L2 on the lexicon evidence's weights (default {L2_EVIDENCE})")
    ap.add_argument("--threshold", type=float, default=None,
                    help="the crisis head's threshold on its margin (default: chosen on the --cv folds by "
                         f"Folds.best_thresholds; {CRISIS_THRESHOLD} with --cv 0)")
    ap.add_argument("--threshold-no-term", type=float, default=None,
                    help="its threshold for a post without a crisis term of the lexicon, at least --threshold "
                         f"(default: chosen with it; --threshold when that is given; {CRISIS_THRESHOLD_NO_TERM} "
                         "with --cv 0)")
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    for head, default in (("polarity", NB_POLARITY), ("crisis", NB_CRISIS), ("narrative", NB_NARRATIVE)):
        ap.add_argument(f"--nb-{head}", type=float, default=default,
                        help=f"the power of the NB scale of the {head} head's grams (0: unscaled; default {default:g})")
    ap.add_argument("--batches", choices=("first", "all"), default=None,
                    help="the labelled set's batches to train on (default: BATCHES; all: every dev post)")
    ap.add_argument("--class-weights", choices=("balanced", "none"), default=CLASS_WEIGHTS,
                    help=f"weigh classes to balance them, or not (default {CLASS_WEIGHTS})")
    ap.add_argument("--han-max", type=int, default=HAN[1], help=f"longest Han n-gram (default {HAN[1]})")
    ap.add_argument("--latin", type=int, nargs=2, default=LATIN, metavar=("MIN", "MAX"),
                    help=f"n-gram lengths within English tokens (default {LATIN[0]} {LATIN[1]})")
    ap.add_argument("--bits", type=int, default=BUCKET_BITS, help="log2 of the buckets (at most 18)")
    ap.add_argument("--mask-names", action=argparse.BooleanOptionalAction, default=MASK_NAMES,
                    help=f"train with the labelled set's bank names masked (see bank_names; default {MASK_NAMES})")
    ap.add_argument("--cv", type=int, default=CV, help=f"k of the k-fold figures recorded (default {CV}; 0: none)")
    ap.add_argument("--search", action="store_true",
                    help="print the cross-validation table of a grid of settings and the settings it picks")
    ap.add_argument("--dry-run", action="store_true", help="do not write the package data")
    args = ap.parse_args(argv)
    if not 8 <= args.bits <= 18:
        ap.error("--bits must be 8..18")
    path = args.data or default_data()
    started = time.perf_counter()
    try:
        batches = (("first",) if args.batches == "first"
                   else None if args.batches == "all" or (args.data and args.batches is None) else BATCHES)
        rows, label, digest = load_rows(path, batches=batches)
    except FrozenData as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    settings = Settings(args.bits, (args.latin[0], args.latin[1]), (1, args.han_max), args.l2, args.l2_crisis,
                        args.l2_narrative, args.l2_evidence, args.class_weights == "balanced", True,
                        CRISIS_THRESHOLD if args.threshold is None else args.threshold, args.epochs,
                        args.threshold_no_term if args.threshold_no_term is not None
                        else args.threshold if args.threshold is not None else CRISIS_THRESHOLD_NO_TERM,
                        args.mask_names, args.nb_polarity, args.nb_crisis, args.nb_narrative)
    if args.search:
        chosen, lines = search(rows, label, args.cv or CV, settings)
        print(lines[-1])
        print(f"{time.perf_counter() - started:.0f} s")
        return 0
    examples = featurise(rows, label, settings.bits, settings.latin, settings.han,
                         bank_names() if settings.mask_names else None)
    folds = None
    if args.cv:
        folds = Folds(examples, args.cv, settings)
        if args.threshold is None and args.threshold_no_term is None:
            chosen = folds.best_thresholds()
            settings = Settings(**{**settings.__dict__, "threshold": chosen[0], "threshold_no_term": chosen[1]})
    heads = train_heads(examples, settings)
    langs = Counter(group(r["lang"]) for r in rows)
    try:
        shown = str(path.resolve().relative_to(ROOT))
    except ValueError:
        shown = path.name
    defaults = Settings()
    flags = [("--l2", settings.l2, defaults.l2), ("--l2-crisis", settings.l2_crisis, defaults.l2_crisis),
             ("--l2-narrative", settings.l2_narrative, defaults.l2_narrative),
             ("--l2-evidence", settings.l2_evidence, defaults.l2_evidence),
             ("--epochs", settings.epochs, defaults.epochs),
             ("--nb-polarity", settings.nb_polarity, defaults.nb_polarity),
             ("--nb-crisis", settings.nb_crisis, defaults.nb_crisis),
             ("--nb-narrative", settings.nb_narrative, defaults.nb_narrative),
             ("--bits", settings.bits, defaults.bits), ("--han-max", settings.han[1], defaults.han[1])]
    command = "python -m crisiscomms_local.train_reputation" + ("" if args.data is None else f" --data {shown}")
    command += "".join(f" {flag} {value:g}" for flag, value, default in flags if value != default)
    command += "" if args.threshold is None else f" --threshold {settings.threshold:g}"
    command += "" if args.threshold_no_term is None else f" --threshold-no-term {settings.threshold_no_term:g}"
    command += "" if settings.latin == defaults.latin else f" --latin {settings.latin[0]} {settings.latin[1]}"
    command += "" if settings.mask_names == defaults.mask_names else (
        " --mask-names" if settings.mask_names else " --no-mask-names")
    command += "" if settings.balanced == defaults.balanced else f" --class-weights {args.class_weights}"
    command += "" if batches == BATCHES else f" --batches {args.batches or 'all'}"
    training = {
        "data": shown, "data_sha256": digest, "label": label, "batches": list(batches or ("all",)), "rows": len(rows),
        "rows_by_batch": dict(sorted(Counter(batch_of(str(r.get("id", ""))) for r in rows).items())),
        "rows_by_language": dict(sorted(langs.items())),
        "classes": {LABELS[c]: n for c, n in sorted(Counter(e.polarity for e in examples).items())},
        "crisis_rows": sum(1 for e in examples if e.crisis), "narrative_rows": sum(1 for e in examples
                                                                                   if e.narrative is not None),
        **settings.record(), "thresholds_from": (f"{args.cv}-fold cross-validation (Folds.best_thresholds)"
                                                 if folds is not None and args.threshold is None
                                                 and args.threshold_no_term is None
                                                 else "the command"), "command": command,
    }
    header, q, packed = quantise(heads, settings, training)
    if settings.mask_names:     # the scorer masks the names' English tokens too (reputation.Model.masked)
        header["masked_tokens"], header["masked_names"] = sorted(bank_names()[0]), list(bank_names()[1])
    shipped = Shipped(header, q, packed)
    fitted = [shipped.margins(e) for e in examples]
    header["training"]["fit"] = {
        "polarity_macro_f1": figures_of(examples, [label_index(m[0], m[1]) for m in fitted]),
        "crisis_f1": {name: round(f1([bool(e.crisis) for e in examples if name == "all" or e.group == name],
                                     [m[2] > 0 for e, m in zip(examples, fitted) if name == "all" or e.group == name]), 4)
                      for name in ("en", "zh", "all")}}
    print(f"{len(rows)} rows of {shown} ({label}); {header['training']['nonzero_buckets']} buckets non-zero, "
          f"narrative head: {header['narrative']['buckets']} buckets")
    print(f"on the training rows: {header['training']['fit']}")
    if folds is not None:
        f = folds.figures(settings.threshold, settings.threshold_no_term)
        header["training"][f"cv{args.cv}"] = {"polarity_macro_f1": f["polarity"], "crisis_f1": f["crisis"],
                                             "narrative_accuracy": f["narrative"]}
        print(f"{args.cv}-fold cross-validation on the training rows: {header['training'][f'cv{args.cv}']}")
    if not args.dry_run:
        write(header, q, packed)
        print(f"wrote {reputation.HEADER_FILE}, {reputation.WEIGHTS_FILE} "
              f"({Path(reputation.WEIGHTS_FILE).stat().st_size:,} bytes) and {reputation.NARRATIVES_FILE} "
              f"({Path(reputation.NARRATIVES_FILE).stat().st_size:,} bytes)")
    print(f"{time.perf_counter() - started:.1f} s")
    return 0


def figures_of(examples: Sequence[Example], pred: Sequence[int]) -> dict[str, float]:
    out = {}
    for name in ("en", "zh"):
        idx = [i for i, e in enumerate(examples) if e.group == name]
        if idx:
            out[name] = round(macro_f1([examples[i].polarity for i in idx], [pred[i] for i in idx]), 4)
    out["all"] = round(macro_f1([e.polarity for e in examples], list(pred)), 4)
    return out


if __name__ == "__main__":
    sys.exit(main())
