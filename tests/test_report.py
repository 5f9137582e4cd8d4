"""The report builds end to end with the smoke preset, on digit-made MNIST files."""

from __future__ import annotations

import contextlib
import html as html_lib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import nbformat
import pytest
import torch

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
    "c2st_accuracy",
    "c2st_null_mean",
    "c2st_null_std",
    "c2st_null_q95",
    "c2st_p_value",
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
    "label_c2st",
    "oracle_accuracy",
    "merged_mmd",
    "plain_mmd",
    "merged_c2st",
    "merged_c2st_null_q95",
    "merged_c2st_p_value",
    "plain_c2st",
    "marginal_nll",
    "plain_nll",
    "true_nll",
    "conditional_nll",
    "true_conditional_nll",
    "conditional_nll_gap",
    "train_seconds",
]
QUALITY = ["mmd", "null_mean", "null_q95", "mmd_z_score", "mmd_n"]
QUALITY += ["c2st_accuracy", "c2st_reference", "c2st_null_q95", "c2st_p_value", "c2st_n"]
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
    "c2st_temperature",
    *QUALITY[5:],
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
        "spearman_c2st_mmd",
        "spearman_c2st_nll",
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
    "goals": ["met", "missed", "not_measured", "checks"],
}
"""The keys of results.json in their order (those of before the results became dataclasses,
and the C2ST, conditional-NLL and goal figures added since)."""
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
    ("moons", "budget"): [
        *("hidden", "blocks", "epochs", "n_train", "batch_size", "lr", "schedule"),
        *("shared_subnet", "weight_decay", "ema"),
    ],
    ("digits", "novelty"): ["generated_median", "test_median", "ratio", "close_fraction"],
    ("bottleneck", "bottleneck_k2"): [*PARTIAL, "test_bits_per_dim", "reconstruction_mse"],
    ("bottleneck", "plain_k8"): [*PARTIAL, "reconstruction_mse"],
    ("hyperparameters", "best_by_axis"): ["train_size", "epochs", "lr", "hidden_size", "blocks"],
    ("conditional_mnist", "temperatures"): ["1.0", "0.8", "0.6"],
}


@contextlib.contextmanager
def terminal(path: Path) -> Iterator[None]:
    """Send what this process and the processes it starts write to stderr to ``path``."""
    with path.open("w", encoding="utf-8") as file:
        saved = os.dup(2)
        os.dup2(file.fileno(), 2)
        try:
            with contextlib.redirect_stderr(file):
                yield
        finally:
            file.flush()
            os.dup2(saved, 2)
            os.close(saved)


@pytest.fixture(scope="module")
def built_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke report, built with progress shown; the terminal's text is ``../terminal.txt``."""
    root = tmp_path_factory.mktemp("report")
    write_digit_mnist(root / "data")
    out = root / "out"
    args = ["report", "--preset", "smoke", "--out", str(out), "--data-dir", str(root / "data")]
    with terminal(root / "terminal.txt"):
        status = main([*args, "--zip"])
    assert status == 0
    return out


def page_text(out: Path) -> str:
    """The exported HTML's visible text (code included), without tags and entities."""
    page = (out / "normalizing-flows.html").read_text(encoding="utf-8")
    body = page[page.index("<body") :]
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return html_lib.unescape(re.sub(r"<[^>]+>", "", body))


def notebook_of(out: Path) -> nbformat.NotebookNode:
    return nbformat.read(out / "normalizing-flows.ipynb", as_version=4)


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
    assert len(summary_lines(results)) == 19, "every headline number is found"


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


