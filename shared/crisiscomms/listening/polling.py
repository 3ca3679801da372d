"""Polling sources: resume from the stored cursor, store what is new, then advance the cursor.

The cursor moves only after a page's posts are stored, so a crash between pages loses nothing
and a re-run stores nothing twice (posts are written conditionally on their platform id).
A rate limit parks the source until the platform's reset time; 5xx and timeouts get bounded
retries; one source failing never stops the others.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from crisiscomms.adapters.sources.feeds import FeedClient
from crisiscomms.adapters.http import with_retries
from crisiscomms.adapters.sources.x_search import SearchPage, XSearchClient
from crisiscomms.aws.post_store import INBOX_DUE, MAX_TOPICS_PER_POST, PostRepository, Refusal, StoreOutcome
from crisiscomms.aws.source_state import LeaseHeld, StateRepository
from crisiscomms.errors import InvalidCursor, PlatformError, RateLimited, TokenExpired
from crisiscomms.listening.tokens import TokenKeeper
from crisiscomms.models import Post, ScoredPost
from crisiscomms.models.paging import ByIdReader, LookupResult, SourcePage, SourceReader
from crisiscomms.observability import count, logger, metrics
from crisiscomms.places import normalise_place, place_for_code
from crisiscomms.scoring.narratives import narrative_group
from crisiscomms.listening.topics import Relation, TopicMatcher
from crisiscomms.listening.watchlist import (
    LOOKUP_IDS,
    WATCH_FIELD,
    WATCH_RESUME_FIELD,
    Watched,
    kept,
    read_entries,
    watchable,
)
from crisiscomms.watch import LISTENING_PLATFORMS, EarlyWarning, Feed, WatchConfig, XSource
from crisiscomms.watch.base import SourceBase

SOURCE_KINDS = (*LISTENING_PLATFORMS, "news")
LEASE_SECONDS = 180
SEEN_GUIDS_KEPT = 500
BOOKKEEPING = ("resume_at", "last_polled_at", "last_error", "last_error_at")
NOT_CURSOR = frozenset({*BOOKKEEPING, WATCH_FIELD, WATCH_RESUME_FIELD})  # state fields no adapter reads
T = TypeVar("T")
DUE_TOLERANCE = timedelta(seconds=5)
MIN_SECONDS_FOR_A_PAGE = 8.0


class ScheduledPoll(BaseModel):
    """The EventBridge Scheduler input of a poll schedule (see template.yaml)."""

    model_config = ConfigDict(extra="forbid")

    source: Literal[SOURCE_KINDS]  # type: ignore[valid-type]
    scheduled_time: datetime | None = None


class Scorer(Protocol):
    def score(self, posts: list[Post]) -> list[Any]: ...


@dataclass
class RunCounts:
    """The counters a run keeps; the drill adds them up per source with `add`."""

    pages: int = 0
    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    malformed: int = 0
    unmatched: int = 0
    retries: int = 0
    followed_up: int = 0  # stored posts that opened a conversation in the inbox
    regrown: int = 0  # posts read again whose grown engagement raised their conversation's priority
    unrelated: int = 0  # stored posts found only through ambiguous names and judged about no topic
    own: int = 0  # stored posts the bank's own accounts wrote (a statement heard back): counted nowhere
    refused: int = 0  # posts not stored: about more topics than a transaction holds, or their item refused (logged)
    resumed: int = 0  # posts read again whose inbox step a stopped run still owed (`inbox_due`): the step run then
    watched: int = 0  # stored posts put on the early-warning watch list (crisiscomms.listening.watchlist)
    escalated: int = 0  # watched posts marked early_warning once their grown engagement met the bar
    watch_failed: int = 0  # watch-list reads that failed (logged; the run goes on, the list waits for the next)

    def add(self, other: dict[str, Any]) -> None:
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + other[name])


COUNTERS = tuple(f.name for f in fields(RunCounts))


@dataclass
class RunReport(RunCounts):
    """What one source did in one run; the handler logs it and emits it as metrics."""

    source: str = ""
    status: str = "ok"  # ok | not_modified | not_due | paused | busy | rate_limited | failed | out_of_time
    detail: str | None = None

    def as_log(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OpenedSource:
    """A configured source ready to read: its adapter and, where tokens expire, their keeper."""

    reader: SourceReader
    tokens: TokenKeeper | None = None


@dataclass(frozen=True)
class WatchReads:
    """How one source reads its watched posts again: `read` takes at most `per_call` ids (one request where
    the platform reads a batch). `followers`: whether what it returns carries the authors' follower counts;
    when not, each entry keeps the count read at storing (crisiscomms.listening.watchlist)."""

    read: Callable[[list[str]], LookupResult]
    per_call: int
    followers: bool = True


# Sources whose reader never returns a post it already stored: X's recent search moves on by since_id,
# feeds skip the GUIDs they have seen. Their posts are never seen again, so nothing follows them up.
READ_ONCE_PLATFORMS = frozenset({"x", "news"})


class Ingestor:
    """Match topics, score, store: the same for every platform.

    `on_stored` is called once a page with the related posts stored now (never with a duplicate), and
    returns how many it followed up: wiring passes the inbox's opener there, so listening does not depend
    on the inbox, and the opener writes the page's conversations together. It must not raise; it is
    called once the transactions holding the page's new posts commit (a few posts a transaction,
    `PostRepository.store_many`) and before the page's cursor moves. A post about more topics than one
    transaction holds, or whose item DynamoDB refuses, is not stored: logged with its key and the reason,
    counted as `refused`, and the page goes on (its cursor moves).

    `owes_step(scored)`: whether `on_stored` has work for a post (the opener's triage; no request). Such
    a post is stored with `inbox_due` in its own Put, so a run stopped after the transaction and before
    `on_stored` reached it (a timeout, memory) leaves a trace: the next read of the post (the cursor did
    not move, so the page comes again; or the source reads it again anyway) finds it with the keys it
    looks up anyway (`PostRepository.known`), scores the post as read now and calls `on_due` with it,
    which runs the step idempotently and clears the mark. Counted as `resumed`.

    `on_seen_again` is called once a page with the posts already stored that carry a `follow_up`
    (what `PostRepository.known` returned for them, read with the keys anyway), as (post as read
    now, stored fields) pairs, and returns how many it updated: wiring passes the inbox's engagement
    follow-up there (a conversation's priority rises with its post's engagement). It must not raise.

    `early_warning`: the bars that mark a post `early_warning` as it is stored (crisis terms, the
    author's followers, engagement per minute since publication), so the Detector counts it at once;
    and which posts that do not meet them yet are worth reading again (`watch`, `escalate`)."""

    def __init__(self, matcher: TopicMatcher, scorer: Scorer, posts: PostRepository, clock: Callable[[], datetime], *,
                 high_reach_followers: int = 10_000, on_stored: Callable[[list[ScoredPost]], int] | None = None,
                 on_seen_again: Callable[[list[tuple[Post, Mapping[str, Any]]]], int] | None = None,
                 owes_step: Callable[[ScoredPost], bool] | None = None,
                 on_due: Callable[[ScoredPost], Any] | None = None,
                 early_warning: EarlyWarning | None = None) -> None:
        self._matcher = matcher
        self._scorer = scorer
        self._posts = posts
        self._clock = clock
        self._high_reach = high_reach_followers
        self._early = early_warning or EarlyWarning()
        self._on_stored = on_stored
        self._on_seen_again = on_seen_again
        self._owes_step = owes_step
        self._on_due = on_due

    def ingest(self, posts: list[Post], report: RunReport, *, region: str | None = None,
               addressed: tuple[str, ...] = (), watch: list[Watched] | None = None) -> None:
        """`region`: the place code configured for the whole source (a feed's), used for posts that
        name no place of their own. `addressed`: the topics a post addressing the bank belongs to
        when it names none (a comment under the bank's own video rarely names the bank). `watch`:
        where stored posts that may still become early warnings are added (sources that read again)."""
        report.fetched += len(posts)

        matched = [(p, self._matcher.relate(p, addressed)) for p in posts]
        wanted = [(p, found) for p, found in matched if found.related or found.unrelated or found.own]
        report.unmatched += len(posts) - len(wanted)
        if not wanted:
            return
        known = self._posts.known([p.key for p, _ in wanted])
        due: list[tuple[Post, Relation]] = []  # stored, with their inbox step still owed
        if known:  # seen on an earlier page or run: neither scored nor written again
            report.duplicates += sum(p.key in known for p, _ in wanted)
            if isinstance(known, Mapping):  # a set of keys has no follow-ups
                if self._on_due is not None:
                    due = [(p, found) for p, found in wanted if found.related and (known.get(p.key) or {}).get(INBOX_DUE)]
                owed = {p.key for p, _ in due}
                again = [(p, known[p.key]) for p, _ in wanted if known.get(p.key) and p.key not in owed]
                if again and self._on_seen_again is not None:
                    report.regrown += self._on_seen_again(again)
            wanted = [(p, topics) for p, topics in wanted if p.key not in known]
            if not wanted and not due:
                return
        scores = self._scorer.score([p for p, _ in wanted + due])
        now = self._clock()
        configured = place_for_code(region)
        batch: list[ScoredPost] = []
        for (post, found), score in zip(wanted + due, scores, strict=True):
            place = normalise_place(post.location, country_code=post.location_country) or configured
            batch.append(ScoredPost(
                post=post,
                topics=found.related,
                related=bool(found.related),
                unrelated_topics=found.unrelated,
                own_topics=found.own,
                language=score.language,
                sentiment=score.sentiment,
                sentiment_label=score.sentiment_label,
                tone=score.tone,
                tone_label=score.tone_label,
                crisis_terms=tuple(h.term for h in score.crisis_terms if not h.negated),
                crisis_categories=tuple(dict.fromkeys(h.category for h in score.crisis_terms if not h.negated)),
                crisis_weight=score.crisis_weight,
                is_crisis=score.is_crisis,
                risk=score.risk,
                ingested_at=now,
                high_reach_negative=score.sentiment_label == "negative" and post.followers >= self._high_reach,
                early_warning=score.is_crisis and _early_warning(post, now, self._early),
                country=place.country if place else None,
                region=place.region if place else None,
                narrative=narrative_group(score),
            ))
        batch, owed_now = batch[:len(wanted)], batch[len(wanted):]
        if self._owes_step is not None:
            batch = [s.model_copy(update={"inbox_due": True}) if s.related and self._owes_step(s) else s
                     for s in batch]
        refusals: dict[int, Refusal] = {}
        stored: list[ScoredPost] = []  # related and stored now: the inbox step's, once the page is stored

        def settled(index: int, outcome: StoreOutcome) -> None:
            scored = batch[index]
            if outcome is StoreOutcome.STORED:
                report.stored += 1
                report.own += bool(scored.own_topics)
                report.unrelated += not scored.related and not scored.own_topics
                if watch is not None and watchable(scored, now, self._early):
                    watch.append(Watched.of(scored))
                    report.watched += 1
                if scored.related:  # an unrelated post is kept for the record only: no conversation in the inbox
                    stored.append(scored)
            elif outcome is StoreOutcome.REFUSED:
                report.refused += 1
                why = refusals.get(index)
                if len(scored.topics) > MAX_TOPICS_PER_POST:
                    logger.error("post not stored: about more topics than one transaction holds",
                                 extra={"source": report.source, "post_key": scored.post.key,
                                        "topics": len(scored.topics), "max_topics": MAX_TOPICS_PER_POST})
                else:
                    logger.error("post not stored: its item was refused",
                                 extra={"source": report.source, "post_key": scored.post.key,
                                        "error_code": why.code if why else None, "reason": why.reason if why else None})
            else:
                report.duplicates += 1

        if batch:
            self._posts.store_many(batch, settled=settled, refusals=refusals)
        if stored and self._on_stored is not None:
            report.followed_up += self._on_stored(stored)
        if owed_now and self._on_due is not None:
            for scored in owed_now:  # after the page's new posts: owed steps never hold them back
                report.resumed += 1
                if self._on_due(scored):
                    report.followed_up += 1
                logger.info("inbox step resumed", extra={"source": report.source, "post_key": scored.post.key})

    def escalate(self, post: Post, topics: tuple[str, ...], report: RunReport) -> bool:
        """A watched post read again: when its engagement per minute since publication now meets the
        bar (the rule used at storing), mark it `early_warning` and count it once. True when it leaves
        the watch list: marked now, or by an earlier or concurrent run (nothing counted twice)."""
        now = self._clock()
        if not _early_warning(post, now, self._early):
            return False
        if self._posts.escalate_early_warning(post.key, topics, post.source_type, now):
            report.escalated += 1
            logger.info("early warning raised by grown engagement",
                        extra={"source": report.source, "post_key": post.key, "topics": list(topics),
                               "engagement": post.engagement, "followers": post.followers,
                               "minutes": round((now - post.published_at).total_seconds() / 60, 1)})
        return True


def _early_warning(post: Post, now: datetime, bars: EarlyWarning) -> bool:
    """A large audience and engagement coming fast: engagement per minute since publication, the age
    counted as at least a minute (a post read seconds after it appeared is not given a huge rate)."""
    minutes = max((now - post.published_at).total_seconds() / 60, 1.0)
    return post.followers >= bars.followers and post.engagement / minutes >= bars.engagement_per_minute


def _max_id(*ids: str | None) -> str | None:
    numeric = [int(i) for i in ids if i and str(i).isdigit()]
    return str(max(numeric)) if numeric else None


class Listener:
    def __init__(
        self,
        config: WatchConfig,
        *,
        ingestor: Ingestor,
        state: StateRepository,
        x_search: Callable[[], XSearchClient],
        feeds: Callable[[], FeedClient],
        open_source: Callable[[SourceBase], OpenedSource] | None = None,
        clock: Callable[[], datetime],
        attempts: int,
        base_delay: float,
        sleep: Callable[[float], None] = time.sleep,
        run_id: str = "local",
        remaining_seconds: Callable[[], float] = lambda: float("inf"),
    ) -> None:
        self._config = config
        self._ingestor = ingestor
        self._state = state
        self._x_search = x_search
        self._feeds = feeds
        self._open_source = open_source
        self._clock = clock
        self._attempts = attempts
        self._base_delay = base_delay
        self._sleep = sleep
        self._run_id = run_id
        self._remaining = remaining_seconds

    def poll(self, kind: str) -> list[RunReport]:
        """Poll every configured source of one kind; each source is isolated from the others."""
        jobs: list[tuple[str, str, Any, Callable[..., None]]]
        if kind == "x":
            jobs = [(f"source#x#{s.id}", f"x:{s.id}", s, self._poll_x) for s in self._config.sources_on("x")]
        elif kind == "news":
            jobs = [(f"source#news#{f.name}", f"news:{f.name}", f, self._poll_feed) for f in self._config.feeds]
        elif kind in SOURCE_KINDS:
            jobs = [(f"source#{kind}#{s.id}", f"{kind}:{s.id}", s, self._poll_paged) for s in self._config.sources_on(kind)]
        else:
            raise ValueError(f"unknown source kind {kind!r}; expected one of {SOURCE_KINDS}")
        return [self._run(pk, name, item, poll) for pk, name, item, poll in jobs]

    def _run(self, pk: str, name: str, item: Any, poll: Callable[..., None]) -> RunReport:
        report = RunReport(source=name)
        now = self._clock()
        if self._remaining() < MIN_SECONDS_FOR_A_PAGE:
            report.status = "out_of_time"
            return report
        try:
            state = self._state.acquire(pk, owner=self._run_id, now=now, until=now + timedelta(seconds=LEASE_SECONDS))
        except LeaseHeld:
            report.status = "busy"
            return report
        updates: dict[str, Any] = {}
        try:
            resume_at = state.get("resume_at")
            last = state.get("last_polled_at")
            if resume_at and datetime.fromisoformat(resume_at) > now:
                report.status, report.detail = "paused", f"rate limited until {resume_at}"
            elif last and now - datetime.fromisoformat(last) + DUE_TOLERANCE < timedelta(minutes=item.every_minutes):
                report.status = "not_due"
            else:
                updates = {"resume_at": None, "last_polled_at": now.isoformat()}
                poll(pk, item, state, report, updates)
        except RateLimited as exc:
            report.status, report.detail = "rate_limited", str(exc)
            updates["resume_at"] = exc.resume_at.isoformat()
        except Exception as exc:  # one source failing must not stop the others
            report.status, report.detail = "failed", f"{type(exc).__name__}: {exc}"
            updates["last_error"] = report.detail[:500]
            updates["last_error_at"] = now.isoformat()
            if not isinstance(exc, PlatformError):
                logger.exception("source failed", extra={"source": name})
        finally:
            self._state.save(pk, owner=self._run_id, set_fields=updates, release=True)
        return report

    def _retrying(self, call: Callable[[], Any], report: RunReport) -> Any:
        def counted(attempt: int, exc: Exception) -> None:
            report.retries += 1
            logger.warning("retrying", extra={"source": report.source, "attempt": attempt, "error": str(exc)})

        return with_retries(call, attempts=self._attempts, base_delay=self._base_delay, sleep=self._sleep, on_retry=counted)

    # --- X recent search ------------------------------------------------------------------------

    def _poll_x(self, pk: str, source: XSource, state: dict[str, Any], report: RunReport, updates: dict[str, Any]) -> None:
        """Search on from the cursor, then read the watch list again with X's posts lookup."""
        client = self._x_search()
        reads = WatchReads(lambda ids: client.lookup(ids, source_id=source.id), LOOKUP_IDS)
        self._watching(state, report, updates, reads,
                       lambda fresh: self._search_x(client, pk, source, state, report, updates, fresh))

    def _watching(self, state: dict[str, Any], report: RunReport, updates: dict[str, Any], reads: WatchReads,
                  search: Callable[[list[Watched]], None]) -> None:
        """Run the source's search, collecting the posts it stores that are worth watching, then read the watch
        list again (crisiscomms.listening.watchlist). The same for every platform that reads by id.

        The list is written with the run's last state write (`updates`), whatever happened: posts stored
        before a failure stay watched. The lookup comes after the search: a run whose search fails (the
        platform down, the budget spent) makes no lookup to fail as well."""
        bars = self._config.detection.early_warning
        watching = kept(read_entries(state.get(WATCH_FIELD)), self._clock(), bars)
        fresh: list[Watched] = []
        try:
            search(fresh)
            watching = self._follow_watched(reads, watching, state, report, updates)
        finally:
            entries = kept([*watching, *fresh], self._clock(), bars)
            if entries or state.get(WATCH_FIELD):
                updates[WATCH_FIELD] = [entry.encode(followers=not reads.followers) for entry in entries] or None

    def _follow_watched(self, reads: WatchReads, entries: list[Watched], state: dict[str, Any],
                        report: RunReport, updates: dict[str, Any]) -> list[Watched]:
        """Read the watched posts again, `reads.per_call` ids at a time, and mark those whose engagement grew
        over the bar (`Ingestor.escalate`); the entries still to follow. A post the platform no longer has
        leaves the list; one left unread (a per-run budget) stays. A failure is logged and counted, never
        fails the run: the entries not yet decided wait for the next run (after a rate limit, until the
        platform's reset)."""
        resume = state.get(WATCH_RESUME_FIELD)
        if resume and datetime.fromisoformat(resume) > self._clock():
            return entries
        if resume:
            updates[WATCH_RESUME_FIELD] = None
        if not entries:
            return entries
        done: set[str] = set()
        try:
            for start in range(0, len(entries), reads.per_call):
                chunk = entries[start:start + reads.per_call]
                if self._remaining() < MIN_SECONDS_FOR_A_PAGE:
                    break
                ids = [entry.native_id for entry in chunk]
                found = self._retrying(lambda ids=ids: reads.read(ids), report)
                for problem in found.malformed:
                    logger.warning("malformed item skipped", extra={"source": report.source, "problem": problem})
                if found.missing:
                    logger.info("watched posts gone from the platform",
                                extra={"source": report.source, "ids": sorted(found.missing)})
                read = {post.native_id: post for post in found.posts}
                for entry in chunk:
                    post = read.get(entry.native_id)
                    if post is not None and not reads.followers:
                        post = post.model_copy(update={"followers": entry.followers or 0})
                    if entry.native_id in found.missing or (post is not None and
                                                             self._ingestor.escalate(post, entry.topics, report)):
                        done.add(entry.native_id)
        except RateLimited as exc:
            report.watch_failed += 1
            updates[WATCH_RESUME_FIELD] = exc.resume_at.isoformat()
            logger.warning("watch-list lookup rate limited", extra={"source": report.source, "until": exc.resume_at.isoformat()})
        except Exception as exc:  # the search's results are stored and its cursor committed: the run stays ok
            report.watch_failed += 1
            log = logger.warning if isinstance(exc, PlatformError) else logger.exception
            log("watch-list lookup failed", extra={"source": report.source, "error": f"{type(exc).__name__}: {exc}"})
        return [entry for entry in entries if entry.native_id not in done]

    def _search_x(self, client: XSearchClient, pk: str, source: XSource, state: dict[str, Any], report: RunReport,
                  updates: dict[str, Any], watch: list[Watched]) -> None:
        query = self._config.query_for(source)
        since_id = state.get("since_id")
        pending = state.get("pending_newest_id")
        token = state.get("next_token")
        window_start = state.get("window_start")
        if not since_id and not window_start:
            window_start = (self._clock() - timedelta(minutes=source.initial_lookback_minutes)).isoformat()
        for _ in range(source.max_pages_per_run):
            if self._remaining() < MIN_SECONDS_FOR_A_PAGE:
                report.status = "out_of_time"
                return
            try:
                page: SearchPage = self._retrying(lambda: client.search(
                    query, source_id=source.id, since_id=since_id, next_token=token,
                    start_time=datetime.fromisoformat(window_start) if window_start and not since_id else None,
                ), report)
            except InvalidCursor as exc:
                logger.warning("pagination restarts from the committed cursor", extra={"source": report.source, "error": str(exc)})
                token, pending = None, None
                self._state.save(pk, owner=self._run_id, set_fields={"next_token": None, "pending_newest_id": None})
                continue
            report.pages += 1
            report.malformed += len(page.malformed)
            for problem in page.malformed:
                logger.warning("malformed item skipped", extra={"source": report.source, "problem": problem})
            self._ingestor.ingest(page.posts, report, addressed=self._config.addressed_topics(source), watch=watch)
            newest = _max_id(pending, page.newest_id, *(p.native_id for p in page.posts))
            if page.next_token:
                pending, token = newest, page.next_token
                cursor = {"since_id": since_id, "pending_newest_id": pending, "next_token": token, "window_start": window_start}
            else:
                since_id, pending, token = newest or since_id, None, None
                cursor = {"since_id": since_id, "pending_newest_id": None, "next_token": None,
                          "window_start": None if since_id else window_start}
            # Stored first, cursor second: this is the line that makes a crash lose nothing.
            spent = page.rate_limit_remaining == 0 and page.rate_limit_reset
            self._commit(pk, cursor, updates, last=bool(spent or not token))
            if spent:
                raise RateLimited("X rate-limit budget spent", resume_at=page.rate_limit_reset)
            if not token:
                return

    # --- every other platform: the adapter pages, this loop stores and commits ---------------

    def _poll_paged(self, pk: str, source: SourceBase, state: dict[str, Any], report: RunReport,
                    updates: dict[str, Any]) -> None:
        if self._open_source is None:
            raise ValueError(f"no reader for {source.platform} sources")
        opened = self._open_source(source)
        reader = opened.reader
        if not callable(getattr(reader, "lookup", None)):
            self._read_pages(opened, pk, source, state, report, updates, None)
            return
        by_id: ByIdReader = reader  # type: ignore[assignment]
        reads = WatchReads(lambda ids: self._renewing(opened, lambda: by_id.lookup(ids), report),
                           by_id.lookup_ids, by_id.lookup_followers)
        self._watching(state, report, updates, reads,
                       lambda fresh: self._read_pages(opened, pk, source, state, report, updates, fresh))

    def _read_pages(self, opened: OpenedSource, pk: str, source: SourceBase, state: dict[str, Any],
                    report: RunReport, updates: dict[str, Any], watch: list[Watched] | None) -> None:
        cursor = {k: v for k, v in state.items() if k not in NOT_CURSOR}
        for _ in range(source.max_pages_per_run):
            if self._remaining() < MIN_SECONDS_FOR_A_PAGE:
                report.status = "out_of_time"
                return
            page = self._read_page(opened, cursor, report)
            report.pages += 1
            report.malformed += len(page.malformed)
            for problem in page.malformed:
                logger.warning("malformed item skipped", extra={"source": report.source, "problem": problem})
            self._ingestor.ingest(page.posts, report, addressed=self._config.addressed_topics(source), watch=watch)
            cursor = {k: v for k, v in {**cursor, **page.cursor}.items() if v is not None}
            # Stored first, cursor second: a crash between the two re-reads the page, never skips it.
            self._commit(pk, page.cursor, updates, last=page.resume_at is not None or not page.more)
            if page.resume_at is not None:
                raise RateLimited(f"{source.platform} budget spent", resume_at=page.resume_at)
            if not page.more:
                return

    def _commit(self, pk: str, cursor: dict[str, Any], updates: dict[str, Any], *, last: bool) -> None:
        """Commit a stored page's cursor: at once while more pages follow, or, for the run's last page,
        with the run's own bookkeeping in the one write that also gives the lease back (`_run`)."""
        if last:
            updates.update(cursor)
        else:
            self._state.save(pk, owner=self._run_id, set_fields=cursor)

    def _read_page(self, opened: OpenedSource, cursor: dict[str, Any], report: RunReport) -> SourcePage:
        """One page, retried on transient errors; a refused token is renewed once and the page read again."""
        return self._renewing(opened, lambda: self._retrying(lambda: opened.reader.read(cursor), report), report)

    @staticmethod
    def _renewing(opened: OpenedSource, call: Callable[[], T], report: RunReport) -> T:
        """`call`, and once more after renewing the source's token if the platform refused it."""
        try:
            return call()
        except TokenExpired as exc:
            if opened.tokens is None:
                raise
            logger.info("token refused, renewing", extra={"source": report.source, "error": str(exc)})
            opened.tokens.renew()
            return call()

    # --- RSS / Atom feeds -----------------------------------------------------------------------

    def _poll_feed(self, pk: str, feed: Feed, state: dict[str, Any], report: RunReport, updates: dict[str, Any]) -> None:
        client = self._feeds()
        fetched = self._retrying(lambda: client.fetch(
            str(feed.url), feed_name=feed.name, audience=feed.audience, language=feed.language,
            etag=state.get("etag"), last_modified=state.get("last_modified"),
            timezone=feed.timezone or self._config.default_timezone,
        ), report)
        report.pages = 1
        if fetched.not_modified:
            report.status = "not_modified"
            return
        report.malformed += len(fetched.malformed)
        for problem in fetched.malformed:
            logger.warning("malformed item skipped", extra={"source": report.source, "problem": problem})
        seen = list(state.get("seen") or [])
        seen_set = set(seen)
        fresh = [p for p in fetched.posts if p.native_id not in seen_set]
        report.fetched += len(fetched.posts) - len(fresh)
        self._ingestor.ingest(fresh, report, region=feed.region)
        seen = [p.native_id for p in fresh] + seen
        # Stored first, then the feed's place, in the write that also gives the lease back (`_run`).
        updates.update({"etag": fetched.etag, "last_modified": fetched.last_modified, "seen": seen[:SEEN_GUIDS_KEPT]})


def poll(listener: Listener, request: ScheduledPoll) -> dict[str, Any]:
    """Poll every configured source of the requested kind and report what each one did."""
    reports = listener.poll(request.source)
    for report in reports:
        logger.info("source polled", extra=report.as_log())
    metrics.add_dimension(name="source_kind", value=request.source)
    for name, value in (
        ("PostsFetched", sum(r.fetched for r in reports)),
        ("PostsStored", sum(r.stored for r in reports)),
        ("DuplicatesRejected", sum(r.duplicates for r in reports)),
        ("MalformedItems", sum(r.malformed for r in reports)),
        ("SourcesFailed", sum(r.status == "failed" for r in reports)),
        ("SourcesRateLimited", sum(r.status == "rate_limited" for r in reports)),
        ("ConversationsOpened", sum(r.followed_up for r in reports)),
        ("ConversationsRegrown", sum(r.regrown for r in reports)),
        ("PostsUnrelated", sum(r.unrelated for r in reports)),
        ("PostsRefused", sum(r.refused for r in reports)),
        ("InboxStepsResumed", sum(r.resumed for r in reports)),
        ("PostsWatched", sum(r.watched for r in reports)),
        ("EarlyWarningsEscalated", sum(r.escalated for r in reports)),
        ("WatchLookupsFailed", sum(r.watch_failed for r in reports)),
    ):
        count(name, value)
    return {"source": request.source, "reports": [r.as_log() for r in reports]}
