"""``train_inn``: maximum-likelihood training of a flow, with evaluation, checkpoints and resume.

The function orchestrates; the work lives in small parts: the loss (:mod:`.losses`), one
optimizer step and the divergence guard (:mod:`.step`), the options (:mod:`.options`), the
checkpoint (:mod:`.checkpoint`) and the history (:mod:`.history`).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from innlab._flat_params import FlatParameters
from innlab._validation import check_positive_float, check_positive_int, resolve_seed
from innlab.flows.base import Flow
from innlab.training.analytic import AnalyticNLL
from innlab.training.checkpoint import (
    checkpoint_seed,
    copy_state,
    read_checkpoint,
    run_identity,
    write_checkpoint,
)
from innlab.training.history import History
from innlab.training.options import TrainingOptions
from innlab.training.step import DivergenceGuard, Stepper, TrainingDivergedError

__all__ = ["train_inn"]


@dataclass(frozen=True)
class _Data:
    """Checked training and held-out tensors on the model's device and dtype."""

    x: Tensor
    c: Tensor | None
    x_test: Tensor | None
    c_test: Tensor | None


def train_inn(
    model: Flow,
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
    weight_decay: float = 0.0,
    ema: float | None = None,
    max_bad_steps: int = 50,
    seed: int | None = None,
    progress: bool = True,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
    callback: Callable[[History], None] | None = None,
    analytic: bool = True,
) -> History:
    """Train ``model`` by minimising the negative log-likelihood with Adam.

    Args:
        model: the flow (any :class:`~innlab.flows.Flow`); trained in place on its own device
            and dtype.
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
        weight_decay: decoupled weight decay (AdamW): every step first scales the weights by
            ``1 - lr * weight_decay``. ``0`` is plain Adam.
        ema: keep an exponential moving average of the weights, started at the initial ones,
            with this decay per step (e.g. ``0.99``, about the last 100 steps). The held-out
            NLL, ``keep_best`` and the returned model use the average; checkpoints hold both.
        max_bad_steps: consecutive non-finite steps (skipped) before training stops with
            :class:`TrainingDivergedError`; weights are then the last finite ones.
        seed: seeds the shuffling; the same seed, model and data give the same weights
            (``None``: a seed drawn from torch's global generator, or the interrupted run's).
        progress: show a tqdm progress bar over epochs.
        checkpoint: file to write model, optimizer, RNG state and history to, atomically.
        checkpoint_every: write the checkpoint every this many epochs (and after the last).
        resume: continue from ``checkpoint`` if it exists (bitwise identical on CPU to a run
            that was never interrupted); it must come from the same model, data and options.
        callback: called with the history after every epoch (after the checkpoint is written);
            raising from it stops training.
        analytic: use the hand-written gradient (:mod:`innlab.training.analytic`) where it
            applies: innlab's couplings and mixing layers, a standard normal base, no
            bottleneck term. ``False`` always differentiates with autograd (same results up to
            float rounding, about 3x slower steps on small flows).

    Returns:
        The :class:`History` of all epochs (including those before a resume).

    Example:
        >>> from innlab import RealNVP
        >>> from innlab.data import two_moons
        >>> x, _ = two_moons(512, seed=0)
        >>> history = train_inn(RealNVP(2, 16, 2, seed=0), x, epochs=2, seed=0, progress=False)
        >>> len(history), history.steps[-1]
        (2, 4)
    """
    if not isinstance(model, Flow):
        raise TypeError(f"model must be an innlab.flows.Flow, got {type(model).__name__}")
    options = TrainingOptions.check(model.input_size, epochs, lr, batch_size, schedule,
                                    lr_min, bottleneck, reconstruction_weight, weight_decay,
                                    ema)  # fmt: skip
    max_bad_steps = check_positive_int(max_bad_steps, "max_bad_steps")
    checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
    if max_grad_norm is not None:
        max_grad_norm = check_positive_float(max_grad_norm, "max_grad_norm")
    if keep_best and test_data is None:
        raise ValueError("keep_best=True needs test_data to choose the best epoch")
    tensors = _check_data(model, data, conditions, test_data, test_conditions)
    path, settings, state = _start(model, options, tensors, seed, checkpoint, resume)
    flat = FlatParameters(p for p in model.parameters() if p.requires_grad)
    with flat:
        run = _Run(model, flat, options, tensors, settings["seed"], max_grad_norm, max_bad_steps,
                   analytic)  # fmt: skip
        if state is not None:
            run.restore(state)
        saving = None if path is None else _Saving(path, settings, checkpoint_every)
        run.train(keep_best=keep_best, progress=progress, saving=saving, callback=callback)
        return run.finish(keep_best)


