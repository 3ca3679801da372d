"""Result types of the scorer and the lexicon record both matchers share."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from .language import Language

SentimentLabel = Literal["negative", "neutral", "positive"]
POSITIVE_THRESHOLD = 0.25       # tone labels
NEGATIVE_THRESHOLD = -0.25


@dataclass(frozen=True, slots=True)
class TermHit:
    """One crisis-lexicon match.

    ``weight`` is the lexicon weight on the 0.5..3.0 scale documented in
    ``crisiscomms.scoring`` (3 = acute/systemic, 2 = serious, 1 = operational).
    Negated hits ("not a bank run", "没有挤兑", debunk posts) are reported but do not
    count toward ``crisis_weight`` or risk.
    """

    term: str
    category: str
    weight: float
    negated: bool
    matched: str


@dataclass(frozen=True, slots=True)
class Score:
    """``sentiment`` / ``sentiment_label``: polarity for reputation (what the post does to the
    bank's reputation, ``reputation.py``); ``tone`` / ``tone_label``: the author's tone (the
    lexicon's, or Comprehend's when that engine is selected; the label is read off the value).
    ``is_crisis`` is the crisis head's (``reputation.py``), the matched ``crisis_terms`` its
    evidence; ``learned_narrative`` is the narrative head's catalogue id for a crisis post none of
    whose terms tells the story (None otherwise: the terms do, ``narratives.narrative_for``)."""

    language: Language
    sentiment: float
    sentiment_label: SentimentLabel
    crisis_terms: tuple[TermHit, ...]
    crisis_weight: float
    is_crisis: bool
    reach: int
    engagement: int
    risk: int
    tone: float
    learned_narrative: str | None

    @property
    def tone_label(self) -> SentimentLabel:
        """positive at >= POSITIVE_THRESHOLD, negative at <= NEGATIVE_THRESHOLD, else neutral."""
        tone = self.tone
        return ("positive" if tone >= POSITIVE_THRESHOLD else "negative" if tone <= NEGATIVE_THRESHOLD
                else "neutral")


def _check_plain(cls: type) -> None:
    """A frozen slotted dataclass of plain fields (no defaults, no __post_init__), its slots its
    fields in order: what :func:`new_score` builds without the generated __init__."""
    fields = dataclasses.fields(cls)
    if (tuple(f.name for f in fields) != cls.__slots__ or hasattr(cls, "__post_init__")
            or any(f.default is not dataclasses.MISSING
                   or f.default_factory is not dataclasses.MISSING for f in fields)):
        raise TypeError(f"{cls.__name__}: not a dataclass of plain slotted fields")


_check_plain(Score)


class _ScoreSlots:
    """Score's slots in Score's order, without the frozen dataclass's __setattr__: filled with
    plain attribute stores, then made a Score by assigning ``__class__`` (allowed between classes
    of the same layout).  A fifth of the generated __init__'s time (eleven ``object.__setattr__``
    calls) and half that of calling each slot's setter."""

    __slots__ = Score.__slots__


_new = object.__new__


def new_score(language: Language, sentiment: float, sentiment_label: SentimentLabel,
              crisis_terms: tuple[TermHit, ...], crisis_weight: float, is_crisis: bool,
              reach: int, engagement: int, risk: int, tone: float,
              learned_narrative: str | None = None) -> Score:
    """``Score(...)``, the same object, built faster (a Score per post adds up)."""
    score = _new(_ScoreSlots)
    score.language = language
    score.sentiment = sentiment
    score.sentiment_label = sentiment_label
    score.crisis_terms = crisis_terms
    score.crisis_weight = crisis_weight
    score.is_crisis = is_crisis
    score.reach = reach
    score.engagement = engagement
    score.risk = risk
    score.tone = tone
    score.learned_narrative = learned_narrative
    score.__class__ = Score     # type: ignore[assignment]
    return score                # type: ignore[return-value]


NO_GATE, BANK_GATE, WITHDRAWAL_GATE = 0, 1, 2


