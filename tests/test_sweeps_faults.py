"""Faults of the sweep engine: killed or interrupted sweeps, hostile configs, damaged records and
start-up time counted as training time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from innlab.sweeps import SweepConfigError, load_config, load_records, run_sweep
from innlab.sweeps.__main__ import main
from innlab.sweeps.config import MAX_TRIALS
from innlab.sweeps.records import DamagedRecordWarning, finished_ids

from .sweeps_helpers import one_torch_thread as one_torch_thread  # autouse fixture
from .sweeps_helpers import tiny_config, toml_text

INNLAB = [sys.executable, "-c", "import sys; from innlab.cli import main; sys.exit(main())"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _processes() -> dict[int, tuple[int, str]]:
    """``{pid: (parent pid, state)}`` of every process, from /proc."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # ended meanwhile
            continue
        table[int(stat.parent.name)] = (int(fields[1]), fields[0])
    return table


def _descendants(pid: int) -> set[int]:
    table, found, frontier = _processes(), set(), {pid}
    while frontier:
        frontier = {p for p, (parent, _) in table.items() if parent in frontier} - found
        found |= frontier
    return found


def _running(pids: set[int]) -> set[int]:
    """The processes of ``pids`` that still run (zombies are finished)."""
    table = _processes()
    return {p for p in pids if p in table and table[p][1] != "Z"}


