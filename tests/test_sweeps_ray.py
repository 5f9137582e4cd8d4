"""The Ray executor gives the same records as the local one."""

from __future__ import annotations

from pathlib import Path

import pytest

from innlab.sweeps import load_records, run_sweep

from .sweeps_helpers import comparable, tiny_config
from .sweeps_helpers import one_torch_thread as one_torch_thread  # autouse fixture

pytest.importorskip("ray.tune", reason="the ray executor needs the 'ray' extra")


def test_ray_matches_local(tmp_path: Path) -> None:
    local = run_sweep(tiny_config(), tmp_path / "local")
    # one Ray worker (a local instance of one CPU) keeps the test short; its two tasks then run
    # one after the other in the same reused actor
    remote = run_sweep(tiny_config(), tmp_path / "ray", executor="ray", workers=1)
    assert [r["executor"] for r in remote] == ["ray"] * 4
    assert load_records(tmp_path / "ray") == sorted(remote, key=lambda r: r["trial_id"])
    for a, b in zip(remote, local, strict=True):
        a, b = comparable(a), comparable(b)
        for numbers in ("metrics", "train_loss"):  # equal up to float rounding
            assert a.pop(numbers) == pytest.approx(b.pop(numbers), rel=1e-4, abs=1e-6)
        assert a == b  # same trial ids, settings, seeds, status
