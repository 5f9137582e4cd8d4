"""The hyperparameter study on two moons, run on the sweep engine (:mod:`innlab.sweeps`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from scipy.stats import spearmanr

from innlab.data import TwoMoons
from innlab.experiments.presets import Preset
from innlab.experiments.recording import ExperimentResult, figures_field
from innlab.plots import plot_metric_sweep
from innlab.sweeps import run_sweep

__all__ = ["AxisBest", "HyperparameterResult", "hyperparameter_study", "study_config"]

AXES = ("train_size", "epochs", "lr", "hidden_size", "blocks")

TABLE_HEADER = ("hyperparameter", "value", "seeds", "NLL mean", "NLL std", "MMD² mean", "MMD² std")


@dataclass(frozen=True)
class AxisBest(ExperimentResult):
    """The best settings of one hyperparameter by mean over seeds."""

    nll_value: Any  # the value with the lowest mean test NLL
    nll: float  # that mean test NLL, nats
    mmd_value: Any  # the value with the lowest mean MMD²
    mmd: float  # that mean MMD² (dimensionless)


@dataclass(frozen=True)
class HyperparameterResult(ExperimentResult):
    """The hyperparameter study on two moons (:func:`hyperparameter_study`)."""

    config: dict[str, Any]  # the sweep configuration (see :func:`study_config`)
    runs: int  # finished runs
    table_header: tuple[str, ...]  # columns of table_rows
    table_rows: list[list[Any]]  # per axis and value: seeds, NLL mean/std (nats), MMD² mean/std
    best_by_axis: dict[str, AxisBest]  # axis -> its best values
    spearman_mmd_nll: float  # rank correlation of MMD² and test NLL over all runs (NaN: < 3)
    figures: dict[str, Figure] = figures_field()


def study_config(preset: Preset) -> dict[str, Any]:
    """The sweep: each hyperparameter varied around a default, the others held fixed."""
    n, epochs = preset.sweep_n_train, preset.sweep_epochs
    smoke = preset.name == "smoke"
    return {
        "name": f"moons-hparams-{preset.name}",
        "seeds": preset.sweep_seeds,
        "metrics": ["test_nll", "nll_gap", "mmd"],
        "keep_samples": min(500, preset.toy_n_test),
        "data": {"name": "moons", "noise": 0.1, "test_size": preset.toy_n_test, "seed": 0},
        "base": {
            "hidden_size": 32 if smoke else 64,
            "blocks": 2 if smoke else 6,
            "train_size": n,
            "epochs": epochs,
            "lr": 1e-3,
            "batch_size": 256,
            "shared_subnet": True,
        },
        "sweep": {
            "one_at_a_time": {
                "train_size": [n // 4, n, n * 4] if not smoke else [n // 2, n],
                "epochs": [max(1, epochs // 4), epochs, epochs * 3] if not smoke else [1, 2],
                "lr": [1e-4, 1e-3, 1e-2],
                "hidden_size": [8, 32, 128] if not smoke else [8, 32],
                "blocks": [1, 3, 6, 10] if not smoke else [1, 2],
            }
        },
    }


def hyperparameter_study(
    preset: Preset, out: str | Path, *, workers: int = 1
) -> HyperparameterResult:
    """Run the study's sweep (finished trials in ``out`` are reused) and summarise it.

    Results: one table row per setting (mean and std over seeds of test NLL and MMD²), the best
    value of each axis, and the Spearman rank correlation between MMD² and test NLL over all
    runs. Figures: each metric against each hyperparameter, and a gallery of samples ordered by
    MMD².
    """
    config = study_config(preset)
    records = [
        {**r, "params": r["trial"]["params"]}
        for r in run_sweep(config, Path(out), workers=workers, progress=False)
    ]
    base = config["base"]
    rows: list[list[Any]] = []
    best: dict[str, AxisBest] = {}
    figures: dict[str, Figure] = {}
    for axis in AXES:
        stats = _axis_stats(records, axis, base)
        for value, (nll, mmd) in stats.items():
            row = [float(nll.mean()), float(nll.std()), float(mmd.mean()), float(mmd.std())]
            rows.append([axis, value, len(nll), *row])
        best[axis] = AxisBest(
            nll_value=min(stats, key=lambda v: stats[v][0].mean()),
            nll=float(min(s[0].mean() for s in stats.values())),
            mmd_value=min(stats, key=lambda v: stats[v][1].mean()),
            mmd=float(min(s[1].mean() for s in stats.values())),
        )
        for metric, index in (("test_nll", 0), ("mmd", 1)):
            figures[f"{metric}_vs_{axis}"] = plot_metric_sweep(
                {metric: {float(v): stats[v][index].tolist() for v in stats}},
                xlabel=axis,
                ylabel="test NLL (nats)" if metric == "test_nll" else "MMD²",
                logx=axis in ("lr", "train_size"),
            )
    nll_all = [r["metrics"]["test_nll"] for r in records]
    mmd_all = [r["metrics"]["mmd"] for r in records]
    rho = float(spearmanr(mmd_all, nll_all).statistic) if len(records) > 2 else float("nan")
    figures["gallery"] = _gallery(records, base)
    return HyperparameterResult(
        config=config,
        runs=len(records),
        table_header=TABLE_HEADER,
        table_rows=rows,
        best_by_axis=best,
        spearman_mmd_nll=rho,
        figures=figures,
    )


def _axis_stats(
    records: list[dict[str, Any]], axis: str, base: dict[str, Any]
) -> dict[Any, tuple[np.ndarray, np.ndarray]]:
    """Value of ``axis`` (sorted) -> test NLLs and MMD²s of the runs that vary only it."""
    runs = [r for r in records if _varies_only(r, axis, base)]
    stats = {}
    for value in sorted({r["params"][axis] for r in runs}):
        chosen = [r for r in runs if r["params"][axis] == value]
        nll = np.array([r["metrics"]["test_nll"] for r in chosen])
        mmd = np.array([r["metrics"]["mmd"] for r in chosen])
        stats[value] = (nll, mmd)
    return stats


def _varies_only(record: dict[str, Any], axis: str, base: dict[str, Any]) -> bool:
    return all(record["params"][k] == v for k, v in base.items() if k != axis)


def _gallery(records: list[dict[str, Any]], base: dict[str, Any], panels: int = 8) -> Figure:
    """Samples of runs spread over the MMD² range, ordered from best to worst."""
    ordered = sorted(
        (r for r in records if r.get("samples") is not None), key=lambda r: r["metrics"]["mmd"]
    )
    picks = [
        ordered[i]
        for i in np.linspace(0, len(ordered) - 1, min(panels, len(ordered))).round().astype(int)
    ]
    fig = Figure(figsize=(2.2 * len(picks), 2.4), layout="constrained")
    xlim, ylim = TwoMoons().limits
    for i, record in enumerate(picks):
        ax = fig.add_subplot(1, len(picks), i + 1)
        points = np.asarray(record["samples"])
        ax.scatter(points[:, 0], points[:, 1], s=1)
        ax.set(xlim=xlim, ylim=ylim, xticks=[], yticks=[])
        changed = ", ".join(
            f"{k}={v}" for k, v in record["params"].items() if k in base and v != base[k]
        )
        ax.set_title(f"MMD² {record['metrics']['mmd']:.2g}\n{changed or 'default'}", fontsize=7)
    return fig
