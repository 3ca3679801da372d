"""Exports of the inbox (conversations, replies, reply templates), the minute and hour figures, measured
effects, post-crisis reports and lessons on local AWS: asked for through the real API handler, written by the
real Exporter handler and checked by the verify-export command, which must catch a changed, missing and extra
record of each kind, and report what the desk, the Poller and the Reviewer did since as notes."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from crisiscomms.aws.alert_store import AlertRepository
from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import to_item
from crisiscomms.aws.effect_store import EffectRepository
from crisiscomms.aws.inbox_store import InboxRepository
from crisiscomms.aws.post_store import PostRepository, PostTables
from crisiscomms.inbox.opening import conversation_for
from crisiscomms.inbox.triage import Triage
from crisiscomms.models import Post, ScoredPost
from crisiscomms.models.audit import AuditEntry
from crisiscomms.models.effect import EffectRecord, Recommendation, Window
from crisiscomms.models.export import jsonl_line, parse_jsonl
from crisiscomms.models.inbox import conversation_id
from crisiscomms.models.posts import hour_key, minute_key
from crisiscomms.watch.inbox import InboxSettings
from crisiscomms_local.aws import client, put_watch_config

from .test_auditor_api import DAY2, TEXT, AuditorWorld, world  # noqa: F401 - the fixture
from .test_exports import export, put_object, s3_object, verify
from .test_series import scored

pytestmark = pytest.mark.integration
NEW_KINDS = ["conversations", "replies", "templates", "minute_figures", "hour_figures", "effects", "reports", "lessons"]
RANGE = {"from": "2026-11-27T00:00:00Z", "to": "2026-11-28T12:00:00Z"}
START, END = datetime(2026, 11, 27, tzinfo=timezone.utc), datetime(2026, 11, 28, 12, tzinfo=timezone.utc)
TOPICS = [{"id": "harbor", "names": ["Harbor Bank", "港湾银行"]}, {"id": "northgate", "names": ["Northgate Savings"]}]
RULES = {"handle": {"pattern": r"@?[A-Za-z0-9_\u4e00-\u9fff]{1,30}", "max": 31},
         "hotline": {"pattern": r"[0-9]{5}", "max": 5}}
APOLOGY = {"zh": "{handle} 您好，给您带来不便深表歉意。请致电客服热线 {hotline}，我们会尽快处理。",
           "en": "{handle} we are sorry for the trouble. Please call our hotline {hotline}; we will help at once."}
VALUES = {"handle": "@小王", "hotline": "95555"}
CONCLUSION = {"cause": "A card-network outage delayed ATM withdrawals.", "lessons": "Say what is known within 15 minutes."}


@dataclass
class Seeded:
    """What the desk, the Poller and the Reviewer left in the tables before the export."""

    world: AuditorWorld
    template: str
    conversations: list[str]  # path ids
    replies: list[str]
    statement: str
    reports: list[str]

    def call(self, method: str, path: str, body: Any = None, *, as_: str) -> tuple[int, Any]:
        role, user = as_.split(":")
        groups = {"author": ["comms-author"], "approver": ["comms-approver"], "oncall": ["oncall"]}[role]
        return self.world.call(method, path, body=body, groups=groups, user=user)

    @property
    def refs(self) -> dict[str, str]:
        return self.world.stack.refs


def _audit_log(world: AuditorWorld) -> AuditLog:
    return AuditLog(world.stack.refs["AuditTable"], world.stack.refs["StateTable"], clients=AwsClients(), sleep=lambda _: None)


def open_conversation(world: AuditorWorld, native_id: str, topic: str) -> str:
    """A conversation as the Poller opens it (the inbox's own opening code and repository); its path id."""
    now = world.clock()
    post = Post(platform="weibo", native_id=native_id, source_type="social", source_id="mentions",
                url=f"https://weibo.example/{native_id}", author="xiaowang", followers=1200,
                text="@ExampleBank 港湾银行转账一直失败，你们什么时候修好？", published_at=now - timedelta(minutes=5), to_bank=True)
    item = conversation_for(
        ScoredPost(post=post, topics=(topic,), language="zh-Hans", sentiment=-0.6, sentiment_label="negative",
                   crisis_terms=(), crisis_categories=(), crisis_weight=0.0, is_crisis=False, risk=40, ingested_at=now),
        Triage(kind="complaint", opens=True, priority=500), level=None, now=now, settings=InboxSettings())
    assert InboxRepository(world.stack.refs["InboxTable"], clients=AwsClients()).open_conversation(item)
    return conversation_id(item["post_key"])


def measure(world: AuditorWorld, statement: str, stage: str, *, schedule: bool) -> None:
    """One measurement stored as the Reviewer stores it: the effect item, its due item moved, its audit entry."""
    effects = EffectRepository(world.stack.refs["StatementsTable"], clients=AwsClients(), audit=_audit_log(world))
    now = world.clock()
    published = now - timedelta(minutes=40)
    due = {"subject": "statement", "subject_id": statement, "stage": stage, "published_at": published.isoformat()}
    if schedule:
        assert effects.schedule(due, due_at=now)
    window = Window(start=published.replace(second=0, microsecond=0), end=published.replace(second=0, microsecond=0))
    record = EffectRecord(subject="statement", subject_id=statement, stage=stage, published_at=published, measured_at=now,
                          window_minutes=30, before=window, after=window, topics_basis="given", topics=[],
                          recommendation=Recommendation(code="keep_cadence", rule=4, reason="volume and negative share fell"))
    assert effects.record(record, due, next_due=now + timedelta(hours=2) if stage == "after" else None,
                          entry=AuditEntry(actor="system", role="system", action="effect_measured",
                                           target=f"statement#{statement}", at=now, after={"stage": stage}))


def draft_statement(seeded_world: AuditorWorld) -> str:
    status, body = seeded_world.call("POST", "/statements", body={"channels": ["newsroom"], "text": TEXT},
                                     groups=["comms-author"], user="li")
    assert status == 201, body
    status, approved = seeded_world.call("POST", f"/statements/{body['id']}/approve", body={"version": 1},
                                         groups=["comms-approver"], user="wang")
    assert status == 200, approved
    return str(body["id"])


def ask_report(seeded: Seeded, topic: str, *, to: str = "2026-11-28T08:00:00Z") -> str:
    status, body = seeded.call("POST", f"/topics/{topic}/reports", {"from": "2026-11-27T20:00:00Z", "to": to},
                               as_="approver:wang")
    assert status == 202, body
    return str(body["id"])


@pytest.fixture
def seeded(world: AuditorWorld) -> Iterator[Seeded]:
    """Two watched topics; an approved reply template, three conversations (two harbor, one northgate), two
    replies from the template, a statement measured twice, two reports asked for and two alerts closed."""
    put_watch_config(world.stack, json.dumps({"version": 1, "topics": TOPICS}))
    seeded = Seeded(world, "", [], [], "", [])
    status, template = seeded.call("POST", "/templates", {"kind": "reply", "situation": "service_failure_apology",
                                                         "title": "转账失败致歉", "text": APOLOGY, "placeholders": RULES},
                                   as_="author:li")
    assert status == 201, template
    seeded.template = template["id"]
    status, body = seeded.call("POST", f"/templates/{seeded.template}/approve", {"version": 1}, as_="approver:wang")
    assert status == 200, body
    seeded.conversations = [open_conversation(world, "4990000000000001", "harbor"),
                            open_conversation(world, "4990000000000002", "harbor"),
                            open_conversation(world, "4990000000000003", "northgate")]
    for conversation in seeded.conversations[:2]:
        status, reply = seeded.call("POST", f"/inbox/{conversation}/replies",
                                    {"template": seeded.template, "values": VALUES}, as_="author:li")
        assert status == 201, reply
        seeded.replies.append(reply["id"])
    seeded.statement = draft_statement(world)
    world.clock.advance(timedelta(minutes=1))
    measure(world, seeded.statement, "after", schedule=True)
    world.clock.advance(timedelta(minutes=1))
    measure(world, seeded.statement, "plus2h", schedule=False)
    seeded.reports = [ask_report(seeded, "harbor"), ask_report(seeded, "northgate")]
    for alert in ("harbor-20261127-2210", "northgate-20261128-0103"):
        status, body = seeded.call("POST", f"/alerts/{alert}/close", CONCLUSION, as_="oncall:chen")
        assert status == 200, body
    world.clock.advance(timedelta(minutes=5))
    yield seeded


def _figures(posts: list[ScoredPost]) -> tuple[set[str], set[str]]:
    """The identities (topic|minute_key) of the minute and of the hour figures these posts make."""
    minutes, hours = set(), set()
    for post in posts:
        for topic in post.topics:
            minutes.add(f"{topic}|{minute_key(post.post.published_at)}#{post.post.source_type}")
            hours.add(f"{topic}|hour#{hour_key(post.post.published_at)}#{post.post.source_type}")
    return minutes, hours


def _exported(world: AuditorWorld, export_id: str, kind: str) -> list[dict[str, Any]]:
    return parse_jsonl(s3_object(world, f"exports/{export_id}/{kind}.jsonl"))


def test_every_kind_is_exported_as_stored_and_verifies(seeded: Seeded, capsys: Any) -> None:
    world = seeded.world
    done = export(world, {"kinds": [*NEW_KINDS, "statements"], **RANGE})
    export_id = done["export_id"]
    manifest = json.loads(s3_object(world, f"exports/{export_id}/manifest.json"))
    assert manifest["topics"] == ["harbor", "northgate"], "every watched topic when the request names none"
    claimed = datetime.fromisoformat(done["started_at"])
    assert manifest["figures_expiry_mark"] == int((claimed + timedelta(days=400)).timestamp())
    assert {(f["kind"], f["format"]) for f in manifest["files"]} == {
        (k, f) for k in [*NEW_KINDS, "statements"] for f in ("jsonl", "csv")}
    assert set(done["links"]) == {"manifest"} | {f"{k}.{f}" for k in [*NEW_KINDS, "statements"] for f in ("jsonl", "csv")}

    records = {kind: _exported(world, export_id, kind) for kind in [*NEW_KINDS, "statements"]}
    assert sorted(c["id"] for c in records["conversations"]) == sorted(seeded.conversations)
    assert {c["topic"] for c in records["conversations"]} == {"harbor", "northgate"}
    assert sorted(r["id"] for r in records["replies"]) == sorted(seeded.replies)
    assert all(r["state"] == "APPROVED" and r["template_id"] == seeded.template for r in records["replies"])
    assert sorted(t["sk"] for t in records["templates"]) == ["#", "v#0001"]
    assert {t["pk"] for t in records["templates"]} == {f"tmpl#{seeded.template}"}
    northgate = scored(50, platform="x", at=DAY2, sentiment=-0.9, topics=("northgate",))
    minutes, hours = _figures([*world.posts, northgate])
    assert {f"{f['topic']}|{f['minute_key']}" for f in records["minute_figures"]} == minutes
    assert {f"{f['topic']}|{f['minute_key']}" for f in records["hour_figures"]} == hours
    assert sum(f["posts"] for f in records["minute_figures"]) == sum(f["posts"] for f in records["hour_figures"]) == 10
    assert sorted(e["sk"] for e in records["effects"]) == ["effect#after", "effect#plus2h"]
    assert {e["pk"] for e in records["effects"]} == {f"statement#{seeded.statement}"}
    assert sorted(r["id"] for r in records["reports"]) == sorted(seeded.reports)
    assert {r["state"] for r in records["reports"]} == {"REQUESTED"}
    assert sorted(r["sk"].partition("#")[0] for r in records["statements"]) == ["meta", "prepared", "prepared", "version"], \
        "a statement's own items; its measurements are the effects kind, the Reviewer's bookkeeping neither"

    alerts = AlertRepository(world.stack.refs["AlertsTable"], world.stack.refs["StateTable"], _audit_log(world))
    for topic in ("harbor", "northgate"):
        mine = [lesson for lesson in records["lessons"] if lesson["topic"] == topic]
        assert mine == [lesson.model_dump(mode="json") for lesson in alerts.lessons(topic, START, END)], topic
    assert {lesson["alert_id"] for lesson in records["lessons"]} == {"harbor-20261127-2210", "northgate-20261128-0103"}

    for listed in manifest["files"]:
        body = s3_object(world, listed["key"])
        assert listed["records"] == manifest["counts"][listed["kind"]] == len(records[listed["kind"]])
        if listed["format"] == "csv":
            assert body.count(b"\n") == listed["records"] + 1, "a header, then one line per record"
    assert manifest["records_span"]["effects"]["from"] < manifest["records_span"]["effects"]["to"]
    assert manifest["records_span"]["minute_figures"] == {"from": "2026-11-27T22:00", "to": "2026-11-28T04:00"}

    code, result = verify(world, export_id, capsys)
    assert code == 0 and result["ok"] is True, result["problems"]
    for kind in NEW_KINDS:
        assert result["records"][kind] == {"exported": manifest["counts"][kind], "live": manifest["counts"][kind],
                                           "changed": 0, "missing": 0, "extra": 0}, kind

    code, result = verify(world, export_id, capsys, every_table=False)
    assert code == 1
    assert {(p.get("kind"), p["problem"]) for p in result["problems"]} == {
        (k, "not verified") for k in ("conversations", "replies", "templates", "minute_figures", "hour_figures")}


def test_the_topics_asked_for_bound_the_per_topic_kinds(seeded: Seeded, capsys: Any) -> None:
    world = seeded.world
    done = export(world, {"kinds": ["conversations", "minute_figures", "hour_figures", "replies"], "topics": ["northgate"],
                          **RANGE})
    manifest = json.loads(s3_object(world, f"exports/{done['export_id']}/manifest.json"))
    assert manifest["topics"] == ["northgate"] and manifest["counts"] == {
        "conversations": 1, "minute_figures": 1, "hour_figures": 1, "replies": 2}, "replies are not per topic"
    assert [c["id"] for c in _exported(world, done["export_id"], "conversations")] == [seeded.conversations[2]]
    code, result = verify(world, done["export_id"], capsys)
    assert code == 0 and result["ok"] is True, result["problems"]

    done = export(world, {"kinds": ["reports", "lessons"], **RANGE})
    manifest = json.loads(s3_object(world, f"exports/{done['export_id']}/manifest.json"))
    assert manifest["topics"] is None and manifest["figures_expiry_mark"] is None


def test_a_bad_request_for_the_new_kinds_is_refused_naming_the_field(seeded: Seeded) -> None:
    world = seeded.world
    for body, field in (({"kinds": ["posts"], "topics": ["harbor"], **RANGE}, "body"),
                        ({"kinds": ["conversations"], "topics": ["Harbor Bank"], **RANGE}, "topics"),
                        ({"kinds": ["conversations"], "topics": ["harbor", "harbor"], **RANGE}, "topics"),
                        ({"kinds": ["conversations"], "topics": [], **RANGE}, "topics"),
                        ({"kinds": ["figures"], **RANGE}, "kinds.0")):
        status, answer = world.call("POST", "/audit/exports", body=body)
        assert status == 422 and answer["details"][0]["field"] == field, (body, answer)


# --- what the verification catches, kind by kind ---------------------------------------------------------

def _live_key(kind: str, record: dict[str, Any], refs: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """Where a record of a kind is stored: (table, key)."""
    if kind in ("conversations", "replies", "templates"):
        return refs["InboxTable"], {"pk": record["pk"], "sk": record["sk"]}
    if kind in ("minute_figures", "hour_figures"):
        return refs["AggregatesTable"], {"topic": record["topic"], "minute_key": record["minute_key"]}
    if kind == "effects":
        return refs["StatementsTable"], {"pk": record["pk"], "sk": record["sk"]}
    if kind == "reports":
        return refs["StateTable"], {"pk": record["pk"]}
    return refs["AlertsTable"], {"alert_id": record["alert_id"]}


def _fabricated(kind: str, record: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A copy of a record under an identity nothing stores, and that identity."""
    if kind == "conversations":
        return {**record, "pk": "conv#weibo#999", "post_key": "weibo#999"}, "weibo#999"
    if kind == "replies":
        return {**record, "pk": "reply#rp-ffffffffffffffff", "id": "rp-ffffffffffffffff"}, "rp-ffffffffffffffff"
    if kind == "templates":
        return {**record, "pk": "tmpl#tp-ffffffffffffffff"}, f"tmpl#tp-ffffffffffffffff|{record['sk']}"
    if kind in ("minute_figures", "hour_figures"):
        key = "2026-11-27T05:00#social" if kind == "minute_figures" else "hour#2026-11-27T05#social"
        return {**record, "minute_key": key}, f"{record['topic']}|{key}"
    if kind == "effects":
        return {**record, "pk": "statement#st-ffffffffffffffff"}, f"statement#st-ffffffffffffffff|{record['sk']}"
    if kind == "reports":
        return {**record, "pk": "report#rpt-ffffffffffffffff", "id": "rpt-ffffffffffffffff"}, "rpt-ffffffffffffffff"
    return {**record, "alert_id": "harbor-20261128-0600"}, "harbor-20261128-0600"


def _identity(kind: str, record: dict[str, Any]) -> str:
    if kind in ("conversations",):
        return str(record["post_key"])
    if kind in ("replies", "reports"):
        return str(record["id"])
    if kind in ("minute_figures", "hour_figures"):
        return f"{record['topic']}|{record['minute_key']}"
    if kind == "lessons":
        return str(record["alert_id"])
    return f"{record['pk']}|{record['sk']}"


def test_a_changed_a_missing_and_an_extra_record_of_every_kind_are_each_caught(seeded: Seeded, capsys: Any) -> None:
    """Per kind: one record changed in its table (nothing in the chain says why), another left out of the
    export's file, and a made-up one added to it."""
    world = seeded.world
    done = export(world, {"kinds": NEW_KINDS, **RANGE})
    expected: set[tuple[str | None, str, str | None]] = set()
    for kind in NEW_KINDS:
        key = f"exports/{done['export_id']}/{kind}.jsonl"
        records = parse_jsonl(s3_object(world, key))
        assert len(records) >= 2, kind
        changed, dropped = records[0], records[1]
        table, live_key = _live_key(kind, changed, seeded.refs)
        if kind == "lessons":  # a lesson is its closed alert's conclusion
            update = {"UpdateExpression": "SET conclusion.lessons = :v",
                      "ExpressionAttributeValues": {":v": {"S": "rewritten without the chain"}}}
        else:
            update = {"UpdateExpression": "SET tampered = :v", "ExpressionAttributeValues": {":v": {"S": "yes"}}}
        client("dynamodb").update_item(TableName=table, Key=to_item(live_key), **update)
        fake, fake_identity = _fabricated(kind, changed)
        put_object(world, key, b"".join(jsonl_line(r) for r in [records[0], *records[2:], fake]))
        expected |= {(kind, "changed", _identity(kind, changed)), (kind, "missing", _identity(kind, dropped)),
                     (kind, "extra", fake_identity), (kind, "file changed", None), (kind, "csv differs", None)}
    code, result = verify(world, done["export_id"], capsys)
    assert code == 1 and result["ok"] is False
    found = {(p.get("kind"), p["problem"], p.get("record")) for p in result["problems"]}
    assert found == expected, sorted(found ^ expected, key=str)
    for kind in NEW_KINDS:
        assert (result["records"][kind]["changed"], result["records"][kind]["missing"],
                result["records"][kind]["extra"]) == (1, 1, 1), kind


def test_a_record_removed_from_its_table_is_extra(seeded: Seeded, capsys: Any) -> None:
    world = seeded.world
    done = export(world, {"kinds": ["replies", "reports", "minute_figures"], **RANGE})
    expected = set()
    for kind in ("replies", "reports", "minute_figures"):
        record = _exported(world, done["export_id"], kind)[0]
        table, key = _live_key(kind, record, seeded.refs)
        client("dynamodb").delete_item(TableName=table, Key=to_item(key))
        expected.add((kind, "extra", _identity(kind, record)))
    code, result = verify(world, done["export_id"], capsys)
    assert code == 1 and {(p.get("kind"), p["problem"], p.get("record")) for p in result["problems"]} == expected


def test_what_the_desk_the_poller_and_the_reviewer_did_since_are_notes(seeded: Seeded, capsys: Any) -> None:
    """After the export: a conversation assigned and another's priority raised by a re-read post, a new
    conversation and a new reply, the template edited, posts stored (one in a minute already counted, one in a
    new minute), a statement measured, a report asked for and an alert closed. None of it is a problem."""
    world = seeded.world
    done = export(world, {"kinds": NEW_KINDS, **RANGE})
    world.clock.advance(timedelta(minutes=3))
    first, second, third = seeded.conversations
    status, body = seeded.call("POST", f"/inbox/{first}/assign", {"to": "zhao"}, as_="author:li")
    assert status == 200, body
    inbox = InboxRepository(seeded.refs["InboxTable"], clients=AwsClients())
    raised = inbox.raise_priority("weibo#4990000000000002", engagement=900, priority=800,
                                  created_at="2026-11-28T08:55:00Z", fields={"followers": 5000})
    assert raised == "raised"
    fourth = open_conversation(world, "4990000000000004", "harbor")
    status, reply = seeded.call("POST", f"/inbox/{third}/replies", {"template": seeded.template, "values": VALUES},
                                as_="author:li")
    assert status == 201, reply
    status, body = seeded.call("PUT", f"/templates/{seeded.template}/draft",
                               {"text": {**APOLOGY, "en": APOLOGY["en"].replace("at once", "soon")}, "placeholders": RULES},
                               as_="author:zhao")
    assert status == 200, body
    posts = PostRepository(PostTables(seeded.refs["PostsTable"], seeded.refs["TopicPostsTable"],
                                      seeded.refs["AggregatesTable"]), clients=AwsClients(), retention_days=400)
    late = world.posts[0].model_copy(update={"post": world.posts[0].post.model_copy(update={"native_id": "late-1"}),
                                             "ingested_at": world.clock()})
    posts.store(late)  # published in a minute the export counted
    fresh = scored(90, platform="weibo", at=datetime(2026, 11, 28, 6, 30, tzinfo=timezone.utc), sentiment=-0.5)
    posts.store(fresh.model_copy(update={"ingested_at": world.clock()}))  # in a minute (and hour) it did not
    another = draft_statement(world)
    measure(world, another, "after", schedule=True)
    report = ask_report(seeded, "harbor", to="2026-11-28T09:00:00Z")  # another range: a new report
    status, body = seeded.call("POST", "/alerts/harbor-20261128-0500/close", CONCLUSION, as_="oncall:chen")
    assert status == 200, body

    code, result = verify(world, done["export_id"], capsys)
    assert code == 0 and result["ok"] is True, result["problems"]
    notes = {(n.get("kind"), n["problem"], n.get("record")) for n in result["notes"]}
    minute, hour = _figures([late])
    new_minute, new_hour = _figures([fresh])
    assert notes >= {
        ("conversations", "changed since the export", "weibo#4990000000000001"),
        ("conversations", "added since the export", "weibo#4990000000000004"),
        ("replies", "added since the export", reply["id"]),
        ("templates", "changed since the export", f"tmpl#{seeded.template}|#"),
        ("templates", "added since the export", f"tmpl#{seeded.template}|v#0002"),
        ("minute_figures", "changed since the export", minute.pop()),
        ("hour_figures", "changed since the export", hour.pop()),
        ("minute_figures", "added since the export", new_minute.pop()),
        ("hour_figures", "added since the export", new_hour.pop()),
        ("effects", "added since the export", f"statement#{another}|effect#after"),
        ("reports", "added since the export", report),
        ("lessons", "added since the export", "harbor-20261128-0500"),
    }, sorted(map(str, notes))
    assert not any(r == "weibo#4990000000000002" for _, _, r in notes), \
        "a conversation's priority raised by a re-read post is no change to report"
    assert fourth and result["records"]["conversations"]["changed"] == 1


def test_a_figure_changed_without_a_later_post_is_a_problem_even_when_it_grew(seeded: Seeded, capsys: Any) -> None:
    """A figure whose expiry did not move past the export's start was not touched by a post stored since."""
    world = seeded.world
    done = export(world, {"kinds": ["minute_figures"], **RANGE})
    record = _exported(world, done["export_id"], "minute_figures")[0]
    table, key = _live_key("minute_figures", record, seeded.refs)
    client("dynamodb").update_item(TableName=table, Key=to_item(key), UpdateExpression="ADD posts :one",
                                   ExpressionAttributeValues={":one": {"N": "1"}})
    code, result = verify(world, done["export_id"], capsys)
    assert code == 1 and [(p["problem"], p.get("record")) for p in result["problems"]] == [
        ("changed", _identity("minute_figures", record))]
