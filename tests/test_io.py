"""Saving and loading: identical outputs, atomic writes, safe and clear failures."""

from __future__ import annotations

import errno
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from innlab import CheckpointError, RealNVP
from innlab._atomic import WriteError, atomic_write, atomic_write_text
from innlab.flows import AffineCoupling, FixedPermutation, FixedRotation, Flow
from innlab.flows.io import atomic_save, model_payload, register

from .conftest import make_flow


@pytest.mark.parametrize("condition_size", [0, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_save_load_round_trip(tmp_path: Path, condition_size: int, dtype: torch.dtype) -> None:
    flow = make_flow(3, condition_size=condition_size, shared_subnet=True, dtype=dtype)
    path = tmp_path / "flow.pt"
    flow.save(path)
    loaded = RealNVP.load(path)
    assert loaded.config == flow.config
    pairs = zip(loaded.mixers, flow.mixers, strict=True)
    assert all(torch.equal(a.matrix, b.matrix) for a, b in pairs)
    x = torch.randn(10, 3, dtype=dtype)
    c = torch.eye(2, dtype=dtype)[torch.arange(10) % 2] if condition_size else None
    assert torch.equal(loaded.log_prob(x, c), flow.log_prob(x, c))
    assert torch.equal(
        loaded.sample(4, c[:2] if c is not None else None, generator=0),
        flow.sample(4, c[:2] if c is not None else None, generator=0),
    )
    assert not list(tmp_path.glob("*.tmp")), "no temporary files left behind"


def test_save_replaces_existing_file_atomically(tmp_path: Path) -> None:
    path = tmp_path / "flow.pt"
    make_flow(2, seed=0).save(path)
    second = make_flow(2, seed=5)
    second.save(path)
    assert torch.equal(RealNVP.load(path).mixers[0].matrix, second.mixers[0].matrix)


def test_truncated_file_gives_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "flow.pt"
    make_flow(2).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated, corrupted"):
        RealNVP.load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        RealNVP.load(tmp_path / "nope.pt")


class _Payload:
    def __reduce__(self):  # pragma: no cover - must never run
        return (Path.touch, (Path("/tmp/innlab-pwned"),))


def test_tampered_pickle_is_not_executed(tmp_path: Path) -> None:
    marker = Path("/tmp/innlab-pwned")
    marker.unlink(missing_ok=True)
    path = tmp_path / "evil.pt"
    torch.save({"format": "innlab.RealNVP", "evil": _Payload()}, path)
    with pytest.raises(CheckpointError):
        RealNVP.load(path)
    assert not marker.exists()
    path.write_bytes(pickle.dumps(_Payload()))
    with pytest.raises(CheckpointError):
        RealNVP.load(path)
    assert not marker.exists()


def test_incompatible_checkpoints(tmp_path: Path) -> None:
    flow = make_flow(2)
    payload = model_payload(flow)
    atomic_save({**payload, "version": 99}, tmp_path / "v99.pt")
    with pytest.raises(CheckpointError, match="version 99"):
        RealNVP.load(tmp_path / "v99.pt")
    atomic_save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an innlab model"):
        RealNVP.load(tmp_path / "other.pt")
    state = {k: v for k, v in payload["state"].items() if k != "transforms.1.matrix"}
    atomic_save({**payload, "state": state}, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match="unusable model"):
        RealNVP.load(tmp_path / "partial.pt")
    spec = {"class": "RealNVP", "config": {**flow.config, "hidden_size": -1}}
    atomic_save({**payload, "spec": spec}, tmp_path / "cfg.pt")
    with pytest.raises(CheckpointError, match="unusable model.*hidden_size must be"):
        RealNVP.load(tmp_path / "cfg.pt")
    atomic_save({**payload, "spec": {"class": "os.system"}}, tmp_path / "cls.pt")
    with pytest.raises(CheckpointError, match="unknown flow class 'os.system'"):
        RealNVP.load(tmp_path / "cls.pt")
    torch.save({"format": "something else"}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="no checksum"):
        RealNVP.load(tmp_path / "plain.pt")


def legacy_payload(flow: RealNVP) -> dict:
    """What innlab 0.1's RealNVP.save wrote: couplings as blocks.i.*, stacked rotations."""
    state = {}
    for key, value in flow.state_dict().items():
        _, index, name = key.split(".")
        if name != "matrix":
            state[f"blocks.{int(index) // 2}.{name}"] = value
    state["rotations"] = torch.stack([m.matrix for m in flow.mixers])
    config = {k: v for k, v in flow.config.items() if k not in ("scale", "mixing")}
    return {"format": "innlab.RealNVP", "version": 1, "config": config, "state": state}


@pytest.mark.parametrize("condition_size", [0, 2])
def test_files_of_innlab_0_1_are_converted(tmp_path: Path, condition_size: int) -> None:
    flow = make_flow(3, condition_size=condition_size, dtype=torch.float64)
    torch.save(legacy_payload(flow), tmp_path / "old.pt")
    loaded = RealNVP.load(tmp_path / "old.pt")
    assert loaded.config == flow.config
    for key, value in flow.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    broken = legacy_payload(flow)
    broken["state"]["extra"] = torch.zeros(1)
    torch.save(broken, tmp_path / "broken.pt")
    with pytest.raises(CheckpointError, match="damaged innlab 0.1 model file"):
        RealNVP.load(tmp_path / "broken.pt")


def test_any_flow_of_registered_transforms_round_trips(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(0)
    flow = Flow(
        [
            AffineCoupling(3, 8, 2, scale="exp", generator=g),
            FixedPermutation(3, generator=g),
            AffineCoupling(3, 8, 2, shared_subnet=True, scale="additive", generator=g),
            FixedRotation(3, generator=g),
        ],
        condition_size=2,
    )
    with torch.no_grad():
        for p in flow.parameters():
            p.normal_(0, 0.3, generator=g)
    flow.save(tmp_path / "flow.pt")
    loaded = Flow.load(tmp_path / "flow.pt")
    x, c = torch.randn(6, 3), torch.randn(6, 2)
    assert type(loaded) is Flow and torch.equal(loaded.log_prob(x, c), flow.log_prob(x, c))
    with pytest.raises(CheckpointError, match="holds a Flow, not a RealNVP"):
        RealNVP.load(tmp_path / "flow.pt")


def test_unregistered_transforms_cannot_be_saved(tmp_path: Path) -> None:
    class Shift(FixedPermutation):
        pass

    with pytest.raises(TypeError, match="Shift is not registered for saving"):
        Flow([Shift(2)]).save(tmp_path / "x.pt")
    with pytest.raises(ValueError, match="another class named 'Flow'"):
        register(type("Flow", (Flow,), {}))


def test_atomic_write_follows_the_umask_and_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    path = atomic_write_text(tmp_path / "a.json", "first")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not tempfile's 0o600

    def fail(file: object) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, fail)
    assert path.read_text() == "first"
    assert sorted(tmp_path.iterdir()) == [path], "no temporary file left behind"


def test_a_failed_write_names_the_file_not_its_temporary(tmp_path: Path) -> None:
    def full(file: object) -> None:  # torch.save turns the disk's OSError into a RuntimeError
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as err:
            raise RuntimeError("PytorchStreamWriter failed writing file data/0") from err

    with pytest.raises(WriteError, match="No space left on device") as info:
        atomic_write(tmp_path / "m.pt", full)
    assert str(info.value) == f"cannot write {tmp_path / 'm.pt'}: No space left on device"
    assert info.value.errno == errno.ENOSPC
    with pytest.raises(WriteError, match=f"cannot write {tmp_path / 'file' / 'x.json'}"):
        (tmp_path / "file").write_text("")
        atomic_write_text(tmp_path / "file" / "x.json", "{}")
    with pytest.raises(ZeroDivisionError):  # not a write failure: raised as it is
        atomic_write(tmp_path / "m.pt", lambda file: 1 / 0)


KILLED_WRITER = """
import os, signal, sys
from innlab._atomic import atomic_write

def die(file):
    file.write(b"half")
    os.kill(os.getpid(), signal.SIGKILL)

atomic_write(sys.argv[1], die)
"""


def test_the_next_write_removes_temporaries_of_killed_writers_only(tmp_path: Path) -> None:
    path = atomic_write_text(tmp_path / "results.json", "old")
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], check=False)
    assert done.returncode == -signal.SIGKILL
    (stale,) = tmp_path.glob(".results.json.*.tmp")
    assert path.read_text() == "old", "the killed write left the file as it was"
    live = tmp_path / f".results.json.{os.getpid()}.{'0' * 32}.tmp"  # a write in progress
    live.write_bytes(b"")
    other = tmp_path / ".results.json.x.tmp"  # not one of ours
    other.write_bytes(b"")
    atomic_write_text(path, "new")
    assert path.read_text() == "new"
    assert not stale.exists() and live.exists() and other.exists()
