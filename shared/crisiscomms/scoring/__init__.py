"""Post scoring: language, polarity for reputation, crisis and its narrative, the author's tone, crisis
terms and risk, offline.

Owns the lexicons, the rules, the learned models and the risk formula; others use it through
this package (and the composition root through `engines`). May import only the standard
library, and `engines` the `models` contract; the Comprehend call is passed in, never imported.

What a Score says: ``sentiment`` / ``sentiment_label`` are polarity for reputation, what the
post, if believed, does to the bank's reputation (tests/data/reputation/GUIDE.md): a neutral
headline about a bank run, an outage or a fine is negative, a regulator clearing the bank
positive, the bank's own denial neutral, sarcasm about a failure negative.  ``tone`` /
``tone_label`` are the author's tone (the lexicon's below, or Comprehend's).  The stored
figures and the alerts count polarity.  ``is_crisis``: the post reports, alleges, rumours, warns
of or asks about a crisis event (GUIDE.md section 3), whether or not a term of the lexicon
names it ("ATMs dispensing nothing", 限提三千); the matched ``crisis_terms`` are its evidence,
shown to the desk.  ``learned_narrative``: the catalogue narrative of a crisis post none of
whose terms tells the story (``narratives.narrative_for`` reads it).

Stdlib only, deterministic, built for AWS Lambda: the lexicons are JSON package data
(``lexicon_en.json``, ``lexicon_zh.json``, see ``lexicon.py``) and the polarity model's
weights are ``reputation_model.json`` + ``reputation_model.bin`` (4 KB + 73 KB, read in about
2.3 ms when the first post is scored, not at import) and ``reputation_narratives.bin`` (44 KB,
read in about 1.3 ms when the first crisis post no term explains is scored).  The package imports
in about 32 ms on this project's machine (the Chinese gap patterns are compiled when a post
first needs one) and scores about 25,000 of the labelled posts per second on one core, 0.50-0.53
of VADER's rate in CPU time (257,000 instructions a post with warm memos; README "The models");
about 15,000 a second on posts none of whose words it has seen before, the models' memos being
empty.

Speed comes from doing less per post, never from changing a result: pure-ASCII text
skips normalisation, script counts run on the UTF-8 bytes, a Chinese post without Latin
words skips the English tokenizer, phrases are tried only when the post has their second
token and the rest of theirs, a gap pattern only when the post has the characters one of its
alternatives needs, object/action pairs read only the tokens of a rule, lexicon lookups are
indexed once at import (a phrase's second tokens at its first token's first use), the
Score is built without its dataclass __init__ and the items and clause records without their
classes' __init__.  tests/unit/test_scoring_fastpaths.py checks
each fast path against the plain algorithm it replaces, and tests/unit/test_scoring_fingerprint.py
holds every Score of the dev split's texts to a recorded fingerprint.

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
6. Tone = S / sqrt(S^2 + 15) (VADER's normalisation) of the summed valence S,
   after questions and hedges soften it (x0.75 each, at most two; they never flip it)
   and exclamation marks emphasise it; emoji add their own valence.  Labels:
   >= +0.25 positive, <= -0.25 negative, neutral in between.  A tone from Comprehend
   (``tone_override``) replaces it.
7. The lexicon's crisis weight = sum over distinct canonical terms of the weight of their
   non-negated hits, capped at :data:`CRISIS_WEIGHT_CAP` (6.0).  Weight scale per
   term: 3 acute/systemic (bank run, withdrawals halted, insolvency, licence revoked),
   2-2.5 serious (fraud, data breach, frozen accounts, regulator probe, executives
   fled), 1-1.5 operational (outage, app down, layoffs, scam warnings, branch
   closures, share-price falls).  It is one input of the crisis head (step 8), which
   decides ``is_crisis``; ``crisis_weight`` (what risk and the aggregates count) is then
   the lexicon's, at least :data:`LEARNED_CRISIS_WEIGHT` (1.0, one operational term's
   weight, the old threshold) for a crisis post whose terms weigh less or that has none,
   and at most :data:`NOT_CRISIS_WEIGHT` (0.5) for a post that is not crisis (a film's
   "bank run", a scam by outsiders, one customer's frozen card), so ``is_crisis`` holds
   exactly when ``crisis_weight >= CRISIS_THRESHOLD``.
8. Polarity for reputation, crisis and narrative (``reputation.py``): linear heads over
   the same features of the post, computed once (one memo look-up per distinct token and
   per character gives every head's gram sums)::

       margin_h = bias_h + step_h * sum(q_h[crc32(g) mod 2**18] for g in grams) / sqrt(units)
                         + sum(v_h[k] * evidence[k])          h = negative, positive, crisis
       polarity = p_positive - p_negative of softmax(margin_negative, 0, margin_positive)
       label    = the class with the largest margin (neutral when none is above 0)
       crisis   = margin_crisis > 0       (logistic; threshold chosen by cross-validation)

   grams: each distinct English token padded as <tok>, its 3..5-character n-grams and
   itself; each Han character (Traditional folded to Simplified); each emoji.  evidence:
   the tone, the crisis weight (not damped in a report: a headline about a run is
   negative), the event / negative / positive valence before any damping, flags: praise
   (words or emoji), a debunk, a denial (a negated crisis term), either voiced by an
   authority (regulator, police, 警方 ...), a reported fix, a question, a question about
   a crisis (doubt spread as a question), irony, hedges, about banking, money being taken
   out, the author's voice, a report's voice; and the categories of the non-negated
   crisis terms.  A crisis post with no non-negated term gets its narrative from a fourth
   head, multinomial over the ten catalogue narratives on the grams alone.
9. Risk 0..100 from crisis weight (step 7), negativity (of polarity), reach and
   engagement: see ``risk.py`` and :func:`risk_formula`.  A post whose polarity label is
   not negative and that reports a resolution ("has been fixed", 已恢复) enters risk with
   RESOLVED_RISK_FACTOR x its crisis weight.

Training.  The heads are trained on the dev split of the reputation set only
(tests/data/reputation/dev.jsonl, labelled by GUIDE.md) by
``python -m crisiscomms_local.train_reputation``: SGD on the class-weighted log-loss with L2
(n-gram and evidence weights regularised apart), rows in a seeded order, so the same rows
give the same bytes; the n-gram weights are stored as int8 with one step per head.  Its
settings (n-gram lengths, each head's L2, class weights, the crisis threshold) were chosen by
5-fold cross-validation on dev (``--search`` prints the table), and the header records the
shipped settings' 5-fold figures.  The trainer refuses the frozen test split
(tests/data/reputation/FROZEN: its SHA-256 and ids).  The
lexicons' thresholds and factors were tuned on the dev split of the earlier set
(tests/data/labelled_posts.jsonl, author's tone).  ``python -m
crisiscomms_local.evaluate_scoring`` prints dev and test side by side (``--earlier``: the
earlier set's dev and holdout).
"""
from __future__ import annotations

