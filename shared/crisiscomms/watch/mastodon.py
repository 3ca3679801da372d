"""The watch configuration of a Mastodon source: one stream of one Mastodon server, with its own cursor.

Streams (crisiscomms.adapters.sources.mastodon says how each one pages):

* ``hashtag``: the server's public timeline of one hashtag (`/api/v1/timelines/tag/:hashtag`),
  optionally widened with up to four more tags. It holds what the server knows of: its own
  users' posts and what federated to it.
* ``search``: full-text status search (`/api/v2/search?type=statuses`). Mastodon only finds the
  posts of accounts that opted into search (plus the token owner's own posts, mentions and
  favourites), and only on servers that run Elasticsearch; no OR operator, so one query per source.
* ``mentions``: the bank account's notifications of type mention (`/api/v1/notifications`):
  every post that @-mentions the bank or replies to it. The token must be the bank account's.

There is no single Mastodon host: `base_url` names the server, and the token in the secret must
be one that server issued.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, HttpUrl, model_validator

from crisiscomms.watch.base import SourceBase

MastodonStream = Literal["hashtag", "search", "mentions"]
TIMELINE_LIMIT_MAX = 40  # tag timeline and search: `limit` up to 40
NOTIFICATIONS_LIMIT_MAX = 80  # notifications: `limit` up to 80
EXTRA_TAGS_MAX = 4  # the server applies at most 4 tags from each of any[] / all[] / none[] by default
STREAM_FIELDS = {
    "hashtag": ("hashtag",), "any_tags": ("hashtag",), "local_only": ("hashtag",), "query": ("search",),
    "overlap_minutes": ("hashtag", "search"),
}


def _without_hash(value: object) -> object:
    return value[1:] if isinstance(value, str) and value.startswith("#") else value


Hashtag = Annotated[str, BeforeValidator(_without_hash), Field(
    min_length=1, max_length=100, pattern=r"^\w[\w\u00b7\u200c]*$",
    description="a hashtag without its '#': letters, digits, underscores (Mastodon's own rule)")]


class MastodonSource(SourceBase):
    """Mastodon: one stream of one server (see the module docstring and the README's source table)."""

    platform: Literal["mastodon"]
    base_url: HttpUrl = Field(description="the Mastodon server read, e.g. https://mastodon.social;"
                                          " the token in the secret must be one it issued")
    stream: MastodonStream = Field(default="hashtag", description="which Mastodon listing this source reads")
    hashtag: Hashtag | None = Field(default=None, description="hashtag only: the timeline read")
    any_tags: list[Hashtag] = Field(default_factory=list, max_length=EXTRA_TAGS_MAX,
                                    description="hashtag only: statuses with any of these tags too (`any[]`)")
    local_only: bool = Field(default=False, description="hashtag only: only the server's own users' posts (`local`)")
    query: str | None = Field(default=None, min_length=1, max_length=500, description=(
        "search only: the `q`; words are ANDed, \"quoted phrases\", no OR, so one source per name"))
    page_size: int | None = Field(default=None, ge=1, le=NOTIFICATIONS_LIMIT_MAX, description=(
        "items per call (`limit`): up to 40, up to 80 for mentions; the maximum when absent"))
    overlap_minutes: int = Field(default=10, ge=0, le=180, description=(
        "hashtag and search: each pass re-reads this much time below the newest post read, because a"
        " remote post that federates late gets an id dated to its publication; posts already read are skipped"))

    @model_validator(mode="after")
    def _fields_fit_the_stream(self) -> MastodonSource:
        for name, streams in STREAM_FIELDS.items():
            default = type(self).model_fields[name].get_default(call_default_factory=True)
            if name in self.model_fields_set and getattr(self, name) != default and self.stream not in streams:
                raise ValueError(f"{name} applies only to stream {' or '.join(streams)}, not {self.stream}")
        if self.stream == "hashtag" and self.hashtag is None:
            raise ValueError("hashtag: a hashtag stream needs the hashtag it reads")
        if self.stream == "search" and (self.query is None or not self.query.strip()):
            raise ValueError("query: a search stream needs its query")
        if self.hashtag is not None and self.hashtag.isdigit():
            raise ValueError("hashtag: Mastodon hashtags cannot be all digits")
        if self.stream != "mentions" and self.page_size is not None and self.page_size > TIMELINE_LIMIT_MAX:
            raise ValueError(f"page_size: Mastodon returns at most {TIMELINE_LIMIT_MAX} statuses a call")
        return self

    @property
    def limit(self) -> int:
        if self.page_size is not None:
            return self.page_size
        return NOTIFICATIONS_LIMIT_MAX if self.stream == "mentions" else TIMELINE_LIMIT_MAX

    @property
    def overlap(self) -> int:
        """Minutes re-read per pass; notification ids are dated when the server creates them, so none there."""
        return 0 if self.stream == "mentions" else self.overlap_minutes
