"""Saving and loading models safely: atomic writes, no code execution on load."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from innlab._atomic import atomic_write
from innlab.flows.realnvp import RealNVP

__all__ = [
    "CheckpointError",
    "atomic_save",
    "load_model",
    "model_from_payload",
    "model_payload",
    "safe_load",
    "save_model",
]

FORMAT = "innlab.RealNVP"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupted, or does not fit this version of innlab."""


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``.

    A crash mid-write leaves the previous file intact, never a truncated one.
    """
    atomic_write(path, lambda file: torch.save(obj, file))


def safe_load(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a dict written by :func:`atomic_save` with ``weights_only=True``.

    Raises:
        CheckpointError: the file is missing, truncated, corrupted or holds pickled code.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"cannot read checkpoint {str(path)!r}: the file is truncated, corrupted or not a "
            f"safe innlab checkpoint ({first})"
        ) from err
    if not isinstance(obj, dict):
        raise CheckpointError(f"checkpoint {str(path)!r} does not hold an innlab dict")
    return obj


def model_payload(model: RealNVP) -> dict[str, Any]:
    """The dict :func:`save_model` writes: format, version, config and CPU state."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return {"format": FORMAT, "version": VERSION, "config": model.config, "state": state}


def save_model(model: RealNVP, path: str | Path) -> None:
    """Write ``model``'s constructor arguments, weights and rotations to ``path`` atomically."""
    atomic_save(model_payload(model), path)


def model_from_payload(payload: dict[str, Any], source: str) -> RealNVP:
    """Rebuild a :class:`RealNVP` from the dict that :func:`save_model` writes."""
    if payload.get("format") != FORMAT:
        raise CheckpointError(f"{source} is not an innlab model (format {payload.get('format')!r})")
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"{source} was written by checkpoint version {payload.get('version')!r}; "
            f"this innlab reads version {VERSION}"
        )
    config = payload.get("config")
    try:
        model = RealNVP(**config)  # type: ignore[arg-type]
    except (TypeError, ValueError) as err:
        raise CheckpointError(
            f"{source} has an incompatible model config {config!r}: {err}"
        ) from err
    state = payload.get("state")
    try:
        model.load_state_dict(state)  # type: ignore[arg-type]
    except (RuntimeError, TypeError, AttributeError) as err:
        raise CheckpointError(f"{source} does not match its config {config!r}: {err}") from err
    return model


def load_model(path: str | Path, map_location: Any = "cpu") -> RealNVP:
    """Load a model written by :func:`save_model` onto ``map_location``, in its saved dtype."""
    payload = safe_load(path, map_location="cpu")
    return model_from_payload(payload, f"checkpoint {str(path)!r}").to(map_location)
