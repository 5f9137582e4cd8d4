"""Training objectives: the negative log-likelihood and the bottleneck reconstruction term.

A loss is a callable ``loss(flow, x, c) -> scalar`` that differentiates through the flow's
unchecked passes; the training loops take one and never look inside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from innlab.flows.base import Flow
from innlab.flows.distributions import standard_normal_log_prob

__all__ = ["BottleneckLoss", "Loss", "NLLLoss", "make_loss", "nll_loss"]


def nll_loss(z: Tensor, log_det: Tensor) -> Tensor:
    """Per-sample negative log-likelihood in nats under a standard normal base, shape ``(n,)``.

    ``0.5 |z|^2 + d/2 log(2 pi) - log_det``; equals ``-model.log_prob(x)``.

    Example:
        >>> nll_loss(torch.zeros(1, 2), torch.zeros(1))
        tensor([1.8379])
    """
    return -(standard_normal_log_prob(z) + log_det)


class Loss(Protocol):
    """A training objective: ``loss(flow, x, c)`` is the scalar to minimise on a batch."""

    def __call__(self, flow: Flow, x: Tensor, c: Tensor | None) -> Tensor: ...


class NLLLoss:
    """Mean negative log-likelihood of a batch under a standard normal base, nats per sample."""

    def __call__(self, flow: Flow, x: Tensor, c: Tensor | None) -> Tensor:
        return nll_loss(*flow.encode_unchecked(x, c)).mean()


@dataclass(frozen=True)
class BottleneckLoss:
    """Mean NLL plus ``weight * mean |x - decode(z_k)|^2``, where ``z_k`` keeps the first
    ``k`` code dimensions and zeroes the rest (the squared error is summed over dimensions)."""

    k: int
    weight: float

    def __call__(self, flow: Flow, x: Tensor, c: Tensor | None) -> Tensor:
        z, log_det = flow.encode_unchecked(x, c)
        return nll_loss(z, log_det).mean() + self.weight * self.reconstruction_error(flow, x, z, c)

    def reconstruction_error(self, flow: Flow, x: Tensor, z: Tensor, c: Tensor | None) -> Tensor:
        """``mean |x - decode(z_k)|^2`` for codes ``z`` of ``x``."""
        z_k = torch.cat((z[:, : self.k], z.new_zeros(z.shape[0], z.shape[1] - self.k)), dim=1)
        return (x - flow.decode_unchecked(z_k, c)[0]).square().sum(dim=1).mean()


def make_loss(bottleneck: int | None, reconstruction_weight: float) -> Loss:
    """:class:`BottleneckLoss` when a bottleneck with a positive weight is asked for, else
    :class:`NLLLoss`."""
    if bottleneck is not None and reconstruction_weight > 0:
        return BottleneckLoss(bottleneck, reconstruction_weight)
    return NLLLoss()
