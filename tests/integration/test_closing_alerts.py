"""Closing an alert with a conclusion, and the lessons it leaves, through the real API handler on local AWS."""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from crisiscomms.aws.alert_store import AlertRepository
from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.models.audit import AuditEntry
from crisiscomms_local.aws import Stack, reset_process_caches
from crisiscomms_local.lambda_runtime import invoke

pytestmark = pytest.mark.integration
QUIET = {"CONFIG_MAX_AGE_SECONDS": "0", "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true"}
CONCLUSION = {"cause": "A card-network outage delayed ATM withdrawals; a rumour of a bank run followed.",
              "lessons": "Say what is known within 15 minutes, even before the cause is confirmed.",
              "worked": "The holding statement on Weibo and WeChat.", "change": "Brief the branch managers first."}


class _Operations:
    """A DynamoDB client's operations, each read's table and index; a Scan fails the test at once."""

    def __init__(self, dynamodb: Any) -> None:
        self.seen: Counter[str] = Counter()
        self.reads: list[tuple[str, str, str | None]] = []
        dynamodb.meta.events.register("provide-client-params.dynamodb", self._params)

    def _params(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        assert model.name != "Scan", "nothing on a request path scans"
        self.seen[model.name] += 1
        if model.name in ("Query", "GetItem"):
            self.reads.append((model.name, str(params.get("TableName")), params.get("IndexName")))

    def reset(self) -> None:
        self.seen.clear()
        self.reads.clear()


@dataclass
class AlertsApi:
    stack: Stack
    clock: Any
    ops: _Operations
    repo: AlertRepository
    log: AuditLog

    ROLES = {"author": ["comms-author"], "approver": ["comms-approver"], "auditor": ["auditor"], "oncall": ["oncall"],
             "nobody": []}

    def call(self, method: str, path: str, body: Any = None, *, as_: str = "oncall:chen", raw: str | None = None,
             query: str = "") -> tuple[int, Any]:
        from crisiscomms_local.apigw import rest_event

        role, user = as_.split(":")
        event = rest_event(method, path, body=raw if raw is not None else body, user=user, groups=self.ROLES[role],
                           query=query)
        result = invoke("api", event)
        return result["statusCode"], json.loads(result["body"]) if result.get("body") else None

    def alert(self, minute: int, *, topic: str = "harbor", status: str = "TRIGGERED", level: str = "WARNING") -> str:
        """An alert as the Detector records it, triggered at 09:<minute> on 28 November 2026."""
        at = datetime(2026, 11, 28, 9, minute, tzinfo=timezone.utc)
        alert_id = f"{topic}-20261128-09{minute:02d}"
        self.repo.create({"alert_id": alert_id, "topic": topic, "topic_name": "Harbor Bank", "status": status,
                          "level": level, "triggered_at": at.isoformat(), "updated_at": at.isoformat()},
                         AuditEntry(actor="detector", role="system", action="alert_triggered", target=f"alert#{alert_id}",
                                    at=at, after={"level": level}))
        return alert_id

    def actions(self, alert_id: str) -> list[str]:
        return [r["action"] for r in self.log.records() if r["target"] == f"alert#{alert_id}"]


@pytest.fixture
def api(stack: Stack, sim_clock: Any) -> Iterator[AlertsApi]:
    from crisiscomms.wiring import container

    saved = dict(os.environ)
    os.environ.update(stack.function_environment("DeskApiFunction", QUIET))
    reset_process_caches()
    sim_clock.set(datetime(2026, 11, 28, 11, 0, tzinfo=timezone.utc))
    log = AuditLog(stack.refs["AuditTable"], stack.refs["StateTable"], clients=AwsClients(), sleep=lambda _: None)
    repo = AlertRepository(stack.refs["AlertsTable"], stack.refs["StateTable"], log)
    yield AlertsApi(stack, sim_clock, _Operations(container().clients("dynamodb")), repo, log)
    os.environ.clear()
    os.environ.update(saved)
    reset_process_caches()


# --- who may close, who may read ------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["oncall:chen", "approver:wang"])
def test_oncall_staff_and_approvers_close_an_alert_with_a_conclusion(api: AlertsApi, who: str) -> None:
    alert_id = api.alert(22)
    status, body = api.call("POST", f"/alerts/{alert_id}/close", CONCLUSION, as_=who)
    assert status == 200, body
    assert (body["state"], body["closed_by"], body["closed_at"]) == ("CLOSED", who.split(":")[1],
                                                                     "2026-11-28T11:00:00+00:00")
    assert body["conclusion"] == CONCLUSION
    assert api.repo.get(alert_id)["conclusion"] == CONCLUSION
    assert api.actions(alert_id) == ["alert_triggered", "alert_closed"]


@pytest.mark.parametrize("who", ["author:li", "auditor:zhou", "nobody:eve"])
def test_authors_auditors_and_strangers_cannot_close_and_nothing_changes(api: AlertsApi, who: str) -> None:
    alert_id = api.alert(22)
    before = api.repo.get(alert_id)
    status, body = api.call("POST", f"/alerts/{alert_id}/close", CONCLUSION, as_=who)
    assert status == 403, body
    assert api.repo.get(alert_id) == before
    assert api.actions(alert_id) == ["alert_triggered"]


@pytest.mark.parametrize("who", ["auditor:zhou", "oncall:chen", "approver:wang", "author:li"])
def test_every_desk_role_reads_lessons(api: AlertsApi, who: str) -> None:
    alert_id = api.alert(22)
    assert api.call("POST", f"/alerts/{alert_id}/close", CONCLUSION)[0] == 200
    status, body = api.call("GET", "/lessons", query="topic=harbor&from=2026-11-28T00:00:00Z&to=2026-11-29T00:00:00Z",
                            as_=who)
    assert status == 200, body
    assert [(lesson["alert_id"], lesson["cause"], lesson["lessons"]) for lesson in body["lessons"]] == [
        (alert_id, CONCLUSION["cause"], CONCLUSION["lessons"])]


def test_a_caller_in_no_desk_group_reads_no_lessons(api: AlertsApi) -> None:
    status, body = api.call("GET", "/lessons", query="topic=harbor", as_="nobody:eve")
    assert status == 403 and "lessons" not in body


# --- the rules of closing -----------------------------------------------------------------------------

def test_a_second_close_is_a_409_and_keeps_the_first_conclusion(api: AlertsApi) -> None:
    alert_id = api.alert(22)
    assert api.call("POST", f"/alerts/{alert_id}/close", CONCLUSION, as_="oncall:chen")[0] == 200
    api.clock.advance(timedelta(minutes=5))
    status, body = api.call("POST", f"/alerts/{alert_id}/close", {"cause": "other", "lessons": "other"},
                            as_="approver:wang")
    assert status == 409 and "closed by chen" in body["error"]
    stored = api.repo.get(alert_id)
    assert (stored["conclusion"], stored["closed_by"]) == (CONCLUSION, "chen")
    assert api.actions(alert_id).count("alert_closed") == 1


def test_a_close_that_loses_the_race_is_a_409_and_changes_nothing(api: AlertsApi, monkeypatch) -> None:
    """Both callers read an open alert; the condition lets only the first transaction through."""
    from crisiscomms.review.lessons import LessonBook

    alert_id = api.alert(22, status="ACKNOWLEDGED")  # closing it changes no status: only `state` can refuse
    read = AlertRepository.get

    def read_then_someone_closes(self: AlertRepository, wanted: str) -> dict | None:
        found = read(self, wanted)
        monkeypatch.setattr(AlertRepository, "get", read)
        assert LessonBook(api.repo, clock=api.clock).close(
            _identity("wang", "comms-approver"), wanted, _conclusion({"cause": "first", "lessons": "first"}))
        return found

    monkeypatch.setattr(AlertRepository, "get", read_then_someone_closes)
    status, body = api.call("POST", f"/alerts/{alert_id}/close", CONCLUSION, as_="oncall:chen")
    assert status == 409 and "closed by wang" in body["error"], body
    assert api.repo.get(alert_id)["conclusion"] == {"cause": "first", "lessons": "first"}
    assert api.actions(alert_id).count("alert_closed") == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"lessons": "x"}, "cause"),
    ({"cause": "x"}, "lessons"),
    ({"cause": "x", "lessons": "   \u200b "}, "lessons"),
    ({"cause": "bad\u202etext", "lessons": "x"}, "cause"),
    ({"cause": "x", "lessons": "y" * 4001}, "lessons"),
    ({"cause": 7, "lessons": "x"}, "cause"),
    ({"cause": "x", "lessons": "x", "worked": ""}, "worked"),
    ({"cause": "x", "lessons": "x", "reason": "typo"}, "reason"),
])
def test_a_conclusion_without_cause_or_lessons_is_a_422_naming_the_field(api: AlertsApi, body: dict, field: str) -> None:
    alert_id = api.alert(22)
    status, answer = api.call("POST", f"/alerts/{alert_id}/close", body)
    assert status == 422, answer
    assert field in [d["field"] for d in answer["details"]], answer
    assert api.repo.get(alert_id).get("state") is None
    assert api.actions(alert_id) == ["alert_triggered"]


