"""The auditor's API on local AWS, through the real API handler: every /audit route refuses every other role,
each request's DynamoDB operations are counted (a Scan fails the test at once), pages follow opaque cursors
to exactly the stored records, and a cursor that was tampered with is refused naming the field and why."""
from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest

from crisiscomms.aws.alert_store import AlertRepository
from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.post_store import PostRepository, PostTables
from crisiscomms.identity import DESK_GROUPS
from crisiscomms.models.audit import AuditEntry
from crisiscomms_local.apigw import rest_event
from crisiscomms_local.aws import Stack, reset_process_caches
from crisiscomms_local.lambda_runtime import invoke

from .dynamo_counter import DynamoRequests
from .test_series import scored

pytestmark = pytest.mark.integration
QUIET = {"CONFIG_MAX_AGE_SECONDS": "0", "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true"}
DAY1 = datetime(2026, 11, 27, 22, 0, tzinfo=timezone.utc)
DAY2 = datetime(2026, 11, 28, 1, 0, tzinfo=timezone.utc)
RANGE = "from=2026-11-27T00:00:00Z&to=2026-11-28T09:00:00Z"
TEXT = {"zh": {"full": "港湾银行声明：所有账户均可正常使用。", "short": "港湾银行：账户正常。"},
        "en": {"full": "Harbor Bank statement: all accounts are available.", "short": "Harbor Bank: accounts are available."}}


