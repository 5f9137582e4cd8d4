"""Vectorised seeds: train several flows of one architecture as one batched model.

The models' parameters and rotations are stacked along a leading seed axis
(:func:`torch.func.stack_module_state`), so every layer is one batched matrix product for all
seeds: by the analytic passes (:mod:`innlab.training.analytic`, with stacked
tensors) where they apply, as in ``train_inn``, else by the per-seed loss under
:func:`torch.func.vmap` and autograd. Each seed's gradient is exactly its own (autograd
differentiates the *sum* of the per-seed mean losses); Adam and the cosine schedule act
elementwise, so one optimizer over the stacked tensors equals one optimizer per seed. Each seed
shuffles its data with its own generator exactly as :func:`~innlab.train_inn` does. The result
equals separate ``train_inn`` runs up to float rounding.

``train_inn`` skips steps with a non-finite loss or gradient and stops when weights become
non-finite; a batched step cannot skip one seed alone. When that happens here,
:class:`NotVectorizableError` is raised and the caller trains the seeds separately with
``train_inn``, which reproduces the skipping (or the divergence error) exactly.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from innlab._flat_params import FlatParameters
from innlab._validation import check_seed
from innlab.flows.base import Flow
from innlab.training.analytic import AnalyticNLL
from innlab.training.history import History
from innlab.training.losses import Loss
from innlab.training.options import TrainingOptions
from innlab.training.step import Stepper

__all__ = ["NotVectorizableError", "train_inn_vectorized"]


class NotVectorizableError(RuntimeError):
    """A step had a non-finite loss or gradient, or produced non-finite weights, for some seed."""


class _SeedLoss(nn.Module):
    """The loss of one seed's model on one batch, as ``train_inn`` computes it."""

    def __init__(self, flow: Flow, loss: Loss) -> None:
        super().__init__()
        self.flow = flow
        self.loss = loss

    def forward(self, x: Tensor, c: Tensor | None) -> Tensor:
        return self.loss(self.flow, x, c)


def train_inn_vectorized(
    models: Sequence[Flow],
    data: Sequence[Tensor],
    conditions: Sequence[Tensor] | None = None,
    *,
    seeds: Sequence[int],
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 256,
    schedule: str | None = None,
    lr_min: float = 1e-5,
    bottleneck: int | None = None,
    reconstruction_weight: float = 1.0,
    weight_decay: float = 0.0,
    ema: float | None = None,
    analytic: bool = True,
) -> list[History]:
    """Train ``models[i]`` on ``data[i]`` as ``train_inn(models[i], data[i], conditions[i],
    seed=seeds[i], ...)`` would, for all ``i`` at once.

    Args:
        models: flows that differ only in their weights and fixed buffers (same class,
            architecture, dtype and device), e.g. one ``RealNVP`` per seed.
        data: one training set ``(n, d)`` per model, all of the same size ``n``.
        conditions: one ``(n, condition_size)`` tensor per model, for conditional models.
        seeds: one shuffling seed per model (``train_inn``'s ``seed``).
        epochs, lr, batch_size, schedule, lr_min: as in :func:`~innlab.train_inn`.
        bottleneck, reconstruction_weight, weight_decay, ema, analytic: as there too.

    Returns:
        One :class:`~innlab.History` per model; the models hold their trained weights (in eval
        mode). Held-out NLL is not tracked (``test_nll`` entries are ``None``).

    Raises:
        NotVectorizableError: a seed hit a non-finite loss, gradient or weights; the models are
            unchanged.
    """
    x, c = _check_inputs(models, data, conditions, seeds)
    options = TrainingOptions.check(
        models[0].input_size, epochs, lr, batch_size, schedule, lr_min, bottleneck,
        reconstruction_weight, weight_decay, ema,
    )  # fmt: skip
    params, buffers = stack_module_state(list(models))
    flat = FlatParameters(params.values())  # one tensor for Adam, as in train_inn
    stepper = Stepper(flat, options, x.shape[1], max_grad_norm=None)
    step = _seed_step(models[0], options.loss(), params, buffers, stepper, analytic)
    histories = _train_epochs(step, stepper, x, c, options, seeds)
    stepper.use_average()
    _copy_back(models, params)
    return histories


def _train_epochs(
    step: _SeedStep,
    stepper: Stepper,
    x: Tensor,
    c: Tensor | None,
    options: TrainingOptions,
    seeds: Sequence[int],
) -> list[History]:
    """Every epoch for every seed, each shuffled by its own generator; the seeds' histories."""
    histories = [History() for _ in seeds]
    started = time.perf_counter()
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    for epoch in range(1, options.epochs + 1):
        order = torch.stack([torch.randperm(x.shape[1], generator=g) for g in generators])
        loss_sums = _epoch(step, x, c, order.to(x.device), options.batch_size, seeds, epoch)
        if not stepper.flat.all_finite():
            raise NotVectorizableError(f"non-finite weights after epoch {epoch}")
        elapsed = time.perf_counter() - started
        for history, loss_sum in zip(histories, loss_sums, strict=True):
            history.append_epoch(train_loss=loss_sum / x.shape[1], test_nll=None, lr=stepper.lr,
                                 time=elapsed, steps=stepper.steps, skipped_steps=0)  # fmt: skip
    return histories


_SeedStep = Callable[[Tensor, Tensor | None], tuple[list[float], bool]]
"""One step for every seed on batches ``(S, b, d)`` (and conditions): the seeds' losses and
whether the parameters were updated (``False``: the gradient was not finite)."""


