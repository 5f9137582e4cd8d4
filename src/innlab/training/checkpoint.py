"""Resumable training checkpoints: what they hold and when a resume may use one.

A checkpoint belongs to one run: the flow's architecture (its spec), the training options and
seed, and the training data (a SHA-256 of the tensors). Resuming with anything else is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from innlab.flows.base import Flow
from innlab.flows.io import CheckpointError, atomic_save, digest, flow_spec, safe_load
from innlab.training.options import TrainingOptions

__all__ = ["checkpoint_seed", "read_checkpoint", "run_identity", "write_checkpoint"]

FORMAT = "innlab.training"
VERSION = 3  # 2: one flat parameter in the optimizer state; 3: flow spec, data hash, checksum


def run_identity(
    options: TrainingOptions, seed: int, x: Tensor, c: Tensor | None
) -> dict[str, Any]:
    """The settings a checkpoint must match to be resumed: options, seed and the data."""
    return {**options.to_dict(), "seed": seed, "n": x.shape[0], "data": digest([x, c])}


def checkpoint_seed(path: Path) -> int | None:
    """The shuffling seed an interrupted run recorded in ``path``."""
    settings = safe_load(path, map_location="cpu").get("settings")
    return settings.get("seed") if isinstance(settings, dict) else None


def write_checkpoint(
    path: Path, model: Flow, settings: dict[str, Any], state: dict[str, Any]
) -> None:
    """Write the run's ``state`` (weights, optimizer, generator, history, ...) atomically."""
    atomic_save(
        {
            "format": FORMAT,
            "version": VERSION,
            "spec": flow_spec(model),
            "settings": settings,
            **state,
        },
        path,
    )


def read_checkpoint(path: Path, model: Flow, settings: dict[str, Any]) -> dict[str, Any]:
    """The state in ``path`` if it was written for ``model`` with ``settings``, else raise
    :class:`~innlab.CheckpointError` naming what differs."""
    state = safe_load(path, map_location=model.device)
    source = f"training checkpoint {str(path)!r}"
    if state.get("format") != FORMAT or state.get("version") != VERSION:
        raise CheckpointError(
            f"{source} is not an innlab training checkpoint of version {VERSION} "
            f"(format {state.get('format')!r}, version {state.get('version')!r})"
        )
    if state.get("spec") != flow_spec(model):
        raise CheckpointError(
            f"{source} belongs to a model {state.get('spec')!r}, not {flow_spec(model)!r}"
        )
    saved = state.get("settings")
    saved = saved if isinstance(saved, dict) else {}
    differ = sorted(k for k in {*saved, *settings} if saved.get(k) != settings.get(k))
    if differ:
        detail = "; ".join(f"{k}: {saved.get(k)!r} then, {settings.get(k)!r} now" for k in differ)
        raise CheckpointError(
            f"{source} was written by another run; resuming needs the same training data, "
            f"options and seed ({detail})"
        )
    return state


def copy_state(model: Flow) -> dict[str, Tensor]:
    """A detached copy of ``model``'s state dict."""
    with torch.no_grad():
        return {k: v.detach().clone() for k, v in model.state_dict().items()}
