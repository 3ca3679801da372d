"""The Detector's state-table calls stay inside its IAM policy (local AWS does not enforce IAM, so check here)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from fnmatch import fnmatchcase
from typing import Any

from crisiscomms.aws.alert_store import AlertRepository
from crisiscomms.aws.dynamo import from_item
from crisiscomms.detection.levels import Thresholds, minute_key, rebuilt
from crisiscomms_local.template import load_template

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)


class _Recorder:
    """A DynamoDB client that remembers each call's operation, table and partition key."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def get_item(self, *, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.calls.append(("dynamodb:GetItem", TableName, from_item(Key)["pk"]))
        return {}

    def put_item(self, *, TableName: str, Item: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.calls.append(("dynamodb:PutItem", TableName, from_item(Item)["pk"]))
        return {}


class _Audit:
    def __init__(self, client: _Recorder) -> None:
        self.clients = lambda service: client


def _state_table_statements() -> list[dict[str, Any]]:
    policies = load_template()["Resources"]["DetectorFunction"]["Properties"]["Policies"]
    return [s for p in policies for s in p["Statement"]
            if s["Effect"] == "Allow" and s["Resource"] == {"Fn::GetAtt": ["StateTable", "Arn"]}]


def _allowed(action: str, pk: str) -> bool:
    for statement in _state_table_statements():
        keys = statement.get("Condition", {}).get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys", ["*"])
        if action in statement["Action"] and any(fnmatchcase(pk, pattern) for pattern in keys):
            return True
    return False


def test_reading_and_saving_the_state_and_its_baseline_uses_only_what_the_detector_may_do() -> None:
    client = _Recorder()
    repo = AlertRepository("alerts", "state", _Audit(client))  # type: ignore[arg-type]
    records = [{"minute": minute_key(NOW - timedelta(minutes=m)), "source_type": "social", "posts": 2}
               for m in range(1, 24 * 60 + 16)]
    baseline = rebuilt(records, {}, NOW, Thresholds())
    repo.detector_state("harbor")
    repo.save_detector_state("harbor", {"level": "NORMAL", "baseline": baseline.to_dict()})
    assert {(a, pk) for a, _, pk in client.calls} == {
        ("dynamodb:GetItem", "detector#harbor"), ("dynamodb:GetItem", "detector#harbor#baseline"),
        ("dynamodb:PutItem", "detector#harbor"), ("dynamodb:PutItem", "detector#harbor#baseline")}
    refused = [(a, pk) for a, table, pk in client.calls if table == "state" and not _allowed(a, pk)]
    assert not refused, f"the Detector's IAM policy does not allow {refused}"
