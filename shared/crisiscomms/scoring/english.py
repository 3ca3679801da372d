"""English (and any Latin-script) analysis: tokenizer and phrase matcher.

Tokens are lower-cased, apostrophes folded ("can't" -> "cant", possessive "'s" kept as
its own token so "Bank's Run for Hope" is not "bank run"), lightly stemmed
(plural / third-person endings).  Hashtags and @mentions are split on CamelCase
(#BankRun -> bank run, @HarborBank -> harbor bank).  The longest lexicon pattern starting
at each token wins; patterns may contain "~" (up to three filler tokens: possessives,
articles, auxiliaries, numbers) or "~~" (up to twelve tokens of the same sentence), and
"@role" stands for any executive role.  Object/action pairs of one clause add crisis
items no fixed phrase covered.  The clause-level rules live in ``rules.py``.
"""
from __future__ import annotations

import re
from itertools import compress
from operator import itemgetter

from .language import WORD_CLASS
from .lexicon import crisis_entries, crisis_entry, load
from .model import Analysis, MatchedTerm, Rec
from .rules import QUESTION, ClauseRules, Item, PostContext, by_start, new_object, walk

# ---------------------------------------------------------------- tokenizer
# Words (with an apostrophe suffix) and punctuation.  The classes are exactly what
# r"[a-z0-9\u00c0-\u024f]+(?:'[a-z]+)?" matches with re.IGNORECASE (which adds the few
# letters whose other case lies in range: the Kelvin sign, long s, some IPA letters ...),
# spelt out because a case-insensitive scan costs a third more
# (tests/unit/test_scoring_fastpaths.py checks them character by character).
_SUFFIX_CHARS = "A-Za-z\u0130\u0131\u017f\u212a"
# (the optional suffix as a branch with an empty alternative: the same matches, without a
# repeat context for every word)
_TOKEN = re.compile(f"[{WORD_CLASS}]+(?:'[{_SUFFIX_CHARS}]+|)|[.!?;:,\n\"%]")
_HASHTAG = re.compile(r"[#@]([A-Za-z0-9_]+)")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_THOUSANDS = re.compile(r",(?<=\d,)(?=\d{3}\b)")  # a comma first: found by a fast search
_CANON = {"cannot": "cant", "cnt": "cant", "dnt": "dont", "u": "you", "ur": "your",
          "pls": "please", "plz": "please", "thx": "thanks", "tks": "thanks",
          "ty": "thanks", "acct": "account", "acc": "account", "govt": "government",
          "rumor": "rumour", "rumors": "rumour", "rumours": "rumour", "licence": "license",
          "yogurt": "yoghurt", "unauthorised": "unauthorized", "favorite": "favourite"}
_NO_POSSESSIVE = frozenset("it that there what where who he she here let how why when".split())
_BOUNDARY = {",": 1, ";": 1, ":": 1, ".": 2, "!": 2, "\n": 2, "?": 3}
_STEM_CACHE: dict[str, str] = {}


def stem(tok: str) -> str:
    """Light, deterministic stemmer: plural / third-person endings only."""
    s = _STEM_CACHE.get(tok)
    if s is not None:
        return s
    s = tok
    n = len(tok)
    if n > 4 and tok.endswith("ies"):
        s = tok[:-3] + "y"
    elif n > 4 and tok.endswith(("ches", "shes", "xes", "sses", "zzes")):
        s = tok[:-2]
    elif n > 3 and tok[-1] == "s" and not tok.endswith(("ss", "us", "is")):
        s = tok[:-1]
    if len(_STEM_CACHE) < 50_000:
        _STEM_CACHE[tok] = s
    return s


def _canon_word(tok: str) -> str:
    return stem(_CANON.get(tok, tok))


def _split_hashtag(m: re.Match[str]) -> str:
    return " " + _CAMEL.sub(" ", m.group(1)) + " "


# raw token -> canonical token, or (canonical, "'s") for a possessive; bounded like the stems
_TOKEN_CACHE: dict[str, str | tuple[str, str]] = {}


def _token_of(raw: str) -> str | tuple[str, str]:
    """The canonical token(s) of one raw match of ``_TOKEN``."""
    if len(raw) == 1 and not raw.isalnum():
        tok: str | tuple[str, str] = raw
    else:
        low = raw.lower()
        if "'" in low:
            base, _, suffix = low.partition("'")
            if suffix == "t" and base.endswith("n"):
                tok = _canon_word(base + "t")
            else:
                tok = _canon_word(base)
                if suffix == "s" and base not in _NO_POSSESSIVE:
                    tok = (tok, "'s")
        else:
            tok = _canon_word(low)
    if len(_TOKEN_CACHE) < 50_000:
        _TOKEN_CACHE[raw] = tok
    return tok


