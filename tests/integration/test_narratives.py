"""Narratives on local AWS: counters written with each post, read back by the real API handler without a Scan,
and the leading narrative on the Detector's alert and in its SMS."""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from crisiscomms.aws.alert_store import AlertRepository
from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.post_store import PostRepository, PostTables
from crisiscomms.detection.levels import Thresholds
from crisiscomms.detection.run import Detector
from crisiscomms.models import Post, ScoredPost
from crisiscomms.watch import Topic
from crisiscomms_local.apigw import rest_event
from crisiscomms_local.aws import reset_process_caches
from crisiscomms_local.lambda_runtime import invoke

pytestmark = pytest.mark.integration
START = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)


def _repo(stack: Any) -> PostRepository:
    return PostRepository(PostTables(stack.refs["PostsTable"], stack.refs["TopicPostsTable"], stack.refs["AggregatesTable"]),
                          clients=AwsClients(), retention_days=30)


def _store(repo: PostRepository, when: datetime, tag: str, *, narrative: str | None, platform: str = "x",
           negative: bool = True, risk: int = 40, followers: int = 100, text: str = "Harbor Bank") -> None:
    post = Post(platform=platform, native_id=f"{tag}{int(when.timestamp())}", source_type="social", source_id=platform,
                url=f"https://{platform}.example/{tag}", author=f"{tag}-author", followers=followers, text=text,
                published_at=when)
    repo.store(ScoredPost(post=post, topics=("harbor",), language="en", sentiment=-0.7 if negative else 0.0,
                          sentiment_label="negative" if negative else "neutral",
                          crisis_terms=("term",) if narrative else (), crisis_categories=(),
                          crisis_weight=2.5 if narrative else 0.0, is_crisis=narrative is not None,
                          risk=risk if narrative else 0, ingested_at=when, narrative=narrative))


