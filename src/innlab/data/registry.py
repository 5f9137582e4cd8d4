"""One registry of the 2-D toy data sets: sampler, true density, posterior and plot limits.

Each data set is a frozen dataclass whose fields are its options (validated on construction);
:func:`toy_dataset` looks one up by name. Points are ``(n, 2)``, labels int64 ``(n,)``;
densities are float64 in nats, posteriors float64 ``(n, K)`` (see :mod:`innlab.data.toy`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import torch
from torch import Tensor

from innlab._validation import check_choice, check_labels, check_positive_float
from innlab.data.toy import (
    TWO_LABEL_GROUP,
    HexagonLabels,
    check_two_label_group,
    hexagon_centers,
    hexagon_gmm,
    hexagon_gmm_log_prob,
    hexagon_gmm_posterior,
    two_moons,
    two_moons_iid,
    two_moons_log_prob,
    two_moons_posterior,
)

__all__ = ["TOY_DATASETS", "HexagonMixture", "ToyDistribution", "TwoMoons", "toy_dataset"]

Limits = tuple[tuple[float, float], tuple[float, float]]


@dataclass(frozen=True)
class ToyDistribution(ABC):
    """A labelled 2-D data set with its exact density: the interface of every registry entry.

    Subclasses are frozen dataclasses whose fields are the data set's options.
    """

    name: ClassVar[str]

    @property
    @abstractmethod
    def labels(self) -> str:
        """What the label means: ``"moon"``, ``"component"`` or ``"two"``."""

    @property
    @abstractmethod
    def num_classes(self) -> int:
        """Number of labels ``K``."""

    @property
    @abstractmethod
    def limits(self) -> Limits:
        """``(xlim, ylim)`` of a plot that shows the whole data set."""

    @abstractmethod
    def sample(self, n: int, seed: int | None = None) -> tuple[Tensor, Tensor]:
        """``n`` points float32 ``(n, 2)`` and labels int64 ``(n,)``; a ``None`` seed is drawn
        from torch's global generator."""

    @abstractmethod
    def log_prob(self, x: Any) -> Tensor:
        """True ``log p(x)`` of points ``(n, 2)`` in nats, float64 ``(n,)``."""

    @abstractmethod
    def posterior(self, x: Any) -> Tensor:
        """True ``p(y | x)`` of points ``(n, 2)``, float64 ``(n, K)``."""

    def sample_iid(self, n: int, seed: int | None = None) -> Tensor:
        """``n`` independent draws from the true density, float32 ``(n, 2)``: what a perfect
        model generates (:meth:`sample` may be more regular)."""
        return self.sample(n, seed)[0]

    def class_prior(self) -> Tensor:
        """True ``p(y)``, float64 ``(K,)``."""
        return torch.full((self.num_classes,), 1 / self.num_classes, dtype=torch.float64)

    def conditional_log_prob(self, x: Any, y: Any) -> Tensor:
        """True ``log p(x | y) = log p(x) + log p(y | x) - log p(y)`` in nats, float64 ``(n,)``.

        Args:
            x: points ``(n, 2)``.
            y: labels ``(n,)`` in ``0..K-1``.
        """
        y = check_labels(y, "y", num_classes=self.num_classes, rows=len(x))
        posterior = self.posterior(x)[torch.arange(len(x)), y]
        return self.log_prob(x) + posterior.log() - self.class_prior()[y].log()


@dataclass(frozen=True)
class TwoMoons(ToyDistribution):
    """The two moons of :func:`~innlab.data.two_moons`; the label is the moon (0: upper).

    Args:
        noise: standard deviation of the Gaussian noise (> 0: the density needs it).
    """

    name: ClassVar[str] = "moons"
    noise: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "noise", check_positive_float(self.noise, "noise"))

    @property
    def labels(self) -> str:
        return "moon"

    @property
    def num_classes(self) -> int:
        return 2

    @property
    def limits(self) -> Limits:
        return (-1.6, 2.6), (-1.1, 1.6)

    def sample(self, n: int, seed: int | None = None) -> tuple[Tensor, Tensor]:
        return two_moons(n, noise=self.noise, seed=seed)

    def sample_iid(self, n: int, seed: int | None = None) -> Tensor:
        return two_moons_iid(n, noise=self.noise, seed=seed)[0]

    def log_prob(self, x: Any) -> Tensor:
        return two_moons_log_prob(x, noise=self.noise)

    def posterior(self, x: Any) -> Tensor:
        return two_moons_posterior(x, noise=self.noise)


