"""Crisis detection: figures from minute aggregates, a level from the figures, alerts from the levels.

Everything here is pure: no clock reads (time is passed in), no AWS. A handler reads the stored
`DetectorState` and `RollingBaseline` and the minute aggregates the baseline has not folded in yet,
calls `roll` (or `baseline_from` after a full read), `rolling_signals`, `raw_level` and `step`, then
carries out the returned decisions (alert record, SNS) and stores the new state and baseline.

Signals, per source type ("social" or "news"), W = recent_minutes, B = baseline_hours,
V = velocity_minutes, s = velocity_smoothing. `now` is floored to the minute; the recent window
is the W complete minutes before it, so a half-filled current minute is never judged.

    posts          = sum of posts over the recent window
    window volumes = the B hours before the recent window cut into B*60/W windows of W minutes
                     (a minute with no record counts 0, so a brand-new topic has a zero baseline)
    centre         = median(window volumes)
    spread         = max(1.4826 * MAD(window volumes), sqrt(centre), 1)   Poisson-style floor
    z              = (posts - centre) / spread
    ratio          = posts / max(centre, 1)
    growth         = (posts in the last V minutes + s) / (posts in the V minutes before + s)
    negative_share = negative / posts;  net_sentiment = sentiment_sum / posts   (0 when posts = 0)
    crisis_posts, crisis_weight, high_reach_negative, early_warning = sums over the recent window
    early_warning  posts were marked so when stored (crisiscomms.listening.polling), or later when their
                   engagement grew (crisiscomms.listening.watchlist; counted in the minute of the mark), EW =
                   thresholds.early_warning: is_crisis and author followers >= EW.followers and
                   engagement / max(minutes from publication to reading, 1) >= EW.engagement_per_minute
    slow window    = the last L minutes (L = slow_minutes): the recent window and the K = min(L - W,
                     B*60/2) baseline minutes before it (`slow_minutes` of the Signals is W + K)
    slow_posts, slow_negative = posts and negative posts in the slow window
    slow_negative_share       = slow_negative / slow_posts
    slow_older_negative       = negative posts of the slow window's older half: its first
                                floor((W + K) / 2) minutes, at most the K baseline minutes
    baseline_negative_share   = negative / posts of the baseline minutes before the slow window
                                (0 when there are none)

Rolling state. The windows are anchored to `now`, so they slide by a minute every run: window
totals kept from one run are the wrong windows at the next. The state (`RollingState`) therefore
keeps, per source type, the post count and the negative post count of each of the B*60 baseline
minutes (oldest first, zlib-packed) and the nine figures (`_SUMMED`) of each minute from the
recent window's start on (exact decimals, minutes at or after `now` included): under 2 KB for
a day of ordinary chatter, a fixed number of minutes whatever the volume. Every stored post is also
added to the topic's arrivals item of the minute it was stored in, whatever minute it was
published in (crisiscomms.aws.post_store). A run at minute E reads the arrivals items from the
last run's E - 1 on (steady state three: E - 2, E - 1 and E), moves the minutes that left the
recent window into the counts (as many old ones drop out), folds the arrivals before E - 1 into
the state for good (`roll`) and adds those of E - 1 and later to this run's copy only
(`with_open`): a writer may still add to them (a transaction built at the end of one minute
commits in the next), so they are read again at the next run and folded once closed. A post
thus counts exactly once whenever it arrives, and `rolling_signals` equals `signals` of a full
read at the time of the run, late posts included.

    full read (`rebuilt`) when there is no usable state: first run, lost or unreadable state, B
        or W changed, more than W minutes missed since the last run, or a run for a minute before
        the state's (then the stored state is kept as it is). The full read already counts what
        the open arrivals added; that part (`open_sums`, read before and after the minutes, and
        the minutes whose part changed meanwhile read again) is taken off, so a post stored
        during the full read is neither lost nor counted twice
    not carried: a post stored more than CARRIED_LATENESS_MINUTES from its published minute
        (either way), or whose transaction commits more than a minute after the minute its
        `ingested_at` names, is counted by the next full read only (W <= that bound, so such a
        post is never missing from the recent window, only from baseline minutes)

Levels, per source with that source's thresholds T (news volumes are far lower than social);
the topic's raw level is the higher of the two, so a news surge with crisis terms counts alone:

    surge(T)    = posts >= min_posts and ratio >= T.ratio and (z >= T.z or growth >= T.growth)
    negative(T) = posts >= min_posts and (negative_share >= T.negative_share
                  or crisis_posts >= T.crisis_posts or high_reach_negative >= T.high_reach_negative)
    early(T)    = T.early_warning is set and early_warning >= T.early_warning     (no min_posts)
    slow_burn   = S = T.slow_burn of the source is set and slow_negative >= S.min_negative
                  and slow_negative_share >= S.negative_share
                  and slow_negative_share >= baseline_negative_share + S.above_baseline
                  and slow_negative - slow_older_negative >= S.held * slow_older_negative   growing or holding
                  and negative_share >= S.negative_share       still burning in the recent window
    CRISIS  = surge(crisis) and negative_share >= crisis.negative_share
              and (crisis_posts >= crisis.crisis_posts or high_reach_negative >= crisis.high_reach_negative)
    WARNING = surge(warning) and negative(warning)  or  early(warning)  or  slow_burn
    WATCH   = surge(watch) or negative(watch) or early(watch)   volume alone, however viral, stops here
    NORMAL  otherwise

early(T) and slow_burn need no volume: one post from an account with millions of followers
saying the bank is insolvent, reposted fast, matters before the crowd follows, and a complaint
stream that grows over hours raises the baseline with it. CRISIS is reached by volume only
(crisis.early_warning must stay unset). The volume baseline keeps crisis posts: a topic whose
everyday talk carries crisis terms would otherwise look like a surge all day; the median of B
hours already ignores a wave shorter than B/2, and a longer rise of negative talk is slow_burn's,
judged against the baseline's own negative share, so a topic that is always that negative stays
at its normal. Neither touches the volume rules: a busy morning of neutral posts is at most WATCH.

Flap control (`step`), one evaluation per minute, N = raise_after, M = lower_after:
a level is raised once the raw level has been at or above it for N consecutive evaluations (a
jump straight to CRISIS counts for WATCH and WARNING too); it is lowered only after M consecutive
evaluations below it, to the highest raw level seen during that quiet stretch. One open alert per
topic: reaching WARNING opens it and notifies, a rise to CRISIS updates it and notifies again,
falling back to WATCH or below resolves it. For cooldown_minutes after a resolution only CRISIS
opens a new alert (a WARNING that outlasts the cool-down opens one then). WATCH never notifies.
"""
from __future__ import annotations

