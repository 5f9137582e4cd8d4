"""The analytic training step: a batch's mean NLL and its gradient without autograd.

For a flow whose transforms all have an analytic pass (innlab's couplings and mixing layers:
:meth:`~innlab.flows.Transform.analytic_pass`) over a standard normal base, trained on the plain
NLL: each transform's hand-written forward and backward run into buffers allocated once per
batch size, every parameter's gradient is written straight into its ``.grad`` (the flat
gradient buffer while training), and one device-to-host copy returns the loss and the gradient
norm that the divergence guard needs. No graph is built and nothing is allocated per step.

:class:`~innlab.training.losses.NLLLoss` through autograd stays the reference (the two agree to
float64 rounding, ``tests/test_analytic.py``) and the fallback for everything else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from innlab.flows.base import AnalyticPass, Flow, Transform
from innlab.flows.distributions import StandardNormal
from innlab.training.losses import Loss, NLLLoss

__all__ = ["AnalyticNLL"]


@dataclass
class _Pipeline:
    """The passes and buffers for one batch size."""

    x: Tensor  # (rows, d): the batch, copied in
    c: Tensor | None  # (rows, k): its conditions
    passes: list[AnalyticPass]
    log_det_sums: Tensor  # (transforms,): each transform's sum of log-dets over the batch
    grad_z: Tensor  # (rows, d): d loss / dz
    stats: Tensor  # (3,): sum z^2, sum log-det, |gradient|^2


class AnalyticNLL:
    """Mean NLL (nats per sample) of a batch and its gradient, by the analytic passes.

    Args:
        flow: a flow that :meth:`supports` the analytic step.
        grad: the tensor that holds every parameter's gradient (the flat gradient buffer); its
            norm is returned with the loss. The parameters' ``.grad`` must stay the same tensors
            while this object is used (its passes keep views of them).
    """

    def __init__(self, flow: Flow, grad: Tensor) -> None:
        self.flow, self.grad = flow, grad
        self._pipelines: dict[int, _Pipeline] = {}

    @staticmethod
    def supports(flow: Flow, loss: Loss) -> bool:
        """Whether the analytic step computes exactly ``loss``'s gradient for ``flow``: the plain
        NLL over a standard normal base, every transform with an analytic pass, and every
        trainable parameter inside a transform."""
        if type(loss) is not NLLLoss or type(flow.base) is not StandardNormal:
            return False
        if any(type(t).analytic_pass is Transform.analytic_pass for t in flow.layers):
            return False  # a transform without a pass of its own
        inside = {id(p) for t in flow.layers for p in t.parameters()}
        return all(id(p) in inside and p.requires_grad for p in flow.parameters())

    @torch.no_grad()
    def __call__(self, x: Tensor, c: Tensor | None) -> tuple[float, float]:
        """Write the gradient of the mean NLL of ``x`` ``(n, d)`` into the parameters' ``.grad``
        and return ``(loss, gradient norm)``."""
        line = self._pipeline(x.shape[0])
        line.x.copy_(x)
        if line.c is not None:
            line.c.copy_(c)  # type: ignore[arg-type]
        for step in line.passes:
            z = step.forward()
        torch.div(z, x.shape[0], out=line.grad_z)  # d loss / dz of 0.5 |z|^2 / n
        grad = line.grad_z
        for step in reversed(line.passes):
            grad = step.backward(grad)
        flat_z = z.reshape(-1)
        torch.dot(flat_z, flat_z, out=line.stats[0])
        torch.sum(line.log_det_sums, dim=0, out=line.stats[1])
        torch.dot(self.grad, self.grad, out=line.stats[2])
        squares, log_det, grad_squares = line.stats.tolist()
        constant = 0.5 * self.flow.input_size * math.log(2 * math.pi)
        return (0.5 * squares - log_det) / x.shape[0] + constant, math.sqrt(grad_squares)

    def _pipeline(self, rows: int) -> _Pipeline:
        """The passes and buffers for batches of ``rows`` rows, made on first use."""
        if rows not in self._pipelines:
            flow = self.flow
            x = torch.empty(rows, flow.input_size, dtype=flow.dtype, device=flow.device)
            c = x.new_empty(rows, flow.condition_size) if flow.condition_size else None
            log_det_sums = x.new_zeros(len(flow.layers))
            grad_log_det = x.new_full((1,), -1.0 / rows)  # d mean NLL / d log_det of a row
            passes, inputs = [], x
            for i, transform in enumerate(flow.layers):
                step = transform.analytic_pass(inputs, c, log_det_sums[i], grad_log_det)
                if step is None:
                    raise TypeError(f"{type(transform).__name__}.analytic_pass returned None")
                passes.append(step)
                inputs = step.y
            stats = x.new_empty(3)
            self._pipelines[rows] = _Pipeline(
                x, c, passes, log_det_sums, x.new_empty(x.shape), stats
            )
        return self._pipelines[rows]