def _start(
    model: Flow,
    options: TrainingOptions,
    tensors: _Data,
    seed: int | None,
    checkpoint: str | Path | None,
    resume: bool,
) -> tuple[Path | None, dict[str, Any], dict[str, Any] | None]:
    """The checkpoint path, the run's identity (options, seed, data hash) and the state to
    resume from (``None``: a fresh start); a resumed run without ``seed`` keeps its own."""
    path, resuming = _checkpoint_path(checkpoint, resume)
    if path is not None and seed is None and resuming:
        seed = checkpoint_seed(path)
    settings = run_identity(options, resolve_seed(seed, "seed"), tensors.x, tensors.c)
    state = read_checkpoint(path, model, settings) if path is not None and resuming else None
    return path, settings, state


def _check_data(
    model: Flow, data: Any, conditions: Any, test_data: Any, test_conditions: Any
) -> _Data:
    x = model.check_data(data, "data")
    c = model.check_conditions(conditions, x.shape[0], "conditions")
    if test_data is None:
        if test_conditions is not None:
            raise ValueError("test_conditions was given without test_data")
        return _Data(x, c, None, None)
    x_test = model.check_data(test_data, "test_data")
    c_test = model.check_conditions(test_conditions, x_test.shape[0], "test_conditions")
    return _Data(x, c, x_test, c_test)


def _checkpoint_path(checkpoint: str | Path | None, resume: bool) -> tuple[Path | None, bool]:
    """The checkpoint path and whether training resumes from it."""
    if checkpoint is None:
        if resume:
            raise ValueError("resume=True needs a checkpoint path")
        return None, False
    path = Path(checkpoint)
    if path.exists() and not resume:
        raise FileExistsError(
            f"checkpoint {str(path)!r} exists; resume from it (resume=True, or --resume on the "
            "command line) or remove the file to start over"
        )
    return path, resume and path.exists()


@dataclass(frozen=True)
class _Saving:
    """Where and how often a run writes its checkpoint, and the identity it writes."""

    path: Path
    settings: dict[str, Any]
    every: int


