"""Amazon Comprehend sentiment, for deployments that select it instead of the built-in lexicon."""
from __future__ import annotations

from typing import Any

BATCH_SIZE = 25          # BatchDetectSentiment's maximum documents per call
MAX_DOCUMENT_BYTES = 5000


def _clip(text: str) -> str:
    data = text.encode("utf-8")[:MAX_DOCUMENT_BYTES]
    return data.decode("utf-8", errors="ignore")


def batch_sentiment(comprehend: Any, texts: list[str], language_code: str) -> list[float | None]:
    """Positive minus negative confidence per text, in [-1, 1]; None where Comprehend reported an error."""
    results: list[float | None] = [None] * len(texts)
    for start in range(0, len(texts), BATCH_SIZE):
        chunk = [_clip(t) for t in texts[start:start + BATCH_SIZE]]
        response = comprehend.batch_detect_sentiment(TextList=chunk, LanguageCode=language_code)
        for result in response.get("ResultList", []):
            scores = result["SentimentScore"]
            results[start + result["Index"]] = round(scores["Positive"] - scores["Negative"], 4)
    return results
