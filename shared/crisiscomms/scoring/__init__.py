"""Post scoring: language, sentiment, crisis terms and risk, in-process and offline.

Owns the lexicons, the rules and the risk formula; others use it through this package (and the
composition root through `engines`). May import only the standard library, and `engines` the
`models` contract; the Comprehend call is passed in, never imported.

Stdlib only, deterministic, built for AWS Lambda: the lexicons are JSON package data
(``lexicon_en.json``, ``lexicon_zh.json``, see ``lexicon.py``), the package imports in
about 19 ms with cached bytecode (about 35 ms without, on this project's machine; the
Chinese gap patterns are compiled when a post first needs one) and scores about 28,000
of the labelled posts per second on one core, more than half VADER's rate
(``python3 tasks.py bench``).

Speed comes from doing less per post, never from changing a result: pure-ASCII text
skips normalisation, script counts run on the UTF-8 bytes, a Chinese post without Latin
words skips the English tokenizer, phrases and gap patterns are tried only when the
post has the tokens / characters a match needs, and lexicon lookups are indexed once at
import.  tests/unit/test_scoring_fastpaths.py checks each fast path against the plain
algorithm it replaces.

Pipeline of :func:`score_text`
------------------------------
1. Normalise: Unicode NFKC (full-width -> half-width), case-fold Latin, fold curly
   quotes and CJK quotation marks; Chinese is folded Traditional -> Simplified with a
   compact table (``language.py``) so 擠兌 matches 挤兑 and 資料外洩 matches 资料外泄.
2. Language: dominant script (a Han character counts as two Latin letters); Han text
   is zh-Hant when Traditional-only characters outnumber Simplified-only ones.
3. The English and the Chinese analysers run on every post (mixed posts are common):
   longest-match lexicon scans (plus clause-level object/action pairs such as
   "withdrawals ... halted", 账户...被冻结) feeding the clause rules of ``rules.py``:
   negation, degree words, ALL-CAPS, scare quotes, questions, reported denials,
   post-negators ("... are false", 是谣言), debunk markers (辟谣, "fake news"), "but".
4. Bank-context gate: ambiguous crisis terms ("frozen", "collapse", "is down",
   冻结, 崩了, 倒闭 ...) only count when the post is about banking (bank, account, ATM,
   deposit, a bank name, 银行, 账户, 存款 ...), so "frozen shoulder", "charity run" and
   冻结肩 never fire and "river bank" / "food bank" are not banking.  Queue terms
   further need money being taken out (withdraw, savings, 取钱, 门口 ...).
5. Voice: a post whose report markers ("sources say", "announces", 宣布, 据报道 ...)
   outnumber its personal markers (I/my/you, slang, particles, emoji, "!") is a
   report: event words (crisis terms, "fined", "profit") count 0.1x and other valence
   0.6x, because a headline about a bank run is neutral while "my account is frozen!!"
   is negative.  In a personal post about a crisis, praise with no "but" and no
   resolution ("thanks for leaking my data") is read as sarcasm (x -0.8).
6. Sentiment = S / sqrt(S^2 + 15) (VADER's normalisation) of the summed valence S,
   after questions and hedges soften it (x0.75 each, at most two; they never flip it)
   and exclamation marks emphasise it; emoji add their own valence.  Labels:
   >= +0.25 positive, <= -0.25 negative, neutral in between.
7. Crisis weight = sum over distinct canonical terms of the weight of their
   non-negated hits, capped at :data:`CRISIS_WEIGHT_CAP` (6.0).  Weight scale per
   term: 3 acute/systemic (bank run, withdrawals halted, insolvency, licence revoked),
   2-2.5 serious (fraud, data breach, frozen accounts, regulator probe, executives
   fled), 1-1.5 operational (outage, app down, layoffs, scam warnings, branch
   closures, share-price falls).  ``is_crisis`` = crisis weight >=
   :data:`CRISIS_THRESHOLD` (1.0): one non-negated term of any category, which is how
   the communications desk (and the labelled data) defines a crisis post.
8. Risk 0..100 from crisis weight, negativity, reach and engagement: see ``risk.py``
   and :func:`risk_formula`.  A post that is not negative and reports a resolution
   ("has been fixed", 已恢复) enters risk with RESOLVED_RISK_FACTOR x its crisis weight.

Thresholds and factors were tuned on the ``dev`` split of
tests/data/labelled_posts.jsonl only; ``python -m crisiscomms_local.evaluate_scoring``
prints the dev and holdout figures.
"""
from __future__ import annotations

