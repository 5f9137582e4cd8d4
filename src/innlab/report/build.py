"""Build the report: parameters in, executed notebook, HTML and results.json out.

One run at a time per output folder (:func:`innlab._lock.claim_output`); its outputs appear
together, all of one run, or not at all.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from importlib.resources import files
from pathlib import Path
from typing import IO, Any

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter
from traitlets.config import Config

from innlab._atomic import WriteError, atomic_write, atomic_write_text
from innlab._lock import claim_output
from innlab._validation import check_choice, check_positive_int
from innlab.experiments.presets import PRESETS
from innlab.report._progress import ProgressBars, following
from innlab.report.errors import ReportError

__all__ = ["REPORT_NAME", "build_report", "summary_lines"]

REPORT_NAME = "normalizing-flows"
SOURCE = "normalizing_flows.py"
MANIFEST = "report-manifest.json"
STAGE = ".report-staging"
"""Where a run writes notebook, HTML, results.json and zip; they move to ``out`` together once
every cell has run, so that ``out`` always holds one complete report (or none)."""
FAILED = "failed-run"
"""Where the outputs of a run with a failing cell are kept for inspection."""
PROGRESS = "progress.jsonl"
"""The stage's file of training events, which the kernel writes and the terminal shows."""
HIDDEN = "remove_input"
"""The tag of the notebook's cells whose code the HTML leaves out (their outputs stay)."""


