"""Run drill scenarios end to end and judge their expectations.

    python -m crisiscomms_local.drill [SCENARIO.json ...] [--json OUT.json]

Without a scenario, every file under events/drills/ runs. The exit status is 0 when every
check passed, 1 when any failed, 2 when a scenario file is invalid.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.post_store import PostRepository, PostTables
from crisiscomms.listening.polling import COUNTERS, RunCounts
from crisiscomms_local.drill.desk import DeskOutcome, subject_of
from crisiscomms_local.drill.scenario import Check, Scenario, ScenarioError, load_scenario
from crisiscomms_local.drill.world import (
    DIGEST_EVERY_MINUTES,
    DRILL_WAITS,
    ROOT,
    SUPPORTED_CHECKS,
    SUPPORTED_DESK_ACTIONS,
    SCHEDULED_FUNCTIONS,
    FaultWaits,
    World,
    build_world,
    offset_of,
)
from crisiscomms_local.lambda_runtime import invoke

DRILLS = ROOT / "events" / "drills"
LOG_DIR = ROOT / "drill-output"


@dataclass
class CheckResult:
    check: dict[str, Any]
    passed: bool
    observed: str

    def line(self) -> str:
        spec = " ".join(f"{k}={v}" for k, v in self.check.items() if k != "check")
        return f"{'PASS' if self.passed else 'FAIL'}  {self.check['check']} {spec}: {self.observed}"


@dataclass
class SourceTally(RunCounts):
    """A source's runs over the whole drill: counters summed, outcomes counted."""

    runs: Counter = field(default_factory=Counter)


@dataclass
class DrillReport:
    name: str
    description: str
    ticks: int
    real_seconds: float
    sources: dict[str, SourceTally]
    timeline: list[str]
    stored: list[dict[str, Any]]
    per_minute: dict[str, list[dict[str, Any]]]
    riskiest: list[dict[str, Any]]
    checks: list[CheckResult]
    notes: list[str]
    figures: dict[str, Any]
    statements: list[dict[str, Any]] = field(default_factory=list)
    levels: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    sms: list[dict[str, Any]] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)
    reply_waves: list[dict[str, Any]] = field(default_factory=list)
    post_crisis_reports: list[dict[str, Any]] = field(default_factory=list)
    narratives: dict[str, dict[str, Any]] = field(default_factory=dict)  # per topic: GET /topics/{t}/narratives' answer

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)


def run_scenario(path: Path, *, waits: FaultWaits = DRILL_WAITS,
                 before_checks: Callable[[World], None] | None = None) -> DrillReport:
    """``before_checks``: what happens to the world between the replay and the checks (a test tampers
    with the audit trail there, as someone with the table's keys could)."""
    scenario = load_scenario(path)
    LOG_DIR.mkdir(exist_ok=True)
    log_path = LOG_DIR / f"{scenario.name}.log.jsonl"
    started, cpu_started = time.monotonic(), time.process_time()
    with log_path.open("w", encoding="utf-8") as log_stream:
        world = build_world(scenario, log_stream=log_stream, waits=waits)
        try:
            ready, cpu_ready = time.monotonic(), time.process_time()
            tallies, timeline, ticks = _replay(world)
            if before_checks is not None:
                before_checks(world)
            replayed, cpu_replayed = time.monotonic(), time.process_time()
            report = _report(world, path, tallies, timeline, ticks, replayed - started)
            # Wall and CPU seconds (every thread of this process: local AWS and the emulators run here too).
            report.figures["phase_seconds"] = {"setup": round(ready - started, 2), "replay": round(replayed - ready, 2),
                                               "report": round(time.monotonic() - replayed, 2)}
            report.figures["phase_cpu_seconds"] = {"setup": round(cpu_ready - cpu_started, 2),
                                                   "replay": round(cpu_replayed - cpu_ready, 2),
                                                   "report": round(time.process_time() - cpu_replayed, 2)}
        finally:
            world.close()
    report.notes.append(f"function logs: {log_path.relative_to(ROOT)}")
    return report


def _replay(world: World) -> tuple[dict[str, SourceTally], list[str], int]:
    scenario = world.scenario
    tallies: dict[str, SourceTally] = defaultdict(SourceTally)
    timeline: list[str] = []
    pending_duplicates = {function: sorted(times) for function, times in world.duplicate_invocations.items()}
    publisher_duplicates = sorted(world.publisher_duplicates)
    api_duplicates = sorted(world.api_duplicates)
    actions = sorted(scenario.desk, key=lambda a: scenario.at(a.at))
    held: list[tuple[Any, str]] = []  # desk actions answered 503 during an outage, with their Idempotency-Key
    detect = bool(world.source_kinds) or any(c.check in ("alert", "no_alert", "max_level", "sms") for c in scenario.expect)
    offsets = tick_offsets(scenario.length)
    for minute, offset in enumerate(offsets):
        now = scenario.start + offset
        # the desk's actions dated up to a minute past the end are done (see world.desk_after_end)
        next_minute = min(now + timedelta(minutes=1), scenario.start + scenario.length + timedelta(minutes=1))
        # Desk actions happen at their own second within the minute; polls and deliveries follow.
        while actions and scenario.at(actions[0].at) < next_minute:
            action = actions.pop(0)
            if action.do not in SUPPORTED_DESK_ACTIONS:
                continue  # reported as not run, and failing, in the report
            world.clock.set(max(now, scenario.at(action.at)))
            _outages(world, world.clock(), timeline)
            if api_duplicates and api_duplicates[0] <= world.clock():
                api_duplicates.pop(0)
                world.desk.deliver_next_twice = True
                timeline.append(f"{action.at}  api: the next change request delivered twice (injected)")
            outcome = world.desk.act(action.at, action.model_dump(by_alias=True, exclude_none=True))
            timeline.append(f"{action.at}  {outcome.who} {outcome.action} {outcome.ref or ''}: {outcome.verdict()}")
            if _hold_for_the_outage(world, outcome):
                held.append((action, outcome.key))
                timeline.append(f"{action.at}  {outcome.who} {outcome.action}: held, to be sent again with the same"
                                f" Idempotency-Key once {', '.join(sorted(_down()))} answers")
            _pump(world, publisher_duplicates, timeline)
        world.clock.set(now)
        _outages(world, now, timeline)
        if held and not _down():
            for action, key in held:     # a careful desk sends what it was told to retry, once AWS answers
                outcome = world.desk.act(action.at, action.model_dump(by_alias=True, exclude_none=True), key=key)
                timeline.append(f"{offset_of(scenario, now)}  {outcome.who} {outcome.action} {outcome.ref or ''}"
                                f" sent again after the outage (from {action.at}): {outcome.verdict()}")
            held.clear()
            _pump(world, publisher_duplicates, timeline)
        deliveries = {function: _deliveries(pending_duplicates, function, now, timeline, offset_of(scenario, now))
                      for function in SCHEDULED_FUNCTIONS}
        for kind in world.source_kinds:
            event = {"source": kind, "scheduled_time": now.strftime("%Y-%m-%dT%H:%M:%SZ")}
            for _ in range(deliveries["poller"]):
                result = _scheduled(world, "poller", event, timeline)
                for run in (result or {}).get("reports", []):
                    _tally(tallies[run["source"]], run, timeline, offset_of(scenario, now))
        if detect:
            for _ in range(deliveries["detector"]):
                detected = _scheduled(world, "detector", {"job": "detect", "scheduled_time": event_time(now)}, timeline)
                for topic in (detected or {}).get("topics", []):
                    _track_level(world, topic, now, timeline)
            _track_sms(world, now, timeline)
        _pump(world, publisher_duplicates, timeline)
        for _ in range(deliveries["reviewer"]):
            _review(world, now, timeline)
        if world.digests and minute % DIGEST_EVERY_MINUTES == 0:
            for _ in range(_deliveries(pending_duplicates, "digest", now, timeline, offset_of(scenario, now))):
                _digest(world, now, timeline)
    for action, key in held:    # an outage that lasted to the end: the action never went through
        spec = action.model_dump(by_alias=True, exclude_none=True)
        world.desk.outcomes.append(DeskOutcome(action.at, spec["as"], spec["do"], subject_of(spec), 503, False,
                                               "AWS did not answer again before the drill's end", key))
    world.end_outages()  # what is judged after the replay is read with every service answering
    return tallies, timeline, len(offsets)


