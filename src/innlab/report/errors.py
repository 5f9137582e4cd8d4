"""Errors of the report builder (kept apart so the CLI can import them cheaply)."""

__all__ = ["ReportError"]


class ReportError(RuntimeError):
    """The report could not be built: a notebook cell failed (the partly executed notebook is
    kept for inspection), or a file of the output folder is damaged."""
