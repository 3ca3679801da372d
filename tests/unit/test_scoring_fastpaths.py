"""The scorer's fast paths give exactly what the plain algorithms they replace give.

Each test keeps a reference copy of the straightforward code (as it was before the
scorer was tuned) and compares it, on the labelled posts and on seeded random inputs,
with the fast path: a character class spelt out instead of re.IGNORECASE, Han characters
counted on UTF-8 bytes, gap patterns run only when a post has the characters a match
needs, phrases tried only when all their tokens are in the post, and so on.
"""
from __future__ import annotations

import json
import math
import random
import re
import sys
import unicodedata
import zlib
from itertools import accumulate

import pytest

from crisiscomms import scoring
from crisiscomms.scoring import chinese, english, language, regex_reader, reputation, rules
from crisiscomms.scoring.model import Score, TermHit, new_score

from ..conftest import ROOT

POSTS = [json.loads(line)["text"] for line in
         (ROOT / "tests" / "data" / "labelled_posts.jsonl").read_text(encoding="utf-8").splitlines()
         if line.strip()]
HAN_EDGES = "".join(map(chr, [0x33FF, 0x3400, 0x4DBF, 0x4DC0, 0x4DFF, 0x4E00, 0x9FFF, 0xA000,
                              0xF8FF, 0xF900, 0xFAFF, 0xFB00, 0xFE0F]))


def _random_texts(seed: int, pool: list[str], n: int, longest: int = 14) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(pool) for _ in range(rng.randint(0, longest))) for _ in range(n)]


def _zh_pool() -> list[str]:
    words = list(chinese._DICT) + [m for group in (chinese._CONTEXT, chinese.PERSONAL,
                                                    chinese.REPORT, chinese.RESOLUTION)
                                   for m in group]
    return words + list("的了被很不没我钱取款账户冻结门口人排队等小时,.!?\"") + ["app", "ATM", "3"]


# ---------------------------------------------------------------- tokens and text
def test_token_classes_match_the_case_insensitive_originals() -> None:
    old_word = re.compile(r"[a-z0-9\u00c0-\u024f]", re.IGNORECASE)
    old_suffix = re.compile(r"[a-z]", re.IGNORECASE)
    new_word = re.compile(f"[{language.WORD_CLASS}]")
    new_suffix = re.compile(f"[{english._SUFFIX_CHARS}]")
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        assert bool(old_word.fullmatch(ch)) == bool(new_word.fullmatch(ch)), hex(code)
        assert bool(old_suffix.fullmatch(ch)) == bool(new_suffix.fullmatch(ch)), hex(code)
    beyond = {ch for ch in map(chr, range(0x250, 0x3000)) if new_word.fullmatch(ch)}
    assert beyond == set(language._WORD_EXTRAS)


def _reference_tokenize(text: str) -> tuple[list[str], list[bool]]:
    token = re.compile(r"[a-z0-9\u00c0-\u024f]+(?:'[a-z]+)?|[.!?;:,\n\"%]", re.IGNORECASE)
    if "#" in text or "@" in text:
        text = english._HASHTAG.sub(english._split_hashtag, text)
    if "," in text:
        text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    toks: list[str] = []
    caps: list[bool] = []
    for raw in token.findall(text):
        if len(raw) == 1 and not raw.isalnum():
            toks.append(raw)
            caps.append(False)
            continue
        low = raw.lower()
        is_caps = len(raw) > 2 and raw.isupper()
        if "'" in low:
            base, _, suffix = low.partition("'")
            if suffix == "t" and base.endswith("n"):
                toks.append(english._canon_word(base + "t"))
                caps.append(is_caps)
                continue
            toks.append(english._canon_word(base))
            caps.append(is_caps)
            if suffix == "s" and base not in english._NO_POSSESSIVE:
                toks.append("'s")
                caps.append(False)
            continue
        toks.append(english._canon_word(low))
        caps.append(is_caps)
    return toks, caps