def _start_sweep(tmp_path: Path, *options: str) -> tuple[subprocess.Popen, Path]:
    """``innlab sweep`` of four short trials, then four of half a minute, in a child process (a
    session of its own, like a shell's job) once the first record exists; returns it and the
    records folder."""
    config = tiny_config(vectorize=False, seeds=[0, 1, 2, 3], sweep={"grid": {"epochs": [2, 4000]}})
    path = tmp_path / "sweep.toml"
    path.write_text(toml_text(config))
    out = tmp_path / "out"
    command = [*INNLAB, "sweep", str(path), "--out", str(out), *options]
    child = subprocess.Popen(
        command,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if list((out / "trials").glob("*.json")):
            return child, out
        time.sleep(0.05)
    child.kill()
    raise AssertionError(f"the sweep wrote no record: {child.communicate()[1]}")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree in /proc")
def test_sigkill_of_a_sweep_with_workers_leaves_no_process(tmp_path: Path) -> None:
    child, _ = _start_sweep(tmp_path, "--workers", "2")
    tree = _descendants(child.pid)  # forkserver, resource tracker, workers
    try:
        assert len(tree) >= 3, "the workers are not running"
        child.kill()
        assert child.wait() == -signal.SIGKILL
        deadline = time.monotonic() + 20
        while _running(tree) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(tree), "processes outlived the killed sweep"
    finally:
        for pid in _running(tree):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_stops_at_once_and_says_how_to_continue(tmp_path: Path, workers: str) -> None:
    child, out = _start_sweep(tmp_path, "--workers", workers)
    try:
        os.killpg(child.pid, signal.SIGINT)  # Ctrl-C: the whole foreground job
        _, err = child.communicate(timeout=15)  # long trials were running: they are stopped
    finally:
        child.kill()
    assert child.returncode == 130
    assert "run the same command to run the rest" in err and str(out) in err
    assert "--resume" not in err and "Traceback" not in err and "leaked" not in err
    assert list((out / "trials").glob("*.json")), "finished trials are kept"


@pytest.mark.parametrize("name", ["../escape", "a/b", "/tmp/abs", "..", ".hidden", "a\\b", ""])
def test_names_that_leave_the_sweeps_folder_are_refused(name: str) -> None:
    with pytest.raises(SweepConfigError, match=r"name must be a folder name of letters"):
        load_config({"name": name})


def test_name_from_the_file_stem_is_checked_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "my sweep.toml"
    path.write_text("seeds = 1\n")
    with pytest.raises(SweepConfigError, match=r"got 'my sweep' \(the file's stem; set name"):
        load_config(path)
    path.write_text('name = "../../etc"\n')
    assert main([str(path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "name must be a folder name" in line and "'../../etc'" in line
    assert load_config({"name": "moons-hparams_2.1"}).name == "moons-hparams_2.1"


def test_huge_grids_are_refused_before_expansion() -> None:
    values = list(range(1, 10_001))
    grid = {"hidden_size": values, "train_size": values}  # 10^8 configurations
    started = time.perf_counter()
    with pytest.raises(SweepConfigError, match=r"100,000,000 trials .* limit of 10,000"):
        load_config({"sweep": {"grid": grid}})
    assert time.perf_counter() - started < 5  # counted, not built
    with pytest.raises(SweepConfigError, match=r"seeds = 100,000,000 is more than the limit"):
        load_config({"seeds": 10**8})
    at_limit = {"seeds": 10, "sweep": {"grid": {"hidden_size": values[: MAX_TRIALS // 10]}}}
    assert len(load_config(at_limit).trials()) == MAX_TRIALS
    with pytest.raises(SweepConfigError, match=r"10,010 trials \(1,001 configurations x 10 seed"):
        load_config({**at_limit, "sweep": {"one_at_a_time": at_limit["sweep"]["grid"]}})


@pytest.mark.parametrize("group", [[0, 6], [], [1, 1], [0, 1, 2, 3, 4, 5], "03"])
def test_two_label_group_is_checked_when_read(group: object) -> None:
    data = {"name": "hexagon", "labels": "two", "two_label_group": group}
    with pytest.raises(SweepConfigError, match=r"data\.two_label_group must"):
        load_config({"data": data})


def _trials_folder(tmp_path: Path) -> tuple[dict, Path, list[Path]]:
    """The tiny sweep run into ``tmp_path``; its config, folder and record files."""
    config = tiny_config(seeds=[0])
    run_sweep(config, tmp_path)
    return config, tmp_path, sorted((tmp_path / "trials").glob("*.json"))


@pytest.mark.parametrize(
    "damage", [b"", b'{"format": "innlab.sweep.trial", "vers', b"\xff\xfe", b"[1, 2]"]
)
def test_unreadable_records_count_as_not_finished(tmp_path: Path, damage: bytes) -> None:
    config, out, (broken, kept) = _trials_folder(tmp_path)
    broken.write_bytes(damage)
    with pytest.warns(DamagedRecordWarning, match=f"{broken.name}.*counts as not finished"):
        assert finished_ids(out) == {kept.stem}
    kept_bytes = kept.read_bytes()
    with pytest.warns(DamagedRecordWarning):
        records = {r["trial_id"]: r for r in run_sweep(config, out)}  # reruns the damaged one
    assert records.keys() == {broken.stem, kept.stem}
    assert json.loads(broken.read_bytes()) == records[broken.stem]
    assert kept.read_bytes() == kept_bytes


def test_records_without_metrics_are_skipped_by_summarize(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, (broken, kept) = _trials_folder(tmp_path)
    record = json.loads(broken.read_text())
    del record["metrics"]
    broken.write_text(json.dumps(record))
    with pytest.warns(DamagedRecordWarning, match=f"{broken.name}.*field 'metrics'"):
        assert main(["summarize", str(out)]) == 0
    assert "test_nll" in capsys.readouterr().out
    record["metrics"], record["trial"]["seed"] = {}, 5  # settings edited: not this trial's
    broken.write_text(json.dumps(record))
    with pytest.warns(DamagedRecordWarning, match="do not match its file name"):
        assert [r["trial_id"] for r in load_records(out)] == [kept.stem]


def test_records_of_another_format_are_still_errors(tmp_path: Path) -> None:
    _, out, (broken, _) = _trials_folder(tmp_path)
    broken.write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="is not an innlab sweep record"):
        load_records(out)


TIMED = """
import json, sys
import torch
torch.set_num_threads(1)
from innlab.sweeps import load_config, task
(first, *_) = task.make_tasks(load_config(json.loads(sys.argv[1])).trials(), vectorize=False)
print(json.dumps([task.run_task(first)[0]["metrics"]["train_seconds"] for _ in range(2)]))
"""


def test_first_trial_of_a_process_is_timed_like_the_next(tmp_path: Path) -> None:
    config = tiny_config(seeds=[0])
    config["base"]["epochs"] = 20  # tens of milliseconds
    command = [sys.executable, "-c", TIMED, json.dumps(config)]
    result = subprocess.run(command, env=ENV, capture_output=True, text=True, check=True)
    first, second = json.loads(result.stdout)
    # the same trial twice in a fresh process: without the warm-up the first one counted the
    # process's start-up (seconds), the second one only its training
    assert first < 5 * second, (first, second)