def tokenize(text: str) -> tuple[list[str], list[str]]:
    """Canonical tokens, and the raw text of each (a raw token of more than two
    characters that is all upper case is an ALL-CAPS token, see :func:`items_of`)."""
    if "#" in text or "@" in text:
        text = _HASHTAG.sub(_split_hashtag, text)
    if "," in text:
        text = _THOUSANDS.sub("", text)
    raws = _TOKEN.findall(text)
    try:        # (cheaper than looking for None among them, when all are known)
        toks = list(map(_TOKEN_CACHE.__getitem__, raws))
    except KeyError:
        toks = list(map(_TOKEN_CACHE.get, raws))
        for k, tok in enumerate(toks):
            if tok is None:
                toks[k] = _token_of(raws[k])
    # a possessive's raw token ends in "'s" or "'S" (the only suffixes that lower-case to "s")
    if ("'s" in text or "'S" in text) and tuple in map(type, toks):
        return _split_possessives(toks, raws)
    return toks, raws  # type: ignore[return-value]


def _split_possessives(toks: list, raws: list[str]) -> tuple[list[str], list[str]]:
    """"bank's" is two tokens, "bank" and "'s" (whose raw "'s" is never ALL-CAPS)."""
    out_toks: list[str] = []
    out_raws: list[str] = []
    for tok, raw in zip(toks, raws):
        if type(tok) is tuple:
            out_toks += tok
            out_raws += (raw, "'s")
        else:
            out_toks.append(tok)
            out_raws.append(raw)
    return out_toks, out_raws


# ---------------------------------------------------------------- lexicon compilation
GAP = "~"
WIDE_GAP = "~~"
ROLE = "@role"
_FILLER = frozenset(
    "my our your their his her its the a an all is are was were be been being has "
    "have had got get gets getting just now still again even completely totally "
    "temporarily some any entire whole this that these those of me us them it reportedly "
    "literally basically suddenly already also really 's online daily cash card "
    "international large further new customer customers every thousands hundreds "
    "million millions so".split()
)
LEX = load("en")
_ROLES = frozenset(_canon_word(w) for w in LEX["executive_roles"])
_SINGLE: dict[str, Rec] = {}
# first token -> [(pattern, rec)], longest pattern first; pattern items (token, gap)
# with gap 0 (adjacent), 1 (fillers) or 2 (wide)
_PHRASES: dict[str, list[tuple[tuple[tuple[str, int], ...], Rec]]] = {}
# first token -> (its phrases, longest first: (pattern, rec); the set of the other tokens
# of each: a phrase with one of them absent from the post cannot match)
_PHRASE_INDEX: dict[str, tuple[tuple[tuple[tuple[tuple[str, int], ...], Rec], ...],
                               tuple[frozenset[str], ...]]] = {}
# token -> ([its phrases, their needs (its _PHRASE_INDEX entry), the second tokens of its phrases,
# second token -> the phrases with it and their needs] or None, its _SINGLE entry or None): one
# look-up a token.  A post has the second token of every phrase that can match in it, and most
# have none of a token's; the last two are filled in at the token's first use (_phrase_filter)
_LEX: dict[str, tuple[tuple | None, Rec | None]] = {}
_PHRASE_RECS: dict[tuple[tuple[str, int], ...], Rec] = {}


def _compile(pattern: str) -> tuple[tuple[str, int], ...]:
    out: list[tuple[str, int]] = []
    gap = 0
    for raw in pattern.replace("-", " ").split():
        if raw == GAP:
            gap = 1
            continue
        if raw == WIDE_GAP:
            gap = 2
            continue
        low = raw.lower()
        if low == ROLE or low == "'s":
            out.append((low, gap))
        else:
            if "'" in low:
                base, _, suffix = low.partition("'")
                low = base + "t" if suffix == "t" and base.endswith("n") else base
            out.append((_canon_word(low), gap))
        gap = 0
    return tuple(out)


