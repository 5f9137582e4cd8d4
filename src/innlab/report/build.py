"""Build the report: parameters in, executed notebook, HTML and results.json out."""

from __future__ import annotations

import json
import os
import zipfile
from importlib.resources import files
from pathlib import Path
from typing import Any

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter
from tqdm.auto import tqdm

from innlab._validation import check_choice, check_positive_int
from innlab.experiments.presets import PRESETS
from innlab.report.errors import ReportError

__all__ = ["REPORT_NAME", "build_report", "summary_lines"]

REPORT_NAME = "normalizing-flows"
SOURCE = "normalizing_flows.py"
MANIFEST = "report-manifest.json"


def _parameters(preset: str, out: Path, data_dir: str | None, force: bool, workers: int) -> str:
    return "\n".join(
        [
            f"PRESET = {preset!r}",
            f"OUT_DIR = {str(out.resolve())!r}",
            f"DATA_DIR = {data_dir!r}",
            f"FORCE = {force!r}",
            f"WORKERS = {workers!r}",
        ]
    )


def build_report(
    preset: str = "quick",
    out: str | Path = "report",
    *,
    data_dir: str | Path | None = None,
    force: bool = False,
    workers: int | None = None,
    make_zip: bool = False,
    progress: bool = True,
) -> dict[str, Path]:
    """Execute the report notebook and export it.

    Args:
        preset: ``"smoke"``, ``"quick"`` or ``"full"`` (see :mod:`innlab.experiments.presets`).
        out: output folder; trained models are cached in ``out/models`` and reused.
        data_dir: folder holding ``MNIST/raw`` (default: ``$INNLAB_DATA`` or ``./data``).
        force: retrain every model, and allow replacing a report of another preset in ``out``.
        workers: processes that train the toy models and run the hyperparameter sweep, one
            torch thread each (default: one per CPU core).
        make_zip: also pack notebook and HTML into ``normalizing-flows.zip``.

    Returns:
        Paths of ``notebook``, ``html``, ``results`` (and ``zip``).

    Raises:
        FileExistsError: ``out`` holds a report of another preset and ``force`` is false.
        ReportError: a cell failed (the partial notebook is written for inspection).
    """
    check_choice(preset, "preset", tuple(PRESETS))
    workers = check_positive_int(os.cpu_count() or 1 if workers is None else workers, "workers")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / MANIFEST
    if manifest.exists() and not force:
        previous = json.loads(manifest.read_text()).get("preset")
        if previous != preset:
            raise FileExistsError(
                f"{out} holds a report of preset {previous!r}; pass --force to replace it with "
                f"preset {preset!r}, or choose another --out"
            )
    manifest.write_text(json.dumps({"preset": preset}))

    notebook = jupytext.reads(files("innlab.report").joinpath(SOURCE).read_text(), fmt="py:percent")
    for cell in notebook.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            cell.source = _parameters(
                preset, out, None if data_dir is None else str(data_dir), force, workers
            )
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    paths = {
        "notebook": out / f"{REPORT_NAME}.ipynb",
        "html": out / f"{REPORT_NAME}.html",
        "results": out / "results.json",
    }
    code_cells = sum(cell.cell_type == "code" for cell in notebook.cells)
    bar = tqdm(total=code_cells, desc=f"report ({preset})", unit="cell", disable=not progress)
    client = NotebookClient(
        notebook,
        timeout=None,
        kernel_name="python3",
        resources={"metadata": {"path": str(out.resolve())}},
        on_cell_executed=lambda **_: bar.update(1),
    )
    try:
        client.execute()
    except CellExecutionError as err:
        nbformat.write(notebook, paths["notebook"])
        raise ReportError(
            f"a report cell failed with {err.ename}: {err.evalue} - the partly executed "
            f"notebook is {paths['notebook']}"
        ) from err
    finally:
        bar.close()
    nbformat.write(notebook, paths["notebook"])
    html, _ = HTMLExporter().from_notebook_node(notebook)
    paths["html"].write_text(html, encoding="utf-8")
    if make_zip:
        paths["zip"] = out / f"{REPORT_NAME}.zip"
        with zipfile.ZipFile(paths["zip"], "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(paths["notebook"], paths["notebook"].name)
            archive.write(paths["html"], paths["html"].name)
    return paths


def summary_lines(results: dict[str, Any]) -> list[str]:
    """A short text table of the headline numbers in ``results.json``."""
    rows: list[tuple[str, Any]] = []
    for section, keys in (
        ("moons", ("nll_gap", "mmd", "null_q95", "mmd_below_null_q95")),
        ("hexagon", ("nll_gap", "max_mode_share_error", "far_share")),
        ("conditional_hexagon_component", ("oracle_accuracy",)),
        ("conditional_hexagon_two", ("oracle_accuracy",)),
        ("digits", ("test_bits_per_dim", "best_val_bits_per_dim")),
        ("mnist", ("test_bits_per_dim",)),
    ):
        for key in keys:
            if key in results.get(section, {}):
                rows.append((f"{section}.{key}", results[section][key]))
    for name in ("digits", "mnist"):
        for temperature, scores in (
            results.get(f"conditional_{name}", {}).get("temperatures", {}).items()
        ):
            rows.append((f"conditional_{name}.accuracy@T={temperature}", scores["accuracy"]))
    width = max((len(k) for k, _ in rows), default=10)
    return [f"{k:<{width}}  {v}" for k, v in rows]
