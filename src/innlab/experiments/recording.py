"""results.json: every measured number of a report, rounded once so that text and file agree."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from innlab._atomic import atomic_write_text

__all__ = ["Results", "rounded"]

SIGNIFICANT_DIGITS = 4


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


class Results:
    """Collects the sections of a report and rewrites ``path`` (atomically) after each one."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.data: dict[str, Any] = {}

    def add(self, section: str, results: dict[str, Any]) -> dict[str, Any]:
        """Store ``results`` rounded under ``section``; return the rounded copy for the text."""
        self.data[section] = rounded(results)
        atomic_write_text(self.path, json.dumps(self.data, indent=2))
        return self.data[section]
