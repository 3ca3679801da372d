"""Post-crisis reports end to end on local AWS: asked for through the real API handler, written by the real
Reporter handler from its queue, fetched through the presigned links, and every figure on the page, in
its charts and in its CSV files compared with the records stored in the tables."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET
import pytest

from crisiscomms.aws.alert_store import AlertRepository
from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import from_item, query_all, to_value
from crisiscomms.aws.effect_store import EffectRepository
from crisiscomms.aws.inbox_store import InboxRepository
from crisiscomms.aws.post_store import PostRepository, PostTables
from crisiscomms.aws.reply_store import ReplyRepository
from crisiscomms.aws.statement_store import StatementRepository
from crisiscomms.models import Post, ScoredPost
from crisiscomms.models.audit import AuditEntry
from crisiscomms_local import chromium, reports
from crisiscomms_local.aws import Stack, client, put_watch_config, request_counts, reset_process_caches

from ..unit.report_sample import effect

pytestmark = pytest.mark.integration
X = "{http://www.w3.org/1999/xhtml}"
SVG = "{http://www.w3.org/2000/svg}"
START = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
END = START + timedelta(hours=3)
PLATFORMS = {"weibo": 7, "x": 5, "mastodon": 2}  # posts per 20 minutes, from +00:30


@pytest.fixture
def world(stack: Stack, sim_clock: Any) -> Any:
    saved = dict(os.environ)
    os.environ.update(stack.function_environment("DeskApiFunction"))
    os.environ.update(stack.function_environment("ReporterFunction", {"CONFIG_MAX_AGE_SECONDS": "0"}))
    put_watch_config(stack, json.dumps({"version": 1, "topics": [
        {"id": "harbor", "names": ["Harbor Bank", "港湾银行"]}, {"id": "northgate", "names": ["Northgate Savings"]}]}))
    reset_process_caches()
    yield stack
    os.environ.clear()
    os.environ.update(saved)
    reset_process_caches()


def _store_posts(stack: Stack) -> None:
    env = stack.function_environment("PollerFunction")
    repo = PostRepository(PostTables(env["POSTS_TABLE"], env["TOPIC_POSTS_TABLE"], env["AGGREGATES_TABLE"]),
                          clients=AwsClients(), retention_days=30)
    n = 0
    for slot in range(8):
        at = START + timedelta(minutes=30 + 20 * slot)
        for platform, count in PLATFORMS.items():
            for k in range(count if slot >= 2 else 1):
                n += 1
                hostile = slot >= 2 and k % 3 != 0
                post = Post(platform=platform, native_id=f"p{n}", source_type="social", source_id=f"{platform}-main",
                            url=f"https://{platform}.example/{n}", author=f"user{n}", followers=100 * n,
                            text=f"港湾银行 {'挤兑' if hostile else '你好'} {n}", published_at=at + timedelta(seconds=k),
                            location="广东 深圳")
                repo.store(ScoredPost(post=post, topics=("harbor",), language="zh", sentiment=-0.7 if hostile else 0.3,
                                      sentiment_label="negative" if hostile else "positive",
                                      crisis_terms=("挤兑",) if hostile else (), crisis_categories=(), crisis_weight=1.0,
                                      is_crisis=hostile, risk=80 if hostile else 10, ingested_at=at + timedelta(minutes=1),
                                      country="CN", region="CN-GD"))
    news = Post(platform="news", native_id="caixin#1", source_type="news", source_id="caixin", url="https://news.example/1",
                author="caixin", followers=500000, title="港湾银行回应", text="港湾银行回应挤兑传闻",
                published_at=START + timedelta(minutes=95))
    repo.store(ScoredPost(post=news, topics=("harbor",), language="zh", sentiment=-0.4, sentiment_label="negative",
                          crisis_terms=("挤兑",), crisis_categories=(), crisis_weight=1.0, is_crisis=True, risk=60,
                          ingested_at=START + timedelta(minutes=96)))
    outside = Post(platform="weibo", native_id="late", source_type="social", source_id="weibo-main", url="", author="late",
                   text="港湾银行 later", published_at=END + timedelta(minutes=5))
    repo.store(ScoredPost(post=outside, topics=("harbor",), language="zh", sentiment=0.0, sentiment_label="neutral",
                          crisis_terms=(), crisis_categories=(), crisis_weight=0.0, is_crisis=False, risk=0,
                          ingested_at=END + timedelta(minutes=6)))


def _store_desk_records(stack: Stack) -> str:
    """A level change, an alert acknowledged and closed, a published statement with its deliveries and effect, a reply."""
    refs = stack.refs
    log = AuditLog(refs["AuditTable"], refs["StateTable"], clients=AwsClients())
    alerts = AlertRepository(refs["AlertsTable"], refs["StateTable"], log)
    at = START + timedelta(minutes=75)

    def entry(action: str, target: str, when: datetime, **kw: Any) -> AuditEntry:
        return AuditEntry(actor="detector", role="system", action=action, target=target, at=when, **kw)

    alerts.audit(entry("level_changed", "topic#harbor", at, before={"level": "NORMAL"},
                       after={"level": "WARNING", "reasons": ["negative share 67%"]}))
    alerts.audit(entry("level_changed", "topic#harbor", END - timedelta(minutes=20), before={"level": "WARNING"},
                       after={"level": "WATCH", "reasons": []}))
    alert_id = "harbor-20261128-1015"
    alerts.create({"alert_id": alert_id, "topic": "harbor", "status": "TRIGGERED", "level": "WARNING",
                   "triggered_at": at.isoformat(), "updated_at": at.isoformat()}, entry("alert_triggered", f"alert#{alert_id}", at))
    acked = at + timedelta(minutes=4)
    assert alerts.acknowledge(alert_id, by="chen", at=acked.isoformat(),
                              entry=AuditEntry(actor="chen", role="oncall", action="alert_acknowledged",
                                               target=f"alert#{alert_id}", at=acked))
    closed = END - timedelta(minutes=10)
    assert alerts.close(alert_id, expect_status="ACKNOWLEDGED", conclusion={"cause": "ATM rumour", "lessons": "answer sooner"},
                        by="chen", at=closed.isoformat(), entry=AuditEntry(actor="chen", role="oncall", action="alert_closed",
                                                                           target=f"alert#{alert_id}", at=closed),
                        acknowledge=False, expires_at=None)

    statements = StatementRepository(refs["StatementsTable"], log)
    sid = "st-00000000000000a1"
    published = START + timedelta(minutes=100)
    statements.create({"id": sid, "ref": "s1", "state": "PUBLISHED", "kind": "statement", "channels": ["weibo"],
                       "current_version": 1, "published_version": 1, "created_at": (published - timedelta(minutes=20)).isoformat(),
                       "published_at": published.isoformat(), "updated_at": published.isoformat()},
                      {"version": 1, "text": {"zh": {"full": "港湾银行声明：存款安全。", "short": "存款安全"}}},
                      AuditEntry(actor="li", role="comms-author", action="draft", target=f"statement#{sid}", at=published))
    meta = statements.load(sid)
    assert meta is not None
    statements.change(meta, {"updated_at": published.isoformat()},
                      AuditEntry(actor="wang", role="comms-approver", action="publish", target=f"statement#{sid}", at=published),
                      new_deliveries=[{"key": "weibo-zh-1", "channel": "weibo", "language": "zh", "version": 1, "state": "SENT",
                                       "attempts": 1, "sent_at": published.isoformat(), "url": "https://weibo.example/s1"}])
    effects = EffectRepository(refs["StatementsTable"], clients=AwsClients(), audit=log)
    record = effect(sid).model_copy(update={"published_at": published})
    due = {"subject": "statement", "subject_id": sid, "stage": "after"}
    assert effects.schedule(due, due_at=published + timedelta(minutes=30))
    assert effects.record(record, due, next_due=None, entry=AuditEntry(actor="reviewer", role="system", action="effect_measured",
                                                                       target=f"statement#{sid}", at=published))

    inbox = InboxRepository(refs["InboxTable"], clients=AwsClients())
    asked = START + timedelta(minutes=80)
    assert inbox.open_conversation({"post_key": "weibo#p20", "topic": "harbor", "state": "REPLIED", "kind": "question",
                                    "created_at": asked.strftime("%Y-%m-%dT%H:%M:%SZ"), "priority": 500,
                                    "priority_key": "499#" + asked.strftime("%Y-%m-%dT%H:%M:%SZ"), "version": 1,
                                    "reply_ids": ["rp-00000000000000b1"]})
    ReplyRepository(refs["InboxTable"], log).create_reply(
        {"id": "rp-00000000000000b1", "post_key": "weibo#p20", "topic": "harbor", "platform": "weibo", "state": "SENT",
         "version": 1, "author": "li", "template_id": "tp-1", "text": "您好，存款安全。",
         "created_at": (asked + timedelta(minutes=2)).isoformat(), "sent_at": (asked + timedelta(minutes=3)).isoformat()},
        AuditEntry(actor="li", role="comms-author", action="reply_created", target="reply#rp-00000000000000b1", at=asked))
    return sid


def _stored_links(stack: Stack, topic: str) -> list[dict[str, Any]]:
    """The topic's stored posts in the range, read back from the TopicPostsTable by key."""
    table = stack.refs["TopicPostsTable"]
    items = query_all(client("dynamodb"), TableName=table, KeyConditionExpression="topic_day = :d",
                      ExpressionAttributeValues={":d": to_value(f"{topic}#{START:%Y-%m-%d}")})
    links = [from_item(i) for i in items]
    return [link for link in links if f"{START:%Y-%m-%dT%H:%M:%SZ}" <= link["published_key"][:20] < f"{END:%Y-%m-%dT%H:%M:%SZ}"]