def _rec(pattern: str) -> Rec:
    if pattern.isalpha():       # one plain word: what _compile makes of it, sooner
        key = _canon_word(pattern.lower())
        rec = _SINGLE.get(key)
        if rec is None:
            rec = _SINGLE[key] = Rec()
        return rec
    pat = _compile(pattern)
    if len(pat) == 1:
        rec = _SINGLE.get(pat[0][0])
        if rec is None:
            rec = _SINGLE[pat[0][0]] = Rec()
        return rec
    rec = _PHRASE_RECS.get(pat)
    if rec is None:
        rec = _PHRASE_RECS[pat] = Rec()
        for first in (_ROLES if pat[0][0] == ROLE else (pat[0][0],)):
            _PHRASES.setdefault(first, []).append((pat, rec))
    return rec


def _build() -> None:
    lex = LEX
    for word, v in lex["valence"].items():
        _rec(word).valence = v
    for phrase, v in lex["phrase_valence"].items():
        _rec(phrase).valence = v
    for entry, variants in crisis_entries(lex, ROLE):
        for variant in variants:
            rec = _rec(variant)
            if rec.crisis is None or rec.crisis.weight < entry.weight:
                rec.crisis = entry
    for key, attr in (("event_words", "event"), ("negators", "neg"),
                      ("negator_phrases", "neg"), ("post_negators", "postneg"),
                      ("debunk_markers", "debunk"), ("hedges", "hedge"),
                      ("contrast", "contrast"), ("irony", "irony"),
                      ("reported_speech", "reported"), ("praise", "praise"),
                      ("blockers", "block")):
        for phrase in lex[key]:
            setattr(_rec(phrase), attr, True)
    for word, b in lex["boosters"].items():
        _rec(word).degree = b
    for punct, level in _BOUNDARY.items():
        _SINGLE.setdefault(punct, Rec()).boundary = level
    _SINGLE.setdefault('"', Rec()).quote = True
    first_of = itemgetter(0)
    needs = {pat: frozenset(map(first_of, pat[1:])) for pat in _PHRASE_RECS}
    for first, lst in _PHRASES.items():
        lst.sort(key=lambda pr: -len(pr[0]))
        _PHRASE_INDEX[first] = (tuple(lst), tuple(map(needs.__getitem__, map(first_of, lst))))
    for tok in _SINGLE.keys() | _PHRASE_INDEX.keys():
        phrases = _PHRASE_INDEX.get(tok)
        _LEX[tok] = (None if phrases is None else [*phrases, None, None], _SINGLE.get(tok))


def _phrase_filter(slot: list) -> frozenset[str]:
    """Fill in the second tokens of a first token's phrases and the phrases of each second token
    (its _LEX slot; the order kept), at the token's first use: building them for every token would
    cost more at import than the scan saves then."""
    by_second: dict[str, tuple[list, list]] = {}
    for pr, need in zip(slot[0], slot[1]):
        pats, wants = by_second.setdefault(pr[0][1][0], ([], []))
        pats.append(pr)
        wants.append(need)
    slot[3] = {second: (tuple(pats), tuple(wants)) for second, (pats, wants) in by_second.items()}
    slot[2] = seconds = frozenset(by_second)        # (after slot 3: it says both are there)
    return seconds


_build()


def _words(key: str) -> frozenset[str]:
    return frozenset(_canon_word(w) for w in LEX[key] if " " not in w)


def _phrases(key: str) -> tuple[str, ...]:
    return tuple(" " + " ".join(_canon_word(x) for x in w.split()) + " "
                 for w in LEX[key] if " " in w)


_CONTEXT = _words("bank_context")
_WITHDRAW_CONTEXT = _words("withdrawal_context")
_NOT_BEFORE = _words("not_a_bank_before")
_NOT_AFTER = _words("not_a_bank_after")
_NEGATORS = _words("negators")
NEGATORS = frozenset(_NEGATORS)     # (the reputation model drops a denial's negators' grams)
PERSONAL = _words("personal")
PERSONAL_PHRASES = _phrases("personal")
REPORT = _words("report")
REPORT_PHRASES = _phrases("report")
RESOLUTION = _words("resolution")
RESOLUTION_PHRASES = _phrases("resolution")
EMOJI: dict[str, float] = LEX["emoji"]

# Clause-level co-occurrence rules: an object ("withdrawals", "account", "app") and an
# action ("halted", "frozen", "down") within COOC_DISTANCE tokens of the same clause,
# in either order, make a crisis hit even when no fixed phrase matched.
COOC_DISTANCE = 6
_COOC: dict[str, list[tuple[int, int]]] = {}     # token -> [(rule, 0 object / 1 action)]
_COOC_RECS: list[Rec] = []
# token -> bit 2 * rule of an object, 2 * rule + 1 of an action or function verb: a rule can
# fire only in a post with both bits of it
_COOC_BITS: dict[str, int] = {}


