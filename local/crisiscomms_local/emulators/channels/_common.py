"""What the channel emulators share: JSON answers, body parsing, bearer checks, text measures.

Each platform counts length its own way (weighted code points, graphemes, UTF-16 units) and
treats links specially, so the measures live here once and each emulator picks its rule.
"""
from __future__ import annotations

import json
import re
import unicodedata
from typing import Any
from urllib.parse import parse_qs

from ..base import Request, Response

# Good enough to find the links a statement carries (the newsroom URL); not a full URL grammar.
URL_RE = re.compile(r"https?://[^\s<>\"']+")

_ZWJ = "\u200d"
_EMOJI_MODIFIERS = range(0x1F3FB, 0x1F400)  # skin tones
_REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)


class BadBody(ValueError):
    """The request body is not the JSON object (or form) the endpoint expects."""


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A compact UTF-8 JSON answer, the way the platforms send them."""
    return Response(
        status=status,
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
    )


def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object; BadBody when it is missing, malformed or not an object."""
    try:
        value = json.loads(request.body.decode("utf-8")) if request.body else None
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadBody(f"body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise BadBody("body must be a JSON object")
    return value


def form_or_json_body(request: Request) -> dict[str, Any]:
    """Form-encoded or JSON parameters, as APIs that accept both (Mastodon, Telegram) do."""
    content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return json_body(request)
    try:
        pairs = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError as exc:
        raise BadBody("form body is not UTF-8") from exc
    return {name: values[0] for name, values in pairs.items()}


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer ...` header, None when absent or another scheme."""
    scheme, _, token = (request.header("Authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def grapheme_count(text: str) -> int:
    """User-perceived characters, approximating Unicode extended grapheme clusters.

    Combining marks, variation selectors, skin-tone modifiers and ZWJ-joined emoji extend the
    previous cluster; regional indicators pair into flags. Exact for the scripts statements use.
    """
    count = 0
    previous_zwj = False
    open_flag = False
    for char in text:
        code = ord(char)
        if previous_zwj:
            previous_zwj = False
            continue
        if char == _ZWJ:
            previous_zwj = count > 0
            continue
        if unicodedata.combining(char) or 0xFE00 <= code <= 0xFE0F or code in _EMOJI_MODIFIERS:
            if count:
                continue
        if code in _REGIONAL_INDICATORS:
            if open_flag:
                open_flag = False
                continue
            open_flag = True
        else:
            open_flag = False
        count += 1
    return count - _crlf_pairs(text)


def _crlf_pairs(text: str) -> int:
    """CR LF is a single grapheme cluster."""
    return text.count("\r\n")


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram measures message text in."""
    return len(text.encode("utf-16-le")) // 2


def replace_urls(text: str, replacement: str) -> str:
    """Every link swapped for `replacement` (platforms count or shorten links as a fixed size)."""
    return URL_RE.sub(replacement, text)
