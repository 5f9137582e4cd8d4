"""Class labels as conditions for a conditional flow."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from innlab._validation import check_labels, check_positive_int

__all__ = ["one_hot"]


def one_hot(y: Any, num_classes: int) -> Tensor:
    """One-hot encode integer labels.

    Args:
        y: labels ``(n,)`` in ``0..num_classes-1`` (integer tensor or numpy array).
        num_classes: number of classes ``K``.

    Returns:
        float32 tensor ``(n, K)`` on ``y``'s device, with a single 1 per row.
    """
    num_classes = check_positive_int(num_classes, "num_classes")
    y = check_labels(y, "y", num_classes=num_classes)
    return torch.nn.functional.one_hot(y, num_classes).float()
