"""Every plot function returns a Figure with the expected axes and saves as PNG."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from innlab import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def normal(n: int, d: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def check_figure(fig: Figure, axes: int, tmp_path) -> None:
    assert isinstance(fig, Figure)
    assert len(fig.axes) == axes
    path = plots.save_figure(fig, tmp_path / "sub" / "figure.png", dpi=40)
    assert path.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("with_reference", [False, True])
def test_plot_samples(tmp_path, with_reference):
    reference = normal(50, 2, 1).numpy() if with_reference else None
    fig = plots.plot_samples(
        normal(80, 2),
        reference,
        sample_labels=torch.arange(80) % 2,
        reference_labels=np.arange(50) % 2 if with_reference else None,
        max_points=60,
    )
    check_figure(fig, 2 if with_reference else 1, tmp_path)


def test_plot_density(tmp_path):
    calls = []

    def log_prob(pts: torch.Tensor) -> torch.Tensor:
        calls.append(pts.shape)
        return -0.5 * pts.square().sum(1) - np.log(2 * np.pi)

    fig = plots.plot_density(log_prob, (-3, 3), (-2, 2), resolution=30, points=normal(10, 2))
    assert calls == [(900, 2)]
    check_figure(fig, 2, tmp_path)  # the map and its colour bar
    with pytest.raises(ValueError, match="one per grid point"):
        plots.plot_density(lambda pts: torch.zeros(3), (-1, 1), (-1, 1), resolution=5)


@pytest.mark.parametrize(
    ("dims", "options", "axes"),
    [
        (2, {}, 1),
        (5, {}, 5),
        (8, {"pairs": [(0, 7)], "random_projections": 1}, 2),
    ],
)
def test_plot_code_projections(tmp_path, dims, options, axes):
    check_figure(plots.plot_code_projections(normal(100, dims), **options), axes, tmp_path)


def test_plot_code_projections_errors():
    with pytest.raises(ValueError, match="at least 2 columns"):
        plots.plot_code_projections(normal(10, 1))
    with pytest.raises(ValueError, match="pairs"):
        plots.plot_code_projections(normal(10, 3), pairs=[(0, 3)])


@pytest.mark.parametrize("plot", [plots.plot_qq, plots.plot_code_histograms])
def test_per_dimension_plots(tmp_path, plot):
    z = normal(200, 12)
    assert len(plot(z).axes) == 8  # default: the first 8 dims
    check_figure(plot(z, dims=[3, 11]), 2, tmp_path)
    with pytest.raises(ValueError, match="dims"):
        plot(z, dims=[12])


def test_plot_image_grid_flat_and_per_condition(tmp_path):
    images = torch.rand(10, 64)
    check_figure(plots.plot_image_grid(images, ncols=4, title="digits"), 1, tmp_path)
    per_label = torch.rand(3, 5, 64)  # (C, num, 64) from a conditional sample
    fig = plots.plot_image_grid(per_label, row_labels=[0, 1, 2])
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["0", "1", "2"]
    check_figure(fig, 1, tmp_path)
    with pytest.raises(ValueError, match="row_labels must have 3"):
        plots.plot_image_grid(per_label, row_labels=[0, 1])
    with pytest.raises(ValueError, match="64 column"):
        plots.plot_image_grid(torch.rand(4, 49))


def test_plot_metric_sweep(tmp_path):
    curves = {
        "plain": {1000: [0.02, 0.03, 0.025], 4000: [0.01, 0.012, 0.008]},
        "conditional": {1000: [0.015], 4000: [0.007, 0.006]},
    }
    fig = plots.plot_metric_sweep(curves, xlabel="training points", ylabel="MMD^2", logx=True)
    check_figure(fig, 1, tmp_path)
    with pytest.raises(ValueError, match="without results"):
        plots.plot_metric_sweep({"a": {1: []}}, xlabel="x", ylabel="y")


def test_save_figure_requires_png(tmp_path):
    with pytest.raises(ValueError, match=r"\.png"):
        plots.save_figure(Figure(), tmp_path / "figure.pdf")
    with pytest.raises(TypeError, match="Figure"):
        plots.save_figure("figure", tmp_path / "figure.png")


def test_plot_metric_sweep_labels_the_swept_values():
    curves = {"test_nll": {250: [1.0, 1.1], 500: [0.9], 4000: [0.8]}}
    ax = plots.plot_metric_sweep(curves, xlabel="train_size", ylabel="NLL", logx=True).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["250", "500", "4000"]
    assert not any(t.get_text() for t in ax.get_xticklabels(minor=True))
    epochs = plots.plot_metric_sweep({"nll": {1: [1.0], 2: [0.9]}}, xlabel="epochs", ylabel="NLL")
    assert [t.get_text() for t in epochs.axes[0].get_xticklabels()] == ["1", "2"]
    crowded = {"nll": {v: [1.0] for v in (1, 2, 3, 100)}}  # 1, 2 and 3 would overlap
    ax = plots.plot_metric_sweep(crowded, xlabel="x", ylabel="y").axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] != ["1", "2", "3", "100"]
