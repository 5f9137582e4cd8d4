"""MMD: agreement with a naive reference, estimator properties, blockwise path, permutation test."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from innlab.metrics import DEFAULT_SCALES, median_bandwidths, mmd, mmd_test


def gaussian(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) + shift


def naive_mmd(x, y, kernel: str, bandwidths, unbiased: bool) -> float:
    """Squared MMD from full kernel matrices, written independently of the library."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)

    def k(a, b):
        sq = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        if kernel == "gaussian":
            return sum(np.exp(-sq / (2 * h * h)) for h in bandwidths)
        return sum(1 / np.sqrt(1 + sq / (h * h)) for h in bandwidths)

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    n, m = len(x), len(y)
    if unbiased:
        within_x = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
        within_y = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    else:
        within_x, within_y = kxx.mean(), kyy.mean()
    return float(within_x + within_y - 2 * kxy.mean())


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 9),
    m=st.integers(2, 9),
    d=st.integers(1, 3),
    kernel=st.sampled_from(["gaussian", "imq"]),
    unbiased=st.booleans(),
    block_size=st.integers(1, 7),
    bandwidths=st.lists(st.floats(0.2, 3.0), min_size=1, max_size=3),
    seed=st.integers(0, 2**16),
)
def test_matches_naive_reference(n, m, d, kernel, unbiased, block_size, bandwidths, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, d)), rng.normal(0.5, 1.2, size=(m, d))
    got = mmd(x, y, kernel=kernel, bandwidths=bandwidths, unbiased=unbiased, block_size=block_size)
    assert got == pytest.approx(naive_mmd(x, y, kernel, bandwidths, unbiased), rel=1e-9, abs=1e-12)


def test_default_bandwidths_are_median_multiples():
    x, y = gaussian(40, 3, 0), gaussian(30, 3, 1, shift=0.5)
    pooled = torch.cat([x, y]).double().numpy()
    distances = np.sqrt(((pooled[:, None] - pooled[None]) ** 2).sum(-1))
    median = np.median(distances[np.triu_indices(len(pooled), k=1)])
    assert median_bandwidths(x, y) == pytest.approx([median * s for s in DEFAULT_SCALES])
    assert mmd(x, y) == pytest.approx(naive_mmd(x, y, "gaussian", median_bandwidths(x, y), True))


def test_median_is_estimated_on_a_fixed_subsample_for_large_inputs():
    x, y = gaussian(1500, 2, 0), gaussian(1500, 2, 1)
    small = median_bandwidths(x, y, max_points=500)
    assert small == median_bandwidths(x, y, max_points=500)  # deterministic
    assert small == pytest.approx(median_bandwidths(x, y, max_points=3000), rel=0.05)


@pytest.mark.parametrize("kernel", ["gaussian", "imq"])
@pytest.mark.parametrize("unbiased", [True, False])
def test_symmetric(kernel, unbiased):
    x, y = gaussian(50, 2, 0), gaussian(70, 2, 1, shift=0.3)
    options = {"kernel": kernel, "unbiased": unbiased, "bandwidths": [0.5, 1.0]}
    assert mmd(x, y, **options) == pytest.approx(mmd(y, x, **options), rel=1e-10)


def test_blockwise_equals_direct():
    x, y = gaussian(300, 5, 0), gaussian(250, 5, 1, shift=0.2)
    direct = mmd(x, y, block_size=10_000)
    assert mmd(x, y, block_size=64) == pytest.approx(direct, rel=1e-10)
    assert mmd(x, y, block_size=97, unbiased=False) == pytest.approx(
        mmd(x, y, block_size=10_000, unbiased=False), rel=1e-10
    )


def test_unbiased_estimate_averages_to_zero_under_the_null():
    values = np.array(
        [mmd(gaussian(60, 2, 2 * i), gaussian(60, 2, 2 * i + 1), bandwidths=1.0) for i in range(40)]
    )
    assert (values < 0).any()  # single unbiased values are often negative
    assert abs(values.mean()) < 3 * values.std(ddof=1) / np.sqrt(len(values))


def test_biased_estimate_is_nonnegative_and_above_unbiased():
    x, y = gaussian(40, 2, 0), gaussian(40, 2, 1)
    biased = mmd(x, y, unbiased=False, bandwidths=1.0)
    assert biased >= 0
    assert biased > mmd(x, y, bandwidths=1.0)