def test_tokenize_matches_the_plain_tokenizer() -> None:
    pool = list("ab Z9'.!?;:,\"%\n#@-_()\t") + ["can't", "bank's", "it's", "1,000", "#BankRun",
                                                "@HarborBank", "CAN'T", "Straße", "ÉTÉ", "K", "ſ",
                                                "银行", "😡", "\u2028", "rock'n'roll"]
    for text in POSTS + _random_texts(11, pool, 4000):
        nfkc = scoring._nfkc(text)
        toks, raws = english.tokenize(nfkc)
        assert (toks, [len(r) > 2 and r.isupper() for r in raws]) == _reference_tokenize(nfkc)


def test_thousands_separators_match_the_lookbehind_first_pattern() -> None:
    old = re.compile(r"(?<=\d),(?=\d{3}\b)")
    for text in _random_texts(12, list("0123456789,, ab١٢٣,.\n"), 20000, 12):
        assert english._THOUSANDS.sub("", text) == old.sub("", text)


def test_nfkc_and_folding_match_translate() -> None:
    marks = "，？：！；（）’‘ʼ。｡、…“”「」『』—–ＡＢ１ｶﾞé\u0301"
    for text in POSTS + _random_texts(13, list(marks + "ab 银行"), 4000):
        expected = unicodedata.normalize("NFKC", text).translate(scoring._PUNCT_FOLD)
        assert scoring._nfkc(text) == expected
        prof = language.script_profile(expected)
        if prof[1] is not None:
            assert language.fold_chinese(expected, prof[3]) == language.to_simplified(
                expected.casefold())


# ---------------------------------------------------------------- script counts, language
def _reference_script_counts(text: str) -> tuple[int, int, int, int, int, int]:
    latin = sum(1 for ch in text if "A" <= ch <= "Z" or "a" <= ch <= "z")
    han = trad = simp = other = emoji = 0
    for ch in text:
        o = ord(ch)
        if o < 128:
            continue
        if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF:
            han += 1
            if ch in language.TRAD_ONLY:
                trad += 1
            elif ch in language.SIMP_ONLY:
                simp += 1
        elif 0xC0 <= o <= 0x24F:
            latin += 1
        elif (0x370 <= o <= 0x6FF or 0x900 <= o <= 0xE7F or 0x3040 <= o <= 0x30FF
              or 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF):
            other += 1
        elif 0x1F100 <= o <= 0x1FAFF or 0x2600 <= o <= 0x27BF or 0x2B00 <= o <= 0x2BFF:
            emoji += 1
    return latin, han, trad, simp, other, emoji


def test_script_counts_match_the_character_loop() -> None:
    for code in range(0x80, 0x10000):
        if not 0xD800 <= code <= 0xDFFF:
            text = "a" + chr(code) + "银"
            assert language.script_counts(text) == _reference_script_counts(text), hex(code)
    pool = list("aZ9 é×ÿĀɏɓẞKΩЖא" + HAN_EDGES + "銀银行這这😀❤🙃⬛☕\ud800") + ["ー", "한"]
    for text in POSTS + _random_texts(14, pool, 10000):
        assert language.script_counts(text) == _reference_script_counts(text), repr(text)
        counts, chars, emoji, folds, words = language.script_profile(text, exact=False)
        exact = language.script_counts(text)
        assert counts[:3] == exact[:3] and counts[4:] == exact[4:]
        assert counts[3] == exact[3] or (counts[3] == 0 and exact[2] == 0)
        assert words == any(re.fullmatch(f"[{language.WORD_CLASS}]", ch) for ch in text)
        if exact[1]:
            assert chars == list(text)
            assert folds == (language.to_simplified(text) != text)
        assert emoji == "".join(ch for ch in text if 0x1F100 <= ord(ch) <= 0x1FAFF
                                or 0x2600 <= ord(ch) <= 0x27BF or 0x2B00 <= ord(ch) <= 0x2BFF)


def _reference_decide(t: str, counts: tuple[int, int, int, int, int, int]) -> str:
    latin, han, trad, simp, other, _ = counts
    n_han = han * 2
    if n_han == 0 and latin == 0:
        return "other"
    if other > n_han and other > latin:
        return "other"
    if n_han >= latin and n_han > 0:
        if other and other * 2 >= han:
            return "other"
        return "zh-Hant" if trad > simp else "zh-Hans"
    en = oth = 0
    for w in t.casefold().replace("'", "").split():
        w = w.strip(".,!?;:\"()[]")
        if w in language._EN_FUNCTION:
            en += 1
        elif w in language._OTHER_FUNCTION:
            oth += 1
    return "other" if oth > en else "en"