import math
import statistics
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import IntEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

from crisiscomms.models.posts import minute_key
from crisiscomms.watch import SourceThresholds, Thresholds, Tier

SourceType = Literal["social", "news"]
_MINUTE = timedelta(minutes=1)
_SUMMED = ("posts", "negative", "sentiment_sum", "engagement", "reach",
           "crisis_posts", "crisis_weight_sum", "high_reach_negative", "early_warning")
_MAD_TO_SD = 1.4826  # MAD of a normal distribution times this is its standard deviation


class Level(IntEnum):
    """Ordered so levels compare and `max` picks the most severe."""

    NORMAL = 0
    WATCH = 1
    WARNING = 2
    CRISIS = 3

    @classmethod
    def parse(cls, value: Any) -> Level:
        """Accept a Level, its number or its name (DynamoDB stores the name)."""
        if isinstance(value, str) and not value.isdigit():
            return cls[value.upper()]
        return cls(int(value))


RAISABLE = (Level.WATCH, Level.WARNING, Level.CRISIS)
StoredLevel = Annotated[Level, BeforeValidator(Level.parse), PlainSerializer(lambda v: v.name, when_used="json")]


# --- signals -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Signals:
    """One source type's figures for the recent window and its baseline."""

    source_type: str
    posts: int
    negative: int
    negative_share: float
    net_sentiment: float
    crisis_posts: int
    crisis_weight: float
    high_reach_negative: int
    engagement: float
    reach: float
    baseline_centre: float
    baseline_spread: float
    z: float
    ratio: float
    growth: float
    early_warning: int = 0
    slow_minutes: int = 0
    slow_posts: int = 0
    slow_negative: int = 0
    slow_negative_share: float = 0.0
    slow_older_negative: int = 0
    baseline_negative_share: float = 0.0


