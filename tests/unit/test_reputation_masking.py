"""What the model does not read: the names training masked, and a denial's negators and term.

The scorer's compiled path is checked against the plain formula over grams built here from the
post's tokens less the ones that must give none, so a repair lost in the scorer and in the
trainer's reading alike still fails."""
import random
from array import array

from crisiscomms import scoring
from crisiscomms.scoring import reputation

from .test_scoring_fastpaths import read_model_inputs


def _read(text: str) -> tuple[set[str], str, str]:
    """The English tokens (a set, empty without any), the folded Chinese text and the emoji the model reads."""
    words, zh, emoji = read_model_inputs(text)
    return set(words or ()), zh, emoji


def _plain(m: reputation.Model, text: str, tokens: set[str]) -> tuple[float, float, float]:
    """The margins of ``text`` by the plain formula with only ``tokens`` giving English grams."""
    words, zh, emoji = _read(text)
    _, units, ev = scoring.polarity_inputs(text)
    grams = reputation.grams_of(tokens, zh, emoji, m.latin, m.han)[0]
    return m.plain_margins(grams, units, ev)


def _assert_scored_as(m: reputation.Model, unmasked: reputation.Model, text: str,
                      without: tuple[float, float, float], with_names: tuple[float, float, float]) -> None:
    """The scorer reads ``text`` as the plain formula ``without`` the masked names, and ``with_names``
    under the same weights once the header masks nothing."""
    assert abs(scoring.score_text(text).sentiment - reputation.value_of(*without[:2])) <= 1.01e-4, text
    try:
        reputation.use(unmasked)
        assert abs(scoring.score_text(text).sentiment - reputation.value_of(*with_names[:2])) <= 1.01e-4, text
    finally:
        reputation.use(m)


def test_a_masked_name_gives_no_grams_in_scoring_as_in_training() -> None:
    m = reputation.model()
    assert "harbor" in m.masked and "bank" not in m.masked
    assert m.words["harbor"] == 0 and m.words["bank"] != 0
    unmasked = reputation.Model({**m.header, "masked_tokens": []}, m._q)
    assert unmasked.words["harbor"] != 0
    grams, units, _ = scoring.polarity_inputs("Harbor Bank branch queue")
    assert units == 4 and "<harbor>" not in grams and "<bank>" in grams     # the name's unit still counts
    for text in ("Harbor Bank branch queue", "Harbor Bank and Northgate Savings: can't withdraw my money from either!",
                 "Harbor Bank app down " + "z" * (reputation.LONG_POST + 5)):     # the last: the plain sums
        words = _read(text)[0]
        named = words & m.masked
        assert named
        without, with_names = _plain(m, text, words - named), _plain(m, text, words)
        assert abs(reputation.value_of(*without[:2]) - reputation.value_of(*with_names[:2])) > 1e-3, text
        _assert_scored_as(m, unmasked, text, without, with_names)


def test_a_denials_negators_and_term_give_no_grams() -> None:
    text = "This is not a bank run, people"
    hits = scoring.score_text(text).crisis_terms
    present = {"this", "is", "not", "a", "bank", "run", ",", "people"}
    assert reputation.negated_tokens(hits, present) == {"not", "bank", "run"}
    grams, units, _ = scoring.polarity_inputs(text)
    assert units == 8 and {"<not>", "<bank>", "<run>"}.isdisjoint(grams) and "<people>" in grams
    affirmed = scoring.score_text("This is a bank run, people").crisis_terms
    assert reputation.negated_tokens(affirmed, present) == set()


def test_the_scorer_drops_a_denials_grams() -> None:
    m = reputation.model()
    for text, dropped in (("This is not a bank run, people", {"not", "bank", "run"}),
                          ("There is no bank run at Northgate, never was", {"no", "bank", "run", "never"}),
                          ("not a bank run " + "z" * (reputation.LONG_POST + 5), {"not", "bank", "run"})):
        words = _read(text)[0] - m.masked
        assert dropped <= words, text
        kept, all_read = _plain(m, text, words - dropped), _plain(m, text, words)
        assert abs(kept[2] - all_read[2]) > 1e-3, text       # the dropped grams weigh on the crisis margin
        s = scoring.score_text(text)
        assert abs(s.sentiment - reputation.value_of(*kept[:2])) <= 1.01e-4, text
        assert s.is_crisis == (kept[2] > 0), text