def _build_cooc() -> None:
    for idx, rule in enumerate(LEX["cooccurrence"]):
        rec = Rec()
        rec.crisis = crisis_entry(rule)
        rec.event = True
        _COOC_RECS.append(rec)
        for role, key in ((0, "objects"), (1, "actions")):
            for w in rule[key]:
                _COOC.setdefault(_canon_word(w), []).append((idx, role))
    fv = LEX["cooccurrence_function_verbs"]
    idx = next(i for i, r in enumerate(LEX["cooccurrence"]) if r["term"] == fv["rule"])
    for w in fv["verbs"]:
        _COOC.setdefault(_canon_word(w), []).append((idx, 2))
    _FUNCTION_NEG.update(_canon_word(w) for w in fv["negators"])
    for tok, hits in _COOC.items():
        for rule, role in hits:
            _COOC_BITS[tok] = _COOC_BITS.get(tok, 0) | 1 << (2 * rule + min(role, 1))


# a function verb ("working", "loading") is a failure only when negated right before it
_FUNCTION_NEG: set[str] = set()
_build_cooc()
_COOC_OBJECT_BITS = sum(1 << (2 * rule) for rule in range(len(_COOC_RECS)))
# token -> its (rule, role) pairs, or _SENTENCE_END for the tokens that end a pair's sentence:
# the only tokens _cooccurrences reads
_SENTENCE_END = ((-1, -1),)
_COOC_SCAN: dict[str, list[tuple[int, int]] | tuple[tuple[int, int]]] = {
    **{t: hits for t, hits in _COOC.items() if hits}, **dict.fromkeys((".", "!", "?", ";", "\n"), _SENTENCE_END)}
_COOC_TOKENS = frozenset(_COOC_BITS)
PRAISE_EMOJI = frozenset(LEX["praise_emoji"])


_REPORT_ONLY = REPORT - PERSONAL       # a token of both lists is a personal marker
_PERCENT_RULE = "%" not in PERSONAL and "%" not in REPORT


def _index_phrases() -> dict[str, tuple[tuple[str, int], ...]]:
    """First word -> (" phrase ", 0 personal / 1 report / 2 resolution): a phrase can be
    in a post only when its first word is."""
    index: dict[str, list[tuple[str, int]]] = {}
    for kind, phrases in enumerate((PERSONAL_PHRASES, REPORT_PHRASES, RESOLUTION_PHRASES)):
        for p in phrases:
            index.setdefault(p.split()[0], []).append((p, kind))
    return {w: tuple(lst) for w, lst in index.items()}


def _index_marker_bits() -> dict[str, int]:
    """Token -> 1 personal, 2 report (and not personal), 4 resolution, 8 first word of a
    marker phrase."""
    bits: dict[str, int] = {}
    for bit, words in ((1, PERSONAL), (2, _REPORT_ONLY), (4, RESOLUTION), (8, _MARKER_PHRASES)):
        for w in words:
            bits[w] = bits.get(w, 0) | bit
    return bits


_MARKER_PHRASES = _index_phrases()
_MARKER_BITS = _index_marker_bits()
_MARKER_TOKENS = frozenset(_MARKER_BITS)


def markers(toks: list[str], present: set[str]) -> tuple[int, int, bool, bool, bool]:
    """(personal markers, report markers, reports a resolution, about banking, money
    being taken out) of ``toks``, whose set is ``present``: every occurrence of a marker
    word counts, each marker phrase once; "%" is a report marker ("rate 4.1%") except in
    "100%"."""
    personal = report = 0
    resolved = False
    firsts = []
    for t in _MARKER_TOKENS.intersection(present):
        bits = _MARKER_BITS[t]
        if bits & 1:
            personal += toks.count(t)
        elif bits & 2:
            report += toks.count(t)
        if bits & 4:
            resolved = True
        if bits & 8:
            firsts.append(t)
    if _PERCENT_RULE and "%" in present:
        report += sum(1 for k, t in enumerate(toks) if t == "%" and (not k or toks[k - 1] != "100"))
    if firsts:
        joined = " " + " ".join(toks) + " "
        for w in firsts:
            for phrase, kind in _MARKER_PHRASES[w]:
                if phrase in joined:
                    if kind == 0:
                        personal += 1
                    elif kind == 1:
                        report += 1
                    else:
                        resolved = True
    return (personal, report, resolved, has_context(toks, present),
            not _WITHDRAW_CONTEXT.isdisjoint(present))