class Requests:
    """DynamoDB requests by operation and the table of each Query, on the client the API handler uses."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self.tables: list[str] = []
        client.meta.events.register("provide-client-params.dynamodb", self._params)

    def _params(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls[model.name] += 1
        if model.name == "Query":
            self.tables.append(params["TableName"])


def _narratives(query: str, as_group: str = "oncall") -> tuple[int, dict[str, Any]]:
    result = invoke("api", rest_event("GET", "/topics/harbor/narratives", query=query, user="chen", groups=[as_group]))
    return result["statusCode"], json.loads(result["body"])


def test_narratives_stored_with_each_post_are_read_back_by_the_api_ranked_and_without_a_scan(stack, monkeypatch) -> None:
    repo = _repo(stack)
    for minute in range(60):  # a steady complaint about ATMs on Weibo; a breach rumour on X from the half hour on
        at = START + timedelta(minutes=minute)
        _store(repo, at, "atm", narrative="withdrawals", platform="weibo", risk=30 + minute % 7)
        if minute >= 30:
            _store(repo, at + timedelta(seconds=20), "leak", narrative="data_breach", negative=minute % 2 == 0,
                   risk=50 + minute % 11, followers=100_000)
            _store(repo, at + timedelta(seconds=40), "calm", narrative=None, negative=False)
    _store(repo, START + timedelta(minutes=5), "new", narrative="other:被制裁", risk=20)
    _store(repo, START - timedelta(minutes=1), "before", narrative="withdrawals")  # out of the range

    post = repo.get(f"weibo#atm{int(START.timestamp())}")
    assert post is not None and post["narrative"] == "withdrawals"
    [link] = [p for p in repo.topic_posts("harbor", "2026-11-28", limit=200) if p["post_key"] == post["post_key"]]
    assert link["narrative"] == "withdrawals"
    assert "narrative" not in (repo.get(f"x#calm{int((START + timedelta(minutes=30, seconds=40)).timestamp())}") or {})
    minute = repo.minute_aggregates("harbor", "2026-11-28T09:05", "2026-11-28T09:06")
    assert {k: v for k, v in minute[0].items() if k[:3] in ("nv_", "nn_", "nr_", "np_")} == {
        "nv_withdrawals": 1, "nn_withdrawals": 1, "nr_withdrawals": 100, "np_withdrawals_weibo": 1,
        "nv_other:被制裁": 1, "nn_other:被制裁": 1, "nr_other:被制裁": 100, "np_other:被制裁_x": 1}
    [hour] = repo.topic_hours("harbor", "2026-11-28T09", "2026-11-28T10")
    assert (hour["nv_withdrawals"], hour["nv_data_breach"], hour["nn_data_breach"], hour["np_data_breach_x"]) == (60, 30, 15, 30)

    for name, value in stack.function_environment("DeskApiFunction").items():
        monkeypatch.setenv(name, value)
    reset_process_caches()
    from crisiscomms.wiring import container

    requests = Requests(container().clients("dynamodb"))
    status, body = _narratives("from=2026-11-28T09:00:00Z&to=2026-11-28T10:00:00Z")
    assert status == 200, body
    assert "Scan" not in requests.calls and requests.tables[0] == stack.refs["AggregatesTable"]
    assert set(requests.tables[1:]) == {stack.refs["TopicPostsTable"]} and len(requests.tables) == 2, requests.tables
    assert (body["resolution"], body["middle"]) == ("minute", "2026-11-28T09:30:00Z")
    found = {n["id"]: n for n in body["narratives"]}
    assert [n["id"] for n in body["narratives"]] == ["data_breach", "withdrawals", "other:被制裁"]
    breach, atm, other = found["data_breach"], found["withdrawals"], found["other:被制裁"]
    assert (breach["posts"], breach["negative"], breach["negative_share"], breach["growth"]) == (30, 15, 0.5, 4.0)
    assert (atm["posts"], atm["negative_share"], atm["first_half"], atm["second_half"], atm["growth"]) == (60, 1.0, 30, 30, 1.0)
    assert breach["platforms"] == {"x": 30} and atm["platforms"] == {"weibo": 60} and other["platforms"] == {"x": 1}
    assert [p["risk"] for p in breach["top_posts"]] == [60, 60, 60] and breach["top_posts"][0]["platform"] == "x"
    assert [p["risk"] for p in atm["top_posts"]] == [36, 36, 36] and atm["top_posts"][0]["excerpt"] == "Harbor Bank"
    assert [p["post_key"] for p in other["top_posts"]] == [f"x#new{int((START + timedelta(minutes=5)).timestamp())}"]
    assert other["names"] == {"en": "Other crisis: 被制裁", "zh": "其他危机：被制裁"}

    requests.calls.clear()
    requests.tables.clear()
    status, days = _narratives("from=2026-11-26T00:00:00Z&to=2026-11-29T00:00:00Z", as_group="auditor")
    assert status == 200 and days["resolution"] == "hour" and "Scan" not in requests.calls
    assert {n["id"]: n["posts"] for n in days["narratives"]} == {"data_breach": 30, "withdrawals": 61, "other:被制裁": 1}
    assert requests.tables.count(stack.refs["AggregatesTable"]) == 1
    status, refused = _narratives("from=2026-11-28T10:00:00Z&to=2026-11-28T09:00:00Z")
    assert status == 400 and refused["details"] == [{"field": "from", "reason": "must be before to"}]


def test_top_posts_read_within_their_budget_stop_once_the_riskiest_of_each_narrative_are_known(stack) -> None:
    repo = _repo(stack)
    for n in range(40):  # the riskiest links have no narrative, then a narrative's posts in falling risk
        _store(repo, START + timedelta(seconds=n), f"plain{n}", narrative=None, negative=True)
    for n in range(30):
        _store(repo, START + timedelta(minutes=1, seconds=n), f"run{n}", narrative="bank_run", risk=90 - n)
    end = START + timedelta(hours=1)
    posts, read = repo.narrative_posts("harbor", START, end, {"bank_run"}, wanted=3, budget=1000)
    assert sorted((p["risk"] for p in posts), reverse=True)[:3] == [90, 89, 88] and read <= 200
    posts, read = repo.narrative_posts("harbor", START, end, {"bank_run"}, wanted=3, budget=10)
    assert read == 10 and len(posts) == 10, "the budget bounds what is read"


def test_the_alert_carries_the_windows_leading_narrative_and_its_sms_names_it(stack, sim_clock) -> None:
    repo = _repo(stack)
    alerts = AlertRepository(stack.refs["AlertsTable"], stack.refs["StateTable"],
                             AuditLog(stack.refs["AuditTable"], stack.refs["StateTable"], clients=AwsClients(),
                                      sleep=lambda s: None))
    sent: list[str] = []
    detector = Detector(repo, alerts, thresholds=Thresholds(baseline_hours=1), clock=sim_clock,
                        send_sms=lambda arn, text: sent.append(text) or "m", oncall_topic="oncall",
                        escalation_topic="escalation")
    level = "NORMAL"
    for minute in range(80):  # ATM complaints hold steady from the start; the breach story doubles every 3 minutes
        at = START + timedelta(minutes=minute)
        _store(repo, at, "quiet", narrative=None, negative=False)
        _store(repo, at + timedelta(seconds=1), "atm", narrative="withdrawals", platform="weibo")
        for n in range(min(16, 2 ** ((minute - 60) // 3)) if minute >= 60 else 0):
            _store(repo, at + timedelta(seconds=10 + n), f"leak{n}-", narrative="data_breach")
        if minute >= 60 and not sent:
            sim_clock.set(at + timedelta(minutes=1))
            level = detector.evaluate(Topic(id="harbor", names=["Harbor Bank"]))["level"]
    assert level in ("WARNING", "CRISIS") and sent
    [alert] = alerts.for_topic("harbor")
    assert alert["narrative"]["id"] == "data_breach" and alert["narrative"]["names"]["en"] == "Data breach"
    assert alert["narrative"]["growth"] > 1 and alert["narrative"]["posts"] > 0
    assert all("Narrative: Data breach." in text for text in sent), sent
