"""Write MNIST-format IDX files for tests (no network, no real data)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array (magic, dimensions, data)."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    return header + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx_files(
    root: Path, images: np.ndarray, labels: np.ndarray, *, train: bool, gz: bool
) -> None:
    """Write ``images`` (n, 28, 28) and ``labels`` (n,) as ``root/MNIST/raw`` IDX files."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    prefix = "train" if train else "t10k"
    for stem, array in (
        (f"{prefix}-images-idx3-ubyte", images),
        (f"{prefix}-labels-idx1-ubyte", labels),
    ):
        data = idx_bytes(array)
        if gz:
            (raw / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (raw / stem).write_bytes(data)


def write_digit_mnist(root: Path) -> None:
    """MNIST-shaped files made from sklearn's digits (upscaled 3x and padded to 28x28)."""
    digits = load_digits()
    big = np.kron(digits.images * 15, np.ones((3, 3))).clip(0, 255).astype(np.uint8)
    images = np.pad(big, ((0, 0), (2, 2), (2, 2)))
    labels = digits.target.astype(np.uint8)
    write_idx_files(root, images[:1400], labels[:1400], train=True, gz=True)
    write_idx_files(root, images[1400:], labels[1400:], train=False, gz=False)