def has_context(toks: list[str], present: set[str] | None = None) -> bool:
    """Is the post about banking (a bank word that is not "river bank", "food bank")?
    ``present`` is set(toks), when the caller has it."""
    found = _CONTEXT.intersection(toks if present is None else present)
    if not found:
        return False
    if len(found) > 1 or "bank" not in found:     # only "bank" can be disqualified
        return True
    n = len(toks)
    i = -1
    for _ in range(toks.count("bank")):
        i = toks.index("bank", i + 1)
        if i and toks[i - 1] in _NOT_BEFORE:
            continue
        if i + 1 < n and toks[i + 1] in _NOT_AFTER:
            continue
        return True
    return False


def _match(toks: list[str], i: int, pat: tuple[tuple[str, int], ...]) -> tuple[int, bool] | None:
    """End of ``pat`` matched at ``i`` (whose first token is known to match, the index
    is keyed by it) and whether a negator stood in a gap."""
    n = len(toks)
    j = i + 1
    neg_inside = False
    for tok, gap in pat[1:]:
        if j < n and toks[j] == tok:
            j += 1
            continue
        if not gap:
            return None
        skipped = 0
        limit = 3 if gap == 1 else 12
        while j < n and skipped < limit and toks[j] != tok:
            t = toks[j]
            if gap == 1:
                if not (t in _FILLER or t in _NEGATORS or t.isdigit() or t == '"'):
                    return None
            elif t in (".", "!", "?", "\n"):
                return None
            if t in _NEGATORS:
                neg_inside = True
            j += 1
            skipped += 1
        if j < n and toks[j] == tok:
            j += 1
        else:
            return None
    return j, neg_inside


def items_of(toks: list[str], raws: list[str], present: set[str]) -> list[Item]:
    """Longest-match lexicon items, then the object/action pairs; ``present`` is set(toks)."""
    items: list[Item] = []
    has_all = present.issuperset
    entries = list(map(_LEX.get, toks))
    end = 0                 # the end of the last phrase: the scan resumes there
    for i in compress(range(len(toks)), entries):
        if i < end:
            continue
        phrases, rec = entries[i]
        if phrases is not None:
            seconds = phrases[2] or _phrase_filter(phrases)
            if not seconds.isdisjoint(present):
                found = present.intersection(seconds)
                # (those of one second token, or all of them: in their order either way)
                pats, needs = phrases[3][found.pop()] if len(found) == 1 else phrases[:2]
                for pat, phrase in compress(pats, map(has_all, needs)):
                    m = _match(toks, i, pat)
                    if m is not None:
                        end, neg_inside = m
                        items.append(Item(i, end, phrase, neg_inside))
                        break
                if end > i:
                    continue
            if rec is None:
                continue
        # Item(i, i + 1, rec, False, caps), its slots filled here: an item per lexicon token, and
        # calling the class runs __init__ in a nested frame
        item = new_object(Item)
        item.start = i
        item.end = i + 1
        item.rec = rec
        item.neg_inside = False
        raw = raws[i]
        item.caps = len(raw) > 2 and raw.isupper()
        items.append(item)
    # can some rule have both an object and an action (or function verb) in the post?
    cooc = 0
    for t in _COOC_TOKENS.intersection(present):
        cooc |= _COOC_BITS[t]
    if cooc & (cooc >> 1) & _COOC_OBJECT_BITS:
        for pair in _cooccurrences(toks, items):
            # the pair replaces what it spans (weaker crisis terms, event words)
            s, e = pair.start, pair.end
            items = [it for it in items
                     if not (s <= it.start and it.end <= e and not it.rec.neg
                             and (it.rec.valence is not None or it.rec.crisis is not None))]
            items.append(pair)
        items.sort(key=by_start)
    return items