import math
import unicodedata

from . import chinese, english, reputation
from .english import EMOJI, PRAISE_EMOJI
from .language import (NON_ASCII_RUN, WORD_CLASS, decide_language, detect_language, fold_chinese, normalise,
                       script_profile, to_simplified, to_traditional)
from .model import (NEGATIVE_THRESHOLD, POSITIVE_THRESHOLD, Analysis, CrisisEntry, Language, Score,
                    TermHit, new_score)
from .risk import compute_risk, risk_formula
from .rules import PostContext

__all__ = [
    "Language", "TermHit", "Score", "detect_language", "score_text", "polarity_inputs", "risk_formula",
    "CRISIS_THRESHOLD", "CRISIS_WEIGHT_CAP", "LEARNED_CRISIS_WEIGHT", "NOT_CRISIS_WEIGHT",
    "POSITIVE_THRESHOLD", "NEGATIVE_THRESHOLD",
    "normalise", "to_simplified", "to_traditional", "WORD_CLASS",
]

CRISIS_WEIGHT_CAP = 6.0
CRISIS_THRESHOLD = 1.0
NEGATED_CRISIS_VALENCE = 0.2   # "not a bank run" / "没有挤兑" reassures a little
REPORT_EVENT_FACTOR = 0.1      # event words in a post with no personal voice
REPORT_EVAL_FACTOR = 0.6       # evaluative words in a post with no personal voice
SARCASM_FACTOR = -0.8          # praise in a complaint about a crisis, with no "but"
ALPHA = 15.0                   # VADER's normalisation constant
HEDGE_FACTOR = 0.75
MAX_HEDGES = 2
EXCLAMATION_INCREMENT = 0.292  # VADER's per-"!" emphasis, at most 4
RESOLVED_RISK_FACTOR = 0.3     # a non-negative post reporting a fix ("restored", 已恢复)
LEARNED_CRISIS_WEIGHT = 1.0    # a crisis post whose terms weigh less: one operational term's weight
NOT_CRISIS_WEIGHT = 0.5        # the most the terms of a post that is not crisis weigh

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
_NO_VALENCE = (0.0, 0.0, 0.0)       # (positive, negative, praise) of a post without emoji
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


