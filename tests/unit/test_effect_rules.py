"""The written recommendation rules: each rule, the first match winning, thresholds from the configuration."""
from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from crisiscomms.models.effect import NewsTone, Recommendation, SocialFigures, TopicEffect
from crisiscomms.review.recommend import Evidence, overall, recommend
from crisiscomms.watch import parse_watch_config
from crisiscomms.watch.review import EffectRules

RULES = EffectRules()


def social(volume: int, negative: int) -> SocialFigures:
    return SocialFigures(volume=volume, negative=negative, negative_share=negative / volume if volume else None)


def news(items: int, negative: int) -> NewsTone:
    return NewsTone(items=items, negative=negative, negative_share=negative / items if items else None)


def evidence(before: tuple[int, int], after: tuple[int, int], *, news_after: tuple[int, int] = (0, 0),
             engagement: int | None = 100, questions: int = 0) -> Evidence:
    return Evidence(before=social(*before), after=social(*after), news_after=news(*news_after), engagement=engagement,
                    open_questions=questions)


@pytest.mark.parametrize(("case", "expected", "rule"), [
    # 1. revise: volume after >= 1.2 x before and negative share not lower
    (evidence((100, 60), (120, 72)), "revise", 1),  # exactly x1.2 and the same share: still revise
    (evidence((100, 60), (300, 240)), "revise", 1),
    (evidence((0, 0), (40, 30)), "revise", 1),  # from nothing to a hostile 40 posts
    # 2. brief_media: the after-window's news mostly negative
    (evidence((100, 60), (110, 50), news_after=(4, 3)), "brief_media", 2),
    # 3. more_interaction: negative share falling, engagement low or unavailable, many open questions
    (evidence((100, 60), (90, 30), engagement=5, questions=12), "more_interaction", 3),
    (evidence((100, 60), (130, 30), engagement=None, questions=10), "more_interaction", 3),
    # 4. keep_cadence: volume and negative share both falling
    (evidence((100, 60), (50, 10)), "keep_cadence", 4),
    (evidence((100, 60), (50, 10), engagement=5, questions=3), "keep_cadence", 4),  # few questions: not rule 3
])
def test_each_rule_matches_its_written_case(case: Evidence, expected: str, rule: int) -> None:
    found = recommend(case, RULES)
    assert (found.code, found.rule) == (expected, rule), found.reason
    assert found.reason


@pytest.mark.parametrize(("case", "why"), [
    (evidence((100, 60), (119, 80)), "x1.19 is under the ratio, and falling volume with rising share is no rule"),
    (evidence((100, 60), (150, 50)), "rising but less hostile: not rule 1, and volume not falling: not rule 4"),
    (evidence((100, 60), (110, 50), news_after=(4, 2)), "half the news negative is not 'mostly'"),
    (evidence((100, 60), (120, 30), engagement=20, questions=12),
     "engagement at the threshold is not low, and volume is rising"),
    (evidence((4, 3), (2, 0)), "too few posts before to call it falling (min_posts)"),
    (evidence((0, 0), (4, 4)), "too few posts after to call it rising (min_posts)"),
    (evidence((100, 0), (300, 0)), "rising attention without one negative post is not hostile"),
])
def test_no_rule_matches_gives_none_with_what_was_seen(case: Evidence, why: str) -> None:
    found = recommend(case, RULES)
    assert (found.code, found.rule) == ("none", None), why
    assert "no rule matched" in found.reason


def test_the_first_rule_that_matches_wins() -> None:
    # rising and hostile AND negative press: rule 1 before rule 2
    both = evidence((100, 60), (200, 150), news_after=(5, 5))
    assert recommend(both, RULES).code == "revise"
    # negative press AND falling social figures with many questions: rule 2 before rules 3 and 4
    press = evidence((100, 60), (50, 10), news_after=(3, 3), engagement=0, questions=50)
    assert recommend(press, RULES).code == "brief_media"
    # falling share, low engagement, many questions AND falling volume: rule 3 before rule 4
    answers = evidence((100, 60), (50, 10), engagement=0, questions=50)
    assert recommend(answers, RULES).code == "more_interaction"


