"""Chinese analysis without a segmentation library.

Text arrives NFKC-normalised, case-folded and folded to Simplified.  A greedy
longest-match scan over one dictionary (valence words, crisis terms, negators,
degree adverbs, hedges, contrast words, blockers, punctuation) yields the items; a
handful of patterns with a gap (排了好长的队, 转账全部失败, 门口全是人, 账户...被冻结)
are matched with regular expressions; they replace the plain words they span, and lose
to an overlapping lexicon crisis term unless they weigh more.  The
clause-level rules (negation, degree, questions, debunks, contrast) are in ``rules.py``;
Chinese negation is consumed by the first word it negates, within 5 characters
(没有出现任何挤兑), and degree adverbs multiply (很 1.3, 非常 1.6, 有点 0.7).
"""
from __future__ import annotations

import re

from .lexicon import crisis_entries, crisis_entry, load
from .model import Analysis, MatchedTerm, Rec
from .rules import ClauseRules, Item, PostContext, by_start, walk

LEX = load("zh")
_DICT: dict[str, Rec] = {}
_LENGTHS: dict[str, tuple[int, ...]] = {}
_BOUNDARY = {",": 1, ";": 1, ":": 1, ".": 2, "!": 2, "\n": 2, "?": 3, "吗": 3}


def _rec(word: str) -> Rec:
    rec = _DICT.get(word)
    if rec is None:
        rec = _DICT[word] = Rec()
    return rec


def _build() -> None:
    lex = LEX
    for w, v in lex["valence"].items():
        _rec(w).valence = v
    for entry, variants in crisis_entries(lex, ""):
        for variant in variants:
            rec = _rec(variant)
            if rec.crisis is None or rec.crisis.weight < entry.weight:
                rec.crisis = entry
    for key, attr in (("event_words", "event"), ("blockers", "block"), ("negators", "neg"),
                      ("post_negators", "postneg"), ("debunk_markers", "debunk"),
                      ("hedges", "hedge"), ("contrast", "contrast"), ("irony", "irony"),
                      ("reported_speech", "reported"), ("praise", "praise")):
        for w in lex[key]:
            setattr(_rec(w), attr, True)
    for w in lex["rhetorical_negators"]:
        r = _rec(w)
        r.neg = True
        r.rhetorical = True
    for w, d in lex["degree"].items():
        _rec(w).degree = d
    for p, level in _BOUNDARY.items():
        _rec(p).boundary = level
    _rec('"').quote = True
    lengths: dict[str, set[int]] = {}
    for w in _DICT:
        lengths.setdefault(w[0], set()).add(len(w))
    for ch, ls in lengths.items():
        _LENGTHS[ch] = tuple(sorted(ls, reverse=True))


_build()


def _pattern_rec(entry: dict) -> Rec:
    rec = Rec()
    if entry["crisis"] is not None:
        rec.crisis = crisis_entry(entry["crisis"])
    rec.valence = entry["valence"]
    rec.event = entry["event"]
    return rec


_PATTERNS = tuple((re.compile(e["regex"]), _pattern_rec(e)) for e in LEX["gap_patterns"])
_CONTEXT = tuple(LEX["bank_context"])
_WITHDRAW_CONTEXT = tuple(LEX["withdrawal_context"])
PERSONAL = tuple(LEX["personal"])
REPORT = tuple(LEX["report"])
RESOLUTION = tuple(LEX["resolution"])


def has_context(text: str) -> bool:
    for w in _CONTEXT:
        if w in text:
            return True
    return False


def has_withdraw_context(text: str) -> bool:
    for w in _WITHDRAW_CONTEXT:
        if w in text:
            return True
    return False


def scan(text: str) -> list[Item]:
    """Greedy longest-match items, then the gap patterns."""
    items: list[Item] = []
    lengths = _LENGTHS
    d = _DICT
    i = 0
    n = len(text)
    while i < n:
        ls = lengths.get(text[i])
        if ls is None:
            i += 1
            continue
        for L in ls:
            rec = d.get(text[i:i + L]) if L > 1 else d.get(text[i])
            if rec is not None:
                items.append(Item(i, i + L, rec))
                i += L
                break
        else:
            i += 1
    extra = [Item(m.start(), m.end(), rec) for rx, rec in _PATTERNS for m in rx.finditer(text)]
    if extra:
        items = _merge_patterns(items, extra)
    return items


def _merge_patterns(items: list[Item], extra: list[Item]) -> list[Item]:
    """A lexicon crisis term beats a pattern it overlaps unless the pattern weighs more;
    a pattern beats the plain words it spans."""
    extra.sort(key=lambda it: (it.start, it.start - it.end))
    kept: list[Item] = []
    for it in extra:    # drop overlapping pattern matches, first wins
        if not kept or it.start >= kept[-1].end:
            kept.append(it)
    crisis_spans = [(it.start, it.end, it.rec.crisis.weight) for it in items
                    if it.rec.crisis is not None]
    kept = [k for k in kept
            if not any(s < k.end and k.start < e
                       and (k.rec.crisis is None or w >= k.rec.crisis.weight)
                       for s, e, w in crisis_spans)]
    if kept:
        items = [it for it in items
                 if not any(it.start < k.end and k.start < it.end for k in kept)]
        items.extend(kept)
        items.sort(key=by_start)
    return items


RULES = ClauseRules(neg_window=5, crisis_neg_window=5, consume_negation=True,
                    additive_degree=False, postneg_window=10)


def analyse(text: str, out: Analysis, post: PostContext) -> None:
    """Add the Chinese valence and crisis hits of ``text`` to ``out``."""
    for hit in walk(scan(text), out, RULES, post):
        out.hits.append(MatchedTerm(hit.crisis, hit.negated, text[hit.start:hit.end]))
