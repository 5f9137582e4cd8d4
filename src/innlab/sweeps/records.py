"""Trial records: one JSON file per finished trial, ``DIR/trials/<trial_id>.json``.

A record holds ``trial_id``, ``config_id``, the trial's resolved settings (``trial``), the
derived ``seeds``, ``status`` (``"ok"`` or ``"failed"`` for a diverged training) with ``error``,
``metrics`` (``None`` for a non-finite value; ``train_seconds`` and ``eval_seconds`` always,
seeds trained together sharing their training time equally),
the per-epoch ``train_loss``, ``trained_together`` (seeds trained as one batched model),
``samples`` (the first ``keep_samples`` generated points, when asked for),
``executor`` and ``finished`` (UTC, ISO 8601). Files are written atomically, so a sweep killed at
any moment leaves only complete records; a trial without a record is simply run again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from innlab._atomic import atomic_write_text
from innlab.sweeps.trial import Trial

__all__ = [
    "RECORD_FORMAT",
    "RECORD_VERSION",
    "finished_ids",
    "load_records",
    "new_record",
    "write_record",
]

RECORD_FORMAT = "innlab.sweep.trial"
RECORD_VERSION = 1
TRIALS_DIR = "trials"


def new_record(trial: Trial, **fields: Any) -> dict[str, Any]:
    """The identifying part of ``trial``'s record, plus ``fields``."""
    return {
        "format": RECORD_FORMAT,
        "version": RECORD_VERSION,
        "trial_id": trial.id,
        "config_id": trial.config_id,
        "trial": trial.to_dict(),
        "seeds": trial.seeds(),
        **fields,
    }


def write_record(out_dir: str | Path, record: Mapping[str, Any], executor: str) -> Path:
    """Stamp ``record`` with ``executor`` and the time and write it atomically; returns its path."""
    folder = Path(out_dir) / TRIALS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    stamped = {
        **record,
        "executor": executor,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    text = json.dumps(stamped, indent=1, sort_keys=True, allow_nan=False)
    path = folder / f"{record['trial_id']}.json"
    return atomic_write_text(path, text)


def finished_ids(out_dir: str | Path) -> set[str]:
    """Ids of the trials that have a record in ``out_dir``."""
    return {p.stem for p in (Path(out_dir) / TRIALS_DIR).glob("*.json")}


def load_records(out_dir: str | Path) -> list[dict[str, Any]]:
    """Every record in ``out_dir``, sorted by trial id.

    Raises:
        FileNotFoundError: ``out_dir`` holds no ``trials`` folder.
        ValueError: a file is not a trial record (the message names it).
    """
    folder = Path(out_dir) / TRIALS_DIR
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{str(out_dir)!r} holds no sweep records (no {TRIALS_DIR}/ folder)"
        )
    records = []
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"cannot read sweep record {str(path)!r}: {err}") from err
        if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
            raise ValueError(f"{str(path)!r} is not an innlab sweep record")
        if record.get("version") != RECORD_VERSION:
            raise ValueError(
                f"sweep record {str(path)!r} has version {record.get('version')!r}; "
                f"this innlab reads version {RECORD_VERSION}"
            )
        records.append(record)
    return records