@dataclass(frozen=True)
class HexagonMixture(ToyDistribution):
    """The six-Gaussian mixture of :func:`~innlab.data.hexagon_gmm`.

    Args:
        radius: distance of the corners from the origin (> 0).
        std: standard deviation of each component (> 0); ``None`` means ``radius / 10`` (and
            :attr:`component_std` is the resolved value).
        labels: ``"component"`` (the corner, 6 labels) or ``"two"`` (label 0 for the corners in
            ``two_label_group``, 1 for the others).
        two_label_group: 1 to 5 distinct corners in 0..5.
    """

    name: ClassVar[str] = "hexagon"
    radius: float = 1.0
    std: float | None = None
    labels: HexagonLabels = "component"
    two_label_group: Sequence[int] = TWO_LABEL_GROUP

    def __post_init__(self) -> None:
        radius = check_positive_float(self.radius, "radius")
        object.__setattr__(self, "radius", radius)
        if self.std is not None:
            object.__setattr__(self, "std", check_positive_float(self.std, "std"))
        check_choice(self.labels, "labels", ("component", "two"))
        group = check_two_label_group(self.two_label_group)
        object.__setattr__(self, "two_label_group", group)

    @property
    def num_classes(self) -> int:
        return 6 if self.labels == "component" else 2

    @property
    def limits(self) -> Limits:
        r = self.radius
        return (-1.5 * r, 1.5 * r), (-1.3 * r, 1.3 * r)

    @property
    def component_std(self) -> float:
        """Standard deviation of each component (``std``, or ``radius / 10`` if ``None``)."""
        return self.radius / 10 if self.std is None else self.std

    def centers(self) -> Tensor:
        """The corners, float64 ``(6, 2)``."""
        return hexagon_centers(self.radius)

    def sample(self, n: int, seed: int | None = None) -> tuple[Tensor, Tensor]:
        return hexagon_gmm(n, self.radius, self.std, seed, self.labels, self.two_label_group)

    def log_prob(self, x: Any) -> Tensor:
        return hexagon_gmm_log_prob(x, self.radius, self.std)

    def posterior(self, x: Any) -> Tensor:
        return hexagon_gmm_posterior(x, self.radius, self.std, self.labels, self.two_label_group)

    def class_prior(self) -> Tensor:
        if self.labels == "component":
            return super().class_prior()
        share = len(self.two_label_group) / 6
        return torch.tensor([share, 1 - share], dtype=torch.float64)


TOY_DATASETS: dict[str, type[ToyDistribution]] = {
    TwoMoons.name: TwoMoons,
    HexagonMixture.name: HexagonMixture,
}
"""The registry: name -> data-set class."""


def toy_dataset(name: str, **options: Any) -> ToyDistribution:
    """The toy data set called ``name`` with ``options`` (the fields of its class).

    Raises:
        ValueError: unknown ``name`` or option, or a bad option value.

    Example:
        >>> data = toy_dataset("hexagon", labels="two")
        >>> x, y = data.sample(5, seed=0)
        >>> tuple(x.shape), data.num_classes, data.component_std
        ((5, 2), 2, 0.1)
        >>> data.class_prior()
        tensor([0.3333, 0.6667], dtype=torch.float64)
        >>> toy_dataset("spiral")
        Traceback (most recent call last):
        ...
        ValueError: name must be one of 'moons', 'hexagon', got 'spiral'
        >>> toy_dataset("moons", radius=2.0)
        Traceback (most recent call last):
        ...
        ValueError: unknown option 'radius' for toy data set 'moons'; expected one of: noise
    """
    check_choice(name, "name", tuple(TOY_DATASETS))
    cls = TOY_DATASETS[name]
    known = [f.name for f in fields(cls) if f.init]
    unknown = [key for key in options if key not in known]
    if unknown:
        raise ValueError(
            f"unknown option {', '.join(repr(k) for k in unknown)} for toy data set {name!r}; "
            f"expected one of: {', '.join(known)}"
        )
    return cls(**options)
