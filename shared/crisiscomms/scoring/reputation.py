"""Polarity for reputation, crisis and narrative: linear models over hashed character n-grams and
the lexicon's evidence.

Polarity is what a post, if believed, does to the bank's reputation
(tests/data/reputation/GUIDE.md, section 2), not the author's tone: a calm headline about a
bank run is negative, a regulator clearing the bank positive, the bank's own denial neutral.
Crisis is whether the post carries a crisis event (GUIDE.md, section 3): the lexicon's terms
are strong evidence, but a rumour of queues "with carrier bags" or "限提三千" carries one too.

Three heads read the same features of a post, computed once (one memo look-up per distinct
token and per character gives all three gram sums)::

    G_h      = step_h * sum(q_h[crc32(g) mod buckets] for g in grams) / sqrt(units)
    margin_h = bias_h + G_h + sum(v_h[k] * evidence[k] for k in EVIDENCE)      h = negative, positive, crisis
    p        = softmax(margin_negative, 0, margin_positive)      (neutral the reference)
    polarity = p_positive - p_negative, to 4 places                                  -1..1
    label    = the class of the largest margin (neutral when no margin is above 0)
    crisis   = margin_crisis > 0        (logistic; its threshold, chosen by cross-validation,
                                         folded into bias_crisis); > no_term for a post without a
                                         non-negated crisis term of the lexicon (``crisis_no_term``
                                         in the header, the second threshold less the first)

A crisis post that no crisis term of the lexicon explains gets its narrative from a fourth head,
multinomial over the ten catalogue narratives (``narratives.CATALOGUE`` less ``other``), grams
only, its weights read the first time such a post is scored::

    narrative = argmax_k (bias_k + step_n * sum(w_k[bucket(g)] for g in grams) / sqrt(units))

Grams, of the scorer's normalised text (NFKC, case-folded, Traditional folded to Simplified):
each distinct English token (the tokenizer's: lower-cased, lightly stemmed, punctuation marks
included) padded as ``<tok>`` gives its character n-grams of ``latin`` lengths and the padded
token itself; each character of the folded Chinese text starts the n-grams of ``han`` lengths
that stay within its run of Han characters (a character that is not Han starts none); each
emoji is a gram.  ``units`` = distinct tokens + characters of the folded Chinese text + emoji.
``bucket(g) = crc32(UTF-8 of g) & (buckets - 1)``; ``q`` are the buckets' int8 weights.  Some of a
post gives the polarity and crisis heads no grams (its units still count), in training and scoring
alike: the bank names training masked, their English tokens (``masked_tokens`` in the header) and
their folded Chinese spellings (``masked_names``, blanked longest first), and in a post with a negated
crisis term (a denial, a debunk) that term's tokens and the post's negators (:func:`negated_tokens`),
which the lexicon's denial flag reads instead.

Evidence (:func:`evidence`: the lexicon's explainable part, its weights learned with the grams'):
the author's tone; the crisis weight (non-negated terms, not damped in a report: a headline about
a run is as bad as a complaint); the event, negative and positive valence sums of the post (its words' and emoji's)
before any damping (each as x / sqrt(x^2 + 15)); flags: praise (words or emoji), a debunk ("fake news", 辟谣), a denial (a
negated crisis term), either voiced by an authority (regulator, police, 警方 ...), a reported fix,
a question, a question about a crisis (doubt spread as a question), irony markers, hedges (rumour,
hearsay), about banking, money being taken out, the author's own voice, a report's voice; and
the categories of the non-negated crisis terms (bank_run, withdrawal ...).

Weights: ``reputation_model.json`` (sizes, steps, biases, the evidence weights, how and on what
the models were trained, their cross-validated figures), ``reputation_model.bin`` (zlib of the int8
weights of every bucket, the negative margin's, then the positive's, then the crisis head's) and
``reputation_narratives.bin`` (zlib of the narrative head's non-zero buckets, uint32 little-endian,
then their int8 weights, ten a bucket), written by ``python -m crisiscomms_local.train_reputation``.

Speed: a token's grams and a character's grams depend on that token / the next few characters
only, so their summed weights are memoised (bounded; a miss is computed, never a different
result), the three heads' sums packed in one int: a post costs one dictionary look-up per
distinct token and per character (with Han 1-2-grams a character's window is read from a memo of
first characters, then of the next one, whose hashes the characters carry already: no window
string is made).  The narrative head's ten sums are packed the same way.  A miss hashes the
slices of an ASCII token's bytes without making the grams; the weights are read without copies
and the narrative head's rows only where a post needs them.  tests/unit/test_scoring_fastpaths.py
checks the compiled model against the plain formula.
"""
from __future__ import annotations

import json
import math
import os
import zlib
from array import array
from collections.abc import Callable, Iterable
from itertools import accumulate, islice
from operator import add, getitem, itemgetter, methodcaller

from .english import NEGATORS
from .model import Analysis, TermHit

_crc32 = zlib.crc32

_HERE = os.path.dirname(os.path.abspath(__file__))
HEADER_FILE = os.path.join(_HERE, "reputation_model.json")
WEIGHTS_FILE = os.path.join(_HERE, "reputation_model.bin")
NARRATIVES_FILE = os.path.join(_HERE, "reputation_narratives.bin")
FORMAT = 2

