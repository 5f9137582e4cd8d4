"""Errors of the report builder (kept apart so the CLI can import them cheaply)."""

__all__ = ["ReportError"]


class ReportError(RuntimeError):
    """A notebook cell failed; the partly executed notebook is kept for inspection."""
