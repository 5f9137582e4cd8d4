"""Faults of the innlab command: two writers, --force, write failures, devices, messages."""

from __future__ import annotations

import errno
import json
import signal
from pathlib import Path
from typing import Any

import pytest

import innlab
import innlab.cli
from innlab._atomic import WriteError
from innlab.cli import CHECKPOINT, RUN_FILES, SET_ASIDE, main
from innlab.report.build import MANIFEST

from .faults_helpers import (
    holds_lock,
    lock_holder,
    one_line_error,
    remount,
    run_innlab,
    snapshot,
    start_innlab,
    tmpfs,
    wait_for,
)
from .sweeps_helpers import tiny_config, toml_text

TINY = ["--n-train", "256", "--n-test", "64", "--hidden", "4", "--blocks", "1", "--quiet"]
SLOW = ["--epochs", "100000", "--batch-size", "256", "--checkpoint-every", "100000"]


def train(out: Path, *extra: str) -> int:
    """``innlab train`` of a tiny model into ``out``, in this process."""
    return main(["train", *TINY, "--epochs", "2", "--out", str(out), *extra])


@pytest.fixture
def finished_run(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    assert train(out) == 0
    return out


# ---------------------------------------------------------------- 1. two writers of one folder
@pytest.mark.parametrize("command", ["train", "report", "sweep"])
def test_a_command_into_a_folder_in_use_fails_at_once(command: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = tmp_path / "tiny.toml"
    config.write_text(toml_text(tiny_config()))
    args = {
        "train": ["train", *TINY, "--out", str(out)],
        "report": ["report", "--preset", "smoke", "--out", str(out), "--quiet"],
        "sweep": ["sweep", str(config), "--out", str(out)],
    }[command]
    with lock_holder(out) as holder:
        done = run_innlab(*args)
    assert done.returncode == 2
    line = one_line_error(done.stderr)
    assert str(out) in line and f"pid {holder.pid}" in line and "in use" in line
    assert sorted(p.name for p in out.iterdir()) == [".innlab.lock"], "nothing was written"


def test_two_trains_into_one_folder_and_a_killed_first(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = start_innlab("train", *TINY, *SLOW, "--out", str(out))
    try:
        wait_for(lambda: holds_lock(out, first.pid), "the first run to take the folder")
        second = run_innlab("train", *TINY, "--epochs", "2", "--out", str(out))
        assert second.returncode == 2
        assert f"pid {first.pid}" in one_line_error(second.stderr)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # the lock died with the killed process; its lock file is no obstacle
    assert (out / ".innlab.lock").exists()
    third = run_innlab("train", *TINY, "--epochs", "2", "--out", str(out), "--force")
    assert third.returncode == 0, third.stderr
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 2


# ---------------------------------------------------------------- 2. --force checks first
def test_force_with_a_bad_option_keeps_the_previous_run(
    finished_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(finished_run, RUN_FILES)
    assert set(before) == set(RUN_FILES)
    capsys.readouterr()
    assert train(finished_run, "--force", "--lr", "nan") == 2
    assert "lr must be a finite number" in one_line_error(capsys.readouterr().err)
    assert snapshot(finished_run, RUN_FILES) == before


def test_force_run_failing_before_its_first_checkpoint_puts_the_old_run_back(
    finished_run: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from innlab.training import TrainingDivergedError

    before = snapshot(finished_run, RUN_FILES)

    def diverge(*args: Any, **kwargs: Any) -> None:
        assert not (finished_run / CHECKPOINT).exists(), "the old files are set aside"
        raise TrainingDivergedError("50 non-finite steps in a row")

    monkeypatch.setattr(innlab, "train_inn", diverge)
    capsys.readouterr()
    assert train(finished_run, "--force") == 2
    assert "non-finite" in one_line_error(capsys.readouterr().err)
    assert snapshot(finished_run, RUN_FILES) == before
    assert not (finished_run / SET_ASIDE).exists()


def test_force_run_killed_before_its_first_checkpoint_is_undone_by_the_next(
    finished_run: Path,
) -> None:
    before = snapshot(finished_run, RUN_FILES)
    forced = start_innlab("train", *TINY, *SLOW, "--out", str(finished_run), "--force")
    try:
        wait_for(lambda: (finished_run / SET_ASIDE / CHECKPOINT).exists(), "files set aside")
    finally:
        forced.send_signal(signal.SIGKILL)
        forced.wait()
    assert not (finished_run / CHECKPOINT).exists()
    again = run_innlab("train", *TINY, "--epochs", "2", "--out", str(finished_run))
    assert "put back the files" in again.stdout
    assert again.returncode == 2 and "model.pt exists" in one_line_error(again.stderr)
    assert snapshot(finished_run, RUN_FILES) == before
    assert not (finished_run / SET_ASIDE).exists()


def test_force_run_removes_the_old_files_once_it_has_a_checkpoint(finished_run: Path) -> None:
    assert train(finished_run, "--force", "--seed", "3") == 0
    assert not (finished_run / SET_ASIDE).exists()
    assert json.loads((finished_run / "metrics.json").read_text())["config"]["seed"] == 3


# ---------------------------------------------------------------- 3. write failures
def test_out_under_a_file_fails_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("")
    assert train(tmp_path / "file" / "run") == 2
    line = one_line_error(capsys.readouterr().err)
    assert f"cannot create the output folder {tmp_path / 'file' / 'run'}" in line


def test_read_only_out_fails_before_training_and_keeps_the_run(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "1m") as disk:
        assert train(disk / "run") == 0
        before = snapshot(disk / "run", RUN_FILES)
        remount(disk, "ro")
        done = run_innlab("train", *TINY, "--epochs", "2", "--out", str(disk / "run"), "--force")
        assert done.returncode == 2
        assert "Read-only file system" in one_line_error(done.stderr)
        assert snapshot(disk / "run", RUN_FILES) == before
        done = run_innlab("train", *TINY, "--out", str(disk / "new"))
        assert done.returncode == 2
        assert f"cannot create the output folder {disk / 'new'}" in one_line_error(done.stderr)


def test_full_disk_is_one_line_and_resume_finishes_the_run(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "24k") as disk:
        out = disk / "run"
        args = ["train", *TINY, "--epochs", "3", "--out", str(out)]
        done = run_innlab(*args)
        assert done.returncode == 2
        line = one_line_error(done.stderr)
        assert f"cannot write {out}/" in line and "No space left on device" in line
        assert not [p for p in out.iterdir() if p.name.endswith(".tmp")], "no temporaries"
        remount(disk, "size=1m")
        done = run_innlab(*args, "--resume")
        assert done.returncode == 0, done.stderr
        assert set(snapshot(out, RUN_FILES)) == set(RUN_FILES)
        assert json.loads((out / "metrics.json").read_text())["epochs"] == 3


def test_a_failed_output_write_names_the_file_and_how_to_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def full(path: Path, text: str) -> None:
        raise WriteError.of(path, OSError(errno.ENOSPC, "No space left on device"))

    monkeypatch.setattr(innlab.cli, "atomic_write_text", full)
    assert train(tmp_path / "run") == 2
    line = one_line_error(capsys.readouterr().err)
    assert f"cannot write {tmp_path / 'run' / 'metrics.json'}: No space left" in line
    assert "rerun with --resume" in line
    monkeypatch.undo()
    assert train(tmp_path / "run", "--resume") == 0
    assert (tmp_path / "run" / "metrics.json").is_file()


# ---------------------------------------------------------------- 5. devices
@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("foo", "--device must be cpu, cuda, cuda:N, mps or xpu, got 'foo'"),
        ("meta", "--device must be cpu, cuda, cuda:N, mps or xpu, got 'meta'"),
        ("cuda", "--device 'cuda' is not available"),
        ("cuda:7", "--device 'cuda:7'"),
    ],
)
def test_bad_devices_are_one_line_errors(
    device: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    if device.startswith("cuda") and torch.cuda.device_count() > (7 if ":" in device else 0):
        pytest.skip("that CUDA device exists here")
    assert train(tmp_path / "run", "--device", device) == 2
    assert message in one_line_error(capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- 6. messages
def test_interrupted_commands_say_what_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import innlab.report.build

    def interrupt(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(innlab.report.build, "build_report", interrupt)
    assert main(["report", "--out", str(tmp_path / "r"), "--quiet"]) == 130
    err = capsys.readouterr().err
    assert "--resume" not in err and "rerun the same command" in err
    assert str(tmp_path / "r" / "models") in err
    monkeypatch.setattr(innlab, "train_inn", interrupt)
    assert train(tmp_path / "t") == 130
    assert "rerun the same command with --resume" in capsys.readouterr().err


def test_an_interrupted_run_in_the_folder_asks_for_the_cli_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert train(out) == 0
    (out / "model.pt").unlink()  # as if killed between the last checkpoint and model.pt
    capsys.readouterr()
    assert train(out) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "pass --resume to continue it or --force to start over" in line
    assert "resume=True" not in line


@pytest.mark.parametrize("text", ["", "[]", '"smoke"', "{", '{"preset": 3}', "\xff"])
def test_a_damaged_report_manifest_is_named_with_the_way_out(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / MANIFEST).write_bytes(text.encode("latin-1"))
    assert main(["report", "--preset", "smoke", "--out", str(out), "--quiet"]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert str(out / MANIFEST) in line and "damaged" in line and "--force" in line


def test_too_few_test_points_fail_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--n-test", "1", "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "--n-test must be an int >= 2, got 1" in one_line_error(capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- 8. skipped steps
def test_metrics_count_skipped_steps_and_the_cli_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train(tmp_path / "clean") == 0
    assert json.loads((tmp_path / "clean" / "metrics.json").read_text())["skipped_steps"] == 0
    assert "warning" not in capsys.readouterr().err
    real = innlab.train_inn

    def skipping(*args: Any, **kwargs: Any) -> Any:
        history = real(*args, **kwargs)
        history.skipped_steps[-1] = 3  # as if three steps had a non-finite gradient
        return history

    monkeypatch.setattr(innlab, "train_inn", skipping)
    assert train(tmp_path / "skipped") == 0
    assert json.loads((tmp_path / "skipped" / "metrics.json").read_text())["skipped_steps"] == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "warning: 3 training steps were skipped" in err[0]
