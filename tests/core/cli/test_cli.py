"""The esper CLI: start-up cost, plugin listing, diagnostics, config errors and exit codes."""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from esper import DISTRIBUTION

from support.paths import TESTS

ENV = {**os.environ, "ESPER_DISABLE_PLUGIN_AUTOLOAD": "1"}
# Subprocesses run outside the source tree: `python -m` puts the working directory on
# sys.path, where a build's stray esper.egg-info would look like a second installation.


def run_esper(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "esper", *args],
        capture_output=True,
        text=True,
        env=env or ENV,
        timeout=120,
        cwd=TESTS,
    )


def builtin_entry_points() -> set[str]:
    return {
        ep.name for ep in md.distribution(DISTRIBUTION).entry_points if ep.group == "esper.plugins"
    }


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["plugins", "list"],
        ["plugins", "list", "--json"],
        ["watch", "--help"],
        ["presets", "list"],
        ["presets", "show", "cifar10"],
    ],
)
def test_startup_commands_do_not_import_torch(args: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "esper", *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
        cwd=TESTS,
    )
    assert proc.returncode == 0, proc.stderr
    imported = {
        line.split("|")[-1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    # Nor the text task's optional libraries (esper-nn[text]), imported when a task needs them.
    assert not {"torch", "tokenizers", "datasets"} & imported
    # Nor textual (esper watch's dashboard, optional), imported only when the dashboard starts.
    assert "textual" not in imported
    assert "esper.cli.main" in imported  # the measurement itself worked


def test_help_lists_core_commands(esper_cli) -> None:
    result = esper_cli("--help")
    assert result.exit_code == 0
    for command in ("config", "plugins"):
        assert f"  {command} " in result.stdout


def test_plugins_list_json_shows_every_builtin_with_hooks(esper_cli) -> None:
    result = esper_cli("plugins", "list", "--json")
    assert result.exit_code == 0
    data = {p["name"]: p for p in json.loads(result.stdout)}
    assert builtin_entry_points() <= set(data)
    for name in builtin_entry_points():
        assert data[name]["status"] == "loaded"
        assert data[name]["builtin"] is True
        assert data[name]["distribution"] == DISTRIBUTION
        assert data[name]["hooks"], name
    assert data["esper.telemetry.jsonl"]["registered"] == {"telemetry_sinks": ["jsonl"]}


def test_plugins_info(esper_cli) -> None:
    result = esper_cli("plugins", "info", "esper.telemetry.jsonl")
    assert result.exit_code == 0
    assert "telemetry_sinks: esper.telemetry.jsonl:jsonl" in result.stdout
    missing = esper_cli("plugins", "info", "esper.telemetry.jsnl")
    assert missing.exit_code == 2
    assert "Did you mean: esper.telemetry.jsonl" in missing.stderr


def test_doctor_is_clean_on_a_fresh_install(esper_cli) -> None:
    result = esper_cli("plugins", "doctor")
    assert result.exit_code == 0, result.stdout
    assert "no problems found" in result.stdout


def test_unknown_plugin_exits_2_with_suggestions() -> None:
    proc = run_esper("--plugin", "no.such.plugin", "plugins", "list")
    assert proc.returncode == 2
    assert '"no.such.plugin" not found' in proc.stderr
    assert "Installed plugins: " in proc.stderr
    assert "Traceback" not in proc.stderr
    close = run_esper("--plugin", "esper.telemetry.jsonnl", "plugins", "list")
    assert close.returncode == 2
    assert "Did you mean: esper.telemetry.jsonl" in close.stderr


def test_blocked_builtin_is_not_loaded(esper_cli) -> None:
    result = esper_cli("--plugin", "no:esper.telemetry.console", "plugins", "list", "--json")
    data = {p["name"]: p for p in json.loads(result.stdout)}
    assert data["esper.telemetry.console"]["status"] == "blocked"
    shown = esper_cli(
        "--plugin",
        "no:esper.telemetry.console",
        "config",
        "show",
        "--set",
        "telemetry.sinks=['console']",
    )
    assert shown.exit_code == 2
    assert "unknown telemetry sink 'console'" in shown.stderr


def test_version_lists_plugins(esper_cli) -> None:
    result = esper_cli("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("esper ")
    for name in builtin_entry_points():
        assert name in result.stdout


def test_config_show_prints_resolved_config(esper_cli, tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text("[run]\nseed = 5\n", encoding="utf-8")
    result = esper_cli(
        "config", "show", "--config", str(path), "--set", "run.epochs=3", "--format", "json"
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["run"]["seed"] == 5
    assert data["run"]["epochs"] == 3
    assert data["telemetry"] == {"sinks": {"jsonl": {"path": "events.jsonl", "fsync": False}}}


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[run]\nseed = 1\nsede = 2\n", "config.run.sede: unknown key"),
        ('[run]\nseed = "one"\n', "config.run.seed: expected int, got str ('one')"),
        ("[run]\nepochs = -3\n", "config.run.epochs: must be > 0: -3"),
        ("[run\n", "not valid TOML"),
    ],
)
def test_bad_config_exits_2_with_key_path_and_no_traceback(
    tmp_path: Path, toml: str, expected: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml, encoding="utf-8")
    proc = run_esper("config", "show", "--config", str(path))
    assert proc.returncode == 2
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
