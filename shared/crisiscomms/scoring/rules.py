"""Clause-level rules shared by the English and Chinese analysers.

Both analysers turn a post into items ``(start, end, rec, neg_inside, caps)`` — positions
in tokens (English) or characters (Chinese) — and hand them to :func:`walk`, which
applies, in order:

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
"""
from __future__ import annotations

from .model import Analysis, Rec

NEGATION_SCALAR = -0.74
CAPS_INCREMENT = 0.733
SCARE_QUOTE_SCALAR = -0.8


def crisis_valence(weight: float) -> float:
    """Valence a crisis term carries when the lexicon gives it none (an event word)."""
    return -(0.6 + 0.6 * weight)


def walk(items: list[tuple[int, int, Rec, bool, bool]], out: Analysis, context: bool,
         withdraw_context: bool, negated_crisis_valence: float, *, neg_window: int,
         crisis_neg_window: int, consume_negation: bool, additive_degree: bool,
         postneg_window: int, all_caps_text: bool, single_quoted_only: int = 0) -> None:
    n_items = len(items)
    if not n_items:
        return
    clause = 0
    clause_start = 0
    sentence_start = 0
    neg_end = -999
    neg_rhetorical = False
    reported_end = -999
    degree = 0.0
    degree_end = -999
    in_quote = False
    contrast_at = -1
    # contributions: [valence, kind, valence before negation rules, clause]
    # kind: 0 evaluative, 1 event, 2 praise
    contribs: list[list] = []
    question_clauses: set[int] = set()
    # hits: [term, category, weight, negated, (start, end), clause, rhetorical negator,
    #        reported denial, contribution index, start, end, scare-quoted]
    hits: list[list] = []
    postneg: list[tuple[int, int]] = []
    prev_question = False
    for k in range(n_items):
        s, e, rec, neg_inside, caps = items[k]
        if rec.block:
            continue
        if rec.quote:
            in_quote = not in_quote
            continue
        if rec.boundary:
            is_q = rec.boundary == 3
            if is_q:
                question_clauses.add(clause)
                out.questions += 1
            elif rec.boundary >= 2:
                sentence_start = e
            clause += 1
            clause_start = e
            neg_end = -999
            reported_end = -999
            degree_end = -999
            in_quote = False if rec.boundary >= 2 and not is_q else in_quote
            prev_question = is_q
            continue
        after_question = prev_question
        prev_question = False
        if rec.irony:
            out.irony = True
        if rec.debunk:
            out.debunk = True
        if rec.hedge:
            out.hedges += 1
        if rec.postneg:
            postneg.append((s, sentence_start))
        if rec.reported:
            reported_end = e
        if rec.neg and after_question and (k + 1 >= n_items or items[k + 1][2].boundary):
            # "Bank run? No." / "挤兑？没有。"
            postneg.append((s, sentence_start))
        if rec.contrast:
            contrast_at = len(contribs)
            out.contrast = True
            clause += 1
            clause_start = e
            neg_end = -999
            continue
        v = rec.valence
        cr = rec.crisis
        if cr is not None and cr[3]:
            gate = withdraw_context if cr[3] == 2 else context
            if not gate:
                # an ambiguous term outside banking: not a crisis, and its event
                # valence goes with it ("frozen shoulder", "charity run"); a negated one
                # is still reported as a negated hit ("並沒有倒閉"), weightless
                if neg_inside or (neg_end >= clause_start and s - neg_end <= crisis_neg_window):
                    hits.append([cr[0], cr[1], cr[2], True, (s, e), clause, True, False,
                                 len(contribs), s, e, True])
                    contribs.append([0.0, 1, 0.0, clause])
                    if consume_negation:
                        neg_end = -999
                    continue
                cr = None
                if rec.event:
                    v = None
        if rec.degree is not None:
            nxt = items[k + 1][2] if k + 1 < n_items else None
            if nxt is not None and items[k + 1][0] - e <= 1 and (
                    nxt.valence is not None or nxt.crisis is not None) and not nxt.neg:
                degree = rec.degree
                degree_end = e
                if rec.neg:
                    neg_end = e
                continue
            if v is None and cr is None:
                if rec.neg:
                    neg_end = e
                    neg_rhetorical = rec.rhetorical
                continue
        if v is not None or cr is not None:
            near_neg = neg_end >= clause_start and s - neg_end <= (
                crisis_neg_window if cr is not None else neg_window)
            boosted = degree_end >= clause_start and 0 <= s - degree_end <= 1
            if cr is not None:
                negated = neg_inside or near_neg
                if v is None:
                    v = crisis_valence(cr[2])
                if boosted:
                    v = _boost(v, degree, additive_degree)
                quoted = (single_quoted_only <= 0 or e - s <= single_quoted_only) and (
                          k > 0 and items[k - 1][2].quote and k + 1 < n_items
                          and items[k + 1][2].quote and items[k - 1][1] == s
                          and items[k + 1][0] == e)
                hits.append([cr[0], cr[1], cr[2], negated or quoted, (s, e), clause,
                             neg_rhetorical and near_neg,
                             negated and reported_end >= clause_start, len(contribs), s, e,
                             quoted])
                contribs.append([negated_crisis_valence if negated else v, 1, v, clause])
                if near_neg and consume_negation:
                    neg_end = -999
            else:
                if boosted:
                    v = _boost(v, degree, additive_degree)
                if caps and not all_caps_text:
                    v = v + CAPS_INCREMENT if v > 0 else v - CAPS_INCREMENT
                if near_neg:
                    v *= NEGATION_SCALAR
                    if consume_negation:
                        neg_end = -999
                elif in_quote and v > 0:
                    v *= SCARE_QUOTE_SCALAR
                kind = 1 if rec.event else 2 if rec.praise and v > 0 else 0
                contribs.append([v, kind, v, clause])
        if rec.neg:
            neg_end = e
            neg_rhetorical = rec.rhetorical
    # crisis hits: rhetorical questions, distrusted denials, post-negators
    asked = bool(question_clauses)
    for h in hits:
        negated = h[3]
        if negated and not h[6] and not h[11] and h[5] in question_clauses:
            negated = False
        if negated and h[7] and asked and not h[11]:
            negated = False
        if not negated and postneg:
            for ps, sent in postneg:
                if ps >= h[10] and ps - h[10] <= postneg_window and sent <= h[9]:
                    negated = True
                    break
        h[3] = negated
    # a negated term silences weaker non-negated terms of its category
    # ("not a bank run, the queue outside is for the coffee promo")
    negated_cat: dict[str, float] = {}
    for h in hits:
        if h[3] and not h[11]:
            negated_cat[h[1]] = max(negated_cat.get(h[1], 0.0), h[2])
    for h in hits:
        if not h[3] and h[2] <= negated_cat.get(h[1], -1.0):
            h[3] = True
        c = contribs[h[8]]
        if c[2]:     # gated-off negated hits stay weightless (c[2] == 0)
            c[0] = negated_crisis_valence if h[3] else c[2]
        out.hits.append([h[0], h[1], h[2], h[3], h[4]])
    # positive words in a question clause count zero; contrast shift; sums
    for i, (v, kind, _orig, cl) in enumerate(contribs):
        if v > 0 and cl in question_clauses:
            continue
        if contrast_at >= 0:
            v *= 0.5 if i < contrast_at else 1.5
        if kind == 1:
            out.event += v
        elif v > 0:
            out.eval_pos += v
            if kind == 2:
                out.praise += v
        else:
            out.eval_neg += v


def _boost(v: float, degree: float, additive: bool) -> float:
    if additive:
        return v + degree if v > 0 else v - degree
    return v * degree