def _cooccurrences(toks: list[str], items: list[Item]) -> list[Item]:
    """Synthetic crisis items from object/action pairs in one clause (the scan visits only the
    tokens of a rule and the sentence ends, _COOC_SCAN)."""
    covered = [(it.start, it.end, it.rec.crisis.weight) for it in items
               if it.rec.crisis is not None]
    seen: dict[tuple[int, int], tuple[int, int]] = {}   # (rule, role) -> (start, last)
    found: dict[int, tuple[int, int, int, int]] = {}     # rule -> (start, end, action span)
    out = []
    scan = list(map(_COOC_SCAN.get, toks))
    for j in compress(range(len(toks)), scan):
        hits = scan[j]
        if hits is _SENTENCE_END:
            seen.clear()
            continue
        for rule, role in hits:
            start = j
            if role == 2:   # "stopped working", "not loading": an action with its negator
                if j and toks[j - 1] in _FUNCTION_NEG:
                    start = j - 1
                elif j > 1 and toks[j - 2] in _FUNCTION_NEG:
                    start = j - 2
                else:
                    continue
                role = 1
            other = seen.get((rule, 1 - role))
            if other is not None and rule not in found:
                o_start, o_last = other
                if (start if role == 1 else j) - o_last <= COOC_DISTANCE:
                    found[rule] = (min(o_start, start), j + 1, o_start if role == 0 else start,
                                   j + 1 if role == 0 else o_last + 1)
            seen[(rule, role)] = (start, j)
    for rule, (s, e, a_s, a_e) in found.items():
        weight = _COOC_RECS[rule].crisis.weight
        for cs, ce, w in covered:
            if cs < e and s < ce and w >= weight:
                break
        else:
            # a negator counts when it is not part of the action ("not working")
            neg_inside = False
            for k in range(s + 1, e - 1):
                if toks[k] in _NEGATORS and not a_s <= k < a_e:
                    neg_inside = True
                    break
            out.append(Item(s, e, _COOC_RECS[rule], neg_inside))
            covered.append((s, e, weight))
    return out


RULES = ClauseRules(neg_window=3, crisis_neg_window=3, consume_negation=False,
                    additive_degree=True, postneg_window=8, single_quoted_only=1)


def _plain_mark(rec: Rec) -> bool:
    """A boundary or quotation mark and nothing else."""
    return (rec.valence is None and rec.crisis is None and rec.degree is None
            and not (rec.neg or rec.postneg or rec.debunk or rec.hedge or rec.contrast
                     or rec.block or rec.event or rec.irony or rec.reported or rec.rhetorical
                     or rec.praise))


# Tokens that can make an item other than a plain boundary or quotation mark; a post with
# none of them (a Chinese post's punctuation) only counts its questions
_LEXICAL = frozenset(_PHRASES).union(_COOC, (t for t, r in _SINGLE.items() if not _plain_mark(r)))
_QUESTION_MARKS = tuple(t for t, r in _SINGLE.items()
                        if r.boundary == QUESTION and t not in _LEXICAL)


# Text with no character of language.WORD_CLASS has only these tokens: when none of them is
# lexical, a marker or a context word, such a post's English side is its "%" (report
# markers, never after "100") and its "?" (questions) alone
_PUNCTUATION = frozenset('.!?;:,\n"%')
PUNCTUATION_ONLY_IS_PLAIN = (
    _PUNCTUATION.isdisjoint(_LEXICAL | _MARKER_TOKENS | _CONTEXT | _WITHDRAW_CONTEXT)
    and _PUNCTUATION.issuperset(_QUESTION_MARKS))


def punctuation_markers(text: str) -> tuple[int, int, bool, bool, bool]:
    """:func:`markers` of text with no word character (PUNCTUATION_ONLY_IS_PLAIN)."""
    return 0, text.count("%") if _PERCENT_RULE else 0, False, False, False


def punctuation_questions(text: str) -> int:
    """The questions :func:`analyse` counts in text with no word character."""
    return sum(map(text.count, _QUESTION_MARKS))


def analyse(toks: list[str], raws: list[str], present: set[str], out: Analysis,
            post: PostContext) -> None:
    """Add the English valence and crisis hits of ``toks`` (``present`` = set(toks)) to ``out``."""
    if not toks:
        return
    if _LEXICAL.isdisjoint(present):
        out.questions += sum(map(toks.count, _QUESTION_MARKS))
        return
    for hit in walk(items_of(toks, raws, present), out, RULES, post):
        span = toks[hit.start:hit.end]
        matched = " ".join(span if "'s" not in span else [t for t in span if t != "'s"])
        term = new_object(MatchedTerm)      # MatchedTerm(...), its slots filled here (see items_of)
        term.crisis, term.negated, term.matched = hit.crisis, hit.negated, matched
        out.hits.append(term)
