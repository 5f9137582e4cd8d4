"""Training flows by maximum likelihood.

* :func:`train_inn` (:mod:`.loop`): one flow, with evaluation, checkpoints and resume;
* :func:`train_inn_vectorized` (:mod:`.vectorized`): several seeds of one architecture at once;
* the parts both share: losses (:mod:`.losses`), the optimizer step and divergence guard
  (:mod:`.step`), the options (:mod:`.options`), checkpoints (:mod:`.checkpoint`) and the
  per-epoch :class:`History` (:mod:`.history`).
"""

from innlab.training.history import History
from innlab.training.loop import train_inn
from innlab.training.losses import BottleneckLoss, Loss, NLLLoss, nll_loss
from innlab.training.options import TrainingOptions
from innlab.training.step import TrainingDivergedError
from innlab.training.vectorized import NotVectorizableError, train_inn_vectorized

__all__ = [
    "BottleneckLoss",
    "History",
    "Loss",
    "NLLLoss",
    "NotVectorizableError",
    "TrainingDivergedError",
    "TrainingOptions",
    "nll_loss",
    "train_inn",
    "train_inn_vectorized",
]
