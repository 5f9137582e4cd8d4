"""Saving and loading flows safely: atomic writes, checksums, no code execution on load.

A model file holds a dict: ``format``, ``version``, the flow's ``spec`` (which registered classes
with which constructor arguments), its ``dtype``, its CPU ``state`` and a SHA-256 checksum of
all of that. Any :class:`~innlab.flows.Flow` built from registered classes (innlab's own, or
yours after :func:`register`) can be saved. Files of innlab 0.1 (``RealNVP.save``, format
``innlab.RealNVP`` version 1) are converted when loaded.
"""

from __future__ import annotations

import hashlib
import inspect
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

import torch
from torch import Tensor, nn

from innlab._atomic import atomic_write
from innlab.flows.base import Flow, Transform
from innlab.flows.coupling import AffineCoupling
from innlab.flows.distributions import StandardNormal
from innlab.flows.mixing import FixedPermutation, FixedRotation
from innlab.flows.realnvp import RealNVP

__all__ = [
    "CheckpointError",
    "atomic_save",
    "build_flow",
    "flow_spec",
    "load_model",
    "model_from_payload",
    "model_payload",
    "register",
    "safe_load",
    "save_model",
]

FORMAT = "innlab.flow"
VERSION = 2
_CHECKSUM = "sha256"
_LEGACY_FORMAT = "innlab.RealNVP"  # innlab 0.1: RealNVP only, no checksum

_M = TypeVar("_M", bound=type[nn.Module])
_REGISTRY: dict[str, type[nn.Module]] = {}


class CheckpointError(ValueError):
    """A checkpoint file is missing, damaged, or does not fit this version of innlab."""


def register(cls: _M) -> _M:
    """Make a :class:`Flow` subclass, :class:`Transform` or base distribution savable.

    The class needs a ``config`` property whose dict rebuilds its architecture as
    ``cls(**config)`` (transforms may also take a ``generator`` argument, which loading fills
    with a throwaway one: the saved state then replaces whatever was drawn). Usable as a
    decorator; names must be unique.
    """
    known = _REGISTRY.get(cls.__name__)
    if known is not None and known is not cls:
        raise ValueError(f"another class named {cls.__name__!r} is registered already")
    _REGISTRY[cls.__name__] = cls
    return cls


for _cls in (Flow, RealNVP, AffineCoupling, FixedRotation, FixedPermutation, StandardNormal):
    register(_cls)


# ---------------------------------------------------------------------- files and checksums
def digest(obj: Any) -> str:
    """SHA-256 (hex) of a nest of dicts, lists, tensors and scalars, independent of the file
    layout: a changed value, key, dtype or shape changes it."""
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def _feed(h: Any, obj: Any) -> None:
    if isinstance(obj, Tensor):
        flat = obj.detach().cpu().contiguous().reshape(-1)
        h.update(f"T{obj.dtype}{tuple(obj.shape)}".encode())
        h.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    elif isinstance(obj, Mapping):
        h.update(f"D{len(obj)}".encode())
        for key in sorted(obj, key=repr):
            _feed(h, key)
            _feed(h, obj[key])
    elif isinstance(obj, (list, tuple)):
        h.update(f"L{len(obj)}".encode())
        for item in obj:
            _feed(h, item)
    else:
        h.update(f"S{type(obj).__name__}:{obj!r};".encode())


def atomic_save(obj: dict[str, Any], path: str | Path) -> None:
    """``torch.save`` ``obj`` with a checksum to a temporary file in the same folder, then
    rename over ``path``: a crash mid-write leaves the previous file intact."""
    payload = {**obj, _CHECKSUM: digest(obj)}
    atomic_write(path, lambda file: torch.save(payload, file))


