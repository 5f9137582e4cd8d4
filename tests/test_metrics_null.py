"""The MMD null distribution (real vs real) and the comparison of a model's value with it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from innlab.metrics import MMDNull, compare_to_null, mmd, mmd_null, mmd_null_from_pool


def normal_sampler(n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def null() -> MMDNull:
    return mmd_null(normal_sampler, 120, draws=10, seed=0)


def test_summary_matches_values(null):
    values = np.array(null.values)
    assert len(values) == 10 and null.n == 120
    assert null.mean == pytest.approx(values.mean())
    assert null.std == pytest.approx(values.std(ddof=1))
    assert null.q95 == pytest.approx(np.quantile(values, 0.95))
    assert abs(null.mean) < 4 * null.std / np.sqrt(len(values))  # unbiased: centred on 0
    assert json.loads(json.dumps(null.to_dict()))["kernel"] == "gaussian"


def test_bandwidths_fixed_from_first_draw_and_reproducible(null):
    assert len(null.bandwidths) == 5
    again = mmd_null(normal_sampler, 120, draws=10, seed=0)
    assert again == null
    explicit = mmd_null(normal_sampler, 120, draws=10, seed=0, bandwidths=null.bandwidths)
    assert explicit.values == pytest.approx(null.values, rel=1e-10)


def test_compare_separates_model_from_real(null):
    real = normal_sampler(120, 10_000)
    good = compare_to_null(mmd(normal_sampler(120, 10_001), real, bandwidths=null.bandwidths), null)
    bad_value = mmd(normal_sampler(120, 10_002) * 2.0, real, bandwidths=null.bandwidths)
    bad = compare_to_null(bad_value, null)
    assert good["z_score"] < 4
    assert bad["below_q95"] is False and bad["z_score"] > 5
    assert bad["z_score"] == pytest.approx((bad_value - null.mean) / null.std)


def test_from_pool_uses_disjoint_subsets():
    pool = normal_sampler(400, 1)
    result = mmd_null_from_pool(pool, 150, draws=5, seed=0, bandwidths=[0.5, 1.0])
    assert len(result.values) == 5 and result.bandwidths == (0.5, 1.0)
    with pytest.raises(ValueError, match="half the pool"):
        mmd_null_from_pool(pool, 201)


@pytest.mark.parametrize(
    ("sampler", "options", "error", "match"),
    [
        (lambda n, seed: torch.ones(n, 2) + torch.arange(n)[:, None], {}, ValueError, "spread"),
        (lambda n, seed: torch.randn(n - 1, 2), {}, ValueError, "at least 20 row"),
        (normal_sampler, {"draws": 1}, ValueError, "draws"),
        (normal_sampler, {"seed": 1.5}, TypeError, "seed"),
        (normal_sampler, {"kernel": "rbf"}, ValueError, "kernel"),
        ("not callable", {}, TypeError, "sampler"),
    ],
)
def test_clear_errors(sampler, options, error, match):
    with pytest.raises(error, match=match):
        mmd_null(sampler, 20, **options)


def test_compare_rejects_bad_input(null):
    with pytest.raises(ValueError, match="value"):
        compare_to_null(float("nan"), null)
    with pytest.raises(TypeError, match="null"):
        compare_to_null(0.1, {"mean": 0.0})
