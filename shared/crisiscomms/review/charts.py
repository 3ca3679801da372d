"""The report's charts: pygal, rendered to SVG for inlining in the page.

pygal was chosen over matplotlib's SVG backend by measurement (README, "Post-crisis report"): 1.9 MB
installed and about 50 ms to import against about 175 MB (numpy, Pillow, fontTools) and 0.8 s, and
its SVG keeps text as text, so a Chinese label is drawn by the reader's own fonts. It is not in the
shared layer: only the Reporter function installs it (functions/reporter/requirements.txt), and it
is imported inside these functions, so nothing else that imports this package needs it.

Every chart is built without pygal's JavaScript: `js=[]` drops its scripts and an XML filter (pygal's
`add_xml_filter`) the inline configuration script it always writes, so the page runs no script and
its Content-Security-Policy can forbid them. No XML declaration (it sits inside an HTML page), and a
viewBox with no fixed size, so it scales to the page and to paper.
Each point keeps pygal's `<desc class="value">` with its figure, which is what the tests read back.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

PALETTE = ("#1f5fa8", "#c0392b", "#2e8b57", "#d68910", "#7d3c98", "#148f9e", "#6e2c00", "#5d6d7e", "#b03a8a",
           "#3b6e22")
FONT = "'Noto Sans', 'Noto Sans CJK SC', 'Source Han Sans SC', 'PingFang SC', 'Microsoft YaHei', Arial, sans-serif"
WIDTH, HEIGHT = 960, 360
HALF_WIDTH = 560  # a chart drawn beside another


def _style() -> Any:
    from pygal.style import Style

    return Style(background="white", plot_background="white", foreground="#222", foreground_strong="#111",
                 foreground_subtle="#888", colors=PALETTE, font_family=FONT, label_font_size=11,
                 major_label_font_size=11, legend_font_size=12, title_font_size=15, value_font_size=10,
                 tooltip_font_size=11, opacity=".85", opacity_hover=".95", transition="none")


def _config(**extra: Any) -> dict[str, Any]:
    return {"js": [], "disable_xml_declaration": True, "explicit_size": False, "width": WIDTH, "height": HEIGHT,
            "style": _style(), "legend_at_bottom": True, "truncate_legend": 40, "truncate_label": 40,
            "no_data_text": "no data in this range", "show_minor_x_labels": False, "dots_size": 2, **extra}


def _major_every(count: int, wanted: int = 12) -> int:
    return max(1, -(-count // wanted))


def _without_scripts(root: Any) -> Any:
    """pygal's XML filter: every <script> element removed (tooltips are the only thing they drive)."""
    for parent in list(root.iter()):
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.rpartition("}")[2] == "script":
                parent.remove(child)
    return root


def _render(chart: Any) -> str:
    chart.add_xml_filter(_without_scripts)
    return str(chart.render(is_unicode=True))


FORMATS: dict[str, Callable[[float], str]] = {
    "count": lambda v: f"{v:,.0f}",
    "percent": lambda v: f"{v:.0%}",
    "signed": lambda v: f"{v:+.2f}",
}


def time_lines(title: str, labels: Sequence[str], lines: dict[str, Sequence[float | None]], *,
               y_title: str = "", value_format: str = "count", y_range: tuple[float, float] | None = None,
               width: int = WIDTH) -> str:
    """One line per key over the buckets `labels`; None is a bucket without a value (the line breaks there).
    `width` is the drawing's own width: a narrower one for a chart drawn at half the page keeps its text legible."""
    import pygal

    extra: dict[str, Any] = {"range": y_range} if y_range else {"include_x_axis": True}
    chart = pygal.Line(**_config(allow_interruptions=True, width=width, **extra))
    chart.config(title=title, y_title=y_title, value_formatter=FORMATS[value_format],
                 x_labels_major_every=_major_every(len(labels)), x_label_rotation=0)
    chart.x_labels = list(labels)
    for key, values in lines.items():
        chart.add(key, list(values))
    return _render(chart)


def bars(title: str, labels: Sequence[str], series: dict[str, Sequence[float | None]], *, horizontal: bool = False,
         y_title: str = "", value_format: str = "count", width: int = WIDTH) -> str:
    """Grouped bars: one group per label, one bar per series. Horizontal bars read from the top: the
    first label is drawn at the top (pygal draws it at the bottom, so the order is turned)."""
    import pygal

    if horizontal:
        labels = list(reversed(labels))
        series = {key: list(reversed(values)) for key, values in series.items()}

    formatter = FORMATS[value_format]
    kind = pygal.HorizontalBar if horizontal else pygal.Bar
    height = max(HEIGHT, 40 + 26 * len(labels) * max(1, len(series))) if horizontal else HEIGHT
    chart = kind(**_config(height=height, width=width, show_minor_x_labels=True))
    chart.config(title=title, y_title=y_title, value_formatter=formatter)
    chart.x_labels = list(labels)
    for key, values in series.items():
        chart.add(key, list(values))
    return _render(chart)


def level_steps(title: str, labels: Sequence[str], values: Sequence[int], names: Sequence[str]) -> str:
    """The topic's level in force in each bucket, on an axis of the level names."""
    import pygal

    chart = pygal.Line(**_config(range=(0, len(names) - 1), show_legend=False, fill=True, dots_size=1.5))
    chart.config(title=title, x_labels_major_every=_major_every(len(labels)), x_label_rotation=0,
                 y_labels=list(range(len(names))), value_formatter=lambda v: names[int(round(v))])
    chart.x_labels = list(labels)
    chart.add("level", list(values))
    return _render(chart)


__all__ = ["bars", "level_steps", "time_lines"]
