"""Figures for flows: samples, densities, code-space checks, image grids and sweep curves.

Every function builds a ``matplotlib.figure.Figure`` with the object API (no pyplot state, safe
under the Agg backend and in worker processes) and returns it; :func:`save_figure` writes a PNG.
Point clouds are subsampled to ``max_points`` with a fixed seed so figures are reproducible.
The report draws every figure, these and the experiments' own, in one style (``_STYLE``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.style
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from matplotlib.ticker import NullFormatter
from scipy import stats

from innlab._validation import check_labels, check_matrix, check_positive_int

__all__ = [
    "plot_code_histograms",
    "plot_code_projections",
    "plot_density",
    "plot_image_grid",
    "plot_metric_sweep",
    "plot_qq",
    "plot_samples",
    "save_figure",
]

_PANEL = 3.0  # inches per panel side
_SIGMAS = (1, 2, 3)
_STYLE: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.grid": False,
    "image.cmap": "viridis",
    "lines.linewidth": 1.5,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}
"""The style of the report's figures: matplotlib rcParams that :func:`_use_style` sets."""


def _use_style() -> None:
    """Draw every later figure of this process in the report's style (``_STYLE``)."""
    matplotlib.style.use(_STYLE)


def plot_samples(
    samples: Any,
    reference: Any = None,
    *,
    sample_labels: Any = None,
    reference_labels: Any = None,
    titles: tuple[str, str] = ("generated", "test data"),
    max_points: int = 5000,
) -> Figure:
    """Scatter plots of 2-D ``samples`` ``(n, 2)`` and, on a second panel with the same axis
    limits, ``reference`` ``(m, 2)`` (e.g. test data).

    ``sample_labels`` / ``reference_labels`` (int ``(n,)`` / ``(m,)``) colour points by class.
    One axes, or two with a reference.
    """
    clouds = [(_points(samples, "samples", columns=2), sample_labels, "sample_labels")]
    if reference is not None:
        clouds.append(
            (_points(reference, "reference", columns=2), reference_labels, "reference_labels")
        )
    fig, axes = _panels(len(clouds), ncols=2)
    for ax, (points, labels, name), title in zip(axes, clouds, titles[: len(clouds)], strict=True):
        chosen = _subsample(len(points), max_points)
        colour: dict[str, Any] = {}
        if labels is not None:
            classes = check_labels(labels, name, rows=len(points)).numpy()
            colour = {"c": classes[chosen], "cmap": "tab10", "vmin": 0, "vmax": 9}
        ax.scatter(points[chosen, 0], points[chosen, 1], s=2, **colour)
        ax.set_title(title)
    if len(axes) == 2:
        axes[1].sharex(axes[0])
        axes[1].sharey(axes[0])
    return fig


def plot_density(
    log_prob_fn: Callable[[torch.Tensor], Any],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    *,
    resolution: int = 200,
    log_scale: bool = False,
    points: Any = None,
    title: str = "density",
) -> Figure:
    """Heat map of a 2-D density from ``log_prob_fn`` on a ``resolution x resolution`` grid.

    Args:
        log_prob_fn: maps points ``(k, 2)`` (float64 tensor) to log densities ``(k,)`` in nats,
            e.g. ``lambda pts: model.log_prob(pts)``; called once, without gradients.
        xlim, ylim: the plotted ranges.
        log_scale: show the log density instead of the density.
        points: optional ``(n, 2)`` points drawn on top (e.g. a few test points).

    Returns:
        A figure with two axes: the map and its colour bar.
    """
    resolution = check_positive_int(resolution, "resolution")
    xs = np.linspace(*xlim, resolution)
    ys = np.linspace(*ylim, resolution)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    with torch.no_grad():
        values = log_prob_fn(torch.from_numpy(grid))
    values = torch.as_tensor(values).detach().cpu().double().numpy().reshape(-1)
    if values.shape[0] != grid.shape[0]:
        raise ValueError(
            f"log_prob_fn must return {grid.shape[0]} values (one per grid point), "
            f"got shape {values.shape}"
        )
    shown = values if log_scale else np.exp(values)
    fig, (ax,) = _panels(1, ncols=1, size=4.0)
    mesh = ax.pcolormesh(xs, ys, np.ma.masked_invalid(shown.reshape(resolution, resolution)))
    fig.colorbar(mesh, ax=ax, label="log density" if log_scale else "density")
    if points is not None:
        extra = _points(points, "points", columns=2)
        ax.scatter(extra[:, 0], extra[:, 1], s=2, c="white", alpha=0.5)
    ax.set(title=title, xlim=xlim, ylim=ylim)
    return fig