def safe_load(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a dict written by :func:`atomic_save` with ``weights_only=True`` and verify its
    checksum (only innlab 0.1's model files, which have none, load unverified).

    Raises:
        CheckpointError: the file is missing, truncated, damaged or not an innlab file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        with warnings.catch_warnings():  # torch warns about what it finds in damaged files
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any parse failure means a damaged file
        text = str(err).strip()
        first = text.splitlines()[0] if text else type(err).__name__
        if first.startswith("Weights only load failed"):  # torch's advice would run code
            first = "it holds objects that a safe load refuses to unpickle"
        raise CheckpointError(
            f"cannot read checkpoint {str(path)!r}: the file is truncated, corrupted or not a "
            f"safe innlab checkpoint ({first})"
        ) from err
    if not isinstance(obj, dict):
        raise CheckpointError(f"checkpoint {str(path)!r} does not hold an innlab dict")
    if _CHECKSUM not in obj:
        if obj.get("format") == _LEGACY_FORMAT:
            return obj
        raise CheckpointError(
            f"checkpoint {str(path)!r} has no checksum: it is damaged or was written by an "
            "older innlab (delete it, or rerun with --force, to start over)"
        )
    if obj.pop(_CHECKSUM) != digest(obj):
        raise CheckpointError(
            f"checkpoint {str(path)!r} is damaged: its contents do not match their checksum"
        )
    return obj


# ---------------------------------------------------------------------- flows
def flow_spec(model: Flow) -> dict[str, Any]:
    """The JSON-able description :func:`build_flow` rebuilds ``model``'s architecture from."""
    if type(model) is not Flow:  # a flow class with its own constructor arguments (RealNVP)
        return _module_spec(model)
    return {
        "class": "Flow",
        "condition_size": model.condition_size,
        "base": _module_spec(cast(nn.Module, model.base)),
        "transforms": [_module_spec(t) for t in model.layers],
    }


def _module_spec(module: nn.Module) -> dict[str, Any]:
    name = type(module).__name__
    if _REGISTRY.get(name) is not type(module):
        raise TypeError(
            f"{name} is not registered for saving; decorate it with innlab.flows.io.register "
            "and give it a config property"
        )
    return {"class": name, "config": dict(cast(Transform, module).config)}


def build_flow(spec: Mapping[str, Any]) -> Flow:
    """A new flow of the architecture ``spec`` (from :func:`flow_spec`) with fresh weights."""
    cls = _registered(spec.get("class"))
    if cls is not Flow:
        model = cls(**spec["config"])
        if not isinstance(model, Flow):
            raise TypeError(f"{cls.__name__} is not a Flow")
        return model
    transforms = [_build_module(part) for part in spec["transforms"]]
    base = _build_module(spec["base"])
    return Flow(transforms, base, condition_size=spec["condition_size"])  # type: ignore[arg-type]


def _registered(name: Any) -> type[nn.Module]:
    cls = _REGISTRY.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown flow class {name!r}; registered: {sorted(_REGISTRY)}")
    return cls


def _build_module(spec: Mapping[str, Any]) -> nn.Module:
    cls = _registered(spec.get("class"))
    config = dict(spec["config"])
    if issubclass(cls, Transform) and "generator" in inspect.signature(cls).parameters:
        config["generator"] = torch.Generator()  # never touch the global generator
    return cls(**config)


def model_payload(model: Flow) -> dict[str, Any]:
    """The dict :func:`save_model` writes: format, version, spec, dtype and CPU state."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return {
        "format": FORMAT,
        "version": VERSION,
        "spec": flow_spec(model),
        "dtype": str(model.dtype).removeprefix("torch."),
        "state": state,
    }


def save_model(model: Flow, path: str | Path) -> None:
    """Write ``model``'s architecture, weights and buffers to ``path`` atomically."""
    if not isinstance(model, Flow):
        raise TypeError(f"model must be an innlab.flows.Flow, got {type(model).__name__}")
    atomic_save(model_payload(model), path)


def model_from_payload(payload: Any, source: str) -> Flow:
    """Rebuild a flow from the dict that :func:`model_payload` makes (or innlab 0.1's).

    Raises:
        CheckpointError: the payload is not a model of a format this innlab reads.
    """
    if isinstance(payload, dict) and payload.get("format") == _LEGACY_FORMAT:
        payload = _convert_legacy(payload, source)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{source} is not an innlab model (format {found!r})")
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"{source} was written by model format version {payload.get('version')!r}; "
            f"this innlab reads version {VERSION} (and converts innlab 0.1's files)"
        )
    spec = payload.get("spec")
    try:
        model = build_flow(spec).to(getattr(torch, payload["dtype"]))  # type: ignore[arg-type]
        model.load_state_dict(payload["state"])
    except Exception as err:  # noqa: BLE001 - any mismatch means an unusable file
        raise CheckpointError(f"{source} holds an unusable model {spec!r}: {err}") from err
    return model.eval()


def _convert_legacy(payload: dict[str, Any], source: str) -> dict[str, Any]:
    """innlab 0.1's ``RealNVP`` file (couplings ``blocks.i.*``, stacked ``rotations``) in the
    current layout (transforms alternate coupling, rotation)."""
    if payload.get("version") != 1:
        raise CheckpointError(
            f"{source} has an unknown version {payload.get('version')!r} of format "
            f"{_LEGACY_FORMAT!r}; innlab 0.1 wrote version 1"
        )
    try:
        config = {**payload["config"], "scale": "exp_tanh", "mixing": "rotation"}
        state: dict[str, Tensor] = {}
        for key, value in payload["state"].items():
            if key == "rotations":
                state.update({f"transforms.{2 * i + 1}.matrix": q for i, q in enumerate(value)})
            else:
                _, block, name = key.split(".")
                state[f"transforms.{2 * int(block)}.{name}"] = value
        dtype = config["dtype"]
    except Exception as err:  # noqa: BLE001
        raise CheckpointError(f"{source} is a damaged innlab 0.1 model file: {err}") from err
    spec = {"class": "RealNVP", "config": config}
    return {"format": FORMAT, "version": VERSION, "spec": spec, "dtype": dtype, "state": state}


def load_model(path: str | Path, map_location: Any = "cpu") -> Flow:
    """Load a flow written by :func:`save_model` onto ``map_location``, in its saved dtype."""
    payload = safe_load(path, map_location="cpu")
    return model_from_payload(payload, f"checkpoint {str(path)!r}").to(map_location)
