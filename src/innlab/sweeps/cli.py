"""The ``innlab sweep`` command.

    innlab sweep CONFIG [--out DIR] [--workers N] [--executor local|ray] [--address ADDR]
    innlab sweep summarize DIR

Running a sweep prints a line per finished trial, then the summary table, and writes the plots
to ``OUT/plots``; ``summarize`` does the same for the records already in ``DIR``. An interrupted
sweep (Ctrl-C, exit status 130) keeps its finished trials: the same command runs the rest. One
run at a time per records folder: a second fails at once (exit status 2) naming the first's pid.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from innlab._atomic import WriteError
from innlab._lock import FolderLockedError, claim_output
from innlab.sweeps.config import EXECUTORS, SweepConfig, SweepConfigError, load_config

__all__ = ["add_sweep_commands", "run_sweep_command"]

SUMMARIZE = "summarize"


def add_sweep_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``sweep`` subcommand to ``subparsers`` (from ``parser.add_subparsers()``).

    The new parser (returned) sets ``func=run_sweep_command``: call ``args.func(args)``.
    """
    parser = subparsers.add_parser(
        "sweep",
        help="run a hyperparameter sweep from a TOML file, or summarize one",
        description=(
            "Run every trial of a sweep (skipping those already recorded in --out), or "
            f"'{SUMMARIZE} DIR' to print the table and write the plots of finished records."
        ),
    )
    parser.add_argument(
        "target", metavar="CONFIG|summarize", help="sweep TOML file, or the word 'summarize'"
    )
    parser.add_argument("directory", nargs="?", metavar="DIR", help="records folder to summarize")
    parser.add_argument(
        "--out", type=Path, help="records folder (default: sweeps/<name of the sweep>)"
    )
    parser.add_argument("--workers", type=int, default=1, help="trials run at once (default 1)")
    parser.add_argument("--executor", choices=EXECUTORS, default="local", help="default: local")
    parser.add_argument("--address", help="Ray cluster address (with --executor ray)")
    parser.set_defaults(func=run_sweep_command)
    return parser


def run_sweep_command(args: argparse.Namespace) -> int:
    """Carry out ``innlab sweep``; returns the exit status (2 for a bad config or arguments, or
    a records folder that another run is writing, with the reason on stderr; 130 when
    interrupted)."""
    with ExitStack() as claim:  # a run holds its records folder until its plots are written
        return _run(args, claim)


def _run(args: argparse.Namespace, claim: ExitStack) -> int:
    """:func:`run_sweep_command`, holding the records folder of a run in ``claim``."""
    # imported here, not at the top, so that `innlab --help` does not load torch
    from innlab.sweeps.executors import prepare_worker
    from innlab.sweeps.records import load_records
    from innlab.sweeps.runner import run_sweep
    from innlab.sweeps.summary import format_table, plot_summary, summarize, write_plots

    config: SweepConfig | None = None
    try:
        config, out = _target(args)
        if config is None:
            records = load_records(out)
        else:
            claim.enter_context(claim_output(out))
            prepare_worker(threads=None)  # this process may train trials itself (--workers 1)
            records = run_sweep(
                config,
                out,
                workers=args.workers,
                executor=args.executor,
                address=args.address,
                progress=True,
            )
    except (ValueError, FileNotFoundError, ImportError, FolderLockedError, WriteError) as err:
        print(f"innlab sweep: error: {err}", file=sys.stderr)  # bad config, folder, options
        return 2
    except KeyboardInterrupt:
        kept = f"; finished trials are kept in {str(out)!r}: run the same command to run the rest"
        print(f"innlab sweep: interrupted{kept if config else ''}", file=sys.stderr)
        return 130
    rows = summarize(records)
    print(format_table(rows))
    paths = write_plots(plot_summary(rows), out / "plots")
    if paths:
        print(f"plots: {', '.join(str(p) for p in paths)}")
    return 0


def _target(args: argparse.Namespace) -> tuple[SweepConfig | None, Path]:
    """The sweep to run (``None`` for ``summarize``) and its records folder."""
    if args.target == SUMMARIZE:
        if args.directory is None:
            raise SweepConfigError(f"'innlab sweep {SUMMARIZE}' needs the records folder DIR")
        return None, Path(args.directory)
    if args.directory is not None:
        raise SweepConfigError(
            f"unexpected argument {args.directory!r}; give the records folder as --out"
        )
    config = load_config(args.target)
    return config, args.out if args.out is not None else Path("sweeps") / config.name
