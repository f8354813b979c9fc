"""The plugin is found through its entry point, and importing its hook module is cheap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from esper.plugin import SinkSpec

import esper_sink_wandb.plugin as hook_module
from esper_sink_wandb.config import WandbSinkConfig
from esper_sink_wandb.sink import WandbSink

PLUGIN = "esper.telemetry.wandb"  # the entry point's name in pyproject.toml


def _python(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if not k.startswith("ESPER_")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_installed_plugin_is_loaded_through_its_entry_point(tmp_path: Path) -> None:
    out = _python("-m", "esper", "plugins", "list", "--json", cwd=tmp_path)
    info = {i["name"]: i for i in json.loads(out)}[PLUGIN]
    assert info["status"] == "loaded"
    assert info["builtin"] is False
    assert info["distribution"] == "esper-sink-wandb"
    assert info["module"] == "esper_sink_wandb.plugin"
    assert info["registered"] == {"telemetry_sinks": ["wandb"]}


def test_the_hook_module_imports_neither_wandb_nor_torch(tmp_path: Path) -> None:
    code = (
        "import sys, esper_sink_wandb.plugin as m\n"
        "list(m.esper_telemetry_sinks())\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('torch', 'wandb')))\n"
    )
    assert _python("-c", code, cwd=tmp_path).strip() == "[]"


def test_the_spec_names_the_sink_and_its_config() -> None:
    (spec,) = list(hook_module.esper_telemetry_sinks())
    assert isinstance(spec, SinkSpec)
    assert spec.name == "wandb"
    assert spec.load_factory() is WandbSink
    assert spec.load_config_cls() is WandbSinkConfig