import math
import unicodedata

from . import chinese, english
from .english import EMOJI, PRAISE_EMOJI
from .language import (NON_ASCII_RUN, decide_language, detect_language, fold_chinese, normalise,
                       script_profile, to_simplified, to_traditional)
from .model import Analysis, CrisisEntry, Language, Score, TermHit, new_score
from .risk import compute_risk, risk_formula
from .rules import PostContext

__all__ = [
    "Language", "TermHit", "Score", "detect_language", "score_text", "risk_formula",
    "CRISIS_THRESHOLD", "CRISIS_WEIGHT_CAP", "POSITIVE_THRESHOLD", "NEGATIVE_THRESHOLD",
    "normalise", "to_simplified", "to_traditional",
]

CRISIS_WEIGHT_CAP = 6.0
CRISIS_THRESHOLD = 1.0
POSITIVE_THRESHOLD = 0.25
NEGATIVE_THRESHOLD = -0.25
NEGATED_CRISIS_VALENCE = 0.2   # "not a bank run" / "没有挤兑" reassures a little
REPORT_EVENT_FACTOR = 0.1      # event words in a post with no personal voice
REPORT_EVAL_FACTOR = 0.6       # evaluative words in a post with no personal voice
SARCASM_FACTOR = -0.8          # praise in a complaint about a crisis, with no "but"
ALPHA = 15.0                   # VADER's normalisation constant
HEDGE_FACTOR = 0.75
MAX_HEDGES = 2
EXCLAMATION_INCREMENT = 0.292  # VADER's per-"!" emphasis, at most 4
RESOLVED_RISK_FACTOR = 0.3     # a non-negative post reporting a fix ("restored", 已恢复)

_PUNCT_FOLD = {
    ord("\u2019"): "'", ord("\u2018"): "'", ord("\u02bc"): "'", ord("\u3002"): ".",
    ord("\uff61"): ".", ord("\u3001"): ",", ord("\u2026"): "...", ord("\u201c"): '"',
    ord("\u201d"): '"', ord("\u300c"): '"', ord("\u300d"): '"', ord("\u300e"): '"',
    ord("\u300f"): '"', ord("\u2014"): ",",
    ord("\u2013"): ",",
}
# the same as pairs: replacing those present is cheaper than translating every character
# (the replacements are ASCII, so the order does not matter)
_PUNCT_FOLD_PAIRS = tuple((chr(k), v) for k, v in _PUNCT_FOLD.items())
_FULL_WIDTH_PAIRS = tuple((w, unicodedata.normalize("NFKC", w)) for w in "，？：！；（）")


