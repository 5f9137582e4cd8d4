"""The affine coupling transform.

The input ``x`` of shape ``(n, d)`` is split into ``x1 = x[:, :d1]`` with ``d1 = d // 2`` and
``x2 = x[:, d1:]``. ``x1`` passes unchanged; with ``s = s~(x1, c)`` and ``t = t(x1, c)``,

    y2 = x2 * exp(sigma(s)) + t,      log|det dy/dx| = sum_j sigma(s)_j,

where ``sigma`` is the ``scale`` option: ``tanh`` (``"exp_tanh"``, the default: each log-scale
bounded to [-1, 1]), the identity (``"exp"``, unbounded as in normflows) or no scale at all
(``"additive"``, NICE: ``y2 = x2 + t``, log-det 0).

``s~`` and ``t`` come from multilayer perceptrons with two hidden ReLU layers and a linear output
layer. Two layouts:

* ``shared_subnet=False`` (default): separate ``s`` and ``t`` networks. Their weights are stacked
  along a leading axis of size 2, so both run as one batched matrix product per layer
  (``torch.baddbmm``).
* ``shared_subnet=True``: one network whose output layer yields ``s~`` and ``t`` side by side.

With ``scale="additive"`` there is only the ``t`` network, so the two layouts coincide.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from innlab._options import SCALES
from innlab._validation import check_bool, check_choice, check_nonnegative_int, check_positive_int
from innlab.flows.base import Transform

__all__ = ["AffineCoupling"]

_BATCHED_ROWS = 4096
"""Up to this many rows the separate s and t networks run as one batched product per layer
(fewer operations, which dominate small batches); above it as two plain products, which the
CPU kernels run about twice as fast for large inputs."""


class AffineCoupling(Transform):
    """Affine coupling ``x2 -> x2 * exp(sigma(s~)) + t`` conditioned on ``x1`` (and ``c``).

    Args:
        dim: data dimension ``d`` (>= 1).
        hidden_size: width of the two hidden layers.
        condition_size: width of the condition fed to the subnetworks (0: unconditional).
        shared_subnet: one subnetwork for ``s~`` and ``t`` instead of two.
        scale: ``"exp_tanh"``, ``"exp"`` or ``"additive"`` (see the module docstring).
        generator: random source for the hidden layers' initialisation.

    The output layers start at zero, so a new coupling is the identity map.

    Example:
        >>> block = AffineCoupling(4, 16, generator=torch.Generator().manual_seed(0))
        >>> y, log_det = block(torch.randn(3, 4))
        >>> y.shape, log_det.shape
        (torch.Size([3, 4]), torch.Size([3]))
    """

    w1: nn.Parameter
    w2: nn.Parameter
    w3: nn.Parameter
    b1: nn.Parameter
    b2: nn.Parameter
    b3: nn.Parameter

    def __init__(
        self,
        dim: int,
        hidden_size: int,
        condition_size: int = 0,
        *,
        shared_subnet: bool = False,
        scale: str = "exp_tanh",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.dim = check_positive_int(dim, "dim")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.condition_size = check_nonnegative_int(condition_size, "condition_size")
        self.shared_subnet = check_bool(shared_subnet, "shared_subnet")
        self.scale = check_choice(scale, "scale", SCALES)
        self.volume_preserving = scale == "additive"
        self.stacked = not shared_subnet and scale != "additive"
        self.split = dim // 2
        for name, shape in _parameter_shapes(
            self.split + condition_size, hidden_size, dim - self.split, self.stacked, scale
        ).items():
            self.register_parameter(name, nn.Parameter(torch.zeros(shape)))
        with torch.no_grad():
            for w, b in ((self.w1, self.b1), (self.w2, self.b2)):
                # nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
                bound = 1.0 / math.sqrt(max(w.shape[-2], 1))
                w.uniform_(-bound, bound, generator=generator)
                b.uniform_(-bound, bound, generator=generator)

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments; ``AffineCoupling(**block.config)`` rebuilds the architecture."""
        return {
            "dim": self.dim,
            "hidden_size": self.hidden_size,
            "condition_size": self.condition_size,
            "shared_subnet": self.shared_subnet,
            "scale": self.scale,
        }

    @property
    def activations_per_row(self) -> int:
        return (2 if self.stacked else 1) * self.hidden_size

    def scale_shift(self, x1: Tensor, c: Tensor | None) -> tuple[Tensor | None, Tensor]:
        """Return ``(sigma(s~), t)``, each ``(n, d - d1)``; ``sigma(s~)`` is ``None`` for
        ``scale="additive"``."""
        h = x1 if c is None else torch.cat((x1, c), dim=1)
        # relu_ in place: the products' backward needs their inputs, not their outputs
        if not self.stacked:
            h = torch.relu_(_input_layer(h, self.w1, self.b1))
            h = torch.relu_(torch.addmm(self.b2, h, self.w2))
            out = torch.addmm(self.b3, h, self.w3)
            if self.scale == "additive":
                return None, out
            s, t = out.chunk(2, dim=1)
        elif h.shape[0] <= _BATCHED_ROWS:
            h = torch.relu_(_input_layer(h, self.w1, self.b1))
            h = torch.relu_(torch.baddbmm(self.b2, h, self.w2))
            s, t = torch.baddbmm(self.b3, h, self.w3).unbind(0)
        else:  # large inputs (evaluation, sampling): two plain products beat one batched one
            s, t = (self._subnet(h, k) for k in (0, 1))
        return (torch.tanh(s) if self.scale == "exp_tanh" else s), t

    def _subnet(self, h: Tensor, k: int) -> Tensor:
        """Network ``k`` (0: s, 1: t) of the separate layout on input ``h`` ``(n, in)``."""
        h = torch.relu_(_input_layer(h, self.w1[k], self.b1[k, 0]))
        h = torch.relu_(torch.addmm(self.b2[k, 0], h, self.w2[k]))
        return torch.addmm(self.b3[k, 0], h, self.w3[k])

    def forward_unchecked(self, x: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        y, log_scale = self._couple(x, c, inverse=False)
        return y, x.new_zeros(x.shape[0]) if log_scale is None else _row_sums(log_scale)

    def inverse_unchecked(self, y: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        x, log_scale = self._couple(y, c, inverse=True)
        return x, y.new_zeros(y.shape[0]) if log_scale is None else -_row_sums(log_scale)

    def map_unchecked(self, x: Tensor, c: Tensor | None, *, inverse: bool = False) -> Tensor:
        return self._couple(x, c, inverse=inverse)[0]

    def _couple(self, x: Tensor, c: Tensor | None, inverse: bool) -> tuple[Tensor, Tensor | None]:
        """The map in either direction, ``(n, d)``, and ``sigma(s~)`` ``(n, d - d1)`` (``None``
        for ``scale="additive"``)."""
        x1, x2 = x[:, : self.split], x[:, self.split :]
        log_scale, shift = self.scale_shift(x1, c)
        if log_scale is None:
            y2 = x2 - shift if inverse else x2 + shift
        elif inverse:
            y2 = (x2 - shift) * torch.exp(-log_scale)
        else:
            y2 = torch.addcmul(shift, x2, torch.exp(log_scale))
        return torch.cat((x1, y2), dim=1), log_scale

    def analytic_pass(
        self,
        x: Tensor,
        c: Tensor | None,
        log_det_sum: Tensor,
        grad_log_det: Tensor,
        tensors: dict[str, Tensor] | None = None,
    ) -> _CouplingPass:
        log_det = None if self.volume_preserving else log_det_sum
        c = c if self.condition_size else None
        return _CouplingPass(self, x, c, log_det, grad_log_det, tensors)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.config.items())


def _row_sums(log_scale: Tensor) -> Tensor:
    """``log_scale.sum(dim=1)``, ``(n,)``; a view for one column (2-D flows), which saves a
    reduction kernel per coupling and pass."""
    return log_scale[:, 0] if log_scale.shape[1] == 1 else log_scale.sum(dim=1)


def _parameter_shapes(
    in_size: int, hidden: int, d2: int, stacked: bool, scale: str
) -> dict[str, tuple[int, ...]]:
    """Weights ``w1..w3`` and biases ``b1..b3`` of the subnetworks (see the module docstring)."""
    if stacked:  # s and t networks stacked along a leading axis of size 2
        return {
            "w1": (2, in_size, hidden),
            "w2": (2, hidden, hidden),
            "w3": (2, hidden, d2),
            "b1": (2, 1, hidden),
            "b2": (2, 1, hidden),
            "b3": (2, 1, d2),
        }
    outputs = d2 if scale == "additive" else 2 * d2  # [s~ | t] side by side, or t alone
    return {
        "w1": (in_size, hidden),
        "w2": (hidden, hidden),
        "w3": (hidden, outputs),
        "b1": (hidden,),
        "b2": (hidden,),
        "b3": (outputs,),
    }


def _input_layer(h: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """``h @ w + b`` for ``h`` ``(n, in)``: ``(n, hidden)`` for ``w`` ``(in, hidden)`` and ``b``
    ``(hidden,)``, or ``(2, n, hidden)`` for the separate layout's stacked ``w``
    ``(2, in, hidden)`` and ``b`` ``(2, 1, hidden)``.

    With one input column (unconditional 2-D flows) this is a broadcast product: the matrix
    product kernels are slow for an inner size of 1. Together with the in-place relu this made
    a log_prob pass over 100k two-moons points 1.6x-2.2x faster (1 and 2 threads, both
    layouts); inner sizes of 2 and more are faster as matrix products.
    """
    if h.shape[1] == 1:
        return torch.addcmul(b, h, w)
    if w.dim() == 3:
        return torch.baddbmm(b, h.expand(w.shape[0], *h.shape), w)
    return torch.addmm(b, h, w)


class _CouplingPass:
    """:class:`AffineCoupling`'s hand-written training pass (an
    :class:`~innlab.flows.base.AnalyticPass`): every buffer and view is made once per batch size.

    The forward pass is :meth:`AffineCoupling.forward_unchecked`'s arithmetic. The backward pass,
    with ``g = d loss / dy``, ``g_ld = d loss / d log_det``, ``e = exp(sigma)``:

        d/dx2 = g2 * e,   d/dt = g2,   d/dsigma = g2 * x2 * e + g_ld,
        d/ds~ = d/dsigma * (1 - sigma^2) for exp_tanh, d/dsigma for exp,

    then through the output and hidden layers (ReLU masks from the stored activations) to the
    weights, the biases and ``x1``. ``tests/test_analytic.py`` holds it to autograd at float64.

    With seed-stacked ``tensors`` (see :meth:`~innlab.flows.Transform.analytic_pass`) the input
    is ``(S, rows, dim)`` and every product is batched over the seeds (and the two networks of
    the separate layout): ``S`` couplings train as one.
    """

    def __init__(
        self,
        block: AffineCoupling,
        x: Tensor,
        c: Tensor | None,
        log_det_sum: Tensor | None,
        grad_log_det: Tensor,
        tensors: dict[str, Tensor] | None,
    ) -> None:
        self.block, self.log_det_sum, self.grad_log_det = block, log_det_sum, grad_log_det
        seeds = x.shape[0] if tensors is not None else 0
        d1, h = block.split, block.hidden_size
        nets = 2 if block.stacked else 1
        lead = (nets * seeds,) if seeds else (2,) if block.stacked else ()
        self.layers = _batched_layers(block, tensors, lead)
        new = x.new_empty
        rows = x.shape[:-1]  # (n,) or (S, n)
        self.x1, self.x2, self.c = x[..., :d1], x[..., d1:], c
        self.h0 = self.x1 if c is None else new(*rows, d1 + block.condition_size)
        self.h_in = self.h0.expand(2, *self.h0.shape) if block.stacked and not seeds else self.h0
        self.per_network: Tensor | None = None  # (S, 2, n, in): each seed's input per network
        if block.stacked and seeds:
            self.per_network = new(seeds, 2, *self.h0.shape[1:])
            self.h_in = self.per_network.view(2 * seeds, *self.h0.shape[1:])
        self.r1, self.r2, self.g_r1, self.g_r2 = (new(*lead, rows[-1], h) for _ in range(4))
        out_width = self.layers[2][0].shape[-1]
        self.o, self.g_o = new(*lead, rows[-1], out_width), new(*lead, rows[-1], out_width)
        self.s, self.t = _parts(block, self.o, seeds)
        self.g_s, self.g_t = _parts(block, self.g_o, seeds)
        # y = [x1 | y2] overwrites the input buffer: x1 stays as it is (no copy), and the
        # backward pass needs x1 (the first layer's input) but not x2
        self.y, self.g_x = x, new(x.shape)
        self.g_x1, self.g_x2 = self.g_x[..., :d1], self.g_x[..., d1:]
        self.e, self.x2e, self.dt, self.g_sigma = (new(self.x2.shape) for _ in range(4))
        self.sigma = new(self.x2.shape) if block.scale == "exp_tanh" else self.s
        self.one = new(1).fill_(1.0)
        self.grad_views: tuple[Tensor, Tensor] | None = None  # (g1, g2) of the last grad_y
        self.inputs = [self.h_in, self.r1, self.r2]
        self.inputs_t = [h.transpose(-2, -1) for h in self.inputs]
        self.x1_terms = _x1_terms(self.layers[0][0], self.g_r1, d1, nets, seeds)

    def forward(self) -> Tensor:
        if self.c is not None:
            torch.cat((self.x1, self.c), dim=-1, out=self.h0)
        if self.per_network is not None:
            self.per_network.copy_(self.h0.unsqueeze(1))
        (w1, b1, *_), (w2, b2, *_), (w3, b3, *_) = self.layers
        _layer(self.h_in, w1, b1, self.r1).relu_()
        _layer(self.r1, w2, b2, self.r2).relu_()
        _layer(self.r2, w3, b3, self.o)
        scale = self.block.scale
        if scale == "additive":
            self.x2.add_(self.o)
            return self.y
        if scale == "exp_tanh":
            torch.tanh(self.s, out=self.sigma)
            torch.addcmul(self.one, self.sigma, self.sigma, value=-1.0, out=self.dt)
        torch.exp(self.sigma, out=self.e)
        torch.mul(self.x2, self.e, out=self.x2e)
        torch.add(self.x2e, self.t, out=self.x2)
        if self.log_det_sum is not None:
            torch.sum(self.sigma, dim=(-2, -1), out=self.log_det_sum)
        return self.y

    def backward(self, grad_y: Tensor) -> Tensor:
        scale = self.block.scale
        g1, g2 = self._grad_parts(grad_y)
        if scale == "additive":
            self.g_o.copy_(g2)
            self.g_x2.copy_(g2)
        else:
            self.g_t.copy_(g2)
            torch.addcmul(self.grad_log_det, g2, self.x2e, out=self.g_sigma)
            if scale == "exp_tanh":
                torch.mul(self.g_sigma, self.dt, out=self.g_s)
            else:
                self.g_s.copy_(self.g_sigma)
            torch.mul(g2, self.e, out=self.g_x2)
        grads = [self.g_r1, self.g_r2, self.g_o]
        for i in (2, 1, 0):
            _, _, w_grad, b_grad, w_t = self.layers[i]
            _parameter_grads(self.inputs_t[i], grads[i], w_grad, b_grad)
            if i:
                _input_grad(grads[i], w_t, grads[i - 1])
                _relu_grad(grads[i - 1], self.inputs[i])
        if self.x1_terms:  # d/dx1 = g1 + d/dh0[..., :d1], summed over the networks
            (g_r, w_x1), *more = self.x1_terms
            _matmul_add(g1, g_r, w_x1, out=self.g_x1)
            for g_r, w_x1 in more:
                _matmul_add(self.g_x1, g_r, w_x1, out=self.g_x1)
        return self.g_x

    def _grad_parts(self, grad_y: Tensor) -> tuple[Tensor, Tensor]:
        """``grad_y``'s two halves; views made once per gradient buffer."""
        if self.grad_views is None or self.grad_views[0].data_ptr() != grad_y.data_ptr():
            d1 = self.block.split
            self.grad_views = (grad_y[..., :d1], grad_y[..., d1:])
        return self.grad_views


_Layer = tuple[Tensor, Tensor, Tensor, Tensor, Tensor]
"""A layer's weight and bias, their gradients, and the weight's transpose, in the shapes the
pass multiplies: ``(*lead, in, out)``, ``(*lead, 1, out)`` (``(out,)`` without a lead)."""


def _batched_layers(
    block: AffineCoupling, tensors: dict[str, Tensor] | None, lead: tuple[int, ...]
) -> list[_Layer]:
    """The three layers' tensors: the block's own, or views of the seed-stacked ``tensors``
    with the seeds (and networks) merged into one leading axis ``lead``."""
    layers = []
    for k in "123":
        w, b = getattr(block, f"w{k}"), getattr(block, f"b{k}")
        w_grad, b_grad = w.grad, b.grad
        if tensors is not None:
            w, b = tensors[f"w{k}"], tensors[f"b{k}"]
            w_grad, b_grad = w.grad, b.grad
            if w_grad is None or b_grad is None:
                raise ValueError(f"the stacked w{k} and b{k} must have .grad tensors")
            w, w_grad = (t.view(*lead, *t.shape[-2:]) for t in (w, w_grad))
            b, b_grad = (t.view(*lead, 1, t.shape[-1]) for t in (b, b_grad))
        assert w_grad is not None and b_grad is not None, "the parameters need .grad tensors"
        layers.append((w, b, w_grad, b_grad, w.transpose(-2, -1)))
    return layers


def _x1_terms(
    w1: Tensor, g_r1: Tensor, d1: int, nets: int, seeds: int
) -> list[tuple[Tensor, Tensor]]:
    """``(d/dr1, w1[x1 rows]^T)`` of each network, whose products add up to ``d/dx1``
    (empty when ``x1`` has no columns)."""
    if not d1:
        return []
    w_x1 = w1[..., :d1, :].transpose(-2, -1)  # (*lead, hidden, d1)
    if nets == 1:
        return [(g_r1, w_x1)]
    if not seeds:  # one flow: the two networks along the leading axis
        return [(g_r1[k], w_x1[k]) for k in range(2)]
    g_split = g_r1.view(seeds, 2, *g_r1.shape[1:])
    w_split = w_x1.view(seeds, 2, *w_x1.shape[1:])
    return [(g_split[:, k], w_split[:, k]) for k in range(2)]


def _parts(block: AffineCoupling, out: Tensor, seeds: int) -> tuple[Tensor, Tensor]:
    """The ``s~`` and ``t`` parts ``(..., n, d2)`` of an output-layer tensor (``out`` itself
    twice for an additive coupling, which has only ``t``)."""
    if block.scale == "additive":
        return out, out
    if block.stacked and seeds:  # (S * 2, n, d2): seed-major, s before t
        split = out.view(seeds, 2, *out.shape[1:])
        return split[:, 0], split[:, 1]
    if block.stacked:
        return out[0], out[1]
    d2 = block.dim - block.split
    return out[..., :d2], out[..., d2:]


def _layer(h: Tensor, w: Tensor, b: Tensor, out: Tensor) -> Tensor:
    """``h @ w + b`` into ``out``, batched over a leading axis for 3-D weights; a broadcast
    product for one input column (the matrix-product kernels are slow for an inner size of 1,
    see :func:`_input_layer`)."""
    if h.shape[-1] == 1:
        return torch.addcmul(b, h, w, out=out)
    if w.dim() == 3:
        return torch.baddbmm(b, h, w, out=out)
    return torch.addmm(b, h, w, out=out)


def _matmul_add(base: Tensor, a: Tensor, b: Tensor, *, out: Tensor) -> Tensor:
    """``base + a @ b`` into ``out``, batched for 3-D operands."""
    if a.dim() == 3:
        return torch.baddbmm(base, a, b, out=out)
    return torch.addmm(base, a, b, out=out)


def _parameter_grads(h_t: Tensor, g: Tensor, w_grad: Tensor, b_grad: Tensor) -> None:
    """Write ``d/dw = h^T g`` and ``d/db = sum_rows g`` of the layer ``h @ w + b`` into
    ``w_grad`` and ``b_grad``, for the transposed input ``h_t``."""
    if w_grad.dim() == 3:
        torch.bmm(h_t, g, out=w_grad)
        torch.sum(g, dim=1, keepdim=True, out=b_grad)
    else:
        torch.mm(h_t, g, out=w_grad)
        torch.sum(g, dim=0, out=b_grad)


def _input_grad(g: Tensor, w_t: Tensor, out: Tensor) -> None:
    """``d/dh = g @ w^T`` into ``out`` for the transposed weight ``w_t``; a broadcast product
    for an inner size of 1 (the matrix-product kernels are slow for it)."""
    if w_t.shape[-2] == 1:
        torch.mul(g, w_t, out=out)
    elif w_t.dim() == 3:
        torch.bmm(g, w_t, out=out)
    else:
        torch.mm(g, w_t, out=out)


def _relu_grad(g: Tensor, activation: Tensor) -> None:
    """``g *= (activation > 0)`` in place: the ReLU's backward from its output."""
    torch.ops.aten.threshold_backward.grad_input(g, activation, 0, grad_input=g)