def _parameters(
    preset: str,
    out: Path,
    data_dir: str | None,
    force: bool,
    workers: int,
    progress_file: Path | None = None,
) -> str:
    return "\n".join(
        [
            f"PRESET = {preset!r}",
            f"OUT_DIR = {str(out.resolve())!r}",
            f"DATA_DIR = {data_dir!r}",
            f"FORCE = {force!r}",
            f"WORKERS = {workers!r}",
            f"PROGRESS_FILE = {None if progress_file is None else str(progress_file.resolve())!r}",
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

    The outputs are written to ``out/.report-staging`` and moved into ``out`` together once every
    cell has run: a failed, interrupted or killed run leaves the previous report as it was.

    Args:
        preset: ``"smoke"``, ``"quick"`` or ``"full"`` (see :mod:`innlab.experiments.presets`).
        out: output folder; trained models are cached in ``out/models`` and reused.
        data_dir: folder holding ``MNIST/raw`` (default: ``$INNLAB_DATA`` or ``./data``).
        force: retrain every model, and allow replacing a report of another preset in ``out``.
        workers: processes that train every model of the report and run the hyperparameter
            sweep and the ablation, one torch thread each (default: one per CPU core).
        make_zip: also pack notebook and HTML into ``normalizing-flows.zip`` (without it, a zip
            of an earlier report is removed).
        progress: show on stderr which section runs and a bar per model in training (the
            kernel reports its training through ``progress.jsonl`` in the staging folder).

    Returns:
        Paths of ``notebook``, ``html``, ``results`` (and ``zip``).

    Raises:
        FileExistsError: ``out`` holds a report of another preset and ``force`` is false.
        ReportError: a cell failed (its outputs are kept in ``out/failed-run``), or
            ``report-manifest.json`` is damaged.
        FolderLockedError: another process is writing ``out``.
        WriteError: ``out`` or a file in it cannot be written.
    """
    check_choice(preset, "preset", tuple(PRESETS))
    workers = check_positive_int(os.cpu_count() or 1 if workers is None else workers, "workers")
    out = Path(out)
    with claim_output(out):
        _check_manifest(out, preset, force)
        atomic_write_text(out / MANIFEST, json.dumps({"preset": preset}))
        stage = _fresh_stage(out)
        events = stage / PROGRESS if progress else None
        data = None if data_dir is None else str(data_dir)
        notebook = _notebook(_parameters(preset, stage, data, force, workers, events))
        _execute(notebook, out, stage, f"report ({preset})", events)
        return _publish(_export(notebook, stage, make_zip), out)


def _check_manifest(out: Path, preset: str, force: bool) -> None:
    """Refuse (without ``force``) a folder whose models belong to another preset."""
    manifest = out / MANIFEST
    if force or not manifest.exists():
        return
    try:
        previous = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # unreadable, not UTF-8, not JSON
        previous = None
    if not isinstance(previous, dict) or not isinstance(previous.get("preset"), str):
        raise ReportError(
            f"{manifest} is damaged (not a JSON object naming a preset); pass --force to rebuild "
            "the report and retrain every model, or delete the file to keep the cached models"
        )
    if previous["preset"] != preset:
        raise FileExistsError(
            f"{out} holds a report of preset {previous['preset']!r}; pass --force to replace it "
            f"with preset {preset!r}, or choose another --out"
        )


def _fresh_stage(out: Path) -> Path:
    """An empty ``out/.report-staging`` (a killed run's is discarded, its new caches kept) that
    links every folder of ``out``: the notebook's caches (``models``, ``sweep``, ...) stay in
    ``out``, shared by every run; only its results.json lands in the stage."""
    stage = out / STAGE
    try:
        if stage.exists():
            _adopt_caches(stage, out)
            shutil.rmtree(stage)  # removes the links, not the folders they point to
        stage.mkdir()
        for folder in out.iterdir():
            if folder.is_dir() and not folder.name.startswith(".") and folder.name != FAILED:
                (stage / folder.name).symlink_to(Path("..") / folder.name)
    except OSError as err:
        raise WriteError.of(stage, err, "prepare the staging folder") from err
    return stage


def _adopt_caches(stage: Path, out: Path) -> None:
    """Move the folders that the notebook created in ``stage`` (new caches) into ``out``, and
    remove the stage's links, leaving only the run's own files there."""
    for path in stage.iterdir():
        if path.is_symlink():
            path.unlink()
        elif path.is_dir() and not (out / path.name).exists():
            os.replace(path, out / path.name)


def _source() -> str:
    """The report notebook's source (jupytext percent format)."""
    return files("innlab.report").joinpath(SOURCE).read_text(encoding="utf-8")


def _notebook(parameters: str) -> nbformat.NotebookNode:
    """The report notebook with ``parameters`` as its parameters cell."""
    notebook = jupytext.reads(_source(), fmt="py:percent")
    for cell in notebook.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            cell.source = parameters
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return notebook


def _execute(
    notebook: nbformat.NotebookNode, out: Path, stage: Path, desc: str, events: Path | None
) -> None:
    """Run every cell with ``out`` as working folder, showing the running section and the
    training events of ``events`` (``None``: silent); a failing cell raises
    :class:`ReportError` after the stage has moved to ``out/failed-run``."""
    titles = _section_titles(notebook)
    bars = ProgressBars(len(titles), desc, enabled=events is not None)
    try:
        with _kernel_config() as config:
            client = NotebookClient(
                notebook,
                config=config,
                timeout=None,
                kernel_name="python3",
                resources={"metadata": {"path": str(out.resolve())}},
                on_cell_execute=lambda cell_index, **_: bars.section(titles[cell_index]),
                on_cell_executed=lambda **_: bars.cell_done(),
            )
            with nullcontext() if events is None else following(events, bars.handle):
                client.execute()
    except CellExecutionError as err:
        bars.close()
        reason = (str(err.evalue).strip().splitlines() or [""])[0]
        kept = _keep_failed(notebook, out, stage)
        raise ReportError(f"a report cell failed with {err.ename}: {reason} - {kept}") from err
    finally:
        bars.close()


def _section_titles(notebook: nbformat.NotebookNode) -> dict[int, str]:
    """The title of the section (the last ``##`` heading before it) of every code cell, by
    the cell's index."""
    titles, title = {}, "setup"
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            heading = re.search(r"^## +(.+)$", cell.source, re.M)
            title = heading.group(1).strip() if heading else title
        elif cell.cell_type == "code":
            titles[index] = title
    return titles


@contextmanager
def _kernel_config() -> Iterator[Config]:
    """The configuration of the report's kernel manager. On Unix-like systems the kernel talks
    over sockets in a private temporary folder: over TCP (on Windows) ipykernel warns on the
    terminal that its traffic is not encrypted."""
    config = Config()
    if os.name != "posix":
        yield config
        return
    with tempfile.TemporaryDirectory(prefix="innlab-kernel-") as folder:
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = os.path.join(folder, "kernel")
        yield config


def _keep_failed(notebook: nbformat.NotebookNode, out: Path, stage: Path) -> str:
    """Move the stage of a failed run (with its partly executed notebook) to ``out/failed-run``;
    say where it is."""
    failed = out / FAILED
    try:
        _adopt_caches(stage, out)
        atomic_write_text(stage / f"{REPORT_NAME}.ipynb", nbformat.writes(notebook))
        if failed.exists():
            shutil.rmtree(failed)
        os.replace(stage, failed)
    except OSError as err:
        return f"the partly executed notebook could not be kept ({err}); {out} is unchanged"
    return (
        f"the partly executed notebook and its results are in {failed}; the report in {out} "
        "is unchanged"
    )


def _export(notebook: nbformat.NotebookNode, stage: Path, make_zip: bool) -> dict[str, Path]:
    """Write notebook, HTML (and zip) beside the notebook's results.json in the stage."""
    paths = {
        "notebook": stage / f"{REPORT_NAME}.ipynb",
        "html": stage / f"{REPORT_NAME}.html",
        "results": stage / "results.json",
    }
    if not paths["results"].is_file():
        raise ReportError(f"the report notebook wrote no results.json to {stage}")
    atomic_write_text(paths["notebook"], nbformat.writes(notebook))
    html, _ = _exporter().from_notebook_node(notebook)
    atomic_write_text(paths["html"], html)
    if make_zip:
        paths["zip"] = stage / f"{REPORT_NAME}.zip"
        atomic_write(paths["zip"], lambda file: _pack(file, (paths["notebook"], paths["html"])))
    return paths


def _exporter() -> HTMLExporter:
    """The HTML exporter: the code of the cells tagged ``remove_input`` (those that only turn
    results into sentences, tables and figures) is left out, their outputs stay."""
    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_input_tags = {HIDDEN}
    return HTMLExporter(config=config)


def _pack(file: IO[bytes], members: tuple[Path, ...]) -> None:
    """A deflated zip of ``members`` (by their names) into ``file``."""
    with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in members:
            archive.write(path, path.name)


def _publish(staged: dict[str, Path], out: Path) -> dict[str, Path]:
    """Move new caches and the staged outputs into ``out`` (renames: nothing is half-written)
    and drop what belonged to earlier runs: the stage, a failed run, a zip the new report lacks."""
    published = {key: out / path.name for key, path in staged.items()}
    try:
        _adopt_caches(out / STAGE, out)
        for key, path in staged.items():
            os.replace(path, published[key])
    except OSError as err:
        raise WriteError.of(out, err, "publish the report in") from err
    if "zip" not in staged:
        (out / f"{REPORT_NAME}.zip").unlink(missing_ok=True)
    for folder in (out / STAGE, out / FAILED):
        shutil.rmtree(folder, ignore_errors=True)  # leftovers: the report is already complete
    return published


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
    goals = results.get("goals")
    if goals:
        rows.append(("goals met (the full preset's)", f"{goals['met']} of {len(goals['checks'])}"))
    width = max((len(k) for k, _ in rows), default=10)
    return [f"{k:<{width}}  {v}" for k, v in rows]
