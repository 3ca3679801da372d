"""The watch configuration of a WeChat Official Account source: the mass-sent articles whose comments are read.

WeChat's `comment/list` only knows articles by the `msg_data_id` that `message/mass/sendall`
returned (and the article's position in that mass send). Articles published with
`freepublish/submit` have no `msg_data_id` and their comments cannot be read by API, and WeChat
offers no call that lists past mass sends, so the articles are named here - or, for the
statements the Publisher mass-sends itself, recorded by it and watched for `mass_sent_days`.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, HttpUrl, field_validator, model_validator

from crisiscomms.watch.base import SourceBase, Strict

MAX_ARTICLES = 100  # every article costs at least one call per round against the account's daily quota
ARTICLES_PER_MASS_SEND = 8  # a multi-article (图文) message holds at most eight articles
MASS_SENT_ITEM_ID = "mass-sent"  # the state item `source#wechat#mass-sent` holds the Publisher's mass sends


class WatchedArticle(Strict):
    """One article of one mass send."""

    msg_data_id: int = Field(ge=1, le=2**63 - 1, description="the msg_data_id message/mass/sendall returned")
    index: int = Field(default=0, ge=0, lt=ARTICLES_PER_MASS_SEND,
                       description="position of the article in a multi-article mass send, from 0")
    url: HttpUrl | None = Field(default=None, description="the article's link, stored with each comment")


class WeChatSource(SourceBase):
    """Comments under the bank's own mass-sent Official Account articles (see the README's source table)."""

    platform: Literal["wechat"]
    articles: list[WatchedArticle] = Field(default_factory=list, max_length=MAX_ARTICLES,
                                           description="the mass-sent articles to read comments of")
    watch_mass_sent: bool = Field(
        default=True, description="also read the articles the Publisher mass-sent (statements on the WeChat channel)")
    mass_sent_days: int = Field(
        default=7, ge=1, le=30, description="how many days after its mass send an article is watched")
    comment_type: Literal["all", "normal", "elected"] = Field(
        default="all", description="all comments, only those not elected, or only the elected (精选) ones")

    @field_validator("id")
    @classmethod
    def _not_the_mass_sent_item(cls, value: str) -> str:
        if value == MASS_SENT_ITEM_ID:
            raise ValueError(f"a WeChat source may not be called {MASS_SENT_ITEM_ID!r}: its state item holds the mass sends")
        return value

    @model_validator(mode="after")
    def _watches_something(self) -> WeChatSource:
        if not self.articles and not self.watch_mass_sent:
            raise ValueError("a WeChat source with no articles and watch_mass_sent off watches nothing")
        return self

    @field_validator("articles")
    @classmethod
    def _each_article_once(cls, articles: list[WatchedArticle]) -> list[WatchedArticle]:
        keys = [(a.msg_data_id, a.index) for a in articles]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise ValueError(f"article(s) listed twice (msg_data_id, index): {repeated}")
        return articles