def _utc_naive(when: datetime) -> datetime:
    """Minute strings are naive UTC; compare like with like (a naive input is taken as UTC)."""
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when.replace(second=0, microsecond=0)


def signals(minutes: list[dict[str, Any]], now: datetime, thresholds: Thresholds, source_type: SourceType) -> Signals:
    """Figures of one source type from a full read: the reference the rolling baseline must match.

    Records of other source types and outside the horizon are ignored.
    """
    end = _utc_naive(now)
    window = thresholds.recent_minutes
    span = window * thresholds.baseline_windows
    posts, negative = [0] * span, [0] * span  # per baseline minute, oldest first
    for record in minutes:
        if record.get("source_type") != source_type:
            continue
        age = (end - datetime.fromisoformat(record["minute"][:16])) // _MINUTE  # 1 = the minute before now
        if window < age <= window + span:
            posts[span + window - age] += int(record.get("posts", 0))
            negative[span + window - age] += int(record.get("negative", 0))
    return _figures(posts, negative, minutes, end, thresholds, source_type)


def rolling_signals(state: RollingState, now: datetime, thresholds: Thresholds, source_type: SourceType) -> Signals:
    """The same figures from a state rolled to `now` with the open arrivals in (`roll`, then `with_open`).

    The recent window's minutes go to `_figures` as the full read's records would: in minute order,
    each figure converted from its exact sum as a DynamoDB number is read, so the float sums match.
    """
    end = _utc_naive(now)
    if state.minute != minute_key(end):
        raise ValueError(f"state rolled to {state.minute}, not to {minute_key(end)}")
    records = [{"minute": minute, "source_type": source, **{name: _number(v) for name, v in figures.items()}}
               for (minute, source), figures in sorted(state.figures.items()) if source == source_type]
    return _figures(list(state.counts[source_type]), list(state.negatives[source_type]), records, end, thresholds,
                    source_type)


