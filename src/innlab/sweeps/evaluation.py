"""Scoring a trained flow on the held-out set shared by every trial of a sweep."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from innlab.data import one_hot
from innlab.flows.realnvp import RealNVP
from innlab.metrics import c2st, mean_nll, median_bandwidths, mmd, oracle_accuracy
from innlab.sweeps.datasets import ToyDataset

__all__ = ["HeldOut", "evaluate", "generate"]

_C2ST_CLASSIFIER = "knn"
"""Classifier of a trial's C2ST accuracy: in 2-D as strong as the default trees and faster."""

_C2ST_FOLDS = 5
"""Cross-validation folds of a trial's C2ST accuracy (fewer when the held-out set is tiny)."""


@dataclass(frozen=True)
class HeldOut:
    """Held-out points with everything the metrics need that does not depend on the model.

    Attributes:
        x, y: points ``(n, 2)`` and labels ``(n,)``.
        conditions: one-hot labels ``(n, K)`` for conditional models, else ``None``.
        true_nll: NLL of the true density (``p(x|y)`` for conditional models), nats.
        bandwidths: MMD kernel bandwidths, fixed from the held-out points by the median rule so
            that every trial is scored with the same kernel.
    """

    x: Tensor
    y: Tensor
    conditions: Tensor | None
    true_nll: float
    bandwidths: tuple[float, ...]

    @classmethod
    def build(cls, dataset: ToyDataset, n: int, seed: int, conditional: bool) -> HeldOut:
        x, y = dataset.sample(n, seed)
        if conditional:
            true_log_prob = dataset.conditional_log_prob(x, y)
            conditions = one_hot(y, dataset.num_classes)
        else:
            true_log_prob, conditions = dataset.log_prob(x), None
        half = n // 2
        return cls(
            x, y, conditions, float(-true_log_prob.mean()), median_bandwidths(x[:half], x[half:])
        )


def generate(model: RealNVP, held_out: HeldOut, seed: int) -> Tensor:
    """One generated point per held-out point ``(n, 2)``, conditioned on its label for a
    conditional model, so that generated and held-out label mixtures agree."""
    with torch.no_grad():
        if held_out.conditions is None:
            return model.sample(held_out.x.shape[0], generator=seed)
        return model.sample(1, held_out.conditions, generator=seed)[:, 0]


def evaluate(
    model: RealNVP,
    dataset: ToyDataset,
    held_out: HeldOut,
    metrics: Sequence[str],
    samples: Tensor,
) -> dict[str, float | None]:
    """The requested ``metrics`` of ``model`` (see :mod:`innlab.sweeps.config`) plus its
    parameter count; ``samples`` come from :func:`generate`. ``None`` stands for a non-finite
    value (also for sample-based scores when a sample is not finite).

    ``"c2st"`` gives ``c2st_accuracy``: the cross-validated accuracy in ``[0, 1]`` of a
    classifier telling ``samples`` from the held-out points (:func:`innlab.metrics.c2st`, no
    permutation null; 0.5 when it cannot tell them apart).
    """
    scores: dict[str, float | None] = {"parameters": model.num_parameters}
    if "test_nll" in metrics or "nll_gap" in metrics:
        nll = mean_nll(model, held_out.x, held_out.conditions)
        if "test_nll" in metrics:
            scores["test_nll"] = nll
        if "nll_gap" in metrics:
            scores["true_nll"] = held_out.true_nll
            scores["nll_gap"] = nll - held_out.true_nll
    finite = bool(torch.isfinite(samples).all())
    if "mmd" in metrics:
        scores["mmd"] = mmd(samples, held_out.x, bandwidths=held_out.bandwidths) if finite else None
    if "c2st" in metrics:
        scores["c2st_accuracy"] = _c2st_accuracy(samples, held_out.x) if finite else None
    if "data_scores" in metrics and finite:
        scores.update(dataset.mode_scores(samples))
        if held_out.conditions is not None:
            scores["oracle_accuracy"] = oracle_accuracy(samples, held_out.y, dataset.posterior)
    return {k: v if v is None or math.isfinite(v) else None for k, v in scores.items()}


def _c2st_accuracy(samples: Tensor, x: Tensor) -> float | None:
    """C2ST accuracy of generated ``samples`` ``(n, 2)`` against held-out ``x`` ``(n, 2)``, with
    a fixed seed so that every trial is scored alike; ``None`` for fewer than 2 points."""
    folds = min(_C2ST_FOLDS, samples.shape[0], x.shape[0])
    if folds < 2:
        return None
    return c2st(samples, x, classifier=_C2ST_CLASSIFIER, folds=folds, null=0, seed=0).accuracy
