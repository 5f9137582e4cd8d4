"""The report builds end to end with the smoke preset, on digit-made MNIST files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from innlab.cli import main
from innlab.report.build import summary_lines

from .fake_mnist import write_digit_mnist

TOY = [
    "max_reconstruction_error",
    "test_nll",
    "true_nll",
    "nll_gap",
    "mmd",
    "null_mean",
    "null_std",
    "null_q95",
    "mmd_z_score",
    "mmd_below_null_q95",
    "mmd_sample_size",
    "normality",
    "train_seconds",
    "steps",
    "parameters",
    "budget",
]
CONDITIONAL_TOY = [
    "labels",
    "num_classes",
    "label_mmd",
    "oracle_accuracy",
    "merged_mmd",
    "plain_mmd",
    "marginal_nll",
    "plain_nll",
    "true_nll",
    "conditional_nll",
    "train_seconds",
]
QUALITY = ["mmd", "null_mean", "null_q95", "mmd_z_score", "mmd_n"]
IMAGES = [
    "test_bits_per_dim",
    "best_val_bits_per_dim",
    "best_epoch",
    "epochs",
    "temperature",
    "forest_confidence",
    "forest_confidence_real",
    "forest_accuracy_real",
    "predicted_label_shares",
    "novelty",
    "normality",
    "train_seconds",
] + QUALITY
CONDITIONAL_IMAGES = [
    "test_bits_per_dim",
    "forest_accuracy_real",
    "forest_confidence_real",
    "best_epoch",
    "train_seconds",
    "temperatures",
]
PARTIAL = ["first_k_confidence", "first_k_mmd", "fixed_k_label_agreement", "fixed_k_diversity"]
SECTIONS = {
    "moons": TOY,
    "hyperparameters": [
        "config",
        "runs",
        "table_header",
        "table_rows",
        "best_by_axis",
        "spearman_mmd_nll",
    ],
    "hexagon": TOY
    + ["coverage_samples", "mode_shares", "max_mode_share_error", "far_share", "far_share_test"],
    "conditional_moons_moon": CONDITIONAL_TOY,
    "conditional_hexagon_component": [*CONDITIONAL_TOY, "far_share"],
    "conditional_hexagon_two": [*CONDITIONAL_TOY, "far_share"],
    "ablation": ["epochs", "variants"],
    "digits": IMAGES,
    "bottleneck": [
        "ks",
        "weight",
        "bottleneck_k2",
        "plain_k2",
        "bottleneck_k8",
        "plain_k8",
        "plain_test_bits_per_dim",
    ],
    "mnist": IMAGES,
    "mnist_small": [
        "n_train",
        "epochs",
        "best_epoch",
        "test_bits_per_dim",
        "forest_confidence",
        "novelty",
    ]
    + QUALITY,
    "conditional_digits": CONDITIONAL_IMAGES,
    "conditional_mnist": CONDITIONAL_IMAGES,
}
"""The keys of results.json before the results became dataclasses, in their order."""
NESTED = {
    ("moons", "normality"): [
        "looks_normal",
        "pvalue",
        "ks_min_pvalue",
        "ks_rejected",
        "radius_pvalue",
        "mmd_pvalue",
        "max_cov_deviation",
        "max_abs_mean",
        "max_abs_std_error",
        "max_abs_skewness",
        "max_abs_excess_kurtosis",
    ],
    ("moons", "budget"): (
        ["hidden", "blocks", "epochs", "n_train", "batch_size", "lr", "schedule", "shared_subnet"]
    ),
    ("digits", "novelty"): ["generated_median", "test_median", "ratio", "close_fraction"],
    ("bottleneck", "bottleneck_k2"): [*PARTIAL, "test_bits_per_dim", "reconstruction_mse"],
    ("bottleneck", "plain_k8"): [*PARTIAL, "reconstruction_mse"],
    ("hyperparameters", "best_by_axis"): ["train_size", "epochs", "lr", "hidden_size", "blocks"],
    ("conditional_mnist", "temperatures"): ["1.0", "0.8", "0.6"],
}


@pytest.fixture(scope="module")
def built_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    write_digit_mnist(root / "data")
    out = root / "out"
    status = main(
        [
            "report",
            "--preset",
            "smoke",
            "--out",
            str(out),
            "--data-dir",
            str(root / "data"),
            "--zip",
            "--quiet",
        ]
    )
    assert status == 0
    return out


def test_report_writes_notebook_html_results_and_zip(built_report: Path) -> None:
    for name in (
        "normalizing-flows.ipynb",
        "normalizing-flows.html",
        "results.json",
        "normalizing-flows.zip",
    ):
        assert (built_report / name).is_file(), name
    notebook = nbformat.read(built_report / "normalizing-flows.ipynb", as_version=4)
    errors = [
        o
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    html = (built_report / "normalizing-flows.html").read_text()
    assert html.count("data:image/png;base64") >= 20, "figures are embedded in the HTML"
    results = json.loads((built_report / "results.json").read_text())
    for section in (
        "moons",
        "hyperparameters",
        "hexagon",
        "conditional_moons_moon",
        "conditional_hexagon_component",
        "conditional_hexagon_two",
        "digits",
        "bottleneck",
        "mnist",
        "mnist_small",
        "conditional_digits",
        "conditional_mnist",
    ):
        assert section in results, section


def test_results_json_keeps_its_layout(built_report: Path) -> None:
    results = json.loads((built_report / "results.json").read_text())
    assert {section: list(values) for section, values in results.items()} == SECTIONS
    for (section, key), keys in NESTED.items():
        assert list(results[section][key]) == keys, (section, key)
    assert list(results["hyperparameters"]["best_by_axis"]["lr"]) == [
        "nll_value",
        "nll",
        "mmd_value",
        "mmd",
    ]
    scores = results["conditional_digits"]["temperatures"]["0.8"]
    assert list(scores) == ["accuracy", "mean_confidence", "mean_requested_prob"]
    assert len(summary_lines(results)) == 18, "every headline number is found"


def test_numbers_in_the_text_come_from_results_json(built_report: Path) -> None:
    results = json.loads((built_report / "results.json").read_text())
    notebook = nbformat.read(built_report / "normalizing-flows.ipynb", as_version=4)
    text = "\n".join(
        o["data"]["text/markdown"]
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "text/markdown" in o.get("data", {})
    )
    moons = results["moons"]
    for key in ("test_nll", "true_nll", "nll_gap", "mmd", "null_q95"):
        assert str(moons[key]) in text, key
    assert str(results["hexagon"]["nll_gap"]) in text
    # every long decimal number in the text appears somewhere in results.json
    flat = json.dumps(results)
    for number in re.findall(r"(?<![\w.])-?\d+\.\d{3,}(?:e-?\d+)?", text):
        assert number in flat, number


def test_report_of_another_preset_needs_force(built_report: Path) -> None:
    models = sorted(p.name for p in (built_report / "models").glob("*.pt"))
    stamps = {p: p.stat().st_mtime_ns for p in (built_report / "models").glob("*.pt")}
    assert models
    assert main(["report", "--preset", "quick", "--out", str(built_report), "--quiet"]) == 2
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_a_failed_rerun_keeps_the_complete_report(built_report: Path, tmp_path: Path) -> None:
    """A rerun that fails at MNIST (damaged files) publishes nothing: the complete report stays
    as it was, and the failed run's partial outputs are kept apart in failed-run/."""
    names = ("ipynb", "html", "zip")
    names = ("results.json", *(f"normalizing-flows.{suffix}" for suffix in names))
    before = {name: (built_report / name).read_bytes() for name in names}
    data = tmp_path / "data"
    write_digit_mnist(data)
    for path in (data / "MNIST" / "raw").iterdir():
        path.write_bytes(path.read_bytes()[:100])
    args = ["report", "--preset", "smoke", "--out", str(built_report), "--quiet", "--zip"]
    assert main([*args, "--data-dir", str(data)]) == 2
    assert {name: (built_report / name).read_bytes() for name in before} == before
    results = json.loads((built_report / "results.json").read_text())
    assert len(summary_lines(results)) == 18
    partial = json.loads((built_report / "failed-run" / "results.json").read_text())
    assert "digits" in partial and "mnist" not in partial
    assert nbformat.read(built_report / "failed-run" / "normalizing-flows.ipynb", as_version=4)