class CrisisEntry:
    """A crisis term of the lexicon; one record is shared by all its variants (and never
    changed).

    ``gate``: NO_GATE counts anywhere, BANK_GATE only in a post about banking,
    WITHDRAWAL_GATE only when money is being taken out (queues are not a run otherwise).
    """

    __slots__ = ("term", "category", "weight", "gate")

    def __init__(self, term: str, category: str, weight: float, gate: int) -> None:
        self.term = term
        self.category = category
        self.weight = weight
        self.gate = gate


class MatchedTerm:
    """A crisis hit as an analyser found it; only distinct ones become a TermHit (frozen
    records cost four times as much to build)."""

    __slots__ = ("crisis", "negated", "matched")

    def __init__(self, crisis: CrisisEntry, negated: bool, matched: str) -> None:
        self.crisis = crisis
        self.negated = negated
        self.matched = matched


class Rec:
    """What a lexicon entry means; one entry can play several roles.

    valence   -4..+4 or None
    crisis    CrisisEntry or None
    neg       negates what follows; postneg debunks what precedes (same sentence)
    debunk    makes the whole post a debunk; hedge softens the post
    degree    multiplier (Chinese) / additive booster (English) or None
    contrast  "but": what precedes counts half, what follows 1.5x
    boundary  clause (1) or sentence (2) boundary, 0 otherwise
    block     neutral word that only exists to win the longest match
    """

    __slots__ = ("valence", "crisis", "neg", "postneg", "debunk", "hedge", "degree",
                 "contrast", "boundary", "block", "event", "irony", "reported",
                 "rhetorical", "quote", "praise", "kind", "notes")

    def __init__(self) -> None:
        self.valence: float | None = None
        self.crisis: CrisisEntry | None = None
        self.neg = False
        self.postneg = False
        self.debunk = False
        self.hedge = False
        self.degree: float | None = None
        self.contrast = False
        self.boundary = 0
        self.block = False
        self.event = False       # valence describes an event, not the author's feeling
        self.irony = False       # 🙃, 呵呵, "love that for me": positives read as sarcasm
        self.reported = False    # "says", "claims", 称, 话: reported speech
        self.rhetorical = False  # 谁说, 哪有: a negator whose question is rhetorical
        self.quote = False       # quotation mark
        self.praise = False      # praise that reads as sarcasm next to a crisis
        self.kind = UNSEALED     # what the clause scan does with it: see seal()
        self.notes = False       # irony, debunk, hedge, postneg or reported (settled by seal())

    def seal(self) -> int:
        """Settle ``kind`` from the roles (the clause scan does, the first time it meets the
        record: the lexicon is complete by then, and most records are never met), and ``notes``, whether
        it is a marker the scan notes (one test of a general record instead of five)."""
        self.notes = self.irony or self.debunk or self.hedge or self.postneg or self.reported
        self.kind = (BLOCK if self.block else QUOTE if self.quote else BOUNDARY if self.boundary
                     else GENERAL if (self.crisis is not None or self.degree is not None
                                      or self.neg or self.contrast or self.irony or self.debunk
                                      or self.hedge or self.postneg or self.reported)
                     else INERT if self.valence is None else VALENCE)
        return self.kind


# Rec.kind: a plain valence word, a word with no role in the clause scan, a blocker, a
# quotation mark, a boundary, anything else; not settled yet
VALENCE, INERT, BLOCK, QUOTE, BOUNDARY, GENERAL, UNSEALED = range(7)


class Analysis:
    """What the language analysers found in one post, after the clause rules.

    Valence is summed by kind: evaluative positive / negative (the author's feelings),
    event (what happened: crisis terms, "fined", "profit"), and the praise part of the
    positive sum (candidates for a sarcasm reading).
    """

    __slots__ = ("eval_pos", "eval_neg", "event", "hits", "hedges", "debunk",
                 "irony", "contrast", "questions", "praise")

    def __init__(self) -> None:
        self.eval_pos = 0.0
        self.eval_neg = 0.0
        self.event = 0.0
        self.hits: list[MatchedTerm] = []    # before a debunk negates them all
        self.hedges = 0
        self.debunk = False
        self.irony = False
        self.contrast = False
        self.questions = 0
        self.praise = 0.0        # part of eval_pos that came from praise words
