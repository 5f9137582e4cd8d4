"""Nearest-neighbour distances and the memorisation check."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from innlab.metrics import nearest_neighbour_distances, novelty


def normal(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 12),
    m=st.integers(1, 12),
    d=st.integers(1, 4),
    block_size=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_matches_brute_force(n, m, d, block_size, seed):
    points, reference = normal(n, d, seed), normal(m, d, seed + 1)
    expected = torch.cdist(points, reference).min(dim=1).values
    got = nearest_neighbour_distances(points, reference, block_size=block_size)
    assert got.shape == (n,)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-7, atol=1e-7)


def test_copies_have_zero_distance():
    train = normal(50, 3, 0)
    assert nearest_neighbour_distances(train[:10], train).max() < 1e-6


def test_memorising_model_is_flagged():
    train, test = normal(400, 4, 0), normal(200, 4, 1)
    copies = train[:200] + 0.01 * normal(200, 4, 2)
    fresh = normal(200, 4, 3)
    memorised = novelty(copies, train, test)
    honest = novelty(fresh, train, test)
    assert memorised["ratio"] < 0.1 and memorised["close_fraction"] > 0.9
    assert 0.7 < honest["ratio"] < 1.4 and honest["close_fraction"] < 0.2
    assert honest["ratio"] == pytest.approx(honest["generated_median"] / honest["test_median"])


def test_mismatched_columns_are_rejected():
    with pytest.raises(ValueError, match="test must have the same number of columns"):
        novelty(normal(5, 2, 0), normal(5, 2, 1), normal(5, 3, 2))
    with pytest.raises(ValueError, match="reference must not be empty"):
        nearest_neighbour_distances(normal(5, 2, 0), torch.zeros(0, 2))
