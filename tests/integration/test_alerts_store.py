"""Alert records, detector state and SMS publishing on local AWS."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from crisiscomms.aws.clients import AwsClients

from crisiscomms.models.audit import AuditEntry
from crisiscomms.audit.verification import verify_chain
from crisiscomms.aws.alert_store import AlertRepository
from crisiscomms.aws.notifications import publish_sms
from crisiscomms.aws.audit_log import AuditLog

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 28, 9, 30, tzinfo=timezone.utc)


def _repo(stack) -> tuple[AlertRepository, AuditLog]:
    log = AuditLog(stack.refs["AuditTable"], stack.refs["StateTable"], clients=AwsClients(), sleep=lambda s: None)
    return AlertRepository(stack.refs["AlertsTable"], stack.refs["StateTable"], log), log


def _entry(action: str) -> AuditEntry:
    return AuditEntry(actor="detector", role="system", action=action, target="alert#a1", at=NOW)


def test_alert_lifecycle_is_conditional_and_audited(stack) -> None:
    repo, log = _repo(stack)
    repo.create({"alert_id": "a1", "topic": "harbor", "status": "TRIGGERED", "level": "WARNING",
                 "triggered_at": NOW.isoformat(), "evidence": {"negative_share": 0.82}}, _entry("alert_triggered"))
    assert repo.update("a1", expect_status=("TRIGGERED",), updates={"status": "ACKNOWLEDGED", "acknowledged_by": "wu"},
                       entry=_entry("alert_acknowledged"))
    assert not repo.update("a1", expect_status=("TRIGGERED",), updates={"status": "ACKNOWLEDGED", "acknowledged_by": "li"},
                           entry=_entry("alert_acknowledged")), "a second acknowledgement changes nothing"
    alert = repo.get("a1")
    assert alert["status"] == "ACKNOWLEDGED" and alert["acknowledged_by"] == "wu"
    assert [a["alert_id"] for a in repo.for_topic("harbor")] == ["a1"]
    assert [r["action"] for r in log.records()] == ["alert_triggered", "alert_acknowledged"]
    assert verify_chain(log.records(), log.head()).ok


def test_detector_state_survives_a_restart(stack) -> None:
    repo, _ = _repo(stack)
    assert repo.detector_state("harbor") is None
    repo.save_detector_state("harbor", {"level": "WARNING", "candidate": "CRISIS", "count": 1, "open_alert": "a1"})
    assert repo.detector_state("harbor") == {"level": "WARNING", "candidate": "CRISIS", "count": 1, "open_alert": "a1"}


def test_sms_reaches_the_topic_as_one_transactional_message(stack) -> None:
    from crisiscomms_local.aws import client
    from crisiscomms_local.aws import sent_notifications

    arn = stack.refs["OnCallTopic"]
    client("sns").subscribe(TopicArn=arn, Protocol="sms", Endpoint="+85291234567")
    publish_sms(client("sns"), arn, "[WARNING] harbor: neg 82% vol 9.5x. Alert a1")
    assert sent_notifications(arn) == ["[WARNING] harbor: neg 82% vol 9.5x. Alert a1"]
    assert sent_notifications(stack.refs["EscalationTopic"]) == []