def _minutes(length: timedelta) -> int | float:
    minutes = length.total_seconds() / 60
    return int(minutes) if minutes.is_integer() else round(minutes, 2)


def tick_offsets(length: timedelta) -> list[timedelta]:
    """When the scheduled functions run: every minute from the start (their schedule) until the first run at
    or after the end, so a post of a duration's last part minute is read too (nothing dated after the end is
    replayed: see world's `after_end`)."""
    return [timedelta(minutes=m) for m in range(math.ceil(length.total_seconds() / 60) + 1)]


def _hold_for_the_outage(world: World, outcome: Any) -> bool:
    """An action the API answered 503 while an injected outage lasts is held and sent again when it ends (its
    503 is what the desk was told: try again), not failed; its attempt leaves the outcomes."""
    if outcome.status != 503 or not _down() or outcome.action.startswith("expect_refused"):
        return False
    world.desk.outcomes.remove(outcome)
    return True


def _deliveries(pending: dict[str, list[datetime]], function: str, now: datetime, timeline: list[str], at: str) -> int:
    """How often this minute's scheduled event reaches `function`: twice once an injected duplicate is due."""
    due = pending.get(function)
    if not due or due[0] > now:
        return 1
    due.pop(0)
    timeline.append(f"{at}  {function} event delivered twice (injected)")
    return 2


def _review(world: World, now: datetime, timeline: list[str]) -> None:
    """The Reviewer's scheduled run: what was published is scheduled, what is due is measured."""
    if world.desk_world is None:
        return
    result = _scheduled(world, "reviewer", {"job": "review"}, timeline)
    if result is None:
        return
    names = {sid: ref for ref, sid in world.desk.refs.items()} if world.desk is not None else {}
    for m in result.get("measured", []):
        name = f"statement {names.get(m['id'], m['id'])}" if m["subject"] == "statement" else f"reply wave {m['id']}"
        timeline.append(f"{offset_of(world.scenario, now)}  effect of {name} ({m['stage']}): {m['recommendation']}")


def _digest(world: World, now: datetime, timeline: list[str]) -> None:
    """The Digest function's scheduled run: the audit entries since the last digest signed into the Object Lock bucket."""
    result = _scheduled(world, "digest", {"job": "digest", "scheduled_time": event_time(now)}, timeline)
    if result is None:
        return
    if result.get("digest"):
        world.digests_signed += 1
    if result.get("chain_broken"):
        timeline.append(f"{offset_of(world.scenario, now)}  digest: the audit chain is broken: {result.get('problem')}")


