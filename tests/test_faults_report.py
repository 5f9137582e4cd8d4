"""Faults of the report: failed and killed runs, write failures, damaged cached models."""

from __future__ import annotations

import errno
import json
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

import innlab.report.build as build
from innlab._atomic import WriteError
from innlab.cli import main
from innlab.experiments.store import DamagedModelWarning, ModelStore
from innlab.flows.io import atomic_save

from .faults_helpers import ENV, one_line_error, snapshot, wait_for

OUTPUTS = ("normalizing-flows.ipynb", "normalizing-flows.html", "results.json")

NOTEBOOK = """
# %% tags=["parameters"]
OUT_DIR = "."

# %%
import json
import time
from pathlib import Path

out = Path(OUT_DIR)
(out / "models").mkdir(exist_ok=True)  # a cache, kept in the report folder
(out / "models" / "m.txt").write_text("cached")
(out / "results.json").write_text(json.dumps({SECTIONS}))

# %%
{LAST}
"""


def fake_notebook(sections: dict[str, int], last: str = "print('done')") -> str:
    """A report notebook that writes ``sections`` to results.json, then runs ``last``."""
    return NOTEBOOK.replace("{SECTIONS}", repr(sections)).replace("{LAST}", last)


def report(out: Path, *extra: str) -> int:
    return main(["report", "--preset", "smoke", "--out", str(out), "--quiet", *extra])


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A complete (fake) report with a zip in ``tmp_path/report``."""
    monkeypatch.setattr(build, "_source", lambda: fake_notebook({"a": 1, "b": 2}))
    out = tmp_path / "report"
    assert report(out, "--zip") == 0
    assert json.loads((out / "results.json").read_text()) == {"a": 1, "b": 2}
    return out


# ---------------------------------------------------------------- 4. one complete report
def test_a_failed_rerun_leaves_the_report_whole_and_keeps_its_own_outputs_apart(
    built: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(built, (*OUTPUTS, "normalizing-flows.zip"))
    failing = fake_notebook({"a": 1}, "raise RuntimeError('section b failed')")
    monkeypatch.setattr(build, "_source", lambda: failing)
    capsys.readouterr()
    assert report(built, "--zip") == 2
    line = one_line_error(capsys.readouterr().err)
    assert "RuntimeError: section b failed" in line and str(built / "failed-run") in line
    assert snapshot(built, (*OUTPUTS, "normalizing-flows.zip")) == before
    failed = built / "failed-run"
    assert json.loads((failed / "results.json").read_text()) == {"a": 1}
    assert (failed / "normalizing-flows.ipynb").is_file()
    assert (built / "models" / "m.txt").read_text() == "cached", "the cache stays in OUT"
    # the next good run publishes a new complete set and drops the failed run's leftovers
    monkeypatch.setattr(build, "_source", lambda: fake_notebook({"a": 5, "b": 6}))
    assert report(built) == 0
    assert json.loads((built / "results.json").read_text()) == {"a": 5, "b": 6}
    assert not failed.exists() and not (built / build.STAGE).exists()
    assert not (built / "normalizing-flows.zip").exists(), "no zip of an older report"


KILLED_RUN = """
import sys
import innlab.report.build as build
from innlab.cli import main
build._source = lambda: sys.argv[2]
sys.exit(main(["report", "--preset", "smoke", "--out", sys.argv[1], "--quiet"]))
"""


def test_a_killed_rerun_leaves_the_report_whole(built: Path) -> None:
    before = snapshot(built, OUTPUTS)
    sleeping = fake_notebook({"a": 1}, "time.sleep(300)")
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(built), sleeping], env=ENV, text=True
    )
    try:
        stage_results = built / build.STAGE / "results.json"
        wait_for(stage_results.exists, "the rerun to write its partial results")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert snapshot(built, OUTPUTS) == before
    assert report(built) == 0, "the next run starts from a fresh stage"
    assert not (built / build.STAGE).exists()


# ---------------------------------------------------------------- 3. write failures
def test_report_write_failure_is_one_line_and_keeps_the_report(
    built: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(built, OUTPUTS)
    real = build.atomic_write_text

    def full_on_html(path: Path, text: str) -> Path:
        if path.suffix == ".html":
            raise WriteError.of(path, OSError(errno.ENOSPC, "No space left on device"))
        return real(path, text)

    monkeypatch.setattr(build, "atomic_write_text", full_on_html)
    capsys.readouterr()
    assert report(built) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "normalizing-flows.html: No space left on device" in line
    assert snapshot(built, OUTPUTS) == before


def test_report_into_a_folder_under_a_file_fails_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("")
    assert report(tmp_path / "file" / "report") == 2
    assert "cannot create the output folder" in one_line_error(capsys.readouterr().err)


# ---------------------------------------------------------------- 7. damaged cached models
def damage(path: Path, kind: str) -> None:
    """Replace the cached model ``path`` by a damaged or foreign file of ``kind``."""
    if kind == "text":
        path.write_text("not a model\n")
    elif kind == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif kind == "foreign":
        torch.save({"weights": torch.zeros(3)}, path)
    else:  # an innlab file with the right key whose model part is not a model
        payload = torch.load(path, weights_only=True)
        atomic_save({"key": payload["key"], "model": {"format": "other"}}, path)


@pytest.mark.parametrize("kind", ["text", "truncated", "foreign", "not_a_model"])
def test_a_damaged_cached_model_is_retrained_with_a_warning(kind: str, tmp_path: Path) -> None:
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    args = ({"input_size": 2, "hidden_size": 4, "blocks": 1}, x)
    kwargs = {"recipe": {"data": "randn"}, "epochs": 1, "batch_size": 64}
    store = ModelStore(tmp_path / "models", progress=False)
    store.fit("toy", *args, **kwargs)
    path = tmp_path / "models" / "toy.pt"
    damage(path, kind)
    with pytest.warns(DamagedModelWarning, match=r"toy\.pt.*training it again") as caught:
        model, history = ModelStore(tmp_path / "models", progress=False).fit("toy", *args, **kwargs)
    assert len(caught) == 1 and len(str(caught[0].message).splitlines()) == 1
    assert len(history) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the retrained file is a good cache again
        ModelStore(tmp_path / "models", progress=False).fit("toy", *args, **kwargs)