def _seed_step(
    template: Flow,
    loss: Loss,
    params: dict[str, Tensor],
    buffers: dict[str, Tensor],
    stepper: Stepper,
    analytic: bool,
) -> _SeedStep:
    """The analytic step over the stacked tensors where it applies, else vmap and autograd."""
    if analytic and AnalyticNLL.supports(template, loss):
        passes = AnalyticNLL(template, stepper.flat.grad, {**params, **buffers})

        def analytic_step(xb: Tensor, cb: Tensor | None) -> tuple[list[float], bool]:
            values, grad_norm = passes.per_seed(xb, cb)
            return values, stepper.apply_gradient(sum(values), grad_norm)

        return analytic_step
    batched_loss = _batched_objective(template, loss, conditional=template.condition_size > 0)
    prefixed = {f"flow.{k}": v for k, v in params.items()}
    prefixed_buffers = {f"flow.{k}": v for k, v in buffers.items()}

    def autograd_step(xb: Tensor, cb: Tensor | None) -> tuple[list[float], bool]:
        losses = batched_loss(prefixed, prefixed_buffers, xb, cb)
        return losses.tolist(), stepper.apply(losses.sum())

    return autograd_step


def _batched_objective(template: Flow, loss: Loss, conditional: bool) -> Any:
    """``loss`` of every seed's model at once: ``vmap`` over the stacked parameters and
    buffers (named ``flow.<name>``) of copies of ``template``."""
    objective = _SeedLoss(copy.deepcopy(template).to("meta"), loss)

    def seed_loss(
        p: dict[str, Tensor], b: dict[str, Tensor], xb: Tensor, cb: Tensor | None
    ) -> Tensor:
        return functional_call(objective, (p, b), (xb, cb))

    return vmap(seed_loss, in_dims=(0, 0, 0, 0 if conditional else None))


def _epoch(
    step: _SeedStep,
    x: Tensor,
    c: Tensor | None,
    order: Tensor,
    batch_size: int,
    seeds: Sequence[int],
    epoch: int,
) -> list[float]:
    """One epoch's steps for every seed; returns each seed's summed loss."""
    rows = torch.arange(x.shape[0], device=x.device).unsqueeze(1)
    loss_sums = [0.0] * x.shape[0]
    for start in range(0, x.shape[1], batch_size):
        idx = order[:, start : start + batch_size]
        values, updated = step(x[rows, idx], None if c is None else c[rows, idx])
        bad = [s for s, v in zip(seeds, values, strict=True) if not math.isfinite(v)]
        if bad:
            raise NotVectorizableError(f"non-finite loss in epoch {epoch} for seed(s) {bad}")
        if not updated:
            raise NotVectorizableError(f"non-finite gradient in epoch {epoch}")
        loss_sums = [s + v * idx.shape[1] for s, v in zip(loss_sums, values, strict=True)]
    return loss_sums


def _copy_back(models: Sequence[Flow], params: dict[str, Tensor]) -> None:
    """Write the trained stacked parameters back into each model; eval mode."""
    with torch.no_grad():
        for i, model in enumerate(models):
            for name, param in model.named_parameters():
                param.copy_(params[name][i])
            model.eval()


def _check_inputs(
    models: Sequence[Flow],
    data: Sequence[Tensor],
    conditions: Sequence[Tensor] | None,
    seeds: Sequence[int],
) -> tuple[Tensor, Tensor | None]:
    """Validate and stack the training sets ``(S, n, d)`` and conditions ``(S, n, k)``."""
    if not models:
        raise ValueError("models must hold at least one flow, got none")
    reference = _architecture(models[0], "models[0]")
    for i, model in enumerate(models):
        kind, config, tensors = _architecture(model, f"models[{i}]")
        if (kind, config) != reference[:2]:
            raise ValueError(
                f"models must differ only in their seed; models[{i}] is a {kind} with config "
                f"{config}, models[0] a {reference[0]} with {reference[1]}"
            )
        if tensors != reference[2]:
            raise ValueError(
                f"models must differ only in their seed; models[{i}]'s parameters and buffers "
                "differ from models[0]'s in names, shapes, dtypes or device"
            )
    for name, values in (("data", data), ("seeds", seeds)):
        if len(values) != len(models):
            raise ValueError(
                f"{name} must have one entry per model ({len(models)}), got {len(values)}"
            )
    for i, s in enumerate(seeds):
        check_seed(s, f"seeds[{i}]")
    x = [m.check_data(d, f"data[{i}]") for i, (m, d) in enumerate(zip(models, data, strict=True))]
    if len({t.shape[0] for t in x}) != 1:
        raise ValueError(
            f"data must hold training sets of one size, got sizes {[t.shape[0] for t in x]}"
        )
    if conditions is None:
        models[0].check_conditions(None, None, "conditions")  # raises for a conditional model
        return torch.stack(x), None
    if len(conditions) != len(models):
        raise ValueError(
            f"conditions must have one entry per model ({len(models)}), got {len(conditions)}"
        )
    cs = [
        m.check_conditions(cond, t.shape[0], f"conditions[{i}]")
        for i, (m, cond, t) in enumerate(zip(models, conditions, x, strict=True))
    ]
    return torch.stack(x), torch.stack(cs)  # type: ignore[arg-type]


def _architecture(model: Any, name: str) -> tuple[str, dict[str, Any], list[tuple[Any, ...]]]:
    """What must agree between stacked models: class, config but the seed, and the tensors'
    names, shapes, dtypes and devices."""
    if not isinstance(model, Flow):
        raise TypeError(f"{name} must be an innlab.flows.Flow, got {type(model).__name__}")
    config = {k: v for k, v in getattr(model, "config", {}).items() if k != "seed"}
    tensors = [(k, v.shape, v.dtype, v.device) for k, v in model.state_dict().items()]
    return type(model).__name__, config, tensors
