"""The reply library (应对话术): approved wording per situation, in the published languages
(`zh`, `zh-Hant`, `en`: crisiscomms.models.languages).

A template is written once, approved like a statement and then filled in many times:

    kind "reply"    text {"zh": "...", "zh-Hant": "...", "en": "..."}    one reply under a person's post
    kind "holding"  text {"zh": {"full", "short"}, "en": {...}}          a holding statement's wording

Its text holds typed placeholders written `{name}` (a name of letters, digits and underscores, such
as handle, branch, time, hotline, reference, case or date; at most ten a template); each
placeholder the text uses is declared with a rule, a Python regular expression every value must
match in full (`re.fullmatch`) and a maximum length in characters. Any other brace in the text is
refused, so filling is a plain substitution and a value can never inject template syntax.

Approval is two-person and bound to what was read: the approver names the version, must not be
its author, and the approval records the SHA-256 of the version's text (`text_hash`) and of its
placeholder rules (`rules_hash`), canonical JSON each, and the Q&A entry a reply cut by a channel's
limit links to (`qa_entry`, optional; crisiscomms.inbox.replies). Editing makes a new version (DRAFT, the
approval withdrawn). A template is used only while its stored text and rules still hash to what
was approved (`approved_template`), so neither an edit nor a change behind the API's back can ride
on an old approval.

    DRAFT --approve--> APPROVED        DRAFT | APPROVED --reject--> REJECTED
    any state --edit--> DRAFT (version n+1)
"""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from crisiscomms.aws.reply_store import ReplyRepository
from crisiscomms.errors import Conflict, Forbidden, InvalidInput, NotFound
from crisiscomms.identity import APPROVER, AUDITOR, AUTHOR, ONCALL, Identity
from crisiscomms.models.audit import AuditEntry
from crisiscomms.models.inbox import QA_ENTRY_PATTERN, Situation, TemplateKind
from crisiscomms.models.languages import PUBLISHED_LANGUAGES, LanguageTexts

MAX_PLACEHOLDERS = 10
PLACEHOLDER_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,31}$"     # what `{name}` in a text can hold
# The rule, not the name, types a value: a desk names what its wording needs ({case}, {date}, {product}).
PlaceholderName = Annotated[str, Field(pattern=PLACEHOLDER_NAME_PATTERN)]
TemplateState = Literal["DRAFT", "APPROVED", "REJECTED"]

TEMPLATE_ID_PATTERN = r"^tp-[0-9a-f]{16}$"
MAX_REPLY_TEXT_CHARS = 2_000
MAX_FULL_CHARS = 20_000
MAX_SHORT_CHARS = 4_096
MAX_VALUE_CHARS = 200
MAX_PATTERN_CHARS = 200
MAX_VERSIONS = 50
# Who reads the library: the desk, the auditors, and on-call staff (it is the bank's approved wording).
TEMPLATE_READERS = (AUTHOR, APPROVER, AUDITOR, ONCALL)

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
REQUEST = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- text checks ---------------------------------------------------------------------------------

def _text_control(ch: str) -> bool:
    code = ord(ch)
    return (code < 0x20 and ch not in "\n\t") or 0x7F <= code <= 0x9F or ch in _BIDI_CONTROLS


def visible_text(value: str) -> str:
    """Refuse control characters (C0 other than newline and tab, DEL, C1), bidirectional overrides
    and isolates, and text made only of invisible characters: what an approver reads is what is sent."""
    bad = next((ch for ch in value if _text_control(ch)), None)
    if bad is not None:
        raise ValueError(f"must not contain the control character U+{ord(bad):04X}")
    if all(ch.isspace() or ch in _BLANK_LETTERS or unicodedata.category(ch) in ("Cf", "Zs", "Zl", "Zp", "Cc")
           for ch in value):
        raise ValueError("must not be blank or only invisible characters")
    return value


VisibleText = AfterValidator(visible_text)


