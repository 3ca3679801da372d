"""The effect of each published statement and reply wave: what to measure, when, and the measurement.

The Reviewer (a scheduled function) does three things a run:

1. It reads the audit chain from its cursor on. A `publish` entry of a statement schedules the
   statement; a `reply_sent` entry adds the reply to its wave (or starts one). A **reply wave** is the
   sent replies of one topic from one approved template (or, for free replies, one approved text),
   the first sent at the wave's start and the others within `wave_minutes` of it; it is measured
   from its first reply's send, as a statement from its publication.
2. It reads the due items (one Query of the sparse "effect-due" partition, never a Scan) and
   measures each; a measurement is stored once, with its audit entry (crisiscomms.aws.effect_store).
3. Nothing else: it changes no statement, reply or conversation.

**Windows.** Publication at P, m0 = P's minute, W = `window_minutes`, S = `second_look_minutes`:
before = [m0 - W, m0) and, for the first measurement, after = [m0, m0 + W), measured SETTLE_MINUTES
after it closes (posts reach storage within a poll or two); the second look compares the same
before-window with [m0 + S - W, m0 + S), measured at m0 + S + SETTLE_MINUTES. Every window is W
minutes long.

**Topics.** A statement's `topics` when the author gave them; otherwise the watched topics that were
above NORMAL when it was published (the Detector's last level change before the publication in the
audit chain); otherwise every watched topic (at most `max_topics`). A wave's topic is its replies'.

**Figures** per topic and window, from the stored minute aggregates (social and news apart): volume,
negative posts and share, net polarity (mean sentiment), crisis-term hits; rumour posts are the
rumour conversations the inbox opened in the window (counted under a post's first topic). News tone
is the same for news items. Open questions are the topic's question conversations still NEW or
ASSIGNED when measured. Engagement is read back from each channel for the delivered ids (see
NO_ENGAGEMENT for the channels that give none in time).
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from crisiscomms.aws.effect_store import EffectRepository, ReviewReads, iso_z
from crisiscomms.errors import ConfigurationError, InvalidParameter, NotFound, PlatformError, TransientPlatformError
from crisiscomms.identity import APPROVER, AUDITOR, AUTHOR, Identity
from crisiscomms.models.audit import AuditEntry
from crisiscomms.models.effect import (
    EffectRecord,
    Engagement,
    NewsTone,
    SocialFigures,
    TopicEffect,
    TopicsBasis,
    WaveInfo,
    Window,
)
from crisiscomms.models.posts import minute_key
from crisiscomms.observability import count, logger
from crisiscomms.review.recommend import Evidence, overall, recommend

if TYPE_CHECKING:  # the rules come from the watch configuration, read by the caller: the desk API reads no rules
    from crisiscomms.watch.review import EffectRules

SYSTEM = "reviewer"
SETTLE_MINUTES = 2
CONVERSATION_STATES = ("NEW", "ASSIGNED", "REPLIED", "CLOSED", "IGNORED")
OPEN_STATES = ("NEW", "ASSIGNED")
# Channels that give no engagement a measurement can read, and why.
NO_ENGAGEMENT: dict[str, str] = {
    "newsroom": "a page on the bank's own site: nothing to like, repost or reply to",
    "wechat": "WeChat gives article statistics the next day (datacube getarticletotal), after the window",
    "webhook": "the receiver reports nothing back",
    "telegram": "the Bot API gives a bot no views or reactions of channel posts",
}
# A reply on these platforms is a comment, which no counting API covers.
NO_REPLY_ENGAGEMENT: dict[str, str] = {
    "weibo": "a Weibo reply is a comment; statuses/count counts statuses only",
    "wechat": "a WeChat reply is a comment reply; no counts are given for it",
    "douyin": "a Douyin reply is a comment reply; no counts are given for it",
    "reddit": "a Reddit reply is a comment; its score is readable (api/info) only with the listening token, "
              "which the Reviewer does not hold",
}

# A channel's counts for the ids asked: {id: Engagement}; raises PlatformError; None when the
# channel's adapter cannot read engagement at all.
EngagementRead = Callable[[str, list[str]], "dict[str, Engagement] | None"]


def floor_minute(when: datetime) -> datetime:
    return when.astimezone(timezone.utc).replace(second=0, microsecond=0)


def parse_time(value: str | datetime) -> datetime:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return when.astimezone(timezone.utc) if when.tzinfo else when.replace(tzinfo=timezone.utc)


def windows(published_at: datetime, stage: str, rules_window: int, second_look: int) -> tuple[Window, Window]:
    """(before, after) for a stage: equal windows of `rules_window` minutes (see the module's text)."""
    m0 = floor_minute(published_at)
    width = timedelta(minutes=rules_window)
    before = Window(start=m0 - width, end=m0)
    end = m0 + (width if stage == "after" else timedelta(minutes=second_look))
    return before, Window(start=end - width, end=end)


def due_at(published_at: datetime, stage: str, rules_window: int, second_look: int) -> datetime:
    return windows(published_at, stage, rules_window, second_look)[1].end + timedelta(minutes=SETTLE_MINUTES)


def figures(rows: Iterable[dict[str, Any]], window: Window) -> tuple[SocialFigures, NewsTone]:
    """A topic's social figures (rumours not yet counted) and news tone over one window, from its
    stored minute aggregates (items with `minute`, `source_type`, `posts`, `negative`,
    `sentiment_sum`, `crisis_posts`)."""
    first, last = minute_key(window.start), minute_key(window.end)
    sums = {"social": [0, 0, 0.0, 0], "news": [0, 0, 0.0, 0]}
    for row in rows:
        if not first <= str(row.get("minute")) < last or row.get("source_type") not in sums:
            continue
        s = sums[row["source_type"]]
        s[0] += int(row.get("posts") or 0)
        s[1] += int(row.get("negative") or 0)
        s[2] += float(row.get("sentiment_sum") or 0.0)
        s[3] += int(row.get("crisis_posts") or 0)

    def ratio(part: float, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    social, news = sums["social"], sums["news"]
    return (SocialFigures(volume=social[0], negative=social[1], negative_share=ratio(social[1], social[0]),
                          net_polarity=ratio(social[2], social[0]), crisis_hits=social[3]),
            NewsTone(items=news[0], negative=news[1], negative_share=ratio(news[1], news[0]),
                     net_polarity=ratio(news[2], news[0])))


def read_engagement(channel: str, ids: Sequence[str], read: EngagementRead, *,
                    unavailable: dict[str, str] = NO_ENGAGEMENT, why_none: str = "nothing was delivered") -> Engagement:
    """One channel's engagement with the bank's posts `ids`: summed counts, or unavailable and why."""
    if channel in unavailable:
        return Engagement(state="unavailable", reason=unavailable[channel])
    if not ids:
        return Engagement(state="unavailable", reason=why_none)
    try:
        counts = read(channel, list(ids))
    except (PlatformError, ConfigurationError) as exc:
        return Engagement(state="unavailable", reason=f"{channel} could not be read: {exc}"[:300])
    if counts is None:
        return Engagement(state="unavailable", reason=f"{channel} gives no engagement through its API")
    found = [counts[i] for i in ids if i in counts and counts[i].state == "available"]
    if not found:
        return Engagement(state="unavailable", reason=f"{channel} returned no counts for the {len(ids)} delivered id(s)")
    missing = len(ids) - len(found)
    return Engagement(state="available", likes=sum(int(c.likes or 0) for c in found),
                      reposts=sum(int(c.reposts or 0) for c in found), replies=sum(int(c.replies or 0) for c in found),
                      posts=len(found), reason=f"{missing} of {len(ids)} id(s) not returned" if missing else None)


def engagement_total(engagement: dict[str, Engagement]) -> int | None:
    """Likes + reposts + replies over the channels that gave counts; None when none did."""
    available = [e for e in engagement.values() if e.state == "available"]
    return sum(e.total for e in available) if available else None


@dataclass(frozen=True)
class Sources:
    """What the Reviewer reads, passed in by the composition root."""

    statement: Callable[[str], dict[str, Any] | None]  # meta with `deliveries` (StatementRepository.load)
    reply: Callable[[str], dict[str, Any] | None]  # a reply item (ReplyRepository.reply)
    minutes: Callable[[str, str, str], list[dict[str, Any]]]  # topic, first minute, end minute (PostRepository)
    engagement: EngagementRead
    watched_topics: Callable[[], list[str]]
    rules: Callable[[], EffectRules]


class Reviewer:
    """One run: `discover`, then `measure_due` while time is left (`remaining_seconds`, the Lambda's).

    A channel that failed once in a run is not asked again in that run (its engagement is unavailable
    for the rest of it), so a platform that hangs costs one timeout a run, not one per statement."""

    def __init__(self, repo: EffectRepository, reads: ReviewReads, sources: Sources, *,
                 clock: Callable[[], datetime], batch: int = 25, entries_per_run: int = 500,
                 reserve_seconds: float = 15.0) -> None:
        self._repo = repo
        self._reads = reads
        self._sources = sources
        self._clock = clock
        self._batch = batch
        self._entries_per_run = entries_per_run
        self._reserve = reserve_seconds
        self._down: dict[str, str] = {}

    def run(self, remaining_seconds: Callable[[], float] = lambda: float("inf")) -> dict[str, Any]:
        self._down = {}
        found = self.discover()
        measured = self.measure_due(remaining_seconds)
        logger.info("review run", extra={**found, "measured": len(measured["measured"]),
                                         "already_measured": measured["already_measured"], "failed": measured["failed"],
                                         "left_for_next_run": measured["left_for_next_run"]})
        return {**found, **measured}

    def _engagement(self, channel: str, ids: list[str]) -> dict[str, Engagement] | None:
        if channel in self._down:
            raise TransientPlatformError(self._down[channel], code="down_this_run")
        try:
            return self._sources.engagement(channel, ids)
        except PlatformError as exc:
            self._down[channel] = f"{exc} (not asked again until the next run)"
            raise

    # --- 1. what was published: the audit chain from the cursor on --------------------------------

    def discover(self) -> dict[str, Any]:
        cursor = self._reads.cursor()
        entries = self._reads.entries_after(cursor, limit=self._entries_per_run)
        scheduled = waves = 0
        for entry in entries:
            target, action = str(entry.get("target") or ""), entry.get("action")
            if action == "publish" and target.startswith("statement#"):
                scheduled += self._schedule_statement(target.removeprefix("statement#"), int(entry["seq"]))
            elif action == "reply_sent" and target.startswith("reply#"):
                waves += self._join_wave(target.removeprefix("reply#"), int(entry["seq"]))
        if entries and not self._reads.advance(cursor, int(entries[-1]["seq"])):
            logger.warning("the review cursor moved while this run read the chain", extra={"from": cursor})
        return {"entries_read": len(entries), "scheduled": scheduled, "waves_started": waves}

    def _topics(self, given: list[str] | None, seq: int, rules: EffectRules) -> tuple[list[str], TopicsBasis, dict[str, str]]:
        if given:
            topics, basis = list(dict.fromkeys(given))[: rules.max_topics], "given"
            return topics, basis, {t: self._reads.level_before(t, seq) or "NORMAL" for t in topics}
        watched = self._sources.watched_topics()
        levels = {t: self._reads.level_before(t, seq) or "NORMAL" for t in watched}
        above = [t for t in watched if levels[t] != "NORMAL"]
        chosen: list[str] = above[: rules.max_topics] if above else watched[: rules.max_topics]
        return chosen, ("above_normal" if above else "every_watched"), {t: levels[t] for t in chosen}

    def _due(self, subject: str, subject_id: str, published_at: datetime, topics: list[str], basis: str,
             levels: dict[str, str], rules: EffectRules, ref: str | None = None) -> dict[str, Any]:
        return {"subject": subject, "subject_id": subject_id, "stage": "after", "published_at": iso_z(published_at),
                "topics": topics, "topics_basis": basis, "levels": levels, "window_minutes": rules.window_minutes,
                "second_look_minutes": rules.second_look_minutes, "ref": ref}

    def _schedule_statement(self, statement_id: str, seq: int) -> int:
        statement = self._sources.statement(statement_id)
        if statement is None or statement.get("kind") == "qa" or not statement.get("published_at"):
            return 0  # a Q&A entry is an answer on the Q&A page, not a statement to the public
        rules = self._sources.rules()
        published = parse_time(statement["published_at"])
        topics, basis, levels = self._topics(statement.get("topics"), seq, rules)
        due = self._due("statement", statement_id, published, topics, basis, levels, rules, statement.get("ref"))
        return int(self._repo.schedule(due, due_at=due_at(published, "after", rules.window_minutes,
                                                              rules.second_look_minutes)))

    def _join_wave(self, reply_id: str, seq: int) -> int:
        reply = self._sources.reply(reply_id)
        if reply is None or reply.get("state") != "SENT" or not reply.get("topic") or not reply.get("sent_at"):
            return 0
        rules = self._sources.rules()
        basis = f"template:{reply['template_id']}" if reply.get("template_id") else f"text:{reply.get('text_hash')}"
        sent = parse_time(reply["sent_at"])
        member = {"id": reply_id, "platform": reply.get("platform"), "platform_reply_id": reply.get("platform_reply_id"),
                  "sent_at": iso_z(sent)}
        current = self._repo.open_wave(str(reply["topic"]), basis)
        if current is not None and iso_z(sent) < str(current["closes_at"]):
            self._repo.join_wave(str(current["wave_id"]), member)
            return 0
        topic = str(reply["topic"])
        wave_id = "rw-" + hashlib.sha256(f"{topic}|{basis}|{reply_id}".encode()).hexdigest()[:16]
        wave = {"id": wave_id, "topic": topic, "basis": basis, "template_id": reply.get("template_id"),
                "text_hash": None if reply.get("template_id") else reply.get("text_hash"), "started_at": iso_z(sent),
                "closes_at": iso_z(sent + timedelta(minutes=rules.wave_minutes)), "replies": [member],
                "reply_ids": [reply_id]}
        due = self._due("reply_wave", wave_id, sent, [topic], "given",
                        {topic: self._reads.level_before(topic, seq) or "NORMAL"}, rules)
        return int(self._repo.start_wave(wave, due, due_at=due_at(sent, "after", rules.window_minutes,
                                                                  rules.second_look_minutes)))

    # --- 2. the measurements that are due ----------------------------------------------------------

    def measure_due(self, remaining_seconds: Callable[[], float] = lambda: float("inf")) -> dict[str, Any]:
        measured, repeated, failed, left = [], 0, 0, 0
        for due in self._repo.due(self._clock(), limit=self._batch):
            if remaining_seconds() < self._reserve:
                left += 1  # still due: the next run takes it
                continue
            try:
                record = self.measure(due)
                stored = self._repo.record(record, due, next_due=self._next_due(due), entry=self._entry(record))
            except PlatformError as exc:  # engagement is read defensively; anything else is a fault
                logger.warning("measurement failed", extra={"subject": due.get("subject_id"), "error": str(exc)})
                failed += 1
                continue
            if stored:
                measured.append({"subject": record.subject, "id": record.subject_id, "stage": record.stage,
                                 "recommendation": record.recommendation.code})
                count("EffectsMeasured")
            else:
                repeated += 1
        return {"measured": measured, "already_measured": repeated, "failed": failed, "left_for_next_run": left}

    def _next_due(self, due: dict[str, Any]) -> datetime | None:
        if due["stage"] != "after":
            return None
        return due_at(parse_time(due["published_at"]), "plus2h", int(due["window_minutes"]), int(due["second_look_minutes"]))

    def _entry(self, record: EffectRecord) -> AuditEntry:
        target = f"{'wave' if record.subject == 'reply_wave' else 'statement'}#{record.subject_id}"
        return AuditEntry(actor=SYSTEM, role="system", action="effect_measured", target=target, at=self._clock(),
                          after={"stage": record.stage, "recommendation": record.recommendation.code,
                                 "rule": record.recommendation.rule, "topic": record.recommendation.topic})

    def measure(self, due: dict[str, Any]) -> EffectRecord:
        """One measurement of a due subject at its stage (reads only)."""
        rules = self._sources.rules()
        published = parse_time(due["published_at"])
        before, after = windows(published, due["stage"], int(due["window_minutes"]), int(due["second_look_minutes"]))
        wave: WaveInfo | None = None
        if due["subject"] == "reply_wave":
            engagement, wave = self._wave_engagement(str(due["subject_id"]))
        else:
            engagement = self._statement_engagement(str(due["subject_id"]))
        total = engagement_total(engagement)
        levels = due.get("levels") or {}
        topics = [self._topic_effect(topic, before, after, total, rules, levels.get(topic))
                  for topic in due.get("topics") or []]
        return EffectRecord(
            subject=due["subject"], subject_id=due["subject_id"], stage=due["stage"], published_at=published,
            measured_at=self._clock(), window_minutes=int(due["window_minutes"]), before=before, after=after,
            topics_basis=due.get("topics_basis") or "given", topics=topics, engagement=engagement,
            recommendation=overall(topics), thresholds=rules.thresholds(), wave=wave, ref=due.get("ref"))

    def _topic_effect(self, topic: str, before: Window, after: Window, engagement: int | None, rules: EffectRules,
                      level: str | None) -> TopicEffect:
        social: list[SocialFigures] = []
        news: list[NewsTone] = []
        for window in (before, after):
            rows = self._sources.minutes(topic, minute_key(window.start), minute_key(window.end))
            s, n = figures(rows, window)
            rumours = self._reads.conversations(topic, "rumour", CONVERSATION_STATES, start=window.start, end=window.end)
            social.append(s.model_copy(update={"rumour_posts": rumours}))
            news.append(n)
        questions = self._reads.conversations(topic, "question", OPEN_STATES)
        evidence = Evidence(before=social[0], after=social[1], news_after=news[1], engagement=engagement,
                            open_questions=questions)
        return TopicEffect(topic=topic, level_at_publication=level, before=social[0], after=social[1],
                           news_before=news[0], news_after=news[1], open_questions=questions,
                           recommendation=recommend(evidence, rules))

    def _statement_engagement(self, statement_id: str) -> dict[str, Engagement]:
        statement = self._sources.statement(statement_id) or {}
        published = statement.get("published_version")
        ids: dict[str, list[str]] = {c: [] for c in statement.get("channels") or []}
        for d in statement.get("deliveries") or []:
            if d.get("version") == published and d.get("state") == "SENT" and d.get("platform_id"):
                ids.setdefault(str(d["channel"]), []).append(str(d["platform_id"]))
        return {channel: read_engagement(channel, found, self._engagement, why_none=f"no delivery on {channel} was sent")
                for channel, found in sorted(ids.items())}

    def _wave_engagement(self, wave_id: str) -> tuple[dict[str, Engagement], WaveInfo | None]:
        wave = self._repo.wave(wave_id)
        if wave is None:
            return {}, None
        by_platform: dict[str, list[str]] = {}
        for reply in wave.get("replies") or []:
            if reply.get("platform_reply_id"):
                by_platform.setdefault(str(reply["platform"]), []).append(str(reply["platform_reply_id"]))
        engagement = {p: read_engagement(p, ids, self._engagement, unavailable=NO_REPLY_ENGAGEMENT)
                      for p, ids in sorted(by_platform.items())}
        info = WaveInfo(topic=wave["topic"], template_id=wave.get("template_id"), text_hash=wave.get("text_hash"),
                        replies=len(wave.get("replies") or []),
                        platforms={p: len(ids) for p, ids in sorted(by_platform.items())})
        return engagement, info


# --- what the desk API shows --------------------------------------------------------------------------

EFFECT_READERS = (AUTHOR, APPROVER, AUDITOR)
MAX_RANGE = timedelta(days=31)


class EffectDesk:
    """The measured effects as the desk API shows them: a statement's or a wave's, and a topic's."""

    def __init__(self, repo: EffectRepository, *, clock: Callable[[], datetime]) -> None:
        self._repo = repo
        self._clock = clock

    def effects(self, statement_id: str) -> list[dict[str, Any]]:
        """A statement's measurements for `GET /statements/{id}` (the caller checked the role)."""
        return [r.model_dump(mode="json") for r in self._repo.for_statement(statement_id)]

    def for_subject(self, who: Identity, subject: str, subject_id: str) -> dict[str, Any]:
        who.require(*EFFECT_READERS)
        pending = self._repo.pending(subject, subject_id)
        records = self._repo.for_wave(subject_id) if subject == "reply_wave" else self._repo.for_statement(subject_id)
        if pending is None and not records and not self._repo.exists(subject, subject_id):
            raise NotFound(f"no {'reply wave' if subject == 'reply_wave' else 'statement'} {subject_id!r}")
        next_measurement = None
        if pending is not None and pending.get("stage") in ("after", "plus2h") and pending.get("created_at"):
            next_measurement = {"stage": pending["stage"], "due_at": pending["created_at"]}
        key = "wave_id" if subject == "reply_wave" else "statement_id"
        return {key: subject_id, "effects": [r.model_dump(mode="json") for r in records],
                "next_measurement": next_measurement}

    def for_topic(self, who: Identity, topic: str, *, start: str | None, end: str | None) -> dict[str, Any]:
        """Every statement's and reply wave's measurements of the topic, published in [from, to)."""
        who.require(*EFFECT_READERS)
        until = _time_parameter("to", end) if end else self._clock()
        try:
            since = _time_parameter("from", start) if start else until - timedelta(days=1)
        except OverflowError as exc:
            raise InvalidParameter("to", "too early") from exc
        if since >= until:
            raise InvalidParameter("from", "must be before to")
        if until - since > MAX_RANGE:
            raise InvalidParameter("from", f"the range may span at most {MAX_RANGE.days} days")
        records = self._repo.for_topic(topic, since, until)
        return {"topic": topic, "from": iso_z(since), "to": iso_z(until),
                "effects": [r.model_dump(mode="json") for r in records]}


def _time_parameter(name: str, value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidParameter(name, "not an RFC 3339 time") from exc
    if when.tzinfo is None:
        raise InvalidParameter(name, "give the time zone (Z or +08:00)")
    return when.astimezone(timezone.utc)
