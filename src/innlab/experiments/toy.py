"""Experiments on 2-D toy data: two moons and the hexagon mixture, plain and conditional."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from innlab.data import HexagonMixture, ToyDistribution, one_hot, toy_dataset
from innlab.experiments.presets import FlowBudget, Preset
from innlab.experiments.recording import ExperimentResult, figures_field, optional_field
from innlab.experiments.store import FitJob, ModelStore
from innlab.flows.realnvp import RealNVP
from innlab.metrics import (
    C2STResult,
    DensityModel,
    MMDNull,
    NormalityReport,
    c2st,
    code_normality,
    mean_nll,
    mmd,
    mode_coverage,
    nll_gap,
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
    "TOY_MODELS",
    "ConditionalToyResult",
    "ModeCoverage",
    "NormalitySummary",
    "ToyResult",
    "conditional_toy",
    "mmd_null_for",
    "toy_fit_jobs",
    "unconditional_toy",
]

BANDWIDTHS = (0.05, 0.1, 0.2, 0.5, 1.0)
"""Gaussian kernel bandwidths of every toy MMD, so values compare across models."""

TRAIN_SEED, TEST_SEED, SAMPLE_SEED = 0, 1, 2
COVERAGE_SAMPLES = 20_000
C2ST_CLASSIFIER = "knn"
"""Classifier of every toy C2ST: in 2-D as strong as the default trees, 1.3-1.6x faster."""
C2ST_SEED = 0


@dataclass(frozen=True)
class NormalitySummary(ExperimentResult):
    """The scalar verdicts of a :class:`~innlab.metrics.NormalityReport` of codes and the
    largest per-dimension deviations of mean, std, skewness and excess kurtosis from N(0, 1)."""

    looks_normal: bool  # no test rejects N(0, I) at level 0.05
    pvalue: float  # Bonferroni combination of the three test families
    ks_min_pvalue: float  # smallest Holm-corrected per-dimension Kolmogorov-Smirnov p-value
    ks_rejected: int  # dimensions the corrected KS test rejects
    radius_pvalue: float  # KS test of |z|^2 against chi-square(d)
    mmd_pvalue: float  # permutation MMD test against an N(0, I) sample
    max_cov_deviation: float  # largest |cov(z) - I| entry
    max_abs_mean: float  # largest |mean| of a dimension (0 for N(0, 1))
    max_abs_std_error: float  # largest |std - 1|
    max_abs_skewness: float  # largest |skewness| (0 for N(0, 1))
    max_abs_excess_kurtosis: float  # largest |excess kurtosis| (0 for N(0, 1))

    @classmethod
    def from_report(cls, report: NormalityReport) -> NormalitySummary:
        return cls(
            looks_normal=report.looks_normal,
            pvalue=report.pvalue,
            ks_min_pvalue=report.ks_min_pvalue,
            ks_rejected=report.ks_rejected,
            radius_pvalue=report.radius_pvalue,
            mmd_pvalue=report.mmd_pvalue,
            max_cov_deviation=report.max_cov_deviation,
            max_abs_mean=float(np.max(np.abs(report.mean))),
            max_abs_std_error=float(np.max(np.abs(np.asarray(report.std) - 1))),
            max_abs_skewness=float(np.max(np.abs(report.skewness))),
            max_abs_excess_kurtosis=float(np.max(np.abs(report.excess_kurtosis))),
        )


@dataclass(frozen=True)
class ModeCoverage(ExperimentResult):
    """How a plain model's samples spread over the hexagon's corners."""

    coverage_samples: int  # samples drawn for the shares
    mode_shares: tuple[float, ...]  # share of samples nearest to each corner (ideal 1/6)
    max_mode_share_error: float  # largest |share - 1/6|
    far_share: float  # share of samples farther than 3 std from every corner
    far_share_test: float  # the same share of the test points


@dataclass(frozen=True)
class ToyResult(ExperimentResult):
    """A plain RealNVP on a toy data set (:func:`unconditional_toy`). NLLs in nats per point;
    MMD² with the Gaussian kernels of :data:`BANDWIDTHS` (dimensionless); C2ST accuracies are
    shares of points in [0, 1] (k-NN classifier, 5 folds; 0.5: generated and test points cannot
    be told apart), their null from random relabellings of the same points."""

    max_reconstruction_error: float  # largest |decode(encode(x)) - x| over the test set
    test_nll: float  # model NLL of the test set
    true_nll: float  # NLL of the true density on the same test set
    nll_gap: float  # test_nll - true_nll
    mmd: float  # MMD² between generated and test points
    null_mean: float  # mean MMD² of a perfect model (real-vs-real null)
    null_std: float  # std of the null
    null_q95: float  # 95% quantile of the null
    mmd_z_score: float  # (mmd - null_mean) / null_std
    mmd_below_null_q95: bool  # mmd < null_q95
    mmd_sample_size: int  # points per MMD sample (and per C2ST sample)
    c2st_accuracy: float  # C2ST accuracy of generated vs test points
    c2st_null_mean: float  # mean accuracy after random relabellings (about 0.5)
    c2st_null_std: float  # std of the relabelled accuracies
    c2st_null_q95: float  # their 95% quantile
    c2st_p_value: float  # permutation p-value, at least 1 / (1 + preset.c2st_permutations)
    normality: NormalitySummary  # codes of the test points
    train_seconds: float  # wall-clock training time
    steps: int  # optimizer steps
    parameters: int  # trainable parameters
    budget: FlowBudget  # architecture and training budget
    coverage: ModeCoverage | None = optional_field(flatten=True)  # hexagon only
    figures: dict[str, Figure] = figures_field()


@dataclass(frozen=True)
class ConditionalToyResult(ExperimentResult):
    """A conditional RealNVP on a toy data set (:func:`conditional_toy`), next to the plain
    model of the same data. NLLs in nats per point, MMD² and C2ST as in :class:`ToyResult`."""

    labels: str  # "moon", "component" or "two"
    num_classes: int  # number of labels K
    label_mmd: tuple[float, ...]  # per label: MMD² of its samples vs its test points
    label_c2st: tuple[float, ...]  # per label: C2ST accuracy of the same (no null)
    oracle_accuracy: float  # share of samples most probable under the requested label
    merged_mmd: float  # MMD² of all labels' samples (training proportions) vs the test set
    plain_mmd: float  # the plain model's MMD²
    merged_c2st: float  # C2ST accuracy of the merged samples vs the test set
    merged_c2st_null_q95: float  # 95% quantile of its relabelled accuracies
    merged_c2st_p_value: float  # its permutation p-value
    plain_c2st: float  # the plain model's C2ST accuracy
    marginal_nll: float  # -log sum_y p(y) p(x|y) on the test set
    plain_nll: float  # the plain model's test NLL
    true_nll: float  # the true density's test NLL
    conditional_nll: float  # -log p(x|y) with the test labels
    true_conditional_nll: float  # -log p_true(x|y) with the test labels (exact)
    conditional_nll_gap: float  # conditional_nll - true_conditional_nll
    train_seconds: float  # wall-clock training time
    far_share: float | None = optional_field()  # hexagon: merged samples > 3 std from corners
    figures: dict[str, Figure] = figures_field()


def mmd_null_for(data: ToyDistribution, n: int, draws: int) -> MMDNull:
    """Squared MMD between what a perfect model would generate and an independent test set.

    Each draw compares ``n`` independent points from the true density
    (:meth:`~innlab.data.ToyDistribution.sample_iid`) with ``n`` points drawn the way the test
    set is (``make_moons`` for moons).
    """
    values = []
    for i in range(draws):
        test_like = data.sample(n, seed=10_000 + i)[0]
        perfect = data.sample_iid(n, seed=20_000 + i)
        values.append(mmd(perfect, test_like, bandwidths=BANDWIDTHS))
    array = np.asarray(values)
    return MMDNull(
        mean=float(array.mean()),
        std=float(array.std(ddof=1)),
        q95=float(np.quantile(array, 0.95)),
        values=tuple(values),
        n=n,
        kernel="gaussian",
        bandwidths=BANDWIDTHS,
        unbiased=True,
    )


@dataclass(frozen=True)
class _ToySetup:
    """Data, budget and model job of one toy experiment."""

    data: ToyDistribution
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
    data = toy_dataset(name) if labels is None else toy_dataset(name, labels=labels)
    budget = preset.toy_budget(name)
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
    """The models of every toy experiment, for :meth:`ModelStore.prefetch`."""
    return [_setup(name, labels, cond, preset).job for name, labels, cond in TOY_MODELS]


def unconditional_toy(name: str, preset: Preset, store: ModelStore) -> ToyResult:
    """Train a plain RealNVP on ``"moons"`` or ``"hexagon"`` and measure it every way we can.

    Results: reconstruction error of the inverse pass, test NLL against the true density's, MMD²
    against test data placed within the real-vs-real null distribution, C2ST of generated
    against test points with its permutation null, code normality, and (for the hexagon) mode
    coverage.
    """
    setup = _setup(name, None, False, preset)
    data, x_test, n_test = setup.data, setup.x_test, preset.toy_n_test
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
    two_sample = _c2st(generated, x_test, preset.c2st_permutations)
    normality = NormalitySummary.from_report(code_normality(z))
    coverage = _coverage(model, data, x_test) if isinstance(data, HexagonMixture) else None
    return ToyResult(
        max_reconstruction_error=reconstruction,
        test_nll=test_nll,
        true_nll=true_nll,
        nll_gap=test_nll - true_nll,
        mmd=value,
        null_mean=null.mean,
        null_std=null.std,
        null_q95=null.q95,
        mmd_z_score=(value - null.mean) / null.std,
        mmd_below_null_q95=bool(value < null.q95),
        mmd_sample_size=n_test,
        c2st_accuracy=two_sample.accuracy,
        c2st_null_mean=two_sample.null_mean,
        c2st_null_std=two_sample.null_std,
        c2st_null_q95=two_sample.null_q95,
        c2st_p_value=two_sample.p_value,
        normality=normality,
        train_seconds=history.time[-1],
        steps=history.steps[-1],
        parameters=model.num_parameters,
        budget=setup.budget,
        coverage=coverage,
        figures=_toy_figures(model, data, generated, x_test, z),
    )


def _c2st(generated: Tensor, real: Tensor, permutations: int) -> C2STResult:
    """C2ST of generated against real points ``(n, 2)`` with ``permutations`` relabellings (0:
    the accuracy alone), the same classifier, folds and seed for every toy model."""
    return c2st(generated, real, classifier=C2ST_CLASSIFIER, null=permutations, seed=C2ST_SEED)


def _coverage(model: RealNVP, data: HexagonMixture, x_test: Tensor) -> ModeCoverage:
    """Mode masses from many samples: with 2,000 a perfect model's shares scatter by +-0.008."""
    many = model.sample(COVERAGE_SAMPLES, generator=SAMPLE_SEED + 1)
    coverage = mode_coverage(many, data.centers(), data.component_std)
    true_coverage = mode_coverage(x_test, data.centers(), data.component_std)
    return ModeCoverage(
        coverage_samples=COVERAGE_SAMPLES,
        mode_shares=tuple(float(s) for s in coverage["shares"]),
        max_mode_share_error=float(np.max(np.abs(np.asarray(coverage["shares"]) - 1 / 6))),
        far_share=float(coverage["outlier_share"]),
        far_share_test=float(true_coverage["outlier_share"]),
    )