def _chart_totals(root: Any, chart_id: str) -> dict[str, int]:
    figure = next(e for e in root.iter(f"{X}figure") if e.get("id") == chart_id)
    svg = figure.find(f"{SVG}svg")
    names = ["".join(g.find(f"{SVG}text").itertext()) for g in svg.iter(f"{SVG}g") if g.get("id", "").startswith("activate-serie-")]
    totals: Counter[str] = Counter()
    for series in svg.iter(f"{SVG}g"):
        classes = (series.get("class") or "").split()
        if "series" in classes:
            index = int(next(c for c in classes if c.startswith("serie-")).split("-")[1])
            totals[names[index]] += sum(int(d.text.replace(",", "")) for d in series.iter(f"{SVG}desc") if d.get("class") == "value")
    return dict(totals)


def test_a_report_is_asked_for_written_from_the_queue_and_its_figures_are_the_stored_records(world: Stack, tmp_path: Path) -> None:
    _store_posts(world)
    sid = _store_desk_records(world)

    status, refused = reports.call("POST", "/topics/harbor/reports", {"from": START.isoformat(), "to": END.isoformat()},
                                   as_="auditor:zhou")
    assert status == 403, refused
    status, refused = reports.call("POST", "/topics/harbor/reports", {"from": END.isoformat(), "to": START.isoformat()})
    assert status == 400 and refused["details"][0]["field"] == "from"
    status, refused = reports.call("POST", "/topics/harbor/reports", {"from": "2026-11-28T09:00:00", "to": END.isoformat()})
    assert status == 422 and refused["details"][0]["field"] == "from", "a time without an offset is refused"
    status, refused = reports.call("POST", "/topics/harbor/reports",
                                   {"from": START.isoformat(), "to": (START + timedelta(days=100)).isoformat()})
    assert status == 400 and refused["details"][0]["field"] == "to"
    assert reports.call("GET", "/reports/rpt-0000000000000000")[0] == 404

    asked = reports.ask("harbor", START, END, tz="Asia/Shanghai")
    assert asked["state"] == "REQUESTED" and asked["files"] == [] and asked["requested_by"] == "report-desk"
    before = request_counts()
    answers = reports.run_queue(world)
    after = request_counts()
    assert [a.get("batchItemFailures") for a in answers] == [[]]
    assert after.get("DynamoDB_20120810.Scan", 0) == before.get("DynamoDB_20120810.Scan", 0), "a report never scans"

    done = reports.status(asked["id"], as_="auditor:zhou")
    assert done["state"] == "DONE" and done["attempts"] == 1 and done["links_expire_in"] == 900
    assert done["files"][0]["name"] == "report.html"
    paths = reports.download(done, tmp_path)
    html = paths["report.html"].read_text(encoding="utf-8")
    root = SafeET.fromstring(html.split("\n", 1)[1].encode("utf-8"))

    links = _stored_links(world, "harbor")
    stored = Counter(link["platform"] for link in links)
    assert stored == {"weibo": 44, "x": 32, "mastodon": 14, "news": 1}
    table = {row.get("data-platform"): int("".join(next(td for td in row if td.get("data-figure") == "posts").itertext()))
             for row in root.iter(f"{X}tr") if row.get("data-platform")}
    assert table == dict(stored), "the page's per-platform counts are the stored records"
    assert _chart_totals(root, "chart-volume-by-platform") == dict(stored)
    assert done["figures"]["by_platform"] == dict(stored) and done["figures"]["posts"] == sum(stored.values())
    negative = Counter(link["platform"] for link in links if float(link["sentiment"]) <= -0.25)
    platform_csv = {r["key"]: r for r in csv.DictReader(io.StringIO(paths["csv/platform_totals.csv"].read_text("utf-8")))}
    assert {k: int(r["posts"]) for k, r in platform_csv.items()} == dict(stored)
    assert {k: int(r["negative"]) for k, r in platform_csv.items()} == {k: negative[k] for k in stored}
    timeline = list(csv.DictReader(io.StringIO(paths["csv/timeline_by_platform.csv"].read_text("utf-8"))))
    assert sum(int(r["posts"]) for r in timeline if r["key"] == "weibo") == stored["weibo"]
    assert _chart_totals(root, "chart-volume-by-source") == {"social": sum(stored.values()) - 1, "news": 1}

    text = "".join(root.itertext())
    assert "Harbor Bank" in text and "港湾银行" in text
    assert "chen, 2026-11-28 18:19" in text, "the acknowledgement, in Asia/Shanghai time"
    assert "ATM rumour" in text and "answer sooner" in text, "the lesson"
    assert "https://weibo.example/s1" in text and "revise" in text, "the statement's delivery and its effect"
    assert "您好，存款安全。" in text, "the reply"
    changes = [row for row in root.iter(f"{X}tr") if row.get("data-level")]
    assert [r.get("data-level") for r in changes] == ["WARNING", "WATCH"]
    regions = {r.get("data-region") for r in root.iter(f"{X}tr") if r.get("data-region")}
    assert "CN-GD" in regions

    audit = [from_item(i) for i in query_all(client("dynamodb"), TableName=world.refs["AuditTable"], IndexName="by_target",
                                             KeyConditionExpression="target = :t",
                                             ExpressionAttributeValues={":t": to_value(f"report#{asked['id']}")})]
    assert [e["action"] for e in sorted(audit, key=lambda e: e["seq"])] == ["report_requested", "report_started", "report_written"]
    written = next(e for e in audit if e["action"] == "report_written")
    assert written["text_hash"] == hashlib.sha256(paths["report.html"].read_bytes()).hexdigest()
    assert sid in html

    # The same message again (SQS delivers at least once) finds the report written and changes nothing.
    client("sqs").send_message(QueueUrl=world.refs["ReportQueue"], MessageBody=json.dumps({"report_id": asked["id"]}))
    assert [a.get("batchItemFailures") for a in reports.run_queue(world)] == [[]]
    again = reports.status(asked["id"])
    assert again["attempts"] == 1 and [f["sha256"] for f in again["files"]] == [f["sha256"] for f in done["files"]]

    if chromium.available():
        with chromium.Chromium() as browser:
            visit = browser.open(paths["report.html"])
        assert visit.errors == [] and len(visit.requests) == 1