# Emoji missing from the lexicon get a valence from their Unicode name.
_EMOJI_NAME_RULES = (
    ("TEARS OF JOY", 0.0), ("ROLLING ON THE FLOOR", 0.0), ("BROKEN HEART", -2.2),
    ("THUMBS DOWN", -2.0), ("ANGRY", -2.5), ("POUTING", -2.5), ("CRYING", -2.0),
    ("WEEPING", -2.0), ("FEARFUL", -2.2), ("SCREAMING", -2.2), ("ANGUISHED", -1.8),
    ("DISAPPOINTED", -1.8), ("WORRIED", -1.6), ("PERSEVERING", -1.6), ("CONFOUNDED", -1.6),
    ("TIRED", -1.6), ("WEARY", -1.6), ("SKULL", -1.8), ("NAUSEATED", -2.0), ("VOMITING", -2.2),
    ("FROWNING", -1.6), ("COLD SWEAT", -1.6), ("UNAMUSED", -1.5), ("ROLLING EYES", -1.5),
    ("CLOWN", -1.8), ("PILE OF POO", -2.0), ("EXPLODING", -1.5), ("GRIMACING", -0.8),
    ("CROSS MARK", -1.2), ("NO ENTRY", -1.2), ("WARNING", -1.4), ("REVOLVING LIGHT", -1.6),
    ("DOWNWARDS", -1.5), ("SOS", -2.0), ("FACE PALM", -1.6), ("MONEY WITH WINGS", -1.0),
    ("SMILING", 1.8), ("GRINNING", 1.8), ("HEART", 2.2), ("THUMBS UP", 2.0), ("CLAPPING", 1.9),
    ("PARTY", 2.2), ("CONFETTI", 2.0), ("SPARKL", 1.2), ("STAR", 1.5), ("TROPHY", 2.0),
    ("MEDAL", 1.8), ("HUNDRED", 2.0), ("OK HAND", 1.6), ("RAISING HANDS", 2.0),
    ("HUGGING", 1.8), ("KISS", 2.0), ("LAUGH", 1.5), ("HANDSHAKE", 1.3), ("FLEXED", 1.6),
    ("CHECK MARK", 1.3), ("CHAMPAGNE", 2.0), ("FIREWORK", 2.0), ("BALLOON", 1.6),
)
_EMOJI_CACHE: dict[str, float] = {}
if any(k.isascii() for k in EMOJI):
    raise ValueError("an emoji of the lexicon is ASCII: _emoji_valences skips those")
# the lexicon's emoji all lie in the ranges script_profile collects (else all non-ASCII is read)
_EMOJI_IN_RANGE = all(len(k) == 1 and (0x1F100 <= ord(k) <= 0x1FAFF or 0x2600 <= ord(k) <= 0x27BF
                                       or 0x2B00 <= ord(k) <= 0x2BFF) for k in EMOJI)


def _emoji_valence(ch: str) -> float | None:
    v = EMOJI.get(ch)
    if v is not None:
        return v
    o = ord(ch)
    if not (0x1F100 <= o <= 0x1FAFF or 0x2600 <= o <= 0x27BF or 0x2B00 <= o <= 0x2BFF):
        return None
    v = _EMOJI_CACHE.get(ch)
    if v is None:
        name = unicodedata.name(ch, "")
        v = 0.0
        for key, val in _EMOJI_NAME_RULES:
            if key in name:
                v = val
                break
        _EMOJI_CACHE[ch] = v
    return v


def _emoji_valences(nfkc: str, emoji: str) -> tuple[float, float, float]:
    """(positive, negative, praise) valence of the emoji: they carry a post's tone.
    ``emoji``: the post's emoji-range characters, in order (script_profile), the only
    ones with a valence when the lexicon's emoji are all in range."""
    pos = neg = praise = 0.0
    for ch in emoji if _EMOJI_IN_RANGE else "".join(NON_ASCII_RUN.findall(nfkc)):
        v = _emoji_valence(ch)
        if v:
            if v > 0:
                pos += v
                if ch in PRAISE_EMOJI:
                    praise += v
            else:
                neg += v
    return pos, neg, praise


def _markers(en: tuple[int, int, bool, bool, bool], zh_text: str,
             chars: list[str] | None) -> tuple[bool, bool, int, int, bool, int]:
    """(about banking, money being taken out, personal markers, report markers, reports a
    resolution, the Chinese gap patterns to run) of both languages: the English markers
    ``en`` (english.markers) and one pass over the Chinese marker lists."""
    personal, report, resolved, bank, withdraw = en
    run = 0
    if zh_text:
        zh, run = chinese.markers(zh_text, chars)
        bank = bank or zh[chinese.BANK] > 0
        withdraw = withdraw or zh[chinese.WITHDRAWAL] > 0
        personal += zh[chinese.N_PERSONAL]
        report += zh[chinese.N_REPORT]
        resolved = resolved or zh[chinese.RESOLVED] > 0
    return bank, withdraw, personal, report, resolved, run


