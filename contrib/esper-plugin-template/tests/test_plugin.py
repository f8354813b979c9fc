"""The plugin is installed, discovered and cheap to import.

These tests run against the *installed* distribution (``pip install -e .`` or ``pip install
.``): they prove that the entry point in pyproject.toml reaches esper, which an in-process
registration would not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from esper.plugin import SinkSpec

import esper_plugin_template.plugin as hook_module
from esper_plugin_template.config import CsvSinkConfig
from esper_plugin_template.sink import CsvSink

PLUGIN = "template"  # the entry-point name in pyproject.toml


def run_esper(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a fresh interpreter, with autoload on as users have it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESPER_")}
    return subprocess.run(
        [sys.executable, "-m", "esper", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def by_name(listing: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {info["name"]: info for info in listing}


def test_plugin_is_autoloaded_through_its_entry_point(tmp_path: Path) -> None:
    result = run_esper("plugins", "list", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    info = by_name(json.loads(result.stdout))[PLUGIN]
    assert info["status"] == "loaded"
    assert info["builtin"] is False
    assert info["distribution"] == "esper-plugin-template"
    assert info["module"] == "esper_plugin_template.plugin"
    assert info["registered"] == {"telemetry_sinks": ["csv"]}
    assert info["hooks"] == ["esper_telemetry_sinks"]


def test_plugin_loads_by_name_with_autoload_disabled(esper_cli: Any) -> None:
    # esper_cli disables autoload, so only --plugin brings the plugin in.
    result = esper_cli("--plugin", PLUGIN, "plugins", "list", "--json")
    assert result.exit_code == 0, result.output
    info = by_name(json.loads(result.stdout))[PLUGIN]
    assert info["explicit"] is True
    assert info["registered"] == {"telemetry_sinks": ["csv"]}


def test_hook_module_does_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys, esper_plugin_template.plugin as m\n"
        "list(m.esper_telemetry_sinks())\n"
        "print(sorted(n for n in sys.modules if n == 'torch' or n.startswith('torch.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == "[]"


def test_spec_names_importable_factory_and_config() -> None:
    (spec,) = list(hook_module.esper_telemetry_sinks())
    assert isinstance(spec, SinkSpec)
    assert spec.name == "csv"
    assert spec.load_factory() is CsvSink
    assert spec.load_config_cls() is CsvSinkConfig
