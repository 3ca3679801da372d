"""The post-crisis report: asked for through the API, written by the Reporter function.

A desk member asks for a topic and a time range (`POST /topics/{topic}/reports`): the request is
recorded (StateTable `report#<id>`, state REQUESTED, with its audit entry) and queued. The Reporter
takes it from the queue (RUNNING), gathers what happened over the range, writes one self-contained
HTML page with inline SVG charts and a CSV file of every series into the ReportBucket, and records
the files and the headline figures (DONE). `GET /reports/{id}` answers the state and, once DONE,
links to each file (presigned, valid `link_seconds`). Every move is conditional on the record's
revision and written with its audit entry; a repeated queue message finds the report claimed or
done and changes nothing. A run that fails is retried by the queue; after `max_attempts` the
report is FAILED with the reason.

What the report holds, and where it comes from (all passed in as `ReportSources` by the wiring):
the topic's volume and sentiment per platform and per source type (crisiscomms.aws.series_store),
its level changes (the Detector's audit entries), alerts with their acknowledgements, statements
published in the range with their deliveries, the replies to its conversations, the measured
effect of each statement and reply wave (crisiscomms.aws.effect_store), where and when people
posted (the desk's distribution figures), its riskiest posts and the crisis terms in them, and the
lessons of its closed alerts. A statement belongs to the topic's report when it names the topic,
or names no topic (a statement for the whole bank belongs in every topic's review).

Roles: on-call staff, authors and approvers ask for reports; they and auditors read them.
"""
from __future__ import annotations

import hashlib
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from crisiscomms.aws.report_store import ReportRepository, file_key
from crisiscomms.errors import InvalidParameter, NotFound
from crisiscomms.handover import hand_over, request_id
from crisiscomms.identity import APPROVER, AUDITOR, AUTHOR, ONCALL, Identity
from crisiscomms.models.alerts import Lesson
from crisiscomms.models.audit import AuditEntry
from crisiscomms.models.effect import EffectRecord
from crisiscomms.models.series import TopicSeries
from crisiscomms.observability import count, logger
from crisiscomms.review.report_page import LEVELS, ReportContent, csv_files, drawn_buckets, level_steps, render_html

REQUESTERS = (ONCALL, AUTHOR, APPROVER)
READERS = (ONCALL, AUTHOR, APPROVER, AUDITOR)
REPORT_ID_PATTERN = r"^rpt-[0-9a-f]{16}$"
MAX_SPAN = timedelta(days=91)  # the distribution figures allow 92 days; widening to whole hours stays within
MINUTE_SERIES_SPAN = timedelta(days=2)  # longer ranges are read as hour buckets
TOP_POSTS = 20
RISKIEST_PER_DAY = 100
DEFAULT_TIMEZONE = "Asia/Shanghai"
REQUESTED, RUNNING, DONE, FAILED = "REQUESTED", "RUNNING", "DONE", "FAILED"
HTML_NAME = "report.html"


def iso_z(when: datetime) -> str:
    """UTC to the second with a Z (four-digit years whatever the platform's strftime does with them)."""
    return when.astimezone(timezone.utc).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def parse_stamp(value: str) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(timezone.utc)


def zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


