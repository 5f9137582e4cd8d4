"""Mean NLL of a model, bits per dimension and the NLL gap."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from innlab import RealNVP
from innlab.metrics import batched_log_prob, bits_per_dim, mean_nll, nll_gap


def standard_normal_nll(x: torch.Tensor) -> float:
    d = x.shape[1]
    return float((0.5 * x.double().square().sum(1) + 0.5 * d * math.log(2 * math.pi)).mean())


def test_identity_flow_has_standard_normal_nll():
    model = RealNVP(3, 8, 2, seed=0)  # a new model is the identity map
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(0))
    assert mean_nll(model, x, batch_size=7) == pytest.approx(standard_normal_nll(x), rel=1e-5)


def test_batches_match_one_pass_and_mode_is_restored():
    model = RealNVP(2, 8, 3, seed=1)
    for p in model.parameters():  # move away from the identity
        torch.nn.init.normal_(p, std=0.1, generator=torch.Generator().manual_seed(2))
    x = torch.randn(40, 2, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = model.log_prob(x).double()
    model.train()
    got = batched_log_prob(model, x.numpy(), batch_size=6)
    assert model.training
    assert got.dtype == torch.float64 and got.shape == (40,)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6)
    model.eval()
    assert mean_nll(model, x) == pytest.approx(float(-expected.mean()))
    assert not model.training


def test_conditions_are_passed_per_batch():
    model = RealNVP(2, 8, 2, condition_size=3, seed=0)
    x = torch.randn(10, 2, generator=torch.Generator().manual_seed(0))
    c = torch.nn.functional.one_hot(torch.arange(10) % 3, 3).float()
    assert mean_nll(model, x, c, batch_size=3) == pytest.approx(standard_normal_nll(x), rel=1e-5)
    with pytest.raises(ValueError, match="c must have 10 row"):
        mean_nll(model, x, c[:5])


def test_bits_per_dim_of_uniform_8bit_pixels_is_8():
    dims, n = 64, 5
    # y = x / 256 maps [0, 256)^d to [0, 1)^d: log|det dy/dx| = -d ln 256; p_y uniform: log p = 0.
    log_prob_y = torch.zeros(n)
    assert bits_per_dim(log_prob_y, -dims * math.log(256), dims) == pytest.approx(8.0)
    per_sample = torch.full((n,), -dims * math.log(256))
    assert bits_per_dim(log_prob_y.numpy(), per_sample, dims) == pytest.approx(8.0)
    assert bits_per_dim(torch.tensor([-2.0, -4.0]), torch.tensor(0.0), 1) == pytest.approx(
        3 / math.log(2)
    )


def test_bits_per_dim_keeps_float64_precision_of_numbers():
    # a Python number must not pass through float32 on its way (8.0000000220 before the fix)
    assert bits_per_dim(0.0, -64 * math.log(256), 64) == 8.0
    nats = -64 * math.log(2) * 3.0
    assert bits_per_dim(torch.tensor([nats], dtype=torch.float64), 0.0, 64) == 3.0


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((torch.zeros(4), torch.zeros(3), 2), ValueError, "1 or 4 entries"),
        ((torch.zeros(0), 0.0, 2), ValueError, "non-empty"),
        ((torch.tensor([float("nan")]), 0.0, 2), ValueError, "finite"),
        ((torch.zeros(4), 0.0, 0), ValueError, "dims"),
        ((torch.zeros(2, 2), 0.0, 2), ValueError, r"shape \(n,\)"),
        (("a", 0.0, 2), TypeError, "log_prob_y"),
    ],
)
def test_bits_per_dim_errors(args, error, match):
    with pytest.raises(error, match=match):
        bits_per_dim(*args)


def test_nll_gap():
    assert nll_gap(1.5, 1.2) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="model_nll"):
        nll_gap(float("inf"), 1.0)
    with pytest.raises(TypeError, match="true_nll"):
        nll_gap(1.0, "1.0")


def test_mean_nll_rejects_bad_input():
    with pytest.raises(TypeError, match="log_prob"):
        mean_nll(object(), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="empty"):
        mean_nll(RealNVP(2, 4, 1, seed=0), torch.zeros(0, 2))
