"""Clause-level rules shared by the English and Chinese analysers.

Both analysers turn a post into :class:`Item` records (positions in tokens for English,
in characters for Chinese) and hand them to :func:`walk`.  It works in two passes
because some rules need the whole post: :func:`scan_clauses` reads the items left to
right, keeping per-clause state, and :func:`resolve_hits` then settles what only later
text decides (a question at the end of the clause, a post-negator, a stronger negated
term); :func:`sum_contributions` adds up the valence.  The rules, in order:

* negation: a negator within ``neg_window`` units before a valence word or crisis
  term, in the same clause, flips the word (x -0.74, VADER's scalar) or marks the
  crisis hit negated.  In Chinese the negator is consumed by the first word it negates;
* degree words: additive boosters (English, VADER-style) or multipliers (Chinese),
  for the next word only; a word that is both praise and degree (好, "damn") is a
  degree word when a valenced word follows at once;
* ALL-CAPS emphasis (English, in mixed-case text);
* scare quotes: a positive word inside quotation marks counts as negative ("safe");
* questions: a positive word in a clause that ends with "?" counts zero ("Is it
  safe??"); a negated crisis term in such a clause is not negated ("没有挤兑？",
  "no bank run?") unless the negator is itself rhetorical (谁说, 哪有);
* reported denials ("says no accounts were frozen", 话冇擠提) are not trusted when
  the post also asks a question;
* post-negators after a crisis term in the same sentence debunk it ("... are false",
  是谣言, 个啥), and a bare "No." / "没有。" right after a question negates it;
* contrast: everything before the last "but"/但是 counts half, everything after 1.5x.

The records are plain slotted classes, not dataclasses: they are internal, none compares
by value, and a dataclass costs about three times as much to define at import (a cold
start); those built once per language are never changed after.
"""
from __future__ import annotations

from operator import attrgetter

from .model import (BOUNDARY, GENERAL, INERT, QUOTE, UNSEALED, VALENCE, WITHDRAWAL_GATE, Analysis,
                    CrisisEntry, Rec)

NEGATION_SCALAR = -0.74
CAPS_INCREMENT = 0.733
SCARE_QUOTE_SCALAR = -0.8
NO_POSITION = -999     # no negator / degree word / reported speech in this clause yet
QUESTION = 3           # Rec.boundary of "?" and 吗; 2 ends a sentence, 1 a clause

EVALUATIVE, EVENT, PRAISE = 0, 1, 2     # Contribution.kind


class Item:
    """One lexicon match, in tokens (English) or characters (Chinese)."""

    __slots__ = ("start", "end", "rec", "neg_inside", "caps")

    def __init__(self, start: int, end: int, rec: Rec, neg_inside: bool = False,
                 caps: bool = False) -> None:
        self.start = start
        self.end = end
        self.rec = rec
        self.neg_inside = neg_inside     # a negator stood in a gap of the pattern
        self.caps = caps                 # ALL-CAPS token


by_start = attrgetter("start")     # sort key of both matchers
# object.__new__: the hot paths fill the slots of the records they make by the dozen (items, clause
# hits, matched terms) themselves, since calling the class runs __init__ in a nested interpreter frame
# (tests/unit/test_scoring_fastpaths.py compares them with what the class builds)
new_object = object.__new__


class ClauseRules:
    """How a language applies the rules; windows are in that language's units (one
    record per language, never changed)."""

    __slots__ = ("neg_window", "crisis_neg_window", "consume_negation", "additive_degree",
                 "postneg_window", "single_quoted_only")

    def __init__(self, neg_window: int, crisis_neg_window: int, consume_negation: bool,
                 additive_degree: bool, postneg_window: int, single_quoted_only: int = 0) -> None:
        self.neg_window = neg_window
        self.crisis_neg_window = crisis_neg_window
        self.consume_negation = consume_negation
        self.additive_degree = additive_degree
        self.postneg_window = postneg_window
        self.single_quoted_only = single_quoted_only  # > 0: only so short terms are scare-quoted


class PostContext:
    """What the whole post decides for every clause of it."""

    __slots__ = ("bank", "withdrawal", "all_caps", "negated_crisis_valence")

    def __init__(self, bank: bool, withdrawal: bool, all_caps: bool,
                 negated_crisis_valence: float) -> None:
        self.bank = bank                # about banking: bank-gated crisis terms count
        self.withdrawal = withdrawal    # money being taken out: queue terms count
        self.all_caps = all_caps        # shouting throughout emphasises nothing
        self.negated_crisis_valence = negated_crisis_valence


