"""The report's quality goals: each one a measure in ``results.json``, a bound, and whether a
run met it.

The goals are those of the ``full`` preset (the report issue of 2026-12); a ``quick`` or
``smoke`` run is checked against the same bounds, which its smaller budgets are not meant to
reach.

Example:
    >>> report = check_goals({"moons": {"nll_gap": 0.004}, "mnist": {"test_bits_per_dim": 4.8}})
    >>> report.checks[0].row()
    ['two moons: NLL above the true density (nats)', 0.004, '<= 0.01', 'met']
    >>> report.to_dict()["met"], report.to_dict()["missed"], report.to_dict()["not_measured"]
    (1, 1, 12)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from innlab.experiments.recording import ExperimentResult

__all__ = ["GOALS", "Goal", "GoalCheck", "GoalReport", "check_goals"]

Lookup = Callable[[Mapping[str, Any]], float | None]


def _at(*path: str) -> Lookup:
    """The value at ``path`` in the results (``None`` where a key is missing)."""

    def lookup(results: Mapping[str, Any]) -> float | None:
        value: Any = results
        for key in path:
            if not isinstance(value, Mapping) or key not in value:
                return None
            value = value[key]
        return None if value is None else float(value)

    return lookup


def _far_ratio(results: Mapping[str, Any]) -> float | None:
    """Hexagon: the share of samples far from every corner over the test data's share."""
    far, far_test = _at("hexagon", "far_share")(results), _at("hexagon", "far_share_test")(results)
    if far is None or far_test is None or far_test == 0:
        return None
    return far / far_test


@dataclass(frozen=True)
class Goal:
    """A bound on one measure: ``value <= bound`` (``at_most``) or ``value >= bound``."""

    measure: str
    value: Lookup
    bound: float
    at_most: bool = True

    @property
    def target(self) -> str:
        return f"{'<=' if self.at_most else '>='} {self.bound:g}"


@dataclass(frozen=True)
class GoalCheck:
    """A goal, the run's value (``None``: not measured) and whether it was met."""

    goal: Goal
    value: float | None
    met: bool | None

    def row(self) -> list[Any]:
        """``[measure, value, target, verdict]`` for a table."""
        verdict = {True: "met", False: "**missed**", None: "not measured"}[self.met]
        value = "" if self.value is None else round(self.value, 4)
        return [self.goal.measure, value, self.goal.target, verdict]

    def to_dict(self) -> dict[str, Any]:
        return {
            "measure": self.goal.measure,
            "value": self.value,
            "target": self.goal.target,
            "met": self.met,
        }


GOALS: tuple[Goal, ...] = (
    Goal("two moons: NLL above the true density (nats)", _at("moons", "nll_gap"), 0.010),
    Goal("two moons: MMD² below the null's 95% quantile (1 = yes)",
         _at("moons", "mmd_below_null_q95"), 1, at_most=False),  # fmt: skip
    Goal("hexagon: NLL above the true density (nats)", _at("hexagon", "nll_gap"), 0.025),
    Goal("hexagon: far samples over the test data's share", _far_ratio, 1.5),
    Goal("hexagon: largest corner share's error", _at("hexagon", "max_mode_share_error"), 0.01),
    *(
        goal
        for key, labels in (("component", 6), ("two", 2))
        for goal in (
            Goal(f"conditional hexagon, {labels} labels: conditional NLL gap (nats)",
                 _at(f"conditional_hexagon_{key}", "conditional_nll_gap"), 0.02),
            Goal(f"conditional hexagon, {labels} labels: label agreement",
                 _at(f"conditional_hexagon_{key}", "oracle_accuracy"), 0.99, at_most=False),
        )  # fmt: skip
    ),
    Goal("digits: best held-out bits/dim", _at("digits", "best_val_bits_per_dim"), 2.25),
    Goal("digits: memorisation ratio", _at("digits", "novelty", "ratio"), 0.9, at_most=False),
    Goal("conditional digits: forest accuracy at T = 0.8",
         _at("conditional_digits", "temperatures", "0.8", "accuracy"), 0.95, at_most=False),
    Goal("MNIST 8x8: test bits/dim", _at("mnist", "test_bits_per_dim"), 4.55),
    Goal("conditional MNIST: forest accuracy at T = 1",
         _at("conditional_mnist", "temperatures", "1.0", "accuracy"), 0.97, at_most=False),
)  # fmt: skip


@dataclass(frozen=True)
class GoalReport(ExperimentResult):
    """Every goal's check; ``results.json``'s ``goals`` section counts them."""

    checks: tuple[GoalCheck, ...]

    def count(self, met: bool | None) -> int:
        return sum(check.met is met for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "met": self.count(True),
            "missed": self.count(False),
            "not_measured": self.count(None),
            "checks": [check.to_dict() for check in self.checks],
        }


def check_goals(results: Mapping[str, Any], goals: tuple[Goal, ...] = GOALS) -> GoalReport:
    """Each goal with the value ``results`` (``results.json``'s sections) hold for it."""
    checks = []
    for goal in goals:
        value = goal.value(results)
        if value is None or not math.isfinite(value):
            checks.append(GoalCheck(goal, value, None))
            continue
        met = value <= goal.bound if goal.at_most else value >= goal.bound
        checks.append(GoalCheck(goal, value, met))
    return GoalReport(tuple(checks))