def test_a_failed_rerun_keeps_the_complete_report(
    built_report: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A rerun that fails at MNIST (damaged files, found when the data sets load before any
    training) publishes nothing: the complete report stays as it was, and the failed run's
    notebook is kept apart in failed-run/."""
    names = ("ipynb", "html", "zip")
    names = ("results.json", *(f"normalizing-flows.{suffix}" for suffix in names))
    before = {name: (built_report / name).read_bytes() for name in names}
    data = tmp_path / "data"
    write_digit_mnist(data)
    for path in (data / "MNIST" / "raw").iterdir():
        path.write_bytes(path.read_bytes()[:100])
    args = ["report", "--preset", "smoke", "--out", str(built_report), "--quiet", "--zip"]
    capfd.readouterr()
    assert main([*args, "--data-dir", str(data)]) == 2
    said = capfd.readouterr()
    assert said.out == "", "--quiet: no progress"
    assert said.err.startswith("innlab: error: a report cell failed") and said.err.count("\n") == 1
    assert {name: (built_report / name).read_bytes() for name in before} == before
    results = json.loads((built_report / "results.json").read_text())
    assert len(summary_lines(results)) == 19
    assert not (built_report / "failed-run" / "results.json").exists()  # no section ran
    failed = nbformat.read(built_report / "failed-run" / "normalizing-flows.ipynb", as_version=4)
    errors = [o for c in failed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert [(e.ename, "could not read the IDX file" in e.evalue) for e in errors] == [
        ("ValueError", True)
    ]


def test_the_report_shows_no_stderr_warning_or_traceback(built_report: Path) -> None:
    streams = [
        o.get("name")
        for c in notebook_of(built_report).cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") in ("stream", "error")
    ]
    assert "stderr" not in streams
    page = (built_report / "normalizing-flows.html").read_text(encoding="utf-8")
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in page
    assert "output_stderr" not in page
    for word in ("Traceback", "Warning", "fmt: skip"):
        assert word not in page_text(built_report), word


def test_formatting_cells_are_hidden_and_library_cells_shown(built_report: Path) -> None:
    cells = [c for c in notebook_of(built_report).cells if c.cell_type == "code"]
    hidden = [c for c in cells if "remove_input" in c.metadata.get("tags", [])]
    shown = [c for c in cells if c not in hidden]
    assert len(hidden) >= 10 and len(shown) >= 10
    for cell in hidden:
        assert "results.add(" not in cell.source and "store." not in cell.source, cell.source
    for cell in shown:
        assert not re.search(r"\b(say|table|show|display)\(", cell.source), cell.source
    text = page_text(built_report)
    for cell in shown:
        for line in cell.source.splitlines():
            assert line.strip() in text, line
    for cell in hidden:
        first = cell.source.splitlines()[0].strip()
        assert first not in text, first
        assert cell.outputs, "a hidden cell's outputs stay"


def test_the_results_at_a_glance_come_first_with_their_references(built_report: Path) -> None:
    results = json.loads((built_report / "results.json").read_text())
    text = page_text(built_report)
    start = text.index("Results at a glance¶")  # the heading, not the link to it
    glance = text[start : text.index("Setup¶", start)]
    assert text.index("1. Two moons¶") > start
    moons, hexagon = results["moons"], results["hexagon"]
    for value in (moons["test_nll"], moons["true_nll"], moons["mmd"], moons["null_q95"]):
        assert str(value) in glance
    assert str(hexagon["far_share"]) in glance and str(hexagon["far_share_test"]) in glance
    assert str(results["digits"]["test_bits_per_dim"]) in glance
    for name in ("conditional_digits", "conditional_mnist"):
        assert str(results[name]["forest_accuracy_real"]) in glance
        assert str(results[name]["temperatures"]["1.0"]["accuracy"]) in glance
    assert "no results yet" not in text


def test_the_report_checks_every_quality_goal(built_report: Path) -> None:
    goals = json.loads((built_report / "results.json").read_text())["goals"]
    assert goals["met"] + goals["missed"] + goals["not_measured"] == len(goals["checks"]) >= 14
    text = page_text(built_report)
    section = text[text.index("Quality goals¶") : text.index("The machine and the run¶")]
    for check in goals["checks"]:
        assert check["measure"] in section and check["target"] in section, check
    assert f"met {goals['met']} of {len(goals['checks'])} goals" in section


def test_the_contents_link_to_every_section(built_report: Path) -> None:
    page = (built_report / "normalizing-flows.html").read_text(encoding="utf-8")
    ids = {html_lib.unescape(i) for i in re.findall(r'id="([^"]+)"', page)}
    links = [unquote(html_lib.unescape(h)) for h in re.findall(r'href="#([^"]+)"', page)]
    contents = [link for link in links if not link.startswith("cell-id")]
    assert len(set(contents)) >= 12
    assert not set(contents) - ids


def test_toy_samples_sit_beside_their_learned_density(built_report: Path) -> None:
    rows = [
        o["data"]["text/html"]
        for c in notebook_of(built_report).cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "text/html" in o.get("data", {})
    ]
    assert sum(row.count("data:image/png;base64") >= 2 for row in rows) >= 10
    assert all(row.startswith('<div style="display:flex') for row in rows)


def test_the_report_ends_with_the_machine_and_the_time_of_each_section(built_report: Path) -> None:
    text = page_text(built_report)
    end = text[text.rindex("The machine and the run") :]
    for word in ("preset", "smoke", "CPU cores", "Python", "torch", torch.__version__):
        assert word in end, word
    for section in ("1. Two moons", "5. What makes RealNVP work", "9. Conditional digits"):
        assert re.search(re.escape(section) + r"[^\n]*\n\s*[\d.]+ (s|min)", end), section
    assert "all sections" in end


def test_the_terminal_shows_the_section_and_every_model_in_training(built_report: Path) -> None:
    shown = (built_report.parent / "terminal.txt").read_text(encoding="utf-8")
    for section in ("1. Two moons", "4. Conditional RealNVP on the toy data", "9. Conditional"):
        assert f"report (smoke) | {section}" in shown, section
    for model in ("moons-plain", "hexagon-two-conditional", "digits-plain", "mnist-conditional"):
        assert f"training {model}" in shown and f"trained {model} in" in shown, model
    for noise in ("TCP", "WARNING", "Warning", "Traceback"):
        assert noise not in shown, noise