class Contribution:
    """One word's valence; ``base`` is kept so the resolve pass can re-negate it."""

    __slots__ = ("valence", "kind", "base", "clause")

    def __init__(self, valence: float, kind: int, base: float, clause: int) -> None:
        self.valence = valence
        self.kind = kind
        self.base = base
        self.clause = clause


class CrisisHit(Contribution):
    """A crisis term as scanned, and the event valence it contributes; ``negated`` is
    final only after :func:`resolve_hits`."""

    __slots__ = ("crisis", "negated", "start", "end", "rhetorical", "reported_denial", "settled")

    def __init__(self, valence: float, kind: int, base: float, clause: int,
                 crisis: CrisisEntry, negated: bool, start: int, end: int, rhetorical: bool,
                 reported_denial: bool, settled: bool) -> None:
        self.valence = valence
        self.kind = kind
        self.base = base
        self.clause = clause
        self.crisis = crisis
        self.negated = negated
        self.start = start
        self.end = end
        self.rhetorical = rhetorical        # negated by 谁说 / 哪有: a question does not undo it
        self.reported_denial = reported_denial  # negated in reported speech: distrusted if asked
        self.settled = settled              # scare-quoted or outside banking: negated for good


class PostNegator:
    """"... are false", 是谣言, or a bare "No." after a question."""

    __slots__ = ("start", "sentence_start")

    def __init__(self, start: int, sentence_start: int) -> None:
        self.start = start
        self.sentence_start = sentence_start


class ClauseScan:
    """The scan pass's state and what it hands to the resolve pass, in one record (one object a
    post, not two): negation, degree and reported speech never cross a clause boundary."""

    __slots__ = ("hits", "contributions", "question_clauses", "post_negators", "contrast_at",
                 "clause", "clause_start", "sentence_start", "neg_end", "neg_rhetorical",
                 "reported_end", "degree", "degree_end", "in_quote", "after_question")

    def __init__(self) -> None:
        self.hits: list[CrisisHit] = []
        self.contributions: list[Contribution] = []
        self.question_clauses: set[int] = set()
        self.post_negators: list[PostNegator] = []
        self.contrast_at = -1           # the first contribution after the last "but", or -1
        self.clause = 0
        self.clause_start = 0
        self.sentence_start = 0
        self.neg_end = NO_POSITION
        self.neg_rhetorical = False
        self.reported_end = NO_POSITION
        self.degree = 0.0
        self.degree_end = NO_POSITION
        self.in_quote = False
        self.after_question = False


_Cursor = ClauseScan        # the scan state's half, as the helpers name it


def crisis_valence(weight: float) -> float:
    """Valence a crisis term carries when the lexicon gives it none (an event word)."""
    return -(0.6 + 0.6 * weight)


def walk(items: list[Item], out: Analysis, rules: ClauseRules,
         post: PostContext) -> list[CrisisHit]:
    """Add the valence of ``items`` to ``out``; return their crisis hits, resolved."""
    if not items:
        return []
    found = scan_clauses(items, out, rules, post)
    if not found.contributions:     # every hit is a contribution too
        return []
    hits = resolve_hits(found, rules.postneg_window, post.negated_crisis_valence)
    sum_contributions(found, out)
    return hits


# ---------------------------------------------------------------- scan pass
def scan_clauses(items: list[Item], out: Analysis, rules: ClauseRules,
                 post: PostContext) -> ClauseScan:
    """One left-to-right pass; post-wide markers go straight to ``out``."""
    found = cur = ClauseScan()
    last = len(items) - 1
    for k, item in enumerate(items):
        rec = item.rec
        kind = rec.kind             # Rec.seal(): the common cases first
        if kind == UNSEALED:
            kind = rec.seal()
        if kind == BOUNDARY:    # negation, degree and reported speech end with the clause
            level = rec.boundary
            is_question = level == QUESTION
            if is_question:
                found.question_clauses.add(cur.clause)
                out.questions += 1
            elif level >= 2:
                cur.sentence_start = item.end
                cur.in_quote = False
            cur.clause += 1
            cur.clause_start = item.end
            cur.neg_end = cur.reported_end = cur.degree_end = NO_POSITION
            cur.after_question = is_question
            continue
        if kind == VALENCE:
            cur.after_question = False
            _add_valence(item, rec.valence, cur, found, rules, post)
            continue
        if kind != GENERAL:     # a blocker, a quotation mark, or a word of no role here
            if kind == QUOTE:
                cur.in_quote = not cur.in_quote
            elif kind == INERT:
                cur.after_question = False
            continue
        nxt = items[k + 1] if k < last else None
        after_question = cur.after_question
        cur.after_question = False
        if rec.notes:           # (sealed above)
            _note_markers(item, cur, found, out)
        if rec.neg and after_question and (nxt is None or nxt.rec.boundary):
            # "Bank run? No." / "挤兑？没有。"
            found.post_negators.append(PostNegator(item.start, cur.sentence_start))
        if rec.contrast:
            found.contrast_at = len(found.contributions)
            out.contrast = True
            cur.clause += 1
            cur.clause_start = item.end
            cur.neg_end = NO_POSITION
            continue
        if rec.crisis is not None or rec.degree is not None:
            if _read_term(item, items[k - 1] if k else None, nxt, cur, found, rules, post):
                continue
        elif rec.valence is not None:     # the common case, spared _read_term's checks
            _add_valence(item, rec.valence, cur, found, rules, post)
        if rec.neg:
            cur.neg_end = item.end
            cur.neg_rhetorical = rec.rhetorical
    return found


