"""The drill's desk: people's actions through the real API handler, and what the channels show."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from crisiscomms_local.apigw import rest_event
from crisiscomms_local.lambda_runtime import invoke

GROUPS = {"author": ["comms-author"], "approver": ["comms-approver"], "auditor": ["auditor"], "oncall": ["oncall"]}
SUCCESS = {"draft": 201, "correct": 201, "publish": 202}


@dataclass
class DeskOutcome:
    at: str
    who: str
    action: str
    ref: str | None
    status: int
    ok: bool
    detail: str = ""


@dataclass
class Desk:
    """Runs desk actions; remembers which statement each scenario ref names."""

    refs: dict[str, str] = field(default_factory=dict)
    outcomes: list[DeskOutcome] = field(default_factory=list)
    refusals: list[dict[str, Any]] = field(default_factory=list)

    def _call(self, who: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        role, user = who.split(":", 1)
        path, _, query = path.partition("?")
        result = invoke("api", rest_event(method, path, body=body, user=user, groups=GROUPS[role], query=query))
        return result["statusCode"], json.loads(result["body"]) if result.get("body") else None

    def statement(self, ref: str) -> dict[str, Any] | None:
        if ref not in self.refs:
            return None
        status, body = self._call("auditor:drill", "GET", f"/statements/{self.refs[ref]}")
        return body if status == 200 else None

    def _request(self, who: str, action: str, spec: dict[str, Any]) -> tuple[int, Any]:
        ref = spec.get("ref")
        sid = self.refs.get(ref or "", "st-0000000000000000")
        if action == "draft":
            return self._call(who, "POST", "/statements", {"channels": spec.get("channels"), "text": spec.get("text"),
                                                            **({"ref": ref} if ref else {})})
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
            open_alerts = [a for a in (listing or {}).get("alerts", []) if a.get("status") == "TRIGGERED"] if status == 200 else []
            if not open_alerts:
                return (status if status != 200 else 404), {"error": f"no open alert for topic {spec.get('topic')!r}"}
            return self._call(who, "POST", f"/alerts/{open_alerts[0]['alert_id']}/ack")
        if action == "correct":
            original = self.refs.get(spec.get("corrects", ""), "st-0000000000000000")
            return self._call(who, "POST", f"/statements/{original}/corrections",
                              {"kind": spec.get("kind", "correction"), "text": spec.get("text"),
                               **({"channels": spec["channels"]} if spec.get("channels") else {}),
                               **({"ref": ref} if ref else {})})
        raise ValueError(f"desk action {action!r} is not available in this version")

    def act(self, at: str, action: dict[str, Any]) -> DeskOutcome:
        who, do = action["as"], action["do"]
        spec = {k: v for k, v in action.items() if k not in ("at", "as", "do")}
        if do == "expect_refused":
            return self._expect_refused(at, who, spec)
        status, body = self._request(who, do, spec)
        ok = status == SUCCESS.get(do, 200)
        if ok and do in ("draft", "correct") and spec.get("ref"):
            self.refs[spec["ref"]] = body["id"]
        detail = "" if ok else (body or {}).get("error", "")
        outcome = DeskOutcome(at, who, do, spec.get("ref"), status, ok, detail)
        self.outcomes.append(outcome)
        return outcome

    def _expect_refused(self, at: str, who: str, spec: dict[str, Any]) -> DeskOutcome:
        action, wanted = spec.pop("action"), int(spec.pop("status"))
        before = self.statement(spec["ref"]) if spec.get("ref") else None
        status, body = self._request(who, action, spec)
        after = self.statement(spec["ref"]) if spec.get("ref") else None
        unchanged = before == after
        ok = status == wanted and unchanged
        detail = (body or {}).get("error", "") if status == wanted else f"answered {status}, expected {wanted}"
        if status == wanted and not unchanged:
            detail = "refused, but the statement changed"
        outcome = DeskOutcome(at, who, f"expect_refused {action}", spec.get("ref"), status, ok, detail)
        self.outcomes.append(outcome)
        self.refusals.append({"at": at, "as": who, "action": action, "ref": spec.get("ref"), "status": wanted,
                              "observed": status, "unchanged": unchanged, "passed": ok, "detail": detail})
        return outcome
