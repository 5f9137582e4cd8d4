"""The null distribution of the MMD: the same statistic between two independent real samples.

The unbiased squared MMD of two samples from one distribution averages to 0, so a ratio
"model MMD / real-vs-real MMD" means nothing. Instead, compare a model's value with the spread
of real-vs-real values at the same sample size and kernel (:func:`compare_to_null`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from innlab._validation import check_positive_int, resolve_seed
from innlab.metrics._inputs import (
    Seed,
    as_float64,
    check_bandwidths,
    check_finite_float,
    make_generator,
)
from innlab.metrics.mmd import DEFAULT_BLOCK_SIZE, Bandwidths, median_bandwidths, mmd

__all__ = ["MMDNull", "compare_to_null", "mmd_null", "mmd_null_from_pool"]

Sampler = Callable[[int, int], Tensor | np.ndarray]


@dataclass(frozen=True)
class MMDNull:
    """Squared MMD values between pairs of independent real samples of size ``n``.

    Attributes:
        mean, std: mean and sample standard deviation (``ddof=1``) of ``values``.
        q95: the 95% quantile of ``values`` (linear interpolation).
        values: one squared MMD per draw.
        n: points per sample.
        kernel, bandwidths, unbiased: the statistic; pass the same ones to :func:`mmd` for the
            model's value, e.g. ``mmd(generated, test, bandwidths=null.bandwidths)``.
    """

    mean: float
    std: float
    q95: float
    values: tuple[float, ...]
    n: int
    kernel: str
    bandwidths: tuple[float, ...]
    unbiased: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields."""
        return asdict(self)


def mmd_null(
    sampler: Sampler,
    n: int,
    *,
    draws: int = 20,
    seed: int | None = 0,
    kernel: str = "gaussian",
    bandwidths: Bandwidths = None,
    unbiased: bool = True,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> MMDNull:
    """Null distribution of the squared MMD from a sampler of the true distribution.

    Args:
        sampler: ``sampler(n, seed)`` returns ``n`` real points ``(n, d)``; different seeds must
            give independent i.i.d. samples. ``sklearn.datasets.make_moons`` is not one: it
            places points at evenly spaced angles, so two of its samples agree better than
            independent ones and the null comes out biased low.
        n: points per sample (use the size of the model sample you will compare).
        draws: number of sample pairs (>= 2).
        seed: derives the ``2 * draws`` sampler seeds; ``None`` uses fresh entropy.
        kernel, bandwidths, unbiased, block_size: as in :func:`~innlab.metrics.mmd`;
            ``bandwidths=None`` fixes them from the first pair by the median rule and keeps them
            for every draw.

    Example:
        >>> def gauss(n, seed):
        ...     return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
        >>> null = mmd_null(gauss, 200)
        >>> abs(null.mean) < 3 * null.std
        True
    """
    if not callable(sampler):
        raise TypeError(
            f"sampler must be callable as sampler(n, seed), got {type(sampler).__name__}"
        )
    n = check_positive_int(n, "n")
    draws = _check_draws(draws)
    seeds = np.random.SeedSequence(resolve_seed(seed, "seed")).generate_state(2 * draws).tolist()

    def pairs() -> Iterator[tuple[Tensor, Tensor]]:
        for i in range(draws):
            yield (
                as_float64(sampler(n, seeds[2 * i]), "sampler(n, seed)", min_rows=n),
                as_float64(sampler(n, seeds[2 * i + 1]), "sampler(n, seed)", min_rows=n),
            )

    return _summarise(pairs(), n, kernel, bandwidths, unbiased, block_size)


def mmd_null_from_pool(
    data: Tensor | np.ndarray,
    n: int,
    *,
    draws: int = 20,
    seed: Seed = 0,
    kernel: str = "gaussian",
    bandwidths: Bandwidths = None,
    unbiased: bool = True,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> MMDNull:
    """Null distribution from a finite set of real points ``data`` ``(N, d)``, ``N >= 2 n``.

    Each draw compares two disjoint random subsets of size ``n``. Draws reuse the pool, so they
    are not independent of each other; use :func:`mmd_null` when a sampler exists. Other
    arguments as in :func:`mmd_null`; ``seed`` may also be a ``torch.Generator``.
    """
    data = as_float64(data, "data")
    n = check_positive_int(n, "n")
    if 2 * n > data.shape[0]:
        raise ValueError(f"n must be at most half the pool size ({data.shape[0]} rows), got n={n}")
    draws = _check_draws(draws)
    generator = make_generator(seed)

    def pairs() -> Iterator[tuple[Tensor, Tensor]]:
        for _ in range(draws):
            chosen = torch.randperm(data.shape[0], generator=generator).to(data.device)
            yield data[chosen[:n]], data[chosen[n : 2 * n]]

    return _summarise(pairs(), n, kernel, bandwidths, unbiased, block_size)


def compare_to_null(value: float, null: MMDNull) -> dict[str, float | bool]:
    """Place a model's squared MMD within the null distribution.

    Returns:
        ``value``; ``below_q95``: whether ``value`` is below the null's 95% quantile (the model
        is indistinguishable from real data at this sample size); ``z_score``: how many null
        standard deviations ``value`` lies above the null mean.
    """
    value = check_finite_float(value, "value")
    if not isinstance(null, MMDNull):
        raise TypeError(f"null must be an MMDNull, got {type(null).__name__}")
    if not null.std > 0:
        raise ValueError(f"null.std must be > 0, got {null.std}")
    return {
        "value": value,
        "below_q95": value < null.q95,
        "z_score": (value - null.mean) / null.std,
    }


def _check_draws(draws: Any) -> int:
    draws = check_positive_int(draws, "draws")
    if draws < 2:
        raise ValueError(f"draws must be >= 2 to estimate a spread, got {draws}")
    return draws


def _summarise(
    pairs: Iterator[tuple[Tensor, Tensor]],
    n: int,
    kernel: str,
    bandwidths: Bandwidths,
    unbiased: bool,
    block_size: int,
) -> MMDNull:
    first = next(pairs)
    if bandwidths is None:
        used = median_bandwidths(*first)
    else:
        used = check_bandwidths(bandwidths, "bandwidths")
    values = [
        mmd(x, y, kernel=kernel, bandwidths=used, unbiased=unbiased, block_size=block_size)
        for x, y in itertools.chain([first], pairs)
    ]
    array = np.asarray(values)
    std = float(array.std(ddof=1))
    if not std > 0 or not math.isfinite(std):
        raise ValueError(
            f"the null values have no spread (std={std}); does the sampler use its seed?"
        )
    return MMDNull(
        mean=float(array.mean()),
        std=std,
        q95=float(np.quantile(array, 0.95)),
        values=tuple(values),
        n=n,
        kernel=kernel,
        bandwidths=used,
        unbiased=unbiased,
    )
