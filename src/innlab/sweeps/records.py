"""Trial records: one JSON file per finished trial, ``DIR/trials/<trial_id>.json``.

A record holds ``trial_id``, ``config_id``, the trial's resolved settings (``trial``), the
derived ``seeds``, ``status`` (``"ok"`` or ``"failed"`` for a diverged training) with ``error``,
``metrics`` (``None`` for a non-finite value; ``train_seconds`` and ``eval_seconds`` always,
seeds trained together sharing their training time equally),
the per-epoch ``train_loss``, ``trained_together`` (seeds trained as one batched model),
``samples`` (the first ``keep_samples`` generated points, when asked for),
``executor`` and ``finished`` (UTC, ISO 8601). Files are written atomically, so a sweep killed at
any moment leaves only complete records; a trial without a record is simply run again.

A damaged record (empty, truncated, not JSON, or without the fields above) counts as missing, with
a :class:`DamagedRecordWarning` naming the file: its trial runs again and the new record replaces
it. A file of another format or version is an error, not damage.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from innlab._atomic import atomic_write_text
from innlab.sweeps.trial import Trial, digest

__all__ = [
    "DamagedRecordWarning",
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
_FIELDS = {"trial_id": str, "config_id": str, "trial": dict, "status": str, "metrics": dict}
"""Fields every record has, and their JSON types."""


class DamagedRecordWarning(UserWarning):
    """A record file cannot be read; its trial counts as not finished."""


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
    """Ids of the trials that have a readable record in ``out_dir`` (see :func:`load_records`)."""
    return {record["trial_id"] for record in load_records(out_dir, missing_ok=True)}


def load_records(out_dir: str | Path, *, missing_ok: bool = False) -> list[dict[str, Any]]:
    """Every readable record in ``out_dir``, sorted by trial id; damaged ones are skipped with a
    :class:`DamagedRecordWarning` naming the file.

    Raises:
        FileNotFoundError: ``out_dir`` holds no ``trials`` folder (unless ``missing_ok``).
        ValueError: a file is a record of another format or version (the message names it).
    """
    folder = Path(out_dir) / TRIALS_DIR
    if not folder.is_dir():
        if missing_ok:
            return []
        raise FileNotFoundError(
            f"{str(out_dir)!r} holds no sweep records (no {TRIALS_DIR}/ folder)"
        )
    records = []
    for path in sorted(folder.glob("*.json")):
        record = _read(path)
        if record is not None:
            records.append(record)
    return records


def _read(path: Path) -> dict[str, Any] | None:
    """The record in ``path``; ``None`` (with a warning) when the file is damaged."""
    try:
        text = path.read_bytes()
        record = json.loads(text) if text else None
    except (OSError, ValueError) as err:  # ValueError: not JSON, or not UTF-8
        reason: str | None = str(err) or type(err).__name__
    else:
        reason = _defect(path, record)
    if reason is None:
        return record
    warnings.warn(
        f"sweep record {str(path)!r} is damaged ({reason}); its trial counts as not finished "
        "and runs again when the sweep is run",
        DamagedRecordWarning,
        stacklevel=3,
    )
    return None


def _defect(path: Path, record: Any) -> str | None:
    """What makes ``record``, read from ``path``, unusable (``None``: nothing).

    Raises:
        ValueError: it is a record of another format or version.
    """
    if not isinstance(record, dict):
        return "empty file" if record is None else "not a JSON object"
    if record.get("format") != RECORD_FORMAT:
        raise ValueError(f"{str(path)!r} is not an innlab sweep record")
    if record.get("version") != RECORD_VERSION:
        raise ValueError(
            f"sweep record {str(path)!r} has version {record.get('version')!r}; "
            f"this innlab reads version {RECORD_VERSION}"
        )
    for key, kind in _FIELDS.items():
        if not isinstance(record.get(key), kind):
            return f"field {key!r} missing or malformed"
    if not record["trial_id"] == path.stem == digest(record["trial"]):
        return "its trial settings do not match its file name"
    return None
