"""Inbox triage: kinds in English, Simplified and Traditional Chinese, the rumour rule, which posts open a
conversation, the priority formula (monotonic, bounded), reply-time targets and their escalation."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crisiscomms.errors import ConfigurationError
from crisiscomms.inbox.growth import follow_up_of
from crisiscomms.inbox.opening import ConversationOpener, conversation_for
from crisiscomms.inbox.triage import (
    KINDS,
    MAX_PRIORITY,
    TriageInput,
    due_at,
    effective_due,
    is_question,
    kind_of,
    opens_conversation,
    priority,
    shortest_target,
    target_minutes,
    triage,
)
from crisiscomms.models import Post, ScoredPost
from crisiscomms.models.inbox import conversation_id, post_key_of, priority_key
from crisiscomms.scoring.engines import LexiconScorer
from crisiscomms.watch import parse_watch_config
from crisiscomms.watch.inbox import InboxSettings

POSTED = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
DEFAULTS = InboxSettings()


def scored(text: str, *, to_bank: bool = False, news: bool = False, followers: int = 0, likes: int = 0,
           topics: tuple[str, ...] = ("harbor",), reply_ref: dict[str, str] | None = None) -> ScoredPost:
    """A post scored by the real lexicon scorer, as the Ingestor builds it."""
    post = Post(platform="news" if news else "weibo", native_id="5031", source_type="news" if news else "social",
                source_id="s", url="https://weibo.com/1/5031", author="user1", followers=followers, likes=likes, text=text,
                published_at=POSTED, to_bank=to_bank, reply_ref=reply_ref)
    score = LexiconScorer().score([post])[0]
    return ScoredPost(post=post, topics=topics, language=score.language, sentiment=score.sentiment,
                      sentiment_label=score.sentiment_label, tone=score.tone, tone_label=score.tone_label,
                      crisis_terms=tuple(h.term for h in score.crisis_terms if not h.negated),
                      crisis_categories=(), crisis_weight=score.crisis_weight, is_crisis=score.is_crisis, risk=score.risk,
                      ingested_at=POSTED + timedelta(minutes=1))


def kind(text: str, **kwargs: Any) -> str:
    return kind_of(TriageInput.of(scored(text, **kwargs)))


# --- kinds ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "@HarborBank how do I reset my PIN",
    "When will Harbor Bank's app be back",
    "Harbor Bank branch on Elm St. Is it open on Sunday",
    "港湾银行的网银今天能用吗",
    "港灣銀行的網銀今天能用嗎",          # Traditional 嗎
    "港湾银行是不是在维护",
    "港湾银行信用卡额度能不能提高",
    "港湾银行客服电话是多少？",          # full-width question mark
    "港灣銀行信用卡額度點解咁低",        # Cantonese, Traditional
    "港湾银行的网银去哪里了呢",
])
def test_questions_in_english_simplified_and_traditional_chinese(text: str) -> None:
    assert kind(text) == "question"


@pytest.mark.parametrize("text", [
    "Harbor Bank news today https://example.com/a?b=1",  # a ? inside a link asks nothing
    "呢个港湾银行分行装修得几好",                           # Cantonese 呢个 is "this"
    "Do not bank with Harbor Bank, worst fees ever",
    "My Harbor Bank card was declined. Can't pay rent.",
])
def test_what_does_not_ask(text: str) -> None:
    assert not is_question(text)


@pytest.mark.parametrize("text", [
    "Harbor Bank is about to collapse, get your money out now",
    "Is Harbor Bank going bankrupt?",
    "I heard Harbor Bank froze thousands of accounts",   # first person, but passing it on
    "听说港湾银行要倒闭了，赶紧去取钱",
    "聽說港灣銀行要倒閉了，趕緊去取錢",                    # Traditional
    "港湾银行是不是要倒闭了？",
])
def test_crisis_terms_in_a_claim_or_question_about_the_bank_are_a_rumour(text: str) -> None:
    assert kind(text) == "rumour"
    if "your" not in text:  # addressed to the bank, "your" speaks to the bank: see test_complaints
        assert kind(text, to_bank=True) == "rumour"


def test_a_rumour_needs_crisis_terms_the_scorer_did_not_negate() -> None:
    assert kind("Harbor Bank is not collapsing, relax everyone") == "other"


@pytest.mark.parametrize(("text", "to_bank"), [
    ("My Harbor Bank account has been frozen for no reason, this is outrageous", False),  # own experience
    ("@HarborBank your app keeps crashing, terrible service", True),  # speaks to the bank
    ("@港湾银行 你们的APP又崩了，转账一直失败", True),
    ("港湾银行柜员态度太差了，排队两小时", False),
    ("港灣銀行櫃員態度太差了，排隊兩小時", False),
])
def test_complaints(text: str, to_bank: bool) -> None:
    assert kind(text, to_bank=to_bank) == "complaint"


@pytest.mark.parametrize(("text", "expected"), [
    ("Great service at Harbor Bank today, thanks!", "praise"),
    ("港湾银行的客户经理很专业，点赞", "praise"),
    ("在港灣銀行開戶超順利，行員很親切", "praise"),
    ("Harbor Bank branch opening hours change from Monday", "other"),
])
def test_praise_and_other(text: str, expected: str) -> None:
    assert kind(text) == expected


# --- which posts open a conversation --------------------------------------------------------------------

@pytest.mark.parametrize(("text", "to_bank", "news", "opens"), [
    ("Great service at Harbor Bank today, thanks!", True, False, True),     # addressed: any kind
    ("Great service at Harbor Bank today, thanks!", False, False, False),
    ("港湾银行柜员态度太差了，排队两小时", False, False, False),              # a complaint to nobody in particular
    ("港湾银行柜员态度太差了，排队两小时", True, False, True),
    ("港湾银行的网银今天能用吗", False, False, True),                       # a question naming the bank
    ("听说港湾银行要倒闭了，赶紧去取钱", False, False, True),                # a rumour, wherever it spreads
    ("Harbor Bank is about to collapse, get your money out now", False, True, False),  # a news article: no reply
])
def test_what_opens_a_conversation(text: str, to_bank: bool, news: bool, opens: bool) -> None:
    result = triage(TriageInput.of(scored(text, to_bank=to_bank, news=news)))
    assert result.opens is opens


def test_a_post_in_no_topic_opens_nothing_unless_it_addresses_the_bank() -> None:
    item = TriageInput.of(scored("港湾银行的网银今天能用吗", topics=()))
    assert not opens_conversation(item, kind_of(item))


def test_triage_reads_a_stored_post_item_as_it_reads_a_scored_post() -> None:
    post = scored("@HarborBank how do I reset my PIN", to_bank=True, followers=120, likes=4)
    stored = {**post.post.model_dump(mode="json"), "topics": list(post.topics), "sentiment_label": post.sentiment_label,
              "tone_label": post.tone_label, "crisis_terms": list(post.crisis_terms), "risk": post.risk,
              "engagement": post.post.engagement}
    assert triage(TriageInput.of_stored(stored)) == triage(TriageInput.of(post))


# --- priority -------------------------------------------------------------------------------------------

RISK = st.integers(0, 100)
FOLLOWERS = st.integers(0, 10**9)
ENGAGEMENT = st.integers(0, 10**8)
KIND = st.sampled_from(KINDS)


@given(RISK, RISK, FOLLOWERS, FOLLOWERS, ENGAGEMENT, ENGAGEMENT, KIND)
def test_priority_never_falls_when_risk_reach_or_engagement_rise(r1: int, r2: int, f1: int, f2: int, e1: int, e2: int,
                                                                  k: str) -> None:
    low = priority(risk=min(r1, r2), followers=min(f1, f2), engagement=min(e1, e2), kind=k)
    assert low <= priority(risk=max(r1, r2), followers=min(f1, f2), engagement=min(e1, e2), kind=k)
    assert low <= priority(risk=min(r1, r2), followers=max(f1, f2), engagement=min(e1, e2), kind=k)
    assert low <= priority(risk=min(r1, r2), followers=min(f1, f2), engagement=max(e1, e2), kind=k)
    assert low <= priority(risk=max(r1, r2), followers=max(f1, f2), engagement=max(e1, e2), kind=k)


@given(RISK, FOLLOWERS, ENGAGEMENT, KIND)
def test_priority_is_within_0_and_999_and_sorts_in_its_key(risk: int, followers: int, engagement: int, k: str) -> None:
    p = priority(risk=risk, followers=followers, engagement=engagement, kind=k)
    assert 0 <= p <= MAX_PRIORITY
    assert priority_key(p, "2026-11-28T09:00:00Z") < priority_key(p - 1, "2026-11-28T09:00:00Z") if p else True


@given(RISK, FOLLOWERS, ENGAGEMENT)
def test_at_equal_figures_a_rumour_outranks_a_complaint_a_question_other_and_praise(risk: int, followers: int,
                                                                                     engagement: int) -> None:
    ranks = [priority(risk=risk, followers=followers, engagement=engagement, kind=k)
             for k in ("rumour", "complaint", "question", "other", "praise")]
    assert ranks == sorted(ranks, reverse=True) and len(set(ranks)) == 5


def test_the_formula_reaches_exactly_the_bounds() -> None:
    assert priority(risk=0, followers=0, engagement=0, kind="praise") == 0
    assert priority(risk=100, followers=100_000, engagement=1_000, kind="rumour") == MAX_PRIORITY
    assert priority(risk=10, followers=9, engagement=9, kind="complaint") == 50 + 40 + 50 + 100


# --- reply-time targets ---------------------------------------------------------------------------------

def test_default_targets_per_kind_and_the_shorter_target_at_warning_and_above() -> None:
    assert {k: target_minutes(k, None, DEFAULTS) for k in KINDS} == {
        "complaint": 60, "question": 120, "rumour": 30, "praise": 1440, "other": 1440}
    for level in ("WARNING", "CRISIS", "warning"):
        assert {k: target_minutes(k, level, DEFAULTS) for k in KINDS} == dict.fromkeys(KINDS, 15)
    assert target_minutes("complaint", "WATCH", DEFAULTS) == 60
    assert due_at(POSTED, "complaint", "WARNING", DEFAULTS) == POSTED + timedelta(minutes=15)
    assert shortest_target(DEFAULTS) == 15


def test_a_conversation_opened_before_the_level_rose_is_due_at_the_shorter_target() -> None:
    stored = due_at(POSTED, "question", "NORMAL", DEFAULTS)
    assert effective_due(POSTED, stored, "NORMAL", DEFAULTS) == POSTED + timedelta(minutes=120)
    assert effective_due(POSTED, stored, "CRISIS", DEFAULTS) == POSTED + timedelta(minutes=15)
    early = due_at(POSTED, "rumour", "CRISIS", DEFAULTS)
    assert effective_due(POSTED, early, "NORMAL", DEFAULTS) == early  # a level falling never lengthens it


def test_targets_come_from_the_watch_configuration() -> None:
    config = parse_watch_config({"topics": [{"id": "harbor", "names": ["Harbor Bank"]}], "inbox": {
        "targets": {"complaint": 20, "rumour": 10}, "escalated_minutes": 5, "approve_every_reply_at_crisis": False}})
    assert target_minutes("complaint", None, config.inbox) == 20 and target_minutes("rumour", "WARNING", config.inbox) == 5
    assert target_minutes("question", None, config.inbox) == 120
    assert config.inbox.approve_every_reply_at_crisis is False
    assert parse_watch_config({"topics": [{"id": "harbor", "names": ["Harbor Bank"]}]}).inbox == DEFAULTS
    assert DEFAULTS.approve_every_reply_at_crisis is True


@pytest.mark.parametrize(("inbox", "field"), [
    ({"targets": {"complaint": 0}}, "inbox.targets.complaint"),
    ({"targets": {"grumble": 5}}, "inbox.targets.grumble"),
    ({"escalated_minutes": 5000}, "inbox"),
    ({"approve_every_reply_at_crisis": "yes please"}, "inbox.approve_every_reply_at_crisis"),
])
def test_a_bad_inbox_section_is_refused_naming_the_field(inbox: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError, match=field.replace(".", r"\.")):
        parse_watch_config({"topics": [{"id": "harbor", "names": ["Harbor Bank"]}], "inbox": inbox})


# --- opening --------------------------------------------------------------------------------------------

def test_a_qualifying_post_opens_a_conversation_with_its_kind_priority_and_due_time() -> None:
    opened: list[dict[str, Any]] = []
    opener = ConversationOpener(lambda item: opened.append(item) or True, settings=lambda: DEFAULTS,
                                level_of=lambda topic: "WARNING", clock=lambda: POSTED + timedelta(minutes=1))
    post = scored("@HarborBank 你们的APP又崩了，转账一直失败", to_bank=True, followers=999, likes=9,
                  reply_ref={"status_id": "5030"})
    assert opener([post]) == 1
    [item] = opened
    assert item["post_key"] == "weibo#5031" and item["id"] == "weibo:5031" and item["kind"] == "complaint"
    assert item["state"] == "NEW" and item["version"] == 1 and item["topic"] == "harbor"
    assert item["created_at"] == "2026-11-28T09:00:00Z" and item["opened_at"] == "2026-11-28T09:01:00Z"
    assert item["due_at"] == "2026-11-28T09:15:00Z" and item["target_minutes"] == 15 and item["level_at_open"] == "WARNING"
    assert item["priority"] == triage(TriageInput.of(post)).priority
    assert item["priority_key"] == priority_key(item["priority"], item["created_at"])
    assert item["reply_ref"] == {"status_id": "5030"} and item["to_bank"] is True
    assert item == conversation_for(post, triage(TriageInput.of(post)), level="WARNING",
                                    now=POSTED + timedelta(minutes=1), settings=DEFAULTS)


def test_a_post_that_does_not_qualify_costs_nothing_and_a_failure_never_raises() -> None:
    calls: list[Any] = []
    opener = ConversationOpener(lambda item: calls.append(item) or True, settings=lambda: DEFAULTS,
                                level_of=lambda topic: calls.append(topic), clock=lambda: POSTED)
    assert opener([scored("港湾银行柜员态度太差了，排队两小时")]) == 0
    assert calls == []

    def broken(item: dict[str, Any]) -> bool:
        raise RuntimeError("throttled")

    failing = ConversationOpener(broken, settings=lambda: DEFAULTS, level_of=lambda topic: None, clock=lambda: POSTED)
    assert failing([scored("听说港湾银行要倒闭了，赶紧去取钱")]) == 0


def _page(*texts: str) -> list[ScoredPost]:
    """Posts of one page, each with an id of its own."""
    page = []
    for n, text in enumerate(texts):
        one = scored(text, to_bank=text.startswith("@"))
        page.append(one.model_copy(update={"post": one.post.model_copy(update={"native_id": f"60{n}"})}))
    return page


def test_a_pages_conversations_go_to_open_many_together_with_the_follow_ups_of_posts_read_again() -> None:
    batches: list[list[tuple[dict[str, Any], Any]]] = []
    singles: list[Any] = []
    levels: list[str] = []

    def level_of(topic: str) -> str | None:
        levels.append(topic)
        if len(levels) == 2:
            raise ConnectionError("the level could not be read")  # this post's step stays owed; the others go on
        return None

    opener = ConversationOpener(lambda item: singles.append(item) or True, settings=lambda: DEFAULTS,
                                level_of=level_of, clock=lambda: POSTED, reads_again=lambda key: key != "weibo#603",
                                open_many=lambda pairs: batches.append(pairs) or [True, False, True][:len(pairs)])
    page = _page("@HarborBank 转账一直失败，怎么回事？", "@HarborBank 转账失败", "港湾银行的新logo还挺好看",
                 "@HarborBank 你们的APP又崩了，转账一直失败", "@HarborBank 听说你们要倒闭了？")
    assert opener(page) == 2, "what open_many says it opened"
    assert singles == [], "nothing one at a time"
    [pairs] = batches
    assert [item["post_key"] for item, _ in pairs] == ["weibo#600", "weibo#603", "weibo#604"]
    for item, follow_up in pairs:
        assert follow_up == (None if item["post_key"] == "weibo#603" else follow_up_of(item)), \
            "no follow-up for a post its source never reads again"

    def down(pairs: Any) -> list[bool]:
        raise ConnectionError("DynamoDB unavailable")

    failing = ConversationOpener(lambda item: True, settings=lambda: DEFAULTS, level_of=lambda topic: None,
                                 clock=lambda: POSTED, open_many=down)
    assert failing(page) == 0, "logged and counted, never raised: the posts are stored, their steps owed"


# --- a conversation in a URL path -----------------------------------------------------------------------

@given(st.sampled_from(["x", "weibo", "bluesky", "wechat", "douyin", "mastodon", "reddit"]),
       st.text(min_size=1, max_size=120).filter(lambda s: "\x00" not in s))
def test_every_post_key_has_one_url_safe_path_id_that_leads_back_to_it(platform: str, native_id: str) -> None:
    key = f"{platform}#{native_id}"
    path_id = conversation_id(key)
    assert "#" not in path_id and "/" not in path_id and "%" not in path_id and "?" not in path_id
    assert post_key_of(path_id) == key


@pytest.mark.parametrize("path_id", ["weibo", "weibo:", "weibo:a/b", "Weibo:1", "weibo:~", "weibo:~NTAz",
                                     "bluesky:~YQ=", "x:" + "1" * 300])
def test_what_is_not_a_path_id(path_id: str) -> None:
    assert post_key_of(path_id) is None


def _stored_item(post: ScoredPost) -> dict[str, Any]:
    """The post as the post store writes it (crisiscomms.aws.post_store), read back as DynamoDB gives it."""
    from crisiscomms.aws.dynamo import from_item
    from crisiscomms.aws.post_store import PostRepository, PostTables

    repo = PostRepository(PostTables("posts", "topic_posts", "aggregates"), clients=lambda s: None,  # type: ignore[arg-type]
                          retention_days=30)
    put = next(w["Put"] for w in repo._transaction(post) if w.get("Put", {}).get("TableName") == "posts")
    return from_item(put["Item"])


def test_a_stored_post_the_desk_answers_opens_the_conversation_its_storing_would_have() -> None:
    from crisiscomms.inbox.opening import desk_opening

    post = scored("Harbor Bank charged me a fee twice this month, so annoying", followers=40,
                  reply_ref={"status_id": "4990000000000000"})
    assert not triage(TriageInput.of(post)).opens, "a complaint that does not address the bank: triage leaves it out"
    now = POSTED + timedelta(minutes=5)
    opened = desk_opening(_stored_item(post), level="WARNING", now=now, settings=DEFAULTS)
    assert opened == conversation_for(post, triage(TriageInput.of(post)), level="WARNING", now=now, settings=DEFAULTS)
    assert opened["kind"] == "complaint" and opened["target_minutes"] == DEFAULTS.escalated_minutes
    assert opened["reply_ref"] == {"status_id": "4990000000000000"}


def test_no_answer_is_opened_for_a_news_article_or_a_post_about_no_topic() -> None:
    from crisiscomms.inbox.opening import desk_opening

    assert desk_opening(_stored_item(scored("Harbor Bank fined", news=True)), level=None, now=POSTED, settings=DEFAULTS) is None
    assert desk_opening(_stored_item(scored("Harbor Bank fee", topics=())), level=None, now=POSTED, settings=DEFAULTS) is None
    unrelated = {**_stored_item(scored("Harbor Bank fee")), "related": False}
    assert desk_opening(unrelated, level=None, now=POSTED, settings=DEFAULTS) is None
