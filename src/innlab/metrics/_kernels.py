"""Blockwise kernel sums: products ``K @ V`` without ever forming the ``(N, N)`` kernel matrix."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["KERNELS", "kernel_matmul", "make_kernel", "squared_distances"]

KERNELS = ("gaussian", "imq")


def squared_distances(a: Tensor, b: Tensor) -> Tensor:
    """Squared Euclidean distances ``(p, q)`` between the rows of ``a`` ``(p, d)`` and ``b``."""
    sq = torch.addmm(b.square().sum(1).unsqueeze(0), a, b.T, alpha=-2.0)
    sq += a.square().sum(1).unsqueeze(1)
    return sq.clamp_min_(0.0)


def make_kernel(name: str, bandwidths: tuple[float, ...]) -> Callable[[Tensor], Tensor]:
    """Sum of one kernel family over ``bandwidths``, as a function of squared distances.

    ``"gaussian"``: ``sum_h exp(-r^2 / (2 h^2))``; ``"imq"`` (inverse multiquadric):
    ``sum_h (1 + r^2 / h^2)^(-1/2)``. Both equal ``len(bandwidths)`` at ``r = 0``.
    """
    if name == "gaussian":
        coefficients = [-0.5 / h**2 for h in bandwidths]

        def term(sq: Tensor, coefficient: float) -> Tensor:
            return sq.mul(coefficient).exp_()

    else:
        coefficients = [1.0 / h**2 for h in bandwidths]

        def term(sq: Tensor, coefficient: float) -> Tensor:
            return sq.mul(coefficient).add_(1.0).rsqrt_()

    def kernel(sq: Tensor) -> Tensor:
        total = term(sq, coefficients[0])
        for coefficient in coefficients[1:]:
            total += term(sq, coefficient)
        return total

    return kernel


def kernel_matmul(
    z: Tensor,
    v: Tensor,
    kernel: Callable[[Tensor], Tensor],
    *,
    block_size: int,
    exclude_diagonal: bool,
) -> Tensor:
    """``K @ v`` for the kernel matrix ``K_ij = kernel(|z_i - z_j|^2)``, computed block by block.

    Args:
        z: points, shape ``(N, d)``.
        v: vectors, shape ``(N, P)``.
        kernel: maps squared distances to kernel values, elementwise.
        block_size: rows and columns per block; peak extra memory is a few
            ``block_size x block_size`` matrices.
        exclude_diagonal: treat ``K_ii`` as 0 (for unbiased estimates).

    Returns:
        ``(N, P)``. Symmetry of ``K`` is used: each off-diagonal block is evaluated once.
    """
    n = z.shape[0]
    out = torch.zeros_like(v)
    for i in range(0, n, block_size):
        rows = slice(i, i + block_size)
        for j in range(i, n, block_size):
            cols = slice(j, j + block_size)
            block = kernel(squared_distances(z[rows], z[cols]))
            if i == j:
                if exclude_diagonal:
                    block.fill_diagonal_(0.0)
                out[rows] += block @ v[rows]
            else:
                out[rows] += block @ v[cols]
                out[cols] += block.T @ v[rows]
    return out
