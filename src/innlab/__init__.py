"""innlab: RealNVP normalizing flows (plain and conditional) with data, training and metrics.

Public API::

    from innlab import RealNVP, train_inn
    from innlab.data import two_moons, hexagon_gmm, digits, mnist8x8, one_hot
    from innlab.metrics import mmd, code_normality
"""

from innlab.flows.io import CheckpointError
from innlab.flows.realnvp import RealNVP
from innlab.training import History, TrainingDivergedError, nll_loss, train_inn

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "History",
    "RealNVP",
    "TrainingDivergedError",
    "__version__",
    "nll_loss",
    "train_inn",
]
