"""The packages' public names load their modules on first use but behave as plain attributes."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["innlab", "innlab.sweeps"])
def test_every_public_name_resolves_and_is_listed(package: str) -> None:
    module = importlib.import_module(package)
    assert set(module._HOMES) == set(module.__all__) - {"__version__"}
    namespace: dict[str, object] = {}
    exec(f"from {package} import *", namespace)
    assert set(module.__all__) <= set(namespace) and set(module.__all__) <= set(dir(module))
    for name in module.__all__:
        assert getattr(module, name) is namespace[name]


def test_a_lazy_name_is_the_defining_modules_object() -> None:
    import innlab
    from innlab.flows.realnvp import RealNVP
    from innlab.sweeps import run_sweep
    from innlab.sweeps.runner import run_sweep as defined

    assert innlab.RealNVP is RealNVP and run_sweep is defined


def test_an_unknown_name_raises_attribute_error() -> None:
    import innlab

    with pytest.raises(AttributeError, match="module 'innlab' has no attribute 'Missing'"):
        innlab.Missing  # noqa: B018
