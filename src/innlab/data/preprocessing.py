"""Invertible preprocessing of discrete pixel images for a flow, with its log-determinant.

Pixel values are integers ``0..levels-1`` (sklearn digits: ``levels=17``; MNIST: ``levels=256``).
A flow needs continuous data, so training goes

    pixels --dequantize--> u = pixels + U[0, 1)  --forward--> y  (the flow's input)

and generation goes back with :meth:`PixelPreprocessing.inverse` (exact) or
:meth:`PixelPreprocessing.to_pixels` (quantised, like the real data).

Units: ``u`` is in pixel units, so every integer level owns a bin of width 1. The log-density of
``u`` is ``log p_flow(y) + log_det`` with ``log_det = log|det dy/du|``, and
:func:`innlab.metrics.bits_per_dim` reports its negative in bits per dimension. With uniform
dequantisation this is an upper bound on the discrete model's ``-log2 P(pixels) / dims``, the usual
convention for reporting image likelihoods.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from innlab._validation import check_matrix, check_positive_int

__all__ = ["PixelPreprocessing"]


@dataclass(frozen=True)
class PixelPreprocessing:
    """Dequantise, scale to the unit interval and (optionally) apply a logit transform.

    The bijection :meth:`forward` maps ``u`` in ``[0, levels)`` to

        v = u / levels,    p = alpha + (1 - 2 alpha) v,    y = log(p / (1 - p))

    (``y = v`` when ``logit_alpha`` is ``None``). ``alpha`` keeps ``p`` in ``[alpha, 1 - alpha]``,
    away from the logit's poles.

    Args:
        levels: number of distinct pixel values (>= 2); pixels are ``0..levels-1``.
        logit_alpha: ``alpha`` in ``(0, 0.5)``, or ``None`` for no logit transform.

    Example (``pixels`` from :func:`innlab.data.digits`, ``flow`` a trained model)::

        prep = PixelPreprocessing(levels=17)
        u = prep.dequantize(pixels, generator=torch.Generator().manual_seed(0))
        y, log_det = prep.forward(u)  # the flow is trained on y
        bpd = innlab.metrics.bits_per_dim(flow.log_prob(y), log_det, dims=64)
        images = prep.to_images(flow.sample(16))  # in [0, 1] for plotting
    """

    levels: int
    logit_alpha: float | None = 0.05

    def __post_init__(self) -> None:
        check_positive_int(self.levels, "levels")
        if self.levels < 2:
            raise ValueError(f"levels must be an int >= 2, got {self.levels}")
        object.__setattr__(self, "levels", int(self.levels))
        alpha = self.logit_alpha
        if alpha is None:
            return
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)):
            raise TypeError(
                f"logit_alpha must be a float in (0, 0.5) or None, got {type(alpha).__name__}"
            )
        if not 0 < alpha < 0.5:
            raise ValueError(f"logit_alpha must be a float in (0, 0.5) or None, got {alpha}")
        object.__setattr__(self, "logit_alpha", float(alpha))

    # ------------------------------------------------------------------ data -> flow input

    def dequantize(self, pixels: Any, generator: torch.Generator | None = None) -> Tensor:
        """Add uniform noise: ``u = pixels + U[0, 1)``, in ``[0, levels)``.

        Args:
            pixels: integer-valued pixels ``(n, d)`` in ``0..levels-1`` (any numeric dtype,
                tensor or numpy array).
            generator: source of the noise; ``None`` uses torch's global generator.

        Returns:
            ``u`` with ``pixels``' floating dtype (float32 for integer input), shape ``(n, d)``.
        """
        if isinstance(pixels, np.ndarray):
            pixels = torch.from_numpy(pixels)
        if isinstance(pixels, torch.Tensor) and not pixels.is_floating_point():
            pixels = pixels.float()
        pixels = check_matrix(pixels, "pixels")
        if bool((pixels != pixels.round()).any()):
            raise ValueError("pixels must hold integer values; dequantize raw pixels only once")
        self._check_range(pixels, "pixels", self.levels - 1)
        noise = torch.rand(
            pixels.shape, generator=generator, dtype=pixels.dtype, device=pixels.device
        )
        # float rounding can push k + noise up to k + 1; keep u inside the bin [k, k + 1)
        return torch.minimum(pixels + noise, torch.nextafter(pixels + 1, pixels))

    def forward(self, u: Any) -> tuple[Tensor, Tensor]:
        """Map dequantised pixels ``u`` ``(n, d)`` in ``[0, levels]`` to the flow's input.

        Returns:
            ``y`` ``(n, d)`` and ``log_det = log|det dy/du|`` ``(n,)``, in ``u``'s dtype.
        """
        u = check_matrix(u, "u")
        self._check_range(u, "u", self.levels)
        v = u / self.levels
        log_det = torch.full(
            (u.shape[0],), -u.shape[1] * math.log(self.levels), dtype=u.dtype, device=u.device
        )
        if self.logit_alpha is None:
            return v, log_det
        alpha = self.logit_alpha
        p = alpha + (1 - 2 * alpha) * v
        log_det = log_det + u.shape[1] * math.log1p(-2 * alpha)
        log_det = log_det - (torch.log(p) + torch.log1p(-p)).sum(1)
        return torch.log(p) - torch.log1p(-p), log_det

    # ------------------------------------------------------------------ flow output -> data

    def inverse(self, y: Any) -> Tensor:
        """Exact inverse of :meth:`forward`: ``y`` ``(n, d)`` to ``u`` in pixel units.

        Points outside the image of :meth:`forward` (e.g. flow samples) map slightly outside
        ``[0, levels)``; use :meth:`to_pixels` for valid pixel values.
        """
        y = check_matrix(y, "y")
        if self.logit_alpha is not None:
            y = (torch.sigmoid(y) - self.logit_alpha) / (1 - 2 * self.logit_alpha)
        return y * self.levels

    def to_pixels(self, y: Any) -> Tensor:
        """Quantised pixels ``floor(inverse(y))`` clipped to ``0..levels-1``, shape ``(n, d)``.

        Integer values in ``y``'s floating dtype, on the same scale as the real data (e.g. for a
        classifier trained on real pixels); flooring undoes :meth:`dequantize`.
        """
        return self.inverse(y).floor().clamp(0, self.levels - 1)

    def to_images(self, y: Any) -> Tensor:
        """:meth:`to_pixels` divided by ``levels - 1``: values in ``[0, 1]`` for plotting."""
        return self.to_pixels(y) / (self.levels - 1)

    # ------------------------------------------------------------------ config

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable configuration; :meth:`from_dict` rebuilds the object."""
        return asdict(self)

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> PixelPreprocessing:
        unknown = set(config) - {"levels", "logit_alpha"}
        if unknown or "levels" not in config:
            raise ValueError(
                "config must have the key 'levels' and optionally 'logit_alpha', "
                f"got keys {sorted(config)}"
            )
        return cls(**config)

    @staticmethod
    def _check_range(x: Tensor, name: str, high: float) -> None:
        low, top = float(x.detach().min()), float(x.detach().max())
        if low < 0 or top > high:
            raise ValueError(f"{name} must lie in [0, {high}], got values in [{low}, {top}]")