class ReportRequest(BaseModel):
    """The body of POST /topics/{topic}/reports: the range (RFC 3339 with an offset) and the zone of its clock times."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: AwareDatetime = Field(alias="from", description="first moment covered, RFC 3339 with an offset")
    to: AwareDatetime = Field(description="end of the range (exclusive), RFC 3339 with an offset")
    tz: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+){0,2}$",
                           description="IANA time zone of the report's clock times and hours of day; default Asia/Shanghai")

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        from zoneinfo import ZoneInfoNotFoundError

        if value is not None:
            try:
                zone(value)
            except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
                raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value


class ReportMessage(BaseModel):
    """What the queue carries to the Reporter: the report to write (everything else is on its record)."""

    model_config = ConfigDict(extra="forbid")

    report_id: str = Field(pattern=REPORT_ID_PATTERN)


def _utc(name: str, when: datetime) -> datetime:
    """`when` in UTC; InvalidParameter naming it when that falls outside the years a datetime holds."""
    try:
        return when.astimezone(timezone.utc)
    except (OverflowError, ValueError) as exc:
        raise InvalidParameter(name, "out of range") from exc


def _role(who: Identity, roles: tuple[str, ...]) -> str:
    return next((r for r in roles if r in who.groups), roles[0])


class ReportDesk:
    """The API's side: ask for a report, read its state and links."""

    def __init__(self, reports: ReportRepository, *, enqueue: Callable[[list[dict[str, Any]]], list[str]],
                 clock: Callable[[], datetime], link_seconds: int = 900) -> None:
        self._reports = reports
        self._enqueue = enqueue
        self._clock = clock
        self._link_seconds = link_seconds

    def request(self, who: Identity, topic: str, body: ReportRequest) -> dict[str, Any]:
        who.require(*REQUESTERS)
        start, end = _utc("from", body.from_), _utc("to", body.to)
        if start >= end:
            raise InvalidParameter("from", "must be before to")
        if end - start > MAX_SPAN:
            raise InvalidParameter("to", f"at most {MAX_SPAN.days} days after from")
        now = self._clock()
        tz = body.tz or DEFAULT_TIMEZONE
        # The same person asking for the same report while it is still to be written is the request sent again
        # (after a 503): the report it recorded, handed over now. A written or failed one is asked for anew.
        report_id = request_id("rpt-", who.user, topic, iso_z(start), iso_z(end), tz)
        earlier = self._reports.get(report_id)
        if earlier is not None and earlier.get("state") not in (DONE, FAILED):
            if earlier.get("state") == REQUESTED:
                self._hand_over(report_id)
            return self.view(earlier)
        if earlier is not None:
            report_id = f"rpt-{uuid.uuid4().hex[:16]}"
        record = {"id": report_id, "topic": topic, "from": iso_z(start), "to": iso_z(end),
                  "tz": tz, "state": REQUESTED, "requested_by": who.user,
                  "requested_at": iso_z(now), "attempts": 0}
        entry = AuditEntry(actor=who.user, role=_role(who, REQUESTERS), action="report_requested",
                           target=f"report#{report_id}", at=now,
                           after={k: record[k] for k in ("topic", "from", "to", "tz", "state")})
        self._reports.create(record, entry)
        self._hand_over(report_id)
        count("ReportsRequested")
        logger.info("report requested", extra={"report_id": report_id, "topic": topic, "from": record["from"],
                                               "to": record["to"], "by": who.user})
        return self.view(self._reports.get(report_id) or record)

    def _hand_over(self, report_id: str) -> None:
        """Queue the recorded request for the Reporter (crisiscomms.handover; the API may create reports, never
        move them)."""
        hand_over(lambda: self._enqueue([{"report_id": report_id}]), what=f"report {report_id}", to="Reporter",
                  metric="ReportsNotQueued")

    def get(self, who: Identity, report_id: str) -> dict[str, Any]:
        who.require(*READERS)
        record = self._reports.get(report_id)
        if record is None:
            raise NotFound(f"no report {report_id!r}")
        return self.view(record)

    def view(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record as the API shows it; the files with presigned links once it is DONE."""
        shown = {k: record.get(k) for k in ("id", "topic", "from", "to", "tz", "state", "requested_by", "requested_at",
                                            "started_at", "finished_at", "attempts", "error", "figures")}
        files = []
        for name, meta in sorted((record.get("files") or {}).items(), key=lambda kv: (kv[0] != HTML_NAME, kv[0])):
            files.append({"name": name, "bytes": meta.get("bytes"), "sha256": meta.get("sha256"),
                          "content_type": meta.get("content_type"),
                          "url": self._reports.link(meta["key"], seconds=self._link_seconds, filename=name.rsplit("/", 1)[-1])})
        shown["files"] = files
        shown["links_expire_in"] = self._link_seconds if files else None
        return shown


# --- writing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportSources:
    """Everything the report reads, passed in by the composition root."""

    series: Callable[[str, datetime, datetime, str], TopicSeries]  # (topic, start, end, "minute" | "hour")
    distribution: Callable[[str, datetime, datetime, str], dict[str, Any]]  # (topic, start, end, tz): by place, hour
    level_changes: Callable[[str, datetime], list[dict[str, Any]]]  # (topic, end): audit entries, oldest first
    alerts: Callable[[str, datetime, datetime], list[dict[str, Any]]]
    statements: Callable[[datetime, datetime], list[dict[str, Any]]]  # published in the range, with deliveries
    effects: Callable[[str, datetime, datetime], list[EffectRecord]]  # statements' and reply waves' measurements
    replies: Callable[[str, datetime, datetime], list[dict[str, Any]]]
    riskiest: Callable[[str, str, int], list[dict[str, Any]]]  # (topic, UTC day, limit): topic post links by risk
    lessons: Callable[[str, datetime, datetime], list[Lesson]]
    topic_names: Callable[[str], list[str]]


def gather(sources: ReportSources, record: dict[str, Any], *, now: datetime) -> ReportContent:
    """Read everything the report shows for the record's topic and range."""
    topic, tz = record["topic"], record.get("tz") or DEFAULT_TIMEZONE
    start, end = parse_stamp(record["from"]), parse_stamp(record["to"])
    series = sources.series(topic, start, end, "minute" if end - start <= MINUTE_SERIES_SPAN else "hour")
    drawn = drawn_buckets(series)
    changes = [_level_change(e) for e in sources.level_changes(topic, series.end)]
    before = [c for c in changes if c["at"] < series.start]
    level_at_start = before[-1]["to"] if before else "NORMAL"
    in_range = [c for c in changes if series.start <= c["at"] < series.end]
    effects = sources.effects(topic, series.start, series.end)
    statements = [s for s in sources.statements(series.start, series.end)
                  if not s.get("topics") or topic in (s.get("topics") or [])]
    riskiest: dict[str, dict[str, Any]] = {}
    day = series.start.replace(hour=0, minute=0)
    while day < series.end:
        for link in sources.riskiest(topic, day.strftime("%Y-%m-%d"), RISKIEST_PER_DAY):
            if iso_z(series.start) <= str(link["published_key"])[:20] < iso_z(series.end):
                riskiest[link["post_key"]] = link
        day += timedelta(days=1)
    ranked = sorted(riskiest.values(), key=lambda p: (-int(p.get("risk", 0)), str(p["published_key"])))
    terms = Counter(term for post in ranked for term in dict.fromkeys(post.get("crisis_terms") or []))
    return ReportContent(
        report_id=record["id"], topic=topic, names=sources.topic_names(topic), start=series.start, end=series.end,
        requested_from=start, requested_to=end, tz=tz, generated_at=now, requested_by=record.get("requested_by"),
        series=series, drawn=drawn, level_at_start=level_at_start, level_changes=in_range,
        levels=level_steps(drawn, level_at_start, in_range), alerts=sources.alerts(topic, series.start, series.end),
        statements=statements, effects=[e for e in effects if e.subject == "statement"],
        waves=[e for e in effects if e.subject == "reply_wave"], replies=sources.replies(topic, series.start, series.end),
        distribution=sources.distribution(topic, series.start, series.end, tz), top_posts=ranked[:TOP_POSTS],
        riskiest_read=len(ranked), terms=terms.most_common(20), lessons=sources.lessons(topic, series.start, series.end))


def _level_change(entry: dict[str, Any]) -> dict[str, Any]:
    after, before = entry.get("after") or {}, entry.get("before") or {}
    level = str(after.get("level") or "NORMAL")
    return {"at": parse_stamp(entry["at"]), "from": str(before.get("level") or "NORMAL"),
            "to": level if level in LEVELS else "NORMAL", "reasons": list(after.get("reasons") or [])}


class ReportWriter:
    """The Reporter function's side: claim a requested report, write its files, record them."""

    def __init__(self, reports: ReportRepository, sources: ReportSources, *, clock: Callable[[], datetime],
                 max_attempts: int = 3, stale_after: timedelta = timedelta(minutes=5)) -> None:
        """`stale_after`: a RUNNING report started longer ago than this (the function's timeout) is taken
        over by the queue's next delivery; a younger one is left to the run that has it."""
        self._reports = reports
        self._sources = sources
        self._clock = clock
        self._max_attempts = max_attempts
        self._stale_after = stale_after

    def _entry(self, action: str, report_id: str, *, after: dict[str, Any], text_hash: str | None = None) -> AuditEntry:
        return AuditEntry(actor="reporter", role="system", action=action, target=f"report#{report_id}", at=self._clock(),
                          after=after, text_hash=text_hash)

    def write(self, message: ReportMessage) -> dict[str, Any]:
        """Write the report once; a repeat of a claimed or finished report changes nothing. An error is
        raised again (the queue retries) until the last attempt, which records the report FAILED."""
        record = self._reports.get(message.report_id)
        if record is None:
            logger.warning("report message for no report", extra={"report_id": message.report_id})
            return {"report_id": message.report_id, "state": "missing"}
        if record["state"] in (DONE, FAILED):
            return {"report_id": record["id"], "state": record["state"], "repeat": True}
        if record["state"] == RUNNING and parse_stamp(record["started_at"]) + self._stale_after > self._clock():
            return {"report_id": record["id"], "state": "running elsewhere"}
        attempt = int(record.get("attempts") or 0) + 1
        claimed = {"state": RUNNING, "attempts": attempt, "started_at": iso_z(self._clock())}
        if not self._reports.move(record, expect=(REQUESTED, RUNNING), updates=claimed,
                                  entry=self._entry("report_started", record["id"], after={"state": RUNNING, "attempt": attempt})):
            return {"report_id": record["id"], "state": "claimed elsewhere"}
        record = {**record, **claimed, "revision": int(record["revision"]) + 1}
        started = time.perf_counter()  # real time, whatever clock the records are stamped with
        try:
            written = self._write_files(record)
        except Exception as exc:
            logger.exception("report not written", extra={"report_id": record["id"], "attempt": attempt})
            if attempt < self._max_attempts:  # handed back for the queue's next delivery, with the reason
                self._reports.move(record, expect=(RUNNING,), updates={"state": REQUESTED, "error": f"{type(exc).__name__}: {exc}"[:500]},
                                   entry=self._entry("report_attempt_failed", record["id"],
                                                     after={"state": REQUESTED, "attempt": attempt}))
                raise
            self._reports.move(record, expect=(RUNNING,), updates={"state": FAILED, "error": f"{type(exc).__name__}: {exc}"[:500],
                                                                    "finished_at": iso_z(self._clock())},
                               entry=self._entry("report_failed", record["id"], after={"state": FAILED, "attempt": attempt}))
            count("ReportsFailed")
            return {"report_id": record["id"], "state": FAILED}
        files, figures, html_hash = written
        done = {"state": DONE, "files": files, "figures": figures, "finished_at": iso_z(self._clock()),
                "error": None}  # an earlier attempt's reason no longer stands
        if not self._reports.move(record, expect=(RUNNING,), updates=done,
                                  entry=self._entry("report_written", record["id"], text_hash=html_hash,
                                                    after={"state": DONE, "files": {n: f["sha256"] for n, f in files.items()}})):
            return {"report_id": record["id"], "state": "claimed elsewhere"}
        count("ReportsWritten")
        logger.info("report written", extra={"report_id": record["id"], "topic": record["topic"],
                                             "html_bytes": files[HTML_NAME]["bytes"], "files": len(files),
                                             "seconds": round(time.perf_counter() - started, 3)})
        return {"report_id": record["id"], "state": DONE, "files": sorted(files)}

    def _write_files(self, record: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, Any], str]:
        content = gather(self._sources, record, now=self._clock())
        html = render_html(content).encode("utf-8")
        outputs = {HTML_NAME: (html, "text/html; charset=utf-8")}
        outputs |= {f"csv/{name}": (text.encode("utf-8"), "text/csv; charset=utf-8")
                    for name, text in csv_files(content).items()}
        files: dict[str, dict[str, Any]] = {}
        for name, (body, content_type) in outputs.items():
            key = file_key(record["topic"], record["id"], name)
            self._reports.put_file(key, body, content_type)
            files[name] = {"key": key, "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest(),
                           "content_type": content_type}
        return files, content.figures(), files[HTML_NAME]["sha256"]


__all__ = ["DONE", "FAILED", "READERS", "REPORT_ID_PATTERN", "REQUESTED", "REQUESTERS", "RUNNING", "ReportDesk",
           "ReportMessage", "ReportRequest", "ReportSources", "ReportWriter", "gather"]
