"""The options every training loop shares: their checks and the optimizer they configure."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from innlab._validation import check_choice, check_positive_float, check_positive_int
from innlab.training.losses import Loss, make_loss

__all__ = ["TrainingOptions", "make_optimizer"]


@dataclass(frozen=True)
class TrainingOptions:
    """Checked training options (see :func:`~innlab.train_inn` for their meaning)."""

    epochs: int
    lr: float
    batch_size: int
    schedule: str | None
    lr_min: float
    bottleneck: int | None
    reconstruction_weight: float
    weight_decay: float = 0.0
    ema: float | None = None

    @classmethod
    def check(
        cls,
        input_size: int,
        epochs: Any,
        lr: Any,
        batch_size: Any,
        schedule: Any,
        lr_min: Any,
        bottleneck: Any,
        reconstruction_weight: Any,
        weight_decay: Any = 0.0,
        ema: Any = None,
    ) -> TrainingOptions:
        """Validate the options (in the order of :func:`~innlab.train_inn`'s keywords) for a
        flow of dimension ``input_size``."""
        if bottleneck is not None:
            bottleneck = check_positive_int(bottleneck, "bottleneck")
            if bottleneck > input_size:
                raise ValueError(
                    f"bottleneck must be <= input_size ({input_size}), got {bottleneck}"
                )
        return cls(
            epochs=check_positive_int(epochs, "epochs"),
            lr=check_positive_float(lr, "lr"),
            batch_size=check_positive_int(batch_size, "batch_size"),
            schedule=check_choice(schedule, "schedule", (None, "cosine")),
            lr_min=check_positive_float(lr_min, "lr_min", allow_zero=True),
            bottleneck=bottleneck,
            reconstruction_weight=check_positive_float(
                reconstruction_weight, "reconstruction_weight", allow_zero=True
            ),
            weight_decay=check_positive_float(weight_decay, "weight_decay", allow_zero=True),
            ema=None if ema is None else _check_decay(ema),
        )

    def loss(self) -> Loss:
        """The objective these options ask for."""
        return make_loss(self.bottleneck, self.reconstruction_weight)

    def to_dict(self) -> dict[str, Any]:
        """The options as a dict; ``weight_decay`` and ``ema`` only where set, so the identity
        of a run that uses neither (checkpoints, caches) is what it was before they existed."""
        out = asdict(self)
        for name, default in (("weight_decay", 0.0), ("ema", None)):
            if out[name] == default:
                del out[name]
        return out


def _check_decay(value: Any) -> float:
    decay = check_positive_float(value, "ema")
    if decay >= 1:
        raise ValueError(f"ema must be a decay in (0, 1), got {decay}")
    return decay


def make_optimizer(
    flat: Tensor, options: TrainingOptions, n: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None]:
    """Fused Adam over the flat parameter tensor ``flat`` (AdamW, whose step first scales the
    weights by ``1 - lr * weight_decay``, when ``weight_decay`` is set) and, for
    ``schedule="cosine"``, its per-step cosine decay to ``lr_min`` over every step of training
    on ``n`` points."""
    optimizer: torch.optim.Optimizer
    if options.weight_decay:
        optimizer = torch.optim.AdamW(
            [flat], lr=options.lr, weight_decay=options.weight_decay, fused=True
        )
    else:
        optimizer = torch.optim.Adam([flat], lr=options.lr, fused=True)
    if options.schedule != "cosine":
        return optimizer, None
    steps = options.epochs * math.ceil(n / options.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=steps, eta_min=options.lr_min
    )
    return optimizer, scheduler
