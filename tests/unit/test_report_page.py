"""The post-crisis report's page and CSV files, read back with an XML parser and compared with the records
they were made from (tests/unit/report_sample.py): every figure on the page, in its charts and in its
CSV files is the stored records' own."""
from __future__ import annotations

import csv
import io
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import defusedxml.ElementTree as SafeET
import pytest

from crisiscomms.models.series import point
from crisiscomms.review.report import gather
from crisiscomms.review.report_page import MAX_DRAWN, csv_files, drawn_buckets, render_html

from ..conftest import ROOT
from .report_sample import END, HOSTILE, RECORD, START, TOPIC, posts, series_of, sources

X = "{http://www.w3.org/1999/xhtml}"
SVG = "{http://www.w3.org/2000/svg}"
NOW = datetime(2026, 11, 28, 14, 0, tzinfo=timezone.utc)


def _page(links: list[dict[str, Any]] | None = None, **kwargs: Any) -> tuple[Any, str, dict[str, str]]:
    content = gather(sources(links, **kwargs), RECORD, now=NOW)
    html = render_html(content)
    assert html.startswith("<!DOCTYPE html>\n")
    return SafeET.fromstring(html.split("\n", 1)[1].encode("utf-8")), html, csv_files(content)


@pytest.fixture(scope="module")
def page() -> tuple[Any, str, dict[str, str]]:
    return _page()


def _by_id(root: Any, element_id: str) -> Any:
    found = [e for e in root.iter() if e.get("id") == element_id]
    assert len(found) == 1, element_id
    return found[0]


def _text(element: Any) -> str:
    return "".join(element.itertext())


def _chart_values(figure: Any) -> dict[str, list[tuple[str, str]]]:
    """A pygal chart's points per series: the legend names series 0..n in order (a chart without a
    legend: "0".."n"), each point's <desc class="value"> and <desc class="x_label">."""
    svg = figure.find(f"{SVG}svg")
    assert svg is not None
    names = [_text(g.find(f"{SVG}text")) for g in svg.iter(f"{SVG}g") if g.get("id", "").startswith("activate-serie-")]
    out: dict[str, list[tuple[str, str]]] = {}
    for series in svg.iter(f"{SVG}g"):
        classes = (series.get("class") or "").split()
        if "series" not in classes:
            continue
        index = int(next(c for c in classes if c.startswith("serie-")).split("-")[1])
        points = []
        for dot in series.iter(f"{SVG}g"):
            descs = {d.get("class"): _text(d) for d in dot.findall(f"{SVG}desc")}
            if "value" in descs:
                points.append((descs.get("x_label", ""), descs["value"]))
        out.setdefault(names[index] if names else str(index), []).extend(points)
    return out


def _count(value: str) -> int:
    return int(value.replace(",", ""))


def _negative(link: dict[str, Any]) -> bool:
    return link["sentiment"] <= -0.25