def value_problem(value: str) -> str | None:
    """Why a placeholder value is refused before its rule is tried, or None: a value is one line of
    visible text, never template syntax (a brace) nor a control, format or separator character."""
    for ch in value:
        if ch in "{}":
            return "must not contain template syntax ('{' or '}')"
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") or ch in _BIDI_CONTROLS:
            return f"must not contain the control or format character U+{ord(ch):04X}"
    if not value.strip():
        return "must not be blank"
    return None


# --- requests ------------------------------------------------------------------------------------

class PlaceholderRule(BaseModel):
    """What a value must be: a full match of `pattern` (Python `re`), at most `max` characters."""

    model_config = REQUEST

    pattern: Annotated[str, Field(min_length=1, max_length=MAX_PATTERN_CHARS)]
    max: Annotated[int, Field(ge=1, le=MAX_VALUE_CHARS)]

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a Python regular expression: {exc}") from exc
        return pattern


ReplyLine = Annotated[str, Field(min_length=1, max_length=MAX_REPLY_TEXT_CHARS), VisibleText]


class ReplyTemplateText(LanguageTexts[ReplyLine]):
    """A reply template's wording in each language it is written in; at least one."""


class HoldingForm(BaseModel):
    """A holding statement's two forms, as a statement has them."""

    model_config = REQUEST

    full: Annotated[str, Field(min_length=1, max_length=MAX_FULL_CHARS), VisibleText]
    short: Annotated[str, Field(min_length=1, max_length=MAX_SHORT_CHARS), VisibleText]


class HoldingTemplateText(LanguageTexts[HoldingForm]):
    """A holding statement's two forms in each language it is written in."""


Placeholders = Annotated[dict[PlaceholderName, PlaceholderRule], Field(max_length=MAX_PLACEHOLDERS)]
Title = Annotated[str, Field(min_length=1, max_length=80), VisibleText]


class TemplateDraftRequest(BaseModel):
    """A new template: `text` is a reply's ({"zh": str}) or a holding statement's ({"zh": {full, short}})."""

    model_config = REQUEST

    kind: TemplateKind
    situation: Situation
    title: Title
    text: ReplyTemplateText | HoldingTemplateText
    placeholders: Placeholders = Field(default_factory=dict)
    qa_entry: Annotated[str, Field(pattern=QA_ENTRY_PATTERN)] | None = Field(
        default=None, description="the Q&A entry a reply cut by a channel's limit links to; "
                                  "without it, the newest published entry for the template's situation")


class TemplateEditRequest(BaseModel):
    """A new version: the text and the placeholder rules as a whole (the kind never changes)."""

    model_config = REQUEST

    text: ReplyTemplateText | HoldingTemplateText
    placeholders: Placeholders = Field(default_factory=dict)
    title: Title | None = None
    situation: Situation | None = None
    qa_entry: Annotated[str, Field(pattern=QA_ENTRY_PATTERN)] | None = Field(
        default=None, description="omitted: kept from the version before; null: none")


class TemplateApproveRequest(BaseModel):
    """The approver names the version they read, so a later edit cannot ride on their approval."""

    model_config = REQUEST

    version: Annotated[int, Field(ge=1, le=9999)]


class TemplateRejectRequest(BaseModel):
    model_config = REQUEST

    reason: Annotated[str, Field(min_length=1, max_length=2000), VisibleText]


# --- pure rules ----------------------------------------------------------------------------------

def canonical_hash(value: Any) -> str:
    """SHA-256 of canonical JSON (sorted keys, no spaces, UTF-8)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                          .encode("utf-8")).hexdigest()


def text_hash(text: Mapping[str, Any]) -> str:
    return canonical_hash(dict(text))


def rules_hash(placeholders: Mapping[str, Mapping[str, Any]]) -> str:
    return canonical_hash({name: {"pattern": rule["pattern"], "max": int(rule["max"])}
                           for name, rule in placeholders.items()})


def _strings(kind: str, text: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, string) for every string of a template's text: `text.zh`, or `text.zh.full` and `text.zh.short`."""
    if kind == "holding":
        return [(f"text.{lang}.{form}", forms[form]) for lang, forms in text.items() for form in ("full", "short")]
    return [(f"text.{lang}", value) for lang, value in text.items()]


