"""Vectorised seeds: train several RealNVPs of one architecture as one batched model.

The models' parameters and rotations are stacked along a leading seed axis
(:func:`torch.func.stack_module_state`) and the per-seed loss runs under :func:`torch.func.vmap`,
so every layer is one batched matrix product for all seeds. The loss that is differentiated is
the *sum* of the per-seed mean losses, so each seed's gradient is exactly its own; Adam and the
cosine schedule act elementwise, so one optimizer over the stacked tensors equals one optimizer
per seed. Each seed shuffles its data with its own generator exactly as :func:`~innlab.train_inn`
does. The result equals separate ``train_inn`` runs up to float rounding.

``train_inn`` skips steps with a non-finite loss or gradient and stops when weights become
non-finite; a batched step cannot skip one seed alone. When that happens here,
:class:`NotVectorizableError` is raised and the caller trains the seeds separately with
``train_inn``, which reproduces the skipping (or the divergence error) exactly.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from innlab._flat_params import FlatParameters
from innlab.flows.realnvp import RealNVP
from innlab.training import History, _bottleneck_loss, check_training_options, nll_loss

__all__ = ["NotVectorizableError", "train_inn_vectorized"]


class NotVectorizableError(RuntimeError):
    """A step had a non-finite loss or produced non-finite weights for some seed."""


class _SeedLoss(nn.Module):
    """The loss of one seed's model on one batch, as ``train_inn`` computes it."""

    def __init__(self, flow: RealNVP, bottleneck: int | None, reconstruction_weight: float):
        super().__init__()
        self.flow = flow
        self.bottleneck = bottleneck
        self.reconstruction_weight = reconstruction_weight

    def forward(self, x: Tensor, c: Tensor | None) -> Tensor:
        z, log_det = self.flow._encode(x, c)
        loss = nll_loss(z, log_det).mean()
        if self.bottleneck is not None and self.reconstruction_weight > 0:
            recon = _bottleneck_loss(self.flow, x, z, c, self.bottleneck)
            loss = loss + self.reconstruction_weight * recon
        return loss


def train_inn_vectorized(
    models: Sequence[RealNVP],
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
) -> list[History]:
    """Train ``models[i]`` on ``data[i]`` as ``train_inn(models[i], data[i], conditions[i],
    seed=seeds[i], ...)`` would, for all ``i`` at once.

    Args:
        models: models that differ only in their seed (same architecture, dtype and device).
        data: one training set ``(n, d)`` per model, all of the same size ``n``.
        conditions: one ``(n, condition_size)`` tensor per model, for conditional models.
        seeds: one shuffling seed per model (``train_inn``'s ``seed``).
        epochs, lr, batch_size, schedule, lr_min, bottleneck, reconstruction_weight: as in
            :func:`~innlab.train_inn`.

    Returns:
        One :class:`~innlab.History` per model; the models hold their trained weights (in eval
        mode). Held-out NLL is not tracked (``test_nll`` entries are ``None``).

    Raises:
        NotVectorizableError: a seed hit a non-finite loss or weights; the models are unchanged.
    """
    x, c = _check_inputs(models, data, conditions, seeds)
    epochs, lr, batch_size, lr_min, bottleneck, reconstruction_weight = check_training_options(
        models[0].input_size,
        epochs,
        lr,
        batch_size,
        schedule,
        lr_min,
        bottleneck,
        reconstruction_weight,
    )

    params, buffers = stack_module_state(list(models))  # detached copies; params require grad
    objective = _SeedLoss(copy.deepcopy(models[0]).to("meta"), bottleneck, reconstruction_weight)
    params = {f"flow.{k}": v for k, v in params.items()}
    buffers = {f"flow.{k}": v for k, v in buffers.items()}

    def seed_loss(
        p: dict[str, Tensor], b: dict[str, Tensor], xb: Tensor, cb: Tensor | None
    ) -> Tensor:
        return functional_call(objective, (p, b), (xb, cb))

    batched_loss = vmap(seed_loss, in_dims=(0, 0, 0, None if c is None else 0))
    flat = FlatParameters(params.values())  # one tensor for Adam, as in train_inn
    optimizer = torch.optim.Adam([flat.flat], lr=lr, fused=True)
    num_seeds, n = x.shape[0], x.shape[1]
    scheduler = None
    if schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=epochs * math.ceil(n / batch_size), eta_min=lr_min
        )
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    rows = torch.arange(num_seeds, device=x.device).unsqueeze(1)
    histories = [History() for _ in models]
    steps = 0
    started = time.perf_counter()
    for epoch in range(epochs):
        order = torch.stack([torch.randperm(n, generator=g) for g in generators]).to(x.device)
        loss_sums = [0.0] * num_seeds
        for start in range(0, n, batch_size):
            idx = order[:, start : start + batch_size]
            losses = batched_loss(
                params, buffers, x[rows, idx], None if c is None else c[rows, idx]
            )
            values = losses.tolist()
            if not all(math.isfinite(v) for v in values):
                raise NotVectorizableError(
                    f"non-finite loss in epoch {epoch + 1} for seed(s) "
                    f"{[s for s, v in zip(seeds, values, strict=True) if not math.isfinite(v)]}"
                )
            losses.sum().backward()
            optimizer.step()
            flat.zero_grad()
            if scheduler is not None:
                scheduler.step()
            steps += 1
            loss_sums = [s + v * idx.shape[1] for s, v in zip(loss_sums, values, strict=True)]
        if not flat.all_finite():
            raise NotVectorizableError(f"non-finite weights after epoch {epoch + 1}")
        elapsed = time.perf_counter() - started
        for history, loss_sum in zip(histories, loss_sums, strict=True):
            history.epoch.append(epoch + 1)
            history.train_loss.append(loss_sum / n)
            history.test_nll.append(None)
            history.lr.append(optimizer.param_groups[0]["lr"])
            history.time.append(elapsed)
            history.steps.append(steps)
            history.skipped_steps.append(0)

    with torch.no_grad():
        for i, model in enumerate(models):
            for name, param in model.named_parameters():
                param.copy_(params[f"flow.{name}"][i])
            model.eval()
    return histories