class NoScan(DynamoRequests):
    """DynamoRequests that fails the request (and so the test) at the first Scan."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        client.meta.events.register("before-call.dynamodb", self._refuse_scan)

    @staticmethod
    def _refuse_scan(model: Any, **_: Any) -> None:
        assert model.name != "Scan", "nothing on a request path scans"


@dataclass
class AuditorWorld:
    stack: Stack
    clock: Any
    ops: NoScan
    posts: list[Any]

    def call(self, method: str, path: str, query: str = "", *, groups: list[str] | None = None, body: Any = None,
             user: str = "zhou") -> tuple[int, Any]:
        event = rest_event(method, path, body=body, query=query, user=user,
                           groups=["auditor"] if groups is None else groups)
        result = invoke("api", event)
        return result["statusCode"], json.loads(result["body"]) if result.get("body") else None

    def counted(self, method: str, path: str, query: str = "", **kwargs: Any) -> tuple[int, Any, dict[str, int]]:
        """One request and the DynamoDB operations it made."""
        self.ops.reset()
        status, body = self.call(method, path, query, **kwargs)
        return status, body, dict(self.ops.calls)

    def pages(self, path: str, query: str, key: str) -> tuple[list[dict[str, Any]], int]:
        """Every page of a listing, following `next`; and how many pages it took."""
        items: list[dict[str, Any]] = []
        cursor, pages = None, 0
        while True:
            status, body = self.call("GET", path, query + (f"&cursor={quote(cursor)}" if cursor else ""))
            assert status == 200, body
            items += body[key]
            pages += 1
            if not body["next"]:
                return items, pages
            cursor = body["next"]


def _seed_posts(stack: Stack) -> list[Any]:
    """Nine posts of "harbor" over two UTC days, one of "northgate"; risks differ."""
    repo = PostRepository(PostTables(stack.refs["PostsTable"], stack.refs["TopicPostsTable"],
                                     stack.refs["AggregatesTable"]), clients=AwsClients(), retention_days=30)
    posts = []
    layout = [("x", DAY1, -0.8), ("weibo", DAY1 + timedelta(minutes=5), -0.3), ("news", DAY1 + timedelta(minutes=9), 0.2),
              ("x", DAY1 + timedelta(hours=1), 0.5), ("x", DAY2, -0.9), ("bluesky", DAY2 + timedelta(minutes=1), 0.0),
              ("x", DAY2 + timedelta(minutes=2), -0.5), ("weibo", DAY2 + timedelta(hours=2), -0.7),
              ("x", DAY2 + timedelta(hours=3), 0.1)]
    for n, (platform, at, sentiment) in enumerate(layout):
        post = scored(n, platform=platform, at=at, sentiment=sentiment, crisis=sentiment < -0.6)
        post = post.model_copy(update={"risk": 10 * n + 5})
        repo.store(post)
        posts.append(post)
    repo.store(scored(50, platform="x", at=DAY2, sentiment=-0.9, topics=("northgate",)))
    return posts


def _seed_alerts(stack: Stack) -> None:
    log = AuditLog(stack.refs["AuditTable"], stack.refs["StateTable"], clients=AwsClients(), sleep=lambda _: None)
    alerts = AlertRepository(stack.refs["AlertsTable"], stack.refs["StateTable"], log)
    for topic, at in (("harbor", DAY1 + timedelta(minutes=10)), ("northgate", DAY2 + timedelta(minutes=3)),
                      ("harbor", DAY2 + timedelta(hours=4)), ("harbor", datetime(2026, 11, 20, 9, tzinfo=timezone.utc))):
        alert_id = f"{topic}-{at:%Y%m%d-%H%M}"
        alerts.create({"alert_id": alert_id, "topic": topic, "status": "TRIGGERED", "level": "WARNING",
                       "triggered_at": at.isoformat(), "updated_at": at.isoformat(), "reasons": ["surge"]},
                      AuditEntry(actor="system", role="system", action="alert_triggered", target=f"alert#{alert_id}",
                                 at=at, after={"level": "WARNING"}))


@pytest.fixture
def world(stack: Stack, sim_clock: Any) -> Iterator[AuditorWorld]:
    from crisiscomms.wiring import container

    saved = dict(os.environ)
    os.environ.update({**stack.function_environment("DigestFunction"), **stack.function_environment("ExporterFunction"),
                       **stack.function_environment("DeskApiFunction"), **QUIET})
    reset_process_caches()
    posts = _seed_posts(stack)
    _seed_alerts(stack)
    yield AuditorWorld(stack, sim_clock, NoScan(container().clients("dynamodb")), posts)
    os.environ.clear()
    os.environ.update(saved)
    reset_process_caches()


def _statements(world: AuditorWorld, count: int) -> list[str]:
    """Drafted by an author, approved by an approver, at the simulated clock's time."""
    ids = []
    for _ in range(count):
        status, body = world.call("POST", "/statements", body={"channels": ["newsroom"], "text": TEXT},
                                  groups=["comms-author"], user="li")
        assert status == 201, body
        status, approved = world.call("POST", f"/statements/{body['id']}/approve", body={"version": 1},
                                      groups=["comms-approver"], user="wang")
        assert status == 200, approved
        ids.append(body["id"])
        world.clock.advance(timedelta(minutes=1))
    return ids


# --- who may ask -----------------------------------------------------------------------------------

AUDIT_ROUTES = [
    ("GET", "/audit/topics/harbor/posts", RANGE, None),
    ("GET", "/audit/topics/harbor/posts", RANGE + "&min_risk=40", None),
    ("GET", "/audit/platforms/x/posts", RANGE, None),
    ("GET", "/audit/alerts", RANGE, None),
    ("GET", "/audit/statements", RANGE, None),
    ("GET", "/audit/entries", RANGE, None),
    ("GET", "/audit/entries", "target=alert%23harbor-20261127-2210", None),
    ("GET", "/audit/topics/harbor/series", RANGE + "&bucket=hour", None),
    ("POST", "/audit/exports", "", {"kinds": ["alerts"], "from": "2026-11-27T00:00:00Z", "to": "2026-11-28T09:00:00Z"}),
    ("GET", "/audit/exports/ex-0000000000000000", "", None),
]


