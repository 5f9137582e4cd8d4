"""The transform contract, held by every transform and by RealNVP in every option combination.

For each case, at float64: the returned log-det equals ``log|det|`` of the autograd Jacobian in
both directions, the inverse is exact, the two log-dets sum to zero, every parameter gets a
gradient and a save/load round trip gives the same function.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from innlab import RealNVP
from innlab.flows import (
    MIXINGS,
    SCALES,
    AffineCoupling,
    FixedPermutation,
    FixedRotation,
    Flow,
    Transform,
)

DIM, CONDITION = 3, 2
F64 = torch.float64


def randomised(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """``module`` with every parameter redrawn, so that no coupling is the identity."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.4 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return module


def transform_cases() -> dict[str, Callable[[], Transform]]:
    g = torch.Generator
    cases: dict[str, Callable[[], Transform]] = {
        "rotation": lambda: FixedRotation(DIM, generator=g().manual_seed(1), dtype=F64),
        "permutation": lambda: FixedPermutation(DIM, generator=g().manual_seed(1)),
    }
    for scale, shared, k in itertools.product(SCALES, (False, True), (0, CONDITION)):
        name = f"coupling-{scale}-{'shared' if shared else 'separate'}-c{k}"
        cases[name] = lambda scale=scale, shared=shared, k=k: AffineCoupling(
            DIM, 8, k, shared_subnet=shared, scale=scale, generator=g().manual_seed(1)
        ).to(F64)
    return cases


TRANSFORMS = transform_cases()
REALNVP_OPTIONS = list(itertools.product(SCALES, MIXINGS, (False, True), (0, CONDITION)))


def conditions_for(k: int, n: int) -> torch.Tensor | None:
    return torch.randn(n, k, dtype=F64, generator=torch.Generator().manual_seed(5)) if k else None


def assert_contract(
    forward: Callable, inverse: Callable, k: int, params: list[torch.Tensor]
) -> None:
    """Jacobian log-dets in both directions, exact inverse, zero sum, gradients everywhere."""
    x = torch.randn(4, DIM, dtype=F64, generator=torch.Generator().manual_seed(3))
    c = conditions_for(k, 4)
    y, log_det = forward(x, c)
    x_back, log_det_back = inverse(y, c)
    assert y.shape == x.shape and log_det.shape == (4,) and log_det_back.shape == (4,)
    torch.testing.assert_close(x_back, x, rtol=0, atol=1e-12)
    torch.testing.assert_close(log_det + log_det_back, torch.zeros(4, dtype=F64), atol=1e-12,
                               rtol=0)  # fmt: skip
    for i in range(4):
        ci = None if c is None else c[i : i + 1]
        jac = torch.autograd.functional.jacobian(lambda p, ci=ci: forward(p[None], ci)[0][0], x[i])
        torch.testing.assert_close(log_det[i], torch.linalg.slogdet(jac).logabsdet, atol=1e-10,
                                   rtol=0)  # fmt: skip
        jac_inv = torch.autograd.functional.jacobian(
            lambda q, ci=ci: inverse(q[None], ci)[0][0], y[i].detach()
        )
        torch.testing.assert_close(log_det_back[i], torch.linalg.slogdet(jac_inv).logabsdet,
                                   atol=1e-10, rtol=0)  # fmt: skip
    if not params:
        return
    (y.square().sum() + log_det.sum() + inverse(x, c)[0].sum()).backward()
    for p in params:
        assert p.grad is not None and p.grad.abs().sum() > 0


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_every_transform_keeps_the_contract(name: str) -> None:
    transform = randomised(TRANSFORMS[name]())
    assert isinstance(transform, Transform)
    k = transform.condition_size
    assert_contract(transform, transform.inverse, k, list(transform.parameters()))
    assert_map_matches_passes(transform, k)


def assert_map_matches_passes(transform: Transform | RealNVP, k: int) -> None:
    """``map_unchecked`` (no log-dets) returns exactly the points of the full passes."""
    x = torch.randn(6, DIM, dtype=F64, generator=torch.Generator().manual_seed(4))
    c = conditions_for(k, 6)
    if isinstance(transform, RealNVP):
        forward, inverse = transform.encode_unchecked, transform.decode_unchecked
    else:
        forward, inverse = transform.forward_unchecked, transform.inverse_unchecked
    with torch.no_grad():
        y, x_back = forward(x, c)[0], inverse(forward(x, c)[0], c)[0]
        assert torch.equal(transform.map_unchecked(x, c), y)
        assert torch.equal(transform.map_unchecked(y, c, inverse=True), x_back)


