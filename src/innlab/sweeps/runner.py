"""Running a sweep: skip the trials that already have records, execute the rest, write records."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from innlab._validation import check_choice, check_positive_int
from innlab.sweeps.config import EXECUTORS, SweepConfig, load_config
from innlab.sweeps.executors import run_local, run_ray
from innlab.sweeps.records import finished_ids, load_records, write_record
from innlab.sweeps.task import make_tasks

__all__ = ["run_sweep"]


def run_sweep(
    config: SweepConfig | str | Path | Mapping[str, Any],
    out_dir: str | Path,
    *,
    workers: int = 1,
    executor: str = "local",
    address: str | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Run every trial of ``config`` that has no record in ``out_dir`` yet.

    Each finished trial is written at once to ``out_dir/trials/<trial_id>.json`` (atomically),
    so re-running the same call after an interruption runs only the missing trials.

    Args:
        config: a :class:`SweepConfig`, a TOML path, or a dict of the TOML's shape.
        out_dir: folder of the records (created if needed).
        workers: trials (or vectorised groups of seeds) run at the same time.
        executor: ``"local"`` (worker processes on this machine) or ``"ray"`` (Ray Tune).
        address: Ray cluster to connect to (``executor="ray"`` only); ``None`` starts a local one.
        progress: print a line per finished trial to stderr.

    Returns:
        The records of ``config``'s trials, in the order of :meth:`SweepConfig.trials`.
    """
    if not isinstance(config, SweepConfig):
        config = load_config(config)
    workers = check_positive_int(workers, "workers")
    check_choice(executor, "executor", EXECUTORS)
    if address is not None and executor != "ray":
        raise ValueError(f"address is only used by the ray executor, got executor={executor!r}")
    trials = config.trials()
    done = finished_ids(out_dir)
    pending = [t for t in trials if t.id not in done]
    finished = len(trials) - len(pending)
    if progress:
        _log(f"sweep {config.name!r}: {len(trials)} trials, {finished} already done")

    def on_done(records: list[dict[str, Any]]) -> None:
        nonlocal finished
        for record in records:
            write_record(out_dir, record, executor)
            finished += 1
            if progress:
                _log(f"[{finished}/{len(trials)}] {_describe(record)}")

    tasks = make_tasks(pending, config.vectorize)
    if tasks and executor == "local":
        run_local(tasks, workers, on_done)
    elif tasks:
        run_ray(tasks, workers, address, on_done)
    by_id = {r["trial_id"]: r for r in load_records(out_dir)}
    return [by_id[t.id] for t in trials]


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _describe(record: Mapping[str, Any]) -> str:
    trial = record["trial"]
    if record["status"] != "ok":
        return f"{record['trial_id']} seed {trial['seed']}: failed ({record['error']})"
    shown = {k: v for k, v in record["metrics"].items() if k in ("test_nll", "nll_gap", "mmd")}
    scores = " ".join(f"{k}={v:.4g}" if v is not None else f"{k}=nan" for k, v in shown.items())
    seconds = record["metrics"]["train_seconds"]
    return f"{record['trial_id']} seed {trial['seed']}: {scores} ({seconds:.1f} s)"