def _round4(x: float) -> float:
    """round(x, 4), the same float, without its decimal conversion unless x is within a
    hair of a tie (x * 10**4 is then off the exact product by far less than the margin)."""
    y = x * 10000.0
    if -1e9 < y < 1e9:          # (False for NaN)
        r = round(y)
        if -0.4999 < y - r < 0.4999:
            return r / 10000.0 if r else math.copysign(0.0, x)
    return round(x, 4)


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


# (about banking, money being taken out, ALL-CAPS, NEGATED_CRISIS_VALENCE) -> the PostContext of a
# post: the clause rules only read it, and all posts share a few
_POST_CONTEXTS: dict[tuple[bool, bool, bool, float], PostContext] = {}


def _post_context(key: tuple[bool, bool, bool, float]) -> PostContext:
    """The PostContext of (about banking, money being taken out, ALL-CAPS, the negated crisis
    valence), kept for the next post; ALL-CAPS only tempers ALL-CAPS English words, moot without
    any (score_text passes ``words and text.isupper()``)."""
    post = PostContext(*key)
    if len(_POST_CONTEXTS) < 64:
        _POST_CONTEXTS[key] = post
    return post


def score_text(text: str, *, followers: int = 0, likes: int = 0, reposts: int = 0,
               replies: int = 0, quotes: int = 0, tone_override: float | None = None) -> Score:
    """Score one post.  ``tone_override`` (e.g. from Amazon Comprehend, in -1..1) replaces the lexicon's
    tone; polarity and crisis (with that tone as one of their inputs), terms, reach and risk are not."""
    text = text or ""
    nfkc = _nfkc(text)
    counts, chars, emoji, folds, words = script_profile(nfkc, exact=False)
    has_han = counts[1] > 0
    if has_han and not words and english.PUNCTUATION_ONLY_IS_PLAIN:
        toks = present = None       # a Chinese post without Latin words: its English side
        en = english.punctuation_markers(nfkc)      # is its "%" and "?" alone
    else:
        toks, raws = english.tokenize(nfkc)
        present = set(toks)
        en = english.markers(toks, present)
    zh_text = fold_chinese(nfkc, folds) if has_han else ""
    if has_han and zh_text is not nfkc:
        chars = list(zh_text)
    marks = _markers(en, zh_text, chars)
    key = (marks[0], marks[1], words and nfkc.isupper(), NEGATED_CRISIS_VALENCE)  # (see _post_context)
    post = _POST_CONTEXTS.get(key) or _post_context(key)
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
    emoji_valence = _emoji_valences(nfkc, emoji) if emoji else _NO_VALENCE
    if tone_override is None and not (out.eval_pos or out.eval_neg or out.event or emoji):
        tone = 0.0     # no valence at all: _tone would give 0
    else:
        tone = _tone(out, nfkc, emoji, marks, bool(best), tone_override, emoji_valence)
    if _reading is not None:
        _reading.extend(((present, zh_text, emoji, reputation.evidence(
            tone, crisis_weight, hits, out, marks, zh_text or nfkc, emoji_valence)), hits))
    polarity, polarity_label, crisis = (learned := reputation._MODEL or reputation.model()).polarity(
        present, chars, emoji, tone, crisis_weight, hits, out, marks, zh_text or nfkc, emoji_valence)
    if crisis:
        crisis_weight = crisis_weight if crisis_weight >= CRISIS_THRESHOLD else LEARNED_CRISIS_WEIGHT
    else:
        crisis_weight = crisis_weight if crisis_weight <= NOT_CRISIS_WEIGHT else NOT_CRISIS_WEIGHT
    narrative = learned.narrative(present, chars, emoji, hits) if crisis and not best else None   # no term tells it
    reach, engagement = _reach(followers, likes, reposts, replies, quotes)
    # a post reporting the problem fixed, without harm to the bank, is news, not a risk
    risk_weight = (crisis_weight * RESOLVED_RISK_FACTOR
                   if crisis_weight and marks[4] and polarity_label != "negative" else crisis_weight)
    return new_score(
        decide_language(nfkc, counts) if text else "other",     # language
        polarity, polarity_label,                               # sentiment, sentiment_label
        hits,                                                   # crisis_terms
        _round4(crisis_weight) if crisis_weight else crisis_weight,
        crisis,                                                 # is_crisis
        reach, engagement,
        compute_risk(risk_weight, polarity, reach, engagement),
        tone, narrative,
    )


