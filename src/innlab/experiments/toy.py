"""Experiments on 2-D toy data: two moons and the hexagon mixture, plain and conditional."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from innlab.data import (
    hexagon_centers,
    hexagon_gmm,
    hexagon_gmm_log_prob,
    hexagon_gmm_posterior,
    one_hot,
    two_moons,
    two_moons_log_prob,
    two_moons_posterior,
)
from innlab.experiments.presets import FlowBudget, Preset
from innlab.experiments.store import FitJob, ModelStore
from innlab.metrics import (
    NormalityReport,
    code_normality,
    mean_nll,
    mmd,
    mode_coverage,
    oracle_accuracy,
)
from innlab.plots import (
    plot_code_histograms,
    plot_density,
    plot_qq,
    plot_samples,
)

__all__ = [
    "BANDWIDTHS",
    "Outcome",
    "TOY_MODELS",
    "ToyData",
    "conditional_toy",
    "iid_moons",
    "mmd_null_for",
    "normality_summary",
    "toy_data",
    "toy_fit_jobs",
    "unconditional_toy",
]

BANDWIDTHS = (0.05, 0.1, 0.2, 0.5, 1.0)
"""Gaussian kernel bandwidths of every toy MMD, so values compare across models."""

TRAIN_SEED, TEST_SEED, SAMPLE_SEED = 0, 1, 2
COVERAGE_SAMPLES = 20_000
HEXAGON_RADIUS = 1.0


@dataclass
class Outcome:
    """What an experiment returns: plain numbers (for results.json) and figures."""

    results: dict[str, Any]
    figures: dict[str, Figure] = field(default_factory=dict)


@dataclass(frozen=True)
class ToyData:
    """A 2-D data set with its true density and class posterior."""

    name: str
    labels: str  # "moon", "component" or "two"

    @property
    def num_classes(self) -> int:
        return 6 if self.labels == "component" else 2

    def sample(self, n: int, seed: int) -> tuple[Tensor, Tensor]:
        if self.name == "moons":
            return two_moons(n, noise=0.1, seed=seed)
        return hexagon_gmm(n, radius=HEXAGON_RADIUS, seed=seed, labels=self.labels)  # type: ignore[arg-type]

    def log_prob(self, x: Tensor) -> Tensor:
        if self.name == "moons":
            return two_moons_log_prob(x, noise=0.1)
        return hexagon_gmm_log_prob(x, radius=HEXAGON_RADIUS)

    def posterior(self, x: Tensor) -> Tensor:
        if self.name == "moons":
            return two_moons_posterior(x, noise=0.1)
        return hexagon_gmm_posterior(x, radius=HEXAGON_RADIUS, labels=self.labels)  # type: ignore[arg-type]

    @property
    def limits(self) -> tuple[tuple[float, float], tuple[float, float]]:
        if self.name == "moons":
            return (-1.6, 2.6), (-1.1, 1.6)
        return (-1.5, 1.5), (-1.3, 1.3)


def toy_data(name: str, labels: str | None = None) -> ToyData:
    """``ToyData("moons")`` or ``ToyData("hexagon", labels="component" | "two")``."""
    if name == "moons":
        return ToyData("moons", "moon")
    return ToyData("hexagon", labels or "component")


def iid_moons(n: int, seed: int, noise: float = 0.1) -> Tensor:
    """Independent draws from the two-moons density (uniform angle, random moon, noise).

    ``make_moons`` spaces its angles evenly, so two of its samples are closer to each other than
    independent samples are; a perfect model produces independent samples like these.
    """
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.0, np.pi, n)
    upper = rng.random(n) < 0.5
    x = np.where(upper, np.cos(t), 1.0 - np.cos(t))
    y = np.where(upper, np.sin(t), 0.5 - np.sin(t))
    points = np.stack([x, y], axis=1) + noise * rng.standard_normal((n, 2))
    return torch.from_numpy(points).float()


def mmd_null_for(data: ToyData, n: int, draws: int) -> dict[str, Any]:
    """Squared MMD between what a perfect model would generate and an independent test set.

    Each draw compares ``n`` independent points from the true density with ``n`` points drawn
    the way the test set is (``make_moons`` for moons). Returns mean, std, q95 and the values.
    """
    values = []
    for i in range(draws):
        test_like = data.sample(n, seed=10_000 + i)[0]
        if data.name == "moons":
            perfect = iid_moons(n, seed=20_000 + i)
        else:
            perfect = data.sample(n, seed=20_000 + i)[0]
        values.append(mmd(perfect, test_like, bandwidths=BANDWIDTHS))
    array = np.asarray(values)
    return {
        "mean": float(array.mean()),
        "std": float(array.std(ddof=1)),
        "q95": float(np.quantile(array, 0.95)),
        "values": values,
    }


@dataclass(frozen=True)
class _ToySetup:
    """Data, budget and model job of one toy experiment."""

    data: ToyData
    budget: FlowBudget
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    job: FitJob


TOY_MODELS = (
    ("moons", None, False),
    ("hexagon", None, False),
    ("moons", None, True),
    ("hexagon", "component", True),
    ("hexagon", "two", True),
)
"""``(data set, labels, conditional)`` of every model the toy experiments train."""


def _setup(name: str, labels: str | None, conditional: bool, preset: Preset) -> _ToySetup:
    data = toy_data(name, labels)
    budget = preset.moons if name == "moons" else preset.hexagon
    x_train, y_train = data.sample(budget.n_train or 10_000, TRAIN_SEED)
    x_test, y_test = data.sample(preset.toy_n_test, TEST_SEED)
    k = data.num_classes
    c_train, c_test = (one_hot(y_train, k), one_hot(y_test, k)) if conditional else (None, None)
    recipe = {
        "data": data.name,
        "labels": data.labels,
        "n_train": budget.n_train,
        "n_test": preset.toy_n_test,
        "seeds": [TRAIN_SEED, TEST_SEED],
    }
    job = FitJob(
        f"{name}-{data.labels}-conditional" if conditional else f"{name}-plain",
        {"input_size": 2, "condition_size": k if conditional else 0, **budget.model_kwargs()},
        x_train,
        c_train,
        recipe,
        train_kwargs={
            "test_data": x_test,
            "test_conditions": c_test,
            **budget.train_kwargs(),
        },
    )
    return _ToySetup(data, budget, x_train, y_train, x_test, y_test, job)


def toy_fit_jobs(preset: Preset) -> list[FitJob]:
    """The models of every toy experiment, longest first, for :meth:`ModelStore.prefetch`."""
    jobs = [_setup(name, labels, cond, preset).job for name, labels, cond in TOY_MODELS]
    return sorted(jobs, key=lambda job: -_cost(job))


def _cost(job: FitJob) -> float:
    kw = job.model_kwargs
    return kw["blocks"] * kw["hidden_size"] ** 2 * job.train_kwargs["epochs"] * job.data.shape[0]


def unconditional_toy(name: str, preset: Preset, store: ModelStore) -> Outcome:
    """Train a plain RealNVP on ``"moons"`` or ``"hexagon"`` and measure it every way we can.

    Results: reconstruction error of the inverse pass, test NLL against the true density's, MMD²
    against test data placed within the real-vs-real null distribution, code normality, and (for
    the hexagon) mode coverage.
    """
    setup = _setup(name, None, False, preset)
    data, budget, x_test, n_test = setup.data, setup.budget, setup.x_test, preset.toy_n_test
    model, history = setup.job.run(store)
    model = model.cpu()

    with torch.no_grad():
        z, _ = model.encode(x_test)
        reconstruction = float((model.decode(z) - x_test).abs().max())
    generated = model.sample(n_test, generator=SAMPLE_SEED)
    test_nll = mean_nll(model, x_test)
    true_nll = float(-data.log_prob(x_test).mean())
    null = mmd_null_for(data, n_test, preset.null_draws)
    value = mmd(generated, x_test, bandwidths=BANDWIDTHS)
    normality = code_normality(z)
    results: dict[str, Any] = {
        "max_reconstruction_error": reconstruction,
        "test_nll": test_nll,
        "true_nll": true_nll,
        "nll_gap": test_nll - true_nll,
        "mmd": value,
        "null_mean": null["mean"],
        "null_std": null["std"],
        "null_q95": null["q95"],
        "mmd_z_score": (value - null["mean"]) / null["std"],
        "mmd_below_null_q95": bool(value < null["q95"]),
        "mmd_sample_size": n_test,
        "normality": normality_summary(normality),
        "train_seconds": history.time[-1],
        "steps": history.steps[-1],
        "parameters": model.num_parameters,
        "budget": budget.to_dict(),
    }
    if name == "hexagon":
        # mode masses from many samples: with 2,000 a perfect model's shares scatter by +-0.008
        many = model.sample(COVERAGE_SAMPLES, generator=SAMPLE_SEED + 1)
        coverage = mode_coverage(many, hexagon_centers(HEXAGON_RADIUS), HEXAGON_RADIUS / 10)
        true_coverage = mode_coverage(x_test, hexagon_centers(HEXAGON_RADIUS), HEXAGON_RADIUS / 10)
        results["coverage_samples"] = COVERAGE_SAMPLES
        results["mode_shares"] = [float(s) for s in coverage["shares"]]
        results["max_mode_share_error"] = float(
            np.max(np.abs(np.asarray(coverage["shares"]) - 1 / 6))
        )
        results["far_share"] = float(coverage["outlier_share"])
        results["far_share_test"] = float(true_coverage["outlier_share"])
    xlim, ylim = data.limits
    figures = {
        "samples": plot_samples(generated, x_test, titles=("RealNVP samples", "test data")),
        "density": plot_density(
            lambda pts: model.log_prob(pts.float()), xlim, ylim, title="learned density"
        ),
        "true_density": plot_density(data.log_prob, xlim, ylim, title="true density"),
        "code_histograms": plot_code_histograms(z),
        "code_qq": plot_qq(z),
    }
    return Outcome(results, figures)


def conditional_toy(
    name: str, labels: str | None, preset: Preset, store: ModelStore, plain: dict[str, Any]
) -> Outcome:
    """Train a conditional RealNVP and compare it per label and on the marginal.

    Args:
        name, labels: ``("moons", None)``, ``("hexagon", "component")`` or ``("hexagon", "two")``.
        plain: results of :func:`unconditional_toy` on the same data, trained with the same budget.

    Results per label: MMD² against test points of that label and the share of samples whose
    most probable true label is the requested one. Merged over labels (in the training label
    proportions): MMD² against the whole test set and the marginal test NLL
    ``-log sum_y p(y) p(x|y)``, next to the plain model's.
    """
    setup = _setup(name, labels, True, preset)
    data, x_test, y_test, y_train = setup.data, setup.x_test, setup.y_test, setup.y_train
    n_test, k = preset.toy_n_test, data.num_classes
    c_test = setup.job.train_kwargs["test_conditions"]
    model, history = setup.job.run(store)
    model = model.cpu()

    prior = torch.bincount(y_train, minlength=k).double() / y_train.shape[0]
    per_label = model.sample(n_test, torch.eye(k), generator=SAMPLE_SEED)  # (k, n_test, 2)
    label_mmd = [mmd(per_label[j], x_test[y_test == j], bandwidths=BANDWIDTHS) for j in range(k)]
    accuracy = oracle_accuracy(per_label, torch.arange(k), data.posterior)
    # merged samples with the label frequencies of the training data
    counts = torch.round(prior * n_test).long()
    counts[-1] = n_test - counts[:-1].sum()
    merged = torch.cat([per_label[j, : counts[j]] for j in range(k)])
    merged_labels = torch.repeat_interleave(torch.arange(k), counts)
    merged_mmd = mmd(merged, x_test, bandwidths=BANDWIDTHS)
    with torch.no_grad():
        log_joint = (
            torch.stack(
                [model.log_prob(x_test, one_hot(torch.full((n_test,), j), k)) for j in range(k)], 1
            ).double()
            + prior.log()
        )
    marginal_nll = float(-torch.logsumexp(log_joint, dim=1).mean())
    results: dict[str, Any] = {
        "labels": data.labels,
        "num_classes": k,
        "label_mmd": label_mmd,
        "oracle_accuracy": accuracy,
        "merged_mmd": merged_mmd,
        "plain_mmd": plain["mmd"],
        "marginal_nll": marginal_nll,
        "plain_nll": plain["test_nll"],
        "true_nll": plain["true_nll"],
        "conditional_nll": mean_nll(model, x_test, c_test),
        "train_seconds": history.time[-1],
    }
    if name == "hexagon":
        coverage = mode_coverage(merged, hexagon_centers(HEXAGON_RADIUS), HEXAGON_RADIUS / 10)
        results["far_share"] = float(coverage["outlier_share"])
    figures = {
        "per_label": plot_samples(
            merged,
            x_test,
            sample_labels=merged_labels,
            reference_labels=y_test,
            titles=("conditional samples by label", "test data by label"),
        ),
    }
    return Outcome(results, figures)


def normality_summary(report: NormalityReport) -> dict[str, Any]:
    """The scalar verdicts of a :class:`NormalityReport` and the largest per-dimension
    deviations of mean, std, skewness and excess kurtosis from N(0, 1)."""
    keys = (
        "looks_normal",
        "pvalue",
        "ks_min_pvalue",
        "ks_rejected",
        "radius_pvalue",
        "mmd_pvalue",
        "max_cov_deviation",
    )
    full = report.to_dict()
    summary = {k: full[k] for k in keys}
    summary["max_abs_mean"] = float(np.max(np.abs(report.mean)))
    summary["max_abs_std_error"] = float(np.max(np.abs(np.asarray(report.std) - 1)))
    summary["max_abs_skewness"] = float(np.max(np.abs(report.skewness)))
    summary["max_abs_excess_kurtosis"] = float(np.max(np.abs(report.excess_kurtosis)))
    return summary
