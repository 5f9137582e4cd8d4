"""What the report notebook's hidden cells use to show its results: sentences, tables, figures
side by side, the results-at-a-glance table and the wall time of each section."""

from __future__ import annotations

import base64
import io
import math
import os
import platform
import time
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from IPython.display import HTML, Markdown, display
from matplotlib.figure import Figure
from tqdm import TqdmWarning

from innlab.plots import _use_style

PAGE_PX = 960
"""Width of a row of figures in the HTML, in CSS pixels."""
PX_PER_INCH = 96
"""Display scale of a figure, unless its row is wider than the page."""
DPI = 150
"""Resolution of the figures' PNGs (sharper than the display scale)."""
GLANCE = "at-a-glance"


def prepare_kernel() -> None:
    """Set the report's figure style and import ``tqdm.auto`` quietly: in a kernel without
    ipywidgets that import (by innlab's training loop) warns into the notebook, and the report
    shows no progress bars there anyway (training progress goes to the builder's terminal)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmWarning)
        import tqdm.auto  # noqa: F401
    _use_style()


def say(text: str) -> None:
    """Show a paragraph of generated text."""
    display(Markdown(text))


def markdown_table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A Markdown table of ``rows`` under ``header``."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    """Show a Markdown table."""
    display(Markdown(markdown_table(rows, header)))


def _png(figure: Figure) -> tuple[str, int, int]:
    """``figure`` as a base64 PNG with its width and height in pixels."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    data = buffer.getvalue()
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return base64.b64encode(data).decode("ascii"), width, height


def figures_html(figures: Sequence[Figure], captions: Sequence[str] | None = None) -> str:
    """One row of ``figures`` (with ``captions`` under them) at one scale that fits the page;
    a narrower page shrinks the row as a whole."""
    if captions is not None and len(captions) != len(figures):
        raise ValueError(f"captions must have {len(figures)} entries, got {len(captions)}")
    pngs = [_png(figure) for figure in figures]
    inches = sum(width for _, width, _ in pngs) / DPI
    scale = min(PX_PER_INCH, (PAGE_PX - 16 * (len(pngs) - 1)) / inches)
    total = sum(width * scale / DPI for _, width, _ in pngs)
    items = []
    for k, (data, width, _) in enumerate(pngs):
        shown = width * scale / DPI
        caption = "" if captions is None else f"<figcaption>{captions[k]}</figcaption>"
        items.append(
            f'<figure style="margin:0;flex:0 1 {shown:.0f}px;max-width:{100 * shown / total:.1f}%">'
            f'<img src="data:image/png;base64,{data}" style="width:100%;height:auto" '
            f'alt="figure">{caption}</figure>'
        )
    row = "".join(items)
    return f'<div style="display:flex;gap:16px;align-items:flex-start">{row}</div>'


def show(*figures: Figure, captions: Sequence[str] | None = None) -> None:
    """Show ``figures`` side by side in one row that fits the page."""
    display(HTML(figures_html(figures, captions)))


class Glance:
    """The results-at-a-glance table, shown where it is created and updated there by every
    :meth:`add` (the rows come in as the sections run)."""

    header = ("experiment", "measure", "value", "reference")

    def __init__(self) -> None:
        self.rows: list[list[Any]] = []
        self._handle = display(Markdown("*(no results yet)*"), display_id=GLANCE)

    def add(self, experiment: str, *rows: tuple[str, Any, str]) -> None:
        """Rows of (measure, value, reference) of ``experiment``."""
        self.rows += [[experiment, *row] for row in rows]
        if self._handle is not None:
            self._handle.update(Markdown(markdown_table(self.rows, self.header)))


class SectionClock:
    """Wall time of each section: :meth:`lap` at the end of a section takes the time since
    the previous lap (or since the clock was made)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._start = self._last = time.perf_counter()

    def lap(self, section: str) -> None:
        now = time.perf_counter()
        self.laps[section] = now - self._last
        self._last = now

    def rows(self) -> list[list[str]]:
        """One row per section with its wall time, and the total."""
        rows = [[name, _duration(seconds)] for name, seconds in self.laps.items()]
        return [*rows, ["all sections", _duration(self._last - self._start)]]


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{seconds:.1f} s"


def uniform_bits(data: Any) -> str:
    """The bits/dim of a density uniform over the pixel range of image set ``data``: what a
    model that learned nothing scores."""
    return f"uniform density: {math.log2(data.prep.levels):.2f}"


def machine_rows(preset: str, workers: int) -> list[list[str]]:
    """The machine and the settings this report ran with."""
    return [
        ["preset", preset],
        ["CPU cores", str(os.cpu_count() or "unknown")],
        ["worker processes", str(workers)],
        ["processor", platform.processor() or platform.machine()],
        ["operating system", platform.platform(terse=True)],
        ["Python", platform.python_version()],
        ["torch", torch.__version__],
    ]
