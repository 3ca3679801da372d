"""Replies to the people in the inbox: from an approved template by one author, or as free text by two.

    template reply  {template, values, language?}   the approved reply template filled with values
                                                    that pass their placeholder rules: APPROVED at once
    free reply      {text, language?}               any other text: AWAITING_APPROVAL until an
                                                    approver who is not the author approves that exact
                                                    text (`approve`), then APPROVED

While any topic of the conversation is at CRISIS and the watch configuration's
`inbox.approve_every_reply_at_crisis` is on (the default), a template reply waits for `approve`
like a free one. The topic's level is the Detector's (its state item), read through a function the
wiring passes in; if it cannot be read the reply waits too.

Each platform's length rule for a reply is applied to the text before it can be approved (at
drafting, and again at approval). The counting functions are the statements' (passed in by the
wiring as `counters`, by name); the limits for replies are here (REPLY_LIMITS).

A reply longer than its platform allows is cut and links to the Q&A page entry answering it
(`cut_with_link`): the entry the reply names (`qa_entry`), else the one its template names, else
the newest published entry for the template's situation (found by the statements' `Desk.qa_link`,
passed in by the wiring as `qa_link`). The text is cut at the end of a sentence, a clause or a word
where one is near, followed by "…" (none after a full stop), a space and the entry's address in the
reply's language, so that the whole, link included, passes the length rule (X counts the link as 23,
Mastodon as 23, Weibo, Bluesky, WeChat and Douyin in full). The reply records the link (`qa_link`:
entry, statement, language, url and the hash of the uncut text); it is then approved like any reply:
a template reply by its one author (the cut text is a start of the approved wording and the link is
to an approved, published answer), a free reply by two people, who approve the cut text. A named
entry that is not published is refused (422); with nothing to link to, the length rule refuses the
reply as before.

An APPROVED reply is queued for the Publisher: `{"kind": "reply", "reply_id": <id>, "generation": 0}`
on the delivery queue; it goes to the conversation's platform and post (`target`, a ReplyTarget).
Every move is conditional on the reply's state and version and is recorded in the audit chain in
the same transaction.

    AWAITING_APPROVAL --approve--> APPROVED --(Publisher)--> SENDING -> SENT | RETRYING | FAILED | UNKNOWN
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator

from crisiscomms.aws.reply_store import ReplyRepository
from crisiscomms.errors import (
    ChannelCheckFailed,
    ConfigurationError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
)
from crisiscomms.handover import hand_over, request_id
from crisiscomms.identity import APPROVER, AUTHOR, Identity
from crisiscomms.inbox.templates import (
    REQUEST,
    TEMPLATE_ID_PATTERN,
    TEMPLATE_READERS,
    TemplateLibrary,
    VisibleText,
)
from crisiscomms.inbox.conversations import conversation_of
from crisiscomms.models.audit import AuditEntry
from crisiscomms.models.inbox import QA_ENTRY_PATTERN, ReplyTarget, conversation_id, conversation_pk
from crisiscomms.models.languages import PublishedLanguage, preferred_language, published_language
from crisiscomms.observability import count, logger

REPLY_ID_PATTERN = r"^rp-[0-9a-f]{16}$"
REPLY_READERS = TEMPLATE_READERS
MAX_REPLY_CHARS = 2_000
CLOSED_CONVERSATION = ("CLOSED", "IGNORED")
# A reply still on its way: the same request again (after a 503) resumes it rather than making a second one.
UNSENT_REPLY_STATES = ("AWAITING_APPROVAL", "APPROVED", "SENDING", "RETRYING")
MESSAGE_KIND = "reply"


# --- the per-platform length rules for replies ---------------------------------------------------

@dataclass(frozen=True)
class ReplyLimit:
    """One thing a platform counts on a reply: `counter` names a counting function, `limit` is the
    largest count accepted."""

    counter: str
    limit: int
    unit: str
    source: str


# Counters by name; the wiring maps each to crisiscomms.statements.channel_rules' function.
COUNTERS = ("x_weighted", "weibo", "mastodon", "graphemes", "utf8", "utf16")
Counters = Mapping[str, Callable[[str], int]]

REPLY_LIMITS: dict[str, tuple[ReplyLimit, ...]] = {
    "x": (ReplyLimit("x_weighted", 280, "weighted characters",
                     "twitter-text config v3 maxWeightedTweetLength; a reply is a post"),),
    "weibo": (ReplyLimit("weibo", 280, "half-width units (140 Chinese characters)",
                         "comments/create and comments/reply: 内容不超过140个汉字"),),
    "mastodon": (ReplyLimit("mastodon", 500, "characters",
                            "StatusLengthValidator, the default max_characters (an instance may set another)"),),
    "bluesky": (ReplyLimit("graphemes", 300, "graphemes", "lexicon app.bsky.feed.post: text maxGraphemes"),
                ReplyLimit("utf8", 3000, "UTF-8 bytes", "lexicon app.bsky.feed.post: text maxLength")),
    # Neither API documents a limit for the reply's content; these are the apps' comment-box limits as
    # reported (WeChat article comments 600 characters; Douyin comments 100), the stricter reading.
    "wechat": (ReplyLimit("utf16", 600, "characters", "comment/reply/add (content): the comment box's 600, assumed"),),
    "douyin": (ReplyLimit("utf16", 100, "characters", "video/comment/reply (content): the comment box's 100, assumed"),),
    # Reddit counts code points; UTF-16 units count an emoji twice, the stricter reading. Reddit counts the
    # Markdown escapes the adapter adds too: a text this long full of marks may still be refused (FAILED).
    "reddit": (ReplyLimit("utf16", 10_000, "characters", "api/comment (text): TOO_LONG beyond 10,000"),),
}


def length_problems(platform: str, text: str, counters: Counters) -> list[dict[str, Any]]:
    """Every length rule of `platform` that `text` breaks, one entry each (empty: the text fits)."""
    problems = []
    for rule in REPLY_LIMITS.get(platform, ()):
        counter = counters.get(rule.counter)
        if counter is None:
            raise ConfigurationError(f"no counting function {rule.counter!r} for {platform} replies")
        length = counter(text)
        if length > rule.limit:
            problems.append({"field": "text", "platform": platform, "length": length, "limit": rule.limit,
                             "unit": rule.unit, "reason": f"{length} {rule.unit}, over {platform}'s limit {rule.limit}"})
    return problems


def check_length(platform: str, text: str, counters: Counters) -> None:
    problems = length_problems(platform, text, counters)
    if problems:
        raise too_long(problems)


def too_long(problems: list[dict[str, Any]], hint: str = "") -> ChannelCheckFailed:
    """The refusal of a reply breaking these length rules; `hint` says what would let it through."""
    return ChannelCheckFailed("the reply is too long for " + "; ".join(
        f"{p['platform']}: {p['length']} {p['unit']}, limit {p['limit']}" for p in problems) + hint, details=problems)


# --- cutting a reply and linking to the Q&A entry answering it -----------------------------------

ELLIPSIS = "…"
_SENTENCE_END = frozenset("。！？…!?.")
_CLAUSE_END = frozenset("，、；：,;:")
_LINK_IN_TEXT = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)


def _joins_previous(ch: str) -> bool:
    """A character that belongs to the one before it (marks, joiners, variation selectors, skin tones, tags)."""
    code = ord(ch)
    return (unicodedata.category(ch) in ("Mn", "Me", "Mc") or code in (0x200C, 0x200D) or 0xFE00 <= code <= 0xFE0F
            or 0xE0100 <= code <= 0xE01EF or 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F)


def cut_points(text: str) -> list[int]:
    """Where `text` may be cut (0 < i < len): never inside a link, a character with its marks, a ZWJ
    sequence or a flag (a pair of regional indicators)."""
    inside = [False] * (len(text) + 1)
    for link in _LINK_IN_TEXT.finditer(text):
        for i in range(link.start() + 1, link.end()):
            inside[i] = True
    points, flags = [], 0
    for i in range(1, len(text)):
        before, after = text[i - 1], text[i]
        flags = flags + 1 if 0x1F1E6 <= ord(before) <= 0x1F1FF else 0
        if inside[i] or _joins_previous(after) or ord(before) == 0x200D or (flags % 2 and 0x1F1E6 <= ord(after) <= 0x1F1FF):
            continue
        points.append(i)
    return points


def _with_link(text: str, cut: int, url: str) -> str:
    head = text[:cut].rstrip()
    head = head.rstrip("".join(_CLAUSE_END) + " ") or head
    return f"{head}{'' if head[-1:] in _SENTENCE_END else ELLIPSIS} {url}"


def _ends_sentence(text: str, i: int) -> bool:
    return text[i - 1] in _SENTENCE_END and (not text[i - 1].isascii() or text[i].isspace())


def cut_with_link(text: str, url: str, fits: Callable[[str], bool]) -> str | None:
    """The longest start of `text` that, followed by "…" (none after a full stop), a space and `url`,
    still `fits`: cut at the end of a sentence, else of a clause, else between words, when that keeps
    at least half (a sentence), 60 % (a clause) or 70 % (a word) of what fits. None when no start of
    the text fits beside the link."""
    points = cut_points(text)
    low, high, best = 0, len(points) - 1, -1
    while low <= high:  # the count grows with the cut; every answer is checked with `fits` itself
        middle = (low + high) // 2
        if fits(_with_link(text, points[middle], url)):
            best, low = middle, middle + 1
        else:
            high = middle - 1
    if best < 0:
        return None
    longest = points[best]
    for share, nice in ((0.5, _ends_sentence), (0.6, lambda t, i: t[i - 1] in _CLAUSE_END),
                        (0.7, lambda t, i: t[i].isspace() and not t[i - 1].isspace())):
        for i in reversed(points[:best + 1]):
            if i < longest * share:
                break
            if nice(text, i) and fits(candidate := _with_link(text, i, url)):
                return candidate
    return _with_link(text, longest, url)


def reply_text_hash(text: str) -> str:
    """SHA-256 of the reply's text as UTF-8: what an approval is bound to and the Publisher checks."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- requests ------------------------------------------------------------------------------------

