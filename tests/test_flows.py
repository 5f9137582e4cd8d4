"""Properties of RealNVP: invertibility, log-det, shapes, conditioning, determinism."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import innlab.flows.base as base
from innlab import RealNVP
from innlab.flows import AffineCoupling, random_orthogonal

from .conftest import make_flow

DIMS = [1, 2, 3, 5, 8]
LAYOUTS = [False, True]


def conditions(n: int, k: int, seed: int = 0) -> torch.Tensor:
    labels = torch.randint(0, k, (n,), generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.one_hot(labels, k).float()


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("shared", LAYOUTS)
@pytest.mark.parametrize("condition_size", [0, 3])
def test_decode_inverts_encode(dim: int, shared: bool, condition_size: int) -> None:
    flow = make_flow(dim, condition_size=condition_size, shared_subnet=shared)
    x = torch.randn(200, dim)
    c = conditions(200, condition_size) if condition_size else None
    z, log_det = flow.encode(x, c)
    assert z.shape == x.shape and log_det.shape == (200,)
    assert (flow.decode(z, c) - x).abs().max() < 1e-5
    assert (flow.encode(flow.decode(x, c), c)[0] - x).abs().max() < 1e-5
    # the flow is far from the identity, so the inverse test is not trivial
    assert (z - x).abs().max() > 0.1


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("shared", LAYOUTS)
@pytest.mark.parametrize("condition_size", [0, 2])
def test_log_det_matches_autograd_jacobian(dim: int, shared: bool, condition_size: int) -> None:
    flow = make_flow(dim, condition_size=condition_size, shared_subnet=shared, dtype=torch.float64)
    x = torch.randn(6, dim, dtype=torch.float64)
    c = conditions(6, condition_size).double() if condition_size else None
    _, log_det = flow.encode(x, c)
    for i in range(x.shape[0]):
        ci = None if c is None else c[i : i + 1]
        jac = torch.autograd.functional.jacobian(
            lambda p, ci=ci: flow.encode(p[None], ci)[0][0], x[i]
        )
        assert torch.allclose(log_det[i], torch.linalg.slogdet(jac).logabsdet, atol=1e-10)
        # and the decoder's Jacobian is the inverse
        z = flow.encode(x[i : i + 1], ci)[0][0]
        jac_inv = torch.autograd.functional.jacobian(
            lambda q, ci=ci: flow.decode(q[None], ci)[0], z
        )
        assert torch.allclose(jac_inv @ jac, torch.eye(dim, dtype=torch.float64), atol=1e-9)


def test_coupling_block_keeps_first_half_and_its_log_det() -> None:
    block = AffineCoupling(4, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        block.w3.normal_()
    x = torch.randn(10, 4)
    y, log_det = block(x)
    assert torch.equal(y[:, :2], x[:, :2])
    log_scale, shift = block.scale_shift(x[:, :2], None)
    assert torch.allclose(y[:, 2:], x[:, 2:] * log_scale.exp() + shift)
    assert torch.allclose(log_det, log_scale.sum(1))
    assert log_scale.abs().max() <= 1.0  # tanh bounds the log-scale


def rotations(flow: RealNVP) -> torch.Tensor:
    return torch.stack([m.matrix for m in flow.mixers])


def test_rotations_are_orthogonal_and_fixed() -> None:
    flow = RealNVP(5, 8, 4, seed=3)
    q = rotations(flow)
    assert q.shape == (3, 5, 5)
    assert torch.allclose(q @ q.transpose(1, 2), torch.eye(5).expand(3, 5, 5), atol=1e-6)
    assert "transforms.1.matrix" in flow.state_dict()
    assert not any(p is m.matrix for p in flow.parameters() for m in flow.mixers)
    assert random_orthogonal(4, 2, generator=torch.Generator().manual_seed(0)).shape == (2, 4, 4)


def test_single_block_has_no_mixing_layer() -> None:
    flow = RealNVP(3, 8, 1, seed=0)
    assert flow.mixers == [] and len(flow.transforms) == 1
    x = torch.randn(4, 3)
    assert torch.allclose(flow.decode(flow.encode(x)[0]), x)


@pytest.mark.parametrize("dim", [1, 2, 7])
def test_untrained_model_is_standard_normal(dim: int) -> None:
    flow = RealNVP(dim, 16, 4, seed=0)
    x = torch.randn(50, dim)
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(1)
    assert torch.allclose(flow.log_prob(x), expected, atol=1e-5)
    z, log_det = flow.encode(x)
    assert torch.allclose(log_det, torch.zeros(50))
    assert torch.allclose(z.norm(dim=1), x.norm(dim=1), atol=1e-5)  # rotations only


def test_log_prob_is_change_of_variables() -> None:
    flow = make_flow(3)
    x = torch.randn(20, 3)
    z, log_det = flow.encode(x)
    expected = -0.5 * z.square().sum(1) - 1.5 * math.log(2 * math.pi) + log_det
    assert torch.allclose(flow.log_prob(x), expected, atol=1e-6)


def test_sample_shapes_unconditional() -> None:
    flow = make_flow(3)
    assert flow.sample(7).shape == (7, 3)
    assert flow.sample(7, temperature=0.0).shape == (7, 3)


def test_sample_shapes_conditional_and_depends_on_condition() -> None:
    flow = make_flow(2, condition_size=3)
    cond = torch.eye(3)
    samples = flow.sample(400, cond, generator=0)
    assert samples.shape == (3, 400, 2)
    # same codes, different conditions: the rows differ
    means = samples.mean(dim=1)
    assert (means[0] - means[1]).norm() > 0.05 and (means[1] - means[2]).norm() > 0.05
    # each row equals decoding the same codes with its condition
    z = torch.randn(3 * 400, 2, generator=torch.Generator().manual_seed(0))
    direct = flow.decode(z, cond.repeat_interleave(400, dim=0)).view(3, 400, 2)
    assert torch.allclose(samples, direct, atol=1e-6)


def test_sample_temperature_scales_codes() -> None:
    flow = make_flow(2)
    cold = flow.sample(300, temperature=0.5, generator=1)
    z_cold = flow.encode(cold)[0]
    z_ref = torch.randn(300, 2, generator=torch.Generator().manual_seed(1)) * 0.5
    assert torch.allclose(z_cold, z_ref, atol=1e-5)


def test_determinism_under_seed() -> None:
    a, b = RealNVP(4, 8, 3, seed=11), RealNVP(4, 8, 3, seed=11)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    assert not torch.equal(rotations(a), rotations(RealNVP(4, 8, 3, seed=12)))
    flow = make_flow(2)
    assert torch.equal(flow.sample(5, generator=3), flow.sample(5, generator=3))


def test_seed_none_is_recorded_and_follows_global_seed() -> None:
    torch.manual_seed(0)
    a = RealNVP(2, 8, 2)
    torch.manual_seed(0)
    b = RealNVP(2, 8, 2)
    assert isinstance(a.config["seed"], int) and a.config["seed"] == b.config["seed"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtypes_and_gradients(dtype: torch.dtype) -> None:
    flow = make_flow(3, condition_size=2, dtype=dtype)
    x = torch.randn(8, 3, dtype=dtype, requires_grad=True)
    c = conditions(8, 2).to(dtype)
    z, log_det = flow.encode(x, c)
    assert z.dtype == dtype and log_det.dtype == dtype
    (flow.log_prob(x, c).sum() + flow.decode(z, c).sum()).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for name, p in flow.named_parameters():
        assert p.grad is not None, name


def test_shared_subnet_halves_subnet_parameters() -> None:
    separate = RealNVP(2, 64, 8, seed=0)
    shared = RealNVP(2, 64, 8, seed=0, shared_subnet=True)
    assert shared.num_parameters < 0.55 * separate.num_parameters


@settings(max_examples=25, deadline=None)
@given(
    dim=st.integers(1, 64),
    condition_size=st.integers(0, 4),
    n=st.integers(1, 33),
    shared=st.booleans(),
    double=st.booleans(),
)
def test_invertibility_property(
    dim: int, condition_size: int, n: int, shared: bool, double: bool
) -> None:
    dtype = torch.float64 if double else torch.float32
    flow = make_flow(
        dim, hidden=8, blocks=2, condition_size=condition_size, shared_subnet=shared, dtype=dtype
    )
    x = torch.randn(n, dim, dtype=dtype)
    c = conditions(n, condition_size).to(dtype) if condition_size else None
    z, log_det = flow.encode(x, c)
    assert z.shape == (n, dim) and log_det.shape == (n,)
    tol = 1e-10 if double else 1e-5
    assert (flow.decode(z, c) - x).abs().max() < tol


def test_separate_subnets_agree_between_small_and_large_batch_paths() -> None:
    flow = make_flow(3, condition_size=2)
    x = torch.randn(5000, 3)
    c = conditions(5000, 2)
    z_large, log_det_large = flow.encode(x, c)  # above the batched-product threshold
    z_small = torch.cat(
        [flow.encode(x[i : i + 1000], c[i : i + 1000])[0] for i in range(0, 5000, 1000)]
    )
    assert torch.allclose(z_large, z_small, atol=1e-5)
    assert (flow.decode(z_large, c) - x).abs().max() < 1e-5


@pytest.mark.parametrize("shared", [True, False])
def test_passes_without_gradients_run_in_chunks_with_the_same_results(
    shared: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the smallest chunks (256 rows) whatever the thread count: 1,000 rows take four of them
    monkeypatch.setattr(base, "EVAL_CHUNK_BYTES", 1)
    flow = RealNVP(4, 64, 2, condition_size=2, shared_subnet=shared, seed=0)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.01 * torch.randn_like(p))
    x, c = torch.randn(1000, 4), torch.eye(2).repeat(500, 1)
    z_grad, log_det_grad = flow.encode(x, c)  # one pass, with autograd
    log_p_grad, x_back_grad = flow.log_prob(x, c), flow.decode(z_grad, c)
    assert z_grad.requires_grad
    with torch.inference_mode():
        z, log_det = flow.encode(x, c)
        torch.testing.assert_close(z, z_grad.detach())
        torch.testing.assert_close(log_det, log_det_grad.detach())
        torch.testing.assert_close(flow.log_prob(x, c), log_p_grad.detach())
        torch.testing.assert_close(flow.decode(z, c), x_back_grad.detach())
        samples = flow.sample(600, torch.eye(2), generator=0)
    codes = torch.randn(1200, 4, generator=torch.Generator().manual_seed(0))
    one_pass = flow.decode(codes, torch.eye(2).repeat_interleave(600, dim=0)).detach()
    torch.testing.assert_close(samples, one_pass.view(2, 600, 4))


@pytest.mark.parametrize("conditional", [False, True])
def test_sampling_in_chunks_equals_one_draw(
    conditional: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = make_flow(3, condition_size=2 if conditional else 0)
    cond = torch.eye(2) if conditional else None
    whole, log_p = flow.sample_and_log_prob(1001, cond, generator=4)
    monkeypatch.setattr(base, "SAMPLE_CHUNK_ROWS", 32)  # many chunks, a ragged last one
    chunked, log_p_chunked = flow.sample_and_log_prob(1001, cond, generator=4)
    # the same codes (another stream would differ by O(1)); the products of other row counts
    # may round differently
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(log_p_chunked, log_p, rtol=1e-5, atol=1e-5)


def test_an_output_that_cannot_fit_in_memory_is_refused_before_drawing() -> None:
    with pytest.raises(MemoryError, match=r"the samples need 745.1 GiB \(100,000,000,000 x 2"):
        RealNVP(2, 8, 2, seed=0).sample(10**11)


def test_overflowing_temperatures_are_refused() -> None:
    flow = make_flow(2)
    with pytest.raises(ValueError, match="temperature must be at most 3.4e\\+36 for a float32"):
        flow.sample(10, temperature=1e39)
    with torch.no_grad():
        flow.couplings[0].b3.fill_(float("inf"))
    with pytest.raises(ValueError, match="10 of 10 samples are not finite"):
        flow.sample(10)


def test_a_flow_on_the_meta_device_says_so() -> None:
    flow = RealNVP(2, 8, 2, seed=0).to("meta")
    for call in (lambda: flow.sample(3), lambda: flow.log_prob(torch.zeros(3, 2))):
        with pytest.raises(RuntimeError, match="meta device"):
            call()


def test_numpy_integer_seeds_are_taken() -> None:
    import numpy as np

    flow = RealNVP(2, 8, 2, seed=np.int64(3))
    assert flow.seed == 3
    assert torch.equal(flow.sample(4, generator=np.int32(1)), flow.sample(4, generator=1))