LABELS = ("negative", "neutral", "positive")
HEADS = ("negative", "positive", "crisis")      # the margins every bucket carries
# The lexicon's evidence: values, flags (bit k of the flags is FLAGS[k]), then the categories of
# the non-negated crisis terms (bit k of the categories is CATEGORIES[k])
VALUES = ("tone", "crisis", "event", "eval_negative", "eval_positive")
FLAGS = ("praise", "debunk", "denial", "authority", "resolved", "question", "question_crisis",
         "irony", "hedge", "banking", "withdrawal", "personal", "report")
CATEGORIES = ("bank_run", "withdrawal", "insolvency", "frozen_accounts", "outage", "data_breach",
              "fraud", "regulator", "executives", "layoffs", "closures")
EVIDENCE = VALUES + FLAGS + tuple("category:" + c for c in CATEGORIES)
# the narrative head's classes: the catalogue's (narratives.CATALOGUE) less "other"
NARRATIVES = ("bank_run", "withdrawals", "insolvency", "frozen_accounts", "outage", "data_breach",
              "fraud", "regulator", "executives", "layoffs_closures")
CRISIS_SCALE = 6.0          # crisis weight / this (the scorer's cap): 0..1
VALENCE_ALPHA = 15.0        # x / sqrt(x^2 + 15): a valence sum to -1..1, as VADER does
MAX_MARGIN = 700.0          # exp() of a margin beyond this overflows: taken as this
MEMO_LIMIT = 32_768         # entries per memo (cleared when full)
_LOW_FLAGS = 7              # the flags' margins: two tables, of the low 7 bits and of the rest
# A gram sum is one int, negative * 2**48 + positive * 2**24 + crisis (int8 units): within a C long
# for the usual post, so sum() stays on its int fast path.  A field holds +-2**23, 66,000 grams at full
# weight; a post has at most 7 grams a character (3 per character of a token, padding and a few
# expanded abbreviations aside), so one longer than LONG_POST characters takes the plain sums.
_SHIFT = 24
LONG_POST = 8_000
_HALF = 1 << (_SHIFT - 1)
_LOW = (1 << _SHIFT) - 1
_NARRATIVE_SHIFT = 48
_NARRATIVE_HALF = 1 << (_NARRATIVE_SHIFT - 1)
_NARRATIVE_LOW = (1 << _NARRATIVE_SHIFT) - 1

# Who can settle a rumour in the bank's favour ("the regulator says deposits are safe",
# 警方已立案): looked for only in a post that debunks or denies.
AUTHORITIES = (
    "regulator", "watchdog", "police", "central bank", "authorities", "government", "ministry",
    "fdic", "fca", "prudential regulation", "ecb", "deposit insurance",
    "监管", "银保监", "人民银行", "央行", "警方", "公安", "政府", "金管会", "金管局",
    "金融管理局", "存款保险", "证监会",
)

# VALUES, the flags as an int, the categories as an int
Evidence = tuple[float, float, float, float, float, int, int]
_UTF8 = methodcaller("encode", "utf-8", "surrogatepass")
_CATEGORY_BIT = {c: 1 << k for k, c in enumerate(CATEGORIES)}


# ---------------------------------------------------------------- grams
def is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\uf900" <= ch <= "\ufaff"


def word_grams(tok: str, lo: int, hi: int) -> list[str]:
    """The character n-grams (lengths lo..hi) of ``<tok>``, and ``<tok>`` itself when longer."""
    w = "<" + tok + ">"
    return [w[s] for s in _gram_slices(len(w), lo, hi)]


def word_crcs(tok: str, lo: int, hi: int) -> list[int]:
    """The CRC-32 of the UTF-8 of each of ``word_grams(tok, lo, hi)``: of an ASCII token, the
    slices of its bytes (the same bytes as each gram's UTF-8, without making the grams)."""
    w = "<" + tok + ">"
    if w.isascii():
        b = w.encode()
        return [_crc32(b[s]) for s in _gram_slices(len(w), lo, hi)]
    return [_crc32(w[s].encode("utf-8", "surrogatepass")) for s in _gram_slices(len(w), lo, hi)]


# (length, lo, hi) -> the slices word_grams takes of a padded token of that length
_SLICES: dict[tuple[int, int, int], tuple[slice, ...]] = {}


def _gram_slices(n: int, lo: int, hi: int) -> tuple[slice, ...]:
    slices = _SLICES.get((n, lo, hi))
    if slices is None:
        slices = tuple(slice(i, i + k) for k in range(lo, hi + 1) for i in range(n - k + 1))
        slices += (slice(0, n),) if n > hi else ()
        if len(_SLICES) < 1024:
            _SLICES[(n, lo, hi)] = slices
    return slices


def window_grams(window: str, lo: int, hi: int) -> list[str]:
    """The n-grams (lengths lo..hi) that start at the first character of ``window`` and stay
    within Han characters (none when it is not Han)."""
    run = 0
    for ch in window[:hi]:
        if not is_han(ch):
            break
        run += 1
    return [window[:k] for k in range(lo, run + 1)]


