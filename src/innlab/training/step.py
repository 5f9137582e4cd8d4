"""One optimizer step on a flat parameter buffer, and the guard against diverging runs."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from innlab._flat_params import FlatParameters
from innlab.training.options import TrainingOptions, make_optimizer

__all__ = ["DivergenceGuard", "Stepper", "TrainingDivergedError", "fused_adam_step"]


class TrainingDivergedError(RuntimeError):
    """Too many consecutive training steps had a non-finite loss or gradient."""


class Stepper:
    """Backward, gradient check, optional clipping, fused Adam, the schedule and the weights'
    moving average, for parameters viewed into one :class:`~innlab._flat_params.FlatParameters`
    buffer.

    Args:
        flat: the parameters' flat buffer (its ``grad`` receives the gradients).
        options: the training options (learning rate, schedule, weight decay, EMA decay).
        n: training points per epoch (sets the schedule's length).
        max_grad_norm: clip the gradient norm to this value (``None``: no clipping).
    """

    def __init__(
        self, flat: FlatParameters, options: TrainingOptions, n: int, max_grad_norm: float | None
    ) -> None:
        self.flat = flat
        self.optimizer, self.scheduler = make_optimizer(flat.flat, options, n)
        self.max_grad_norm = max_grad_norm
        self.steps = 0  # steps taken or skipped
        self.ema = options.ema
        # exponential moving average of the weights, started at the initial ones
        self.average = None if self.ema is None else flat.flat.detach().clone()

    @property
    def lr(self) -> float:
        """The learning rate of the next step."""
        return float(self.optimizer.param_groups[0]["lr"])

    def apply(self, loss: Tensor | None) -> bool:
        """Differentiate the finite scalar ``loss`` and update the parameters; skip the update
        (but advance the schedule) when ``loss`` is ``None`` or its gradient is not finite.
        Returns whether the parameters were updated."""
        ok = loss is not None
        if loss is not None:
            loss.backward()
            norm = torch.linalg.vector_norm(self.flat.grad)
            ok = bool(torch.isfinite(norm))
            if ok and self.max_grad_norm is not None:
                torch.nn.utils.clip_grads_with_norm_([self.flat.flat], self.max_grad_norm, norm)
        return self._update(ok)

    def apply_gradient(self, loss: float, grad_norm: float) -> bool:
        """Update the parameters from the gradient already written into the flat buffer (with
        its norm), as :meth:`apply` would: skipped when ``loss`` or the gradient is not
        finite. The buffer is not zeroed afterwards: the analytic passes overwrite every
        element at the next step (a flat buffer of the 64-dim model is 2.9 MB per fill)."""
        ok = math.isfinite(loss) and math.isfinite(grad_norm)
        if ok and self.max_grad_norm is not None:
            scale = self.max_grad_norm / (grad_norm + 1e-6)  # clip_grads_with_norm_'s formula
            if scale < 1.0:
                self.flat.grad.mul_(scale)
        return self._update(ok, zero_grad=False)

    def _update(self, ok: bool, zero_grad: bool = True) -> bool:
        if ok:
            fused_adam_step(self.optimizer)
            if self.average is not None:
                self.average.lerp_(self.flat.flat.detach(), 1.0 - self.ema)  # type: ignore[operator]
        if zero_grad:
            self.flat.zero_grad()
        if self.scheduler is not None:
            self.scheduler.step()
        self.steps += 1
        return ok

    @contextmanager
    def averaged(self) -> Iterator[None]:
        """Hold the moving average in the parameters for the ``with`` block (nothing without
        ``ema``); the trained weights come back afterwards."""
        if self.average is None:
            yield
            return
        weights = self.flat.flat.detach()
        trained = weights.clone()
        weights.copy_(self.average)
        try:
            yield
        finally:
            weights.copy_(trained)

    def use_average(self) -> None:
        """Replace the trained weights by their moving average for good (nothing without
        ``ema``)."""
        if self.average is not None:
            self.flat.flat.detach().copy_(self.average)

    def state_dict(self) -> dict[str, object]:
        """Optimizer, schedule and moving-average state, for checkpoints."""
        scheduler = None if self.scheduler is None else self.scheduler.state_dict()
        state: dict[str, object] = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": scheduler,
            "steps": self.steps,
        }
        if self.average is not None:
            state["average"] = self.average.clone()
        return state

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])  # type: ignore[arg-type]
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])  # type: ignore[arg-type]
        self.steps = int(state["steps"])  # type: ignore[call-overload]
        if self.average is not None:
            self.average.copy_(state["average"])  # type: ignore[arg-type]


def fused_adam_step(optimizer: torch.optim.Optimizer) -> None:
    """``optimizer.step()`` for :func:`~innlab.training.options.make_optimizer`'s fused Adam or
    AdamW over one flat tensor, by calling its kernel directly.

    ``Optimizer.step``'s Python (hooks, grouping the tensors by device and dtype, graph-capture
    checks) took about 110 us a step on this project's machine: the whole step on the 35k
    weights of a two-moons model took 153 us through ``optimizer.step()`` and 44 us here. The
    first step goes through ``optimizer.step()``, which makes the state, as do options this
    kernel call does not pass on (amsgrad, maximize, an optimizer that is not fused);
    ``tests/test_training_step.py`` holds the two paths bitwise equal.
    """
    group = optimizer.param_groups[0]
    (param,) = group["params"]
    state = optimizer.state.get(param)
    if not state or group["amsgrad"] or group["maximize"] or not group["fused"]:
        optimizer.step()
        return
    step = state["step"]
    step += 1
    kernel = torch._fused_adamw_ if group["decoupled_weight_decay"] else torch._fused_adam_
    beta1, beta2 = group["betas"]
    kernel(
        [param],
        [param.grad],
        [state["exp_avg"]],
        [state["exp_avg_sq"]],
        [],
        [step],
        amsgrad=False,
        lr=group["lr"],
        beta1=beta1,
        beta2=beta2,
        weight_decay=group["weight_decay"],
        eps=group["eps"],
        maximize=False,
        grad_scale=None,
        found_inf=None,
    )


class DivergenceGuard:
    """Counts skipped (non-finite) steps and stops training after ``max_bad_steps`` in a row."""

    def __init__(self, max_bad_steps: int, skipped: int = 0) -> None:
        self.max_bad_steps = max_bad_steps
        self.skipped = skipped  # skipped steps of the whole run
        self.in_a_row = 0

    def record(self, ok: bool, epoch: int, lr: float) -> None:
        """Count one step; raise :class:`TrainingDivergedError` after too many bad ones."""
        if ok:
            self.in_a_row = 0
            return
        self.skipped += 1
        self.in_a_row += 1
        if self.in_a_row >= self.max_bad_steps:
            raise TrainingDivergedError(
                f"training diverged at epoch {epoch}: {self.in_a_row} consecutive steps had a "
                f"non-finite loss or gradient (lr={lr:g}); the learning rate is likely too high "
                "for this model and data - lower lr or set max_grad_norm. The model holds its "
                "last finite weights."
            )