def test_a_report_that_cannot_be_written_is_retried_then_failed_with_the_reason(world: Stack, monkeypatch: Any) -> None:
    from crisiscomms.review import report_page

    def broken(content: Any) -> str:
        raise RuntimeError("the page could not be drawn")

    monkeypatch.setattr(report_page, "render_html", broken)
    monkeypatch.setattr("crisiscomms.review.report.render_html", broken)
    asked = reports.ask("northgate", START, END)
    answers = reports.run_queue(world, rounds=5)
    assert [bool(a.get("batchItemFailures")) for a in answers] == [True, True, False], "three attempts, the last records it"
    failed = reports.status(asked["id"])
    assert failed["state"] == "FAILED" and failed["attempts"] == 3 and "could not be drawn" in failed["error"]
    assert failed["files"] == []
    reset_process_caches()


def test_a_report_the_queue_did_not_take_is_a_503_and_the_same_request_again_hands_the_same_report_over(
        world: Stack, monkeypatch: Any) -> None:
    """SQS down when a report is asked for: 503 with Retry-After, the request recorded; asking the same again
    once SQS answers queues that report, never a second one. A written report is asked for anew."""
    body = {"from": START.isoformat(), "to": END.isoformat()}
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9")  # a closed port: no answer
    reset_process_caches()
    status, answer = reports.call("POST", "/topics/harbor/reports", body)
    assert status == 503 and "send the same request again" in answer["error"], answer
    monkeypatch.delenv("AWS_ENDPOINT_URL_SQS")
    reset_process_caches()
    asked = reports.ask("harbor", START, END)
    assert asked["state"] == "REQUESTED" and answer["error"].startswith(f"report {asked['id']} is recorded"), asked
    assert [a.get("batchItemFailures") for a in reports.run_queue(world)] == [[]]
    assert reports.status(asked["id"])["state"] == "DONE"
    log = AuditLog(world.refs["AuditTable"], world.refs["StateTable"], clients=AwsClients())
    assert [r["action"] for r in log.records() if r["target"] == f"report#{asked['id']}"][:1] == ["report_requested"]
    assert sum(r["action"] == "report_requested" for r in log.records()) == 1, "one report, asked twice"
    again = reports.ask("harbor", START, END)
    assert again["id"] != asked["id"] and again["state"] == "REQUESTED", "a written report is asked for anew"