def test_decide_language_matches_the_word_loop() -> None:
    words = ["el", "la", "de", "the", "and", "(el)", "e.l", "l'el", "EL", "Der", "is", "x"]
    pool = words + [" ", "  ", "\x1c", "\x1f", "\xa0", "\u2028", "\x85", ".", "\"", "'", "é", "😀"]
    rng = random.Random(15)
    texts = POSTS + [" ".join(rng.choice(pool) for _ in range(rng.randint(0, 12)))
                     for _ in range(8000)] + _random_texts(16, pool, 4000)
    for text in texts:
        counts = language.script_counts(text)
        assert language.decide_language(text, counts) == _reference_decide(text, counts), repr(text)


# ---------------------------------------------------------------- Chinese scan
def _reference_lengths() -> dict[str, list[int]]:
    lengths: dict[str, set[int]] = {}
    for w in chinese._DICT:
        lengths.setdefault(w[0], set()).add(len(w))
    return {ch: sorted(ls, reverse=True) for ch, ls in lengths.items()}


def _reference_scan(text: str, lengths: dict[str, list[int]]) -> list[tuple[int, int, int]]:
    """The greedy scan, every gap pattern, and the merge, as first written."""
    items: list[rules.Item] = []
    i = 0
    while i < len(text):
        for length in lengths.get(text[i], ()):
            rec = chinese._DICT.get(text[i:i + length])
            if rec is not None:
                items.append(rules.Item(i, i + length, rec))
                i += length
                break
        else:
            i += 1
    extra = [rules.Item(m.start(), m.end(), rec)
             for src, rec in zip(chinese._PATTERN_SOURCES, chinese._PATTERN_RECS)
             for m in re.finditer(src, text)]
    if extra:
        items = _reference_merge(items, extra)
    return [(it.start, it.end, id(it.rec)) for it in items]


def _reference_merge(items: list[rules.Item], extra: list[rules.Item]) -> list[rules.Item]:
    """chinese._merge_patterns as first written."""
    extra.sort(key=lambda it: (it.start, it.start - it.end))
    kept: list[rules.Item] = []
    for it in extra:
        if not kept or it.start >= kept[-1].end:
            kept.append(it)
    crisis_spans = [(it.start, it.end, it.rec.crisis.weight) for it in items if it.rec.crisis is not None]
    kept = [k for k in kept
            if not any(s < k.end and k.start < e and (k.rec.crisis is None or w >= k.rec.crisis.weight)
                       for s, e, w in crisis_spans)]
    if kept:
        items = [it for it in items if not any(it.start < k.end and k.start < it.end for k in kept)]
        items.extend(kept)
        items.sort(key=rules.by_start)
    return items


def test_chinese_scan_matches_the_plain_scan() -> None:
    texts = [language.to_simplified(scoring._nfkc(t).casefold()) for t in POSTS]
    texts += _random_texts(17, _zh_pool(), 6000, 10)
    lengths = _reference_lengths()
    for text in texts:
        got = [(it.start, it.end, id(it.rec)) for it in chinese.scan(text)]
        assert got == _reference_scan(text, lengths), text


def test_gap_patterns_run_whenever_they_can_match() -> None:
    rng = random.Random(18)
    for k, src in enumerate(chinese._PATTERN_SOURCES):
        pool = [ch for ch in src if not ch.isascii()] + list(",不了被人")
        for _ in range(1500):
            text = "".join(rng.choice(pool) for _ in range(rng.randint(1, 12)))
            if re.search(src, text):
                assert chinese.markers(text, list(text))[1] >> k & 1, (src, text)


