"""The post-crisis report as a page and as CSV files: pure rendering of what `report.gather` read.

The page is one HTML document that needs nothing else: its style is inline, its charts are inline
SVG (crisiscomms.review.charts), it has no script and its Content-Security-Policy forbids fetching
anything, so it opens the same from S3, a mail attachment or a USB stick, and prints on A4 (charts
and table rows are kept whole across pages). It is written as well-formed XML too (XHTML
serialisation of HTML5), so it can be checked with an XML parser. Every figure on the page is also
in a CSV file of the same name as the `data-csv` of its chart or table.

Timelines are drawn in buckets of a width chosen so a range shows at most MAX_DRAWN of them (one
minute for a short incident, up to a day for three months). Clock times are in the report's zone;
the CSV files carry UTC as well.

CSV cells that hold text someone wrote (posts, statements, lessons) and begin with = + - @ or a
tab are prefixed with an apostrophe, so a spreadsheet shows them rather than evaluating them.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from html import escape
from typing import Any

from crisiscomms.models.alerts import Lesson
from crisiscomms.models.effect import EffectRecord, TopicEffect
from crisiscomms.models.series import BUCKET_SIZE, SeriesPoint, TopicSeries, point
from crisiscomms.review import charts

LEVELS = ("NORMAL", "WATCH", "WARNING", "CRISIS")
WIDTHS_MINUTES = (1, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440)
MAX_DRAWN = 96
TOP_REGIONS = 12
TEXT_CHARS = 280
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Drawn:
    """The series regrouped into the buckets the page draws: `width` wide, from `starts[0]`."""

    width: timedelta
    starts: list[datetime]
    platforms: dict[str, list[SeriesPoint]]
    source_types: dict[str, list[SeriesPoint]]


def drawn_buckets(series: TopicSeries) -> Drawn:
    """Regroup a minute or hour series into the narrowest width that gives at most MAX_DRAWN buckets."""
    base = BUCKET_SIZE[series.bucket]
    span = series.end - series.start
    width = next((timedelta(minutes=w) for w in WIDTHS_MINUTES
                  if timedelta(minutes=w) >= base and -(-span // timedelta(minutes=w)) <= MAX_DRAWN),
                 timedelta(minutes=WIDTHS_MINUTES[-1]))
    count = max(1, -(-span // width))
    starts = [series.start + n * width for n in range(count)]

    def regroup(points: list[SeriesPoint]) -> list[SeriesPoint]:
        sums = [[0, 0, 0, 0.0] for _ in starts]
        for p in points:
            slot = sums[min(count - 1, int((p.start - series.start) // width))]
            slot[0] += p.posts
            slot[1] += p.negative
            slot[2] += p.crisis_posts
            slot[3] += p.sentiment_sum
        return [point(s, int(a), int(b), int(c), float(d)) for s, (a, b, c, d) in zip(starts, sums)]

    return Drawn(width=width, starts=starts,
                 platforms={line.key: regroup(line.points) for line in series.by_platform},
                 source_types={line.key: regroup(line.points) for line in series.by_source_type})


def level_steps(drawn: Drawn, level_at_start: str, changes: list[dict[str, Any]]) -> list[str]:
    """The highest level in force during each drawn bucket."""
    out = []
    for start in drawn.starts:
        stop = start + drawn.width
        current = level_at_start
        for change in changes:
            if change["at"] <= start:
                current = change["to"]
        during = [c["to"] for c in changes if start < c["at"] < stop]
        out.append(max([current, *during], key=LEVELS.index))
    return out


@dataclass
class ReportContent:
    """Everything one report shows, as read."""

    report_id: str
    topic: str
    names: list[str]
    start: datetime  # the range drawn: the request widened to whole buckets
    end: datetime
    requested_from: datetime
    requested_to: datetime
    tz: str
    generated_at: datetime
    requested_by: str | None
    series: TopicSeries
    drawn: Drawn
    level_at_start: str
    level_changes: list[dict[str, Any]]
    levels: list[str]
    alerts: list[dict[str, Any]] = field(default_factory=list)
    statements: list[dict[str, Any]] = field(default_factory=list)
    effects: list[EffectRecord] = field(default_factory=list)
    waves: list[EffectRecord] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)
    distribution: dict[str, Any] = field(default_factory=dict)
    top_posts: list[dict[str, Any]] = field(default_factory=list)
    riskiest_read: int = 0
    terms: list[tuple[str, int]] = field(default_factory=list)
    lessons: list[Lesson] = field(default_factory=list)

    def platform_totals(self) -> dict[str, SeriesPoint]:
        return {line.key: line.total for line in self.series.by_platform}

    def source_type_totals(self) -> dict[str, SeriesPoint]:
        return {line.key: line.total for line in self.series.by_source_type}

    def highest_level(self) -> str:
        return max([self.level_at_start, *(c["to"] for c in self.level_changes)], key=LEVELS.index)

    def figures(self) -> dict[str, Any]:
        """The headline figures, kept on the report's record."""
        by_type = self.source_type_totals()
        posts = sum(t.posts for t in by_type.values())
        return {
            "from": _z(self.start), "to": _z(self.end), "bucket_minutes": int(self.drawn.width.total_seconds() // 60),
            "posts": posts, "negative": sum(t.negative for t in by_type.values()),
            "crisis_posts": sum(t.crisis_posts for t in by_type.values()),
            "by_platform": {k: t.posts for k, t in self.platform_totals().items()},
            "by_source_type": {k: t.posts for k, t in by_type.items()},
            "highest_level": self.highest_level(), "level_changes": len(self.level_changes),
            "alerts": len(self.alerts), "statements": len(self.statements), "replies": len(self.replies),
            "reply_waves": len({w.subject_id for w in self.waves}), "lessons": len(self.lessons),
        }


# --- small helpers -----------------------------------------------------------------------------------

def _z(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _e(value: Any) -> str:
    """Text for the page: what XML forbids removed, then escaped."""
    return escape(_NOT_XML.sub("", "" if value is None else str(value)))


def _stamp(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(timezone.utc)
    except ValueError:
        return None


class _Clock:
    """Clock times in the report's zone."""

    def __init__(self, tz: str) -> None:
        from zoneinfo import ZoneInfo

        self.zone = ZoneInfo(tz)

    def local(self, value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
        when = _stamp(value)
        return when.astimezone(self.zone).strftime(fmt) if when else ""

    def labels(self, starts: list[datetime], width: timedelta) -> list[str]:
        local = [s.astimezone(self.zone) for s in starts]
        if width >= timedelta(days=1):
            return [s.strftime("%Y-%m-%d") for s in local]
        if local and local[0].date() == local[-1].date():
            return [s.strftime("%H:%M") for s in local]
        return [s.strftime("%m-%d %H:%M") for s in local]


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _num(value: Any) -> str:
    return "" if value is None else f"{value:,}" if isinstance(value, int) else f"{value:,.3f}"


def _excerpt(text: Any, limit: int = TEXT_CHARS) -> str:
    words = " ".join(str(text or "").split())
    return words if len(words) <= limit else words[: limit - 1] + "…"


def _statement_text(statement: dict[str, Any]) -> str:
    version = next((v for v in statement.get("versions", []) if v.get("version") == statement.get("published_version")),
                   None) or (statement.get("versions") or [{}])[-1]
    text = version.get("text") or {}
    parts = []
    for language in sorted(text):
        value = text[language]
        body = value.get("full") or value.get("short") if isinstance(value, dict) else value
        if body:
            parts.append(f"[{language}] {body}")
    return _excerpt(" ".join(parts), 400)


def _effect_for(record: EffectRecord, topic: str) -> TopicEffect | None:
    return record.for_topic(topic)


# --- the page --------------------------------------------------------------------------------------

STYLE = """
@page { size: A4; margin: 14mm 12mm; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { font-family: 'Noto Sans', 'Noto Sans CJK SC', 'Source Han Sans SC', 'PingFang SC', 'Microsoft YaHei', Arial,
       sans-serif; color: #1b1b1b; max-width: 1100px; margin: 0 auto; padding: 24px; line-height: 1.45; font-size: 14px; }
h1 { font-size: 1.7em; margin: 0 0 .2em; }
h2 { font-size: 1.3em; border-bottom: 2px solid #1f5fa8; padding-bottom: 3px; margin-top: 1.8em;
     break-after: avoid; page-break-after: avoid; }
h3 { font-size: 1.05em; margin: 1.2em 0 .4em; break-after: avoid; page-break-after: avoid; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: .6em 0 1em; }
dl.meta dt { color: #555; } dl.meta dd { margin: 0; }
figure { margin: 10px 0 16px; break-inside: avoid; page-break-inside: avoid; }
figure svg { display: block; width: 100%; height: auto; }
figcaption { color: #555; font-size: .85em; margin-top: 2px; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
table { border-collapse: collapse; width: 100%; font-size: .86em; margin: 6px 0 14px; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #f3f5f8; } tr { break-inside: avoid; page-break-inside: avoid; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.figures { display: grid; grid-template-columns: repeat(4, 1fr); gap: 8px; margin: 10px 0; }
.figures div { border: 1px solid #d5dbe3; border-radius: 4px; padding: 6px 10px; }
.figures b { display: block; font-size: 1.5em; }
.muted, .empty { color: #666; } .empty { font-style: italic; }
.level-WATCH { color: #9a7d0a; } .level-WARNING { color: #c0392b; font-weight: bold; }
.level-CRISIS { color: #7b0000; font-weight: bold; }
.statement { border-left: 3px solid #1f5fa8; padding-left: 10px; margin: 12px 0; break-inside: auto; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; }
a { color: #1f5fa8; overflow-wrap: anywhere; }
@media print { body { padding: 0; max-width: none; font-size: 11px; } a { color: inherit; text-decoration: none; } }
"""


def _table(table_id: str, csv_name: str, headers: list[tuple[str, bool]], rows: list[str], empty: str) -> str:
    if not rows:
        return f'<p class="empty" id="{table_id}" data-csv="{csv_name}">{_e(empty)}</p>'
    head = "".join(('<th class="num">' if numeric else "<th>") + f"{_e(name)}</th>" for name, numeric in headers)
    return (f'<table id="{table_id}" data-csv="{csv_name}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def _cell(value: Any, *, numeric: bool = False, figure: str | None = None, css: str | None = None) -> str:
    classes = " ".join(c for c in ("num" if numeric else "", css or "") if c)
    attrs = (f' class="{classes}"' if classes else "") + (f' data-figure="{figure}"' if figure else "")
    return f"<td{attrs}>{_e(value)}</td>"


def _figure(chart_id: str, csv_name: str, svg: str, caption: str) -> str:
    return (f'<figure class="chart" id="{chart_id}" data-csv="{csv_name}">{svg}'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def render_html(content: ReportContent) -> str:
    """The whole page."""
    clock = _Clock(content.tz)
    title = f"Post-crisis report: {content.names[0] if content.names else content.topic}"
    sections = [_summary(content, clock), _timeline(content, clock), _social_news(content, clock),
                _levels(content, clock), _alerts(content, clock), _statements(content, clock),
                _replies(content, clock), _distribution(content), _top_posts(content, clock), _lessons(content, clock),
                _data_files(content)]
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
    return ("<!DOCTYPE html>\n"
            '<html xmlns="http://www.w3.org/1999/xhtml" lang="en">'
            '<head><meta charset="utf-8" />'
            f'<meta http-equiv="Content-Security-Policy" content="{csp}" />'
            '<meta name="viewport" content="width=device-width, initial-scale=1" />'
            f'<meta name="generator" content="crisiscomms reporter" /><title>{_e(title)}</title>'
            f"<style>{STYLE}</style></head>"
            f'<body data-report="{_e(content.report_id)}" data-topic="{_e(content.topic)}">'
            f"<header><h1>{_e(title)}</h1>{_meta(content, clock)}</header>"
            + "".join(sections)
            + f'<footer class="muted"><p>Report {_e(content.report_id)}, generated {_e(clock.local(content.generated_at))}'
              f" ({_e(content.tz)}). Figures are counted from the stored records; posts past their retention are no "
              "longer stored and are not counted.</p></footer></body></html>\n")


def _meta(c: ReportContent, clock: _Clock) -> str:
    rows = [("Topic", f"{', '.join(c.names) or c.topic} ({c.topic})"),
            ("Range", f"{clock.local(c.start)} to {clock.local(c.end)} ({c.tz})"),
            ("Requested", f"{clock.local(c.requested_from)} to {clock.local(c.requested_to)}"
                          + (f", by {c.requested_by}" if c.requested_by else "")),
            ("Timeline buckets", f"{int(c.drawn.width.total_seconds() // 60)} minutes"),
            ("Generated", f"{clock.local(c.generated_at)}")]
    return '<dl class="meta">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows) + "</dl>"


def _summary(c: ReportContent, clock: _Clock) -> str:
    f = c.figures()
    share = f["negative"] / f["posts"] if f["posts"] else None
    boxes = [("posts", f["posts"], "Posts"), ("negative_share", _share(share), "Negative"),
             ("crisis_posts", f["crisis_posts"], "Crisis posts"), ("highest_level", f["highest_level"], "Highest level"),
             ("alerts", f["alerts"], "Alerts"), ("statements", f["statements"], "Statements published"),
             ("replies", f["replies"], "Replies"), ("lessons", f["lessons"], "Lessons recorded")]
    figures = "".join(f'<div data-figure="{key}"><b>{_e(_num(v) if isinstance(v, int) else v)}</b>{_e(label)}</div>'
                      for key, v, label in boxes)
    rows = [f'<tr data-platform="{_e(k)}">' + _cell(k) + _cell(t.posts, numeric=True, figure="posts")
            + _cell(t.negative, numeric=True, figure="negative") + _cell(_share(t.negative_share if t.posts else None), numeric=True)
            + _cell(f"{t.net_sentiment:+.3f}" if t.posts else "", numeric=True)
            + _cell(t.crisis_posts, numeric=True, figure="crisis_posts") + "</tr>"
            for k, t in sorted(c.platform_totals().items(), key=lambda kv: (-kv[1].posts, kv[0]))]
    headers = [("Platform", False), ("Posts", True), ("Negative", True), ("Negative share", True),
               ("Net sentiment", True), ("Crisis posts", True)]
    return ('<section id="summary"><h2>Summary</h2>'
            f'<div class="figures">{figures}</div>'
            '<h3>Posts per platform</h3>'
            + _table("platform-totals", "platform_totals.csv", headers, rows, "No posts about this topic in the range.")
            + "</section>")


def _timeline(c: ReportContent, clock: _Clock) -> str:
    labels = clock.labels(c.drawn.starts, c.drawn.width)
    width = int(c.drawn.width.total_seconds() // 60)
    platforms = c.drawn.platforms
    volume = charts.time_lines(f"Posts per {width} min, by platform", labels,
                               {k: [p.posts for p in pts] for k, pts in platforms.items()}, y_title="posts")
    negative = charts.time_lines("Negative share, by platform", labels,
                                 {k: [p.negative_share if p.posts else None for p in pts] for k, pts in platforms.items()},
                                 value_format="percent", y_range=(0, 1))
    net = charts.time_lines("Net sentiment, by platform", labels,
                            {k: [p.net_sentiment if p.posts else None for p in pts] for k, pts in platforms.items()},
                            value_format="signed", y_range=(-1, 1))
    return ('<section id="timeline"><h2>Timeline by platform</h2>'
            + _figure("chart-volume-by-platform", "timeline_by_platform.csv", volume,
                      f"Posts about the topic per {width}-minute bucket, clock times in {c.tz}.")
            + _figure("chart-negative-by-platform", "timeline_by_platform.csv", negative,
                      "Share of posts scored negative; gaps are buckets without posts.")
            + _figure("chart-sentiment-by-platform", "timeline_by_platform.csv", net,
                      "Mean sentiment of the posts, from -1 (hostile) to +1.")
            + "</section>")


def _social_news(c: ReportContent, clock: _Clock) -> str:
    labels = clock.labels(c.drawn.starts, c.drawn.width)
    kinds = c.drawn.source_types
    volume = charts.time_lines("Social and news: posts", labels, {k: [p.posts for p in kinds[k]] for k in kinds},
                               y_title="posts", width=charts.HALF_WIDTH)
    negative = charts.time_lines("Social and news: negative share", labels,
                                 {k: [p.negative_share if p.posts else None for p in kinds[k]] for k in kinds},
                                 value_format="percent", y_range=(0, 1), width=charts.HALF_WIDTH)
    rows = [f'<tr data-source-type="{_e(k)}">' + _cell(k) + _cell(t.posts, numeric=True, figure="posts")
            + _cell(t.negative, numeric=True, figure="negative") + _cell(_share(t.negative_share if t.posts else None), numeric=True)
            + _cell(f"{t.net_sentiment:+.3f}" if t.posts else "", numeric=True)
            + _cell(t.crisis_posts, numeric=True, figure="crisis_posts") + "</tr>"
            for k, t in c.source_type_totals().items()]
    headers = [("Source", False), ("Posts", True), ("Negative", True), ("Negative share", True),
               ("Net sentiment", True), ("Crisis posts", True)]
    return ('<section id="social-news"><h2>Social media and news, side by side</h2><div class="pair">'
            + _figure("chart-volume-by-source", "timeline_by_source_type.csv", volume, "Posts per bucket.")
            + _figure("chart-negative-by-source", "timeline_by_source_type.csv", negative, "Share scored negative.")
            + "</div>" + _table("source-type-totals", "source_type_totals.csv", headers, rows, "No posts.")
            + "</section>")


def _levels(c: ReportContent, clock: _Clock) -> str:
    labels = clock.labels(c.drawn.starts, c.drawn.width)
    chart = charts.level_steps("Crisis level", labels, [LEVELS.index(level) for level in c.levels], LEVELS)
    rows = [f'<tr data-level="{_e(ch["to"])}">' + _cell(clock.local(ch["at"])) + _cell(ch["from"], css=f"level-{ch['from']}")
            + _cell(ch["to"], css=f"level-{ch['to']}") + _cell("; ".join(ch["reasons"])) + "</tr>" for ch in c.level_changes]
    return ('<section id="levels"><h2>Level changes</h2>'
            + _figure("chart-levels", "levels.csv", chart,
                      f"The highest level in force in each bucket; {c.level_at_start} when the range starts.")
            + _table("level-changes", "level_changes.csv", [("Time", False), ("From", False), ("To", False), ("Why", False)],
                     rows, "The level did not change in this range.")
            + "</section>")


def _alerts(c: ReportContent, clock: _Clock) -> str:
    rows = []
    for a in c.alerts:
        closed = f"{a.get('closed_by')}, {clock.local(a.get('closed_at'))}" if a.get("closed_at") else ""
        acked = f"{a.get('acknowledged_by')}, {clock.local(a.get('acknowledged_at'))}" if a.get("acknowledged_at") else "not acknowledged"
        rows.append(f'<tr data-alert="{_e(a.get("alert_id"))}">' + _cell(a.get("alert_id"))
                    + _cell(a.get("level"), css=f"level-{a.get('level')}") + _cell(clock.local(a.get("triggered_at")))
                    + _cell(acked) + _cell(clock.local(a.get("escalated_at"))) + _cell(a.get("status"))
                    + _cell(clock.local(a.get("resolved_at"))) + _cell(closed) + "</tr>")
    headers = [("Alert", False), ("Level", False), ("Triggered", False), ("Acknowledged", False), ("Escalated", False),
               ("Status", False), ("Resolved", False), ("Closed", False)]
    return ('<section id="alerts"><h2>Alerts and acknowledgements</h2>'
            + _table("alerts-table", "alerts.csv", headers, rows, "No alert was triggered in this range.") + "</section>")


def _effect_rows(records: list[EffectRecord], topic: str, label: str) -> list[str]:
    rows = []
    for r in records:
        e = _effect_for(r, topic)
        if e is None:
            continue
        engagement = ", ".join(f"{ch}: {g.total}" if g.state == "available" else f"{ch}: unavailable"
                               for ch, g in sorted(r.engagement.items())) or "none"
        rec = e.recommendation
        rows.append(f'<tr data-subject="{_e(r.subject_id)}" data-stage="{_e(r.stage)}">' + _cell(label or r.ref or r.subject_id)
                    + _cell(r.stage) + _cell(e.before.volume, numeric=True, figure="volume_before")
                    + _cell(e.after.volume, numeric=True, figure="volume_after")
                    + _cell(f"{_share(e.before.negative_share)} → {_share(e.after.negative_share)}", numeric=True)
                    + _cell(f"{e.before.crisis_hits} → {e.after.crisis_hits}", numeric=True)
                    + _cell(f"{e.before.rumour_posts} → {e.after.rumour_posts}", numeric=True)
                    + _cell(f"{e.news_before.items} → {e.news_after.items} ({_share(e.news_after.negative_share)} negative)")
                    + _cell(engagement) + _cell(rec.code, figure="recommendation") + _cell(rec.reason) + "</tr>")
    return rows


EFFECT_HEADERS = [("Subject", False), ("Measured", False), ("Volume before", True), ("Volume after", True),
                  ("Negative share", True), ("Crisis terms", True), ("Rumours", True), ("News", False),
                  ("Engagement", False), ("Recommendation", False), ("Because", False)]


def _statements(c: ReportContent, clock: _Clock) -> str:
    parts = ['<section id="statements"><h2>Statements, deliveries and their effect</h2>']
    if not c.statements:
        parts.append('<p class="empty">No statement was published in this range.</p>')
    by_statement: dict[str, list[EffectRecord]] = {}
    for record in c.effects:
        by_statement.setdefault(record.subject_id, []).append(record)
    for s in c.statements:
        name = s.get("ref") or s["id"]
        published = s.get("published_version")
        deliveries = [d for d in s.get("deliveries", []) if d.get("version") == published] or s.get("deliveries", [])
        rows = [f'<tr data-channel="{_e(d.get("channel"))}">' + _cell(d.get("channel")) + _cell(d.get("language"))
                + _cell(d.get("state")) + _cell(d.get("attempts") or 0, numeric=True) + _cell(clock.local(d.get("sent_at")))
                + (f'<td><a href="{_e(d["url"])}">{_e(d["url"])}</a></td>' if str(d.get("url") or "").startswith(("https://", "http://"))
                   else _cell(d.get("error") or ""))
                + "</tr>" for d in sorted(deliveries, key=lambda d: (str(d.get("channel")), str(d.get("language"))))]
        effects = _effect_rows(by_statement.get(s["id"], []), c.topic, name)
        parts.append(f'<div class="statement" data-statement="{_e(s["id"])}"><h3>{_e(name)}: {_e(s.get("kind") or "statement")}, '
                     f'published {_e(clock.local(s.get("published_at")))}, {_e(s.get("state"))}'
                     + (f", corrects {_e(s['corrects'])}" if s.get("corrects") else "") + "</h3>"
                     f'<p class="text">{_e(_statement_text(s))}</p>'
                     + _table(f"deliveries-{s['id']}", "deliveries.csv",
                              [("Channel", False), ("Language", False), ("State", False), ("Attempts", True), ("Sent", False),
                               ("Where", False)], rows, "No deliveries.")
                     + _table(f"effect-{s['id']}", "effects.csv", EFFECT_HEADERS, effects,
                              "Not measured for this topic yet.") + "</div>")
    measured = [r for r in c.effects if _effect_for(r, c.topic) is not None]
    if measured:
        labels = [f"{next((s.get('ref') for s in c.statements if s['id'] == r.subject_id), None) or r.ref or r.subject_id} ({r.stage})"
                  for r in measured]
        parts.append(_figure("chart-effects", "effects.csv", charts.bars(
            "Posts before and after each statement", labels,
            {"before": [_effect_for(r, c.topic).before.volume for r in measured],  # type: ignore[union-attr]
             "after": [_effect_for(r, c.topic).after.volume for r in measured]}),  # type: ignore[union-attr]
            "Social posts about the topic in equal windows before and after publication."))
    parts.append("</section>")
    return "".join(parts)


def _replies(c: ReportContent, clock: _Clock) -> str:
    rows = [f'<tr data-reply="{_e(r.get("id"))}">' + _cell(clock.local(r.get("created_at"))) + _cell(r.get("platform"))
            + _cell(r.get("post_key")) + _cell(f"template {r['template_id']}" if r.get("template_id") else "free text")
            + _cell(r.get("author")) + _cell(r.get("approver") or "") + _cell(r.get("state"))
            + _cell(clock.local(r.get("sent_at"))) + _cell(_excerpt(r.get("text"), 160), css="text") + "</tr>" for r in c.replies]
    headers = [("Drafted", False), ("Platform", False), ("To post", False), ("From", False), ("Author", False),
               ("Approver", False), ("State", False), ("Sent", False), ("Text", False)]
    waves = _effect_rows(c.waves, c.topic, "")
    return ('<section id="replies"><h2>Replies and reply waves</h2>'
            + _table("replies-table", "replies.csv", headers, rows, "No reply to this topic's conversations in this range.")
            + "<h3>Effect of reply waves</h3>"
            + _table("waves-table", "effects.csv", EFFECT_HEADERS, waves, "No reply wave was measured for this topic.")
            + "</section>")


def _distribution(c: ReportContent) -> str:
    d = c.distribution or {}
    hours = d.get("by_hour_of_day") or []
    regions = (d.get("by_region") or [])[:TOP_REGIONS]
    tz = d.get("tz") or c.tz
    by_hour = charts.bars(f"Posts by hour of day ({tz})", [f"{h['hour']:02d}" for h in hours],
                          {"posts": [h["posts"] for h in hours], "negative": [h["negative"] for h in hours]},
                          width=charts.HALF_WIDTH)
    by_region = charts.bars("Posts by place (largest first)", [r["label"] for r in regions],
                            {"posts": [r["posts"] for r in regions], "negative": [r["negative"] for r in regions]},
                            horizontal=True, width=charts.HALF_WIDTH)
    rows = [f'<tr data-region="{_e(r.get("region") or r.get("country") or "unknown")}">' + _cell(r["label"])
            + _cell(r["posts"], numeric=True, figure="posts") + _cell(r["negative"], numeric=True, figure="negative")
            + _cell(_share(r.get("share")), numeric=True) + "</tr>" for r in d.get("by_region") or []]
    return ('<section id="distribution"><h2>Where and when</h2>'
            f'<p class="muted">Counted from the hour figures over {_e(d.get("from", ""))} to {_e(d.get("to", ""))} (whole UTC '
            "hours); a place is what the platform or the author's profile gave, where it gave one.</p>"
            '<div class="pair">'
            + _figure("chart-by-hour", "distribution_by_hour.csv", by_hour, f"Hours of day in {tz}.")
            + _figure("chart-by-region", "distribution_by_region.csv", by_region, f"The {TOP_REGIONS} places with most posts.")
            + "</div>"
            + _table("regions-table", "distribution_by_region.csv",
                     [("Place", False), ("Posts", True), ("Negative", True), ("Share", True)], rows, "No place known.")
            + "</section>")


def _top_posts(c: ReportContent, clock: _Clock) -> str:
    rows = []
    for p in c.top_posts:
        url = str(p.get("url") or "")
        link = f'<a href="{_e(url)}">{_e(p.get("author"))}</a>' if url.startswith(("https://", "http://")) else _e(p.get("author"))
        rows.append(f'<tr data-post="{_e(p.get("post_key"))}">' + _cell(p.get("risk"), numeric=True)
                    + _cell(clock.local(str(p.get("published_key", ""))[:20])) + _cell(p.get("platform"))
                    + f"<td>{link}</td>" + _cell(p.get("followers") or 0, numeric=True)
                    + _cell(_excerpt(p.get("text")), css="text") + _cell(", ".join(p.get("crisis_terms") or [])) + "</tr>")
    terms = [f'<tr data-term="{_e(term)}">' + _cell(term) + _cell(n, numeric=True, figure="posts") + "</tr>"
             for term, n in c.terms]
    return ('<section id="top-posts"><h2>Top posts and narratives</h2>'
            + _table("top-posts-table", "top_posts.csv",
                     [("Risk", True), ("Published", False), ("Platform", False), ("Author", False), ("Followers", True),
                      ("Text", False), ("Crisis terms", False)], rows, "No posts.")
            + f"<h3>Crisis terms in the {c.riskiest_read} riskiest posts read</h3>"
            + _table("terms-table", "crisis_terms.csv", [("Term", False), ("Posts", True)], terms,
                     "No crisis term in the riskiest posts.")
            + "</section>")


def _lessons(c: ReportContent, clock: _Clock) -> str:
    if not c.lessons:
        return ('<section id="lessons"><h2>Lessons recorded</h2>'
                '<p class="empty" id="lessons-list" data-csv="lessons.csv">No alert of this range was closed with a '
                "conclusion yet.</p></section>")
    items = []
    for lesson in c.lessons:
        parts = [("Cause", lesson.cause), ("Lessons", lesson.lessons), ("What worked", lesson.worked),
                 ("What to change", lesson.change)]
        body = "".join(f"<dt>{_e(k)}</dt><dd class=\"text\">{_e(v)}</dd>" for k, v in parts if v)
        items.append(f'<li data-alert="{_e(lesson.alert_id)}"><b>{_e(lesson.alert_id)}</b> ({_e(lesson.level or "")}), '
                     f"closed by {_e(lesson.closed_by)} on {_e(clock.local(lesson.closed_at))}"
                     f'<dl class="meta">{body}</dl></li>')
    return ('<section id="lessons"><h2>Lessons recorded</h2>'
            f'<ol id="lessons-list" data-csv="lessons.csv">{"".join(items)}</ol></section>')


def _data_files(c: ReportContent) -> str:
    names = sorted(csv_files(c))
    return ('<section id="data"><h2>Data</h2><p>Every series and table of this page is also a CSV file '
            "(UTF-8, one header row) beside it:</p><ul>" + "".join(f"<li>{_e(n)}</li>" for n in names) + "</ul></section>")


# --- CSV -----------------------------------------------------------------------------------------------

def _safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return "" if value is None else value


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_safe(v) for v in row])
    return out.getvalue()


def _timeline_rows(lines: dict[str, list[SeriesPoint]], clock: _Clock) -> list[list[Any]]:
    return [[_z(p.start), clock.local(p.start), key, p.posts, p.negative, round(p.negative_share, 6),
             round(p.net_sentiment, 6), round(p.sentiment_sum, 6), p.crisis_posts]
            for key, points in lines.items() for p in points]


def _effect_csv_rows(records: list[EffectRecord], topic: str) -> list[list[Any]]:
    rows = []
    for r in records:
        e = _effect_for(r, topic)
        if e is None:
            continue
        rows.append([r.subject, r.subject_id, r.ref or "", r.stage, _z(r.published_at), _z(r.before.start), _z(r.after.end),
                     e.before.volume, e.after.volume, e.before.negative_share, e.after.negative_share,
                     e.before.net_polarity, e.after.net_polarity, e.before.crisis_hits, e.after.crisis_hits,
                     e.before.rumour_posts, e.after.rumour_posts, e.news_before.items, e.news_after.items,
                     e.news_before.negative_share, e.news_after.negative_share,
                     "; ".join(f"{ch}={g.total if g.state == 'available' else 'unavailable'}" for ch, g in sorted(r.engagement.items())),
                     e.recommendation.code, e.recommendation.reason])
    return rows


def csv_files(c: ReportContent) -> dict[str, str]:
    """Every series and table of the page, by file name."""
    clock = _Clock(c.tz)
    timeline_header = ["bucket_start_utc", "bucket_start_local", "key", "posts", "negative", "negative_share",
                       "net_sentiment", "sentiment_sum", "crisis_posts"]
    totals_header = ["key", "posts", "negative", "negative_share", "net_sentiment", "sentiment_sum", "crisis_posts"]

    def totals(items: dict[str, SeriesPoint]) -> list[list[Any]]:
        return [[k, t.posts, t.negative, round(t.negative_share, 6), round(t.net_sentiment, 6), round(t.sentiment_sum, 6),
                 t.crisis_posts] for k, t in sorted(items.items())]

    d = c.distribution or {}
    statements = [[s["id"], s.get("ref") or "", s.get("kind") or "", _z(_stamp(s.get("published_at")) or c.start),
                   d_.get("channel"), d_.get("language"), d_.get("state"), d_.get("attempts") or 0,
                   d_.get("sent_at") or "", d_.get("url") or "", d_.get("error") or ""]
                  for s in c.statements for d_ in s.get("deliveries", []) if d_.get("version") == s.get("published_version")]
    effect_header = ["subject", "subject_id", "ref", "stage", "published_at_utc", "before_start_utc", "after_end_utc",
                     "volume_before", "volume_after", "negative_share_before", "negative_share_after",
                     "net_polarity_before", "net_polarity_after", "crisis_hits_before", "crisis_hits_after",
                     "rumours_before", "rumours_after", "news_before", "news_after", "news_negative_share_before",
                     "news_negative_share_after", "engagement", "recommendation", "reason"]
    return {
        "timeline_by_platform.csv": _csv(timeline_header, _timeline_rows(c.drawn.platforms, clock)),
        "timeline_by_source_type.csv": _csv(timeline_header, _timeline_rows(c.drawn.source_types, clock)),
        "platform_totals.csv": _csv(totals_header, totals(c.platform_totals())),
        "source_type_totals.csv": _csv(totals_header, totals(c.source_type_totals())),
        "levels.csv": _csv(["bucket_start_utc", "bucket_start_local", "highest_level"],
                           [[_z(s), clock.local(s), level] for s, level in zip(c.drawn.starts, c.levels)]),
        "level_changes.csv": _csv(["at_utc", "at_local", "from", "to", "reasons"],
                                  [[_z(ch["at"]), clock.local(ch["at"]), ch["from"], ch["to"], "; ".join(ch["reasons"])]
                                   for ch in c.level_changes]),
        "alerts.csv": _csv(["alert_id", "level", "status", "triggered_at", "acknowledged_by", "acknowledged_at",
                            "escalated_at", "resolved_at", "closed_by", "closed_at"],
                           [[a.get(k) for k in ("alert_id", "level", "status", "triggered_at", "acknowledged_by",
                                                "acknowledged_at", "escalated_at", "resolved_at", "closed_by", "closed_at")]
                            for a in c.alerts]),
        "deliveries.csv": _csv(["statement_id", "ref", "kind", "published_at_utc", "channel", "language", "state", "attempts",
                                "sent_at", "url", "error"], statements),
        "effects.csv": _csv(effect_header, _effect_csv_rows(c.effects, c.topic) + _effect_csv_rows(c.waves, c.topic)),
        "replies.csv": _csv(["reply_id", "created_at", "platform", "post_key", "template_id", "author", "approver", "state",
                             "sent_at", "text"],
                            [[r.get(k) for k in ("id", "created_at", "platform", "post_key", "template_id", "author",
                                                 "approver", "state", "sent_at", "text")] for r in c.replies]),
        "distribution_by_hour.csv": _csv(["hour_of_day", "tz", "posts", "negative"],
                                         [[h["hour"], d.get("tz") or c.tz, h["posts"], h["negative"]]
                                          for h in d.get("by_hour_of_day") or []]),
        "distribution_by_region.csv": _csv(["country", "region", "label", "posts", "negative", "share"],
                                           [[r.get(k) for k in ("country", "region", "label", "posts", "negative", "share")]
                                            for r in d.get("by_region") or []]),
        "top_posts.csv": _csv(["risk", "published_key", "platform", "post_key", "author", "followers", "url", "text",
                               "crisis_terms"],
                              [[p.get("risk"), p.get("published_key"), p.get("platform"), p.get("post_key"), p.get("author"),
                                p.get("followers"), p.get("url"), p.get("text"), "; ".join(p.get("crisis_terms") or [])]
                               for p in c.top_posts]),
        "crisis_terms.csv": _csv(["term", "posts"], [[t, n] for t, n in c.terms]),
        "lessons.csv": _csv(["alert_id", "level", "triggered_at", "closed_at", "closed_by", "cause", "lessons", "worked",
                             "change"],
                            [[x.alert_id, x.level, x.triggered_at, x.closed_at, x.closed_by, x.cause, x.lessons, x.worked,
                              x.change] for x in c.lessons]),
    }


__all__ = ["Drawn", "LEVELS", "ReportContent", "csv_files", "drawn_buckets", "level_steps", "render_html"]
