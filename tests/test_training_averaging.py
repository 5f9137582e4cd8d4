"""Decoupled weight decay and the weights' moving average (EMA) in train_inn and the
vectorised trainer: the same updates as a hand-written AdamW loop, evaluation and keep_best on
the average, and checked options (bitwise resume: tests/test_training.py)."""

from __future__ import annotations

import copy

import pytest
import torch

from innlab import RealNVP, train_inn
from innlab.data import two_moons
from innlab.sweeps import train_inn_vectorized
from innlab.training import TrainingOptions
from innlab.training.checkpoint import run_identity

LR, DECAY, WEIGHT_DECAY = 5e-3, 0.9, 0.5


def hand_written(model: RealNVP, x: torch.Tensor, steps: int) -> list[torch.Tensor]:
    """AdamW on full batches and an EMA started at the initial weights, in plain PyTorch;
    returns the averaged weights after every step."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=LR, weight_decay=WEIGHT_DECAY)
    average = [p.detach().clone() for p in params]
    after_each = []
    for _ in range(steps):
        optimizer.zero_grad()
        (-model.log_prob(x).mean()).backward()
        optimizer.step()
        for a, p in zip(average, params, strict=True):
            a.lerp_(p.detach(), 1 - DECAY)
        after_each.append(torch.cat([a.flatten() for a in average]))
    return after_each


@pytest.mark.parametrize("analytic", [True, False])
def test_weight_decay_and_ema_follow_a_hand_written_adamw_loop(analytic: bool) -> None:
    x, _ = two_moons(128, seed=0)
    x_test, _ = two_moons(256, seed=1)
    flow = RealNVP(2, 16, 3, seed=0)
    expected = hand_written(copy.deepcopy(flow), x, steps=5)
    history = train_inn(flow, x, epochs=5, batch_size=128, lr=LR, weight_decay=WEIGHT_DECAY,
                        ema=DECAY, test_data=x_test, seed=0, progress=False,
                        analytic=analytic)  # fmt: skip
    trained = torch.cat([p.detach().flatten() for p in flow.parameters() if p.requires_grad])
    torch.testing.assert_close(trained, expected[-1], rtol=1e-4, atol=1e-6)
    # every epoch's held-out NLL is the averaged model's
    assert history.test_nll[-1] == pytest.approx(-flow.log_prob(x_test).mean().item(), rel=1e-5)


def test_weight_decay_shrinks_the_weights_and_ema_lags_behind() -> None:
    x, _ = two_moons(256, seed=0)

    def weights(**options: float) -> torch.Tensor:
        flow = RealNVP(2, 16, 3, seed=0)
        train_inn(flow, x, epochs=4, batch_size=64, lr=LR, seed=0, progress=False, **options)
        return torch.cat([p.detach().flatten() for p in flow.parameters() if p.requires_grad])

    init = torch.cat([p.detach().flatten() for p in RealNVP(2, 16, 3, seed=0).parameters()])
    plain, decayed, averaged = weights(), weights(weight_decay=5.0), weights(ema=0.99)
    assert decayed.norm() < plain.norm()
    # 16 steps at decay 0.99 keep 0.99**16 = 85% of the initial weights in the average
    moved = (averaged - init).norm() / (plain - init).norm()
    assert 0.05 < moved < 0.5


def test_keep_best_keeps_the_best_averaged_weights() -> None:
    train, _ = two_moons(64, seed=0)
    test, _ = two_moons(500, seed=1)
    flow = RealNVP(2, 32, 4, seed=0)
    history = train_inn(flow, train, epochs=30, batch_size=16, lr=5e-3, ema=0.95,
                        test_data=test, keep_best=True, seed=0, progress=False)  # fmt: skip
    best = min(history.test_nll)
    assert history.best_epoch == history.epoch[history.test_nll.index(best)]
    assert -flow.log_prob(test).mean().item() == pytest.approx(best, rel=1e-5)


def test_vectorized_seeds_average_and_decay_like_separate_runs() -> None:
    seeds = [11, 12]
    data = [two_moons(150, seed=s)[0] for s in seeds]
    separate = [RealNVP(2, 8, 2, seed=s) for s in seeds]
    together = [copy.deepcopy(m) for m in separate]
    settings = dict(epochs=3, lr=5e-3, batch_size=64, weight_decay=0.2, ema=0.8)
    for m, x, s in zip(separate, data, seeds, strict=True):
        train_inn(m, x, seed=s, progress=False, **settings)
    train_inn_vectorized(together, data, seeds=seeds, **settings)
    for a, b in zip(separate, together, strict=True):
        for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            torch.testing.assert_close(pb, pa, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"ema": 1.0}, ValueError, r"ema must be a decay in \(0, 1\), got 1.0"),
        ({"ema": 0}, ValueError, "ema must be a finite number > 0, got 0.0"),
        ({"ema": "0.9"}, TypeError, "ema must be a finite number > 0, got str '0.9'"),
        ({"weight_decay": -1}, ValueError, "weight_decay must be a finite number >= 0"),
        ({"weight_decay": float("nan")}, ValueError, "weight_decay must be a finite number"),
    ],
)
def test_bad_averaging_options_name_the_argument(options: dict, error: type, message: str) -> None:
    x, _ = two_moons(64, seed=0)
    with pytest.raises(error, match=message):
        train_inn(RealNVP(2, 8, 2, seed=0), x, epochs=1, progress=False, **options)


def test_unset_options_leave_a_runs_identity_as_before() -> None:
    """Checkpoints and caches written before these options existed keep their identity."""
    x = torch.zeros(4, 2)
    plain = TrainingOptions.check(2, 1, 1e-3, 4, None, 1e-5, None, 1.0)
    assert not {"weight_decay", "ema"} & set(run_identity(plain, 0, x, None))
    both = TrainingOptions.check(2, 1, 1e-3, 4, None, 1e-5, None, 1.0, 0.1, 0.99)
    assert run_identity(both, 0, x, None)["ema"] == 0.99
