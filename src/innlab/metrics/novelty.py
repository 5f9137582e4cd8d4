"""Sample novelty: are generated points new, or copies of training points (memorisation)?"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from innlab._validation import check_positive_int
from innlab.metrics._inputs import same_columns
from innlab.metrics._kernels import squared_distances
from innlab.metrics.mmd import DEFAULT_BLOCK_SIZE

__all__ = ["nearest_neighbour_distances", "novelty"]


def nearest_neighbour_distances(
    points: Tensor | np.ndarray,
    reference: Tensor | np.ndarray,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> Tensor:
    """Euclidean distance from each of ``points`` ``(n, d)`` to its nearest row of ``reference``.

    Computed in float64, ``block_size x block_size`` distances at a time.

    Returns:
        ``(n,)`` float64 distances, in data units.
    """
    block_size = check_positive_int(block_size, "block_size")
    points, reference = same_columns(points, reference, ("points", "reference"))
    nearest = torch.empty(points.shape[0], dtype=torch.float64, device=points.device)
    for i in range(0, points.shape[0], block_size):
        rows = points[i : i + block_size]
        best = torch.full((rows.shape[0],), torch.inf, dtype=torch.float64, device=rows.device)
        for j in range(0, reference.shape[0], block_size):
            block = squared_distances(rows, reference[j : j + block_size])
            best = torch.minimum(best, block.min(dim=1).values)
        nearest[i : i + block_size] = best
    return nearest.sqrt_()


def novelty(
    generated: Tensor | np.ndarray,
    train: Tensor | np.ndarray,
    test: Tensor | np.ndarray,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> dict[str, float]:
    """Compare generated points' distances to the training set with real test points' distances.

    A model that memorises its training data puts generated points much closer to training
    points than unseen real points are.

    Args:
        generated: model samples ``(n, d)``.
        train: the model's training data ``(N, d)``.
        test: held-out real data ``(m, d)``, the reference for "typical" distances.

    Returns:
        ``generated_median`` and ``test_median``: median nearest-training-point distances;
        ``ratio``: ``generated_median / test_median`` (about 1 for a model that does not copy,
        well below 1 for memorisation; NaN if ``test_median`` is 0); ``close_fraction``: share
        of generated points nearer to the training set than the 5% quantile of the test
        distances (about 0.05 without copying).
    """
    train, generated = same_columns(train, generated, ("train", "generated"))
    _, test = same_columns(train, test, ("train", "test"))
    from_generated = _numpy(nearest_neighbour_distances(generated, train, block_size=block_size))
    from_test = _numpy(nearest_neighbour_distances(test, train, block_size=block_size))
    generated_median = float(np.median(from_generated))
    test_median = float(np.median(from_test))
    return {
        "generated_median": generated_median,
        "test_median": test_median,
        "ratio": generated_median / test_median if test_median > 0 else float("nan"),
        "close_fraction": float(np.mean(from_generated < np.quantile(from_test, 0.05))),
    }


def _numpy(x: Tensor) -> np.ndarray:
    return x.cpu().numpy()
