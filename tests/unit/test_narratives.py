"""Narratives: the assignment rule, the grouping beyond the catalogue, the figures and priority, the route's
checks and the alert SMS that names the leading narrative."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import crisiscomms.scoring

from crisiscomms.api import FIGURE_READERS, ApiServices, handle
from crisiscomms.detection.sms import GSM7_LIMIT, UCS2_LIMIT, is_gsm7, sms_length, sms_text
from crisiscomms.listening.narratives import TopicNarratives, narrative_range, narratives
from crisiscomms.scoring import score_text
from crisiscomms.scoring.narratives import (
    CATALOGUE, CATEGORY_NARRATIVE, growth_of, names, narrative_for, narrative_group, priority, ranked, tally,
)
from crisiscomms_local.apigw import rest_event

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Hit:
    term: str
    category: str
    weight: float
    negated: bool = False


@dataclass(frozen=True)
class Scored:
    is_crisis: bool
    crisis_terms: tuple[Hit, ...]


def crisis(*hits: Hit) -> Scored:
    return Scored(True, hits)


# --- catalogue and assignment ---------------------------------------------------------------------

def test_the_catalogue_has_the_guides_ids_with_both_names_and_every_lexicon_category_maps_into_it() -> None:
    assert list(CATALOGUE) == ["bank_run", "withdrawals", "insolvency", "frozen_accounts", "outage", "data_breach",
                               "fraud", "regulator", "executives", "layoffs_closures", "other"]
    assert all(n["en"] and n["zh"] and n["en"] != n["zh"] for n in CATALOGUE.values())
    folder = Path(crisiscomms.scoring.__file__).parent
    lexicon = set()
    for lang in ("en", "zh"):
        lex = json.loads((folder / f"lexicon_{lang}.json").read_text(encoding="utf-8"))
        lexicon |= {spec["category"] for key in ("crisis", "cooccurrence", "gap_patterns")
                    for spec in lex.get(key, []) if isinstance(spec, dict) and "category" in spec}
    assert lexicon <= set(CATEGORY_NARRATIVE) and set(CATEGORY_NARRATIVE.values()) <= set(CATALOGUE) - {"other"}


def test_a_post_that_is_not_crisis_has_no_narrative_whatever_its_terms() -> None:
    assert narrative_for(Scored(False, (Hit("bank run", "bank_run", 3.0, negated=True),))) is None
    assert narrative_group(Scored(False, ())) is None


def test_the_strongest_category_wins_each_term_counted_once_at_its_weight_and_negated_terms_do_not_count() -> None:
    post = crisis(Hit("outage", "outage", 1.5), Hit("app down", "outage", 1.5), Hit("can't withdraw", "withdrawal", 2.5),
                  Hit("can't withdraw", "withdrawal", 3.0), Hit("can't withdraw", "withdrawal", 3.0),
                  Hit("bank run", "bank_run", 3.0, negated=True))
    assert narrative_for(post) == "withdrawals"        # 3.0 against 1.5 + 1.5; the negated run counts nothing
    assert narrative_for(crisis(Hit("layoffs", "layoffs", 1.0), Hit("branch closures", "closures", 1.0),
                                Hit("fraud", "fraud", 1.5))) == "layoffs_closures"     # two categories, one narrative


def test_a_tie_goes_to_the_narrative_listed_first_and_fraud_to_any_other() -> None:
    assert narrative_for(crisis(Hit("data breach", "data_breach", 2.5), Hit("ATMs empty", "withdrawal", 2.5))) \
        == "withdrawals"
    assert narrative_for(crisis(Hit("fraud", "fraud", 2.0), Hit("collapse", "insolvency", 2.0))) == "insolvency"
    # a regulator fining the bank over laundering, an executive charged: what happened is the fine, the charge
    assert narrative_for(crisis(Hit("regulator probe", "regulator", 2.0), Hit("fraud", "fraud", 2.0))) == "regulator"
    assert narrative_for(crisis(Hit("fraud", "fraud", 2.0), Hit("CEO fled", "executives", 2.0))) == "executives"
    assert narrative_for(crisis(Hit("fraud", "fraud", 2.5), Hit("regulator probe", "regulator", 2.0))) == "fraud"


def test_the_same_event_in_english_simplified_and_traditional_chinese_is_one_narrative() -> None:
    texts = ["Harbor Bank ATMs empty, can't withdraw cash", "港湾银行的ATM没钱了，取不出钱", "港灣銀行的ATM沒錢了，取不出錢"]
    assert {narrative_for(score_text(t)) for t in texts} == {"withdrawals"}
    breach = ["Harbor Bank data breach: change your passwords now", "港湾银行数据泄露了，客户信息被卖了", "港灣銀行數據洩露了"]
    assert {narrative_for(score_text(t)) for t in breach} == {"data_breach"}
    assert narrative_for(score_text("Harbor Bank is not facing a bank run")) is None


def test_crisis_posts_beyond_the_catalogue_are_grouped_by_their_most_specific_term() -> None:
    sanctions = crisis(Hit("sanctioned", "sanctions", 2.0), Hit("asset freeze", "sanctions", 2.5))
    assert narrative_for(sanctions) == "other"
    assert narrative_group(sanctions) == "other:asset_freeze"                     # the heaviest term
    assert narrative_group(crisis(Hit("被制裁", "sanctions", 2.0, negated=False))) == "other:被制裁"
    assert narrative_group(crisis(Hit("Cyber Attack!", "cyber", 2.0), Hit("cyber", "cyber", 2.0))) == "other:cyber_attack"
    assert narrative_group(crisis()) == "other"                                   # crisis with no term at all
    assert narrative_group(crisis(Hit("fraud", "fraud", 2.0), Hit("sanctioned", "sanctions", 3.0))) == "fraud"
    assert names("other:asset_freeze") == {"en": "Other crisis: asset freeze", "zh": "其他危机：asset_freeze"}


# --- figures and priority -------------------------------------------------------------------------

def test_growth_compares_rates_with_two_pseudo_posts_a_half_and_stays_within_a_quarter_and_four() -> None:
    assert growth_of(10, 10, 7, 7) == 1.0
    assert growth_of(4, 10, 7, 8) == pytest.approx((12 / 8) / (6 / 7))
    assert growth_of(0, 100, 5, 5) == 4.0 and growth_of(100, 0, 5, 5) == 0.25
    assert growth_of(3, 3, 0, 10) == 1.0


def test_counters_of_minute_items_sum_per_narrative_and_half_and_rank_by_priority() -> None:
    t0 = NOW
    items = [(t0, {"posts": 9, "nv_withdrawals": 4, "nn_withdrawals": 4, "nr_withdrawals": 400, "np_withdrawals_weibo": 4,
                   "nv_other:被制裁": 1, "np_other:被制裁_x": 1}),
             (t0 + timedelta(minutes=1), {"nv_withdrawals": 4, "nn_withdrawals": 4, "nr_withdrawals": 400,
                                          "np_withdrawals_weibo": 3, "np_withdrawals_x": 1,
                                          "nv_data_breach": 10, "nn_data_breach": 5, "nr_data_breach": 1_000_000,
                                          "np_data_breach_x": 10, "p_x": 99, "r_CN-GD": 3})]
    found = tally(items, t0 + timedelta(minutes=1))
    w, d = found["withdrawals"].figures(1, 1), found["data_breach"].figures(1, 1)
    assert (w["posts"], w["negative"], w["first_half"], w["second_half"], w["platforms"]) == (8, 8, 4, 4, {"weibo": 7, "x": 1})
    assert w["growth"] == 1.0 and w["reach"] == pytest.approx(2 / 6, abs=1e-3)
    assert w["priority"] == pytest.approx(priority(8, 1.0, 1.0, w["reach"]), abs=1e-3)
    assert d["growth"] == 4.0 and d["negative_share"] == 0.5 and d["reach"] == pytest.approx(0.8333, abs=1e-4)
    assert d["priority"] == pytest.approx(10 * 1.0 * 4 * (1 + 5 / 6), abs=1e-3)
    other = found["other:被制裁"].figures(1, 1)
    assert other["platforms"] == {"x": 1} and other["names"]["zh"] == "其他危机：被制裁"
    order = ranked([w, d, other])
    assert [(f["id"], f["rank"]) for f in order] == [("data_breach", 1), ("withdrawals", 2), ("other:被制裁", 3)]
    tied = ranked([{**w, "id": "fraud"}, w])
    assert [f["id"] for f in tied] == ["withdrawals", "fraud"], "same priority and posts: catalogue order"


def test_top_posts_are_the_three_riskiest_of_each_narrative_with_an_excerpt() -> None:
    items = [{"minute": "2026-11-28T10:00", "nv_outage": 5, "nn_outage": 5, "np_outage_x": 5}]
    posts = [{"narrative": "outage", "risk": r, "platform": "x", "text": "Harbor  Bank app down " + "!" * 200,
              "author": f"a{r}", "followers": r, "url": "u", "published_key": f"2026-11-28T10:00:0{r % 10}Z#x#{r}",
              "post_key": f"x#{r}"} for r in (10, 40, 30, 50, 20)]
    [outage], middle = narratives(items, posts, datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc),
                                  datetime(2026, 11, 28, 10, 4, tzinfo=timezone.utc), timedelta(minutes=1))
    assert middle == datetime(2026, 11, 28, 10, 2, tzinfo=timezone.utc)
    assert [p["risk"] for p in outage["top_posts"]] == [50, 40, 30]
    top = outage["top_posts"][0]
    assert top["excerpt"].startswith("Harbor Bank app down !") and len(top["excerpt"]) == 140 and top["excerpt"][-1] == "…"
    assert (top["platform"], top["published_at"], top["post_key"]) == ("x", "2026-11-28T10:00:00Z", "x#50")


# --- the range and the route ----------------------------------------------------------------------

def test_a_range_up_to_two_days_is_read_in_minutes_and_a_longer_one_in_hours() -> None:
    first, last, unit = narrative_range("2026-11-28T09:10:30+08:00", "2026-11-28T11:20:10Z", NOW)
    assert (first, last, unit) == (datetime(2026, 11, 28, 1, 10, tzinfo=timezone.utc),
                                   datetime(2026, 11, 28, 11, 21, tzinfo=timezone.utc), timedelta(minutes=1))
    first, last, unit = narrative_range("2026-11-20T09:10:00Z", None, NOW)
    assert (first, last, unit) == (datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc), NOW, timedelta(hours=1))
    assert narrative_range(None, None, NOW)[:2] == (NOW - timedelta(hours=24), NOW)


class _Reads:
    def __init__(self, minutes: list[dict[str, Any]], posts: list[dict[str, Any]]) -> None:
        self.minutes, self.posts = minutes, posts
        self.calls: list[tuple[Any, ...]] = []

    def minutes_of(self, topic: str, start: str, end: str) -> list[dict[str, Any]]:
        self.calls.append(("minutes", topic, start, end))
        return [m for m in self.minutes if start <= m["minute"] < end]

    def hours_of(self, topic: str, start: str, end: str) -> list[dict[str, Any]]:
        self.calls.append(("hours", topic, start, end))
        return []

    def posts_of(self, topic: str, start: datetime, end: datetime, wanted: set[str]) -> tuple[list[dict[str, Any]], int]:
        self.calls.append(("posts", topic, start, end, frozenset(wanted)))
        return self.posts, len(self.posts)


MINUTES = [{"minute": f"2026-11-28T10:{m:02d}", "source_type": "social", "nv_withdrawals": 2, "nn_withdrawals": 2,
            "np_withdrawals_weibo": 2, "nr_withdrawals": 200, **({"nv_data_breach": 3, "nn_data_breach": 3,
                                                                  "np_data_breach_x": 3} if m >= 30 else {})}
           for m in range(60)]


def _no_desk() -> Any:
    raise AssertionError("only the narratives are read")


def _call(query: str, *, groups: list[str] | None = None, reads: _Reads | None = None) -> tuple[int, dict[str, Any], _Reads]:
    reads = reads or _Reads(MINUTES, [])
    services = ApiServices(desk=_no_desk, alerts=_no_desk, verify_audit=_no_desk, narratives=lambda: TopicNarratives(
        reads.minutes_of, reads.hours_of, reads.posts_of, clock=lambda: NOW))
    event = rest_event("GET", "/topics/harbor/narratives", query=query, user="zhou",
                       groups=["oncall"] if groups is None else groups)
    result = handle(event, None, services)
    return result["statusCode"], json.loads(result["body"]), reads


@pytest.mark.parametrize("role", FIGURE_READERS)
def test_every_desk_role_reads_a_topics_narratives_ranked(role: str) -> None:
    status, body, reads = _call("from=2026-11-28T10:00:00Z&to=2026-11-28T11:00:00Z", groups=[role])
    assert status == 200, body
    assert reads.calls[0] == ("minutes", "harbor", "2026-11-28T10:00", "2026-11-28T11:00")
    assert reads.calls[1][-1] == {"withdrawals", "data_breach"}
    assert (body["from"], body["to"], body["middle"], body["resolution"]) == (
        "2026-11-28T10:00:00Z", "2026-11-28T11:00:00Z", "2026-11-28T10:30:00Z", "minute")
    first, second = body["narratives"]
    assert (first["id"], first["rank"], first["posts"], first["growth"]) == ("data_breach", 1, 90, 4.0)
    assert (second["id"], second["posts"], second["growth"], second["platforms"]) == ("withdrawals", 120, 1.0, {"weibo": 120})
    assert first["names"] == {"en": "Data breach", "zh": "数据泄露"} and first["top_posts"] == []


def test_a_caller_without_a_desk_group_is_refused_before_anything_is_read() -> None:
    status, _, reads = _call("", groups=["someone-else"])
    assert status == 403 and reads.calls == []


@pytest.mark.parametrize(("query", "field"), [
    ("from=yesterday", "from"),
    ("to=2026-11-28T25:00:00Z", "to"),
    ("from=2026-11-28T10:00:00", "from"),
    ("from=2026-11-28T12:00:00Z&to=2026-11-28T10:00:00Z", "from"),
    ("from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z", "to"),
])
def test_bad_parameters_are_a_400_naming_the_field_and_nothing_is_read(query: str, field: str) -> None:
    status, body, reads = _call(query)
    assert status == 400, body
    assert body["details"] == [{"field": field, "reason": body["details"][0]["reason"]}] and reads.calls == []


def test_a_range_without_crisis_posts_reads_no_posts() -> None:
    status, body, reads = _call("from=2026-11-28T08:00:00Z&to=2026-11-28T09:00:00Z")
    assert status == 200 and body["narratives"] == [] and [c[0] for c in reads.calls] == ["minutes"]


# --- the alert SMS --------------------------------------------------------------------------------

BREACH = {"en": "Data breach", "zh": "数据泄露"}


def test_a_gsm7_sms_names_the_narrative_in_english_when_it_still_fits() -> None:
    text = sms_text("WARNING", "Harbor Bank", "social volume 4.1x baseline (z 5.0)", "harbor-20261128-0912", narrative=BREACH)
    assert text == ("WARNING Harbor Bank: social volume 4.1x baseline (z 5.0). Narrative: Data breach. "
                    "Alert harbor-20261128-0912. Ack in the desk API.")
    assert is_gsm7(text) and sms_length(text) <= GSM7_LIMIT


def test_a_gsm7_sms_leaves_the_narrative_out_rather_than_cut_anything_else_for_it() -> None:
    figure = "social volume 4.1x baseline (z 5.0); " + "x" * 60
    without = sms_text("WARNING", "Harbor Bank", figure, "harbor-20261128-0912")
    assert sms_text("WARNING", "Harbor Bank", figure, "harbor-20261128-0912", narrative=BREACH) == without
    assert "Narrative" not in without and "..." not in without


def test_a_ucs2_sms_names_the_narrative_in_chinese_when_it_still_fits_and_leaves_it_out_when_not() -> None:
    text = sms_text("WARNING", "港湾银行", "social growth 3.1x", "harbor-20261128-0912", narrative=BREACH)
    assert text == "WARNING 港湾银行: social growth 3.1x. 焦点：数据泄露。 Alert harbor-20261128-0912."
    assert not is_gsm7(text) and sms_length(text) == UCS2_LIMIT
    longer = "social growth 3.1x in 5 min"
    assert sms_text("WARNING", "港湾银行", longer, "harbor-20261128-0912", narrative=BREACH) == \
        sms_text("WARNING", "港湾银行", longer, "harbor-20261128-0912")