def _toy_figures(
    model: RealNVP, data: ToyDistribution, generated: Tensor, x_test: Tensor, z: Tensor
) -> dict[str, Figure]:
    xlim, ylim = data.limits
    return {
        "samples": plot_samples(generated, x_test, titles=("RealNVP samples", "test data")),
        "density": plot_density(
            lambda pts: model.log_prob(pts.float()), xlim, ylim, title="learned density"
        ),
        "true_density": plot_density(data.log_prob, xlim, ylim, title="true density"),
        "code_histograms": plot_code_histograms(z),
        "code_qq": plot_qq(z),
    }


def conditional_toy(
    name: str, labels: str | None, preset: Preset, store: ModelStore, plain: ToyResult
) -> ConditionalToyResult:
    """Train a conditional RealNVP and compare it per label and on the marginal.

    Args:
        name, labels: ``("moons", None)``, ``("hexagon", "component")`` or ``("hexagon", "two")``.
        plain: result of :func:`unconditional_toy` on the same data, trained with the same
            budget (the numbers it quotes are copied as they are, e.g. rounded).

    Results per label: MMD² and C2ST accuracy against test points of that label and the share
    of samples whose most probable true label is the requested one. Merged over labels (in the
    training label proportions): MMD² and C2ST against the whole test set and the marginal
    test NLL ``-log sum_y p(y) p(x|y)``, next to the plain model's. With the test labels: the
    conditional NLL and its gap to the true conditional density's.
    """
    setup = _setup(name, labels, True, preset)
    data, x_test, y_test, y_train = setup.data, setup.x_test, setup.y_test, setup.y_train
    n_test, k = preset.toy_n_test, data.num_classes
    model, history = setup.job.run(store)
    model = model.cpu()

    prior = torch.bincount(y_train, minlength=k).double() / y_train.shape[0]
    per_label = model.sample(n_test, torch.eye(k), generator=SAMPLE_SEED)  # (k, n_test, 2)
    label_mmd, label_c2st = _label_scores(per_label, x_test, y_test)
    accuracy = oracle_accuracy(per_label, torch.arange(k), data.posterior)
    merged, merged_labels = _merge(per_label, prior)
    merged_mmd = mmd(merged, x_test, bandwidths=BANDWIDTHS)
    merged_c2st = _c2st(merged, x_test, preset.c2st_permutations)
    conditional_nll, true_conditional_nll = _conditional_nlls(model, data, x_test, y_test)
    return ConditionalToyResult(
        labels=data.labels,
        num_classes=k,
        label_mmd=label_mmd,
        label_c2st=label_c2st,
        oracle_accuracy=accuracy,
        merged_mmd=merged_mmd,
        plain_mmd=plain.mmd,
        merged_c2st=merged_c2st.accuracy,
        merged_c2st_null_q95=merged_c2st.null_q95,
        merged_c2st_p_value=merged_c2st.p_value,
        plain_c2st=plain.c2st_accuracy,
        marginal_nll=float(-_marginal_log_prob(model, x_test, prior).mean()),
        plain_nll=plain.test_nll,
        true_nll=plain.true_nll,
        conditional_nll=conditional_nll,
        true_conditional_nll=true_conditional_nll,
        conditional_nll_gap=nll_gap(conditional_nll, true_conditional_nll),
        train_seconds=history.time[-1],
        far_share=_far_share(data, merged),
        figures=_conditional_figures(model, data, prior, (merged, merged_labels), (x_test, y_test)),
    )