def used_placeholders(string: str) -> list[str]:
    return _PLACEHOLDER.findall(string)


def template_problems(kind: str, text: Mapping[str, Any], placeholders: Mapping[str, Any]) -> list[dict[str, str]]:
    """Everything wrong with a template's text against its kind and declared placeholders, one entry a field."""
    problems: list[dict[str, str]] = []
    holding = all(isinstance(v, Mapping) for v in text.values())
    if holding != (kind == "holding"):
        wanted = '{"zh": {"full": ..., "short": ...}}' if kind == "holding" else '{"zh": "..."}'
        return [{"field": "text", "reason": f"a {kind} template's text has the form {wanted}"}]
    used: set[str] = set()
    for field, string in _strings(kind, text):
        names = used_placeholders(string)
        used.update(names)
        for name in dict.fromkeys(names):
            if name not in placeholders:
                problems.append({"field": field, "reason": f"unknown placeholder {{{name}}}; declare it in placeholders"})
        rest = _PLACEHOLDER.sub("", string)
        if "{" in rest or "}" in rest:
            problems.append({"field": field, "reason": "a brace that is not a placeholder: write placeholders as {name} "
                                                       "and no other braces"})
    for name in placeholders:
        if name not in used:
            problems.append({"field": f"placeholders.{name}", "reason": f"placeholder {{{name}}} is used in no text"})
    return problems


def check_values(placeholders: Mapping[str, Mapping[str, Any]], needed: list[str],
                 values: Mapping[str, Any], outside_rules: list[dict[str, str]] | None = None) -> dict[str, str]:
    """The values to substitute, each checked against its rule; InvalidInput names every bad one.

    Refused: a name the template does not declare, a placeholder the text uses without a value, a
    value that is not a string, holds a brace or a control character, is too long, or is not a full
    match of its pattern (tried only on values within the length limit).  With ``outside_rules`` a
    value that is only too long or off its pattern is kept and its problem listed there instead:
    a reply with such a value waits for a second person, who reads the exact text."""
    problems: list[dict[str, str]] = []
    for name in values:
        if name not in placeholders:
            problems.append({"field": f"values.{name}", "reason": f"unknown placeholder {name!r}: this template has "
                                                                  f"{', '.join(placeholders) or 'no placeholders'}"})
    for name in dict.fromkeys(needed):
        if name not in values:
            problems.append({"field": f"values.{name}", "reason": f"missing: the text uses {{{name}}}"})
    checked: dict[str, str] = {}
    for name, value in values.items():
        rule = placeholders.get(name)
        if rule is None:
            continue
        field = f"values.{name}"
        if not isinstance(value, str):
            problems.append({"field": field, "reason": "must be a string"})
            continue
        why = value_problem(value)
        if why:
            problems.append({"field": field, "reason": why})
            continue
        if len(value) > int(rule["max"]):
            outside = {"field": field, "reason": f"{len(value)} characters, over this placeholder's max {rule['max']}"}
        elif re.fullmatch(rule["pattern"], value) is None:
            outside = {"field": field, "reason": f"does not match the pattern {rule['pattern']!r}"}
        else:
            checked[name] = value
            continue
        if outside_rules is None:
            problems.append(outside)
        else:
            outside_rules.append(outside)
            checked[name] = value
    if problems:
        raise InvalidInput("placeholder values refused: " + "; ".join(f"{p['field']}: {p['reason']}" for p in problems),
                           details=problems)
    return checked


def substitute(string: str, values: Mapping[str, str]) -> str:
    """Each `{name}` replaced by its checked value, in one pass (a value is never read as syntax)."""
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], string)


