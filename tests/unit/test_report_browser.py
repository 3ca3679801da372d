"""The post-crisis report opened in headless Chromium (Debian's `chromium` package) as a reader would open it:
no console error, no blocked resource, nothing fetched but the page itself, every chart drawn with
visible lines and bars, and the page prints to PDF.

`.ci/run` installs Chromium and sets CRISISCOMMS_REQUIRE_CHROMIUM, so there a missing browser fails
the test; elsewhere it is skipped with the reason."""
from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from crisiscomms.review.report import gather
from crisiscomms.review.report_page import render_html
from crisiscomms_local import chromium

from .report_sample import RECORD, sources

REQUIRED = bool(os.environ.get("CRISISCOMMS_REQUIRE_CHROMIUM"))

# Run in the page: for each chart, its drawn size and what it draws (lines with length, bars with area).
MEASURE = """JSON.stringify(Array.from(document.querySelectorAll('figure.chart')).map(f => {
  const svg = f.querySelector('svg'); const box = svg.getBoundingClientRect();
  const lines = Array.from(svg.querySelectorAll('g.series path.line')).filter(p => p.getTotalLength() > 1).length;
  const bars = Array.from(svg.querySelectorAll('rect.rect')).filter(r => { const b = r.getBBox(); return b.width > 0 && b.height > 0; }).length;
  const dots = svg.querySelectorAll('circle.dot').length;
  return {id: f.id, width: box.width, height: box.height, lines: lines, bars: bars, dots: dots,
          title: (svg.querySelector('.title') || {}).textContent};
}))"""


def _browser_or_skip() -> None:
    if chromium.available():
        return
    if REQUIRED:
        pytest.fail(f"Chromium is required here (CRISISCOMMS_REQUIRE_CHROMIUM) but {chromium.binary()} is missing: "
                    "apt-get install chromium")
    pytest.skip(f"{chromium.binary()} is not installed (apt-get install chromium); .ci/run installs it")


def test_the_report_opens_without_errors_draws_every_chart_and_prints(tmp_path: Path) -> None:
    _browser_or_skip()
    page = tmp_path / "report.html"
    page.write_text(render_html(gather(sources(), RECORD, now=datetime(2026, 11, 28, 14, tzinfo=timezone.utc))),
                    encoding="utf-8")
    with chromium.Chromium() as browser:
        visit = browser.open(page, evaluate=MEASURE, pdf=True)
    assert visit.errors == [], visit.errors
    assert visit.requests == [page.resolve().as_uri()], "the page fetched something besides itself"
    charts = {c["id"]: c for c in json.loads(visit.value)}
    assert len(charts) == 9
    for chart in charts.values():
        assert chart["width"] > 300 and chart["height"] > 100, chart
        assert chart["lines"] + chart["bars"] > 0, f"{chart['id']} draws nothing"
    assert charts["chart-volume-by-platform"]["lines"] == 4, "one line per platform"
    assert charts["chart-volume-by-platform"]["dots"] == 4 * 48
    assert charts["chart-by-hour"]["bars"] == 8, "four busy hours, posts and negative"
    assert charts["chart-volume-by-platform"]["title"] == "Posts per 5 min, by platform"
    assert visit.pdf is not None and visit.pdf.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", visit.pdf))
    assert pages >= 3, f"printed on {pages} page(s)"


def test_a_page_that_breaks_the_rules_is_caught(tmp_path: Path) -> None:
    """The check itself: an inline script and an outside image are reported, so a clean page means something."""
    _browser_or_skip()
    page = tmp_path / "bad.html"
    html = render_html(gather(sources([]), RECORD, now=datetime(2026, 11, 28, 14, tzinfo=timezone.utc)))
    page.write_text(html.replace("</body>", '<script>console.error("x")</script><img src="https://example.com/a.png" /></body>'),
                    encoding="utf-8")
    with chromium.Chromium() as browser:
        visit = browser.open(page)
    assert len(visit.errors) == 2 and all("Content Security Policy" in e for e in visit.errors), visit.errors


def test_closing_the_browser_ends_its_helpers_and_removes_its_profile(tmp_path: Path) -> None:
    """Chromium's helpers (zygote, crash handler, renderers) outlived it and kept writing into its profile, whose
    removal then failed now and then ("Directory not empty"); three browsers in a row leave nothing behind."""
    import os

    _browser_or_skip()
    page = tmp_path / "empty.html"
    page.write_text("<!doctype html><title>t</title>", encoding="utf-8")
    for _ in range(3):
        with chromium.Chromium() as browser:
            browser.open(page)
            profile = browser.profile_dir
            assert profile is not None and os.path.isdir(profile)
        assert not os.path.exists(profile)
        running = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if profile.encode() in command and state != "Z":
                running.append(pid)
        assert running == [], f"processes of the closed browser still running: {running}"
