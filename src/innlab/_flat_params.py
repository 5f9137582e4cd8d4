"""One flat buffer behind a training loop's parameters and gradients.

A flow of the sizes in this project has dozens of small weight tensors, and a training step
pays Python and dispatch overhead per tensor in the optimizer, the gradient norm and the
finiteness checks. With the parameters and their gradients viewed into one buffer each, those
become single operations on one tensor: a training step on two moons is 1.1x-1.5x faster, and
the arithmetic is the same elementwise (Adam acts elementwise; results agree to float rounding).
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType

import torch
from torch import Tensor

__all__ = ["FlatParameters"]


class FlatParameters:
    """Point ``params`` (leaf tensors of one dtype and device) at views of one flat tensor.

    While active, ``flat`` (shape ``(total,)``, a leaf) holds every parameter's values and
    ``flat.grad`` every gradient: autograd accumulates into the parameters' existing ``.grad``
    views in place, so optimize ``[flat]`` and read the gradient from ``flat.grad``. Writes
    through the parameters (``load_state_dict``, ``copy_``) land in ``flat`` too.

    Use as a context manager: on exit every parameter gets its own storage back, holding its
    current values, and no gradient.
    """

    def __init__(self, params: Iterable[Tensor]) -> None:
        self._params = list(params)
        if not self._params:
            raise ValueError("params must hold at least one tensor, got none")
        kinds = {(p.dtype, p.device) for p in self._params}
        if len(kinds) != 1:
            raise ValueError(
                f"params must share one dtype and device, got {sorted(map(str, kinds))}"
            )
        with torch.no_grad():
            self.flat = torch.cat([p.detach().reshape(-1) for p in self._params])
        self.flat.requires_grad_()
        self.flat.grad = torch.zeros_like(self.flat)
        values, grads = self.flat.detach(), self.flat.grad
        offset = 0
        for p in self._params:
            size = p.numel()
            p.data = values[offset : offset + size].view_as(p)
            p.grad = grads[offset : offset + size].view_as(p)
            offset += size

    @property
    def grad(self) -> Tensor:
        """The flat gradient, shape ``(total,)``."""
        assert self.flat.grad is not None
        return self.flat.grad

    def zero_grad(self) -> None:
        """Set every gradient to zero, in place."""
        self.grad.zero_()

    def all_finite(self) -> bool:
        """Whether every parameter value is finite."""
        return bool(torch.isfinite(self.flat).all())

    def release(self) -> None:
        """Give every parameter its own storage again (same values) and drop the gradients."""
        for p in self._params:
            p.data = p.data.clone()
            p.grad = None

    def __enter__(self) -> FlatParameters:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
