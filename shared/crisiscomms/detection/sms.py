"""One-SMS alert texts: a split SMS arrives late or out of order, so an alert always fits one.

One SMS holds 160 GSM-7 septets (GSM 03.38 basic set; an extension-table character costs two,
escape plus character) or, as soon as any other character appears, 70 UCS-2 code units (a
character outside the Basic Multilingual Plane, such as most emoji, costs two).

The alert's leading narrative is named only when the message still fits one SMS with it (without
the acknowledge hint if need be); nothing else is cut to make room. It is named in English when
the rest of the message is GSM-7 (so the 160-septet limit holds), in Chinese otherwise (the
message is UCS-2 anyway, and the Chinese name takes fewer units).

A topic named in Chinese makes the message UCS-2, 70 units, where its key figure alone rarely fits:
when the topic has another name in GSM-7 ("Harbor Bank" beside 港湾银行), that name is used before
anything is cut, so the SMS still says which bank, what was measured and the narrative.
`compose_sms` also gives the name it chose, so an alert's later SMS (a higher level, the escalation)
name the bank as its last one did, even where the Chinese name would fit a shorter text.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from crisiscomms.detection.levels import Level

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
GSM7_LIMIT = 160
UCS2_LIMIT = 70
ACK_HINT = " Ack in the desk API."
ELLIPSIS = "..."  # GSM-7, so shortening never switches a text to UCS-2
NARRATIVE_LABEL = {"en": " Narrative: {}.", "zh": " 焦点：{}。"}


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def sms_segments_limit(text: str) -> int:
    """The most units one SMS holds for this text's encoding."""
    return GSM7_LIMIT if is_gsm7(text) else UCS2_LIMIT


def sms_length(text: str) -> int:
    """Units the text takes in its encoding: septets for GSM-7, UTF-16 code units for UCS-2."""
    if is_gsm7(text):
        return sum(2 if c in GSM7_EXTENSION else 1 for c in text)
    return len(text.encode("utf-16-le")) // 2


def fits_one_sms(text: str) -> bool:
    return sms_length(text) <= sms_segments_limit(text)


def _cut(text: str, keep: int) -> str:
    """The first `keep` characters marked as cut; all of it when nothing is cut, nothing at 0."""
    if keep >= len(text):
        return text
    return text[:keep].rstrip() + ELLIPSIS if keep else ""


def _longest_fit(text: str, make: Callable[[str], str]) -> str | None:
    """The message `make` builds from the longest cut of `text` that fits one SMS, else None.

    Bisection is sound because a shorter cut never takes more units: within one encoding the
    count only drops, and losing the last non-GSM character raises the limit from 70 to 160.
    """
    if fits_one_sms(message := make(text)):
        return message
    if not fits_one_sms(make("")):
        return None
    low, high = 0, len(text) - 1
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if fits_one_sms(make(_cut(text, mid))) else (low, mid - 1)
    return make(_cut(text, low))


def _compose(level: str, topic: str, figure: str, alert_id: str, hint: str, story: str = "") -> str:
    subject = f"{level} {topic}" if topic else level
    body = f": {figure}." if figure else "."
    return f"{subject}{body}{story} Alert {alert_id}.{hint}"


def _story(narrative: Mapping[str, str], english: bool) -> str:
    """The narrative's clause: English in a GSM-7 message when its name is GSM-7 too, else Chinese."""
    en, zh = " ".join(str(narrative.get("en") or "").split()), " ".join(str(narrative.get("zh") or "").split())
    if en and ((english and is_gsm7(en)) or not zh):
        return NARRATIVE_LABEL["en"].format(en)
    return NARRATIVE_LABEL["zh"].format(zh) if zh else ""


def _uncut(name: str, topic: str, figure: str, alert_id: str, narrative: Mapping[str, str] | None) -> str | None:
    """The message with nothing cut, the first that fits of: with the narrative and the hint, the narrative
    alone, the hint alone, neither; None if none fits."""
    full = _compose(name, topic, figure, alert_id, ACK_HINT)
    story = _story(narrative, english=is_gsm7(full)) if narrative else ""
    tries = [(ACK_HINT, story), ("", story)] if story else []
    for hint, told in [*tries, (ACK_HINT, ""), ("", "")]:
        if fits_one_sms(message := _compose(name, topic, figure, alert_id, hint, told)):
            return message
    return None


def sms_text(level: Level | str, topic_name: str, key_figure: str, alert_id: str, *,
             narrative: Mapping[str, str] | None = None, other_names: Sequence[str] = ()) -> str:
    """The alert SMS, always one message (`compose_sms`'s text)."""
    return compose_sms(level, topic_name, key_figure, alert_id, narrative=narrative, other_names=other_names)[0]


def compose_sms(level: Level | str, topic_name: str, key_figure: str, alert_id: str, *,
                narrative: Mapping[str, str] | None = None, other_names: Sequence[str] = ()) -> tuple[str, str]:
    """The alert SMS, always one message, and the name it was composed from (before any cut).

    Preference: everything, the narrative (`{"en": name, "zh": name}`) included; then without the
    acknowledge hint; then without the narrative (with the hint, then without); then the same with the
    topic's first GSM-7 name of `other_names` when `topic_name` is not GSM-7; then that name (or the
    topic name) shortened (down to nothing); then the key figure shortened. Level and alert id are
    never cut: if they alone cannot fit, the alert id is unusable and ValueError says so.
    """
    name = level.name if isinstance(level, Level) else str(level).upper()
    topic, figure = " ".join(topic_name.split()), " ".join(key_figure.split())
    if (message := _uncut(name, topic, figure, alert_id, narrative)) is not None:
        return message, topic
    if not is_gsm7(topic):
        plain = next((n for n in (" ".join(o.split()) for o in other_names) if n and is_gsm7(n)), None)
        if plain is not None:
            if (message := _uncut(name, plain, figure, alert_id, narrative)) is not None:
                return message, plain
            topic = plain  # cut below, as the name that leaves the most room
    shorter: list[tuple[str, Callable[[str], str]]] = [
        (topic, lambda t: _compose(name, t, figure, alert_id, "")),
        (figure, lambda f: _compose(name, "", f, alert_id, "")),
    ]
    for text, make in shorter:
        if (message := _longest_fit(text, make)) is not None:
            return message, topic
    raise ValueError(f"level and alert id alone exceed one SMS: {alert_id!r}")
