"""PixelPreprocessing: dequantisation, the invertible map and its log-determinant, units."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from innlab.data import PixelPreprocessing
from innlab.metrics import bits_per_dim

ALPHAS = [None, 0.05]


def _pixels(levels: int, n: int = 6, d: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, levels, (n, d), generator=torch.Generator().manual_seed(seed)).double()


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("levels", [17, 256])
def test_round_trip_float64(levels, alpha):
    prep = PixelPreprocessing(levels, alpha)
    u = prep.dequantize(_pixels(levels), torch.Generator().manual_seed(1))
    y, _ = prep.forward(u)
    assert torch.allclose(prep.inverse(y), u, atol=1e-10, rtol=0)
    assert torch.allclose(prep.forward(prep.inverse(y))[0], y, atol=1e-10, rtol=0)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_log_det_matches_autograd(alpha):
    prep = PixelPreprocessing(17, alpha)
    u = prep.dequantize(_pixels(17, n=4), torch.Generator().manual_seed(2))
    _, log_det = prep.forward(u)
    for row, expected in zip(u, log_det, strict=True):
        jac = torch.autograd.functional.jacobian(lambda r: prep.forward(r[None])[0][0], row)
        assert torch.allclose(torch.linalg.slogdet(jac)[1], expected, atol=1e-10)
    assert log_det.shape == (4,) and log_det.dtype == torch.float64


def test_dequantize_stays_in_the_pixel_bin_and_is_seeded():
    prep = PixelPreprocessing(256)
    pixels = torch.tensor([[254.0, 255.0]]).repeat(500_000, 1)  # float32 rounds k + 0.99999... up
    u = prep.dequantize(pixels, torch.Generator().manual_seed(0))
    assert u.dtype == torch.float32
    assert torch.equal(u.floor(), pixels) and (u < 256).all()
    again = prep.dequantize(pixels[:10], torch.Generator().manual_seed(0))
    assert torch.equal(again, u[:10])
    assert not torch.equal(prep.dequantize(pixels[:10], torch.Generator().manual_seed(1)), again)


def test_dequantize_accepts_integer_arrays():
    prep = PixelPreprocessing(17)
    gen = torch.Generator().manual_seed(0)
    for pixels in (np.array([[0, 16]], dtype=np.int64), torch.tensor([[0, 16]], dtype=torch.uint8)):
        u = prep.dequantize(pixels, gen)
        assert u.dtype == torch.float32 and torch.equal(u.floor(), torch.tensor([[0.0, 16.0]]))


@pytest.mark.parametrize("alpha", ALPHAS)
def test_to_pixels_undoes_dequantisation_and_clips(alpha):
    prep = PixelPreprocessing(17, alpha)
    pixels = _pixels(17).float()
    y, _ = prep.forward(prep.dequantize(pixels, torch.Generator().manual_seed(3)))
    assert torch.equal(prep.to_pixels(y), pixels)
    assert torch.equal(prep.to_images(y), pixels / 16)
    far = torch.tensor([[-1e3, 1e3]])
    assert torch.equal(prep.to_pixels(far), torch.tensor([[0.0, 16.0]]))
    assert torch.equal(prep.to_images(far), torch.tensor([[0.0, 1.0]]))


@pytest.mark.parametrize(("levels", "bits"), [(256, 8.0), (17, math.log2(17))])
def test_bits_per_dim_units(levels, bits):
    # A uniform density on the dequantised cube [0, L)^d costs log2(L) bits per dimension:
    # without the logit, y = u / L is uniform on [0, 1)^d, so log p(y) = 0.
    prep = PixelPreprocessing(levels, logit_alpha=None)
    _, log_det = prep.forward(prep.dequantize(_pixels(levels), torch.Generator().manual_seed(0)))
    assert not hasattr(prep, "bits_per_dim"), "the one conversion is innlab.metrics.bits_per_dim"
    assert bits_per_dim(torch.zeros_like(log_det), log_det, dims=5) == pytest.approx(bits)


def test_config_round_trip():
    prep = PixelPreprocessing(256, 0.01)
    config = json.loads(json.dumps(prep.to_dict()))
    assert config == {"levels": 256, "logit_alpha": 0.01}
    assert PixelPreprocessing.from_dict(config) == prep
    assert PixelPreprocessing.from_dict({"levels": 17}) == PixelPreprocessing(17)
    with pytest.raises(ValueError, match="config"):
        PixelPreprocessing.from_dict({"levels": 17, "alpha": 0.1})


@settings(max_examples=40, deadline=None)
@given(
    levels=st.integers(2, 300),
    alpha=st.one_of(st.none(), st.floats(1e-3, 0.4)),
    seed=st.integers(0, 2**16),
)
def test_round_trip_property(levels, alpha, seed):
    prep = PixelPreprocessing(levels, alpha)
    pixels = _pixels(levels, n=3, d=4, seed=seed)
    u = prep.dequantize(pixels, torch.Generator().manual_seed(seed))
    y, log_det = prep.forward(u)
    assert torch.isfinite(y).all() and torch.isfinite(log_det).all()
    assert torch.allclose(prep.inverse(y), u, atol=1e-9 * levels, rtol=0)
    assert torch.equal(prep.to_pixels(y), pixels)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"levels": 1}, ValueError, "levels"),
        ({"levels": 2.0}, TypeError, "levels"),
        ({"levels": 17, "logit_alpha": 0.5}, ValueError, "logit_alpha"),
        ({"levels": 17, "logit_alpha": 0.0}, ValueError, "logit_alpha"),
        ({"levels": 17, "logit_alpha": "0.1"}, TypeError, "logit_alpha"),
    ],
)
def test_bad_config(kwargs, error, match):
    with pytest.raises(error, match=match):
        PixelPreprocessing(**kwargs)


def test_bad_inputs():
    prep = PixelPreprocessing(17)
    with pytest.raises(ValueError, match="integer values"):
        prep.dequantize(torch.tensor([[0.5, 1.0]]))
    with pytest.raises(ValueError, match=r"pixels must lie in \[0, 16\]"):
        prep.dequantize(torch.tensor([[0.0, 17.0]]))
    with pytest.raises(ValueError, match=r"u must lie in \[0, 17\]"):
        prep.forward(torch.tensor([[0.0, 255.5]]))
    with pytest.raises(ValueError, match="shape"):
        prep.forward(torch.zeros(4))
