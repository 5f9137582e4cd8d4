"""Data sets and their preprocessing.

* :mod:`~innlab.data.toy`: two moons and a hexagon Gaussian mixture, with exact log-densities and
  class posteriors.
* :mod:`~innlab.data.registry`: the toy data sets by name (:func:`toy_dataset`), each a frozen
  dataclass of its options with sampler, density, posterior and plot limits.
* :mod:`~innlab.data.images`: scikit-learn's 8x8 digits and MNIST downsampled to 8x8.
* :mod:`~innlab.data.preprocessing`: invertible dequantise/scale/logit map for pixel data.
* :func:`one_hot`: labels to conditions.
"""

from innlab.data.images import DIGITS_LEVELS, MNIST_LEVELS, digits, downsample_mnist, mnist8x8
from innlab.data.labels import one_hot
from innlab.data.preprocessing import PixelPreprocessing
from innlab.data.registry import (
    TOY_DATASETS,
    HexagonMixture,
    ToyDistribution,
    TwoMoons,
    toy_dataset,
)
from innlab.data.toy import (
    TWO_LABEL_GROUP,
    hexagon_centers,
    hexagon_gmm,
    hexagon_gmm_log_prob,
    hexagon_gmm_posterior,
    two_moons,
    two_moons_iid,
    two_moons_log_prob,
    two_moons_posterior,
)

__all__ = [
    "DIGITS_LEVELS",
    "MNIST_LEVELS",
    "TOY_DATASETS",
    "TWO_LABEL_GROUP",
    "HexagonMixture",
    "PixelPreprocessing",
    "ToyDistribution",
    "TwoMoons",
    "digits",
    "downsample_mnist",
    "hexagon_centers",
    "hexagon_gmm",
    "hexagon_gmm_log_prob",
    "hexagon_gmm_posterior",
    "mnist8x8",
    "one_hot",
    "toy_dataset",
    "two_moons",
    "two_moons_iid",
    "two_moons_log_prob",
    "two_moons_posterior",
]
