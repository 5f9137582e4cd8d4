"""one_hot: labels to conditions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from innlab.data import one_hot


def test_one_hot():
    out = one_hot(torch.tensor([2, 0, 1]), 3)
    assert out.dtype == torch.float32
    assert torch.equal(out, torch.eye(3)[[2, 0, 1]])
    assert torch.equal(one_hot(np.array([1]), 2), torch.tensor([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="num_classes"):
        one_hot(torch.tensor([0, 3]), 3)
    with pytest.raises(TypeError, match="integer labels"):
        one_hot(torch.tensor([0.0, 1.0]), 3)
    with pytest.raises(ValueError, match="num_classes"):
        one_hot(torch.tensor([0]), 0)