def _figures(posts_by_minute: list[int], negative_by_minute: list[int], minutes: list[dict[str, Any]], end: datetime,
             thresholds: Thresholds, source_type: SourceType) -> Signals:
    """Signals from the baseline minutes' posts and negative posts (oldest first) and the recent window's records."""
    window, velocity = thresholds.recent_minutes, thresholds.velocity_minutes
    span = len(posts_by_minute)
    volumes = [float(sum(posts_by_minute[span - (k + 1) * window:span - k * window]))
               for k in range(thresholds.baseline_windows)]
    inside = span - thresholds.slow_baseline_minutes  # the first baseline minute inside the slow window
    recent = dict.fromkeys(_SUMMED, 0.0)
    last = before = 0.0
    for record in minutes:
        if record.get("source_type") != source_type:
            continue
        age = (end - datetime.fromisoformat(record["minute"][:16])) // _MINUTE
        if not 1 <= age <= window:
            continue
        posts = float(record.get("posts", 0))
        for name in _SUMMED:
            recent[name] += float(record.get(name, 0))
        if age <= velocity:
            last += posts
        elif age <= 2 * velocity:
            before += posts
    centre = statistics.median(volumes)
    mad = statistics.median(abs(v - centre) for v in volumes)
    spread = max(_MAD_TO_SD * mad, math.sqrt(centre), 1.0)
    posts = recent["posts"]
    smoothing = thresholds.velocity_smoothing
    slow_posts = round(posts) + sum(posts_by_minute[inside:])
    slow_negative = round(recent["negative"]) + sum(negative_by_minute[inside:])
    older = min((window + span - inside) // 2, span - inside)  # the slow window's older half, baseline minutes only
    before_posts, before_negative = sum(posts_by_minute[:inside]), sum(negative_by_minute[:inside])
    return Signals(
        source_type=source_type,
        posts=round(posts),
        negative=round(recent["negative"]),
        negative_share=recent["negative"] / posts if posts else 0.0,
        net_sentiment=recent["sentiment_sum"] / posts if posts else 0.0,
        crisis_posts=round(recent["crisis_posts"]),
        crisis_weight=recent["crisis_weight_sum"],
        high_reach_negative=round(recent["high_reach_negative"]),
        engagement=recent["engagement"],
        reach=recent["reach"],
        baseline_centre=centre,
        baseline_spread=spread,
        z=(posts - centre) / spread,
        ratio=posts / max(centre, 1.0),
        growth=(last + smoothing) / (before + smoothing),
        early_warning=round(recent["early_warning"]),
        slow_minutes=window + span - inside,
        slow_posts=slow_posts,
        slow_negative=slow_negative,
        slow_negative_share=slow_negative / slow_posts if slow_posts else 0.0,
        slow_older_negative=sum(negative_by_minute[inside:inside + older]),
        baseline_negative_share=before_negative / before_posts if before_posts else 0.0,
    )


# --- rolling state -----------------------------------------------------------------------------

SOURCE_TYPES: tuple[SourceType, ...] = ("social", "news")
OPEN_ARRIVALS = 1  # a run at minute E folds the arrivals before E - OPEN_ARRIVALS; later ones stay open
MinuteFigures = dict[tuple[str, str], dict[str, Decimal]]  # (minute, source type) -> the minute figures


@dataclass(frozen=True, slots=True)
class RollingState:
    """A topic's minute figures as of the run of `minute` (E), every arrival before `open_from(E)` in.

    `counts`: per source type, the posts of each baseline minute from E - W - B*60 to E - W,
    oldest first; `negatives`: the negative posts of the same minutes (the slow-burn window and
    its comparison). `figures`: the minute figures (`_SUMMED`) of each (minute, source type) from
    E - W on, exact. `window`: the W it was built for.
    """

    minute: str
    window: int
    counts: dict[str, tuple[int, ...]]
    figures: MinuteFigures
    negatives: dict[str, tuple[int, ...]]

    def to_dict(self) -> dict[str, Any]:
        """What the state table stores: the minute, W, per source type the packed posts then negative posts
        of the baseline minutes, and the recent figures."""
        rows = ";".join(",".join((minute, source, *(str(figures[name]) for name in _SUMMED)))
                        for (minute, source), figures in sorted(self.figures.items()))
        return {"minute": self.minute, "window": self.window,
                **{source: _pack(self.counts[source] + self.negatives[source]) for source in SOURCE_TYPES},
                "recent": zlib.compress(rows.encode("ascii"), 9)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RollingState | None:
        """None when there is nothing usable (a baseline stored before, too), so the caller rebuilds."""
        if not data:
            return None
        try:
            figures: MinuteFigures = {}
            for row in filter(None, zlib.decompress(bytes(data["recent"])).decode("ascii").split(";")):
                minute, source, *values = row.split(",")
                if source not in SOURCE_TYPES or len(values) != len(_SUMMED):
                    raise ValueError(row)
                figures[minute_key(datetime.fromisoformat(minute)), source] = dict(zip(_SUMMED, map(Decimal, values)))
            packed = {source: _unpack(data[source]) for source in SOURCE_TYPES}
            if any(len(both) % 2 for both in packed.values()):
                raise ValueError("posts and negative posts differ in length")
            return cls(minute_key(datetime.fromisoformat(str(data["minute"]))), int(data["window"]),
                       {source: both[:len(both) // 2] for source, both in packed.items()}, figures,
                       {source: both[len(both) // 2:] for source, both in packed.items()})
        except (KeyError, TypeError, ValueError, ArithmeticError, UnicodeDecodeError, zlib.error):
            return None


def _pack(counts: tuple[int, ...]) -> bytes:
    """Zigzag varints (a quiet minute is one byte), zlib-compressed: about a fifth smaller than text."""
    out = bytearray()
    for count in counts:
        value = 2 * count if count >= 0 else -2 * count - 1
        while value >= 0x80:
            out.append(value & 0x7F | 0x80)
            value >>= 7
        out.append(value)
    return zlib.compress(bytes(out), 9)


def _unpack(packed: bytes) -> tuple[int, ...]:
    counts, value, shift = [], 0, 0
    for byte in zlib.decompress(bytes(packed)):
        value |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        counts.append(value >> 1 if not value & 1 else -(value >> 1) - 1)
        value = shift = 0
    if shift:
        raise ValueError("a count is cut short")
    return tuple(counts)


def _number(value: Decimal) -> int | float:
    """A DynamoDB number as `crisiscomms.aws.dynamo.from_item` gives it."""
    return int(value) if value == value.to_integral_value() else float(value)


def _decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value)) if isinstance(value, float) else Decimal(value)


def open_from(minute: str | datetime) -> str:
    """The first arrival minute still open at a run of `minute`."""
    when = _utc_naive(minute) if isinstance(minute, datetime) else datetime.fromisoformat(minute)
    return minute_key(when - OPEN_ARRIVALS * _MINUTE)


def rolling_gap(state: RollingState | None, now: datetime, thresholds: Thresholds) -> str | None:
    """Why `state` cannot be rolled to `now` (the caller then rebuilds it from a full read), or None."""
    if state is None:
        return "missing"
    span = thresholds.baseline_windows * thresholds.recent_minutes
    if state.window != thresholds.recent_minutes or any(
            len(counts) != span for counts in (*state.counts.values(), *state.negatives.values())):
        return "resized"
    behind = (_utc_naive(now) - datetime.fromisoformat(state.minute)) // _MINUTE
    if behind < 0:
        return "ahead"
    if behind > thresholds.recent_minutes:
        return "stale"
    return None


def _fold(state: RollingState, records: list[dict[str, Any]], sign: int = 1) -> RollingState:
    """`state` with the records' minute figures added (aggregates or arrivals alike), or taken off (-1).

    A record of a baseline minute adds its posts and negative posts to the counts; one before the
    baseline is ignored.
    """
    recent = datetime.fromisoformat(state.minute) - state.window * _MINUTE
    counts = {source: list(c) for source, c in state.counts.items()}
    negatives = {source: list(c) for source, c in state.negatives.items()}
    start = recent - len(counts["social"]) * _MINUTE
    figures = dict(state.figures)
    for record in records:
        source = record.get("source_type")
        if source not in counts:
            continue
        minute = record["minute"][:16]
        when = datetime.fromisoformat(minute)
        if when >= recent:
            before = figures.get((minute, source)) or dict.fromkeys(_SUMMED, Decimal(0))
            figures[minute, source] = {name: before[name] + sign * _decimal(record.get(name, 0)) for name in _SUMMED}
        elif when >= start:
            counts[source][(when - start) // _MINUTE] += sign * int(record.get("posts", 0))
            negatives[source][(when - start) // _MINUTE] += sign * int(record.get("negative", 0))
    return RollingState(state.minute, state.window, {source: tuple(c) for source, c in counts.items()}, figures,
                        {source: tuple(c) for source, c in negatives.items()})


def roll(state: RollingState, arrivals: list[dict[str, Any]], now: datetime) -> RollingState:
    """`state` rolled to `now`: the minutes that left the recent window join the counts (as many old ones
    drop out) and the arrivals closed by now (before `open_from(now)`) are folded in.

    `arrivals` must hold every record from `open_from(state.minute)` on (`rolling_gap` said None);
    the open ones are left for `with_open`.
    """
    end = _utc_naive(now)
    behind = (end - datetime.fromisoformat(state.minute)) // _MINUTE
    recent = end - state.window * _MINUTE
    leaving = {key: figures for key, figures in state.figures.items() if datetime.fromisoformat(key[0]) < recent}
    shifted = RollingState(minute_key(end), state.window,
                           {source: c[behind:] + (0,) * behind for source, c in state.counts.items()},
                           {key: figures for key, figures in state.figures.items() if key not in leaving},
                           {source: c[behind:] + (0,) * behind for source, c in state.negatives.items()})
    moved = [{"minute": minute, "source_type": source, "posts": figures["posts"], "negative": figures["negative"]}
             for (minute, source), figures in leaving.items()]
    closed = open_from(end)
    return _fold(shifted, moved + [r for r in arrivals if r["arrived"] < closed])


def with_open(state: RollingState, arrivals: list[dict[str, Any]]) -> RollingState:
    """This run's figures: `state` with the arrivals still open (from `open_from(state.minute)` on) added."""
    first = open_from(state.minute)
    return _fold(state, [r for r in arrivals if r["arrived"] >= first])


def open_sums(arrivals: list[dict[str, Any]], minute: str) -> MinuteFigures:
    """What the arrivals still open at a run of `minute` add to each (minute, source type)."""
    first = open_from(minute)
    sums: MinuteFigures = {}
    for record in arrivals:
        if record["arrived"] < first:
            continue
        key = (record["minute"][:16], record["source_type"])
        before = sums.get(key) or dict.fromkeys(_SUMMED, Decimal(0))
        sums[key] = {name: before[name] + _decimal(record.get(name, 0)) for name in _SUMMED}
    return sums


def rebuilt(minutes: list[dict[str, Any]], counted: MinuteFigures, now: datetime, thresholds: Thresholds) -> RollingState:
    """The state of `now` from a full read of its minutes (the baseline's first on, later ones included)
    less `counted`, what the open arrivals had added to those minutes when they were read."""
    span = thresholds.baseline_windows * thresholds.recent_minutes
    empty = RollingState(minute_key(_utc_naive(now)), thresholds.recent_minutes,
                         {source: (0,) * span for source in SOURCE_TYPES}, {},
                         {source: (0,) * span for source in SOURCE_TYPES})
    taken = [{"minute": minute, "source_type": source, **figures} for (minute, source), figures in counted.items()]
    return _fold(_fold(empty, minutes), taken, sign=-1)


# --- raw level ---------------------------------------------------------------------------------

def _surge(s: Signals, bars: SourceThresholds, tier: Tier, velocity: int) -> list[str]:
    """Reasons the volume is up at this tier, or [] when it is not."""
    if s.posts < bars.min_posts or s.ratio < tier.ratio:
        return []
    reasons = []
    if s.z >= tier.z:
        reasons.append(f"{s.source_type} volume {s.ratio:.1f}x baseline (z {s.z:.1f})")
    if s.growth >= tier.growth:
        reasons.append(f"{s.source_type} growth {s.growth:.1f}x in {velocity} min >= {tier.growth:.1f}x")
    return reasons


def _negativity(s: Signals, bars: SourceThresholds, tier: Tier) -> dict[str, str]:
    """Which negativity figures cleared this tier, keyed share/crisis/reach, with their reasons."""
    if s.posts < bars.min_posts:
        return {}
    crossed = {
        "share": (s.negative_share >= tier.negative_share,
                  f"{s.source_type} negative share {s.negative_share:.0%} >= {tier.negative_share:.0%}"),
        "crisis": (s.crisis_posts >= tier.crisis_posts,
                   f"{s.source_type} crisis posts {s.crisis_posts} >= {tier.crisis_posts}"),
        "reach": (s.high_reach_negative >= tier.high_reach_negative,
                  f"{s.source_type} high-reach negative posts {s.high_reach_negative} >= {tier.high_reach_negative}"),
    }
    return {key: reason for key, (hit, reason) in crossed.items() if hit}


def _early(s: Signals, tier: Tier) -> list[str]:
    """The early-warning reason at this tier, or [] (no min_posts: one post is enough)."""
    if tier.early_warning is None or s.early_warning < tier.early_warning:
        return []
    return [f"{s.source_type} early-warning posts {s.early_warning} >= {tier.early_warning}"
            " (high-reach crisis post, fast engagement)"]


def _slow_burn(s: Signals, bars: SourceThresholds) -> list[str]:
    """The slow-burn reason, or []: enough negative posts over the slow window, a high share, clearly
    more than the baseline's share (a topic that is always this negative is its normal), a newer half
    that holds up against the older one and a high share still in the recent window (a wave that has
    passed, which the volume rules saw, does not hold the level up for L minutes)."""
    slow = bars.slow_burn
    if (slow is None or s.slow_negative < slow.min_negative or s.slow_negative_share < slow.negative_share
            or s.slow_negative_share < s.baseline_negative_share + slow.above_baseline
            or s.slow_negative - s.slow_older_negative < slow.held * s.slow_older_negative
            or s.negative_share < slow.negative_share):
        return []
    return [f"{s.source_type} negative share {s.slow_negative_share:.0%} of {s.slow_posts} posts in"
            f" {s.slow_minutes} min (baseline {s.baseline_negative_share:.0%})"]


def source_level(s: Signals, thresholds: Thresholds) -> tuple[Level, list[str]]:
    """One source type's level and the figures that put it there (the volume reasons first when volume
    carried the level, so the SMS names the surge)."""
    bars, velocity = thresholds.for_source(s.source_type), thresholds.velocity_minutes
    surge = _surge(s, bars, bars.crisis, velocity)
    negative = _negativity(s, bars, bars.crisis)
    if surge and "share" in negative and ("crisis" in negative or "reach" in negative):
        return Level.CRISIS, surge + list(negative.values())
    surge = _surge(s, bars, bars.warning, velocity)
    negative = _negativity(s, bars, bars.warning)
    volume = surge + list(negative.values()) if surge and negative else []
    others = _early(s, bars.warning) + _slow_burn(s, bars)
    if volume or others:
        return Level.WARNING, volume + others
    surge = _surge(s, bars, bars.watch, velocity)
    negative = _negativity(s, bars, bars.watch)
    early = _early(s, bars.watch)
    if surge or negative or early:
        return Level.WATCH, surge + list(negative.values()) + early
    return Level.NORMAL, []


def raw_level(social: Signals, news: Signals, thresholds: Thresholds) -> tuple[Level, list[str]]:
    """The topic's level this minute before flap control: the higher of social and news."""
    results = [source_level(social, thresholds), source_level(news, thresholds)]
    level = max(found for found, _ in results)
    return level, [reason for found, reasons in results if found == level for reason in reasons]


# --- flap control and alerts -------------------------------------------------------------------

@dataclass(frozen=True)
class LevelChanged:
    previous: Level
    level: Level
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class TriggerAlert:
    alert_id: str
    level: Level
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class RaiseAlert:
    alert_id: str
    level: Level
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Notify:
    alert_id: str
    level: Level


@dataclass(frozen=True)
class Resolve:
    alert_id: str


Decision = LevelChanged | TriggerAlert | RaiseAlert | Notify | Resolve


class DetectorState(BaseModel):
    """A topic's detector memory between evaluations; `to_dict` is what DynamoDB stores.

    `streaks` holds, for WATCH, WARNING and CRISIS, the consecutive evaluations with the raw level
    at or above it: the candidate level is the highest one above `level` with a streak, and its
    streak is the consecutive count. Kept per level because a jump counts for the lower ones.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    level: StoredLevel = Level.NORMAL
    streaks: tuple[int, int, int] = (0, 0, 0)
    quiet_count: int = 0
    quiet_max: StoredLevel = Level.NORMAL
    last_minute: str | None = None
    cooldown_until: datetime | None = None
    alert_id: str | None = None
    notified_level: StoredLevel | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectorState:
        return cls.model_validate(data)


def alert_id_for(now: datetime) -> str:
    """Deterministic, so a retried evaluation writes the same alert (unique per topic and minute)."""
    return _utc_naive(now).strftime("%Y%m%d-%H%M")


def _next_level(state: DetectorState, raw: Level, streaks: tuple[int, ...], thresholds: Thresholds) -> dict[str, Any]:
    """Level and quiet-stretch fields after one evaluation."""
    if raw < state.level:
        quiet_count, quiet_max = state.quiet_count + 1, max(state.quiet_max, raw)
        if quiet_count >= thresholds.lower_after:
            return {"level": quiet_max, "quiet_count": 0, "quiet_max": Level.NORMAL}
        return {"level": state.level, "quiet_count": quiet_count, "quiet_max": quiet_max}
    ready = [lvl for lvl, streak in zip(RAISABLE, streaks) if lvl > state.level and streak >= thresholds.raise_after]
    return {"level": max(ready, default=state.level), "quiet_count": 0, "quiet_max": Level.NORMAL}


def step(state: DetectorState, raw: Level, reasons: list[str], now: datetime,
         thresholds: Thresholds) -> tuple[DetectorState, list[Decision]]:
    """Advance one topic by one evaluation; a minute already evaluated changes nothing."""
    minute = minute_key(now)
    if state.last_minute is not None and minute <= state.last_minute:
        return state, []
    why = tuple(reasons)
    streaks = tuple(streak + 1 if raw >= lvl else 0 for lvl, streak in zip(RAISABLE, state.streaks))
    update: dict[str, Any] = {"streaks": streaks, "last_minute": minute, **_next_level(state, raw, streaks, thresholds)}
    level: Level = update["level"]
    decisions: list[Decision] = []
    if level != state.level:
        decisions.append(LevelChanged(state.level, level, why))
    cooling = state.cooldown_until is not None and _utc_naive(now) < _utc_naive(state.cooldown_until)
    if level >= Level.WARNING and state.alert_id is None and (level == Level.CRISIS or not cooling):
        alert_id = alert_id_for(now)
        decisions += [TriggerAlert(alert_id, level, why), Notify(alert_id, level)]
        update |= {"alert_id": alert_id, "notified_level": level}
    elif level >= Level.WARNING and state.alert_id is not None and level > (state.notified_level or Level.NORMAL):
        decisions += [RaiseAlert(state.alert_id, level, why), Notify(state.alert_id, level)]
        update["notified_level"] = level
    elif level <= Level.WATCH and state.alert_id is not None:
        decisions.append(Resolve(state.alert_id))
        cooldown_until = _utc_naive(now).replace(tzinfo=timezone.utc) + timedelta(minutes=thresholds.cooldown_minutes)
        update |= {"alert_id": None, "notified_level": None, "cooldown_until": cooldown_until}
    return state.model_copy(update=update), decisions


def escalation_due(alert: dict[str, Any], now: datetime, minutes: int) -> bool:
    """Whether an alert nobody acknowledged should go to the next person.

    Reads `status` ("open" until someone acknowledges; "acknowledged" or "resolved" after),
    `triggered_at` (ISO 8601, naive taken as UTC) and `escalated_at` (set once escalated, so an
    alert escalates once). Due when open, not yet escalated and at least `minutes` old.
    """
    if alert.get("status") != "open" or alert.get("escalated_at"):
        return False
    triggered = alert["triggered_at"]
    if isinstance(triggered, str):
        triggered = datetime.fromisoformat(triggered)
    return _exact_utc(now) - _exact_utc(triggered) >= timedelta(minutes=minutes)


def _exact_utc(when: datetime) -> datetime:
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
