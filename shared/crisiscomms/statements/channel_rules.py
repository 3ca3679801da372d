"""How each official channel measures a post, and how much it accepts.

A statement that a platform rejects during a crisis is worse than one that was never drafted, and
one that a platform silently shortens says something the desk did not approve. So every rule here
counts the way the platform counts, and where the platform's exact rule is unknown or only
approximated with the standard library, the approximation errs towards counting *more*, so that
an over-long text is flagged rather than refused at publish time.

Sources (read when this module was written):

* X: twitter-text ``config/v3.json`` (maxWeightedTweetLength 280, scale 100, defaultWeight 200,
  weight 100 for U+0000-10FF, U+2000-200D, U+2010-201F, U+2032-2037, transformedURLLength 23,
  emojiParsingEnabled) and ``TwitterTextParser.java``: NFC first, each URL weighs 23, each emoji
  sequence weighs defaultWeight once, other code points by range. Checked against
  ``conformance/tests/validate.yml``.
* Mastodon: ``app/validators/status_length_validator.rb``: grapheme clusters of the text after
  replacing each URL that has a scheme by 23 characters and each ``@user@domain`` by ``@user``;
  500 by default, but ``max_characters`` and ``characters_reserved_per_url`` are per instance
  (``/api/v2/instance`` ``configuration.statuses``).
* Bluesky: lexicon ``app.bsky.feed.post``: ``text`` has maxGraphemes 300 and maxLength 3000
  (UTF-8 bytes); links are not shortened.
* Weibo: open.weibo.com ``2/statuses/share``: status "内容不超过140个汉字", must contain a URL
  on the app's safe domain, and must not contain ``#话题词#``. The per-character weights are not
  documented; see :func:`weibo_length`.
* Telegram: Bot API ``sendMessage``: "1-4096 characters after entities parsing"; Telegram
  measures text in UTF-16 code units (core.telegram.org/api/entities).
* WeChat: developers.weixin.qq.com ``draft/add``: title "总长度不超过32个字", digest
  "总长度不超过128个字" (the editor allows 120), content "必须少于2万字符, 小于1M".
"""
from __future__ import annotations

import encodings.idna
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Literal

from crisiscomms.models.delivery import CHANNELS, Channel

__all__ = [
    "LIMITS",
    "ChannelRule",
    "ChannelSettings",
    "Measure",
    "TWITTER_TEXT_CONFIG_V3",
    "bluesky_graphemes",
    "channel_rules",
    "graphemes",
    "link_spans",
    "mastodon_length",
    "telegram_length",
    "utf8_bytes",
    "utf16_units",
    "wechat_length",
    "weibo_length",
    "weibo_topic_tags",
    "x_weighted_length",
]

Form = Literal["full", "short"]
Field = Literal["text", "title", "digest"]

# twitter-text config/v3.json, verbatim.
TWITTER_TEXT_CONFIG_V3: dict = {
    "version": 3,
    "maxWeightedTweetLength": 280,
    "scale": 100,
    "defaultWeight": 200,
    "emojiParsingEnabled": True,
    "transformedURLLength": 23,
    "ranges": [
        {"start": 0, "end": 4351, "weight": 100},
        {"start": 8192, "end": 8205, "weight": 100},
        {"start": 8208, "end": 8223, "weight": 100},
        {"start": 8242, "end": 8247, "weight": 100},
    ],
}

# --------------------------------------------------------------------------- grapheme clusters

_ZWJ = 0x200D
_ZWNJ = 0x200C

