"""A small on-disk cache of numpy arrays, written atomically.

A cached item has two candidate files: one next to the data it was derived from, and one in the
user cache folder (``$INNLAB_CACHE``, else ``$XDG_CACHE_HOME/innlab``, else ``~/.cache/innlab``)
for data folders that are read-only. The second file's name includes a hash of the data folder's
absolute path, so different data folders never share it.
"""

from __future__ import annotations

import hashlib
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any, cast

import numpy as np

from innlab._atomic import atomic_write

__all__ = ["cache_paths", "load_arrays", "save_arrays", "short_hash"]


def short_hash(text: str) -> str:
    """First 12 hex digits of the SHA-256 of ``text``."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def user_cache_dir() -> Path:
    """``$INNLAB_CACHE``, else ``$XDG_CACHE_HOME/innlab``, else ``~/.cache/innlab``."""
    if os.environ.get("INNLAB_CACHE"):
        return Path(os.environ["INNLAB_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "innlab"


def cache_paths(stem: str, near: Path) -> list[Path]:
    """Candidate files for an item: ``near/<stem>.npz``, then one in :func:`user_cache_dir`."""
    folder_key = short_hash(str(near.resolve()))
    return [near / f"{stem}.npz", user_cache_dir() / f"{stem}-{folder_key}.npz"]


def load_arrays(paths: list[Path]) -> dict[str, np.ndarray] | None:
    """Arrays of the first readable file among ``paths``; ``None`` if there is none."""
    for path in paths:
        if not path.is_file():
            continue
        try:
            with path.open("rb") as file, np.load(file, allow_pickle=False) as archive:
                return {key: archive[key] for key in archive.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:  # rebuild it
            warnings.warn(f"ignoring unreadable cache file {path}: {error}", stacklevel=3)
    return None


def _writable(folder: Path) -> bool:
    """Whether files can be created under ``folder`` (created on demand).

    The nearest existing ancestor decides. A folder without any write permission bit counts as
    read-only even for the superuser, who could write to it anyway.
    """
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & 0o222)


def save_arrays(paths: list[Path], arrays: dict[str, np.ndarray]) -> Path | None:
    """Write ``arrays`` to the first writable path; warn and return ``None`` if none is."""
    for path in paths:
        if not _writable(path.parent):
            continue
        try:
            atomic_write(path, lambda file: np.savez(file, **cast(dict[str, Any], arrays)))
        except OSError:
            continue
        return path
    warnings.warn(f"could not write a cache file to any of {[str(p) for p in paths]}", stacklevel=3)
    return None
