"""Saving and loading: identical outputs, atomic writes, safe and clear failures."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from innlab import CheckpointError, RealNVP
from innlab._atomic import atomic_write, atomic_write_text

from .conftest import make_flow


@pytest.mark.parametrize("condition_size", [0, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_save_load_round_trip(tmp_path: Path, condition_size: int, dtype: torch.dtype) -> None:
    flow = make_flow(3, condition_size=condition_size, shared_subnet=True, dtype=dtype)
    path = tmp_path / "flow.pt"
    flow.save(path)
    loaded = RealNVP.load(path)
    assert loaded.config == flow.config
    assert torch.equal(loaded.rotations, flow.rotations)
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
    assert torch.equal(RealNVP.load(path).rotations, second.rotations)


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
    payload = {"format": "innlab.RealNVP", "version": 99, "config": flow.config, "state": {}}
    torch.save(payload, tmp_path / "v99.pt")
    with pytest.raises(CheckpointError, match="version 99"):
        RealNVP.load(tmp_path / "v99.pt")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an innlab model"):
        RealNVP.load(tmp_path / "other.pt")
    state = {k: v for k, v in flow.state_dict().items() if k != "rotations"}
    torch.save({**payload, "version": 1, "state": state}, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match="does not match"):
        RealNVP.load(tmp_path / "partial.pt")
    bad_config = {**flow.config, "hidden_size": -1}
    torch.save({**payload, "version": 1, "config": bad_config}, tmp_path / "cfg.pt")
    with pytest.raises(CheckpointError, match="incompatible model config"):
        RealNVP.load(tmp_path / "cfg.pt")


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
