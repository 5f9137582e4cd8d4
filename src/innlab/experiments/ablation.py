"""What makes RealNVP work: the mixing layer and the coupling's scale, varied one at a time.

On two moons and the hexagon mixture, at one budget and over several seeds, each variant
changes one option of the specified model (``mixing="rotation"``, ``scale="exp_tanh"``):
``mixing`` to ``"permutation"`` or ``"none"``, ``scale`` to ``"exp"`` (unbounded) or
``"additive"`` (no scale). The trials run on the sweep engine (:mod:`innlab.sweeps`), so a
large preset can spread them over workers or a Ray cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from innlab.data import toy_dataset
from innlab.experiments.presets import Preset
from innlab.experiments.recording import ExperimentResult, figures_field
from innlab.sweeps import run_sweep

__all__ = ["AblationResult", "VariantSummary", "ablation_config", "ablation_study"]

REFERENCE = {"mixing": "rotation", "scale": "exp_tanh"}
VARIANTS = {"mixing": ("permutation", "none"), "scale": ("exp", "additive")}
DATASETS = ("moons", "hexagon")


@dataclass(frozen=True)
class VariantSummary(ExperimentResult):
    """One variant on one data set, over the seeds that finished."""

    dataset: str  # "moons" or "hexagon"
    mixing: str
    scale: str
    seeds: int  # trials run
    failed: int  # trials whose training diverged (TrainingDivergedError)
    skipped_steps: int  # non-finite steps skipped, summed over the finished trials
    nll_gap_mean: float | None  # test NLL minus the true density's, nats (None: none finished)
    nll_gap_std: float | None
    mmd_mean: float | None  # MMD² to held-out data (dimensionless)
    mmd_std: float | None


@dataclass(frozen=True)
class AblationResult(ExperimentResult):
    """The ablation study (:func:`ablation_study`)."""

    epochs: int  # the budget of every trial
    variants: list[VariantSummary]
    figures: dict[str, Figure] = figures_field()

    def variant(self, dataset: str, mixing: str, scale: str) -> VariantSummary:
        """The summary of one variant."""
        for v in self.variants:
            if (v.dataset, v.mixing, v.scale) == (dataset, mixing, scale):
                return v
        raise KeyError(f"no variant {dataset}/{mixing}/{scale}")

    def describe(self, dataset: str) -> str:
        """Sentences on one data set's variants, drawn from the numbers (call it on the
        rounded result that :meth:`~innlab.experiments.Results.add` returns)."""
        ref = self.variant(dataset, REFERENCE["mixing"], REFERENCE["scale"])
        parts = [
            f"**{dataset}.** The reference model (rotation, exp(tanh)) ends "
            f"{_gap(ref)} nats above the true NLL over {ref.seeds} seeds."
        ]
        for mixing in VARIANTS["mixing"]:
            parts.append(_compare(self.variant(dataset, mixing, REFERENCE["scale"]), ref))
        for scale in VARIANTS["scale"]:
            parts.append(_compare(self.variant(dataset, REFERENCE["mixing"], scale), ref))
        return " ".join(parts)


def ablation_config(preset: Preset, dataset: str) -> dict[str, Any]:
    """The sweep of one data set: the reference model and each option varied alone."""
    smoke = preset.name == "smoke"
    data: dict[str, Any] = {"name": dataset, "test_size": preset.toy_n_test, "seed": 0}
    return {
        "name": f"ablation-{dataset}-{preset.name}",
        "seeds": preset.sweep_seeds,
        "metrics": ["test_nll", "nll_gap", "mmd"],
        "keep_samples": min(1000, preset.toy_n_test),
        "data": data,
        "base": {
            "hidden_size": 32 if smoke else 64,
            "blocks": 2 if smoke else 8,
            "train_size": preset.sweep_n_train * (1 if smoke else 4),
            "epochs": preset.sweep_epochs,
            "lr": 1e-3,
            "batch_size": 256,
            "shared_subnet": True,
            **REFERENCE,
        },
        "sweep": {"one_at_a_time": {k: list(v) for k, v in VARIANTS.items()}},
    }


def ablation_study(preset: Preset, out: str | Path, *, workers: int = 1) -> AblationResult:
    """Run both data sets' sweeps (finished trials in ``out`` are reused) and summarise them:
    per variant the NLL gap and MMD² (mean and std over seeds), failures and skipped steps, and
    a figure of one seed's samples per variant and data set."""
    summaries: list[VariantSummary] = []
    kept: dict[tuple[str, str, str], list[list[float]]] = {}
    for dataset in DATASETS:
        config = ablation_config(preset, dataset)
        records = run_sweep(config, Path(out) / dataset, workers=workers, progress=False)
        for mixing, scale in _variants():
            chosen = [r for r in records if _options(r) == (mixing, scale)]
            summaries.append(_summary(dataset, mixing, scale, chosen))
            samples = [r["samples"] for r in chosen if r.get("samples")]
            if samples:
                kept[dataset, mixing, scale] = samples[0]
    return AblationResult(
        epochs=preset.sweep_epochs, variants=summaries, figures={"samples": _figure(kept)}
    )


