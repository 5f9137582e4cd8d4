"""How close is a sample of codes to the standard normal N(0, I)?"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from scipy import stats
from torch import Tensor

from innlab._validation import check_positive_float, check_positive_int
from innlab.metrics._inputs import as_float64, make_generator
from innlab.metrics.mmd import mmd_test

__all__ = ["NormalityReport", "code_normality", "holm"]

_FAMILIES = 3  # per-dimension KS, radius KS, MMD test: combined by Bonferroni


@dataclass(frozen=True)
class NormalityReport:
    """Checks of a code sample ``z`` ``(n, d)`` against N(0, I); per-dimension fields have length d.

    Attributes:
        n, dims: sample size and dimension.
        mean, std, skewness, excess_kurtosis: per dimension (N(0, 1): 0, 1, 0, 0).
        ks_statistic: Kolmogorov-Smirnov distance of each dimension to N(0, 1).
        ks_pvalue: the KS p-values after Holm's correction over the ``d`` dimensions.
        ks_min_pvalue, ks_rejected: smallest corrected p-value; dimensions rejected at ``alpha``.
        radius_pvalue: KS test of the squared norms ``|z|^2`` against chi-square with ``d``
            degrees of freedom (sensitive to a wrong overall scale).
        mmd_statistic, mmd_pvalue: permutation MMD test against a reference N(0, I) sample
            (sensitive to any multivariate difference, e.g. correlations).
        max_cov_deviation: largest ``|cov(z) - I|`` entry.
        pvalue: ``min(1, 3 * min(ks_min_pvalue, radius_pvalue, mmd_pvalue))``, Bonferroni over
            the three test families.
        alpha: the level used.
        looks_normal: ``pvalue >= alpha``: no test rejects N(0, I).
    """

    n: int
    dims: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    skewness: tuple[float, ...]
    excess_kurtosis: tuple[float, ...]
    ks_statistic: tuple[float, ...]
    ks_pvalue: tuple[float, ...]
    ks_min_pvalue: float
    ks_rejected: int
    radius_pvalue: float
    mmd_statistic: float
    mmd_pvalue: float
    max_cov_deviation: float
    pvalue: float
    alpha: float
    looks_normal: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields (tuples become lists under ``json.dumps``)."""
        return asdict(self)


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (same order as ``pvalues``), capped at 1."""
    pvalues = np.asarray(pvalues, dtype=np.float64)
    k = pvalues.size
    order = np.argsort(pvalues)
    stepped = np.maximum.accumulate((k - np.arange(k)) * pvalues[order])
    adjusted = np.empty(k)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def code_normality(
    z: Tensor | np.ndarray,
    *,
    alpha: float = 0.05,
    max_points: int = 1000,
    permutations: int = 200,
    seed: int | torch.Generator | None = 0,
) -> NormalityReport:
    """Test whether codes ``z`` ``(n, d)`` (e.g. ``model.encode(x_test)[0]``) look like N(0, I).

    Args:
        z: codes, ``n >= 3``.
        alpha: significance level for ``ks_rejected`` and ``looks_normal``.
        max_points: the MMD test uses a random subset of at most this many codes and as many
            reference points (its cost grows with the square of this number).
        permutations: permutations of the MMD test.
        seed: int, ``torch.Generator`` or ``None``; drives the subset, the reference sample and
            the permutations.
    """
    z = as_float64(z, "z", min_rows=3)
    alpha = check_positive_float(alpha, "alpha")
    if alpha >= 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    max_points = check_positive_int(max_points, "max_points")
    generator = make_generator(seed)
    n, dims = z.shape
    codes = z.cpu().numpy()

    ks = [stats.kstest(codes[:, j], "norm") for j in range(dims)]
    ks_pvalue = holm(np.array([r.pvalue for r in ks]))
    radius_pvalue = float(stats.kstest(np.square(codes).sum(1), "chi2", args=(dims,)).pvalue)

    subset = z[torch.randperm(n, generator=generator)[:max_points].to(z.device)]
    reference = torch.randn(subset.shape, generator=generator, dtype=torch.float64)
    test = mmd_test(subset, reference.to(z.device), permutations, generator)

    deviation = np.atleast_2d(np.cov(codes, rowvar=False)) - np.eye(dims)
    pvalue = min(1.0, _FAMILIES * min(float(ks_pvalue.min()), radius_pvalue, test.p_value))
    return NormalityReport(
        n=n,
        dims=dims,
        mean=tuple(codes.mean(0).tolist()),
        std=tuple(codes.std(0, ddof=1).tolist()),
        skewness=tuple(stats.skew(codes, axis=0).tolist()),
        excess_kurtosis=tuple(stats.kurtosis(codes, axis=0, fisher=True).tolist()),
        ks_statistic=tuple(float(r.statistic) for r in ks),
        ks_pvalue=tuple(ks_pvalue.tolist()),
        ks_min_pvalue=float(ks_pvalue.min()),
        ks_rejected=int((ks_pvalue < alpha).sum()),
        radius_pvalue=radius_pvalue,
        mmd_statistic=test.statistic,
        mmd_pvalue=test.p_value,
        max_cov_deviation=float(np.abs(deviation).max()),
        pvalue=pvalue,
        alpha=alpha,
        looks_normal=pvalue >= alpha,
    )
