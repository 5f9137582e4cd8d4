"""Base distributions of a flow's code space."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from innlab._validation import check_positive_int

__all__ = ["StandardNormal", "standard_normal_log_prob"]


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """``log N(z; 0, I)`` in nats for codes ``z`` ``(n, d)``, shape ``(n,)``.

    ``-|z|^2 / 2 - d/2 log(2 pi)``: the one home of the Gaussian log-density in innlab.

    Example:
        >>> round(float(standard_normal_log_prob(torch.zeros(1, 2))[0]), 4)
        -1.8379
    """
    return -0.5 * z.square().sum(dim=1) - 0.5 * z.shape[1] * math.log(2 * math.pi)


class StandardNormal(nn.Module):
    """The ``d``-dimensional standard normal distribution ``N(0, I)``.

    Args:
        dim: dimension ``d`` of the codes.

    It holds no parameters; an empty buffer carries the dtype and device that ``.to()`` gives it,
    which :meth:`sample` draws in.

    Example:
        >>> base = StandardNormal(3)
        >>> z = base.sample(4, generator=torch.Generator().manual_seed(0))
        >>> z.shape, base.log_prob(z).shape
        (torch.Size([4, 3]), torch.Size([4]))
    """

    _reference: Tensor

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = check_positive_int(dim, "dim")
        self.register_buffer("_reference", torch.empty(0), persistent=False)

    @property
    def config(self) -> dict[str, int]:
        """Constructor arguments; ``StandardNormal(**base.config)`` rebuilds it."""
        return {"dim": self.dim}

    def log_prob(self, z: Tensor) -> Tensor:
        """Log-density of codes ``z`` ``(n, dim)`` in nats, shape ``(n,)``."""
        return standard_normal_log_prob(z)

    def sample(
        self,
        num_samples: int,
        *,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
    ) -> Tensor:
        """Draw ``(num_samples, dim)`` codes with standard deviation ``temperature``.

        The draw happens on ``generator``'s device (the CPU for a CPU generator, so a seed gives
        the same codes on every device) and is then moved to the distribution's device.
        """
        ref = self._reference
        device = generator.device if generator is not None else ref.device
        z = torch.randn(num_samples, self.dim, generator=generator, dtype=ref.dtype, device=device)
        z = z.to(ref.device)
        return z if temperature == 1.0 else z * temperature

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