def _note_markers(item: Item, cur: _Cursor, found: ClauseScan, out: Analysis) -> None:
    rec = item.rec
    if rec.irony:
        out.irony = True
    if rec.debunk:
        out.debunk = True
    if rec.hedge:
        out.hedges += 1
    if rec.postneg:
        found.post_negators.append(PostNegator(item.start, cur.sentence_start))
    if rec.reported:
        cur.reported_end = item.end


def _read_term(item: Item, prev: Item | None, nxt: Item | None, cur: _Cursor,
               found: ClauseScan, rules: ClauseRules, post: PostContext) -> bool:
    """A crisis term or degree word; True when it used up the item, negator included."""
    rec = item.rec
    valence = rec.valence
    crisis = rec.crisis
    if crisis is not None and crisis.gate and not (
            post.withdrawal if crisis.gate == WITHDRAWAL_GATE else post.bank):
        # an ambiguous term outside banking is no crisis and loses its event valence
        # ("frozen shoulder", "charity run"); a negated one is still reported ("並沒有倒閉")
        if item.neg_inside or (cur.neg_end >= cur.clause_start
                               and item.start - cur.neg_end <= rules.crisis_neg_window):
            _add_gated_hit(item, crisis, cur, found, rules)
            return True
        crisis = None
        if rec.event:
            valence = None
    if rec.degree is not None and _takes_degree(item, nxt, cur):
        return True
    if crisis is not None:
        _add_crisis_hit(item, prev, nxt, valence, crisis, cur, found, rules, post)
    elif valence is not None:
        _add_valence(item, valence, cur, found, rules, post)
    return False


def _takes_degree(item: Item, nxt: Item | None, cur: _Cursor) -> bool:
    """A degree word modifies the next word only when a valenced word follows at once."""
    if nxt is None or nxt.start - item.end > 1:
        return False
    nrec = nxt.rec
    if (nrec.valence is None and nrec.crisis is None) or nrec.neg:
        return False
    cur.degree = item.rec.degree
    cur.degree_end = item.end
    if item.rec.neg:
        cur.neg_end = item.end
    return True


def _add_gated_hit(item: Item, crisis: CrisisEntry, cur: _Cursor, found: ClauseScan,
                   rules: ClauseRules) -> None:
    hit = CrisisHit(0.0, EVENT, 0.0, cur.clause,    # weightless for good
                    crisis, True, item.start, item.end, True, False, True)
    found.hits.append(hit)
    found.contributions.append(hit)
    if rules.consume_negation:
        cur.neg_end = NO_POSITION


def _add_crisis_hit(item: Item, prev: Item | None, nxt: Item | None, valence: float | None,
                    crisis: CrisisEntry, cur: _Cursor, found: ClauseScan, rules: ClauseRules,
                    post: PostContext) -> None:
    clause_start = cur.clause_start
    near_neg = cur.neg_end >= clause_start and item.start - cur.neg_end <= rules.crisis_neg_window
    negated = item.neg_inside or near_neg
    if valence is None:
        valence = crisis_valence(crisis.weight)
    if cur.degree_end >= clause_start and 0 <= item.start - cur.degree_end <= 1:
        valence = _boost(valence, cur.degree, rules.additive_degree)
    quoted = (prev is not None and prev.rec.quote     # the cheap test first
              and _scare_quoted(item, prev, nxt, rules.single_quoted_only))
    # CrisisHit(...), its slots filled here (see new_object)
    hit = new_object(CrisisHit)
    hit.valence = post.negated_crisis_valence if negated else valence
    hit.kind = EVENT
    hit.base = valence
    hit.clause = cur.clause
    hit.crisis = crisis
    hit.negated = negated or quoted
    hit.start = item.start
    hit.end = item.end
    hit.rhetorical = cur.neg_rhetorical and near_neg
    hit.reported_denial = negated and cur.reported_end >= clause_start
    hit.settled = quoted
    found.hits.append(hit)
    found.contributions.append(hit)
    if near_neg and rules.consume_negation:
        cur.neg_end = NO_POSITION


