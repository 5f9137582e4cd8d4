"""The analytic training step against autograd, its reference.

Float64: gradients and losses agree to 1e-10 for every option combination. Float32: 200 steps of
training follow the autograd path's losses; the two round differently (other operation order,
fused multiply-adds), and Adam's normalised steps let such differences grow slowly, so the
per-epoch losses are compared at 1e-3 relative (measured: 7e-8 unconditional, 3e-5
conditional, on this test's 200 steps).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch

from innlab import RealNVP, TrainingDivergedError, train_inn
from innlab._flat_params import FlatParameters
from innlab.data import two_moons
from innlab.flows import MIXINGS, SCALES, AffineCoupling, FixedRotation, Flow, Transform
from innlab.training import BottleneckLoss, NLLLoss
from innlab.training.analytic import AnalyticNLL

OPTIONS = list(itertools.product(SCALES, MIXINGS, (False, True), (0, 3), (1, 2, 5)))


def random_flow(dim: int, k: int = 0, seed: int = 0, **kwargs: Any) -> RealNVP:
    flow = RealNVP(dim, 16, 3, k, seed=seed, dtype=torch.float64, **kwargs)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return flow


@pytest.mark.parametrize(("scale", "mixing", "shared", "k", "dim"), OPTIONS)
def test_gradients_equal_autograd_at_float64(
    scale: str, mixing: str, shared: bool, k: int, dim: int
) -> None:
    flow = random_flow(dim, k, scale=scale, mixing=mixing, shared_subnet=shared)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(37, dim, dtype=torch.float64, generator=generator)
    c = torch.randn(37, k, dtype=torch.float64, generator=generator) if k else None
    with FlatParameters(flow.parameters()) as flat:
        loss = NLLLoss()(flow, x, c)
        loss.backward()
        expected = flat.grad.clone()
        flat.zero_grad()
        assert AnalyticNLL.supports(flow, NLLLoss())
        step = AnalyticNLL(flow, flat.grad)
        for _ in range(2):  # the second call reuses every buffer
            value, norm = step(x, c)
            torch.testing.assert_close(flat.grad, expected, rtol=1e-10, atol=1e-12)
            assert value == pytest.approx(loss.item(), rel=1e-12, abs=1e-12)
            assert norm == pytest.approx(expected.norm().item(), rel=1e-10)


@pytest.mark.parametrize(("scale", "mixing", "shared", "k", "dim"), OPTIONS)
def test_stacked_seeds_get_each_seeds_own_autograd_gradient_at_float64(
    scale: str, mixing: str, shared: bool, k: int, dim: int
) -> None:
    flows = [
        random_flow(dim, k, seed=s, scale=scale, mixing=mixing, shared_subnet=shared)
        for s in range(3)
    ]
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(3, 19, dim, dtype=torch.float64, generator=generator)
    c = torch.randn(3, 19, k, dtype=torch.float64, generator=generator) if k else None
    expected = []
    for s, flow in enumerate(flows):
        loss = NLLLoss()(flow, x[s], None if c is None else c[s])
        loss.backward()
        expected.append((loss.item(), {n: p.grad for n, p in flow.named_parameters()}))
    params, buffers = torch.func.stack_module_state(flows)
    with FlatParameters(params.values()) as flat:
        step = AnalyticNLL(flows[0], flat.grad, {**params, **buffers})
        for _ in range(2):  # the second call reuses every buffer
            values, norm = step.per_seed(x, c)
            for s, (loss_value, grads) in enumerate(expected):
                assert values[s] == pytest.approx(loss_value, rel=1e-12, abs=1e-12)
                for name, grad in grads.items():
                    torch.testing.assert_close(params[name].grad[s], grad, rtol=1e-10,
                                               atol=1e-12, msg=name)  # fmt: skip
            assert norm == pytest.approx(flat.grad.norm().item(), rel=1e-12)


def test_batches_of_other_sizes_get_their_own_buffers() -> None:
    flow = random_flow(4, 2)
    x, c = torch.randn(20, 4, dtype=torch.float64), torch.randn(20, 2, dtype=torch.float64)
    with FlatParameters(flow.parameters()) as flat:
        step = AnalyticNLL(flow, flat.grad)
        for rows in (20, 7, 20):
            step(x[:rows], c[:rows])
            analytic = flat.grad.clone()
            flat.zero_grad()
            NLLLoss()(flow, x[:rows], c[:rows]).backward()
            torch.testing.assert_close(analytic, flat.grad, rtol=1e-10, atol=1e-12)
            flat.zero_grad()


class _Shift(Transform):
    """A transform without an analytic pass."""

    def __init__(self) -> None:
        super().__init__()
        self.dim = 2
        self.shift = torch.nn.Parameter(torch.zeros(2))

    def forward_unchecked(self, x: torch.Tensor, c: torch.Tensor | None) -> Any:
        return x + self.shift, x.new_zeros(x.shape[0])

    def inverse_unchecked(self, y: torch.Tensor, c: torch.Tensor | None) -> Any:
        return y - self.shift, y.new_zeros(y.shape[0])


def test_the_analytic_step_applies_only_where_it_is_exact() -> None:
    flow = RealNVP(2, 8, 2, seed=0)
    assert AnalyticNLL.supports(flow, NLLLoss())
    assert not AnalyticNLL.supports(flow, BottleneckLoss(1, 1.0))
    assert not AnalyticNLL.supports(Flow([AffineCoupling(2, 4), _Shift()]), NLLLoss())
    assert AnalyticNLL.supports(Flow([AffineCoupling(2, 4), FixedRotation(2)]), NLLLoss())
    flow.couplings[0].w1.requires_grad_(False)
    assert not AnalyticNLL.supports(flow, NLLLoss())


@pytest.mark.parametrize("k", [0, 2])
def test_training_matches_the_autograd_path(k: int) -> None:
    x, y = two_moons(2_560, seed=0)  # 10 steps per epoch, 20 epochs: 200 steps
    c = torch.nn.functional.one_hot(y, 2).float() if k else None
    histories = []
    for analytic in (True, False):
        flow = RealNVP(2, 32, 4, k, seed=0)
        histories.append(
            train_inn(flow, x, c, epochs=20, seed=0, progress=False, analytic=analytic)
        )
    fast, reference = histories
    assert fast.steps == reference.steps
    assert fast.train_loss == pytest.approx(reference.train_loss, rel=1e-3)
    assert reference.train_loss[-1] < reference.train_loss[0] - 0.3  # it learned


def test_clipping_matches_the_autograd_path_at_float64() -> None:
    x = two_moons(512, seed=0)[0].double()
    weights = []
    for analytic in (True, False):
        flow = random_flow(2)
        train_inn(flow, x, epochs=2, batch_size=64, max_grad_norm=0.05, seed=0,
                  progress=False, analytic=analytic)  # fmt: skip
        weights.append(torch.cat([p.detach().reshape(-1) for p in flow.parameters()]))
    torch.testing.assert_close(weights[0], weights[1], rtol=1e-9, atol=1e-11)


def test_the_divergence_guard_holds_on_the_analytic_path() -> None:
    flow = RealNVP(2, 16, 3, scale="exp", seed=0)
    x = two_moons(512, seed=0)[0] * 1e3
    with pytest.raises(TrainingDivergedError, match="learning rate"):
        train_inn(flow, x, epochs=50, lr=1e6, batch_size=32, max_bad_steps=5, seed=0,
                  progress=False)  # fmt: skip
    assert all(torch.isfinite(p).all() for p in flow.parameters())
