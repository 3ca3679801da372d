"""What the communications desk does with statements: the use cases behind the API.

Each operation checks the caller's role, applies the rules in crisiscomms.statements.rules, and
writes the change together with its audit entry. Publishing renders the approved version for
every channel again and sends only if each rendering still hashes to what the approver saw.

Approving also records a `prepared` entry for each delivery a channel can prepare (see
PREPARED_CHANNELS) and queues a "prepare" message; the Publisher, which holds the channel
tokens, does the work. An edit or a rejection withdraws them ("discard" messages). Publishing
hands each delivery its prepared item if it is ready, and never waits for one that is not.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from crisiscomms.aws.statement_store import StatementRepository
from crisiscomms.errors import ConfigurationError, Conflict, InvalidInput, NotFound
from crisiscomms.handover import hand_over
from crisiscomms.identity import APPROVER, AUDITOR, AUTHOR, Identity
from crisiscomms.models.audit import AuditEntry
from crisiscomms.observability import count, logger
from crisiscomms.statements.holding import HoldingRequest, HoldingTemplate, carried_over_approval, template_record
from crisiscomms.statements.qa import (
    QA_CHANNEL,
    QA_KIND,
    QA_LINKABLE,
    QA_SITUATION,
    QaCorrectionRequest,
    QaDraftRequest,
    QaEditRequest,
)
from crisiscomms.statements.render import Renderer
from crisiscomms.statements.rules import (
    MAX_QUEUED_CHARS,
    PREPARED_CHANNELS,
    WITHDRAWABLE_PREPARED,
    ApproveRequest,
    CorrectionRequest,
    DraftRequest,
    EditRequest,
    RejectRequest,
    StatementText,
    check_can_approve,
    check_can_edit,
    queued_delivery,
    queued_sha256,
)

READERS = (AUTHOR, APPROVER, AUDITOR)


def delivery_key(version: int, channel: str, language: str) -> str:
    return f"v{version:04d}#{channel}#{language}"


def delivery_id(statement_id: str, key: str) -> str:
    """Stable across retries and re-enqueues: every platform's idempotency key derives from it."""
    return hashlib.sha256(f"{statement_id}|{key}".encode()).hexdigest()[:32]