class _Run:
    """The state of one training run: stepper, guard, shuffling generator, history, best."""

    def __init__(
        self,
        model: Flow,
        flat: FlatParameters,
        options: TrainingOptions,
        data: _Data,
        seed: int,
        max_grad_norm: float | None,
        max_bad_steps: int,
        analytic: bool,
    ) -> None:
        self.model, self.flat, self.options, self.data = model, flat, options, data
        self.loss = options.loss()
        self.analytic = (
            AnalyticNLL(model, flat.grad) if analytic and AnalyticNLL.supports(model, self.loss)
            else None
        )  # fmt: skip
        self.stepper = Stepper(flat, options, data.x.shape[0], max_grad_norm)
        self.guard = DivergenceGuard(max_bad_steps)
        self.generator = torch.Generator().manual_seed(seed)
        self.history = History()
        self.best_nll: float = math.inf
        self.best_state: dict[str, Tensor] | None = None
        self.last_good = copy_state(model)
        self.started = time.perf_counter()

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint's ``state`` (see :meth:`state_dict`)."""
        self.model.load_state_dict(state["model"])
        self.stepper.load_state_dict(state["stepper"])
        self.generator.set_state(state["generator"])
        self.history = History.from_dict(state["history"])
        self.best_nll, self.best_state = state["best_nll"], state["best_state"]
        self.guard.skipped = self.history.skipped_steps[-1] if self.history.skipped_steps else 0
        self.last_good = copy_state(self.model)
        self.started -= self.history.time[-1] if self.history.time else 0.0

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint holds to continue this run bitwise identically."""
        return {
            "model": self.last_good,
            "stepper": self.stepper.state_dict(),
            "generator": self.generator.get_state(),
            "history": self.history.to_dict(),
            "best_nll": self.best_nll,
            "best_state": self.best_state,
        }

    def train(
        self,
        *,
        keep_best: bool,
        progress: bool,
        saving: _Saving | None,
        callback: Callable[[History], None] | None,
    ) -> None:
        """The remaining epochs, each followed by its checkpoint (when due) and ``callback``."""
        epochs = self.options.epochs
        bar = tqdm(range(len(self.history), epochs), total=epochs, initial=len(self.history),
                   disable=not progress, desc="train", leave=False)  # fmt: skip
        for epoch in bar:
            self.epoch(keep_best)
            bar.set_postfix(
                loss=f"{self.history.train_loss[-1]:.4f}", test=self.history.test_nll[-1]
            )
            if saving is not None and ((epoch + 1) % saving.every == 0 or epoch + 1 == epochs):
                write_checkpoint(saving.path, self.model, saving.settings, self.state_dict())
            if callback is not None:
                callback(self.history)
        bar.close()

    def epoch(self, keep_best: bool) -> None:
        """One pass over the reshuffled data, then the finiteness check and evaluation."""
        epoch = len(self.history) + 1
        loss_sum, count = self._steps(epoch)
        if not self.flat.all_finite():
            self.model.load_state_dict(self.last_good)
            raise TrainingDivergedError(
                f"weights became non-finite in epoch {epoch} (lr={self.options.lr:g}); lower lr "
                "or set max_grad_norm. The model holds the weights of the previous epoch."
            )
        self.last_good = copy_state(self.model)
        with self.stepper.averaged():
            test_nll = self._test_nll()
            if keep_best and test_nll is not None and test_nll < self.best_nll:
                self.best_nll = test_nll
                averaged = self.stepper.average is not None
                self.best_state = copy_state(self.model) if averaged else self.last_good
        self.history.append_epoch(
            train_loss=loss_sum / count if count else math.nan,
            test_nll=test_nll,
            lr=self.stepper.lr,
            time=time.perf_counter() - self.started,
            steps=self.stepper.steps,
            skipped_steps=self.guard.skipped,
        )

    def _steps(self, epoch: int) -> tuple[float, int]:
        """The optimizer steps of one epoch; returns the summed loss and the points it covers."""
        x, c, batch_size = self.data.x, self.data.c, self.options.batch_size
        order = torch.randperm(x.shape[0], generator=self.generator).to(x.device)
        loss_sum, count = 0.0, 0
        for start in range(0, x.shape[0], batch_size):
            idx = order[start : start + batch_size]
            if self.analytic is not None:
                value, grad_norm = self.analytic(x, c, rows=idx)
                ok = self.stepper.apply_gradient(value, grad_norm)
            else:
                loss = self.loss(self.model, x[idx], None if c is None else c[idx])
                value = loss.item()
                ok = self.stepper.apply(loss if math.isfinite(value) else None)
            if ok:
                loss_sum += value * idx.shape[0]
                count += idx.shape[0]
            try:
                self.guard.record(ok, epoch, self.options.lr)
            except TrainingDivergedError:
                self.model.load_state_dict(self.last_good)
                raise
        return loss_sum, count

    def _test_nll(self) -> float | None:
        """Mean held-out NLL in nats per sample, or ``None`` without held-out data."""
        if self.data.x_test is None:
            return None
        self.model.eval()
        with torch.no_grad():
            log_p = self.model.in_chunks(
                self.model.log_prob_unchecked, self.data.x_test, self.data.c_test
            )
        self.model.train()
        return float(-log_p.double().mean())

    def finish(self, keep_best: bool) -> History:
        """Put the model in eval mode with its final weights (the best epoch's for
        ``keep_best``, the moving average for ``ema``); warn when steps were skipped, which a
        short run may survive with a NaN loss."""
        if self.guard.skipped:
            warnings.warn(
                f"{self.guard.skipped} of {self.stepper.steps} training steps were skipped "
                f"because their loss or gradient was not finite (lr={self.options.lr:g}); "
                "lower lr or set max_grad_norm",
                RuntimeWarning,
                stacklevel=3,
            )
        self.model.eval()
        if keep_best and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
            self.history.best_epoch = self.history.epoch[self.history.test_nll.index(self.best_nll)]
        else:
            self.stepper.use_average()
        return self.history