ValueName = Annotated[str, Field(min_length=1, max_length=40)]
Value = Annotated[str, Field(max_length=1000)]


class ReplyRequest(BaseModel):
    """Either a template with values (`template`, `values`) or free text (`text`); `language`
    defaults to the conversation's when the template has it."""

    model_config = REQUEST

    template: Annotated[str, Field(pattern=TEMPLATE_ID_PATTERN)] | None = None
    values: Annotated[dict[ValueName, Value], Field(max_length=20)] | None = None
    text: Annotated[str, Field(min_length=1, max_length=MAX_REPLY_CHARS), VisibleText] | None = None
    language: PublishedLanguage | None = None
    qa_entry: Annotated[str, Field(pattern=QA_ENTRY_PATTERN)] | None = Field(
        default=None, description="the published Q&A entry to link to when the reply is too long for its platform "
                                  "(default: the template's, else the newest for the template's situation)")

    @model_validator(mode="after")
    def _one_form(self) -> ReplyRequest:
        if self.text is not None and (self.template is not None or self.values is not None):
            raise ValueError("give either {template, values} or {text}, not both")
        if self.text is None and self.template is None:
            raise ValueError("give either {template, values} or {text}")
        if self.values is not None and self.template is None:
            raise ValueError("values belong to a template: give template too")
        return self