@pytest.mark.parametrize(("method", "path", "query", "body"), AUDIT_ROUTES)
def test_only_auditors_reach_the_audit_routes_and_others_cause_no_read(world: AuditorWorld, method: str, path: str,
                                                                      query: str, body: Any) -> None:
    for group in DESK_GROUPS:
        status, answer, calls = world.counted(method, path, query, groups=[group], body=body)
        if group == "auditor":
            assert status in (200, 202, 404), (group, status, answer)  # 404: the export that does not exist
        else:
            assert status == 403 and calls == {}, (group, status, answer, calls)
    status, _, calls = world.counted(method, path, query, groups=[], body=body)
    assert status == 403 and calls == {}
    status, _, calls = world.counted(method, path, query, groups=["comms-author", "oncall", "comms-approver"], body=body)
    assert status == 403 and calls == {}, "every other role together is still not an auditor"


def test_the_template_admits_only_the_auditor_scope_on_every_audit_route() -> None:
    from crisiscomms_local.template import load_template

    events = load_template()["Resources"]["DeskApiFunction"]["Properties"]["Events"]
    audit = {(e["Properties"]["Path"], e["Properties"]["Method"]): e["Properties"]["Auth"]["AuthorizationScopes"]
             for e in events.values() if e["Properties"]["Path"].startswith("/audit/")}
    routes = {(p.replace("harbor", "{topic}").replace("/x/", "/{platform}/").replace("ex-0000000000000000", "{export_id}"),
               m.lower()) for m, p, _, _ in AUDIT_ROUTES}
    assert routes | {("/audit/verify", "get")} == set(audit)
    assert all(scopes == ["crisiscomms/auditor"] for scopes in audit.values())


# --- what each request asks of DynamoDB -------------------------------------------------------------

def test_each_request_is_a_counted_set_of_queries_on_keys_and_indexes(world: AuditorWorld) -> None:
    status, body, calls = world.counted("GET", "/audit/topics/harbor/posts", RANGE + "&limit=100")
    assert status == 200 and len(body["posts"]) == 9
    assert calls == {"Query": 2, "BatchGetItem": 1}, "one Query per UTC day, the stored posts in one BatchGetItem"
    reads = {(table, index) for _, table, index in world.ops.reads}
    assert reads == {(world.stack.refs["TopicPostsTable"], None), (world.stack.refs["PostsTable"], None)}

    status, body, calls = world.counted("GET", "/audit/topics/harbor/posts", RANGE + "&min_risk=40&limit=100")
    assert status == 200 and calls == {"Query": 2, "BatchGetItem": 1}
    assert {i for _, _, i in world.ops.reads if i} == {"by_risk"}

    status, body, calls = world.counted("GET", "/audit/platforms/x/posts", RANGE + "&limit=100")
    assert status == 200 and calls == {"Query": 2} and {i for _, _, i in world.ops.reads} == {"by_platform_time"}

    status, body, calls = world.counted("GET", "/audit/alerts", RANGE)
    assert status == 200 and calls == {"Query": 1} and world.ops.reads[0][2] == "by_triggered"

    status, body, calls = world.counted("GET", "/audit/entries", RANGE)
    assert status == 200 and calls == {"Query": 1} and world.ops.reads[0][2] == "by_time"

    status, body, calls = world.counted("GET", "/audit/entries", "target=alert%23harbor-20261127-2210")
    assert status == 200 and calls == {"Query": 1} and world.ops.reads[0][2] == "by_target"

    sids = _statements(world, 2)
    status, body, calls = world.counted("GET", "/audit/statements", "from=2026-11-28T00:00:00Z&to=2026-11-29T00:00:00Z")
    assert status == 200 and [s["id"] for s in body["statements"]] == sids
    assert calls == {"Query": 1 + 2 * 2}, "the list, then each statement's items and its audit entries"

    status, body, calls = world.counted("GET", "/audit/topics/harbor/series", RANGE + "&bucket=hour")
    assert status == 200 and calls == {"Query": 1 + 2}, "the minute figures, then one Query per UTC day of links"


# --- what comes back -----------------------------------------------------------------------------------