@dataclass(frozen=True)
class ApprovedTemplate:
    """An approved version of a template, as approved: its text, rules and the hashes the approval
    is bound to. `fill` checks values against the rules and substitutes them."""

    id: str
    version: int
    kind: str
    situation: str
    title: str
    text: Mapping[str, Any]
    placeholders: Mapping[str, Mapping[str, Any]]
    text_hash: str
    rules_hash: str
    author: str
    approved_by: str
    approved_at: str
    qa_entry: str | None = None  # the Q&A entry a reply cut by a channel's limit links to

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(lang for lang in PUBLISHED_LANGUAGES if lang in self.text)

    def fill(self, values: Mapping[str, Any], language: str, outside_rules: list[dict[str, str]] | None = None) -> Any:
        """The text in `language` with `values` substituted: a string (reply) or {"full", "short"} (holding);
        ``outside_rules`` as check_values takes it."""
        if language not in self.text:
            raise InvalidInput(f"template {self.id} has no {language} text",
                               details=[{"field": "language", "reason": f"this template is in {', '.join(self.languages)}"}])
        text = self.text[language]
        strings = [text] if self.kind == "reply" else [text["full"], text["short"]]
        checked = check_values(self.placeholders, [n for s in strings for n in used_placeholders(s)], values,
                               outside_rules)
        if self.kind == "reply":
            return substitute(text, checked)
        return {form: substitute(text[form], checked) for form in ("full", "short")}

    def fill_all(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Every language's text with `values` substituted (a holding statement is published in all)."""
        needed = [n for _, s in _strings(self.kind, self.text) for n in used_placeholders(s)]
        check_values(self.placeholders, needed, values)
        return {lang: self.fill(values, lang) for lang in self.languages}

    def used_values(self, values: Mapping[str, str], language: str | None = None) -> dict[str, str]:
        """The values a language's text (or any text) uses: what a reply records."""
        strings = [s for field, s in _strings(self.kind, self.text) if language is None or field.startswith(f"text.{language}")]
        used = {n for s in strings for n in used_placeholders(s)}
        return {k: v for k, v in values.items() if k in used}


def approved_template(head: Mapping[str, Any], kind: str | None = None) -> ApprovedTemplate:
    """The template's approved version, checked: APPROVED, of `kind`, and its stored text and rules
    still hashing to what the approval recorded. Conflict (409) otherwise."""
    tid = head["id"]
    if kind is not None and head["kind"] != kind:
        raise Conflict(f"template {tid} is a {head['kind']} template, not a {kind} template")
    approval = head.get("approval")
    if head.get("state") != "APPROVED" or not approval:
        raise Conflict(f"template {tid} is {head.get('state')}; only an APPROVED template can be used")
    if approval.get("version") != head["current_version"]:
        raise Conflict(f"template {tid}: the approval is of version {approval.get('version')}, "
                       f"the current version is {head['current_version']}")
    now_text, now_rules = text_hash(head["text"]), rules_hash(head["placeholders"])
    if now_text != approval.get("text_hash") or now_text != head.get("text_hash"):
        raise Conflict(f"template {tid}: its text differs from the approved text; approve it again")
    if now_rules != approval.get("rules_hash") or now_rules != head.get("rules_hash"):
        raise Conflict(f"template {tid}: its placeholder rules differ from the approved rules; approve it again")
    if head.get("qa_entry") != approval.get("qa_entry"):
        raise Conflict(f"template {tid}: its Q&A entry differs from the approved one; approve it again")
    return ApprovedTemplate(
        id=tid, version=int(head["current_version"]), kind=head["kind"], situation=head["situation"],
        title=head.get("title", ""), text=head["text"], placeholders=head["placeholders"], text_hash=now_text,
        rules_hash=now_rules, author=head["author"], approved_by=approval["by"], approved_at=approval["at"],
        qa_entry=head.get("qa_entry"))


# --- use cases -----------------------------------------------------------------------------------

_HIDDEN = {"pk", "sk", "queue", "revision"}


def _public(head: Mapping[str, Any], versions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out = {k: v for k, v in head.items() if k not in _HIDDEN}
    if versions is not None:
        out["versions"] = [{k: v for k, v in x.items() if k not in _HIDDEN | {"text", "placeholders"}}
                           for x in sorted(versions, key=lambda v: v["version"])]
    return out


class TemplateLibrary:
    """The reply library's use cases: draft, edit, approve, reject, read, and `approved` for users."""

    def __init__(self, repo: ReplyRepository, *, clock: Callable[[], datetime]) -> None:
        self._repo = repo
        self._clock = clock

    def _entry(self, who: Identity, role: str, action: str, template_id: str, **fields: Any) -> AuditEntry:
        return AuditEntry(actor=who.user, role=role, action=action, target=f"template#{template_id}", at=self._clock(),
                          **fields)

    def _load(self, template_id: str) -> dict[str, Any]:
        head = self._repo.template(template_id)
        if head is None:
            raise NotFound(f"no template {template_id!r}")
        return head

    @staticmethod
    def _checked(kind: str, text: ReplyTemplateText | HoldingTemplateText,
                 placeholders: Mapping[str, PlaceholderRule]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        by_language = text.by_language()
        rules = {name: rule.model_dump() for name, rule in placeholders.items()}
        problems = template_problems(kind, by_language, rules)
        if problems:
            raise InvalidInput("the template's text and placeholders do not agree: "
                               + "; ".join(f"{p['field']}: {p['reason']}" for p in problems), details=problems)
        return by_language, rules

    def draft(self, who: Identity, request: TemplateDraftRequest) -> dict[str, Any]:
        who.require(AUTHOR)
        text, rules = self._checked(request.kind, request.text, request.placeholders)
        tid = f"tp-{uuid.uuid4().hex[:16]}"
        now = self._clock().isoformat()
        version = {"version": 1, "kind": request.kind, "situation": request.situation, "title": request.title,
                   "text": text, "placeholders": rules, "text_hash": text_hash(text), "rules_hash": rules_hash(rules),
                   "author": who.user, "created_at": now, "state": "DRAFT", "qa_entry": request.qa_entry}
        head = {**version, "id": tid, "current_version": 1, "created_by": who.user, "created_at": now, "updated_at": now}
        head.pop("version")
        self._repo.create_template(head, version, self._entry(
            who, AUTHOR, "template_draft", tid, text_hash=version["text_hash"],
            after={"version": 1, "state": "DRAFT", "kind": request.kind, "situation": request.situation,
                   "rules_hash": version["rules_hash"], "qa_entry": request.qa_entry}))
        return self.get(who, tid, require=False)

    def edit(self, who: Identity, template_id: str, request: TemplateEditRequest) -> dict[str, Any]:
        who.require(AUTHOR)
        head = self._load(template_id)
        if head["current_version"] >= MAX_VERSIONS:
            raise Conflict(f"a template holds at most {MAX_VERSIONS} versions; draft a new template instead")
        text, rules = self._checked(head["kind"], request.text, request.placeholders)
        number = head["current_version"] + 1
        now = self._clock().isoformat()
        qa_entry = request.qa_entry if "qa_entry" in request.model_fields_set else head.get("qa_entry")
        version = {"version": number, "kind": head["kind"], "situation": request.situation or head["situation"],
                   "title": request.title or head.get("title"), "text": text, "placeholders": rules,
                   "text_hash": text_hash(text), "rules_hash": rules_hash(rules), "author": who.user,
                   "created_at": now, "state": "DRAFT", "qa_entry": qa_entry}
        updates = {k: version[k] for k in ("situation", "title", "text", "placeholders", "text_hash", "rules_hash",
                                           "author", "state")}
        updates.update({"current_version": number, "updated_at": now})
        remove = ["approval", "approved_by", "approved_at", "rejection"]
        if qa_entry is None:
            remove.append("qa_entry")
        else:
            updates["qa_entry"] = qa_entry
        self._repo.change_template(
            head, updates, self._entry(who, AUTHOR, "template_edit", template_id, text_hash=version["text_hash"],
                                       before={"version": number - 1, "state": head["state"]},
                                       after={"version": number, "state": "DRAFT", "rules_hash": version["rules_hash"]}),
            new_version=version, remove=tuple(remove))
        return self.get(who, template_id, require=False)

    def approve(self, who: Identity, template_id: str, request: TemplateApproveRequest) -> dict[str, Any]:
        who.require(APPROVER)
        head = self._load(template_id)
        if head["state"] != "DRAFT":
            raise Conflict(f"a {head['state']} template cannot be approved; edit it to make a new version")
        if request.version != head["current_version"]:
            raise Conflict(f"version {request.version} is not the current version ({head['current_version']}); read it again")
        if who.user == head["author"]:
            raise Forbidden("the approver must not be the author of the version (two-person rule)")
        hashes = {"text_hash": text_hash(head["text"]), "rules_hash": rules_hash(head["placeholders"])}
        if hashes["text_hash"] != head["text_hash"] or hashes["rules_hash"] != head["rules_hash"]:
            raise Conflict(f"template {template_id}: the stored version does not hash to its recorded hashes")
        at = self._clock().isoformat()
        approval = {"version": request.version, "by": who.user, "at": at, **hashes, "qa_entry": head.get("qa_entry")}
        self._repo.change_template(
            head, {"state": "APPROVED", "approval": approval, "approved_by": who.user, "approved_at": at, "updated_at": at},
            self._entry(who, APPROVER, "template_approve", template_id, text_hash=hashes["text_hash"],
                        before={"state": "DRAFT"},
                        after={"state": "APPROVED", "version": request.version, "rules_hash": hashes["rules_hash"]}),
            version_updates={"state": "APPROVED", "approved_by": who.user, "approved_at": at},
            expect_hashes=hashes)
        return self.get(who, template_id, require=False)

    def reject(self, who: Identity, template_id: str, request: TemplateRejectRequest) -> dict[str, Any]:
        who.require(APPROVER)
        head = self._load(template_id)
        if head["state"] not in ("DRAFT", "APPROVED"):
            raise Conflict(f"a {head['state']} template cannot be rejected")
        at = self._clock().isoformat()
        rejection = {"by": who.user, "at": at, "reason": request.reason, "version": head["current_version"]}
        self._repo.change_template(
            head, {"state": "REJECTED", "rejection": rejection, "updated_at": at},
            self._entry(who, APPROVER, "template_reject", template_id, before={"state": head["state"]},
                        after={"state": "REJECTED", "version": head["current_version"], "reason": request.reason}),
            version_updates={"state": "REJECTED"}, remove=("approval", "approved_by", "approved_at"))
        return self.get(who, template_id, require=False)

    def get(self, who: Identity, template_id: str, *, require: bool = True) -> dict[str, Any]:
        if require:
            who.require(*TEMPLATE_READERS)
        head = self._load(template_id)
        return _public(head, self._repo.template_versions(template_id))

    def list(self, who: Identity, kind: str | None = None) -> dict[str, Any]:
        who.require(*TEMPLATE_READERS)
        return {"templates": [_public(h) for h in self._repo.list_templates(kind)]}

    def approved(self, template_id: str, kind: str | None = None) -> ApprovedTemplate:
        """The approved version of a template, its hashes checked (NotFound, Conflict otherwise).

        For the reply use cases (kind "reply") and for holding statements (kind "holding"): call
        `.fill(values, language)` or `.fill_all(values)` on the answer, which checks every value
        against its rule, and record `.version`, `.text_hash`, `.rules_hash` with what is made."""
        return approved_template(self._load(template_id), kind)
