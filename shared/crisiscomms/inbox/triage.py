"""Triage: which stored posts become conversations, of what kind, how urgent, answered by when.

Pure functions over what the scorer already found; nothing here reads or writes anything.

Kind (first rule that holds):
  rumour     the scorer found crisis terms (non-negated) in a claim or question about the bank: the post
             is stored, so it matched a watched topic; it is not positive (thanks for fixing an outage is
             no rumour); and it is not only the author's own experience: a post in the first person
             singular (I, my, 我, 俺 ...) is a claim about the bank only when it also passes something on
             (heard, apparently, 听说, 网传 ...). "My account has been frozen" is a complaint, "I heard
             Harbor Bank froze accounts" and "Is Harbor Bank going bust?" are rumours. A post
             addressed to the bank that speaks to it (you, your, 你们, 您: "@HarborBank your app is down
             again") is the author's own exchange with it too; elsewhere "get your money out" speaks to
             the public and stays a claim.
  question   it asks: "?" or "？" outside links, a Chinese question particle or form (吗, 呢 at a clause's end,
             是不是, 能不能, 会不会, 有没有, 为什么, 怎么办, 什么时候 ...; Traditional folded first), or a
             sentence opening with an English question word (how, why, when, is, can, does ...).
  complaint  the author's tone (the scorer's tone_label, not polarity for reputation) is negative.
  praise     the author's tone is positive.
  other      anything else.

A post opens a conversation when it can be answered where it was said (not a news article) and it
addresses the bank (`to_bank`: a mention, a reply or comment under its own post), or it is a question
about the bank, or it is a rumour: a rumour opens one even when not addressed to the bank, so the
desk can clarify where it spreads.

Priority 0..999 (`priority`): the sum of five parts, at most 999, each non-decreasing in its input,
so the priority never falls when risk, reach, engagement or its growth rise:
    5 x risk                                    0..500   risk is the scorer's 0..100
  + min(200, floor(40 x log10(1 + followers)))  0..200   100,000 followers reach the cap
  + min(150, floor(50 x log10(1 + engagement))) 0..150   likes+reposts+replies+quotes; 1,000 reach the cap
  + min(100, floor(50 x log10(1 + growth)))     0..100   engagement gained per minute since the
                                                         conversation opened; 99 a minute reach the cap
  + KIND_POINTS[kind]                           0..149   rumour 149, complaint 100, question 60, other 20, praise 0
At opening, engagement is what the platform showed when the post was stored and growth is 0. When a
source reads the post again and its engagement grew materially (crisiscomms.inbox.growth), the
conversation's engagement, growth (`growth_per_minute`) and priority are updated; the priority is
never lowered. The queue sorts on it, highest first, then oldest first (models.inbox.priority_key).

Reply-time target (`target_minutes`): the kind's minutes from the watch configuration's `inbox.targets`
(defaults complaint 60, rumour 30, question 120, praise and other 24 h), at most
`inbox.escalated_minutes` (default 15) while the topic is at WARNING or CRISIS. A conversation is due
that many minutes after the person posted (`due_at`); one opened before its topic's level rose is
overdue from the shorter target on (`effective_due`). Those functions live in `targets`, which the
Detector's overdue check imports without the text rules and the scorer.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crisiscomms.inbox.targets import (  # noqa: F401 - the reply-time targets, re-exported
    ESCALATING_LEVELS, due_at, effective_due, escalates, shortest_target, target_minutes)
from crisiscomms.models import ScoredPost
from crisiscomms.models.inbox import ConversationKind
from crisiscomms.scoring import normalise, to_simplified

KINDS: tuple[ConversationKind, ...] = ("complaint", "question", "rumour", "praise", "other")
KIND_POINTS: dict[str, int] = {"rumour": 149, "complaint": 100, "question": 60, "other": 20, "praise": 0}
MAX_PRIORITY = 999

_URL = re.compile(r"(?:https?://|www\.)\S+")
_MENTION_OR_TAG = re.compile(r"^(?:\s|[@#][^\s]+|rt\b|[:,\-–—]|\.)+")
_SENTENCES = re.compile(r"[.!;\n。！；…]+")
_WORD = re.compile(r"[a-z']+")
_EN_QUESTION_WORDS = frozenset("""
    how why when where what who whom whose which is are am was were can could will would should shall
    do does did has have had may might
