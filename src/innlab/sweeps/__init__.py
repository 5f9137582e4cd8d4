"""Hyperparameter sweeps: TOML configs, resumable trial records, local and Ray executors,
vectorised seeds and summaries.

Typical use, e.g. from the report notebook::

    from innlab.sweeps import run_sweep, summarize, format_table, plot_summary

    records = run_sweep("examples/moons-hparams.toml", "sweeps/moons-hparams", workers=2)
    rows = summarize(records)
    print(format_table(rows))
    figures = plot_summary(rows)          # {metric: matplotlib Figure}
"""

from innlab.sweeps.config import METRICS, PARAM_DEFAULTS, SweepConfig, SweepConfigError, load_config
from innlab.sweeps.records import load_records
from innlab.sweeps.runner import run_sweep
from innlab.sweeps.summary import SummaryRow, format_table, plot_summary, summarize, write_plots
from innlab.sweeps.trial import Trial
from innlab.sweeps.vectorized import NotVectorizableError, train_inn_vectorized

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
