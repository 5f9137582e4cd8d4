"""Typed experiment results and results.json, where every number is rounded once so that the
report's text and the file agree."""

from __future__ import annotations

import json
import math
from dataclasses import Field, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from innlab._atomic import atomic_write_text

__all__ = [
    "ExperimentResult",
    "Results",
    "figures_field",
    "flat_field",
    "optional_field",
    "rounded",
]

SIGNIFICANT_DIGITS = 4

R = TypeVar("R", bound="ExperimentResult")


def rounded(value: Any, digits: int = SIGNIFICANT_DIGITS) -> Any:
    """``value`` with every float rounded to ``digits`` significant digits, numpy scalars and
    arrays turned into Python numbers and lists, tuples into lists (JSON-ready)."""
    if isinstance(value, dict):
        return {str(k): rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [rounded(v, digits) for v in list(value)]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value) or value == 0:
            return value
        return round(value, digits - 1 - math.floor(math.log10(abs(value))))
    return value


def figures_field() -> Any:
    """The ``figures`` field of a result: matplotlib figures by name, left out of ``to_dict``."""
    return field(default_factory=dict, compare=False, repr=False, metadata={"json": False})


def optional_field(*, flatten: bool = False) -> Any:
    """A field that only some runs of an experiment have (e.g. the hexagon's mode coverage):
    ``None`` leaves it out of ``to_dict``; see :func:`flat_field` for ``flatten``."""
    return field(default=None, metadata={"omit_none": True, "flatten": flatten})


def flat_field() -> Any:
    """A nested result whose keys ``to_dict`` merges into its parent's."""
    return field(metadata={"flatten": True})


@dataclass(frozen=True)
class ExperimentResult:
    """Base of the experiments' frozen result dataclasses.

    :meth:`to_dict` is the section of results.json: the fields in order, except figures and
    unset optional fields; nested results (and anything with ``to_dict``) become dicts (merged
    into this one for a :func:`flat_field`), tuples become lists. Subclasses override it where
    the file's layout differs from the fields'.
    """

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in _json_fields(self):
            value = getattr(self, f.name)
            if value is None and f.metadata.get("omit_none"):
                continue
            if f.metadata.get("flatten"):
                out.update(_plain(value))
            else:
                out[f.name] = _plain(value)
        return out

    def rounded(self: R) -> R:
        """A copy with every number rounded as in results.json (figures kept): the numbers that
        the report's text quotes."""
        return _rounded_copy(self)


def _json_fields(obj: Any) -> list[Field[Any]]:
    return [f for f in fields(obj) if f.metadata.get("json", True)]


def _plain(value: Any) -> Any:
    """``value`` with nested results as dicts and tuples as lists."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _rounded_copy(value: Any) -> Any:
    """:func:`rounded` that keeps dataclasses, tuples and dict keys as they are."""
    if is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _rounded_copy(getattr(value, f.name)) for f in _json_fields(value)}
        return replace(value, **changes)
    if isinstance(value, dict):
        return {k: _rounded_copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_rounded_copy(v) for v in value)
    return rounded(value)


class Results:
    """Collects the sections of a report and rewrites ``path`` (atomically) after each one."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.data: dict[str, Any] = {}

    def add(self, section: str, result: R) -> R:
        """Store ``result.to_dict()`` rounded under ``section``; return ``result.rounded()``,
        whose numbers are those of the file, for the text."""
        self.data[section] = rounded(result.to_dict())
        atomic_write_text(self.path, json.dumps(self.data, indent=2))
        return result.rounded()