""".split())  # not "can't", "won't" ...: "Can't pay rent." opens many a complaint
_NOT_A_QUESTION_AFTER = {"do": {"not"}, "will": {"be"}}  # "Do not go there", "Will be closed at noon"
# Chinese forms that ask (Simplified; Traditional text is folded first). 呢 only at a clause's end:
# Cantonese 呢个/呢度 ("this", "here") is no question.
_ZH_QUESTION = re.compile(
    r"吗(?!啡)|呢(?=$|[\s,.!?;:~)\]』」”\"'…，。！？；：]|[\U0001F300-\U0001FAFF])|是不是|能不能|会不会|有没有|可不可以|"
    r"要不要|还是不是|为什么|为啥|为何|怎么办|怎么回事|怎么样|怎样|如何|何时|什么时候|多久|几时|点解|咩|未呀|嘛\?")
_FIRST_PERSON_EN = frozenset({"i", "im", "ive", "me", "my", "mine", "myself"})
_FIRST_PERSON_ZH = re.compile(r"我(?!们)|俺|本人|老子")
_SECOND_PERSON_EN = frozenset({"you", "your", "yours", "youre", "u", "ur"})
_SECOND_PERSON_ZH = re.compile(r"你|您")
_HEARSAY = re.compile(
    r"\b(?:heard|hearing|rumou?rs?|apparently|reportedly|allegedly|supposedly|word is|they say|people say|"
    r"someone said|sources say|is it true|true that|going around|spreading)\b|"
    r"听说|据说|传言|传闻|网传|有人说|听人说|据悉|谣传|是真的吗|真的假的|疯传|都在传|朋友说")


@dataclass(frozen=True, slots=True)
class TriageInput:
    """What triage reads of a stored or scored post."""

    text: str
    to_bank: bool
    answerable: bool  # said where an answer can go: social posts, not news articles
    about_bank: bool  # matched a watched topic (every stored post did) or addresses the bank
    sentiment_label: str  # the author's tone: a complaint or thanks is the author's, whatever it does to trust
    crisis_terms: tuple[str, ...]
    risk: int
    followers: int
    engagement: int

    @classmethod
    def of(cls, scored: ScoredPost) -> TriageInput:
        post = scored.post
        return cls(text=post.full_text, to_bank=post.to_bank, answerable=post.source_type != "news",
                   about_bank=bool(scored.topics) or post.to_bank, sentiment_label=scored.tone_label,
                   crisis_terms=tuple(scored.crisis_terms), risk=scored.risk, followers=post.followers,
                   engagement=post.engagement)

    @classmethod
    def of_stored(cls, item: dict[str, Any]) -> TriageInput:
        """From a post item as the post store keeps it (crisiscomms.aws.post_store)."""
        text = item.get("text") or ""
        if item.get("title"):
            text = f"{item['title']}\n{text}"
        return cls(text=text, to_bank=bool(item.get("to_bank")), answerable=item.get("source_type") != "news",
                   about_bank=bool(item.get("topics")) or bool(item.get("to_bank")),
                   sentiment_label=str(item.get("tone_label") or item.get("sentiment_label") or "neutral"),
                   crisis_terms=tuple(item.get("crisis_terms") or ()), risk=int(item.get("risk") or 0),
                   followers=int(item.get("followers") or 0),
                   engagement=int(item.get("engagement") or sum(int(item.get(k) or 0) for k in
                                                                  ("likes", "reposts", "replies", "quotes"))))


@dataclass(frozen=True, slots=True)
class Triage:
    kind: ConversationKind
    opens: bool
    priority: int


def folded(text: str) -> str:
    """Normalised for the rules here: NFKC (full-width ？ is ?), case-folded, Simplified, links removed."""
    return _URL.sub(" ", to_simplified(normalise(text)))


def is_question(text: str, *, already_folded: bool = False) -> bool:
    """Whether the post asks something (see the module's rules)."""
    t = text if already_folded else folded(text)
    if "?" in t or _ZH_QUESTION.search(t):
        return True
    for sentence in _SENTENCES.split(t):
        words = _WORD.findall(_MENTION_OR_TAG.sub("", sentence.strip())[:40])
        if words:
            first = words[0].replace("'", "")
            if first in _EN_QUESTION_WORDS and not (len(words) > 1 and words[1] in _NOT_A_QUESTION_AFTER.get(first, ())):
                return True
    return False


def is_personal(text: str, *, already_folded: bool = False) -> bool:
    """Whether the author speaks in the first person singular (their own experience)."""
    t = text if already_folded else folded(text)
    if _FIRST_PERSON_ZH.search(t):
        return True
    return any(w.replace("'", "") in _FIRST_PERSON_EN for w in _WORD.findall(t))


def speaks_to(text: str, *, already_folded: bool = False) -> bool:
    """Whether the post speaks to someone (you, your, 你们, 您): in a post addressed to the bank, the bank."""
    t = text if already_folded else folded(text)
    if _SECOND_PERSON_ZH.search(t):
        return True
    return any(w.replace("'", "") in _SECOND_PERSON_EN for w in _WORD.findall(t))


def passes_on(text: str, *, already_folded: bool = False) -> bool:
    """Whether the post passes on what others say (heard, apparently, 听说, 网传 ...)."""
    return bool(_HEARSAY.search(text if already_folded else folded(text)))


def kind_of(item: TriageInput) -> ConversationKind:
    """complaint, question, rumour, praise or other (see the module's rules)."""
    t = folded(item.text)
    question = is_question(t, already_folded=True)
    if item.crisis_terms and item.about_bank and item.sentiment_label != "positive":
        own = is_personal(t, already_folded=True) or (item.to_bank and speaks_to(t, already_folded=True))
        if not own or passes_on(t, already_folded=True):
            return "rumour"
    if question:
        return "question"
    if item.sentiment_label == "negative":
        return "complaint"
    if item.sentiment_label == "positive":
        return "praise"
    return "other"


def opens_conversation(item: TriageInput, kind: ConversationKind) -> bool:
    """Addressed to the bank, a question about it, or a rumour; never a news article."""
    if not item.answerable:
        return False
    return item.to_bank or kind == "rumour" or (kind == "question" and item.about_bank)


def priority(*, risk: int, followers: int, engagement: int, kind: str, growth_per_minute: float = 0.0) -> int:
    """0..999, non-decreasing in risk, followers, engagement and its growth (formula in the module's docstring)."""
    risk_part = 5 * max(0, min(100, int(risk)))
    reach_part = min(200, math.floor(40 * math.log10(1 + max(0, int(followers)))))
    engagement_part = min(150, math.floor(50 * math.log10(1 + max(0, int(engagement)))))
    growth_part = min(100, math.floor(50 * math.log10(1 + max(0.0, float(growth_per_minute)))))
    return min(MAX_PRIORITY, risk_part + reach_part + engagement_part + growth_part + KIND_POINTS[kind])


def growth_per_minute(opened_engagement: int, engagement: int, opened_at: datetime, now: datetime) -> float:
    """Engagement gained per minute since the conversation opened (0 when it has not grown); the
    first minute counts as a whole one, so a re-read seconds after opening is no spike."""
    minutes = max(1.0, (now - opened_at).total_seconds() / 60)
    return max(0, int(engagement) - int(opened_engagement)) / minutes


def triage(item: TriageInput) -> Triage:
    kind = kind_of(item)
    return Triage(kind=kind, opens=opens_conversation(item, kind),
                  priority=priority(risk=item.risk, followers=item.followers, engagement=item.engagement, kind=kind))


def triage_all(items: Iterable[TriageInput]) -> list[Triage]:
    return [triage(i) for i in items]