def _is_personal(nfkc: str, personal: int, report: int, has_emoji: bool) -> bool:
    """A post is a report when report markers outnumber the author's own voice."""
    if "!" in nfkc or "??" in nfkc or "?!" in nfkc:
        personal += 1
    if has_emoji:
        personal += 1
    return personal >= report


def _clamp(x: float) -> float:
    return -1.0 if x < -1.0 else 1.0 if x > 1.0 else x


def _nfkc(text: str) -> str:
    """NFKC with the marks of _PUNCT_FOLD folded."""
    if text.isascii():              # NFKC and the folding leave ASCII alone
        return text
    # Full-width punctuation is the usual reason a Chinese post is not NFKC already:
    # replaced by its compatibility form (what NFKC does), the rest is quick to check.
    for wide, narrow in _FULL_WIDTH_PAIRS:
        if wide in text:
            text = text.replace(wide, narrow)
    text = unicodedata.normalize("NFKC", text)
    for mark, folded in _PUNCT_FOLD_PAIRS:
        if mark in text:
            text = text.replace(mark, folded)
    return text


def score_text(text: str, *, followers: int = 0, likes: int = 0, reposts: int = 0,
               replies: int = 0, quotes: int = 0,
               sentiment_override: float | None = None) -> Score:
    """Score one post.  ``sentiment_override`` (e.g. from Amazon Comprehend, in -1..1)
    replaces this package's sentiment; crisis terms, reach and risk are still computed."""
    text = text or ""
    nfkc = _nfkc(text)
    counts, chars, emoji, folds, words = script_profile(nfkc, exact=False)
    has_han = counts[1] > 0
    if has_han and not words and english.PUNCTUATION_ONLY_IS_PLAIN:
        toks = None                 # a Chinese post without Latin words: its English side
        en = english.punctuation_markers(nfkc)      # is its "%" and "?" alone
    else:
        toks, raws = english.tokenize(nfkc)
        present = set(toks)
        en = english.markers(toks, present)
    zh_text = fold_chinese(nfkc, folds) if has_han else ""
    if has_han and zh_text is not nfkc:
        chars = list(zh_text)
    marks = _markers(en, zh_text, chars)
    # all_caps only tempers ALL-CAPS English words: moot without any
    post = PostContext(marks[0], marks[1], words and nfkc.isupper(), NEGATED_CRISIS_VALENCE)
    out = Analysis()
    if toks is None:                 # both analysers run on every post: mixed-language
        out.questions += english.punctuation_questions(nfkc)        # posts are common
    else:
        english.analyse(toks, raws, present, out, post)
    if has_han:
        chinese.analyse(zh_text, chars, marks[5], out, post)
    hits, best = _crisis_hits(out) if out.hits else ((), None)
    # the capped sum of the weights (an int 0 when there are none, as sum() of nothing)
    crisis_weight = min(CRISIS_WEIGHT_CAP, sum(best.values())) if best else 0
    if sentiment_override is not None:
        sentiment = float(sentiment_override)
        sentiment = 0.0 if math.isnan(sentiment) else round(_clamp(sentiment), 4)
    elif out.eval_pos or out.eval_neg or out.event or emoji:
        total = _soften(_valence_sum(out, nfkc, emoji, marks, bool(best)), out, nfkc)
        sentiment = round(total / math.sqrt(total * total + ALPHA), 4) if total else 0.0
    else:
        sentiment = 0.0     # no valence at all: _valence_sum and _soften would give 0
    reach, engagement = _reach(followers, likes, reposts, replies, quotes)
    # a post reporting the problem fixed, without complaint, is news, not a risk
    risk_weight = (crisis_weight * RESOLVED_RISK_FACTOR
                   if crisis_weight and sentiment >= 0 and marks[4] else crisis_weight)
    return new_score(
        decide_language(nfkc, counts) if text else "other",     # language
        sentiment,
        "positive" if sentiment >= POSITIVE_THRESHOLD               # sentiment_label
        else "negative" if sentiment <= NEGATIVE_THRESHOLD else "neutral",
        hits,                                                   # crisis_terms
        round(crisis_weight, 4) if crisis_weight else crisis_weight,
        crisis_weight >= CRISIS_THRESHOLD,                      # is_crisis
        reach,
        engagement,
        compute_risk(risk_weight, sentiment, reach, engagement),
    )


