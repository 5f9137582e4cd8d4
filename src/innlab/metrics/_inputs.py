"""Input conversion shared by the metrics: float64 tensors, finite scalars, seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from innlab._validation import check_matrix, check_positive_float, resolve_seed

__all__ = [
    "as_float64",
    "check_bandwidths",
    "check_finite_float",
    "make_generator",
    "same_columns",
]

Seed = int | torch.Generator | None


def as_float64(x: Any, name: str, *, min_rows: int = 1, columns: int | None = None) -> Tensor:
    """Validate a finite ``(n, d)`` array and return it as a float64 tensor (device kept).

    Raises ``ValueError`` when ``n < min_rows`` or ``d != columns``.
    """
    x = check_matrix(x, name, columns=columns, dtype=torch.float64)
    if x.shape[0] < min_rows:
        raise ValueError(f"{name} must have at least {min_rows} row(s), got shape {tuple(x.shape)}")
    return x


def same_columns(
    x: Any, y: Any, names: tuple[str, str], *, min_rows: int = 1
) -> tuple[Tensor, Tensor]:
    """Convert two samples to float64 tensors on ``x``'s device with the same width ``d``."""
    x = as_float64(x, names[0], min_rows=min_rows)
    y = check_matrix(y, names[1], dtype=torch.float64, device=x.device)
    if y.shape[1] != x.shape[1]:
        raise ValueError(
            f"{names[1]} must have the same number of columns as {names[0]} ({x.shape[1]}), "
            f"got shape {tuple(y.shape)}"
        )
    if y.shape[0] < min_rows:
        raise ValueError(
            f"{names[1]} must have at least {min_rows} row(s), got shape {tuple(y.shape)}"
        )
    return x, y


def check_bandwidths(values: Any, name: str) -> tuple[float, ...]:
    """Positive bandwidths as a tuple, from one number or a sequence (list, tuple, array)."""
    if isinstance(values, (int, float, np.integer, np.floating)) and not isinstance(values, bool):
        values = (values,)
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise TypeError(
            f"{name} must be a positive number or a sequence of them, got {type(values).__name__}"
        )
    if len(values) == 0:
        raise ValueError(f"{name} must not be empty, got {values!r}")
    return tuple(check_positive_float(v, f"{name}[{i}]") for i, v in enumerate(values))


def check_finite_float(value: Any, name: str) -> float:
    """Return ``value`` as ``float`` if it is a finite real number, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a finite number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return value


def make_generator(seed: Seed, name: str = "seed") -> torch.Generator:
    """A CPU ``torch.Generator`` from an int seed, a generator (returned as is) or ``None``
    (innlab's seed rule, :func:`innlab._validation.resolve_seed`: a seed drawn from torch's
    global generator, which is never reseeded)."""
    if isinstance(seed, torch.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(
            f"{name} must be an int, a torch.Generator or None, got {type(seed).__name__}"
        )
    return torch.Generator().manual_seed(resolve_seed(seed, name))