def test_no_body_is_a_422_and_an_unknown_alert_a_404(api: AlertsApi) -> None:
    alert_id = api.alert(22)
    status, answer = api.call("POST", f"/alerts/{alert_id}/close")
    assert status == 422, answer
    status, answer = api.call("POST", "/alerts/harbor-20261128-0959/close", CONCLUSION)
    assert status == 404 and "harbor-20261128-0959" in answer["error"]
    status, answer = api.call("POST", "/alerts/Not_An_Id/close", CONCLUSION)
    assert status == 422 and answer["details"][0]["field"] == "path.alert_id"


def test_closing_acknowledges_a_triggered_alert_and_leaves_a_resolved_one_resolved(api: AlertsApi) -> None:
    open_id, resolved_id = api.alert(10), api.alert(20, status="RESOLVED")
    assert api.call("POST", f"/alerts/{open_id}/close", CONCLUSION, as_="approver:wang")[0] == 200
    assert api.call("POST", f"/alerts/{resolved_id}/close", CONCLUSION, as_="oncall:chen")[0] == 200
    acknowledged, resolved = api.repo.get(open_id), api.repo.get(resolved_id)
    assert (acknowledged["status"], acknowledged["acknowledged_by"]) == ("ACKNOWLEDGED", "wang")
    assert resolved["status"] == "RESOLVED" and "acknowledged_by" not in resolved
    assert {a["state"] for a in (acknowledged, resolved)} == {"CLOSED"}


