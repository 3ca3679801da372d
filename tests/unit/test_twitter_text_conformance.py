"""X's weighted length against twitter-text's own conformance suite (v3 configuration).

The suite is read from the checkout shared beside the project (../shared/external/twitter-text,
pinned by its COMMIT file), never copied: every weighted-length case of
`WeightedTweetsWithDiscountedEmojiCounterTest` and `UnicodeDirectionalMarkerCounterTest` must
come out as twitter-text computes it. Only `weightedLength` is compared: the rule decides whether
a text fits, and the display and valid ranges are the editor's business.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from crisiscomms.statements.channel_rules import TWITTER_TEXT_CONFIG_V3, link_spans, x_weighted_length

SUITE_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "external" / "twitter-text"
VALIDATE = SUITE_DIR / "validate.yml"
GROUPS = ("WeightedTweetsWithDiscountedEmojiCounterTest", "UnicodeDirectionalMarkerCounterTest")


def _cases(group: str) -> list[Any]:
    if not VALIDATE.exists():
        return [pytest.param(None, id=f"{group}-suite-missing",
                             marks=pytest.mark.skip(reason=f"twitter-text suite not found at {VALIDATE}"))]
    tests = yaml.safe_load(VALIDATE.read_text(encoding="utf-8"))["tests"]
    return [pytest.param(case, id=f"{group}-{i}-{case['description'][:50]}") for i, case in enumerate(tests[group])]


@pytest.mark.parametrize("case", _cases(GROUPS[0]))
def test_weighted_tweets_with_discounted_emoji(case: dict[str, Any]) -> None:
    assert x_weighted_length(case["text"]) == case["expected"]["weightedLength"]


@pytest.mark.parametrize("case", _cases(GROUPS[1]))
def test_unicode_directional_markers(case: dict[str, Any]) -> None:
    assert x_weighted_length(case["text"]) == case["expected"]["weightedLength"]


def test_the_suite_is_the_v3_configuration_the_rule_uses() -> None:
    config_file = SUITE_DIR / "config-v3.json"
    if not config_file.exists():
        pytest.skip(f"twitter-text config not found at {config_file}")
    import json

    assert json.loads(config_file.read_text(encoding="utf-8")) == TWITTER_TEXT_CONFIG_V3


def test_every_group_has_its_cases() -> None:
    if not VALIDATE.exists():
        pytest.skip(f"twitter-text suite not found at {VALIDATE}")
    tests = yaml.safe_load(VALIDATE.read_text(encoding="utf-8"))["tests"]
    assert len(tests[GROUPS[0]]) == 22 and len(tests[GROUPS[1]]) == 2


@pytest.mark.parametrize(("text", "link"), [
    ("\u2066\u202ahttp://foobar.\u067e\u0627\u06a9\u0633\u062a\u0627\u0646/\u202c\u2069",
     "http://foobar.\u067e\u0627\u06a9\u0633\u062a\u0627\u0646/"),   # an IDN ccTLD, ended by a directional mark
    ("\u8be6\u89c1https://bank.example.com\u66f4\u591a", "https://bank.example.com"),  # a TLD run into CJK text
    ("\u8bbf\u95ee https://bank.example/zh\uff0c\u8c22\u8c22", "https://bank.example/zh"),  # fullwidth comma ends the path
    ("see http://\u94f6\u884c.\u4e2d\u56fd/news", "http://\u94f6\u884c.\u4e2d\u56fd/news"),  # a Chinese host is a link
])
def test_internationalised_hosts_and_link_ends(text: str, link: str) -> None:
    assert [text[s:e] for s, e in link_spans(text, without_scheme=True)] == [link]
