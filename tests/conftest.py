"""Shared fixtures: small random flows that are far from the identity."""

from __future__ import annotations

import torch

from innlab import RealNVP


def make_flow(
    dim: int,
    *,
    hidden: int = 16,
    blocks: int = 3,
    condition_size: int = 0,
    shared_subnet: bool = False,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
) -> RealNVP:
    """A RealNVP whose output layers are randomised, so that it is not the identity."""
    flow = RealNVP(
        dim, hidden, blocks, condition_size, shared_subnet=shared_subnet, seed=seed, dtype=dtype
    )
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for block in flow.couplings:
            block.w3.uniform_(-0.3, 0.3, generator=generator)
            block.b3.uniform_(-0.3, 0.3, generator=generator)
    return flow
