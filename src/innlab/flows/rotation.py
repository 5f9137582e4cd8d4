"""Fixed random orthogonal matrices that mix the dimensions between coupling blocks."""

from __future__ import annotations

import torch

__all__ = ["random_orthogonal"]


def random_orthogonal(
    dim: int,
    count: int = 1,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Draw ``count`` Haar-distributed orthogonal matrices, shape ``(count, dim, dim)``.

    QR decomposition of a standard normal matrix, with the signs of ``R``'s diagonal moved into
    ``Q`` so that the distribution is uniform over the orthogonal group. Rotating by an orthogonal
    matrix has ``log|det| = 0``. Drawn in float64, returned in ``dtype`` (default: torch's).
    """
    gauss = torch.randn(count, dim, dim, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(gauss)
    signs = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))
    signs[signs == 0] = 1.0
    return (q * signs.unsqueeze(-2)).to(dtype or torch.get_default_dtype())
