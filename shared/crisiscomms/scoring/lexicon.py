"""The lexicons: ``lexicon_en.json`` and ``lexicon_zh.json`` next to this module.

JSON rather than Python literals because it loads in about a millisecond with no
bytecode to compile (Lambda layers are read-only, so a cold start may not find cached
bytecode).  The files are package data (``scoring/*.json`` in pyproject.toml).

Scales
    valence        -4 (extremely negative) .. +4 (extremely positive), VADER's scale
    crisis weight  per distinct canonical term: 3.0 acute/systemic (bank run,
                   withdrawals halted, insolvency, licence revoked); 2.0-2.5 serious
                   (fraud, data breach, frozen accounts, regulator probe, executives
                   fled); 1.0-1.5 operational or softer (outage, app down, layoffs,
                   scam warnings, branch closures, share-price falls)

Sections (both languages unless noted)
    valence, phrase_valence (en)   word / phrase -> valence
    event_words        valence words describing events, not feelings (damped in reports)
    praise             praise words read as sarcasm next to a crisis, with no "but"
    negators, negator_phrases (en), rhetorical_negators (zh)
    post_negators      after a crisis term in the same sentence: debunk it
    debunk_markers     anywhere: the post is a debunk, every crisis term is negated
    boosters (en, additive) / degree (zh, multiplier)
    hedges             rumour, hearsay, questions: soften, never flip
    contrast           "but", 但是: before counts half, after 1.5x
    personal / report  voice markers: a post is a report when report markers outnumber
                       personal ones (then event words count 0.1x, others 0.6x)
    irony              positives in the post are sarcasm
    reported_speech    a denial inside it is distrusted when the post asks a question
    blockers           neutral entries that win the longest match (frozen shoulder, 冻结肩)
    crisis             [{term, category, weight, context, variants}]; context is
                       none | bank (only in posts about banking) | withdrawal (only when
                       money is being taken out: queues are not a run otherwise)
    executive_roles x executive_actions   generated crisis variants (CEO fled, 行长跑路)
    cooccurrence (en)  object x action pairs within six tokens of one clause, in either
                       order ("withdrawals ... paused", "froze ... account"); with
                       cooccurrence_function_verbs a negated function verb is an action
                       ("card stopped working", "app not loading")
    gap_patterns (zh)  regular expressions for forms with a gap (排了好长的队, 账户...被冻结,
                       暂停...取现); a lexicon term beats an overlapping pattern of no
                       greater weight
    resolution         refunded, restored, 已恢复: praise next to a crisis is then sincere
    bank_context, withdrawal_context, not_a_bank_before/after (en)
    emoji, praise_emoji (en, shared by both languages; emoji missing here get a valence
                       from their Unicode name, see ``scoring.__init__``)
"""
from __future__ import annotations

import json
import os

from .model import BANK_GATE, NO_GATE, WITHDRAWAL_GATE, CrisisEntry

_HERE = os.path.dirname(os.path.abspath(__file__))

CONTEXT_GATE = {"none": NO_GATE, "bank": BANK_GATE, "withdrawal": WITHDRAWAL_GATE}


def load(lang: str) -> dict:
    """The parsed lexicon of ``lang`` ("en" or "zh")."""
    with open(os.path.join(_HERE, f"lexicon_{lang}.json"), encoding="utf-8") as fh:
        return json.load(fh)


def crisis_entry(spec: dict) -> CrisisEntry:
    """Crisis terms, co-occurrence rules and gap patterns share one JSON shape."""
    return CrisisEntry(spec["term"], spec["category"], float(spec["weight"]),
                       CONTEXT_GATE[spec["context"]])


def crisis_entries(lex: dict, role_token: str) -> list[tuple[CrisisEntry, list[str]]]:
    """(entry, variants), executives expanded.

    English executive variants are written with the role class token ("@role ~ fled");
    Chinese ones are role + action concatenations (行长跑路).
    """
    out = []
    actions = lex.get("executive_actions", {})
    roles = lex.get("executive_roles", [])
    for spec in lex["crisis"]:
        variants = list(spec["variants"])
        acts = actions.get(spec["term"])
        if acts:
            if role_token:
                variants += [f"{role_token} ~ {a}" for a in acts]
            else:
                variants += [r + a for r in roles for a in acts]
        out.append((crisis_entry(spec), variants))
    return out