def test_regex_reader() -> None:
    needs = regex_reader.requirements
    assert needs("ab?c|(?:x|y)+z{2}[q]w") == ((frozenset("a"), frozenset("c")),
                                               (frozenset("xy"), frozenset("w")))
    assert needs("(?=x)a(?!y)b") == ((frozenset("a"), frozenset("b")),)
    assert needs("(?:a|b)?c") == ((frozenset("c"),),)
    for src in ("a|.*", "[ab]", r"\d+", "(a)", "(?:a|)b?", "a*"):
        assert needs(src) is None, src
    flags = regex_reader.has_inline_flags
    assert flags("(?i)a") and flags("(?x: a )") and flags(r"\\(?i)") and flags("(?-i:a)")
    assert not flags(r"\(?i") and not flags("(?:a)") and not flags("(?=a)") and not flags("(?P<n>a)")
    for k in range(len(chinese._PATTERN_SOURCES)):
        assert chinese._pattern(k).pattern == chinese._PATTERN_SOURCES[k]   # every one compiles


# ---------------------------------------------------------------- English items
def _reference_index() -> dict:
    """First token -> second token -> the candidates (None: those with a gap after the
    first token, the only ones any other token allows)."""
    index = {}
    for first, lst in english._PHRASES.items():
        by_second = {None: [pr for pr in lst if pr[0][1][1]]}
        for pat, _ in lst:
            second, gap = pat[1]
            if not gap and second not in by_second:
                by_second[second] = [pr for pr in lst if pr[0][1][1] or pr[0][1][0] == second]
        index[first] = by_second
    return index


def _reference_items(toks: list[str], caps: list[bool], index: dict) -> list[tuple]:
    n = len(toks)
    items: list[rules.Item] = []
    i = 0
    while i < n:
        by_second = index.get(toks[i])
        if by_second:
            cands = by_second.get(toks[i + 1] if i + 1 < n else None)
            for pat, rec in by_second[None] if cands is None else cands:
                m = english._match(toks, i, pat)
                if m is not None:
                    items.append(rules.Item(i, m[0], rec, m[1]))
                    i = m[0]
                    break
            else:
                if toks[i] in english._SINGLE:
                    items.append(rules.Item(i, i + 1, english._SINGLE[toks[i]], False, caps[i]))
                i += 1
            continue
        if toks[i] in english._SINGLE:
            items.append(rules.Item(i, i + 1, english._SINGLE[toks[i]], False, caps[i]))
        i += 1
    if not english._COOC.keys().isdisjoint(toks):
        for pair in _reference_cooccurrences(toks, items):
            s, e = pair.start, pair.end
            items = [it for it in items if not (s <= it.start and it.end <= e and not it.rec.neg and (
                it.rec.valence is not None or it.rec.crisis is not None))]
            items.append(pair)
        items.sort(key=rules.by_start)
    return [(it.start, it.end, id(it.rec), it.neg_inside, it.caps) for it in items]


def _reference_cooccurrences(toks: list[str], items: list[rules.Item]) -> list[rules.Item]:
    """english._cooccurrences as first written: every token read."""
    covered = [(it.start, it.end, it.rec.crisis.weight) for it in items if it.rec.crisis is not None]
    seen: dict[tuple[int, int], tuple[int, int]] = {}
    found: dict[int, tuple[int, int, int, int]] = {}
    out = []
    for j, t in enumerate(toks):
        if t in (".", "!", "?", ";", "\n"):
            seen.clear()
            continue
        for rule, role in english._COOC.get(t, ()):
            start = j
            if role == 2:
                if j and toks[j - 1] in english._FUNCTION_NEG:
                    start = j - 1
                elif j > 1 and toks[j - 2] in english._FUNCTION_NEG:
                    start = j - 2
                else:
                    continue
                role = 1
            other = seen.get((rule, 1 - role))
            if other is not None and rule not in found:
                o_start, o_last = other
                if (start if role == 1 else j) - o_last <= english.COOC_DISTANCE:
                    found[rule] = (min(o_start, start), j + 1, o_start if role == 0 else start,
                                   j + 1 if role == 0 else o_last + 1)
            seen[(rule, role)] = (start, j)
    for rule, (s, e, a_s, a_e) in found.items():
        weight = english._COOC_RECS[rule].crisis.weight
        if any(cs < e and s < ce and w >= weight for cs, ce, w in covered):
            continue
        neg_inside = any(toks[k] in english._NEGATORS and not a_s <= k < a_e for k in range(s + 1, e - 1))
        out.append(rules.Item(s, e, english._COOC_RECS[rule], neg_inside))
        covered.append((s, e, weight))
    return out


