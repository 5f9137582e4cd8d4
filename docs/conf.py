"""Sphinx configuration of innlab's documentation site (``make docs``).

The API reference is generated from the docstrings (autodoc + napoleon for their Google style);
the tutorials are MyST markdown notebooks that myst-nb executes on every build, so a tutorial
that stops working fails the build. Nothing here needs the internet: no intersphinx inventories
and no math rendered by MathJax.
"""

from __future__ import annotations

import ast
import importlib
import re
from typing import Any

from sphinx.pycode import ModuleAnalyzer

import innlab

project = "innlab"
author = "The innlab developers"
copyright = "2026, The innlab developers"
release = version = innlab.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx_copybutton",
    "myst_nb",  # brings myst_parser for the .md pages
]

exclude_patterns = ["_build", "jupyter_execute", ".jupyter_cache", "**.ipynb_checkpoints"]
root_doc = "index"
language = "en"

# ---------------------------------------------------------------------------- autodoc
autodoc_member_order = "bysource"
autodoc_typehints = "signature"  # the parameters' own types, next to their defaults
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_class_signature = "mixed"
autodoc_inherit_docstrings = False  # nn.Module's docstrings are not about these classes
python_use_unqualified_type_names = True
python_maximum_signature_line_length = 100
add_module_names = False
toc_object_entries_show_parents = "hide"

# Every cross-reference must resolve, so a renamed or misspelt name fails the build. Without
# network access there are no intersphinx inventories: names of other libraries stay plain text.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(torch|numpy|np|matplotlib|sklearn|scipy|collections|pathlib|os|typing)\..*"),
    (r"py:class", r"Tensor|Figure|Axes|Path|Generator"),  # annotations behind TYPE_CHECKING
]
# Names the docstrings mention that are not public API, so the reference has no page to link.
nitpick_ignore = [
    ("py:class", "innlab.flows.base.BaseDistribution"),  # protocol of Flow's base argument
    ("py:class", "innlab.flows.base.AnalyticPass"),  # protocol of the analytic training step
    ("py:data", "EVAL_CHUNK_BYTES"),  # tuning constant of innlab.flows.base
    ("py:class", "innlab.flows.base._Out"),  # type variables
    ("py:class", "innlab.flows.io._M"),
    ("py:class", "innlab.experiments.recording.R"),
    ("py:func", "digest"),  # innlab.flows.io.digest, the checksum of a payload
    ("py:class", "innlab.experiments.presets.FlowBudget"),  # the report's presets
    ("py:func", "flat_field"),  # field helpers of innlab.experiments.recording
    ("py:data", "BANDWIDTHS"),  # innlab.experiments.toy
    ("py:data", "DATASETS"),  # innlab.sweeps.config
    ("py:data", "MAX_TRIALS"),
    ("py:class", "DamagedRecordWarning"),  # innlab.sweeps.records
    # the experiment functions of the report (innlab.experiments.*)
    *(
        ("py:func", name)
        for name in (
            "unconditional_toy",
            "conditional_toy",
            "hyperparameter_study",
            "unconditional_images",
            "conditional_images",
            "bottleneck_study",
            "more_data_study",
            "ablation_study",
            "study_config",
        )
    ),
]

napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True

# ---------------------------------------------------------------------------- myst and myst-nb
myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
myst_heading_anchors = 3

# Tutorials run on every build ("force"); `make docs DOCS_EXECUTE=cache` reuses the outputs of
# unchanged notebooks (the cache knows only the notebook's code, not the library's).
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = 300  # seconds per cell
nb_execution_in_temp = True  # files the tutorials write land in a temporary folder
nb_merge_streams = True

# ---------------------------------------------------------------------------- HTML
html_theme = "furo"
html_title = f"innlab {release}"
html_short_title = "innlab"
html_copy_source = False
html_show_sourcelink = False
html_theme_options = {"navigation_with_keys": True}
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True


# ---------------------------------------------------------------------------- field comments
# Many of innlab's dataclasses document their fields with a trailing comment
# (``test_nll: float  # model NLL of the test set``). autodoc reads only ``#:`` comments, so the
# source analyser also records these trailing comments of class fields, where a field has no
# documentation of its own.
def _field_comments(source: str) -> dict[tuple[str, str], str]:
    lines = source.splitlines()
    comments = {}
    for cls in ast.walk(ast.parse(source)):
        if not isinstance(cls, ast.ClassDef):
            continue
        for node in cls.body:
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                code, _, comment = lines[node.end_lineno - 1].partition("  # ")  # type: ignore[operator]
                if comment.strip() and code.strip():
                    text = re.sub(r"([\\|*])", r"\\\1", comment.strip())  # |x|, a * b: not markup
                    comments[(cls.name, node.target.id)] = text[0].upper() + text[1:]
    return comments


_analyze = ModuleAnalyzer.analyze


def _analyze_with_field_comments(self: ModuleAnalyzer) -> None:
    _analyze(self)
    if self.modname.startswith("innlab"):
        for key, comment in _field_comments(self.code).items():
            self.attr_docs.setdefault(key, [comment, ""])