class Desk:
    def __init__(self, repo: StatementRepository, renderer: Renderer, *, clock: Callable[[], datetime],
                 enqueue: Callable[[list[dict[str, Any]]], list[str]],
                 holding_template: Callable[[str], HoldingTemplate] | None = None) -> None:
        self._repo = repo
        self._renderer = renderer
        self._clock = clock
        self._enqueue = enqueue
        # A template's approved holding version (NotFound / Conflict otherwise), from the reply library.
        self._holding_template = holding_template

    # --- helpers --------------------------------------------------------------------------------

    def _entry(self, who: Identity, role: str, action: str, statement_id: str, **fields: Any) -> AuditEntry:
        return AuditEntry(actor=who.user, role=role, action=action, target=f"statement#{statement_id}",
                          at=self._clock(), **fields)

    def _load(self, statement_id: str) -> dict[str, Any]:
        statement = self._repo.load(statement_id)
        if statement is None:
            raise NotFound(f"no statement {statement_id!r}")
        return statement

    def _render(self, statement: dict[str, Any], version: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return self._renderer.render_all(statement["id"], version["text"], statement["channels"],
                                         kind=statement["kind"], title=version.get("title"),
                                         entry=statement.get("qa_entry"))

    @staticmethod
    def _current(statement: dict[str, Any]) -> dict[str, Any]:
        return next(v for v in statement["versions"] if v["version"] == statement["current_version"])

    def _enqueue_quietly(self, what: str, messages: list[dict[str, Any]]) -> None:
        """Queue prepare/discard work. The change it follows is already recorded and publishing never
        depends on it, so a queue that refuses it is reported, not raised."""
        if not messages:
            return
        try:
            refused = self._enqueue(messages)
        except Exception as exc:  # noqa: BLE001 - any failure to queue leaves the same outcome: not prepared
            logger.warning(f"could not queue {what} messages", extra={"error": str(exc), "count": len(messages)})
            refused = [m["delivery_id"] for m in messages]
        if refused:
            count(f"{what.title()}NotQueued", len(refused))

    def _hand_over(self, statement_id: str, messages: list[dict[str, Any]]) -> None:
        """Queue deliveries already recorded (crisiscomms.handover): the same request again (publish, retry) sends
        what is still waiting. SQS not answering at all is the API's 503 for AWS, as before."""
        if messages:
            hand_over(lambda: self._enqueue(messages), what=f"publishing of statement {statement_id}", to="Publisher",
                      metric="DeliveriesNotQueued", outage_refuses=False)

    def _withdraw_prepared(self, statement: dict[str, Any], now: str) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
        """Every prepared entry still pending or ready, to be discarded: the changes and the messages."""
        withdrawn = [p for p in statement.get("prepared", []) if p["state"] in WITHDRAWABLE_PREPARED]
        updates = {p["key"]: {"state": "DISCARDING", "updated_at": now} for p in withdrawn}
        return updates, [_message(statement["id"], p, kind="discard") for p in withdrawn]

    # --- use cases ------------------------------------------------------------------------------

    def draft(self, who: Identity, request: DraftRequest, *, corrects: str | None = None,
              kind: str = "statement") -> dict[str, Any]:
        who.require(AUTHOR)
        return self._create(who, text=request.text.by_language(), channels=request.channels, title=request.title,
                            ref=request.ref, kind=kind, corrects=corrects,
                            action="draft" if kind == "statement" else kind,
                            extra={"topics": request.topics} if request.topics else None)

    def _create(self, who: Identity, *, text: dict[str, Any], channels: list[str], title: str | None, ref: str | None,
                kind: str, corrects: str | None, action: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """A new DRAFT statement (or Q&A entry) with its first version, and its audit entry, in one transaction."""
        sid = f"st-{uuid.uuid4().hex[:16]}"
        now = self._clock().isoformat()
        meta = {"id": sid, "ref": ref, "state": "DRAFT", "kind": kind, "corrects": corrects,
                "channels": channels, "title": title, "current_version": 1, "version_author": who.user,
                "created_by": who.user, "created_at": now, "updated_at": now, **(extra or {})}
        if kind == QA_KIND:
            meta.setdefault("qa_entry", sid)  # the first statement of an entry names it; corrections keep it
            meta.setdefault("qa_revision", 0)
        version = {"version": 1, "author": who.user, "created_at": now, "text": text, "title": title,
                   "channels": channels}
        after: dict[str, Any] = {"version": 1, "channels": channels}
        if meta.get("topics"):
            after["topics"] = meta["topics"]  # whose effect is measured once it is published
        if kind == QA_KIND:
            after.update(qa_entry=meta["qa_entry"], qa_revision=meta["qa_revision"])
        self._repo.create(meta, version, self._entry(who, AUTHOR, action, sid, after=after, text_hash=_text_hash(text)))
        return self.get(who, sid, require=False)

    def edit(self, who: Identity, statement_id: str, request: EditRequest) -> dict[str, Any]:
        who.require(AUTHOR)
        statement = self._load(statement_id)
        if statement["kind"] == QA_KIND:
            raise Conflict("a Q&A entry is edited as a question and an answer: PUT /qa-entries/{id}/draft")
        return self._edit(who, statement, request.text.by_language(), channels=request.channels, title=request.title,
                          action="edit")

    def _edit(self, who: Identity, statement: dict[str, Any], text: dict[str, Any], *, channels: list[str] | None,
              title: str | None, action: str) -> dict[str, Any]:
        statement_id = statement["id"]
        check_can_edit(statement["state"], versions=statement["current_version"])
        version = statement["current_version"] + 1
        now = self._clock().isoformat()
        channels = channels or statement["channels"]
        title = title if title is not None else statement.get("title")
        withdrawn, discards = self._withdraw_prepared(statement, now)
        after: dict[str, Any] = {"version": version, "state": "DRAFT"}
        if withdrawn:
            after["discard_prepared"] = sorted(withdrawn)
        self._repo.change(
            statement,
            {"state": "DRAFT", "current_version": version, "version_author": who.user, "channels": channels,
             "title": title, "updated_at": now},
            self._entry(who, AUTHOR, action, statement_id, before={"version": version - 1, "state": statement["state"]},
                        after=after, text_hash=_text_hash(text)),
            new_version={"version": version, "author": who.user, "created_at": now, "text": text, "title": title,
                         "channels": channels},
            prepared_updates=withdrawn,
            remove=("approval", "rejection", "from_template"),  # an edited holding statement is a draft like any other
        )
        self._enqueue_quietly("discard", discards)
        return self.get(who, statement_id, require=False)

    def submit(self, who: Identity, statement_id: str) -> dict[str, Any]:
        who.require(AUTHOR)
        statement = self._load(statement_id)
        if statement["state"] != "DRAFT":
            raise Conflict(f"only a DRAFT can be submitted; this one is {statement['state']}")
        current = self._current(statement)
        self._render(statement, current)
        self._repo.change(statement, {"state": "SUBMITTED", "updated_at": self._clock().isoformat()},
                          self._entry(who, AUTHOR, "submit", statement_id, before={"state": "DRAFT"},
                                      after={"state": "SUBMITTED", "version": current["version"]},
                                      text_hash=_text_hash(current["text"])))
        return self.get(who, statement_id, require=False)

    def approve(self, who: Identity, statement_id: str, request: ApproveRequest) -> dict[str, Any]:
        who.require(APPROVER)
        statement = self._load(statement_id)
        check_can_approve(statement, request.version, who)
        current = self._current(statement)
        rendered = self._render(statement, current)
        hashes = {key: r["sha256"] for key, r in rendered.items()}
        approval = {"approver": who.user, "at": self._clock().isoformat(), "version": request.version, "hashes": hashes}
        # A Q&A entry joins the Q&A page in one conditional write when published: nothing to prepare.
        prepared = [_prepared_entry(statement_id, request.version, r, approval["at"]) for r in rendered.values()
                    if r["channel"] in PREPARED_CHANNELS and statement["kind"] != QA_KIND]
        after: dict[str, Any] = {"state": "APPROVED", "version": request.version, "hashes": hashes}
        if prepared:
            after["prepare"] = [p["key"] for p in prepared]
        self._repo.change(statement, {"state": "APPROVED", "approval": approval, "updated_at": approval["at"]},
                          self._entry(who, APPROVER, "approve", statement_id, before={"state": statement["state"]},
                                      after=after, text_hash=_text_hash(current["text"])),
                          new_prepared=prepared)
        self._enqueue_quietly("prepare", [_message(statement_id, p, kind="prepare") for p in prepared])
        return self.get(who, statement_id, require=False)

    def reject(self, who: Identity, statement_id: str, request: RejectRequest) -> dict[str, Any]:
        who.require(APPROVER)
        statement = self._load(statement_id)
        if statement["state"] not in ("DRAFT", "SUBMITTED", "APPROVED"):
            raise Conflict(f"a {statement['state']} statement cannot be rejected")
        rejection = {"by": who.user, "at": self._clock().isoformat(), "reason": request.reason,
                     "version": statement["current_version"]}
        withdrawn, discards = self._withdraw_prepared(statement, rejection["at"])
        after: dict[str, Any] = {"state": "REJECTED", "reason": request.reason}
        if withdrawn:
            after["discard_prepared"] = sorted(withdrawn)
        self._repo.change(statement, {"state": "REJECTED", "rejection": rejection, "updated_at": rejection["at"]},
                          self._entry(who, APPROVER, "reject", statement_id, before={"state": statement["state"]},
                                      after=after),
                          prepared_updates=withdrawn, remove=("approval",))
        self._enqueue_quietly("discard", discards)
        return self.get(who, statement_id, require=False)

    def publish(self, who: Identity, statement_id: str) -> dict[str, Any]:
        who.require(APPROVER, AUTHOR)
        statement = self._load(statement_id)
        if statement["state"] == "PUBLISHING":
            # Publishing again re-sends the queue messages of deliveries not yet started (idempotent).
            pending = [d for d in statement["deliveries"] if d["state"] == "PENDING"]
            self._hand_over(statement_id, [_message(statement_id, d) for d in pending])
            return self.get(who, statement_id, require=False)
        if statement["state"] != "APPROVED":
            raise Conflict(f"only an APPROVED statement can be published; this one is {statement['state']}")
        approval = statement["approval"]
        current = self._current(statement)
        rendered = self._render(statement, current)
        changed = sorted(k for k, r in rendered.items() if approval["hashes"].get(k) != r["sha256"])
        if changed or set(rendered) != set(approval["hashes"]):
            raise Conflict(f"the text for {', '.join(changed) or 'some channels'} differs from what was approved; approve again")
        original = self._load(statement["corrects"]) if statement.get("corrects") else None
        now = self._clock().isoformat()
        prepared = {p["key"]: p for p in statement.get("prepared", []) if p["version"] == current["version"]}
        deliveries, taken, skipped = [], {}, {}
        for key, r in rendered.items():
            dkey = delivery_key(current["version"], r["channel"], r["language"])
            delivery = {
                "key": dkey, "delivery_id": delivery_id(statement_id, dkey), "statement_id": statement_id,
                "version": current["version"], "channel": r["channel"], "language": r["language"], "state": "PENDING",
                "text_hash": r["sha256"], "attempts": 0, "created_at": now, "updated_at": now,
                "reply_to": _original_post(original, r["channel"], r["language"]),
                # The exact rendering just checked against the approval: the Publisher checks its hash
                # again and sends it, without reading the statement back.
                "kind": statement["kind"],
                "rendering": {f: r[f] for f in ("text", "title", "digest", "newsroom_url") if r.get(f) is not None},
            }
            if statement["kind"] == QA_KIND:
                delivery["revision"] = int(statement.get("qa_revision", 0))  # a later correction of the entry wins
            entry = prepared.get(dkey)
            if entry and entry["state"] == "READY" and entry["text_hash"] == r["sha256"] and entry.get("data"):
                delivery["prepared"] = {"data": entry["data"], "text_hash": entry["text_hash"]}
                taken[dkey] = {"state": "USED", "updated_at": now}
            elif entry and entry["state"] in WITHDRAWABLE_PREPARED:
                skipped[dkey] = {"state": "SKIPPED", "updated_at": now}  # publishing does not wait for it
            delivery["queued_sha256"] = queued_sha256(queued_delivery(delivery))
            deliveries.append(delivery)
        after: dict[str, Any] = {"state": "PUBLISHING", "deliveries": [d["key"] for d in deliveries]}
        if taken:
            after["prepared_used"] = sorted(taken)
        if skipped:
            after["prepared_skipped"] = sorted(skipped)
        self._repo.change(statement, {"state": "PUBLISHING", "published_version": current["version"],
                                      "published_at": now, "updated_at": now},
                          self._entry(who, APPROVER if APPROVER in who.groups else AUTHOR, "publish", statement_id,
                                      before={"state": "APPROVED"}, after=after,
                                      text_hash=_text_hash(current["text"])),
                          new_deliveries=deliveries, prepared_updates={**taken, **skipped})
        self._hand_over(statement_id, [_message(statement_id, d) for d in deliveries])
        # A preparation still running when publishing started is discarded once it is done.
        self._enqueue_quietly("discard", [_message(statement_id, prepared[k], kind="discard") for k in skipped])
        count("StatementsPublished")
        count("DeliveriesQueued", len(deliveries))
        return self.get(who, statement_id, require=False)

    def retry(self, who: Identity, statement_id: str, channel: str, language: str | None = None) -> dict[str, Any]:
        """Send one failed or unknown channel again, under the same delivery id, its attempts, looks
        for a lost answer and checks of an accepted post counted afresh."""
        who.require(APPROVER)
        statement = self._load(statement_id)
        targets = [d for d in statement["deliveries"] if d["channel"] == channel
                   and d["version"] == statement.get("published_version") and (language is None or d["language"] == language)]
        if not targets:
            raise NotFound(f"statement {statement_id} has no delivery on {channel}")
        retried = []
        for d in targets:
            if d["state"] == "RETRYING" and d.get("retry_requested_by") and not int(d.get("attempts") or 0):
                retried.append(d)   # a retry asked for whose message the queue did not take: handed over again
                continue
            if d["state"] not in ("FAILED", "UNKNOWN"):
                raise Conflict(f"{channel} ({d['language']}) is {d['state']}; only FAILED or UNKNOWN deliveries are retried")
            d["generation"] = int(d.get("generation", 0)) + 1
            moved = self._repo.move_delivery(statement_id, d["key"], expect=("FAILED", "UNKNOWN"),
                                             updates={"state": "RETRYING", "updated_at": self._clock().isoformat(),
                                                      "retry_requested_by": who.user, "generation": d["generation"],
                                                      "attempts": 0, "lookups": 0, "confirm_checks": 0,
                                                      "needs_person": False},
                                             entry=self._entry(who, APPROVER, "retry", statement_id,
                                                               before={"delivery": d["key"], "state": d["state"]},
                                                               after={"delivery": d["key"], "state": "RETRYING"}))
            if moved:
                retried.append(d)
        self._hand_over(statement_id, [_message(statement_id, d) for d in retried])
        return self.get(who, statement_id, require=False)

    def correct(self, who: Identity, statement_id: str, request: CorrectionRequest) -> dict[str, Any]:
        who.require(AUTHOR)
        original = self._load(statement_id)
        if original["kind"] == QA_KIND:
            raise Conflict("a Q&A entry is corrected with a question and an answer: POST /qa-entries/{id}/corrections")
        if original["state"] not in ("PUBLISHED", "PARTIAL", "PUBLISHING"):
            raise Conflict(f"only a published statement can be corrected; this one is {original['state']}")
        draft = DraftRequest(channels=request.channels or original["channels"], text=request.text,
                             title=original.get("title"), ref=request.ref, topics=request.topics or original.get("topics"))
        return self.draft(who, draft, corrects=statement_id, kind=request.kind)

    # --- holding statements (crisiscomms.statements.holding) -----------------------------------

    def holding(self, who: Identity, request: HoldingRequest) -> dict[str, Any]:
        """A statement from an approved holding template, APPROVED at once with the template's approval
        carried over, after every channel's rules accepted its renderings (then publish it as any other)."""
        who.require(AUTHOR)
        if self._holding_template is None:
            raise ConfigurationError("the statements desk was built without the holding templates")
        template = self._holding_template(request.template)  # NotFound, or Conflict unless approved and intact
        text = _statement_text(template.fill_all(request.values))  # InvalidInput naming each refused value
        sid = f"st-{uuid.uuid4().hex[:16]}"
        rendered = self._renderer.render_all(sid, text, request.channels, kind="statement", title=None)  # 422 per channel
        hashes = {key: r["sha256"] for key, r in rendered.items()}
        now = self._clock().isoformat()
        approval = carried_over_approval(template, request.values, by=who.user, at=now, hashes=hashes)
        meta = {"id": sid, "ref": request.ref, "state": "APPROVED", "kind": "statement", "corrects": None,
                "channels": request.channels, "title": None, "current_version": 1, "version_author": who.user,
                "created_by": who.user, "created_at": now, "updated_at": now, "approval": approval,
                "from_template": {"id": template.id, "version": template.version}}
        version = {"version": 1, "author": who.user, "created_at": now, "text": text, "title": None,
                   "channels": request.channels, "from_template": {"id": template.id, "version": template.version}}
        # Not an approval by a person: the author's instantiation, naming the approval it carries over.
        entry = self._entry(who, AUTHOR, "holding_statement", sid, text_hash=_text_hash(text), after={
            "state": "APPROVED", "version": 1, "channels": request.channels, "hashes": hashes,
            "approval": "carried_over_from_template", "carried_over_from_template": template_record(template),
            "values": dict(request.values)})
        self._repo.create(meta, version, entry)
        count("HoldingStatements")
        return self.get(who, sid, require=False)

    # --- Q&A entries (crisiscomms.statements.qa) ------------------------------------------------

    def draft_qa(self, who: Identity, request: QaDraftRequest) -> dict[str, Any]:
        who.require(AUTHOR)
        return self._create(who, text=request.text.by_language(), channels=[QA_CHANNEL], title=None, ref=request.ref,
                            kind=QA_KIND, corrects=None, action="qa_draft",
                            extra={QA_SITUATION: request.situation} if request.situation else None)

    def edit_qa(self, who: Identity, statement_id: str, request: QaEditRequest) -> dict[str, Any]:
        who.require(AUTHOR)
        statement = self._load(statement_id)
        if statement["kind"] != QA_KIND:
            raise Conflict(f"{statement_id} is not a Q&A entry; edit it at PUT /statements/{{id}}/draft")
        return self._edit(who, statement, request.text.by_language(), channels=None, title=None, action="qa_edit")

    def correct_qa(self, who: Identity, statement_id: str, request: QaCorrectionRequest) -> dict[str, Any]:
        """A new Q&A statement for the same entry: published, it replaces the answer at the same anchor."""
        who.require(AUTHOR)
        original = self._load(statement_id)
        if original["kind"] != QA_KIND:
            raise Conflict(f"{statement_id} is not a Q&A entry; correct it at POST /statements/{{id}}/corrections")
        if original["state"] not in ("PUBLISHED", "PARTIAL", "PUBLISHING"):
            raise Conflict(f"only a published Q&A entry can be corrected; this one is {original['state']}")
        entry, revision = original.get("qa_entry") or original["id"], int(original.get("qa_revision", 0)) + 1
        extra = {"qa_entry": entry, "qa_revision": revision}
        situation = request.situation or original.get(QA_SITUATION)
        if situation:
            extra[QA_SITUATION] = situation
        return self._create(who, text=request.text.by_language(), channels=[QA_CHANNEL], title=None, ref=request.ref,
                            kind=QA_KIND, corrects=statement_id, action="qa_correction", extra=extra)

    def qa_url(self, entry: str, language: str) -> str:
        """Where one language of a Q&A entry is read (and replies link to)."""
        return self._renderer.qa_url(entry, language)

    def qa_link(self, entry: str | None, situation: str | None, language: str) -> dict[str, str] | None:
        """The Q&A page address a reply cut by a channel's limit links to: of `entry` (an entry's id, or a
        correction's) when given, else of the newest published entry naming `situation`; in `language`
        when the entry was published in it, else in a language it was. None when that entry is not
        published (or is no Q&A entry), or no published entry names the situation."""
        if entry:
            statement = self._repo.load(entry)
            if statement is None or statement.get("kind") != QA_KIND or statement.get("state") not in QA_LINKABLE:
                return None
        elif situation:
            newest = next(iter(self._repo.qa_statements_for(situation, states=QA_LINKABLE, limit=1)), None)
            statement = self._repo.load(newest["id"]) if newest else None
            if statement is None:
                return None
        else:
            return None
        published = [d["language"] for d in statement.get("deliveries", [])
                     if d.get("channel", QA_CHANNEL) == QA_CHANNEL and d.get("state") == "SENT"]
        if not published:
            return None
        chosen = language if language in published else sorted(published)[0]
        anchor = statement.get("qa_entry") or statement["id"]
        return {"entry": anchor, "statement_id": statement["id"], "language": chosen, "url": self.qa_url(anchor, chosen)}

    def get(self, who: Identity, statement_id: str, *, require: bool = True) -> dict[str, Any]:
        if require:
            who.require(*READERS)
        statement = self._load(statement_id)
        out = _public(statement)
        if statement.get("kind") == QA_KIND:
            current = self._current(statement)
            out["qa_urls"] = {lang: self.qa_url(statement.get("qa_entry") or statement_id, lang) for lang in current["text"]}
        return out

    def version(self, who: Identity, statement_id: str, version: int) -> dict[str, Any]:
        """One version with its full text (responses about the statement carry only the current one's)."""
        who.require(*READERS)
        found = self._repo.version(statement_id, version)
        if found is None:
            if self._repo.version(statement_id, 1) is None:
                raise NotFound(f"no statement {statement_id!r}")
            raise NotFound(f"statement {statement_id} has no version {version}")
        return {"statement_id": statement_id, **_version_public(found, with_text=True)}

    def list(self, who: Identity, *, limit: int, state: str | None, start: str | None) -> dict[str, Any]:
        who.require(*READERS)
        items, nxt = self._repo.list(limit=limit, state=state, start=start)
        return {"statements": [_summary(i) for i in items], "next": nxt}


def _original_post(original: dict[str, Any] | None, channel: str, language: str) -> str | None:
    if not original:
        return None
    sent = [d for d in original["deliveries"] if d["channel"] == channel and d["language"] == language and d.get("platform_id")]
    return max(sent, key=lambda d: d["version"])["platform_id"] if sent else None


def _message(statement_id: str, delivery: dict[str, Any], *, kind: str = "deliver") -> dict[str, Any]:
    """A Publisher message: deliver a delivery, or prepare / discard a prepared entry (same key)."""
    message = {"statement_id": statement_id, "key": delivery["key"], "delivery_id": delivery["delivery_id"],
               "generation": int(delivery.get("generation", 0))}
    if kind != "deliver":
        message["kind"] = kind
    elif delivery["state"] == "PENDING" and delivery.get("queued_sha256"):
        queued = queued_delivery(delivery)
        if queued_sha256(queued) == delivery["queued_sha256"] and len(json.dumps(queued)) <= MAX_QUEUED_CHARS:
            message["queued"] = queued  # its first attempt needs no read (crisiscomms.statements.rules)
    return message


def _prepared_entry(statement_id: str, version: int, rendering: dict[str, Any], now: str) -> dict[str, Any]:
    """What a channel should prepare for the delivery publishing this version will create (same key and id)."""
    key = delivery_key(version, rendering["channel"], rendering["language"])
    return {"key": key, "delivery_id": delivery_id(statement_id, key), "statement_id": statement_id, "version": version,
            "channel": rendering["channel"], "language": rendering["language"], "state": "PENDING",
            "text_hash": rendering["sha256"], "attempts": 0, "created_at": now, "updated_at": now}


def _statement_text(filled: dict[str, Any]) -> dict[str, dict[str, str]]:
    """A filled holding template's text as a statement's, checked as a draft's text is."""
    from pydantic import ValidationError

    try:
        return StatementText.model_validate(filled).by_language()
    except ValidationError as exc:
        problems = [{"field": "text." + ".".join(str(p) for p in e["loc"]), "reason": e["msg"]} for e in exc.errors()]
        raise InvalidInput("the filled template is not a valid statement text: "
                           + "; ".join(f"{p['field']}: {p['reason']}" for p in problems), details=problems) from exc


def _text_hash(text: dict[str, Any]) -> str:
    import json

    return hashlib.sha256(json.dumps(text, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


_HIDDEN = {"pk", "sk", "list_pk"}
# The text is in the version, the item in `prepared`; the digest of what was queued is the Publisher's.
_HIDDEN_IN_DELIVERIES = _HIDDEN | {"rendering", "prepared", "queued_sha256"}


def _version_public(version: dict[str, Any], *, with_text: bool) -> dict[str, Any]:
    """A version's metadata (number, author, time, title, channels, text hash), and its text when asked."""
    out = {k: v for k, v in version.items() if k not in _HIDDEN | {"text"}}
    out["text_hash"] = _text_hash(version["text"])
    if with_text:
        out["text"] = version["text"]
    return out


def _public(statement: dict[str, Any]) -> dict[str, Any]:
    """The statement as the API shows it: every version's metadata, but only the current version's text
    (older texts are at GET /statements/{id}/versions/{n}), so a response stays small however many edits."""
    out = {k: v for k, v in statement.items() if k not in _HIDDEN | {"versions", "deliveries", "prepared"}}
    out["versions"] = [_version_public(x, with_text=x["version"] == statement["current_version"])
                       for x in sorted(statement["versions"], key=lambda v: v["version"])]
    out["deliveries"] = [{k: v for k, v in x.items() if k not in _HIDDEN_IN_DELIVERIES} for x in statement["deliveries"]]
    out["prepared"] = [{k: v for k, v in x.items() if k not in _HIDDEN} for x in statement.get("prepared", [])]
    return out


def _summary(statement: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "ref", "state", "kind", "corrects", "channels", "current_version", "created_at", "updated_at", "created_by")
    return {k: statement.get(k) for k in keys if statement.get(k) is not None}
