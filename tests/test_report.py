"""The report builds end to end with the smoke preset, on digit-made MNIST files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from innlab.cli import main

from .fake_mnist import write_digit_mnist


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
