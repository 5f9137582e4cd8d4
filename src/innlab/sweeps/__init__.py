"""Hyperparameter sweeps: TOML configs, resumable trial records, local and Ray executors,
vectorised seeds and summaries.

Typical use, e.g. from the report notebook::

    from innlab.sweeps import run_sweep, summarize, format_table, plot_summary

    records = run_sweep("examples/moons-hparams.toml", "sweeps/moons-hparams", workers=2)
    rows = summarize(records)
    print(format_table(rows))
    figures = plot_summary(rows)          # {metric: matplotlib Figure}

The names below load their modules on first use (see :mod:`innlab`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from innlab.sweeps.config import (
        METRICS,
        PARAM_DEFAULTS,
        SweepConfig,
        SweepConfigError,
        load_config,
    )
    from innlab.sweeps.records import load_records
    from innlab.sweeps.runner import run_sweep
    from innlab.sweeps.summary import (
        SummaryRow,
        format_table,
        plot_summary,
        summarize,
        write_plots,
    )
    from innlab.sweeps.trial import Trial
    from innlab.training.vectorized import NotVectorizableError, train_inn_vectorized

_HOMES = {
    "METRICS": "innlab.sweeps.config",
    "PARAM_DEFAULTS": "innlab.sweeps.config",
    "SweepConfig": "innlab.sweeps.config",
    "SweepConfigError": "innlab.sweeps.config",
    "load_config": "innlab.sweeps.config",
    "load_records": "innlab.sweeps.records",
    "run_sweep": "innlab.sweeps.runner",
    "SummaryRow": "innlab.sweeps.summary",
    "format_table": "innlab.sweeps.summary",
    "plot_summary": "innlab.sweeps.summary",
    "summarize": "innlab.sweeps.summary",
    "write_plots": "innlab.sweeps.summary",
    "Trial": "innlab.sweeps.trial",
    "NotVectorizableError": "innlab.training.vectorized",
    "train_inn_vectorized": "innlab.training.vectorized",
}

__all__ = [
    "METRICS",
    "PARAM_DEFAULTS",
    "NotVectorizableError",
    "SummaryRow",
    "SweepConfig",
    "SweepConfigError",
    "Trial",
    "format_table",
    "load_config",
    "load_records",
    "plot_summary",
    "run_sweep",
    "summarize",
    "train_inn_vectorized",
    "write_plots",
]


def __getattr__(name: str) -> Any:
    from innlab._lazy import load_attribute

    return load_attribute(__name__, _HOMES, name, globals())


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
