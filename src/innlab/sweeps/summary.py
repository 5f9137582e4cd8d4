"""Summaries of sweep records: mean and spread over seeds per configuration, as a table and plots.

Only records matter here, never the executor that produced them. The *swept* settings are those
whose values differ between the configurations in the records (hyperparameters, and data-set
options as ``data.<key>``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # matplotlib is imported where figures are drawn, not by sweep workers
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["METRIC_ORDER", "SummaryRow", "format_table", "plot_summary", "summarize", "write_plots"]

METRIC_ORDER = (
    "test_nll",
    "nll_gap",
    "mmd",
    "c2st_accuracy",
    "mode_balance",
    "outlier_share",
    "oracle_accuracy",
    "parameters",
    "train_seconds",
)
"""Metrics shown by default, in this order (others, e.g. ``eval_seconds``, on request)."""


@dataclass(frozen=True)
class SummaryRow:
    """One configuration: its swept settings and its metrics over the successful seeds.

    Attributes:
        config_id: identity of the configuration (shared by its seeds).
        settings: the configuration's value of every swept setting.
        seeds: number of successful trials; ``failed``: number of diverged ones.
        mean, std: per metric, the mean and sample standard deviation (``ddof=1``; NaN for a
            single seed) over the seeds with a finite value.
    """

    config_id: str
    settings: dict[str, Any]
    seeds: int
    failed: int
    mean: dict[str, float]
    std: dict[str, float]


def _flat_settings(record: Mapping[str, Any]) -> dict[str, Any]:
    trial = record["trial"]
    data = {f"data.{k}": v for k, v in trial["data"].items()}
    return {**trial["params"], **{k: _hashable(v) for k, v in data.items()}}


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def summarize(records: Iterable[Mapping[str, Any]]) -> list[SummaryRow]:
    """Group ``records`` by configuration; rows sorted by their swept settings."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        groups.setdefault(record["config_id"], []).append(record)
    settings = {cid: _flat_settings(group[0]) for cid, group in groups.items()}
    keys = sorted({k for s in settings.values() for k in s})
    swept = [k for k in keys if len({s.get(k) for s in settings.values()}) > 1]
    rows = []
    for config_id, group in groups.items():
        ok = [r for r in group if r["status"] == "ok"]
        names = {k for r in ok for k in r["metrics"]}
        mean, std = {}, {}
        for name in names:
            values = [r["metrics"].get(name) for r in ok]
            finite = np.array([v for v in values if v is not None and math.isfinite(v)])
            mean[name] = float(finite.mean()) if finite.size else math.nan
            std[name] = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
        rows.append(
            SummaryRow(
                config_id=config_id,
                settings={k: settings[config_id].get(k) for k in swept},
                seeds=len(ok),
                failed=len(group) - len(ok),
                mean=mean,
                std=std,
            )
        )
    return sorted(rows, key=lambda row: [_sort_key(v) for v in row.settings.values()])


def _sort_key(value: Any) -> tuple[str, Any]:
    return (type(value).__name__, value)


def _metrics(rows: Sequence[SummaryRow], metrics: Sequence[str] | None) -> list[str]:
    available = {k for row in rows for k in row.mean}
    return [m for m in (METRIC_ORDER if metrics is None else metrics) if m in available]


def _cell(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "-"
    if math.isnan(std) or std == 0:
        return f"{mean:.4g}"
    return f"{mean:.4g} ± {std:.2g}"


def format_table(rows: Sequence[SummaryRow], metrics: Sequence[str] | None = None) -> str:
    """A plain-text table: swept settings, seeds (and failures), ``mean ± std`` per metric."""
    names = _metrics(rows, metrics)
    swept = list(rows[0].settings) if rows else []
    header = [*swept, "seeds", *names]
    body = [
        [
            *(str(row.settings[k]) for k in swept),
            f"{row.seeds}" + (f" ({row.failed} failed)" if row.failed else ""),
            *(_cell(row.mean.get(m, math.nan), row.std.get(m, math.nan)) for m in names),
        ]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True))
        for line in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def plot_summary(
    rows: Sequence[SummaryRow], metrics: Sequence[str] | None = None
) -> dict[str, Figure]:
    """One figure per metric, with one panel per swept setting: mean ± std over seeds against
    the setting's values. Configurations that agree in every other swept setting form a line;
    settings with a single value, or lines of one point, are left out.

    Returns:
        ``{metric: Figure}`` (matplotlib's Figure API; save with ``fig.savefig``); empty when
        nothing was swept.
    """
    swept = list(rows[0].settings) if rows else []
    figures = {}
    for metric in _metrics(rows, metrics):
        panels = [(key, lines) for key in swept if (lines := _lines(rows, key, metric))]
        if not panels:
            continue
        from matplotlib.figure import Figure

        figure = Figure(figsize=(3.6 * len(panels), 3.2), layout="constrained")
        axes = figure.subplots(1, len(panels), squeeze=False)[0]
        for ax, (key, lines) in zip(axes, panels, strict=True):
            _draw_panel(ax, key, lines)
            ax.set_ylabel(metric)
        figures[metric] = figure
    return figures


Line = tuple[str, list[tuple[Any, float, float]]]


def _lines(rows: Sequence[SummaryRow], key: str, metric: str) -> list[Line]:
    """``(label, [(x, mean, std), ...])`` per group of rows equal in every other setting."""
    groups: dict[tuple[Any, ...], list[tuple[Any, float, float]]] = {}
    for row in rows:
        mean = row.mean.get(metric, math.nan)
        if math.isnan(mean):
            continue
        others = tuple((k, v) for k, v in row.settings.items() if k != key)
        groups.setdefault(others, []).append((row.settings[key], mean, row.std[metric]))
    return [
        (", ".join(f"{k}={v}" for k, v in others), sorted(points, key=lambda p: _sort_key(p[0])))
        for others, points in groups.items()
        if len({p[0] for p in points}) > 1
    ]


def _draw_panel(ax: Axes, key: str, lines: Sequence[Line]) -> None:
    values = sorted({p[0] for _, points in lines for p in points}, key=_sort_key)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    for label, points in lines:
        xs = [p[0] if numeric else values.index(p[0]) for p in points]
        stds = [0.0 if math.isnan(p[2]) else p[2] for p in points]
        ax.errorbar(xs, [p[1] for p in points], yerr=stds, marker="o", capsize=3, label=label)
    if numeric and min(values) > 0 and max(values) / min(values) >= 10:
        ax.set_xscale("log")
    ax.set_xticks(
        values if numeric else range(len(values)), [f"{v:g}" if numeric else str(v) for v in values]
    )
    ax.minorticks_off()
    ax.set_xlabel(key)
    if len(lines) > 1:
        ax.legend(fontsize="x-small")
    ax.grid(alpha=0.3)


def write_plots(figures: Mapping[str, Figure], folder: str | Path) -> list[Path]:
    """Save each figure as ``folder/<metric>.png``; returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for metric, figure in figures.items():
        path = folder / f"{metric}.png"
        figure.savefig(path, dpi=120)
        paths.append(path)
    return paths
