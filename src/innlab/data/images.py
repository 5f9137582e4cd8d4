"""8x8 digit images: scikit-learn's digits and MNIST downsampled to 8x8.

Both loaders return ``x`` float32 ``(n, 64)`` holding integer pixel levels, rows of the 8x8
image concatenated (row-major, as ``load_digits().data``), and ``y`` int64 ``(n,)`` digit labels.
Pixel scale: digits use ``0..16`` (:data:`DIGITS_LEVELS` = 17 levels), MNIST ``0..255``
(:data:`MNIST_LEVELS` = 256 levels), so
``PixelPreprocessing(levels=...)`` applies to either, and ``x / (levels - 1)`` is in ``[0, 1]``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from tqdm.auto import tqdm

from innlab._validation import check_choice, check_nonnegative_int, check_positive_float
from innlab.data._cache import cache_paths, load_arrays, save_arrays, short_hash
from innlab.data._mnist_raw import load_raw

__all__ = ["DIGITS_LEVELS", "MNIST_LEVELS", "digits", "downsample_mnist", "mnist8x8"]

DIGITS_LEVELS = 17
MNIST_LEVELS = 256

# The exercise's pipeline in PIL terms: Lanczos resize to 10x10, keep the central 8x8.
_RESIZE = (10, 10)
_CROP = (1, 1, 9, 9)  # (left, upper, right, lower)
# names the cache files; change the version whenever the conversion's output changes
_PIPELINE_KEY = json.dumps({"version": 1, "resize": _RESIZE, "filter": "LANCZOS", "crop": _CROP})


def digits(split: str = "train", test_size: float = 0.2, seed: int = 0) -> tuple[Tensor, Tensor]:
    """scikit-learn's 8x8 digits (1797 images), with a fixed stratified train/test split.

    Args:
        split: ``"train"`` or ``"test"``.
        test_size: fraction of the images in the test split, in ``(0, 1)``.
        seed: ``random_state`` of :func:`sklearn.model_selection.train_test_split`; the same
            ``test_size`` and ``seed`` always give the same split.

    Returns:
        ``x`` float32 ``(n, 64)`` with pixel levels ``0..16`` and ``y`` int64 ``(n,)``.
    """
    check_choice(split, "split", ("train", "test"))
    test_size = check_positive_float(test_size, "test_size")
    if test_size >= 1:
        raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size}")
    seed = check_nonnegative_int(seed, "seed")
    from sklearn.datasets import load_digits  # imported here: sklearn takes seconds to import
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=test_size, stratify=data.target, random_state=seed
    )
    x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
    return torch.from_numpy(x).float(), torch.from_numpy(y).long()


def downsample_mnist(images: np.ndarray, progress: bool = False) -> np.ndarray:
    """Downsample 28x28 images to 8x8 the way the exercise does it.

    Each image is resized to 10x10 with PIL's Lanczos filter and the central 8x8 pixels are kept
    (crop box ``(1, 1, 9, 9)``). Grayscale conversion is a no-op for these 8-bit images, and
    ``ToTensor`` would only divide by 255, so the uint8 result is kept as is.

    Args:
        images: uint8 ``(n, height, width)``, e.g. MNIST's 28x28.
        progress: show a progress bar.

    Returns:
        uint8 ``(n, 64)``, row-major.
    """
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        dtype = getattr(images, "dtype", "")
        raise TypeError(f"images must be a uint8 numpy array, got {type(images).__name__} {dtype}")
    if images.ndim != 3:
        raise ValueError(f"images must have shape (n, height, width), got {images.shape}")
    out = np.empty((len(images), 64), dtype=np.uint8)
    for i, image in enumerate(tqdm(images, desc="MNIST to 8x8", unit="img", disable=not progress)):
        small = Image.fromarray(image).resize(_RESIZE, Image.Resampling.LANCZOS)
        out[i] = np.asarray(small.crop(_CROP)).reshape(64)
    return out


def _data_root(root: str | os.PathLike[str] | None) -> Path:
    if root is None:
        root = os.environ.get("INNLAB_DATA") or "data"
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(
            f"root must be a path (str or os.PathLike) or None, got {type(root).__name__}"
        )
    return Path(root)


def mnist8x8(
    root: str | os.PathLike[str] | None = None,
    train: bool = True,
    download: bool = False,
    progress: bool = True,
) -> tuple[Tensor, Tensor]:
    """MNIST downsampled to 8x8 (:func:`downsample_mnist`): 60000 train or 10000 test images.

    Args:
        root: folder holding ``MNIST/raw`` (torchvision's layout); ``None`` means
            ``$INNLAB_DATA``, else ``./data``.
        train: the training split if true, else the test split.
        download: fetch missing raw files (through torchvision if installed, else from the
            public mirrors, MD5-checked) into ``<root>/MNIST/raw``.
        progress: show a progress bar while converting.

    Returns:
        ``x`` float32 ``(n, 64)`` with pixel levels ``0..255`` and ``y`` int64 ``(n,)``.

    The converted arrays are cached as ``<root>/MNIST/innlab/mnist8x8-<split>-<key>.npz``, where
    ``key`` hashes the pipeline's parameters, and later calls read only that file. If
    ``<root>/MNIST`` is read-only (no write permission bits), the cache goes to ``$INNLAB_CACHE``,
    else ``$XDG_CACHE_HOME/innlab``, else ``~/.cache/innlab``. Delete the file to rebuild it.

    Raises:
        FileNotFoundError: the raw files are missing and ``download`` is false.
    """
    for name, flag in (("train", train), ("download", download), ("progress", progress)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
    root = _data_root(root)
    split = "train" if train else "test"
    stem = f"mnist8x8-{split}-{short_hash(_PIPELINE_KEY)}"
    paths = cache_paths(stem, near=root / "MNIST" / "innlab")
    arrays = load_arrays(paths)
    if arrays is None or not _valid(arrays):
        images, labels = load_raw(root, train, download)
        arrays = {"x": downsample_mnist(images, progress), "y": labels}
        save_arrays(paths, arrays)
    x = torch.tensor(arrays["x"], dtype=torch.float32)  # copies: cached arrays are read-only
    return x, torch.tensor(arrays["y"], dtype=torch.int64)


def _valid(arrays: dict[str, Any]) -> bool:
    x, y = arrays.get("x"), arrays.get("y")
    return (
        x is not None
        and y is not None
        and x.dtype == np.uint8
        and x.ndim == 2
        and x.shape[1] == 64
        and y.shape == x.shape[:1]
    )
