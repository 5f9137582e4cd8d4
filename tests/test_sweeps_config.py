"""Sweep configs: parsing, expansion into trials, clear errors, and trial identity."""

from __future__ import annotations

from pathlib import Path

import pytest

from innlab.sweeps import PARAM_DEFAULTS, SweepConfigError, Trial, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    return path


def test_toml_is_expanded_into_configurations_and_seeds(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
            seeds = 2
            [data]
            name = "hexagon"
            labels = "two"
            [base]
            hidden_size = 32
            [sweep]
            grid = { lr = [1e-3, 3e-3], blocks = [2, 4] }
            one_at_a_time = { epochs = [5, 20] }
            points = [{ lr = 1e-2, hidden_size = 16 }]
            """,
        )
    )
    assert config.name == "sweep" and config.seeds == (0, 1) and config.vectorize
    assert config.data == {
        "name": "hexagon",
        "radius": 1.0,
        "std": 0.1,
        "labels": "two",
        "two_label_group": [0, 3],
        "test_size": 2000,
        "seed": 0,
    }
    keys = [(c["lr"], c["blocks"], c["epochs"], c["hidden_size"]) for c in config.configurations]
    # grid (4), then base (equal to no grid point), epochs 5 (20 is the base: not repeated), point
    assert keys == [
        (1e-3, 2, 20, 32),
        (1e-3, 4, 20, 32),
        (3e-3, 2, 20, 32),
        (3e-3, 4, 20, 32),
        (1e-3, 8, 20, 32),
        (1e-3, 8, 5, 32),
        (1e-2, 8, 20, 16),
    ]
    assert len(config.trials()) == 2 * len(keys)
    assert config.configurations[-1].keys() == PARAM_DEFAULTS.keys()


def test_base_alone_without_sweep_table() -> None:
    config = load_config({"seeds": [3, 1], "base": {"schedule": "cosine"}})
    assert [t.seed for t in config.trials()] == [3, 1]
    assert config.configurations == ({**PARAM_DEFAULTS, "schedule": "cosine"},)
    assert config.data["name"] == "moons" and config.data["noise"] == 0.1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"sede": 1}, "unknown key 'sede'"),
        ({"base": {"hiden_size": 8}}, "unknown key 'base.hiden_size'"),
        ({"base": {"lr": -1.0}}, "base.lr must be a finite number > 0, got -1.0"),
        ({"base": {"blocks": 2.5}}, "base.blocks must be an int >= 1, got float 2.5"),
        ({"base": {"condition": "yes"}}, "base.condition must be true or false"),
        ({"base": {"schedule": "linear"}}, "base.schedule must be one of 'constant', 'cosine'"),
        ({"base": {"bottleneck": 3}}, "base.bottleneck must be 0 (off) or a code size 1..2"),
        ({"data": {"name": "spiral"}}, "data.name must be one of 'moons', 'hexagon'"),
        ({"data": {"radius": 2.0}}, "unknown key 'data.radius' for data set 'moons'"),
        ({"data": {"name": "hexagon", "labels": "three"}}, "data.labels must be one of"),
        ({"sweep": {"grid": {"lr": [1e-3, 0]}}}, "sweep.grid.lr[1] must be a finite number > 0"),
        ({"sweep": {"grid": {"lr": []}}}, "sweep.grid.lr must be a non-empty list"),
        ({"sweep": {"one_at_a_time": {"epoch": [1]}}}, "unknown key 'sweep.one_at_a_time.epoch'"),
        ({"sweep": {"points": [{"blocks": 0}]}}, "sweep.points[0].blocks must be an int >= 1"),
        ({"sweep": {"random": {}}}, "unknown key 'sweep.random'"),
        ({"seeds": [0, 0]}, "seeds must be distinct"),
        ({"seeds": [-1]}, "seeds[0] must be an int >= 0"),
        ({"metrics": ["nll"]}, "metrics[0] must be one of 'test_nll'"),
        ({"keep_samples": 10, "data": {"test_size": 5}}, "keep_samples must be <= data.test_size"),
    ],
)
def test_bad_configs_name_the_key(raw: dict, message: str) -> None:
    with pytest.raises(SweepConfigError) as info:
        load_config(raw)
    assert message in str(info.value)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(SweepConfigError, match=r"sweep\.toml' is not valid TOML"):
        load_config(write(tmp_path, "seeds = [0,"))
    with pytest.raises(SweepConfigError, match="cannot read sweep config"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(SweepConfigError, match=r"sweep\.toml': unknown key 'base\.size'"):
        load_config(write(tmp_path, "[base]\nsize = 3\n"))


def test_trial_identity_is_stable_and_config_sensitive() -> None:
    (trial,) = load_config({"base": {"lr": 1e-3}}).trials()
    assert trial.id == "e09e1740e0c5"  # changes only with the engine or the settings' format
    assert Trial.from_dict(trial.to_dict()) == trial
    # the same settings written differently: same identity
    same = load_config({"base": {"lr": 0.001, "epochs": 20}, "data": {"name": "moons"}}).trials()
    assert same[0].id == trial.id
    changed = load_config({"base": {"lr": 2e-3}}).trials()[0]
    assert changed.id != trial.id and changed.config_id != trial.config_id
    reseeded = load_config({"seeds": [1]}).trials()[0]
    assert reseeded.id != trial.id and reseeded.config_id == trial.config_id
    other_data = load_config({"data": {"test_size": 100}}).trials()[0]
    assert other_data.id != trial.id
    assert load_config({"keep_samples": 5}).trials()[0].id != trial.id
    assert len(trial.id) == 12 and int(trial.id, 16) >= 0


def test_model_options_are_sweepable_and_checked() -> None:
    config = load_config(
        {"sweep": {"grid": {"scale": ["exp", "additive"], "mixing": ["permutation", "none"]}}}
    )
    assert {(t.params["scale"], t.params["mixing"]) for t in config.trials()} == {
        ("exp", "permutation"), ("exp", "none"), ("additive", "permutation"), ("additive", "none")
    }  # fmt: skip
    with pytest.raises(ValueError, match="base.scale must be one of 'exp_tanh', 'exp', 'additive'"):
        load_config({"base": {"scale": "tanh"}})
    with pytest.raises(ValueError, match="base.max_grad_norm must be a finite number >= 0"):
        load_config({"base": {"max_grad_norm": -1.0}})
