"""Code-space normality: accepts N(0, I), rejects wrong scale and skew."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from innlab.metrics import NormalityReport, code_normality, holm


def normal(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.fixture(scope="module")
def accepted() -> NormalityReport:
    return code_normality(normal(2000, 4, 1))


def test_accepts_standard_normal(accepted):
    assert accepted.looks_normal
    assert accepted.ks_rejected == 0
    assert accepted.n == 2000 and accepted.dims == 4
    assert all(abs(m) < 0.1 for m in accepted.mean)
    assert all(abs(s - 1) < 0.1 for s in accepted.std)
    assert accepted.max_cov_deviation < 0.1


def test_report_is_json_serialisable(accepted):
    data = json.loads(json.dumps(accepted.to_dict()))
    assert len(data["ks_pvalue"]) == 4 and isinstance(data["looks_normal"], bool)


def test_per_dimension_moments_match_numpy():
    z = normal(500, 3, 1) * torch.tensor([1.0, 2.0, 0.5]) + 0.2
    report = code_normality(z.numpy(), permutations=20)
    assert report.mean == pytest.approx(z.mean(0).tolist())
    assert report.std == pytest.approx(z.std(0).tolist())
    assert report.skewness == pytest.approx([0.0] * 3, abs=0.3)
    assert report.excess_kurtosis == pytest.approx([0.0] * 3, abs=0.5)


@pytest.mark.parametrize(
    "transform",
    [lambda z: 1.3 * z, lambda z: (z.square() - 1) / np.sqrt(2)],
    ids=["scaled", "skewed"],
)
def test_rejects_non_normal(transform):
    report = code_normality(transform(normal(2000, 4, 2)), permutations=50)
    assert not report.looks_normal
    assert report.pvalue < 1e-6


def test_correlated_sample_is_caught_by_multivariate_checks():
    mixing = torch.eye(4, dtype=torch.float64)
    mixing[0, 1] = 0.6
    report = code_normality(normal(2000, 4, 3) @ mixing / torch.tensor(1.0 + 0.36).sqrt())
    assert report.max_cov_deviation > 0.3
    assert report.mmd_pvalue < 0.05 and not report.looks_normal


def test_holm_example():
    adjusted = holm(np.array([0.01, 0.04, 0.03, 0.005]))
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=20))
def test_holm_properties(pvalues):
    raw = np.array(pvalues)
    adjusted = holm(raw)
    assert (adjusted >= raw - 1e-15).all() and (adjusted <= 1).all()
    assert adjusted.min() == pytest.approx(min(1.0, raw.size * raw.min()))
    order = np.argsort(raw, kind="stable")
    assert (np.diff(adjusted[order]) >= -1e-15).all()


@pytest.mark.parametrize(
    ("z", "options", "error", "match"),
    [
        (torch.zeros(2, 3), {}, ValueError, "at least 3 row"),
        (torch.full((10, 2), float("inf")), {}, ValueError, "finite"),
        (torch.zeros(10), {}, ValueError, "2-D"),
        (torch.randn(10, 2), {"alpha": 1.0}, ValueError, "alpha"),
        (torch.randn(10, 2), {"max_points": 0}, ValueError, "max_points"),
        (torch.randn(10, 2), {"seed": "a"}, TypeError, "seed"),
    ],
)
def test_clear_errors(z, options, error, match):
    with pytest.raises(error, match=match):
        code_normality(z, **options)
