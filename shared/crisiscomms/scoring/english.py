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

from .lexicon import crisis_entries, crisis_entry, load
from .model import Analysis, MatchedTerm, Rec
from .rules import ClauseRules, Item, PostContext, by_start, walk

# ---------------------------------------------------------------- tokenizer
_TOKEN = re.compile(r"[a-z0-9\u00c0-\u024f]+(?:'[a-z]+)?|[.!?;:,\n\"%]", re.IGNORECASE)
_HASHTAG = re.compile(r"[#@]([A-Za-z0-9_]+)")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
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


def tokenize(text: str) -> tuple[list[str], list[bool]]:
    """Canonical tokens plus an ALL-CAPS flag per token (for emphasis)."""
    if "#" in text or "@" in text:
        text = _HASHTAG.sub(_split_hashtag, text)
    if "," in text:
        text = _THOUSANDS.sub("", text)
    toks: list[str] = []
    caps: list[bool] = []
    canon, stem_cache = _CANON, _STEM_CACHE
    for raw in _TOKEN.findall(text):
        if len(raw) == 1 and not raw.isalnum():
            toks.append(raw)
            caps.append(False)
            continue
        low = raw.lower()
        is_caps = len(raw) > 2 and raw.isupper()
        if "'" in low:
            base, _, suffix = low.partition("'")
            if suffix == "t" and base.endswith("n"):
                toks.append(_canon_word(base + "t"))
                caps.append(is_caps)
                continue
            toks.append(_canon_word(base))
            caps.append(is_caps)
            if suffix == "s" and base not in _NO_POSSESSIVE:
                toks.append("'s")
                caps.append(False)
            continue
        word = canon.get(low, low)     # _canon_word inlined: the hottest loop of scoring
        stemmed = stem_cache.get(word)
        toks.append(stemmed if stemmed is not None else stem(word))
        caps.append(is_caps)
    return toks, caps


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
# first token -> second token -> the candidates of _PHRASES that can match, in order; key
# None holds those with a gap after the first token, the only ones any other token allows
_PHRASE_INDEX: dict[str, dict[str | None, list[tuple[tuple[tuple[str, int], ...], Rec]]]] = {}
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
    for first, lst in _PHRASES.items():
        lst.sort(key=lambda pr: -len(pr[0]))
        by_second: dict[str | None, list] = {None: [pr for pr in lst if pr[0][1][1]]}
        for pat, _ in lst:
            second, gap = pat[1]
            if not gap and second not in by_second:
                by_second[second] = [pr for pr in lst if pr[0][1][1] or pr[0][1][0] == second]
        _PHRASE_INDEX[first] = by_second


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


# a function verb ("working", "loading") is a failure only when negated right before it
_FUNCTION_NEG: set[str] = set()
_build_cooc()
PRAISE_EMOJI = frozenset(LEX["praise_emoji"])


def has_context(toks: list[str]) -> bool:
    """Is the post about banking (a bank word that is not "river bank", "food bank")?"""
    ctx = _CONTEXT
    if ctx.isdisjoint(toks):
        return False
    n = len(toks)
    for i, t in enumerate(toks):
        if t in ctx:
            if t == "bank":
                if i and toks[i - 1] in _NOT_BEFORE:
                    continue
                if i + 1 < n and toks[i + 1] in _NOT_AFTER:
                    continue
            return True
    return False


def has_withdraw_context(toks: list[str]) -> bool:
    return not _WITHDRAW_CONTEXT.isdisjoint(toks)


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


def items_of(toks: list[str], caps: list[bool]) -> list[Item]:
    """Longest-match lexicon items, then the object/action pairs."""
    n = len(toks)
    items: list[Item] = []
    single = _SINGLE
    phrases = _PHRASE_INDEX
    i = 0
    while i < n:
        t = toks[i]
        by_second = phrases.get(t)
        if by_second:
            cands = by_second.get(toks[i + 1] if i + 1 < n else None)
            for pat, rec in by_second[None] if cands is None else cands:
                m = _match(toks, i, pat)
                if m is not None:
                    end, neg_inside = m
                    items.append(Item(i, end, rec, neg_inside))
                    i = end
                    break
            else:
                rec = single.get(t)
                if rec is not None:
                    items.append(Item(i, i + 1, rec, False, caps[i]))
                i += 1
            continue
        rec = single.get(t)
        if rec is not None:
            items.append(Item(i, i + 1, rec, False, caps[i]))
        i += 1
    if not _COOC.keys().isdisjoint(toks):
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
    """Synthetic crisis items from object/action pairs in one clause."""
    covered = [(it.start, it.end, it.rec.crisis.weight) for it in items
               if it.rec.crisis is not None]
    seen: dict[tuple[int, int], tuple[int, int]] = {}   # (rule, role) -> (start, last)
    found: dict[int, tuple[int, int, int, int]] = {}     # rule -> (start, end, action span)
    out = []
    for j, t in enumerate(toks):
        if t in (".", "!", "?", ";", "\n"):
            seen.clear()
            continue
        hits = _COOC.get(t)
        if not hits:
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
        if any(cs < e and s < ce and w >= weight for cs, ce, w in covered):
            continue
        # a negator counts when it is not part of the action ("not working")
        neg_inside = any(toks[k] in _NEGATORS and not a_s <= k < a_e for k in range(s + 1, e - 1))
        out.append(Item(s, e, _COOC_RECS[rule], neg_inside))
        covered.append((s, e, weight))
    return out


RULES = ClauseRules(neg_window=3, crisis_neg_window=3, consume_negation=False,
                    additive_degree=True, postneg_window=8, single_quoted_only=1)


def analyse(toks: list[str], caps: list[bool], out: Analysis, post: PostContext) -> None:
    """Add the English valence and crisis hits of ``toks`` to ``out``."""
    if not toks:
        return
    for hit in walk(items_of(toks, caps), out, RULES, post):
        matched = " ".join(t for t in toks[hit.start:hit.end] if t != "'s")
        out.hits.append(MatchedTerm(hit.crisis, hit.negated, matched))