def _chinese_read_as(m: reputation.Model, text: str, zh: str) -> tuple[float, float, float]:
    """The margins of ``text`` by the plain formula with its Chinese text read as ``zh`` (its English tokens
    less the masked ones)."""
    words, _, emoji = _read(text)
    _, units, ev = scoring.polarity_inputs(text)
    return m.plain_margins(reputation.grams_of(words - m.masked, zh, emoji, m.latin, m.han)[0], units, ev)


def test_a_masked_chinese_name_gives_no_grams_in_scoring_as_in_training() -> None:
    m = reputation.model()
    assert {"港湾", "国泰世华", "国泰"} <= set(m.masked_names)
    unmasked = reputation.Model({**m.header, "masked_names": []}, m._q)
    for text, name in (("港湾银行门口排起长队，大家都在取钱", "港湾"),
                       ("港灣銀行真係好靠得住，又冧咗", "港湾"),                 # Traditional, folded first
                       ("国泰世华银行的客服和国泰航空一样慢", "国泰"),            # the longer name first, as training
                       ("港湾银行的APP又登不上了" * (reputation.LONG_POST // 10), "港湾")):       # the plain sums
        zh = _read(text)[1]
        blanked = m.mask_names(zh)
        assert name in zh and name not in blanked and len(blanked) == len(zh), text
        without, with_names = _chinese_read_as(m, text, blanked), _chinese_read_as(m, text, zh)
        assert abs(without[0] - with_names[0]) + abs(without[2] - with_names[2]) > 1e-3, text
        _assert_scored_as(m, unmasked, text, without, with_names)
    assert m.mask_names("国泰世华和国泰") == " " * 4 + "和" + " " * 2


# masked names at the start and the end, twice in a row, beside another name, after Latin letters, inside a
# longer name, after punctuation
NAMED_PLACES = ("港湾", "港湾银行", "我在港湾", "港湾港湾港湾又崩了", "港湾和平两家都取不出钱", "和平港湾",
                "国泰世华国泰航空", "APP港湾银行", "港湾!港湾?", "取钱港湾，港湾取钱。星河", "示例示例", "银行港湾港",
                "港湾银行门口排起长队，大家都在取钱", "港灣銀行真係好靠得住，又冧咗")


def _assert_names_blanked(m: reputation.Model, texts: tuple[str, ...]) -> None:
    """The scorer takes off what blanking the masked names takes off the plain formula's grams."""
    for text in texts:
        zh = _read(text)[1]
        assert any(name in zh for name in m.masked_names), text
        without = _chinese_read_as(m, text, m.mask_names(zh))
        s = scoring.score_text(text)
        assert abs(s.sentiment - reputation.value_of(*without[:2])) <= 1.01e-4, text
        if abs(without[2]) > 1e-9:
            assert s.is_crisis == (without[2] > 0), text


def test_masked_chinese_names_at_every_place_a_post_can_hold_them() -> None:
    _assert_names_blanked(reputation.model(), NAMED_PLACES)


def test_with_han_pairs_the_masked_names_come_off_as_blanking_them_does() -> None:
    """A model of Han 1-2-grams (random weights; trained ones are not shipped) takes a name's pairs
    off, and the pair into it from the character before, as blanking the names does."""
    m = reputation.model()
    rng = random.Random(31)
    pairs = reputation.Model({**m.header, "han": [1, 2]}, array("b", (rng.randint(-60, 60) for _ in range(3 * m.buckets))))
    try:
        reputation.use(pairs)
        _assert_names_blanked(pairs, NAMED_PLACES)
    finally:
        reputation.use(m)