def event_time(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


OUTAGE_SERVICES = ("sns", "sqs", "dynamodb")
_CLOSED_PORT = "http://127.0.0.1:9"


def _down() -> set[str]:
    """The services an injected outage has down now (their endpoint is the closed port)."""
    return {service for service in OUTAGE_SERVICES if os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") == _CLOSED_PORT}


def _outages(world: World, now: datetime, timeline: list[str]) -> None:
    """During an injected outage, calls to that service go to a closed local port and fail as they would:
    the functions', and the drill's own reading of queues (Lambda's poller of a queue cannot receive either)."""
    from crisiscomms_local.aws import reset_process_caches

    down, was = {service for start, end, service in world.outages if start <= now < end}, _down()
    if down == was:
        return
    for service in sorted(down - was):
        os.environ[f"AWS_ENDPOINT_URL_{service.upper()}"] = _CLOSED_PORT
        timeline.append(f"{offset_of(world.scenario, now)}  {service} unavailable (injected)")
    for service in sorted(was - down):
        os.environ.pop(f"AWS_ENDPOINT_URL_{service.upper()}")
        timeline.append(f"{offset_of(world.scenario, now)}  {service} available again")
    reset_process_caches()


def _scheduled(world: World, function: str, event: dict[str, Any], timeline: list[str]) -> Any:
    """A scheduled invocation. While an injected outage lasts, one that fails is a failed invocation (the
    next minute's run takes over, as EventBridge's next one does); otherwise a failure ends the drill."""
    try:
        return invoke(function, event)
    except Exception as exc:
        down = _down()
        if not down:
            raise
        timeline.append(f"{offset_of(world.scenario, world.clock())}  {function} failed while "
                        f"{', '.join(sorted(down))} unavailable: {type(exc).__name__}")
        world.failed_invocations[function] = world.failed_invocations.get(function, 0) + 1
        return None


def _track_level(world: World, result: dict[str, Any], now: datetime, timeline: list[str]) -> None:
    if result.get("error"):
        timeline.append(f"{offset_of(world.scenario, now)}  detector: evaluating {result['topic']} failed")
        return
    levels = world.levels.setdefault(result["topic"], [])
    if not levels or levels[-1][1] != result["level"]:
        levels.append((now, result["level"]))
        reasons = "; ".join(result.get("reasons") or [])
        timeline.append(f"{offset_of(world.scenario, now)}  {result['topic']}: level {result['level']}"
                        + (f" ({reasons})" if reasons else ""))


def _track_sms(world: World, now: datetime, timeline: list[str]) -> None:
    """Every SMS the topics sent since the last tick, read back from the queue subscribed beside the phones
    (after an SQS outage, when the queue can be read again: the time is when the drill read it)."""
    from crisiscomms_local.aws import client

    if "sqs" in _down():
        return
    for ref, queue in world.sms_readback.items():
        while True:
            batch = client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not batch:
                break
            for message in batch:
                who = "on-call" if ref == "OnCallTopic" else "escalation"
                timeline.append(f"{offset_of(world.scenario, now)}  SMS ({who}): {message['Body']}")
                world.sms_log.append({"at": offset_of(world.scenario, now), "to": who, "text": message["Body"]})
                client("sqs").delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def _pump(world: World, publisher_duplicates: list[datetime], timeline: list[str]) -> None:
    """Drain the delivery queue; an injected duplicate applies to the first batch due after its time."""
    if world.desk_world is None or "sqs" in _down():
        return  # Lambda's poller of the queue cannot receive while SQS is down either
    now = world.clock()
    duplicate = bool(publisher_duplicates and publisher_duplicates[0] <= now)
    if world.desk_world.pump(duplicate_next=duplicate) and duplicate:
        publisher_duplicates.pop(0)
        timeline.append(f"{offset_of(world.scenario, now)}  publisher batch delivered twice (injected)")


def _tally(tally: SourceTally, run: dict[str, Any], timeline: list[str], at: str) -> None:
    tally.runs[run["status"]] += 1
    tally.add(run)
    notable = run["status"] in {"rate_limited", "failed"} or run["retries"] or run["malformed"]
    if notable:
        detail = f" ({run['detail']})" if run.get("detail") else ""
        extras = []
        if run["retries"]:
            extras.append(f"{run['retries']} retries")
        if run["malformed"]:
            extras.append(f"{run['malformed']} malformed skipped")
        timeline.append(f"{at}  {run['source']}: {run['status']}{detail}" + (f"; {', '.join(extras)}" if extras else ""))


def _days(start: datetime, end: datetime) -> list[str]:
    days, day = [], start.date()
    while day <= end.date():
        days.append(day.isoformat())
        day += timedelta(days=1)
    return days


STORED_FIELDS = ("post_key", "platform", "platform_day", "published_key", "published_at", "ingested_at", "topics",
                 "author", "to_bank", "country", "region", "related", "own_topics")


def _stored_posts(table: str, platform_days: set[str]) -> list[dict[str, Any]]:
    """Every stored post the by_platform_time index lists under one of these platform-days.

    Read with one pass over the table (1 MB pages), only the fields the checks use, and the
    index's key attributes checked on each item, which is what the index would list: local
    DynamoDB answers every page of an index query by reading and sorting the whole table, so
    querying it page by page costs the square of the posts stored (15 s of CPU for 20,000 posts).
    """
    from crisiscomms.aws.dynamo import from_item
    from crisiscomms_local.aws import client

    found: list[dict[str, Any]] = []
    names = {f"#f{i}": name for i, name in enumerate(STORED_FIELDS)}
    request: dict[str, Any] = {"TableName": table, "ProjectionExpression": ", ".join(names),
                               "ExpressionAttributeNames": names}
    for _ in range(1_000_000):  # bounded: a page holds at least one item
        page = client("dynamodb").scan(**request)
        for raw in page["Items"]:
            if raw.get("platform_day", {}).get("S") in platform_days and "S" in raw.get("published_key", {}):
                found.append(from_item(raw))
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sorted(found, key=lambda item: (item["platform_day"], item["published_key"]))


def _report(world: World, path: Path, tallies: dict[str, SourceTally], timeline: list[str], ticks: int,
            real_seconds: float) -> DrillReport:
    scenario = world.scenario
    env = world.stack.function_environment("PollerFunction")
    repo = PostRepository(PostTables(env["POSTS_TABLE"], env["TOPIC_POSTS_TABLE"], env["AGGREGATES_TABLE"]),
                          clients=AwsClients(), retention_days=1)
    end = scenario.start + scenario.length
    # Posts can be dated before the drill starts (a backfill); look a day either side.
    days = _days(scenario.start - timedelta(days=1), end + timedelta(days=1))
    platforms = sorted({e.platform for e in world.emulated.values()})
    stored = _stored_posts(env["POSTS_TABLE"], {f"{p}#{d}" for p in platforms for d in days})

    per_minute: dict[str, list[dict[str, Any]]] = {}
    riskiest: list[dict[str, Any]] = []
    for topic in world.config.topics:
        rows: dict[str, dict[str, Any]] = {}
        for agg in repo.minute_aggregates(topic.id, (scenario.start - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
                                          (end + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")):
            row = rows.setdefault(agg["minute"], {"minute": agg["minute"], "posts": 0, "negative": 0, "social": 0, "news": 0})
            row["posts"] += agg["posts"]
            row["negative"] += agg["negative"]
            row[agg["source_type"]] += agg["posts"]
        per_minute[topic.id] = [rows[m] for m in sorted(rows)]
        for day in days:
            riskiest += repo.topic_posts(topic.id, day, by_risk=True, limit=5)
    riskiest = sorted({r["post_key"]: r for r in riskiest}.values(), key=lambda r: (-r["risk"], r["published_key"]))[:5]

    keys = [s["post_key"] for s in stored]
    expected = {k for k, e in world.emulated.items() if e.topics}
    latencies = [
        (datetime.fromisoformat(s["ingested_at"].replace("Z", "+00:00"))
         - datetime.fromisoformat(s["published_at"].replace("Z", "+00:00"))).total_seconds()
        for s in stored
    ]
    aggregate_total = sum(r["posts"] for rows in per_minute.values() for r in rows)
    figures = {
        "emulated_posts": len(world.emulated),
        "matching_topics": len(expected),
        "stored_posts": len(stored),
        "distinct_stored_keys": len(set(keys)),
        "stored_not_emulated": len(set(keys) - set(world.emulated)),
        "missed": len(expected - set(keys)),
        "duplicates_rejected": sum(t.duplicates for t in tallies.values()),
        "aggregate_post_count": aggregate_total,
        "stored_by_platform": dict(sorted(Counter(s["platform_day"].split("#", 1)[0] for s in stored).items())),
        "topic_posts": {topic: sum(r["posts"] for r in rows) for topic, rows in per_minute.items()},
        "topic_links_expected": sum(len(s.get("topics", [])) for s in stored),
        "unrelated_posts": sum(s.get("related") is False and not s.get("own_topics") for s in stored),  # found by ambiguous names only
        "own_posts": sum(bool(s.get("own_topics")) for s in stored),  # the bank's own accounts', heard back
        "ingest_latency_median_s": statistics.median(latencies) if latencies else None,
        "ingest_latency_max_s": max(latencies) if latencies else None,
        "real_seconds": round(real_seconds, 2),
        "simulated_minutes": _minutes(scenario.length),
        "failed_invocations": dict(sorted(world.failed_invocations.items())),  # scheduled runs lost to an outage
    }
    statements = _statements(world)
    seen = _replies_seen(world)
    checks = [_judge(check, figures, world, statements, seen) for check in scenario.expect]
    if world.desk is not None:
        for refusal in world.desk.refusals:
            spec = {"check": "expect_refused", "action": refusal["action"], "ref": refusal["ref"], "status": refusal["status"],
                    "as": refusal["as"], "at": refusal["at"]}
            checks.append(CheckResult(spec, refusal["passed"], refusal["detail"]))
        for outcome in world.desk.outcomes:
            if not outcome.ok and not outcome.action.startswith("expect_refused"):
                checks.append(CheckResult({"check": "desk_action", "at": outcome.at, "action": outcome.action,
                                           "ref": outcome.ref}, False, f"answered {outcome.status}: {outcome.detail}"))
    notes = [f"not replayed: {n} {platform} posts (no listener for {platform} in this version)"
             for platform, n in sorted(world.not_replayed.items())] + world.report_notes
    if world.after_end:
        notes.append(f"not read: {world.after_end} posts or articles dated after the drill's end"
                     f" ({offset_of(scenario, scenario.start + scenario.length)})")
    if world.desk_after_end:
        notes.append(f"not done: {len(world.desk_after_end)} desk action(s) dated after the drill's end"
                     f" ({offset_of(scenario, scenario.start + scenario.length)}): {', '.join(world.desk_after_end)}")
    for item in world.unsupported:
        notes.append(f"not run: {item}")
        checks.append(CheckResult({"check": "scenario_runs_fully"}, False, f"{item} is not available in this version"))
    report = DrillReport(scenario.name, scenario.description, ticks, real_seconds, dict(tallies), timeline, stored,
                         per_minute, riskiest, checks, notes, figures)
    report.statements = statements
    report.replies = _reply_summary(world, seen)
    report.reply_waves = _reply_waves(world)
    report.post_crisis_reports = list(world.reports)
    if world.reply_routes:
        report.notes.append("replies go to the listening emulators: "
                            + ", ".join(f"{p} {url}" for p, url in sorted(world.reply_routes.items())))
    report.levels = {t: [(offset_of(scenario, at), name) for at, name in h] for t, h in world.levels.items()}
    report.sms = list(world.sms_log)
    report.narratives = _narratives(world, repo)
    if report.levels:
        report.figures["lead_time"] = _lead_times(world)
    return report


def _narratives(world: World, repo: PostRepository) -> dict[str, dict[str, Any]]:
    """Each topic's narratives over the drill (as the desk API answers them), with the leading narrative
    each of its alerts carries."""
    from crisiscomms.listening.narratives import TopicNarratives

    scenario = world.scenario
    end = scenario.start + scenario.length + timedelta(minutes=1)  # the last replayed minute included
    reader = TopicNarratives(repo.minute_aggregates, repo.topic_hours, repo.narrative_posts, clock=lambda: end)
    out = {}
    for topic in world.config.topics:
        answer = reader.answer(topic.id, start=scenario.start.isoformat(), end=end.isoformat())
        answer["alerts"] = [{"alert_id": a["alert_id"], "level": a.get("level"), "narrative": (a.get("narrative") or {}).get("id")}
                            for a in world.alerts(topic.id)]
        out[topic.id] = answer
    return out


def _lead_times(world: World) -> dict[str, Any]:
    """Per topic: when the first crisis post was published, when WARNING was first reached, and the gap."""
    out = {}
    scored: dict[str, bool] = {}  # bursts repeat their texts: each distinct text is scored once

    def is_crisis(text: str) -> bool:
        if text not in scored:
            scored[text] = _is_crisis_text(text)
        return scored[text]

    for topic, history in world.levels.items():
        warning = next((at for at, name in history if name in ("WARNING", "CRISIS")), None)
        crisis = [e.created_at for e in world.emulated.values() if topic in e.topics and is_crisis(e.text)]
        first = min(crisis) if crisis else None
        out[topic] = {"first_crisis_post": offset_of(world.scenario, first) if first else None,
                      "first_warning": offset_of(world.scenario, warning) if warning else None,
                      "lead_minutes": round((warning - first).total_seconds() / 60, 1) if warning and first else None}
    return out


def _is_crisis_text(text: str) -> bool:
    from crisiscomms.scoring import score_text

    return score_text(text).is_crisis


def _statements(world: World) -> list[dict[str, Any]]:
    """Each statement the desk made: state, per-channel outcome, publish-to-last-delivery time."""
    if world.desk is None:
        return []
    out = []
    for ref, sid in world.desk.refs.items():
        statement = world.desk.statement(ref)
        if statement is None:
            continue
        published = statement.get("published_version")
        deliveries = [d for d in statement["deliveries"] if d["version"] == published]
        span = None
        ended = [d["updated_at"] for d in deliveries if d["state"] in ("SENT", "FAILED", "UNKNOWN")]
        if statement.get("published_at") and ended and len(ended) == len(deliveries):
            span = (datetime.fromisoformat(max(ended)) - datetime.fromisoformat(statement["published_at"])).total_seconds()
        effect = world.desk.effect(ref) or {}
        out.append({"ref": ref, "id": sid, "state": statement["state"], "kind": statement.get("kind"),
                    "corrects": statement.get("corrects"), "version": statement.get("current_version"),
                    "published_at": statement.get("published_at"), "effects": effect.get("effects") or [],
                    "next_measurement": effect.get("next_measurement"),
                    "publish_to_last_delivery_s": span,
                    "deliveries": [{k: d.get(k) for k in ("channel", "language", "state", "attempts", "url", "error", "resolved_by")}
                                   for d in sorted(deliveries, key=lambda d: (d["channel"], d["language"]))]})
    return out


def _reply_waves(world: World) -> list[dict[str, Any]]:
    """Each reply wave's measurements (read through the API, topic by topic)."""
    if world.desk is None or world.desk_world is None:
        return []
    scenario = world.scenario
    start = (scenario.start - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (scenario.start + scenario.length + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    waves: dict[str, dict[str, Any]] = {}
    for topic in world.config.topics:
        for record in world.desk.topic_effects(topic.id, start, end):
            if record["subject"] == "reply_wave":
                wave = waves.setdefault(record["subject_id"], {"id": record["subject_id"], "wave": record.get("wave"),
                                                               "published_at": record["published_at"], "effects": []})
                if all(e["stage"] != record["stage"] for e in wave["effects"]):
                    wave["effects"].append(record)
    return sorted(waves.values(), key=lambda w: w["published_at"])


def _judge_effect(check: Check, spec: dict[str, Any], statements: list[dict[str, Any]], world: World) -> CheckResult:
    """The statement's first measurement (when its after-window closed) carries the recommendation."""
    statement = next((s for s in statements if s["ref"] == check.ref), None)
    if statement is None:
        return CheckResult(spec, False, f"no statement {check.ref!r} was drafted")
    first = next((e for e in statement["effects"] if e["stage"] == "after"), None)
    if first is None:
        due = statement.get("next_measurement")
        if not due:
            return CheckResult(spec, False, "not measured (was it published, and long enough before the end?)")
        scenario = world.scenario
        at = datetime.fromisoformat(str(due["due_at"]).replace("Z", "+00:00"))
        return CheckResult(spec, False, f"not measured; due at {offset_of(scenario, at)} ({due['due_at']}), after the"
                                        f" drill's end at {offset_of(scenario, scenario.start + scenario.length)}:"
                                        " the after-window is measured when it closes and its posts have settled")
    found = first["recommendation"]
    later = next((e for e in statement["effects"] if e["stage"] == "plus2h"), None)
    observed = (f"{found['code']} at {offset_of(world.scenario, datetime.fromisoformat(first['measured_at']))}"
                f" (rule {found.get('rule') or '-'}: {found['reason']})"
                + (f"; second look: {later['recommendation']['code']}" if later else ""))
    return CheckResult(spec, found["code"] == check.recommendation, observed)


@dataclass
class RepliesSeen:
    """What the platforms show the bank's accounts sent, and the reply items of the InboxTable."""

    delivered: list[Any] = field(default_factory=list)  # crisiscomms_local.drill.replies.Delivered
    items: list[dict[str, Any]] = field(default_factory=list)


def _replies_seen(world: World) -> RepliesSeen:
    if world.desk_world is None:
        return RepliesSeen()
    from crisiscomms_local.drill import replies

    return RepliesSeen(replies.delivered(world), replies.reply_items(world))


def _post_label(world: World, post_key: str) -> str:
    return next((pid for pid, key in world.post_ids.items() if key == post_key), post_key)


def _reply_summary(world: World, seen: RepliesSeen) -> list[dict[str, Any]]:
    """Each reply item: where it went, who wrote and approved it, what became of it and when."""
    shown = {(d.platform, d.platform_reply_id) for d in seen.delivered}
    out = []
    for r in seen.items:
        at = lambda key: offset_of(world.scenario, datetime.fromisoformat(r[key])) if r.get(key) else None  # noqa: E731
        out.append({"id": r["id"], "post": _post_label(world, r["post_key"]), "platform": r["platform"],
                    "from": f"template {r['template_id']} v{r.get('template_version')}" if r.get("template_id") else "free text",
                    "author": r.get("author"), "approver": r.get("approver"), "state": r["state"],
                    "attempts": int(r.get("attempts") or 0), "created": at("created_at"), "sent": at("sent_at"),
                    "resolved_by": r.get("resolved_by"), "error": r.get("error"),
                    "shown_on_platform": (r["platform"], str(r.get("platform_reply_id"))) in shown, "text": r.get("text")})
    return out


def _judge_replies(check: Check, spec: dict[str, Any], world: World, seen: RepliesSeen) -> CheckResult:
    from crisiscomms_local.drill.replies import approval_problem, comparable

    scenario = world.scenario
    if check.check == "no_unapproved_reply":
        by_id = {(r["platform"], str(r.get("platform_reply_id"))): r for r in seen.items if r.get("platform_reply_id")}
        problems, kinds = [], Counter()
        for d in seen.delivered:
            where = f"{d.platform} reply {d.platform_reply_id} to {_post_label(world, d.post_key)}"
            item = by_id.get((d.platform, d.platform_reply_id))
            if item is None:
                problems.append(f"{where}: no reply item records it")
            elif comparable(item.get("text", "")) != comparable(d.text):
                problems.append(f"{where}: the platform shows other text than reply {item['id']} holds")
            elif why := approval_problem(world, item):
                problems.append(f"{where} (reply {item['id']}): {why}")
            else:
                kinds["from an approved template" if item.get("template_id") else "approved free text"] += 1
        observed = "; ".join(problems) or (f"{len(seen.delivered)} replies delivered: "
                                           + (", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none"))
        return CheckResult(spec, not problems, observed)
    key = world.post_ids.get(check.post or "")
    if key is None:
        return CheckResult(spec, False, f"no post with id {check.post!r} was replayed")
    shown = [d for d in seen.delivered if d.post_key == key]
    items = [r for r in seen.items if r["post_key"] == key]
    sent = [r for r in items if r["state"] == "SENT"]
    states = ", ".join(f"{r['id']} {r['state']}" + (f" ({r['error']})" if r.get("error") and r["state"] != "SENT" else "")
                       for r in items) or "no reply was drafted"
    if check.check == "reply_delivered":
        same = {d.platform_reply_id for d in shown} == {str(r.get("platform_reply_id")) for r in sent}
        ok = len(shown) == 1 and len(sent) == 1 and same
        platform = key.split("#", 1)[0]
        observed = (f"{len(shown)} shown on {platform}, {len(sent)} reply item(s) SENT"
                    + ("" if same else "; the platform's replies and the SENT items differ") + f" [{states}]")
        return CheckResult(spec, ok, observed)
    appeared = world.emulated[key].created_at
    if not shown:
        return CheckResult(spec, False, f"no reply delivered [{states}]")
    first = min(shown, key=lambda d: d.at)
    minutes = (first.at - appeared).total_seconds() / 60
    item = next((r for r in sent if str(r.get("platform_reply_id")) == first.platform_reply_id), None)
    ok = item is not None and minutes <= (check.minutes or 0)
    observed = (f"replied {minutes:.1f} min after the post, at {offset_of(scenario, first.at)}"
                + (f" (reply {item['id']}, {item.get('attempts')} attempt(s))" if item
                   else "; no SENT reply item records it") + f" [{states}]")
    return CheckResult(spec, ok, observed)


def _judge(check: Check, figures: dict[str, Any], world: World, statements: list[dict[str, Any]],
           seen: RepliesSeen | None = None) -> CheckResult:
    spec = check.model_dump(exclude_none=True)
    if check.topic:
        spec["topic"] = world.scenario.shown_topic(check.topic)
    if check.check in ("replied_within", "reply_delivered", "no_unapproved_reply"):
        if world.desk_world is None:
            return CheckResult(spec, False, "no replies: the drill ran without the desk")
        return _judge_replies(check, spec, world, seen or _replies_seen(world))
    if check.check == "deliveries":
        statement = next((s for s in statements if s["ref"] == check.ref), None)
        if statement is None:
            return CheckResult(spec, False, f"no statement {check.ref!r} was drafted")
        states = [f"{d['channel']}({d['language']}) {d['state']}" for d in statement["deliveries"]]
        ok = bool(statement["deliveries"]) and all(d["state"] == check.state for d in statement["deliveries"])
        return CheckResult(spec, ok, ", ".join(states) or "nothing was published")
    if check.check == "audit_chain_valid":
        return _judge_audit_chain(spec, world)
    if check.check == "stored_posts":
        value = figures["stored_by_platform"].get(check.platform, 0) if check.platform else figures["stored_posts"]
        ok = (check.min is None or value >= check.min) and (check.max is None or value <= check.max)
        return CheckResult(spec, ok, f"{value} {check.platform + ' ' if check.platform else ''}posts stored")
    if check.check == "topic_posts":
        value = figures["topic_posts"].get(check.topic or "", 0)
        ok = (check.min is None or value >= check.min) and (check.max is None or value <= check.max)
        return CheckResult(spec, ok, f"{value} posts counted for {spec['topic']} in its aggregates")
    if check.check == "effect":
        return _judge_effect(check, spec, statements, world)
    if check.check == "alert_closed":
        return _judge_alert_closed(check, spec, world)
    if check.check == "report":
        return _judge_report(check, spec, world)
    if check.check not in SUPPORTED_CHECKS:
        return CheckResult(spec, False, f"check {check.check!r} is not available in this version")
    if check.check == "no_duplicates":
        problems = []
        if figures["distinct_stored_keys"] != figures["stored_posts"]:
            problems.append(f"{figures['stored_posts'] - figures['distinct_stored_keys']} posts stored twice")
        if figures["stored_not_emulated"]:
            problems.append(f"{figures['stored_not_emulated']} stored posts that no platform published")
        if world.desk is not None:
            problems += world.desk.made_twice()
        for channel, count in _channel_duplicates(world).items():
            problems.append(f"{channel} shows the same statement text {count} extra time(s)")
        for (post_key, _), count in Counter((d.post_key, " ".join(d.text.split()))
                                            for d in (seen or RepliesSeen()).delivered).items():
            if count > 1:
                problems.append(f"{_post_label(world, post_key)} got the same reply {count} times")
        if figures["aggregate_post_count"] != figures["topic_links_expected"]:
            problems.append(f"minute aggregates count {figures['aggregate_post_count']} posts for "
                            f"{figures['topic_links_expected']} stored topic links")
        observed = "; ".join(problems) or (
            f"{figures['stored_posts']} posts stored once each, aggregates agree, "
            f"{figures['duplicates_rejected']} repeat deliveries rejected"
            + ("; every channel shows each statement version once" if world.desk_world is not None else "")
            + (f"; {len(seen.delivered)} replies shown once each" if seen and seen.delivered else ""))
        return CheckResult(spec, not problems, observed)
    return _judge_alerting(check, spec, world)


def _judge_audit_chain(spec: dict[str, Any], world: World) -> CheckResult:
    """The chain as an auditor verifies it: the Digest function signs what is new since its last run (as its
    next scheduled run would), then its verify job checks every entry against the chain and the signed digests."""
    _digest(world, world.clock(), [])
    result = invoke("digest", {"job": "verify", "scheduled_time": event_time(world.clock())})
    entries, covered = result["entries"], result["covered_through_seq"]
    if not result["ok"]:
        return CheckResult(spec, False, f"{result['problem']} (first bad entry {result['first_bad_seq']})")
    if covered < entries:
        return CheckResult(spec, False, f"{entries} entries chained, but the signed digests cover only {covered}")
    return CheckResult(spec, True, f"{entries} entries verified against {result['digests']} signed digest(s)"
                                   f" ({world.digests_signed} written during the drill, every {DIGEST_EVERY_MINUTES} min)")


def _level_at(world: World, topic: str, when: datetime) -> str:
    level = "NORMAL"
    for at, name in world.levels.get(topic, []):
        if at <= when:
            level = name
    return level


def _judge_alert_closed(check: Check, spec: dict[str, Any], world: World) -> CheckResult:
    """A person closed the topic's alert with a cause and lessons, the audit chain records that closing
    with the same conclusion, and GET /lessons lists it."""
    from crisiscomms.aws.audit_log import AuditLog

    scenario = world.scenario
    alerts = world.alerts(check.topic)
    closed = [a for a in alerts if a.get("state") == "CLOSED"]
    if not closed:
        seen = ", ".join(f"{a['alert_id']} {a['status']}" for a in alerts) or "no alert at all"
        return CheckResult(spec, False, f"no closed alert ({seen})")
    alert = closed[0]
    conclusion = alert.get("conclusion") or {}
    problems = [] if conclusion.get("cause") and conclusion.get("lessons") else ["closed without cause and lessons"]
    log = AuditLog(world.stack.refs["AuditTable"], world.stack.refs["StateTable"], clients=AwsClients())
    entries = [r for r in log.records() if r["target"] == f"alert#{alert['alert_id']}" and r["action"] == "alert_closed"]
    if len(entries) != 1 or (entries[0].get("after") or {}).get("conclusion") != conclusion:
        problems.append(f"{len(entries)} closing entries in the audit chain, expected one with the conclusion")
    window = (f"from={(scenario.start - timedelta(days=1)).strftime('%Y-%m-%dT%H:%M:%SZ')}"
              f"&to={(scenario.start + scenario.length + timedelta(days=1)).strftime('%Y-%m-%dT%H:%M:%SZ')}")
    listed = (world.desk._read(f"/lessons?topic={check.topic}&{window}") or {}) if world.desk is not None else {}
    if alert["alert_id"] not in {lesson["alert_id"] for lesson in listed.get("lessons", [])}:
        problems.append("GET /lessons does not list it")
    closed_at = offset_of(scenario, datetime.fromisoformat(alert["closed_at"]))
    observed = (f"{alert['alert_id']} closed by {alert.get('closed_by')} at {closed_at}: cause "
                f"\"{conclusion.get('cause', '')[:60]}\", lessons \"{conclusion.get('lessons', '')[:60]}\"")
    return CheckResult(spec, not problems, "; ".join([observed, *problems]))


def _judge_report(check: Check, spec: dict[str, Any], world: World) -> CheckResult:
    """Ask for the topic's post-crisis report over the drill's range through the API, let the Reporter
    write it, fetch its files into drill-output/, and compare its per-platform counts (on the page and
    in its CSV) with the posts stored for the topic in that range (read from the PostsTable itself)."""
    import csv
    import io

    import defusedxml.ElementTree as SafeET

    from crisiscomms_local import reports

    scenario, topic = world.scenario, check.topic or ""
    end = scenario.start + scenario.length + timedelta(minutes=1)  # the last replayed minute included
    started = time.monotonic()
    try:
        asked = reports.ask(topic, scenario.start, end)
        twice = world.reporter_duplicates > 0
        world.reporter_duplicates -= twice
        reports.run_queue(world.stack, first_twice=twice)
        if twice:
            world.report_notes.append(f"report of {topic}: its queue message delivered twice to the Reporter (injected)")
        answer = reports.status(asked["id"])
    except RuntimeError as exc:
        return CheckResult(spec, False, str(exc))
    seconds = time.monotonic() - started
    if answer["state"] != "DONE":
        return CheckResult(spec, False, f"report {answer['id']} is {answer['state']}: {answer.get('error') or ''}")
    paths = reports.download(answer, LOG_DIR / f"{scenario.name}-report-{topic}")
    html = paths["report.html"].read_text(encoding="utf-8")
    page = SafeET.fromstring(html.split("\n", 1)[1].encode("utf-8"))
    on_page = {row.get("data-platform"): int("".join(next(td for td in row if td.get("data-figure") == "posts").itertext()))
               for row in page.iter("{http://www.w3.org/1999/xhtml}tr") if row.get("data-platform")}
    in_csv = {r["key"]: int(r["posts"]) for r in csv.DictReader(io.StringIO(paths["csv/platform_totals.csv"].read_text("utf-8")))}
    first = datetime.fromisoformat(answer["figures"]["from"].replace("Z", "+00:00"))
    last = datetime.fromisoformat(answer["figures"]["to"].replace("Z", "+00:00"))
    platforms = sorted({e.platform for e in world.emulated.values()})
    posts_table = world.stack.function_environment("PollerFunction")["POSTS_TABLE"]
    stored = Counter(p["platform_day"].split("#", 1)[0] for p in _stored_posts(
        posts_table, {f"{p}#{d}" for p in platforms for d in _days(first, last)})
        if topic in (p.get("topics") or []) and first <= datetime.fromisoformat(p["published_at"].replace("Z", "+00:00")) < last)
    html_path = paths["report.html"].relative_to(ROOT) if paths["report.html"].is_relative_to(ROOT) else paths["report.html"]
    world.reports.append({"topic": topic, "id": answer["id"], "html": str(html_path),
                          "csv": sorted(str(p.relative_to(paths["report.html"].parent)) for n, p in paths.items() if n != "report.html"),
                          "bytes": len(html.encode("utf-8")), "seconds": round(seconds, 2), "figures": answer["figures"]})
    ok = on_page == dict(stored) == in_csv
    observed = (f"written to {html_path} in {seconds:.1f} s; posts per platform on the page {on_page}"
                + (" = " if ok else " but ") + f"stored {dict(stored)}" + ("" if on_page == in_csv else f"; CSV {in_csv}"))
    return CheckResult(spec, ok, observed)


def _judge_alerting(check: Check, spec: dict[str, Any], world: World) -> CheckResult:
    from crisiscomms.detection.levels import Level

    scenario = world.scenario
    if check.check == "sms":
        total = len(world.sms_log)
        ok = (check.min is None or total >= check.min) and (check.max is None or total <= check.max)
        return CheckResult(spec, ok, f"{total} SMS sent")
    history = world.levels.get(check.topic or "", [])
    if check.check == "alert":
        by = scenario.at(check.by)
        reached = next(((at, name) for at, name in history if Level.parse(name) >= Level.parse(check.level) and at <= by), None)
        observed = (f"{reached[1]} at {offset_of(scenario, reached[0])}" if reached
                    else f"highest by then {max((Level.parse(n) for a, n in history if a <= by), default=Level.NORMAL).name}")
        return CheckResult(spec, reached is not None, observed)
    if check.check == "max_level":
        highest = max((Level.parse(n) for _, n in history), default=Level.NORMAL)
        return CheckResult(spec, highest <= Level.parse(check.level), f"highest level {highest.name}")
    if check.check == "no_alert":
        until = scenario.at(check.until)
        alerts = [a for a in world.alerts(check.topic)
                  if datetime.fromisoformat(a["triggered_at"].replace("Z", "+00:00")) < until]
        return CheckResult(spec, not alerts, f"{len(alerts)} alert(s) before {check.until}"
                           + (f": {alerts[0]['alert_id']} {alerts[0]['level']}" if alerts else ""))
    raise ValueError(check.check)


def _post_text(post: Any) -> str:
    for attribute in ("submitted_text", "text", "content", "body", "title"):
        value = getattr(post, attribute, None)
        if isinstance(value, (str, bytes)):
            return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return repr(post)


def _channel_duplicates(world: World) -> dict[str, int]:
    """Per channel, how many posts repeat a text already posted there (a statement version twice).
    The newsroom's pages are keyed by statement and language; its feed is where a repeat would show."""
    if world.desk_world is None:
        return {}
    extra = {}
    shown = {channel: [_post_text(p) for p in world.desk_world.channel_posts(channel)]
             for channel in world.desk_world.emulators}
    shown["newsroom"] = world.desk_world.newsroom_feed()
    for channel, texts in shown.items():
        if len(texts) != len(set(texts)):
            extra[channel] = len(texts) - len(set(texts))
    return extra


# --- output ---------------------------------------------------------------------------------------

def _bar(share: float, width: int = 20) -> str:
    return "█" * round(share * width)


def render(report: DrillReport, scenario_start: datetime) -> str:
    out = [f"Drill {report.name}: {report.description}".rstrip(": "),
           f"  {report.figures.get('simulated_minutes')} simulated minutes ({report.ticks} runs of each schedule)"
           f" replayed in {report.real_seconds:.1f} s", "", "Sources"]
    header = f"  {'source':<24}{'fetched':>8}{'stored':>8}{'dup-rej':>8}{'malformed':>10}{'unmatched':>10}{'retries':>8}  runs"
    out.append(header)
    for name, t in sorted(report.sources.items()):
        runs = ", ".join(f"{k} {v}" for k, v in sorted(t.runs.items()))
        out.append(f"  {name:<24}{t.fetched:>8}{t.stored:>8}{t.duplicates:>8}{t.malformed:>10}{t.unmatched:>10}{t.retries:>8}  {runs}")
    f = report.figures
    out += ["", f"Stored {f['stored_posts']} posts ({f['matching_topics']} of the {f['emulated_posts']} published "
                f"name a topic's terms; missed {f['missed']} of those); "
                f"{f['duplicates_rejected']} repeat deliveries rejected"
                + (f"; {f['unrelated_posts']} found by ambiguous names only and judged unrelated (counted nowhere)"
                   if f.get("unrelated_posts") else "")
                + (f"; {f['own_posts']} written by the bank's own accounts (counted nowhere)" if f.get("own_posts") else "")]
    if f["ingest_latency_median_s"] is not None:
        out.append(f"Time from publication to storage: median {f['ingest_latency_median_s']:.0f} s, "
                   f"max {f['ingest_latency_max_s']:.0f} s (simulated)")
    if report.timeline:
        out += ["", "Timeline"] + [f"  {line}" for line in report.timeline[:40]]
        if len(report.timeline) > 40:
            out.append(f"  … {len(report.timeline) - 40} more")
    if report.riskiest:
        out += ["", "Riskiest posts"]
        for r in report.riskiest:
            text = " ".join(r["text"].split())[:90]
            out.append(f"  risk {r['risk']:>3}  {r['platform']:<5} {r['author']} ({r['followers']:,} followers): {text}")
            out.append(f"            {r['url']}")
    for topic, rows in report.per_minute.items():
        if not rows:
            continue
        out += ["", f"Per-minute negative share, topic {topic} (minutes with posts)"]
        for row in rows:
            when = datetime.fromisoformat(row["minute"] + ":00+00:00")
            share = row["negative"] / row["posts"] if row["posts"] else 0.0
            out.append(f"  {offset_of_minute(scenario_start, when):>7}  {row['posts']:>4} posts "
                       f"({row['social']} social, {row['news']} news)  {share:>4.0%} negative  {_bar(share)}")
    out += _render_narratives(report.narratives, scenario_start)
    for topic, history in report.levels.items():
        if history:
            out += ["", f"Levels, topic {topic}: " + ", ".join(f"{name} at {at}" for at, name in history)]
            lead = report.figures.get("lead_time", {}).get(topic) or {}
            if lead.get("first_warning"):
                out.append(f"  first crisis post {lead['first_crisis_post']}, first WARNING {lead['first_warning']}: "
                           f"detected {lead['lead_minutes']} minutes after the first crisis post")
    if report.sms:
        out += ["", "SMS sent"] + [f"  {m['at']}  {m['to']}: {m['text']}" for m in report.sms]
    for st in report.statements:
        span = st["publish_to_last_delivery_s"]
        head = f"Statement {st['ref']} ({st['kind']}{', corrects ' + st['corrects'] if st.get('corrects') else ''}): {st['state']}"
        out += ["", head + (f", publish to last delivery {span:.0f} s (simulated)" if span is not None else "")]
        for d in st["deliveries"]:
            where = d.get("url") or d.get("error") or ""
            note = "  (answer lost; found by lookup)" if d.get("resolved_by") == "lookup" else ""
            out.append(f"  {d['channel'] + ' (' + d['language'] + ')':<16}{d['state']:<9} attempts {d.get('attempts') or 0}  {where}{note}")
        out += _render_effects(st.get("effects") or [], scenario_start)
    for wave in report.reply_waves:
        info = wave.get("wave") or {}
        basis = f"template {info['template_id']}" if info.get("template_id") else "one approved text"
        out += ["", f"Reply wave {wave['id']} (topic {info.get('topic')}, {basis}, {info.get('replies')} replies)"]
        out += _render_effects(wave["effects"], scenario_start)
    for written in report.post_crisis_reports:
        out += ["", f"Post-crisis report, topic {written['topic']}: {written['html']}",
                f"  {written['bytes']:,} bytes, CSV beside it: {', '.join(written['csv'])}"]
    if report.replies:
        out += ["", "Replies"]
        for r in report.replies:
            sent = f"sent {r['sent']}" if r["sent"] else r["state"]
            extra = ", found by lookup" if r.get("resolved_by") == "lookup" else ""
            why = f"  {r['error']}" if r.get("error") and r["state"] != "SENT" else ""
            out.append(f"  {r['post']:<14}{r['platform']:<9}{r['state']:<18}attempts {r['attempts']}  {r['from']}, by "
                       f"{r['author']}{' approved by ' + r['approver'] if r.get('approver') else ''}; made {r['created']}, "
                       f"{sent}{extra}{why}")
    if report.notes:
        out += ["", "Notes"] + [f"  {n}" for n in report.notes]
    out += ["", "Checks"] + [f"  {c.line()}" for c in report.checks]
    passed = sum(c.passed for c in report.checks)
    out.append(f"  {passed} passed, {len(report.checks) - passed} failed")
    return "\n".join(out)


def _render_narratives(narratives: dict[str, dict[str, Any]], start: datetime) -> list[str]:
    """Each topic's narratives by priority: figures, platforms, the riskiest post; the alerts' leading one."""
    out: list[str] = []
    for topic, answer in narratives.items():
        if not answer["narratives"]:
            continue
        middle = offset_of_minute(start, datetime.fromisoformat(answer["middle"].replace("Z", "+00:00")))
        out += ["", f"Narratives, topic {topic}, by priority (growth: after {middle} against before)"]
        for n in answer["narratives"]:
            platforms = ", ".join(f"{p} {c}" for p, c in n["platforms"].items())
            out.append(f"  {n['rank']}. {n['names']['en']} / {n['names']['zh']} ({n['id']}): {n['posts']} posts, "
                       f"{n['negative_share']:.0%} negative, growth {n['growth']:.2f}x, reach {n['reach']:.2f}, "
                       f"priority {n['priority']:.1f}; {platforms}")
            for p in n["top_posts"][:1]:
                out.append(f"       riskiest: risk {p['risk']} {p['platform']} {p['author']}: {p['excerpt'][:80]}")
        for alert in answer.get("alerts", []):
            out.append(f"  alert {alert['alert_id']} ({alert['level']}): leading narrative {alert['narrative'] or 'none'}")
    return out


def _render_effects(effects: list[dict[str, Any]], start: datetime) -> list[str]:
    """A subject's measurements: windows, figures per topic, engagement per channel, the recommendation."""
    out: list[str] = []

    def at(value: str) -> str:
        return offset_of_minute(start, datetime.fromisoformat(value))

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:+.2f}"

    for e in effects:
        rec = e["recommendation"]
        out.append(f"  effect {e['stage']}: after {at(e['after']['start'])}..{at(e['after']['end'])} vs before "
                   f"{at(e['before']['start'])}..{at(e['before']['end'])}, measured {at(e['measured_at'])} "
                   f"-> {rec['code']}" + (f" (rule {rec['rule']}, {rec.get('topic')})" if rec.get("rule") else ""))
        for t in e["topics"]:
            b, a, nb, na = t["before"], t["after"], t["news_before"], t["news_after"]
            out.append(f"    {t['topic']} ({t.get('level_at_publication') or 'NORMAL'} at publication): "
                       f"posts {b['volume']} -> {a['volume']}, negative {pct(b.get('negative_share'))} -> "
                       f"{pct(a.get('negative_share'))}, polarity {num(b.get('net_polarity'))} -> {num(a.get('net_polarity'))}, "
                       f"crisis hits {b['crisis_hits']} -> {a['crisis_hits']}, rumours {b['rumour_posts']} -> "
                       f"{a['rumour_posts']}; news {nb['items']} -> {na['items']} items ({pct(nb.get('negative_share'))} -> "
                       f"{pct(na.get('negative_share'))} negative); open questions {t['open_questions']}")
        shown = []
        for channel, g in sorted((e.get("engagement") or {}).items()):
            if g["state"] == "available":
                shown.append(f"{channel} {g.get('likes', 0)} likes/{g.get('reposts', 0)} reposts/{g.get('replies', 0)} replies")
            else:
                shown.append(f"{channel} unavailable ({g.get('reason')})")
        if shown:
            out.append("    engagement: " + "; ".join(shown))
        out.append(f"    why: {rec['reason']}")
    return out


def offset_of_minute(start: datetime, when: datetime) -> str:
    minutes = int((when - start).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def as_json(report: DrillReport) -> dict[str, Any]:
    return {
        "name": report.name,
        "description": report.description,
        "ok": report.ok,
        "figures": report.figures,
        "sources": {k: {**{n: getattr(v, n) for n in COUNTERS}, "runs": dict(v.runs)} for k, v in report.sources.items()},
        "timeline": report.timeline,
        "riskiest": report.riskiest,
        "per_minute": report.per_minute,
        "notes": report.notes,
        "statements": report.statements,
        "levels": report.levels,
        "sms": report.sms,
        "replies": report.replies,
        "reply_waves": report.reply_waves,
        "report": report.post_crisis_reports[0]["html"] if report.post_crisis_reports else None,
        "reports": report.post_crisis_reports,
        "narratives": report.narratives,
        "checks": [{**c.check, "passed": c.passed, "observed": c.observed} for c in report.checks],
    }


def main(argv: list[str], *, waits: FaultWaits = DRILL_WAITS) -> int:
    parser = argparse.ArgumentParser(prog="drill", description="Replay crisis scenarios on local AWS.")
    parser.add_argument("scenarios", nargs="*", type=Path, help="scenario files (default: events/drills/*.json)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--jobs", type=int, help="drills run at once, each in a process with its own local AWS "
                        "(default: one per CPU, at most one per scenario; 1 when AWS_ENDPOINT_URL names one local AWS)")
    args = parser.parse_args(argv)
    paths = args.scenarios or sorted(DRILLS.glob("*.json"))
    shared_endpoint = bool(os.environ.get("AWS_ENDPOINT_URL"))
    if args.jobs is not None and (args.jobs < 1 or args.jobs > 1 and shared_endpoint):
        parser.error("--jobs must be 1 or more, and 1 when AWS_ENDPOINT_URL is set (the drills would share one local AWS)")
    try:
        scenarios = [load_scenario(path) for path in paths]  # every file checked before any drill runs
    except ScenarioError as exc:
        print(exc, file=sys.stderr)
        return 2
    jobs = args.jobs or (1 if shared_endpoint else min(os.cpu_count() or 1, len(paths)))
    outcomes = (_in_processes(paths, scenarios, waits, jobs) if jobs > 1 and len(paths) > 1
                else (_outcome(path, scenario.start, waits) for path, scenario in zip(paths, scenarios)))
    results, failed = [], False
    for text, result, ok in outcomes:
        print(text, end="\n\n", flush=True)
        results.append(result)
        failed |= not ok
    if args.json:
        args.json.write_text(json.dumps(results if len(results) != 1 else results[0], indent=2, ensure_ascii=False,
                                        default=str), encoding="utf-8")
    return 1 if failed else 0


def _outcome(path: Path, start: datetime, waits: FaultWaits) -> tuple[str, dict[str, Any], bool]:
    """One drill: its printed report, its JSON result and whether it passed."""
    report = run_scenario(path, waits=waits)
    return render(report, start), as_json(report), report.ok


def _in_processes(paths: list[Path], scenarios: list[Scenario], waits: FaultWaits,
                  jobs: int) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """The drills `jobs` at a time, each in a new process (its own local AWS, emulators and simulated clock:
    nothing is shared), the longest simulated first so that no long one starts last; the outcomes in the
    scenarios' order, each as soon as it and those before it are done."""
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures: dict[int, Future[tuple[str, dict[str, Any], bool]]] = {}
        for i in sorted(range(len(paths)), key=lambda i: scenarios[i].length, reverse=True):
            futures[i] = pool.submit(_outcome, paths[i], scenarios[i].start, waits)
        for i in range(len(paths)):
            yield futures[i].result()