def _reach(followers: int, likes: int, reposts: int, replies: int, quotes: int) -> tuple[int, int]:
    """max(0, int(followers)), and the sum of max(0, int(count)) of the interactions."""
    interactions = tuple(map(int, (likes, reposts, replies, quotes)))
    engagement = (sum(interactions) if min(interactions) >= 0
                  else sum(c for c in interactions if c > 0))
    reach = int(followers)
    return (reach if reach > 0 else 0), engagement


def _crisis_hits(out: Analysis) -> tuple[tuple[TermHit, ...], dict[str, float]]:
    """Distinct hits, and the strongest non-negated weight per term; a debunk post
    ("fake news", 辟谣) negates them all."""
    hits: list[TermHit] = []
    seen: set[tuple[str, str, bool]] = set()
    best: dict[str, float] = {}
    for found in out.hits:
        crisis = found.crisis
        negated = found.negated or out.debunk
        key = (crisis.term, found.matched, negated)
        if key in seen:
            continue
        seen.add(key)
        hits.append(_term_hit(crisis, negated, found.matched))
        if not negated and crisis.weight > best.get(crisis.term, 0.0):
            best[crisis.term] = crisis.weight
    return tuple(hits), best


# (lexicon entry, negated, matched) -> its TermHit: frozen records are expensive to build
# and the same few recur; bounded, and equal to a fresh one in every respect but identity
_TERM_HITS: dict[tuple[CrisisEntry, bool, str], TermHit] = {}


def _term_hit(crisis: CrisisEntry, negated: bool, matched: str) -> TermHit:
    key = (crisis, negated, matched)
    hit = _TERM_HITS.get(key)
    if hit is None:
        hit = TermHit(crisis.term, crisis.category, crisis.weight, negated, matched)
        if len(_TERM_HITS) < 4096:
            _TERM_HITS[key] = hit
    return hit


def _valence_sum(out: Analysis, nfkc: str, emoji: str,
                 marks: tuple[bool, bool, int, int, bool, int], crisis_found: bool) -> float:
    """A headline about a bank run is neutral while "my account is frozen!!" is
    negative, so the voice decides how much event words count."""
    emoji_pos, emoji_neg, emoji_praise = _emoji_valences(nfkc, emoji) if emoji else (0.0, 0.0, 0.0)
    personal = _is_personal(nfkc, marks[2], marks[3], bool(emoji))
    eval_pos = out.eval_pos + emoji_pos
    negative_context = out.event + out.eval_neg + emoji_neg < 0
    if eval_pos > 0:
        if out.irony:
            eval_pos *= SARCASM_FACTOR
        elif (crisis_found and personal and not out.contrast and negative_context
              and not marks[4]):
            # praise next to a crisis, with no "but": "thanks for leaking my data"
            praise = out.praise + emoji_praise
            eval_pos += (SARCASM_FACTOR - 1.0) * praise
    if personal:
        total = eval_pos + out.eval_neg + emoji_neg + out.event
    else:
        total = REPORT_EVAL_FACTOR * (eval_pos + out.eval_neg) + REPORT_EVENT_FACTOR * out.event
    if out.debunk and total < 0:
        total *= 0.5
    return total


def _soften(total: float, out: Analysis, nfkc: str) -> float:
    """Questions and hedges soften (never flip) the valence, "!" emphasises it."""
    hedges = out.hedges + (1 if out.questions else 0)
    if hedges:
        total *= HEDGE_FACTOR ** min(hedges, MAX_HEDGES)
    bangs = min(4, nfkc.count("!"))
    if bangs and total:
        total += math.copysign(bangs * EXCLAMATION_INCREMENT, total)
    return total