def test_the_page_is_one_well_formed_document_that_runs_nothing_and_fetches_nothing(page: Any) -> None:
    root, html, _ = page
    assert root.tag == f"{X}html"
    tags = Counter(e.tag.rpartition("}")[2] for e in root.iter() if isinstance(e.tag, str))
    assert tags["script"] == 0 and tags["iframe"] == 0 and tags["img"] == 0 and tags["link"] == 0 and tags["object"] == 0
    assert tags["svg"] == 9, "every chart is inline SVG"
    policy = next(m.get("content") for m in root.iter(f"{X}meta") if m.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in policy and "script-src" not in policy
    for element in root.iter():
        for name, value in element.attrib.items():
            if name.rpartition("}")[2] in ("src", "href") and element.tag != f"{X}a":
                raise AssertionError(f"{element.tag} refers to {value}")
            assert not name.startswith("on"), f"event handler {name} on {element.tag}"
    assert "@media print" in html and "@page" in html and "break-inside: avoid" in html


def test_the_per_platform_figures_in_the_table_and_the_chart_are_the_stored_posts(page: Any) -> None:
    root, _, _ = page
    links = posts()
    stored = Counter(link["platform"] for link in links)
    negative = Counter(link["platform"] for link in links if _negative(link))
    crisis = Counter(link["platform"] for link in links if link["is_crisis"])
    rows = {row.get("data-platform"): {td.get("data-figure"): int(_text(td).replace(",", "")) for td in row
                                       if td.get("data-figure")}
            for row in _by_id(root, "platform-totals").iter(f"{X}tr") if row.get("data-platform")}
    assert {p: r["posts"] for p, r in rows.items()} == dict(stored)
    assert {p: r["negative"] for p, r in rows.items()} == {p: negative[p] for p in stored}
    assert {p: r["crisis_posts"] for p, r in rows.items()} == {p: crisis[p] for p in stored}
    summary = {d.get("data-figure"): _text(d.find(f"{X}b")) for d in _by_id(root, "summary").iter(f"{X}div")
               if d.get("data-figure")}
    assert _count(summary["posts"]) == len(links)
    assert summary["highest_level"] == "CRISIS"

    chart = _chart_values(_by_id(root, "chart-volume-by-platform"))
    assert set(chart) == set(stored)
    assert {p: sum(_count(v) for _, v in points) for p, points in chart.items()} == dict(stored)
    assert all(len(points) == 48 for points in chart.values()), "four hours in 5-minute buckets"
    per_bucket = Counter((link["platform"], (int(link["published_key"][11:13]) - 9) * 12 + int(link["published_key"][14:16]) // 5)
                         for link in links)
    for platform, points in chart.items():
        assert [_count(v) for _, v in points] == [per_bucket[(platform, n)] for n in range(48)]
    assert chart["weibo"][0][0] == "17:00" and chart["weibo"][-1][0] == "20:55", "clock times in Asia/Shanghai"


def test_negative_share_and_sentiment_lines_leave_empty_buckets_empty(page: Any) -> None:
    root, _, _ = page
    shares = _chart_values(_by_id(root, "chart-negative-by-platform"))
    volume = _chart_values(_by_id(root, "chart-volume-by-platform"))
    for platform, points in volume.items():
        with_posts = [label for label, value in points if _count(value) > 0]
        assert [label for label, _ in shares[platform]] == with_posts
    assert all(value.endswith("%") for points in shares.values() for _, value in points)


def test_social_and_news_are_drawn_side_by_side_from_the_same_records(page: Any) -> None:
    root, _, _ = page
    links = posts()
    by_type = Counter(link["source_type"] for link in links)
    chart = _chart_values(_by_id(root, "chart-volume-by-source"))
    assert {k: sum(_count(v) for _, v in pts) for k, pts in chart.items()} == {"social": by_type["social"], "news": by_type["news"]}
    pair = _by_id(root, "social-news").find(f"{X}div")
    assert pair.get("class") == "pair" and len(pair.findall(f"{X}figure")) == 2
    rows = {r.get("data-source-type"): int(_text(r.find(f"{X}td[@data-figure='posts']")))
            for r in _by_id(root, "source-type-totals").iter(f"{X}tr") if r.get("data-source-type")}
    assert rows == {"social": by_type["social"], "news": by_type["news"]}


def test_levels_alerts_statements_replies_distribution_and_lessons_are_on_the_page(page: Any) -> None:
    root, _, _ = page
    levels = _chart_values(_by_id(root, "chart-levels"))["0"]
    assert levels[0] == ("17:00", "WATCH"), "the level in force when the range starts (changed before it)"
    assert dict(levels)["18:10"] == "WARNING" and dict(levels)["18:40"] == "CRISIS" and dict(levels)["20:55"] == "WATCH"
    changes = [(_text(r[1]), _text(r[2])) for r in _by_id(root, "level-changes").iter(f"{X}tr") if r.get("data-level")]
    assert changes == [("WATCH", "WARNING"), ("WARNING", "CRISIS"), ("CRISIS", "WATCH")]
    alert = next(r for r in _by_id(root, "alerts-table").iter(f"{X}tr") if r.get("data-alert"))
    assert "chen, 2026-11-28 18:15" in _text(alert), "who acknowledged, and when (local time)"

    statement = next(d for d in _by_id(root, "statements").iter(f"{X}div") if d.get("data-statement"))
    deliveries = {r.get("data-channel"): _text(r) for r in statement.iter(f"{X}tr") if r.get("data-channel")}
    assert "SENT" in deliveries["weibo"] and "https://weibo.example/1" in deliveries["weibo"]
    assert "FAILED" in deliveries["webhook"] and "HTTP 503" in deliveries["webhook"]
    effects = [(r.get("data-stage"), _text(r.find(f"{X}td[@data-figure='recommendation']")),
                _text(r.find(f"{X}td[@data-figure='volume_before']")), _text(r.find(f"{X}td[@data-figure='volume_after']")))
               for r in statement.iter(f"{X}tr") if r.get("data-stage")]
    assert effects == [("after", "revise", "120", "160"), ("plus2h", "revise", "120", "160")]
    bars = _chart_values(_by_id(root, "chart-effects"))
    assert [v for _, v in bars["before"]] == ["120", "120"] and [v for _, v in bars["after"]] == ["160", "160"]
    reply = next(r for r in _by_id(root, "replies-table").iter(f"{X}tr") if r.get("data-reply"))
    assert "template tp-1" in _text(reply) and "SENT" in _text(reply)

    hours = _chart_values(_by_id(root, "chart-by-hour"))
    assert sum(_count(v) for _, v in hours["posts"]) == 400 and dict(hours["posts"])["18"] == "100"
    lessons = _by_id(root, "lessons-list")
    assert "ATM outage rumour" in _text(lessons) and "early holding statement" in _text(lessons)


def test_text_people_wrote_is_shown_as_text_never_as_markup(page: Any) -> None:
    root, html, _ = page
    assert HOSTILE not in html and "&lt;script&gt;" in html
    lessons = _text(_by_id(root, "lessons-list"))
    assert HOSTILE in lessons, "the lesson reads exactly as written"
    assert sum(1 for e in root.iter() if e.tag.rpartition("}")[2] == "b") == 8 + 1, "no <b> smuggled in from a post"


def test_every_series_is_a_csv_file_with_the_same_figures(page: Any) -> None:
    root, _, files = page
    links = posts()
    timeline = list(csv.DictReader(io.StringIO(files["timeline_by_platform.csv"])))
    totals: Counter[str] = Counter()
    for row in timeline:
        totals[row["key"]] += int(row["posts"])
    assert totals == Counter(link["platform"] for link in links)
    by_type = list(csv.DictReader(io.StringIO(files["timeline_by_source_type.csv"])))
    assert sum(int(r["posts"]) for r in by_type) == len(links)
    assert {r["bucket_start_utc"] for r in timeline} == {f"{START + timedelta(minutes=5 * n):%Y-%m-%dT%H:%M:%SZ}" for n in range(48)}
    named = {e.get("data-csv") for e in root.iter() if e.get("data-csv")}
    assert named <= set(files), "every chart and table names a CSV file that exists"
    listed = [_text(li) for li in _by_id(root, "data").iter(f"{X}li")]
    assert listed == sorted(files)
    levels = list(csv.DictReader(io.StringIO(files["levels.csv"])))
    assert [r["highest_level"] for r in levels][:1] == ["WATCH"] and len(levels) == 48


def test_a_csv_cell_someone_wrote_is_never_a_spreadsheet_formula(page: Any) -> None:
    _, _, files = page
    reply = next(csv.DictReader(io.StringIO(files["replies.csv"])))
    assert reply["text"] == "'=1+1 您好"
    lesson = next(csv.DictReader(io.StringIO(files["lessons.csv"])))
    assert lesson["lessons"] == HOSTILE, "text not starting like a formula is kept as written"
    timeline = next(csv.DictReader(io.StringIO(files["timeline_by_platform.csv"])))
    assert not timeline["net_sentiment"].startswith("'"), "numbers are numbers, negative ones too"


def test_an_empty_range_still_makes_a_whole_page() -> None:
    root, _, files = _page([], lessons=False)
    assert _by_id(root, "platform-totals").tag == f"{X}p"
    assert _text(_by_id(root, "lessons-list")).startswith("No alert")
    assert list(csv.DictReader(io.StringIO(files["platform_totals.csv"]))) == []


@pytest.mark.parametrize(("span", "bucket", "minutes", "count"), [
    (timedelta(minutes=45), "minute", 1, 45),
    (timedelta(hours=4), "minute", 5, 48),
    (timedelta(hours=26), "minute", 30, 52),
    (timedelta(days=30), "hour", 720, 60),
    (timedelta(days=91), "hour", 1440, 91),
])
def test_timelines_use_the_narrowest_bucket_that_fits_and_keep_every_post(span: timedelta, bucket: str, minutes: int,
                                                                         count: int) -> None:
    links = [dict(link, published_key=f"{START + (span * n) / 600:%Y-%m-%dT%H:%M:%SZ}#{link['post_key']}")
             for n, link in enumerate(posts()[:600])]
    series = series_of(links, TOPIC, START, START + span, bucket)
    drawn = drawn_buckets(series)
    assert drawn.width == timedelta(minutes=minutes) and len(drawn.starts) == count <= MAX_DRAWN
    for platform, points in drawn.platforms.items():
        line = series.platform(platform)
        assert line is not None and sum(p.posts for p in points) == line.total.posts
        assert sum(p.negative for p in points) == line.total.negative
        assert round(sum(p.sentiment_sum for p in points), 3) == round(line.total.sentiment_sum, 3)


def test_a_bucket_s_shares_are_worked_out_from_its_sums() -> None:
    assert point(START, 4, 1, 0, -1.0).negative_share == 0.25 and point(START, 0, 0, 0, 0.0).net_sentiment == 0.0


def test_the_api_and_every_function_but_the_reporter_load_without_the_charting_library() -> None:
    code = ("import sys\nimport crisiscomms.api, crisiscomms.wiring, crisiscomms.review.report\n"
            "assert 'pygal' not in sys.modules, 'pygal imported'\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert END > START
