"""What on-call staff do with alerts through the API: see them, acknowledge them."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from crisiscomms.aws.alert_store import AlertRepository
from crisiscomms.errors import Conflict, NotFound
from crisiscomms.identity import AUDITOR, ONCALL, Identity
from crisiscomms.models.audit import AuditEntry


class AlertDesk:
    def __init__(self, alerts: AlertRepository, *, clock: Callable[[], datetime]) -> None:
        self._alerts = alerts
        self._clock = clock

    def acknowledge(self, who: Identity, alert_id: str) -> dict[str, Any]:
        who.require(ONCALL)
        alert = self._alerts.get(alert_id)
        if alert is None:
            raise NotFound(f"no alert {alert_id!r}")
        if alert["status"] != "TRIGGERED":
            raise Conflict(f"alert {alert_id} is {alert['status']}; only a TRIGGERED alert is acknowledged")
        now = self._clock()
        entry = AuditEntry(actor=who.user, role=ONCALL, action="alert_acknowledged", target=f"alert#{alert_id}",
                           at=now, before={"status": "TRIGGERED"}, after={"status": "ACKNOWLEDGED"})
        if not self._alerts.acknowledge(alert_id, by=who.user, at=now.isoformat(), entry=entry):
            raise Conflict(f"alert {alert_id} changed meanwhile; read it again")
        return self._alerts.get(alert_id)  # type: ignore[return-value]

    def list(self, who: Identity, topic: str, limit: int) -> dict[str, Any]:
        who.require(ONCALL, AUDITOR)
        return {"alerts": self._alerts.newest_for_topic(topic, limit=limit)}
