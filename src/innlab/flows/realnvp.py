"""RealNVP: affine couplings with a fixed mixing layer between consecutive ones."""

from __future__ import annotations

from typing import Any

import torch

from innlab._options import MIXINGS, SCALES
from innlab._validation import (
    check_bool,
    check_choice,
    check_nonnegative_int,
    check_positive_int,
    resolve_seed,
)
from innlab.flows.base import Flow, Transform
from innlab.flows.coupling import AffineCoupling
from innlab.flows.mixing import FixedPermutation, FixedRotation, random_orthogonal

__all__ = ["RealNVP"]


class RealNVP(Flow):
    """Real-valued non-volume-preserving flow (Dinh et al. 2017), optionally conditional.

    A :class:`~innlab.flows.Flow` whose transforms are ``blocks`` :class:`AffineCoupling` s with
    a fixed mixing layer between consecutive ones, over a standard normal base.

    Args:
        input_size: data dimension ``d``.
        hidden_size: width of the subnetworks' two hidden layers.
        blocks: number of affine coupling blocks.
        condition_size: width of the condition vector (e.g. number of classes for one-hot
            labels); 0 makes an unconditional flow.
        shared_subnet: one subnetwork yields both ``s~`` and ``t`` (half the parameters)
            instead of separate ``s`` and ``t`` networks.
        scale: the couplings' scale, ``"exp_tanh"`` (default), ``"exp"`` or ``"additive"``.
        mixing: ``"rotation"`` (default: a Haar-random orthogonal matrix), ``"permutation"``
            (a random permutation of the dimensions) or ``"none"``.
        seed: seeds the mixing layers and the weight initialisation; ``None`` draws a seed from
            torch's global generator (and records it in :attr:`config`).
        dtype: ``torch.float32`` (default: torch's default dtype) or ``torch.float64``. Build a
            float64 model with this argument rather than ``.double()``: the rotations are then
            orthogonal to float64 precision, not float32's.

    A new model is the identity map because the subnetworks' output layers start at zero.

    Example:
        >>> flow = RealNVP(input_size=2, hidden_size=64, blocks=8, seed=0)
        >>> z, log_det = flow.encode(torch.randn(5, 2))
        >>> z.shape, log_det.shape
        (torch.Size([5, 2]), torch.Size([5]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        blocks: int,
        condition_size: int = 0,
        *,
        shared_subnet: bool = False,
        scale: str = "exp_tanh",
        mixing: str = "rotation",
        seed: int | None = None,
        dtype: torch.dtype | str | None = None,
    ) -> None:
        options = {
            "input_size": check_positive_int(input_size, "input_size"),
            "hidden_size": check_positive_int(hidden_size, "hidden_size"),
            "blocks": check_positive_int(blocks, "blocks"),
            "condition_size": check_nonnegative_int(condition_size, "condition_size"),
            "shared_subnet": check_bool(shared_subnet, "shared_subnet"),
            "scale": check_choice(scale, "scale", SCALES),
            "mixing": check_choice(mixing, "mixing", MIXINGS),
            "seed": resolve_seed(seed, "seed"),
            "dtype": str(_resolve_dtype(dtype)).removeprefix("torch."),
        }
        super().__init__(_transforms(**options), condition_size=options["condition_size"])
        self._options = options
        self.to(getattr(torch, options["dtype"]))

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments; ``RealNVP(**model.config)`` rebuilds the architecture."""
        return {**self._options, "dtype": str(self.dtype).removeprefix("torch.")}

    @property
    def hidden_size(self) -> int:
        return int(self._options["hidden_size"])

    @property
    def num_blocks(self) -> int:
        return int(self._options["blocks"])

    @property
    def shared_subnet(self) -> bool:
        return bool(self._options["shared_subnet"])

    @property
    def seed(self) -> int:
        return int(self._options["seed"])

    @property
    def couplings(self) -> list[AffineCoupling]:
        """The coupling blocks, data side first."""
        return [t for t in self.layers if isinstance(t, AffineCoupling)]

    @property
    def mixers(self) -> list[Transform]:
        """The mixing layers between the couplings (empty for ``mixing="none"``)."""
        return [t for t in self.layers if not isinstance(t, AffineCoupling)]

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self._options.items())


def _transforms(
    *,
    input_size: int,
    hidden_size: int,
    blocks: int,
    condition_size: int,
    shared_subnet: bool,
    scale: str,
    mixing: str,
    seed: int,
    dtype: str,
) -> list[Transform]:
    """The couplings, each followed (but the last) by a mixing layer, drawn from ``seed``: first
    every coupling's initialisation, then the mixing layers."""
    generator = torch.Generator().manual_seed(seed)
    couplings = [
        AffineCoupling(
            input_size,
            hidden_size,
            condition_size,
            shared_subnet=shared_subnet,
            scale=scale,
            generator=generator,
        )
        for _ in range(blocks)
    ]
    mixers: list[Transform] = []
    if mixing == "rotation":  # one draw for all, as in innlab 0.1 (same seed, same matrices)
        matrices = random_orthogonal(
            input_size, blocks - 1, generator=generator, dtype=getattr(torch, dtype)
        )
        mixers = [FixedRotation(input_size, matrix=q) for q in matrices]
    elif mixing == "permutation":
        mixers = [FixedPermutation(input_size, generator=generator) for _ in range(blocks - 1)]
    transforms: list[Transform] = []
    for i, coupling in enumerate(couplings):
        transforms.append(coupling)
        if i < len(mixers):
            transforms.append(mixers[i])
    return transforms


def _resolve_dtype(dtype: torch.dtype | str | None) -> torch.dtype:
    if dtype is None:
        return torch.get_default_dtype()
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None)  # type: ignore[assignment]
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    return dtype  # type: ignore[return-value]
