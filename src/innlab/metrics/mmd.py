"""Maximum mean discrepancy (MMD) between two samples, with a permutation test.

The squared MMD compares two distributions through a kernel ``k``::

    MMD^2 = E k(x, x') + E k(y, y') - 2 E k(x, y)

The unbiased estimate (a U-statistic) leaves out the ``i == j`` terms of the within-sample sums;
it averages to 0 for two samples of one distribution, so single values can be negative. All sums
are accumulated in float64 block by block, so memory stays bounded for any sample size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from innlab._validation import check_choice, check_positive_int
from innlab.metrics._inputs import Seed, check_bandwidths, make_generator, same_columns
from innlab.metrics._kernels import KERNELS, kernel_matmul, make_kernel, squared_distances

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_SCALES",
    "MMDTestResult",
    "median_bandwidths",
    "mmd",
    "mmd_test",
]

DEFAULT_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0)  # multiples of the median pairwise distance
DEFAULT_BLOCK_SIZE = 512  # a few 2 MiB float64 temporaries per block; cache friendly
Bandwidths = float | Sequence[float] | np.ndarray | None


@dataclass(frozen=True)
class MMDTestResult:
    """Outcome of :func:`mmd_test`.

    Attributes:
        statistic: the squared MMD of the observed split.
        p_value: ``(1 + #{permuted >= observed}) / (1 + permutations)``.
        permutations: number of random relabellings of the pooled sample.
        kernel, bandwidths: the kernel that was used.
    """

    statistic: float
    p_value: float
    permutations: int
    kernel: str
    bandwidths: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields."""
        return asdict(self)


def median_bandwidths(
    x: Tensor | np.ndarray,
    y: Tensor | np.ndarray,
    scales: Sequence[float] = DEFAULT_SCALES,
    *,
    max_points: int = 1000,
) -> tuple[float, ...]:
    """Bandwidths ``median * scales`` from the median pairwise distance of the pooled sample.

    Args:
        x, y: samples ``(n, d)`` and ``(m, d)``.
        scales: positive multipliers of the median distance.
        max_points: the median is taken over a fixed (seed 0) random subset of at most this many
            pooled points, so the cost does not grow with the sample size.

    Returns:
        One bandwidth per scale, in the units of the data.
    """
    x, y = same_columns(x, y, ("x", "y"))
    max_points = check_positive_int(max_points, "max_points")
    scales = check_bandwidths(scales, "scales")
    pooled = torch.cat([x, y])
    if pooled.shape[0] > max_points:
        chosen = torch.randperm(pooled.shape[0], generator=torch.Generator().manual_seed(0))
        pooled = pooled[chosen[:max_points].to(pooled.device)]
    rows, cols = torch.triu_indices(pooled.shape[0], pooled.shape[0], offset=1)
    distances = squared_distances(pooled, pooled)[rows, cols].sqrt()
    median = float(np.median(distances.cpu().numpy())) if distances.numel() else 0.0
    if median <= 0.0:
        raise ValueError(
            "bandwidths cannot be derived from the data: the median pairwise distance is 0; "
            "pass explicit bandwidths"
        )
    return tuple(median * s for s in scales)


def mmd(
    x: Tensor | np.ndarray,
    y: Tensor | np.ndarray,
    *,
    kernel: str = "gaussian",
    bandwidths: Bandwidths = None,
    unbiased: bool = True,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> float:
    """Squared MMD between samples ``x`` ``(n, d)`` and ``y`` ``(m, d)``.

    Args:
        x, y: samples (tensors or float arrays); computed in float64.
        kernel: ``"gaussian"`` (``sum_h exp(-r^2 / (2 h^2))``) or ``"imq"``
            (``sum_h (1 + r^2 / h^2)^(-1/2)``).
        bandwidths: one or more ``h`` in data units; ``None`` uses :func:`median_bandwidths`.
        unbiased: U-statistic without the diagonal terms (needs ``n, m >= 2``); ``False`` gives
            the biased V-statistic (always >= 0).
        block_size: points per block; the ``(n + m)^2`` kernel matrix is never formed.

    Returns:
        The squared MMD, in units of the kernel (dimensionless).

    Example:
        >>> x, y = torch.randn(500, 2), torch.randn(500, 2) + 1.0
        >>> mmd(x, y, bandwidths=[0.5, 1.0]) > 0.1
        True
    """
    z, kernel_fn, _, n = _prepare(x, y, kernel, bandwidths, unbiased, block_size)
    indicator = torch.zeros(z.shape[0], 1, dtype=z.dtype, device=z.device)
    indicator[:n] = 1.0
    return float(_split_statistics(z, indicator, n, kernel_fn, unbiased, block_size)[0])


def mmd_test(
    x: Tensor | np.ndarray,
    y: Tensor | np.ndarray,
    permutations: int = 200,
    seed: Seed = None,
    *,
    kernel: str = "gaussian",
    bandwidths: Bandwidths = None,
    unbiased: bool = True,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> MMDTestResult:
    """Permutation test of ``x`` and ``y`` coming from the same distribution.

    The pooled sample is split at random into groups of sizes ``n`` and ``m`` ``permutations``
    times; all splits share one blockwise pass over the kernel matrix. Bandwidths are fixed once
    from the pooled sample, so every split uses the same kernel. Other arguments as in :func:`mmd`.

    Args:
        permutations: number of random splits (>= 1).
        seed: int, ``torch.Generator`` or ``None`` (fresh entropy) for the splits.
    """
    permutations = check_positive_int(permutations, "permutations")
    generator = make_generator(seed)
    z, kernel_fn, used, n = _prepare(x, y, kernel, bandwidths, unbiased, block_size)
    total = z.shape[0]
    indicators = torch.zeros(total, permutations + 1, dtype=z.dtype)
    indicators[:n, 0] = 1.0
    for p in range(1, permutations + 1):
        indicators[torch.randperm(total, generator=generator)[:n], p] = 1.0
    stats = _split_statistics(z, indicators.to(z.device), n, kernel_fn, unbiased, block_size)
    observed = stats[0]
    exceed = int((stats[1:] >= observed).sum())
    return MMDTestResult(
        statistic=float(observed),
        p_value=(1 + exceed) / (1 + permutations),
        permutations=permutations,
        kernel=kernel,
        bandwidths=used,
    )


def _prepare(
    x: Any, y: Any, kernel: str, bandwidths: Bandwidths, unbiased: bool, block_size: int
) -> tuple[Tensor, Callable[[Tensor], Tensor], tuple[float, ...], int]:
    """Validate; return the pooled sample ``(n + m, d)``, the kernel, its bandwidths and ``n``."""
    check_choice(kernel, "kernel", KERNELS)
    if not isinstance(unbiased, bool):
        raise TypeError(f"unbiased must be a bool, got {type(unbiased).__name__}")
    block_size = check_positive_int(block_size, "block_size")
    x, y = same_columns(x, y, ("x", "y"), min_rows=2 if unbiased else 1)
    if bandwidths is None:
        used = median_bandwidths(x, y)
    else:
        used = check_bandwidths(bandwidths, "bandwidths")
    return torch.cat([x, y]), make_kernel(kernel, used), used, x.shape[0]


def _split_statistics(
    z: Tensor,
    indicators: Tensor,
    n: int,
    kernel: Callable[[Tensor], Tensor],
    unbiased: bool,
    block_size: int,
) -> Tensor:
    """Squared MMD for each split of the pooled ``z`` ``(N, d)`` given by ``indicators`` ``(N, P)``.

    Column ``p`` of ``indicators`` marks the ``n`` points of the first group with 1. Returns
    ``(P,)``. Only ``K a_p`` and ``K 1`` are needed: with ``s = a^T K 1`` and ``T = 1^T K 1``,
    the within-group sums are ``a^T K a`` and ``T - 2 s + a^T K a``.
    """
    m = z.shape[0] - n
    ones = torch.ones(z.shape[0], 1, dtype=z.dtype, device=z.device)
    products = kernel_matmul(
        z,
        torch.cat([indicators, ones], dim=1),
        kernel,
        block_size=block_size,
        exclude_diagonal=unbiased,
    )
    k_a, k_one = products[:, :-1], products[:, -1]
    sum_xx = (indicators * k_a).sum(0)
    cross = indicators.T @ k_one
    sum_yy = k_one.sum() - 2 * cross + sum_xx
    sum_xy = cross - sum_xx
    if unbiased:
        return sum_xx / (n * (n - 1)) + sum_yy / (m * (m - 1)) - 2 * sum_xy / (n * m)
    return sum_xx / n**2 + sum_yy / m**2 - 2 * sum_xy / (n * m)
