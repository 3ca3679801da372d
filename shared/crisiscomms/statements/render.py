"""The one renderer: a statement version becomes the exact text each channel publishes, measured.

The rendering is what the desk approves: its `sha256` is recorded with the approval and the
adapter publishes exactly that text. So rendering never truncates, never "fixes" a text that is
too long; it reports the problem and the desk shortens the statement itself. The Desk renders
every channel at once (validation, approval hashes); the Publisher renders one channel per
delivery, so a channel that cannot render fails that delivery alone.
"""
from __future__ import annotations

import hashlib
import html
import json
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from crisiscomms.errors import ChannelCheckFailed
from crisiscomms.models.delivery import Channel, ReplyPlatform, ReplySettings
from crisiscomms.models.languages import PublishedLanguage
from crisiscomms.statements.channel_rules import ChannelRule, ChannelSettings, channel_rules, link_spans
from crisiscomms.statements.qa import QA_CHANNEL, QA_KIND, qa_url

__all__ = ["ChannelAccount", "ChannelsConfig", "Count", "Kind", "Rendering", "Renderer", "StatementText", "content_sha256", "render"]

Kind = Literal["statement", "correction", "update"]


class StatementText(TypedDict):
    """One language of a statement: the full text, the short form, and optionally a headline."""
    full: str
    short: str
    title: NotRequired[str]


# Markers a reader sees first, so a correction can never be mistaken for the original.
_MARKERS: dict[str, dict[Kind, str]] = {
    "zh": {"correction": "更正：", "update": "更新："},
    "zh-Hant": {"correction": "更正：", "update": "更新："},
    "en": {"correction": "Correction: ", "update": "Update: "},
}
# Headlines for the titled channels when the desk gave none.
_DEFAULT_TITLES: dict[str, dict[Kind, str]] = {
    "zh": {"statement": "声明", "correction": "更正声明", "update": "最新情况"},
    "zh-Hant": {"statement": "聲明", "correction": "更正聲明", "update": "最新情況"},
    "en": {"statement": "Statement", "correction": "Correction", "update": "Update"},
}


@dataclass(frozen=True)
class Count:
    """One measured quantity of one published field."""
    field: str
    length: int
    limit: int | None
    unit: str

    @property
    def ok(self) -> bool:
        return self.limit is None or self.length <= self.limit


@dataclass(frozen=True)
class Rendering:
    """Exactly what goes to one channel in one language. `length`/`limit`/`unit` are those of the
    first count that fails, or of the main count when all pass; `counts` has every one."""
    channel: Channel
    language: str
    kind: Kind
    text: str
    title: str | None
    digest: str | None
    length: int
    limit: int | None
    unit: str
    ok: bool
    sha256: str
    counts: tuple[Count, ...]