# --- use cases -----------------------------------------------------------------------------------

_HIDDEN = {"pk", "sk", "queue"}


def public_reply(reply: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in reply.items() if k not in _HIDDEN}
    out["conversation_id"] = conversation_id(reply["post_key"])
    return out


def _language_of(conversation: Mapping[str, Any]) -> str | None:
    """The published language the person wrote in (Traditional and Simplified Chinese apart), or None."""
    return published_language(conversation.get("language"))


def _guess_language(text: str) -> str:
    """The published language of a free reply the desk wrote (its script told apart as the scoring tells a
    post's); English for anything else."""
    from crisiscomms.scoring import detect_language  # only here: the rest of the API never scores a text

    return published_language(detect_language(text)) or "en"


def reply_message(reply_id: str, generation: int = 0) -> dict[str, Any]:
    """The delivery-queue message that hands an APPROVED reply to the Publisher."""
    return {"kind": MESSAGE_KIND, "reply_id": reply_id, "generation": int(generation)}


class ReplyDesk:
    """Drafting, approving and reading replies; `templates` is the reply library."""

    def __init__(self, repo: ReplyRepository, templates: TemplateLibrary, *, clock: Callable[[], datetime],
                 enqueue: Callable[[list[dict[str, Any]]], list[str]], topic_level: Callable[[str], str | None],
                 approve_every_reply_at_crisis: Callable[[], bool], counters: Counters,
                 qa_link: Callable[[str | None, str | None, str], Mapping[str, str] | None] | None = None,
                 open_for: Callable[[Identity, str], None] | None = None) -> None:
        self._repo = repo
        # (person, post key): open the conversation of a post triage left out, as that person answers it
        # (crisiscomms.inbox.opening.open_for_person)
        self._open_for = open_for
        self.templates = templates
        self._clock = clock
        self._enqueue = enqueue
        self._topic_level = topic_level
        self._approve_at_crisis = approve_every_reply_at_crisis
        self._counters = counters
        # (entry or None, situation or None, language) -> {entry, statement_id, language, url} of a published
        # Q&A entry, or None: the statements' Desk.qa_link.
        self._qa_link = qa_link

    # --- helpers --------------------------------------------------------------------------------

    def _entry(self, who: Identity, role: str, action: str, reply_id: str, **fields: Any) -> AuditEntry:
        return AuditEntry(actor=who.user, role=role, action=action, target=f"reply#{reply_id}", at=self._clock(), **fields)

    def _conversation(self, post_key: str) -> dict[str, Any]:
        conversation = self._repo.conversation(post_key)
        if conversation is None:
            raise NotFound(f"no conversation {conversation_id(post_key)!r}")
        return conversation

    def _conversation_to_answer(self, who: Identity, post_key: str) -> dict[str, Any]:
        """The post's conversation; for a stored post triage left out of the inbox (a complaint that does not
        address the bank), the one this person opens now by answering it."""
        return conversation_of(who, post_key, self._repo.conversation, self._open_for)

    def _load(self, reply_id: str) -> dict[str, Any]:
        reply = self._repo.reply(reply_id)
        if reply is None:
            raise NotFound(f"no reply {reply_id!r}")
        return reply

    def _gate(self, conversation: Mapping[str, Any]) -> tuple[str | None, list[str]]:
        """Why a template reply must wait for approval ("crisis", "level_unknown") or None, and the
        conversation's topics at CRISIS."""
        topics = list(dict.fromkeys(conversation.get("topics") or ([conversation["topic"]] if conversation.get("topic") else [])))
        at_crisis: list[str] = []
        unknown = False
        for topic in topics:
            try:
                level = self._topic_level(topic)
            except Exception as exc:  # noqa: BLE001 - whatever failed, the safe answer is to ask for approval
                logger.error("could not read a topic's level; the reply waits for approval",
                             extra={"topic": topic, "error": str(exc)})
                unknown = True
                continue
            if str(level or "").upper() == "CRISIS":
                at_crisis.append(topic)
        if not (at_crisis or unknown):
            return None, []
        try:
            switch = bool(self._approve_at_crisis())
        except Exception as exc:  # noqa: BLE001 - the switch is on by default
            logger.warning("could not read inbox.approve_every_reply_at_crisis; taking its default (on)",
                           extra={"error": str(exc)})
            switch = True
        if not switch:
            return None, at_crisis
        return ("crisis" if at_crisis else "level_unknown"), at_crisis

    def _fit(self, platform: str, text: str, language: str, *, entry: str | None, entry_field: str,
             situation: str | None) -> tuple[str, dict[str, Any] | None]:
        """The text to send: as written when it fits its platform, else cut and linked to the Q&A entry
        answering it (see the module's docstring). The length rule is checked on what comes back."""
        problems = length_problems(platform, text, self._counters)
        if not problems:
            return text, None
        if entry is None and situation is None:
            raise too_long(problems, "; name a published Q&A entry (qa_entry) to cut the reply and link to the full answer")
        link = self._qa_link(entry, None if entry else situation, language) if self._qa_link is not None else None
        if link is None and entry is not None:
            raise InvalidInput(f"Q&A entry {entry} is not published: a reply too long for {platform} links to a "
                               f"published entry", details=[{"field": entry_field, "reason": f"{entry} is not a "
                                                                                               "published Q&A entry"}])
        if link is None:
            raise too_long(problems, f"; no published Q&A entry answers {situation} to link to: publish one naming "
                                     "it, or name one (qa_entry)")
        cut = cut_with_link(text, link["url"], lambda t: not length_problems(platform, t, self._counters))
        if cut is None:
            raise too_long(problems, f"; not even the link to {link['url']} fits")
        count("RepliesCutToQa")
        return cut, {"entry": link["entry"], "statement_id": link["statement_id"], "language": link["language"],
                     "url": link["url"], "uncut_text_hash": reply_text_hash(text)}

    def _queue(self, reply: Mapping[str, Any]) -> None:
        """Hand an APPROVED reply to the Publisher (crisiscomms.handover): the same request again queues it
        (`create` finds the reply it made, `approve` on an APPROVED reply queues it again), and the Publisher
        sends a reply once whatever number of messages name it."""
        hand_over(lambda: self._enqueue([reply_message(reply["id"], int(reply.get("generation", 0)))]),
                  what=f"approved reply {reply['id']}", to="Publisher", metric="RepliesNotQueued")
        count("RepliesQueued")

    # --- use cases ------------------------------------------------------------------------------

    def create(self, who: Identity, post_key: str, request: ReplyRequest) -> dict[str, Any]:
        who.require(AUTHOR)
        conversation = self._conversation_to_answer(who, post_key)
        if conversation.get("state") in CLOSED_CONVERSATION:
            raise Conflict(f"the conversation is {conversation['state']}; it takes no more replies")
        platform = str(conversation["platform"])
        if platform not in REPLY_LIMITS:
            raise Conflict(f"replies to {platform} posts are not supported; answer with a public statement")
        template_fields: dict[str, Any] = {}
        outside_rules: list[dict[str, str]] = []     # values a second person must see (the template's rules do not cover them)
        entry, entry_field, situation = request.qa_entry, "qa_entry", None
        if request.template is not None:
            try:
                template = self.templates.approved(request.template, kind="reply")
            except NotFound as exc:
                raise InvalidInput(str(exc), details=[{"field": "template", "reason": "no such template"}]) from exc
            if request.language is not None:
                language: str = request.language  # a language the template lacks is refused by fill, naming it
            else:
                language = preferred_language(template.languages, _language_of(conversation))
            values = dict(request.values or {})
            text = template.fill(values, language, outside_rules)
            template_fields = {"template_id": template.id, "template_version": template.version,
                               "template_text_hash": template.text_hash, "template_rules_hash": template.rules_hash,
                               "values": template.used_values(values, language)}
            if entry is None and template.qa_entry:
                entry, entry_field = template.qa_entry, "template"
            situation = template.situation
        else:
            text = str(request.text)
            language = request.language or _language_of(conversation) or _guess_language(text)
        text, qa_link = self._fit(platform, text, language, entry=entry, entry_field=entry_field, situation=situation)
        check_length(platform, text, self._counters)
        if template_fields:
            wait, at_crisis = self._gate(conversation)
            if outside_rules:
                wait = "values_outside_rules"
        else:
            wait, at_crisis = "free_text", []
        state = "AWAITING_APPROVAL" if wait else "APPROVED"
        now = self._clock().isoformat()
        rid, earlier = self._reply_id(post_key, conversation, who.user, reply_text_hash(text))
        if earlier is not None:     # this request again (after a 503): the reply it made, handed over now
            if earlier["state"] == "APPROVED":
                self._queue(earlier)
            return public_reply(earlier)
        target = ReplyTarget(platform=platform, post_key=post_key, native_id=str(conversation["native_id"]),
                             author=str(conversation.get("author") or ""),
                             ref={str(k): str(v) for k, v in (conversation.get("reply_ref") or {}).items()})
        reply = {
            "id": rid, "conversation": conversation_pk(post_key), "post_key": post_key,
            "topic": conversation.get("topic"), "platform": platform, "target": target.model_dump(),
            "language": language, "text": text, "text_hash": reply_text_hash(text), **template_fields, "qa_link": qa_link,
            "author": who.user, "state": state, "approval_required": wait, "crisis_topics": at_crisis or None,
            "values_outside_rules": outside_rules or None, "approved_at": now if state == "APPROVED" else None,
            "attempts": 0, "generation": 0, "created_at": now, "updated_at": now, "version": 1,
        }
        after = {"state": state, "post_key": post_key, "platform": platform, "language": language,
                 "template_id": template_fields.get("template_id"), "template_version": template_fields.get("template_version"),
                 "approval_required": wait, "crisis_topics": at_crisis or None,
                 "values_outside_rules": outside_rules or None, "qa_entry": qa_link["entry"] if qa_link else None}
        try:
            self._repo.create_reply(reply, self._entry(
                who, AUTHOR, "reply_from_template" if state == "APPROVED" else "reply_draft", rid,
                after=after, text_hash=reply["text_hash"]))
        except Conflict:
            # the same request, run at the same time: the one that wrote it stands
            raise Conflict(f"reply {rid} is being made by the same request; read it, or send the request again") from None
        count("RepliesDrafted")
        if state == "APPROVED":
            self._queue(reply)
        return public_reply({k: v for k, v in reply.items() if v is not None})

    def _reply_id(self, post_key: str, conversation: Mapping[str, Any], author: str,
                  text_hash: str) -> tuple[str, dict[str, Any] | None]:
        """The id of this person's reply with this text to the conversation as it stands, and the reply itself
        when it was already made and is still on its way (the request sent again); a final one (failed,
        withdrawn) leaves the next reply a new id. A sent reply moves the conversation on, and its id with it."""
        rid = request_id("rp-", post_key, conversation.get("version"), author, text_hash)
        earlier = self._repo.reply(rid)
        if earlier is None:
            return rid, None
        if earlier.get("state") in UNSENT_REPLY_STATES:
            return rid, earlier
        return f"rp-{uuid.uuid4().hex[:16]}", None

    def approve(self, who: Identity, reply_id: str) -> dict[str, Any]:
        """Approve the exact text of a reply awaiting approval (two-person rule), then queue it. On a
        reply already APPROVED (not yet taken by the Publisher) it queues it again: the Publisher
        sends a reply once whatever number of messages name it."""
        who.require(APPROVER)
        reply = self._load(reply_id)
        if reply["state"] == "APPROVED":
            self._queue(reply)
            return public_reply(reply)
        if reply["state"] != "AWAITING_APPROVAL":
            raise Conflict(f"a {reply['state']} reply cannot be approved")
        if who.user == reply["author"]:
            raise Forbidden("the approver must not be the author of the reply (two-person rule)")
        if reply_text_hash(reply["text"]) != reply["text_hash"]:
            raise Conflict(f"reply {reply_id}: the stored text does not hash to its recorded hash; draft it again")
        conversation = self._conversation(reply["post_key"])
        if conversation.get("state") in CLOSED_CONVERSATION:
            raise Conflict(f"the conversation is {conversation['state']}; it takes no more replies")
        check_length(reply["platform"], reply["text"], self._counters)
        now = self._clock().isoformat()
        updates = {"state": "APPROVED", "approver": who.user, "approved_at": now, "updated_at": now}
        moved = self._repo.move_reply(reply, expect=("AWAITING_APPROVAL",), updates=updates, entry=self._entry(
            who, APPROVER, "reply_approve", reply_id, before={"state": "AWAITING_APPROVAL"},
            after={"state": "APPROVED", "approval_required": reply.get("approval_required")}, text_hash=reply["text_hash"]))
        if not moved:
            raise Conflict(f"reply {reply_id} changed while this request was being handled; read it again")
        approved = {**reply, **updates, "version": int(reply["version"]) + 1}
        self._queue(approved)
        return public_reply(approved)

    def get(self, who: Identity, reply_id: str) -> dict[str, Any]:
        who.require(*REPLY_READERS)
        return public_reply(self._load(reply_id))

    def list_for(self, who: Identity, post_key: str) -> dict[str, Any]:
        who.require(*REPLY_READERS)
        self._conversation(post_key)
        return {"conversation_id": conversation_id(post_key),
                "replies": [public_reply(r) for r in self._repo.replies_for(post_key)]}
