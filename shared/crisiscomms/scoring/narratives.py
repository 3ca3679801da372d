"""Narratives: which crisis story a post tells, and which stories of a topic come first.

Catalogue. The ids and names of ``CATALOGUE`` are the labelling guide's
(tests/data/reputation/GUIDE.md): ten kinds of crisis event and ``other``.

Assignment (:func:`narrative_for`). A post that is not crisis has no narrative. A crisis post's
narrative is the catalogue entry whose non-negated crisis terms weigh most, each distinct
canonical term counted once at its weight (as the crisis weight counts it); a tie goes to the
entry listed first, as the guide says. A crisis post none of whose terms maps to an entry is
``other``. Both lexicons file their crisis terms under the same categories (``CATEGORY_NARRATIVE``)
and Traditional forms fold into the Simplified term before matching, so an English, a Simplified
and a Traditional post about the same event land in the same narrative by construction. A crisis
post without any non-negated term (the crisis head's decision, ``reputation.py``) takes the
narrative head's catalogue id (``Score.learned_narrative``), ``other`` when there is none.

Grouping beyond the catalogue (:func:`narrative_group`). A topic's ``other`` posts are kept apart
by a signature: their most specific non-negated crisis term (highest weight, then longest, then
first in code-point order), as ``other:<term>`` with the term case-folded and its spaces and
punctuation turned into ``_``. The signature is deterministic and drawn from the lexicons' finite
set of canonical terms, so a topic holds at most one group per catalogue entry and per crisis term:
an emerging story (a crisis category the catalogue does not list yet) is told apart from another
one online, without clustering state. A crisis post with no term at all and no narrative from
the narrative head is plain ``other``. What ingestion stores as a post's narrative is its group.

Figures and priority (:func:`tally`, :func:`priority`). The store keeps, per narrative and per
minute and hour item of a topic, ``nv_<id>`` posts, ``nn_<id>`` negative posts, ``nr_<id>`` the
authors' followers summed and ``np_<id>_<platform>`` posts per platform. Over a range [start, end)
cut at its middle into a first and a second half (F and S posts, lengths dF and dS):

    share    = negative / posts
    growth   = ((S + 2) / dS) / ((F + 2) / dF), kept within 0.25..4   two pseudo-posts a half
    reach    = min(1, log10(1 + followers / posts) / 6)             mean author reach, as in risk
    priority = posts x (0.5 + share) x growth x (1 + reach)

so a story counts by its size, twice as much when every post is negative as when none is, up to
four times as much when it is spreading (a quarter when it is dying down), and up to twice as
much when its authors are heard widely. Ranked by priority, then posts, then catalogue order.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

OTHER = "other"
CATALOGUE: dict[str, dict[str, str]] = {
    "bank_run": {"en": "Bank run", "zh": "挤兑"},
    "withdrawals": {"en": "Withdrawals blocked, ATMs not dispensing", "zh": "取款受阻、ATM取不出钱"},
    "insolvency": {"en": "Insolvency fears", "zh": "倒闭与资不抵债传闻"},
    "frozen_accounts": {"en": "Frozen accounts", "zh": "账户被冻结"},
    "outage": {"en": "Service outage", "zh": "系统故障"},
    "data_breach": {"en": "Data breach", "zh": "数据泄露"},
    "fraud": {"en": "Fraud and scams", "zh": "诈骗与欺诈"},
    "regulator": {"en": "Regulator action", "zh": "监管调查与处罚"},
    "executives": {"en": "Executives detained or fled", "zh": "高管被带走或出逃"},
    "layoffs_closures": {"en": "Layoffs and closures", "zh": "裁员与网点关闭"},
    OTHER: {"en": "Other crisis", "zh": "其他危机"},
}
# lexicon crisis category -> catalogue id
CATEGORY_NARRATIVE = {
    "bank_run": "bank_run", "withdrawal": "withdrawals", "insolvency": "insolvency",
    "frozen_accounts": "frozen_accounts", "outage": "outage", "data_breach": "data_breach", "fraud": "fraud",
    "regulator": "regulator", "executives": "executives", "layoffs": "layoffs_closures",
    "closures": "layoffs_closures",
}
_ORDER = {narrative: n for n, narrative in enumerate(CATALOGUE)}
# Terms weighing equally for fraud and a narrative after it in the catalogue: that one names what happened (a
# regulator's fine for laundering failures, an executive charged); of the 22 dev crisis posts whose reading
# this tie-break changes, 18 were labelled the other narrative (the catalogue's order decides the other ties)
_TIE_ORDER = {narrative: n for n, narrative in enumerate([k for k in CATALOGUE if k != "fraud"] + ["fraud"])}
_SEPARATORS = re.compile(r"[\W_]+")
SIGNATURE_CHARS = 40

# counters of the aggregates' minute and hour items (crisiscomms.aws.post_store)
POSTS, NEGATIVE, REACH, PLATFORM = "nv_", "nn_", "nr_", "np_"
GROWTH_PSEUDO_POSTS = 2.0
GROWTH_RANGE = (0.25, 4.0)


class _Hit(Protocol):
    term: str
    category: str
    weight: float
    negated: bool


class _Scored(Protocol):
    is_crisis: bool
    crisis_terms: tuple[_Hit, ...]


def narrative_for(score: _Scored) -> str | None:
    """The catalogue id of a scored post's narrative (`other` when none fits), None when it is not crisis."""
    if not score.is_crisis:
        return None
    terms: dict[str, tuple[str, float]] = {}
    for hit in score.crisis_terms:
        narrative = CATEGORY_NARRATIVE.get(hit.category)
        if narrative is None or hit.negated:
            continue
        known = terms.get(hit.term)
        if known is None or hit.weight > known[1]:
            terms[hit.term] = (narrative, hit.weight)
    if not terms:       # the crisis head's decision, no term: the narrative head's reading
        return getattr(score, "learned_narrative", None) or OTHER
    weights: dict[str, float] = {}
    for narrative, weight in terms.values():
        weights[narrative] = weights.get(narrative, 0.0) + weight
    return min(weights, key=lambda n: (-weights[n], _TIE_ORDER[n]))