@pytest.mark.parametrize(("scale", "mixing", "shared", "k"), REALNVP_OPTIONS)
def test_realnvp_keeps_the_contract_in_every_option_combination(
    scale: str, mixing: str, shared: bool, k: int, tmp_path: Path
) -> None:
    flow = RealNVP(DIM, 8, 3, k, shared_subnet=shared, scale=scale, mixing=mixing, seed=0,
                   dtype=F64)  # fmt: skip
    randomised(flow)
    assert_contract(flow.encode, lambda y, c: flow.decode_unchecked(y, c), k,
                    list(flow.parameters()))  # fmt: skip
    assert_map_matches_passes(flow, k)
    flow.save(tmp_path / "flow.pt")
    loaded = RealNVP.load(tmp_path / "flow.pt")
    x = torch.randn(5, DIM, dtype=F64)
    assert loaded.config == flow.config
    assert torch.equal(
        loaded.log_prob(x, conditions_for(k, 5)), flow.log_prob(x, conditions_for(k, 5))
    )


def test_transforms_validate_their_inputs() -> None:
    coupling = AffineCoupling(4, 8, 2)
    with pytest.raises(ValueError, match="x must have 4 column"):
        coupling(torch.zeros(3, 5), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="x must be finite"):
        coupling(torch.full((3, 4), float("nan")), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="c is required"):
        coupling.inverse(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="c must have 3 row"):
        coupling(torch.zeros(3, 4), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="scale must be one of 'exp_tanh', 'exp', 'additive'"):
        AffineCoupling(4, 8, scale="sigmoid")
    with pytest.raises(TypeError, match="shared_subnet must be a bool"):
        AffineCoupling(4, 8, shared_subnet=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="y must have 3 column"):
        FixedPermutation(3).inverse(torch.zeros(2, 4))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mixing": "shuffle"}, "mixing must be one of 'rotation', 'permutation', 'none'"),
        ({"scale": "tanh"}, "scale must be one of"),
        ({"seed": 1.5}, "seed must be an int seed in"),
        ({"seed": 2**70}, "seed must be an int seed in"),
    ],
)
def test_realnvp_names_the_bad_option(kwargs: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        RealNVP(2, 8, 2, **kwargs)


def test_flow_checks_its_parts() -> None:
    with pytest.raises(ValueError, match="share one dim, got dims"):
        Flow([FixedRotation(2), FixedRotation(3)])
    with pytest.raises(ValueError, match="condition_size is 3"):
        Flow([AffineCoupling(2, 4, 2)], condition_size=3)
    with pytest.raises(TypeError, match=r"transforms\[0\] must be an innlab.flows.Transform"):
        Flow([torch.nn.Linear(2, 2)])  # type: ignore[list-item]


@pytest.mark.parametrize("k", [0, CONDITION])
def test_sample_and_log_prob_equals_log_prob_of_its_points(k: int) -> None:
    flow = randomised(RealNVP(DIM, 16, 4, k, seed=0, dtype=F64))
    c = conditions_for(k, 3)
    x, log_p = flow.sample_and_log_prob(50, c, generator=0)
    if k:
        assert x.shape == (3, 50, DIM) and log_p.shape == (3, 50)
        expected = flow.log_prob(x.reshape(-1, DIM), c.repeat_interleave(50, dim=0)).view(3, 50)
    else:
        assert x.shape == (50, DIM) and log_p.shape == (50,)
        expected = flow.log_prob(x)
    torch.testing.assert_close(log_p, expected, rtol=0, atol=1e-10)
    assert torch.equal(x, flow.sample(50, c, generator=0))


def test_distribution_view_agrees_with_the_flow() -> None:
    flow = randomised(RealNVP(DIM, 16, 3, seed=0, dtype=F64))
    dist = flow.distribution()
    assert dist.event_shape == (DIM,) and dist.batch_shape == ()
    x = torch.randn(4, 7, DIM, dtype=F64)
    torch.testing.assert_close(dist.log_prob(x), flow.log_prob(x.reshape(-1, DIM)).view(4, 7))
    torch.manual_seed(0)
    sample = dist.rsample((6,))
    assert sample.shape == (6, DIM) and sample.requires_grad
    sample.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in flow.parameters())
    assert not dist.sample((2,)).requires_grad


def test_conditional_distribution_has_one_batch_entry_per_condition() -> None:
    flow = randomised(RealNVP(DIM, 16, 3, CONDITION, seed=0, dtype=F64))
    c = conditions_for(CONDITION, 4)
    dist = flow.distribution(c)
    assert dist.batch_shape == (4,) and dist.event_shape == (DIM,)
    x = dist.sample((5,))
    assert x.shape == (5, 4, DIM)
    expected = flow.log_prob(x.reshape(-1, DIM), c.repeat(5, 1)).view(5, 4)
    torch.testing.assert_close(dist.log_prob(x), expected)
    with pytest.raises(ValueError, match=r"value must have shape \(\.\.\., 4, 3\)"):
        dist.log_prob(torch.zeros(5, 3, DIM, dtype=F64))
