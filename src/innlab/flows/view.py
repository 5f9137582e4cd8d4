"""A ``torch.distributions.Distribution`` view of a flow, for code that expects torch's API.

A thin adapter over the flow's public passes: it is convenient (``log_prob``, ``sample``,
``rsample``, torch's shape conventions) but never on the training path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints

if TYPE_CHECKING:
    from innlab.flows.base import Flow

__all__ = ["FlowDistribution"]

_Shape = torch.Size | list[int] | tuple[int, ...]
_SCALAR = torch.Size()


class FlowDistribution(Distribution):
    """The distribution of a :class:`~innlab.flows.Flow`, optionally given conditions.

    Shapes follow torch's ``sample_shape + batch_shape + event_shape``: ``event_shape`` is
    ``(d,)``; ``batch_shape`` is ``()`` without a condition and ``(C,)`` for conditions
    ``(C, condition_size)``, one distribution per condition row.

    Example:
        >>> from innlab import RealNVP
        >>> dist = RealNVP(2, 8, 2, condition_size=3, seed=0).distribution(torch.eye(3))
        >>> x = dist.sample((5,))
        >>> x.shape, dist.log_prob(x).shape
        (torch.Size([5, 3, 2]), torch.Size([5, 3]))
    """

    arg_constraints: dict[str, Any] = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, flow: Flow, c: Tensor | None = None) -> None:
        self.flow = flow
        self.c = flow.check_conditions(c, None, "c")
        batch = torch.Size(()) if self.c is None else torch.Size((self.c.shape[0],))
        super().__init__(batch, torch.Size((flow.input_size,)), validate_args=False)

    def _conditions(self, copies: int) -> Tensor | None:
        """The conditions for ``copies`` stacked draws of the batch, ``(copies * C, k)``."""
        return None if self.c is None else self.c.repeat(copies, 1)

    def log_prob(self, value: Tensor) -> Tensor:
        """Log-density in nats of ``value`` ``(*sample_shape, *batch_shape, d)``, shape
        ``(*sample_shape, *batch_shape)``."""
        d = self.flow.input_size
        batch = self.batch_shape
        if tuple(value.shape[-1 - len(batch) :]) != (*batch, d):
            raise ValueError(
                f"value must have shape (..., {', '.join(map(str, (*batch, d)))}), "
                f"got shape {tuple(value.shape)}"
            )
        lead = value.shape[: value.dim() - 1 - len(batch)]
        rows = value.reshape(-1, d)
        copies = rows.shape[0] // max(batch.numel(), 1)
        return self.flow.log_prob(rows, self._conditions(copies)).view(*lead, *batch)

    def rsample(self, sample_shape: _Shape = _SCALAR) -> Tensor:
        """Draw ``(*sample_shape, *batch_shape, d)`` points, differentiable in the flow's
        parameters (the reparameterisation ``x = decode(z)``, ``z`` from the base)."""
        shape = torch.Size(sample_shape)
        copies = shape.numel()
        z = self.flow.base.sample(copies * max(self.batch_shape.numel(), 1))
        x = self.flow.decode_unchecked(z, self._conditions(copies))[0]
        return x.view(*shape, *self.batch_shape, self.flow.input_size)

    def sample(self, sample_shape: _Shape = _SCALAR) -> Tensor:
        """:meth:`rsample` without gradients."""
        with torch.no_grad():
            return self.rsample(sample_shape)

    def __repr__(self) -> str:
        return (
            f"FlowDistribution(batch_shape={tuple(self.batch_shape)}, "
            f"event_shape={tuple(self.event_shape)})"
        )
