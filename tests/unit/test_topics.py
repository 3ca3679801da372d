from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crisiscomms.models import Post
from crisiscomms.listening.topics import Relation, TopicMatcher
from crisiscomms.watch import Topic

TOPICS = [
    Topic(id="harbor", names=["Harbor Bank", "港湾银行"], hashtags=["#HarborBank"], accounts=["@HarborBank"],
          exclude=["Harbor Bank Arena"]),
    Topic(id="northgate", names=["Northgate Savings", "北门储蓄"], keywords=["NGS app"]),
]
MATCHER = TopicMatcher(TOPICS)


def _post(text: str, author: str = "someone", title: str | None = None) -> Post:
    return Post(platform="x", native_id="1", source_type="social", source_id="s", url="u", author=author,
                text=text, title=title, published_at=datetime(2026, 11, 28, tzinfo=timezone.utc))


@pytest.mark.parametrize(("text", "expected"), [
    ("Queues at Harbor Bank today", ("harbor",)),
    ("HARBOR BANK froze my account", ("harbor",)),
    ("ＨａｒｂｏｒＢａｎｋ", ()),                         # full-width folds, but the name has a space
    ("Ｈａｒｂｏｒ　Ｂａｎｋ is down", ("harbor",)),        # full-width letters and space fold to ASCII
    ("港湾银行取不出钱", ("harbor",)),
    ("港灣銀行擠兌了嗎", ("harbor",)),                       # Traditional folds to Simplified
    ("#HarborBank is trending", ("harbor",)),
    ("#HarborBankRun is trending", ()),                    # a different hashtag
    ("cc @HarborBank please answer", ("harbor",)),
    ("Harbor Banks of the Thames", ()),                   # whole words only
    ("在Harbor Bank开的户", ("harbor",)),                   # a Latin name ends at Chinese text as at a space
    ("@HarborBank的客服", ("harbor",)),
    ("HarborBankers的聚会", ()),                           # ... and not inside a Latin word
    ("Concert at Harbor Bank Arena tonight", ()),         # exclusion vetoes
    ("Harbor Bank and Northgate Savings both down", ("harbor", "northgate")),
    ("北门储蓄和港湾银行", ("harbor", "northgate")),
    ("the NGS app crashed", ("northgate",)),
    ("nothing to see here", ()),
])
def test_matching(text: str, expected: tuple[str, ...]) -> None:
    assert MATCHER.match(_post(text)) == expected


ACCENTED = TopicMatcher([Topic(id="sg", names=["Société Générale"]), Topic(id="ca", names=["Credit Agricole"]),
                         Topic(id="vcb", names=["Ngân hàng Vietcombank"]), Topic(id="jp", names=["みずほ銀行"])])


@pytest.mark.parametrize(("text", "expected"), [
    ("Société Générale a bloqué mon compte", ("sg",)),
    ("Societe Generale bloque les virements", ("sg",)),     # typed without the accents, as people often do
    ("SOCIÉTÉ GÉNÉRALE en panne", ("sg",)),
    ("Crédit Agricole ne répond plus", ("ca",)),              # the name configured without them
    ("ngan hang vietcombank bi loi", ("vcb",)),
    ("Soci\u200bété Générale", ("sg",)),                     # an invisible character splitting the name
    ("Société\u00adGénérale", ()),                           # ... is dropped, not read as a space
    ("みずほ銀行のATMが止まった", ("jp",)),                      # marks of other scripts are kept
    ("みすほ銀行", ()),
])
def test_latin_names_match_without_their_accents_and_invisible_characters(text: str, expected: tuple[str, ...]) -> None:
    assert ACCENTED.match(_post(text)) == expected


def test_posts_by_a_watched_account_belong_to_its_topic() -> None:
    assert MATCHER.match(_post("We are open as usual.", author="HarborBank")) == ("harbor",)


def test_news_title_counts() -> None:
    assert MATCHER.match(_post("Shares fell 8%.", title="Northgate Savings shares slide")) == ("northgate",)


_TERMS = ["Harbor Bank", "HSBC", "平安", "平安银行", "招商局", "Chase", "c", "#港湾银行挤兑", "@HarborBank"]


@given(st.lists(st.sampled_from(_TERMS), min_size=1, max_size=4),
       st.lists(st.sampled_from(_TERMS + ["", " ", "的", "x", "_", "-", "bank", "Harbor", "银行", "#", "@", "\u3000"]),
                max_size=8))
