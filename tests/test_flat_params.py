"""FlatParameters: one buffer behind the parameters and gradients of a training loop."""

from __future__ import annotations

import pytest
import torch

from innlab import RealNVP, train_inn
from innlab._flat_params import FlatParameters

from .test_training import moons


def test_gradients_accumulate_into_the_flat_buffer_and_release_restores() -> None:
    flow = RealNVP(2, 8, 2, seed=0)
    params = list(flow.parameters())
    before = [p.detach().clone() for p in params]
    with FlatParameters(params) as flat:
        assert flat.flat.shape == (sum(p.numel() for p in params),)
        flow.log_prob(torch.randn(16, 2)).sum().backward()
        expected = torch.cat([p.grad.reshape(-1) for p in params])
        assert torch.equal(flat.grad, expected) and flat.grad.abs().sum() > 0
        with torch.no_grad():
            flat.flat.add_(1.0)  # an optimizer step writes the parameters
        assert all(torch.equal(p, b + 1) for p, b in zip(params, before, strict=True))
        flat.zero_grad()
        assert all(not p.grad.any() for p in params)
        flat.flat.data[0] = float("nan")
        assert not flat.all_finite()
    pointers = {p.untyped_storage().data_ptr() for p in params}
    assert len(pointers) == len(params)  # each parameter owns its storage again
    assert all(p.grad is None and p.is_leaf and p.requires_grad for p in params)
    assert torch.isnan(params[0].reshape(-1)[0])  # values kept through release


def test_rejects_empty_and_mixed_parameters() -> None:
    with pytest.raises(ValueError, match="at least one"):
        FlatParameters([])
    mixed = [torch.zeros(2, requires_grad=True), torch.zeros(2, dtype=torch.float64)]
    with pytest.raises(ValueError, match="one dtype and device"):
        FlatParameters(mixed)


def test_train_inn_matches_per_layer_adam_and_leaves_independent_parameters() -> None:
    data = moons(512, 0)
    flow = RealNVP(2, 16, 3, seed=0)
    train_inn(flow, data, epochs=2, batch_size=64, seed=5, progress=False)

    reference = RealNVP(2, 16, 3, seed=0)
    optimizer = torch.optim.Adam(reference.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(5)
    for _ in range(2):
        order = torch.randperm(data.shape[0], generator=generator)
        for start in range(0, data.shape[0], 64):
            loss = -reference.log_prob(data[order[start : start + 64]]).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    for (name, p), q in zip(flow.named_parameters(), reference.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-5), name
        assert p.grad is None, name
    assert len({p.untyped_storage().data_ptr() for p in flow.parameters()}) == len(
        list(flow.parameters())
    )