def test_posts_by_topic_by_platform_and_by_risk_are_exactly_the_stored_ones(world: AuditorWorld) -> None:
    harbor, pages = world.pages("/audit/topics/harbor/posts", RANGE + "&limit=2", "posts")
    assert pages == 5
    assert [p["post_key"] for p in harbor] == [p.post.key for p in world.posts], "oldest first, across both days"
    assert all(p["text"] and "post_missing" not in p for p in harbor), "the stored post, not its link"
    assert len({p["post_key"] for p in harbor}) == 9

    later, _ = world.pages("/audit/topics/harbor/posts", "from=2026-11-28T01:00:30Z&to=2026-11-28T03:00:00Z", "posts")
    assert [p["post_key"] for p in later] == [world.posts[5].post.key, world.posts[6].post.key]

    risky, _ = world.pages("/audit/topics/harbor/posts", RANGE + "&min_risk=40&limit=2", "posts")
    assert [p["risk"] for p in risky] == [85, 75, 65, 55, 45], "riskiest first (the first day has none over 40)"
    x_posts, _ = world.pages("/audit/platforms/x/posts", RANGE + "&limit=3", "posts")
    assert [p["post_key"] for p in x_posts] == ["x#p0", "x#p3", "x#p4", "x#p50", "x#p6", "x#p8"], \
        "every topic's (p50 is northgate's), oldest first"


def test_alerts_across_topics_and_audit_entries_by_time_actor_and_target(world: AuditorWorld) -> None:
    alerts, pages = world.pages("/audit/alerts", RANGE + "&limit=1", "alerts")
    assert [a["alert_id"] for a in alerts] == ["harbor-20261127-2210", "northgate-20261128-0103", "harbor-20261128-0500"]
    assert pages == 3, "the alert of 20 November is outside the range"
    one_topic, _ = world.pages("/audit/alerts", RANGE + "&topic=northgate", "alerts")
    assert [a["alert_id"] for a in one_topic] == ["northgate-20261128-0103"]

    sids = _statements(world, 1)
    entries, _ = world.pages("/audit/entries", "from=2026-11-27T00:00:00Z&to=2026-11-29T00:00:00Z&limit=2", "entries")
    assert [e["action"] for e in entries][:3] == ["alert_triggered"] * 3
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)
    assert {"seq", "hash", "prev_hash", "actor", "target"} <= set(entries[0]) and "chain" not in entries[0]
    wang, _ = world.pages("/audit/entries", "from=2026-11-27T00:00:00Z&to=2026-11-29T00:00:00Z&actor=wang", "entries")
    assert [(e["actor"], e["target"]) for e in wang] == [("wang", f"statement#{sids[0]}")]
    statement_entries, _ = world.pages("/audit/entries", f"target=statement%23{sids[0]}", "entries")
    assert [e["actor"] for e in statement_entries] == ["li", "wang"]
    status, refused = world.call("GET", "/audit/entries", "actor=wang&target=alert%23x")
    assert status == 400 and refused["details"] == [{"field": "target", "reason": "ask by actor or by target, not both"}]


def test_statements_come_with_versions_deliveries_and_the_approval_in_their_audit_entries(world: AuditorWorld) -> None:
    sids = _statements(world, 3)
    statements, pages = world.pages("/audit/statements", "from=2026-11-28T00:00:00Z&to=2026-11-29T00:00:00Z&limit=2",
                                    "statements")
    assert [s["id"] for s in statements] == sids and pages == 2
    first = statements[0]
    assert first["state"] == "APPROVED" and first["versions"][0]["version"] == 1
    assert [e["action"] for e in first["audit_entries"]][-1] == "approve"
    assert first["audit_entries"][-1]["actor"] == "wang"


