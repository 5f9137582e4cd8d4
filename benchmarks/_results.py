"""What every benchmark's JSON records about the machine, and writing that JSON."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import torch

__all__ = ["machine_info", "write_result"]


def machine_info() -> dict[str, Any]:
    """Python and torch versions, platform, CPU count and the load average right now."""
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }


def write_result(result: dict[str, Any], out: Path) -> None:
    """Write ``result`` as indented JSON to ``out`` (creating its folder) and say so."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