def test_the_audit_chain_holds_the_closing_entry_with_the_whole_conclusion(api: AlertsApi) -> None:
    from crisiscomms.audit.verification import verify_chain

    alert_id = api.alert(22)
    assert api.call("POST", f"/alerts/{alert_id}/close", CONCLUSION, as_="approver:wang")[0] == 200
    records = list(api.log.records())
    closing = records[-1]
    assert (closing["action"], closing["target"], closing["actor"], closing["role"]) == (
        "alert_closed", f"alert#{alert_id}", "wang", "comms-approver")
    assert closing["before"] == {"status": "TRIGGERED"}
    assert closing["after"] == {"state": "CLOSED", "status": "ACKNOWLEDGED", "conclusion": CONCLUSION}
    canonical = json.dumps(CONCLUSION, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert closing["text_hash"] == hashlib.sha256(canonical).hexdigest()
    result = verify_chain(iter(records), api.log.head())
    assert result.ok and result.entries == 2, result.problem
    by_target = api.stack.refs["AuditTable"]
    found = AwsClients()("dynamodb").query(TableName=by_target, IndexName="by_target",
                                           KeyConditionExpression="target = :t",
                                           ExpressionAttributeValues={":t": {"S": f"alert#{alert_id}"}})["Items"]
    assert [i["action"]["S"] for i in found] == ["alert_triggered", "alert_closed"]


# --- lessons --------------------------------------------------------------------------------------------

def test_lessons_are_one_query_of_the_topic_index_over_the_trigger_times(api: AlertsApi) -> None:
    first, second, open_one, late = api.alert(5), api.alert(30), api.alert(40), api.alert(50)
    api.alert(45, topic="northgate")
    for alert_id, cause in ((first, "first cause"), (second, "second cause"), (late, "late cause")):
        assert api.call("POST", f"/alerts/{alert_id}/close", {**CONCLUSION, "cause": cause})[0] == 200
    northgate = "northgate-20261128-0945"
    assert api.call("POST", f"/alerts/{northgate}/close", CONCLUSION)[0] == 200
    api.ops.reset()
    status, body = api.call("GET", "/lessons", query="topic=harbor&from=2026-11-28T09:00:00Z&to=2026-11-28T17:45:00%2B08:00",
                            as_="auditor:zhou")
    assert status == 200, body
    assert [lesson["alert_id"] for lesson in body["lessons"]] == [first, second], "09:45 UTC ends the range"
    assert [lesson["cause"] for lesson in body["lessons"]] == ["first cause", "second cause"]
    assert body["lessons"][0]["worked"] == CONCLUSION["worked"] and body["lessons"][0]["closed_by"] == "chen"
    assert (body["from"], body["to"]) == ("2026-11-28T09:00:00+00:00", "2026-11-28T09:45:00+00:00")
    assert api.ops.seen == Counter({"Query": 1})
    assert api.ops.reads == [("Query", api.stack.refs["AlertsTable"], "by_topic")]
    assert open_one not in {lesson["alert_id"] for lesson in body["lessons"]}


def test_lessons_default_to_the_last_90_days_and_refuse_a_bad_range(api: AlertsApi) -> None:
    alert_id = api.alert(22)
    assert api.call("POST", f"/alerts/{alert_id}/close", CONCLUSION)[0] == 200
    status, body = api.call("GET", "/lessons", query="topic=harbor", as_="auditor:zhou")
    assert status == 200 and [lesson["alert_id"] for lesson in body["lessons"]] == [alert_id]
    assert body["to"] == "2026-11-28T11:00:00+00:00" and body["from"] == "2026-08-30T11:00:00+00:00"
    api.ops.reset()
    for query, field in (("topic=harbor&from=2026-11-29T00:00:00Z&to=2026-11-28T00:00:00Z", "from"),
                         ("topic=harbor&from=2024-01-01T00:00:00Z&to=2026-11-28T00:00:00Z", "to"),
                         ("topic=harbor&from=yesterday", "from"), ("topic=harbor&to=2026-11-28T00:00:00", "to")):
        status, body = api.call("GET", "/lessons", query=query, as_="auditor:zhou")
        assert status == 400 and body["details"][0]["field"] == field, (query, body)
    status, body = api.call("GET", "/lessons", query="topic=Harbor!", as_="auditor:zhou")
    assert status == 422 and body["details"][0]["field"] == "query.topic"
    assert not api.ops.seen, "a refused request reads nothing"


def test_the_report_reads_typed_lessons_from_the_repository(api: AlertsApi) -> None:
    from crisiscomms.models.alerts import Lesson

    alert_id = api.alert(22, level="CRISIS")
    assert api.call("POST", f"/alerts/{alert_id}/close", {"cause": "c", "lessons": "l"})[0] == 200
    [lesson] = api.repo.lessons("harbor", datetime(2026, 11, 28, tzinfo=timezone.utc),
                                datetime(2026, 11, 29, tzinfo=timezone.utc))
    assert isinstance(lesson, Lesson)
    assert (lesson.alert_id, lesson.level, lesson.cause, lesson.lessons, lesson.worked, lesson.change) == (
        alert_id, "CRISIS", "c", "l", None, None)
    assert api.repo.lessons("harbor", datetime(2026, 11, 28, 9, 23, tzinfo=timezone.utc),
                            datetime(2026, 11, 29, tzinfo=timezone.utc)) == []


# --- closing and the Detector --------------------------------------------------------------------------

def test_a_closed_alert_is_not_escalated_but_a_rise_is_still_told(stack: Stack, sim_clock: Any) -> None:
    """Closing is the people's conclusion, not a mute: the Detector still raises the alert and sends the
    CRISIS SMS; the escalation for an unacknowledged alert does not come, because closing acknowledged it."""
    from crisiscomms.aws.post_store import PostRepository, PostTables
    from crisiscomms.detection.levels import Thresholds
    from crisiscomms.detection.run import Detector
    from crisiscomms.models import Post, ScoredPost
    from crisiscomms.review.lessons import LessonBook
    from crisiscomms.watch import Topic

    start = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
    clients = AwsClients()
    posts = PostRepository(PostTables(stack.refs["PostsTable"], stack.refs["TopicPostsTable"],
                                      stack.refs["AggregatesTable"]), clients=clients, retention_days=30)
    log = AuditLog(stack.refs["AuditTable"], stack.refs["StateTable"], clients=clients, sleep=lambda _: None)
    alerts = AlertRepository(stack.refs["AlertsTable"], stack.refs["StateTable"], log)
    sent: list[tuple[str, str]] = []
    topic = Topic(id="harbor", names=["Harbor Bank"])

    def store(minute: int, n: int, negative: bool) -> None:
        when = start + timedelta(minutes=minute)
        for i in range(n):
            post = Post(platform="x", native_id=f"{minute}{i:04d}", source_type="social", source_id="x", url="u",
                        author=f"a{i}", followers=50_000 if negative else 10, text="Harbor Bank",
                        published_at=when + timedelta(seconds=i % 60))
            posts.store(ScoredPost(post=post, topics=("harbor",), language="en", sentiment=-0.8 if negative else 0.4,
                                   sentiment_label="negative" if negative else "positive",
                                   crisis_terms=("bank run",) if negative else (), crisis_categories=(),
                                   crisis_weight=3.0 if negative else 0.0, is_crisis=negative,
                                   risk=70 if negative else 0, ingested_at=when, high_reach_negative=negative))

    def evaluate() -> str:
        detector = Detector(posts, alerts, thresholds=Thresholds(baseline_hours=1), clock=sim_clock,
                            send_sms=lambda arn, text: sent.append((arn, text)) or f"m{len(sent)}",
                            oncall_topic="oncall", escalation_topic="escalation")
        return detector.evaluate(topic)["level"]

    for minute in range(60):
        store(minute, 1, negative=False)
    levels = []
    for minute in range(60, 64):
        store(minute, 6, negative=True)
        sim_clock.set(start + timedelta(minutes=minute + 1))
        levels.append(evaluate())
    assert "WARNING" in levels and "CRISIS" not in levels, levels
    [alert] = alerts.for_topic("harbor")
    assert alert["status"] == "TRIGGERED"
    LessonBook(alerts, clock=sim_clock).close(_identity("chen", "oncall"), alert["alert_id"],
                                              _conclusion({"cause": "premature", "lessons": "wait"}))
    for minute in range(64, 84):
        store(minute, 20, negative=True)
        sim_clock.set(start + timedelta(minutes=minute + 1))
        levels.append(evaluate())
    assert levels[-1] == "CRISIS", levels
    assert [t.split()[0] for arn, t in sent if arn == "oncall"] == ["WARNING", "CRISIS"]
    assert not [t for arn, t in sent if arn == "escalation"], "closing acknowledged it"
    [after] = alerts.for_topic("harbor")
    assert (after["state"], after["level"], after["notified_level"]) == ("CLOSED", "CRISIS", "CRISIS")


def _identity(user: str, group: str) -> Any:
    from crisiscomms.identity import Identity

    return Identity(user=user, groups=frozenset({group}))


def _conclusion(values: dict[str, str]) -> Any:
    from crisiscomms.models.alerts import Conclusion

    return Conclusion.model_validate(values)