def content_sha256(text: str, title: str | None = None, digest: str | None = None) -> str:
    """The hash an approval records: of the text alone, or of every published field together
    (canonical JSON) when the channel also publishes a title or digest."""
    if title is None and digest is None:
        payload = text
    else:
        payload = json.dumps({"digest": digest, "text": text, "title": title},
                             ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _wording(table: dict[str, dict[Kind, str]], language: str) -> dict[Kind, str] | None:
    """The language's own wording (`zh-Hant`), else its primary language's (`en-GB` reads `en`)."""
    return table.get(language) or table.get(language.split("-")[0].split("_")[0].lower())


def _marked(text: str, language: str, kind: Kind) -> str:
    """Prefix the correction/update marker unless the desk already wrote it."""
    if kind == "statement":
        return text
    markers = _wording(_MARKERS, language)
    if markers is None:
        raise ValueError(f"no {kind} marker for language {language!r}")
    marker = markers[kind]
    written = {marker.strip(), marker.strip().replace("：", ":"), marker.strip().replace(":", "：")}
    if any(text.casefold().startswith(w.casefold()) for w in written):
        return text
    return marker + text


def _title(statement_text: StatementText, language: str, kind: Kind) -> str:
    given = _nfc(statement_text.get("title", "")).strip()
    if given:
        return _marked(given, language, kind)
    defaults = _wording(_DEFAULT_TITLES, language)
    if defaults is None:
        raise ValueError(f"no title given and no default title for language {language!r}")
    return defaults[kind]


def _html_paragraphs(text: str) -> str:
    """Each non-blank line becomes an escaped <p>; ideographic-space indents are kept."""
    lines = (line.strip(" \t\r") for line in text.split("\n"))
    return "".join(f"<p>{html.escape(line)}</p>" for line in lines if line)


def _checked_url(newsroom_url: str | None) -> str:
    url = _nfc(newsroom_url or "").strip()
    if not url or link_spans(url) != [(0, len(url))]:
        raise ValueError(f"newsroom_url {newsroom_url!r} is not a link the platforms would recognise whole")
    return url


def _source(statement_text: StatementText, form: str) -> str:
    text = _nfc(statement_text.get(form, "") or "").strip()
    if not text:
        raise ValueError(f"the {form} text is empty")
    return text


def render(statement_text: StatementText, channel: Channel, *, language: str, newsroom_url: str | None,
           kind: Kind = "statement", settings: ChannelSettings | None = None) -> Rendering:
    """The exact text for `channel`, measured against its limits; never truncated.

    Social channels get the short form (with the correction/update marker) and the newsroom link
    on its own line; newsroom and webhook get the full text under a title; WeChat gets a title, the
    short form as digest and the full text as HTML paragraphs. Raises ValueError when the input
    cannot be rendered at all (empty text, unusable newsroom link, unknown channel).
    """
    rules = channel_rules(settings)
    if channel not in rules:
        raise ValueError(f"unknown channel {channel!r}")
    rule: ChannelRule = rules[channel]
    body = _source(statement_text, rule.form)
    title = digest = None
    if rule.links_newsroom:
        text = f"{_marked(body, language, kind)}\n{_checked_url(newsroom_url)}"
    else:
        title = _title(statement_text, language, kind)
        text = body
    if channel == "wechat":
        digest = _marked(_source(statement_text, "short"), language, kind)
        text = _html_paragraphs(body)

    fields = {"text": text, "title": title, "digest": digest}
    counts = tuple(Count(m.field, m.count(fields[m.field] or ""), m.limit, m.unit) for m in rule.measures)
    if not counts:
        counts = (Count("text", len(text), None, "characters"),)
    shown = next((c for c in counts if not c.ok), counts[0])
    return Rendering(
        channel=channel, language=language, kind=kind, text=text, title=title, digest=digest,
        length=shown.length, limit=shown.limit, unit=shown.unit, ok=all(c.ok for c in counts),
        sha256=content_sha256(text, title, digest), counts=counts,
    )


# --- the deployment's channels, and rendering a statement for them ------------------------------

class ChannelAccount(BaseModel):
    """One official account: which languages it speaks, who it is and where its API lives.

    Its token is not here: all channel tokens live in one Secrets Manager secret keyed by channel.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    languages: list[PublishedLanguage] = Field(min_length=1)
    account: str | None = None
    base_url: HttpUrl | None = None
    options: dict[str, str] = Field(default_factory=dict)


class ChannelsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    newsroom_base_url: HttpUrl
    channels: dict[Channel, ChannelAccount]
    # Replies per platform: pacing, and where a platform without a channel (Douyin) has its API.
    replies: dict[ReplyPlatform, ReplySettings] = Field(default_factory=dict)


def _problem(channel: str, language: str | None, message: str, count: Count | None = None) -> dict[str, Any]:
    problem: dict[str, Any] = {"channel": channel, "message": message}
    if language:
        problem["language"] = language
    if count is not None:
        problem.update(length=count.length, limit=count.limit, unit=count.unit)
        if count.field != "text":
            problem["field"] = count.field
    return problem


class Renderer:
    """Renders statements for the channels this deployment has configured."""

    def __init__(self, config: ChannelsConfig, settings: ChannelSettings | None = None) -> None:
        self._config = config
        self._settings = settings

    def newsroom_url(self, statement_id: str, language: str) -> str:
        """The authoritative page of a statement in one language; the short forms link to it."""
        return f"{str(self._config.newsroom_base_url).rstrip('/')}/statements/{statement_id}.{language}.html"

    def qa_url(self, entry: str, language: str) -> str:
        """One language of a Q&A entry on the newsroom's Q&A page (crisiscomms.statements.qa)."""
        return qa_url(str(self._config.newsroom_base_url), entry, language)

    def _one(self, statement_id: str, text: dict[str, dict[str, str]], channel: str, language: str, *,
             kind: str, title: str | None, entry: str | None = None) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        if kind == QA_KIND:
            # A Q&A entry: the question is the title and the answer the text, on the Q&A page only.
            if channel != QA_CHANNEL:
                return None, [_problem(channel, language, f"{channel} ({language}): a Q&A entry is published on the "
                                                          f"{QA_CHANNEL}'s Q&A page only")]
            source = {"full": text[language]["answer"], "short": text[language]["answer"], "title": text[language]["question"]}
            url, kind = self.qa_url(entry or statement_id, language), "statement"
        else:
            source = {**text[language], **({"title": title} if title else {})}
            url = self.newsroom_url(statement_id, language)
        try:
            r = render(source, channel, language=language, newsroom_url=url, kind=kind, settings=self._settings)  # type: ignore[arg-type]
        except ValueError as exc:
            return None, [_problem(channel, language, f"{channel} ({language}): {exc}")]
        problems = [_problem(channel, language, f"{channel} ({language}): {'' if c.field == 'text' else c.field + ' '}"
                                                f"{c.length} {c.unit}, limit {c.limit}", c)
                    for c in r.counts if not c.ok]
        rendering = {"channel": channel, "language": language, "text": r.text, "title": r.title, "digest": r.digest,
                     "newsroom_url": url, "sha256": r.sha256}
        return rendering, problems

    def _languages(self, channel: str, text: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
        account = self._config.channels.get(channel)  # type: ignore[call-overload]
        if account is None:
            return [], [_problem(channel, None, f"{channel} is not configured for this deployment")]
        spoken = [lang for lang in account.languages if lang in text]
        if not spoken:
            return [], [_problem(channel, None, f"{channel} publishes in {'/'.join(account.languages)},"
                                                " which the statement does not have")]
        return spoken, []

    def render_all(self, statement_id: str, text: dict[str, dict[str, str]], channels: list[str], *,
                   kind: str, title: str | None, entry: str | None = None) -> dict[str, dict[str, Any]]:
        """Every (channel, language) rendering, keyed `channel#language`; ChannelCheckFailed names every problem.
        `entry`: a Q&A statement's entry (its anchor on the Q&A page)."""
        out: dict[str, dict[str, Any]] = {}
        problems: list[dict[str, Any]] = []
        for channel in channels:
            languages, refused = self._languages(channel, text)
            problems += refused
            for language in languages:
                rendering, found = self._one(statement_id, text, channel, language, kind=kind, title=title, entry=entry)
                problems += found
                if rendering is not None:
                    out[f"{channel}#{language}"] = rendering
        if problems:
            raise ChannelCheckFailed("; ".join(p["message"] for p in problems), details=problems)
        return out

    def render_delivery(self, statement: dict[str, Any], delivery: dict[str, Any]) -> dict[str, Any]:
        """The rendering one delivery publishes, from the version it was created for."""
        version = next(v for v in statement["versions"] if v["version"] == delivery["version"])
        channel, language = delivery["channel"], delivery["language"]
        if language not in version["text"]:
            raise ChannelCheckFailed(f"{channel} ({language}): version {version['version']} has no {language} text")
        rendering, problems = self._one(statement["id"], version["text"], channel, language,
                                        kind=statement.get("kind", "statement"), title=version.get("title"),
                                        entry=statement.get("qa_entry"))
        if rendering is None or problems:
            raise ChannelCheckFailed("; ".join(p["message"] for p in problems), details=problems)
        return rendering
