"""The report's quality goals: bounds in both directions, derived measures, missing values."""

from __future__ import annotations

import math

from innlab.experiments.goals import GOALS, Goal, check_goals

FULL_RUN = {  # the figures of the full run of 2026-12-01 at ed662f4
    "moons": {"nll_gap": 0.0038, "mmd_below_null_q95": True},
    "hexagon": {"nll_gap": 0.0183, "far_share": 0.0151, "far_share_test": 0.013,
                "max_mode_share_error": 0.005},
    "conditional_hexagon_component": {"conditional_nll_gap": 0.0004, "oracle_accuracy": 1.0},
    "conditional_hexagon_two": {"conditional_nll_gap": 0.0152, "oracle_accuracy": 1.0},
    "digits": {"best_val_bits_per_dim": 2.376, "novelty": {"ratio": 1.347}},
    "conditional_digits": {"temperatures": {"0.8": {"accuracy": 0.954}}},
    "mnist": {"test_bits_per_dim": 4.806},
    "conditional_mnist": {"temperatures": {"1.0": {"accuracy": 0.967}}},
}  # fmt: skip


def test_a_full_run_meets_and_misses_what_it_did() -> None:
    report = check_goals(FULL_RUN)
    missed = [c.goal.measure for c in report.checks if c.met is False]
    assert missed == [
        "digits: best held-out bits/dim",
        "MNIST 8x8: test bits/dim",
        "conditional MNIST: forest accuracy at T = 1",
    ]
    assert report.to_dict()["met"] == len(GOALS) - 3 and report.count(None) == 0
    far = next(c for c in report.checks if "far samples" in c.goal.measure)
    assert math.isclose(far.value, 0.0151 / 0.013)


def test_bounds_hold_at_equality_in_both_directions() -> None:
    at_most = Goal("a", lambda r: r["a"], 1.0)
    at_least = Goal("b", lambda r: r["b"], 1.0, at_most=False)
    report = check_goals({"a": 1.0, "b": 1.0}, (at_most, at_least))
    assert [c.met for c in report.checks] == [True, True]
    report = check_goals({"a": 1.01, "b": 0.99}, (at_most, at_least))
    assert [c.met for c in report.checks] == [False, False]
    assert [c.row()[3] for c in report.checks] == ["**missed**", "**missed**"]


def test_missing_or_non_finite_values_are_not_measured() -> None:
    broken = {**FULL_RUN, "moons": {"nll_gap": float("nan")}, "hexagon": {"far_share": 0.01}}
    report = check_goals(broken)
    unmeasured = {c.goal.measure for c in report.checks if c.met is None}
    assert "two moons: NLL above the true density (nats)" in unmeasured
    assert "hexagon: far samples over the test data's share" in unmeasured  # no test share
    assert report.to_dict()["not_measured"] == len(unmeasured) == 5
