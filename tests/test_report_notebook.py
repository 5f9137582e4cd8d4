"""The helpers of the report notebook's hidden cells: figures side by side, tables, timers."""

from __future__ import annotations

import base64
import re

import matplotlib
import pytest
from matplotlib.figure import Figure

from innlab.report import _notebook


def figure(width: float, height: float = 2.0) -> Figure:
    fig = Figure(figsize=(width, height))
    fig.add_subplot().plot([0, 1], [1, 0])
    return fig


def _png_width(data: str) -> int:
    return int.from_bytes(base64.b64decode(data)[16:20], "big")


def widths(html: str) -> list[float]:
    return [float(w) for w in re.findall(r"flex:0 1 (\d+)px", html)]


def test_figures_sit_in_one_row_at_one_scale() -> None:
    html = _notebook.figures_html([figure(3), figure(6)], ["left", "right"])
    assert html.startswith('<div style="display:flex')
    assert html.count("data:image/png;base64,") == 2
    assert "<figcaption>left</figcaption>" in html and "<figcaption>right</figcaption>" in html
    pixels = [_png_width(data) for data in re.findall(r"base64,([^\"]+)", html)]
    small, large = widths(html)
    assert large / small == pytest.approx(pixels[1] / pixels[0], rel=0.02), "one scale"


def test_a_wide_row_shrinks_to_the_page() -> None:
    assert sum(widths(_notebook.figures_html([figure(3)]))) <= 3 * _notebook.PX_PER_INCH
    row = widths(_notebook.figures_html([figure(8), figure(8), figure(8)]))
    assert sum(row) <= _notebook.PAGE_PX
    with pytest.raises(ValueError, match="captions must have 2"):
        _notebook.figures_html([figure(1), figure(1)], ["one"])


def test_markdown_table_and_section_clock() -> None:
    assert _notebook.markdown_table([[1, "a"]], ["n", "s"]) == "| n | s |\n|---|---|\n| 1 | a |"
    clock = _notebook.SectionClock()
    clock.lap("1. Two moons")
    rows = clock.rows()
    assert [row[0] for row in rows] == ["1. Two moons", "all sections"]
    assert all(row[1].endswith(" s") for row in rows)
    assert _notebook._duration(125.4) == "2 min 5 s"


def test_prepare_kernel_sets_the_report_style() -> None:
    with matplotlib.rc_context():
        _notebook.prepare_kernel()
        assert matplotlib.rcParams["font.size"] == 9
    machine = dict(_notebook.machine_rows("smoke", 2))
    assert machine["preset"] == "smoke" and machine["worker processes"] == "2"
