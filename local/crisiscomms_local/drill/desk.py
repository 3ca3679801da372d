"""The drill's desk: people's actions through the real API handler, and what the channels show.

A scenario names things by its own refs: statements (`draft`, `correct`, `holding`), templates
(`template`) and replies (`reply`, `reply_template`), and posts by their `id`. The desk remembers
which id each ref got, by kind, so `approve` approves a template or a statement according to what
the ref was recorded as, and inbox actions find a post's conversation through the stored post key
the world recorded for it (`crisiscomms.models.inbox.conversation_id`).
"""
from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from crisiscomms.models.inbox import conversation_id
from crisiscomms.statements.rules import AuthorRef
from crisiscomms_local.apigw import rest_event
from crisiscomms_local.lambda_runtime import invoke

GROUPS = {"author": ["comms-author"], "approver": ["comms-approver"], "auditor": ["auditor"], "oncall": ["oncall"]}
SUCCESS = {"draft": 201, "correct": 201, "publish": 202, "template": 201, "reply_template": 201, "reply": 201,
           "holding": 201}
READER = "auditor:drill"
NO_STATEMENT = "st-0000000000000000"
NO_TEMPLATE = "tp-0000000000000000"
NO_REPLY = "rp-0000000000000000"
NO_POST = "x:0"
# asked for when a topic has no alert to acknowledge or close: the API still answers, so a caller without
# the route's group is refused (403) as it would be with an alert there
NO_ALERT = "none-00000000-0000"
# The format gives a template no situation or title; a scenario may name them, else these.
DEFAULT_SITUATION = {"reply": "looking_into_it", "holding": "looking_into_it"}


def subject_of(spec: dict[str, Any]) -> str | None:
    """What an action is about, as the scenario names it: its ref, post or topic."""
    return spec.get("ref") or spec.get("post") or spec.get("topic")


def refusal_text(body: Any) -> str:
    """The API's error with each field it names and why (a 422 lists them), so a scenario's author
    sees which key of the action to change."""
    if not isinstance(body, dict):
        return ""
    text = str(body.get("error") or "")
    problems = []
    for p in body.get("details") or ():
        if not isinstance(p, dict):
            continue
        where = p.get("field") or "/".join(str(p[k]) for k in ("channel", "language") if p.get(k))
        why = str(p.get("reason") or p.get("message") or "")
        if why and why not in text:        # (a channel's one problem is often the error itself)
            problems.append(f"{where}: {why}" if where else why)
    return f"{text} ({'; '.join(problems)})" if problems else text


_AUTHOR_REF = TypeAdapter(AuthorRef)


def _api_ref(ref: str | None) -> dict[str, str]:
    """The scenario's ref as the API's author reference, when it is one (no whitespace, at most 64 characters); the
    drill knows every statement by its ref either way."""
    try:
        return {"ref": _AUTHOR_REF.validate_python(ref)} if ref else {}
    except ValidationError:
        return {}


