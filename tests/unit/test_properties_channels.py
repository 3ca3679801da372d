"""Property: each channel's length count agrees with the platform's documented rule on random text.

Each rule is re-implemented here the plain way, from the platform's documentation only, and only
on text where that documentation decides the count (e.g. X's weighting without links or emoji).
"""
from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from crisiscomms.statements.channel_rules import (
    bluesky_graphemes,
    graphemes,
    mastodon_length,
    telegram_length,
    utf8_bytes,
    utf16_units,
    wechat_length,
    weibo_length,
    x_weighted_length,
)

PROPERTY = settings(max_examples=200, deadline=None, derandomize=True)

# Any text a statement can hold: every code point but lone surrogates (which cannot be sent).
any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=200)


def _chars(*ranges: tuple[int, int]) -> st.SearchStrategy[str]:
    return st.one_of(*(st.integers(lo, hi).map(chr) for lo, hi in ranges))


# twitter-text config v3: weight 100 (one character) for these ranges, 200 (two) for the rest.
V3_LIGHT = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))


def v3_weighted_length(text: str) -> int:
    """twitter-text v3 for text without links or emoji: NFC, then each code point by its range."""
    text = unicodedata.normalize("NFC", text)
    return sum(100 if any(lo <= ord(ch) <= hi for lo, hi in V3_LIGHT) else 200 for ch in text) // 100


# No links (no '.', ':' or '/'), no emoji (no pictographs, no U+FE0F / U+20E3, no © ®): letters,
# digits, spaces and punctuation of many scripts, each range's edges included.
no_link_no_emoji = st.lists(_chars(
    (0x20, 0x2D), (0x30, 0x39), (0x3B, 0x7E),      # ASCII printable without . / :
    (0xC0, 0x24F),                                  # Latin-1 letters, Latin Extended
    (0x0300, 0x036F),                               # combining marks (clustered with their base)
    (0x0391, 0x03C9), (0x0410, 0x044F),             # Greek, Cyrillic
    (0x05D0, 0x05EA), (0x0627, 0x064A),             # Hebrew, Arabic
    (0x10A0, 0x10FF), (0x1100, 0x1112),             # Georgian (last weight-1 block), Hangul jamo (weight 2)
    (0x2000, 0x200B), (0x200E, 0x2027),             # general punctuation around the range edges
    (0x2030, 0x203B), (0x3041, 0x3096),             # per mille .. reference mark, Hiragana
    (0x4E00, 0x9FFF), (0xAC00, 0xD7A3),             # CJK ideographs, Hangul syllables
), max_size=120).map("".join)


@PROPERTY
@given(text=no_link_no_emoji)
def test_x_weighted_length_is_twitter_text_v3(text: str) -> None:
    assert x_weighted_length(text) == v3_weighted_length(text)


@PROPERTY
@given(text=any_text)
def test_telegram_and_wechat_count_utf16_code_units(text: str) -> None:
    units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
    assert telegram_length(text) == wechat_length(text) == utf16_units(text) == units
    assert units == len(text.encode("utf-16-le")) // 2


@PROPERTY
@given(text=any_text)
def test_bluesky_byte_limit_counts_utf8_bytes(text: str) -> None:
    expected = sum(1 if ord(ch) < 0x80 else 2 if ord(ch) < 0x800 else 3 if ord(ch) < 0x10000 else 4 for ch in text)
    assert utf8_bytes(text) == expected == len(text.encode("utf-8"))


ascii_printable = _chars((0x20, 0x7E))
cjk = _chars((0x4E00, 0x9FFF))


@PROPERTY
@given(parts=st.lists(ascii_printable | cjk, max_size=300))
def test_weibo_counts_ascii_as_half_a_chinese_character(parts: list[str]) -> None:
    """140 Chinese characters, or 280 ASCII characters: ASCII is half, a CJK character whole."""
    text = "".join(parts)
    ascii_count = sum(1 for ch in text if ord(ch) < 0x80)
    han_count = len(text) - ascii_count
    assert weibo_length(text) == ascii_count + 2 * han_count
    assert (weibo_length(text) <= 280) == (ascii_count / 2 + han_count <= 140)


@PROPERTY
@given(text=any_text)
def test_graphemes_partition_the_text(text: str) -> None:
    """Segmentation loses and adds nothing; a cluster holds at least one code point."""
    clusters = list(graphemes(text))
    assert "".join(clusters) == text
    assert all(clusters)
    assert bluesky_graphemes(text) == len(clusters) <= len(text)
    assert (len(clusters) == 0) == (text == "")


@PROPERTY
@given(parts=st.lists(_chars((0x21, 0x2D), (0x30, 0x39), (0x3B, 0x3F), (0x41, 0x7E)) | cjk | st.just(" "),
                      max_size=200))
def test_without_marks_joiners_or_emoji_every_character_is_one_grapheme(parts: list[str]) -> None:
    """UAX #29: with no extending characters, joiners, CR LF, Hangul jamo or regional indicators,
    there is a boundary between any two characters; Mastodon then counts characters (no links,
    no mentions: no '.', ':', '/' or '@' in this text)."""
    text = "".join(parts)
    assert bluesky_graphemes(text) == len(text)
    assert mastodon_length(text) == len(text)
