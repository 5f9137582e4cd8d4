"""train_inn: learning, determinism, schedules, keep_best, bottleneck, divergence, resume."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
from sklearn.datasets import make_moons

from innlab import CheckpointError, RealNVP, TrainingDivergedError, nll_loss, train_inn
from innlab.flows.io import atomic_save
from innlab.training import BottleneckLoss

from .conftest import make_flow


def moons(n: int, seed: int) -> torch.Tensor:
    return torch.tensor(make_moons(n, noise=0.1, random_state=seed)[0], dtype=torch.float32)


def test_short_training_on_two_moons_learns() -> None:
    torch.manual_seed(0)
    flow = RealNVP(2, 64, 6, seed=0, shared_subnet=True)
    train, test = moons(4000, 0), moons(2000, 1)
    before = -flow.log_prob(test).mean().item()
    history = train_inn(
        flow, train, epochs=25, batch_size=256, test_data=test, seed=0, progress=False
    )  # 400 steps
    assert history.steps[-1] == 400
    assert history.test_nll[-1] < 1.6 < before
    assert history.train_loss[-1] < history.train_loss[0]
    assert math.isclose(history.test_nll[-1], -flow.log_prob(test).mean().item(), rel_tol=1e-5)


def test_loss_equals_negative_log_prob() -> None:
    flow = make_flow(3)
    x = torch.randn(50, 3)
    z, log_det = flow.encode(x)
    assert torch.allclose(nll_loss(z, log_det), -flow.log_prob(x), atol=1e-5)


def test_same_seed_gives_same_weights() -> None:
    data = moons(600, 0)

    def run(seed: int) -> dict[str, torch.Tensor]:
        flow = RealNVP(2, 16, 3, seed=4)
        train_inn(flow, data, epochs=3, batch_size=64, seed=seed, progress=False)
        return flow.state_dict()

    a, b, c = run(1), run(1), run(2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_conditional_training_and_history_records() -> None:
    x, y = make_moons(800, noise=0.1, random_state=0)
    data = torch.tensor(x, dtype=torch.float32)
    cond = torch.nn.functional.one_hot(torch.tensor(y), 2).float()
    flow = RealNVP(2, 16, 3, condition_size=2, seed=0)
    history = train_inn(
        flow,
        data,
        cond,
        epochs=2,
        batch_size=100,
        test_data=data,
        test_conditions=cond,
        seed=0,
        progress=False,
    )
    records = history.to_records()
    assert len(records) == 2 and set(records[0]) >= {"epoch", "train_loss", "test_nll", "time"}
    assert records[1]["steps"] == 16


def test_cosine_schedule_decays_to_floor() -> None:
    flow = RealNVP(2, 8, 2, seed=0)
    history = train_inn(
        flow,
        moons(256, 0),
        epochs=4,
        batch_size=64,
        schedule="cosine",
        lr_min=1e-5,
        seed=0,
        progress=False,
    )
    assert history.lr[0] < 1e-3
    assert history.lr[-1] == pytest.approx(1e-5)
    assert history.lr == sorted(history.lr, reverse=True)


def test_keep_best_restores_best_epoch() -> None:
    flow = RealNVP(2, 32, 4, seed=0)
    train, test = moons(64, 0), moons(500, 1)  # tiny training set: overfits
    history = train_inn(
        flow,
        train,
        epochs=40,
        batch_size=16,
        lr=5e-3,
        test_data=test,
        keep_best=True,
        seed=0,
        progress=False,
    )
    best = min(history.test_nll)
    assert history.best_epoch == history.epoch[history.test_nll.index(best)]
    assert -flow.log_prob(test).mean().item() == pytest.approx(best, rel=1e-5)


def test_bottleneck_term_is_zero_at_full_dimension_and_positive_below() -> None:
    flow = make_flow(4)
    x = torch.randn(32, 4)
    z, _ = flow.encode(x)
    assert BottleneckLoss(4, 1.0).reconstruction_error(flow, x, z, None).item() < 1e-10
    assert BottleneckLoss(1, 1.0).reconstruction_error(flow, x, z, None).item() > 0.1


def test_bottleneck_training_reduces_reconstruction_error() -> None:
    x = moons(512, 0) @ torch.randn(2, 4, generator=torch.Generator().manual_seed(0))
    plain, squeezed = RealNVP(4, 32, 4, seed=0), RealNVP(4, 32, 4, seed=0)
    train_inn(plain, x, epochs=15, batch_size=64, seed=0, progress=False)
    train_inn(
        squeezed,
        x,
        epochs=15,
        batch_size=64,
        seed=0,
        bottleneck=2,
        reconstruction_weight=5.0,
        progress=False,
    )

    def recon(flow: RealNVP) -> float:
        with torch.no_grad():
            error = BottleneckLoss(2, 1.0).reconstruction_error
            return error(flow, x, flow.encode(x)[0], None).item()

    assert recon(squeezed) < 0.5 * recon(plain)


def test_absurd_learning_rate_stops_with_finite_weights() -> None:
    flow = RealNVP(2, 16, 3, seed=0)
    x = moons(512, 0) * 1e3
    with pytest.raises(TrainingDivergedError, match="learning rate"):
        train_inn(
            flow, x, epochs=50, lr=1e6, batch_size=32, max_bad_steps=5, seed=0, progress=False
        )
    assert all(torch.isfinite(p).all() for p in flow.parameters())


def test_gradient_clipping_runs() -> None:
    flow = RealNVP(2, 16, 2, seed=0)
    history = train_inn(flow, moons(256, 0), epochs=2, max_grad_norm=0.1, seed=0, progress=False)
    assert math.isfinite(history.train_loss[-1])


@pytest.mark.parametrize("averaging", [{}, {"weight_decay": 0.3, "ema": 0.9}])
def test_checkpoint_resume_matches_uninterrupted_run(tmp_path: Path, averaging: dict) -> None:
    data, test = moons(500, 0), moons(200, 1)
    kwargs = dict(
        epochs=6,
        batch_size=64,
        seed=3,
        schedule="cosine",
        test_data=test,
        keep_best=True,
        progress=False,
        **averaging,
    )
    full = RealNVP(2, 16, 3, seed=0)
    full_history = train_inn(full, data, **kwargs)

    def interrupt(history) -> None:
        if len(history) == 3:
            raise KeyboardInterrupt

    ckpt = tmp_path / "train.pt"
    with pytest.raises(KeyboardInterrupt):
        train_inn(RealNVP(2, 16, 3, seed=0), data, checkpoint=ckpt, callback=interrupt, **kwargs)
    resumed = RealNVP(2, 16, 3, seed=0)
    history = train_inn(resumed, data, checkpoint=ckpt, resume=True, **kwargs)
    assert history.epoch == full_history.epoch
    assert history.test_nll == full_history.test_nll
    assert history.best_epoch == full_history.best_epoch
    for key, value in full.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key


def test_checkpoint_refuses_to_overwrite_or_mix(tmp_path: Path) -> None:
    data = moons(128, 0)
    ckpt = tmp_path / "train.pt"
    train_inn(RealNVP(2, 8, 2, seed=0), data, epochs=1, checkpoint=ckpt, seed=0, progress=False)
    with pytest.raises(FileExistsError, match="resume=True"):
        train_inn(RealNVP(2, 8, 2, seed=0), data, epochs=1, checkpoint=ckpt, seed=0, progress=False)
    with pytest.raises(CheckpointError, match="belongs to a model"):
        resume(RealNVP(2, 8, 3, seed=0), data, ckpt, epochs=1)
    with pytest.raises(CheckpointError, match=r"same training data, options and seed \(lr: "):
        resume(RealNVP(2, 8, 2, seed=0), data, ckpt, epochs=1, lr=1e-2)


def test_resume_refuses_other_data_of_the_same_size(tmp_path: Path) -> None:
    ckpt = tmp_path / "train.pt"
    train_inn(RealNVP(2, 8, 2, seed=0), moons(128, 0), epochs=1, checkpoint=ckpt, seed=0,
              progress=False)  # fmt: skip
    with pytest.raises(CheckpointError, match=r"another run.*\(data: "):
        resume(RealNVP(2, 8, 2, seed=0), moons(128, 1), ckpt, epochs=2)


def test_checkpoint_of_another_version_is_refused(tmp_path: Path) -> None:
    """Version 2 had no flow spec, data hash or checksum; version 3 has all three."""
    data = moons(128, 0)
    ckpt = tmp_path / "train.pt"
    train_inn(RealNVP(2, 8, 2, seed=0), data, epochs=1, checkpoint=ckpt, seed=0, progress=False)
    state = torch.load(ckpt, weights_only=True)
    assert len(state["stepper"]["optimizer"]["state"]) == 1  # one flat parameter
    state.pop("sha256")
    atomic_save({**state, "version": 2}, ckpt)
    with pytest.raises(CheckpointError, match="version 3"):
        resume(RealNVP(2, 8, 2, seed=0), data, ckpt, epochs=2)
    torch.save(state, ckpt)  # no checksum: damaged or written by an older innlab
    with pytest.raises(CheckpointError, match="no checksum"):
        resume(RealNVP(2, 8, 2, seed=0), data, ckpt, epochs=2)


def resume(model: RealNVP, data: torch.Tensor, ckpt: Path, **kwargs) -> None:
    """Resume training ``model`` from the checkpoint ``ckpt`` (seed 0, no progress bar)."""
    train_inn(model, data, checkpoint=ckpt, resume=True, seed=0, progress=False, **kwargs)


@pytest.mark.parametrize("analytic", [True, False])
def test_a_short_run_with_skipped_steps_warns(analytic: bool) -> None:
    flow = RealNVP(2, 16, 3, scale="exp", seed=0)
    x = moons(256, 0) * 1e3
    with pytest.warns(RuntimeWarning, match=r"steps were skipped because their loss"):
        history = train_inn(flow, x, epochs=1, lr=1e6, batch_size=32, max_bad_steps=50, seed=0,
                            progress=False, analytic=analytic)  # fmt: skip
    assert history.skipped_steps[-1] > 0


@pytest.mark.parametrize(
    ("seed", "error", "message"),
    [(1.5, TypeError, "got float 1.5"), ("a", TypeError, "got str 'a'"),
     (True, TypeError, "got bool True"), (2**70, ValueError, "2**63 - 1")],
)  # fmt: skip
def test_bad_seeds_name_the_argument(seed: object, error: type, message: str) -> None:
    with pytest.raises(error, match=r"seed must be an int seed in .*" + re.escape(message)):
        train_inn(RealNVP(2, 8, 2, seed=0), moons(64, 0), epochs=1, seed=seed, progress=False)
