"""Fixed mixing layers between couplings: random rotations and random permutations.

A coupling leaves its first half of the dimensions unchanged, so something must move every
dimension into the transformed half sooner or later. Both layers here are fixed (buffers, not
parameters), volume-preserving (``log|det| = 0``) and ignore conditions.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from innlab._validation import check_positive_int
from innlab.flows.base import Transform

__all__ = ["FixedPermutation", "FixedRotation", "random_orthogonal"]


def random_orthogonal(
    dim: int,
    count: int = 1,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Draw ``count`` Haar-distributed orthogonal matrices, shape ``(count, dim, dim)``.

    QR decomposition of a standard normal matrix, with the signs of ``R``'s diagonal moved into
    ``Q`` so that the distribution is uniform over the orthogonal group. Rotating by an orthogonal
    matrix has ``log|det| = 0``. Drawn in float64, returned in ``dtype`` (default: torch's).

    Example:
        >>> q = random_orthogonal(3, generator=torch.Generator().manual_seed(0))[0]
        >>> torch.allclose(q @ q.T, torch.eye(3), atol=1e-6)
        True
    """
    gauss = torch.randn(count, dim, dim, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(gauss)
    signs = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))
    signs[signs == 0] = 1.0
    return (q * signs.unsqueeze(-2)).to(dtype or torch.get_default_dtype())


class FixedRotation(Transform):
    """``y = x Q^T`` for a fixed Haar-random orthogonal ``Q`` ``(dim, dim)``; ``log|det| = 0``.

    Args:
        dim: data dimension.
        generator: random source of ``Q``.
        dtype: dtype of ``Q`` (default: torch's). ``Q`` is drawn in float64 and rounded once, so
            build a float64 rotation with this argument rather than ``.double()``.
        matrix: use this orthogonal ``(dim, dim)`` matrix instead of drawing one.

    Example:
        >>> rotation = FixedRotation(3, generator=torch.Generator().manual_seed(0))
        >>> x = torch.randn(4, 3)
        >>> torch.allclose(rotation.inverse(rotation(x)[0])[0], x, atol=1e-6)
        True
    """

    volume_preserving = True
    matrix: Tensor

    def __init__(
        self,
        dim: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        matrix: Tensor | None = None,
    ) -> None:
        super().__init__()
        self.dim = check_positive_int(dim, "dim")
        if matrix is None:
            matrix = random_orthogonal(dim, generator=generator, dtype=dtype)[0]
        elif tuple(matrix.shape) != (dim, dim):
            raise ValueError(f"matrix must have shape ({dim}, {dim}), got {tuple(matrix.shape)}")
        self.register_buffer("matrix", matrix.clone())

    @property
    def config(self) -> dict[str, Any]:
        return {"dim": self.dim}

    def forward_unchecked(self, x: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        return self.map_unchecked(x, c), x.new_zeros(x.shape[0])

    def inverse_unchecked(self, y: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        return self.map_unchecked(y, c, inverse=True), y.new_zeros(y.shape[0])

    def map_unchecked(self, x: Tensor, c: Tensor | None, *, inverse: bool = False) -> Tensor:
        return x @ (self.matrix if inverse else self.matrix.T)

    def analytic_pass(
        self,
        x: Tensor,
        c: Tensor | None,
        log_det_sum: Tensor,
        grad_log_det: Tensor,
        tensors: dict[str, Tensor] | None = None,
    ) -> _LinearPass:
        matrix = self.matrix if tensors is None else tensors["matrix"]  # (d, d) or (S, d, d)
        return _LinearPass(x, matrix.transpose(-2, -1), matrix)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class FixedPermutation(Transform):
    """``y = x[:, perm]`` for a fixed random permutation of the dimensions; ``log|det| = 0``.

    Args:
        dim: data dimension.
        generator: random source of the permutation.

    Example:
        >>> permutation = FixedPermutation(4, generator=torch.Generator().manual_seed(0))
        >>> x = torch.randn(2, 4)
        >>> torch.equal(permutation.inverse(permutation(x)[0])[0], x)
        True
    """

    volume_preserving = True
    perm: Tensor
    inverse_perm: Tensor

    def __init__(self, dim: int, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.dim = check_positive_int(dim, "dim")
        perm = torch.randperm(dim, generator=generator)
        self.register_buffer("perm", perm)
        self.register_buffer("inverse_perm", torch.argsort(perm))

    @property
    def config(self) -> dict[str, Any]:
        return {"dim": self.dim}

    def forward_unchecked(self, x: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        return self.map_unchecked(x, c), x.new_zeros(x.shape[0])

    def inverse_unchecked(self, y: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        return self.map_unchecked(y, c, inverse=True), y.new_zeros(y.shape[0])

    def map_unchecked(self, x: Tensor, c: Tensor | None, *, inverse: bool = False) -> Tensor:
        return x[:, self.inverse_perm if inverse else self.perm]

    def analytic_pass(
        self,
        x: Tensor,
        c: Tensor | None,
        log_det_sum: Tensor,
        grad_log_det: Tensor,
        tensors: dict[str, Tensor] | None = None,
    ) -> _PermutationPass:
        if tensors is None:
            return _PermutationPass(x, self.perm, self.inverse_perm)
        return _PermutationPass(x, tensors["perm"], tensors["inverse_perm"])

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class _LinearPass:
    """Training pass of ``y = x @ m`` (no parameters): ``d/dx = g @ m^T``; batched over seeds
    for ``x`` ``(S, n, d)`` and ``m`` ``(S, d, d)``."""

    def __init__(self, x: Tensor, m: Tensor, m_t: Tensor) -> None:
        self.x, self.m, self.m_t = x, m, m_t
        self.y, self.g_x = torch.empty_like(x), torch.empty_like(x)
        self.product = torch.bmm if x.dim() == 3 else torch.mm

    def forward(self) -> Tensor:
        return self.product(self.x, self.m, out=self.y)

    def backward(self, grad_y: Tensor) -> Tensor:
        return self.product(grad_y, self.m_t, out=self.g_x)


class _PermutationPass:
    """Training pass of ``y = x[:, perm]`` (no parameters): ``d/dx = g[:, perm^-1]``; for
    ``x`` ``(S, n, d)`` each seed has its own permutation, ``perm`` ``(S, d)``."""

    def __init__(self, x: Tensor, perm: Tensor, inverse_perm: Tensor) -> None:
        self.x = x
        self.y, self.g_x = torch.empty_like(x), torch.empty_like(x)
        if x.dim() == 3:  # one permutation per seed: gather along the last axis
            rows = x.shape[1]
            self.perm = perm.unsqueeze(1).expand(-1, rows, -1)
            self.inverse_perm = inverse_perm.unsqueeze(1).expand(-1, rows, -1)
        else:
            self.perm, self.inverse_perm = perm, inverse_perm

    def forward(self) -> Tensor:
        return self._permute(self.x, self.perm, self.y)

    def backward(self, grad_y: Tensor) -> Tensor:
        return self._permute(grad_y, self.inverse_perm, self.g_x)

    @staticmethod
    def _permute(x: Tensor, index: Tensor, out: Tensor) -> Tensor:
        if x.dim() == 3:
            return torch.gather(x, 2, index, out=out)
        return torch.index_select(x, 1, index, out=out)
