"""Argument checks shared by every public entry point.

Each check raises ``ValueError`` (bad value) or ``TypeError`` (bad type) with a message that
names the argument, what was expected and what was given, in the style of scikit-learn.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the tensor checks import torch when called: the CLI parses without it
    import torch

__all__ = [
    "SEED_LIMIT",
    "check_bool",
    "check_choice",
    "check_int",
    "check_seed",
    "resolve_seed",
    "check_finite_tensor",
    "surely_finite",
    "check_positive_int",
    "check_nonnegative_int",
    "check_positive_float",
    "check_matrix",
    "check_labels",
]


def _type_name(value: Any) -> str:
    return type(value).__name__


def check_int(
    value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Return ``value`` as ``int`` if it is an integer (Python or numpy, not bool) within
    ``[minimum, maximum]`` (either bound may be ``None``), else raise."""
    bounds = _bounds_text(minimum, maximum)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int{bounds}, got {_type_name(value)} {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an int{bounds}, got {value}")
    return int(value)


def _bounds_text(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" in [{minimum}, {maximum}]"
    if minimum is not None:
        return f" >= {minimum}"
    return f" <= {maximum}" if maximum is not None else ""


def check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` as ``int`` if it is an integer >= 1, else raise."""
    return check_int(value, name, minimum=1)


def check_nonnegative_int(value: Any, name: str) -> int:
    """Return ``value`` as ``int`` if it is an integer >= 0, else raise."""
    return check_int(value, name, minimum=0)


def check_bool(value: Any, name: str) -> bool:
    """Return ``value`` if it is a ``bool`` (numpy's included), else raise ``TypeError``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {_type_name(value)} {value!r}")
    return bool(value)


SEED_LIMIT = 2**63 - 1
"""The largest seed: every seed fits a signed 64-bit integer (torch's and numpy's generators)."""


def check_seed(
    value: Any, name: str = "seed", *, allow_none: bool = False, limit: int = SEED_LIMIT
) -> int:
    """Return ``value`` as ``int`` if it is an integer seed in ``[0, limit]``, else raise."""
    bound = "2**63 - 1" if limit == SEED_LIMIT else f"{limit:_}".replace("_", ",")
    expected = f"an int seed in [0, {bound}]" + (" or None" if allow_none else "")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be {expected}, got {_type_name(value)} {value!r}")
    if not 0 <= value <= limit:
        raise ValueError(f"{name} must be {expected}, got {value}")
    return int(value)


def resolve_seed(value: Any, name: str = "seed", *, limit: int = SEED_LIMIT) -> int:
    """innlab's one seed rule: an int seed in ``[0, limit]`` is checked and returned; ``None``
    draws one from torch's global generator, so ``torch.manual_seed`` makes every ``None``
    reproducible (and the global generator is never reseeded)."""
    if value is None:
        import torch

        return int(torch.randint(0, min(limit, 2**62), (1,)))
    return check_seed(value, name, allow_none=True, limit=limit)


def check_positive_float(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """Return ``value`` as ``float`` if it is a finite number > 0 (>= 0 with ``allow_zero``)."""
    bound = ">= 0" if allow_zero else "> 0"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(
            f"{name} must be a finite number {bound}, got {_type_name(value)} {value!r}"
        )
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {bound}, got {value}")
    return value


def check_choice(value: Any, name: str, choices: Collection[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError``."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def surely_finite(x: torch.Tensor) -> bool:
    """A fast test that ``x`` holds no NaN or infinity: one vectorised sum (4-20x faster than
    ``isfinite(x).all()``), which a NaN or inf anywhere makes non-finite. ``False`` also when
    finite values sum beyond the dtype's range, so count the bad values before refusing."""
    import torch

    return bool(x.is_floating_point() and torch.isfinite(x.sum()))


def check_finite_tensor(x: torch.Tensor, name: str) -> None:
    """Raise ``ValueError`` if ``x`` holds NaN or infinite values."""
    import torch

    if surely_finite(x):
        return
    bad = int((~torch.isfinite(x)).sum())
    if bad:
        raise ValueError(f"{name} must be finite, got {bad} NaN or infinite value(s)")


def check_matrix(
    x: Any,
    name: str,
    *,
    columns: int | None = None,
    rows: int | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    finite: bool = True,
    allow_empty: bool = False,
) -> torch.Tensor:
    """Validate a 2-D floating-point array and return it as a tensor.

    Args:
        x: tensor or array-like of shape ``(n, d)``.
        name: argument name used in error messages.
        columns: required ``d`` (``None``: any).
        rows: required ``n`` (``None``: any).
        dtype, device: convert to these if given (floating dtypes only).
        finite: reject NaN/inf.
        allow_empty: accept ``n == 0``.

    Returns:
        The tensor of shape ``(n, d)``, converted to ``dtype``/``device`` if given.
    """
    import torch

    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "f":
            raise TypeError(
                f"{name} must hold floating-point values, got a numpy array of dtype {x.dtype}"
            )
        x = torch.from_numpy(x)
    elif not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {_type_name(x)}")
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must hold floating-point values (float32 or float64), got dtype {x.dtype}"
            + ("; convert integer data with .float()" if not x.is_complex() else "")
        )
    if x.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D with shape (n, d), got {x.ndim}-D shape {tuple(x.shape)}"
        )
    if columns is not None and x.shape[1] != columns:
        raise ValueError(f"{name} must have {columns} column(s), got shape {tuple(x.shape)}")
    if rows is not None and x.shape[0] != rows:
        raise ValueError(f"{name} must have {rows} row(s), got shape {tuple(x.shape)}")
    if not allow_empty and x.shape[0] == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(x.shape)}")
    if dtype is not None or device is not None:
        x = x.to(dtype=dtype, device=device)
    if finite:
        check_finite_tensor(x, name)
    return x


def check_labels(
    y: Any, name: str, *, num_classes: int | None = None, rows: int | None = None
) -> torch.Tensor:
    """Validate integer class labels of shape ``(n,)`` and return them as ``int64``."""
    import torch

    if isinstance(y, np.ndarray):
        y = torch.from_numpy(y)
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {_type_name(y)}")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer labels, got dtype {y.dtype}")
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D with shape (n,), got shape {tuple(y.shape)}")
    if rows is not None and y.shape[0] != rows:
        raise ValueError(f"{name} must have {rows} entries, got {y.shape[0]}")
    y = y.long()
    if y.numel() and int(y.min()) < 0:
        raise ValueError(f"{name} must be >= 0, got minimum {int(y.min())}")
    if num_classes is not None and y.numel() and int(y.max()) >= num_classes:
        raise ValueError(
            f"{name} must be < {num_classes} (num_classes), got maximum {int(y.max())}"
        )
    return y