@pytest.mark.parametrize("kernel", ["gaussian", "imq"])
def test_clearly_positive_for_a_shift(kernel):
    null = [mmd(gaussian(200, 2, i), gaussian(200, 2, 100 + i), kernel=kernel) for i in range(5)]
    shifted = mmd(gaussian(200, 2, 7), gaussian(200, 2, 8, shift=1.0), kernel=kernel)
    assert shifted > 10 * max(abs(v) for v in null)


def test_numpy_float32_and_float64_inputs_agree():
    x, y = gaussian(30, 2, 0), gaussian(20, 2, 1)
    expected = mmd(x.double(), y.double())
    assert mmd(x.numpy(), y.numpy()) == pytest.approx(expected, rel=1e-12)
    assert mmd(x, y.double().numpy()) == pytest.approx(expected, rel=1e-12)


def test_permutation_pvalues_roughly_uniform_under_the_null():
    pvalues = np.array(
        [
            mmd_test(gaussian(30, 2, 2 * i), gaussian(30, 2, 2 * i + 1), 99, seed=i).p_value
            for i in range(30)
        ]
    )
    assert 0.3 < pvalues.mean() < 0.7
    assert (pvalues < 0.05).mean() <= 0.2
    assert (pvalues > 0.5).any() and (pvalues < 0.5).any()


def test_permutation_pvalue_small_under_a_shift():
    result = mmd_test(gaussian(60, 2, 0), gaussian(60, 2, 1, shift=1.0), permutations=199, seed=0)
    assert result.p_value == pytest.approx(1 / 200)
    assert result.statistic == pytest.approx(mmd(gaussian(60, 2, 0), gaussian(60, 2, 1, shift=1.0)))
    assert result.permutations == 199 and len(result.bandwidths) == len(DEFAULT_SCALES)


def test_permutation_test_is_reproducible():
    x, y = gaussian(25, 2, 0), gaussian(25, 2, 1)
    first = mmd_test(x, y, 50, seed=3, block_size=8)
    assert first == mmd_test(x, y, 50, seed=torch.Generator().manual_seed(3), block_size=8)
    assert first.to_dict()["p_value"] == first.p_value


@pytest.mark.parametrize(
    ("x", "y", "options", "error", "match"),
    [
        (torch.zeros(5, 2), torch.zeros(5, 3), {}, ValueError, "same number of columns"),
        (torch.zeros(0, 2), torch.zeros(5, 2), {}, ValueError, "empty"),
        (torch.zeros(5, 2), torch.zeros(1, 2), {}, ValueError, "at least 2 row"),
        (torch.full((5, 2), float("nan")), torch.zeros(5, 2), {}, ValueError, "finite"),
        (torch.zeros(5, 2), torch.zeros(5, 2), {"kernel": "laplace"}, ValueError, "kernel"),
        (torch.zeros(5, 2), torch.zeros(5, 2), {"bandwidths": [1.0, -1]}, ValueError, r"\[1\]"),
        (torch.zeros(5, 2), torch.zeros(5, 2), {"bandwidths": []}, ValueError, "bandwidths"),
        (torch.zeros(5, 2), torch.zeros(5, 2), {"bandwidths": "1"}, TypeError, "bandwidths"),
        (torch.zeros(5, 2), torch.zeros(5, 2), {"block_size": 0}, ValueError, "block_size"),
        (torch.zeros(5, 2), torch.zeros(5, 2), {"unbiased": 1}, TypeError, "unbiased"),
        (torch.zeros(5, 2), torch.zeros(5, 2), {}, ValueError, "median pairwise distance is 0"),
        (torch.zeros(5, 2, dtype=torch.long), torch.zeros(5, 2), {}, TypeError, "floating"),
        (torch.zeros(5), torch.zeros(5, 2), {}, ValueError, "2-D"),
        ([[0.0, 1.0]], torch.zeros(5, 2), {}, TypeError, "torch.Tensor or numpy"),
    ],
)
def test_clear_errors(x, y, options, error, match):
    with pytest.raises(error, match=match):
        mmd(x, y, **options)


def test_single_rows_allowed_for_the_biased_estimate():
    assert mmd(torch.zeros(1, 2), torch.ones(1, 2), unbiased=False, bandwidths=1.0) > 0


def test_mmd_test_rejects_bad_permutations_and_seed():
    x, y = gaussian(5, 2, 0), gaussian(5, 2, 1)
    with pytest.raises(ValueError, match="permutations"):
        mmd_test(x, y, permutations=0)
    with pytest.raises(TypeError, match="seed"):
        mmd_test(x, y, seed="0")