# An approximation of Extended_Pictographic (which unicodedata does not expose).
_PICTOGRAPHIC: tuple[tuple[int, int], ...] = (
    (0x00A9, 0x00A9), (0x00AE, 0x00AE), (0x203C, 0x203C), (0x2049, 0x2049), (0x2122, 0x2122),
    (0x2139, 0x2139), (0x2194, 0x2199), (0x21A9, 0x21AA), (0x231A, 0x231B), (0x2328, 0x2328),
    (0x23CF, 0x23CF), (0x23E9, 0x23F3), (0x23F8, 0x23FA), (0x24C2, 0x24C2), (0x25AA, 0x25AB),
    (0x25B6, 0x25B6), (0x25C0, 0x25C0), (0x25FB, 0x25FE), (0x2600, 0x27BF), (0x2934, 0x2935),
    (0x2B05, 0x2B07), (0x2B1B, 0x2B1C), (0x2B50, 0x2B50), (0x2B55, 0x2B55), (0x3030, 0x3030),
    (0x303D, 0x303D), (0x3297, 0x3297), (0x3299, 0x3299), (0x1F000, 0x1F1E5), (0x1F200, 0x1F3FA),
    (0x1F400, 0x1FAFF), (0x1FC00, 0x1FFFD),
)


def _in(cp: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(start <= cp <= end for start, end in ranges)


def _is_pictographic(cp: int) -> bool:
    return _in(cp, _PICTOGRAPHIC)


def _is_regional_indicator(cp: int) -> bool:
    return 0x1F1E6 <= cp <= 0x1F1FF


def _is_extend(cp: int) -> bool:
    """Characters that never start a cluster: marks, joiners, selectors, skin tones, tags."""
    if cp in (_ZWJ, _ZWNJ, 0xFF9E, 0xFF9F) or 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F:
        return True
    return unicodedata.category(chr(cp)) in ("Mn", "Me", "Mc")


def _is_control(cp: int) -> bool:
    category = unicodedata.category(chr(cp))
    return category in ("Cc", "Zl", "Zp") or (category == "Cf" and not _is_extend(cp))


def _hangul_type(cp: int) -> str | None:
    if 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97C:
        return "L"
    if 0x1160 <= cp <= 0x11A7 or 0xD7B0 <= cp <= 0xD7C6:
        return "V"
    if 0x11A8 <= cp <= 0x11FF or 0xD7CB <= cp <= 0xD7FB:
        return "T"
    if 0xAC00 <= cp <= 0xD7A3:
        return "LV" if (cp - 0xAC00) % 28 == 0 else "LVT"
    return None


_HANGUL_NEXT = {"L": {"L", "V", "LV", "LVT"}, "V": {"V", "T"}, "LV": {"V", "T"}, "T": {"T"}, "LVT": {"T"}}


def graphemes(text: str) -> Iterator[str]:
    """User-perceived characters, approximating Unicode extended grapheme clusters (UAX #29).

    Implemented: CR LF; controls stand alone; combining marks (Mn/Mc/Me), ZWJ/ZWNJ, variation
    selectors, skin-tone modifiers and tag characters extend the cluster; emoji ZWJ sequences
    (pictographic ZWJ pictographic); regional-indicator pairs (flags); Hangul jamo sequences.
    Not implemented: Prepend characters and Indic conjunct (virama) rules, and Extended_Pictographic
    is approximated by code-point ranges. Each gap splits a cluster the standard keeps whole, so
    the count can only come out higher than a full implementation's, never lower.
    """
    i, n = 0, len(text)
    while i < n:
        start = i
        cp = ord(text[i])
        i += 1
        if cp == 0x0D and i < n and text[i] == "\n":
            i += 1
        if _is_control(cp):
            yield text[start:i]
            continue
        if _is_regional_indicator(cp):
            if i < n and _is_regional_indicator(ord(text[i])):
                i += 1
        pictographic = _is_pictographic(cp)
        hangul = _hangul_type(cp)
        while i < n:
            nxt = ord(text[i])
            if _is_extend(nxt):
                hangul = None
            elif pictographic and ord(text[i - 1]) == _ZWJ and _is_pictographic(nxt):
                pass
            elif hangul is not None and _hangul_type(nxt) in _HANGUL_NEXT[hangul]:
                hangul = _hangul_type(nxt)
            else:
                break
            i += 1
        yield text[start:i]


def _is_emoji_cluster(cluster: str) -> bool:
    first = ord(cluster[0])
    return (_is_pictographic(first) or _is_regional_indicator(first)
            or "\ufe0f" in cluster or "\u20e3" in cluster)


# --------------------------------------------------------------------------- links and mentions

# Characters that may follow "https://" in a link: no whitespace, nothing that ends a link in prose.
# Where the host ends (it may be written in any script: an internationalised domain name) and
# where the path ends (at East Asian wide or fullwidth text, as twitter-text's path characters
# do) is decided by _trim_link.
_SCHEME_URL = re.compile(r"(?<![A-Za-z0-9@＠$#＃])https?://[^\s<>\"]+", re.IGNORECASE)
# Links written without a scheme, for X only (twitter-text allows only ASCII domains there). It
# checks the full IANA TLD list; this list covers the generic TLDs and the ccTLDs a bank in
# Greater China would write.
_BARE_TLDS = ("com|net|org|gov|edu|info|biz|bank|io|co|app|dev|news|cn|hk|mo|tw|sg|uk|us|jp|eu|au|ca")
_BARE_URL = re.compile(
    r"(?<![A-Za-z0-9@＠$#＃.\-/:_])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:" + _BARE_TLDS + r")"
    r"(?![A-Za-z0-9\-])(?:/[^\s<>\"]*)?",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?'\"*"
_MENTION = re.compile(r"(?<![\w/@])@([A-Za-z0-9_]+)(?:@[\w.-]*\w)?")
# ASCII characters of an authority (userinfo@host:port, [IPv6]) besides letters and digits.
_AUTHORITY_ASCII = frozenset("-._~%!$&'()*+,;=:@[]")


def _ends_link(char: str) -> bool:
    """Format and control characters (the directional marks U+202A-202E, U+2066-2069, U+200E/F,
    U+061C among them), separators and the noncharacters U+FFFE/FFFF: twitter-text never lets
    a URL run across them."""
    return unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp") or char in "\ufffe\uffff"


def _wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def _authority_char(char: str) -> bool:
    """A character of a URL's authority: ASCII URL characters, or letters, marks and digits of any
    script (an internationalised host); never punctuation such as 。 or ， that ends a link in CJK prose."""
    if char.isascii():
        return char.isalnum() or char in _AUTHORITY_ASCII
    return unicodedata.category(char)[0] in ("L", "M", "N")


def _trim_link(text: str, start: int, end: int, host_start: int | None = None) -> int:
    """Where a candidate link really ends.

    Never across a format or control character. With a scheme (`host_start` after "//"), the
    authority runs over ASCII URL characters and letters of any script, but a label that starts
    in ASCII ends where wide text follows it ("bank.example.com更多": the host ends at "com", as
    twitter-text's TLD match does). The path, query and fragment end before wide or fullwidth
    characters; then trailing punctuation is dropped.
    """
    for j in range(start, end):
        if _ends_link(text[j]):
            end = j
            break
    path_from = start
    if host_start is not None:
        j = host_start
        while j < end and _authority_char(text[j]):
            j += 1
        label_start = host_start
        for k in range(host_start, j):
            if text[k] in ".@":
                label_start = k + 1
            elif _wide(text[k]) and k > label_start and text[label_start].isascii():
                return _trim_trailing(text, start, k)  # an ASCII label (a TLD) run into CJK text
        if j < end and text[j] not in "/?#":
            end = j
        path_from = j
    for j in range(path_from, end):
        if _wide(text[j]):
            end = j
            break
    return _trim_trailing(text, start, end)


def _trim_trailing(text: str, start: int, end: int) -> int:
    while end > start:
        last = text[end - 1]
        link = text[start:end]
        if last in _TRAILING or (last == ")" and link.count("(") < link.count(")")) \
                or (last == "]" and link.count("[") < link.count("]")):
            end -= 1
        else:
            break
    return end


def _valid_label(label: str) -> bool:
    """A DNS label twitter-text accepts: 1-63 characters once punycode-encoded (java.net.IDN.toASCII)."""
    if not label:
        return False
    if label.isascii():
        return len(label) <= 63
    try:
        return 0 < len(encodings.idna.ToASCII(label)) <= 63
    except UnicodeError:
        return False


def _valid_host(link: str) -> bool:
    """A host of DNS labels of 1-63 characters, internationalised ones counted in their punycode
    form; twitter-text does not shorten a link without one."""
    host = re.split(r"[/?#]", link.split("//", 1)[1], maxsplit=1)[0].rsplit("@", 1)[-1]
    host = re.sub(r":\d*$", "", host)
    if host.startswith("[") and host.endswith("]"):
        return True
    return bool(host) and all(_valid_label(label) for label in host.split("."))


def link_spans(text: str, *, without_scheme: bool = False) -> list[tuple[int, int]]:
    """(start, end) of every link a platform would shorten, in order.

    A link with a scheme needs a host whose labels are 1-63 characters long (an internationalised
    label measured as punycode: ``http://foobar.پاکستان/`` is a link, a CJK label whose punycode
    exceeds 63 characters is text). With ``without_scheme`` (X), bare ASCII domains on the TLDs
    above count as links too; a bare domain on another TLD is counted as text.
    """
    spans: list[tuple[int, int]] = []
    for match in _SCHEME_URL.finditer(text):
        end = _trim_link(text, match.start(), match.end(), host_start=text.index("//", match.start()) + 2)
        if _valid_host(text[match.start():end]):
            spans.append((match.start(), end))
    if without_scheme:
        for match in _BARE_URL.finditer(text):
            if not any(s <= match.start() < e for s, e in spans):
                spans.append((match.start(), _trim_link(text, match.start(), match.end())))
    return sorted(spans)


def _replace_spans(text: str, spans: list[tuple[int, int]], replacement: str) -> str:
    out, pos = [], 0
    for start, end in spans:
        out.append(text[pos:start])
        out.append(replacement)
        pos = end
    out.append(text[pos:])
    return "".join(out)


# --------------------------------------------------------------------------- counting rules

def x_weighted_length(text: str, config: Mapping = TWITTER_TEXT_CONFIG_V3) -> int:
    """X's weighted length (twitter-text parseTweet with config v3).

    NFC first; every link (with or without scheme) weighs transformedURLLength; every emoji
    sequence weighs defaultWeight once (so an emoji, a flag, a skin-toned or ZWJ emoji all count
    2); every other code point weighs by range (1 for Latin, Greek, Cyrillic, Arabic, Hebrew,
    general punctuation; 2 for CJK and the rest). Twitter extracts emoji with a regular
    expression built from the Unicode emoji list; here a grapheme cluster is an emoji when it
    starts with a pictographic or regional-indicator character or contains U+FE0F or U+20E3,
    which makes a bare © or ® weigh 2 rather than 1.
    """
    text = unicodedata.normalize("NFC", text)
    scale, default = config["scale"], config["defaultWeight"]
    ranges = tuple((r["start"], r["end"], r["weight"]) for r in config["ranges"])
    url_weight = config["transformedURLLength"] * scale

    def weight(cp: int) -> int:
        return next((w for start, end, w in ranges if start <= cp <= end), default)

    total, pos = 0, 0
    for start, end in link_spans(text, without_scheme=True) + [(len(text), len(text))]:
        for cluster in graphemes(text[pos:start]):
            if config.get("emojiParsingEnabled") and _is_emoji_cluster(cluster):
                total += default
            else:
                total += sum(weight(ord(ch)) for ch in cluster)
        if end > start:
            total += url_weight
        pos = end
    return total // scale


def mastodon_length(text: str, *, characters_reserved_per_url: int = 23) -> int:
    """Mastodon's count: grapheme clusters, each scheme URL as a fixed length, @user@domain as @user."""
    text = _replace_spans(text, link_spans(text), "x" * characters_reserved_per_url)
    text = _MENTION.sub(lambda m: "@" + m.group(1), text)
    return sum(1 for _ in graphemes(text))


def bluesky_graphemes(text: str) -> int:
    """Bluesky's maxGraphemes measure; links are counted in full because nothing shortens them."""
    return sum(1 for _ in graphemes(text))


def utf8_bytes(text: str) -> int:
    """The atproto lexicon's maxLength for strings, and WeChat's size limit, are UTF-8 bytes."""
    return len(text.encode("utf-8"))


def utf16_units(text: str) -> int:
    """UTF-16 code units: a character outside the BMP (most emoji, rare CJK) is two."""
    return len(text.encode("utf-16-le")) // 2


def telegram_length(text: str) -> int:
    """Telegram counts UTF-16 code units; our text is sent without parse_mode, so there is no markup
    for entity parsing to remove and the text sent is the text counted."""
    return utf16_units(text)


def weibo_length(text: str) -> int:
    """Weibo length in half-width units, of which a status may have 280 (140 Chinese characters).

    ASCII (U+0000-007F) is one unit, any other BMP character two (a full character), a character
    outside the BMP four. Weibo's own counter has been observed to count all of Latin-1 as half
    (schappo.blogspot.com, 2012) and emoji differently by client; counting only ASCII as half is
    the stricter reading. Links are counted in full, although Weibo may display them shortened.
    """
    return sum(1 if ord(ch) < 0x80 else 2 if ord(ch) < 0x10000 else 4 for ch in text)


_TOPIC = re.compile(r"#[^#\n]+#")


def weibo_topic_tags(text: str) -> int:
    """The share API refuses a status containing a #话题词# topic tag; '#' inside links is ignored."""
    return len(_TOPIC.findall(_replace_spans(text, link_spans(text), " ")))


def wechat_length(text: str) -> int:
    """WeChat's 字/字符 counts, taken as UTF-16 units (what a JavaScript counter sees): the same as
    characters for Chinese and English, and two for a character outside the BMP."""
    return utf16_units(text)


# --------------------------------------------------------------------------- the table

@dataclass(frozen=True)
class Measure:
    """One thing a platform counts on one published field; `limit` is the largest value accepted."""
    field: Field
    count: Callable[[str], int]
    limit: int
    unit: str


@dataclass(frozen=True)
class ChannelRule:
    """What a channel publishes (which form, whether it links to the newsroom) and how it is measured."""
    channel: Channel
    form: Form
    links_newsroom: bool
    titled: bool
    measures: tuple[Measure, ...]


@dataclass(frozen=True)
class ChannelSettings:
    """The limits that depend on our accounts rather than on the platform."""
    mastodon_max_characters: int = 500
    mastodon_characters_reserved_per_url: int = 23
    wechat_title_max: int = 32
    wechat_digest_max: int = 120


def channel_rules(settings: ChannelSettings | None = None) -> dict[Channel, ChannelRule]:
    """The rule table for one deployment's settings."""
    s = settings or ChannelSettings()
    x_limit = TWITTER_TEXT_CONFIG_V3["maxWeightedTweetLength"]
    chars = "characters"
    measures: dict[Channel, tuple[Measure, ...]] = {
        "newsroom": (),
        "webhook": (),
        "x": (Measure("text", x_weighted_length, x_limit, "weighted characters"),),
        "weibo": (
            Measure("text", weibo_length, 280, "half-width units"),
            Measure("text", weibo_topic_tags, 0, "#topic# tags"),
        ),
        "mastodon": (Measure(
            "text", partial(mastodon_length, characters_reserved_per_url=s.mastodon_characters_reserved_per_url),
            s.mastodon_max_characters, chars),),
        "bluesky": (
            Measure("text", bluesky_graphemes, 300, "graphemes"),
            Measure("text", utf8_bytes, 3000, "UTF-8 bytes"),
        ),
        "telegram": (Measure("text", telegram_length, 4096, "UTF-16 code units"),),
        "wechat": (
            Measure("text", wechat_length, 19_999, chars),
            Measure("text", utf8_bytes, 999_999, "UTF-8 bytes"),
            Measure("title", wechat_length, s.wechat_title_max, chars),
            Measure("digest", wechat_length, s.wechat_digest_max, chars),
        ),
    }
    full_form = {"newsroom", "webhook", "wechat"}
    return {
        channel: ChannelRule(
            channel=channel,
            form="full" if channel in full_form else "short",
            links_newsroom=channel not in full_form,
            titled=channel in full_form,
            measures=measures[channel],
        )
        for channel in CHANNELS
    }


LIMITS: dict[Channel, ChannelRule] = channel_rules()