def test_object_action_pairs_match_the_plain_scan() -> None:
    """Sequences of the rules' objects, actions, function verbs and negators, sentence ends and
    fillers, so pairs form, cross sentences and fall out of reach."""
    pool = sorted(english._COOC) + sorted(english._FUNCTION_NEG) + [".", "!", "?", ";", "\n", ",", "the", "my", "3"]
    rng = random.Random(27)
    paired = 0
    for _ in range(6000):
        toks = [rng.choice(pool) for _ in range(rng.randint(1, 16))]
        lexical = [it for it in english.items_of(toks, toks, set(toks)) if it.rec not in english._COOC_RECS]
        for items in ([], lexical):     # with and without the lexicon's items covering some
            found = english._cooccurrences(toks, items)
            assert [(it.start, it.end, id(it.rec), it.neg_inside) for it in found] == [
                (it.start, it.end, id(it.rec), it.neg_inside) for it in _reference_cooccurrences(toks, items)], toks
            paired += bool(found)
    assert paired > 1000


def test_english_items_match_the_plain_matcher() -> None:
    vocab = sorted({t for lst in english._PHRASES.values() for pat, _ in lst for t, _ in pat
                    if t != english.ROLE} | set(english._ROLES) | set(english._COOC))
    rng = random.Random(19)
    sequences = [english.tokenize(scoring._nfkc(t)) for t in POSTS]
    for _ in range(4000):
        toks = [rng.choice(vocab + ["the", "not", "my", ".", ",", "?", "\"", "3"])
                for _ in range(rng.randint(1, 12))]
        sequences.append((toks, [rng.choice(("BANK", "bank")) for _ in toks]))
    index = _reference_index()
    for toks, raws in sequences:
        caps = [len(r) > 2 and r.isupper() for r in raws]
        got = [(it.start, it.end, id(it.rec), it.neg_inside, it.caps)
               for it in english.items_of(toks, raws, set(toks))]
        assert got == _reference_items(toks, caps, index), toks


def _analysis(out: scoring.Analysis) -> list:
    return [getattr(out, a) for a in out.__slots__]


def test_a_post_without_lexical_tokens_only_counts_questions() -> None:
    post = rules.PostContext(True, True, False, 0.2)
    for text in _random_texts(20, list(".,!?;:\"%\n 银行"), 2000):
        toks, raws = english.tokenize(text)
        if toks and english._LEXICAL.isdisjoint(toks):
            fast, slow = scoring.Analysis(), scoring.Analysis()
            english.analyse(toks, raws, set(toks), fast, post)
            rules.walk(english.items_of(toks, raws, set(toks)), slow, english.RULES, post)
            assert _analysis(fast) == _analysis(slow)


def test_the_english_side_of_a_post_without_words() -> None:
    assert english.PUNCTUATION_ONLY_IS_PLAIN     # else score_text does not take the shortcut
    post = rules.PostContext(True, True, False, 0.2)
    for text in _random_texts(22, list(".,!?;:\"%\n 银行£-#@_()") + ["100%", "4.1%"], 3000):
        if re.search(f"[{language.WORD_CLASS}]", text):
            continue
        toks, raws = english.tokenize(text)
        assert english.punctuation_markers(text) == english.markers(toks, set(toks))
        out = scoring.Analysis()
        english.analyse(toks, raws, set(toks), out, post)
        expected = scoring.Analysis()
        expected.questions = english.punctuation_questions(text)
        assert _analysis(out) == _analysis(expected)


# ---------------------------------------------------------------- records
def test_every_record_kind_agrees_with_its_roles() -> None:
    recs = [*english._SINGLE.values(), *english._PHRASE_RECS.values(), *english._COOC_RECS,
            *chinese._DICT.values(), *chinese._PATTERN_RECS]
    for rec in recs:
        kind = rec.seal()
        if kind == rules.VALENCE:
            assert rec.valence is not None and rec.crisis is None and rec.degree is None
            assert not (rec.neg or rec.contrast or rec.block or rec.quote or rec.boundary)
            assert not (rec.irony or rec.debunk or rec.hedge or rec.postneg or rec.reported)
        elif kind == rules.BOUNDARY:
            assert rec.boundary and not rec.block and not rec.quote


