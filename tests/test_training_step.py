"""The direct fused Adam step against ``Optimizer.step``: bitwise the same updates."""

from __future__ import annotations

import copy

import pytest
import torch

from innlab.training.options import TrainingOptions, make_optimizer
from innlab.training.step import fused_adam_step


def _options(**settings: object) -> TrainingOptions:
    defaults: dict[str, object] = {
        "lr": 1e-2,
        "batch_size": 16,
        "schedule": None,
        "lr_min": 0.0,
        "bottleneck": None,
        "reconstruction_weight": 0.0,
    }
    return TrainingOptions(**{**defaults, **settings})  # type: ignore[arg-type]


def _run(options: TrainingOptions, direct: bool, steps: int = 30) -> tuple[torch.Tensor, dict]:
    """Train one flat tensor on a fixed sequence of gradients; its weights and optimizer
    state afterwards."""
    generator = torch.Generator().manual_seed(0)
    flat = torch.nn.Parameter(torch.randn(257, generator=generator))
    optimizer, scheduler = make_optimizer(flat, options, n=64)
    for _ in range(steps):
        flat.grad = torch.randn(257, generator=generator)
        if direct:
            fused_adam_step(optimizer)
        else:
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return flat.detach().clone(), optimizer.state_dict()


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"weight_decay": 0.3},
        {"schedule": "cosine", "lr": 3e-2, "lr_min": 1e-4},
        {"schedule": "cosine", "weight_decay": 1.0},
    ],
    ids=["adam", "adamw", "adam-cosine", "adamw-cosine"],
)
def test_the_direct_step_equals_optimizer_step_bitwise(settings: dict) -> None:
    options = _options(epochs=3, **settings)
    weights, state = _run(options, direct=True)
    reference, reference_state = _run(options, direct=False)
    assert torch.equal(weights, reference)
    moments, reference_moments = state["state"][0], reference_state["state"][0]
    for key in ("step", "exp_avg", "exp_avg_sq"):
        assert torch.equal(moments[key], reference_moments[key]), key


def test_the_direct_step_continues_a_loaded_optimizer_state() -> None:
    """A resumed run (state loaded into a fresh optimizer) steps on as an unbroken one."""
    options = _options(epochs=2, weight_decay=0.1)
    flat = torch.nn.Parameter(torch.linspace(-1, 1, 33))
    optimizer, _ = make_optimizer(flat, options, n=32)
    flat.grad = torch.full((33,), 0.5)
    fused_adam_step(optimizer)
    resumed_flat = torch.nn.Parameter(flat.detach().clone())
    resumed, _ = make_optimizer(resumed_flat, options, n=32)
    # a deep copy, as a checkpoint holds it: load_state_dict keeps the tensors it is given
    resumed.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    for grad in (torch.full((33,), -0.25), torch.linspace(0, 2, 33)):
        flat.grad, resumed_flat.grad = grad.clone(), grad.clone()
        fused_adam_step(optimizer)
        fused_adam_step(resumed)
    assert torch.equal(flat, resumed_flat)
    assert optimizer.state[flat]["step"].item() == 3
