"""Chinese analysis without a segmentation library.

Text arrives NFKC-normalised, case-folded and folded to Simplified.  A greedy
longest-match scan over one dictionary (valence words, crisis terms, negators,
degree adverbs, hedges, contrast words, blockers, punctuation) yields the items; a
handful of patterns with a gap (排了好长的队, 转账全部失败, 门口全是人, 账户...被冻结)
are matched with regular expressions; they replace the plain words they span, and lose
to an overlapping lexicon crisis term unless they weigh more.  A pattern only runs on a
post that has the characters a match needs (``regex_reader``), and is compiled the first
time one does.  The clause-level rules (negation, degree, questions, debunks, contrast)
are in ``rules.py``;
Chinese negation is consumed by the first word it negates, within 5 characters
(没有出现任何挤兑), and degree adverbs multiply (很 1.3, 非常 1.6, 有点 0.7).
"""
from __future__ import annotations

import re
from itertools import compress

from .lexicon import crisis_entries, crisis_entry, load
from .model import Analysis, MatchedTerm, Rec
from .regex_reader import has_inline_flags, requirements
from .rules import ClauseRules, Item, PostContext, by_start, new_object, walk

LEX = load("zh")
_DICT: dict[str, Rec] = {}
# first character -> (its word lengths, longest first; the second characters of its
# longer words; the record of the one-character word or None)
_FIRSTS: dict[str, tuple[tuple[int, ...], frozenset[str], Rec | None]] = {}
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
    seconds: dict[str, set[str]] = {}
    for w in _DICT:
        lengths.setdefault(w[0], set()).add(len(w))
        if len(w) > 1:
            seconds.setdefault(w[0], set()).add(w[1])
    for ch, ls in lengths.items():
        _FIRSTS[ch] = (tuple(sorted(ls, reverse=True)), frozenset(seconds.get(ch, ())),
                       _DICT.get(ch))


_build()


def _pattern_rec(entry: dict) -> Rec:
    rec = Rec()
    if entry["crisis"] is not None:
        rec.crisis = crisis_entry(entry["crisis"])
    rec.valence = entry["valence"]
    rec.event = entry["event"]
    return rec


# The gap patterns, compiled the first time a post needs one (_pattern): compiling all
# sixteen takes longer than the rest of the import, and most posts need one or two.
_PATTERN_SOURCES = tuple(e["regex"] for e in LEX["gap_patterns"])
_PATTERN_RECS = tuple(_pattern_rec(e) for e in LEX["gap_patterns"])
_COMPILED: list[re.Pattern[str] | None] = [None] * len(_PATTERN_SOURCES)


def _pattern(k: int) -> re.Pattern[str]:
    rx = _COMPILED[k]
    if rx is None:
        rx = _COMPILED[k] = re.compile(_PATTERN_SOURCES[k])
    return rx


_CONTEXT = tuple(LEX["bank_context"])
_WITHDRAW_CONTEXT = tuple(LEX["withdrawal_context"])
PERSONAL = tuple(LEX["personal"])
REPORT = tuple(LEX["report"])
RESOLUTION = tuple(LEX["resolution"])
BANK, WITHDRAWAL, N_PERSONAL, N_REPORT, RESOLVED = range(5)     # indexes of markers()


def _index_markers() -> dict[str, tuple[tuple[str, int], ...]]:
    """Key character -> (marker, group) of the marker lists: a marker is filed under its
    rarest character (the one fewest markers have), which a post must have for the
    marker to be in it."""
    groups = (_CONTEXT, _WITHDRAW_CONTEXT, PERSONAL, REPORT, RESOLUTION)
    every = "".join("".join(markers) for markers in groups)
    uses = {ch: every.count(ch) for ch in set(every)}
    index: dict[str, list[tuple[str, int]]] = {}
    for group, markers in enumerate(groups):
        for m in markers:
            index.setdefault(min(m, key=uses.__getitem__), []).append((m, group))
    return {ch: tuple(lst) for ch, lst in index.items()}


def _index_patterns() -> tuple[dict[str, int], int, tuple[int, ...]]:
    """Key character -> bit mask of the gap patterns' alternatives it is a key of, in _STAGES
    fields of _FIELD bits; the mask of what every post has; the pattern of each alternative.

    Field j of an alternative holds the characters of its j-th requirement (its last one if it
    has fewer, see ``regex_reader``): a match of it has a character of each field, so only the
    patterns with an alternative that has a character of the post in each of its fields need
    run (an alternative apiece: with the fields of all a pattern's alternatives pooled, a
    character of one alternative and another of the next would run it too).  A pattern the
    reader cannot tell is one alternative every post has."""
    keys: dict[str, int] = {}
    always = 0
    for slot, (k, alternative) in enumerate(_ALTERNATIVES):
        for j in range(_STAGES):
            bit = 1 << (j * _FIELD + slot)
            if alternative is None:
                always |= bit
                continue
            for ch in alternative[min(j, len(alternative) - 1)]:
                keys[ch] = keys.get(ch, 0) | bit
    return keys, always, tuple(k for k, _ in _ALTERNATIVES)


# (pattern, the requirements of one of its alternatives, or None when the reader cannot tell)
_ALTERNATIVES = tuple((k, alternative) for k, rx in enumerate(_PATTERN_SOURCES)
                      for needs in (None if has_inline_flags(rx) else requirements(rx),)
                      for alternative in ((None,) if needs is None else needs))