def _add_valence(item: Item, valence: float, cur: _Cursor, found: ClauseScan,
                 rules: ClauseRules, post: PostContext) -> None:
    clause_start = cur.clause_start
    near_neg = cur.neg_end >= clause_start and item.start - cur.neg_end <= rules.neg_window
    if cur.degree_end >= clause_start and 0 <= item.start - cur.degree_end <= 1:
        valence = _boost(valence, cur.degree, rules.additive_degree)
    if item.caps and not post.all_caps:
        valence = valence + CAPS_INCREMENT if valence > 0 else valence - CAPS_INCREMENT
    if near_neg:
        valence *= NEGATION_SCALAR
        if rules.consume_negation:
            cur.neg_end = NO_POSITION
    elif cur.in_quote and valence > 0:
        valence *= SCARE_QUOTE_SCALAR
    rec = item.rec
    kind = EVENT if rec.event else PRAISE if rec.praise and valence > 0 else EVALUATIVE
    c = new_object(Contribution)    # Contribution(valence, kind, valence, cur.clause) (see new_object)
    c.valence = c.base = valence
    c.kind = kind
    c.clause = cur.clause
    found.contributions.append(c)


def _boost(v: float, degree: float, additive: bool) -> float:
    if additive:
        return v + degree if v > 0 else v - degree
    return v * degree


def _scare_quoted(item: Item, prev: Item, nxt: Item | None, max_len: int) -> bool:
    """A term right between two quotation marks: "bank run"."""
    if max_len > 0 and item.end - item.start > max_len:
        return False
    return nxt is not None and nxt.rec.quote and prev.end == item.start and nxt.start == item.end


# ---------------------------------------------------------------- resolve pass
def resolve_hits(found: ClauseScan, postneg_window: int,
                 negated_crisis_valence: float) -> list[CrisisHit]:
    """Settle negation with the whole post known, then re-value the hits' words."""
    if not found.hits:
        return found.hits
    # A question undoes a plain negation ("no bank run?") and a reported denial; a post-negator
    # later in the sentence debunks the term.
    questions = found.question_clauses
    asked = bool(questions)
    post_negators = found.post_negators
    for hit in found.hits:
        negated = hit.negated
        if negated and not hit.settled and (
                (not hit.rhetorical and hit.clause in questions)
                or (hit.reported_denial and asked)):
            negated = False
        if not negated and post_negators:
            end = hit.end
            for p in post_negators:
                if p.start >= end and p.start - end <= postneg_window and p.sentence_start <= hit.start:
                    negated = True
                    break
        hit.negated = negated
    # a negated term silences weaker non-negated terms of its category
    # ("not a bank run, the queue outside is for the coffee promo")
    strongest: dict[str, float] = {}
    for hit in found.hits:
        if hit.negated and not hit.settled:
            category = hit.crisis.category
            strongest[category] = max(strongest.get(category, 0.0), hit.crisis.weight)
    for hit in found.hits:
        if not hit.negated and hit.crisis.weight <= strongest.get(hit.crisis.category, -1.0):
            hit.negated = True
        if hit.base:     # gated-off negated hits stay weightless
            hit.valence = negated_crisis_valence if hit.negated else hit.base
    return found.hits


def sum_contributions(found: ClauseScan, out: Analysis) -> None:
    """Positive words in a question clause count zero; "but" shifts the weights."""
    questions = found.question_clauses
    contrast_at = found.contrast_at
    for i, c in enumerate(found.contributions):
        v = c.valence
        if v > 0 and c.clause in questions:
            continue
        if contrast_at >= 0:
            v *= 0.5 if i < contrast_at else 1.5
        if c.kind == EVENT:
            out.event += v
        elif v > 0:
            out.eval_pos += v
            if c.kind == PRAISE:
                out.praise += v
        else:
            out.eval_neg += v