def _conditional_figures(
    model: RealNVP,
    data: ToyDistribution,
    prior: Tensor,
    generated: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
) -> dict[str, Figure]:
    """Merged samples beside test points, both coloured by label (``(points, labels)`` each),
    and the learned marginal density for the label frequencies ``prior``."""
    return {
        "per_label": plot_samples(
            generated[0],
            test[0],
            sample_labels=generated[1],
            reference_labels=test[1],
            titles=("conditional samples by label", "test data by label"),
        ),
        "density": plot_density(
            lambda pts: _marginal_log_prob(model, pts.float(), prior),
            *data.limits,
            title="learned marginal density",
        ),
    }


def _far_share(data: ToyDistribution, points: Tensor) -> float | None:
    """Hexagon: the share of ``points`` ``(n, 2)`` farther than 3 std from every corner; else
    ``None``."""
    if not isinstance(data, HexagonMixture):
        return None
    return float(mode_coverage(points, data.centers(), data.component_std)["outlier_share"])


def _label_scores(
    per_label: Tensor, x: Tensor, y: Tensor
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per label ``j``: MMD² and C2ST accuracy (no null) of its samples ``per_label[j]``
    ``(num, 2)`` against the points of ``x`` ``(n, 2)`` whose label ``y`` is ``j``."""
    pairs = [(per_label[j], x[y == j]) for j in range(per_label.shape[0])]
    return (
        tuple(mmd(sample, real, bandwidths=BANDWIDTHS) for sample, real in pairs),
        tuple(_c2st(sample, real, 0).accuracy for sample, real in pairs),
    )


def _conditional_nlls(
    model: DensityModel, data: ToyDistribution, x: Tensor, y: Tensor
) -> tuple[float, float]:
    """Mean ``-log p(x | y)`` of points ``x`` ``(n, 2)`` with labels ``y`` ``(n,)`` under
    ``model`` (conditioned on one-hot labels) and under the true density, nats per point."""
    model_nll = mean_nll(model, x, one_hot(y, data.num_classes))
    return model_nll, float(-data.conditional_log_prob(x, y).mean())


def _merge(per_label: Tensor, prior: Tensor) -> tuple[Tensor, Tensor]:
    """Samples ``(k, num, 2)`` of every label merged with the label frequencies ``prior``
    ``(k,)``: ``num`` points ``(num, 2)`` and their labels ``(num,)``."""
    k, num = per_label.shape[:2]
    counts = torch.round(prior * num).long()
    counts[-1] = num - counts[:-1].sum()
    merged = torch.cat([per_label[j, : counts[j]] for j in range(k)])
    return merged, torch.repeat_interleave(torch.arange(k), counts)


def _marginal_log_prob(model: RealNVP, x: Tensor, prior: Tensor) -> Tensor:
    """``log sum_y p(y) p(x | y)`` of points ``x`` ``(n, 2)`` in nats, ``(n,)`` float64, for
    the label probabilities ``prior`` ``(k,)``."""
    n, k = x.shape[0], prior.shape[0]
    with torch.no_grad():
        log_joint = (
            torch.stack(
                [model.log_prob(x, one_hot(torch.full((n,), j), k)) for j in range(k)], 1
            ).double()
            + prior.log()
        )
    return torch.logsumexp(log_joint, dim=1)
