"""Turn an approved statement into the exact text each channel publishes, and measure it.

The rendering is what the desk approves: its `sha256` is recorded with the approval and the
adapter publishes exactly that text. So rendering never truncates, never "fixes" a text that is
too long; it reports `ok=False` and the desk shortens the statement itself.
"""
from __future__ import annotations

import hashlib
import html
import json
import unicodedata
from dataclasses import dataclass
from typing import Literal, NotRequired, TypedDict

from crisiscomms.channels.base import Channel
from crisiscomms.channels.limits import ChannelRule, ChannelSettings, channel_rules, link_spans

__all__ = ["Count", "Kind", "Problem", "Rendering", "StatementText", "check_all", "content_sha256", "render"]

Kind = Literal["statement", "correction", "update"]


class StatementText(TypedDict):
    """One language of a statement: the full text, the short form, and optionally a headline."""
    full: str
    short: str
    title: NotRequired[str]


# Markers a reader sees first, so a correction can never be mistaken for the original.
_MARKERS: dict[str, dict[Kind, str]] = {
    "zh": {"correction": "更正：", "update": "更新："},
    "en": {"correction": "Correction: ", "update": "Update: "},
}
# Headlines for the titled channels when the desk gave none.
_DEFAULT_TITLES: dict[str, dict[Kind, str]] = {
    "zh": {"statement": "声明", "correction": "更正声明", "update": "最新情况"},
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


@dataclass(frozen=True)
class Problem:
    """Why a statement cannot go out as it is on one channel in one language."""
    channel: Channel
    language: str
    length: int | None
    limit: int | None
    unit: str | None
    message: str


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


def _primary(language: str) -> str:
    return language.split("-")[0].split("_")[0].lower()


def _marked(text: str, language: str, kind: Kind) -> str:
    """Prefix the correction/update marker unless the desk already wrote it."""
    if kind == "statement":
        return text
    markers = _MARKERS.get(_primary(language))
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
    defaults = _DEFAULT_TITLES.get(_primary(language))
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


def _message(channel: str, language: str, count: Count) -> str:
    where = "" if count.field == "text" else f"{count.field} "
    return f"{channel} ({language}): {where}{count.length} {count.unit}, limit {count.limit}"


def check_all(texts_by_language: dict[str, StatementText], channels: list[Channel] | tuple[Channel, ...], *,
              newsroom_url: str | None, kind: Kind = "statement",
              settings: ChannelSettings | None = None) -> list[Problem]:
    """Every problem with publishing this statement on these channels, in channel order.

    Each channel is checked in each language it publishes (ChannelRule.languages, matched on the
    primary subtag, so "zh-HK" text serves "zh"); a language the channel needs but the statement
    lacks is a problem, as is anything render() refuses.
    """
    rules = channel_rules(settings)
    problems: list[Problem] = []
    for channel in channels:
        if channel not in rules:
            problems.append(Problem(channel, "", None, None, None, f"{channel}: unknown channel"))
            continue
        for needed in rules[channel].languages:
            present = [lang for lang in texts_by_language if _primary(lang) == needed]
            if not present:
                problems.append(Problem(channel, needed, None, None, None,
                                        f"{channel} ({needed}): the statement has no {needed} text"))
            for language in present:
                try:
                    rendering = render(texts_by_language[language], channel, language=language,
                                       newsroom_url=newsroom_url, kind=kind, settings=settings)
                except ValueError as exc:
                    problems.append(Problem(channel, language, None, None, None, f"{channel} ({language}): {exc}"))
                    continue
                problems.extend(
                    Problem(channel, language, c.length, c.limit, c.unit, _message(channel, language, c))
                    for c in rendering.counts if not c.ok
                )
    return problems