def test_new_score_is_the_dataclass() -> None:
    hit = TermHit("bank run", "run", 3.0, False, "bank run")
    for values in (("en", -0.5, "negative", (hit,), 3.0, True, 10, 2, 40, -0.3, None),
                   ("zh-Hans", -0.2, "negative", (), 1.0, True, 0, 0, 12, 0.0, "withdrawals")):
        fast, plain = new_score(*values), Score(*values)
        assert type(fast) is Score and fast == plain and hash(fast) == hash(plain)
        assert repr(fast) == repr(plain)
    assert new_score(*values[:-1]).learned_narrative is None
    with pytest.raises(AttributeError):
        fast.risk = 0     # type: ignore[misc]


def test_emoji_valences_read_only_what_can_carry_one() -> None:
    assert scoring._EMOJI_IN_RANGE     # else the fast path is not exercised
    pool = list("ab银😀😡🙃❤⬛☕\u2600\u27bf\U0001f100\U0001faff🎉💔") + [chr(0x1F600 + i) for i in range(80)]
    for text in _random_texts(21, pool, 3000):
        emoji = language.script_profile(text)[2]
        expected = [0.0, 0.0, 0.0]
        for ch in text:
            if not ch.isascii():
                v = scoring._emoji_valence(ch)
                if v:
                    if v > 0:
                        expected[0] += v
                        if ch in scoring.PRAISE_EMOJI:
                            expected[2] += v
                    else:
                        expected[1] += v
        assert scoring._emoji_valences(text, emoji) == tuple(expected)


# ---------------------------------------------------------------- polarity, reach, rounding
DEV = ROOT / "tests" / "data" / "reputation" / "dev.jsonl"


def test_word_crcs_are_those_of_the_word_grams() -> None:
    """The memo of a token's gram sums hashes slices of its bytes (ASCII) or of its text."""
    toks = {t for text in POSTS for t in english.tokenize(scoring._nfkc(text))[0]}
    toks |= {"a", "ab", "withdraw", "été", "ſt", "\u212abank", "银行", "a\ud800b", "💸x", "x" * 40}
    for tok in toks:
        for lo, hi in ((3, 5), (2, 4), (1, 6)):
            assert reputation.word_crcs(tok, lo, hi) == [
                zlib.crc32(g.encode("utf-8", "surrogatepass")) for g in reputation.word_grams(tok, lo, hi)], tok


def test_the_narrative_rows_are_the_files() -> None:
    """Bucket -> its ten weights as read from the file, plainly, against where the model reads them."""
    m = reputation.read_model()
    header = m.header["narrative"]
    n, k = header["buckets"], len(reputation.NARRATIVES)
    with open(reputation.NARRATIVES_FILE, "rb") as fh:
        raw = zlib.decompress(fh.read())
    # each id stored as the gap from the one before
    ids = list(accumulate(int.from_bytes(raw[4 * i:4 * i + 4], "little") for i in range(n)))
    assert header["ids"] == "gaps" and ids == sorted(set(ids))
    rows = {b: tuple(x - 256 if x > 127 else x for x in raw[4 * n + k * i:4 * n + k * (i + 1)])
            for i, b in enumerate(ids)}
    starts, weights = m._narrative_model()
    assert starts.keys() == rows.keys()
    assert all(tuple(weights[starts[b]:starts[b] + k]) == row for b, row in rows.items())
    rng = random.Random(26)
    for _ in range(300):     # sums of grams of buckets with and without weights
        grams = ["".join(rng.choice("abcdé银行挤兑<>") for _ in range(rng.randint(1, 5))) for _ in range(rng.randint(0, 9))]
        plain = [rows.get(reputation.bucket(g, m.mask)) for g in grams]
        plain = [r for r in plain if r is not None]
        assert m._narrative_sums(grams) == (tuple(map(sum, zip(*plain))) if plain else (0,) * k)


