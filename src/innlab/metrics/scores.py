"""Classifier-based scores for conditional samples: oracle posteriors and a random forest.

Conditional samples may be passed flat, ``(n, d)`` with labels ``(n,)``, or as returned by
``RealNVP.sample(num, conditions)``: ``(C, num, d)`` with one requested label per row ``(C,)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from innlab._validation import check_int, check_labels, check_positive_float, check_positive_int
from innlab.metrics._inputs import as_float64, same_columns
from innlab.metrics._kernels import squared_distances

__all__ = [
    "classifier_scores",
    "fit_digit_classifier",
    "mode_coverage",
    "oracle_accuracy",
]

PosteriorFn = Callable[[Tensor], Tensor | np.ndarray]


def oracle_accuracy(
    samples: Tensor | np.ndarray,
    requested_labels: Tensor | np.ndarray,
    posterior_fn: PosteriorFn,
) -> float:
    """Share of conditional samples whose most probable true label is the requested one.

    Args:
        samples: ``(n, d)`` or ``(C, num, d)``.
        requested_labels: ``(n,)`` or ``(C,)`` int labels the samples were generated for.
        posterior_fn: the true posterior, ``posterior_fn(x (n, d) float64) -> (n, K)``
            class probabilities (or any scores whose argmax is the most probable class).
    """
    x, labels = _flatten(samples, requested_labels, "samples")
    if not callable(posterior_fn):
        raise TypeError(f"posterior_fn must be callable, got {type(posterior_fn).__name__}")
    probs = torch.as_tensor(posterior_fn(x))
    if probs.ndim != 2 or probs.shape[0] != x.shape[0] or probs.shape[1] <= int(labels.max()):
        raise ValueError(
            f"posterior_fn must return shape ({x.shape[0]}, K) with K > {int(labels.max())} "
            f"(the largest requested label), got shape {tuple(probs.shape)}"
        )
    return float((probs.argmax(dim=1).cpu() == labels.cpu()).double().mean())


def mode_coverage(
    samples: Tensor | np.ndarray,
    centers: Tensor | np.ndarray,
    std: float,
    *,
    radius: float = 3.0,
) -> dict[str, Any]:
    """How samples of a Gaussian mixture spread over its components.

    Args:
        samples: ``(n, d)`` points (e.g. merged samples of all labels).
        centers: component means ``(K, d)``.
        std: the components' common standard deviation, in data units.
        radius: a sample farther than ``radius * std`` from every centre is an outlier.

    Returns:
        ``shares``: list of K shares of samples whose nearest centre is component k (sums to 1);
        ``outlier_share``: share of samples farther than ``radius * std`` from every centre
        (for 2-D data and ``radius=3`` about 1% under the true mixture).
    """
    centers, x = same_columns(centers, samples, ("centers", "samples"))
    std = check_positive_float(std, "std")
    radius = check_positive_float(radius, "radius")
    distances = squared_distances(x, centers).sqrt_()
    nearest, which = distances.min(dim=1)
    counts = torch.bincount(which, minlength=centers.shape[0]).double()
    return {
        "shares": (counts / x.shape[0]).tolist(),
        "outlier_share": float((nearest > radius * std).double().mean()),
    }


def fit_digit_classifier(
    x_train: Tensor | np.ndarray,
    y_train: Tensor | np.ndarray,
    *,
    seed: int = 0,
    n_estimators: int = 300,
    n_jobs: int | None = -1,
) -> Any:
    """Fit a random forest to flattened images ``x_train`` ``(n, pixels)``, labels ``(n,)``.

    Returns:
        A fitted ``sklearn.ensemble.RandomForestClassifier`` (``random_state=seed``).
    """
    from sklearn.ensemble import RandomForestClassifier  # deferred: sklearn is slow to import

    x = as_float64(x_train, "x_train")
    y = check_labels(y_train, "y_train", rows=x.shape[0])
    n_estimators = check_positive_int(n_estimators, "n_estimators")
    forest = RandomForestClassifier(
        n_estimators=n_estimators,
        random_state=check_int(seed, "seed", minimum=0, maximum=2**32 - 1),
        n_jobs=n_jobs,
    )
    return forest.fit(x.cpu().numpy(), y.cpu().numpy())


def classifier_scores(
    clf: Any, images: Tensor | np.ndarray, requested_labels: Tensor | np.ndarray
) -> dict[str, float]:
    """Score generated images with a fitted probabilistic classifier (``predict_proba``).

    Args:
        clf: e.g. from :func:`fit_digit_classifier`.
        images: ``(n, pixels)`` or ``(C, num, pixels)``, in the classifier's input scale.
        requested_labels: ``(n,)`` or ``(C,)``; every label must be one of ``clf.classes_``.

    Returns:
        ``accuracy``: share classified as the requested label; ``mean_confidence``: mean of the
        largest class probability; ``mean_requested_prob``: mean probability of the requested
        label. Compare with the same numbers on real test images.
    """
    if not callable(getattr(clf, "predict_proba", None)) or not hasattr(clf, "classes_"):
        raise TypeError(
            f"clf must be a fitted classifier with predict_proba and classes_, "
            f"got {type(clf).__name__}"
        )
    x, labels = _flatten(images, requested_labels, "images", getattr(clf, "n_features_in_", None))
    classes = np.asarray(clf.classes_)
    wanted = labels.cpu().numpy()
    unknown = np.setdiff1d(wanted, classes)
    if unknown.size:
        raise ValueError(
            f"requested_labels must be among the classifier's classes {classes.tolist()}, "
            f"got {unknown.tolist()}"
        )
    probs = np.asarray(clf.predict_proba(x.cpu().numpy()))
    column_of = {label: i for i, label in enumerate(classes.tolist())}
    columns = np.array([column_of[label] for label in wanted.tolist()], dtype=np.int64)
    return {
        "accuracy": float(np.mean(classes[probs.argmax(axis=1)] == wanted)),
        "mean_confidence": float(probs.max(axis=1).mean()),
        "mean_requested_prob": float(probs[np.arange(len(wanted)), columns].mean()),
    }


def _flatten(
    samples: Any, labels: Any, name: str, columns: int | None = None
) -> tuple[Tensor, Tensor]:
    """``(n, d)`` float64 samples and ``(n,)`` labels from flat or per-condition input."""
    if isinstance(samples, (Tensor, np.ndarray)) and samples.ndim == 3:
        rows, per_row = samples.shape[0], samples.shape[1]
        labels = check_labels(labels, "requested_labels", rows=rows).repeat_interleave(per_row)
        samples = samples.reshape(rows * per_row, samples.shape[2])
    x = as_float64(samples, name, columns=columns)
    return x, check_labels(labels, "requested_labels", rows=x.shape[0])