def _tone(out: Analysis, nfkc: str, emoji: str, marks: tuple[bool, bool, int, int, bool, int],
          crisis_found: bool, tone_override: float | None, emoji_valence: tuple[float, float, float]) -> float:
    """The author's tone: Comprehend's when given, else the lexicon's (pipeline step 6): the
    valence summed as the voice says, then softened by questions and hedges and emphasised by "!".

    A headline about a bank run is neutral while "my account is frozen!!" is negative, so the
    voice decides how much event words count; a post is a report when report markers outnumber
    the author's own voice ("!", "??", "?!" and emoji count for the author).  ``emoji_valence``:
    the post's emoji's (positive, negative, praise), _emoji_valences.  Questions and hedges
    soften (never flip) the valence."""
    if tone_override is not None:
        tone = float(tone_override)
        return 0.0 if math.isnan(tone) else _round4(_clamp(tone))
    emoji_pos, emoji_neg, emoji_praise = emoji_valence
    # the voice
    personal = marks[2]
    if "!" in nfkc or "??" in nfkc or "?!" in nfkc:
        personal += 1
    if emoji:
        personal += 1
    personal = personal >= marks[3]
    # the valence summed
    eval_pos = out.eval_pos + emoji_pos
    if eval_pos > 0:
        if out.irony:
            eval_pos *= SARCASM_FACTOR
        elif (crisis_found and personal and not out.contrast and out.event + out.eval_neg + emoji_neg < 0
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
    # softened, emphasised
    hedges = out.hedges + (1 if out.questions else 0)
    if hedges:
        total *= HEDGE_FACTOR ** min(hedges, MAX_HEDGES)
    bangs = min(4, nfkc.count("!"))
    if bangs and total:
        total += math.copysign(bangs * EXCLAMATION_INCREMENT, total)
    return _round4(total / math.sqrt(total * total + ALPHA)) if total else 0.0


# While polarity_inputs scores a post: where score_text leaves what the model read of it
_reading: list | None = None


def polarity_inputs(text: str, tone_override: float | None = None,
                    masked: tuple[frozenset[str], tuple[str, ...]] = (frozenset(), ())) -> tuple[
        list[str], int, reputation.Evidence]:
    """What the models read of a post: its grams (the plain enumeration), their units and the
    lexicon's evidence (``reputation.py``); for the trainer (not thread-safe).  ``masked``: English
    tokens and folded Chinese names that give no grams (the units stay the post's), so the
    trainer keeps the labelled set's bank names from teaching the model a prior about a bank."""
    global _reading
    _reading = []
    try:
        score_text(text, tone_override=tone_override)
        (words, zh, emoji, ev), hits = _reading[:2]
    finally:
        _reading = None
    m = reputation.model()
    grams, units = reputation.grams_of(words, zh, emoji, m.latin, m.han)
    read, read_zh = m.readable(words, zh, hits, *masked)    # as the model reads it: the units stay the post's
    if read is not words or read_zh != zh:
        grams = reputation.grams_of(read, read_zh, emoji, m.latin, m.han)[0]
    return grams, units, ev


def _reach(followers: int, likes: int, reposts: int, replies: int, quotes: int) -> tuple[int, int]:
    """max(0, int(followers)), and the sum of max(0, int(count)) of the interactions."""
    if (type(followers) is int and type(likes) is int and type(reposts) is int
            and type(replies) is int and type(quotes) is int):     # what posts carry
        if likes >= 0 and reposts >= 0 and replies >= 0 and quotes >= 0:
            return (followers if followers > 0 else 0), likes + reposts + replies + quotes
        return (followers if followers > 0 else 0), ((likes if likes > 0 else 0)
                                                     + (reposts if reposts > 0 else 0)
                                                     + (replies if replies > 0 else 0)
                                                     + (quotes if quotes > 0 else 0))
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
        # the TermHit: frozen records are expensive to build and the same few recur
        hit = _TERM_HITS.get((crisis, negated, found.matched))
        if hit is None:
            hit = TermHit(crisis.term, crisis.category, crisis.weight, negated, found.matched)
            if len(_TERM_HITS) < 4096:
                _TERM_HITS[(crisis, negated, found.matched)] = hit
        hits.append(hit)
        if not negated and crisis.weight > best.get(crisis.term, 0.0):
            best[crisis.term] = crisis.weight
    return tuple(hits), best


# (lexicon entry, negated, matched) -> its TermHit (_crisis_hits): bounded, and equal to a fresh
# one in every respect but identity
_TERM_HITS: dict[tuple[CrisisEntry, bool, str], TermHit] = {}