def test_the_pair_memo_gives_each_windows_grams_and_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Han 1-2-grams: a character's value read as (itself, the next character) from a two-level
    memo is its window's gram sums, also after the memo is cleared for holding MEMO_LIMIT
    entries (first characters and windows counted); score_text and the narrative head give
    what they give without clearing."""
    shipped = reputation.read_model()
    limit = 64
    monkeypatch.setattr(reputation, "MEMO_LIMIT", limit)
    m = reputation.Model({**shipped.header, "han": [1, 2]}, shipped._q)
    pool = list("的了钱取款账户冻结门口人排队银行挤兑倒闭谢谢可能") + ["a", " ", "3", "?", "😡", HAN_EDGES]
    rng = random.Random(27)
    seen: set[tuple[str, str]] = set()
    for _ in range(400):
        chars = list("".join(rng.choice(pool) for _ in range(rng.randint(1, 12))))
        following = chars[1:] + [""]
        packed = sum(m.pairs[c][n] for c, n in zip(chars, following))
        grams = reputation.grams_of(None, "".join(chars), "", m.latin, m.han)[0]
        assert reputation.unpack(packed) == m.gram_sums(grams), chars
        assert len(m.pairs) + sum(map(len, m.pairs.values())) <= limit
        seen.update(zip(chars, following))
    assert len(seen) > 4 * limit        # cleared several times
    texts = _random_texts(28, pool + ["bank run", "挤兑", "冻结", "排队取钱"], 600)
    reputation.use(m)
    try:
        bounded = [scoring.score_text(t) for t in texts]
    finally:
        reputation.use(None)
    monkeypatch.setattr(reputation, "MEMO_LIMIT", 1 << 20)
    reputation.use(reputation.Model({**shipped.header, "han": [1, 2]}, shipped._q))
    try:
        assert bounded == [scoring.score_text(t) for t in texts]
        assert any(s.learned_narrative for s in bounded)
    finally:
        reputation.use(None)


def test_the_compiled_model_is_the_plain_formula() -> None:
    """Memoised gram sums, flags and categories read inline and the three margins of score_text
    (polarity, its label, the crisis decision) against reputation.py's formula computed from the
    plain enumeration of the grams; the narrative head where score_text asks it."""
    m = reputation.model()
    texts = POSTS + ([json.loads(line)["text"] for line in DEV.read_text(encoding="utf-8").splitlines()
                      if line.strip()] if DEV.exists() else [])
    pool = (["Harbor Bank", "not", "fake news", "regulator", "police", "restored", "?", "!", " ", "🙃",
             "😡", "🎉", "bank run", "frozen", "thanks", "great", "withdraw", "app down", "data breach",
             "fined", "I", "my", "sources say", "可能", "辟谣", "警方", "银行", "擠兌", "已恢复", "吗", "谢谢",
             "呵呵", "倒闭", "据报道", "我的"] + list("的了钱取款账户冻结门口人排队"))
    texts += _random_texts(23, pool, 3000, 10)
    # longer than a packed gram sum is trusted with: the plain sums
    texts += [" ".join(_random_texts(24, pool, 2000, 10)), "".join(_random_texts(25, pool, 3000, 10)),
              "Harbor Bank app down, cannot withdraw " + "Z" * (reputation.LONG_POST + 5)]
    assert max(map(len, texts)) > reputation.LONG_POST
    crisis_seen = narratives_seen = 0
    for text in texts:
        grams, units, ev = scoring.polarity_inputs(text)
        neg, pos, cri = m.plain_margins(grams, units, ev)
        s = scoring.score_text(text)
        assert abs(s.sentiment - reputation.value_of(neg, pos)) <= 1.01e-4, text
        if min(abs(neg), abs(pos), abs(neg - pos)) > 1e-9:    # not a tie the float order could turn
            assert s.sentiment_label == reputation.label_of(neg, pos), text
        if abs(cri) > 1e-9:
            assert s.is_crisis == (cri > 0), text
        crisis_seen += s.is_crisis
        if s.is_crisis and not any(not h.negated for h in s.crisis_terms):
            plain = m.narrative_of(m.narrative_margins(grams, units))      # as training reads the post
            assert s.learned_narrative == plain in reputation.NARRATIVES, text
            narratives_seen += 1
        else:
            assert s.learned_narrative is None, text
    assert crisis_seen > 100 and narratives_seen > 10
    # the evidence score_text reads inline is reputation.evidence's
    for text in texts[:400]:
        _, _, ev = scoring.polarity_inputs(text)
        assert len(reputation.evidence_vector(ev)) == len(reputation.EVIDENCE)


def read_model_inputs(text: str) -> tuple[set[str] | None, str, str]:
    """The English tokens, the folded Chinese text and the emoji the scorer gives the model."""
    scoring._reading = []
    try:
        scoring.score_text(text)
        words, zh, emoji, _ = scoring._reading[0]
    finally:
        scoring._reading = None
    return words, zh, emoji


def _reference_reach(followers, likes, reposts, replies, quotes):
    interactions = [int(c) for c in (likes, reposts, replies, quotes)]
    return max(0, int(followers)), sum(c for c in interactions if c > 0)


def test_reach_takes_the_int_fast_path_to_the_same_figures() -> None:
    rng = random.Random(24)
    kinds = [lambda: rng.randint(-5, 10**12), lambda: rng.randint(-3, 3), lambda: True, lambda: False,
             lambda: rng.uniform(-3, 1e6), lambda: 0]
    for _ in range(20000):
        args = [rng.choice(kinds)() for _ in range(5)]
        assert scoring._reach(*args) == _reference_reach(*args), args


def test_round4_is_round_to_four_places() -> None:
    rng = random.Random(25)
    values = [rng.uniform(-1, 1) for _ in range(100000)] + [rng.uniform(-8, 8) for _ in range(20000)]
    values += [(k + 0.5) / 10000 for k in range(-10001, 10001)] + [k / 20000 for k in range(-20000, 20001)]
    values += [0.0, -0.0, 1e-9, -1e-9, 5e-5, -5e-5, 6.0, 2.5, 1e300, -1e300, float("inf"), float("-inf")]
    for v in values:
        assert repr(scoring._round4(v)) == repr(round(v, 4)), v
    assert math.isnan(scoring._round4(float("nan")))


def test_a_record_notes_what_its_roles_say() -> None:
    recs = [*english._SINGLE.values(), *english._PHRASE_RECS.values(), *english._COOC_RECS,
            *chinese._DICT.values(), *chinese._PATTERN_RECS]
    for rec in recs:
        rec.seal()
        assert rec.notes == bool(rec.irony or rec.debunk or rec.hedge or rec.postneg or rec.reported)


def _slots(obj: object) -> dict[str, object]:
    """Every slot's value, base classes' first (their __init__'s order); an unset slot raises."""
    names = [n for cls in reversed(type(obj).__mro__) for n in getattr(cls, "__slots__", ())]
    return {n: getattr(obj, n) for n in names}


def test_records_filled_in_place_are_what_their_classes_build() -> None:
    """The items, clause hits and matched terms the hot paths fill slot by slot, against the class's
    own __init__ with the same values."""
    post = rules.PostContext(True, True, False, 0.2)
    seen = {rules.Item: 0, rules.CrisisHit: 0, rules.Contribution: 0, scoring.model.MatchedTerm: 0}
    for text in POSTS + ["ATM is DOWN again, NOT happy", "银行挤兑？没有。", "账户被冻结了", "'bank run'"]:
        nfkc = scoring._nfkc(text)
        toks, raws = english.tokenize(nfkc)
        zh = language.to_simplified(nfkc.casefold())
        by_language = {english: english.items_of(toks, raws, set(toks)), chinese: chinese.scan(zh)}
        for it in (it for items in by_language.values() for it in items):
            seen[rules.Item] += 1
            assert _slots(it) == _slots(rules.Item(it.start, it.end, it.rec, it.neg_inside, it.caps))
            assert type(it.neg_inside) is bool and type(it.caps) is bool
        for lang, items in by_language.items():
            found = rules.scan_clauses(items, scoring.Analysis(), lang.RULES, post)
            for c in found.contributions:
                seen[type(c)] += 1
                values = _slots(c)
                assert values == _slots(type(c)(*values.values()))
        out = scoring.Analysis()
        english.analyse(toks, raws, set(toks), out, post)
        chinese.analyse(zh, list(zh), chinese.markers(zh, list(zh))[1], out, post)
        for term in out.hits:
            seen[scoring.model.MatchedTerm] += 1
            assert _slots(term) == _slots(scoring.model.MatchedTerm(term.crisis, term.negated, term.matched))
    assert all(seen.values()), seen
