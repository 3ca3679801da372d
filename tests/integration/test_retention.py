"""Retention per record kind, through the real functions on local AWS: posts and figures expire as configured;
statements, deliveries, alerts, lessons and audit entries carry no expiry unless one is configured."""
from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from crisiscomms.aws.alert_store import AlertRepository
from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import from_item
from crisiscomms.aws.post_store import PostRepository, PostTables
from crisiscomms.models import Post, ScoredPost
from crisiscomms_local.aws import Stack, client, put_watch_config, reset_process_caches
from crisiscomms_local.lambda_runtime import invoke

from .conftest import DeskClient, Listening

pytestmark = pytest.mark.integration
DAY = 24 * 3600
QUIET = {"CONFIG_MAX_AGE_SECONDS": "0", "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true"}
CONCLUSION = {"cause": "An ATM network outage.", "lessons": "Publish a holding statement within 15 minutes."}
TEXT = {"en": {"full": "Harbor Bank statement: all accounts are available.", "short": "All accounts are available."}}


def _items(table: str) -> list[dict[str, Any]]:
    """Every item of a table (a test's look at the whole table; no request path scans)."""
    found: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": table}
    while True:
        page = client("dynamodb").scan(**request)
        found += [from_item(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _epoch(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


# --- posts and figures ------------------------------------------------------------------------------

@pytest.mark.parametrize(("configured", "posts_days", "figures_days"), [
    ({}, 400, 400),  # the template's defaults
    ({"POST_RETENTION_DAYS": "30", "AGGREGATE_RETENTION_DAYS": "90"}, 30, 90),
])
def test_posts_links_and_figures_expire_as_configured(listening: Listening, configured: dict[str, str],
                                                      posts_days: int, figures_days: int) -> None:
    os.environ.update(configured)
    reset_process_caches()
    listening.configure()
    listening.x.add_post(text="Harbor Bank ATMs are down everywhere", author="li",
                         created_at=listening.clock() - timedelta(minutes=2))
    [report] = listening.poll("x")
    assert report["stored"] == 1, report
    refs = listening.stack.refs
    [post] = _items(refs["PostsTable"])
    [link] = _items(refs["TopicPostsTable"])
    figures = _items(refs["AggregatesTable"])
    minutes = [f for f in figures if f["minute_key"][0].isdigit()]
    hours = [f for f in figures if f["minute_key"].startswith("hour#")]
    stored_at = _epoch(post["ingested_at"])
    assert post["expires_at"] == link["expires_at"] == stored_at + posts_days * DAY
    assert len(minutes) == len(hours) == 1, figures
    assert minutes[0]["expires_at"] == hours[0]["expires_at"] == stored_at + figures_days * DAY


# --- everything else ----------------------------------------------------------------------------------

def _baseline_then_burst(stack: Stack, start: datetime) -> None:
    """A quiet hour and a negative burst after it, stored as the Poller would."""
    posts = PostRepository(PostTables(stack.refs["PostsTable"], stack.refs["TopicPostsTable"],
                                      stack.refs["AggregatesTable"]), clients=AwsClients(), retention_days=30)
    for minute in range(64):
        negative = minute >= 60
        when = start + timedelta(minutes=minute)
        for i in range(15 if negative else 1):
            post = Post(platform="x", native_id=f"{minute}{i:04d}", source_type="social", source_id="x", url="u",
                        author=f"a{i}", followers=50_000 if negative else 10, text="Harbor Bank",
                        published_at=when + timedelta(seconds=i))
            posts.store(ScoredPost(post=post, topics=("harbor",), language="en", sentiment=-0.8 if negative else 0.4,
                                   sentiment_label="negative" if negative else "positive",
                                   crisis_terms=("bank run",) if negative else (), crisis_categories=(),
                                   crisis_weight=3.0 if negative else 0.0, is_crisis=negative,
                                   risk=70 if negative else 0, ingested_at=when, high_reach_negative=negative))


def _detector_alerts(stack: Stack, clock: Any, overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the real Detector function minute by minute over the burst until it opens an alert."""
    start = clock()
    put_watch_config(stack, json.dumps({"version": 1, "topics": [{"id": "harbor", "names": ["Harbor Bank"]}],
                                        "detection": {"baseline_hours": 1}}))
    _baseline_then_burst(stack, start)
    os.environ.update(stack.function_environment("DetectorFunction", {**QUIET, **(overrides or {})}))
    reset_process_caches()
    for minute in range(61, 70):
        clock.set(start + timedelta(minutes=minute))
        invoke("detector", {"job": "detect", "scheduled_time": clock().strftime("%Y-%m-%dT%H:%M:%SZ")})
        alerts = _items(stack.refs["AlertsTable"])
        if alerts:
            return alerts[0]
    raise AssertionError("the burst opened no alert")


def test_statements_deliveries_alerts_lessons_and_audit_entries_carry_no_expiry_by_default(desk: DeskClient) -> None:
    stack = desk.world.stack
    sid = desk.draft(TEXT, ["newsroom", "x"])["id"]
    desk.approve_and_publish(sid)
    desk.world.pump()
    assert {d["state"] for d in desk.get(sid)["deliveries"]} == {"SENT"}
    alert = _detector_alerts(stack, desk.clock)
    os.environ.update(stack.function_environment("DeskApiFunction", QUIET))
    reset_process_caches()
    status, closed = desk.call("POST", f"/alerts/{alert['alert_id']}/close", CONCLUSION, as_="oncall:chen")
    assert status == 200 and closed["conclusion"] == CONCLUSION, closed

    statements = _items(stack.refs["StatementsTable"])
    alerts = _items(stack.refs["AlertsTable"])
    audit = _items(stack.refs["AuditTable"])
    kinds = {item["sk"].split("#", 1)[0] for item in statements}
    assert {"meta", "delivery"} <= kinds, kinds
    assert [a.get("state") for a in alerts] == ["CLOSED"]
    assert {"publish", "alert_triggered", "alert_closed"} <= {e["action"] for e in audit}
    assert {"statement", "alert"} <= {e["target"].split("#", 1)[0] for e in audit}
    for name, items in (("statements and deliveries", statements), ("alerts and lessons", alerts), ("audit", audit)):
        assert items and not [i for i in items if "expires_at" in i], f"{name} must not expire by default"
    ttl = {logical: client("dynamodb").describe_time_to_live(TableName=stack.refs[logical])["TimeToLiveDescription"]
           for logical in ("StatementsTable", "AuditTable")}
    assert all(d["TimeToLiveStatus"] == "DISABLED" for d in ttl.values()), ttl


def test_configured_alert_retention_expires_alerts_and_lessons_keep_a_closed_one(desk: DeskClient) -> None:
    stack = desk.world.stack
    alert = _detector_alerts(stack, desk.clock, {"ALERT_RETENTION_DAYS": "30"})
    assert alert["expires_at"] == _epoch(alert["triggered_at"]) + 30 * DAY

    os.environ.update(stack.function_environment("DeskApiFunction", QUIET))  # LESSON_RETENTION_DAYS: 0, kept
    reset_process_caches()
    assert desk.call("POST", f"/alerts/{alert['alert_id']}/close", CONCLUSION, as_="oncall:chen")[0] == 200
    [kept] = _items(stack.refs["AlertsTable"])
    assert kept["state"] == "CLOSED" and "expires_at" not in kept, "its lessons keep it"

    log = AuditLog(stack.refs["AuditTable"], stack.refs["StateTable"], clients=AwsClients(), sleep=lambda _: None)
    repo = AlertRepository(stack.refs["AlertsTable"], stack.refs["StateTable"], log, retention_days=30)
    from crisiscomms.models.audit import AuditEntry

    triggered = desk.clock() - timedelta(hours=1)
    repo.create({"alert_id": "harbor-20261128-2300", "topic": "harbor", "status": "RESOLVED", "level": "WARNING",
                 "triggered_at": triggered.isoformat()},
                AuditEntry(actor="detector", role="system", action="alert_triggered", target="alert#harbor-20261128-2300",
                           at=triggered))
    os.environ["LESSON_RETENTION_DAYS"] = "365"
    reset_process_caches()
    assert desk.call("POST", "/alerts/harbor-20261128-2300/close", CONCLUSION, as_="approver:wang")[0] == 200
    closed = repo.get("harbor-20261128-2300")
    assert closed["expires_at"] == int(desk.clock().timestamp()) + 365 * DAY
