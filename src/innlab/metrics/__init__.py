"""Quality metrics for flows: MMD (with permutation test and null), the classifier two-sample
test, novelty, code normality, likelihood and classifier scores. Metrics return numbers and
dataclasses; they never plot.
"""

from innlab.metrics.c2st import C2STResult, c2st
from innlab.metrics.likelihood import (
    DensityModel,
    batched_log_prob,
    bits_per_dim,
    mean_nll,
    nll_gap,
)
from innlab.metrics.mmd import (
    DEFAULT_BLOCK_SIZE,
    DEFAULT_SCALES,
    MMDTestResult,
    median_bandwidths,
    mmd,
    mmd_test,
)
from innlab.metrics.normality import NormalityReport, code_normality, holm
from innlab.metrics.novelty import nearest_neighbour_distances, novelty
from innlab.metrics.null import MMDNull, compare_to_null, mmd_null, mmd_null_from_pool
from innlab.metrics.scores import (
    classifier_scores,
    fit_digit_classifier,
    mode_coverage,
    oracle_accuracy,
)

__all__ = [
    "C2STResult",
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_SCALES",
    "DensityModel",
    "MMDNull",
    "MMDTestResult",
    "NormalityReport",
    "batched_log_prob",
    "bits_per_dim",
    "c2st",
    "classifier_scores",
    "code_normality",
    "compare_to_null",
    "fit_digit_classifier",
    "holm",
    "mean_nll",
    "median_bandwidths",
    "mmd",
    "mmd_null",
    "mmd_null_from_pool",
    "mmd_test",
    "mode_coverage",
    "nearest_neighbour_distances",
    "nll_gap",
    "novelty",
    "oracle_accuracy",
]