def plot_code_projections(
    z: Any,
    *,
    pairs: Sequence[tuple[int, int]] | None = None,
    random_projections: int | None = None,
    seed: int = 0,
    max_points: int = 5000,
    ncols: int = 3,
) -> Figure:
    """2-D views of codes ``z`` ``(n, d)`` with the 1, 2 and 3 sigma circles of N(0, I).

    Args:
        pairs: dimension pairs to plot; default ``(0, 1), (2, 3), (4, 5)`` as far as ``d`` allows.
        random_projections: extra panels projecting onto random orthonormal 2-frames (each the
            projection of N(0, I) is again standard normal); default 3 for ``d > 2``, else 0.
        seed: seeds the projections and the subsample.

    Returns:
        One axes per pair and projection.
    """
    codes = _points(z, "z")
    dims = codes.shape[1]
    if dims < 2:
        raise ValueError(f"z must have at least 2 columns, got shape {codes.shape}")
    if pairs is None:
        pairs = [(2 * k, 2 * k + 1) for k in range(min(3, dims // 2))]
    for a, b in pairs:
        if not (0 <= a < dims and 0 <= b < dims) or a == b:
            raise ValueError(f"pairs must hold two different dims in [0, {dims}), got {(a, b)}")
    if random_projections is None:
        random_projections = 3 if dims > 2 else 0
    count = len(pairs) + random_projections
    if count == 0:
        raise ValueError("nothing to plot: pairs is empty and random_projections is 0")
    generator = torch.Generator().manual_seed(seed)
    codes = codes[_subsample(len(codes), max_points, seed)]
    views = [(codes[:, [a, b]], f"dims {a}, {b}") for a, b in pairs]
    for k in range(random_projections):
        frame, _ = torch.linalg.qr(torch.randn(dims, 2, generator=generator, dtype=torch.float64))
        views.append((codes @ frame.numpy(), f"random projection {k + 1}"))
    fig, axes = _panels(count, ncols=ncols)
    for ax, (view, title) in zip(axes, views, strict=True):
        ax.scatter(view[:, 0], view[:, 1], s=2, alpha=0.5)
        for radius in _SIGMAS:
            ax.add_patch(Circle((0, 0), radius, fill=False, color="black", lw=0.8, ls="--"))
        ax.set(title=title, xlim=(-4, 4), ylim=(-4, 4), aspect="equal")
    return fig


def plot_qq(z: Any, *, dims: Sequence[int] | None = None, ncols: int = 4) -> Figure:
    """Q-Q plots of code dimensions against N(0, 1), one axes per dimension.

    ``dims`` defaults to the first ``min(d, 8)``; points on the diagonal mean a standard normal
    marginal. At most 1000 quantiles are drawn per panel.
    """
    codes = _points(z, "z")
    dims = _check_dims(dims, codes.shape[1])
    levels = (np.arange(min(len(codes), 1000)) + 0.5) / min(len(codes), 1000)
    theoretical = stats.norm.ppf(levels)
    fig, axes = _panels(len(dims), ncols=ncols)
    for ax, j in zip(axes, dims, strict=True):
        ax.scatter(theoretical, np.quantile(codes[:, j], levels), s=3)
        ax.axline((0, 0), slope=1, color="black", lw=0.8, ls="--")
        ax.set(title=f"dim {j}", xlabel="N(0, 1) quantile", ylabel="code quantile")
    return fig


def plot_code_histograms(
    z: Any, *, dims: Sequence[int] | None = None, bins: int = 40, ncols: int = 4
) -> Figure:
    """Histograms (as densities) of code dimensions with the N(0, 1) pdf, one axes per dimension.

    ``dims`` defaults to the first ``min(d, 8)``.
    """
    codes = _points(z, "z")
    dims = _check_dims(dims, codes.shape[1])
    bins = check_positive_int(bins, "bins")
    grid = np.linspace(-4, 4, 200)
    fig, axes = _panels(len(dims), ncols=ncols)
    for ax, j in zip(axes, dims, strict=True):
        ax.hist(codes[:, j], bins=bins, density=True, alpha=0.6)
        ax.plot(grid, stats.norm.pdf(grid), color="black", lw=1)
        ax.set(title=f"dim {j}", xlim=(-4, 4))
    return fig


def plot_image_grid(
    images: Any,
    *,
    image_shape: tuple[int, int] = (8, 8),
    row_labels: Sequence[Any] | None = None,
    ncols: int | None = None,
    value_range: tuple[float, float] | None = None,
    title: str | None = None,
) -> Figure:
    """A grid of small grey-scale images, drawn as one mosaic in a single axes.

    Args:
        images: flattened images ``(n, h * w)``, or ``(C, num, h * w)`` from a conditional
            ``sample``, one row per condition.
        image_shape: ``(h, w)``.
        row_labels: one label per grid row (e.g. the requested digit), shown on the left.
        ncols: images per row for flat input (default ``ceil(sqrt(n))``); ``(C, num, h * w)``
            input always has ``num`` columns.
        value_range: grey-scale limits (default: the data range).
    """
    h, w = image_shape
    array = images.detach().cpu().numpy() if torch.is_tensor(images) else np.asarray(images)
    if array.ndim == 3:
        rows, ncols = array.shape[0], array.shape[1]
        array = array.reshape(rows * ncols, -1)
    array = _points(array, "images", columns=h * w)
    n = len(array)
    ncols = check_positive_int(ncols, "ncols") if ncols is not None else math.ceil(math.sqrt(n))
    rows = math.ceil(n / ncols)
    if row_labels is not None and len(row_labels) != rows:
        raise ValueError(
            f"row_labels must have {rows} entries (one per row), got {len(row_labels)}"
        )
    mosaic = np.full((rows * (h + 1) - 1, ncols * (w + 1) - 1), np.nan)
    for k, image in enumerate(array):
        r, c = divmod(k, ncols)
        mosaic[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = image.reshape(h, w)
    low, high = value_range if value_range is not None else (array.min(), array.max())
    fig = Figure(figsize=(0.5 * ncols + 0.6, 0.5 * rows + 0.4), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(np.ma.masked_invalid(mosaic), cmap="gray", vmin=low, vmax=high)
    ax.set_xticks([])
    if row_labels is None:
        ax.set_yticks([])
    else:
        ax.set_yticks(
            [r * (h + 1) + h / 2 - 0.5 for r in range(rows)], [str(x) for x in row_labels]
        )
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    if title is not None:
        ax.set_title(title)
    return fig


def plot_metric_sweep(
    curves: Mapping[str, Mapping[float, Sequence[float]]],
    *,
    xlabel: str,
    ylabel: str,
    logx: bool = False,
    logy: bool = False,
    title: str | None = None,
) -> Figure:
    """A metric against a hyperparameter: mean over seeds with standard-deviation error bars.

    Args:
        curves: ``{series name: {hyperparameter value: [metric value per seed, ...]}}``.
        xlabel, ylabel: axis labels (name the units).
        logx, logy: logarithmic axes.

    Returns:
        One axes; one line per series, individual seeds as faint dots.
    """
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError(f"curves must be a non-empty mapping of series, got {curves!r}")
    fig = Figure(figsize=(4.0, 3.0), layout="constrained")
    ax = fig.add_subplot()
    for name, by_value in curves.items():
        if not isinstance(by_value, Mapping) or not by_value:
            raise ValueError(f"curves[{name!r}] must map hyperparameter values to lists of values")
        xs = sorted(by_value)
        runs = [np.asarray(by_value[x], dtype=np.float64).reshape(-1) for x in xs]
        if any(r.size == 0 for r in runs):
            raise ValueError(f"curves[{name!r}] has a hyperparameter value without results")
        means = [r.mean() for r in runs]
        spreads = [r.std(ddof=1) if r.size > 1 else 0.0 for r in runs]
        line = ax.errorbar(xs, means, yerr=spreads, marker="o", capsize=3, label=str(name))
        for x, r in zip(xs, runs, strict=True):
            ax.scatter(np.full(r.size, x), r, s=6, alpha=0.3, color=line[0].get_color())
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title or "")
    if logx:
        ax.set_xscale("log")
    _value_ticks(ax, sorted({float(x) for by_value in curves.values() for x in by_value}), logx)
    if logy:
        ax.set_yscale("log")
    ax.legend()
    return fig


def _value_ticks(ax: Axes, values: Sequence[float], log: bool, most: int = 8) -> None:
    """Label the x axis at the swept ``values`` alone (as ``1000`` or ``0.003``, no minor
    labels) where they are few and far enough apart: the default ``3x10^3``-style labels of
    nearby values on a log axis overlap, and ``1.2`` epochs mean nothing."""
    if not 1 < len(values) <= most or (log and min(values) <= 0):
        return
    place = np.log10(values) if log else np.asarray(values)
    if np.diff(place).min() < (place[-1] - place[0]) / 12:
        return
    ax.set_xticks(list(values), [f"{v:g}" for v in values])
    ax.xaxis.set_minor_formatter(NullFormatter())


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 150) -> Path:
    """Write ``fig`` as a PNG to ``path`` (must end in ``.png``), creating folders; return it."""
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"path must end in .png, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=check_positive_int(dpi, "dpi"))
    return path


def _points(x: Any, name: str, *, columns: int | None = None) -> np.ndarray:
    """A finite, non-empty float64 array ``(n, d)`` from a tensor or array."""
    if isinstance(x, np.ndarray) and x.dtype.kind in "iu":
        x = x.astype(np.float64)
    elif torch.is_tensor(x) and not x.is_floating_point():
        x = x.double()
    return check_matrix(x, name, columns=columns).detach().cpu().double().numpy()


def _check_dims(dims: Sequence[int] | None, total: int) -> list[int]:
    if dims is None:
        return list(range(min(total, 8)))
    dims = [int(j) for j in dims]
    if not dims or any(not 0 <= j < total for j in dims):
        raise ValueError(f"dims must be a non-empty list of indices in [0, {total}), got {dims}")
    return dims


def _subsample(n: int, max_points: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most ``max_points`` of ``n`` points (fixed seed)."""
    max_points = check_positive_int(max_points, "max_points")
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))


def _panels(count: int, *, ncols: int, size: float = _PANEL) -> tuple[Figure, list[Axes]]:
    """A figure with exactly ``count`` axes on a grid of at most ``ncols`` columns."""
    ncols = min(check_positive_int(ncols, "ncols"), count)
    nrows = math.ceil(count / ncols)
    fig = Figure(figsize=(size * ncols, size * nrows), layout="constrained")
    return fig, [fig.add_subplot(nrows, ncols, k + 1) for k in range(count)]