def test_a_term_search_skipping_texts_without_its_terms_answers_as_the_plain_regular_expression(
        terms: list[str], pieces: list[str]) -> None:
    from crisiscomms.listening.topics import _pattern, normalise

    for prefix in ("", "#"):
        found = _pattern(terms, prefix)
        assert found is not None
        text = normalise("".join(pieces))
        assert found.search(text) == (found.regex.search(text) is not None), (terms, prefix, text)


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_text_is_folded_as_every_other_text(text: str) -> None:
    from crisiscomms.listening.topics import normalise
    from crisiscomms.scoring import normalise as fold_text
    from crisiscomms.scoring import to_simplified

    assert normalise(text) == to_simplified(fold_text(text))


_LITERALS = ["平安", "平安银行", "安", "银行", "harbor bank", "harbor", "bank", "#harborbank", "@harborbank", "ally",
             "ally bank", "招商局", "招商", "a", "港湾银行"]


@given(st.dictionaries(st.sampled_from(_LITERALS), st.frozensets(st.integers(0, 5), min_size=1), min_size=1),
       st.lists(st.sampled_from(_LITERALS + ["", " ", "的", "x", "#", "@", "行", "é"]), max_size=8))
def test_the_topics_a_text_may_be_about_are_those_with_a_term_text_in_it(
        topics_of: dict[str, frozenset[int]], pieces: list[str]) -> None:
    """The pre-pass skipping longer terms whose shorter term is absent, and Chinese terms in ASCII texts,
    finds exactly the topics with one of their texts in the text."""
    from crisiscomms.listening.topics import _Presence

    text = "".join(pieces)
    expected = {index for literal, indexes in topics_of.items() if literal in text for index in indexes}
    assert _Presence(topics_of).topics(text) == expected, (topics_of, text)


def test_a_topic_is_found_through_any_of_its_term_lists_or_its_account_among_many_topics() -> None:
    """Every way into a topic still works when other topics share or contain its terms."""
    topics = [Topic(id="pingan", names=["平安银行"], ambiguous=["平安"]),
              Topic(id="harbor", names=["Harbor Bank"], hashtags=["#HarborBank"], accounts=["@HarborBank"]),
              Topic(id="harbor-arena", names=["Harbor Bank Arena"]),
              Topic(id="bank", names=["Bank Watch"], keywords=["bank run"], exclude=["river bank"])]
    matcher = TopicMatcher(topics)
    assert matcher.match(_post("平安银行挤兑了吗")) == ("pingan",)
    assert matcher.match(_post("concert at Harbor Bank Arena")) == ("harbor", "harbor-arena")
    assert matcher.match(_post("#HarborBank trending")) == ("harbor",)
    assert matcher.match(_post("all fine", author="HarborBank")) == ("harbor",)
    assert matcher.match(_post("a bank run by the river bank")) == ()
    assert matcher.match(_post("a bank run at Harbor Bank")) == ("harbor", "bank")


def _by(platform: str, author: str, author_id: str | None = None, text: str = "Harbor Bank: all branches are open") -> Post:
    return Post(platform=platform, native_id="1", source_type="social", source_id="s", url="u", author=author,
                author_id=author_id, text=text, published_at=datetime(2026, 11, 28, tzinfo=timezone.utc))


OWN = TopicMatcher(TOPICS, banks_own={"x": ("@HarborBank", "42"), "weibo": ("港湾银行", None),
                                      "mastodon": ("harborbank@bank.example", None), "reddit": ("u/HarborBank", "1k2x")})


@pytest.mark.parametrize(("post", "own"), [
    (_by("x", "someone", "42"), True),             # the account's id decides when both are known
    (_by("x", "HarborBank", "43"), False),         # a look-alike name with another id
    (_by("x", "harborbank"), True),                # else its handle, folded
    (_by("weibo", "港湾银行"), True),
    (_by("weibo", "HarborBank"), False),           # another platform's handle
    (_by("mastodon", "harborbank"), True),         # a local account's handle is its name alone
    (_by("mastodon", "harborbank@elsewhere.social"), False),
    (_by("bluesky", "harborbank.bsky.social"), False),   # no account configured there
    (_by("reddit", "HarborBank", "t2_1k2x"), True),      # Reddit's author_fullname is the id behind t2_
    (_by("reddit", "HarborBank", "t2_9z9z"), False),
])
def test_the_banks_own_posts_are_its_own_not_the_publics(post: Post, own: bool) -> None:
    assert OWN.written_by_bank(post) is own
    expected = Relation((), (), ("harbor",)) if own else Relation(("harbor",))
    assert OWN.relate(post) == expected