def signature(score: _Scored) -> str | None:
    """The most specific non-negated crisis term, as a group key part; None when there is none."""
    terms = [hit.term for hit in score.crisis_terms if not hit.negated]
    if not terms:
        return None
    weight = {t: max(h.weight for h in score.crisis_terms if h.term == t and not h.negated) for t in terms}
    term = min(terms, key=lambda t: (-weight[t], -len(t), t))
    return _SEPARATORS.sub("_", term.casefold()).strip("_")[:SIGNATURE_CHARS] or None


def narrative_group(score: _Scored) -> str | None:
    """What a post's narrative is stored as: the catalogue id, or `other:<signature>` beyond it."""
    narrative = narrative_for(score)
    if narrative != OTHER:
        return narrative
    found = signature(score)
    return f"{OTHER}:{found}" if found else OTHER


def catalogue_id(group: str) -> str:
    """The catalogue entry of a stored narrative group (`other:…` is `other`)."""
    return group.split(":", 1)[0] if group.startswith(OTHER) else group


def names(group: str) -> dict[str, str]:
    """English and Chinese names of a group; a group beyond the catalogue names its signature."""
    base = CATALOGUE.get(catalogue_id(group), CATALOGUE[OTHER])
    if group in CATALOGUE:
        return dict(base)
    detail = group.split(":", 1)[1] if ":" in group else group
    return {"en": f"{base['en']}: {detail.replace('_', ' ')}", "zh": f"{base['zh']}：{detail}"}


def rank_key(group: str) -> int:
    return _ORDER.get(catalogue_id(group), len(_ORDER))


class Tally:
    """One narrative's counters over a range: posts, negative, followers, per half and per platform."""

    __slots__ = ("narrative", "posts", "negative", "followers", "first", "second", "platforms")

    def __init__(self, narrative: str) -> None:
        self.narrative = narrative
        self.posts = self.negative = self.followers = self.first = self.second = 0
        self.platforms: dict[str, int] = {}

    def figures(self, first_length: float, second_length: float) -> dict[str, Any]:
        """Counts, negative share, growth, reach and priority (the module's formula)."""
        share = self.negative / self.posts if self.posts else 0.0
        growth = growth_of(self.first, self.second, first_length, second_length)
        reach = min(1.0, math.log10(1 + self.followers / self.posts) / 6) if self.posts else 0.0
        return {"id": self.narrative, "names": names(self.narrative), "posts": self.posts, "negative": self.negative,
                "negative_share": round(share, 4), "growth": round(growth, 3),
                "first_half": self.first, "second_half": self.second, "reach": round(reach, 4),
                "priority": round(priority(self.posts, share, growth, reach), 3),
                "platforms": dict(sorted(self.platforms.items(), key=lambda kv: (-kv[1], kv[0])))}


def growth_of(first: int, second: int, first_length: float, second_length: float) -> float:
    """The second half's rate against the first's, with two pseudo-posts a half, kept within GROWTH_RANGE."""
    if first_length <= 0 or second_length <= 0:
        return 1.0
    ratio = ((second + GROWTH_PSEUDO_POSTS) / second_length) / ((first + GROWTH_PSEUDO_POSTS) / first_length)
    return min(GROWTH_RANGE[1], max(GROWTH_RANGE[0], ratio))


def priority(posts: int, share: float, growth: float, reach: float) -> float:
    """posts x (0.5 + negative share) x growth x (1 + reach)."""
    return posts * (0.5 + share) * growth * (1 + reach)


def tally(items: Iterable[tuple[datetime, Mapping[str, Any]]], middle: datetime) -> dict[str, Tally]:
    """Each narrative's counters summed over aggregate items given with their start time; an item
    starting before `middle` counts to the first half."""
    found: dict[str, Tally] = {}
    for start, item in items:
        early = start < middle
        for name, value in item.items():
            prefix = name[:3]
            if prefix not in (POSTS, NEGATIVE, REACH, PLATFORM):
                continue
            if prefix == PLATFORM:
                narrative, _, platform = name[3:].rpartition("_")
            else:
                narrative = name[3:]
            if not narrative:
                continue
            entry = found.get(narrative)
            if entry is None:
                entry = found[narrative] = Tally(narrative)
            count = int(value)
            if prefix == POSTS:
                entry.posts += count
                if early:
                    entry.first += count
                else:
                    entry.second += count
            elif prefix == NEGATIVE:
                entry.negative += count
            elif prefix == REACH:
                entry.followers += count
            else:
                entry.platforms[platform] = entry.platforms.get(platform, 0) + count
    return found


def ranked(figures: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """By priority, then posts, then catalogue order (then id), each with its `rank` from 1."""
    out = sorted(figures, key=lambda f: (-f["priority"], -f["posts"], rank_key(f["id"]), f["id"]))
    return [{**f, "rank": n} for n, f in enumerate(out, 1)]


__all__ = ["CATALOGUE", "CATEGORY_NARRATIVE", "OTHER", "Tally", "catalogue_id", "growth_of", "names",
           "narrative_for", "narrative_group", "priority", "ranked", "signature", "tally"]
