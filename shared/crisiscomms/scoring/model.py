"""Result types of the scorer and the lexicon record both matchers share."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .language import Language

SentimentLabel = Literal["negative", "neutral", "positive"]


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
    language: Language
    sentiment: float
    sentiment_label: SentimentLabel
    crisis_terms: tuple[TermHit, ...]
    crisis_weight: float
    is_crisis: bool
    reach: int
    engagement: int
    risk: int


NO_GATE, BANK_GATE, WITHDRAWAL_GATE = 0, 1, 2


@dataclass(frozen=True, slots=True, eq=False)
class CrisisEntry:
    """A crisis term of the lexicon; one record is shared by all its variants.

    ``gate``: NO_GATE counts anywhere, BANK_GATE only in a post about banking,
    WITHDRAWAL_GATE only when money is being taken out (queues are not a run otherwise).
    """

    term: str
    category: str
    weight: float
    gate: int


@dataclass(slots=True, eq=False)
class MatchedTerm:
    """A crisis hit as an analyser found it; only distinct ones become a TermHit (frozen
    records cost four times as much to build)."""

    crisis: CrisisEntry
    negated: bool
    matched: str


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
                 "rhetorical", "quote", "praise")

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