def _gap(v: VariantSummary) -> str:
    """Mean ± std of the gap as stored (the report quotes only numbers of results.json)."""
    if v.nll_gap_mean is None:
        return "(no finished run)"
    return f"{v.nll_gap_mean} ± {v.nll_gap_std}"


def _compare(v: VariantSummary, ref: VariantSummary) -> str:
    """One sentence: the variant's gap against the reference's, and its failures."""
    name = f"mixing={v.mixing}" if v.mixing != ref.mixing else f"scale={v.scale}"
    trouble = []
    if v.failed:
        trouble.append(f"{v.failed} of {v.seeds} runs diverged")
    if v.skipped_steps:
        trouble.append(f"{v.skipped_steps} non-finite steps were skipped")
    tail = f" ({'; '.join(trouble)})" if trouble else " (no run diverged or skipped a step)"
    if v.nll_gap_mean is None or ref.nll_gap_mean is None:
        return f"With {name} no run finished{tail}."
    verdict = "larger" if v.nll_gap_mean > ref.nll_gap_mean else "smaller"
    return f"With {name} the gap is {_gap(v)}, {verdict} than the reference's{tail}."


def _variants() -> list[tuple[str, str]]:
    """``(mixing, scale)`` of the reference model, then of each variant."""
    pairs = [(REFERENCE["mixing"], REFERENCE["scale"])]
    pairs += [(m, REFERENCE["scale"]) for m in VARIANTS["mixing"]]
    pairs += [(REFERENCE["mixing"], s) for s in VARIANTS["scale"]]
    return pairs


def _options(record: dict[str, Any]) -> tuple[str, str]:
    params = record["trial"]["params"]
    return params["mixing"], params["scale"]


def _summary(
    dataset: str, mixing: str, scale: str, records: list[dict[str, Any]]
) -> VariantSummary:
    done = [r for r in records if r["status"] == "ok"]
    gaps = np.array([r["metrics"]["nll_gap"] for r in done], dtype=float)
    mmds = np.array([r["metrics"]["mmd"] for r in done], dtype=float)

    def stat(values: np.ndarray, how: Any) -> float | None:
        finite = values[np.isfinite(values)]
        return float(how(finite)) if finite.size else None

    return VariantSummary(
        dataset=dataset,
        mixing=mixing,
        scale=scale,
        seeds=len(records),
        failed=len(records) - len(done),
        skipped_steps=sum(int(r["metrics"].get("skipped_steps", 0)) for r in done),
        nll_gap_mean=stat(gaps, np.mean),
        nll_gap_std=stat(gaps, np.std),
        mmd_mean=stat(mmds, np.mean),
        mmd_std=stat(mmds, np.std),
    )


def _figure(kept: dict[tuple[str, str, str], list[list[float]]]) -> Figure:
    """One scatter of samples per variant (columns) and data set (rows)."""
    variants = _variants()
    fig = Figure(figsize=(2.3 * len(variants), 2.3 * len(DATASETS)), layout="constrained")
    axes = fig.subplots(len(DATASETS), len(variants), squeeze=False)
    for row, dataset in enumerate(DATASETS):
        xlim, ylim = toy_dataset(dataset).limits
        for col, (mixing, scale) in enumerate(variants):
            ax = axes[row, col]
            points = np.array(kept.get((dataset, mixing, scale), []), dtype=float)
            if points.size:
                ax.scatter(points[:, 0], points[:, 1], s=1.5, alpha=0.5, color="C0")
            ax.set(xlim=xlim, ylim=ylim, xticks=[], yticks=[])
            if row == 0:
                ax.set_title(f"{mixing}\n{scale}", fontsize=9)
        axes[row, 0].set_ylabel(dataset)
    return fig
