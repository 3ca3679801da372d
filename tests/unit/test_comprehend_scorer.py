"""The Comprehend engine: batches of 25 per language, its sentiment in as the author's tone, polarity for
reputation and the lexicon's crisis terms still this package's.

Local AWS has no real Comprehend, so the client is stubbed with botocore's Stubber.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from botocore.stub import Stubber

from crisiscomms_local.aws import client, reset_process_caches as reset_clients
from crisiscomms.models import Post
import functools

from crisiscomms.aws.comprehend import batch_sentiment
from crisiscomms.scoring import score_text
from crisiscomms.scoring.engines import ComprehendScorer, LexiconScorer
from crisiscomms.wiring import Container


def _post(text: str, n: int = 0) -> Post:
    return Post(platform="x", native_id=str(n), source_type="social", source_id="s", url="u", author="a",
                text=text, published_at=datetime(2026, 11, 28, tzinfo=timezone.utc), followers=1000)


def _comprehend_scorer() -> ComprehendScorer:
    return ComprehendScorer(functools.partial(batch_sentiment, client("comprehend")))


def _result(index: int, positive: float, negative: float) -> dict:
    return {"Index": index, "Sentiment": "MIXED",
            "SentimentScore": {"Positive": positive, "Negative": negative, "Neutral": 1 - positive - negative, "Mixed": 0.0}}


@pytest.fixture
def comprehend(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    reset_clients()
    with Stubber(client("comprehend")) as stub:
        yield stub
        stub.assert_no_pending_responses()
    reset_clients()


def test_batches_of_25_per_language_with_comprehend_language_codes(comprehend: Stubber) -> None:
    english = [_post(f"Harbor Bank froze my account {n}", n) for n in range(30)]
    traditional = [_post("港灣銀行擠兌了嗎？", 100)]
    comprehend.add_response("batch_detect_sentiment",
                            {"ResultList": [_result(i, 0.05, 0.9) for i in range(25)], "ErrorList": []},
                            {"TextList": [p.text for p in english[:25]], "LanguageCode": "en"})
    comprehend.add_response("batch_detect_sentiment",
                            {"ResultList": [_result(i, 0.05, 0.9) for i in range(5)], "ErrorList": []},
                            {"TextList": [p.text for p in english[25:]], "LanguageCode": "en"})
    comprehend.add_response("batch_detect_sentiment",
                            {"ResultList": [_result(0, 0.7, 0.1)], "ErrorList": []},
                            {"TextList": [traditional[0].text], "LanguageCode": "zh-TW"})
    scores = _comprehend_scorer().score(english + traditional)
    assert scores[0].tone == pytest.approx(-0.85)
    assert scores[-1].tone == pytest.approx(0.6)               # Comprehend's opinion, not the lexicon's
    assert scores[-1].is_crisis and scores[0].is_crisis          # crisis terms still from the lexicon
    # polarity is the model's, Comprehend's tone one of its inputs
    assert scores[0] == score_text(english[0].text, followers=1000, tone_override=-0.85)
    assert scores[-1] == score_text(traditional[0].text, followers=1000, tone_override=0.6)


def test_a_text_comprehend_could_not_score_falls_back_to_the_lexicon(comprehend: Stubber) -> None:
    posts = [_post("Harbor Bank is great", 1), _post("Harbor Bank froze my account", 2)]
    comprehend.add_response("batch_detect_sentiment",
                            {"ResultList": [_result(1, 0.0, 0.95)],
                             "ErrorList": [{"Index": 0, "ErrorCode": "INTERNAL_SERVER_EXCEPTION", "ErrorMessage": "x"}]},
                            {"TextList": [p.text for p in posts], "LanguageCode": "en"})
    scores = _comprehend_scorer().score(posts)
    assert scores[0] == LexiconScorer().score(posts[:1])[0]
    assert scores[1].tone == pytest.approx(-0.95)


def test_languages_comprehend_does_not_know_are_never_sent() -> None:
    sent: list[tuple[list[str], str]] = []
    scorer = ComprehendScorer(batch_sentiment=lambda texts, code: sent.append((texts, code)) or [None] * len(texts))
    scorer.score([_post("Das ist ein Test der Bank", 1), _post("Harbor Bank ok", 2)])
    assert sent == [(["Harbor Bank ok"], "en")]


def test_long_texts_are_clipped_to_comprehends_byte_limit() -> None:
    from crisiscomms.aws.comprehend import MAX_DOCUMENT_BYTES, _clip

    clipped = _clip("银" * 3000)
    assert len(clipped.encode("utf-8")) <= MAX_DOCUMENT_BYTES and clipped == "银" * (MAX_DOCUMENT_BYTES // 3)


def test_engine_is_chosen_by_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    container = Container(environ={})
    assert isinstance(container.scorer("lexicon"), LexiconScorer)
    assert isinstance(container.scorer("comprehend"), ComprehendScorer)
