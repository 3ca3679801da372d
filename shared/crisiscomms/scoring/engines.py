"""Scoring posts in batches with the engine the deployment selected.

The lexicon engine is entirely in-process. The Comprehend engine asks Amazon Comprehend for
sentiment in batches of 25 per language and takes it as the author's tone; polarity for
reputation (tone one of its inputs), crisis terms, reach and risk still come from this package,
and a text Comprehend cannot score keeps the lexicon's tone.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from crisiscomms.models import Post
from crisiscomms.scoring.model import Score
from crisiscomms.scoring import detect_language, score_text

COMPREHEND_LANGUAGE = {"en": "en", "zh-Hans": "zh", "zh-Hant": "zh-TW"}


def _score(post: Post, tone: float | None = None) -> Score:
    return score_text(
        post.full_text,
        followers=post.followers,
        likes=post.likes,
        reposts=post.reposts,
        replies=post.replies,
        quotes=post.quotes,
        tone_override=tone,
    )


class LexiconScorer:
    def score(self, posts: list[Post]) -> list[Score]:
        return [_score(p) for p in posts]


class ComprehendScorer:
    """`batch_sentiment(texts, language_code)` is the data-access call, passed in by the composition root."""

    def __init__(self, batch_sentiment: Callable[[list[str], str], list[float | None]]) -> None:
        self._batch_sentiment = batch_sentiment

    def score(self, posts: list[Post]) -> list[Score]:
        by_language: dict[str, list[int]] = defaultdict(list)
        for index, post in enumerate(posts):
            code = COMPREHEND_LANGUAGE.get(detect_language(post.full_text))
            if code:
                by_language[code].append(index)
        tone: dict[int, float | None] = {}
        for code, indexes in by_language.items():
            values = self._batch_sentiment([posts[i].full_text for i in indexes], code)
            tone.update(zip(indexes, values, strict=True))
        return [_score(p, tone.get(i)) for i, p in enumerate(posts)]
