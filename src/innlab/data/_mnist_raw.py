"""The original MNIST files: find, read (IDX format, plain or gzip) and download them.

Layout, as torchvision uses it: ``<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``,
each file either plain or with a ``.gz`` suffix.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import struct
import urllib.request
from pathlib import Path

import numpy as np

from innlab._atomic import atomic_write

__all__ = ["MIRRORS", "RESOURCES", "load_raw", "raw_folder", "read_idx"]

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
# file stem -> MD5 of its .gz download (the values torchvision checks)
RESOURCES = {
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}
_UINT8 = 0x08  # IDX type code


def raw_folder(root: Path) -> Path:
    return root / "MNIST" / "raw"


def _stems(train: bool) -> tuple[str, str]:
    prefix = "train" if train else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _find(folder: Path, stem: str) -> Path | None:
    """The plain file if present, else the ``.gz`` one, else ``None``."""
    for name in (stem, f"{stem}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file of unsigned bytes (plain or ``.gz``) into a uint8 array."""
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as file:
            data = file.read()
    except (OSError, EOFError) as error:
        raise ValueError(f"could not read the IDX file {path}: {error}") from error
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != _UINT8:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", data[4:header]) if len(data) >= header else ()
    if len(shape) != ndim or len(data) != header + int(np.prod(shape)):
        raise ValueError(
            f"{path} is truncated or padded: {len(data)} bytes do not match its header"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _download(stem: str, folder: Path) -> None:
    """Fetch ``<stem>.gz`` from the first mirror that serves it with the right MD5."""
    failures = []
    for mirror in MIRRORS:
        url = f"{mirror}{stem}.gz"
        request = urllib.request.Request(url, headers={"User-Agent": "innlab"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                payload = response.read()
        except OSError as error:  # urllib.error.URLError and socket errors
            failures.append(f"{url}: {error}")
            continue
        if hashlib.md5(payload, usedforsecurity=False).hexdigest() == RESOURCES[stem]:
            break
        failures.append(f"{url}: MD5 mismatch")
    else:
        raise RuntimeError(f"could not download {stem}.gz: " + "; ".join(failures))
    atomic_write(folder / f"{stem}.gz", lambda file: file.write(payload))


def _torchvision_download(root: Path, train: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """Download with ``torchvision.datasets.MNIST`` if torchvision is installed."""
    try:
        datasets = importlib.import_module("torchvision.datasets")
    except ImportError:
        return None
    dataset = datasets.MNIST(str(root), train=train, download=True)
    return np.asarray(dataset.data, dtype=np.uint8), np.asarray(dataset.targets, dtype=np.uint8)


def load_raw(root: Path, train: bool, download: bool) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 ``(n, 28, 28)`` and labels uint8 ``(n,)`` of one split.

    Reads the IDX files under ``<root>/MNIST/raw`` when present. Otherwise, with ``download``,
    fetches them through torchvision if it is installed, else from :data:`MIRRORS` (MD5-checked).
    """
    folder = raw_folder(root)
    stems = _stems(train)
    paths = [_find(folder, stem) for stem in stems]
    if None in paths:
        if not download:
            expected = " and ".join(str(folder / f"{stem}[.gz]") for stem in stems)
            raise FileNotFoundError(
                f"MNIST files not found: expected {expected}. Put the original IDX files there "
                "(plain or gzip), pass root= or set INNLAB_DATA to the folder that holds "
                "'MNIST/raw', or call with download=True."
            )
        arrays = _torchvision_download(root, train)
        if arrays is not None:
            return arrays
        for stem, path in zip(stems, paths, strict=True):
            if path is None:
                _download(stem, folder)
        paths = [_find(folder, stem) for stem in stems]
    images, labels = (read_idx(path) for path in paths)  # type: ignore[arg-type]
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
        raise ValueError(
            f"MNIST files in {folder} disagree: images {images.shape}, labels {labels.shape}; "
            "expected (n, 28, 28) and (n,)"
        )
    return images, labels
