"""Lazy package attributes (PEP 562): a package maps its public names to the modules that
define them, and a module is imported only when one of its names is first used."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, MutableMapping
from typing import Any

__all__ = ["load_attribute"]


def load_attribute(
    package: str, homes: Mapping[str, str], name: str, namespace: MutableMapping[str, Any]
) -> Any:
    """Import the module ``homes[name]``, store its attribute ``name`` in the package's
    ``namespace`` (so later lookups skip this function) and return it."""
    home = homes.get(name)
    if home is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    namespace[name] = value
    return value
