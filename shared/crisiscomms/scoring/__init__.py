"""Post scoring: language, sentiment, crisis terms and risk, in-process and offline.

Owns the lexicons, the rules and the risk formula; others use it through this package (and the
composition root through `engines`). May import only the standard library, and `engines` the
`models` contract; the Comprehend call is passed in, never imported.

Stdlib only, deterministic, built for AWS Lambda: the lexicons are JSON package data
(``lexicon_en.json``, ``lexicon_zh.json``, see ``lexicon.py``), the package imports in
about 15 ms with cached bytecode (about 30 ms without, on this project's machine) and
scores well over 5,000 typical posts per second on one core.

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
from .language import (DROP_ASCII, decide_language, detect_language, normalise, script_counts,
                       to_simplified, to_traditional)
from .model import Analysis, Language, Score, SentimentLabel, TermHit
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


def _emoji_valences(nfkc: str) -> tuple[float, float, float]:
    """(positive, negative, praise) valence of the emoji: they carry a post's tone."""
    pos = neg = praise = 0.0
    for ch in nfkc.translate(DROP_ASCII):
        v = _emoji_valence(ch)
        if v:
            if v > 0:
                pos += v
                if ch in PRAISE_EMOJI:
                    praise += v
            else:
                neg += v
    return pos, neg, praise


def _resolved(toks: list[str], zh_text: str) -> bool:
    """Does the post report a resolution (refunded, restored, 已恢复)?  Then praise
    next to a crisis term is sincere, not sarcasm."""
    if not english.RESOLUTION.isdisjoint(toks):
        return True
    if english.RESOLUTION_PHRASES:
        joined = " " + " ".join(toks) + " "
        if any(p in joined for p in english.RESOLUTION_PHRASES):
            return True
    return bool(zh_text) and any(m in zh_text for m in chinese.RESOLUTION)


def _voice(toks: list[str], zh_text: str) -> tuple[int, int]:
    """(personal markers, report markers) of a post."""
    personal = report = 0
    p_en, r_en = english.PERSONAL, english.REPORT
    prev = ""
    for t in toks:
        if t in p_en:
            personal += 1
        elif t in r_en or t == "%" and prev != "100":   # "rate 4.1%", not "100%"
            report += 1
        prev = t
    joined = " " + " ".join(toks) + " "
    personal += sum(1 for p in english.PERSONAL_PHRASES if p in joined)
    report += sum(1 for p in english.REPORT_PHRASES if p in joined)
    if zh_text:
        personal += sum(1 for m in chinese.PERSONAL if m in zh_text)
        report += sum(1 for m in chinese.REPORT if m in zh_text)
    return personal, report


def _is_personal(nfkc: str, toks: list[str], zh_text: str, has_emoji: bool) -> bool:
    """A post is a report when report markers outnumber the author's own voice."""
    n_personal, n_report = _voice(toks, zh_text)
    if "!" in nfkc or "??" in nfkc or "?!" in nfkc:
        n_personal += 1
    if has_emoji:
        n_personal += 1
    return n_personal >= n_report


def _label(sentiment: float) -> SentimentLabel:
    if sentiment >= POSITIVE_THRESHOLD:
        return "positive"
    if sentiment <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"


def _clamp(x: float) -> float:
    return -1.0 if x < -1.0 else 1.0 if x > 1.0 else x


def score_text(text: str, *, followers: int = 0, likes: int = 0, reposts: int = 0,
               replies: int = 0, quotes: int = 0,
               sentiment_override: float | None = None) -> Score:
    """Score one post.  ``sentiment_override`` (e.g. from Amazon Comprehend, in -1..1)
    replaces this package's sentiment; crisis terms, reach and risk are still computed."""
    text = text or ""
    nfkc = unicodedata.normalize("NFKC", text).translate(_PUNCT_FOLD)
    counts = script_counts(nfkc)
    has_han, has_emoji = counts[1] > 0, counts[5] > 0
    toks, caps = english.tokenize(nfkc)
    zh_text = to_simplified(nfkc.casefold()) if has_han else ""
    out = _analyse(nfkc, toks, caps, zh_text, has_han)
    hits, best = _crisis_hits(out)
    crisis_weight = min(CRISIS_WEIGHT_CAP, sum(best.values()))
    if sentiment_override is not None:
        sentiment = float(sentiment_override)
        sentiment = 0.0 if math.isnan(sentiment) else _clamp(sentiment)
    else:
        total = _valence_sum(out, nfkc, toks, zh_text, has_emoji, bool(best))
        total = _soften(total, out, nfkc)
        sentiment = total / math.sqrt(total * total + ALPHA) if total else 0.0
    sentiment = round(sentiment, 4)
    engagement = max(0, int(likes)) + max(0, int(reposts)) + max(0, int(replies)) + max(
        0, int(quotes))
    reach = max(0, int(followers))
    return Score(
        language=decide_language(nfkc, counts) if text else "other",
        sentiment=sentiment,
        sentiment_label=_label(sentiment),
        crisis_terms=hits,
        crisis_weight=round(crisis_weight, 4),
        is_crisis=crisis_weight >= CRISIS_THRESHOLD,
        reach=reach,
        engagement=engagement,
        risk=compute_risk(_risk_weight(crisis_weight, sentiment, toks, zh_text), sentiment,
                          reach, engagement),
    )


def _analyse(nfkc: str, toks: list[str], caps: list[bool], zh_text: str,
             has_han: bool) -> Analysis:
    """Both analysers run on every post: mixed-language posts are common."""
    context = english.has_context(toks) or (has_han and chinese.has_context(zh_text))
    withdraw = english.has_withdraw_context(toks) or (
        has_han and chinese.has_withdraw_context(zh_text))
    post = PostContext(context, withdraw, nfkc.isupper(), NEGATED_CRISIS_VALENCE)
    out = Analysis()
    english.analyse(toks, caps, out, post)
    if has_han:
        chinese.analyse(zh_text, out, post)
    return out


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
        hits.append(TermHit(crisis.term, crisis.category, crisis.weight, negated, found.matched))
        if not negated and crisis.weight > best.get(crisis.term, 0.0):
            best[crisis.term] = crisis.weight
    return tuple(hits), best


def _valence_sum(out: Analysis, nfkc: str, toks: list[str], zh_text: str, has_emoji: bool,
                 crisis_found: bool) -> float:
    """A headline about a bank run is neutral while "my account is frozen!!" is
    negative, so the voice decides how much event words count."""
    emoji_pos, emoji_neg, emoji_praise = _emoji_valences(nfkc) if has_emoji else (0.0, 0.0, 0.0)
    personal = _is_personal(nfkc, toks, zh_text, has_emoji)
    eval_pos = out.eval_pos + emoji_pos
    negative_context = out.event + out.eval_neg + emoji_neg < 0
    if eval_pos > 0:
        if out.irony:
            eval_pos *= SARCASM_FACTOR
        elif (crisis_found and personal and not out.contrast and negative_context
              and not _resolved(toks, zh_text)):
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


def _risk_weight(crisis_weight: float, sentiment: float, toks: list[str], zh_text: str) -> float:
    """A post that reports the problem fixed, without complaint, is news the desk wants, not a risk:
    its crisis terms still count for is_crisis but weigh RESOLVED_RISK_FACTOR in risk."""
    if crisis_weight and sentiment >= 0 and _resolved(toks, zh_text):
        return crisis_weight * RESOLVED_RISK_FACTOR
    return crisis_weight
