"""The toy data sets a sweep can use, behind one interface: samples, true densities, posteriors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from innlab.data import (
    hexagon_centers,
    hexagon_gmm,
    hexagon_gmm_log_prob,
    hexagon_gmm_posterior,
    two_moons,
    two_moons_log_prob,
    two_moons_posterior,
)
from innlab.metrics import mode_coverage

__all__ = ["ToyDataset"]


@dataclass(frozen=True)
class ToyDataset:
    """A data set described by the resolved ``[data]`` table of a sweep."""

    settings: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.settings["name"])

    def sample(self, n: int, seed: int) -> tuple[Tensor, Tensor]:
        """``n`` points float32 ``(n, 2)`` and their labels int64 ``(n,)``."""
        s = self.settings
        if self.name == "moons":
            return two_moons(n, noise=s["noise"], seed=seed)
        return hexagon_gmm(n, s["radius"], s["std"], seed, s["labels"], s["two_label_group"])

    def log_prob(self, x: Tensor) -> Tensor:
        """True ``log p(x)`` in nats, float64 ``(n,)``."""
        s = self.settings
        if self.name == "moons":
            return two_moons_log_prob(x, noise=s["noise"])
        return hexagon_gmm_log_prob(x, s["radius"], s["std"])

    def posterior(self, x: Tensor) -> Tensor:
        """True ``p(y | x)``, float64 ``(n, K)``."""
        s = self.settings
        if self.name == "moons":
            return two_moons_posterior(x, noise=s["noise"])
        return hexagon_gmm_posterior(x, s["radius"], s["std"], s["labels"], s["two_label_group"])

    @property
    def num_classes(self) -> int:
        return 6 if self.name == "hexagon" and self.settings["labels"] == "component" else 2

    def class_prior(self) -> Tensor:
        """True ``p(y)``, float64 ``(K,)``."""
        if self.name == "moons" or self.settings["labels"] == "component":
            return torch.full((self.num_classes,), 1 / self.num_classes, dtype=torch.float64)
        group = len(self.settings["two_label_group"])
        return torch.tensor([group / 6, 1 - group / 6], dtype=torch.float64)

    def conditional_log_prob(self, x: Tensor, y: Tensor) -> Tensor:
        """True ``log p(x | y) = log p(x) + log p(y | x) - log p(y)``, float64 ``(n,)``."""
        rows = torch.arange(x.shape[0])
        posterior = self.posterior(x)[rows, y]
        return self.log_prob(x) + posterior.log() - self.class_prior()[y].log()

    def mode_scores(self, x: Tensor) -> dict[str, float]:
        """The data set's own scores of generated points ``x`` ``(n, 2)``.

        ``mode_balance``: number of modes times the smallest share of points whose nearest mode
        (most probable moon; nearest hexagon corner) it is; 1 when every mode gets its due share,
        0 when one is missed. Hexagon only: ``outlier_share``, the share of points farther than
        three standard deviations from every corner (about 1% for the true mixture).
        """
        if self.name == "moons":
            nearest = two_moons_posterior(x, noise=self.settings["noise"]).argmax(dim=1)
            counts = torch.bincount(nearest, minlength=2)
            return {"mode_balance": 2 * float(counts.min()) / x.shape[0]}
        coverage = mode_coverage(x, hexagon_centers(self.settings["radius"]), self.settings["std"])
        return {
            "mode_balance": len(coverage["shares"]) * min(coverage["shares"]),
            "outlier_share": coverage["outlier_share"],
        }