def grams_of(words: Iterable[str] | None, zh: str, emoji: str, latin: tuple[int, int],
             han: tuple[int, int]) -> tuple[list[str], int]:
    """Every gram of a post, the plain enumeration, and its units.  ``words``: its English
    tokens; ``zh``: its folded Chinese text ("" without Han); ``emoji``: its emoji."""
    grams: list[str] = []
    units = 0
    if words:
        distinct = set(words)
        for tok in distinct:
            grams += word_grams(tok, *latin)
        units += len(distinct)
    if zh:
        for i in range(len(zh)):
            grams += window_grams(zh[i:i + han[1]], *han)
        units += len(zh)
    if emoji:
        grams += emoji
        units += len(emoji)
    return grams, units


def bucket(gram: str, mask: int) -> int:
    return zlib.crc32(gram.encode("utf-8", "surrogatepass")) & mask


# ---------------------------------------------------------------- evidence
def _voiced_by_authority(text: str) -> bool:
    folded = text.casefold()
    return any(a in folded for a in AUTHORITIES)


def _squash(x: float) -> float:
    return x / math.sqrt(x * x + VALENCE_ALPHA) if x else 0.0


def evidence(tone: float, crisis_weight: float, hits: tuple[TermHit, ...], out: Analysis,
             marks: tuple[bool, bool, int, int, bool, int], text: str,
             emoji_valence: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Evidence:
    """The lexicon's evidence about a post: the VALUES, the FLAGS as bits of an int, the
    CATEGORIES of its non-negated crisis terms as bits of an int (the plain reading; the compiled
    model reads the same inline).  ``marks``: the scorer's (about banking, money being taken out,
    personal markers, report markers, reports a fix, ...); ``emoji_valence``: the (positive,
    negative, praise) valence of its emoji, which count with its words'."""
    flags = 1 if out.praise > 0 or emoji_valence[2] > 0 else 0
    if out.debunk:
        flags |= 2
        if _voiced_by_authority(text):
            flags |= 8
    elif any(h.negated for h in hits):
        flags |= 4
        if _voiced_by_authority(text):
            flags |= 8
    if marks[4]:
        flags |= 16
    if out.questions:
        flags |= 32
        if crisis_weight:
            flags |= 64
    if out.irony:
        flags |= 128
    if out.hedges:
        flags |= 256
    if marks[0]:
        flags |= 512
    if marks[1]:
        flags |= 1024
    if marks[2] > marks[3]:
        flags |= 2048
    elif marks[3] > marks[2]:
        flags |= 4096
    categories = 0
    for h in hits:
        if not h.negated:
            categories |= _CATEGORY_BIT.get(h.category, 0)
    return (tone, crisis_weight / CRISIS_SCALE, _squash(out.event), _squash(out.eval_neg + emoji_valence[1]),
            _squash(out.eval_pos + emoji_valence[0]), flags, categories)


def evidence_vector(ev: Evidence) -> tuple[float, ...]:
    """The evidence as the models' inputs, in the order of EVIDENCE."""
    flags, categories = ev[5], ev[6]
    return (tuple(ev[:5]) + tuple(1.0 if flags >> k & 1 else 0.0 for k in range(len(FLAGS)))
            + tuple(1.0 if categories >> k & 1 else 0.0 for k in range(len(CATEGORIES))))


def negated_tokens(hits: tuple[TermHit, ...], present: set[str] | None) -> set[str]:
    """The English tokens of the negated crisis terms (a denial's, a debunk's) among ``present``, with
    the post's negators: they give no grams (the units stay the post's), so "not a bank run" is read by
    the denial the lexicon found (its flag's weights), not by the grams of "not" and "bank run" that
    complaints ("can not withdraw") and crisis posts taught."""
    if not present:
        return set()
    dropped = {t for h in hits if h.negated for t in h.matched.split()} & present
    return dropped | (NEGATORS & present) if dropped else dropped


def blank_names(zh: str, names: Iterable[str]) -> str:
    """``zh`` with each of ``names`` blanked in turn (longest first as listed, left to right): no grams, the
    same length, so a post's units stay."""
    for name in names:
        if name in zh:
            zh = zh.replace(name, " " * len(name))
    return zh


def pack(neg: int, pos: int, crisis: int) -> int:
    return (neg << 2 * _SHIFT) + (pos << _SHIFT) + crisis


def unpack(total: int) -> tuple[int, int, int]:
    """(negative, positive, crisis) of a packed gram sum."""
    crisis = ((total + _HALF) & _LOW) - _HALF
    rest = (total - crisis) >> _SHIFT
    pos = ((rest + _HALF) & _LOW) - _HALF
    return (rest - pos) >> _SHIFT, pos, crisis


def label_of(neg: float, pos: float) -> str:
    if neg > 0.0 and neg > pos:
        return "negative"
    if pos > 0.0 and pos > neg:
        return "positive"
    return "neutral"


def value_of(neg: float, pos: float) -> float:
    """p_positive - p_negative of the margins, to 4 places."""
    e_neg = math.exp(min(neg, MAX_MARGIN))
    e_pos = math.exp(min(pos, MAX_MARGIN))
    return round((e_pos - e_neg) / (1.0 + e_neg + e_pos) * 10000.0) / 10000.0


# ---------------------------------------------------------------- the model
class _Memo(dict):
    """Key -> the packed sum of its grams' weights; computed on a miss."""

    __slots__ = ("_compute",)

    def __init__(self, compute: Callable[[str], int]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, key: str) -> int:
        value = self._compute(key)
        if len(self) >= MEMO_LIMIT:
            self.clear()
        self[key] = value
        return value


class _Pairs(dict):
    """First character -> a dict of the next character ("" at the end of the text) -> the value
    of that window of two: a character then costs a look-up of itself and one of the next
    character, both already hashed, where a window made by ``first + next`` is a new string
    to hash.  MEMO_LIMIT entries in all (the two levels counted; cleared when full)."""

    __slots__ = ("_compute", "_entries")

    def __init__(self, compute: Callable[[str], object]) -> None:
        super().__init__()
        self._compute = compute
        self._entries = 0

    def __missing__(self, first: str) -> dict:
        follows = _Follows(first, self)
        self._count()
        self[first] = follows
        return follows

    def _count(self) -> None:
        self._entries += 1
        if self._entries >= MEMO_LIMIT:
            self.clear()
            self._entries = 0


class _Follows(dict):
    """Next character -> the value of the window (the first character, that one)."""

    __slots__ = ("_first", "_pairs")

    def __init__(self, first: str, pairs: _Pairs) -> None:
        super().__init__()
        self._first = first
        self._pairs = pairs

    def __missing__(self, following: str) -> object:
        pairs = self._pairs
        value = pairs._compute(self._first + following)
        pairs._count()
        self[following] = value
        return value


class Model:
    """Shipped weights (:func:`model` reads them once).  ``polarity`` is what score_text calls:
    (distinct English tokens or None, the folded Chinese text's characters or None, emoji, tone,
    crisis weight, crisis hits, Analysis, the scorer's marks, text, the emoji's valence) ->
    (polarity, label, crisis);
    ``narrative`` the narrative head's catalogue id of a post."""

    def __init__(self, header: dict, weights: array, narratives_file: str | None = NARRATIVES_FILE) -> None:
        if (header.get("format") != FORMAT or tuple(header["classes"]) != LABELS
                or tuple(header["heads"]) != HEADS):
            raise ValueError("reputation model: unknown format")
        if tuple(header["evidence"]["names"]) != EVIDENCE:
            raise ValueError("reputation model: its evidence is not this package's")
        self.header = header
        self.buckets = int(header["buckets"])
        if self.buckets & (self.buckets - 1) or len(weights) != 3 * self.buckets:
            raise ValueError("reputation model: weights do not match the header")
        self.mask = self.buckets - 1
        self.latin = (int(header["latin"][0]), int(header["latin"][1]))
        self.han = (int(header["han"][0]), int(header["han"][1]))
        if not 1 <= self.han[0] <= self.han[1] <= 4:
            raise ValueError("reputation model: Han n-grams of 1 to 4 characters only")
        self.step = float(header["step"]["polarity"])
        self.crisis_step = float(header["step"]["crisis"])
        self.bias = tuple(float(b) for b in header["bias"])
        # the extra crisis margin a post without a crisis term needs (absent in older headers: none)
        self.no_term = float(header.get("crisis_no_term", 0.0))
        if not 0.0 <= self.no_term < MAX_MARGIN:
            raise ValueError("reputation model: crisis_no_term must be a margin >= 0")
        self.weights = tuple(tuple(float(v) for v in w) for w in header["evidence"]["weights"])
        if len(self.bias) != 3 or len(self.weights) != len(EVIDENCE) or any(len(w) != 3 for w in self.weights):
            raise ValueError("reputation model: three margins a weight")
        # English tokens and folded Chinese spellings (longest first) that give the polarity and crisis heads
        # no grams: the bank names training masked
        self.masked = frozenset(header.get("masked_tokens", ()))
        self.masked_names = tuple(header.get("masked_names", ()))
        self._name_values: dict[str, int] = {}
        self._names_of: dict[frozenset[str], tuple[str, ...]] = {}    # first characters -> the names
        self._narrative_header = header.get("narrative")
        self._narratives_file = narratives_file
        self._narrative_weights: tuple[dict[int, int], array] | None = None
        self._narrative_memos: tuple[_Memo, _Memo, _Memo] | None = None
        narrative = self._narrative_header or {}
        self._narrative_step = float(narrative.get("step", 1.0))
        self._narrative_bias = tuple(map(float, narrative.get("bias", ())))
        n = self.buckets
        self._q = weights
        view = memoryview(weights)      # each head's weights without copying them
        self._negative = view[:n]
        self._positive = view[n:2 * n]
        self._crisis = view[2 * n:]
        self.words = _Memo(self._word_value)
        self.windows = _Memo(self._window_value)
        self.singles = _Memo(self._gram_value)
        self.pairs = _Pairs(self._window_value)     # (for Han 1-2-grams)
        self.polarity = self._compile()

    def _value(self, grams: Iterable[str]) -> int:
        """The packed sum of the weights of ``grams``."""
        return self._crcs_value(list(map(zlib.crc32, map(_UTF8, grams))))

    def _crcs_value(self, crcs: list[int]) -> int:
        """The packed sum of the weights of the grams of these CRC-32s (each head's weights read by
        one itemgetter: a bound ``__getitem__`` or ``__and__`` of an array or an int is a slot
        wrapper, slow to call)."""
        mask = self.mask
        buckets = [crc & mask for crc in crcs]
        if len(buckets) < 2:        # (an itemgetter of one index gives the item, not a tuple)
            return pack(self._negative[buckets[0]], self._positive[buckets[0]],
                        self._crisis[buckets[0]]) if buckets else 0
        weights_of = itemgetter(*buckets)
        return pack(sum(weights_of(self._negative)), sum(weights_of(self._positive)), sum(weights_of(self._crisis)))

    def _gram_value(self, gram: str) -> int:
        b = zlib.crc32(gram.encode("utf-8", "surrogatepass")) & self.mask
        return pack(self._negative[b], self._positive[b], self._crisis[b])

    def _word_value(self, tok: str) -> int:
        return 0 if tok in self.masked else self._crcs_value(word_crcs(tok, *self.latin))

    def _window_value(self, window: str) -> int:
        if self.han == (1, 1):      # a character: itself when it is Han
            return self._gram_value(window) if is_han(window) else 0
        return self._value(window_grams(window, *self.han))

    def gram_sums(self, grams: Iterable[str]) -> tuple[int, int, int]:
        """(negative, positive, crisis) sums of the int8 weights of ``grams``, the plain way."""
        q, n = self._q, self.buckets
        qn = qp = qc = 0
        for gram in grams:
            b = bucket(gram, self.mask)
            qn += q[b]
            qp += q[n + b]
            qc += q[2 * n + b]
        return qn, qp, qc

    def plain_margins(self, grams: Iterable[str], units: int, ev: Evidence) -> tuple[float, float, float]:
        """(negative, positive, crisis) margins by the module's formula, the plain way: what the
        compiled ``polarity`` is checked against."""
        qn, qp, qc = self.gram_sums(grams)
        root = math.sqrt(units) if units else 0.0
        scale = self.step / root if units else 0.0
        crisis_scale = self.crisis_step / root if units else 0.0
        neg, pos, cri = self.bias[0] + qn * scale, self.bias[1] + qp * scale, self.bias[2] + qc * crisis_scale
        if not ev[1]:       # no crisis term: the larger threshold
            cri -= self.no_term
        for (wn, wp, wc), x in zip(self.weights, evidence_vector(ev)):
            neg += wn * x
            pos += wp * x
            cri += wc * x
        return neg, pos, cri

    # ------------------------------------------------------------ narratives
    def _narrative_model(self) -> tuple[dict[int, int], array]:
        """(bucket -> where its int8 weights start, one per class of NARRATIVES, in the weights;
        the weights): buckets without any are left out; read at the first use."""
        if self._narrative_weights is None:
            header = self._narrative_header
            if not header or tuple(header["classes"]) != NARRATIVES or not self._narratives_file:
                raise ValueError("reputation model: no narrative head")
            if header.get("ids") != "gaps":
                raise ValueError("reputation model: the narrative head's bucket ids are not stored as gaps")
            n, k = int(header["buckets"]), len(NARRATIVES)
            with open(self._narratives_file, "rb") as fh:
                raw = zlib.decompress(fh.read(), bufsize=max(1, n * (4 + k)))
            ids = array("I")
            if len(raw) != n * (4 + k) or ids.itemsize != 4:
                raise ValueError("reputation model: narrative weights do not match the header")
            ids.frombytes(raw[:4 * n])
            if array("I", [1]).tobytes() != b"\x01\x00\x00\x00":
                ids.byteswap()          # pragma: no cover - stored little-endian
            ids = array("I", accumulate(ids))       # stored as gaps: the sorted ids compress to a third
            weights = array("b")
            weights.frombytes(raw[4 * n:])
            self._narrative_weights = (dict(zip(ids, range(0, n * k, k))), weights)
        return self._narrative_weights

    def _narrative_sums(self, grams: Iterable[str]) -> tuple[int, ...]:
        """The narrative head's weights of ``grams`` summed per class."""
        return self._narrative_crcs_sums(list(map(zlib.crc32, map(_UTF8, grams))))

    def _narrative_crcs_sums(self, crcs: list[int]) -> tuple[int, ...]:
        """The narrative head's weights of the grams of these CRC-32s summed per class."""
        starts, weights = self._narrative_model()
        k, mask = len(NARRATIVES), self.mask
        rows = [weights[i:i + k] for i in map(starts.get, [crc & mask for crc in crcs]) if i is not None]
        return tuple(map(sum, zip(*rows))) if rows else (0,) * len(NARRATIVES)

    def narrative_margins(self, grams: Iterable[str], units: int) -> list[float]:
        """The narrative head's margin per class of NARRATIVES."""
        totals = self._narrative_sums(grams)
        header = self._narrative_header or {}
        scale = float(header["step"]) / math.sqrt(units) if units else 0.0
        return [float(b) + t * scale for b, t in zip(header["bias"], totals)]

    def narrative_of(self, margins: list[float]) -> str:
        """The class of the largest margin (the first listed on a tie)."""
        return NARRATIVES[max(range(len(NARRATIVES)), key=lambda c: (margins[c], -c))]

    def narrative(self, present: set[str] | None, chars: list[str] | None, emoji: str,
                  hits: tuple[TermHit, ...] = ()) -> str:
        """The catalogue id the narrative head gives a post (what score_text has at hand, as for
        ``polarity``): the plain formula of ``narrative_margins``, each token's and character's
        ten sums memoised packed in one int (_pack_narrative), summed at once.  The masked names and
        a denial's negated terms give no grams, as in training (the units stay the post's)."""
        if self._narrative_memos is None:
            self._narrative_model()         # read now: a model without the head fails here
            def window_value(window: str) -> int:
                return _pack_narrative(self._narrative_sums(window_grams(window, *self.han)))

            self._narrative_memos = (
                _Memo(lambda tok: _pack_narrative(self._narrative_crcs_sums(word_crcs(tok, *self.latin)))),
                _Pairs(window_value) if self.han[1] == 2 else _Memo(window_value),
                _Memo(lambda gram: _pack_narrative(self._narrative_sums((gram,)))))
        words, windows, singles = self._narrative_memos
        units = (len(present) if present else 0) + (len(chars) if chars else 0)
        zh = "".join(chars) if chars else ""
        present, read = self.readable(present, zh, hits)
        chars = chars if read is zh else list(read)
        g = sum(map(words.__getitem__, present)) if present else 0
        if chars:
            width = self.han[1]
            if width == 2:      # each character with the next, the last with "" (see _Pairs)
                g += sum(map(getitem, map(windows.__getitem__, chars), islice(chars, 1, None)),
                         windows[chars[-1]][""])
            else:
                g += sum(map(windows.__getitem__, chars if width == 1 else _windows(chars, width)))
        if emoji:
            g += sum(map(singles.__getitem__, emoji))
            units += len(emoji)
        if not units:
            return NARRATIVES[max(range(len(NARRATIVES)), key=lambda c: (self._narrative_bias[c], -c))]
        scale = self._narrative_step / math.sqrt(units)
        best, found = -math.inf, 0
        for k, bias in enumerate(self._narrative_bias):
            total = ((g + _NARRATIVE_HALF) & _NARRATIVE_LOW) - _NARRATIVE_HALF
            g = (g - total) >> _NARRATIVE_SHIFT
            margin = bias + total * scale
            if margin > best:               # a tie goes to the first listed
                best, found = margin, k
        return NARRATIVES[found]

    # ------------------------------------------------------------ compiled
    def _compile(self) -> Callable[..., tuple[float, str, bool]]:
        """The formula as one function of what the scorer has at hand (see the class)."""
        n_values = len(VALUES)
        flag_weights = self.weights[n_values:n_values + len(FLAGS)]

        def table(weights: tuple[tuple[float, ...], ...], base: tuple[float, ...]) -> tuple[tuple[float, ...], ...]:
            return tuple(tuple(base[h] + sum(w[h] for k, w in enumerate(weights) if code >> k & 1) for h in range(3))
                         for code in range(1 << len(weights)))

        # the crisis bias of a post without a term; one with a term gets no_term back with its weight
        low = table(flag_weights[:_LOW_FLAGS], (self.bias[0], self.bias[1], self.bias[2] - self.no_term))
        high = table(flag_weights[_LOW_FLAGS:], (0.0, 0.0, 0.0))
        values = list(self.weights[:n_values])
        values[1] = tuple(v / CRISIS_SCALE for v in values[1])    # per unit of weight
        categories = dict(zip(CATEGORIES, self.weights[n_values + len(FLAGS):]))
        latin, han, gram_sums, readable = self.latin, self.han, self.gram_sums, self.readable

        def plain_sums(present: set[str] | None, chars: list[str] | None, emoji: str,
                       hits: tuple[TermHit, ...]) -> tuple[int, int, int]:
            return gram_sums(grams_of(*readable(present, "".join(chars) if chars else "", hits), emoji, latin, han)[0])

        # the memos, the widest Han n-gram, the plain sums past LONG_POST, the masked names' first characters
        # and what they add; the value is rounded as round(x * 10**4) / 10**4 (round(x, 4) converts to decimal)
        return _polarity_function(
            (self.words.__getitem__, self.windows.__getitem__, self.singles.__getitem__, self.han[1], plain_sums,
             self.pairs.__getitem__ if self.han[1] == 2 else None,
             frozenset(name[0] for name in self.masked_names), self._names_value),
            _evidence_function(low, high, categories, self.no_term), self.step, self.crisis_step, tuple(values))

    def mask_names(self, zh: str) -> str:
        """``zh`` with the masked names blanked, as training reads it."""
        return blank_names(zh, self.masked_names)

    def readable(self, present: set[str] | None, zh: str, hits: tuple[TermHit, ...],
                 tokens: frozenset[str] = frozenset(), names: tuple[str, ...] = ()) -> tuple[set[str] | None, str]:
        """What the heads read of a post, in training and scoring alike: its English tokens less the masked ones
        (and ``tokens``) and a denial's (negated_tokens), its folded Chinese text with the masked names (or
        ``names``) blanked; each returned as given when nothing is dropped."""
        if present:
            dropped = tokens | self.masked | negated_tokens(hits, present)
            present = present if dropped.isdisjoint(present) else present - dropped
        return present, blank_names(zh, names or self.masked_names) if zh else zh

    def _names_value(self, text: str, firsts: frozenset[str]) -> int:
        """The packed sum the masked names add to the Chinese grams of ``text`` (what masking takes off):
        with single characters, each name found times its characters' sum (memoised), names blanked in
        turn as mask_names does; with Han pairs, _pairs_names_value; else the grams' with and without
        them.  ``firsts``: the names' first characters the text has (only the names they start can be in it)."""
        names = self._names_of.get(firsts)
        if names is None:       # (in masked_names' order: they are blanked in turn)
            names = tuple(name for name in self.masked_names if name[0] in firsts)
            if len(self._names_of) < 4096:
                self._names_of[firsts] = names
        if self.han == (1, 2):
            return self._pairs_names_value(text, names)
        if self.han != (1, 1):
            blanked = self.mask_names(text)
            return 0 if blanked == text else (self._value(grams_of(None, text, "", self.latin, self.han)[0])
                                              - self._value(grams_of(None, blanked, "", self.latin, self.han)[0]))
        total, values = 0, self._name_values
        for name in names:
            if name in text:
                value = values.get(name)
                if value is None:
                    value = values[name] = sum(map(self.windows.__getitem__, name))
                total += text.count(name) * value
                text = text.replace(name, " " * len(name))
        return total

    def _pairs_names_value(self, text: str, names: tuple[str, ...]) -> int:
        """With Han pairs: what blanking the masked names as mask_names does takes off, name by name and
        left to right: the windows starting in a name (its inner pairs memoised; its last character's
        window reads the character after it) and the change of the window before it, whose pair into
        the name becomes a pair into a blank; each window's value from the pair memo, so no gram of the
        rest of the post is enumerated."""
        total, pairs, inner = 0, self.pairs, self._name_values
        for name in names:
            if name in text:
                k, n = len(name), len(text)
                value = inner.get(name)
                if value is None:
                    value = inner[name] = sum(pairs[a][b] for a, b in zip(name, name[1:]))
                first, last = name[0], pairs[name[-1]]
                start, previous_end = text.find(name), -1
                while start >= 0:       # str.replace's matches: left to right, not overlapping
                    end = start + k
                    total += value + last[text[end] if end < n else ""]
                    if start and start != previous_end:     # (after a match just blanked: a blank)
                        before = pairs[text[start - 1]]
                        total += before[first] - before[" "]
                    previous_end, start = end, text.find(name, end)
                text = text.replace(name, " " * k)
        return total


def _pack_narrative(sums: tuple[int, ...]) -> int:
    """The narrative head's sums per class in one int, class k's in bits 48k up (signed fields:
    +-2**47 is beyond the grams of any text that fits in memory, 7 grams a character)."""
    return sum(t << _NARRATIVE_SHIFT * k for k, t in enumerate(sums))


def _windows(chars: list[str], width: int) -> Iterable[str]:
    """The windows of ``width`` characters starting at each character (shorter at the end)."""
    if width == 2:
        return map(add, chars, chars[1:] + [""])
    if width == 3:
        return map(add, map(add, chars, chars[1:] + [""]), chars[2:] + ["", ""])
    text = "".join(chars)
    return (text[i:i + width] for i in range(len(text)))


def _evidence_function(low: tuple[tuple[float, ...], ...], high: tuple[tuple[float, ...], ...],
                       categories: dict[str, tuple[float, ...]],
                       no_term: float = 0.0) -> Callable[..., tuple[float, float, float, bool]]:
    """(Analysis, marks, crisis weight, hits, text, emoji praise) -> the three margins' biases plus the weights of the
    flags and categories of evidence() (read inline: the same bits), and whether a hit is negated (seen in the loop
    the denial flag makes anyway: a post without a denial pays nothing for its dropped grams).  ``low`` holds the
    crisis bias of a post without a crisis term: one with a non-negated term (the ones the crisis weight counts)
    gets ``no_term`` back."""
    authority, category_of = _voiced_by_authority, categories.get

    def flag_margins(out: Analysis, marks: tuple[bool, bool, int, int, bool, int], crisis_weight: float,
                     hits: tuple[TermHit, ...], text: str, emoji_praise: float) -> tuple[float, float, float, bool]:
        banking, withdrawal, personal, report, resolved, _ = marks
        flags = 1 if out.praise > 0 or emoji_praise > 0 else 0
        if resolved:
            flags |= 16
        if out.questions:
            flags |= 96 if crisis_weight else 32
        if out.debunk:
            flags |= 10 if authority(text) else 2
        high_flags = 1 if out.irony else 0
        if out.hedges:
            high_flags |= 2
        if banking:
            high_flags |= 4
        if withdrawal:
            high_flags |= 8
        if personal != report:
            high_flags |= 16 if personal > report else 32
        seen = None
        denied = False
        for hit in hits:
            if hit.negated:
                denied = True
                if not flags & 14:          # a denial, unless a debunk said more
                    flags |= 12 if authority(text) else 4
            elif seen is None:
                seen = hit.category
            elif hit.category != seen and (type(seen) is str or hit.category not in seen):
                seen = {seen, hit.category} if type(seen) is str else seen | {hit.category}
        neg, pos, cri = low[flags]
        n2, p2, c2 = high[high_flags]
        neg, pos, cri = neg + n2, pos + p2, cri + c2
        if seen is not None:
            cri += no_term
            for category in ((seen,) if type(seen) is str else seen):
                w = category_of(category)
                if w is not None:
                    neg, pos, cri = neg + w[0], pos + w[1], cri + w[2]
        return neg, pos, cri, denied

    return flag_margins


def _polarity_function(grams: tuple, flag_margins: Callable[..., tuple[float, float, float, bool]], step: float,
                       crisis_step: float, values: tuple[tuple[float, ...], ...]) -> Callable[..., tuple[float, str, bool]]:
    """Model.polarity: the formula, weights as locals, evidence() and the gram sums inline (``grams``: _compile's)."""
    words, windows, singles, width, plain_sums, pairs, name_firsts, names_value = grams
    ((tone_n, tone_p, tone_c), (crisis_n, crisis_p, crisis_c), (event_n, event_p, event_c),
     (eneg_n, eneg_p, eneg_c), (epos_n, epos_p, epos_c)) = values
    shift, half, low_mask, long_post, alpha, top, sqrt, exp = (_SHIFT, _HALF, _LOW, LONG_POST, VALENCE_ALPHA,
                                                               MAX_MARGIN, math.sqrt, math.exp)

    def polarity(present: set[str] | None, chars: list[str] | None, emoji: str, tone: float,
                 crisis_weight: float, hits: tuple[TermHit, ...], out: Analysis,
                 marks: tuple[bool, bool, int, int, bool, int], text: str,
                 emoji_valence: tuple[float, float, float]) -> tuple[float, str, bool]:
        emoji_pos, emoji_neg, emoji_praise = emoji_valence
        neg, pos, cri, denied = flag_margins(out, marks, crisis_weight, hits, text, emoji_praise)
        if len(text) > long_post:
            qn, qp, qc = plain_sums(present, chars, emoji, hits if denied else ())
        else:
            g = sum(map(words, present)) if present else 0
            if denied and present:      # a denial: its term's tokens and the negators give no grams
                g -= sum(map(words, negated_tokens(hits, present)))
            if chars:
                g += (sum(map(getitem, map(pairs, chars), islice(chars, 1, None)), pairs(chars[-1])[""]) if pairs
                      else sum(map(windows, chars if width == 1 else _windows(chars, width))))
                firsts = name_firsts.intersection(chars) if name_firsts else None
                g -= names_value(text, firsts) if firsts else 0     # the masked names found
            g += sum(map(singles, emoji)) if emoji else 0
            qc = ((g + half) & low_mask) - half
            g = (g - qc) >> shift
            qp = ((g + half) & low_mask) - half
            qn = (g - qp) >> shift
        if tone:
            neg, pos, cri = neg + tone_n * tone, pos + tone_p * tone, cri + tone_c * tone
        if crisis_weight:
            neg, pos, cri = neg + crisis_n * crisis_weight, pos + crisis_p * crisis_weight, cri + crisis_c * crisis_weight
        x = out.event
        if x:
            x /= sqrt(x * x + alpha)
            neg, pos, cri = neg + event_n * x, pos + event_p * x, cri + event_c * x
        x = out.eval_neg + emoji_neg
        if x:
            x /= sqrt(x * x + alpha)
            neg, pos, cri = neg + eneg_n * x, pos + eneg_p * x, cri + eneg_c * x
        x = out.eval_pos + emoji_pos
        if x:
            x /= sqrt(x * x + alpha)
            neg, pos, cri = neg + epos_n * x, pos + epos_p * x, cri + epos_c * x
        if qn or qp or qc:
            root = sqrt((len(present) if present else 0) + (len(chars) if chars else 0) + len(emoji))
            scale = step / root
            neg, pos, cri = neg + qn * scale, pos + qp * scale, cri + qc * crisis_step / root
        try:
            e_neg, e_pos = exp(neg), exp(pos)
        except OverflowError:
            e_neg, e_pos = exp(min(neg, top)), exp(min(pos, top))
        return (round((e_pos - e_neg) / (1.0 + e_neg + e_pos) * 10000.0) / 10000.0,
                "negative" if neg > 0.0 and neg > pos else "positive" if pos > 0.0 and pos > neg else "neutral",
                cri > 0.0)

    return polarity


_MODEL: Model | None = None


def read_model(header_file: str = HEADER_FILE, weights_file: str = WEIGHTS_FILE,
               narratives_file: str = NARRATIVES_FILE) -> Model:
    with open(header_file, encoding="utf-8") as fh:
        header = json.load(fh)
    buckets = header.get("buckets")
    with open(weights_file, "rb") as fh:     # (the output's size known: one buffer, no regrowing)
        raw = zlib.decompress(fh.read(), bufsize=3 * buckets if type(buckets) is int and buckets > 0
                              else zlib.DEF_BUF_SIZE)
    weights = array("b")
    weights.frombytes(raw)
    return Model(header, weights, narratives_file)


def model() -> Model:
    """The shipped model, read at the first call (a cold start that scores nothing pays nothing)."""
    global _MODEL
    if _MODEL is None:
        _MODEL = read_model()
    return _MODEL


def use(m: Model | None) -> None:
    """Score with ``m`` from now on (None: the shipped model again, read when next needed); for
    the trainer and for tests."""
    global _MODEL
    _MODEL = m