def _check_inputs(
    models: Sequence[RealNVP],
    data: Sequence[Tensor],
    conditions: Sequence[Tensor] | None,
    seeds: Sequence[int],
) -> tuple[Tensor, Tensor | None]:
    """Validate and stack the training sets ``(S, n, d)`` and conditions ``(S, n, k)``."""
    if not models:
        raise ValueError("models must hold at least one RealNVP, got none")
    reference = {k: v for k, v in models[0].config.items() if k != "seed"}
    for i, model in enumerate(models):
        if not isinstance(model, RealNVP):
            raise TypeError(f"models[{i}] must be a RealNVP, got {type(model).__name__}")
        config = {k: v for k, v in model.config.items() if k != "seed"}
        if config != reference or model.rotations.device != models[0].rotations.device:
            raise ValueError(
                f"models must differ only in their seed; models[{i}] has config {config}, "
                f"models[0] has {reference}"
            )
    for name, values in (("data", data), ("seeds", seeds)):
        if len(values) != len(models):
            raise ValueError(
                f"{name} must have one entry per model ({len(models)}), got {len(values)}"
            )
    for i, s in enumerate(seeds):
        if isinstance(s, bool) or not isinstance(s, int):
            raise TypeError(f"seeds[{i}] must be an int, got {type(s).__name__} {s!r}")
    x = [m._check_data(d, f"data[{i}]") for i, (m, d) in enumerate(zip(models, data, strict=True))]
    if len({t.shape[0] for t in x}) != 1:
        raise ValueError(
            f"data must hold training sets of one size, got sizes {[t.shape[0] for t in x]}"
        )
    if conditions is None:
        models[0]._check_condition(None, None, "conditions")  # raises for a conditional model
        return torch.stack(x), None
    if len(conditions) != len(models):
        raise ValueError(
            f"conditions must have one entry per model ({len(models)}), got {len(conditions)}"
        )
    cs = [
        m._check_condition(cond, t.shape[0], f"conditions[{i}]")
        for i, (m, cond, t) in enumerate(zip(models, conditions, x, strict=True))
    ]
    return torch.stack(x), torch.stack(cs)  # type: ignore[arg-type]
