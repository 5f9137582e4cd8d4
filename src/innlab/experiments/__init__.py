"""The report's experiments, one module per family, each returning a frozen result dataclass.

Every result's ``to_dict()`` is its section of results.json (:class:`Results` rounds and writes
it); its ``figures`` field holds the matplotlib figures that the notebook shows. The names below
load their modules on first use (see :mod:`innlab`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from innlab.experiments.ablation import AblationResult, VariantSummary
    from innlab.experiments.hparams import AxisBest, HyperparameterResult
    from innlab.experiments.images import (
        BottleneckResult,
        BottleneckScores,
        ClassifierScores,
        ConditionalImageResult,
        ImageResult,
        MoreDataResult,
        Novelty,
        SampleQuality,
    )
    from innlab.experiments.recording import ExperimentResult, Results
    from innlab.experiments.toy import (
        ConditionalToyResult,
        ModeCoverage,
        NormalitySummary,
        ToyResult,
    )

_HOMES = {
    "AblationResult": "innlab.experiments.ablation",
    "VariantSummary": "innlab.experiments.ablation",
    "AxisBest": "innlab.experiments.hparams",
    "HyperparameterResult": "innlab.experiments.hparams",
    "BottleneckResult": "innlab.experiments.images",
    "BottleneckScores": "innlab.experiments.images",
    "ClassifierScores": "innlab.experiments.images",
    "ConditionalImageResult": "innlab.experiments.images",
    "ImageResult": "innlab.experiments.images",
    "MoreDataResult": "innlab.experiments.images",
    "Novelty": "innlab.experiments.images",
    "SampleQuality": "innlab.experiments.images",
    "ExperimentResult": "innlab.experiments.recording",
    "Results": "innlab.experiments.recording",
    "ConditionalToyResult": "innlab.experiments.toy",
    "ModeCoverage": "innlab.experiments.toy",
    "NormalitySummary": "innlab.experiments.toy",
    "ToyResult": "innlab.experiments.toy",
}

__all__ = [
    "AblationResult",
    "AxisBest",
    "BottleneckResult",
    "BottleneckScores",
    "ClassifierScores",
    "ConditionalImageResult",
    "ConditionalToyResult",
    "ExperimentResult",
    "HyperparameterResult",
    "ImageResult",
    "ModeCoverage",
    "MoreDataResult",
    "NormalitySummary",
    "Novelty",
    "Results",
    "SampleQuality",
    "ToyResult",
    "VariantSummary",
]


def __getattr__(name: str) -> Any:
    from innlab._lazy import load_attribute

    return load_attribute(__name__, _HOMES, name, globals())


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
