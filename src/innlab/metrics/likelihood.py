"""Likelihood metrics: mean negative log-likelihood, bits per dimension, gap to the truth."""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from innlab._validation import check_finite_tensor, check_matrix, check_positive_int
from innlab.metrics._inputs import check_finite_float

__all__ = ["DensityModel", "batched_log_prob", "bits_per_dim", "mean_nll", "nll_gap"]


class DensityModel(Protocol):
    """Anything with ``log_prob(x, c) -> (n,)`` in nats, e.g. :class:`innlab.RealNVP`."""

    def log_prob(self, x: Tensor, c: Tensor | None = None) -> Tensor: ...


def batched_log_prob(
    model: DensityModel, x: Tensor | np.ndarray, c: Tensor | None = None, *, batch_size: int = 4096
) -> Tensor:
    """``model.log_prob`` of ``x`` ``(n, d)`` (conditions ``c`` ``(n, k)``) in batches, without
    gradients and in eval mode (the model's mode is restored afterwards).

    Returns:
        ``(n,)`` float64 log densities in nats.
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    if not callable(getattr(model, "log_prob", None)):
        raise TypeError(f"model must have a log_prob(x, c) method, got {type(model).__name__}")
    x = check_matrix(x, "x")
    if c is not None:
        c = check_matrix(c, "c", rows=x.shape[0])
    was_training = isinstance(model, torch.nn.Module) and model.training
    if isinstance(model, torch.nn.Module):
        model.eval()
    try:
        with torch.no_grad():
            parts = [
                model.log_prob(
                    x[i : i + batch_size], None if c is None else c[i : i + batch_size]
                ).to(torch.float64)
                for i in range(0, x.shape[0], batch_size)
            ]
    finally:
        if isinstance(model, torch.nn.Module):
            model.train(was_training)
    return torch.cat(parts)


def mean_nll(
    model: DensityModel, x: Tensor | np.ndarray, c: Tensor | None = None, *, batch_size: int = 4096
) -> float:
    """Mean negative log-likelihood of ``x`` ``(n, d)`` under ``model``, in nats per sample.

    See :func:`batched_log_prob` for the arguments. A model that assigns a point zero density
    gives ``inf``.
    """
    return float(-batched_log_prob(model, x, c, batch_size=batch_size).mean())


def bits_per_dim(log_prob_y: Any, preprocessing_log_det: Any, dims: int) -> float:
    """Mean negative log-likelihood in bits per dimension of the original (pixel) space.

    The one home of this conversion. With a preprocessing ``y = f(u)`` of the (dequantised)
    pixels ``u`` (scale, logit, ...; see :class:`innlab.data.PixelPreprocessing`) of
    log-determinant ``log|det dy/du|``, the density of the original data is
    ``log p(u) = log p(y) + log|det|``, so

        bpd = -mean(log p(y) + log|det|) / (dims * ln 2)

    in bits per dimension of ``u``: a model uniform over 8-bit pixels scores 8. Computed in
    float64.

    Args:
        log_prob_y: model log-densities of the preprocessed data ``(n,)``, nats (tensor, array
            or one number).
        preprocessing_log_det: ``log|det dy/du|`` per sample ``(n,)`` or one number for all,
            nats.
        dims: number of dimensions ``d`` of one sample (e.g. 64 for 8x8 images).

    Example:
        >>> import math, torch
        >>> log_det = -64 * math.log(256)  # y = u / 256 maps [0, 256)^64 onto [0, 1)^64
        >>> bits_per_dim(torch.zeros(3), log_det, dims=64)  # p(y) = 1: uniform pixels
        8.0
        >>> bits_per_dim(-64 * math.log(2), 0.0, dims=64)  # one bit per dimension
        1.0
    """
    dims = check_positive_int(dims, "dims")
    log_prob_y = _as_vector(log_prob_y, "log_prob_y")
    log_det = _as_vector(preprocessing_log_det, "preprocessing_log_det")
    if log_det.numel() not in (1, log_prob_y.numel()):
        raise ValueError(
            f"preprocessing_log_det must have 1 or {log_prob_y.numel()} entries like log_prob_y, "
            f"got {log_det.numel()}"
        )
    return float(-(log_prob_y + log_det).mean() / (dims * math.log(2.0)))


def nll_gap(model_nll: float, true_nll: float) -> float:
    """``model_nll - true_nll`` in nats: excess NLL over the true density on the same test set.

    Estimates ``KL(p_true || p_model)``; about 0 for a perfect model (negative values are
    sampling noise).
    """
    return check_finite_float(model_nll, "model_nll") - check_finite_float(true_nll, "true_nll")


def _as_vector(value: Any, name: str) -> Tensor:
    """A non-empty, finite 1-D float64 tensor from a number, array or tensor."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        value = torch.tensor([float(value)], dtype=torch.float64)
    elif isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a tensor, array or number, got {type(value).__name__}")
    value = value.detach().to(torch.float64)
    if value.ndim == 0:
        value = value.reshape(1)
    if value.ndim != 1 or value.numel() == 0:
        raise ValueError(
            f"{name} must be non-empty with shape (n,), got shape {tuple(value.shape)}"
        )
    check_finite_tensor(value, name)
    return value
