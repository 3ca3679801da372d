"""What on-call staff do with alerts through the API: see them, acknowledge them."""
from __future__ import annotations

from typing import Any

from crisiscomms import clock
from crisiscomms.audit import AuditEntry
from crisiscomms.statements import Conflict, Identity, NotFound


def acknowledge(who: Identity, alert_id: str) -> dict[str, Any]:
    from crisiscomms.wiring import alert_repository

    who.require("oncall")
    repo = alert_repository()
    alert = repo.get(alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id!r}")
    if alert["status"] != "TRIGGERED":
        raise Conflict(f"alert {alert_id} is {alert['status']}; only a TRIGGERED alert is acknowledged")
    now = clock.now().isoformat()
    entry = AuditEntry(actor=who.user, role="oncall", action="alert_acknowledged", target=f"alert#{alert_id}",
                       at=clock.now(), before={"status": "TRIGGERED"}, after={"status": "ACKNOWLEDGED"})
    if not repo.acknowledge(alert_id, by=who.user, at=now, entry=entry):
        raise Conflict(f"alert {alert_id} changed meanwhile; read it again")
    return repo.get(alert_id)


def list_alerts(who: Identity, topic: str, limit: int) -> dict[str, Any]:
    from crisiscomms.wiring import alert_repository

    who.require("oncall", "auditor")
    return {"alerts": alert_repository().for_topic(topic, limit=limit)}