def test_the_series_route_answers_the_stored_figures(world: AuditorWorld) -> None:
    status, body = world.call("GET", "/audit/topics/harbor/series", RANGE + "&bucket=hour")
    assert status == 200, body
    social = next(line for line in body["by_source_type"] if line["key"] == "social")
    assert social["total"]["posts"] == 8 and social["total"]["negative"] == 5
    x = next(line for line in body["by_platform"] if line["key"] == "x")
    assert x["total"]["posts"] == 5 and len(x["points"]) == len(body["buckets"]) == 33
    status, minutes = world.call("GET", "/audit/topics/harbor/series", RANGE + "&bucket=minute")
    assert status == 200 and len(minutes["buckets"]) == 33 * 60
    assert sum(p["posts"] for p in next(line for line in minutes["by_platform"] if line["key"] == "x")["points"]) == 5
    status, refused = world.call("GET", "/audit/topics/harbor/series",
                                 "from=2026-11-25T00:00:00Z&to=2026-11-28T09:00:00Z&bucket=minute")
    assert status == 400 and refused["details"][0]["field"] == "to", "over two days of minutes"


# --- cursors --------------------------------------------------------------------------------------------

def _first_cursor(world: AuditorWorld, path: str, query: str) -> str:
    status, body = world.call("GET", path, query)
    assert status == 200 and body["next"], body
    return str(body["next"])


def _recode(cursor: str, change: Any) -> str:
    decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    change(decoded)
    return base64.urlsafe_b64encode(json.dumps(decoded).encode()).decode().rstrip("=")


def _flip(cursor: str) -> str:
    middle = len(cursor) // 2
    return cursor[:middle] + ("A" if cursor[middle] != "A" else "B") + cursor[middle + 1:]


POSTS = ("/audit/topics/harbor/posts", RANGE + "&limit=2")


@pytest.mark.parametrize(("name", "tamper", "query_change", "reason"), [
    ("a character changed", _flip, None, "not a cursor this API issued"),
    ("not base64", lambda c: c + "!", None, "not a cursor this API issued"),
    ("another query's", lambda c: c, lambda q: q.replace("from=2026-11-27T00:00:00Z", "from=2026-11-27T01:00:00Z"),
     "issued for a different query"),
    ("a position before the range", lambda c: _recode(c, lambda d: d[3].update(
        published_key="2026-11-26T00:00:00Z#x#p0")), None, "outside the requested range"),
    ("another topic's partition", lambda c: _recode(c, lambda d: d[3].update(topic_day="northgate#2026-11-27")), None,
     "outside the requested range"),
    ("a partition past the range", lambda c: _recode(c, lambda d: d.__setitem__(2, 7)), None,
     "outside the requested range"),
    ("an extra key attribute", lambda c: _recode(c, lambda d: d[3].update(risk_key="005#x")), None,
     "does not name a record of this query"),
])
def test_a_tampered_cursor_is_refused_naming_the_field_and_the_reason_and_reads_nothing(
        world: AuditorWorld, name: str, tamper: Any, query_change: Any, reason: str) -> None:
    path, query = POSTS
    cursor = tamper(_first_cursor(world, path, query))
    query = query_change(query) if query_change else query
    status, body, calls = world.counted("GET", path, query + f"&cursor={quote(cursor)}")
    assert status == 400, (name, body)
    [detail] = body["details"]
    assert detail["field"] == "cursor" and reason in detail["reason"], (name, detail)
    assert calls == {}, f"{name}: a refused cursor reads nothing"


def test_cursors_of_each_listing_are_refused_by_the_others(world: AuditorWorld) -> None:
    _statements(world, 2)
    listings = [("/audit/topics/harbor/posts", RANGE + "&limit=1"), ("/audit/platforms/x/posts", RANGE + "&limit=1"),
                ("/audit/alerts", RANGE + "&limit=1"), ("/audit/entries", RANGE + "&limit=1"),
                ("/audit/statements", "from=2026-11-28T00:00:00Z&to=2026-11-29T00:00:00Z&limit=1")]
    cursors = [_first_cursor(world, path, query) for path, query in listings]
    for n, (path, query) in enumerate(listings):
        for m, cursor in enumerate(cursors):
            status, body = world.call("GET", path, query + f"&cursor={quote(cursor)}")
            assert (status == 200) == (n == m), (path, m, status, body)
            if n != m:
                assert body["details"][0]["field"] == "cursor"