def test_thresholds_come_from_the_configuration() -> None:
    case = evidence((100, 60), (130, 80))  # x1.3, share 60% -> 62%
    assert recommend(case, EffectRules(revise_volume_ratio=1.2)).code == "revise"
    assert recommend(case, EffectRules(revise_volume_ratio=1.5)).code == "none"
    questions = evidence((100, 60), (90, 30), engagement=15, questions=6)
    assert recommend(questions, EffectRules(many_open_questions=5)).code == "more_interaction"
    assert recommend(questions, EffectRules(many_open_questions=10)).code == "keep_cadence"
    assert recommend(questions, EffectRules(many_open_questions=5, low_engagement=10)).code == "keep_cadence"
    press = evidence((100, 60), (110, 50), news_after=(10, 6))
    assert recommend(press, EffectRules(news_negative_share=0.5)).code == "brief_media"
    assert recommend(press, EffectRules(news_negative_share=0.7)).code == "none"
    assert recommend(press, EffectRules(news_negative_share=0.5, news_min_items=11)).code == "none"
    quiet = evidence((8, 6), (3, 1))
    assert recommend(quiet, EffectRules(min_posts=5)).code == "keep_cadence"
    assert recommend(quiet, EffectRules(min_posts=10)).code == "none"


def test_the_review_section_of_the_watch_configuration_sets_them() -> None:
    document = {"version": 1, "topics": [{"id": "harbor", "names": ["Harbor Bank"]}],
                "review": {"revise_volume_ratio": 2.0, "window_minutes": 20, "second_look_minutes": 90}}
    config = parse_watch_config(json.dumps(document))
    assert config.review.revise_volume_ratio == 2.0 and config.review.window_minutes == 20
    assert parse_watch_config(json.dumps({**document, "review": {}})).review == EffectRules()
    with pytest.raises(ValidationError):
        EffectRules(window_minutes=30, second_look_minutes=30)
    with pytest.raises(Exception, match="review"):
        parse_watch_config(json.dumps({**document, "review": {"revise_ratio": 2}}))


def _topic(name: str, code: str, rule: int | None) -> TopicEffect:
    empty = SocialFigures()
    return TopicEffect(topic=name, before=empty, after=empty, news_before=NewsTone(), news_after=NewsTone(),
                       recommendation=Recommendation(code=code, rule=rule, reason=f"{name}: {code}"))  # type: ignore[arg-type]


def test_a_subject_takes_the_earliest_rule_any_topic_matched_and_names_the_topic() -> None:
    found = overall([_topic("a", "keep_cadence", 4), _topic("b", "none", None), _topic("c", "brief_media", 2)])
    assert (found.code, found.rule, found.topic) == ("brief_media", 2, "c")
    assert overall([_topic("a", "none", None)]).code == "none"
    assert overall([]).code == "none"


def test_every_reply_platform_either_reads_its_replies_engagement_or_says_why_not() -> None:
    """A reply platform with no channel adapter (Douyin, Reddit) has no engagement reader: the wave's figures
    say why, rather than a configuration error about a channel the bank never configured."""
    from crisiscomms.errors import ConfigurationError
    from crisiscomms.models.delivery import CHANNELS, REPLY_PLATFORMS
    from crisiscomms.review.effect import NO_REPLY_ENGAGEMENT, read_engagement

    def no_channel(channel: str, ids: list[str]) -> None:
        raise ConfigurationError(f"{channel} is not configured as a channel")

    for platform in sorted(set(REPLY_PLATFORMS) - set(CHANNELS)):
        read = read_engagement(platform, ["t1_abc"], no_channel, unavailable=NO_REPLY_ENGAGEMENT)
        assert read.state == "unavailable" and "not configured" not in (read.reason or ""), (platform, read)