_STAGES = 4                     # markers() ANDs this many fields
_FIELD = max(16, len(_ALTERNATIVES))    # bits a field: one an alternative
_FIELD_MASK = (1 << _FIELD) - 1


def _index_keys() -> tuple[dict[str, tuple[tuple[tuple[str, int], ...], int]], int, tuple[int, ...]]:
    """Character -> (the markers filed under it, its gap-pattern key bits), the key bits of
    every post and the pattern of each alternative: markers() reads both with one look at
    the characters."""
    markers_of = _index_markers()
    pattern_keys, always, pattern_of = _index_patterns()
    return {ch: (markers_of.get(ch, ()), pattern_keys.get(ch, 0))
            for ch in markers_of.keys() | pattern_keys.keys()}, always, pattern_of


_KEYS, _PATTERN_ALWAYS, _PATTERN_OF = _index_keys()
_KEY_CHARS = frozenset(_KEYS)
# the alternatives a post can match (a bit each) -> the patterns that have them (a bit each)
_RUN_OF: dict[int, int] = {}


def _patterns_of(alternatives: int) -> int:
    run = _RUN_OF.get(alternatives)
    if run is None:
        run = 0
        for slot, k in enumerate(_PATTERN_OF):
            if alternatives >> slot & 1:
                run |= 1 << k
        if len(_RUN_OF) < 4096:
            _RUN_OF[alternatives] = run
    return run


def markers(text: str, chars: list[str]) -> tuple[list[int], int]:
    """How many markers of each list ``text`` (whose characters are ``chars``) contains,
    [bank context, withdrawal context, personal, report, resolution], and the bit mask
    of the gap patterns that can match it (for :func:`scan`): one look at the
    characters for both."""
    counts = [0, 0, 0, 0, 0]
    mask = _PATTERN_ALWAYS
    index = _KEYS
    for ch in _KEY_CHARS.intersection(chars):
        entries, bits = index[ch]
        mask |= bits
        for m, group in entries:
            if m in text:
                counts[group] += 1
    # the patterns with an alternative that has a key in each of its fields
    return counts, _patterns_of(mask & (mask >> _FIELD) & (mask >> 2 * _FIELD) & (mask >> 3 * _FIELD)
                                & _FIELD_MASK)


def scan(text: str, chars: list[str] | None = None, run: int | None = None) -> list[Item]:
    """Greedy longest-match items, then the gap patterns: those of the mask ``run``
    (markers() gives it; all that can match when None).  ``chars``: list(text)."""
    items: list[Item] = []
    d = _DICT.get
    if chars is None:
        chars = list(text)
    firsts = list(map(_FIRSTS.get, chars))      # what each character can start
    last = len(chars) - 1
    end = 0                 # the end of the last match: the scan resumes there
    for i in compress(range(len(chars)), firsts):
        if i < end:
            continue
        lengths, seconds, single = firsts[i]
        if i < last and chars[i + 1] not in seconds:
            # no longer word starts with these two characters: only the one-character word
            if single is not None:      # Item(i, i + 1, single), its slots filled here (english.items_of)
                item = new_object(Item)
                item.start = i
                item.end = i + 1
                item.rec = single
                item.neg_inside = item.caps = False
                items.append(item)
            continue
        for L in lengths:
            # (near the end a slice can be shorter than L: the match still ends at i + L)
            rec = d(text[i:i + L]) if L > 1 else single
            if rec is not None:
                end = i + L
                item = new_object(Item)     # Item(i, end, rec), as above
                item.start = i
                item.end = end
                item.rec = rec
                item.neg_inside = item.caps = False
                items.append(item)
                break
    extra = _pattern_items(text, markers(text, chars)[1] if run is None else run)
    if extra:
        items = _merge_patterns(items, extra)
    return items


def _pattern_items(text: str, run: int) -> list[Item]:
    """The matches of the gap patterns of the mask ``run``."""
    extra: list[Item] = []
    while run:
        low = run & -run
        k = low.bit_length() - 1
        rx = _COMPILED[k] or _pattern(k)
        if rx.search(text) is not None:     # (most run and find nothing: no scanner made)
            rec = _PATTERN_RECS[k]
            for m in rx.finditer(text):
                extra.append(Item(m.start(), m.end(), rec))
        run ^= low
    return extra


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
    if crisis_spans:
        kept = [k for k in kept
                if not any(s < k.end and k.start < e
                           and (k.rec.crisis is None or w >= k.rec.crisis.weight)
                           for s, e, w in crisis_spans)]
    if kept:
        if len(kept) == 1:      # (the usual case: one pattern matched)
            k_start, k_end = kept[0].start, kept[0].end
            items = [it for it in items if not (it.start < k_end and k_start < it.end)]
        else:
            items = [it for it in items
                     if not any(it.start < k.end and k.start < it.end for k in kept)]
        items.extend(kept)
        items.sort(key=by_start)
    return items


RULES = ClauseRules(neg_window=5, crisis_neg_window=5, consume_negation=True,
                    additive_degree=False, postneg_window=10)


def analyse(text: str, chars: list[str], run: int, out: Analysis, post: PostContext) -> None:
    """Add the Chinese valence and crisis hits of ``text`` (``chars`` = list(text), ``run``
    from :func:`markers`) to ``out``."""
    for hit in walk(scan(text, chars, run), out, RULES, post):
        term = new_object(MatchedTerm)      # MatchedTerm(...), its slots filled here (as in scan)
        term.crisis, term.negated, term.matched = hit.crisis, hit.negated, text[hit.start:hit.end]
        out.hits.append(term)
