"""`esper bench` is a plugin command: registered by the hook module, cheap to list, same options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from esper.cli.main import CORE_COMMANDS, cli
from esper.plugin import CommandSpec

import esper_bench
import esper_bench.plugin as hook_module
from esper_bench import suite

PLUGIN = "esper.commands.bench"  # the entry-point name in pyproject.toml
#: Where this process found esper_bench (site-packages, or src/ under PYTHONPATH=src).
IMPORTED_FROM = Path(esper_bench.__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    # No ESPER_* settings from the caller; the subprocess (in a scratch directory, where a
    # relative PYTHONPATH=src would not reach) imports the same esper_bench as this process.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESPER_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(IMPORTED_FROM), env.get("PYTHONPATH")) if p)
    return env


def test_hook_yields_the_bench_command_by_reference() -> None:
    (spec,) = list(hook_module.esper_commands())
    assert isinstance(spec, CommandSpec)
    assert spec.name == "bench"
    assert spec.factory == "esper_bench.cli:bench"
    assert spec.load_factory().name == "bench"
    assert "bench" not in CORE_COMMANDS


def test_hook_module_does_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys, esper_bench.plugin as m\n"
        "list(m.esper_commands())\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] == 'torch'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == "[]"


def test_bench_list_through_the_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESPER_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = CliRunner().invoke(
        cli, ["--plugin", "esper_bench.plugin", "bench", "--list"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == suite.available()
    assert {"cli_startup", "ppo_update", "runners"} <= set(suite.available())


def test_bench_is_missing_without_the_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESPER_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = CliRunner().invoke(cli, ["bench", "--list"])
    assert result.exit_code == 2
    assert "No such command 'bench'" in result.stderr


def test_an_unknown_benchmark_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESPER_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = CliRunner().invoke(cli, ["--plugin", "esper_bench.plugin", "bench", "no_such"])
    assert result.exit_code == 2
    assert "unknown benchmark(s) ['no_such']" in result.stderr


def test_installed_plugin_is_autoloaded_through_its_entry_point(tmp_path: Path) -> None:
    # Needs the distribution installed (pip install contrib/esper-bench): the entry point is
    # what `esper bench` is found by.
    result = subprocess.run(
        [sys.executable, "-m", "esper", "plugins", "list", "--json"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    info = {i["name"]: i for i in json.loads(result.stdout)}[PLUGIN]
    assert info["status"] == "loaded"
    assert info["builtin"] is False
    assert info["distribution"] == "esper-bench"
    assert info["module"] == "esper_bench.plugin"
    assert info["registered"] == {"commands": ["bench"]}
    listed = subprocess.run(
        [sys.executable, "-m", "esper", "bench", "--list"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == suite.available()
