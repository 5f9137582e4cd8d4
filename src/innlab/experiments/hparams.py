"""The hyperparameter study on two moons, run on the sweep engine (:mod:`innlab.sweeps`)."""

from __future__ import annotations

import math
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

METRICS = ("test_nll", "mmd", "c2st_accuracy")
"""Run scores in the table: test NLL (nats), MMD² and C2ST accuracy (share in [0, 1])."""

TABLE_HEADER = (
    "hyperparameter",
    "value",
    "seeds",
    "NLL mean",
    "NLL std",
    "MMD² mean",
    "MMD² std",
    "C2ST mean",
    "C2ST std",
)

_LABELS = {"test_nll": "test NLL (nats)", "mmd": "MMD²", "c2st_accuracy": "C2ST accuracy"}


@dataclass(frozen=True)
class AxisBest(ExperimentResult):
    """The best settings of one hyperparameter by mean over seeds."""

    nll_value: Any  # the value with the lowest mean test NLL
    nll: float  # that mean test NLL, nats
    mmd_value: Any  # the value with the lowest mean MMD²
    mmd: float  # that mean MMD² (dimensionless)


@dataclass(frozen=True)
class HyperparameterResult(ExperimentResult):
    """The hyperparameter study on two moons (:func:`hyperparameter_study`). Spearman rank
    correlations over all runs with both scores, in [-1, 1] (NaN: fewer than 3 such runs)."""

    config: dict[str, Any]  # the sweep configuration (see :func:`study_config`)
    runs: int  # finished runs
    table_header: tuple[str, ...]  # columns of table_rows
    table_rows: list[list[Any]]  # per axis and value: seeds, mean/std of NLL, MMD², C2ST
    best_by_axis: dict[str, AxisBest]  # axis -> its best values
    spearman_mmd_nll: float  # rank correlation of MMD² and test NLL
    spearman_c2st_mmd: float  # rank correlation of C2ST accuracy and MMD²
    spearman_c2st_nll: float  # rank correlation of C2ST accuracy and test NLL
    figures: dict[str, Figure] = figures_field()


def study_config(preset: Preset) -> dict[str, Any]:
    """The sweep: each hyperparameter varied around a default, the others held fixed."""
    n, epochs = preset.sweep_n_train, preset.sweep_epochs
    smoke = preset.name == "smoke"
    return {
        "name": f"moons-hparams-{preset.name}",
        "seeds": preset.sweep_seeds,
        "metrics": ["test_nll", "nll_gap", "mmd", "c2st"],
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

    Results: one table row per setting (mean and std over seeds of test NLL, MMD² and C2ST
    accuracy), the best value of each axis, and the Spearman rank correlations over all runs of
    MMD² with test NLL and of C2ST accuracy with both. Figures: each metric against each
    hyperparameter, and a gallery of samples ordered by MMD².
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
        for value, scores in stats.items():
            cells = [f(scores[m]) for m in METRICS for f in (np.mean, np.std)]
            rows.append([axis, value, len(scores["test_nll"]), *map(float, cells)])
        best[axis] = _axis_best(stats)
        for metric in METRICS:
            figures[f"{metric}_vs_{axis}"] = plot_metric_sweep(
                {metric: {float(v): stats[v][metric].tolist() for v in stats}},
                xlabel=axis,
                ylabel=_LABELS[metric],
                logx=axis in ("lr", "train_size"),
            )
    figures["gallery"] = _gallery(records, base)
    return HyperparameterResult(
        config=config,
        runs=len(records),
        table_header=TABLE_HEADER,
        table_rows=rows,
        best_by_axis=best,
        spearman_mmd_nll=_spearman(records, "mmd", "test_nll"),
        spearman_c2st_mmd=_spearman(records, "c2st_accuracy", "mmd"),
        spearman_c2st_nll=_spearman(records, "c2st_accuracy", "test_nll"),
        figures=figures,
    )


def _score(record: dict[str, Any], metric: str) -> float:
    """A run's ``metric``; NaN when it is missing or was not finite (``None``)."""
    value = record["metrics"].get(metric)
    return math.nan if value is None else float(value)


def _spearman(records: list[dict[str, Any]], a: str, b: str) -> float:
    """Spearman rank correlation of metrics ``a`` and ``b`` over the runs with both finite, in
    [-1, 1]; NaN for fewer than 3 such runs."""
    pairs = np.array([[_score(r, a), _score(r, b)] for r in records]).reshape(-1, 2)
    pairs = pairs[np.isfinite(pairs).all(axis=1)]
    return float(spearmanr(pairs[:, 0], pairs[:, 1]).statistic) if len(pairs) > 2 else math.nan


def _axis_stats(
    records: list[dict[str, Any]], axis: str, base: dict[str, Any]
) -> dict[Any, dict[str, np.ndarray]]:
    """Value of ``axis`` (sorted) -> per metric of :data:`METRICS`, the scores of the runs that
    vary only it (NaN where a run lacks one)."""
    runs = [r for r in records if _varies_only(r, axis, base)]
    stats = {}
    for value in sorted({r["params"][axis] for r in runs}):
        chosen = [r for r in runs if r["params"][axis] == value]
        stats[value] = {m: np.array([_score(r, m) for r in chosen]) for m in METRICS}
    return stats


def _axis_best(stats: dict[Any, dict[str, np.ndarray]]) -> AxisBest:
    """The values of one axis with the lowest mean test NLL and MMD²."""

    def lowest(metric: str) -> Any:
        return min(stats, key=lambda v: stats[v][metric].mean())

    nll_value, mmd_value = lowest("test_nll"), lowest("mmd")
    return AxisBest(
        nll_value=nll_value,
        nll=float(stats[nll_value]["test_nll"].mean()),
        mmd_value=mmd_value,
        mmd=float(stats[mmd_value]["mmd"].mean()),
    )


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
    columns = min(4, len(picks))  # two rows of four fit a page
    rows = -(-len(picks) // columns)
    fig = Figure(figsize=(2.4 * columns, 2.5 * rows), layout="constrained")
    xlim, ylim = TwoMoons().limits
    for i, record in enumerate(picks):
        ax = fig.add_subplot(rows, columns, i + 1)
        points = np.asarray(record["samples"])
        ax.scatter(points[:, 0], points[:, 1], s=1)
        ax.set(xlim=xlim, ylim=ylim, xticks=[], yticks=[])
        changed = ", ".join(
            f"{k}={v}" for k, v in record["params"].items() if k in base and v != base[k]
        )
        ax.set_title(f"MMD² {record['metrics']['mmd']:.2g}\n{changed or 'default'}", fontsize=8)
    return fig