@dataclass
class DeskOutcome:
    at: str
    who: str
    action: str
    ref: str | None
    status: int
    ok: bool
    detail: str = ""
    key: str = ""  # the Idempotency-Key its change request carried: a retry of the action sends the same

    def verdict(self) -> str:
        """The answer as the timeline shows it: the status, and the detail when there is one."""
        return f"{self.status}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class Desk:
    """Runs desk actions; remembers which statement, template or reply each scenario ref names."""

    refs: dict[str, str] = field(default_factory=dict)  # statement refs
    templates: dict[str, str] = field(default_factory=dict)
    replies: dict[str, str] = field(default_factory=dict)
    post_ids: dict[str, str] = field(default_factory=dict)  # a scenario post's id -> its stored post key
    outcomes: list[DeskOutcome] = field(default_factory=list)
    refusals: list[dict[str, Any]] = field(default_factory=list)
    deliver_next_twice: bool = False  # the next change request reaches the API twice (a `function: api` fault)
    action_key: str = ""  # the Idempotency-Key of the action being run (`act`)

    def _call(self, who: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One request, as a careful client sends it: a change carries an Idempotency-Key of its own, so the
        same request delivered twice (an injected duplicate: `deliver_next_twice`) is answered once."""
        role, user = who.split(":", 1)
        path, _, query = path.partition("?")
        changes = method.upper() in ("POST", "PUT")
        headers = {"Idempotency-Key": self.action_key or f"drill-{uuid.uuid4().hex}"} if changes else None
        event = rest_event(method, path, body=body, user=user, groups=GROUPS[role], query=query, headers=headers)
        if changes and self.deliver_next_twice:
            self.deliver_next_twice = False
            invoke("api", event)
        result = invoke("api", event)
        return result["statusCode"], json.loads(result["body"]) if result.get("body") else None

    def _read(self, path: str) -> Any:
        status, body = self._call(READER, "GET", path)
        return body if status == 200 else None

    def statement(self, ref: str) -> dict[str, Any] | None:
        return self._read(f"/statements/{self.refs[ref]}") if ref in self.refs else None

    def effect(self, ref: str) -> dict[str, Any] | None:
        """The statement's measured effect as the API shows it (`GET /statements/{id}/effect`)."""
        return self._read(f"/statements/{self.refs[ref]}/effect") if ref in self.refs else None

    def topic_effects(self, topic: str, start: str, end: str) -> list[dict[str, Any]]:
        """Every measurement of the topic's statements and reply waves published in [start, end)."""
        found = self._read(f"/topics/{topic}/effects?from={start}&to={end}")
        return list((found or {}).get("effects") or [])

    def made_twice(self) -> list[str]:
        """What the API holds more of than the desk's actions made: statements (drafts, corrections, holding
        statements) and templates, counted against the actions the API accepted."""
        accepted = Counter(o.action for o in self.outcomes if o.ok)
        made = {"statement": accepted["draft"] + accepted["correct"] + accepted["holding"], "template": accepted["template"]}
        held = {"statement": 0, "template": len((self._read("/templates") or {}).get("templates") or [])}
        cursor: str | None = ""
        while cursor is not None:
            page = self._read("/statements?limit=100" + (f"&next={cursor}" if cursor else "")) or {}
            held["statement"] += len(page.get("statements") or [])
            cursor = page.get("next") or None
        return [f"{held[kind] - made[kind]} {kind}(s) more than the desk drafted" for kind in made if held[kind] > made[kind]]

    def template(self, ref: str) -> dict[str, Any] | None:
        return self._read(f"/templates/{self.templates[ref]}") if ref in self.templates else None

    def reply(self, ref: str) -> dict[str, Any] | None:
        return self._read(f"/replies/{self.replies[ref]}") if ref in self.replies else None

    def conversation_path(self, post: str | None) -> str:
        """`/inbox/<conversation id>` of a scenario post (a path no post has when the id is unknown)."""
        key = self.post_ids.get(post or "")
        return f"/inbox/{conversation_id(key) if key else NO_POST}"

    def _request(self, who: str, action: str, spec: dict[str, Any]) -> tuple[int, Any]:
        ref = spec.get("ref")
        if action in ("approve", "reject") and ref in self.templates:
            tid = self.templates[ref]
            if action == "reject":
                return self._call(who, "POST", f"/templates/{tid}/reject", {"reason": spec.get("reason", "")})
            current = self.template(ref)
            return self._call(who, "POST", f"/templates/{tid}/approve",
                              {"version": spec.get("version") or (current or {}).get("current_version", 1)})
        if action == "edit" and ref in self.templates:   # a new version of a template: approved again
            current = self.template(ref) or {}
            return self._call(who, "PUT", f"/templates/{self.templates[ref]}/draft", {
                "text": spec.get("text"), "placeholders": spec.get("placeholders", current.get("placeholders") or {}),
                **({"title": spec["title"]} if "title" in spec else {})})
        sid = self.refs.get(ref or "", NO_STATEMENT)
        if action == "draft":
            return self._call(who, "POST", "/statements", {"channels": spec.get("channels"), "text": spec.get("text"),
                                                            **_api_ref(ref)})
        if action == "edit":
            return self._call(who, "PUT", f"/statements/{sid}/draft",
                              {k: spec[k] for k in ("text", "channels", "title") if k in spec})
        if action == "approve":
            current = self.statement(ref) if ref else None
            return self._call(who, "POST", f"/statements/{sid}/approve",
                              {"version": spec.get("version") or (current or {}).get("current_version", 1)})
        if action == "reject":
            return self._call(who, "POST", f"/statements/{sid}/reject", {"reason": spec.get("reason", "")})
        if action == "publish":
            return self._call(who, "POST", f"/statements/{sid}/publish")
        if action == "submit":
            return self._call(who, "POST", f"/statements/{sid}/submit")
        if action == "ack_alert":
            status, listing = self._call(who, "GET", f"/alerts?topic={spec.get('topic', '')}")
            if status != 200:       # (the caller may not even list alerts: its refusal is the answer)
                return status, listing
            alerts = [a for a in (listing or {}).get("alerts", []) if a.get("state") != "CLOSED"]
            # the topic's unacknowledged alert, else its newest open one (acknowledged already: the API's 409)
            alert = next((a for a in alerts if a.get("status") == "TRIGGERED"), alerts[0] if alerts else None)
            status, body = self._call(who, "POST", f"/alerts/{alert['alert_id'] if alert else NO_ALERT}/ack")
            if alert is None and status == 404:
                return 404, {"error": f"no open alert for topic {spec.get('topic')!r}"}
            return status, body
        if action == "close_alert":
            # The newest alert of the topic nobody closed yet, found by the drill's reader (an approver may
            # close an alert but not list them).
            listing = self._read(f"/alerts?topic={spec.get('topic', '')}") or {}
            open_alerts = [a for a in listing.get("alerts", []) if a.get("state") != "CLOSED"]
            status, body = self._call(who, "POST", f"/alerts/{open_alerts[0]['alert_id'] if open_alerts else NO_ALERT}/close",
                                      {k: spec[k] for k in ("cause", "lessons", "worked", "change") if k in spec})
            if not open_alerts and status == 404:
                return 404, {"error": f"no alert of topic {spec.get('topic')!r} is open to close"}
            return status, body
        if action == "correct":
            original = self.refs.get(spec.get("corrects", ""), NO_STATEMENT)
            return self._call(who, "POST", f"/statements/{original}/corrections",
                              {"kind": spec.get("kind", "correction"), "text": spec.get("text"),
                               **({"channels": spec["channels"]} if spec.get("channels") else {}),
                               **_api_ref(ref)})
        return self._inbox_request(who, action, spec)

    def _inbox_request(self, who: str, action: str, spec: dict[str, Any]) -> tuple[int, Any]:
        """The reply library, the inbox and replies (format v2)."""
        if action == "template":
            kind = spec.get("kind")
            return self._call(who, "POST", "/templates", {
                "kind": kind, "situation": spec.get("situation") or DEFAULT_SITUATION.get(str(kind), "looking_into_it"),
                "title": spec.get("title") or f"drill template {spec.get('ref') or ''}".strip(),
                "text": spec.get("text"), "placeholders": spec.get("placeholders") or {}})
        if action == "holding":
            return self._call(who, "POST", "/holding-statements", {
                "template": self.templates.get(spec.get("template", ""), NO_TEMPLATE), "values": spec.get("values") or {},
                "channels": spec.get("channels"), **_api_ref(spec.get("ref"))})
        path = self.conversation_path(spec.get("post"))
        if action == "assign":
            return self._call(who, "POST", f"{path}/assign", {"to": spec.get("to")})
        if action == "close":
            return self._call(who, "POST", f"{path}/close", {"reason": spec.get("reason")})
        if action == "reply_template":
            return self._call(who, "POST", f"{path}/replies", {
                "template": self.templates.get(spec.get("template", ""), NO_TEMPLATE), "values": spec.get("values") or {},
                **({"language": spec["language"]} if spec.get("language") else {})})
        if action == "reply":
            return self._call(who, "POST", f"{path}/replies", {
                "text": spec.get("text"), **({"language": spec["language"]} if spec.get("language") else {})})
        if action == "approve_reply":
            return self._call(who, "POST", f"/replies/{self.replies.get(spec.get('ref') or '', NO_REPLY)}/approve")
        raise ValueError(f"desk action {action!r} is not available in this version")

    def act(self, at: str, action: dict[str, Any], *, key: str = "") -> DeskOutcome:
        """Run one desk action; `key`: the Idempotency-Key of an earlier attempt of it, sent again (a retry)."""
        who, do = action["as"], action["do"]
        spec = {k: v for k, v in action.items() if k not in ("at", "as", "do")}
        if do == "expect_refused":
            return self._expect_refused(at, who, spec)
        self.action_key = key or f"drill-{uuid.uuid4().hex}"
        try:
            status, body = self._request(who, do, spec)
        finally:
            key, self.action_key = self.action_key, ""
        ok = status == SUCCESS.get(do, 200)
        if ok and spec.get("ref"):
            if do in ("draft", "correct", "holding"):
                self.refs[spec["ref"]] = body["id"]
            elif do == "template":
                self.templates[spec["ref"]] = body["id"]
            elif do in ("reply", "reply_template"):
                self.replies[spec["ref"]] = body["id"]
        detail = "" if ok else refusal_text(body) + self._unknown_names(do, spec)
        if ok and do in ("reply", "reply_template"):
            detail = f"reply {body['id']} {body.get('state')}"
        outcome = DeskOutcome(at, who, do, subject_of(spec), status, ok, detail, key)
        self.outcomes.append(outcome)
        return outcome

    def _unknown_names(self, action: str, spec: dict[str, Any]) -> str:
        """Why a failed action may have failed before the API saw it: a ref, template or post it names
        that no earlier action created (that action's own failure is listed first)."""
        creates = action in ("draft", "correct", "holding", "template", "reply", "reply_template")
        missing = []
        ref = spec.get("ref")
        if ref and not creates and ref not in self.refs and ref not in self.templates and ref not in self.replies:
            missing.append(f"ref {ref!r}")
        if spec.get("corrects") and spec["corrects"] not in self.refs:
            missing.append(f"statement ref {spec['corrects']!r}")
        if spec.get("template") and spec["template"] not in self.templates:
            missing.append(f"template ref {spec['template']!r}")
        if spec.get("post") and spec["post"] not in self.post_ids:
            missing.append(f"post {spec['post']!r}")
        return f" [{', '.join(missing)}: not created or not stored before this action]" if missing else ""

    def _snapshot(self, action: str, spec: dict[str, Any]) -> Any:
        """What a refused action must leave as it was: the statement, template or reply its ref names,
        the conversation of its post with that conversation's replies, the library for a new template,
        the statements for a new holding statement."""
        ref = spec.get("ref")
        seen: list[Any] = []
        if ref in self.templates:
            seen.append(self.template(ref))
        elif ref in self.replies:
            seen.append(self.reply(ref))
        elif ref in self.refs:
            seen.append(self.statement(ref))
        if spec.get("post"):
            path = self.conversation_path(spec["post"])
            seen += [self._read(path), self._read(f"{path}/replies")]
        if action == "template":
            seen.append(self._read("/templates"))
        if action == "holding":
            seen.append(self._read("/statements"))
        if action in ("ack_alert", "close_alert") and spec.get("topic"):
            seen.append(self._read(f"/alerts?topic={spec['topic']}"))
        return seen

    def _expect_refused(self, at: str, who: str, spec: dict[str, Any]) -> DeskOutcome:
        action, wanted = spec.pop("action"), int(spec.pop("status"))
        before = self._snapshot(action, spec)
        status, body = self._request(who, action, spec)
        after = self._snapshot(action, spec)
        unchanged = before == after
        ok = status == wanted and unchanged
        detail = refusal_text(body) if status == wanted else f"answered {status}, expected {wanted}"
        if status == wanted and not unchanged:
            detail = "refused, but something changed"
        outcome = DeskOutcome(at, who, f"expect_refused {action}", subject_of(spec), status, ok, detail)
        self.outcomes.append(outcome)
        self.refusals.append({"at": at, "as": who, "action": action, "ref": subject_of(spec),
                              "status": wanted, "observed": status, "unchanged": unchanged, "passed": ok, "detail": detail})
        return outcome
