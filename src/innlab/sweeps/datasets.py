"""The toy data set of a sweep: the registry's entry (:func:`innlab.data.toy_dataset`) for the
resolved ``[data]`` table, plus the sweep's data-set scores."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from innlab.data import HexagonMixture, ToyDistribution, toy_dataset
from innlab.metrics import mode_coverage

__all__ = ["ToyDataset"]

_HELD_OUT_KEYS = ("test_size", "seed")  # the held-out set's size and seed: not data-set options


@dataclass(frozen=True)
class ToyDataset:
    """A data set described by the resolved ``[data]`` table of a sweep.

    Attributes:
        settings: the table: ``name``, the data set's options, ``test_size`` and ``seed``.
        data: the registry's data set for ``name`` and its options.
    """

    settings: Mapping[str, Any]
    data: ToyDistribution = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        options = {
            k: v for k, v in self.settings.items() if k != "name" and k not in _HELD_OUT_KEYS
        }
        object.__setattr__(self, "data", toy_dataset(self.settings["name"], **options))

    @property
    def name(self) -> str:
        return self.data.name

    @property
    def num_classes(self) -> int:
        return self.data.num_classes

    def sample(self, n: int, seed: int) -> tuple[Tensor, Tensor]:
        """``n`` points float32 ``(n, 2)`` and their labels int64 ``(n,)``."""
        return self.data.sample(n, seed)

    def log_prob(self, x: Tensor) -> Tensor:
        """True ``log p(x)`` in nats, float64 ``(n,)``."""
        return self.data.log_prob(x)

    def posterior(self, x: Tensor) -> Tensor:
        """True ``p(y | x)``, float64 ``(n, K)``."""
        return self.data.posterior(x)

    def class_prior(self) -> Tensor:
        """True ``p(y)``, float64 ``(K,)``."""
        return self.data.class_prior()

    def conditional_log_prob(self, x: Tensor, y: Tensor) -> Tensor:
        """True ``log p(x | y)`` in nats, float64 ``(n,)``."""
        return self.data.conditional_log_prob(x, y)

    def mode_scores(self, x: Tensor) -> dict[str, float]:
        """The data set's own scores of generated points ``x`` ``(n, 2)``.

        ``mode_balance``: number of modes times the smallest share of points whose nearest mode
        (most probable moon; nearest hexagon corner) it is; 1 when every mode gets its due share,
        0 when one is missed. Hexagon only: ``outlier_share``, the share of points farther than
        three standard deviations from every corner (about 1% for the true mixture).
        """
        data = self.data
        if isinstance(data, HexagonMixture):
            coverage = mode_coverage(x, data.centers(), data.component_std)
            return {
                "mode_balance": len(coverage["shares"]) * min(coverage["shares"]),
                "outlier_share": coverage["outlier_share"],
            }
        counts = torch.bincount(data.posterior(x).argmax(dim=1), minlength=data.num_classes)
        return {"mode_balance": data.num_classes * float(counts.min()) / x.shape[0]}
