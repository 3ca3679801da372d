"""The written rules that turn a measured effect into a recommendation. Pure; the first rule that matches wins.

For one topic, comparing the after-window with the before-window (`share` is the social negative
share, 0 when a window has no post; thresholds from the watch configuration's `review` section,
crisiscomms.watch.review.EffectRules):

  1. revise            volume after >= min_posts and >= revise_volume_ratio x volume before, and the
                       negative share not lower and above 0: attention is still rising and hostile.
                       Change the approach, escalate.
  2. brief_media       at least news_min_items news items in the after-window and more than
                       news_negative_share of them negative: the press is still mostly negative.
  3. more_interaction  the negative share is falling, but engagement with the bank's own posts is below
                       low_engagement (likes + reposts + replies) or cannot be read, and at least
                       many_open_questions question conversations are open in the inbox.
  4. keep_cadence      volume before >= min_posts, and volume and negative share both falling.

When none matches the code is "none", with what was seen. A subject measured for several topics
takes the recommendation of the earliest rule any of its topics matched, and names that topic.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crisiscomms.models.effect import RULE_ORDER, NewsTone, Recommendation, SocialFigures, TopicEffect

if TYPE_CHECKING:  # the rules are passed in; importing them loads every model of the watch configuration
    from crisiscomms.watch.review import EffectRules


@dataclass(frozen=True)
class Evidence:
    """What the rules read for one topic."""

    before: SocialFigures
    after: SocialFigures
    news_after: NewsTone
    engagement: int | None  # likes + reposts + replies on the bank's posts; None when no channel gives them
    open_questions: int


def share(figures: SocialFigures) -> float:
    return figures.negative_share or 0.0


def _pct(value: float) -> str:
    return f"{value:.0%}"


def _revise(e: Evidence, r: EffectRules) -> str | None:
    before, after = e.before.volume, e.after.volume
    if (after < r.min_posts or after < r.revise_volume_ratio * before or share(e.after) < share(e.before)
            or not share(e.after)):     # rising attention without a negative post is not hostile
        return None
    growth = f"x{after / before:.2f}" if before else "from none"
    return (f"volume {before} -> {after} ({growth}, rule: >= x{r.revise_volume_ratio:g}) and negative share "
            f"{_pct(share(e.before))} -> {_pct(share(e.after))}, not lower: attention is still rising and hostile; "
            f"change the approach and escalate")


def _brief_media(e: Evidence, r: EffectRules) -> str | None:
    news = e.news_after
    if news.items < r.news_min_items or (news.negative_share or 0.0) <= r.news_negative_share:
        return None
    return (f"{news.negative} of {news.items} news items in the after-window are negative "
            f"({_pct(news.negative_share or 0.0)}, rule: more than {_pct(r.news_negative_share)}): brief the media")


def _more_interaction(e: Evidence, r: EffectRules) -> str | None:
    if share(e.after) >= share(e.before) or e.open_questions < r.many_open_questions:
        return None
    if e.engagement is not None and e.engagement >= r.low_engagement:
        return None
    engagement = "cannot be read on any channel" if e.engagement is None else \
        f"is low ({e.engagement}, rule: below {r.low_engagement})"
    return (f"negative share falling ({_pct(share(e.before))} -> {_pct(share(e.after))}) but engagement with the "
            f"bank's posts {engagement} and {e.open_questions} questions are open in the inbox "
            f"(rule: {r.many_open_questions} or more): answer people directly")


def _keep_cadence(e: Evidence, r: EffectRules) -> str | None:
    before, after = e.before.volume, e.after.volume
    if before < r.min_posts or after >= before or share(e.after) >= share(e.before):
        return None
    return (f"volume {before} -> {after} and negative share {_pct(share(e.before))} -> {_pct(share(e.after))}, "
            f"both falling: keep the cadence")


RULES: dict[str, Callable[[Evidence, EffectRules], str | None]] = {
    "revise": _revise, "brief_media": _brief_media, "more_interaction": _more_interaction,
    "keep_cadence": _keep_cadence,
}
assert tuple(RULES) == RULE_ORDER


def recommend(evidence: Evidence, rules: EffectRules) -> Recommendation:
    """The first rule in RULE_ORDER that matches, with why; "none" with what was seen otherwise."""
    for number, code in enumerate(RULE_ORDER, start=1):
        reason = RULES[code](evidence, rules)
        if reason is not None:
            return Recommendation(code=code, rule=number, reason=reason)
    return Recommendation(code="none", rule=None, reason=(
        f"no rule matched: volume {evidence.before.volume} -> {evidence.after.volume}, negative share "
        f"{_pct(share(evidence.before))} -> {_pct(share(evidence.after))}, {evidence.news_after.items} news items after"))


def overall(topics: Sequence[TopicEffect]) -> Recommendation:
    """The subject's recommendation: the earliest rule any topic matched, naming the topic."""
    if not topics:
        return Recommendation(code="none", rule=None, reason="no topic was measured")
    first = min(topics, key=lambda t: (t.recommendation.rule or len(RULE_ORDER) + 1))
    return first.recommendation.model_copy(update={"topic": first.topic})