ModuleAnalyzer.analyze = _analyze_with_field_comments  # type: ignore[method-assign]


def _is_type_doc(obj: Any, lines: list[str]) -> bool:
    """Whether ``lines`` are only the docstring of ``obj``'s type (a constant such as an int or
    a dict has no docstring of its own, and autodoc then shows its type's)."""
    constants = (int, float, complex, str, bytes, tuple, list, dict, set, frozenset)
    return bool(lines) and isinstance(obj, constants) and obj.__doc__ == type(obj).__doc__


def _process_docstring(
    app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    if what in ("data", "attribute") and _is_type_doc(obj, lines):
        lines.clear()


# napoleon reads the first line of an attribute's or property's docstring as ``type: text``, so
# ``"""Identity of the trial: ..."""`` would show the type "Identity of the trial", and a field
# comment ``# hexagon: merged samples ...`` the type "Hexagon". A field comment is put back as it
# was written; for a docstring, words with spaces and no brackets are prose, not a type.
_PROSE = re.compile(r"[A-Z][a-z]*(?: [a-z']+)+")


def _undo_prose_type(
    app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    if what not in ("attribute", "data", "property") or not lines:
        return
    last = lines[-1]
    if not last.startswith(":type: "):
        return
    owner_path, _, field = name.rpartition(".")
    owner = _resolve_object(owner_path)
    if isinstance(owner, type):
        code = ModuleAnalyzer.for_module(owner.__module__).code
        comment = _field_comments(code).get((owner.__qualname__, field))
        if comment is not None:
            lines[:] = [comment, ""]
            return
    if _PROSE.fullmatch(last[len(":type: ") :]):
        del lines[-2:]  # the type and the blank line before it
        lines[0] = f"{last[len(':type: ') :]}: {lines[0]}"


# A dataclass field with a default factory shows the default ``<factory>``, which is not Python,
# so Sphinx could not parse the signature (and would split its annotations at every comma).
def _factory_defaults(
    app: Any, what: str, name: str, obj: Any, options: Any, signature: Any, annotation: Any
) -> tuple[Any, Any] | None:
    if signature and "=<factory>" in signature.replace(" ", ""):
        return re.sub(r"=\s*<factory>", "= ...", signature), annotation
    return None


# ---------------------------------------------------------------------------- aliases
# Objects are documented once, where their package's reference page lists them (e.g.
# innlab.flows.RealNVP), but docstrings also name them by other paths: innlab.RealNVP, their
# defining module (innlab.flows.realnvp.RealNVP), or Flow from inside innlab.flows.io. A
# reference that finds no target is resolved through the object it names: if that object is
# documented under another name, the reference links there.
def _resolve_object(path: str) -> Any:
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for part in parts[cut:]:
                obj = getattr(obj, part)
        except AttributeError:
            return None
        return obj
    return None


def _identity(obj: Any) -> str | None:
    """``module.qualname`` of a class, function or property: the same for every alias."""
    obj = getattr(obj, "fget", obj)
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str):
        return f"{module}.{qualname}"
    return None


def _documented(env: Any) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The documented innlab names by the identity of their object, and by their last part
    (for constants, which have no identity); computed once per build."""
    if getattr(env, "_innlab_documented", None) is None:
        by_identity: dict[str, str] = {}
        by_last: dict[str, list[str]] = {}
        for name, entry in env.get_domain("py").objects.items():
            if name.startswith("innlab.") and not entry.aliased:
                identity = _identity(_resolve_object(name))
                if identity is not None:
                    by_identity.setdefault(identity, name)
                by_last.setdefault(name.rpartition(".")[2], []).append(name)
        env._innlab_documented = by_identity, by_last
    return env._innlab_documented


def _documented_name(env: Any, path: str) -> str | None:
    obj = _resolve_object(path)
    if obj is None:
        return None
    by_identity, by_last = _documented(env)
    name = by_identity.get(_identity(obj) or "")
    if name is None:  # a constant: the documented name of the same object
        same = [n for n in by_last.get(path.rpartition(".")[2], []) if _resolve_object(n) is obj]
        name = same[0] if same else None
    return name


def _resolve_alias(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].removeprefix("~").removeprefix(".")
    module, klass = node.get("py:module"), node.get("py:class")
    candidates = [target]
    if module:
        scoped = [f"{module}.{klass}.{target}"] if klass else []
        candidates = [*scoped, f"{module}.{target}", target]
    for path in candidates:
        name = _documented_name(env, path) if path.startswith("innlab") else None
        if name is not None:
            return env.get_domain("py").resolve_xref(
                env, node["refdoc"], app.builder, node["reftype"], name, node, contnode
            )
    return None


def setup(app: Any) -> None:
    app.connect("autodoc-process-docstring", _process_docstring)
    app.connect("autodoc-process-docstring", _undo_prose_type, priority=600)  # after napoleon
    app.connect("autodoc-process-signature", _factory_defaults)
    app.connect("missing-reference", _resolve_alias)
