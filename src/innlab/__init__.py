"""innlab: RealNVP normalizing flows (plain and conditional) with data, training and metrics.

Public API::

    from innlab import RealNVP, train_inn
    from innlab.flows import Flow, Transform, AffineCoupling, FixedRotation, StandardNormal
    from innlab.data import two_moons, hexagon_gmm, digits, mnist8x8, one_hot
    from innlab.metrics import mmd, code_normality

The names below load their modules (and torch) on first use, so ``import innlab`` and the
``innlab`` command's ``--help`` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from innlab.flows.base import Flow
    from innlab.flows.io import CheckpointError
    from innlab.flows.realnvp import RealNVP
    from innlab.training import (
        History,
        TrainingDivergedError,
        nll_loss,
        train_inn,
        train_inn_vectorized,
    )

__version__ = "0.2.0"

_HOMES = {
    "CheckpointError": "innlab.flows.io",
    "Flow": "innlab.flows.base",
    "RealNVP": "innlab.flows.realnvp",
    "History": "innlab.training.history",
    "TrainingDivergedError": "innlab.training.step",
    "nll_loss": "innlab.training.losses",
    "train_inn": "innlab.training.loop",
    "train_inn_vectorized": "innlab.training.vectorized",
}

__all__ = [
    "CheckpointError",
    "Flow",
    "History",
    "RealNVP",
    "TrainingDivergedError",
    "__version__",
    "nll_loss",
    "train_inn",
    "train_inn_vectorized",
]


def __getattr__(name: str) -> Any:
    from innlab._lazy import load_attribute

    return load_attribute(__name__, _HOMES, name, globals())


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
