"""Training a flow by maximum likelihood: the loss, the loop, history and resumable checkpoints."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from innlab._flat_params import FlatParameters
from innlab._validation import (
    check_choice,
    check_positive_float,
    check_positive_int,
)
from innlab.flows.io import CheckpointError, atomic_save, safe_load
from innlab.flows.realnvp import RealNVP

__all__ = ["History", "TrainingDivergedError", "nll_loss", "train_inn"]

_CHECKPOINT_FORMAT = "innlab.training"
_CHECKPOINT_VERSION = 2  # 2: one flat parameter in the optimizer state


class TrainingDivergedError(RuntimeError):
    """Too many consecutive training steps had a non-finite loss or gradient."""


@dataclass
class History:
    """Per-epoch training record. Every list has one entry per finished epoch."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)  # mean NLL (+ recon. term), nats
    test_nll: list[float | None] = field(default_factory=list)  # held-out NLL, nats/sample
    lr: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)  # seconds since training started
    steps: list[int] = field(default_factory=list)  # optimizer steps taken so far
    skipped_steps: list[int] = field(default_factory=list)  # non-finite steps so far
    best_epoch: int | None = None  # epoch whose weights were restored (keep_best)

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per epoch, e.g. for ``pandas.DataFrame(history.to_records())``."""
        keys = ("epoch", "train_loss", "test_nll", "lr", "time", "steps", "skipped_steps")
        columns = [getattr(self, k) for k in keys]
        return [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        return cls(**data)

    def __len__(self) -> int:
        return len(self.epoch)


def nll_loss(z: Tensor, log_det: Tensor) -> Tensor:
    """Per-sample negative log-likelihood in nats, shape ``(n,)``.

    ``0.5 |z|^2 + d/2 log(2 pi) - log_det``; equals ``-model.log_prob(x)``.
    """
    d = z.shape[1]
    return 0.5 * z.square().sum(dim=1) + 0.5 * d * math.log(2 * math.pi) - log_det


def _bottleneck_loss(model: RealNVP, x: Tensor, z: Tensor, c: Tensor | None, k: int) -> Tensor:
    """Mean squared reconstruction error ``|x - decode(z_k)|^2`` (summed over dims)."""
    z_k = torch.cat((z[:, :k], z.new_zeros(z.shape[0], z.shape[1] - k)), dim=1)
    return (x - model._decode(z_k, c)).square().sum(dim=1).mean()


@torch.no_grad()
def _mean_nll(model: RealNVP, x: Tensor, c: Tensor | None) -> float:
    return float(-model._in_chunks(model._log_prob, x, c).double().mean())


def check_training_options(
    input_size: int,
    epochs: int,
    lr: float,
    batch_size: int,
    schedule: str | None,
    lr_min: float,
    bottleneck: int | None,
    reconstruction_weight: float,
) -> tuple[int, float, int, float, int | None, float]:
    """Validate the options every training loop shares; return them normalised
    ``(epochs, lr, batch_size, lr_min, bottleneck, reconstruction_weight)``."""
    epochs = check_positive_int(epochs, "epochs")
    lr = check_positive_float(lr, "lr")
    batch_size = check_positive_int(batch_size, "batch_size")
    check_choice(schedule, "schedule", (None, "cosine"))
    lr_min = check_positive_float(lr_min, "lr_min", allow_zero=True)
    reconstruction_weight = check_positive_float(
        reconstruction_weight, "reconstruction_weight", allow_zero=True
    )
    if bottleneck is not None:
        bottleneck = check_positive_int(bottleneck, "bottleneck")
        if bottleneck > input_size:
            raise ValueError(f"bottleneck must be <= input_size ({input_size}), got {bottleneck}")
    return epochs, lr, batch_size, lr_min, bottleneck, reconstruction_weight


def train_inn(
    model: RealNVP,
    data: Tensor,
    conditions: Tensor | None = None,
    *,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 256,
    test_data: Tensor | None = None,
    test_conditions: Tensor | None = None,
    keep_best: bool = False,
    schedule: str | None = None,
    lr_min: float = 1e-5,
    bottleneck: int | None = None,
    reconstruction_weight: float = 1.0,
    max_grad_norm: float | None = None,
    max_bad_steps: int = 50,
    seed: int | None = None,
    progress: bool = True,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
    callback: Callable[[History], None] | None = None,
) -> History:
    """Train ``model`` by minimising the negative log-likelihood with Adam.

    Args:
        model: the flow; trained in place on its own device and dtype.
        data: training data ``(n, d)``.
        conditions: ``(n, condition_size)`` for a conditional model.
        epochs: passes over the (reshuffled) training data.
        lr: Adam's learning rate (the specification's default 1e-3).
        batch_size: points per optimizer step (the last, smaller batch of an epoch is used too).
        test_data, test_conditions: held-out data; its NLL is recorded every epoch.
        keep_best: restore the weights of the epoch with the lowest held-out NLL at the end.
        schedule: ``None`` (constant ``lr``) or ``"cosine"`` (per-step decay to ``lr_min``).
        bottleneck: ``k``; adds ``reconstruction_weight * mean |x - decode(z_k)|^2`` where
            ``z_k`` keeps the first ``k`` code dims and zeroes the rest. The NLL uses full ``z``.
        max_grad_norm: clip the gradient norm to this value (``None``: no clipping).
        max_bad_steps: consecutive non-finite steps (skipped) before training stops with
            :class:`TrainingDivergedError`; weights are then the last finite ones.
        seed: seeds the shuffling; the same seed, model and data give the same weights.
        progress: show a tqdm progress bar over epochs.
        checkpoint: file to write model, optimizer, RNG state and history to, atomically.
        checkpoint_every: write the checkpoint every this many epochs (and after the last).
        resume: continue from ``checkpoint`` if it exists (bitwise identical on CPU to a run
            that was never interrupted).
        callback: called with the history after every epoch (after the checkpoint is written);
            raising from it stops training.

    Returns:
        The :class:`History` of all epochs (including those before a resume).
    """
    if not isinstance(model, RealNVP):
        raise TypeError(f"model must be an innlab.RealNVP, got {type(model).__name__}")
    epochs, lr, batch_size, lr_min, bottleneck, reconstruction_weight = check_training_options(
        model.input_size,
        epochs,
        lr,
        batch_size,
        schedule,
        lr_min,
        bottleneck,
        reconstruction_weight,
    )
    max_bad_steps = check_positive_int(max_bad_steps, "max_bad_steps")
    checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
    if max_grad_norm is not None:
        max_grad_norm = check_positive_float(max_grad_norm, "max_grad_norm")
    if keep_best and test_data is None:
        raise ValueError("keep_best=True needs test_data to choose the best epoch")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs a checkpoint path")

    x = model._check_data(data, "data")
    c = model._check_condition(conditions, x.shape[0], "conditions")
    x_test = c_test = None
    if test_data is not None:
        x_test = model._check_data(test_data, "test_data")
        c_test = model._check_condition(test_conditions, x_test.shape[0], "test_conditions")
    elif test_conditions is not None:
        raise ValueError("test_conditions was given without test_data")

    checkpoint = None if checkpoint is None else Path(checkpoint)
    if checkpoint is not None and checkpoint.exists() and not resume:
        raise FileExistsError(
            f"checkpoint {str(checkpoint)!r} exists; pass resume=True to continue it "
            "or remove the file to start over"
        )
    resuming = checkpoint is not None and resume and checkpoint.exists()
    if checkpoint is not None and seed is None and resuming:  # the interrupted run's seed
        seed = safe_load(checkpoint, map_location="cpu").get("settings", {}).get("seed")
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)))
    generator = torch.Generator().manual_seed(seed)
    settings = {
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch_size,
        "schedule": schedule,
        "lr_min": lr_min,
        "bottleneck": bottleneck,
        "reconstruction_weight": reconstruction_weight,
        "seed": seed,
        "n": x.shape[0],
    }
    state = None
    if resuming:
        assert checkpoint is not None
        state = _read_training_checkpoint(checkpoint, model, settings)

    # All parameters and gradients live in one flat tensor while training, and the fused kernel
    # updates it in one pass: the same arithmetic as per-layer Adam, with far less overhead.
    flat = FlatParameters(p for p in model.parameters() if p.requires_grad)
    optimizer = torch.optim.Adam([flat.flat], lr=lr, fused=True)
    scheduler = None
    if schedule == "cosine":
        steps_per_epoch = math.ceil(x.shape[0] / batch_size)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=epochs * steps_per_epoch, eta_min=lr_min
        )
    with flat:
        history = History()
        best_nll, best_state = math.inf, None
        start_epoch, elapsed_before = 0, 0.0
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(state["scheduler"])
            generator.set_state(state["generator"])
            history = History.from_dict(state["history"])
            best_nll, best_state = state["best_nll"], state["best_state"]
            start_epoch = len(history)
            elapsed_before = history.time[-1] if history.time else 0.0
        last_good = _copy_state(model)
        skipped = history.skipped_steps[-1] if history.skipped_steps else 0
        bad_in_a_row = 0
        steps = history.steps[-1] if history.steps else 0
        started = time.perf_counter() - elapsed_before
        model.train()
        bar = tqdm(
            range(start_epoch, epochs),
            total=epochs,
            initial=start_epoch,
            disable=not progress,
            desc="train",
            leave=False,
        )
        for epoch in bar:
            order = torch.randperm(x.shape[0], generator=generator).to(x.device)
            loss_sum, loss_count = 0.0, 0
            for start in range(0, x.shape[0], batch_size):
                idx = order[start : start + batch_size]
                xb = x[idx]
                cb = None if c is None else c[idx]
                z, log_det = model._encode(xb, cb)
                loss = nll_loss(z, log_det).mean()
                if bottleneck is not None and reconstruction_weight > 0:
                    loss = loss + reconstruction_weight * _bottleneck_loss(
                        model, xb, z, cb, bottleneck
                    )
                value = loss.item()
                ok = math.isfinite(value)
                if ok:
                    loss.backward()
                    norm = torch.linalg.vector_norm(flat.grad)
                    ok = bool(torch.isfinite(norm))
                    if ok and max_grad_norm is not None:
                        torch.nn.utils.clip_grads_with_norm_([flat.flat], max_grad_norm, norm)
                if ok:
                    optimizer.step()
                    bad_in_a_row = 0
                    loss_sum += value * xb.shape[0]
                    loss_count += xb.shape[0]
                else:
                    skipped += 1
                    bad_in_a_row += 1
                    if bad_in_a_row >= max_bad_steps:
                        model.load_state_dict(last_good)
                        raise TrainingDivergedError(
                            f"training diverged at epoch {epoch + 1}: {bad_in_a_row} "
                            "consecutive steps had a non-finite loss or gradient "
                            f"(lr={lr:g}); the learning rate is likely too high for this model "
                            "and data - lower lr or set max_grad_norm. The model holds its last "
                            "finite weights."
                        )
                flat.zero_grad()
                if scheduler is not None:
                    scheduler.step()
                steps += 1

            if not flat.all_finite():
                model.load_state_dict(last_good)
                raise TrainingDivergedError(
                    f"weights became non-finite in epoch {epoch + 1} (lr={lr:g}); lower lr or set "
                    "max_grad_norm. The model holds the weights of the previous epoch."
                )
            last_good = _copy_state(model)
            test_nll = None
            if x_test is not None:
                model.eval()
                test_nll = _mean_nll(model, x_test, c_test)
                model.train()
                if keep_best and test_nll < best_nll:
                    best_nll, best_state = test_nll, last_good
            history.epoch.append(epoch + 1)
            history.train_loss.append(loss_sum / loss_count if loss_count else math.nan)
            history.test_nll.append(test_nll)
            history.lr.append(optimizer.param_groups[0]["lr"])
            history.time.append(time.perf_counter() - started)
            history.steps.append(steps)
            history.skipped_steps.append(skipped)
            bar.set_postfix(loss=f"{history.train_loss[-1]:.4f}", test=test_nll)

            if checkpoint is not None and (
                (epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs
            ):
                atomic_save(
                    {
                        "format": _CHECKPOINT_FORMAT,
                        "version": _CHECKPOINT_VERSION,
                        "config": model.config,
                        "settings": settings,
                        "model": last_good,
                        "optimizer": optimizer.state_dict(),
                        "scheduler": None if scheduler is None else scheduler.state_dict(),
                        "generator": generator.get_state(),
                        "history": history.to_dict(),
                        "best_nll": best_nll,
                        "best_state": best_state,
                    },
                    checkpoint,
                )
            if callback is not None:
                callback(history)
        bar.close()
    model.eval()
    if keep_best and best_state is not None:
        model.load_state_dict(best_state)
        history.best_epoch = history.epoch[history.test_nll.index(best_nll)]
    return history


def _copy_state(model: RealNVP) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _read_training_checkpoint(
    path: Path, model: RealNVP, settings: dict[str, Any]
) -> dict[str, Any]:
    state = safe_load(path, map_location=model.rotations.device)
    source = f"training checkpoint {str(path)!r}"
    if state.get("format") != _CHECKPOINT_FORMAT or state.get("version") != _CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{source} is not an innlab training checkpoint of version {_CHECKPOINT_VERSION} "
            f"(format {state.get('format')!r}, version {state.get('version')!r})"
        )
    if state.get("config") != model.config:
        raise CheckpointError(
            f"{source} belongs to a model with config {state.get('config')!r}, not {model.config!r}"
        )
    if state.get("settings") != settings:
        raise CheckpointError(
            f"{source} was written with training settings {state.get('settings')!r}; "
            f"resuming needs the same settings, got {settings!r}"
        )
    return state
