"""What import-linter (nox's lint session) cannot see about the architecture.

The layer contracts in pyproject.toml check imports. Here: the core names no built-in plugin
in a string either (lazy references, defaults); plugins outside esper_plugins import only
esper.plugin too; esper.plugin stays torch-free to import and every name it promises resolves;
the old module paths still import, with a warning, as the very modules they moved to.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import esper.plugin
from esper.compat import MOVED

from support.paths import ROOT

#: Plugin distributions that must keep to the public API, as a third party's would.
PLUGIN_SOURCES = [
    ROOT / "contrib" / "esper-plugin-template" / "src",
    ROOT / "contrib" / "esper-sink-tensorboard" / "src",
    ROOT / "contrib" / "esper-sink-wandb" / "src",
    ROOT / "contrib" / "esper-sink-mlflow" / "src",
    ROOT / "contrib" / "esper-runner-ray" / "src",
    ROOT / "tests" / "fixtures" / "mlp-plugin" / "src",
]
#: Prefixes of the built-in plugins' import package and component ids.
BUILTIN_NAMES = ("esper_plugins", "esper.blueprints.", "esper.tasks.", "esper.policies.",
                 "esper.governors.", "esper.agents.", "esper.rewards", "esper.runners",
                 "esper.telemetry.jsonl", "esper.telemetry.console",
                 "esper.presets")  # fmt: skip


def _strings(tree: ast.AST) -> list[ast.Constant]:
    """String constants that are not docstrings."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_the_core_names_no_built_in_plugin_even_in_a_string() -> None:
    offenders = []
    for path in (ROOT / "esper").rglob("*.py"):
        for node in _strings(ast.parse(path.read_text(encoding="utf-8"))):
            if node.value.startswith(BUILTIN_NAMES):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert offenders == []


@pytest.mark.parametrize("source", PLUGIN_SOURCES, ids=lambda p: p.parent.name)
def test_plugin_distributions_import_only_the_public_api(source: Path) -> None:
    offenders = []
    for path in source.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            for module in modules:
                if module.split(".")[0] == "esper" and module != "esper.plugin":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {module}")
    assert offenders == []


def test_the_public_api_imports_without_torch_and_every_name_resolves() -> None:
    code = (
        "import sys, esper.plugin as p\n"
        "print('torch' in sys.modules)\n"
        "missing = [n for n in p.__all__ if getattr(p, n, None) is None]\n"
        "print(missing)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split("\n")[:2] == ["False", "[]"]
    assert sorted(esper.plugin.__all__) == sorted(set(esper.plugin.__all__))


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_an_old_module_path_warns_and_is_the_moved_module(old: str, new: str) -> None:
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    messages = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert messages == [f"{old} moved to {new} in esper 0.2 and will be removed in 0.3; "
                        "import from esper.plugin instead"]  # fmt: skip


#: The sizes a newcomer can read in one sitting (issue 16: about 400 lines a module, about
#: 60 a function; the largest today are environment.py, 425, and Environment.__init__, 63).
MAX_MODULE_LINES = 430
MAX_FUNCTION_LINES = 65
MAX_TOP_LEVEL_MODULES = 10


def test_modules_and_functions_stay_readable_in_one_sitting() -> None:
    too_long = []
    for path in (ROOT / "esper").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        name = str(path.relative_to(ROOT))
        if len(source.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{name}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}:{node.lineno} {node.name}: {length} lines")
    assert too_long == []
    top_level = sorted(p.name for p in (ROOT / "esper").glob("*.py"))
    assert len(top_level) <= MAX_TOP_LEVEL_MODULES, top_level
