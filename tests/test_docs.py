"""The API reference (docs/api/*.rst) documents every public name: each name in the ``__all__``
of a public package is the target of an autodoc directive under that package, or, for a name
the package re-exports, documented elsewhere and linked from the package's page.

This reads the reStructuredText sources, so it needs no Sphinx build; ``make docs`` then checks
that every directive and reference resolves (warnings are errors).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest

API = Path(__file__).resolve().parents[1] / "docs" / "api"

PACKAGES = (
    "innlab",
    "innlab.flows",
    "innlab.flows.io",
    "innlab.data",
    "innlab.metrics",
    "innlab.plots",
    "innlab.sweeps",
    "innlab.training",
    "innlab.experiments",
)

_MODULE = re.compile(r"^\.\. (?:automodule|currentmodule|py:module):: *(\S+)", re.M)
_DIRECTIVE = re.compile(
    r"^\.\. (?:automodule|currentmodule|py:module|auto(?:class|function|data|exception|"
    r"attribute|method|property)|py:(?:class|function|data|exception)):: *(\S+)",
    re.M,
)
_ROLE = re.compile(r":(?:py:)?(?:class|func|exc|data|obj|meth|attr):`(?:[^`<]*<)?~?([\w.]+)>?`")


def _read(path: Path) -> tuple[set[str], set[str], set[str]]:
    """Modules a page declares, full names it documents, full names its roles reference."""
    text = path.read_text(encoding="utf-8")
    modules, documented, module = set(), set(), ""
    for match in _DIRECTIVE.finditer(text):
        target = match.group(1)
        if _MODULE.match(match.group(0)):
            module = target
            modules.add(target)
        else:
            documented.add(target if target.startswith("innlab.") else f"{module}.{target}")
    return modules, documented, set(_ROLE.findall(text))


def _pages() -> dict[Path, tuple[set[str], set[str], set[str]]]:
    return {path: _read(path) for path in sorted(API.glob("*.rst"))}


def _resolve(name: str) -> Any:
    module, _, attribute = name.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def test_api_pages_exist() -> None:
    pages = _pages()
    assert pages, f"no API pages in {API}"
    declared = set().union(*(modules for modules, _, _ in pages.values()))
    assert set(PACKAGES) <= declared, f"packages without a page: {set(PACKAGES) - declared}"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_is_documented(package: str) -> None:
    pages = _pages()
    documented = set().union(*(names for _, names, _ in pages.values()))
    own_refs = set().union(*(refs for modules, _, refs in pages.values() if package in modules))
    module = importlib.import_module(package)
    missing = []
    for name in module.__all__:
        if f"{package}.{name}" in documented:
            continue
        obj = getattr(module, name)
        # a re-export: documented under its other public name and linked from this page
        homes = [d for d in documented if callable(obj) and _resolve(d) is obj]
        if not any(home in own_refs for home in homes):
            missing.append(name)
    assert not missing, f"{package}.__all__ names missing from docs/api: {missing}"


def test_documented_names_exist() -> None:
    """Every directive names a real object (a renamed one would only warn at build time)."""
    for _, documented, _ in _pages().values():
        for name in sorted(documented):
            _resolve(name)  # raises AttributeError or ImportError, naming the entry
